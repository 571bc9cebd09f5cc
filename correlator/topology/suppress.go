package topology

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/correlator/alerts"
)

// Manager is what the Suppressor needs of the alert manager (alerts.Manager).
type Manager interface {
	Suppress(root uint64, children []uint64)
	Unsuppress(root uint64)
	List(q alerts.Query) []watchfloor.Alert
}

var _ Manager = (*alerts.Manager)(nil)

// Suppressor makes the alert of a dead device the root cause of the alerts it explains, in
// the alert manager: while a root-cause alert is open — an alert of one of the root rules
// about a device (Config.RootRules) — it suppresses the open alerts of the devices behind
// that device, of the ports facing it, and the device's own other alerts. Alerts that come
// later are suppressed as they come, and those that came first when their root comes; when
// the root resolves, what it explained is free again (or explained by a root further up
// that is still open).
//
// Every alert is explained by the topmost open root that covers it, so chains collapse: when
// dist-s3 and acc-a5 behind it are both down, acc-a5's alert is suppressed by dist-s3's, and
// so is everything behind acc-a5. A device that is down while its upstream is up is its own
// root. A root never suppresses another alert about its own device that is itself a root.
//
// OnAlert only queues; Run (or Drain) does the work.
type Suppressor struct {
	cfg   Config
	m     Manager
	log   *slog.Logger
	met   *metrics
	queue chan watchfloor.Alert
	roots map[string]bool // root rule names; empty: any availability alert about a device

	mu      sync.Mutex // the state below, and one reconcile at a time
	g       *Graph
	open    map[uint64]*tracked
	applied map[uint64]uint64 // child → the root we made it suppressed by
	resync  atomic.Bool       // changes were dropped: re-read the open alerts

	facingCache map[string][]Port // during a reconcile
}

// tracked is what the Suppressor knows of an open alert.
type tracked struct {
	id     uint64
	device string
	port   string
	isRoot bool
}

type metrics struct {
	events, dropped, resyncs, calls prometheus.Counter
	queued, suppressed, roots       prometheus.Gauge
}

func newMetrics() *metrics {
	ns := "watchfloor_suppressor_"
	return &metrics{
		events:     prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "alert_changes_total", Help: "Alert changes the suppressor processed."}),
		dropped:    prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "dropped_changes_total", Help: "Alert changes dropped because the suppressor's queue was full (each leads to a re-read of the open alerts)."}),
		resyncs:    prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "resyncs_total", Help: "Times the suppressor re-read the open alerts."}),
		calls:      prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "manager_calls_total", Help: "Suppress and Unsuppress calls made to the alert manager."}),
		queued:     prometheus.NewGauge(prometheus.GaugeOpts{Name: ns + "queued_changes", Help: "Alert changes waiting for the suppressor."}),
		suppressed: prometheus.NewGauge(prometheus.GaugeOpts{Name: ns + "suppressed_alerts", Help: "Open alerts the suppressor has suppressed."}),
		roots:      prometheus.NewGauge(prometheus.GaugeOpts{Name: ns + "root_alerts", Help: "Open root-cause alerts (devices down)."}),
	}
}

func (m *metrics) register(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	for _, c := range []prometheus.Collector{m.events, m.dropped, m.resyncs, m.calls, m.queued, m.suppressed, m.roots} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("topology: register metrics: %w", err)
		}
	}
	return nil
}

// NewSuppressor returns a Suppressor over m with graph g (nil: an empty graph until
// SetGraph). It reads the open alerts at once and suppresses what they explain (after a
// restart, the alerts continue as they were). log and reg may be nil.
func NewSuppressor(g *Graph, m Manager, cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Suppressor, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		all := make([]error, len(errs))
		for i, e := range errs {
			all[i] = e
		}
		return nil, fmt.Errorf("topology: invalid config: %w", errors.Join(all...))
	}
	if m == nil {
		return nil, errors.New("topology: no alert manager")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if g == nil {
		g = Build(nil, cfg)
	}
	s := &Suppressor{
		cfg: cfg, m: m, log: log.With("component", "suppressor"), met: newMetrics(),
		queue: make(chan watchfloor.Alert, cfg.QueueSize), roots: map[string]bool{},
		g: g, open: map[uint64]*tracked{}, applied: map[uint64]uint64{},
	}
	for _, r := range cfg.RootRules {
		s.roots[r] = true
	}
	if err := s.met.register(reg); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.resyncLocked()
	s.reconcileLocked()
	s.mu.Unlock()
	return s, nil
}

// OnAlert queues a changed alert; subscribe it to the alert manager. It never blocks: when
// the queue is full the change is dropped, counted, and the next Run or Drain re-reads the
// open alerts instead.
func (s *Suppressor) OnAlert(a watchfloor.Alert) {
	select {
	case s.queue <- a:
		s.met.queued.Inc()
	default:
		s.met.dropped.Inc()
		s.resync.Store(true)
	}
}

// SetGraph replaces the graph (the topology changed) and re-applies suppression with it.
func (s *Suppressor) SetGraph(g *Graph) {
	if g == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.g = g
	for _, t := range s.open {
		t.device = s.deviceOfTracked(t)
	}
	s.reconcileLocked()
}

// Graph returns the graph in use.
func (s *Suppressor) Graph() *Graph {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.g
}

// Run processes the queued changes until ctx is done; it returns nil then.
func (s *Suppressor) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case a := <-s.queue:
			s.met.queued.Dec()
			s.process(a)
		}
	}
}

// Drain processes every change queued so far and returns once they are applied; for tests
// and for a last pass at shutdown.
func (s *Suppressor) Drain() {
	s.process()
}

// process applies a (if any) and everything else queued, then reconciles once.
func (s *Suppressor) process(first ...watchfloor.Alert) {
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := false
	for _, a := range first {
		changed = s.noteLocked(a) || changed
	}
	for more := true; more; {
		select {
		case a := <-s.queue:
			s.met.queued.Dec()
			changed = s.noteLocked(a) || changed
		default:
			more = false
		}
	}
	if s.resync.Load() {
		s.resyncLocked()
		changed = true
	}
	if changed {
		s.reconcileLocked()
	}
}

// resyncLocked re-reads the open alerts from the manager, with their suppression.
func (s *Suppressor) resyncLocked() {
	s.resync.Store(false)
	s.met.resyncs.Inc()
	list := s.m.List(alerts.Query{Open: true, Limit: alerts.MaxLimit})
	clear(s.open)
	clear(s.applied)
	for i := range list {
		s.noteLocked(list[i])
	}
	for i := range list {
		if a := &list[i]; a.SuppressedBy != 0 {
			s.applied[a.ID] = a.SuppressedBy
		}
	}
}

// noteLocked records a changed alert and reports whether that can change what is
// suppressed: a new alert, a resolved one, or one that is about something else now. The
// updates of an open alert (its count, its evidence) cannot.
func (s *Suppressor) noteLocked(a watchfloor.Alert) bool {
	s.met.events.Inc()
	if a.State == watchfloor.AlertResolved || a.ID == 0 {
		_, known := s.open[a.ID]
		delete(s.open, a.ID)
		delete(s.applied, a.ID)
		// What it explained the manager has freed.
		for c, r := range s.applied {
			if r == a.ID {
				delete(s.applied, c)
			}
		}
		return known
	}
	t := s.open[a.ID]
	var was tracked
	if t == nil {
		t = &tracked{id: a.ID}
		s.open[a.ID] = t
	} else {
		was = *t
	}
	t.port = cmp.Or(a.Entity.Interface, a.Label("interface"))
	t.device = cmp.Or(a.Entity.Device, a.Label("device"))
	if t.device == "" && a.Category != watchfloor.CategorySecurity && a.Entity.Host != "" {
		// An exporter's or agent's address: the device polled at it.
		t.device = "@" + a.Entity.Host
	}
	t.isRoot = t.device != "" && t.port == "" && t.device[0] != '@' &&
		(len(s.roots) == 0 && a.Category == watchfloor.CategoryAvailability || s.roots[a.Rule])
	t.device = s.deviceOfTracked(t)
	// The manager's own view differing from ours (a restart, another writer) calls for a
	// reconcile too.
	return *t != was || a.SuppressedBy != s.applied[a.ID]
}

// deviceOfTracked resolves an address-named device through the graph.
func (s *Suppressor) deviceOfTracked(t *tracked) string {
	if len(t.device) > 0 && t.device[0] == '@' {
		if d := s.g.DeviceAt(t.device[1:]); d != "" {
			return d
		}
	}
	return t.device
}

// covers reports whether root r explains alert t.
func (s *Suppressor) covers(r, t *tracked) bool {
	switch {
	case r.id == t.id || t.device == "" || t.device[0] == '@':
		return false
	case t.device == r.device:
		return !t.isRoot // the dead device's other alerts
	case s.g.IsBehind(t.device, r.device):
		return true
	case t.port != "":
		return slices.Contains(s.facing(r.device), Port{t.device, t.port})
	}
	return false
}

// facing caches Graph.Facing for one reconcile.
func (s *Suppressor) facing(device string) []Port {
	if p, ok := s.facingCache[device]; ok {
		return p
	}
	p := s.g.Facing(device)
	s.facingCache[device] = p
	return p
}

// reconcileLocked computes the root each open alert should be suppressed by and makes the
// manager agree.
func (s *Suppressor) reconcileLocked() {
	s.facingCache = map[string][]Port{}
	var roots []*tracked
	for _, t := range s.open {
		if t.isRoot {
			roots = append(roots, t)
		}
	}
	// Topmost first, then oldest: the first root that covers an alert explains it.
	slices.SortFunc(roots, func(a, b *tracked) int {
		da, db := s.g.Depth(a.device), s.g.Depth(b.device)
		if da < 0 {
			da = int(^uint(0) >> 1)
		}
		if db < 0 {
			db = int(^uint(0) >> 1)
		}
		return cmp.Or(cmp.Compare(da, db), cmp.Compare(a.id, b.id))
	})
	want := make(map[uint64]uint64)
	if len(roots) > 0 {
		for _, t := range s.open {
			for _, r := range roots {
				if s.covers(r, t) {
					want[t.id] = r.id
					break
				}
			}
		}
	}
	// A root that is itself explained explains nothing (its children went to the top one,
	// which covers them too), so there are no chains and no cycles.
	for c, r := range want {
		if _, explained := want[r]; explained {
			top := r
			for range len(roots) {
				next, ok := want[top]
				if !ok {
					break
				}
				top = next
			}
			want[c] = top
		}
	}
	// Roots with a child that nothing explains any more: start them over (a child that
	// moves to another root is moved by Suppress itself).
	restart := map[uint64]bool{}
	for c, r := range s.applied {
		if _, ok := want[c]; !ok && s.open[r] != nil {
			restart[r] = true
		}
	}
	for r := range restart {
		s.m.Unsuppress(r)
		s.met.calls.Inc()
		for c, ar := range s.applied {
			if ar == r {
				delete(s.applied, c)
			}
		}
	}
	for c, r := range s.applied {
		if want[c] != r {
			delete(s.applied, c)
		}
	}
	add := map[uint64][]uint64{}
	for c, r := range want {
		if s.applied[c] != r {
			add[r] = append(add[r], c)
		}
	}
	for r, cs := range add {
		slices.Sort(cs)
		s.m.Suppress(r, cs)
		s.met.calls.Inc()
		for _, c := range cs {
			s.applied[c] = r
		}
	}
	s.met.suppressed.Set(float64(len(s.applied)))
	s.met.roots.Set(float64(len(roots)))
	s.facingCache = nil
}
