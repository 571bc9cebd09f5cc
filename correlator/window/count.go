package window

import (
	"math"
	"time"
)

// EventCount counts the records of each group over a sliding window
// (Sigma event_count).
type EventCount struct {
	t      table
	cond   Cond
	counts []uint32 // Buckets per slot, saturating
	totals []uint64
}

// NewEventCount returns an event_count window of timespan with condition cond.
func NewEventCount(cfg Config, timespan time.Duration, cond Cond) (*EventCount, error) {
	if err := cfg.check(timespan); err != nil {
		return nil, err
	}
	if err := cond.check(); err != nil {
		return nil, err
	}
	w := &EventCount{cond: cond}
	w.t.init(cfg, timespan, w)
	return w, nil
}

func (w *EventCount) grow(n int) {
	w.counts = growTo(w.counts, n*int(w.t.nb))
	w.totals = growTo(w.totals, n)
}

func (w *EventCount) release(id int32) {
	clear(w.counts[w.t.ring(id, 0) : w.t.ring(id, 0)+int(w.t.nb)])
	w.totals[id] = 0
}

func (w *EventCount) slotBytes() int64     { return 4*w.t.nb + 8 }
func (w *EventCount) firing(id int32) bool { return w.t.slots[id].held }

// Add counts one record of group key at event time t and reports the
// group's window when the condition holds (ok).
func (w *EventCount) Add(key []byte, t time.Time) (m Match, ok bool) {
	ns := t.UnixNano()
	if !w.t.admit(ns) {
		return Match{}, false
	}
	id, fresh := w.t.get(key, ns)
	c := w.t.bucket(ns)
	from, in := w.t.slide(id, c, fresh)
	for b := from; b <= c; b++ {
		p := w.t.ring(id, b)
		w.totals[id] -= uint64(w.counts[p])
		w.counts[p] = 0
	}
	if !in {
		return Match{}, false
	}
	p := w.t.ring(id, c)
	if w.counts[p] < math.MaxUint32 {
		w.counts[p]++
		w.totals[id]++
	}
	return w.eval(id)
}

func (w *EventCount) eval(id int32) (Match, bool) {
	v := float64(w.totals[id])
	holds := w.cond.Holds(v)
	rising := w.t.edge(id, holds)
	if !holds {
		return Match{}, false
	}
	s := &w.t.slots[id]
	return Match{Key: s.key, State: Holds, Rising: rising, Start: w.t.windowStart(s.head), End: time.Unix(0, s.last), Value: v}, true
}

// Tick advances event time to now and drops groups with nothing in their
// window any more (newest record older than timespan plus lateness).
func (w *EventCount) Tick(now time.Time) {
	ns := now.UnixNano()
	w.t.advance(ns)
	w.t.expireBefore(ns-w.t.span-int64(w.t.cfg.Lateness), nil)
}

// Bytes estimates the memory the structure holds.
func (w *EventCount) Bytes() int64 { return w.t.bytes() }

// Stats returns the structure's counters.
func (w *EventCount) Stats() Stats { return w.t.Stats() }

// OnEvict sets a hook called with a group's key (valid during the call) and
// whether its condition held, when the group is evicted to respect a cap.
func (w *EventCount) OnEvict(f func(key []byte, firing bool)) { w.t.onEvict = f }

// growTo returns s extended (zeroed) to length n, reallocating exactly.
func growTo[T any](s []T, n int) []T {
	if n <= len(s) {
		return s
	}
	g := make([]T, n)
	copy(g, s)
	return g
}
