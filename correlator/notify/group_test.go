package notify

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/watchfloor/watchfloor"
)

const stormConfig = `
route:
  receiver: noc
  group_by: [site]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
  routes:
    - matchers: ["severity=~high|critical"]
      receiver: pager
      continue: true
    - matchers: ["site=night"]
      receiver: mail
      active_times: [nights]
time_windows:
  - name: nights
    times: [{start: "22:00", end: "06:00"}]
`

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

var t0 = time.Date(2025, 6, 9, 10, 0, 0, 0, time.UTC)

// stormAlert i of the lab router outage: alert 1 is the root, the others suppressed by it.
func stormAlert(i int, at time.Time) watchfloor.Alert {
	a := watchfloor.Alert{ID: uint64(i), Rule: "iface_down", Key: fmt.Sprintf("if=%d", i), Severity: watchfloor.SeverityMedium,
		State: watchfloor.AlertFiring, Title: fmt.Sprintf("interface %d down", i), Entity: watchfloor.Entity{Site: "lab"}, StartedAt: at}
	if i == 1 {
		a.Rule, a.Title, a.Severity = "device_down", "lab router down", watchfloor.SeverityCritical
	} else if i%2 == 0 {
		a.SuppressedBy = 1
	}
	return a
}

type run struct {
	g   *Grouper
	c   *clock
	out []Notification
}

func newRun(t *testing.T, cfg string) *run {
	c := &clock{t: t0}
	return &run{g: NewGrouper(mustTree(t, cfg), GrouperConfig{Now: c.now}), c: c}
}

// advance moves the clock to t in 1 s ticks, collecting notifications.
func (r *run) advance(to time.Time) {
	for !r.c.t.After(to) {
		r.out = append(r.out, r.g.Tick(r.c.t)...)
		r.c.t = r.c.t.Add(time.Second)
	}
	r.c.t = to
}

func TestStorm(t *testing.T) {
	r := newRun(t, stormConfig)
	// 200 alerts within 30 s: the root first, then the rest (half suppressed by it), all site=lab.
	for i := 1; i <= 200; i++ {
		at := t0.Add(time.Duration(i-1) * 29 * time.Second / 200)
		r.advance(at)
		r.g.Update(stormAlert(i, at))
	}
	r.advance(t0.Add(29 * time.Second))
	if len(r.out) != 0 {
		t.Fatalf("paged within group_wait: %v", r.out)
	}
	r.advance(t0.Add(31 * time.Second)) // each group waits group_wait from its first alert
	// the root is critical: the pager (continue; no later sibling matches, so not the root
	// route); the other unsuppressed alerts are medium: noc. One group each, one page each.
	if len(r.out) != 2 {
		t.Fatalf("at group_wait: %d notifications, want 2", len(r.out))
	}
	for _, n := range r.out {
		switch n.Receiver {
		case "noc":
			if len(n.Alerts) != 99 || n.Title != "interface 3 down" || n.Severity != watchfloor.SeverityMedium {
				t.Errorf("noc: %d alerts, title %q", len(n.Alerts), n.Title)
			}
		case "pager":
			if n.Title != "lab router down" || n.Alerts[0].ID != 1 || n.Alerts[1].SuppressedBy != 1 || n.Severity != watchfloor.SeverityCritical {
				t.Errorf("pager: %+v", n.Alerts[:2])
			}
			if n.Summary != "1 firing (1 critical), 100 suppressed; 1 more not listed" {
				t.Errorf("summary %q", n.Summary)
			}
		default:
			t.Errorf("receiver %s", n.Receiver)
		}
		if n.GroupKey == "" || n.Status != StatusFiring {
			t.Errorf("%+v", n)
		}
	}
	// nothing changes: nothing more until repeat_interval.
	r.out = nil
	r.advance(t0.Add(2 * time.Hour))
	if len(r.out) != 0 {
		t.Fatalf("unchanged group re-sent: %d", len(r.out))
	}
	// one more alert at 2 h: one update at the next group_interval boundary, on noc only.
	r.g.Update(stormAlert(201, r.c.t))
	r.advance(r.c.t.Add(5 * time.Minute))
	if len(r.out) != 1 || r.out[0].Receiver != "noc" {
		t.Fatalf("update: %d", len(r.out))
	}
	// repeat after 4 h of the last send.
	r.out = nil
	r.advance(t0.Add(4*time.Hour + 31*time.Second))
	if len(r.out) != 1 || r.out[0].Receiver != "pager" || len(r.out[0].Alerts) != 100 {
		t.Fatalf("repeat: %+v", r.out)
	}
}

func TestResolvedSilencedGroups(t *testing.T) {
	r := newRun(t, stormConfig)
	a := stormAlert(3, t0)
	b := stormAlert(5, t0)
	r.g.Update(a)
	r.g.Update(b)
	r.advance(t0.Add(30 * time.Second))
	if len(r.out) != 1 {
		t.Fatalf("%d", len(r.out))
	}
	// b silenced: leaves the group; a resolved: one resolved notification, then the group is gone.
	b.Silenced = true
	r.g.Update(b)
	a.State, a.ResolvedAt = watchfloor.AlertResolved, r.c.t
	r.g.Update(a)
	r.out = nil
	r.advance(t0.Add(time.Hour))
	if len(r.out) != 1 || r.out[0].Status != StatusResolved || len(r.out[0].Alerts) != 1 || r.out[0].Summary != "1 resolved (1 medium)" {
		t.Fatalf("resolved: %+v", r.out)
	}
	if s := r.g.Stats(); s.Groups != 0 || s.Alerts != 0 {
		t.Errorf("left over: %+v", s)
	}
	// an alert resolved within group_wait never pages.
	c := stormAlert(7, r.c.t)
	r.g.Update(c)
	c.State = watchfloor.AlertResolved
	r.g.Update(c)
	r.out = nil
	r.advance(r.c.t.Add(time.Hour))
	if len(r.out) != 0 {
		t.Fatalf("resolved-before-wait paged: %+v", r.out)
	}
	// a silenced alert never pages.
	d := stormAlert(9, r.c.t)
	d.Silenced = true
	r.g.Update(d)
	r.advance(r.c.t.Add(time.Hour))
	if len(r.out) != 0 {
		t.Fatalf("silenced paged: %+v", r.out)
	}
}

func TestActiveTimesHold(t *testing.T) {
	r := newRun(t, stormConfig)
	a := stormAlert(3, t0)
	a.Entity.Site = "night"
	r.g.Update(a)
	r.advance(t0.Add(11*time.Hour + 59*time.Minute)) // 21:59
	if len(r.out) != 0 {
		t.Fatalf("sent outside active times: %+v", r.out)
	}
	r.advance(t0.Add(12*time.Hour + 5*time.Minute))
	if len(r.out) != 1 || r.out[0].Receiver != "mail" {
		t.Fatalf("held page not sent at 22:00: %+v", r.out)
	}
	if r.g.Stats().HeldByTimeSpan == 0 {
		t.Error("holds not counted")
	}
}

func TestGroupCap(t *testing.T) {
	c := &clock{t: t0}
	g := NewGrouper(mustTree(t, stormConfig), GrouperConfig{Now: c.now, MaxGroups: 2})
	for i := range 5 {
		a := stormAlert(3+2*i, t0)
		a.Entity.Site = fmt.Sprint("s", i)
		g.Update(a)
	}
	if s := g.Stats(); s.Groups != 2 || s.GroupsDropped != 3 {
		t.Errorf("%+v", s)
	}
}

// TestStormRestart stops the grouper in the middle of a storm (persisting its state as JSON
// after a Tick, as the appliance does), starts another from that state with the open alerts
// replayed, and checks the pages are those of an uninterrupted run: no duplicates, none lost.
func TestStormRestart(t *testing.T) {
	feed := func(r *run, from, to int) {
		for i := from; i <= to; i++ {
			at := t0.Add(time.Duration(i-1) * 290 * time.Millisecond)
			r.advance(at)
			r.g.Update(stormAlert(i, at))
		}
	}
	end := t0.Add(20 * time.Minute)
	whole := newRun(t, stormConfig)
	feed(whole, 1, 200)
	whole.advance(end)

	for _, cut := range []int{50, 150} { // before and after the first page? 150*0.29 s = 43 s: after
		first := newRun(t, stormConfig)
		feed(first, 1, cut)
		b, err := json.Marshal(first.g.State())
		if err != nil {
			t.Fatal(err)
		}
		var st GroupState
		if err := json.Unmarshal(b, &st); err != nil {
			t.Fatal(err)
		}
		second := newRun(t, stormConfig)
		second.c.t = first.c.t
		if err := second.g.Restore(st); err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= cut; i++ { // the alert manager replays its open alerts at start
			second.g.Update(stormAlert(i, t0.Add(time.Duration(i-1)*290*time.Millisecond)))
		}
		second.c.t = second.c.t.Add(time.Second)
		feed(second, cut+1, 200)
		second.advance(end)
		got := append(first.out, second.out...)
		if len(got) != len(whole.out) {
			t.Fatalf("cut %d: %d notifications, uninterrupted %d", cut, len(got), len(whole.out))
		}
		for i := range got {
			w, g := whole.out[i], got[i]
			if w.ID != g.ID || w.GroupKey != g.GroupKey || !w.Time.Equal(g.Time) || len(w.Alerts) != len(g.Alerts) || w.Summary != g.Summary {
				t.Errorf("cut %d: notification %d = %s %s %v %q, want %s %s %v %q", cut, i, g.ID, g.Receiver, g.Time, g.Summary, w.ID, w.Receiver, w.Time, w.Summary)
			}
		}
	}
	// 200 alerts over 58 s: pager and noc at group_wait, then each one update at group_interval
	// for what came after its first page; nothing more.
	if len(whole.out) != 4 {
		t.Errorf("uninterrupted storm: %d pages", len(whole.out))
	}
}

func TestRestoreRejectsVersion(t *testing.T) {
	g := NewGrouper(mustTree(t, stormConfig), GrouperConfig{})
	if err := g.Restore(GroupState{Version: 99}); err == nil {
		t.Error("accepted")
	}
}

func BenchmarkGrouperStorm(b *testing.B) {
	tr := mustTree(b, stormConfig)
	b.ReportAllocs()
	for b.Loop() {
		c := &clock{t: t0}
		g := NewGrouper(tr, GrouperConfig{Now: c.now})
		for i := 1; i <= 200; i++ {
			g.Update(stormAlert(i, t0))
		}
		g.Tick(t0.Add(time.Minute))
	}
}
