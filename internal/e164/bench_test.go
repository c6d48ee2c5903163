package e164

import (
	"math/rand/v2"
	"testing"
)

// mobileRanges: starts of mobile ranges and the usual total length.
var mobileRanges = []struct {
	prefix string
	length int
}{
	{"447", 12}, {"4915", 13}, {"4916", 12}, {"4917", 12}, {"393", 12}, {"336", 11}, {"337", 11},
	{"346", 11}, {"919", 12}, {"918", 12}, {"55119", 13}, {"54911", 13}, {"79", 11}, {"8190", 12},
	{"23480", 13}, {"614", 11}, {"1201", 11}, {"1415", 11}, {"2547", 12}, {"628", 13}, {"3584", 12},
}

// benchNumbers is a realistic bulk-file mix: 90% valid mobile numbers of
// about 20 countries, 10% refused rows (wrong length, unassigned ranges,
// unknown codes).
func benchNumbers(tb testing.TB) [][]byte {
	v := FastValidator()
	rng := rand.New(rand.NewPCG(7, 7))
	var valid, invalid [][]byte
	for len(valid) < 900 {
		r := mobileRanges[rng.IntN(len(mobileRanges))]
		s := []byte(r.prefix + randomDigits(rng, r.length-len(r.prefix)))
		if _, err := v.Check(s); err == nil {
			valid = append(valid, s)
		}
	}
	for len(invalid) < 100 {
		s := []byte(genNumber(rng))
		if _, err := v.Check(s); err != nil {
			invalid = append(invalid, s)
		}
	}
	all := append(valid, invalid...)
	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	return all
}

func BenchmarkParse(b *testing.B) {
	nums := benchNumbers(b)
	strs := make([]string, len(nums))
	for i, n := range nums {
		strs[i] = "+" + string(n)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		Parse(strs[i%len(strs)])
	}
}

func BenchmarkFastCheck(b *testing.B) {
	nums := benchNumbers(b)
	v := FastValidator()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		v.Check(nums[i%len(nums)])
	}
}

// BenchmarkFastCheckValid is BenchmarkFastCheck on the valid rows only.
func BenchmarkFastCheckValid(b *testing.B) {
	v := FastValidator()
	var nums [][]byte
	for _, n := range benchNumbers(b) {
		if _, err := v.Check(n); err == nil {
			nums = append(nums, n)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		v.Check(nums[i%len(nums)])
	}
}

// BenchmarkFastCheckParallel: throughput with every core checking.
func BenchmarkFastCheckParallel(b *testing.B) {
	nums := benchNumbers(b)
	v := FastValidator()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			v.Check(nums[i%len(nums)])
			i++
		}
	})
}

// BenchmarkNewValidator: the one-off cost of FastValidator's first call.
func BenchmarkNewValidator(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := newValidator(true); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNormalize: digits already normalised (what stores and protocols
// carry), then a number as a person types it.
func BenchmarkNormalize(b *testing.B) {
	for _, in := range []string{"+447911123456", " +44 (0)7911 123-456"} {
		b.Run(in, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Normalize(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
