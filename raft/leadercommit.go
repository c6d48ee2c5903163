package raft

import (
	"sync"
	"sync/atomic"

	hraft "github.com/hashicorp/raft"
)

// commitWatch is the node's transport with one addition: it notes the
// leader's commit index from the first AppendEntries that carries one after
// the node opened. hashicorp/raft does not expose it: a follower's own
// CommitIndex is min(the leader's, its own last index), so while it is still
// receiving a backlog it shows the end of the batch it just stored, not how
// far the cluster has gone. The readiness check needs the cluster's figure.
//
// It embeds the *NetworkTransport so raft sees every capability the
// transport has (pre-vote, close); heartbeats carry no commit index and keep
// their fast path, which does not go through Consumer.
type commitWatch struct {
	*hraft.NetworkTransport
	rpcs    chan hraft.RPC
	learned atomic.Uint64
	// contacts are the answers the node had from each follower while it
	// led (voters.go).
	contacts contacts
	done     chan struct{}
	once     sync.Once
}

func watchCommits(t *hraft.NetworkTransport) *commitWatch {
	w := &commitWatch{NetworkTransport: t, rpcs: make(chan hraft.RPC), done: make(chan struct{})}
	go w.relay(t.Consumer())
	return w
}

func (w *commitWatch) relay(in <-chan hraft.RPC) {
	for {
		select {
		case rpc := <-in:
			if ae, ok := rpc.Command.(*hraft.AppendEntriesRequest); ok && ae.LeaderCommitIndex > 0 {
				w.learned.CompareAndSwap(0, ae.LeaderCommitIndex)
			}
			select {
			case w.rpcs <- rpc:
			case <-w.done:
				return
			}
		case <-w.done:
			return
		}
	}
}

// AppendEntries is the transport's, noting each follower's answer
// (heartbeats included) for the leader's judgement of its voters
// (voters.go). Replication through the pipeline is not noted: heartbeats
// go on beside it.
func (w *commitWatch) AppendEntries(id hraft.ServerID, target hraft.ServerAddress, args *hraft.AppendEntriesRequest,
	resp *hraft.AppendEntriesResponse) error {
	err := w.NetworkTransport.AppendEntries(id, target, args, resp)
	if err == nil {
		w.contacts.note(id, resp.LastLog)
	}
	return err
}

// Consumer is what raft reads its incoming RPCs from.
func (w *commitWatch) Consumer() <-chan hraft.RPC { return w.rpcs }

// leaderCommit is the leader's commit index as first learned since the node
// opened, 0 until a leader has sent one.
func (w *commitWatch) leaderCommit() uint64 { return w.learned.Load() }

// Close stops the relay and the transport; raft and Node.Close both call it.
func (w *commitWatch) Close() error {
	w.once.Do(func() { close(w.done) })
	return w.NetworkTransport.Close()
}
