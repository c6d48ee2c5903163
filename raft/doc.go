// Package raft replicates the registry with hashicorp/raft: a thin FSM that
// feeds the log to registry.Apply, snapshots and restores of the whole
// registry, stores on disk in the node's data directory, a TCP transport
// (mutual TLS when certificates are given, each peer held to the
// certificate bound to a member: peers.go), bootstrap, join and removal of
// servers, and the node-to-node endpoints on the admin listener.
//
// Node.Apply is the one write path: on a follower it forwards the command
// to the leader (forward.go) and returns once this node has applied it, so
// the caller reads its own write from Node.Registry, the local replica.
// ReadIndex makes a read linearizable; Ready says whether the replica has
// caught up with the leader since the node started.
//
// # Why one write path
//
// A write has one meaning for every caller: committed, and applied on the
// node that was asked. The admin handlers, bulk imports and a node's own
// onboarding all call Apply and may read their write from the local replica
// at once, whichever node leads and whether or not an election ran in
// between (Apply retries through it). When a follower's not-leader error
// climbed to the caller, which forwarded over the admin API, which called
// back into raft, each caller had to know which of three write functions
// it needed, and an import through a follower answered before the follower
// had applied it. Forwarding lives here, beside the error it reacts to.
// Only the leader's own work calls applyLocal: a forwarded write (never
// forwarded twice) and a join's admission.
//
// # Why every try of a write carries one id
//
// Apply retries when it cannot reach the leader, and it cannot tell a try
// that failed from one the leader committed whose answer was lost (a cut
// connection, a leader that stepped down with the entry in its log and a
// successor that committed it). Tried again, such a write would be
// applied twice: a create refused as existing though it succeeded (and the
// secret it showed lost), a second audit entry. So Apply names the write
// once (writeid.go), every try carries the name to the leader, which puts
// it in the command's header, and the registry answers a try it already
// applied with the first try's outcome and index (registry/writes.go).
// The table of names is replicated and pruned by the leader's time in the
// headers, so every replica decides alike.
//
// Errors cross between nodes as typed codes (wire.go), never as messages
// or problem types to parse: a refusal by the leader's registry comes back
// as the same *registry.Error, so a handler answers alike whichever node
// refused. The codes are a protocol between versions: add, never change.
//
// # Why a replica halts instead of skipping
//
// A refusal (*registry.Error) is a decision every replica makes alike from
// the same state, so the applied index moves on. A command this build
// cannot interpret (an unknown type or version, a body that does not
// decode) is not a decision: in a cluster being upgraded, an older node
// that skipped a newer leader's command would diverge in silence from the
// nodes that applied it, and answer discovery from a registry nobody else
// has. So the fsm stops applying at that entry (fsm.go), leaves its applied
// index where it was, refuses snapshots (one would compact away the very
// entry the upgraded build must apply), and reports itself not ready with
// the entry's index and reason. It stays up to say so, where consul's FSM
// panics. The leader checks registry.Interpretable before proposing, so it
// never commits a command it would halt on itself (a newer follower
// forwarding one). A family whose loss cannot make replicas disagree may
// be marked registry.SkipIfUnknown.
//
// # Why readiness waits for the leader's commit index
//
// A node that restarts holds the registry of its last snapshot and replays
// a backlog; one that joins starts empty. Hearing from a leader says
// nothing of how far behind it is, and hashicorp/raft's CommitIndex on a
// follower is capped at the end of the log it holds, so while a backlog
// arrives it shows the end of the last batch. A node that answered
// discovery then would call a valid SP invalid_client and send a ported
// number to its old operator. So a follower notes the leader's commit index
// from the first AppendEntries after it opened (commitWatch wraps the
// transport, leadercommit.go), a new leader takes its own commit index once
// it points at an entry of its term, and the node is ready once its
// registry has applied that far (status.go). Reached once, it stays
// reached: keeping pace afterwards is what the staleness bound measures, and
// a node under steady writes always trails the newest commit by a few
// entries. Discovery gates on CaughtUp alone, so a caught-up node keeps
// answering through an election.
package raft
