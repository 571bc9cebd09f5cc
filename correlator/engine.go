// Package correlator is the rule engine: it compiles a rules.Set into typed accessors over
// the records, evaluates detections on the collectors' goroutines, keeps correlation windows
// (correlator/window) on its own goroutine, and reports matches to the alert manager
// (correlator/alerts).
//
// # Paths
//
// HandleFlows, HandleObservations, HandleEvents and HandleSamples run the detections of the
// records' kinds on the caller's goroutine, without locks or allocation. The records that
// match are copied into a batch, one per call, which goes to the engine's goroutine through
// a bounded queue; when the queue is full the batch is dropped and its matches counted
// (watchfloor_correlator_dropped_matches_total). The engine's goroutine (Run) feeds the
// correlations, raises and recovers alerts, and ticks.
//
// # Time
//
// Everything runs on event time: the records' times (flows: Received). Windows accept
// records up to Config.Lateness behind the newest seen. Tick advances windows and alerts to
// the newest record time; when no record arrives, Run advances it with the wall clock, so
// absences fire on an idle stream.
//
// # Alerts
//
// A detection whose rule generates (rules.Rule.Generate) fires an alert per match, keyed by
// its identity fields ("field=value,…"); title, description and evidence are rendered at
// most once per Config.RefreshInterval of event time per alert, other matches only count.
// A rule with a recovery rule is resolved by a match of that rule with the same identity.
// Aggregating correlations (event_count, value_count, value_sum, value_avg,
// value_percentile, temporal, temporal_ordered) fire when their condition starts to hold
// (the rising edge); while it keeps holding the alert is refreshed (at most once per
// RefreshInterval), so it resolves once the condition has stopped holding for the rule's
// quiet period (alert.resolve_after, default 10m). Absence and threshold fire and resolve
// themselves (Manager.Recover). A correlation's firing (its rising edge) is a match of that
// correlation for the correlations that reference it (chains), with its group-by values
// as fields.
//
// # Reload
//
// Swap compiles a new set and replaces the old one atomically. Correlations whose name and
// definition hash (type, window, group-by, condition, and the referenced rules'
// definitions) are unchanged keep their windows; the rest start empty.
package correlator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/correlator/alerts"
	"github.com/watchfloor/watchfloor/rules"
)

// Manager is what the engine needs of the alert manager (alerts.Manager).
type Manager interface {
	Fire(m alerts.Match) (watchfloor.Alert, bool)
	Recover(rule, key string, t time.Time)
	Tick(now time.Time)
}

var _ Manager = (*alerts.Manager)(nil)

// Engine evaluates rules over records. Handle* are safe for concurrent use; Run owns the
// correlation state.
type Engine struct {
	cfg   Config
	mgr   Manager
	log   *slog.Logger
	m     *metrics
	clock func() time.Time

	prog  atomic.Pointer[program]
	queue chan *batch
	pool  sync.Pool

	maxSeen atomic.Int64 // newest record time seen (ns)

	// Owned by whoever holds mu: the engine's goroutine, Swap, Tick, Drain.
	mu       sync.Mutex
	now      int64 // event time the state was last ticked to
	lastSeen int64
	lastWall time.Time
	keyBuf   []byte
	valBuf   []val
	logLimit time.Time
}

// hit is one record matching one rule in a batch.
type hit struct {
	rule int32
	rec  int32
}

// batch is the matches of one Handle call, with copies of the matching records.
type batch struct {
	prog    *program
	flows   []watchfloor.Flow
	obs     []watchfloor.Observation
	events  []watchfloor.Event
	samples []watchfloor.Sample
	arena   []byte
	hits    []hit
	counts  []uint32
	cur     rec // the record being evaluated (here, not on the stack: predicates take its address)
}

// New returns an engine over set (nil: no rules yet) reporting to mgr. log and reg may be nil.
func New(cfg Config, set *rules.Set, mgr Manager, log *slog.Logger, reg prometheus.Registerer) (*Engine, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		all := make([]error, len(errs))
		for i, e := range errs {
			all[i] = e
		}
		return nil, fmt.Errorf("correlator: invalid config: %w", errors.Join(all...))
	}
	if mgr == nil {
		return nil, errors.New("correlator: no alert manager")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{cfg: cfg, mgr: mgr, log: log.With("component", "correlator"), m: newMetrics(), clock: time.Now,
		queue: make(chan *batch, cfg.QueueSize)}
	e.pool.New = func() any { return new(batch) }
	if set == nil {
		set = &rules.Set{ByName: map[string]*rules.Rule{}}
	}
	p, err := compile(set, cfg, e.m)
	if err != nil {
		return nil, fmt.Errorf("correlator: %w", err)
	}
	e.prog.Store(p)
	e.m.prog = &e.prog
	if reg != nil {
		if err := e.m.register(reg); err != nil {
			return nil, fmt.Errorf("correlator: %w", err)
		}
	}
	return e, nil
}

// Swap compiles set and makes it the engine's rules. Correlations with an unchanged name and
// definition keep their state. On error the old rules stay.
func (e *Engine) Swap(set *rules.Set) error {
	p, err := compile(set, e.cfg, e.m)
	if err != nil {
		return fmt.Errorf("correlator: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	old := e.prog.Load()
	kept := 0
	for _, cn := range p.corrs {
		if on := old.byName[cn.n.r.Name]; on != nil && on.corr != nil && on.corr.hash == cn.hash {
			cn.adopt(on.corr)
			kept++
		}
	}
	for _, n := range p.nodes {
		if on := old.byName[n.r.Name]; on != nil {
			n.lastFire = on.lastFire
		}
	}
	e.prog.Store(p)
	e.log.Info("rules loaded", "rules", len(p.nodes), "correlations", len(p.corrs), "kept_state", kept)
	return nil
}

// Set returns the rules in use.
func (e *Engine) Set() *rules.Set { return e.prog.Load().set }

// RuleHits is how often a rule of the current set matched, and when last (event time).
type RuleHits struct {
	Rule    *rules.Rule
	Hits    uint64
	LastHit time.Time // zero when it never matched
}

// Hits lists the rules of the current set with their matches since the set was loaded (a
// Swap starts the counts again).
func (e *Engine) Hits() []RuleHits {
	p := e.prog.Load()
	out := make([]RuleHits, 0, len(p.nodes))
	for _, n := range p.nodes {
		h := RuleHits{Rule: n.r, Hits: n.hits.Load()}
		if ns := n.lastHit.Load(); ns != 0 {
			h.LastHit = time.Unix(0, ns)
		}
		out = append(out, h)
	}
	return out
}

func (e *Engine) getBatch(p *program) *batch {
	b := e.pool.Get().(*batch)
	b.prog = p
	if cap(b.counts) < len(p.nodes) {
		b.counts = make([]uint32, len(p.nodes))
	}
	b.counts = b.counts[:len(p.nodes)]
	return b
}

func (e *Engine) putBatch(b *batch) {
	clear(b.events) // drop references to strings and attrs
	b.prog, b.flows, b.obs, b.events, b.samples, b.arena, b.hits = nil, b.flows[:0], b.obs[:0], b.events[:0], b.samples[:0], b.arena[:0], b.hits[:0]
	clear(b.counts)
	b.cur = rec{}
	e.pool.Put(b)
}

// noteTime raises the newest record time seen; late records (older than it by more than
// the lateness) are counted.
func (e *Engine) noteTime(newest int64, late int) {
	for {
		cur := e.maxSeen.Load()
		if newest <= cur || e.maxSeen.CompareAndSwap(cur, newest) {
			break
		}
	}
	if late > 0 {
		e.m.late.Add(float64(late))
	}
}

// send hands a batch with hits to the engine's goroutine, or drops it (counted).
func (e *Engine) send(b *batch, start time.Time, path int) {
	for i, c := range b.counts {
		if c > 0 {
			if m := b.prog.nodes[i].matches; m != nil {
				m.Add(float64(c))
			}
		}
	}
	e.m.evalTime[path].Observe(time.Since(start).Seconds())
	if len(b.hits) == 0 {
		e.putBatch(b)
		return
	}
	select {
	case e.queue <- b:
	default:
		e.m.dropped.Add(float64(len(b.hits)))
		e.putBatch(b)
	}
}

// HandleFlows evaluates the rules over a batch of flows from collector worker worker. It
// does not keep flows.
func (e *Engine) HandleFlows(worker int, flows []watchfloor.Flow) {
	if len(flows) == 0 {
		return
	}
	start := time.Now()
	p := e.prog.Load()
	b := e.getBatch(p)
	rs := p.byKind[kiFlow]
	r := &b.cur
	r.typ = tFlow
	newest, cutoff, late := int64(0), e.maxSeen.Load()-int64(e.cfg.Lateness), 0
	for i := range flows {
		r.f = &flows[i]
		ts := r.time()
		newest = max(newest, ts)
		if ts < cutoff {
			late++
		}
		copied := int32(-1)
		for _, n := range rs {
			if !n.det[tFlow](r) {
				continue
			}
			if copied < 0 {
				copied = int32(len(b.flows))
				b.flows = append(b.flows, flows[i])
			}
			b.hits = append(b.hits, hit{int32(n.idx), copied})
			b.counts[n.idx]++
		}
	}
	e.m.records[kiFlow].Add(float64(len(flows)))
	e.noteTime(newest, late)
	e.send(b, start, pathFlow)
}

// HandleObservations evaluates the rules over a batch of packet observations from worker.
// It does not keep obs (their Name and Extra are copied when they match).
func (e *Engine) HandleObservations(worker int, obs []watchfloor.Observation) {
	if len(obs) == 0 {
		return
	}
	start := time.Now()
	p := e.prog.Load()
	b := e.getBatch(p)
	r := &b.cur
	r.typ = tObs
	var counts [nKinds]int
	newest, cutoff, late := int64(0), e.maxSeen.Load()-int64(e.cfg.Lateness), 0
	for i := range obs {
		o := &obs[i]
		ki := int(o.Kind)
		if ki <= 0 || ki >= kiEvent {
			continue
		}
		counts[ki]++
		r.o = o
		ts := r.time()
		newest = max(newest, ts)
		if ts < cutoff {
			late++
		}
		copied := int32(-1)
		for _, n := range p.byKind[ki] {
			if !n.det[tObs](r) {
				continue
			}
			if copied < 0 {
				copied = int32(len(b.obs))
				c := *o
				c.Name = b.keep(o.Name)
				c.Extra = b.keep(o.Extra)
				b.obs = append(b.obs, c)
			}
			b.hits = append(b.hits, hit{int32(n.idx), copied})
			b.counts[n.idx]++
		}
	}
	for ki, c := range counts {
		if c > 0 {
			e.m.records[ki].Add(float64(c))
		}
	}
	e.noteTime(newest, late)
	e.send(b, start, pathObs)
}

// keep copies s into the batch's arena. The arena may move while it grows, so the copy is
// re-sliced by offset when the batch is processed: keep returns a slice of a fresh region.
func (b *batch) keep(s []byte) []byte {
	if len(s) == 0 {
		return nil
	}
	// A separate allocation only when the arena must grow; earlier copies keep pointing at
	// the old array, which stays valid (it is garbage only once the batch is done).
	if cap(b.arena)-len(b.arena) < len(s) {
		b.arena = make([]byte, 0, max(4096, 2*cap(b.arena), len(s)))
	}
	off := len(b.arena)
	b.arena = append(b.arena, s...)
	return b.arena[off:len(b.arena):len(b.arena)]
}

// HandleEvents evaluates the rules over events (SNMP state changes, traps).
func (e *Engine) HandleEvents(events []watchfloor.Event) {
	if len(events) == 0 {
		return
	}
	start := time.Now()
	p := e.prog.Load()
	b := e.getBatch(p)
	r := &b.cur
	r.typ = tEvent
	newest, cutoff, late := int64(0), e.maxSeen.Load()-int64(e.cfg.Lateness), 0
	for i := range events {
		r.e = &events[i]
		ts := r.time()
		newest = max(newest, ts)
		if ts < cutoff {
			late++
		}
		copied := int32(-1)
		for _, n := range p.byKind[kiEvent] {
			if !n.det[tEvent](r) {
				continue
			}
			if copied < 0 {
				copied = int32(len(b.events))
				c := events[i]
				c.Attrs = append([]watchfloor.Attr(nil), c.Attrs...)
				b.events = append(b.events, c)
			}
			b.hits = append(b.hits, hit{int32(n.idx), copied})
			b.counts[n.idx]++
		}
	}
	e.m.records[kiEvent].Add(float64(len(events)))
	e.noteTime(newest, late)
	e.send(b, start, pathEvent)
}

// HandleSamples evaluates the rules over metric samples.
func (e *Engine) HandleSamples(samples []watchfloor.Sample) {
	if len(samples) == 0 {
		return
	}
	start := time.Now()
	p := e.prog.Load()
	b := e.getBatch(p)
	r := &b.cur
	r.typ = tSample
	newest, cutoff, late := int64(0), e.maxSeen.Load()-int64(e.cfg.Lateness), 0
	for i := range samples {
		r.s = &samples[i]
		ts := r.time()
		newest = max(newest, ts)
		if ts < cutoff {
			late++
		}
		copied := int32(-1)
		for _, n := range p.byKind[kiMetric] {
			if !n.det[tSample](r) {
				continue
			}
			if copied < 0 {
				copied = int32(len(b.samples))
				b.samples = append(b.samples, samples[i])
			}
			b.hits = append(b.hits, hit{int32(n.idx), copied})
			b.counts[n.idx]++
		}
	}
	e.m.records[kiMetric].Add(float64(len(samples)))
	e.noteTime(newest, late)
	e.send(b, start, pathSample)
}

// Run processes the queued matches and ticks until ctx is done.
func (e *Engine) Run(ctx context.Context) error {
	t := time.NewTicker(e.cfg.TickInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			e.Drain()
			return nil
		case b := <-e.queue:
			e.mu.Lock()
			e.process(b)
			e.mu.Unlock()
		case w := <-t.C:
			e.mu.Lock()
			e.tickWallLocked(w)
			e.mu.Unlock()
		}
	}
}

// tickWallLocked ticks to the newest record time, or, when no record came since the last
// tick, to that time plus the wall time since.
func (e *Engine) tickWallLocked(w time.Time) {
	seen := e.maxSeen.Load()
	if seen == 0 {
		return
	}
	now := seen
	if seen > e.lastSeen {
		e.lastSeen, e.lastWall = seen, w
	} else {
		now = e.lastSeen + int64(w.Sub(e.lastWall))
	}
	e.tickLocked(now)
}

// Drain processes every batch queued now, on the caller's goroutine (tests, shutdown, the
// rule test runner). Do not call it while Run runs.
func (e *Engine) Drain() {
	for {
		select {
		case b := <-e.queue:
			e.mu.Lock()
			e.process(b)
			e.mu.Unlock()
		default:
			return
		}
	}
}

// Tick advances windows and alerts to event time now: absences and stale thresholds fire
// or resolve, idle groups expire, quiet alerts resolve.
func (e *Engine) Tick(now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.tickLocked(now.UnixNano())
}

func (e *Engine) tickLocked(now int64) {
	if now < e.now {
		return
	}
	e.now = now
	p := e.prog.Load()
	t := time.Unix(0, now)
	for _, cn := range p.corrs {
		switch {
		case cn.ec != nil:
			cn.ec.Tick(t)
		case cn.vc != nil:
			cn.vc.Tick(t)
		case cn.vs != nil:
			cn.vs.Tick(t)
		case cn.va != nil:
			cn.va.Tick(t)
		case cn.vp != nil:
			cn.vp.Tick(t)
		case cn.tm != nil:
			cn.tm.Tick(t)
		case cn.to != nil:
			cn.to.Tick(t)
		case cn.ab != nil:
			cn.ab.Tick(t, func(m windowMatch) { e.corrMatch(cn, m) })
		case cn.th != nil:
			cn.th.Tick(t, func(m windowMatch) { e.corrMatch(cn, m) })
		}
		// Forget refresh marks of groups quiet for longer than their alert lasts.
		horizon := now - int64(cn.c.Timespan) - int64(cn.n.r.Alert.ResolveAfter) - int64(e.cfg.Lateness)
		for k, last := range cn.refreshed {
			if last < horizon {
				delete(cn.refreshed, k)
			}
		}
	}
	for _, n := range p.nodes {
		horizon := now - int64(e.cfg.RefreshInterval) - int64(e.cfg.Lateness)
		for k, last := range n.lastFire {
			if last < horizon {
				delete(n.lastFire, k)
			}
		}
	}
	e.mgr.Tick(t)
}
