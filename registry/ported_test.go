package registry

import (
	"bytes"
	"encoding/binary"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

// portedModel is the reference the index is checked against: a map, and
// its numbers in a list whose order depends only on the operations, so that
// a seed always gives the same test.
type portedModel struct {
	slot map[uint64]Slot
	list []uint64
	at   map[uint64]int
}

func newPortedModel() *portedModel {
	return &portedModel{slot: map[uint64]Slot{}, at: map[uint64]int{}}
}

func (m *portedModel) len() int { return len(m.list) }

func (m *portedModel) get(n uint64) (Slot, bool) {
	s, ok := m.slot[n]
	return s, ok
}

func (m *portedModel) set(n uint64, s Slot) {
	if s == 0 {
		m.del(n)
		return
	}
	if _, ok := m.slot[n]; !ok {
		m.at[n] = len(m.list)
		m.list = append(m.list, n)
	}
	m.slot[n] = s
}

func (m *portedModel) del(n uint64) {
	i, ok := m.at[n]
	if !ok {
		return
	}
	last := m.list[len(m.list)-1]
	m.list[i], m.at[last] = last, i
	m.list = m.list[:len(m.list)-1]
	delete(m.at, n)
	delete(m.slot, n)
}

func (m *portedModel) apply(rows []PortRow) {
	for _, r := range rows {
		m.set(r.Number, r.Slot)
	}
}

// portedForm is a block's bucket bits and width code, to check that tests
// reach every form.
type portedForm struct {
	bits uint
	wc   uint8
}

// portedInvariants checks the index's internal structure: every block
// canonical and findable in the directory, Len and the per-slot counters
// equal to what the blocks hold. It returns the forms of the blocks.
func portedInvariants(t testing.TB, p *PortedIndex) map[portedForm]int {
	t.Helper()
	forms := map[portedForm]int{}
	w := NewPortedIndex().writer()
	d := p.dir.Load()
	total := 0
	counts := map[Slot]int{}
	for i := range d.entries {
		e := &d.entries[i]
		k := e.key.Load()
		if k == 0 {
			continue
		}
		if d.find(k) != e {
			t.Fatalf("directory: page %d is not found at its own entry", k-1)
		}
		pg := e.page.Load()
		for j := range uint64(portedPageBlocks) {
			key := (k-1)<<(portedPageShift-16) | j
			b := pg.block(j)
			if b == nil {
				if pg.hints[j].Load() != 0 {
					t.Fatalf("block %d: empty with a hint", key)
				}
				continue
			}
			l, ok := portedParse(b)
			if ok {
				w.ensure(l.n)
				ok = l.decode(b, w.sufA, w.slotA)
			}
			if !ok {
				t.Fatalf("block %d: malformed", key)
			}
			if !bytes.Equal(w.encode(w.sufA[:l.n], w.slotA[:l.n], nil), b) {
				t.Fatalf("block %d: not canonical", key)
			}
			if cap(b) != len(b) {
				t.Fatalf("block %d: %d bytes in a slice of %d", key, len(b), cap(b))
			}
			if h := pg.hints[j].Load(); h != binary.LittleEndian.Uint32(b) {
				t.Fatalf("block %d: hint %#x, header %#x", key, h, binary.LittleEndian.Uint32(b))
			}
			for _, s := range w.slotA[:l.n] {
				counts[s]++
			}
			total += l.n
			forms[portedForm{l.bits, l.wc}]++
		}
	}
	if p.Len() != total {
		t.Fatalf("Len() = %d, blocks hold %d", p.Len(), total)
	}
	for s, c := range counts {
		if got := p.CountBySlot(s); got != c {
			t.Fatalf("CountBySlot(%d) = %d, blocks hold %d", s, got, c)
		}
	}
	return forms
}

// portedCheck compares the index with the model: Len, Lookup of the
// touched numbers, of random misses and (full) of every number of the model,
// CountBySlot, the ascending order of a snapshot's Range and the internal
// invariants.
func portedCheck(t testing.TB, p *PortedIndex, m *portedModel, rng *rand.Rand, full bool, touched ...PortRow) map[portedForm]int {
	t.Helper()
	if p.Len() != m.len() {
		t.Fatalf("Len() = %d, want %d", p.Len(), m.len())
	}
	for _, r := range touched {
		s, in := m.get(r.Number)
		if got, ok := p.Lookup(r.Number); ok != in || got != s {
			t.Fatalf("Lookup(%d) = %d, %v; want %d, %v", r.Number, got, ok, s, in)
		}
	}
	if full {
		counts := map[Slot]int{}
		for n, s := range m.slot {
			counts[s]++
			if got, ok := p.Lookup(n); !ok || got != s {
				t.Fatalf("Lookup(%d) = %d, %v; want %d, true", n, got, ok, s)
			}
		}
		for s, c := range counts {
			if got := p.CountBySlot(s); got != c {
				t.Fatalf("CountBySlot(%d) = %d, want %d", s, got, c)
			}
		}
	}
	if p.CountBySlot(0) != 0 {
		t.Fatalf("CountBySlot(0) = %d", p.CountBySlot(0))
	}
	for range 200 {
		n := rng.Uint64N(1 << 40)
		if s, ok := m.get(n); !ok {
			if got, ok := p.Lookup(n); ok {
				t.Fatalf("Lookup(%d) = %d, true for an absent number", n, got)
			}
		} else if got, _ := p.Lookup(n); got != s {
			t.Fatalf("Lookup(%d) = %d, want %d", n, got, s)
		}
	}
	if !full {
		return nil
	}
	snap := p.Snapshot()
	if snap.Len() != m.len() {
		t.Fatalf("snapshot Len() = %d, want %d", snap.Len(), m.len())
	}
	want := slices.Sorted(slices.Values(m.list))
	i := 0
	snap.Range(func(n uint64, s Slot) bool {
		if i >= len(want) || n != want[i] || s != m.slot[n] {
			t.Fatalf("Range: entry %d is (%d, %d), want %d", i, n, s, want[min(i, len(want)-1)])
		}
		i++
		return true
	})
	if i != len(want) {
		t.Fatalf("Range gave %d numbers, want %d", i, len(want))
	}
	return portedInvariants(t, p)
}

// portedGen draws numbers from a few blocks, each with its own mix of
// operators so that every block form appears.
type portedGen struct {
	rng  *rand.Rand
	keys []uint64
}

func newPortedGen(seed uint64) *portedGen {
	base := uint64(447700000000) >> 16
	return &portedGen{
		rng:  rand.New(rand.NewPCG(seed, 1)),
		keys: []uint64{base, base + 1, base + 2, base + 3, base + 4, 33600000000 >> 16},
	}
}

func (g *portedGen) key() uint64 { return g.keys[g.rng.IntN(len(g.keys))] }

func (g *portedGen) numberIn(k uint64) uint64 {
	var suf uint64
	switch g.rng.IntN(4) {
	case 0, 1:
		suf = g.rng.Uint64N(1 << 16)
	case 2:
		suf = 30000 + g.rng.Uint64N(400) // a crowded bucket
	default:
		suf = g.rng.Uint64N(2000)
	}
	return k<<16 | suf
}

func (g *portedGen) number() uint64 { return g.numberIn(g.key()) }

// slotFor returns a slot for a number: which operators a block sees depends
// on the block.
func (g *portedGen) slotFor(n uint64) Slot {
	switch (n >> 16) - g.keys[0] {
	case 0: // one operator: width 0
		return 3
	case 1: // up to 16 operators, some above 15: 4-bit palette
		return Slot(1 + g.rng.IntN(16))
	case 2: // a few hundred: 8-bit palette, or 16 bits past 256
		return Slot(1 + g.rng.IntN(300))
	case 3: // anything at all
		return Slot(1 + g.rng.IntN(65535))
	}
	if g.rng.IntN(10) == 0 {
		return Slot(16 + g.rng.IntN(100))
	}
	return Slot(1 + g.rng.IntN(6))
}

// batch returns rows for the index: new numbers, re-ports, un-ports of
// present and absent numbers, and duplicates.
func (g *portedGen) batch(m *portedModel, size int) []PortRow {
	present := m.list
	k := g.key()
	focus := g.rng.IntN(3) == 0 // most rows in one block
	rows := make([]PortRow, 0, size)
	for len(rows) < size {
		var n uint64
		switch r := g.rng.IntN(10); {
		case r < 3 && len(present) > 0:
			n = present[g.rng.IntN(len(present))]
		case r < 4 && len(rows) > 0:
			n = rows[g.rng.IntN(len(rows))].Number // a duplicate
		case focus:
			n = g.numberIn(k)
		default:
			n = g.number()
		}
		s := g.slotFor(n)
		if g.rng.IntN(5) == 0 {
			s = 0
		}
		rows = append(rows, PortRow{Number: n, Slot: s})
	}
	return rows
}

// drain returns rows un-porting every number of one block, shuffled, some
// twice.
func (g *portedGen) drain(m *portedModel) []PortRow {
	k := g.key()
	var rows []PortRow
	for _, n := range m.list {
		if n>>16 == k {
			rows = append(rows, PortRow{Number: n})
			if g.rng.IntN(4) == 0 {
				rows = append(rows, PortRow{Number: n, Slot: g.slotFor(n)}, PortRow{Number: n})
			}
		}
	}
	g.rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
	return rows
}

func TestPortedAgainstModel(t *testing.T) {
	for seed := uint64(1); seed <= 2; seed++ {
		g := newPortedGen(seed)
		p := NewPortedIndex()
		m := newPortedModel()
		seen := map[portedForm]int{}
		for step := range 300 {
			var touched []PortRow
			switch r := g.rng.IntN(10); {
			case r < 4:
				n := g.number()
				if g.rng.IntN(2) == 0 && m.len() > 0 {
					n = m.list[g.rng.IntN(m.len())]
				}
				s := g.slotFor(n)
				if prev, _ := m.get(n); p.Set(n, s) != prev {
					t.Fatalf("seed %d step %d: Set(%d, %d) did not return %d", seed, step, n, s, prev)
				}
				m.set(n, s)
				touched = []PortRow{{n, s}}
			case r < 5:
				n := g.number()
				if g.rng.IntN(2) == 0 && m.len() > 0 {
					n = m.list[g.rng.IntN(m.len())]
				}
				if prev, _ := m.get(n); p.Delete(n) != prev {
					t.Fatalf("seed %d step %d: Delete(%d) did not return %d", seed, step, n, prev)
				}
				m.del(n)
				touched = []PortRow{{n, 0}}
			case r < 6:
				rows := g.drain(m)
				p.Apply(rows)
				m.apply(rows)
				touched = rows
			default:
				size := 1 + g.rng.IntN(40)
				if g.rng.IntN(4) == 0 {
					size = 500 + g.rng.IntN(3000)
				}
				rows := g.batch(m, size)
				keep := slices.Clone(rows)
				p.Apply(rows)
				if !slices.Equal(rows, keep) {
					t.Fatal("Apply modified its argument")
				}
				m.apply(rows)
				// Applying the same batch again changes nothing, not even a
				// block's version.
				before := p.Snapshot()
				p.Apply(rows)
				after := p.Snapshot()
				if !slices.EqualFunc(before.blocks, after.blocks, func(x, y portedSnapBlock) bool {
					return x.key == y.key && &x.d[0] == &y.d[0]
				}) {
					t.Fatalf("seed %d step %d: re-applying a batch rebuilt blocks", seed, step)
				}
				touched = rows
			}
			portedCheck(t, p, m, g.rng, step%10 == 0, touched...)
			for _, sb := range p.Snapshot().blocks {
				l := portedHeader(sb.d)
				seen[portedForm{l.bits, l.wc}]++
			}
		}
		bitsSeen, wcSeen := map[uint]bool{}, map[uint8]bool{}
		for f := range seen {
			bitsSeen[f.bits], wcSeen[f.wc] = true, true
		}
		for _, b := range []uint{0, 1, 2, 3, 4, 8} {
			if !bitsSeen[b] {
				t.Errorf("seed %d: no block with %d bucket bits: %v", seed, b, seen)
			}
		}
		for wc := range uint8(4) {
			if !wcSeen[wc] {
				t.Errorf("seed %d: no block with width code %d: %v", seed, wc, seen)
			}
		}
	}
}

func TestPortedFullBlock(t *testing.T) {
	p := NewPortedIndex()
	m := newPortedModel()
	rng := rand.New(rand.NewPCG(7, 7))
	base := uint64(447911000000) &^ 0xFFFF
	rows := make([]PortRow, 0, 1<<16)
	for i := range uint64(1 << 16) {
		rows = append(rows, PortRow{Number: base | i, Slot: Slot(1 + i%5)})
	}
	rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
	p.Apply(rows)
	m.apply(rows)
	portedCheck(t, p, m, rng, true)
	// Re-port and un-port single numbers in the full block: the patch path
	// at n = 65,536.
	for _, n := range []uint64{base, base | 0xFFFF, base | 0x8000, base | 0x00FF} {
		if prev, _ := m.get(n); p.Set(n, 9) != prev {
			t.Fatalf("Set(%d) did not return %d", n, prev)
		}
		m.set(n, 9)
		if prev, _ := m.get(n ^ 1); p.Delete(n^1) != prev {
			t.Fatalf("Delete(%d) did not return %d", n^1, prev)
		}
		m.del(n ^ 1)
		portedCheck(t, p, m, rng, false, PortRow{Number: n}, PortRow{Number: n ^ 1})
	}
	portedCheck(t, p, m, rng, true)
	// Empty it in one batch.
	for i := range rows {
		rows[i].Slot = 0
	}
	p.Apply(rows)
	m.apply(rows)
	portedCheck(t, p, m, rng, true)
	if p.Len() != 0 || p.Snapshot().Len() != 0 {
		t.Fatalf("Len() = %d after un-porting everything", p.Len())
	}
}

func TestPortedCopyOps(t *testing.T) {
	// Every alignment of the nibble copy against a one-nibble-at-a-time
	// reference.
	rng := rand.New(rand.NewPCG(3, 3))
	src := make([]byte, 40)
	for i := range src {
		src[i] = byte(rng.Uint32())
	}
	nib := func(b []byte, i int) byte { return b[i>>1] >> (4 * uint(i&1)) & 15 }
	for si := range 30 {
		for di := range 30 {
			for cnt := 0; si+cnt <= 2*len(src) && di+cnt <= 80; cnt++ {
				dst := make([]byte, 40)
				portedCopyOps(dst, di, src, si, cnt, pwc4)
				for i := range 80 {
					want := byte(0)
					if i >= di && i < di+cnt {
						want = nib(src, si+i-di)
					}
					if got := nib(dst, i); got != want {
						t.Fatalf("copy si=%d di=%d cnt=%d: nibble %d = %x, want %x", si, di, cnt, i, got, want)
					}
				}
			}
		}
	}
}

// portedRandomIndex builds an index with numbers in blocks of every form.
func portedRandomIndex(t testing.TB, seed uint64, batches int) (*PortedIndex, *portedModel) {
	g := newPortedGen(seed)
	p := NewPortedIndex()
	m := newPortedModel()
	for range batches {
		rows := g.batch(m, 200+g.rng.IntN(2000))
		p.Apply(rows)
		m.apply(rows)
	}
	return p, m
}

func portedBytes(t testing.TB, s *PortedSnapshot) []byte {
	t.Helper()
	var buf bytes.Buffer
	n, err := s.WriteTo(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) {
		t.Fatalf("WriteTo returned %d, wrote %d bytes", n, buf.Len())
	}
	return buf.Bytes()
}

func portedContents(s *PortedSnapshot) []PortRow {
	var rows []PortRow
	s.Range(func(n uint64, slot Slot) bool {
		rows = append(rows, PortRow{n, slot})
		return true
	})
	return rows
}

func TestPortedSnapshotIsIsolated(t *testing.T) {
	p, m := portedRandomIndex(t, 11, 8)
	snap := p.Snapshot()
	contents := portedContents(snap)
	raw := portedBytes(t, snap)
	if len(contents) != m.len() || snap.Len() != m.len() {
		t.Fatalf("snapshot holds %d (Len %d), want %d", len(contents), snap.Len(), m.len())
	}

	// Writes of every kind after the snapshot: re-ports, un-ports, new
	// blocks, emptied blocks, a grown directory.
	g := newPortedGen(12)
	for range 20 {
		rows := g.batch(m, 1000)
		p.Apply(rows)
		m.apply(rows)
		rows = g.drain(m)
		p.Apply(rows)
		m.apply(rows)
	}
	for i := range uint64(500) {
		p.Set((900000000000+i*70000)&^0xFF, Slot(1+i%3))
	}
	p.Set(m.list[0], m.slot[m.list[0]]+1)

	if got := portedContents(snap); !slices.Equal(got, contents) {
		t.Fatal("the snapshot changed after later writes")
	}
	if snap.Len() != len(contents) {
		t.Fatalf("snapshot Len() = %d, want %d", snap.Len(), len(contents))
	}
	if !bytes.Equal(portedBytes(t, snap), raw) {
		t.Fatal("the snapshot's bytes changed after later writes")
	}

	// Range stops when asked.
	calls := 0
	snap.Range(func(uint64, Slot) bool { calls++; return calls < 3 })
	if calls != 3 {
		t.Fatalf("Range went on after false: %d calls", calls)
	}
}

func TestPortedEqual(t *testing.T) {
	a, b := NewPortedIndex(), NewPortedIndex()
	if !a.Equal(b) {
		t.Fatal("empty indexes differ")
	}
	// The same contents reached by different histories are Equal.
	a.Set(447700000001, 1)
	a.Set(447700000002, 2)
	a.Set(447800000002, 2)
	a.Delete(447800000002)
	b.Apply([]PortRow{{447700000002, 2}, {447700000001, 3}, {447700000001, 1}})
	if !a.Equal(b) || !b.Equal(a) {
		t.Fatal("same contents, not Equal")
	}
	b.Set(447700000002, 3)
	if a.Equal(b) {
		t.Fatal("different slot, still Equal")
	}
	b.Set(447700000002, 2)
	b.Set(447700000003, 2)
	b.Delete(447700000001)
	if a.Equal(b) || b.Equal(a) {
		t.Fatal("different numbers, still Equal")
	}
}

// TestPortedConcurrentReaders runs readers against one writer: a reader sees
// a number being changed with its old or its new slot, never anything else,
// and numbers nobody changes never move, while blocks are rebuilt, emptied
// and created and the directory grows. Run it with -race.
func TestPortedConcurrentReaders(t *testing.T) {
	p := NewPortedIndex()
	base := uint64(447700000000) &^ 0xFFFF
	stable := map[uint64]Slot{}
	var rows []PortRow
	for i := range uint64(20000) {
		n := base + i*13
		s := Slot(1 + i%7)
		stable[n] = s
		rows = append(rows, PortRow{n, s})
	}
	p.Apply(rows)
	stableList := slices.Collect(maps.Keys(stable))

	// Flippers alternate between slots 1 and 2 (never absent); blinkers
	// alternate between slot 3 and absent. Both sit in the stable blocks.
	var flippers, blinkers []uint64
	for i := range uint64(64) {
		flippers = append(flippers, base+i*13*311+1)
		blinkers = append(blinkers, base+i*13*307+2)
	}
	for _, n := range flippers {
		p.Set(n, 1)
	}

	var stop atomic.Bool
	var lookups atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for r := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 9))
			for !stop.Load() {
				n := stableList[rng.IntN(len(stableList))]
				if s, ok := p.Lookup(n); !ok || s != stable[n] {
					errs <- "a stable number changed"
					return
				}
				if s, ok := p.Lookup(flippers[rng.IntN(len(flippers))]); !ok || (s != 1 && s != 2) {
					errs <- "a flipping number was seen absent or with a third slot"
					return
				}
				if s, ok := p.Lookup(blinkers[rng.IntN(len(blinkers))]); ok && s != 3 {
					errs <- "a blinking number was seen with a wrong slot"
					return
				}
				_ = p.Len()
				_ = p.CountBySlot(2)
				lookups.Add(3)
			}
		}()
	}

	rng := rand.New(rand.NewPCG(8, 8))
	far := uint64(0)
	for round := range 300 {
		switch round % 3 {
		case 0: // one by one
			n := flippers[rng.IntN(len(flippers))]
			p.Set(n, 3-p.Set(n, 1))
			b := blinkers[rng.IntN(len(blinkers))]
			if p.Delete(b) == 0 {
				p.Set(b, 3)
			}
		case 1: // a batch flipping everything, with duplicates
			var batch []PortRow
			for _, n := range flippers {
				s, _ := p.Lookup(n)
				batch = append(batch, PortRow{n, s}, PortRow{n, 3 - s})
			}
			for _, n := range blinkers {
				if _, ok := p.Lookup(n); ok {
					batch = append(batch, PortRow{n, 0})
				} else {
					batch = append(batch, PortRow{n, 3})
				}
			}
			rng.Shuffle(len(batch), func(i, j int) { batch[i], batch[j] = batch[j], batch[i] })
			p.Apply(batch)
		case 2: // new blocks elsewhere (the directory grows), and emptied
			for range 20 {
				far++
				p.Set(far<<20, 5)
			}
			if far > 200 {
				p.Delete((far - 200) << 20)
			}
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if lookups.Load() == 0 {
		t.Error("the readers did not run")
	}
	t.Logf("%d lookups during 300 writes", lookups.Load())
	portedInvariants(t, p)
}

// TestPortedStaleHints gives every block a wrong hint, as a reader can see
// when the writer has just replaced the block: lookups must still be right
// (the hint is checked against the header before it is trusted).
func TestPortedStaleHints(t *testing.T) {
	p, m := portedRandomIndex(t, 51, 10)
	rng := rand.New(rand.NewPCG(51, 52))
	var headers []uint32
	for _, sb := range p.Snapshot().blocks {
		headers = append(headers, binary.LittleEndian.Uint32(sb.d))
	}
	d := p.dir.Load()
	for i := range d.entries {
		pg := d.entries[i].page.Load()
		if pg == nil {
			continue
		}
		for j := range pg.hints {
			if pg.blocks[j].Load() == nil {
				continue
			}
			switch rng.IntN(3) {
			case 0:
				pg.hints[j].Store(rng.Uint32())
			case 1:
				pg.hints[j].Store(headers[rng.IntN(len(headers))])
			default:
				pg.hints[j].Store(pg.hints[j].Load() ^ 1<<rng.IntN(32))
			}
		}
	}
	for _, n := range m.list {
		if got, ok := p.Lookup(n); !ok || got != m.slot[n] {
			t.Fatalf("Lookup(%d) = %d, %v with a stale hint; want %d", n, got, ok, m.slot[n])
		}
	}
	for range 20000 {
		n := m.list[rng.IntN(len(m.list))] ^ uint64(1+rng.IntN(255))
		s, in := m.get(n)
		if got, ok := p.Lookup(n); ok != in || got != s {
			t.Fatalf("Lookup(%d) = %d, %v with a stale hint; want %d, %v", n, got, ok, s, in)
		}
	}
}
