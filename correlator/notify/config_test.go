package notify

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

var testReceivers = []string{"noc", "soc", "pager", "mail", "night-pager"}

func TestParseConfigGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/config/*.yaml")
	if len(files) == 0 {
		t.Fatal("no testdata")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			name := filepath.Base(f)
			c, errs := ParseConfig(name, data, testReceivers)
			if c != nil {
				t.Fatal("config with errors returned")
			}
			var b strings.Builder
			for _, e := range errs {
				b.WriteString(e.Error() + "\n")
			}
			golden := strings.TrimSuffix(f, ".yaml") + ".golden"
			if *update {
				os.WriteFile(golden, []byte(b.String()), 0o644)
			}
			want, _ := os.ReadFile(golden)
			if b.String() != string(want) || len(want) == 0 {
				t.Errorf("errors:\n%s\nwant:\n%s", b.String(), want)
			}
		})
	}
}

const goodConfig = `
route:
  receiver: noc
  group_by: [site, rule]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
  routes:
    - matchers: ["category=security"]
      receiver: soc
      group_by: [tactic]
      continue: true
    - matchers: ["severity=~high|critical"]
      receiver: pager
      group_wait: 10s
      active_times: [business]
      routes:
        - matchers: ["site!=east"]
          receiver: mail
          repeat_interval: 1d
    - matchers: ["severity=~high|critical"]
      receiver: night-pager
      active_times: [nights]
time_windows:
  - name: business
    weekdays: ["monday:friday"]
    times: [{start: "08:00", end: "18:00"}]
    location: Europe/Berlin
  - name: nights
    times: [{start: "18:00", end: "08:00"}]
    location: Europe/Berlin
`

func mustTree(t testing.TB, src string) *Tree {
	t.Helper()
	c, errs := ParseConfig("routes.yaml", []byte(src), testReceivers)
	if len(errs) > 0 {
		t.Fatalf("parse: %v", errs)
	}
	tr, err := NewTree(c)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestParseConfigGood(t *testing.T) {
	tr := mustTree(t, goodConfig)
	r := tr.Route("0.1.0")
	if r == nil {
		t.Fatal("no route 0.1.0")
	}
	// defaults inherited from parents: group_by from root, group_wait from 0.1, interval from root
	if r.Receiver != "mail" || r.GroupWait != 10*time.Second || r.GroupInterval != 5*time.Minute ||
		r.RepeatInterval != 24*time.Hour || strings.Join(r.GroupBy, ",") != "rule,site" {
		t.Errorf("route 0.1.0 = %+v", r)
	}
	if s := tr.Route("0.0"); strings.Join(s.GroupBy, ",") != "tactic" || !s.Continue {
		t.Errorf("route 0.0 = %+v", s)
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"30s": 30 * time.Second, "2d": 48 * time.Hour, "1h30m": 90 * time.Minute} {
		if d, err := ParseDuration(in); err != nil || d != want {
			t.Errorf("%s = %v, %v", in, d, err)
		}
	}
	for _, in := range []string{"", "d", "-1xd", "soon", "99999999d"} {
		if _, err := ParseDuration(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(goodConfig))
	for _, p := range []string{"testdata/config/bad.yaml", "testdata/config/yamlerr.yaml"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("route: &a {receiver: noc, routes: [*a]}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, errs := ParseConfig("f.yaml", data, testReceivers)
		if c == nil && len(errs) == 0 {
			t.Fatal("neither config nor errors")
		}
		for _, e := range errs {
			if e.Line < 1 || e.Msg == "" {
				t.Fatalf("bad error %+v", e)
			}
		}
		if c != nil {
			if _, err := NewTree(c); err != nil {
				t.Fatalf("accepted config does not compile: %v", err)
			}
		}
	})
}
