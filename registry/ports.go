package registry

import (
	"encoding/binary"
	"fmt"
)

// Port says that Number is served by Operator, whatever range it lies in.
// An empty Operator un-ports the number: it returns to its range's holder.
type Port struct {
	Number   uint64 `json:"number"`
	Operator string `json:"operator"`
}

// unport marks a row of a port batch that removes the number.
const unport = 0xFFFF

// EncodePorts builds a CmdPortNumbers command. Bulk files put tens of
// millions of rows through the log, so the body is binary: the operator ids
// once, then 10 bytes a row (the number, and the operator's place in that
// list).
func EncodePorts(ports []Port) ([]byte, error) {
	ids := map[string]uint16{}
	var order []string
	for _, p := range ports {
		if _, ok := ids[p.Operator]; !ok && p.Operator != "" {
			if len(order) >= unport {
				return nil, fmt.Errorf("encode ports: too many operators in one batch")
			}
			ids[p.Operator] = uint16(len(order))
			order = append(order, p.Operator)
		}
	}
	b := make([]byte, 0, 2+16*len(order)+10*len(ports)+16)
	b = append(b, byte(CmdPortNumbers), commandVersion)
	b = binary.AppendUvarint(b, uint64(len(order)))
	for _, id := range order {
		b = binary.AppendUvarint(b, uint64(len(id)))
		b = append(b, id...)
	}
	b = binary.AppendUvarint(b, uint64(len(ports)))
	for _, p := range ports {
		op := uint16(unport)
		if p.Operator != "" {
			op = ids[p.Operator]
		}
		b = binary.LittleEndian.AppendUint64(b, p.Number)
		b = binary.LittleEndian.AppendUint16(b, op)
	}
	return b, nil
}

func applyPortNumbers(tx *writeTxn, body []byte) error {
	nOps, n := binary.Uvarint(body)
	if n <= 0 || nOps > unport {
		return uninterpretable("port batch: bad operator count")
	}
	body = body[n:]
	slots := make([]Slot, nOps)
	for i := range slots {
		l, n := binary.Uvarint(body)
		if n <= 0 || uint64(len(body)-n) < l {
			return uninterpretable("port batch: truncated operator list")
		}
		id := string(body[n : n+int(l)])
		body = body[n+int(l):]
		o := get[Operator](tx.Txn, tableOperators, id)
		if o == nil {
			return notFoundf("port batch: operator %q does not exist", id)
		}
		slots[i] = o.Slot
	}
	nRows, n := binary.Uvarint(body)
	if n <= 0 || uint64(len(body)-n) != nRows*10 {
		return uninterpretable("port batch: row count does not match its body")
	}
	body = body[n:]
	rows := make([]PortRow, nRows)
	for i := range rows {
		num := binary.LittleEndian.Uint64(body[i*10:])
		op := binary.LittleEndian.Uint16(body[i*10+8:])
		if num == 0 || num >= pow10[maxDigits] {
			return invalidf("port batch row %d: %d is not an E.164 number", i+1, num)
		}
		rows[i] = PortRow{Number: num}
		if op != unport {
			if int(op) >= len(slots) {
				return uninterpretable("port batch row %d: operator %d is not in the batch", i+1, op)
			}
			rows[i].Slot = slots[op]
		}
	}
	tx.onCommit(func() { tx.r.ported.Apply(rows) })
	return nil
}

// Ported returns the operator a number was ported to, or nil.
func (r *Registry) Ported(n uint64) *Operator {
	s, ok := r.ported.Lookup(n)
	if !ok {
		return nil
	}
	return r.operatorBySlot(s)
}

// PortedCount is how many ported numbers the registry holds.
func (r *Registry) PortedCount() int { return r.ported.Len() }
