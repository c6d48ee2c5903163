package main

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/mcfed/mcfed/client"
)

// devNumbers is one demo operator's number space, from dev.json: its
// ranges, each followed by as many digits as make a number as long as the
// operator's demo numbers (so that the numbers drawn are valid for its
// country, as the demo numbers are).
type devNumbers struct {
	op       client.DevOperatorInfo
	prefixes []uint64 // the ranges' digits
	scale    []uint64 // 10^(digits after each prefix)
}

func newDevNumbers(op client.DevOperatorInfo) (devNumbers, error) {
	if len(op.DemoNumbers) == 0 || len(op.Ranges) == 0 {
		return devNumbers{}, fmt.Errorf("operator %s: dev.json gives no demo number or range", op.ID)
	}
	n := devNumbers{op: op}
	length := len(strings.TrimPrefix(op.DemoNumbers[0], "+"))
	for _, r := range op.Ranges {
		digits := strings.TrimPrefix(r, "+")
		p, err := strconv.ParseUint(digits, 10, 64)
		if err != nil || len(digits) >= length {
			return devNumbers{}, fmt.Errorf("operator %s: range %q does not fit numbers of %d digits", op.ID, r, length)
		}
		scale := uint64(1)
		for range length - len(digits) {
			scale *= 10
		}
		n.prefixes, n.scale = append(n.prefixes, p), append(n.scale, scale)
	}
	return n, nil
}

// nth is the i-th number of the space: ranges taken in turn, then the
// digits after the prefix counting up.
func (n devNumbers) nth(i uint64) uint64 {
	k := i % uint64(len(n.prefixes))
	return n.prefixes[k]*n.scale[k] + (i/uint64(len(n.prefixes)))%n.scale[k]
}

// size is how many numbers nth gives before repeating.
func (n devNumbers) size() uint64 {
	smallest := n.scale[0]
	for _, s := range n.scale {
		smallest = min(smallest, s)
	}
	return smallest * uint64(len(n.prefixes))
}

func (n devNumbers) random(rng *rand.Rand) uint64 { return n.nth(rng.Uint64N(n.size())) }

// devNumberSpaces reads every operator's space from dev.json.
func devNumberSpaces(info *client.DevInfo) ([]devNumbers, error) {
	var out []devNumbers
	for _, op := range info.Operators {
		n, err := newDevNumbers(op)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("dev.json lists no operator")
	}
	return out, nil
}
