package rollup

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/watchfloor/watchfloor"
)

// unset is the base minute before the first record or clock reading.
const unset = math.MinInt64

// maxPending bounds the closed rollups waiting for Run, AdvanceTo or Flush to emit them.
// Only closes forced by Add (a record far ahead of the open minutes) fill it without an
// emitter at hand; beyond it the oldest is dropped and counted.
const maxPending = 256

// Aggregator rolls flow records up per minute and per hour. See the package documentation.
type Aggregator struct {
	cfg   Config
	site  string
	slots int // minute slots per shard; minutes [base, base+slots-1) are open
	m     *metrics
	now   func() time.Time

	// base is the oldest open minute (minutes since the Unix epoch), or unset. Add reads it
	// under its shard's lock; the closer changes it while holding every shard's lock.
	base   atomic.Int64
	shards []*shard
	wake   chan struct{} // Add closed minutes: Run should emit them

	emitMu sync.Mutex // held while emitting, so that rollups leave in order; before closeMu
	// closeMu guards what follows: the closer's state.
	closeMu sync.Mutex
	spares  [][]*tables // per shard, cleared tables to swap in
	merged  *tables     // scratch: a minute's shards merged
	hour    *tables     // the open hour (hour.unit is the hour since the epoch)
	sel     selector
	remap   []int32
	got     []owned
	pending []watchfloor.FlowRollup
}

// shard is one receive goroutine's tables: a ring of minute slots, minute m in slot m mod
// len(ring). Only its goroutine's Add and the closer take its lock.
type shard struct {
	mu   sync.Mutex
	ring []*tables
	_    [64]byte // keep shards' locks on different cache lines
}

// owned is a shard's tables taken out by the closer.
type owned struct {
	shard int
	t     *tables
}

// New returns an aggregator for the records of site, fed by workers receive goroutines.
func New(cfg Config, site string, workers int, reg prometheus.Registerer) (*Aggregator, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("flow rollup: %w", errors.Join(fieldErrors(errs)...))
	}
	if workers < 1 || workers > maxWorkers {
		return nil, fmt.Errorf("flow rollup: workers must be between 1 and %d (is %d)", maxWorkers, workers)
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	// Open minutes: the current one, the previous one during the grace, one more for a
	// clock that runs a little behind the records' times.
	open := 3 + int((cfg.Grace+time.Minute-1)/time.Minute)
	a := &Aggregator{
		cfg: cfg, site: site, slots: open + 1, m: m, now: time.Now,
		shards: make([]*shard, workers), spares: make([][]*tables, workers),
		merged: newTables(), hour: newTables(), wake: make(chan struct{}, 1),
	}
	a.base.Store(unset)
	a.hour.unit = unset
	for i := range a.shards {
		s := &shard{ring: make([]*tables, a.slots)}
		for j := range s.ring {
			s.ring[j] = newTables()
		}
		a.shards[i] = s
		a.spares[i] = []*tables{newTables()}
	}
	return a, nil
}

func fieldErrors(fe []FieldError) []error {
	errs := make([]error, len(fe))
	for i, e := range fe {
		errs[i] = e
	}
	return errs
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func minuteOf(t time.Time) int64       { return floorDiv(t.Unix(), 60) }
func minuteStart(m int64) time.Time    { return time.Unix(m*60, 0).UTC() }
func (a *Aggregator) slot(m int64) int { return int(m - floorDiv(m, int64(a.slots))*int64(a.slots)) }

// Add adds flows from receive goroutine worker (0 ≤ worker < workers; others are folded
// into that range). It is called concurrently for different workers, never for the same
// one, and does not keep flows. A record of a minute already closed is added to the oldest
// open minute and counted as late; a record past the open minutes closes the oldest ones
// first (their rollups wait for Run, AdvanceTo or Flush to emit them).
func (a *Aggregator) Add(worker int, flows []watchfloor.Flow) {
	if len(flows) == 0 {
		return
	}
	if worker < 0 || worker >= len(a.shards) {
		worker = int(uint(worker) % uint(len(a.shards)))
	}
	s := a.shards[worker]
	open := int64(a.slots - 1)
	late := 0
	s.mu.Lock()
	base := a.base.Load()
	for i := 0; i < len(flows); i++ {
		f := &flows[i]
		m := minuteOf(f.Received)
		if base == unset {
			a.base.CompareAndSwap(unset, m)
			base = a.base.Load()
		}
		if m < base {
			late++
			m = base
		}
		t := s.ring[a.slot(m)]
		if m >= base+open || (t.records > 0 && t.unit != m) {
			// Past the open minutes: close the oldest (the closer takes every shard's lock).
			s.mu.Unlock()
			a.closeMu.Lock()
			a.closeBefore(max(m-open+1, t.unit+1))
			a.closeMu.Unlock()
			select {
			case a.wake <- struct{}{}:
			default:
			}
			s.mu.Lock()
			base = a.base.Load()
			i--
			continue
		}
		t.unit = m
		t.addFlow(f, a.cfg.MaxKeys)
	}
	s.mu.Unlock()
	a.m.records.Add(float64(len(flows)))
	if late > 0 {
		a.m.late.Add(float64(late))
	}
}

func (a *Aggregator) lockAll() {
	for _, s := range a.shards {
		s.mu.Lock()
	}
}

func (a *Aggregator) unlockAll() {
	for _, s := range a.shards {
		s.mu.Unlock()
	}
}

// takeSpare returns cleared tables for shard i. Called with closeMu held.
func (a *Aggregator) takeSpare(i int) *tables {
	sp := a.spares[i]
	if len(sp) == 0 {
		return newTables()
	}
	t := sp[len(sp)-1]
	a.spares[i] = sp[:len(sp)-1]
	return t
}

// closeBefore closes every minute before newBase and the hour that ends by then, and makes
// newBase the oldest open minute (unless it is already later). Called with closeMu held.
func (a *Aggregator) closeBefore(newBase int64) {
	for {
		a.lockAll()
		base := a.base.Load()
		if base != unset && base >= newBase {
			a.unlockAll()
			break
		}
		// the oldest minute with data: all of them are in [base, base+slots-1)
		oldest, found := int64(0), false
		for _, s := range a.shards {
			for _, t := range s.ring {
				if t.records > 0 && (!found || t.unit < oldest) {
					oldest, found = t.unit, true
				}
			}
		}
		if !found || oldest >= newBase {
			a.base.Store(newBase)
			a.unlockAll()
			break
		}
		a.base.Store(oldest + 1)
		a.got = a.got[:0]
		for i, s := range a.shards {
			j := a.slot(oldest)
			if t := s.ring[j]; t.records > 0 && t.unit == oldest {
				s.ring[j] = a.takeSpare(i)
				a.got = append(a.got, owned{i, t})
			}
		}
		a.unlockAll()
		a.closeMinute(oldest, a.got)
	}
	if a.hour.unit != unset && a.base.Load() >= (a.hour.unit+1)*60 {
		a.closeHour()
	}
}

// closeMinute merges the shards' tables of minute m, queues its rollup, folds it into its
// hour and gives the tables back as spares. Called with closeMu held.
func (a *Aggregator) closeMinute(m int64, got []owned) {
	if len(got) == 0 {
		return
	}
	began := time.Now()
	merged := got[0].t
	if len(got) > 1 {
		merged = a.merged
		merged.reset()
		for _, o := range got {
			_, a.remap = merged.merge(o.t, math.MaxInt, -1, a.remap)
		}
	}
	for _, o := range got {
		for d, n := range o.t.overflow {
			if n > 0 {
				a.m.overflow[d].Add(float64(n))
			}
		}
	}
	a.queue(a.render(merged, minuteStart(m), time.Minute))

	h := floorDiv(m, 60)
	if a.hour.unit != unset && a.hour.unit != h {
		a.closeHour()
	}
	if a.hour.unit == unset {
		a.hour.reset()
		a.hour.unit = h
	}
	// The hour's tables hold as many keys per dimension as a minute of all shards can.
	limit := a.cfg.MaxKeys * len(a.shards)
	dropped, remap := a.hour.merge(merged, limit, int(m-h*60)/5, a.remap)
	a.remap = remap
	most := uint64(0)
	for d, n := range dropped {
		if n > 0 {
			a.m.overflow[d].Add(float64(n))
			most = max(most, n)
		}
	}
	a.hour.totals.Overflow += most

	for _, o := range got {
		o.t.reset()
		a.spares[o.shard] = append(a.spares[o.shard], o.t)
	}
	a.m.closing.Observe(time.Since(began).Seconds())
}

// closeHour queues the open hour's rollup. Called with closeMu held.
func (a *Aggregator) closeHour() {
	if a.hour.unit == unset {
		return
	}
	if a.hour.records > 0 {
		a.queue(a.render(a.hour, time.Unix(a.hour.unit*3600, 0).UTC(), time.Hour))
	}
	a.hour.reset()
	a.hour.unit = unset
}

func (a *Aggregator) queue(r watchfloor.FlowRollup) {
	if len(a.pending) >= maxPending {
		a.pending = slices.Delete(a.pending, 0, 1)
		a.m.dropped.Inc()
	}
	a.pending = append(a.pending, r)
}

// emitPending emits the queued rollups in order. Called with emitMu held and closeMu not.
func (a *Aggregator) emitPending(emit func(watchfloor.FlowRollup)) {
	a.closeMu.Lock()
	p := a.pending
	a.pending = nil
	a.closeMu.Unlock()
	for _, r := range p {
		if r.Step == time.Hour {
			a.m.emitted.WithLabelValues("hour").Inc()
		} else {
			a.m.emitted.WithLabelValues("minute").Inc()
		}
		emit(r)
	}
}

// AdvanceTo closes the minutes that end at or before t−Grace (and the hour they complete)
// and emits their rollups, in time order. Replay calls it with the capture's time.
func (a *Aggregator) AdvanceTo(t time.Time, emit func(watchfloor.FlowRollup)) {
	a.emitMu.Lock()
	defer a.emitMu.Unlock()
	a.closeMu.Lock()
	a.closeBefore(minuteOf(t.Add(-a.cfg.Grace)))
	a.closeMu.Unlock()
	a.emitPending(emit)
}

// Flush closes and emits every open minute and the open hour now, whatever the clock says.
// It does not move the oldest open minute: records that still arrive for a flushed minute
// make a second rollup of it, which the store adds to the first.
func (a *Aggregator) Flush(emit func(watchfloor.FlowRollup)) {
	a.emitMu.Lock()
	defer a.emitMu.Unlock()
	a.closeMu.Lock()
	var got []owned
	a.lockAll()
	for i, s := range a.shards {
		for j, t := range s.ring {
			if t.records > 0 {
				s.ring[j] = a.takeSpare(i)
				got = append(got, owned{i, t})
			}
		}
	}
	a.unlockAll()
	slices.SortStableFunc(got, func(x, y owned) int {
		switch {
		case x.t.unit < y.t.unit:
			return -1
		case x.t.unit > y.t.unit:
			return 1
		}
		return 0
	})
	for len(got) > 0 {
		n := 1
		for n < len(got) && got[n].t.unit == got[0].t.unit {
			n++
		}
		a.closeMinute(got[0].t.unit, got[:n])
		got = got[n:]
	}
	a.closeHour()
	a.closeMu.Unlock()
	a.emitPending(emit)
}

// Run closes minutes as the clock passes their end plus Grace and emits each minute's and
// each hour's rollup, in time order. When ctx is done it flushes the open minute and hour
// (a partial hour; the store adds up rollups of the same interval) and returns nil.
func (a *Aggregator) Run(ctx context.Context, emit func(watchfloor.FlowRollup)) error {
	if a.base.Load() == unset {
		a.lockAll()
		a.base.CompareAndSwap(unset, minuteOf(a.now().Add(-a.cfg.Grace)))
		a.unlockAll()
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		a.AdvanceTo(a.now(), emit)
		// minute base closes at its end plus the grace
		next := minuteStart(a.base.Load() + 1).Add(a.cfg.Grace)
		timer.Reset(max(next.Sub(a.now()), time.Millisecond))
		select {
		case <-ctx.Done():
			a.Flush(emit)
			return nil
		case <-timer.C:
		case <-a.wake:
		}
	}
}

// Current returns the rollup so far of the newest minute in progress (for the console's
// snapshot). It allocates; the receive goroutines wait for it shard by shard.
func (a *Aggregator) Current() watchfloor.FlowRollup {
	a.closeMu.Lock()
	defer a.closeMu.Unlock()
	newest, found := int64(0), false
	for _, s := range a.shards {
		s.mu.Lock()
		for _, t := range s.ring {
			if t.records > 0 && (!found || t.unit > newest) {
				newest, found = t.unit, true
			}
		}
		s.mu.Unlock()
	}
	if !found {
		start := a.now().Truncate(time.Minute).UTC()
		if b := a.base.Load(); b != unset {
			start = minuteStart(b)
		}
		return watchfloor.FlowRollup{Site: a.site, Start: start, Step: time.Minute}
	}
	m := newTables()
	for _, s := range a.shards {
		s.mu.Lock()
		if t := s.ring[a.slot(newest)]; t.records > 0 && t.unit == newest {
			_, a.remap = m.merge(t, math.MaxInt, -1, a.remap)
		}
		s.mu.Unlock()
	}
	return a.render(m, minuteStart(newest), time.Minute)
}
