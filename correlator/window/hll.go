package window

import (
	"math"
	"math/bits"
)

// HyperLogLog sketch over a sliding window: one register array per bucket of
// the window, their element-wise maximum kept current, and Ertl's improved
// raw estimator ("New cardinality estimation algorithms for HyperLogLog
// sketches", 2017), which is unbiased over the whole range without the
// empirical bias tables of HLL++. Standard error 1.04/sqrt(2^hllP) = 1.6%.
const (
	hllP = 12
	hllM = 1 << hllP
	hllQ = 64 - hllP
)

type sketch struct {
	regs   []uint8 // nb rows of hllM registers, row = ring position
	merged [hllM]uint8
	hist   [hllQ + 2]int32 // how many merged registers hold each value
	est    float64
	dirty  bool
}

func sketchBytes(nb int64) int64 { return nb*hllM + int64(sizeofSketch) }

func newSketch(nb int64) *sketch {
	s := &sketch{regs: make([]uint8, nb*hllM)}
	s.hist[0] = hllM
	return s
}

// add records the (mixed) hash h in ring row pos.
func (s *sketch) add(h uint64, pos int) {
	j := h >> (64 - hllP)
	r := uint8(bits.LeadingZeros64(h<<hllP|1<<(hllP-1)) + 1)
	reg := &s.regs[pos*hllM+int(j)]
	if *reg >= r {
		return
	}
	*reg = r
	if m := s.merged[j]; m < r {
		s.hist[m]--
		s.hist[r]++
		s.merged[j] = r
		s.dirty = true
	}
}

// clearRow empties ring row pos (an expired bucket); rebuild must follow.
func (s *sketch) clearRow(pos int) { clear(s.regs[pos*hllM : (pos+1)*hllM]) }

// rebuild recomputes the merged registers after rows were cleared.
func (s *sketch) rebuild() {
	s.merged = [hllM]uint8{}
	for row := 0; row < len(s.regs); row += hllM {
		r := s.regs[row : row+hllM]
		for j, v := range r {
			if v > s.merged[j] {
				s.merged[j] = v
			}
		}
	}
	s.hist = [hllQ + 2]int32{}
	for _, v := range s.merged {
		s.hist[v]++
	}
	s.dirty = true
}

func (s *sketch) estimate() float64 {
	if s.dirty {
		s.est = ertl(&s.hist)
		s.dirty = false
	}
	return s.est
}

func ertl(hist *[hllQ + 2]int32) float64 {
	const m = float64(hllM)
	z := m * hllTau(1-float64(hist[hllQ+1])/m)
	for k := hllQ; k >= 1; k-- {
		z = 0.5 * (z + float64(hist[k]))
	}
	z += m * hllSigma(float64(hist[0])/m)
	return 0.5 / math.Ln2 * m * m / z
}

func hllSigma(x float64) float64 {
	if x == 1 {
		return math.Inf(1)
	}
	y, z := 1.0, x
	for {
		x *= x
		prev := z
		z += x * y
		y += y
		if z == prev {
			return z
		}
	}
}

func hllTau(x float64) float64 {
	if x == 0 || x == 1 {
		return 0
	}
	y, z := 1.0, 1-x
	for {
		x = math.Sqrt(x)
		prev := z
		y *= 0.5
		d := 1 - x
		z -= d * d * y
		if z == prev {
			return z / 3
		}
	}
}

// mix64 is a bijective finalizer (SplitMix64): callers may pass raw values
// (ports) as well as hashes; the sketch needs well-spread bits.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
