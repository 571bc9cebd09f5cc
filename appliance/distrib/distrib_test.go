package distrib

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/appliance/uplink"
)

// site is an appliance in a test: its connection, applier and Subscriber.
type site struct {
	name string
	nc   *nats.Conn
	a    *fakeApplier
	sub  *Subscriber
	reg  *prometheus.Registry
	dir  string
	stop func()
}

func newSite(t *testing.T, srv interface{ ClientURL() string }, name string, a *fakeApplier, dir string, nc *nats.Conn) *site {
	t.Helper()
	reg := prometheus.NewRegistry()
	sub, err := NewSubscriber(name, dir, a, testLog(t), reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Close)
	s := &site{name: name, nc: nc, a: a, sub: sub, reg: reg, dir: dir}
	s.stop = running(t, func(ctx context.Context) error { return sub.Run(ctx, connOf(nc)) })
	return s
}

func newPublisher(t *testing.T, cfg SourceConfig, dataDir string, silences func() []watchfloor.Silence) (*Publisher, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	p, err := NewPublisher(cfg, dataDir, silences, testLog(t), reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p, reg
}

// TestRulesReachSites: a rules pack reaches two sites; a change is applied within seconds
// (told, not polled: the poll is a minute); a broken pack is not offered; a pack one
// appliance refuses leaves its version in force and says why.
func TestRulesReachSites(t *testing.T) {
	srv := startServer(t, "north", "south")
	rulesDir, centralDir := t.TempDir(), t.TempDir()
	writeFile(t, rulesDir, "scan.yaml", ruleFile("Bad address v1"))
	writeFile(t, rulesDir, "lists/bad_ips.txt", "203.0.113.0/24\n")
	cfg := DefaultSourceConfig()
	cfg.Rules, cfg.Scan = rulesDir, 100*time.Millisecond
	pub, _ := newPublisher(t, cfg, centralDir, nil)
	cnc := centralConn(t, srv)
	running(t, func(ctx context.Context) error { return pub.Run(ctx, connOf(cnc)) })

	north := newSite(t, srv, "north", &fakeApplier{refuseMark: "north-refuses"}, t.TempDir(), siteConn(t, srv, "north"))
	south := newSite(t, srv, "south", &fakeApplier{}, t.TempDir(), siteConn(t, srv, "south"))
	both := func(v uint64) func() bool {
		return func() bool {
			return applied(north.sub, KindRules).Version == v && applied(south.sub, KindRules).Version == v
		}
	}
	waitFor(t, 10*time.Second, "version 1 at both sites", both(1))
	for _, s := range []*site{north, south} {
		if got := s.a.file("scan.yaml"); !strings.Contains(got, "Bad address v1") {
			t.Errorf("%s applied scan.yaml %q", s.name, got)
		}
		if got := s.a.file("lists/bad_ips.txt"); got != "203.0.113.0/24\n" {
			t.Errorf("%s applied lists/bad_ips.txt %q", s.name, got)
		}
		a := applied(s.sub, KindRules)
		if a.Digest != offered(pub, KindRules).Digest || a.Refused != 0 || a.Error != "" || a.AppliedAt.IsZero() {
			t.Errorf("%s: applied %+v, offered %+v", s.name, a, offered(pub, KindRules))
		}
		if v := testutil.ToFloat64(s.sub.m.applied.WithLabelValues(KindRules)); v != 1 {
			t.Errorf("%s: watchfloor_distrib_applied_version{kind=rules} = %g", s.name, v)
		}
	}
	if v := testutil.ToFloat64(pub.m.version.WithLabelValues(KindRules)); v != 1 {
		t.Errorf("watchfloor_distrib_version{kind=rules} = %g", v)
	}

	// A change: version 2, told to the sites (their poll is a minute away).
	start := time.Now()
	writeFile(t, rulesDir, "scan.yaml", ruleFile("Bad address v2"))
	waitFor(t, 5*time.Second, "version 2 at both sites", both(2))
	t.Logf("version 2 applied at both sites %s after the change", time.Since(start).Round(time.Millisecond))
	if !strings.Contains(south.a.file("scan.yaml"), "v2") {
		t.Error("south did not get the new content")
	}

	// A broken pack is not offered: the sites stay on 2.
	invalid := testutil.ToFloat64(pub.m.invalid.WithLabelValues(KindRules))
	writeFile(t, rulesDir, "broken.yaml", "title: broken\nname: broken\nlogsource: {category: flow}\ndetection:\n  selection: {no_such_field: 1}\n  condition: selection\n")
	waitFor(t, 5*time.Second, "the broken pack counted", func() bool {
		return testutil.ToFloat64(pub.m.invalid.WithLabelValues(KindRules)) == invalid+1
	})
	time.Sleep(3 * cfg.Scan)
	if o := offered(pub, KindRules); o.Version != 2 {
		t.Errorf("offered %+v after a broken pack, want version 2", o)
	}
	if testutil.ToFloat64(pub.m.invalid.WithLabelValues(KindRules)) != invalid+1 {
		t.Error("the same broken pack counted more than once")
	}
	if !both(2)() {
		t.Errorf("sites moved off version 2: north %+v south %+v", applied(north.sub, KindRules), applied(south.sub, KindRules))
	}

	// A pack north refuses: south applies 3; north keeps 2 in force and says why.
	writeFile(t, rulesDir, "broken.yaml", "# north-refuses\n"+strings.ReplaceAll(ruleFile("Other"), "bad_address_out", "other_rule"))
	waitFor(t, 5*time.Second, "version 3 at south, refused at north", func() bool {
		return applied(south.sub, KindRules).Version == 3 && applied(north.sub, KindRules).Refused == 3
	})
	a := applied(north.sub, KindRules)
	if a.Version != 2 || !strings.Contains(a.Error, "broken.yaml:1:1: refused") {
		t.Errorf("north: %+v, want version 2 in force, refused 3 with the reason", a)
	}
	if strings.Contains(north.a.file("scan.yaml"), "v1") || north.a.file("broken.yaml") != "" {
		t.Error("north's applier does not hold version 2")
	}
	if v := testutil.ToFloat64(north.sub.m.refused.WithLabelValues(KindRules)); v != 1 {
		t.Errorf("north: watchfloor_distrib_refused_total{kind=rules} = %g", v)
	}
	// Polls go on, but the refused version is not applied again.
	north.a.mu.Lock()
	calls := north.a.rulesN
	north.a.mu.Unlock()
	pub.SilencesChanged()
	north.sub.wake <- struct{}{}
	time.Sleep(500 * time.Millisecond)
	north.a.mu.Lock()
	again := north.a.rulesN != calls
	north.a.mu.Unlock()
	if again {
		t.Error("north applied the refused version again")
	}
	if n := testutil.ToFloat64(pub.m.requests.WithLabelValues("offer")); n < 4 {
		t.Errorf("requests{result=offer} = %g", n)
	}
}

// TestSilencesPerSite: each site gets the silences that concern it, under central- IDs;
// a new silence arrives when central says its silences changed.
func TestSilencesPerSite(t *testing.T) {
	srv := startServer(t, "north", "south")
	now := time.Now()
	sil := func(id string, end time.Duration, ms ...watchfloor.Matcher) watchfloor.Silence {
		ms = append(ms, watchfloor.Matcher{Name: "rule", Op: "=", Value: "x"})
		return watchfloor.Silence{ID: id, Matchers: ms, StartsAt: now.Add(-time.Hour), EndsAt: now.Add(end), CreatedBy: "noc"}
	}
	var mu sync.Mutex
	list := []watchfloor.Silence{
		sil("only-north", time.Hour, watchfloor.Matcher{Name: "site", Op: "=", Value: "north"}),
		sil("everywhere", time.Hour),
		sil("s-sites", time.Hour, watchfloor.Matcher{Name: "site", Op: "=~", Value: "s.*"}),
		sil("not-south", time.Hour, watchfloor.Matcher{Name: "site", Op: "!=", Value: "south"}),
		sil("expired", -time.Minute),
	}
	silences := func() []watchfloor.Silence { mu.Lock(); defer mu.Unlock(); return slices.Clone(list) }
	cfg := DefaultSourceConfig()
	cfg.Silences, cfg.Scan = true, time.Hour // only SilencesChanged makes new versions here
	pub, _ := newPublisher(t, cfg, t.TempDir(), silences)
	cnc := centralConn(t, srv)
	running(t, func(ctx context.Context) error { return pub.Run(ctx, connOf(cnc)) })
	north := newSite(t, srv, "north", &fakeApplier{}, t.TempDir(), siteConn(t, srv, "north"))
	south := newSite(t, srv, "south", &fakeApplier{}, t.TempDir(), siteConn(t, srv, "south"))
	want := map[*site][]string{
		north: {"central-everywhere", "central-not-south", "central-only-north"},
		south: {"central-everywhere", "central-s-sites"},
	}
	for s, ids := range want {
		waitFor(t, 10*time.Second, s.name+"'s silences", func() bool {
			return slices.Equal(s.a.silenceIDs(), ids) && applied(s.sub, KindSilences).Version == 1
		})
		a := applied(s.sub, KindSilences)
		if a.Version != 1 || a.Digest == offered(pub, KindSilences).Digest {
			t.Errorf("%s: %+v; want version 1 with the site's own digest (not the global %s)", s.name, a, offered(pub, KindSilences).Digest)
		}
	}
	mu.Lock()
	list = append(list, sil("new-north", time.Hour, watchfloor.Matcher{Name: "site", Op: "=~", Value: "nor.*"}))
	mu.Unlock()
	pub.SilencesChanged()
	waitFor(t, 5*time.Second, "the new silence at north", func() bool {
		return slices.Contains(north.a.silenceIDs(), "central-new-north") && applied(north.sub, KindSilences).Version == 2
	})
	waitFor(t, 5*time.Second, "south renumbered", func() bool { return applied(south.sub, KindSilences).Version == 2 })
	if !slices.Equal(south.a.silenceIDs(), want[south]) {
		t.Errorf("south's silences %v", south.a.silenceIDs())
	}
}

// TestRestartWithoutCentral: a Subscriber started again with central out of reach applies
// what it kept under dataDir/dist/.
func TestRestartWithoutCentral(t *testing.T) {
	srv := startServer(t, "north")
	rulesDir := t.TempDir()
	writeFile(t, rulesDir, "scan.yaml", ruleFile("Kept"))
	writeFile(t, rulesDir, "lists/bad_ips.txt", "198.51.100.0/24\n")
	cfg := DefaultSourceConfig()
	cfg.Rules, cfg.Silences, cfg.Scan = rulesDir, true, 100*time.Millisecond
	sl := []watchfloor.Silence{{ID: "maint", Matchers: []watchfloor.Matcher{{Name: "device", Op: "=", Value: "r1"}},
		StartsAt: time.Now(), EndsAt: time.Now().Add(time.Hour)}}
	pub, _ := newPublisher(t, cfg, t.TempDir(), func() []watchfloor.Silence { return sl })
	cnc := centralConn(t, srv)
	running(t, func(ctx context.Context) error { return pub.Run(ctx, connOf(cnc)) })
	dir := t.TempDir()
	first := newSite(t, srv, "north", &fakeApplier{}, dir, siteConn(t, srv, "north"))
	waitFor(t, 10*time.Second, "rules and silences applied", func() bool {
		return applied(first.sub, KindRules).Version == 1 && applied(first.sub, KindSilences).Version == 1
	})
	before := first.sub.Applied()
	first.stop()
	first.sub.Close()

	a := &fakeApplier{}
	again, err := NewSubscriber("north", dir, a, testLog(t), nil) // no Run: central is not asked
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(a.file("scan.yaml"), "Kept") || a.file("lists/bad_ips.txt") != "198.51.100.0/24\n" {
		t.Errorf("rules not applied again: %v", a.files)
	}
	if ids := a.silenceIDs(); !slices.Equal(ids, []string{"central-maint"}) {
		t.Errorf("silences applied again: %v", ids)
	}
	if got := again.Applied(); !equalApplied(got, before) {
		t.Errorf("Applied after restart %+v, before %+v", got, before)
	}
}

func equalApplied(a, b []uplink.Applied) bool {
	return slices.EqualFunc(a, b, func(x, y uplink.Applied) bool {
		return x.Kind == y.Kind && x.Version == y.Version && x.Digest == y.Digest && x.AppliedAt.Equal(y.AppliedAt) &&
			x.Refused == y.Refused && x.Error == y.Error
	})
}

// TestSiteCannotAskAsAnother: north cannot publish on south's request subject; central
// answers nothing.
func TestSiteCannotAskAsAnother(t *testing.T) {
	srv := startServer(t, "north", "south")
	cfg := DefaultSourceConfig()
	cfg.Silences = true
	sl := []watchfloor.Silence{{ID: "south-only", Matchers: []watchfloor.Matcher{{Name: "site", Op: "=", Value: "south"}},
		StartsAt: time.Now(), EndsAt: time.Now().Add(time.Hour)}}
	pub, _ := newPublisher(t, cfg, t.TempDir(), func() []watchfloor.Silence { return sl })
	cnc := centralConn(t, srv)
	running(t, func(ctx context.Context) error { return pub.Run(ctx, connOf(cnc)) })
	asyncErr := make(chan error, 4)
	north := siteConn(t, srv, "north", nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case asyncErr <- err:
		default:
		}
	}))
	req, _ := json.Marshal(request{})
	// North's own subject is answered (the publisher is up)...
	waitFor(t, 5*time.Second, "an answer on north's own subject", func() bool {
		_, err := north.Request(uplink.DistRequestSubject("north"), req, time.Second)
		return err == nil
	})
	time.Sleep(100 * time.Millisecond) // the answer is counted after it is sent
	served := testutil.ToFloat64(pub.m.requests.WithLabelValues("offer"))
	// ...south's is refused by the server.
	msg, err := north.Request(uplink.DistRequestSubject("south"), req, time.Second)
	if err == nil {
		t.Fatalf("north asked as south and got %q", msg.Data)
	}
	select {
	case e := <-asyncErr:
		if !strings.Contains(strings.ToLower(e.Error()), "permissions violation") {
			t.Errorf("async error %v, want a permissions violation", e)
		}
	case <-time.After(2 * time.Second):
		t.Error("no permissions violation reported")
	}
	if got := testutil.ToFloat64(pub.m.requests.WithLabelValues("offer")); got != served {
		t.Errorf("central served %g requests as south", got-served)
	}
	pub.mu.RLock()
	sawSouth := pub.sites["south"]
	pub.mu.RUnlock()
	if sawSouth {
		t.Error("central took a request for south")
	}
}

// TestChunkedLists: a lists bundle over NATS's default 1 MiB payload arrives in chunks,
// intact.
func TestChunkedLists(t *testing.T) {
	srv := startServer(t, "north")
	rulesDir, listsDir := t.TempDir(), t.TempDir()
	writeFile(t, rulesDir, "scan.yaml", ruleFile("Feed"))
	writeFile(t, rulesDir, "lists/bad_ips.txt", "192.0.2.1\n")
	var b strings.Builder
	for i := 0; b.Len() < 1536<<10; i++ {
		fmt.Fprintf(&b, "10.%d.%d.%d ; entry %d\n", i>>16&255, i>>8&255, i&255, i)
	}
	feed := b.String()
	writeFile(t, listsDir, "bad_ips.txt", feed) // overrides the rules' own lists/bad_ips.txt
	writeFile(t, listsDir, "feodo.txt", "203.0.113.9\n")
	writeFile(t, listsDir, "lists.yaml", "- {name: c2, file: feodo.txt, type: ip}\n")
	cfg := DefaultSourceConfig()
	cfg.Rules, cfg.Lists, cfg.Scan = rulesDir, listsDir, 100*time.Millisecond
	pub, _ := newPublisher(t, cfg, t.TempDir(), nil)
	cnc := centralConn(t, srv)
	running(t, func(ctx context.Context) error { return pub.Run(ctx, connOf(cnc)) })
	north := newSite(t, srv, "north", &fakeApplier{}, t.TempDir(), siteConn(t, srv, "north"))
	waitFor(t, 20*time.Second, "rules and lists applied", func() bool {
		return applied(north.sub, KindRules).Version == 1 && applied(north.sub, KindLists).Version == 1
	})
	if got := north.a.file("lists/bad_ips.txt"); got != feed {
		t.Fatalf("lists/bad_ips.txt: %d bytes, want the feed's %d", len(got), len(feed))
	}
	if !strings.Contains(north.a.file("lists.yaml"), "lists/feodo.txt") {
		t.Errorf("lists.yaml: %q, want the lists bundle's declaration under lists/", north.a.file("lists.yaml"))
	}
	if n := testutil.ToFloat64(pub.m.requests.WithLabelValues("chunk")); n < 2 {
		t.Errorf("%g chunk requests for a %d-byte bundle", n, len(feed))
	}
	if got, want := testutil.ToFloat64(north.sub.m.received), float64(len(feed)); got < want {
		t.Errorf("received %g bytes, want at least %g", got, want)
	}
}

// TestVersionsSurvivePublisherRestart: central started again keeps its numbering and
// offers what it offered before at once.
func TestVersionsSurvivePublisherRestart(t *testing.T) {
	rulesDir, dataDir := t.TempDir(), t.TempDir()
	writeFile(t, rulesDir, "scan.yaml", ruleFile("one"))
	writeFile(t, rulesDir, "lists/bad_ips.txt", "192.0.2.1\n")
	cfg := DefaultSourceConfig()
	cfg.Rules, cfg.Scan = rulesDir, time.Hour
	conn := func() *nats.Conn { return nil } // no server needed: versions are made by scans
	p1, _ := newPublisher(t, cfg, dataDir, nil)
	if !p1.scan() {
		t.Fatal("first scan made no version")
	}
	writeFile(t, rulesDir, "scan.yaml", ruleFile("two"))
	p1.scan()
	v2 := offered(p1, KindRules)
	if v2.Version != 2 {
		t.Fatalf("offered %+v, want version 2", v2)
	}
	p1.Close()

	p2, _ := newPublisher(t, cfg, dataDir, nil)
	if got := offered(p2, KindRules); got != v2 {
		t.Fatalf("after restart, before any scan: %+v, want %+v", got, v2)
	}
	stop := running(t, func(ctx context.Context) error { return p2.Run(ctx, conn) })
	time.Sleep(50 * time.Millisecond)
	stop()
	if got := offered(p2, KindRules); got != v2 {
		t.Errorf("after a scan of the same directory: %+v, want %+v", got, v2)
	}
	writeFile(t, rulesDir, "scan.yaml", ruleFile("three"))
	p2.scan()
	if got := offered(p2, KindRules); got.Version != 3 {
		t.Errorf("after a change: %+v, want version 3", got)
	}
}

// TestNewConnection: both sides follow the connection conn returns: none at first, then
// one, then another after the first is closed (the uplink's, or central's, made again).
func TestNewConnection(t *testing.T) {
	srv := startServer(t, "north")
	rulesDir := t.TempDir()
	writeFile(t, rulesDir, "scan.yaml", ruleFile("one"))
	writeFile(t, rulesDir, "lists/bad_ips.txt", "192.0.2.1\n")
	cfg := DefaultSourceConfig()
	cfg.Rules, cfg.Scan = rulesDir, 100*time.Millisecond
	pub, _ := newPublisher(t, cfg, t.TempDir(), nil)
	var cp, sp atomic.Pointer[nats.Conn]
	cp.Store(centralConn(t, srv))
	running(t, func(ctx context.Context) error { return pub.Run(ctx, cp.Load) })
	a := &fakeApplier{}
	sub, err := NewSubscriber("north", t.TempDir(), a, testLog(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	running(t, func(ctx context.Context) error { return sub.Run(ctx, sp.Load) })
	time.Sleep(1200 * time.Millisecond)
	if got := sub.Applied(); len(got) != 0 {
		t.Fatalf("applied %+v without a connection", got)
	}
	first := siteConn(t, srv, "north")
	sp.Store(first)
	waitFor(t, 5*time.Second, "version 1 on the first connection", func() bool { return applied(sub, KindRules).Version == 1 })

	first.Close()
	old := cp.Load()
	cp.Store(centralConn(t, srv))
	old.Close()
	sp.Store(siteConn(t, srv, "north"))
	time.Sleep(1500 * time.Millisecond) // both sides take up the new connections
	writeFile(t, rulesDir, "scan.yaml", ruleFile("two"))
	waitFor(t, 5*time.Second, "version 2 on the new connections", func() bool { return applied(sub, KindRules).Version == 2 })
}
