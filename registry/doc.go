// Package registry is the data model every mcfed node replicates: operators,
// MSISDN ranges, ported numbers, IP ranges, service providers and the product
// catalogue, with the lookups discovery needs (Resolve, by MCC/MNC, by IP).
//
// The registry changes only through typed commands applied by Apply, which
// needs no Raft: the raft package feeds it the log, tests and tools call it
// directly. Apply never reads the clock, never draws random numbers and never
// hashes secrets: whoever builds a command fixes time, ids and hashes first,
// so every replica applying the same log ends in the same state.
//
// # Why commands never read the clock
//
// Every replica applies the same entry, at a different moment, and a node
// applies it again when it replays its log after a restart or a snapshot
// restore, possibly days later. A command that looked at the clock, drew a
// random number or hashed a secret could end one way on one replica and
// another way on the next, and nothing would tell. So the node that builds
// the command stamps it: UseJoinToken.Now is the leader's clock when it
// admits a node, JoinToken.ExpiresAt is fixed by the node that issued the
// token, secrets arrive as HashSecret digests or public keys derived from
// them (an SP's SecretKey), an operator's Slot comes from
// the registry's own state. A condition is on log indexes, never on time:
// CmdUpdateOperator applies only if the record's ModifyIndex is still the
// one its writer read, and is refused as CodeStale otherwise.
//
// # Applied, refused, or not interpretable
//
// Apply answers a command in one of three ways. Applied. Refused: an *Error
// with a Code, decided alike by every replica from the same state; nothing
// changes but the applied index. Not interpretable: an *UninterpretableError
// for a command type or version this build does not know, or a body that
// does not decode; nothing changes, the applied index included, and the
// replica must stop (see the raft package). The command types' values and
// the version byte are the log's format (command.go): never renumber one,
// add new ones at the end, and mark a family that older builds may safely
// skip with SkipIfUnknown.
//
// # The number indexes
//
// Number ranges and ported numbers are not memdb tables: at a country's
// scale memdb's radix tree and per-row bookkeeping cost too much per row
// (ranges.go). Ranges live in prefixIndex, a map per prefix length, and the
// longest matching prefix wins. Ported numbers live in PortedIndex, laid
// out for a national portability database read on every discovery:
//
//   - a number is the uint64 of its E.164 digits, and an operator appears as
//     its 16-bit Slot, not its id;
//   - numbers are grouped in blocks of 65,536 consecutive values (n>>16),
//     each one immutable []byte: sorted 16-bit suffixes, the block's distinct
//     slots, and each number's index among them packed 0, 4, 8 or 16 bits
//     wide (ported_block.go);
//   - blocks are grouped in pages of 64 (n>>22), found through an
//     open-addressing hash directory with atomic entries (ported_dir.go);
//   - a write builds a new version of each block it touches and swaps the
//     page's pointer (ported_writer.go): one writer, the FSM, and readers
//     that take no lock and see a whole block before or after the write;
//   - a snapshot writes the blocks' bytes as they are, and a restore checks
//     and keeps them, rebuilding nothing (ported_stream.go).
//
// Port batches travel in the log in a binary form (EncodePorts: the
// operator ids once, then 10 bytes a row), because bulk files put tens of
// millions of rows through it.
//
// # Authors, authorization and the audit log
//
// A leader wraps every command it proposes with its author (authored.go):
// Apply judges it against the author's credential (authorize.go), applies
// it or refuses it as CodeForbidden, and records either in the replicated
// audit log (audit.go). Commands without an author, from a log written
// before authors existed, apply as they always did. Where the federation
// requires k > 1 approvals, a federation admin's act waits as a proposal
// until k federation admins approved it (approvals.go). A header with a
// write id makes the command one try of a write: a second try of a write
// already applied is not applied or audited again, but answered with the
// first try's outcome (writes.go).
package registry
