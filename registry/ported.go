package registry

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/bits"
	"slices"
	"sync/atomic"
	"unsafe"
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

// Snapshot stream format, version 1 (all integers little-endian):
//
//	magic "MCPORTED", version u32 = 1, flags u32 = 0,
//	count u64 (numbers), blocks u64,
//	per block in ascending key order: key u64, length u32, the block's bytes
//	(its in-memory form, which is canonical),
//	CRC-32C (Castagnoli) u32 of everything before it.
//
// A reader rebuilds nothing: it checks each block (structure, order,
// canonical form) and keeps its bytes as they are.
const (
	portedMagic      = "MCPORTED"
	portedVersion    = 1
	portedFileHeader = 32
	portedBlockHead  = 12
)

var portedCRC = crc32.MakeTable(crc32.Castagnoli)

// WriteTo writes the snapshot in its binary form and returns the bytes
// written.
func (s *PortedSnapshot) WriteTo(w io.Writer) (int64, error) {
	cw := &countingWriter{w: w}
	bw := bufio.NewWriterSize(cw, 64<<10)
	crc := uint32(0)
	write := func(b []byte) error {
		crc = crc32.Update(crc, portedCRC, b)
		_, err := bw.Write(b)
		return err
	}
	var h [portedFileHeader]byte
	copy(h[:8], portedMagic)
	binary.LittleEndian.PutUint32(h[8:], portedVersion)
	binary.LittleEndian.PutUint64(h[16:], uint64(s.n))
	binary.LittleEndian.PutUint64(h[24:], uint64(len(s.blocks)))
	if err := write(h[:]); err != nil {
		return cw.n, err
	}
	var bh [portedBlockHead]byte
	for _, sb := range s.blocks {
		binary.LittleEndian.PutUint64(bh[:], sb.key)
		binary.LittleEndian.PutUint32(bh[8:], uint32(len(sb.d)))
		if err := write(bh[:]); err != nil {
			return cw.n, err
		}
		if err := write(sb.d); err != nil {
			return cw.n, err
		}
	}
	var t [4]byte
	binary.LittleEndian.PutUint32(t[:], crc)
	if _, err := bw.Write(t[:]); err != nil {
		return cw.n, err
	}
	err := bw.Flush()
	return cw.n, err
}

// errPortedCorrupt is wrapped by every error ReadPortedIndex returns for
// bytes that are not a valid snapshot.
var errPortedCorrupt = errors.New("corrupt ported-number snapshot")

func portedCorrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errPortedCorrupt, fmt.Sprintf(format, args...))
}

// ReadPortedIndex restores an index from the form PortedSnapshot.WriteTo
// writes. It reads exactly the snapshot's bytes from r (nothing after them),
// so the snapshot can be embedded in a larger stream. Damaged or truncated
// input gives an error.
func ReadPortedIndex(r io.Reader) (*PortedIndex, error) {
	crc := uint32(0)
	read := func(b []byte) error {
		if _, err := io.ReadFull(r, b); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("read ported-number snapshot: %w", err)
		}
		crc = crc32.Update(crc, portedCRC, b)
		return nil
	}
	var h [portedFileHeader]byte
	if err := read(h[:]); err != nil {
		return nil, err
	}
	if string(h[:8]) != portedMagic {
		return nil, portedCorrupt("bad magic")
	}
	if v := binary.LittleEndian.Uint32(h[8:]); v != portedVersion {
		return nil, portedCorrupt("unsupported version %d", v)
	}
	if f := binary.LittleEndian.Uint32(h[12:]); f != 0 {
		return nil, portedCorrupt("unknown flags %#x", f)
	}
	count := binary.LittleEndian.Uint64(h[16:])
	nBlocks := binary.LittleEndian.Uint64(h[24:])
	if nBlocks > portedMaxKey+1 || count>>16 > nBlocks || (count>>16 == nBlocks && count&0xFFFF != 0) {
		return nil, portedCorrupt("%d numbers in %d blocks", count, nBlocks)
	}
	p := NewPortedIndex()
	w := p.writer()
	total, prevKey := uint64(0), uint64(0)
	var bh [portedBlockHead]byte
	for bi := uint64(0); bi < nBlocks; bi++ {
		if err := read(bh[:]); err != nil {
			return nil, err
		}
		key := binary.LittleEndian.Uint64(bh[:])
		size := binary.LittleEndian.Uint32(bh[8:])
		if key > portedMaxKey || (bi > 0 && key <= prevKey) {
			return nil, portedCorrupt("block %d: key %d out of order", bi, key)
		}
		if size < portedHeaderSize || size > portedMaxBlock {
			return nil, portedCorrupt("block %d: length %d", bi, size)
		}
		buf := make([]byte, size)
		if err := read(buf); err != nil {
			return nil, err
		}
		l, ok := portedParse(buf)
		if ok {
			w.ensure(l.n)
			ok = l.decode(buf, w.sufA, w.slotA)
		}
		if !ok {
			return nil, portedCorrupt("block %d: malformed", bi)
		}
		if cap(w.cmp) < len(buf) {
			w.cmp = make([]byte, min(2*len(buf), int(portedMaxBlock)))
		}
		if !bytes.Equal(w.encode(w.sufA[:l.n], w.slotA[:l.n], w.cmp), buf) {
			return nil, portedCorrupt("block %d: not in canonical form", bi)
		}
		w.count(&p.counts, w.slotA[:l.n], l.wc)
		total += uint64(l.n)
		p.storeBlock(key, buf)
		prevKey = key
	}
	var t [4]byte
	want := crc
	if _, err := io.ReadFull(r, t[:]); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("read ported-number snapshot: %w", err)
	}
	if binary.LittleEndian.Uint32(t[:]) != want {
		return nil, portedCorrupt("checksum mismatch")
	}
	if total != count {
		return nil, portedCorrupt("header says %d numbers, blocks hold %d", count, total)
	}
	p.n.Store(int64(total))
	return p, nil
}

// ---- directory ----

const (
	portedHashMul    = 0x9E3779B97F4A7C15 // 2^64 / golden ratio
	portedPageShift  = 22                 // a page holds numbers with the same n>>22
	portedPageBlocks = 1 << (portedPageShift - 16)
	portedMaxKey     = 1<<48 - 1 // the largest block key (a number's top 48 bits)
)

// portedDir is an open-addressing (linear probing) hash table from page key
// to page. Readers probe it without locks. The writer fills a free entry in
// place (page pointer first, then key, both atomic, so a reader that sees
// the key sees the page); it replaces the whole table, copy-on-write, only
// to grow it. Pages are never removed from a table; pages left empty are
// dropped when it grows.
type portedDir struct {
	entries []portedDirEntry
	mask    uint64
	shift   uint
}

type portedDirEntry struct {
	key  atomic.Uint64 // page key + 1; 0 marks a free entry
	page atomic.Pointer[portedPage]
}

// portedPage holds the current version of 64 consecutive blocks.
type portedPage struct {
	// blocks[j] points at the first byte of block j's current version (nil
	// when it is empty). A block is one []byte allocation whose length its
	// header gives; one pointer instead of a slice header saves a
	// dependent memory access on every lookup.
	blocks [portedPageBlocks]atomic.Pointer[byte]
	// hints[j] is the header of blocks[j] as the writer last stored it. A
	// reader may see it out of step with blocks[j]: it checks it against
	// the block's header before trusting it (see portedFind).
	hints [portedPageBlocks]atomic.Uint32
}

// block returns block j's current version, nil if it is empty.
func (pg *portedPage) block(j uint64) []byte {
	if b := pg.blocks[j].Load(); b != nil {
		return portedSlice(b)
	}
	return nil
}

// store publishes b (nil when empty) as block j's current version.
func (pg *portedPage) store(j uint64, b []byte) {
	var p *byte
	h := uint32(0)
	if len(b) > 0 {
		p = &b[0]
		h = binary.LittleEndian.Uint32(b)
	}
	pg.blocks[j].Store(p)
	pg.hints[j].Store(h)
}

// portedSlice returns the block that starts at p: its header says how long
// it is. p is the first byte of a []byte of exactly that length, made by
// this file (encode, patch, ReadPortedIndex), so the slice covers that
// allocation and nothing else.
func portedSlice(p *byte) []byte {
	h := (*[portedHeaderSize]byte)(unsafe.Pointer(p))
	return unsafe.Slice(p, portedHeader(h[:]).size)
}

func newPortedDir(size int) *portedDir {
	return &portedDir{
		entries: make([]portedDirEntry, size),
		mask:    uint64(size - 1),
		shift:   uint(64 - bits.TrailingZeros(uint(size))),
	}
}

// find returns the entry of key k (page key + 1), or nil.
func (d *portedDir) find(k uint64) *portedDirEntry {
	i := (k * portedHashMul) >> d.shift
	for {
		e := &d.entries[i&d.mask]
		switch e.key.Load() {
		case k:
			return e
		case 0:
			return nil
		}
		i++
	}
}

// reserve makes room for extra new pages, keeping the table at most half
// full; when it must grow, it publishes a new table (at most a quarter
// full) with the pages that hold blocks.
func (p *PortedIndex) reserve(extra int) *portedDir {
	d := p.dir.Load()
	if 2*(p.used+extra) <= len(d.entries) {
		return d
	}
	live := 0
	for i := range d.entries {
		if pg := d.entries[i].page.Load(); pg != nil && !pg.empty() {
			live++
		}
	}
	size := 8
	for size < 4*(live+extra) {
		size *= 2
	}
	nd := newPortedDir(size)
	p.used = 0
	for i := range d.entries {
		e := &d.entries[i]
		if pg := e.page.Load(); pg != nil && !pg.empty() {
			p.insert(nd, e.key.Load(), pg)
		}
	}
	p.dir.Store(nd)
	return nd
}

func (pg *portedPage) empty() bool {
	for j := range pg.blocks {
		if pg.blocks[j].Load() != nil {
			return false
		}
	}
	return true
}

// insert adds key k (page key + 1), known to be absent, with page pg.
func (p *PortedIndex) insert(d *portedDir, k uint64, pg *portedPage) {
	i := (k * portedHashMul) >> d.shift
	for d.entries[i&d.mask].key.Load() != 0 {
		i++
	}
	e := &d.entries[i&d.mask]
	e.page.Store(pg)
	e.key.Store(k)
	p.used++
}

// storeBlock publishes b as the version of block key, creating its page if
// needed (ReadPortedIndex).
func (p *PortedIndex) storeBlock(key uint64, b []byte) {
	pk := key>>(portedPageShift-16) + 1
	d := p.dir.Load()
	e := d.find(pk)
	var pg *portedPage
	if e != nil {
		pg = e.page.Load()
	} else {
		d = p.reserve(1)
		pg = new(portedPage)
		p.insert(d, pk, pg)
	}
	pg.store(key&(portedPageBlocks-1), b)
}

// ---- per-slot counters ----

// portedCounts holds a counter per slot in pages allocated on first use, so
// that an index with a few operators does not pay for 65,536 counters.
type portedCounts struct {
	pages [256]atomic.Pointer[[256]atomic.Int64]
}

func (c *portedCounts) get(s Slot) int64 {
	pg := c.pages[s>>8].Load()
	if pg == nil {
		return 0
	}
	return pg[s&255].Load()
}

// add is called by the writer only.
func (c *portedCounts) add(s Slot, d int64) {
	pg := c.pages[s>>8].Load()
	if pg == nil {
		pg = new([256]atomic.Int64)
		c.pages[s>>8].Store(pg)
	}
	v := &pg[s&255]
	v.Store(v.Load() + d)
}

// ---- blocks ----

// A block is one immutable []byte: the numbers key<<16 .. key<<16 + 65535
// that one version of the index holds. Its bytes, in order:
//
//	header   4 bytes: n-1 (u16), bucket bits (low nibble) | width code << 4,
//	         palette size - 1 (0 when there is no palette)
//	palette  k u16: the distinct slots of the block, ascending (absent for
//	         width code 3)
//	starts   2^bits u16 when bits > 0: the index of the first number of
//	         each bucket (bucket = suffix >> (16 - bits))
//	keys     n suffixes, ascending: one byte each (the low byte; the high
//	         byte is the bucket) when bits == 8, else two bytes
//	ops      each number's palette index: width code 0: none (one slot),
//	         1: 4 bits, 2: 8 bits; 3: the 16-bit slot itself
//
// Everything is derived from the contents (bits from n, width from k,
// palette sorted), so equal contents give equal bytes, and the header alone
// gives the layout: a lookup that knows the header in advance (the page's
// hint) knows where everything is before the block's first byte arrives.
// The palette shares the header's cache line when it has up to 30 slots.

const (
	portedHeaderSize = 4
	portedMaxN       = 1 << 16
	portedByteKeysN  = 512 // from this many numbers a block uses 256 buckets and 1-byte keys
	pwc0             = 0   // one slot: no per-number bits
	pwc4             = 1
	pwc8             = 2
	pwc16            = 3
)

// portedMaxBlock is the largest valid block: 65,536 numbers in the 16-bit
// form.
var portedMaxBlock = uint32(portedMakeLayout(portedMaxN, 0, 8, pwc16).size)

type portedLayout struct {
	n, k                         int
	bits                         uint
	wc                           uint8
	starts, pal, keys, ops, size int
}

func portedBucketBits(n int) uint {
	switch {
	case n >= portedByteKeysN:
		return 8
	case n < 32:
		return 0
	}
	return uint(bits.Len(uint(n))) - 5 // 32..63: 1, .. 256..511: 4
}

func portedWidthCode(k int) uint8 {
	switch {
	case k <= 1:
		return pwc0
	case k <= 16:
		return pwc4
	case k <= 256:
		return pwc8
	}
	return pwc16
}

func portedMakeLayout(n, k int, bb uint, wc uint8) portedLayout {
	l := portedLayout{n: n, k: k, bits: bb, wc: wc}
	if wc == pwc16 {
		l.k = 0
	}
	off := portedHeaderSize
	l.pal = off
	off += 2 * l.k
	l.starts = off
	if bb > 0 {
		off += 2 << bb
	}
	l.keys = off
	if bb == 8 {
		off += n
	} else {
		off += 2 * n
	}
	l.ops = off
	switch wc {
	case pwc4:
		off += (n + 1) / 2
	case pwc8:
		off += n
	case pwc16:
		off += 2 * n
	}
	l.size = off
	return l
}

// portedHeader reads the layout of a block known to be valid.
func portedHeader(d []byte) portedLayout {
	return portedLayoutOf(binary.LittleEndian.Uint32(d))
}

// portedLayoutOf returns the layout a header (read as a little-endian
// uint32) describes.
func portedLayoutOf(h uint32) portedLayout {
	return portedMakeLayout(int(h&0xFFFF)+1, int(h>>24)+1, uint(h>>16)&15, uint8(h>>20)&15)
}

// portedParse reads and checks the layout of untrusted bytes.
func portedParse(d []byte) (portedLayout, bool) {
	if len(d) < portedHeaderSize {
		return portedLayout{}, false
	}
	bb, wc := uint(d[2]&15), d[2]>>4
	if bb > 8 || wc > pwc16 || (wc == pwc16 && d[3] != 0) {
		return portedLayout{}, false
	}
	l := portedHeader(d)
	return l, l.size == len(d)
}

func (l *portedLayout) putHeader(d []byte) {
	binary.LittleEndian.PutUint16(d, uint16(l.n-1))
	d[2] = byte(l.bits) | l.wc<<4
	d[3] = 0
	if l.wc != pwc16 {
		d[3] = byte(l.k - 1)
	}
}

// bucket returns the index range of the numbers whose suffix shares s's
// bucket.
func (l *portedLayout) bucket(d []byte, s uint16) (lo, hi int) {
	hi = l.n
	if l.bits == 0 {
		return 0, hi
	}
	j := int(s >> (16 - l.bits))
	lo = int(binary.LittleEndian.Uint16(d[l.starts+2*j:]))
	if j+1 < 1<<l.bits {
		hi = int(binary.LittleEndian.Uint16(d[l.starts+2*j+2:]))
	}
	return lo, hi
}

// search returns the index of suffix s in the block, or where it would be
// inserted.
func (l *portedLayout) search(d []byte, s uint16) (int, bool) {
	lo, hi := l.bucket(d, s)
	if l.bits == 8 {
		keys := d[l.keys : l.keys+l.n]
		t := byte(s)
		end := hi
		for hi-lo > 16 {
			m := int(uint(lo+hi) >> 1)
			if keys[m] < t {
				lo = m + 1
			} else {
				hi = m
			}
		}
		for ; lo < end; lo++ {
			if keys[lo] >= t {
				return lo, keys[lo] == t
			}
		}
		return end, false
	}
	keys := d[l.keys : l.keys+2*l.n]
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		v := binary.LittleEndian.Uint16(keys[2*m:])
		if v == s {
			return m, true
		}
		if v < s {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, false
}

// opIndex returns the palette index of the i-th number (width codes 0-2).
func (l *portedLayout) opIndex(d []byte, i int) int {
	switch l.wc {
	case pwc4:
		return int(d[l.ops+i>>1]>>(4*uint(i&1))) & 15
	case pwc8:
		return int(d[l.ops+i])
	}
	return 0
}

// slot returns the slot of the i-th number.
func (l *portedLayout) slot(d []byte, i int) Slot {
	if l.wc == pwc16 {
		return Slot(binary.LittleEndian.Uint16(d[l.ops+2*i:]))
	}
	return Slot(binary.LittleEndian.Uint16(d[l.pal+2*l.opIndex(d, i):]))
}

// palIndex returns the palette index of slot s, or -1.
func (l *portedLayout) palIndex(d []byte, s Slot) int {
	lo, hi := 0, l.k
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		v := Slot(binary.LittleEndian.Uint16(d[l.pal+2*m:]))
		if v == s {
			return m
		}
		if v < s {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return -1
}

// portedFind looks suffix s up in the block that starts at p; hint is the
// block's header as its page holds it.
//
// A lookup's cost is its cache misses. The header says where everything
// is, but waiting for it before reading the rest costs a second round trip
// to memory. So portedFind takes the layout from the hint, reads the
// bucket's bounds, guesses where the key lies (as if the numbers were
// spread evenly over the block: for random numbers the guess is within a
// few dozen bytes) and reads the two lines around the guess in the keys and
// the two around it in the palette indexes, all before the header arrives:
// these reads depend on the header only through a predicted branch, so the
// processor issues them together with it. The search that follows finds its
// lines in cache, and the palette shares the header's line. A wrong guess
// (numbers clustered in the block) only costs time; a stale hint (the block
// was replaced after the reader loaded the hint) is caught by comparing it
// with the header and sends the lookup to the plain path.
func portedFind(p *byte, s uint16, hint uint32) (Slot, bool) {
	// The layout from the hint (portedMakeLayout, written out: this is the
	// hot path).
	n := int(hint&0xFFFF) + 1
	bb := uint(hint>>16) & 15
	wc := uint8(hint>>20) & 15
	if binary.LittleEndian.Uint32((*[portedHeaderSize]byte)(unsafe.Pointer(p))[:]) != hint || wc >= pwc16 {
		return portedFindPlain(p, s)
	}
	// The hint is the header: what follows is the block's layout.
	pal := portedHeaderSize
	starts := pal + 2*(int(hint>>24)+1)
	keys, ks := starts, 2
	if bb > 0 {
		keys += 2 << bb
	}
	if bb == 8 {
		ks = 1
	}
	ops := keys + ks*n
	size := ops
	switch wc {
	case pwc4:
		size += (n + 1) >> 1
	case pwc8:
		size += n
	}
	d := unsafe.Slice(p, size)

	at := n * int(s) >> 16 // where s would be if the numbers were evenly spread
	var warm byte
	if g := max(keys+ks*at-32, 0); g+64 < len(d) {
		warm = d[g] | d[g+64]
	}
	switch g := ops - 24; wc {
	case pwc4:
		g += at >> 1
		if g >= 0 && g+48 < len(d) {
			warm |= d[g] | d[g+48]
		}
	case pwc8:
		g += at
		if g >= 0 && g+48 < len(d) {
			warm |= d[g] | d[g+48]
		}
	}

	lo, hi := 0, n
	if bb > 0 {
		j := int(s >> (16 - bb))
		lo = int(binary.LittleEndian.Uint16(d[starts+2*j:]))
		if j+1 < 1<<bb {
			hi = int(binary.LittleEndian.Uint16(d[starts+2*j+2:]))
		}
	}
	i := -1
	if bb == 8 {
		// Find byte(s) in keys[lo:hi], 8 at a time: the lowest zero byte of
		// x ^ t·0x0101… is exactly the first equal key.
		t := uint64(byte(s)) * 0x0101010101010101
		for a := keys + lo; a < keys+hi; a += 8 {
			if a+8 > len(d) {
				for ; a < keys+hi; a++ {
					if d[a] == byte(s) {
						i = a - keys
						break
					}
				}
				break
			}
			x := binary.LittleEndian.Uint64(d[a:]) ^ t
			if m := (x - 0x0101010101010101) &^ x & 0x8080808080808080; m != 0 {
				if c := a - keys + bits.TrailingZeros64(m)>>3; c < hi {
					i = c
				}
				break
			}
		}
	} else {
		k := d[keys : keys+2*n]
		for lo < hi {
			m := int(uint(lo+hi) >> 1)
			v := binary.LittleEndian.Uint16(k[2*m:])
			if v == s {
				i = m
				break
			}
			if v < s {
				lo = m + 1
			} else {
				hi = m
			}
		}
	}
	if i < 0 {
		return 0, false
	}
	x := 0
	switch wc {
	case pwc4:
		x = int(d[ops+i>>1]>>(4*uint(i&1))) & 15
	case pwc8:
		x = int(d[ops+i])
	}
	return Slot(d[pal+2*x]^(warm&portedNoise)) | Slot(d[pal+2*x+1])<<8, true
}

// portedNoise is always 0. The early reads are folded into the result
// through it, so that the compiler, which cannot know it is 0, keeps them.
var portedNoise byte

// portedFindPlain is the lookup that reads the header first.
func portedFindPlain(p *byte, s uint16) (Slot, bool) {
	d := portedSlice(p)
	l := portedHeader(d)
	i, ok := l.search(d, s)
	if !ok {
		return 0, false
	}
	return l.slot(d, i), true
}

// decode writes the block's suffixes and slots into suf and sl (each with
// room for l.n) and checks what the canonical re-encoding cannot: bucket
// starts that cover every number once, ascending suffixes, palette indexes
// in range and non-zero slots. It returns false for malformed bytes.
func (l *portedLayout) decode(d []byte, suf []uint16, sl []Slot) bool {
	n := l.n
	if len(d) < l.size || len(suf) < n || len(sl) < n {
		return false
	}
	if l.bits == 8 {
		keys := d[l.keys : l.keys+n]
		lo := 0
		for j := 0; j < 256; j++ {
			hi := n
			if j < 255 {
				hi = int(binary.LittleEndian.Uint16(d[l.starts+2*j+2:]))
			}
			if (j == 0 && binary.LittleEndian.Uint16(d[l.starts:]) != 0) || hi < lo || hi > n {
				return false
			}
			hj := uint16(j) << 8
			for i := lo; i < hi; i++ {
				suf[i] = hj | uint16(keys[i])
			}
			lo = hi
		}
	} else {
		keys := d[l.keys : l.keys+2*n]
		for i := range n {
			suf[i] = binary.LittleEndian.Uint16(keys[2*i:])
		}
	}
	for i := 1; i < n; i++ {
		if suf[i] <= suf[i-1] {
			return false
		}
	}
	switch l.wc {
	case pwc16:
		ops := d[l.ops : l.ops+2*n]
		for i := range n {
			s := Slot(binary.LittleEndian.Uint16(ops[2*i:]))
			if s == 0 {
				return false
			}
			sl[i] = s
		}
		return true
	}
	var pal [256]Slot
	for i := 0; i < l.k; i++ {
		pal[i] = Slot(binary.LittleEndian.Uint16(d[l.pal+2*i:]))
		if pal[i] == 0 {
			return false
		}
	}
	switch l.wc {
	case pwc0:
		for i := range n {
			sl[i] = pal[0]
		}
	case pwc4:
		ops := d[l.ops : l.ops+(n+1)/2]
		for i := range n {
			x := int(ops[i>>1]>>(4*uint(i&1))) & 15
			if x >= l.k {
				return false
			}
			sl[i] = pal[x]
		}
	case pwc8:
		ops := d[l.ops : l.ops+n]
		for i := range n {
			x := int(ops[i])
			if x >= l.k {
				return false
			}
			sl[i] = pal[x]
		}
	}
	return true
}

// ---- the writer ----

// portedEdit is one row of a batch that changes its block.
type portedEdit struct {
	pos   int32 // index of the number in the old block, or where it goes
	suf   uint16
	found bool
	old   Slot // 0 when absent
	new   Slot // 0 to delete
}

func (e *portedEdit) delta() int {
	switch {
	case !e.found:
		return 1
	case e.new == 0:
		return -1
	}
	return 0
}

// portedWriter holds the writer's scratch buffers, reused across writes.
type portedWriter struct {
	one          [1]PortRow
	sufA, sufB   []uint16
	slotA, slotB []Slot
	palIdx       []uint8
	seen         []uint64
	pal          []Slot
	edits        []portedEdit
	hist         [256]int32
	cmp          []byte // ReadPortedIndex's re-encoding
	rowsA, rowsB []PortRow
	radix        *[6][1 << portedRadixBits]int
}

func (p *PortedIndex) writer() *portedWriter {
	if p.w == nil {
		p.w = &portedWriter{
			palIdx: make([]uint8, 1<<16),
			seen:   make([]uint64, 1<<16/64),
		}
	}
	return p.w
}

// ensure makes the decode buffers hold at least n numbers.
func (w *portedWriter) ensure(n int) {
	if len(w.sufA) >= n {
		return
	}
	size := min(max(n, 2*len(w.sufA), 256), portedMaxN)
	w.sufA, w.sufB = make([]uint16, size), make([]uint16, size)
	w.slotA, w.slotB = make([]Slot, size), make([]Slot, size)
}

// rewrite applies rows (sorted, unique, all in the block of old) to old and
// returns the new version (nil when the block becomes empty) and whether
// anything changed. It updates the index's counters.
func (w *portedWriter) rewrite(p *PortedIndex, old []byte, rows []PortRow) ([]byte, bool) {
	d := old
	var l portedLayout
	if old != nil {
		l = portedHeader(d)
	}
	edits := w.edits[:0]
	dn := 0
	for _, r := range rows {
		e := portedEdit{suf: uint16(r.Number), new: r.Slot}
		if old != nil {
			i, found := l.search(d, e.suf)
			e.pos, e.found = int32(i), found
			if found {
				e.old = l.slot(d, i)
			}
		}
		if e.old == e.new {
			continue
		}
		if e.old != 0 {
			p.counts.add(e.old, -1)
			dn--
		}
		if e.new != 0 {
			p.counts.add(e.new, 1)
			dn++
		}
		edits = append(edits, e)
	}
	w.edits = edits
	if len(edits) == 0 {
		return old, false
	}
	p.n.Add(int64(dn))
	n := l.n + dn
	if n == 0 {
		return nil, true
	}
	if old != nil && portedBucketBits(n) == l.bits && w.samePalette(d, &l, edits) {
		return w.patch(d, &l, n, edits), true
	}
	return w.rebuild(d, &l, edits), true
}

// samePalette reports whether the block keeps its palette after edits.
func (w *portedWriter) samePalette(d []byte, l *portedLayout, edits []portedEdit) bool {
	removes := false
	for i := range edits {
		e := &edits[i]
		if e.old != 0 {
			removes = true
		}
		if l.wc != pwc16 && e.new != 0 && l.palIndex(d, e.new) < 0 {
			return false
		}
	}
	if !removes {
		// With 16-bit slots, more distinct slots keep the 16-bit form.
		return true
	}
	if l.wc == pwc16 {
		return false // would the block fall to 256 distinct slots? Rebuild.
	}
	h := w.hist[:l.k]
	clear(h)
	switch l.wc {
	case pwc0:
		h[0] = int32(l.n)
	case pwc4:
		ops := d[l.ops : l.ops+(l.n+1)/2]
		for i := 0; i < l.n; i++ {
			h[ops[i>>1]>>(4*uint(i&1))&15]++
		}
	case pwc8:
		for _, x := range d[l.ops : l.ops+l.n] {
			h[x]++
		}
	}
	for i := range edits {
		e := &edits[i]
		if e.old != 0 {
			h[l.palIndex(d, e.old)]--
		}
		if e.new != 0 {
			h[l.palIndex(d, e.new)]++
		}
	}
	for _, c := range h {
		if c == 0 {
			return false
		}
	}
	return true
}

// patch builds the new version of a block whose bucket bits and palette do
// not change, copying the runs of untouched numbers as they are.
func (w *portedWriter) patch(d []byte, l *portedLayout, n int, edits []portedEdit) []byte {
	nl := portedMakeLayout(n, l.k, l.bits, l.wc)
	out := make([]byte, nl.size)
	nl.putHeader(out)
	copy(out[nl.pal:nl.starts], d[l.pal:l.starts])
	if l.bits > 0 {
		shift := 16 - l.bits
		t, acc := 0, 0
		for j := 0; j < 1<<l.bits; j++ {
			for t < len(edits) && int(edits[t].suf>>shift) < j {
				acc += edits[t].delta()
				t++
			}
			v := int(binary.LittleEndian.Uint16(d[l.starts+2*j:])) + acc
			binary.LittleEndian.PutUint16(out[nl.starts+2*j:], uint16(v))
		}
	}
	ks := 2
	if l.bits == 8 {
		ks = 1
	}
	si, di := 0, 0
	for i := range edits {
		e := &edits[i]
		if run := int(e.pos) - si; run > 0 {
			copy(out[nl.keys+di*ks:], d[l.keys+si*ks:l.keys+(si+run)*ks])
			portedCopyOps(out[nl.ops:], di, d[l.ops:], si, run, l.wc)
			si, di = si+run, di+run
		}
		if e.found {
			si++
		}
		if e.new != 0 {
			if ks == 1 {
				out[nl.keys+di] = byte(e.suf)
			} else {
				binary.LittleEndian.PutUint16(out[nl.keys+2*di:], e.suf)
			}
			switch l.wc {
			case pwc4:
				out[nl.ops+di>>1] |= byte(l.palIndex(d, e.new)) << (4 * uint(di&1))
			case pwc8:
				out[nl.ops+di] = byte(l.palIndex(d, e.new))
			case pwc16:
				binary.LittleEndian.PutUint16(out[nl.ops+2*di:], uint16(e.new))
			}
			di++
		}
	}
	if run := l.n - si; run > 0 {
		copy(out[nl.keys+di*ks:], d[l.keys+si*ks:l.keys+l.n*ks])
		portedCopyOps(out[nl.ops:], di, d[l.ops:], si, run, l.wc)
	}
	return out
}

// portedCopyOps copies cnt per-number op fields from src (starting at
// number si) to dst (at number di). dst is freshly zeroed there.
func portedCopyOps(dst []byte, di int, src []byte, si, cnt int, wc uint8) {
	switch wc {
	case pwc8:
		copy(dst[di:di+cnt], src[si:si+cnt])
		return
	case pwc16:
		copy(dst[2*di:2*(di+cnt)], src[2*si:2*(si+cnt)])
		return
	case pwc0:
		return
	}
	if cnt <= 0 {
		return
	}
	if di&1 == si&1 {
		if di&1 == 1 {
			dst[di>>1] |= src[si>>1] & 0xF0
			di, si, cnt = di+1, si+1, cnt-1
		}
		nb := cnt >> 1
		copy(dst[di>>1:di>>1+nb], src[si>>1:si>>1+nb])
		di, si, cnt = di+2*nb, si+2*nb, cnt-2*nb
		if cnt == 1 {
			dst[di>>1] |= src[si>>1] & 0x0F
		}
		return
	}
	if cnt > 0 && di&1 == 1 {
		// si is even: its low nibble goes to di's high nibble.
		dst[di>>1] |= src[si>>1] << 4
		di, si, cnt = di+1, si+1, cnt-1
	}
	// Now di is even and si odd: each dst byte takes the high nibble of one
	// src byte and the low nibble of the next.
	db, sb := di>>1, si>>1
	for cnt >= 16 && sb+9 <= len(src) && db+8 <= len(dst) {
		x := binary.LittleEndian.Uint64(src[sb:])>>4 | uint64(src[sb+8])<<60
		binary.LittleEndian.PutUint64(dst[db:], x)
		db, sb, cnt = db+8, sb+8, cnt-16
	}
	for cnt >= 2 {
		dst[db] = src[sb]>>4 | src[sb+1]<<4
		db, sb, cnt = db+1, sb+1, cnt-2
	}
	if cnt == 1 {
		dst[db] |= src[sb] >> 4
	}
}

// rebuild decodes the block, merges the edits and encodes the result.
func (w *portedWriter) rebuild(d []byte, l *portedLayout, edits []portedEdit) []byte {
	na := 0
	if d != nil {
		na = l.n
	}
	w.ensure(na + len(edits))
	if d != nil {
		l.decode(d, w.sufA, w.slotA)
	}
	sa, oa := w.sufA[:na], w.slotA[:na]
	sb, ob := w.sufB, w.slotB
	si, di := 0, 0
	for i := range edits {
		e := &edits[i]
		pos := int(e.pos)
		copy(sb[di:], sa[si:pos])
		copy(ob[di:], oa[si:pos])
		di += pos - si
		si = pos
		if e.found {
			si++
		}
		if e.new != 0 {
			sb[di], ob[di] = e.suf, e.new
			di++
		}
	}
	copy(sb[di:], sa[si:])
	copy(ob[di:], oa[si:])
	di += na - si
	return w.encode(sb[:di], ob[:di], nil)
}

// encode builds the canonical block for ascending suffixes suf with slots
// sl (non-zero), into buf when it is large enough, else into a new slice of
// exactly the block's size.
func (w *portedWriter) encode(suf []uint16, sl []Slot, buf []byte) []byte {
	n := len(suf)
	pal := w.pal[:0]
	last := Slot(0)
	for _, s := range sl {
		if s == last {
			continue
		}
		last = s
		if w.seen[s>>6]&(1<<(s&63)) == 0 {
			w.seen[s>>6] |= 1 << (s & 63)
			pal = append(pal, s)
		}
	}
	for _, s := range pal {
		w.seen[s>>6] &^= 1 << (s & 63)
	}
	w.pal = pal
	k := len(pal)
	wc := portedWidthCode(k)
	if wc != pwc16 {
		slices.Sort(pal)
		for i, s := range pal {
			w.palIdx[s] = uint8(i)
		}
	}
	l := portedMakeLayout(n, k, portedBucketBits(n), wc)
	var out []byte
	if cap(buf) >= l.size {
		out = buf[:l.size]
	} else {
		out = make([]byte, l.size)
	}
	l.putHeader(out)
	if l.bits > 0 {
		shift := 16 - l.bits
		j := 0
		for i, s := range suf {
			for b := int(s >> shift); j <= b; j++ {
				binary.LittleEndian.PutUint16(out[l.starts+2*j:], uint16(i))
			}
		}
		for ; j < 1<<l.bits; j++ {
			binary.LittleEndian.PutUint16(out[l.starts+2*j:], uint16(n))
		}
	}
	if wc != pwc16 {
		for i, s := range pal {
			binary.LittleEndian.PutUint16(out[l.pal+2*i:], uint16(s))
		}
	}
	if l.bits == 8 {
		keys := out[l.keys : l.keys+n]
		for i, s := range suf {
			keys[i] = byte(s)
		}
	} else {
		keys := out[l.keys : l.keys+2*n]
		for i, s := range suf {
			binary.LittleEndian.PutUint16(keys[2*i:], s)
		}
	}
	switch wc {
	case pwc4:
		ops := out[l.ops : l.ops+(n+1)/2]
		idx := w.palIdx
		i := 0
		for ; i+1 < n; i += 2 {
			ops[i>>1] = idx[sl[i]] | idx[sl[i+1]]<<4
		}
		if i < n {
			ops[i>>1] = idx[sl[i]]
		}
	case pwc8:
		ops := out[l.ops : l.ops+n]
		for i, s := range sl {
			ops[i] = w.palIdx[s]
		}
	case pwc16:
		ops := out[l.ops : l.ops+2*n]
		for i, s := range sl {
			binary.LittleEndian.PutUint16(ops[2*i:], uint16(s))
		}
	}
	return out
}

// count adds the slots sl of a block just encoded (w.pal and w.palIdx
// describe its palette) to c.
func (w *portedWriter) count(c *portedCounts, sl []Slot, wc uint8) {
	if wc == pwc16 {
		for _, s := range sl {
			c.add(s, 1)
		}
		return
	}
	h := w.hist[:len(w.pal)]
	clear(h)
	for _, s := range sl {
		h[w.palIdx[s]]++
	}
	for i, s := range w.pal {
		c.add(s, int64(h[i]))
	}
}

// ---- sorting batches ----

const portedRadixBits = 11

// sortRows returns a copy of rows sorted by number with only the last row of
// each number kept.
func (w *portedWriter) sortRows(rows []PortRow) []PortRow {
	n := len(rows)
	if cap(w.rowsA) < n {
		w.rowsA = make([]PortRow, n)
	}
	a := w.rowsA[:n]
	copy(a, rows)
	var s []PortRow
	if n <= 32 {
		// Insertion sort: stable.
		for i := 1; i < n; i++ {
			r := a[i]
			j := i
			for j > 0 && a[j-1].Number > r.Number {
				a[j] = a[j-1]
				j--
			}
			a[j] = r
		}
		s = a
	} else {
		if cap(w.rowsB) < n {
			w.rowsB = make([]PortRow, n)
		}
		s = w.radixSort(a, w.rowsB[:n])
	}
	out := 0
	for i := range s {
		if i+1 < len(s) && s[i+1].Number == s[i].Number {
			continue // a later row for the same number wins
		}
		s[out] = s[i]
		out++
	}
	return s[:out]
}

// releaseRows drops batch buffers too large to keep between writes.
func (w *portedWriter) releaseRows() {
	const keep = 1 << 16
	if cap(w.rowsA) > keep {
		w.rowsA = nil
	}
	if cap(w.rowsB) > keep {
		w.rowsB = nil
	}
}

// radixSort sorts a by number, stably (least significant digit first), using
// tmp as the second buffer, and returns the buffer that holds the result.
func (w *portedWriter) radixSort(a, tmp []PortRow) []PortRow {
	lo, hi := a[0].Number, a[0].Number
	for _, r := range a {
		lo = min(lo, r.Number)
		hi = max(hi, r.Number)
	}
	if lo == hi {
		return a
	}
	const mask = 1<<portedRadixBits - 1
	passes := (bits.Len64(hi-lo) + portedRadixBits - 1) / portedRadixBits
	if w.radix == nil {
		w.radix = new([6][1 << portedRadixBits]int)
	}
	cnt := w.radix[:passes]
	for p := range cnt {
		clear(cnt[p][:])
	}
	for _, r := range a {
		v := r.Number - lo
		for p := range cnt {
			cnt[p][(v>>(uint(p)*portedRadixBits))&mask]++
		}
	}
	src, dst := a, tmp
	for p := range cnt {
		c := &cnt[p]
		shift := uint(p) * portedRadixBits
		if c[((src[0].Number-lo)>>shift)&mask] == len(src) {
			continue // every row has the same digit here
		}
		sum := 0
		for i, x := range c {
			c[i] = sum
			sum += x
		}
		for _, r := range src {
			x := ((r.Number - lo) >> shift) & mask
			dst[c[x]] = r
			c[x]++
		}
		src, dst = dst, src
	}
	return src
}
