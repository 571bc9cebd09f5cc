package window

import (
	"math"
	"time"
)

// Temporal reports groups in which several rules (indexed 0..n-1) matched
// within timespan (Sigma temporal). It keeps each rule's newest match time
// per group, so it is exact (no buckets). The condition counts the rules
// seen within timespan of the group's newest record; nil means all of them.
type Temporal struct {
	t    table
	cond Cond
	n    int
	seen []int64 // n per slot: newest match time, math.MinInt64 when none
}

// NewTemporal returns a temporal window over n rules.
func NewTemporal(cfg Config, timespan time.Duration, n int, cond Cond) (*Temporal, error) {
	if err := cfg.check(timespan); err != nil {
		return nil, err
	}
	if n < 1 || n > 64 {
		return nil, errorf("temporal over %d rules: need 1 to 64", n)
	}
	if cond == nil {
		cond = Cond{{GTE, float64(n)}}
	}
	if err := cond.check(); err != nil {
		return nil, err
	}
	w := &Temporal{cond: cond, n: n}
	w.t.init(cfg, timespan, w)
	return w, nil
}

func (w *Temporal) grow(n int) {
	old := len(w.seen)
	w.seen = growTo(w.seen, n*w.n)
	for i := old; i < len(w.seen); i++ {
		w.seen[i] = math.MinInt64
	}
}

func (w *Temporal) release(id int32) {
	a := int(id) * w.n
	for i := a; i < a+w.n; i++ {
		w.seen[i] = math.MinInt64
	}
}

func (w *Temporal) slotBytes() int64     { return 8 * int64(w.n) }
func (w *Temporal) firing(id int32) bool { return w.t.slots[id].held }

// Add records that rule matched a record of group key at event time t.
func (w *Temporal) Add(key []byte, t time.Time, rule int) (Match, bool) {
	if rule < 0 || rule >= w.n {
		w.t.c.invalid.Add(1)
		return Match{}, false
	}
	ns := t.UnixNano()
	if !w.t.admit(ns) {
		return Match{}, false
	}
	id, _ := w.t.get(key, ns)
	seen := w.seen[int(id)*w.n : int(id+1)*w.n]
	if ns > seen[rule] {
		seen[rule] = ns
	}
	end := w.t.slots[id].last
	cut := end - w.t.span
	start, k := end, 0
	for _, s := range seen {
		if s >= cut {
			k++
			start = min(start, s)
		}
	}
	holds := w.cond.Holds(float64(k))
	rising := w.t.edge(id, holds)
	if !holds {
		return Match{}, false
	}
	return Match{Key: w.t.slots[id].key, State: Holds, Rising: rising, Start: time.Unix(0, start), End: time.Unix(0, end), Value: float64(k)}, true
}

// Tick advances event time and drops groups idle for timespan plus lateness.
func (w *Temporal) Tick(now time.Time) {
	ns := now.UnixNano()
	w.t.advance(ns)
	w.t.expireBefore(ns-w.t.span-int64(w.t.cfg.Lateness), nil)
}

// Bytes estimates the memory the structure holds.
func (w *Temporal) Bytes() int64 { return w.t.bytes() }

// Stats returns the structure's counters.
func (w *Temporal) Stats() Stats { return w.t.Stats() }

// OnEvict sets the eviction hook (see EventCount.OnEvict).
func (w *Temporal) OnEvict(f func(key []byte, firing bool)) { w.t.onEvict = f }

// TemporalOrdered reports groups in which rules 0..n-1 matched in that
// order within timespan (Sigma temporal_ordered): records r0 ≤ r1 ≤ … ≤
// r(n-1) in event time, the last no more than timespan after the first. Per
// group and stage k it keeps the latest start of a partial sequence through
// stage k, which is exact for records that arrive in event-time order.
// Records reordered within the lateness are placed by event time against
// the stored stage ends, but a sequence that needs an earlier-arriving
// record to come later may be missed.
type TemporalOrdered struct {
	t     table
	n     int
	start []int64 // n per slot: latest start of a partial sequence through stage k
	end   []int64 // n per slot: event time at which that partial reached stage k
}

// NewTemporalOrdered returns a temporal_ordered window over n rules.
func NewTemporalOrdered(cfg Config, timespan time.Duration, n int) (*TemporalOrdered, error) {
	if err := cfg.check(timespan); err != nil {
		return nil, err
	}
	if n < 1 || n > 64 {
		return nil, errorf("temporal_ordered over %d rules: need 1 to 64", n)
	}
	w := &TemporalOrdered{n: n}
	w.t.init(cfg, timespan, w)
	return w, nil
}

func (w *TemporalOrdered) grow(n int) {
	old := len(w.start)
	w.start = growTo(w.start, n*w.n)
	w.end = growTo(w.end, n*w.n)
	for i := old; i < len(w.start); i++ {
		w.start[i] = math.MinInt64
	}
}

func (w *TemporalOrdered) release(id int32) {
	a := int(id) * w.n
	for i := a; i < a+w.n; i++ {
		w.start[i], w.end[i] = math.MinInt64, 0
	}
}

func (w *TemporalOrdered) slotBytes() int64     { return 16 * int64(w.n) }
func (w *TemporalOrdered) firing(id int32) bool { return w.t.slots[id].held }

// Add records that rule matched a record of group key at event time t. It
// reports a Match when this record completes the sequence (rule n-1).
func (w *TemporalOrdered) Add(key []byte, t time.Time, rule int) (Match, bool) {
	if rule < 0 || rule >= w.n {
		w.t.c.invalid.Add(1)
		return Match{}, false
	}
	ns := t.UnixNano()
	if !w.t.admit(ns) {
		return Match{}, false
	}
	id, _ := w.t.get(key, ns)
	a := int(id) * w.n
	start, end := w.start[a:a+w.n], w.end[a:a+w.n]
	s := int64(math.MinInt64)
	if rule == 0 {
		s = ns
	} else if p := start[rule-1]; p != math.MinInt64 && end[rule-1] <= ns && ns-p <= w.t.span {
		s = p
	}
	if s != math.MinInt64 && s >= start[rule] {
		start[rule], end[rule] = s, ns
	}
	done := rule == w.n-1 && s != math.MinInt64
	rising := w.t.edge(id, done)
	if !done {
		return Match{}, false
	}
	return Match{Key: w.t.slots[id].key, State: Holds, Rising: rising, Start: time.Unix(0, s), End: time.Unix(0, ns), Value: float64(w.n)}, true
}

// Tick advances event time and drops groups idle for timespan plus lateness.
func (w *TemporalOrdered) Tick(now time.Time) {
	ns := now.UnixNano()
	w.t.advance(ns)
	w.t.expireBefore(ns-w.t.span-int64(w.t.cfg.Lateness), nil)
}

// Bytes estimates the memory the structure holds.
func (w *TemporalOrdered) Bytes() int64 { return w.t.bytes() }

// Stats returns the structure's counters.
func (w *TemporalOrdered) Stats() Stats { return w.t.Stats() }

// OnEvict sets the eviction hook (see EventCount.OnEvict).
func (w *TemporalOrdered) OnEvict(f func(key []byte, firing bool)) { w.t.onEvict = f }
