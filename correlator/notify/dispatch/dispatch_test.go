package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/correlator/notify"
	"github.com/watchfloor/watchfloor/correlator/notify/oncall"
	"github.com/watchfloor/watchfloor/correlator/notify/receiver"
)

// memStore is a Store in memory whose writes go through JSON like the real one's. After
// crash it ignores every write: the process died, what was saved is what a restart finds.
type memStore struct {
	mu        sync.Mutex
	state     []byte
	outbox    map[string][]byte
	incidents map[string]Incident
	log       []LogEntry
	crashed   bool
	saveErr   error
}

func newMemStore() *memStore {
	return &memStore{outbox: map[string][]byte{}, incidents: map[string]Incident{}}
}

func (s *memStore) LoadDispatch() ([]byte, []notify.Notification, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []notify.Notification
	for _, b := range s.outbox {
		var n notify.Notification
		if err := json.Unmarshal(b, &n); err != nil {
			return nil, nil, err
		}
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b notify.Notification) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return strings.Compare(a.ID+a.Receiver, b.ID+b.Receiver)
	})
	return slices.Clone(s.state), out, nil
}

func (s *memStore) SaveDispatch(state []byte, outbox []notify.Notification, incidents []Incident, log []LogEntry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.crashed {
		return nil
	}
	if s.saveErr != nil {
		return s.saveErr
	}
	if state != nil {
		s.state = slices.Clone(state)
	}
	for _, n := range outbox {
		b, err := json.Marshal(n)
		if err != nil {
			return err
		}
		s.outbox[n.ID+"\x00"+n.Receiver] = b
	}
	for _, i := range incidents {
		s.incidents[i.ID] = i
	}
	s.log = append(s.log, log...)
	return nil
}

func (s *memStore) RecordDelivery(e LogEntry, done bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.crashed {
		return nil
	}
	s.log = append(s.log, e)
	if done {
		delete(s.outbox, e.NotificationID+"\x00"+e.Receiver)
	}
	return nil
}

func (s *memStore) crash() {
	s.mu.Lock()
	s.crashed = true
	s.mu.Unlock()
}

// restarted is the store as the next process finds it.
func (s *memStore) restarted() *memStore {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := &memStore{state: slices.Clone(s.state), outbox: map[string][]byte{}, incidents: map[string]Incident{}, log: slices.Clone(s.log)}
	for k, v := range s.outbox {
		c.outbox[k] = v
	}
	for k, v := range s.incidents {
		c.incidents[k] = v
	}
	return c
}

func (s *memStore) entries(receiver string, r Result) []LogEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []LogEntry
	for _, e := range s.log {
		if (receiver == "" || e.Receiver == receiver) && (r == "" || e.Result == r) {
			out = append(out, e)
		}
	}
	return out
}

// sink is what the far ends received, over all receivers and restarts.
type sink struct {
	mu  sync.Mutex
	got []notify.Notification
}

func (s *sink) add(n notify.Notification) {
	s.mu.Lock()
	s.got = append(s.got, n)
	s.mu.Unlock()
}

func (s *sink) to(receiver string) []notify.Notification {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []notify.Notification
	for _, n := range s.got {
		if n.Receiver == receiver {
			out = append(out, n)
		}
	}
	return out
}

func (s *sink) all() []notify.Notification {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.got)
}

// fake is a receiver; send (nil: accept) decides each attempt.
type fake struct {
	name string
	sink *sink
	send func(ctx context.Context, n notify.Notification) error
}

func (f *fake) Name() string { return f.name }

func (f *fake) Send(ctx context.Context, n notify.Notification) error {
	if f.send != nil {
		if err := f.send(ctx, n); err != nil {
			return err
		}
	}
	f.sink.add(n)
	return nil
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// Monday 2025-06-09 08:58:00 UTC: ann is on call until the 09:00 handoff, bob after it.
var t0 = time.Date(2025, 6, 9, 8, 58, 0, 0, time.UTC)

const routing = `
route:
  receiver: chat
  group_by: [site, rule]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
  routes:
    - matchers: ["severity=critical"]
      receiver: pager
      escalation: noc
      continue: true
`

var onCall = oncall.Config{
	People: []oncall.Person{
		{Name: "ann", Email: "ann@city.example", Receivers: []string{"mail"}},
		{Name: "bob", Email: "bob@city.example", Receivers: []string{"mail"}},
		{Name: "cem", Email: "cem@city.example", Receivers: []string{"mail"}},
		{Name: "dan", Email: "dan@city.example", Receivers: []string{"mail", "pager"}},
	},
	Schedules: []oncall.Schedule{{
		Name:      "primary",
		Layers:    []oncall.Rotation{{Name: "daily", Members: []string{"ann", "bob"}, Start: time.Date(2025, 6, 2, 9, 0, 0, 0, time.UTC), Length: 24 * time.Hour, Handoff: "09:00", Location: "UTC"}},
		Overrides: []oncall.Override{{Person: "cem", Start: time.Date(2025, 6, 9, 10, 0, 0, 0, time.UTC), End: time.Date(2025, 6, 9, 11, 0, 0, 0, time.UTC)}},
	}},
	Policies: []oncall.Policy{{Name: "noc", Levels: []oncall.Level{
		{Delay: 0, Targets: []string{"schedule:primary"}},
		{Delay: 15 * time.Minute, Targets: []string{"person:dan"}},
	}}},
}

type env struct {
	t      *testing.T
	store  *memStore
	sink   *sink
	clock  *clock
	d      *Dispatcher
	cancel context.CancelFunc
	done   chan struct{}
	recv   map[string]*fake
}

type opts struct {
	send      map[string]func(ctx context.Context, n notify.Notification) error
	deliverer receiver.DelivererConfig
}

func start(t *testing.T, store *memStore, s *sink, c *clock, o opts) *env {
	t.Helper()
	cfg, errs := notify.ParseRouting("routing.yaml", []byte(routing), []string{"chat", "pager", "mail"}, []string{"noc"})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	tree, err := notify.NewTree(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, store: store, sink: s, clock: c, recv: map[string]*fake{}, done: make(chan struct{})}
	var rs []notify.Receiver
	for _, name := range []string{"chat", "pager", "mail"} {
		f := &fake{name: name, sink: s, send: o.send[name]}
		e.recv[name] = f
		rs = append(rs, f)
	}
	dc := o.deliverer
	if dc == (receiver.DelivererConfig{}) {
		dc = receiver.DelivererConfig{QueueSize: 1000, MaxAttempts: 3, InitialBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond, AttemptTimeout: 2 * time.Second}
	}
	e.d, err = New(Config{Tree: tree, OnCall: onCall, Deliverer: dc, Interval: time.Hour, ShutdownGrace: 2 * time.Second,
		AckLink: func(id uint64, by string, _ time.Time) string {
			return fmt.Sprintf("https://wall/ack/%d?by=%s", id, by)
		}},
		Deps{Store: store, Receivers: rs, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	go func() {
		defer close(e.done)
		e.d.Run(ctx)
	}()
	t.Cleanup(e.stop)
	return e
}

func (e *env) stop() {
	e.cancel()
	<-e.done
}

// advance steps the dispatcher each second up to and including to.
func (e *env) advance(to time.Time) {
	for t := e.clock.now(); !t.After(to); t = t.Add(time.Second) {
		e.clock.set(t)
		e.d.Step(t)
	}
	e.clock.set(to)
}

// wait waits until cond holds, for deliveries that run on their own goroutines.
func (e *env) wait(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s; received %s", what, describe(e.sink.all()))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func describe(ns []notify.Notification) string {
	var b strings.Builder
	for _, n := range ns {
		fmt.Fprintf(&b, "\n  %s %s %s target=%s level=%d %q (%d alerts)", n.Receiver, n.Status, n.GroupKey, targetName(n.Target), n.Level, n.Title, len(n.Alerts))
	}
	return b.String()
}

// alertsDB plays the alert manager: the alerts as it stores them.
type alertsDB struct {
	mu sync.Mutex
	m  map[uint64]watchfloor.Alert
}

func (db *alertsDB) put(d *Dispatcher, a watchfloor.Alert) {
	db.mu.Lock()
	if db.m == nil {
		db.m = map[uint64]watchfloor.Alert{}
	}
	db.m[a.ID] = a
	db.mu.Unlock()
	d.Update(a)
}

func (db *alertsDB) get(id uint64) (watchfloor.Alert, bool) {
	db.mu.Lock()
	defer db.mu.Unlock()
	a, ok := db.m[id]
	return a, ok
}

func (db *alertsDB) open() []watchfloor.Alert {
	db.mu.Lock()
	defer db.mu.Unlock()
	var out []watchfloor.Alert
	for _, a := range db.m {
		if a.State != watchfloor.AlertResolved {
			out = append(out, a)
		}
	}
	return out
}

// outage is alert i of a router outage storm: 1 is the critical device_down, the rest its
// interfaces going down.
func outage(i int, at time.Time) watchfloor.Alert {
	a := watchfloor.Alert{ID: uint64(i), Rule: "interface_down", Key: fmt.Sprintf("if=%d", i), Severity: watchfloor.SeverityMedium,
		Category: "network", State: watchfloor.AlertFiring, Title: fmt.Sprintf("dist-s3 port %d down", i),
		Entity: watchfloor.Entity{Site: "lab", Device: "dist-s3"}, StartedAt: at, UpdatedAt: at}
	if i == 1 {
		a.Rule, a.Title, a.Severity = "device_down", "dist-s3 unreachable", watchfloor.SeverityCritical
	}
	return a
}

// firing counts the firing notifications each receiver got, by receiver and group.
func firing(ns []notify.Notification) map[string]int {
	m := map[string]int{}
	for _, n := range ns {
		if n.Status == notify.StatusFiring {
			m[n.Receiver+" "+n.GroupKey+" "+targetName(n.Target)]++
		}
	}
	return m
}

func TestStormPagesOncePerGroup(t *testing.T) {
	store, s, c := newMemStore(), &sink{}, &clock{t: t0}
	e := start(t, store, s, c, opts{})
	db := &alertsDB{}
	for i := 1; i <= 200; i++ { // 200 alerts within 30 s
		at := t0.Add(time.Duration(i-1) * 29 * time.Second / 200)
		e.advance(at)
		db.put(e.d, outage(i, at))
	}
	e.advance(t0.Add(2 * time.Minute))
	// chat: the interface group; pager: the device group; mail: ann, on call at 08:58:30.
	e.wait("three pages", func() bool { return len(s.all()) >= 3 })
	e.advance(t0.Add(10 * time.Minute))
	got := firing(s.all())
	want := map[string]int{
		`chat 0:{rule="interface_down",site="lab"} `:   1,
		`pager 0.0:{rule="device_down",site="lab"} `:   1,
		`mail 0.0:{rule="device_down",site="lab"} ann`: 1,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("pages %v, want %v%s", got, want, describe(s.all()))
	}
	chat := s.to("chat")[0]
	if len(chat.Alerts) != 100 || !strings.Contains(chat.Summary, "199 firing") || !strings.Contains(chat.Summary, "99 more not listed") {
		t.Errorf("chat page lists %d alerts: %q", len(chat.Alerts), chat.Summary)
	}
	if p := s.to("pager")[0]; p.AckLink != "https://wall/ack/1?by=pager" || p.Title != "dist-s3 unreachable" {
		t.Errorf("pager page: ack link %q, title %q", p.AckLink, p.Title)
	}
	if m := s.to("mail")[0]; m.AckLink != "https://wall/ack/1?by=ann" || m.Target.Email != "ann@city.example" {
		t.Errorf("mail page: %+v", m)
	}
	if n := len(store.entries("", ResultDelivered)); n != 3 {
		t.Errorf("log: %d delivered, want 3", n)
	}
	if n := len(store.entries("", ResultQueued)); n != 3 {
		t.Errorf("log: %d queued, want 3", n)
	}
}

func TestStormRestartNoDuplicates(t *testing.T) {
	for _, crashAt := range []time.Duration{10 * time.Second, 20 * time.Second, 31 * time.Second, 45 * time.Second} {
		t.Run(crashAt.String(), func(t *testing.T) {
			store, s, c := newMemStore(), &sink{}, &clock{t: t0}
			db := &alertsDB{}
			e := start(t, store, s, c, opts{})
			i := 1
			storm := func(e *env, until time.Time) {
				for ; i <= 200; i++ {
					at := t0.Add(time.Duration(i-1) * 29 * time.Second / 200)
					if at.After(until) {
						return
					}
					e.advance(at)
					db.put(e.d, outage(i, at))
				}
			}
			storm(e, t0.Add(crashAt))
			e.advance(t0.Add(crashAt))
			if crashAt > 30*time.Second {
				e.wait("the first pages", func() bool { return len(s.all()) == 3 })
			}
			store.crash() // SIGKILL: nothing more is saved
			e.stop()
			store = store.restarted()

			e = start(t, store, s, c, opts{})
			e.d.Reconcile(db.get, db.open())
			storm(e, t0.Add(time.Minute))
			e.advance(t0.Add(10 * time.Minute))
			e.wait("three pages", func() bool { return len(s.all()) >= 3 })
			time.Sleep(50 * time.Millisecond) // a duplicate would be delivered by now
			got := firing(s.all())
			if len(got) != 3 {
				t.Fatalf("pages to %d receivers, want 3: %s", len(got), describe(s.all()))
			}
			for k, n := range got {
				if n != 1 {
					t.Errorf("%s paged %d times", k, n)
				}
			}
		})
	}
}

func TestRestartResendsOutbox(t *testing.T) {
	// The pages are saved, then the process dies before the pager took its page (it hangs):
	// the next process sends it, once.
	store, s, c := newMemStore(), &sink{}, &clock{t: t0}
	db := &alertsDB{}
	hang := make(chan struct{})
	e := start(t, store, s, c, opts{send: map[string]func(context.Context, notify.Notification) error{
		"pager": func(ctx context.Context, _ notify.Notification) error {
			select {
			case <-hang:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}}})
	db.put(e.d, outage(1, t0))
	e.advance(t0.Add(31 * time.Second))
	e.wait("mail", func() bool { return len(s.to("mail")) == 1 })
	store.crash()
	e.stop()
	if len(s.to("pager")) != 0 {
		t.Fatal("the hung pager got its page")
	}
	store = store.restarted()
	if len(store.outbox) != 1 {
		t.Fatalf("outbox after the crash: %d, want the pager's page", len(store.outbox))
	}
	e = start(t, store, s, c, opts{})
	e.d.Reconcile(db.get, db.open())
	e.wait("the pager's page from the outbox", func() bool { return len(s.to("pager")) == 1 })
	e.advance(t0.Add(10 * time.Minute))
	time.Sleep(50 * time.Millisecond)
	if got := firing(s.all()); len(got) != 2 || got[`mail 0.0:{rule="device_down",site="lab"} ann`] != 1 || got[`pager 0.0:{rule="device_down",site="lab"} `] != 1 {
		t.Fatalf("pages %v", got)
	}
	if len(store.outbox) != 0 {
		t.Errorf("outbox not emptied: %d", len(store.outbox))
	}
}

func TestEscalation(t *testing.T) {
	for _, ack := range []bool{false, true} {
		t.Run(fmt.Sprintf("ack=%v", ack), func(t *testing.T) {
			store, s, c := newMemStore(), &sink{}, &clock{t: t0}
			e := start(t, store, s, c, opts{})
			db := &alertsDB{}
			a := outage(1, t0)
			db.put(e.d, a)
			e.advance(t0.Add(31 * time.Second))
			e.wait("ann's page", func() bool { return len(s.to("mail")) == 1 })
			if ack {
				e.advance(t0.Add(5 * time.Minute))
				a.State, a.AckedBy, a.AckedAt = watchfloor.AlertAcknowledged, "ann", c.now()
				db.put(e.d, a)
			}
			e.advance(t0.Add(16 * time.Minute))
			if !ack {
				// level 2 after 15 min: dan, by mail and on the pager.
				e.wait("dan's pages", func() bool { return len(s.to("mail")) == 2 && len(s.to("pager")) == 2 })
				m := s.to("mail")[1]
				if m.Target.Name != "dan" || m.Level != 1 || !strings.HasSuffix(m.AckLink, "by=dan") || !m.Time.Equal(t0.Add(30*time.Second+15*time.Minute)) {
					t.Errorf("level 2: %+v", m)
				}
				return
			}
			// acknowledged: every receiver paged is told, and nobody else is paged.
			e.wait("acknowledgements", func() bool { return len(s.all()) == 4 })
			time.Sleep(50 * time.Millisecond)
			for _, n := range s.all()[2:] {
				if n.Status != notify.StatusAcknowledged || n.AckLink != "" {
					t.Errorf("after the ack: %s", describe([]notify.Notification{n}))
				}
			}
			var inc Incident
			for _, i := range store.incidents {
				inc = i
			}
			if inc.AckedBy != "ann" || inc.Acked.Sub(inc.Opened) != 5*time.Minute-30*time.Second || inc.Escalations != 0 || inc.Policy != "noc" {
				t.Errorf("incident %+v", inc)
			}
		})
	}
}

func TestScheduleHandoffAndOverride(t *testing.T) {
	// Three incidents: before the 09:00 handoff (ann), after it (bob), in cem's override.
	store, s, c := newMemStore(), &sink{}, &clock{t: t0}
	e := start(t, store, s, c, opts{})
	db := &alertsDB{}
	for i, at := range []time.Time{t0, t0.Add(5 * time.Minute), t0.Add(72 * time.Minute)} {
		e.advance(at)
		a := outage(1, at)
		a.ID, a.Entity.Site = uint64(i+1), fmt.Sprintf("site%d", i)
		db.put(e.d, a)
		e.advance(at.Add(31 * time.Second))
		e.wait("the page", func() bool {
			n := 0
			for _, m := range s.to("mail") {
				if m.Status == notify.StatusFiring {
					n++
				}
			}
			return n == i+1
		})
		a.State, a.AckedBy, a.AckedAt = watchfloor.AlertAcknowledged, "noc", c.now()
		db.put(e.d, a) // so the next level does not page
	}
	var who []string
	for _, n := range s.to("mail") {
		if n.Status == notify.StatusFiring {
			who = append(who, n.Target.Name)
		}
	}
	if strings.Join(who, ",") != "ann,bob,cem" {
		t.Fatalf("paged %v, want ann (08:58), bob (after the 09:00 handoff), cem (override 10:00-11:00)", who)
	}
}

func TestResolutionReachesEveryonePaged(t *testing.T) {
	store, s, c := newMemStore(), &sink{}, &clock{t: t0}
	e := start(t, store, s, c, opts{})
	db := &alertsDB{}
	a := outage(1, t0)
	db.put(e.d, a)
	e.advance(t0.Add(16 * time.Minute)) // ann, then dan (mail and pager)
	e.wait("four pages", func() bool { return len(s.all()) == 4 })
	a.State, a.ResolvedAt = watchfloor.AlertResolved, c.now()
	db.put(e.d, a)
	e.advance(t0.Add(30 * time.Minute))
	e.wait("resolutions", func() bool { return len(s.all()) == 8 })
	got := map[string]bool{}
	for _, n := range s.all()[4:] {
		if n.Status != notify.StatusResolved {
			t.Errorf("not a resolution: %s", describe([]notify.Notification{n}))
		}
		got[n.Receiver+"/"+targetName(n.Target)] = true
	}
	if len(got) != 4 || !got["pager/"] || !got["pager/dan"] || !got["mail/ann"] || !got["mail/dan"] {
		t.Errorf("resolutions to %v, want the pager (for the route and for dan), ann and dan", got)
	}
	inc := store.incidents[firstKey(store.incidents)]
	if inc.Open() || inc.Escalations != 1 || inc.Pages != 8 {
		t.Errorf("incident %+v", inc)
	}
	e.advance(t0.Add(2 * time.Hour))
	if len(s.all()) != 8 {
		t.Errorf("paged after the resolution: %s", describe(s.all()[8:]))
	}
}

func firstKey[V any](m map[string]V) string {
	for k := range m {
		return k
	}
	return ""
}

func TestSilencedGroupEndsEscalation(t *testing.T) {
	store, s, c := newMemStore(), &sink{}, &clock{t: t0}
	e := start(t, store, s, c, opts{})
	db := &alertsDB{}
	a := outage(1, t0)
	db.put(e.d, a)
	e.advance(t0.Add(31 * time.Second))
	e.wait("first pages", func() bool { return len(s.all()) == 2 })
	a.Silenced = true
	db.put(e.d, a)
	e.advance(t0.Add(20 * time.Minute))
	time.Sleep(50 * time.Millisecond)
	if len(s.all()) != 2 {
		t.Fatalf("a silenced incident escalated: %s", describe(s.all()))
	}
	if inc := store.incidents[firstKey(store.incidents)]; inc.Open() {
		t.Errorf("incident still open: %+v", inc)
	}
}

func TestDeadReceiverDoesNotDelayOthers(t *testing.T) {
	// The pager hangs until each attempt times out; the mail server answers 500. Chat gets
	// its page at once; pager and mail are retried, then recorded as failed.
	store, s, c := newMemStore(), &sink{}, &clock{t: t0}
	var mu sync.Mutex
	attempts := map[string]int{}
	count := func(name string) {
		mu.Lock()
		attempts[name]++
		mu.Unlock()
	}
	e := start(t, store, s, c, opts{
		deliverer: receiver.DelivererConfig{QueueSize: 10, MaxAttempts: 3, InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, AttemptTimeout: 300 * time.Millisecond},
		send: map[string]func(context.Context, notify.Notification) error{
			"pager": func(ctx context.Context, _ notify.Notification) error { count("pager"); <-ctx.Done(); return ctx.Err() },
			"mail": func(context.Context, notify.Notification) error {
				count("mail")
				return errors.New("smtp: 451 try later")
			},
		}})
	db := &alertsDB{}
	db.put(e.d, outage(1, t0))
	db.put(e.d, outage(2, t0))
	e.advance(t0.Add(31 * time.Second))
	began := time.Now()
	e.wait("chat", func() bool { return len(s.to("chat")) == 1 })
	if d := time.Since(began); d > 200*time.Millisecond {
		t.Errorf("chat waited %v behind the dead receivers", d)
	}
	e.wait("failures logged", func() bool {
		return len(store.entries("pager", ResultFailed)) == 1 && len(store.entries("mail", ResultFailed)) == 1
	})
	mu.Lock()
	defer mu.Unlock()
	if attempts["pager"] != 3 || attempts["mail"] != 3 {
		t.Errorf("attempts %v, want 3 each", attempts)
	}
	if n := len(store.entries("pager", ResultRetry)); n != 2 {
		t.Errorf("pager retries logged: %d, want 2", n)
	}
	if f := store.entries("mail", ResultFailed)[0]; f.Attempt != 3 || f.Err == "" || f.Target != "ann" || f.Incident == "" {
		t.Errorf("failure entry %+v", f)
	}
}

func TestStateSaveFailureStillPages(t *testing.T) {
	store, s, c := newMemStore(), &sink{}, &clock{t: t0}
	store.saveErr = errors.New("disk full")
	e := start(t, store, s, c, opts{})
	e.d.Update(outage(2, t0))
	e.advance(t0.Add(31 * time.Second))
	e.wait("chat", func() bool { return len(s.to("chat")) == 1 })
}

// BenchmarkStorm is one storm of 200 alerts through the pipeline, from the updates to the
// pages saved and queued (delivery not running), state saved through JSON.
func BenchmarkStorm(b *testing.B) {
	cfg, errs := notify.ParseRouting("routing.yaml", []byte(routing), []string{"chat", "pager", "mail"}, []string{"noc"})
	if len(errs) > 0 {
		b.Fatal(errs)
	}
	tree, err := notify.NewTree(cfg)
	if err != nil {
		b.Fatal(err)
	}
	storm := make([]watchfloor.Alert, 200)
	for i := range storm {
		storm[i] = outage(i+1, t0)
	}
	b.ReportAllocs()
	for b.Loop() {
		s := &sink{}
		var rs []notify.Receiver
		for _, name := range []string{"chat", "pager", "mail"} {
			rs = append(rs, &fake{name: name, sink: s})
		}
		d, err := New(Config{Tree: tree, OnCall: onCall}, Deps{Store: newMemStore(), Receivers: rs, Now: func() time.Time { return t0 }})
		if err != nil {
			b.Fatal(err)
		}
		for _, a := range storm {
			d.Update(a)
		}
		if err := d.Step(t0.Add(31 * time.Second)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/200, "ns/alert")
}
