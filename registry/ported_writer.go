package registry

import (
	"encoding/binary"
	"math/bits"
	"slices"
)

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
