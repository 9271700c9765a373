// Package pyrandom is CPython's random module, number for number, as far as
// Dassl's few-shot sampling needs it: the Mersenne Twister (MT19937) seeded
// the way random.seed(n) seeds it for an integer n, getrandbits, randbelow,
// random and sample. fomo's 16 shots per class are random.sample draws
// after random.seed(SEED); drawing them here gives the same images.
//
// The algorithms follow CPython's Modules/_randommodule.c (init_genrand,
// init_by_array, genrand_uint32, getrandbits) and Lib/random.py
// (_randbelow_with_getrandbits, sample); testdata/cpython.json holds
// numbers written by CPython itself that the tests compare against.
package pyrandom

import (
	"fmt"
	"math/bits"
)

const (
	stateSize  = 624 // N
	shiftSize  = 397 // M
	matrixA    = 0x9908b0df
	upperMask  = 0x80000000
	lowerMask  = 0x7fffffff
	initSeed   = 19650218 // init_by_array starts from init_genrand(19650218)
	multInit   = 1812433253
	multArray1 = 1664525
	multArray2 = 1566083941
)

// Random is one random.Random instance.
type Random struct {
	mt    [stateSize]uint32
	index int
}

// New returns the generator random.seed(seed) leaves: the absolute value
// of seed, split into 32-bit words least significant first, fed to
// init_by_array (zero is the one word 0).
func New(seed int64) *Random {
	n := uint64(seed)
	if seed < 0 {
		n = -n // two's complement: correct for math.MinInt64 too
	}
	key := []uint32{uint32(n)}
	if hi := uint32(n >> 32); hi != 0 {
		key = append(key, hi)
	}
	r := &Random{}
	r.initByArray(key)
	return r
}

func (r *Random) initGenrand(s uint32) {
	r.mt[0] = s
	for i := 1; i < stateSize; i++ {
		r.mt[i] = multInit*(r.mt[i-1]^(r.mt[i-1]>>30)) + uint32(i)
	}
	r.index = stateSize
}

func (r *Random) initByArray(key []uint32) {
	r.initGenrand(initSeed)
	i, j := 1, 0
	for k := max(stateSize, len(key)); k > 0; k-- {
		r.mt[i] = (r.mt[i] ^ ((r.mt[i-1] ^ (r.mt[i-1] >> 30)) * multArray1)) + key[j] + uint32(j)
		i++
		j++
		if i >= stateSize {
			r.mt[0] = r.mt[stateSize-1]
			i = 1
		}
		if j >= len(key) {
			j = 0
		}
	}
	for k := stateSize - 1; k > 0; k-- {
		r.mt[i] = (r.mt[i] ^ ((r.mt[i-1] ^ (r.mt[i-1] >> 30)) * multArray2)) - uint32(i)
		i++
		if i >= stateSize {
			r.mt[0] = r.mt[stateSize-1]
			i = 1
		}
	}
	r.mt[0] = upperMask // the most significant bit is 1: a non-zero state
}

// Uint32 is genrand_uint32: the next 32 bits of the stream.
func (r *Random) Uint32() uint32 {
	if r.index >= stateSize {
		r.twist()
	}
	y := r.mt[r.index]
	r.index++
	y ^= y >> 11
	y ^= (y << 7) & 0x9d2c5680
	y ^= (y << 15) & 0xefc60000
	y ^= y >> 18
	return y
}

// twist generates the next 624 words of state.
func (r *Random) twist() {
	mag := func(y uint32) uint32 { return (y & 1) * matrixA }
	for k := 0; k < stateSize; k++ {
		y := (r.mt[k] & upperMask) | (r.mt[(k+1)%stateSize] & lowerMask)
		r.mt[k] = r.mt[(k+shiftSize)%stateSize] ^ (y >> 1) ^ mag(y)
	}
	r.index = 0
}

// Getrandbits is random.getrandbits(k) for 0 <= k <= 64: 32-bit words
// least significant first, the last one shifted down to its k bits.
func (r *Random) Getrandbits(k int) uint64 {
	if k < 0 || k > 64 {
		panic(fmt.Sprintf("pyrandom: getrandbits(%d) outside 0..64", k))
	}
	var out uint64
	for shift := 0; k > 0; shift, k = shift+32, k-32 {
		w := r.Uint32()
		if k < 32 {
			w >>= 32 - k
		}
		out |= uint64(w) << shift
	}
	return out
}

// Randbelow is random's _randbelow(n) for n >= 1: getrandbits of n's bit
// length until the draw is below n.
func (r *Random) Randbelow(n int) int {
	if n <= 0 {
		panic(fmt.Sprintf("pyrandom: randbelow(%d)", n))
	}
	k := bits.Len64(uint64(n))
	v := r.Getrandbits(k)
	for v >= uint64(n) {
		v = r.Getrandbits(k)
	}
	return int(v)
}

// Random is random.random(): 53 random bits as a float in [0, 1).
func (r *Random) Random() float64 {
	a, b := r.Uint32()>>5, r.Uint32()>>6
	return (float64(a)*67108864 + float64(b)) * (1.0 / 9007199254740992)
}

// Sample is random.sample(population, k): k distinct positions of
// population, drawn without replacement, in the order drawn. Like CPython
// it keeps a pool of the remaining items when the population is small
// next to k, and a set of the positions drawn otherwise; the two consume
// the stream differently, so the choice must match CPython's.
func Sample[T any](r *Random, population []T, k int) ([]T, error) {
	n := len(population)
	if k < 0 || k > n {
		return nil, fmt.Errorf("pyrandom: sample of %d from a population of %d", k, n)
	}
	out := make([]T, k)
	if n <= poolLimit(k) {
		pool := append([]T(nil), population...)
		for i := range k {
			j := r.Randbelow(n - i)
			out[i] = pool[j]
			pool[j] = pool[n-i-1]
		}
		return out, nil
	}
	selected := make(map[int]bool, k)
	for i := range k {
		j := r.Randbelow(n)
		for selected[j] {
			j = r.Randbelow(n)
		}
		selected[j] = true
		out[i] = population[j]
	}
	return out, nil
}

// poolLimit is sample's setsize: 21, plus 4**ceil(log4(3k)) when k > 5,
// the largest population for which the pool is used. 3k is never a power
// of 4, so the integer search gives the ceiling exactly.
func poolLimit(k int) int {
	size := 21
	if k > 5 {
		p := 1
		for p < 3*k {
			p *= 4
		}
		size += p
	}
	return size
}
