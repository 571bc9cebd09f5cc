package oncall

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func mustLoc(t testing.TB, name string) *time.Location {
	t.Helper()
	l, err := time.LoadLocation(name)
	if err != nil {
		t.Skipf("time zone %s not available: %v", name, err)
	}
	return l
}

func people(names ...string) []Person {
	var ps []Person
	for _, n := range names {
		ps = append(ps, Person{Name: n, Email: n + "@example.org"})
	}
	return ps
}

func TestDailyHandoffBoundary(t *testing.T) {
	r := Rotation{Members: []string{"ann", "bob", "cat"}, Start: time.Date(2025, 6, 2, 0, 0, 0, 0, time.UTC), Length: 24 * time.Hour, Handoff: "09:00"}
	s := Schedule{Layers: []Rotation{r}}
	cases := []struct {
		at   time.Time
		want string
		ok   bool
	}{
		{time.Date(2025, 6, 2, 8, 59, 0, 0, time.UTC), "", false}, // before the first handoff
		{time.Date(2025, 6, 2, 9, 0, 0, 0, time.UTC), "ann", true},
		{time.Date(2025, 6, 3, 8, 59, 0, 0, time.UTC), "ann", true},
		{time.Date(2025, 6, 3, 9, 1, 0, 0, time.UTC), "bob", true},
		{time.Date(2025, 6, 4, 9, 0, 0, 0, time.UTC), "cat", true},
		{time.Date(2025, 6, 5, 9, 0, 0, 0, time.UTC), "ann", true},
	}
	for _, c := range cases {
		got, ok := s.OnCall(c.at)
		if got != c.want || ok != c.ok {
			t.Errorf("OnCall(%s) = %q, %v; want %q, %v", c.at, got, ok, c.want, c.ok)
		}
	}
}

func TestWeeklyBerlinAcrossDST(t *testing.T) {
	berlin := mustLoc(t, "Europe/Berlin")
	// Mondays 09:00 Berlin from 2025-03-17; DST starts 2025-03-30 and ends 2025-10-26.
	r := Rotation{Members: []string{"ann", "bob"}, Start: time.Date(2025, 3, 17, 0, 0, 0, 0, berlin), Length: 7 * 24 * time.Hour, Handoff: "09:00", Location: "Europe/Berlin"}
	cases := []struct {
		at   time.Time
		want string
	}{
		{time.Date(2025, 3, 24, 7, 59, 0, 0, time.UTC), "ann"}, // 08:59 CET
		{time.Date(2025, 3, 24, 8, 1, 0, 0, time.UTC), "bob"},  // 09:01 CET
		// After the change to CEST, the handoff is at 07:00 UTC; a 168 h rotation would say 08:00.
		{time.Date(2025, 3, 31, 6, 59, 0, 0, time.UTC), "bob"},
		{time.Date(2025, 3, 31, 7, 1, 0, 0, time.UTC), "ann"},
		{time.Date(2025, 3, 31, 7, 59, 0, 0, time.UTC), "ann"},
		// Back to CET on 2025-10-26 (a Sunday): the handoff of Monday 27th is at 08:00 UTC again.
		{time.Date(2025, 10, 27, 7, 59, 0, 0, time.UTC), "bob"},
		{time.Date(2025, 10, 27, 8, 1, 0, 0, time.UTC), "ann"},
	}
	for _, c := range cases {
		if got, ok := r.OnCall(c.at); !ok || got != c.want {
			t.Errorf("OnCall(%s = %s) = %q, %v; want %q", c.at, c.at.In(berlin), got, ok, c.want)
		}
	}
}

func TestLayersAndOverride(t *testing.T) {
	base := Rotation{Members: []string{"ann", "bob"}, Start: time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC), Length: 7 * 24 * time.Hour, Handoff: "09:00"}
	// A second layer, active for two days only, wins where it is active.
	holiday := Rotation{Members: []string{"cat"}, Start: time.Date(2025, 1, 8, 0, 0, 0, 0, time.UTC), Length: 24 * time.Hour, Handoff: "18:00", End: time.Date(2025, 1, 10, 18, 0, 0, 0, time.UTC)}
	s := Schedule{
		Layers: []Rotation{base, holiday},
		// An override in the middle of ann's shift, and a later one inside it that wins.
		Overrides: []Override{
			{Person: "dan", Start: time.Date(2025, 1, 7, 12, 0, 0, 0, time.UTC), End: time.Date(2025, 1, 7, 16, 0, 0, 0, time.UTC)},
			{Person: "eve", Start: time.Date(2025, 1, 7, 13, 0, 0, 0, time.UTC), End: time.Date(2025, 1, 7, 14, 0, 0, 0, time.UTC)},
		},
	}
	cases := []struct {
		at   time.Time
		want string
	}{
		{time.Date(2025, 1, 7, 11, 59, 0, 0, time.UTC), "ann"},
		{time.Date(2025, 1, 7, 12, 0, 0, 0, time.UTC), "dan"},
		{time.Date(2025, 1, 7, 13, 30, 0, 0, time.UTC), "eve"},
		{time.Date(2025, 1, 7, 14, 0, 0, 0, time.UTC), "dan"},
		{time.Date(2025, 1, 7, 16, 0, 0, 0, time.UTC), "ann"},
		{time.Date(2025, 1, 8, 17, 59, 0, 0, time.UTC), "ann"},
		{time.Date(2025, 1, 8, 18, 0, 0, 0, time.UTC), "cat"},
		{time.Date(2025, 1, 10, 17, 59, 0, 0, time.UTC), "cat"},
		{time.Date(2025, 1, 10, 18, 0, 0, 0, time.UTC), "ann"},
		{time.Date(2025, 1, 13, 9, 0, 0, 0, time.UTC), "bob"},
	}
	for _, c := range cases {
		if got, ok := s.OnCall(c.at); !ok || got != c.want {
			t.Errorf("OnCall(%s) = %q, %v; want %q", c.at, got, ok, c.want)
		}
	}
}

// TestOnCallProperty checks random instants over two years of a Berlin schedule: the person is
// a member of the top active layer unless an override covers the instant, and each rotation's
// member matches handoffs counted independently with AddDate on the zone's calendar.
func TestOnCallProperty(t *testing.T) {
	berlin := mustLoc(t, "Europe/Berlin")
	r1 := Rotation{Members: []string{"a", "b", "c"}, Start: time.Date(2024, 1, 1, 0, 0, 0, 0, berlin), Length: 7 * 24 * time.Hour, Handoff: "09:30", Location: "Europe/Berlin"}
	r2 := Rotation{Members: []string{"x", "y"}, Start: time.Date(2024, 6, 1, 0, 0, 0, 0, berlin), Length: 3 * 24 * time.Hour, Handoff: "02:00", Location: "Europe/Berlin", End: time.Date(2025, 6, 1, 0, 0, 0, 0, berlin)}
	ov := Override{Person: "o", Start: time.Date(2024, 10, 27, 0, 0, 0, 0, berlin), End: time.Date(2024, 10, 28, 0, 0, 0, 0, berlin)}
	s := Schedule{Layers: []Rotation{r1, r2}, Overrides: []Override{ov}}
	// reference: the k-th handoff is Start's date + k*days at the handoff time.
	ref := func(r Rotation, at time.Time) (string, bool) {
		days := int(r.Length / (24 * time.Hour))
		hh, mm, _ := parseHandoff(r.Handoff)
		s0 := r.Start.In(berlin)
		if !r.End.IsZero() && !at.Before(r.End) {
			return "", false
		}
		last := -1
		for k := 0; ; k++ {
			h := time.Date(s0.Year(), s0.Month(), s0.Day()+k*days, hh, mm, 0, 0, berlin)
			if h.After(at) {
				break
			}
			last = k
		}
		if last < 0 {
			return "", false
		}
		return r.Members[last%len(r.Members)], true
	}
	rng := rand.New(rand.NewPCG(1, 2))
	from := time.Date(2023, 12, 25, 0, 0, 0, 0, time.UTC)
	for range 2000 {
		at := from.Add(time.Duration(rng.Int64N(int64(2 * 365 * 24 * time.Hour))))
		got, ok := s.OnCall(at)
		want, wok := ref(r2, at)
		if !wok {
			want, wok = ref(r1, at)
		}
		if !at.Before(ov.Start) && at.Before(ov.End) {
			want, wok = "o", true
		}
		if got != want || ok != wok {
			t.Fatalf("OnCall(%s) = %q, %v; want %q, %v", at.In(berlin), got, ok, want, wok)
		}
	}
}

func testConfig() Config {
	return Config{
		People: people("ann", "bob", "cat", "dan"),
		Schedules: []Schedule{{
			Name:   "noc-primary",
			Layers: []Rotation{{Members: []string{"ann", "bob"}, Start: time.Date(2025, 6, 2, 0, 0, 0, 0, time.UTC), Length: 24 * time.Hour, Handoff: "09:00"}},
		}},
		Policies: []Policy{
			{Name: "noc", Levels: []Level{
				{Targets: []string{"schedule:noc-primary", "receiver:slack-noc"}},
				{Delay: 10 * time.Minute, Targets: []string{"person:dan"}},
			}},
			{Name: "repeat", Repeat: 2, RepeatAfter: 30 * time.Minute, Levels: []Level{
				{Delay: time.Minute, Targets: []string{"person:cat"}},
				{Delay: 5 * time.Minute, Targets: []string{"person:dan"}},
			}},
		},
	}
}

func newEsc(t *testing.T, reg prometheus.Registerer) *Escalator {
	t.Helper()
	e, err := NewEscalator(testConfig(), Options{MaxActive: 3, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func who(pages []Page) []string {
	var out []string
	for _, p := range pages {
		switch {
		case p.Person != nil:
			out = append(out, p.Person.Name)
		case p.Receiver != "":
			out = append(out, "receiver:"+p.Receiver)
		default:
			out = append(out, "unstaffed")
		}
	}
	return out
}

func TestEscalationUnacknowledged(t *testing.T) {
	e := newEsc(t, nil)
	t0 := time.Date(2025, 6, 3, 8, 55, 0, 0, time.UTC) // ann's shift, bob from 09:00
	if err := e.Start("g1", "noc", t0); err != nil {
		t.Fatal(err)
	}
	if got := who(e.Tick(t0)); !slices.Equal(got, []string{"ann", "receiver:slack-noc"}) {
		t.Fatalf("level 0 = %v", got)
	}
	if got := e.Tick(t0.Add(10*time.Minute - time.Nanosecond)); len(got) != 0 {
		t.Fatalf("level 1 paged early: %v", who(got))
	}
	if due, ok := e.Next(); !ok || !due.Equal(t0.Add(10*time.Minute)) {
		t.Fatalf("Next = %s, %v", due, ok)
	}
	pages := e.Tick(t0.Add(10 * time.Minute))
	if got := who(pages); !slices.Equal(got, []string{"dan"}) || pages[0].Level != 1 {
		t.Fatalf("level 1 = %v", pages)
	}
	if e.Active("g1") {
		t.Error("escalation still active after its last level")
	}
	if got := e.Tick(t0.Add(time.Hour)); len(got) != 0 {
		t.Errorf("pages after the end: %v", who(got))
	}
}

func TestEscalationScheduleAtInstant(t *testing.T) {
	e := newEsc(t, nil)
	// Started one minute before the handoff, ticked one minute after: bob is on call then.
	t0 := time.Date(2025, 6, 3, 8, 59, 0, 0, time.UTC)
	e.Start("g", "noc", t0)
	if got := who(e.Tick(t0.Add(2 * time.Minute))); got[0] != "bob" {
		t.Errorf("paged %v, want bob", got)
	}
	e.Start("h", "noc", t0)
	if got := who(e.Tick(t0)); got[0] != "ann" {
		t.Errorf("paged %v, want ann", got)
	}
}

func TestEscalationAckAndResolve(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEsc(t, reg)
	t0 := time.Date(2025, 6, 3, 12, 0, 0, 0, time.UTC)
	e.Start("acked", "noc", t0)
	e.Start("resolved", "noc", t0)
	if got := e.Tick(t0); len(got) != 4 {
		t.Fatalf("level 0 pages = %v", who(got))
	}
	if !e.Ack("acked", "bob", t0.Add(5*time.Minute)) || !e.Resolve("resolved", t0.Add(6*time.Minute)) {
		t.Fatal("ack/resolve found no escalation")
	}
	if got := e.Tick(t0.Add(time.Hour)); len(got) != 0 {
		t.Errorf("level 1 paged after ack/resolve: %v", who(got))
	}
	if e.Ack("acked", "bob", t0) {
		t.Error("second ack reported an escalation")
	}
	if v := testutil.ToFloat64(e.m.acked); v != 1 {
		t.Errorf("acked = %v", v)
	}
	if v := testutil.ToFloat64(e.m.pages.WithLabelValues("receiver")); v != 2 {
		t.Errorf("receiver pages = %v", v)
	}
}

func TestEscalationRepeat(t *testing.T) {
	e := newEsc(t, nil)
	t0 := time.Date(2025, 6, 3, 12, 0, 0, 0, time.UTC)
	e.Start("g", "repeat", t0)
	var got []string
	var dues []time.Duration
	for m := 0; m <= 200; m++ {
		for _, p := range e.Tick(t0.Add(time.Duration(m) * time.Minute)) {
			got = append(got, p.Person.Name)
			dues = append(dues, p.Due.Sub(t0))
		}
	}
	want := []string{"cat", "dan", "cat", "dan", "cat", "dan"}
	wantDue := []time.Duration{1, 6, 37, 42, 73, 78}
	if !slices.Equal(got, want) {
		t.Fatalf("pages %v, want %v", got, want)
	}
	for i, d := range wantDue {
		if dues[i] != d*time.Minute {
			t.Errorf("page %d due at +%s, want +%dm", i, dues[i], d)
		}
	}
	// A late tick pages every level that fell due, once each.
	e.Start("late", "repeat", t0)
	if got := e.Tick(t0.Add(24 * time.Hour)); len(got) != 6 {
		t.Errorf("late tick paged %d, want 6", len(got))
	}
}

func TestEscalationCap(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEsc(t, reg)
	t0 := time.Now()
	for _, k := range []string{"a", "b", "c"} {
		if err := e.Start(k, "noc", t0); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Start("a", "noc", t0); err != nil {
		t.Errorf("restart of an active key: %v", err)
	}
	if err := e.Start("d", "noc", t0); !errors.Is(err, ErrFull) {
		t.Errorf("4th escalation: %v, want ErrFull", err)
	}
	if err := e.Start("e", "nope", t0); !errors.Is(err, ErrUnknownPolicy) {
		t.Errorf("unknown policy: %v", err)
	}
	if v := testutil.ToFloat64(e.m.rejected); v != 1 {
		t.Errorf("rejected = %v", v)
	}
	if v := testutil.ToFloat64(e.m.active); v != 3 {
		t.Errorf("active = %v", v)
	}
}

func TestRestoreMidEscalation(t *testing.T) {
	e := newEsc(t, nil)
	t0 := time.Date(2025, 6, 3, 12, 0, 0, 0, time.UTC)
	e.Start("g", "repeat", t0)
	if got := who(e.Tick(t0.Add(2 * time.Minute))); !slices.Equal(got, []string{"cat"}) {
		t.Fatalf("first page %v", got)
	}
	raw, err := json.Marshal(e.State())
	if err != nil {
		t.Fatal(err)
	}
	// restart
	e2 := newEsc(t, nil)
	var st State
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	if err := e2.Restore(st); err != nil {
		t.Fatal(err)
	}
	if got := e2.Tick(t0.Add(2 * time.Minute)); len(got) != 0 {
		t.Fatalf("level 0 paged again after restore: %v", who(got))
	}
	var pages []string
	for m := 3; m <= 10; m++ {
		pages = append(pages, who(e2.Tick(t0.Add(time.Duration(m)*time.Minute)))...)
	}
	if !slices.Equal(pages, []string{"dan"}) {
		t.Errorf("pending page after restore: %v, want [dan] once", pages)
	}
	// A state naming a removed policy restores the rest and says so.
	st.Escalations = append(st.Escalations, EscalationState{Key: "x", Policy: "gone"})
	if err := e2.Restore(st); !errors.Is(err, ErrUnknownPolicy) || !e2.Active("g") {
		t.Errorf("Restore with a stale entry: %v, active(g)=%v", err, e2.Active("g"))
	}
}

func TestUnstaffed(t *testing.T) {
	e := newEsc(t, nil)
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC) // before the rotation starts
	e.Start("g", "noc", t0)
	pages := e.Tick(t0)
	if len(pages) != 2 || !pages[0].Unstaffed || pages[0].Person != nil {
		t.Errorf("pages = %+v", pages)
	}
	if v := testutil.ToFloat64(e.m.unstaffed); v != 1 {
		t.Errorf("unstaffed = %v", v)
	}
}

const goodYAML = `
people:
  - {name: ann, email: ann@example.org}
  - {name: bob, phone: "+4930123"}
schedules:
  - name: noc-primary
    layers:
      - name: weekly
        members: [ann, bob]
        start: 2025-03-17T00:00:00+01:00
        length: 168h
        handoff: "09:00"
        location: Europe/Berlin
    overrides:
      - {person: bob, start: 2025-03-18T12:00:00Z, end: 2025-03-18T18:00:00Z}
policies:
  - name: noc
    repeat: 1
    repeat_after: 30m
    levels:
      - targets: [schedule:noc-primary, receiver:slack-noc]
      - delay: 10m
        targets: [person:bob]
`

func TestLoad(t *testing.T) {
	c, err := Load([]byte(goodYAML))
	if err != nil {
		t.Fatal(err)
	}
	if c.Policies[0].Levels[1].Delay != 10*time.Minute || c.Schedules[0].Layers[0].Length != 168*time.Hour {
		t.Errorf("decoded %+v", c)
	}
	if who, _ := c.Schedules[0].OnCall(time.Date(2025, 3, 18, 13, 0, 0, 0, time.UTC)); who != "bob" {
		t.Errorf("override: %q", who)
	}
	if who, _ := c.Schedules[0].OnCall(time.Date(2025, 3, 18, 19, 0, 0, 0, time.UTC)); who != "ann" {
		t.Errorf("after override: %q", who)
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name, from, to, field string
	}{
		{"unknown member", "members: [ann, bob]", "members: [ann, zed]", "schedules[0].layers[0].members[1]"},
		{"bad zone", "Europe/Berlin", "Mars/Olympus", "schedules[0].layers[0].location"},
		{"bad handoff", `"09:00"`, `"25:00"`, "schedules[0].layers[0].handoff"},
		{"zero length", "168h", "0s", "schedules[0].layers[0].length"},
		{"override person", "{person: bob,", "{person: zed,", "schedules[0].overrides[0].person"},
		{"override range", "end: 2025-03-18T18:00:00Z", "end: 2025-03-18T11:00:00Z", "schedules[0].overrides[0].end"},
		{"unknown schedule", "schedule:noc-primary", "schedule:noc-secondary", "policies[0].levels[0].targets[0]"},
		{"unknown person target", "person:bob", "person:zed", "policies[0].levels[1].targets[0]"},
		{"bad kind", "receiver:slack-noc", "channel:slack-noc", "policies[0].levels[0].targets[1]"},
		{"negative delay", "delay: 10m", "delay: -10m", "policies[0].levels[1].delay"},
		{"repeat without after", "repeat_after: 30m", "repeat_after: 0s", "policies[0].repeat_after"},
		{"repeat too big", "repeat: 1", "repeat: 1000", "policies[0].repeat"},
		{"duplicate person", "name: bob, phone", "name: ann, phone", "people[1].name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			y := strings.Replace(goodYAML, c.from, c.to, 1)
			if y == goodYAML {
				t.Fatalf("replacement %q not found", c.from)
			}
			if _, err := Load([]byte(y)); err == nil || !strings.Contains(err.Error(), c.field+":") {
				t.Fatalf("Load error %v does not name %s", err, c.field)
			}
		})
	}
	if _, err := Load([]byte(goodYAML + "bogus: 1\n")); err == nil || !strings.Contains(err.Error(), "line") {
		t.Errorf("unknown key: %v", err)
	}
}

func FuzzLoad(f *testing.F) {
	f.Add([]byte(goodYAML))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Load(data)
		if err != nil {
			return
		}
		e, err := NewEscalator(c, Options{MaxActive: 4})
		if err != nil {
			t.Fatalf("valid config rejected: %v", err)
		}
		t0 := time.Date(2025, 3, 18, 0, 0, 0, 0, time.UTC)
		for _, p := range c.Policies {
			e.Start(p.Name, p.Name, t0)
		}
		e.Tick(t0.Add(1000 * time.Hour))
	})
}

func BenchmarkOnCall(b *testing.B) {
	c, err := Load([]byte(goodYAML))
	if err != nil {
		b.Fatal(err)
	}
	s := &c.Schedules[0]
	at := time.Date(2025, 9, 1, 10, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		s.OnCall(at)
	}
}
