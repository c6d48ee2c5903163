package main

import (
	"math/rand/v2"
	"strconv"
)

// plan is the numbering plan setup loads and discovery draws from, made
// from a seed so that both processes agree without sharing a file: India's
// ten-digit mobile numbers beginning 6-9 (+91, a span of 4e9), split into
// seven-digit ranges over six operators.
type plan struct {
	seed      uint64
	ranges    int
	ported    int
	operators []string
}

// planFirstPrefix is the first range, +91 6000000, as digits.
const planFirstPrefix = 916000000

func newPlan(seed uint64, ranges, ported int) plan {
	return plan{seed: seed, ranges: min(ranges, 4000000), ported: ported,
		operators: []string{"lg-op0", "lg-op1", "lg-op2", "lg-op3", "lg-op4", "lg-op5"}}
}

// prefixes returns the ranges' seven-digit national prefixes (6000000 to
// 9999999), distinct, in a random order.
func (p plan) prefixes() []int {
	rng := rand.New(rand.NewPCG(p.seed, 1))
	return rng.Perm(4000000)[:p.ranges]
}

func prefixString(p int) string { return "+" + strconv.Itoa(planFirstPrefix+p) }

// number draws a number uniformly from the ranges: a prefix (+91 and seven
// national digits), then the last three digits.
func number(rng *rand.Rand, prefixes []int) uint64 {
	prefix := uint64(planFirstPrefix + prefixes[rng.IntN(len(prefixes))])
	return prefix*1000 + rng.Uint64N(1000)
}

// portedNumbers calls fn for each ported number (drawn from the ranges: a
// number is ported out of a range some operator holds) and its operator.
func (p plan) portedNumbers(prefixes []int, fn func(n uint64, op string)) {
	rng := rand.New(rand.NewPCG(p.seed, 2))
	for range p.ported {
		n := number(rng, prefixes)
		fn(n, p.operators[n%uint64(len(p.operators))])
	}
}
