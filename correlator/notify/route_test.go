package notify

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/watchfloor/watchfloor"
)

func TestMatcherOps(t *testing.T) {
	a := watchfloor.Alert{Rule: "link_down", Severity: watchfloor.SeverityHigh, Category: "availability",
		Entity: watchfloor.Entity{Site: "east", Device: "lab-r1"}, Key: "dev=lab-r1",
		Tags: []string{"attack.discovery", "attack.t1046", "attack.lateral_movement"}, Labels: []watchfloor.Attr{{Key: "team", Value: "net"}}}
	for _, c := range []struct {
		m    string
		want bool
	}{
		{"site=east", true}, {"site=west", false}, {`site="east"`, true},
		{"site!=east", false}, {"site!=west", true},
		{"severity=~high|critical", true}, {"severity=~hig", false}, // anchored
		{"severity!~high|critical", false}, {"severity!~low", true},
		{"team=net", true}, {"missing=", true}, {"missing!=", false},
		{"tactic=discovery", true}, {"tactic=lateral_movement", true}, {"tactic=t1046", false},
		{"tactic!=discovery", false}, {"tactic!~exec.*", true}, {"tactic=~lat.*", true},
		{"device=~lab-.*", true}, {"rule=link_down", true}, {"key=dev=lab-r1", true},
	} {
		m, err := ParseMatcher(c.m)
		if err != nil {
			t.Fatalf("%s: %v", c.m, err)
		}
		if got := m.Matches(&a); got != c.want {
			t.Errorf("%s matches = %v, want %v", c.m, got, c.want)
		}
	}
	for _, bad := range []string{"", "=x", "site", "site~x", "a b=c", "x=~(", `x="unterminated`} {
		if _, err := ParseMatcher(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestRouteMatchContinueNesting(t *testing.T) {
	tr := mustTree(t, goodConfig)
	for _, c := range []struct {
		name string
		a    watchfloor.Alert
		want []string // route IDs
		recv []string
	}{
		{"default", watchfloor.Alert{Severity: watchfloor.SeverityLow, Category: "availability"}, []string{"0"}, []string{"noc"}},
		{"security low continues, nothing else matches: only soc",
			watchfloor.Alert{Severity: watchfloor.SeverityLow, Category: "security"}, []string{"0.0"}, []string{"soc"}},
		{"security high continues to the pager, east stays on 0.1",
			watchfloor.Alert{Severity: watchfloor.SeverityHigh, Category: "security", Entity: watchfloor.Entity{Site: "east"}},
			[]string{"0.0", "0.1"}, []string{"soc", "pager"}},
		{"high west goes down to mail; no continue: not the night pager",
			watchfloor.Alert{Severity: watchfloor.SeverityCritical, Entity: watchfloor.Entity{Site: "west"}},
			[]string{"0.1.0"}, []string{"mail"}},
	} {
		var ids []string
		for _, r := range tr.Match(c.a) {
			ids = append(ids, r.ID)
		}
		if !slices.Equal(ids, c.want) {
			t.Errorf("%s: routes %v, want %v", c.name, ids, c.want)
		}
		if got := TestRoute(tr, c.a); !slices.Equal(got, c.recv) {
			t.Errorf("%s: receivers %v, want %v", c.name, got, c.recv)
		}
	}
}

func TestGroupKeyTactic(t *testing.T) {
	tr := mustTree(t, goodConfig)
	a := watchfloor.Alert{Category: "security", Tags: []string{"attack.discovery", "attack.T1046"}}
	r := tr.Match(a)[0]
	if k := r.GroupKey(r.GroupLabels(&a)); k != `0.0:{tactic="discovery"}` {
		t.Errorf("key %s", k)
	}
}

func TestTimeWindows(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	ny, _ := time.LoadLocation("America/New_York")
	win := func(w TimeWindow) *timeWindow {
		tw, err := compileWindow(w)
		if err != nil {
			t.Fatal(err)
		}
		return tw
	}
	nights := win(TimeWindow{Name: "n", Weekdays: []string{"friday"}, Times: []TimeRange{{"22:00", "06:00"}}, Location: "Europe/Berlin"})
	business := win(TimeWindow{Name: "b", Weekdays: []string{"monday:friday"}, Times: []TimeRange{{"08:00", "18:00"}}, Location: "America/New_York"})
	weekend := win(TimeWindow{Name: "w", Weekdays: []string{"saturday:sunday"}})
	late := win(TimeWindow{Name: "l", Times: []TimeRange{{"23:00", "24:00"}}})
	// 2025-06-06 is a Friday.
	for _, c := range []struct {
		w    *timeWindow
		t    time.Time
		want bool
	}{
		{nights, time.Date(2025, 6, 6, 23, 0, 0, 0, berlin), true},
		{nights, time.Date(2025, 6, 7, 2, 0, 0, 0, berlin), true},       // Saturday early: Friday's night
		{nights, time.Date(2025, 6, 7, 6, 0, 0, 0, berlin), false},      // end exclusive
		{nights, time.Date(2025, 6, 6, 2, 0, 0, 0, berlin), false},      // Friday early: Thursday's night
		{nights, time.Date(2025, 6, 7, 23, 0, 0, 0, berlin), false},     // Saturday night
		{nights, time.Date(2025, 6, 6, 21, 30, 0, 0, time.UTC), true},   // 23:30 in Berlin (UTC+2)
		{business, time.Date(2025, 6, 6, 13, 0, 0, 0, time.UTC), true},  // 09:00 in New York
		{business, time.Date(2025, 6, 6, 11, 0, 0, 0, time.UTC), false}, // 07:00 in New York
		{business, time.Date(2025, 6, 6, 17, 59, 0, 0, ny), true},
		{business, time.Date(2025, 6, 7, 12, 0, 0, 0, ny), false}, // Saturday
		{weekend, time.Date(2025, 6, 8, 12, 0, 0, 0, time.UTC), true},
		{weekend, time.Date(2025, 6, 9, 0, 0, 0, 0, time.UTC), false},
		{late, time.Date(2025, 6, 9, 23, 59, 0, 0, time.UTC), true},
		{late, time.Date(2025, 6, 9, 0, 0, 0, 0, time.UTC), false},
	} {
		if got := c.w.Contains(c.t); got != c.want {
			t.Errorf("%s.Contains(%v) = %v, want %v", c.w.name, c.t, got, c.want)
		}
	}
	tr := mustTree(t, goodConfig)
	p, np := tr.Route("0.1"), tr.Route("0.2")
	mon10 := time.Date(2025, 6, 9, 10, 0, 0, 0, berlin)
	mon22 := time.Date(2025, 6, 9, 22, 0, 0, 0, berlin)
	if !p.Active(mon10) || p.Active(mon22) || np.Active(mon10) || !np.Active(mon22) {
		t.Error("route active times wrong")
	}
	mt := mustTree(t, strings.Replace(goodConfig, "active_times: [nights]", "mute_times: [business]", 1))
	if mt.Route("0.2").Active(mon10) || !mt.Route("0.2").Active(mon22) {
		t.Error("mute times wrong")
	}
}
