package window

import (
	"math"
	"time"
)

// numeric keeps count and sum per bucket: the state of value_sum and
// value_avg. Sums are recomputed from the buckets when the window slides,
// so expired values leave no floating-point residue.
type numeric struct {
	t      table
	cond   Cond
	avg    bool
	counts []uint32
	sums   []float64
	tcount []uint64
	tsum   []float64
}

func (w *numeric) grow(n int) {
	w.counts = growTo(w.counts, n*int(w.t.nb))
	w.sums = growTo(w.sums, n*int(w.t.nb))
	w.tcount = growTo(w.tcount, n)
	w.tsum = growTo(w.tsum, n)
}

func (w *numeric) release(id int32) {
	a := w.t.ring(id, 0)
	clear(w.counts[a : a+int(w.t.nb)])
	clear(w.sums[a : a+int(w.t.nb)])
	w.tcount[id], w.tsum[id] = 0, 0
}

func (w *numeric) slotBytes() int64     { return 12*w.t.nb + 16 }
func (w *numeric) firing(id int32) bool { return w.t.slots[id].held }

func (w *numeric) add(key []byte, t time.Time, v float64) (Match, bool) {
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
	if from <= c {
		for b := from; b <= c; b++ {
			p := w.t.ring(id, b)
			w.tcount[id] -= uint64(w.counts[p])
			w.counts[p], w.sums[p] = 0, 0
		}
		a := w.t.ring(id, 0)
		var sum float64
		for _, s := range w.sums[a : a+int(w.t.nb)] {
			sum += s
		}
		w.tsum[id] = sum
	}
	if !in {
		return Match{}, false
	}
	p := w.t.ring(id, c)
	if w.counts[p] == math.MaxUint32 {
		w.t.c.invalid.Add(1)
		return Match{}, false
	}
	w.counts[p]++
	w.sums[p] += v
	w.tcount[id]++
	w.tsum[id] += v
	val := w.tsum[id]
	if w.avg {
		val /= float64(w.tcount[id])
	}
	holds := w.cond.Holds(val)
	rising := w.t.edge(id, holds)
	if !holds {
		return Match{}, false
	}
	s := &w.t.slots[id]
	return Match{Key: s.key, State: Holds, Rising: rising, Start: w.t.windowStart(s.head), End: time.Unix(0, s.last), Value: val}, true
}

func (w *numeric) tick(now time.Time) {
	ns := now.UnixNano()
	w.t.advance(ns)
	w.t.expireBefore(ns-w.t.span-int64(w.t.cfg.Lateness), nil)
}

func newNumeric(cfg Config, timespan time.Duration, cond Cond, avg bool) (*numeric, error) {
	if err := cfg.check(timespan); err != nil {
		return nil, err
	}
	if err := cond.check(); err != nil {
		return nil, err
	}
	w := &numeric{cond: cond, avg: avg}
	w.t.init(cfg, timespan, w)
	return w, nil
}

// ValueSum sums a numeric field per group over a sliding window (Sigma 2.1
// value_sum), e.g. the bytes toward one host.
type ValueSum struct{ n *numeric }

// NewValueSum returns a value_sum window.
func NewValueSum(cfg Config, timespan time.Duration, cond Cond) (*ValueSum, error) {
	n, err := newNumeric(cfg, timespan, cond, false)
	if err != nil {
		return nil, err
	}
	return &ValueSum{n}, nil
}

// Add adds v for group key at event time t; NaN is dropped and counted.
func (w *ValueSum) Add(key []byte, t time.Time, v float64) (Match, bool) { return w.n.add(key, t, v) }

// Tick advances event time and drops groups whose window emptied.
func (w *ValueSum) Tick(now time.Time) { w.n.tick(now) }

// Bytes estimates the memory the structure holds.
func (w *ValueSum) Bytes() int64 { return w.n.t.bytes() }

// Stats returns the structure's counters.
func (w *ValueSum) Stats() Stats { return w.n.t.Stats() }

// OnEvict sets the eviction hook (see EventCount.OnEvict).
func (w *ValueSum) OnEvict(f func(key []byte, firing bool)) { w.n.t.onEvict = f }

// ValueAvg averages a numeric field per group over a sliding window (Sigma
// 2.1 value_avg).
type ValueAvg struct{ n *numeric }

// NewValueAvg returns a value_avg window.
func NewValueAvg(cfg Config, timespan time.Duration, cond Cond) (*ValueAvg, error) {
	n, err := newNumeric(cfg, timespan, cond, true)
	if err != nil {
		return nil, err
	}
	return &ValueAvg{n}, nil
}

// Add adds v for group key at event time t; NaN is dropped and counted.
func (w *ValueAvg) Add(key []byte, t time.Time, v float64) (Match, bool) { return w.n.add(key, t, v) }

// Tick advances event time and drops groups whose window emptied.
func (w *ValueAvg) Tick(now time.Time) { w.n.tick(now) }

// Bytes estimates the memory the structure holds.
func (w *ValueAvg) Bytes() int64 { return w.n.t.bytes() }

// Stats returns the structure's counters.
func (w *ValueAvg) Stats() Stats { return w.n.t.Stats() }

// OnEvict sets the eviction hook (see EventCount.OnEvict).
func (w *ValueAvg) OnEvict(f func(key []byte, firing bool)) { w.n.t.onEvict = f }
