package window

import (
	"math"
	"slices"
	"time"
)

// Percentiles use a log-linear histogram: a value's bin is its float64
// sign, exponent and top four mantissa bits (16 bins per power of two), and
// a percentile reports the midpoint of the bin holding the value of that
// rank. The true nearest-rank percentile lies in the same bin, so the
// answer is within 1/32 (3.125 %) of it, relatively (exact for 0; ±Inf
// saturate). Histograms are sparse: sorted (bin<<48 | count) cells, one
// list per bucket of the window and one merged list per group.
const (
	cellShift = 48
	cellCount = 1<<cellShift - 1
	zeroBin   = 0x8000
)

func binOf(v float64) uint64 {
	if v == 0 {
		return zeroBin
	}
	k := (math.Float64bits(v) >> 48) & 0x7FFF
	if v > 0 {
		return zeroBin + 1 + k
	}
	return zeroBin - 1 - k
}

func binValue(bin uint64) float64 {
	switch {
	case bin == zeroBin:
		return 0
	case bin > zeroBin:
		return binMid(bin - zeroBin - 1)
	}
	return -binMid(zeroBin - 1 - bin)
}

func binMid(k uint64) float64 {
	lo := math.Float64frombits(k << 48)
	if math.IsInf(lo, 0) {
		return lo
	}
	hi := math.Float64frombits((k + 1) << 48)
	return lo + (hi-lo)/2
}

// cellAdd adds n to bin in the sorted cells and returns the cells.
func cellAdd(cells []uint64, bin uint64, n uint64) []uint64 {
	i, found := slices.BinarySearchFunc(cells, bin, func(c, b uint64) int {
		switch {
		case c>>cellShift < b:
			return -1
		case c>>cellShift > b:
			return 1
		}
		return 0
	})
	if found {
		cells[i] += n
		return cells
	}
	return slices.Insert(cells, i, bin<<cellShift|n)
}

// cellSub removes n from bin (present) and drops the cell at zero.
func cellSub(cells []uint64, bin uint64, n uint64) []uint64 {
	i, found := slices.BinarySearchFunc(cells, bin, func(c, b uint64) int {
		switch {
		case c>>cellShift < b:
			return -1
		case c>>cellShift > b:
			return 1
		}
		return 0
	})
	if !found {
		return cells
	}
	if cells[i]&cellCount <= n {
		return slices.Delete(cells, i, i+1)
	}
	cells[i] -= n
	return cells
}

// ValuePercentile computes a percentile of a numeric field per group over a
// sliding window (Sigma 2.1 value_percentile), approximately (see binOf).
type ValuePercentile struct {
	t      table
	cond   Cond
	q      float64
	hists  [][]uint64 // per ring position
	merged [][]uint64 // per slot
	totals []uint64
}

// NewValuePercentile returns a value_percentile window for percentile q
// (0..100, nearest rank).
func NewValuePercentile(cfg Config, timespan time.Duration, q float64, cond Cond) (*ValuePercentile, error) {
	if err := cfg.check(timespan); err != nil {
		return nil, err
	}
	if err := cond.check(); err != nil {
		return nil, err
	}
	if !(q >= 0 && q <= 100) {
		return nil, errorf("percentile %v is not between 0 and 100", q)
	}
	w := &ValuePercentile{cond: cond, q: q}
	w.t.init(cfg, timespan, w)
	return w, nil
}

func (w *ValuePercentile) grow(n int) {
	w.hists = growTo(w.hists, n*int(w.t.nb))
	w.merged = growTo(w.merged, n)
	w.totals = growTo(w.totals, n)
}

// release frees the slot's large cell buffers, so eviction returns memory,
// and keeps small ones (up to keepCells) for the next group.
func (w *ValuePercentile) release(id int32) {
	a := w.t.ring(id, 0)
	for i := a; i < a+int(w.t.nb); i++ {
		w.hists[i] = w.keep(w.hists[i])
	}
	w.merged[id] = w.keep(w.merged[id])
	w.totals[id] = 0
}

const keepCells = 8

func (w *ValuePercentile) keep(cells []uint64) []uint64 {
	if cap(cells) <= keepCells {
		return cells[:0]
	}
	w.t.extra -= int64(cap(cells)) * 8
	return nil
}

func (w *ValuePercentile) slotBytes() int64     { return 24*w.t.nb + 24 + 8 }
func (w *ValuePercentile) firing(id int32) bool { return w.t.slots[id].held }

// Add adds v for group key at event time t; NaN is dropped and counted.
func (w *ValuePercentile) Add(key []byte, t time.Time, v float64) (Match, bool) {
	if math.IsNaN(v) {
		w.t.c.invalid.Add(1)
		return Match{}, false
	}
	ns := t.UnixNano()
	if !w.t.admit(ns) {
		return Match{}, false
	}
	id, fresh := w.t.get(key, ns)
	c := w.t.bucket(ns)
	from, in := w.t.slide(id, c, fresh)
	for b := from; b <= c; b++ {
		p := w.t.ring(id, b)
		for _, cell := range w.hists[p] {
			w.merged[id] = cellSub(w.merged[id], cell>>cellShift, cell&cellCount)
			w.totals[id] -= cell & cellCount
		}
		w.hists[p] = w.hists[p][:0]
	}
	if !in {
		return Match{}, false
	}
	p := w.t.ring(id, c)
	bin := binOf(v)
	c0, c1 := cap(w.hists[p]), cap(w.merged[id])
	w.hists[p] = cellAdd(w.hists[p], bin, 1)
	w.merged[id] = cellAdd(w.merged[id], bin, 1)
	w.totals[id]++
	if d := int64(cap(w.hists[p])-c0+cap(w.merged[id])-c1) * 8; d != 0 {
		w.t.extra += d
		w.t.fit(id)
	}
	val := w.percentile(id)
	holds := w.cond.Holds(val)
	rising := w.t.edge(id, holds)
	if !holds {
		return Match{}, false
	}
	s := &w.t.slots[id]
	return Match{Key: s.key, State: Holds, Rising: rising, Start: w.t.windowStart(s.head), End: time.Unix(0, s.last), Value: val, Approximate: true}, true
}

func (w *ValuePercentile) percentile(id int32) float64 {
	n := w.totals[id]
	rank := uint64(math.Ceil(w.q / 100 * float64(n)))
	rank = max(rank, 1)
	var seen uint64
	for _, cell := range w.merged[id] {
		seen += cell & cellCount
		if seen >= rank {
			return binValue(cell >> cellShift)
		}
	}
	return math.NaN()
}

// Tick advances event time and drops groups whose window emptied.
func (w *ValuePercentile) Tick(now time.Time) {
	ns := now.UnixNano()
	w.t.advance(ns)
	w.t.expireBefore(ns-w.t.span-int64(w.t.cfg.Lateness), nil)
}

// Bytes estimates the memory the structure holds.
func (w *ValuePercentile) Bytes() int64 { return w.t.bytes() }

// Stats returns the structure's counters.
func (w *ValuePercentile) Stats() Stats { return w.t.Stats() }

// OnEvict sets the eviction hook (see EventCount.OnEvict).
func (w *ValuePercentile) OnEvict(f func(key []byte, firing bool)) { w.t.onEvict = f }
