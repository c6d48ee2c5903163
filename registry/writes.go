package registry

import (
	"encoding/binary"
	"errors"
	"fmt"

	memdb "github.com/hashicorp/go-memdb"
)

// Exactly-once writes (the Raft dissertation's client sessions, §6.3,
// simplified). A node that writes through Raft cannot always tell whether
// its write was committed: the leader may commit it and then lose the
// answer (a connection cut, a leader going away), and the node must try
// again. So every try of one write carries the same write id, which the
// leader states in the command's header; the registry remembers, for a
// while, the outcome of every write id it applied, and answers a repeat
// with that outcome instead of applying it (and auditing it) again.
//
// The table of write ids is replicated state like any other (snapshots
// included): every replica decides alike whether a command repeats one.
// Entries go when they are WriteIDRetention older than the newest
// authored command, by the leader's clock in its header, never by a local
// clock.

// WriteIDRetention is how long a write id is remembered (Unix
// milliseconds): much longer than a node retries one write (30 s).
const WriteIDRetention int64 = 15 * 60 * 1000

// writeOutcome is how the registry answered the first copy of a write.
type writeOutcome struct {
	ID string
	// Credential is the write's author: a write id names one author's
	// write; another's command with the same id is no repeat of it.
	Credential string
	// Time is the leader's clock in the first copy's header.
	Time int64
	// Index is the log index the first copy was applied at (the index a
	// port request or a proposal is named by).
	Index uint64
	// Code and Message are the refusal, if it was refused.
	Code    Code
	Message string
}

// refusal is the error the first copy was answered with, nil if it was
// applied.
func (w *writeOutcome) refusal() error {
	if w.Code == "" {
		return nil
	}
	return &Error{Code: w.Code, Message: w.Message}
}

// writeTimeIndexer keys write outcomes by time, big-endian with the sign
// bit flipped so that memdb iterates them oldest first.
type writeTimeIndexer struct{}

func (writeTimeIndexer) FromObject(raw any) (bool, []byte, error) {
	w, ok := raw.(*writeOutcome)
	if !ok {
		return false, nil, fmt.Errorf("write time index: %T is not a write outcome", raw)
	}
	return true, binary.BigEndian.AppendUint64(nil, uint64(w.Time)^1<<63), nil
}

func (writeTimeIndexer) FromArgs(args ...any) ([]byte, error) {
	if len(args) != 1 {
		return nil, errors.New("write time index: want one argument")
	}
	t, ok := args[0].(int64)
	if !ok {
		return nil, fmt.Errorf("write time index: %T is not an int64", args[0])
	}
	return binary.BigEndian.AppendUint64(nil, uint64(t)^1<<63), nil
}

func writesTable() *memdb.TableSchema {
	return &memdb.TableSchema{Name: tableWrites, Indexes: map[string]*memdb.IndexSchema{
		"id":   idIndex("ID"),
		"time": {Name: "time", Indexer: writeTimeIndexer{}},
	}}
}

// repeatOf returns the outcome of the write h repeats, nil when h is no
// repeat (it carries no write id, or one not seen within the retention),
// or a refusal when h reuses another author's write id.
func repeatOf(txn *memdb.Txn, h Header) (*writeOutcome, error) {
	if h.WriteID == "" {
		return nil, nil
	}
	w := get[writeOutcome](txn, tableWrites, h.WriteID)
	if w != nil && w.Credential != h.Author.Credential {
		return nil, invalidf("write id %s is another credential's write", h.WriteID)
	}
	return w, nil
}

// rememberWrite records the outcome of the first copy of h's write,
// applied at index, and forgets the write ids past retention.
func rememberWrite(txn *memdb.Txn, h Header, index uint64, refusal error) error {
	if h.WriteID != "" {
		w := &writeOutcome{ID: h.WriteID, Credential: h.Author.Credential, Time: h.Time, Index: index}
		if refusal != nil {
			w.Code, w.Message = CodeOf(refusal), refusal.Error()
		}
		if err := txn.Insert(tableWrites, w); err != nil {
			return fmt.Errorf("insert into %s: %w", tableWrites, err)
		}
	}
	return pruneWrites(txn, h.Time)
}

// pruneWrites forgets the write ids older than retention as of now.
func pruneWrites(txn *memdb.Txn, now int64) error {
	return pruneOldest(txn, tableWrites, "time", func(o any) bool { return o.(*writeOutcome).Time < now-WriteIDRetention })
}
