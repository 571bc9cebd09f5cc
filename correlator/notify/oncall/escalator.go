package oncall

import (
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Page is one page due: a level of an escalation reached one target.
type Page struct {
	Key      string    `json:"key"`      // the group key (the incident)
	Policy   string    `json:"policy"`   //
	Level    int       `json:"level"`    // index in the policy's levels
	Pass     int       `json:"pass"`     // 0 for the first pass, then one per repeat
	Target   string    `json:"target"`   // as configured: "schedule:noc-primary"
	Person   *Person   `json:"person"`   // who is paged (a person or schedule target), nil for a receiver
	Receiver string    `json:"receiver"` // the receiver target's name, empty otherwise
	Due      time.Time `json:"due"`      // when the level fell due
	// Unstaffed is set when a schedule target had nobody on call: the page reaches nobody and
	// is returned (and counted) so that it is logged, not lost.
	Unstaffed bool `json:"unstaffed,omitempty"`
}

// Options are the Escalator's dependencies and bounds.
type Options struct {
	MaxActive  int // escalations tracked at once; 0: 10000
	Logger     *slog.Logger
	Registerer prometheus.Registerer // nil: no metrics registered
}

// Errors of Start and Restore.
var (
	ErrFull          = errors.New("oncall: too many active escalations")
	ErrUnknownPolicy = errors.New("oncall: unknown escalation policy")
)

// Escalator tracks the escalations in progress, one per group key, and tells on Tick which
// pages are due. It holds no clock: every call takes the current time, so tests script it.
// It is safe for concurrent use.
type Escalator struct {
	mu        sync.Mutex
	people    map[string]Person
	schedules map[string]*Schedule
	policies  map[string]*Policy
	active    map[string]*EscalationState
	max       int
	log       *slog.Logger
	m         metrics
}

// EscalationState is one escalation in progress: the next step to page (level +
// pass×len(levels)) and when it falls due.
type EscalationState struct {
	Key    string    `json:"key"`
	Policy string    `json:"policy"`
	Start  time.Time `json:"start"`
	Step   int       `json:"step"`
	Due    time.Time `json:"due"`
}

type metrics struct {
	active    prometheus.Gauge
	started   prometheus.Counter
	rejected  prometheus.Counter
	acked     prometheus.Counter
	resolved  prometheus.Counter
	exhausted prometheus.Counter
	pages     *prometheus.CounterVec
	unstaffed prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) metrics {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: "watchfloor_oncall_" + name, Help: help})
	}
	m := metrics{
		active:    prometheus.NewGauge(prometheus.GaugeOpts{Name: "watchfloor_oncall_escalations_active", Help: "Escalations in progress."}),
		started:   c("escalations_started_total", "Escalations started."),
		rejected:  c("escalations_rejected_total", "Escalations not started because the cap on active ones was reached."),
		acked:     c("escalations_acknowledged_total", "Escalations stopped by an acknowledgement."),
		resolved:  c("escalations_resolved_total", "Escalations stopped by a resolution."),
		exhausted: c("escalations_exhausted_total", "Escalations that paged every level of every pass unacknowledged."),
		pages:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "watchfloor_oncall_pages_total", Help: "Pages due, by target kind."}, []string{"kind"}),
		unstaffed: c("unstaffed_pages_total", "Pages to a schedule with nobody on call."),
	}
	if reg != nil {
		reg.MustRegister(m.active, m.started, m.rejected, m.acked, m.resolved, m.exhausted, m.pages, m.unstaffed)
	}
	return m
}

// NewEscalator returns an escalator for cfg, which must be valid.
func NewEscalator(cfg Config, opts Options) (*Escalator, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, errs[0])
	}
	if opts.MaxActive <= 0 {
		opts.MaxActive = 10000
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	e := &Escalator{
		people:    map[string]Person{},
		schedules: map[string]*Schedule{},
		policies:  map[string]*Policy{},
		active:    map[string]*EscalationState{},
		max:       opts.MaxActive,
		log:       opts.Logger.With("component", "oncall"),
		m:         newMetrics(opts.Registerer),
	}
	for _, p := range cfg.People {
		e.people[p.Name] = p
	}
	for i := range cfg.Schedules {
		e.schedules[cfg.Schedules[i].Name] = &cfg.Schedules[i]
	}
	for i := range cfg.Policies {
		e.policies[cfg.Policies[i].Name] = &cfg.Policies[i]
	}
	return e, nil
}

// Start begins escalating key along policy at now; its first level falls due after that
// level's delay. Starting a key already escalating does nothing (a re-fired group does not
// restart its escalation).
func (e *Escalator) Start(key, policy string, now time.Time) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	p, ok := e.policies[policy]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownPolicy, policy)
	}
	if _, ok := e.active[key]; ok {
		return nil
	}
	if len(e.active) >= e.max {
		e.m.rejected.Inc()
		return ErrFull
	}
	e.active[key] = &EscalationState{Key: key, Policy: policy, Start: now, Due: now.Add(p.Levels[0].Delay)}
	e.m.started.Inc()
	e.m.active.Set(float64(len(e.active)))
	return nil
}

// Ack stops the escalation of key; who acknowledged is logged. It reports whether one was in
// progress.
func (e *Escalator) Ack(key, who string, now time.Time) bool {
	if e.stop(key) {
		e.m.acked.Inc()
		e.log.Info("escalation acknowledged", "key", key, "by", who, "at", now)
		return true
	}
	return false
}

// Resolve stops the escalation of key because its incident is resolved. It reports whether
// one was in progress.
func (e *Escalator) Resolve(key string, now time.Time) bool {
	if e.stop(key) {
		e.m.resolved.Inc()
		e.log.Info("escalation resolved", "key", key, "at", now)
		return true
	}
	return false
}

func (e *Escalator) stop(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.active[key]; !ok {
		return false
	}
	delete(e.active, key)
	e.m.active.Set(float64(len(e.active)))
	return true
}

// Active reports whether key is escalating.
func (e *Escalator) Active(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	_, ok := e.active[key]
	return ok
}

// Next returns when the earliest pending level falls due, for the caller's timer; ok is false
// when nothing is escalating.
func (e *Escalator) Next() (due time.Time, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, x := range e.active {
		if !ok || x.Due.Before(due) {
			due, ok = x.Due, true
		}
	}
	return due, ok
}

// Tick returns the pages due at now, each level at most once, and advances the escalations
// past them. Schedule targets resolve to whoever is on call at now. Pages come ordered by
// due time, then key, then level. An escalation that paged its last level of its last pass
// ends.
func (e *Escalator) Tick(now time.Time) []Page {
	e.mu.Lock()
	defer e.mu.Unlock()
	var pages []Page
	for key, x := range e.active {
		p := e.policies[x.Policy]
		n := len(p.Levels)
		total := n * (p.Repeat + 1)
		for x.Step < total && !x.Due.After(now) {
			level, pass := x.Step%n, x.Step/n
			for _, t := range p.Levels[level].Targets {
				pages = append(pages, e.page(x, t, level, pass, now))
			}
			x.Step++
			switch {
			case x.Step == total:
			case x.Step%n == 0:
				x.Due = x.Due.Add(p.RepeatAfter + p.Levels[0].Delay)
			default:
				x.Due = x.Due.Add(p.Levels[x.Step%n].Delay)
			}
		}
		if x.Step >= total {
			delete(e.active, key)
			e.m.exhausted.Inc()
		}
	}
	e.m.active.Set(float64(len(e.active)))
	sort.SliceStable(pages, func(i, j int) bool {
		a, b := pages[i], pages[j]
		if !a.Due.Equal(b.Due) {
			return a.Due.Before(b.Due)
		}
		if a.Key != b.Key {
			return a.Key < b.Key
		}
		return a.Pass*1000+a.Level < b.Pass*1000+b.Level
	})
	return pages
}

func (e *Escalator) page(x *EscalationState, target string, level, pass int, now time.Time) Page {
	pg := Page{Key: x.Key, Policy: x.Policy, Level: level, Pass: pass, Target: target, Due: x.Due}
	kind, name, _ := ParseTarget(target) // validated
	e.m.pages.WithLabelValues(kind).Inc()
	switch kind {
	case KindPerson:
		p := e.people[name]
		pg.Person = &p
	case KindSchedule:
		if who, ok := e.schedules[name].OnCall(now); ok {
			p := e.people[who]
			pg.Person = &p
		} else {
			pg.Unstaffed = true
			e.m.unstaffed.Inc()
			e.log.Warn("nobody on call", "schedule", name, "key", x.Key, "level", level)
		}
	case KindReceiver:
		pg.Receiver = name
	}
	return pg
}

// State is a serialisable snapshot of the escalations in progress (JSON or YAML).
type State struct {
	Escalations []EscalationState `json:"escalations"`
}

// State returns a snapshot to persist. Persist it after Tick and before delivering the pages
// it returned: a restart then never pages a level twice (a crash between the two loses those
// pages only if delivery did not happen, which the notification log shows).
func (e *Escalator) State() State {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := State{Escalations: make([]EscalationState, 0, len(e.active))}
	for _, x := range e.active {
		s.Escalations = append(s.Escalations, *x)
	}
	sort.Slice(s.Escalations, func(i, j int) bool { return s.Escalations[i].Key < s.Escalations[j].Key })
	return s
}

// Restore replaces the escalations in progress with s. Entries naming a policy no longer
// configured, or a step beyond its policy, are skipped and reported in the error (the others
// are restored); entries beyond MaxActive are skipped and counted as rejected.
func (e *Escalator) Restore(s State) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.active = make(map[string]*EscalationState, len(s.Escalations))
	var errs []error
	for _, x := range s.Escalations {
		p, ok := e.policies[x.Policy]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%w %q (key %q)", ErrUnknownPolicy, x.Policy, x.Key))
			continue
		case x.Step < 0 || x.Step >= len(p.Levels)*(p.Repeat+1):
			errs = append(errs, fmt.Errorf("oncall: key %q: step %d out of range for policy %q", x.Key, x.Step, x.Policy))
			continue
		case len(e.active) >= e.max:
			e.m.rejected.Inc()
			errs = append(errs, fmt.Errorf("%w (key %q)", ErrFull, x.Key))
			continue
		}
		x := x
		e.active[x.Key] = &x
	}
	e.m.active.Set(float64(len(e.active)))
	return errors.Join(errs...)
}
