package window

import (
	"math"
	"time"
)

// Absence watches groups that have been seen (Watchfloor's absence): a
// group with no record for timespan fires at the Tick that notices it, and
// resolves at its next record. A fired group is kept until it comes back,
// is evicted (MaxGroups, MaxBytes: the OnEvict hook sees firing=true), or,
// when forget > 0, stays silent for forget (dropped like an eviction, counted
// as Expired, the hook called). Tick walks the silent groups, so it costs
// O(fired groups + newly silent ones).
type Absence struct {
	t      table
	forget int64
	fired  []bool
}

// NewAbsence returns an absence detector; forget 0 keeps silent groups
// until evicted.
func NewAbsence(cfg Config, timespan, forget time.Duration) (*Absence, error) {
	if err := cfg.check(timespan); err != nil {
		return nil, err
	}
	if forget < 0 || (forget > 0 && forget <= timespan) {
		return nil, errorf("forget %s must be 0 or longer than the timespan %s", forget, timespan)
	}
	w := &Absence{forget: int64(forget)}
	w.t.init(cfg, timespan, w)
	return w, nil
}

func (w *Absence) grow(n int)                   { w.fired = growTo(w.fired, n) }
func (w *Absence) release(id int32)             { w.fired[id] = false }
func (w *Absence) slotBytes() int64             { return 1 }
func (w *Absence) firing(id int32) bool         { return w.fired[id] }
func (w *Absence) Bytes() int64                 { return w.t.bytes() }
func (w *Absence) Stats() Stats                 { return w.t.Stats() }
func (w *Absence) OnEvict(f func([]byte, bool)) { w.t.onEvict = f }

// Add records a sign of life of group key at event time t. It reports
// Resolved when the group had fired.
func (w *Absence) Add(key []byte, t time.Time) (Match, bool) {
	ns := t.UnixNano()
	if !w.t.admit(ns) {
		return Match{}, false
	}
	id, _ := w.t.get(key, ns)
	if !w.fired[id] {
		return Match{}, false
	}
	w.fired[id] = false
	w.t.slots[id].held = false
	return Match{Key: w.t.slots[id].key, State: Resolved, Start: t, End: t}, true
}

// Tick advances event time to now and calls emit (Firing) for each group
// silent for timespan since its last record. Start is the last record,
// End is now, Value the silence in seconds. The Match is valid during emit.
func (w *Absence) Tick(now time.Time, emit func(Match)) {
	ns := now.UnixNano()
	w.t.advance(ns)
	cutoff := ns - w.t.span
	for id := w.t.tail; id != nilSlot && w.t.slots[id].last < cutoff; {
		prev := w.t.slots[id].prev
		s := &w.t.slots[id]
		switch {
		case !w.fired[id]:
			w.fired[id], s.held = true, true
			if emit != nil {
				emit(Match{Key: s.key, State: Firing, Rising: true, Start: time.Unix(0, s.last), End: now, Value: float64(ns-s.last) / 1e9})
			}
		case w.forget > 0 && s.last < ns-w.forget:
			if w.t.onEvict != nil {
				w.t.onEvict(s.key, true)
			}
			w.t.remove(id)
			w.t.c.expired.Add(1)
		}
		id = prev
	}
}

// Threshold holds Prometheus `for:` semantics per group over samples whose
// condition the caller evaluated: the first true sample makes the group
// Pending; when every sample has been true for `for` it is Firing; a false
// sample resets it (Resolved if it was firing). A group with no sample for
// 2×for (at least the lateness) is stale and dropped at Tick, Resolved if
// it was firing. Samples are taken in arrival order.
type Threshold struct {
	t     table
	hold  int64
	stale int64
	since []int64 // start of the current run of true samples, MinInt64 when none
	on    []bool
}

// NewThreshold returns a threshold detector with duration hold (`for`).
func NewThreshold(cfg Config, hold time.Duration) (*Threshold, error) {
	if hold < 0 {
		return nil, errorf("for %s is negative", hold)
	}
	stale := max(2*hold, cfg.Lateness, time.Second)
	if err := cfg.check(stale); err != nil {
		return nil, err
	}
	w := &Threshold{hold: int64(hold), stale: int64(stale)}
	w.t.init(cfg, stale, w)
	return w, nil
}

func (w *Threshold) grow(n int) {
	old := len(w.since)
	w.since = growTo(w.since, n)
	w.on = growTo(w.on, n)
	for i := old; i < n; i++ {
		w.since[i] = math.MinInt64
	}
}
func (w *Threshold) release(id int32)             { w.since[id], w.on[id] = math.MinInt64, false }
func (w *Threshold) slotBytes() int64             { return 9 }
func (w *Threshold) Bytes() int64                 { return w.t.bytes() }
func (w *Threshold) Stats() Stats                 { return w.t.Stats() }
func (w *Threshold) OnEvict(f func([]byte, bool)) { w.t.onEvict = f }

// firing is the kind's view for eviction hooks.
func (w *Threshold) firing(id int32) bool { return w.on[id] }

// Add takes one sample of group key at event time t whose condition is ok.
// It reports transitions: Pending (Rising) at the first true sample,
// Firing (Rising) once true for `for`, Resolved at a false sample while
// firing. Value is the seconds the condition has held.
func (w *Threshold) Add(key []byte, t time.Time, ok bool) (Match, bool) {
	ns := t.UnixNano()
	if !w.t.admit(ns) {
		return Match{}, false
	}
	id, _ := w.t.get(key, ns)
	s := &w.t.slots[id]
	if !ok {
		since, was := w.since[id], w.on[id]
		w.since[id], w.on[id], s.held = math.MinInt64, false, false
		if !was {
			return Match{}, false
		}
		return Match{Key: s.key, State: Resolved, Start: time.Unix(0, since), End: t, Value: float64(ns-since) / 1e9}, true
	}
	if w.since[id] == math.MinInt64 || ns < w.since[id] {
		w.since[id] = ns
	}
	since := w.since[id]
	m := Match{Key: s.key, Start: time.Unix(0, since), End: t, Value: float64(ns-since) / 1e9, Rising: true}
	switch {
	case w.on[id]:
		return Match{}, false
	case ns-since >= w.hold:
		w.on[id], s.held = true, true
		m.State = Firing
		return m, true
	case ns == since:
		m.State = Pending
		return m, true
	}
	return Match{}, false
}

// Tick advances event time to now and drops stale groups, calling emit
// (Resolved) for those that were firing. The Match is valid during emit.
func (w *Threshold) Tick(now time.Time, emit func(Match)) {
	ns := now.UnixNano()
	w.t.advance(ns)
	w.t.expireBefore(ns-w.stale, func(id int32) {
		if w.on[id] && emit != nil {
			s := &w.t.slots[id]
			emit(Match{Key: s.key, State: Resolved, Start: time.Unix(0, w.since[id]), End: now, Value: float64(s.last-w.since[id]) / 1e9})
		}
	})
}
