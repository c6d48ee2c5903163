package e164

import (
	"encoding/binary"
	"fmt"
	"regexp/syntax"
	"slices"
)

// One automaton per country code.
//
// Go's regexp costs 0.3-1.8 µs per number here (most patterns are large
// alternations that neither the one-pass nor the backtracking matcher
// takes). All the patterns IsValidNumber consults for a country code (every
// region's general desc, number types and leading digits) only ever see
// digits, so they compile into one deterministic automaton over '0'..'9',
// by the subset construction on the regexp/syntax programs that Go's regexp
// runs itself. Each state records, for every length of national number, the
// verdict of the region-choosing logic on the set of patterns that match a
// number ending there; a check is then one table step per digit.

// maxDFAStates bounds one country code's automaton; a code whose automaton
// would be larger keeps the regexps (none does with the current metadata).
const maxDFAStates = 1 << 17

type digitDFA struct {
	next      []uint32 // next[state*10+digit]; state 0 is dead, 1 is the start
	validLens []uint32 // bit n: a national number of n digits ending in this state is valid
}

func (d *digitDFA) valid(nsn []byte) bool {
	if len(nsn) > maxLengthNSN {
		return false
	}
	s := uint32(1)
	for _, c := range nsn {
		s = d.next[s*10+uint32(c-'0')]
	}
	return d.validLens[s]&(1<<len(nsn)) != 0
}

// dfaComponent is one pattern of the automaton: a region's general desc,
// one of its number types, or its leading digits (turned into a fully
// anchored "ld[0-9]*", which is what a prefix match means on digits).
type dfaComponent struct {
	prog   *syntax.Prog
	region int
	kind   byte // compGeneral, compType, compLeading
	lens   uint32
}

const (
	compGeneral byte = iota
	compType
	compLeading
)

// Items of a state are (component, instruction) pairs.
const pcBits = 20

func item(comp, pc int) uint32 { return uint32(comp)<<pcBits | uint32(pc) }
func itemComp(it uint32) int   { return int(it >> pcBits) }
func itemPC(it uint32) int     { return int(it & (1<<pcBits - 1)) }

type dfaBuilder struct {
	comps   []dfaComponent
	regions []*regionRules
	stamp   [][]uint32 // per component, per instruction: last closure that visited it
	gen     uint32
	stack   []uint32
}

func buildDFA(regions []*regionRules) (*digitDFA, error) {
	b := &dfaBuilder{regions: regions}
	add := func(region int, kind byte, lens uint32, pattern string) error {
		re, err := syntax.Parse(pattern, syntax.Perl)
		if err != nil {
			return err
		}
		prog, err := syntax.Compile(re.Simplify())
		if err != nil {
			return err
		}
		if len(prog.Inst) >= 1<<pcBits {
			return fmt.Errorf("pattern too large for the automaton")
		}
		b.comps = append(b.comps, dfaComponent{prog: prog, region: region, kind: kind, lens: lens})
		b.stamp = append(b.stamp, make([]uint32, len(prog.Inst)))
		return nil
	}
	for i, r := range regions {
		if r == nil {
			continue
		}
		if r.ldPattern != "" {
			if err := add(i, compLeading, 0, "^(?:"+r.ldPattern+")[0-9]*$"); err != nil {
				return nil, err
			}
		}
		if err := add(i, compGeneral, r.genLens, "^(?:"+r.genPattern+")$"); err != nil {
			return nil, err
		}
		for _, t := range r.typeDescs {
			if err := add(i, compType, t.lens, "^(?:"+t.pattern+")$"); err != nil {
				return nil, err
			}
		}
	}
	if len(b.comps) >= 1<<(32-pcBits) {
		return nil, fmt.Errorf("too many patterns for the automaton")
	}

	d := &digitDFA{next: make([]uint32, 20), validLens: make([]uint32, 2)}
	ids := map[string]uint32{"": 0}
	var sets [][]uint32 // by state
	sets = append(sets, nil)
	b.gen++
	var start []uint32
	for ci, c := range b.comps {
		var err error
		if start, err = b.closure(start, ci, c.prog.Start, true); err != nil {
			return nil, err
		}
	}
	sortItems(start)
	ids[itemsKey(start)] = 1
	sets = append(sets, start)
	vl, err := b.validLens(start)
	if err != nil {
		return nil, err
	}
	d.validLens[1] = vl

	var next []uint32
	for s := 1; s < len(sets); s++ {
		for digit := 0; digit < 10; digit++ {
			next = next[:0]
			b.gen++
			r := rune('0' + digit)
			for _, it := range sets[s] {
				c := b.comps[itemComp(it)]
				inst := &c.prog.Inst[itemPC(it)]
				switch inst.Op {
				case syntax.InstRune, syntax.InstRune1, syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
					if inst.MatchRune(r) {
						if next, err = b.closure(next, itemComp(it), int(inst.Out), false); err != nil {
							return nil, err
						}
					}
				}
			}
			sortItems(next)
			key := itemsKey(next)
			id, ok := ids[key]
			if !ok {
				if len(sets) >= maxDFAStates {
					return nil, fmt.Errorf("more than %d states", maxDFAStates)
				}
				id = uint32(len(sets))
				ids[key] = id
				set := append([]uint32(nil), next...)
				sets = append(sets, set)
				vl, err := b.validLens(set)
				if err != nil {
					return nil, err
				}
				d.validLens = append(d.validLens, vl)
				d.next = append(d.next, make([]uint32, 10)...)
			}
			d.next[s*10+digit] = id
		}
	}
	return d, nil
}

// closure adds to set the instructions that consume a digit, match, or wait
// for the end of the input, reachable from pc without consuming input.
func (b *dfaBuilder) closure(set []uint32, comp, pc int, atBegin bool) ([]uint32, error) {
	prog, stamp := b.comps[comp].prog, b.stamp[comp]
	b.stack = append(b.stack[:0], uint32(pc))
	for len(b.stack) > 0 {
		pc := b.stack[len(b.stack)-1]
		b.stack = b.stack[:len(b.stack)-1]
		if stamp[pc] == b.gen {
			continue
		}
		stamp[pc] = b.gen
		inst := &prog.Inst[pc]
		switch inst.Op {
		case syntax.InstAlt, syntax.InstAltMatch:
			b.stack = append(b.stack, inst.Arg, inst.Out)
		case syntax.InstNop, syntax.InstCapture:
			b.stack = append(b.stack, inst.Out)
		case syntax.InstFail:
		case syntax.InstMatch, syntax.InstRune, syntax.InstRune1, syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
			set = append(set, item(comp, int(pc)))
		case syntax.InstEmptyWidth:
			const begin, end = syntax.EmptyBeginText | syntax.EmptyBeginLine, syntax.EmptyEndText | syntax.EmptyEndLine
			op := syntax.EmptyOp(inst.Arg)
			switch {
			case op&^(begin|end) != 0:
				return nil, fmt.Errorf("unsupported assertion in pattern")
			case op&begin != 0 && !atBegin:
			case op&end != 0:
				set = append(set, item(comp, int(pc))) // decided at the end of the input
			default:
				b.stack = append(b.stack, inst.Out)
			}
		default:
			return nil, fmt.Errorf("unsupported instruction %v", inst.Op)
		}
	}
	return set, nil
}

// matchesAtEnd reports whether the item leads to a match when the input ends
// here (never at its start: a national number has at least 2 digits).
func (b *dfaBuilder) matchesAtEnd(it uint32) bool {
	prog := b.comps[itemComp(it)].prog
	seen := map[uint32]bool{}
	stack := []uint32{uint32(itemPC(it))}
	for len(stack) > 0 {
		pc := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[pc] {
			continue
		}
		seen[pc] = true
		inst := &prog.Inst[pc]
		switch inst.Op {
		case syntax.InstMatch:
			return true
		case syntax.InstAlt, syntax.InstAltMatch:
			stack = append(stack, inst.Arg, inst.Out)
		case syntax.InstNop, syntax.InstCapture:
			stack = append(stack, inst.Out)
		case syntax.InstEmptyWidth:
			if syntax.EmptyOp(inst.Arg)&(syntax.EmptyBeginText|syntax.EmptyBeginLine) == 0 {
				stack = append(stack, inst.Out)
			}
		}
	}
	return false
}

// validLens evaluates IsValidNumber for every national-number length on
// the patterns that match when the input ends in this state.
func (b *dfaBuilder) validLens(set []uint32) (uint32, error) {
	matched := map[int]bool{}
	for _, it := range set {
		if !matched[itemComp(it)] && b.matchesAtEnd(it) {
			matched[itemComp(it)] = true
		}
	}
	if len(matched) == 0 {
		return 0, nil
	}
	type regionMatch struct {
		general, leading bool
		typeLens         uint32 // lengths for which some matching type allows the number
	}
	rm := make([]regionMatch, len(b.regions))
	for ci := range matched {
		c := b.comps[ci]
		switch c.kind {
		case compGeneral:
			rm[c.region].general = true
		case compLeading:
			rm[c.region].leading = true
		case compType:
			if c.lens == 0 {
				rm[c.region].typeLens = ^uint32(0)
			} else {
				rm[c.region].typeLens |= c.lens
			}
		}
	}
	validIn := func(i, n int) bool {
		r := b.regions[i]
		return r != nil && rm[i].general && r.genLens&(1<<n) != 0 && rm[i].typeLens&(1<<n) != 0
	}
	var lens uint32
	for n := minLengthNSN; n <= maxLengthNSN; n++ {
		ok := false
		if len(b.regions) == 1 {
			ok = validIn(0, n)
		} else {
			for i, r := range b.regions {
				if r == nil {
					continue
				}
				if r.ldPattern != "" {
					if rm[i].leading {
						ok = validIn(i, n)
						break
					}
				} else if validIn(i, n) {
					ok = true
					break
				}
			}
		}
		if ok {
			lens |= 1 << n
		}
	}
	return lens, nil
}

func sortItems(s []uint32) { slices.Sort(s) }

func itemsKey(s []uint32) string {
	b := make([]byte, 0, 4*len(s))
	for _, it := range s {
		b = binary.LittleEndian.AppendUint32(b, it)
	}
	return string(b)
}
