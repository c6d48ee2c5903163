package registry

import (
	"bytes"
	"slices"
	"sync/atomic"
)

// Slot is an operator's compact number inside the registry; 0 is none.
type Slot uint16

// PortRow is one row of a port batch: Number is served by the operator in
// Slot. Slot 0 un-ports the number (removes it from the index).
type PortRow struct {
	Number uint64
	Slot   Slot
}

// PortedIndex is the in-memory index of ported numbers: an exact map from a
// number (the uint64 value of its E.164 digits) to the Slot of the operator
// that serves it, compact enough to hold a national portability database:
// 1.9 bytes of Go heap a number for 100M numbers spread over 4e9 (fewer
// numbers per block cost more: 2.9 bytes a number for 10M over 4e9).
//
// Concurrency: one writer, many readers. Set, Delete, Apply and Snapshot must
// be called by one goroutine at a time (the Raft FSM). Lookup, Len,
// CountBySlot and Equal may be called from any goroutine at any time: they
// take no lock and never wait for the writer. A reader sees every number
// either before or after a write, never a torn value; a batch (Apply) becomes
// visible block by block, so a reader may see part of a batch applied while
// the batch is running.
//
// Layout: numbers are grouped in blocks of 65,536 consecutive values (the
// block key is n>>16), and blocks in pages of 64 (the page key is n>>22). A
// directory, an open-addressing hash table with atomic entries, maps a page
// key to its page; a page holds an atomic pointer to each of its blocks'
// current version. A block is one immutable byte slice: sorted 16-bit
// suffixes (one byte each under a 256-bucket table once a block holds 512
// numbers or more), the distinct slots it holds, and each number's index
// among them packed 0, 4, 8 or 16 bits wide. A write builds a new version of
// each block it touches and swaps the page's pointer; readers holding the
// old version keep a consistent view. The directory (16 bytes a page) and
// the pages (768 bytes each) are small and stay in cache, so a lookup's cost
// is the block's cache lines, which it fetches all at once when it can (see
// portedFind).
type PortedIndex struct {
	dir    atomic.Pointer[portedDir]
	n      atomic.Int64
	counts portedCounts

	// Writer-only state.
	used int           // directory entries in use
	w    *portedWriter // scratch buffers, allocated on the first write
}

// NewPortedIndex returns an empty index.
func NewPortedIndex() *PortedIndex {
	p := &PortedIndex{}
	p.dir.Store(newPortedDir(8))
	return p
}

// Lookup returns the slot a number was ported to. It is safe to call
// concurrently with the writer and with other readers, and never blocks.
func (p *PortedIndex) Lookup(n uint64) (Slot, bool) {
	d := p.dir.Load()
	k := n>>portedPageShift + 1
	i := (k * portedHashMul) >> d.shift
	for {
		e := &d.entries[i&d.mask]
		switch e.key.Load() {
		case k:
			pg := e.page.Load()
			j := (n >> 16) & (portedPageBlocks - 1)
			b := pg.blocks[j].Load()
			if b == nil {
				return 0, false
			}
			return portedFind(b, uint16(n), pg.hints[j].Load())
		case 0:
			return 0, false
		}
		i++
	}
}

// Len is how many numbers the index holds.
func (p *PortedIndex) Len() int { return int(p.n.Load()) }

// CountBySlot is how many numbers are ported to the operator in slot s
// (0 for s == 0). It reads a counter the writer maintains: O(1).
func (p *PortedIndex) CountBySlot(s Slot) int {
	if s == 0 {
		return 0
	}
	return int(p.counts.get(s))
}

// Set ports number n to the operator in slot s and returns the slot it had
// before (0 if it was not ported). Set(n, 0) is Delete(n). Writer only.
func (p *PortedIndex) Set(n uint64, s Slot) (prev Slot) {
	w := p.writer()
	w.one[0] = PortRow{Number: n, Slot: s}
	return p.applySorted(w.one[:])
}

// Delete un-ports number n and returns the slot it had (0 if it was not
// ported). Writer only.
func (p *PortedIndex) Delete(n uint64) (prev Slot) { return p.Set(n, 0) }

// Apply applies a batch of rows in any order. When a number appears more
// than once the last row wins; a row with Slot 0 un-ports its number. Rows
// that change nothing are skipped, so applying a batch twice is the same as
// applying it once. Each touched block is rebuilt once. Apply does not
// modify rows. Writer only.
func (p *PortedIndex) Apply(rows []PortRow) {
	if len(rows) == 0 {
		return
	}
	w := p.writer()
	p.applySorted(w.sortRows(rows))
	w.releaseRows()
}

// applySorted applies rows sorted by number without duplicates and returns
// the previous slot of the first row.
func (p *PortedIndex) applySorted(rows []PortRow) (prev Slot) {
	w := p.w
	// Reserve directory room for the new pages once for the batch.
	d := p.dir.Load()
	missing := 0
	for i := 0; i < len(rows); {
		k := rows[i].Number >> portedPageShift
		if d.find(k+1) == nil {
			missing++
		}
		for i < len(rows) && rows[i].Number>>portedPageShift == k {
			i++
		}
	}
	if missing > 0 {
		d = p.reserve(missing)
	}
	prev = rows[0].Slot // unchanged unless an edit says otherwise
	var pg *portedPage
	pk := uint64(0)
	for i := 0; i < len(rows); {
		key := rows[i].Number >> 16
		j := i + 1
		for j < len(rows) && rows[j].Number>>16 == key {
			j++
		}
		if pg == nil || key>>(portedPageShift-16) != pk {
			pk = key >> (portedPageShift - 16)
			pg = nil
			if e := d.find(pk + 1); e != nil {
				pg = e.page.Load()
			}
		}
		slot := key & (portedPageBlocks - 1)
		var old []byte
		if pg != nil {
			old = pg.block(slot)
		}
		nb, changed := w.rewrite(p, old, rows[i:j])
		if i == 0 && len(w.edits) > 0 && w.edits[0].suf == uint16(rows[0].Number) {
			prev = w.edits[0].old
		}
		if changed {
			if pg == nil {
				pg = new(portedPage)
				p.insert(d, pk+1, pg)
			}
			pg.store(slot, nb)
		}
		i = j
	}
	return prev
}

// Equal reports whether p and q hold the same numbers with the same slots.
func (p *PortedIndex) Equal(q *PortedIndex) bool {
	if p == q {
		return true
	}
	if p.Len() != q.Len() {
		return false
	}
	dp, dq := p.dir.Load(), q.dir.Load()
	blocks := 0
	for i := range dp.entries {
		e := &dp.entries[i]
		k := e.key.Load()
		if k == 0 {
			continue
		}
		pg := e.page.Load()
		var qg *portedPage
		if eq := dq.find(k); eq != nil {
			qg = eq.page.Load()
		}
		for j := range uint64(portedPageBlocks) {
			b := pg.block(j)
			if b == nil {
				continue
			}
			blocks++
			// Blocks are canonical: equal contents have equal bytes.
			if qg == nil || !bytes.Equal(b, qg.block(j)) {
				return false
			}
		}
	}
	for i := range dq.entries {
		if pg := dq.entries[i].page.Load(); pg != nil {
			for j := range uint64(portedPageBlocks) {
				if pg.blocks[j].Load() != nil {
					blocks--
				}
			}
		}
	}
	return blocks == 0
}

// Snapshot returns an immutable view of the index. It copies only the
// directory (a pointer per block), not the numbers: blocks are never changed
// in place, so the snapshot stays valid and unchanged while later writes
// proceed. Call it from the writer, between writes.
func (p *PortedIndex) Snapshot() *PortedSnapshot {
	d := p.dir.Load()
	s := &PortedSnapshot{}
	for i := range d.entries {
		e := &d.entries[i]
		k := e.key.Load()
		if k == 0 {
			continue
		}
		pg := e.page.Load()
		for j := range uint64(portedPageBlocks) {
			if b := pg.block(j); b != nil {
				key := (k-1)<<(portedPageShift-16) | j
				s.blocks = append(s.blocks, portedSnapBlock{key: key, d: b})
				s.n += portedHeader(b).n
			}
		}
	}
	slices.SortFunc(s.blocks, func(a, b portedSnapBlock) int {
		switch {
		case a.key < b.key:
			return -1
		case a.key > b.key:
			return 1
		}
		return 0
	})
	return s
}

// PortedSnapshot is a point-in-time, immutable view of a PortedIndex.
type PortedSnapshot struct {
	n      int
	blocks []portedSnapBlock // ascending keys
}

type portedSnapBlock struct {
	key uint64
	d   []byte
}

// Len is how many numbers the snapshot holds.
func (s *PortedSnapshot) Len() int { return s.n }

// Range calls fn for every number in ascending order, until fn returns
// false.
func (s *PortedSnapshot) Range(fn func(n uint64, slot Slot) bool) {
	most := 0
	for _, sb := range s.blocks {
		most = max(most, portedHeader(sb.d).n)
	}
	suf := make([]uint16, most)
	sl := make([]Slot, most)
	for _, sb := range s.blocks {
		l := portedHeader(sb.d)
		l.decode(sb.d, suf, sl)
		base := sb.key << 16
		for i := 0; i < l.n; i++ {
			if !fn(base|uint64(suf[i]), sl[i]) {
				return
			}
		}
	}
}
