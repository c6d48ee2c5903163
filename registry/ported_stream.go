package registry

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

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
