// Package alerts is the alert lifecycle: it turns the correlator's rule matches into alerts,
// deduplicated by rule and key, and keeps them through firing → acknowledged → resolved,
// with silences, flapping, topology suppression, history, and persistence in a Store.
//
// # Identity and lifecycle
//
// An alert's identity is its rule and key. While an alert of that identity is not resolved,
// more matches update it (Count, LastSeen, Evidence, Title and Description, and Severity when
// it rises) instead of starting another. A match that raises the severity of an acknowledged
// alert makes it fire again: the acknowledgement was for less. An alert is resolved by its
// quiet period (Tick), by its rule's recovery (Recover), or by an analyst (Resolve). A
// resolved alert stays resolved: the next match of its identity starts a new alert with a
// new ID, as in Alertmanager and PagerDuty — a new incident. There is no re-open window;
// an identity that keeps coming back is marked Flapping instead (Config.FlapCount).
//
// # Clocks
//
// Rule matches carry event time: StartedAt and LastSeen are the records' times, and Tick's
// now, which the engine gives, is compared with them for quiet periods and flapping, so a
// replay resolves alerts as the live run did. Analysts' actions and silences use the
// Manager's clock (wall time): AckedAt, UpdatedAt, history times of analysts, and whether
// a silence is active.
//
// # Persistence
//
// The Manager writes its changes to the Store itself, in batches: Run writes updates of
// open alerts (Count, LastSeen, Evidence) every FlushInterval, all the updates of one alert
// in that interval as one record, and new alerts, state changes and silence changes within a
// tenth of it. Ack, Resolve, AddSilence and DeleteSilence write before they return. A
// crash loses what was not yet written: at most FlushInterval of updates of open alerts, and
// alerts started in the last tenth of it. Those were never announced (subscribers hear of a
// change only once it is written), and the rule's next match starts them again. A restart
// never duplicates an alert: New loads the open alerts and continues them, and IDs continue
// from the store's highest. The ID of an alert lost that way may be given again after the
// restart: it was only ever visible through List.
//
// # Bounds
//
// At most Config.MaxOpen alerts are open; matches that would start more are dropped and
// counted. Evidence keeps the first 3 and the latest 7 records of each alert. Silences are
// bounded by Config.MaxSilences; flapping bookkeeping by four times MaxOpen identities.
package alerts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/watchfloor/watchfloor"
)

// Evidence kept per alert: the first evidenceFirst and the latest evidenceLast.
const (
	evidenceFirst = 3
	evidenceLast  = 7
	evidenceMax   = evidenceFirst + evidenceLast
	// maxPendingHistory bounds the transitions waiting for a write while the store fails.
	maxPendingHistory = 100_000
	// analyst is the resolved_total label of resolutions by people.
	analyst = "analyst"
)

type ident struct{ rule, key string }

// entry is one alert the Manager holds: open, or resolved and not yet written.
type entry struct {
	a            watchfloor.Alert
	resolveAfter time.Duration
	dirty        bool // changed since the last write
}

// flap is the recent alert starts of one identity, at most FlapCount+1, oldest first.
type flap struct{ starts []time.Time }

// Manager keeps the alerts. Its methods are safe for concurrent use.
type Manager struct {
	cfg   Config
	st    Store
	clock func() time.Time
	log   *slog.Logger
	m     *metrics

	mu       sync.Mutex
	nextID   uint64
	open     map[ident]*entry  // not resolved
	byID     map[uint64]*entry // open, and resolved ones not yet written
	dirty    []*entry
	history  []Transition
	silences map[string]*silence
	silDirty map[string]bool // changed (or deleted, when no longer in silences) since the last write
	silEdge  time.Time       // the next StartsAt or EndsAt of a silence; zero: none
	flaps    map[ident]*flap
	lastDrop time.Time // last log line about dropped alerts
	urgent   bool      // a change that should be written soon

	subMu sync.RWMutex
	subs  []func(watchfloor.Alert)

	flushMu sync.Mutex // one write at a time, in order
}

// New returns a Manager over st, continuing the open alerts and silences st holds. clock is
// the wall clock (nil: time.Now); log and reg may be nil.
func New(cfg Config, st Store, clock func() time.Time, log *slog.Logger, reg prometheus.Registerer) (*Manager, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		all := make([]error, len(errs))
		for i, e := range errs {
			all[i] = e
		}
		return nil, fmt.Errorf("alerts: invalid config: %w", errors.Join(all...))
	}
	if st == nil {
		return nil, errors.New("alerts: no store")
	}
	if clock == nil {
		clock = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Manager{
		cfg: cfg, st: st, clock: clock, log: log.With("component", "alerts"), m: newMetrics(),
		open:     make(map[ident]*entry),
		byID:     make(map[uint64]*entry),
		silences: make(map[string]*silence),
		silDirty: make(map[string]bool),
		flaps:    make(map[ident]*flap),
	}
	last, err := st.LastAlertID()
	if err != nil {
		return nil, fmt.Errorf("alerts: load: %w", err)
	}
	m.nextID = last + 1
	recs, err := st.OpenAlerts()
	if err != nil {
		return nil, fmt.Errorf("alerts: load open alerts: %w", err)
	}
	sils, err := st.Silences()
	if err != nil {
		return nil, fmt.Errorf("alerts: load silences: %w", err)
	}
	for _, s := range sils {
		c, err := compileSilence(s)
		if err != nil { // written by an older binary with laxer checks: keep it out, say so
			m.log.Warn("stored silence ignored", "id", s.ID, "err", err)
			continue
		}
		m.silences[s.ID] = c
	}
	now := clock()
	slices.SortFunc(recs, func(a, b Record) int { return cmpID(a.ID, b.ID) })
	for _, r := range recs {
		if r.State == watchfloor.AlertResolved || r.ID == 0 {
			continue
		}
		if r.ID >= m.nextID {
			m.nextID = r.ID + 1
		}
		e := &entry{a: r.Alert, resolveAfter: r.ResolveAfter}
		id := ident{r.Rule, r.Key}
		if old := m.open[id]; old != nil {
			// Two open alerts of one identity cannot be written by this Manager; if a
			// store has them, the newer one continues and the older is resolved.
			m.resolveLocked(old, now, BySystem, "duplicate of alert "+fmt.Sprint(r.ID)+" at start", BySystem)
		}
		m.open[id] = e
		m.byID[r.ID] = e
		m.noteStart(id, r.StartedAt)
	}
	m.refreshSilencesLocked(now, true)
	m.updateGauges()
	if err := m.m.register(reg); err != nil {
		return nil, fmt.Errorf("alerts: %w", err)
	}
	m.log.Info("alert manager started", "open", len(m.open), "silences", len(m.silences), "next_id", m.nextID)
	return m, nil
}

// brief is a copy of a without the slices the Manager changes in place (Evidence and
// Suppressed); it shares the others, which no one may change.
func brief(a *watchfloor.Alert) watchfloor.Alert {
	b := *a
	b.Evidence, b.Suppressed = nil, nil
	return b
}

// clone is a copy of a that shares nothing the Manager changes.
func clone(a *watchfloor.Alert) watchfloor.Alert {
	b := *a
	b.Evidence = slices.Clone(a.Evidence)
	b.Suppressed = slices.Clone(a.Suppressed)
	return b
}

func cmpID(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// markLocked records that e changed; urgent changes are written within a tenth of the flush
// interval, others within it.
func (m *Manager) markLocked(e *entry, urgent bool) {
	if !e.dirty {
		e.dirty = true
		m.dirty = append(m.dirty, e)
	}
	if urgent {
		m.urgent = true
	}
}

func (m *Manager) transitionLocked(e *entry, t time.Time, to watchfloor.AlertState, by, comment string) {
	if len(m.history) >= maxPendingHistory {
		m.m.dropped.WithLabelValues("history").Inc()
	} else {
		m.history = append(m.history, Transition{Alert: e.a.ID, Time: t, From: e.a.State, To: to, By: by, Comment: comment})
	}
	e.a.State = to
}

// Fire reports a match. It updates the open alert of the match's identity, or starts a new
// one, and returns the alert and whether it is new. The returned alert leaves out Evidence
// and Suppressed (Get has them), so that the common case allocates nothing. When MaxOpen
// alerts are open, a match that would start one more is dropped and Fire returns a zero
// Alert and false.
func (m *Manager) Fire(x Match) (watchfloor.Alert, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.m.matches.Inc()
	id := ident{x.Rule, x.Key}
	if e := m.open[id]; e != nil {
		m.updateLocked(e, &x)
		return brief(&e.a), false
	}
	if len(m.open) >= m.cfg.MaxOpen {
		m.m.dropped.WithLabelValues("max_open").Inc()
		if now := m.clock(); now.Sub(m.lastDrop) >= 10*time.Second {
			m.lastDrop = now
			m.log.Warn("too many open alerts, new alerts dropped", "max_open", m.cfg.MaxOpen, "rule", x.Rule, "key", x.Key)
		}
		return watchfloor.Alert{}, false
	}
	e := &entry{resolveAfter: x.ResolveAfter}
	a := &e.a
	*a = watchfloor.Alert{
		ID: m.nextID, Rule: x.Rule, RuleTitle: x.RuleTitle, Key: x.Key, Severity: x.Severity,
		Category: x.Category, Title: x.Title, Description: x.Description, Entity: x.Entity,
		Tags: slices.Clone(x.Tags), Techniques: slices.Clone(x.Techniques), Runbook: x.Runbook,
		Labels:    slices.Clone(x.Labels),
		StartedAt: x.Time, LastSeen: x.Time, UpdatedAt: m.clock(), Count: 1,
	}
	m.nextID++
	if x.Evidence != nil {
		a.Evidence = make([]watchfloor.Evidence, 1, 4)
		a.Evidence[0] = *x.Evidence
	}
	m.transitionLocked(e, x.Time, watchfloor.AlertFiring, ByRule, "")
	a.Flapping = m.noteStart(id, x.Time)
	m.silenceLocked(e, m.clock())
	m.open[id] = e
	m.byID[a.ID] = e
	m.markLocked(e, true)
	m.m.fired.Inc()
	m.m.firing.Inc()
	return brief(a), true
}

// updateLocked folds x into the open alert e.
func (m *Manager) updateLocked(e *entry, x *Match) {
	a := &e.a
	a.Count++
	if !x.Time.Before(a.LastSeen) { // the latest record tells the latest story
		a.LastSeen = x.Time
		if x.Title != "" {
			a.Title = x.Title
		}
		if x.Description != "" {
			a.Description = x.Description
		}
	}
	e.resolveAfter = x.ResolveAfter
	if x.Evidence != nil {
		if len(a.Evidence) < evidenceMax {
			a.Evidence = append(a.Evidence, *x.Evidence)
		} else {
			copy(a.Evidence[evidenceFirst:], a.Evidence[evidenceFirst+1:])
			a.Evidence[evidenceMax-1] = *x.Evidence
		}
	}
	urgent := false
	if x.Severity > a.Severity {
		from := a.Severity
		a.Severity = x.Severity
		urgent = true
		if a.State == watchfloor.AlertAcknowledged {
			m.transitionLocked(e, x.Time, watchfloor.AlertFiring, ByRule,
				"severity rose from "+from.String()+" to "+x.Severity.String())
			a.AckedBy, a.AckedAt = "", time.Time{}
			m.m.acked.Dec()
			m.m.firing.Inc()
		}
		m.silenceLocked(e, m.clock()) // a severity matcher may see it differently now
	}
	a.UpdatedAt = m.clock()
	m.markLocked(e, urgent)
}

// noteStart records a start of identity id at t and reports whether id is flapping.
func (m *Manager) noteStart(id ident, t time.Time) bool {
	f := m.flaps[id]
	if f == nil {
		if len(m.flaps) >= 4*m.cfg.MaxOpen {
			m.m.dropped.WithLabelValues("flap_state").Inc()
			return false
		}
		f = &flap{starts: make([]time.Time, 0, 2)}
		m.flaps[id] = f
	}
	if len(f.starts) > m.cfg.FlapCount {
		copy(f.starts, f.starts[1:])
		f.starts = f.starts[:len(f.starts)-1]
	}
	f.starts = append(f.starts, t)
	return len(f.starts) > m.cfg.FlapCount && t.Sub(f.starts[0]) <= m.cfg.FlapWindow
}

// Recover resolves the open alert of rule and key, if there is one: its recovery condition
// matched at t.
func (m *Manager) Recover(rule, key string, t time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.open[ident{rule, key}]; e != nil {
		m.resolveLocked(e, t, ByRecovery, "", ByRecovery)
	}
}

// resolveLocked resolves the open alert e at t. metric is the resolved_total label.
func (m *Manager) resolveLocked(e *entry, t time.Time, by, comment, metric string) {
	a := &e.a
	switch a.State {
	case watchfloor.AlertFiring:
		m.m.firing.Dec()
	case watchfloor.AlertAcknowledged:
		m.m.acked.Dec()
	}
	m.transitionLocked(e, t, watchfloor.AlertResolved, by, comment)
	a.ResolvedAt = t
	a.UpdatedAt = m.clock()
	if cur := m.open[ident{a.Rule, a.Key}]; cur == e {
		delete(m.open, ident{a.Rule, a.Key})
	}
	// What a resolved root cause explained is no longer explained by it; its list stays,
	// for the record.
	for _, c := range a.Suppressed {
		if ce := m.byID[c]; ce != nil && ce.a.State != watchfloor.AlertResolved && ce.a.SuppressedBy == a.ID {
			ce.a.SuppressedBy = 0
			ce.a.UpdatedAt = a.UpdatedAt
			m.markLocked(ce, true)
		}
	}
	m.markLocked(e, true)
	m.m.resolved.WithLabelValues(metric).Inc()
}

// Tick resolves the alerts whose quiet period has passed at now (event time, like the
// matches'), clears Flapping from alerts that have stayed open longer than FlapWindow,
// forgets old flapping bookkeeping, and applies silences that started or ended (by the
// Manager's clock).
func (m *Manager) Tick(now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.open {
		a := &e.a
		if e.resolveAfter > 0 && now.Sub(a.LastSeen) >= e.resolveAfter {
			m.resolveLocked(e, now, ByQuiet, "quiet for "+e.resolveAfter.String(), ByQuiet)
			continue
		}
		if a.Flapping && now.Sub(a.StartedAt) > m.cfg.FlapWindow {
			a.Flapping = false
			a.UpdatedAt = m.clock()
			m.markLocked(e, true)
		}
	}
	for id, f := range m.flaps {
		if now.Sub(f.starts[len(f.starts)-1]) > m.cfg.FlapWindow && m.open[id] == nil {
			delete(m.flaps, id)
		}
	}
	m.refreshSilencesLocked(m.clock(), false)
	m.updateGauges()
}

// updateGauges sets the gauges that are not kept incrementally.
func (m *Manager) updateGauges() {
	m.m.silences.Set(float64(len(m.silences)))
	var firing, acked int
	for _, e := range m.open {
		if e.a.State == watchfloor.AlertAcknowledged {
			acked++
		} else {
			firing++
		}
	}
	m.m.firing.Set(float64(firing))
	m.m.acked.Set(float64(acked))
}

// Ack acknowledges a firing alert and writes it before returning: the error is about that
// write then (the acknowledgement holds, and is written with the next write).
func (m *Manager) Ack(id uint64, who, comment string) error {
	if err := m.analystAction(id, who, comment, watchfloor.AlertAcknowledged); err != nil {
		return err
	}
	return m.Flush(context.Background())
}

// Resolve resolves a firing or acknowledged alert, as Ack writes.
func (m *Manager) Resolve(id uint64, who, comment string) error {
	if err := m.analystAction(id, who, comment, watchfloor.AlertResolved); err != nil {
		return err
	}
	return m.Flush(context.Background())
}

func (m *Manager) analystAction(id uint64, who, comment string, to watchfloor.AlertState) error {
	if len(who) > maxSilenceText || len(comment) > maxSilenceText {
		return fmt.Errorf("alerts: %w: who and comment have at most %d bytes", ErrInvalid, maxSilenceText)
	}
	m.mu.Lock()
	e := m.byID[id]
	if e == nil {
		m.mu.Unlock()
		_, ok, err := m.st.Alert(id)
		switch {
		case err != nil:
			return fmt.Errorf("alerts: alert %d: %w", id, err)
		case ok: // only resolved alerts are not held
			return fmt.Errorf("alerts: alert %d is resolved: %w", id, ErrState)
		}
		return fmt.Errorf("alerts: alert %d: %w", id, ErrNotFound)
	}
	defer m.mu.Unlock()
	now := m.clock()
	switch {
	case e.a.State == watchfloor.AlertResolved:
		return fmt.Errorf("alerts: alert %d is resolved: %w", id, ErrState)
	case to == watchfloor.AlertAcknowledged && e.a.State == watchfloor.AlertAcknowledged:
		return fmt.Errorf("alerts: alert %d is already acknowledged by %s: %w", id, e.a.AckedBy, ErrState)
	case to == watchfloor.AlertAcknowledged:
		m.transitionLocked(e, now, to, who, comment)
		e.a.AckedBy, e.a.AckedAt, e.a.UpdatedAt = who, now, now
		m.markLocked(e, true)
		m.m.firing.Dec()
		m.m.acked.Inc()
	default:
		m.resolveLocked(e, now, who, comment, analyst)
	}
	return nil
}

// Suppress records that root, a root-cause alert, explains children: each open child is
// marked SuppressedBy root (moving it from another root if need be), and root lists them.
// Unknown or resolved alerts are left out.
func (m *Manager) Suppress(root uint64, children []uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.byID[root]
	if r == nil || r.a.State == watchfloor.AlertResolved {
		return
	}
	now := m.clock()
	changed := false
	for _, c := range children {
		ce := m.byID[c]
		if c == root || ce == nil || ce.a.State == watchfloor.AlertResolved || ce.a.SuppressedBy == root {
			continue
		}
		if old := m.byID[ce.a.SuppressedBy]; old != nil {
			if i := slices.Index(old.a.Suppressed, c); i >= 0 {
				old.a.Suppressed = slices.Delete(old.a.Suppressed, i, i+1)
				old.a.UpdatedAt = now
				m.markLocked(old, true)
			}
		}
		ce.a.SuppressedBy = root
		ce.a.UpdatedAt = now
		m.markLocked(ce, true)
		if !slices.Contains(r.a.Suppressed, c) && len(r.a.Suppressed) < m.cfg.MaxOpen {
			r.a.Suppressed = append(r.a.Suppressed, c)
		}
		changed = true
	}
	if changed {
		r.a.UpdatedAt = now
		m.markLocked(r, true)
	}
}

// Unsuppress undoes Suppress for root: its open children are no longer suppressed, and its
// list is emptied.
func (m *Manager) Unsuppress(root uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.byID[root]
	if r == nil || len(r.a.Suppressed) == 0 {
		return
	}
	now := m.clock()
	for _, c := range r.a.Suppressed {
		if ce := m.byID[c]; ce != nil && ce.a.SuppressedBy == root {
			ce.a.SuppressedBy = 0
			ce.a.UpdatedAt = now
			m.markLocked(ce, true)
		}
	}
	r.a.Suppressed = nil
	r.a.UpdatedAt = now
	m.markLocked(r, true)
}

// Subscribe calls fn with every changed alert once the change is written (several changes
// of one alert within one write come as one call), in the order of the writes. fn runs in
// the writer: it must return quickly (queue, and drop with a count when full).
func (m *Manager) Subscribe(fn func(watchfloor.Alert)) {
	m.subMu.Lock()
	m.subs = append(m.subs, fn)
	m.subMu.Unlock()
}

// Get returns the alert id, from memory when it is open and from the store otherwise.
func (m *Manager) Get(id uint64) (watchfloor.Alert, bool, error) {
	m.mu.Lock()
	if e := m.byID[id]; e != nil {
		a := clone(&e.a)
		m.mu.Unlock()
		return a, true, nil
	}
	m.mu.Unlock()
	a, ok, err := m.st.Alert(id)
	if err != nil {
		return a, false, fmt.Errorf("alerts: alert %d: %w", id, err)
	}
	return a, ok, nil
}

// History returns the state changes of alert id, oldest first: those written, then those
// waiting for the next write.
func (m *Manager) History(id uint64) ([]Transition, error) {
	h, err := m.st.AlertHistory(id)
	if err != nil {
		return nil, fmt.Errorf("alerts: history of %d: %w", id, err)
	}
	m.mu.Lock()
	for _, t := range m.history {
		if t.Alert == id {
			h = append(h, t)
		}
	}
	m.mu.Unlock()
	return h, nil
}

// List returns the alerts q selects, newest (highest ID) first: the open ones from memory,
// the resolved ones from the store as well. A store that fails is logged, and List returns
// what memory has.
func (m *Manager) List(q Query) []watchfloor.Alert {
	limit := q.Max()
	m.mu.Lock()
	var out []watchfloor.Alert
	held := make(map[uint64]bool, len(m.byID))
	pendingResolved := 0
	for id, e := range m.byID {
		held[id] = true
		if e.a.State == watchfloor.AlertResolved {
			pendingResolved++
		}
		if (q.Before == 0 || id < q.Before) && q.Matches(&e.a) {
			out = append(out, clone(&e.a))
		}
	}
	m.mu.Unlock()
	if q.State == 0 && !q.Open || q.State == watchfloor.AlertResolved {
		// Every open alert is in memory, and the store may hold an older copy of one: ask it
		// only for resolved ones.
		sq := q
		sq.State = watchfloor.AlertResolved
		sq.Limit = limit + pendingResolved
		stored, err := m.st.Alerts(sq)
		if err != nil {
			m.log.Error("list alerts", "err", err)
		}
		for _, a := range stored {
			if !held[a.ID] {
				out = append(out, a)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID > out[j].ID })
	if len(out) > limit {
		out = out[:limit]
	}
	return out
}
