package registry

import (
	"encoding/binary"
	"math/bits"
	"sync/atomic"
	"unsafe"
)

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
