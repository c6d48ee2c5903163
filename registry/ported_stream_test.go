package registry

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestPortedRoundTrip(t *testing.T) {
	full := NewPortedIndex()
	var rows []PortRow
	for i := range uint64(1 << 16) {
		rows = append(rows, PortRow{1<<32 | i, Slot(1 + i%300)})
	}
	full.Apply(rows)
	one := NewPortedIndex()
	one.Set(1, 65535)
	big, _ := portedRandomIndex(t, 21, 12)
	for _, tc := range []struct {
		name string
		p    *PortedIndex
	}{{"empty", NewPortedIndex()}, {"one", one}, {"full block", full}, {"random", big}} {
		t.Run(tc.name, func(t *testing.T) {
			raw := portedBytes(t, tc.p.Snapshot())
			// Embedded in a larger stream: nothing after the snapshot is read.
			r := bytes.NewReader(append(slices.Clip(raw), "NEXT"...))
			q, err := ReadPortedIndex(r)
			if err != nil {
				t.Fatal(err)
			}
			if rest, _ := io.ReadAll(r); string(rest) != "NEXT" {
				t.Fatalf("ReadPortedIndex left %q unread, want %q", rest, "NEXT")
			}
			if !q.Equal(tc.p) || !tc.p.Equal(q) {
				t.Fatal("restored index is not Equal to the original")
			}
			m := newPortedModel()
			tc.p.Snapshot().Range(func(n uint64, s Slot) bool { m.set(n, s); return true })
			rng := rand.New(rand.NewPCG(1, 2))
			portedCheck(t, q, m, rng, true)
			if !bytes.Equal(portedBytes(t, q.Snapshot()), raw) {
				t.Fatal("re-writing a restored index gives different bytes")
			}
			// Both go on taking the same writes and stay equal.
			g := newPortedGen(22)
			for range 3 {
				rows := g.batch(m, 300)
				tc.p.Apply(rows)
				q.Apply(rows)
				m.apply(rows)
				n := g.number()
				tc.p.Set(n, 5)
				q.Set(n, 5)
				m.set(n, 5)
			}
			if !q.Equal(tc.p) {
				t.Fatal("indexes diverged after the same writes")
			}
			portedCheck(t, q, m, rng, true)
		})
	}
}

// portedRecrc rewrites the trailing checksum so that a deliberate change is
// seen by the structural checks rather than the checksum.
func portedRecrc(b []byte) {
	binary.LittleEndian.PutUint32(b[len(b)-4:], crc32.Checksum(b[:len(b)-4], portedCRC))
}

// portedRead restores b, which must give either an error or an index that
// is internally consistent and writes back exactly b: it must never panic.
func portedRead(t *testing.T, b []byte) error {
	t.Helper()
	q, err := ReadPortedIndex(bytes.NewReader(b))
	if err != nil {
		return err
	}
	portedInvariants(t, q)
	if !bytes.Equal(portedBytes(t, q.Snapshot()), b) {
		t.Fatal("an accepted snapshot does not write back to the same bytes")
	}
	return nil
}

func TestPortedCorruptSnapshot(t *testing.T) {
	p := NewPortedIndex()
	g := newPortedGen(31)
	for _, k := range g.keys {
		// Small blocks of every kind of palette, and a 1-byte-key block.
		for i := range uint64(12) {
			n := k<<16 | i*4999
			p.Set(n, g.slotFor(n))
		}
	}
	for i := range uint64(520) {
		p.Set(g.keys[1]<<16|(i*101), Slot(1+i%20))
	}
	raw := portedBytes(t, p.Snapshot())
	if err := portedRead(t, raw); err != nil {
		t.Fatal(err)
	}
	t.Logf("snapshot of %d numbers: %d bytes", p.Len(), len(raw))

	// Truncated at every length.
	for l := range len(raw) {
		err := portedRead(t, raw[:l])
		if err == nil {
			t.Fatalf("truncated to %d of %d bytes: no error", l, len(raw))
		}
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("truncated to %d bytes: %v, want an unexpected EOF", l, err)
		}
	}
	// Every byte changed: the checksum (or a structural check) refuses it.
	rng := rand.New(rand.NewPCG(5, 5))
	bad := slices.Clone(raw)
	for i := range raw {
		bad[i] ^= byte(1 + rng.IntN(255))
		if err := portedRead(t, bad); err == nil {
			t.Fatalf("byte %d changed: no error", i)
		}
		bad[i] = raw[i]
	}
	// Random damage to several bytes.
	for range 100 {
		copy(bad, raw)
		for range 1 + rng.IntN(8) {
			bad[rng.IntN(len(bad))] = byte(rng.Uint32())
		}
		if !bytes.Equal(bad, raw) && portedRead(t, bad) == nil {
			t.Fatal("damaged snapshot accepted")
		}
	}
	// Changes behind a valid checksum: each must be refused or give a
	// consistent index that writes back to the same bytes (portedRead);
	// structural nonsense is refused.
	refused := 0
	for i := range len(raw) - 4 {
		copy(bad, raw)
		bad[i] ^= 1 << (i % 8)
		portedRecrc(bad)
		if portedRead(t, bad) != nil {
			refused++
		}
	}
	if refused == 0 {
		t.Fatal("no structural change refused")
	}
	for _, tc := range []struct {
		name string
		edit func(b []byte)
	}{
		{"magic", func(b []byte) { b[0] = 'X' }},
		{"version", func(b []byte) { b[8] = 2 }},
		{"count", func(b []byte) { b[16]++ }},
		{"blocks", func(b []byte) { b[24]-- }},
		{"block length", func(b []byte) { b[portedFileHeader+8] = 0xFF; b[portedFileHeader+10] = 0xFF }},
		{"block key order", func(b []byte) { binary.LittleEndian.PutUint64(b[portedFileHeader:], 1<<40) }},
	} {
		copy(bad, raw)
		tc.edit(bad)
		portedRecrc(bad)
		if err := portedRead(t, bad); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

func FuzzReadPortedIndex(f *testing.F) {
	p := NewPortedIndex()
	p.Set(447700000001, 1)
	p.Set(447700000002, 300)
	f.Add(portedBytes(f, p.Snapshot()))
	q, _ := portedRandomIndex(f, 41, 1)
	f.Add(portedBytes(f, q.Snapshot()))
	f.Add([]byte(portedMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := ReadPortedIndex(bytes.NewReader(b))
		if err != nil {
			return
		}
		portedInvariants(t, q)
		raw := portedBytes(t, q.Snapshot())
		if !bytes.Equal(raw, b[:len(raw)]) {
			t.Fatal("an accepted snapshot does not write back to the same bytes")
		}
	})
}
