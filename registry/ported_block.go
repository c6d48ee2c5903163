package registry

import (
	"encoding/binary"
	"math/bits"
	"unsafe"
)

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
