package alerts

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/watchfloor/watchfloor"
)

func TestLifecycle(t *testing.T) {
	type step func(h *harness) // acts and checks
	states := func(hist []Transition) []string {
		var out []string
		for _, tr := range hist {
			out = append(out, fmt.Sprintf("%d>%d by %s", tr.From, tr.To, tr.By))
		}
		return out
	}
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, h *harness)
	}{
		{"fire, dedup, update", func(t *testing.T, h *harness) {
			a1, new1 := h.Fire(match("scan", "src=1", base))
			m := match("scan", "src=1", base.Add(time.Minute))
			m.Title = "scan, later"
			a2, new2 := h.Fire(m)
			a3, new3 := h.Fire(match("scan", "src=1", base.Add(30*time.Second))) // late record
			if !new1 || new2 || new3 || a1.ID != 1 || a2.ID != 1 || a3.ID != 1 {
				t.Fatalf("new %v %v %v, IDs %d %d %d", new1, new2, new3, a1.ID, a2.ID, a3.ID)
			}
			a := h.get(1)
			if a.Count != 3 || !a.StartedAt.Equal(base) || !a.LastSeen.Equal(base.Add(time.Minute)) ||
				a.State != watchfloor.AlertFiring || a.Title != "scan, later" {
				t.Fatalf("%+v", a)
			}
			if b, new := h.Fire(match("scan", "src=2", base)); !new || b.ID != 2 {
				t.Fatalf("another key: %d %v", b.ID, new)
			}
			if b, new := h.Fire(match("sweep", "src=1", base)); !new || b.ID != 3 {
				t.Fatalf("another rule: %d %v", b.ID, new)
			}
		}},
		{"severity escalates, never drops", func(t *testing.T, h *harness) {
			h.Fire(match("flood", "dst=1", base))
			m := match("flood", "dst=1", base)
			m.Severity = watchfloor.SeverityCritical
			h.Fire(m)
			m.Severity = watchfloor.SeverityLow
			h.Fire(m)
			if a := h.get(1); a.Severity != watchfloor.SeverityCritical {
				t.Fatalf("severity %s", a.Severity)
			}
		}},
		{"escalation fires an acknowledged alert again", func(t *testing.T, h *harness) {
			h.Fire(match("flood", "dst=1", base))
			if err := h.Ack(1, "ana", "looking"); err != nil {
				t.Fatal(err)
			}
			h.Fire(match("flood", "dst=1", base)) // same severity: stays acknowledged
			if a := h.get(1); a.State != watchfloor.AlertAcknowledged || a.AckedBy != "ana" || !a.AckedAt.Equal(base) {
				t.Fatalf("%+v", a)
			}
			m := match("flood", "dst=1", base.Add(time.Second))
			m.Severity = watchfloor.SeverityHigh
			h.Fire(m)
			if a := h.get(1); a.State != watchfloor.AlertFiring || a.AckedBy != "" {
				t.Fatalf("%+v", a)
			}
			h.flush()
			hist, _ := h.History(1)
			if got, want := states(hist), []string{"0>1 by rule", "1>2 by ana", "2>1 by rule"}; !slices.Equal(got, want) {
				t.Fatalf("history %v, want %v", got, want)
			}
		}},
		{"quiet period", func(t *testing.T, h *harness) {
			m := match("down", "dev=r1", base)
			m.ResolveAfter = 5 * time.Minute
			h.Fire(m)
			m.Time = base.Add(2 * time.Minute)
			h.Fire(m)
			h.Tick(base.Add(6 * time.Minute)) // 4 minutes after the last match
			if a := h.get(1); a.State != watchfloor.AlertFiring {
				t.Fatalf("resolved too early: %+v", a)
			}
			h.Tick(base.Add(7 * time.Minute))
			a := h.get(1)
			if a.State != watchfloor.AlertResolved || !a.ResolvedAt.Equal(base.Add(7*time.Minute)) {
				t.Fatalf("%+v", a)
			}
			if h.metric("watchfloor_alerts_resolved_total", "by", "quiet") != 1 {
				t.Error("resolved_total{by=quiet}")
			}
		}},
		{"no quiet period: only recovery resolves", func(t *testing.T, h *harness) {
			h.Fire(match("down", "dev=r1", base))
			h.Tick(base.Add(1000 * time.Hour))
			if a := h.get(1); a.State != watchfloor.AlertFiring {
				t.Fatalf("%+v", a)
			}
			h.Recover("down", "dev=r2", base.Add(time.Hour)) // another identity
			h.Recover("down", "dev=r1", base.Add(time.Hour))
			a := h.get(1)
			if a.State != watchfloor.AlertResolved || !a.ResolvedAt.Equal(base.Add(time.Hour)) {
				t.Fatalf("%+v", a)
			}
			h.flush()
			hist, _ := h.History(1)
			if got, want := states(hist), []string{"0>1 by rule", "1>3 by recovery"}; !slices.Equal(got, want) {
				t.Fatalf("history %v, want %v", got, want)
			}
		}},
		{"manual ack and resolve, history", func(t *testing.T, h *harness) {
			h.Fire(match("down", "dev=r1", base))
			h.clock.Add(3 * time.Minute)
			if err := h.Ack(1, "ana", "on it"); err != nil {
				t.Fatal(err)
			}
			h.clock.Add(10 * time.Minute)
			if err := h.Resolve(1, "bob", "fixed the cable"); err != nil {
				t.Fatal(err)
			}
			hist, err := h.History(1)
			if err != nil {
				t.Fatal(err)
			}
			want := []Transition{
				{Alert: 1, Time: base, To: watchfloor.AlertFiring, By: ByRule},
				{Alert: 1, Time: base.Add(3 * time.Minute), From: watchfloor.AlertFiring, To: watchfloor.AlertAcknowledged, By: "ana", Comment: "on it"},
				{Alert: 1, Time: base.Add(13 * time.Minute), From: watchfloor.AlertAcknowledged, To: watchfloor.AlertResolved, By: "bob", Comment: "fixed the cable"},
			}
			if !slices.Equal(hist, want) {
				t.Fatalf("history\n%+v\nwant\n%+v", hist, want)
			}
			if a := h.get(1); a.State != watchfloor.AlertResolved || a.AckedBy != "ana" {
				t.Fatalf("%+v", a)
			}
			if h.st.Writes() != 2 { // the new alert went with the Ack
				t.Errorf("%d writes: Ack and Resolve write before they return", h.st.Writes())
			}
		}},
		{"a match after resolution is a new alert", func(t *testing.T, h *harness) {
			h.Fire(match("down", "dev=r1", base))
			h.Recover("down", "dev=r1", base.Add(time.Minute))
			a, new := h.Fire(match("down", "dev=r1", base.Add(2*time.Minute)))
			if !new || a.ID != 2 || a.Count != 1 {
				t.Fatalf("%+v %v", a, new)
			}
			if old := h.get(1); old.State != watchfloor.AlertResolved || old.Count != 1 {
				t.Fatalf("%+v", old)
			}
		}},
		{"errors", func(t *testing.T, h *harness) {
			if err := h.Ack(42, "ana", ""); !errors.Is(err, ErrNotFound) {
				t.Errorf("ack unknown: %v", err)
			}
			if err := h.Resolve(42, "ana", ""); !errors.Is(err, ErrNotFound) {
				t.Errorf("resolve unknown: %v", err)
			}
			h.Fire(match("down", "dev=r1", base))
			if err := h.Ack(1, "ana", ""); err != nil {
				t.Fatal(err)
			}
			if err := h.Ack(1, "bob", ""); !errors.Is(err, ErrState) {
				t.Errorf("ack twice: %v", err)
			}
			if err := h.Resolve(1, "ana", ""); err != nil {
				t.Fatal(err)
			}
			// Written and forgotten by the manager: the store answers.
			if err := h.Resolve(1, "ana", ""); !errors.Is(err, ErrState) {
				t.Errorf("resolve resolved: %v", err)
			}
			if err := h.Ack(1, "ana", ""); !errors.Is(err, ErrState) {
				t.Errorf("ack resolved: %v", err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, newHarness(t, DefaultConfig(), nil))
		})
	}
}

func TestEvidenceBounded(t *testing.T) {
	h := newHarness(t, DefaultConfig(), nil)
	for i := range 25 {
		m := match("scan", "src=1", base.Add(time.Duration(i)*time.Second))
		m.Evidence = &watchfloor.Evidence{Time: m.Time, Kind: "flow", Summary: fmt.Sprint(i)}
		h.Fire(m)
	}
	h.Fire(match("scan", "src=1", base.Add(time.Hour))) // no evidence: the list stays
	var got []string
	for _, e := range h.get(1).Evidence {
		got = append(got, e.Summary)
	}
	if want := []string{"0", "1", "2", "18", "19", "20", "21", "22", "23", "24"}; !slices.Equal(got, want) {
		t.Fatalf("evidence %v, want %v", got, want)
	}
}

func TestSilences(t *testing.T) {
	alert := func(h *harness) uint64 {
		m := match("ssh_brute", "src=198.51.100.7", base)
		m.Severity = watchfloor.SeverityHigh
		m.Entity = watchfloor.Entity{Site: "paris", Device: "fw1", Interface: "ge-0/0/1", Host: "198.51.100.7"}
		m.Labels = []watchfloor.Attr{{Key: "team", Value: "soc"}}
		a, _ := h.Fire(m)
		return a.ID
	}
	for _, tc := range []struct {
		matchers []watchfloor.Matcher
		silenced bool
	}{
		{[]watchfloor.Matcher{{Name: "rule", Op: "=", Value: "ssh_brute"}}, true},
		{[]watchfloor.Matcher{{Name: "rule", Op: "=", Value: "ssh"}}, false},
		{[]watchfloor.Matcher{{Name: "rule", Op: "!=", Value: "scan"}, {Name: "site", Op: "=", Value: "paris"}}, true},
		{[]watchfloor.Matcher{{Name: "rule", Op: "!=", Value: "ssh_brute"}, {Name: "site", Op: "=", Value: "paris"}}, false},
		{[]watchfloor.Matcher{{Name: "severity", Op: "=~", Value: "high|critical"}}, true},
		{[]watchfloor.Matcher{{Name: "severity", Op: "=~", Value: "hig"}}, false}, // whole value
		{[]watchfloor.Matcher{{Name: "category", Op: "=", Value: "security"}}, true},
		{[]watchfloor.Matcher{{Name: "device", Op: "!~", Value: "fw.*"}, {Name: "site", Op: "=", Value: "paris"}}, false},
		{[]watchfloor.Matcher{{Name: "device", Op: "!~", Value: "rtr.*"}, {Name: "site", Op: "=", Value: "paris"}}, true},
		{[]watchfloor.Matcher{{Name: "interface", Op: "=", Value: "ge-0/0/1"}}, true},
		{[]watchfloor.Matcher{{Name: "host", Op: "=~", Value: `198\.51\.100\..*`}}, true},
		{[]watchfloor.Matcher{{Name: "key", Op: "=", Value: "src=198.51.100.7"}}, true},
		{[]watchfloor.Matcher{{Name: "team", Op: "=", Value: "soc"}}, true},
		{[]watchfloor.Matcher{{Name: "team", Op: "=", Value: "noc"}}, false},
		{[]watchfloor.Matcher{{Name: "owner", Op: "=", Value: ""}, {Name: "team", Op: "=", Value: "soc"}}, true}, // absent label is ""
	} {
		t.Run(fmt.Sprint(tc.matchers), func(t *testing.T) {
			for _, order := range []string{"silence first", "alert first"} {
				h := newHarness(t, DefaultConfig(), nil)
				var id uint64
				if order == "alert first" {
					id = alert(h)
				}
				s, err := h.AddSilence(watchfloor.Silence{Matchers: tc.matchers, EndsAt: base.Add(time.Hour), CreatedBy: "ana"})
				if err != nil {
					t.Fatal(err)
				}
				if order == "silence first" {
					id = alert(h)
				}
				a := h.get(id)
				if a.Silenced != tc.silenced || (a.SilenceID == s.ID) != tc.silenced {
					t.Fatalf("%s: silenced %v (%q), want %v", order, a.Silenced, a.SilenceID, tc.silenced)
				}
			}
		})
	}
}

func TestSilenceLifetime(t *testing.T) {
	h := newHarness(t, DefaultConfig(), nil)
	var got []watchfloor.Alert
	h.Subscribe(func(a watchfloor.Alert) { got = append(got, a) })
	h.Fire(match("scan", "src=1", base))
	// Starts in ten minutes, ends in an hour.
	s, err := h.AddSilence(watchfloor.Silence{
		Matchers: []watchfloor.Matcher{{Name: "rule", Op: "=", Value: "scan"}},
		StartsAt: base.Add(10 * time.Minute), EndsAt: base.Add(time.Hour), Comment: "maintenance",
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.ID == "" || !s.CreatedAt.Equal(base) {
		t.Fatalf("%+v", s)
	}
	if h.get(1).Silenced {
		t.Fatal("silenced before its start")
	}
	h.clock.Add(10 * time.Minute)
	h.Tick(h.clock.Now())
	h.flush()
	if !h.get(1).Silenced {
		t.Fatal("not silenced once started")
	}
	h.clock.Add(50 * time.Minute)
	h.Tick(h.clock.Now())
	h.flush()
	if h.get(1).Silenced {
		t.Fatal("silenced after its end")
	}
	if l := h.Silences(); len(l) != 1 {
		t.Fatalf("expired silence not kept: %v", l)
	}
	h.clock.Add(DefaultConfig().SilenceRetention)
	h.Tick(h.clock.Now())
	h.flush()
	if l := h.Silences(); len(l) != 0 {
		t.Fatalf("expired silence kept past retention: %v", l)
	}
	if l, _ := h.st.Silences(); len(l) != 0 {
		t.Fatalf("store keeps %v", l)
	}
	var flags []bool
	for _, a := range got {
		flags = append(flags, a.Silenced)
	}
	if want := []bool{false, true, false}; !slices.Equal(flags, want) {
		t.Fatalf("subscribers saw silenced %v, want %v", flags, want)
	}

	// DeleteSilence expires at once.
	s, err = h.AddSilence(watchfloor.Silence{Matchers: []watchfloor.Matcher{{Name: "rule", Op: "=", Value: "scan"}}, EndsAt: h.clock.After(time.Hour)})
	if err != nil || !h.get(1).Silenced {
		t.Fatal(err)
	}
	if err := h.DeleteSilence(s.ID); err != nil {
		t.Fatal(err)
	}
	if h.get(1).Silenced {
		t.Fatal("silenced after delete")
	}
	if err := h.DeleteSilence(s.ID); err != nil {
		t.Fatalf("expiring again: %v", err)
	}
	if err := h.DeleteSilence("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown: %v", err)
	}
}

func TestSilenceInvalid(t *testing.T) {
	h := newHarness(t, DefaultConfig(), nil)
	end := base.Add(time.Hour)
	rule := []watchfloor.Matcher{{Name: "rule", Op: "=", Value: "x"}}
	for name, s := range map[string]watchfloor.Silence{
		"no matchers":           {EndsAt: end},
		"bad op":                {Matchers: []watchfloor.Matcher{{Name: "rule", Op: "==", Value: "x"}}, EndsAt: end},
		"bad regexp":            {Matchers: []watchfloor.Matcher{{Name: "rule", Op: "=~", Value: "("}}, EndsAt: end},
		"empty name":            {Matchers: []watchfloor.Matcher{{Op: "=", Value: "x"}}, EndsAt: end},
		"matches everything":    {Matchers: []watchfloor.Matcher{{Name: "rule", Op: "=~", Value: ".*"}}, EndsAt: end},
		"matches empty":         {Matchers: []watchfloor.Matcher{{Name: "team", Op: "=", Value: ""}}, EndsAt: end},
		"ends before it starts": {Matchers: rule, StartsAt: end, EndsAt: base},
		"ended":                 {Matchers: rule, StartsAt: base.Add(-2 * time.Hour), EndsAt: base.Add(-time.Hour)},
		"no end":                {Matchers: rule},
	} {
		if _, err := h.AddSilence(s); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	cfg := DefaultConfig()
	cfg.MaxSilences = 2
	h = newHarness(t, cfg, nil)
	for i := range 3 {
		_, err := h.AddSilence(watchfloor.Silence{ID: fmt.Sprint(i % 2), Matchers: rule, EndsAt: end})
		if err != nil {
			t.Fatal(err) // replacing one is not adding
		}
	}
	if _, err := h.AddSilence(watchfloor.Silence{Matchers: rule, EndsAt: end}); !errors.Is(err, ErrFull) {
		t.Fatalf("third silence: %v", err)
	}
}

func TestFlapping(t *testing.T) {
	cfg := DefaultConfig() // more than 4 starts in an hour
	h := newHarness(t, cfg, nil)
	var flags []bool
	at := base
	for range 7 {
		a, _ := h.Fire(match("link", "if=1", at))
		flags = append(flags, a.Flapping)
		h.Recover("link", "if=1", at.Add(time.Minute))
		at = at.Add(5 * time.Minute)
	}
	if want := []bool{false, false, false, false, true, true, true}; !slices.Equal(flags, want) {
		t.Fatalf("flapping %v, want %v", flags, want)
	}
	// An alert that stays up more than the window is no longer flapping.
	a, _ := h.Fire(match("link", "if=1", at))
	if !a.Flapping {
		t.Fatal("8th start not flapping")
	}
	h.Tick(at.Add(30 * time.Minute))
	if !h.get(a.ID).Flapping {
		t.Fatal("cleared too early")
	}
	h.Tick(at.Add(61 * time.Minute))
	if h.get(a.ID).Flapping {
		t.Fatal("still flapping after an hour up")
	}
	// Slow cycles never flap.
	at = at.Add(2 * time.Hour)
	for i := range 10 {
		h.Recover("link", "if=2", at)
		if a, _ := h.Fire(match("link", "if=2", at)); a.Flapping {
			t.Fatalf("cycle %d every 20 minutes is flapping", i)
		}
		at = at.Add(20 * time.Minute)
	}
	h.Recover("link", "if=1", at)
	h.Tick(at.Add(3 * time.Hour))
	if n := len(h.flaps); n != 1 { // if=2 is still open
		t.Errorf("%d identities in flapping bookkeeping, want 1", n)
	}
}

func TestSuppression(t *testing.T) {
	h := newHarness(t, DefaultConfig(), nil)
	root, _ := h.Fire(match("down", "dev=core", base))
	c1, _ := h.Fire(match("down", "dev=a", base))
	c2, _ := h.Fire(match("if_down", "dev=a,if=1", base))
	other, _ := h.Fire(match("down", "dev=b", base))
	h.Suppress(root.ID, []uint64{c1.ID, c2.ID, root.ID, 999})
	h.Suppress(root.ID, []uint64{c1.ID}) // again: no duplicate
	if r := h.get(root.ID); !slices.Equal(r.Suppressed, []uint64{c1.ID, c2.ID}) {
		t.Fatalf("root lists %v", r.Suppressed)
	}
	for _, id := range []uint64{c1.ID, c2.ID} {
		if a := h.get(id); a.SuppressedBy != root.ID {
			t.Fatalf("%d suppressed by %d", id, a.SuppressedBy)
		}
	}
	// Moving a child to another root.
	h.Suppress(other.ID, []uint64{c2.ID})
	if r := h.get(root.ID); !slices.Equal(r.Suppressed, []uint64{c1.ID}) {
		t.Fatalf("root lists %v after the move", r.Suppressed)
	}
	if a := h.get(c2.ID); a.SuppressedBy != other.ID {
		t.Fatalf("moved child suppressed by %d", a.SuppressedBy)
	}
	h.Unsuppress(other.ID)
	if a, o := h.get(c2.ID), h.get(other.ID); a.SuppressedBy != 0 || o.Suppressed != nil {
		t.Fatalf("after Unsuppress: %d %v", a.SuppressedBy, o.Suppressed)
	}
	// The root resolves: its children are no longer suppressed, its list stays.
	h.Recover("down", "dev=core", base.Add(time.Minute))
	if a := h.get(c1.ID); a.SuppressedBy != 0 {
		t.Fatalf("child of a resolved root still suppressed by %d", a.SuppressedBy)
	}
	h.flush()
	if r := h.get(root.ID); !slices.Equal(r.Suppressed, []uint64{c1.ID}) {
		t.Fatalf("resolved root lists %v", r.Suppressed)
	}
}

func TestMaxOpen(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxOpen = 3
	h := newHarness(t, cfg, nil)
	for i := range 5 {
		a, new := h.Fire(match("scan", fmt.Sprint(i), base))
		if (i < 3) != new || (i >= 3) != (a.ID == 0) {
			t.Fatalf("%d: %d %v", i, a.ID, new)
		}
	}
	if _, new := h.Fire(match("scan", "0", base)); new { // open ones still update
		t.Fatal("dedup counted as new")
	}
	if got := h.metric("watchfloor_alerts_dropped_total", "reason", "max_open"); got != 2 {
		t.Fatalf("dropped %v", got)
	}
	h.Recover("scan", "0", base)
	if _, new := h.Fire(match("scan", "9", base)); !new {
		t.Fatal("room made by a resolution not used")
	}
	if got := h.metric("watchfloor_alerts_open", "state", "firing"); got != 3 {
		t.Fatalf("open gauge %v", got)
	}
}

func TestList(t *testing.T) {
	h := newHarness(t, DefaultConfig(), nil)
	mk := func(rule, key, site, cat string, sev watchfloor.Severity, tags ...string) uint64 {
		m := match(rule, key, base)
		m.Entity.Site, m.Category, m.Severity, m.Tags = site, cat, sev, tags
		a, _ := h.Fire(m)
		return a.ID
	}
	a := mk("scan", "1", "hq", "security", watchfloor.SeverityMedium, "attack.discovery")
	b := mk("down", "r1", "hq", "availability", watchfloor.SeverityCritical)
	c := mk("util", "r2", "paris", "performance", watchfloor.SeverityLow)
	d := mk("scan", "2", "paris", "security", watchfloor.SeverityHigh, "attack.discovery")
	if err := h.Ack(c, "ana", ""); err != nil {
		t.Fatal(err)
	}
	h.Recover("down", "r1", base)
	h.flush()
	e := mk("scan", "3", "hq", "security", watchfloor.SeverityLow) // not written yet
	h.Recover("scan", "3", base)                                   // resolved, not written yet
	ids := func(q Query) []uint64 {
		var out []uint64
		for _, x := range h.List(q) {
			out = append(out, x.ID)
		}
		return out
	}
	for _, tc := range []struct {
		q    Query
		want []uint64
	}{
		{Query{}, []uint64{e, d, c, b, a}},
		{Query{Limit: 2}, []uint64{e, d}},
		{Query{Before: d}, []uint64{c, b, a}},
		{Query{Open: true}, []uint64{d, c, a}},
		{Query{State: watchfloor.AlertFiring}, []uint64{d, a}},
		{Query{State: watchfloor.AlertAcknowledged}, []uint64{c}},
		{Query{State: watchfloor.AlertResolved}, []uint64{e, b}},
		{Query{MinSeverity: watchfloor.SeverityHigh}, []uint64{d, b}},
		{Query{Site: "paris"}, []uint64{d, c}},
		{Query{Category: "security"}, []uint64{e, d, a}},
		{Query{Rule: "scan", Open: true}, []uint64{d, a}},
		{Query{Tag: "attack.discovery"}, []uint64{d, a}},
	} {
		if got := ids(tc.q); !slices.Equal(got, tc.want) {
			t.Errorf("%+v: %v, want %v", tc.q, got, tc.want)
		}
	}
}

func TestStoreFailureKeepsChanges(t *testing.T) {
	h := newHarness(t, DefaultConfig(), nil)
	var seen []uint64
	h.Subscribe(func(a watchfloor.Alert) { seen = append(seen, a.Count) })
	h.Fire(match("scan", "1", base))
	boom := errors.New("disk full")
	h.st.FailWith(boom)
	h.Fire(match("scan", "1", base))
	if err := h.Flush(context.Background()); !errors.Is(err, boom) {
		t.Fatalf("flush: %v", err)
	}
	if err := h.Ack(1, "ana", ""); !errors.Is(err, boom) {
		t.Fatalf("ack: %v", err)
	}
	if len(seen) != 0 {
		t.Fatalf("subscribers told of unwritten changes: %v", seen)
	}
	h.st.FailWith(nil)
	h.flush()
	a, _, _ := h.st.Alert(1)
	hist, _ := h.st.AlertHistory(1)
	if a.Count != 2 || a.State != watchfloor.AlertAcknowledged || len(hist) != 2 || !slices.Equal(seen, []uint64{2}) {
		t.Fatalf("stored %+v, history %v, seen %v", a, hist, seen)
	}
	if h.metric("watchfloor_alerts_store_write_errors_total") != 2 {
		t.Error("write errors not counted")
	}
}

// TestBatching fires a million matches on 1000 identities with Run writing: the writes are
// bounded by time, not by matches, and the counts are exact once written.
func TestBatching(t *testing.T) {
	cfg := DefaultConfig()
	cfg.FlushInterval = 100 * time.Millisecond
	h := newHarness(t, cfg, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- h.Run(ctx) }()
	const n, ids = 1_000_000, 1000
	ms := make([]Match, ids)
	for i := range ms {
		ms[i] = match("scan", fmt.Sprint(i), base)
	}
	start := time.Now()
	for i := range n {
		m := &ms[i%ids]
		m.Time = base.Add(time.Duration(i) * time.Millisecond)
		h.Fire(*m)
	}
	elapsed := time.Since(start)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// One write per tenth of the interval at most, the last one, and slack for the ticker.
	bound := int(elapsed/(cfg.FlushInterval/10)) + 3
	if w := h.st.Writes(); w > bound || w < 1 {
		t.Fatalf("%d writes for %d matches in %s, want at most %d", w, n, elapsed, bound)
	}
	stored, _ := h.st.Alerts(Query{Limit: MaxLimit})
	var total uint64
	for _, a := range stored {
		total += a.Count
	}
	if len(stored) != ids || total != n {
		t.Fatalf("%d alerts, %d matches stored", len(stored), total)
	}
	t.Logf("%d matches in %s, %d writes", n, elapsed, h.st.Writes())
}

func TestConcurrent(t *testing.T) {
	cfg := DefaultConfig()
	cfg.FlushInterval = 10 * time.Millisecond
	h := newHarness(t, cfg, nil)
	var mu sync.Mutex
	seen := 0
	h.Subscribe(func(a watchfloor.Alert) {
		_ = len(a.Evidence)
		mu.Lock()
		seen++
		mu.Unlock()
	})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = h.Run(ctx) })
	var workers sync.WaitGroup
	for w := range 4 {
		workers.Go(func() {
			for i := range 5000 {
				m := match("scan", fmt.Sprint(i%50), base.Add(time.Duration(i)*time.Second))
				m.Evidence = &watchfloor.Evidence{Summary: "x"}
				m.ResolveAfter = time.Minute
				h.Fire(m)
				if i%500 == w {
					h.Tick(base.Add(time.Duration(i) * time.Second))
				}
			}
		})
	}
	workers.Go(func() {
		for i := range 200 {
			for _, a := range h.List(Query{Open: true, Limit: 5}) {
				_ = h.Ack(a.ID, "ana", "")
				if i%3 == 0 {
					_ = h.Resolve(a.ID, "ana", "")
				}
				_ = len(a.Evidence)
			}
			h.Suppress(uint64(i), []uint64{uint64(i + 1), uint64(i + 2)})
		}
	})
	workers.Wait()
	cancel()
	wg.Wait()
	h.flush()
	mu.Lock()
	defer mu.Unlock()
	if seen == 0 {
		t.Fatal("subscriber never called")
	}
}

func TestConfigValidate(t *testing.T) {
	if errs := DefaultConfig().Validate(); len(errs) != 0 {
		t.Fatal(errs)
	}
	c := Config{FlushInterval: time.Hour, FlapWindow: -1, SilenceRetention: -1}
	var got []string
	for _, e := range c.Validate() {
		got = append(got, e.Field)
	}
	want := []string{"max_open", "flush_interval", "flap_count", "flap_window", "max_silences", "silence_retention"}
	if !slices.Equal(got, want) {
		t.Fatalf("%v, want %v", got, want)
	}
	if _, err := New(c, NewMemStore(), nil, nil, nil); err == nil {
		t.Fatal("New with an invalid config")
	}
}

func BenchmarkFire(b *testing.B) {
	h := newHarness(b, DefaultConfig(), nil)
	ev := &watchfloor.Evidence{Kind: "flow", Summary: "syn"}
	ms := make([]Match, 1000)
	for i := range ms {
		ms[i] = match("scan", fmt.Sprint(i), base)
		ms[i].Evidence = ev
		h.Fire(ms[i])
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		h.Fire(ms[i%len(ms)])
	}
}
