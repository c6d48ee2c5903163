package registry

import (
	"bufio"
	"encoding/gob"
	"errors"
	"fmt"
	"io"

	memdb "github.com/hashicorp/go-memdb"
)

// A registry snapshot opens with snapshotPrefix and a digit, its format
// version: 9 adds the catalogue's developers and APIs, 8 the voter rules, 7 the outcomes of recent writes, 6 the approval rules and the proposals, 5 the range
// disputes, 4 the port requests and the porting rules, 3 the credentials
// and the audit log. Versions from
// oldestSnapshotVersion on are still read, so a node upgraded with an older
// snapshot on disk restores it.
const (
	snapshotPrefix        = "mcfed-registry-snapshot\n"
	snapshotVersion       = 9
	oldestSnapshotVersion = 2
)

// snapshotTable is one memdb table of a snapshot, in the order written, with
// the format version that added it.
type snapshotTable struct {
	name  string
	since int
	write func(*gob.Encoder, *memdb.Txn) error
	read  func(*gob.Decoder, *Registry) error
}

// laterTables are the tables added after version 2, each read by plain
// rows (the version 2 tables are read with the indexes they rebuild, in
// Restore).
func laterTables() []snapshotTable {
	return []snapshotTable{
		tableOf[Credential](3, tableCredentials),
		tableOf[AuditEntry](3, tableAudit),
		tableOf[PortRequest](4, tablePortRequests),
		tableOf[PortingRules](4, tablePortingRules),
		tableOf[Dispute](5, tableDisputes),
		tableOf[ApprovalRules](6, tableApprovalRules),
		tableOf[Proposal](6, tableProposals),
		tableOf[writeOutcome](7, tableWrites),
		tableOf[AuditRules](7, tableAuditRules),
		tableOf[VoterRules](8, tableVoterRules),
		tableOf[Developer](9, tableDevelopers),
		tableOf[API](9, tableAPIs),
	}
}

func tableOf[T any](since int, table string) snapshotTable {
	return snapshotTable{
		name:  table,
		since: since,
		write: func(enc *gob.Encoder, txn *memdb.Txn) error { return writeTable[T](enc, txn, table) },
		read:  func(dec *gob.Decoder, r *Registry) error { return readTable[T](dec, r, table, nil) },
	}
}

// chunkRows is how many rows go in one gob value of a snapshot, and in one
// memdb transaction when restoring: memdb's commit cost grows quickly past a
// few thousand changes.
const chunkRows = 1024

// Snapshot is a point-in-time copy of the registry, cheap to take: memdb's
// read transactions and the ported index are immutable views, so writes can
// go on while the snapshot is written out.
type Snapshot struct {
	index  uint64
	txn    *memdb.Txn
	ranges []rangeEntry
	ported *PortedSnapshot
}

// Snapshot captures the registry as of the last applied command.
func (r *Registry) Snapshot() *Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	ranges, _ := r.ranges.entries()
	return &Snapshot{index: r.applied.Load(), txn: r.db.Txn(false), ranges: ranges, ported: r.ported.Snapshot()}
}

// Index is the log index the snapshot reflects.
func (s *Snapshot) Index() uint64 { return s.index }

// WriteTo writes the snapshot: a header, every table's rows, then the ported
// index in its own compact form.
func (s *Snapshot) WriteTo(w io.Writer) (int64, error) {
	return s.writeVersion(w, snapshotVersion)
}

// writeVersion writes the snapshot in format version (tests write the older
// formats that Restore still reads).
func (s *Snapshot) writeVersion(w io.Writer, version int) (int64, error) {
	cw := &countingWriter{w: w}
	bw := bufio.NewWriterSize(cw, 1<<20)
	if _, err := fmt.Fprintf(bw, "%s%d", snapshotPrefix, version); err != nil {
		return cw.n, err
	}
	enc := gob.NewEncoder(bw)
	if err := enc.Encode(s.index); err != nil {
		return cw.n, fmt.Errorf("snapshot header: %w", err)
	}
	for _, err := range []error{
		writeTable[Operator](enc, s.txn, tableOperators),
		writeTable[IPRange](enc, s.txn, tableIPRanges),
		writeTable[Scope](enc, s.txn, tableScopes),
		writeTable[Product](enc, s.txn, tableProducts),
		writeTable[ServiceProvider](enc, s.txn, tableSPs),
		writeTable[Node](enc, s.txn, tableNodes),
		writeTable[JoinToken](enc, s.txn, tableJoinTokens),
		writeTable[SPPolicy](enc, s.txn, tableSPPolicies),
	} {
		if err != nil {
			return cw.n, err
		}
	}
	for _, t := range laterTables() {
		if t.since > version {
			continue
		}
		if err := t.write(enc, s.txn); err != nil {
			return cw.n, err
		}
	}
	if err := writeRanges(enc, s.ranges); err != nil {
		return cw.n, err
	}
	if _, err := s.ported.WriteTo(bw); err != nil {
		return cw.n, fmt.Errorf("snapshot of ported numbers: %w", err)
	}
	err := bw.Flush()
	return cw.n, err
}

// writeTable writes a table as chunks of rows, ending with an empty chunk.
func writeTable[T any](enc *gob.Encoder, txn *memdb.Txn, table string) error {
	it, err := txn.Get(table, "id")
	if err != nil {
		return fmt.Errorf("snapshot of %s: %w", table, err)
	}
	chunk := make([]*T, 0, chunkRows)
	for {
		o := it.Next()
		if o != nil {
			chunk = append(chunk, o.(*T))
		}
		if len(chunk) == chunkRows || (o == nil && len(chunk) > 0) {
			if err := enc.Encode(chunk); err != nil {
				return fmt.Errorf("snapshot of %s: %w", table, err)
			}
			chunk = chunk[:0]
		}
		if o == nil {
			break
		}
	}
	if err := enc.Encode([]*T{}); err != nil {
		return fmt.Errorf("snapshot of %s: %w", table, err)
	}
	return nil
}

// ErrNotASnapshot is what ReadSnapshotFormat says of bytes that do not
// open as a registry snapshot.
var ErrNotASnapshot = errors.New("not a registry snapshot")

// SnapshotFormatError is a registry snapshot of a format this build does
// not read: one written by a newer build (Format above Newest), or by a
// build older than this one still reads.
type SnapshotFormatError struct{ Format, Oldest, Newest int }

func (e *SnapshotFormatError) Error() string {
	return fmt.Sprintf("a registry snapshot of format %d, this build reads %d to %d", e.Format, e.Oldest, e.Newest)
}

// ReadSnapshotFormat reads the opening of a registry snapshot and returns
// its format version, an ErrNotASnapshot, or a *SnapshotFormatError when
// this build cannot read that format. A node checks the snapshots in its
// data directory with it before Raft restores one.
func ReadSnapshotFormat(r io.Reader) (int, error) {
	magic := make([]byte, len(snapshotPrefix)+1)
	if _, err := io.ReadFull(r, magic); err != nil || string(magic[:len(snapshotPrefix)]) != snapshotPrefix {
		return 0, ErrNotASnapshot
	}
	version := int(magic[len(snapshotPrefix)] - '0')
	if version < oldestSnapshotVersion || version > snapshotVersion {
		return version, &SnapshotFormatError{Format: version, Oldest: oldestSnapshotVersion, Newest: snapshotVersion}
	}
	return version, nil
}

// Restore builds a new registry from a snapshot written by Snapshot.WriteTo.
// The caller swaps it in for the old one; nothing is shared between them.
func Restore(rd io.Reader) (*Registry, error) {
	br := bufio.NewReaderSize(rd, 1<<20)
	version, err := ReadSnapshotFormat(br)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	dec := gob.NewDecoder(br)
	var index uint64
	if err := dec.Decode(&index); err != nil {
		return nil, fmt.Errorf("restore header: %w", err)
	}
	r := New()
	slotOf := map[string]Slot{}
	operatorSlot := func(id string) (Slot, error) {
		if s, ok := slotOf[id]; ok {
			return s, nil
		}
		return 0, fmt.Errorf("restore: a row names operator %q, which the snapshot does not hold", id)
	}
	for _, err := range []error{
		readTable(dec, r, tableOperators, func(ops []*Operator) error {
			for _, o := range ops {
				slotOf[o.ID] = o.Slot
				r.setSlot(o.Slot, o)
			}
			return nil
		}),
		readTable(dec, r, tableIPRanges, func(rgs []*IPRange) error {
			for _, rg := range rgs {
				p, err := parseCIDR(rg.CIDR)
				s, serr := operatorSlot(rg.Operator)
				if err != nil || serr != nil {
					return errors.Join(err, serr)
				}
				r.ips.set(p, s)
			}
			return nil
		}),
		readTable[Scope](dec, r, tableScopes, nil),
		readTable[Product](dec, r, tableProducts, nil),
		readTable[ServiceProvider](dec, r, tableSPs, nil),
		readTable[Node](dec, r, tableNodes, nil),
		readTable[JoinToken](dec, r, tableJoinTokens, nil),
		readTable[SPPolicy](dec, r, tableSPPolicies, nil),
	} {
		if err != nil {
			return nil, err
		}
	}
	for _, t := range laterTables() {
		if t.since > version {
			continue
		}
		if err := t.read(dec, r); err != nil {
			return nil, err
		}
	}
	if err := readRanges(dec, r, func(s Slot) error {
		if r.operatorBySlot(s) == nil {
			return fmt.Errorf("restore: a range names slot %d, which no operator of the snapshot holds", s)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	ported, err := ReadPortedIndex(br)
	if err != nil {
		return nil, fmt.Errorf("restore ported numbers: %w", err)
	}
	r.ported = ported
	r.applied.Store(index)
	return r, nil
}

// readTable reads a table's chunks into r, calling each (if not nil) with
// every chunk once it is committed, to rebuild the indexes memdb does not
// hold.
func readTable[T any](dec *gob.Decoder, r *Registry, table string, each func([]*T) error) error {
	for {
		var chunk []*T
		if err := dec.Decode(&chunk); err != nil {
			return fmt.Errorf("restore %s: %w", table, err)
		}
		if len(chunk) == 0 {
			return nil
		}
		txn := r.db.Txn(true)
		for _, v := range chunk {
			if err := txn.Insert(table, v); err != nil {
				txn.Abort()
				return fmt.Errorf("restore %s: %w", table, err)
			}
		}
		txn.Commit()
		if each != nil {
			if err := each(chunk); err != nil {
				return err
			}
		}
	}
}

// snapshotRange is a range as a snapshot stores it.
type snapshotRange struct {
	Value  uint64
	Digits uint8
	Slot   Slot
}

// writeRanges writes the ranges as chunks, ending with an empty chunk.
func writeRanges(enc *gob.Encoder, ranges []rangeEntry) error {
	chunk := make([]snapshotRange, 0, 64*chunkRows)
	for i, e := range ranges {
		chunk = append(chunk, snapshotRange{e.p.value, uint8(e.p.digits), e.slot})
		if len(chunk) == cap(chunk) || i == len(ranges)-1 {
			if err := enc.Encode(chunk); err != nil {
				return fmt.Errorf("snapshot of ranges: %w", err)
			}
			chunk = chunk[:0]
		}
	}
	if err := enc.Encode([]snapshotRange{}); err != nil {
		return fmt.Errorf("snapshot of ranges: %w", err)
	}
	return nil
}

// readRanges reads the ranges into r's index, checking that every slot is an
// operator's.
func readRanges(dec *gob.Decoder, r *Registry, operatorSlot func(Slot) error) error {
	for {
		var chunk []snapshotRange
		if err := dec.Decode(&chunk); err != nil {
			return fmt.Errorf("restore ranges: %w", err)
		}
		if len(chunk) == 0 {
			return nil
		}
		for _, e := range chunk {
			if e.Digits == 0 || e.Digits > maxDigits || e.Value >= pow10[e.Digits] || e.Value < pow10[e.Digits-1] {
				return fmt.Errorf("restore ranges: %d/%d is not a prefix", e.Value, e.Digits)
			}
			if err := operatorSlot(e.Slot); err != nil {
				return err
			}
		}
		r.ranges.update(func(set func(prefix, Slot)) {
			for _, e := range chunk {
				set(prefix{e.Value, int(e.Digits)}, e.Slot)
			}
		})
	}
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
