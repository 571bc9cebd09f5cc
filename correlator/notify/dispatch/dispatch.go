// Package dispatch runs the on-call pipeline: alert changes go into notify's Grouper, the
// pages it makes start escalations (oncall's Escalator), and every notification, grouped or
// escalated, goes through receiver's Deliverer, with each step made durable in a Store first.
//
// # Durability
//
// Step is the one place notifications are made. It asks the grouper and the escalator what is
// due, then saves in one transaction their state, the incidents, the new notifications (the
// outbox) and a "queued" log entry for each, and only then hands them to delivery. Each
// delivery attempt is logged as it happens; a finished one (delivered, failed for good,
// dropped) leaves the outbox. After a restart New restores the state, Reconcile brings it up
// to date with the alert manager, and Run re-sends what the outbox still holds. So a crash
// never loses a page that was due, and never makes a page twice, except a delivery cut off
// after the far end took it and before its result was saved: it is sent again with the same
// notification ID (receivers de-duplicate on it; PagerDuty on the dedup_key).
//
// # Incidents
//
// An incident is one life of a notification group, from its first firing page to its
// resolution. A route with an escalation policy starts the policy on that first page; the
// first acknowledgement of any alert of the group acknowledges the incident, stops the
// escalation and tells every receiver paged for it; the resolution goes to each of them too.
// A group that disappears unresolved (its alerts silenced, or folded under a root cause
// elsewhere) ends its incident and its escalation without a page.
package dispatch

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/correlator/notify"
	"github.com/watchfloor/watchfloor/correlator/notify/oncall"
	"github.com/watchfloor/watchfloor/correlator/notify/receiver"
)

// Config is what the dispatcher does.
type Config struct {
	Tree      *notify.Tree
	OnCall    oncall.Config
	Grouper   notify.GrouperConfig     // bounds and Link; zero fields take the defaults
	Deliverer receiver.DelivererConfig // zero: the defaults
	// AckLink makes the signed link that acknowledges alert id as by (a person or a
	// receiver's name); nil: notifications carry none.
	AckLink func(id uint64, by string, now time.Time) string
	// Interval is how often Run steps (default 1s); SaveEvery bounds how long alert changes
	// that made no notification wait before the state is saved anyway (default 10s).
	Interval  time.Duration
	SaveEvery time.Duration
	// MaxEscalations bounds escalations in progress (default 10000).
	MaxEscalations int
	// ShutdownGrace is how long Run waits, once stopped, for deliveries in progress
	// (default 5s); the rest stay in the outbox for the next start.
	ShutdownGrace time.Duration
}

// Deps are the dispatcher's collaborators.
type Deps struct {
	Store      Store
	Receivers  []notify.Receiver
	Log        *slog.Logger          // nil: discard
	Registerer prometheus.Registerer // nil: a private registry
	Now        func() time.Time      // nil: time.Now
	// Sleep and Jitter are the deliverer's backoff (tests script them); nil: real ones.
	Sleep  func(ctx context.Context, d time.Duration) error
	Jitter func() float64
}

// maxPendingAcks bounds the acknowledgements waiting for the next Step.
const maxPendingAcks = 100_000

// Dispatcher is the pipeline. Update and Reconcile may be called from any goroutine; Step is
// called by Run (or by a test with its own clock), one at a time.
type Dispatcher struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	m    metrics

	mu     sync.Mutex // guards acks and dirty
	acks   []watchfloor.Alert
	dirty  bool
	outbox []notify.Notification // loaded by New, sent by Run

	step     sync.Mutex // one Step at a time; guards the fields below
	grouper  *notify.Grouper
	esc      *oncall.Escalator
	tree     *notify.Tree
	people   map[string]oncall.Person
	st       state
	lastSave time.Time

	del *receiver.Deliverer

	pmu     sync.Mutex
	pending map[string]meta // notifications in delivery, by ID and receiver
}

// state is what Step persists.
type state struct {
	Version     int                            `json:"version"`
	Grouper     notify.GroupState              `json:"grouper"`
	Escalations oncall.State                   `json:"escalations"`
	Incidents   map[string]*Incident           `json:"incidents"` // open ones, by ID
	Groups      map[string]string              `json:"groups"`    // group key → its open incident's ID
	Last        map[string]notify.Notification `json:"last"`      // the last firing page of each group of an open incident
	Paged       map[string][]paged             `json:"paged"`     // who was paged about each such group
	Seq         uint64                         `json:"seq"`
}

const stateVersion = 1

// paged is a receiver (and the person, for a page through an escalation) told of an incident.
type paged struct {
	Receiver string         `json:"receiver"`
	Target   *notify.Target `json:"target,omitempty"`
}

// meta is what the log needs of a notification in delivery.
type meta struct {
	incident, groupKey, target, title string
	level                             int
	status                            notify.Status
	severity                          watchfloor.Severity
	alerts                            []uint64
}

type metrics struct {
	queued     *prometheus.CounterVec
	open       prometheus.Gauge
	saveErrors prometheus.Counter
	logErrors  prometheus.Counter
	acksLost   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (metrics, error) {
	m := metrics{
		queued: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "watchfloor_notify_notifications_total",
			Help: "Notifications handed to delivery, by receiver and status."}, []string{"receiver", "status"}),
		open: prometheus.NewGauge(prometheus.GaugeOpts{Name: "watchfloor_notify_incidents_open",
			Help: "Incidents paged and not yet resolved."}),
		saveErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "watchfloor_notify_state_save_errors_total",
			Help: "Failures to save the pipeline's state; the notifications were still sent."}),
		logErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "watchfloor_notify_log_errors_total",
			Help: "Delivery results that could not be written to the notification log."}),
		acksLost: prometheus.NewCounter(prometheus.CounterOpts{Name: "watchfloor_notify_acks_dropped_total",
			Help: "Acknowledgements not handled because too many were waiting."}),
	}
	for _, c := range []prometheus.Collector{m.queued, m.open, m.saveErrors, m.logErrors, m.acksLost} {
		if err := reg.Register(c); err != nil {
			return m, fmt.Errorf("dispatch: register metrics: %w", err)
		}
	}
	return m, nil
}

// New builds the dispatcher and restores what its store saved.
func New(cfg Config, deps Deps) (*Dispatcher, error) {
	if cfg.Tree == nil {
		return nil, errors.New("dispatch: no routing tree")
	}
	if deps.Store == nil {
		return nil, errors.New("dispatch: no store")
	}
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	if deps.Registerer == nil {
		deps.Registerer = prometheus.NewRegistry()
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.SaveEvery <= 0 {
		cfg.SaveEvery = 10 * time.Second
	}
	if cfg.ShutdownGrace <= 0 {
		cfg.ShutdownGrace = 5 * time.Second
	}
	if cfg.Deliverer == (receiver.DelivererConfig{}) {
		cfg.Deliverer = receiver.DefaultDelivererConfig()
	}
	gdef := notify.DefaultGrouperConfig()
	cfg.Grouper.MaxGroups = cmpOr(cfg.Grouper.MaxGroups, gdef.MaxGroups)
	cfg.Grouper.MaxAlerts = cmpOr(cfg.Grouper.MaxAlerts, gdef.MaxAlerts)
	cfg.Grouper.MaxListed = cmpOr(cfg.Grouper.MaxListed, gdef.MaxListed)
	cfg.Grouper.Now = deps.Now
	d := &Dispatcher{cfg: cfg, deps: deps, log: deps.Log.With("component", "notify.dispatch"),
		tree: cfg.Tree, pending: map[string]meta{}}
	var err error
	if d.m, err = newMetrics(deps.Registerer); err != nil {
		return nil, err
	}
	d.grouper = notify.NewGrouper(cfg.Tree, cfg.Grouper)
	if d.esc, err = oncall.NewEscalator(cfg.OnCall, oncall.Options{MaxActive: cfg.MaxEscalations, Logger: deps.Log, Registerer: deps.Registerer}); err != nil {
		return nil, err
	}
	d.people = people(cfg.OnCall)
	d.del, err = receiver.NewDeliverer(cfg.Deliverer, deps.Receivers, receiver.DelivererDeps{
		Log: deps.Log, Registerer: deps.Registerer, Record: d.record, Now: deps.Now, Sleep: deps.Sleep, Jitter: deps.Jitter})
	if err != nil {
		return nil, err
	}
	blob, outbox, err := deps.Store.LoadDispatch()
	if err != nil {
		return nil, fmt.Errorf("dispatch: load: %w", err)
	}
	d.st = state{Version: stateVersion}
	if blob != nil {
		if err := d.restore(blob); err != nil {
			return nil, err
		}
	}
	if d.st.Incidents == nil {
		d.st.Incidents = map[string]*Incident{}
	}
	if d.st.Groups == nil {
		d.st.Groups = map[string]string{}
	}
	if d.st.Last == nil {
		d.st.Last = map[string]notify.Notification{}
	}
	if d.st.Paged == nil {
		d.st.Paged = map[string][]paged{}
	}
	d.m.open.Set(float64(len(d.st.Incidents)))
	d.outbox = outbox
	return d, nil
}

func (d *Dispatcher) restore(blob []byte) error {
	var s state
	if err := json.Unmarshal(blob, &s); err != nil {
		return fmt.Errorf("dispatch: saved state: %w", err)
	}
	if s.Version != stateVersion {
		return fmt.Errorf("dispatch: saved state version %d, want %d", s.Version, stateVersion)
	}
	if err := d.grouper.Restore(s.Grouper); err != nil {
		return fmt.Errorf("dispatch: saved groups: %w", err)
	}
	if err := d.esc.Restore(s.Escalations); err != nil {
		// Escalations of policies no longer configured are dropped; the others are back.
		d.log.Warn("some saved escalations were not restored", "err", err)
	}
	d.st = s
	return nil
}

func people(c oncall.Config) map[string]oncall.Person {
	m := make(map[string]oncall.Person, len(c.People))
	for _, p := range c.People {
		m[p.Name] = p
	}
	return m
}

func cmpOr[T comparable](a, b T) T {
	var zero T
	if a != zero {
		return a
	}
	return b
}

// SetConfig switches to a reloaded routing tree and on-call configuration. Groups keep
// their routes' intervals until they end; escalations whose policy is gone end.
func (d *Dispatcher) SetConfig(tree *notify.Tree, oc oncall.Config) error {
	if tree == nil {
		return errors.New("dispatch: no routing tree")
	}
	esc, err := oncall.NewEscalator(oc, oncall.Options{MaxActive: d.cfg.MaxEscalations, Logger: d.deps.Log})
	if err != nil {
		return err
	}
	d.step.Lock()
	defer d.step.Unlock()
	if err := esc.Restore(d.esc.State()); err != nil {
		d.log.Warn("escalations ended by the new configuration", "err", err)
	}
	d.esc, d.tree, d.people = esc, tree, people(oc)
	d.grouper.SetTree(tree)
	return nil
}

// Update takes a new or changed alert: the alert manager's subscription.
func (d *Dispatcher) Update(a watchfloor.Alert) {
	d.grouper.Update(a)
	d.mu.Lock()
	d.dirty = true
	if a.State == watchfloor.AlertAcknowledged {
		if len(d.acks) < maxPendingAcks {
			d.acks = append(d.acks, a)
		} else {
			d.m.acksLost.Inc()
		}
	}
	d.mu.Unlock()
}

// Reconcile brings restored state up to date after a restart: every alert the saved groups
// hold is updated from lookup (one lookup no longer has is taken as resolved now), then
// every open alert is updated.
func (d *Dispatcher) Reconcile(lookup func(id uint64) (watchfloor.Alert, bool), open []watchfloor.Alert) {
	gs := d.grouper.State()
	saved := map[uint64]watchfloor.Alert{}
	for _, g := range gs.Groups {
		for _, a := range g.Alerts {
			saved[a.ID] = a
		}
	}
	for _, a := range gs.Suppressed {
		saved[a.ID] = a
	}
	now := d.deps.Now()
	for _, id := range d.grouper.Tracked() {
		a, ok := lookup(id)
		if !ok {
			a = saved[id]
			a.State, a.ResolvedAt = watchfloor.AlertResolved, now
		}
		d.Update(a)
	}
	for _, a := range open {
		d.Update(a)
	}
}

// Step makes the notifications due at now, saves them and hands them to delivery.
func (d *Dispatcher) Step(now time.Time) error {
	d.step.Lock()
	defer d.step.Unlock()
	d.mu.Lock()
	acks, dirty := d.acks, d.dirty
	d.acks, d.dirty = nil, false
	d.mu.Unlock()

	var out []notify.Notification
	touched := map[string]*Incident{} // by ID
	ended := map[string]bool{}        // groups whose incident part is over
	touch := func(inc *Incident) { touched[inc.ID] = inc }

	for _, n := range d.grouper.Tick(now) {
		key := n.GroupKey
		inc := d.incident(key)
		switch n.Status {
		case notify.StatusResolved:
			if inc != nil {
				ended[key] = true
				touch(inc)
				for _, p := range d.st.Paged[key] {
					if p.Receiver != n.Receiver || p.Target != nil {
						out = append(out, d.derived(n, p, notify.StatusResolved, now))
					}
				}
			}
		default:
			if inc == nil {
				inc = d.open(n, now)
			}
			inc.Severity = max(inc.Severity, n.Severity)
			touch(inc)
			d.st.Last[key] = n
		}
		d.signLink(&n, nil, now)
		out = append(out, n)
	}

	for _, a := range acks {
		for _, key := range d.grouper.Groups(a.ID) {
			inc := d.incident(key)
			if inc == nil || ended[key] || d.st.Last[key].Status == notify.StatusAcknowledged {
				continue
			}
			if inc.Acked.IsZero() {
				d.acknowledge(inc, a, now)
			}
			d.esc.Ack(key, a.AckedBy, now)
			touch(inc)
			last := d.st.Last[key]
			for _, p := range d.st.Paged[key] {
				out = append(out, d.derived(last, p, notify.StatusAcknowledged, now))
			}
			last.Status = notify.StatusAcknowledged // told once
			d.st.Last[key] = last
		}
	}

	for key := range d.st.Groups {
		if !ended[key] && !d.grouper.Has(key) { // silenced, or folded under a root elsewhere
			ended[key] = true
			touch(d.incident(key))
			d.log.Info("group ended without a resolution page: its alerts left it", "incident", d.st.Groups[key], "group", key)
		}
	}
	for key := range ended {
		d.esc.Resolve(key, now)
	}

	var entries []LogEntry
	for _, p := range d.esc.Tick(now) {
		inc, last := d.incident(p.Key), d.st.Last[p.Key]
		if inc == nil || ended[p.Key] {
			continue
		}
		touch(inc)
		if p.Level > 0 || p.Pass > 0 {
			inc.Escalations++
		}
		if p.Unstaffed {
			entries = append(entries, LogEntry{Time: now, Incident: inc.ID, GroupKey: p.Key, Target: p.Target,
				Level: p.Level, Status: notify.StatusFiring, Severity: inc.Severity, Title: inc.Title,
				Result: ResultDropped, Err: "nobody is on call in " + p.Target})
			continue
		}
		if p.Receiver != "" {
			out = append(out, d.escalated(last, paged{Receiver: p.Receiver}, p.Level, now))
			continue
		}
		person := d.people[p.Person.Name]
		t := &notify.Target{Name: person.Name, Email: person.Email, Phone: person.Phone}
		for _, r := range person.Receivers {
			out = append(out, d.escalated(last, paged{Receiver: r, Target: t}, p.Level, now))
		}
	}

	metas := make([]meta, len(out))
	for i, n := range out {
		if inc := d.incident(n.GroupKey); inc != nil {
			inc.Pages++
			touch(inc)
			if n.Status == notify.StatusFiring {
				d.addPaged(n.GroupKey, paged{Receiver: n.Receiver, Target: n.Target})
			}
		}
		metas[i] = d.metaOf(n)
		entries = append(entries, metas[i].entry(n, ResultQueued, now))
	}
	// A group's part ends; an incident ends with its last group.
	for key := range ended {
		delete(d.st.Groups, key)
		delete(d.st.Last, key)
		delete(d.st.Paged, key)
	}
	live := map[string]bool{}
	for _, id := range d.st.Groups {
		live[id] = true
	}
	incidents := make([]Incident, 0, len(touched))
	for id, inc := range touched {
		if !live[id] {
			inc.Resolved = now
			delete(d.st.Incidents, id)
		}
		incidents = append(incidents, *inc)
	}
	slices.SortFunc(incidents, func(a, b Incident) int { return strings.Compare(a.ID, b.ID) })
	d.m.open.Set(float64(len(d.st.Incidents)))

	// The escalator changes only with an incident (started, acknowledged, resolved, paged),
	// so incidents and entries cover its state too.
	var err error
	if len(incidents) > 0 || len(entries) > 0 || dirty && now.Sub(d.lastSave) >= d.cfg.SaveEvery {
		err = d.save(out, incidents, entries, now)
	} else if dirty {
		d.mu.Lock()
		d.dirty = true // not saved yet: keep it for a later Step
		d.mu.Unlock()
	}
	for i, n := range out {
		d.enqueue(n, metas[i])
	}
	return err
}

// incident is the open incident of a group, or nil.
func (d *Dispatcher) incident(key string) *Incident {
	if id, ok := d.st.Groups[key]; ok {
		return d.st.Incidents[id]
	}
	return nil
}

// open joins a group's first firing page to the open incident of the same root cause (its
// first alert: the groups of several routes about one problem are one incident), or starts
// one; and starts the route's escalation.
func (d *Dispatcher) open(n notify.Notification, now time.Time) *Incident {
	var inc *Incident
	if len(n.Alerts) > 0 {
		for _, i := range d.st.Incidents {
			if len(i.Alerts) > 0 && i.Alerts[0] == n.Alerts[0].ID {
				inc = i
				break
			}
		}
	}
	if inc != nil {
		inc.Groups = append(inc.Groups, n.GroupKey)
		d.st.Groups[n.GroupKey] = inc.ID
		return d.escalate(inc, n, now)
	}
	inc = &Incident{
		ID:     IncidentID(now, n.GroupKey),
		Groups: []string{n.GroupKey}, Title: n.Title, Severity: n.Severity, Opened: now,
	}
	for _, a := range n.Alerts[:min(len(n.Alerts), MaxLoggedAlerts)] {
		inc.Alerts = append(inc.Alerts, a.ID)
	}
	d.st.Incidents[inc.ID] = inc
	d.st.Groups[n.GroupKey] = inc.ID
	return d.escalate(inc, n, now)
}

// escalate starts the escalation of the route of a group's first page, if it has one.
func (d *Dispatcher) escalate(inc *Incident, n notify.Notification, now time.Time) *Incident {
	r := d.tree.Route(notify.RouteOf(n.GroupKey))
	if r == nil || r.Escalation == "" {
		return inc
	}
	inc.Policy = r.Escalation
	for _, a := range n.Alerts {
		if a.State == watchfloor.AlertAcknowledged { // acknowledged before its first page
			if inc.Acked.IsZero() {
				d.acknowledge(inc, a, now)
			}
			return inc
		}
	}
	if err := d.esc.Start(n.GroupKey, r.Escalation, now); err != nil {
		d.log.Error("escalation not started", "incident", inc.ID, "policy", r.Escalation, "err", err)
	}
	return inc
}

func (d *Dispatcher) acknowledge(inc *Incident, a watchfloor.Alert, now time.Time) {
	inc.Acked, inc.AckedBy = now, a.AckedBy
	if !a.AckedAt.IsZero() && a.AckedAt.Before(now) && !a.AckedAt.Before(inc.Opened) {
		inc.Acked = a.AckedAt
	}
}

func (d *Dispatcher) addPaged(key string, p paged) {
	for _, q := range d.st.Paged[key] {
		if q.Receiver == p.Receiver && targetName(q.Target) == targetName(p.Target) {
			return
		}
	}
	d.st.Paged[key] = append(d.st.Paged[key], p)
}

// derived is a notification of a group's new status for one who was paged about it.
func (d *Dispatcher) derived(base notify.Notification, p paged, st notify.Status, now time.Time) notify.Notification {
	n := base
	n.ID = d.nextID(base.GroupKey)
	n.Receiver, n.Target, n.Status, n.Time, n.AckLink = p.Receiver, p.Target, st, now, ""
	return n
}

// escalated is an escalation level's page to p.
func (d *Dispatcher) escalated(base notify.Notification, p paged, level int, now time.Time) notify.Notification {
	n := d.derived(base, p, notify.StatusFiring, now)
	n.Level = level
	d.signLink(&n, p.Target, now)
	return n
}

func (d *Dispatcher) signLink(n *notify.Notification, t *notify.Target, now time.Time) {
	if d.cfg.AckLink == nil || n.Status != notify.StatusFiring || len(n.Alerts) == 0 {
		return
	}
	by := n.Receiver
	if t != nil {
		by = t.Name
	}
	n.AckLink = d.cfg.AckLink(n.Alerts[0].ID, by, now)
}

func (d *Dispatcher) nextID(key string) string {
	d.st.Seq++
	h := sha256.Sum256([]byte(key))
	return fmt.Sprintf("%x-d%d", h[:8], d.st.Seq)
}

func (m meta) entry(n notify.Notification, r Result, now time.Time) LogEntry {
	return LogEntry{Time: now, NotificationID: n.ID, Incident: m.incident, GroupKey: n.GroupKey, Receiver: n.Receiver,
		Target: m.target, Level: m.level, Status: m.status, Severity: m.severity, Title: m.title, Alerts: m.alerts, Result: r}
}

func (d *Dispatcher) metaOf(n notify.Notification) meta {
	m := meta{groupKey: n.GroupKey, target: targetName(n.Target), title: n.Title, level: n.Level, status: n.Status, severity: n.Severity}
	if inc := d.incident(n.GroupKey); inc != nil {
		m.incident = inc.ID
	}
	for _, a := range n.Alerts[:min(len(n.Alerts), MaxLoggedAlerts)] {
		m.alerts = append(m.alerts, a.ID)
	}
	return m
}

func targetName(t *notify.Target) string {
	if t == nil {
		return ""
	}
	return t.Name
}

func (d *Dispatcher) save(out []notify.Notification, incidents []Incident, entries []LogEntry, now time.Time) error {
	d.st.Grouper = d.grouper.State()
	d.st.Escalations = d.esc.State()
	blob, err := json.Marshal(&d.st)
	if err == nil {
		err = d.deps.Store.SaveDispatch(blob, out, incidents, entries)
	}
	if err != nil {
		d.m.saveErrors.Inc()
		d.log.Error("pipeline state not saved; sending anyway", "notifications", len(out), "err", err)
		d.mu.Lock()
		d.dirty = true
		d.mu.Unlock()
		return err
	}
	d.lastSave = now
	return nil
}

func (d *Dispatcher) enqueue(n notify.Notification, m meta) {
	d.pmu.Lock()
	d.pending[n.ID+"\x00"+n.Receiver] = m
	d.pmu.Unlock()
	d.m.queued.WithLabelValues(n.Receiver, string(n.Status)).Inc()
	if err := d.del.Enqueue(n); err != nil && !errors.Is(err, receiver.ErrQueueFull) {
		// An unknown receiver (a reload removed it): record it as dropped, out of the outbox.
		d.record(receiver.Delivery{NotificationID: n.ID, GroupKey: n.GroupKey, Receiver: n.Receiver,
			Time: d.deps.Now(), Err: err.Error(), Done: true})
	}
}

// record is the deliverer's Record: one attempt's result into the log.
func (d *Dispatcher) record(x receiver.Delivery) {
	k := x.NotificationID + "\x00" + x.Receiver
	d.pmu.Lock()
	m := d.pending[k]
	if x.Done {
		delete(d.pending, k)
	}
	d.pmu.Unlock()
	e := LogEntry{Time: x.Time, NotificationID: x.NotificationID, Incident: m.incident, GroupKey: x.GroupKey,
		Receiver: x.Receiver, Target: m.target, Level: m.level, Status: m.status, Severity: m.severity,
		Title: m.title, Alerts: m.alerts, Attempt: x.Attempt, Err: x.Err}
	switch {
	case x.Done && x.Err == "":
		e.Result = ResultDelivered
	case x.Done && x.Attempt == 0:
		e.Result = ResultDropped
	case x.Done:
		e.Result = ResultFailed
	default:
		e.Result = ResultRetry
	}
	if err := d.deps.Store.RecordDelivery(e, x.Done); err != nil {
		d.m.logErrors.Inc()
		d.log.Error("delivery result not logged", "notification", x.NotificationID, "receiver", x.Receiver, "err", err)
	}
}

// Run delivers, re-sending the outbox New loaded, and steps every Interval until ctx ends.
// Then it saves the state, waits up to ShutdownGrace for deliveries in progress, and stops;
// what is left stays in the outbox.
func (d *Dispatcher) Run(ctx context.Context) error {
	dctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.del.Run(dctx)
	}()
	d.mu.Lock()
	outbox := d.outbox
	d.outbox = nil
	d.mu.Unlock()
	if len(outbox) > 0 {
		d.log.Info("re-sending notifications left from before the restart", "notifications", len(outbox))
	}
	for _, n := range outbox {
		d.step.Lock()
		m := d.metaOf(n)
		d.step.Unlock()
		d.enqueue(n, m)
	}
	t := time.NewTicker(d.cfg.Interval)
	defer t.Stop()
	for running := true; running; {
		select {
		case <-t.C:
		case <-ctx.Done():
			running = false
		}
		d.Step(d.deps.Now())
	}
	d.step.Lock()
	if err := d.save(nil, nil, nil, d.deps.Now()); err != nil {
		d.log.Error("state not saved at shutdown", "err", err)
	}
	d.step.Unlock()
	grace := time.NewTimer(d.cfg.ShutdownGrace)
	defer grace.Stop()
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	for !d.del.Idle() {
		select {
		case <-grace.C:
			d.log.Warn("deliveries still in progress at shutdown; they stay in the outbox")
			stop()
			<-done
			return nil
		case <-poll.C:
		}
	}
	stop()
	<-done
	return nil
}
