package correlator

import (
	"net/netip"
	"slices"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/correlator/alerts"
	"github.com/watchfloor/watchfloor/rules"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// evClock is the alert manager's clock in tests: event time.
type evClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *evClock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *evClock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

type harness struct {
	t     testing.TB
	e     *Engine
	mgr   *alerts.Manager
	clock *evClock
}

func loadPack(t testing.TB) *rules.Set {
	t.Helper()
	set, errs := rules.LoadDir("testdata/pack")
	if errs != nil {
		t.Fatalf("load pack: %v", errs)
	}
	return set
}

func loadYAML(t testing.TB, src string, lists map[string]string) *rules.Set {
	t.Helper()
	fsys := fstest.MapFS{"r.yaml": {Data: []byte(src)}}
	ls := &rules.Lists{ByName: map[string]*rules.List{}}
	for name, body := range lists {
		l, errs := rules.ParseList(name, name, []byte(body), 0)
		if errs != nil {
			t.Fatalf("list %s: %v", name, errs)
		}
		ls.ByName[name] = l
	}
	set, errs := rules.LoadFiles(fsys, ls, "r.yaml")
	if errs != nil {
		t.Fatalf("rules: %v", errs)
	}
	return set
}

func newHarness(t testing.TB, set *rules.Set, cfg Config) *harness {
	t.Helper()
	c := &evClock{t: t0}
	mgr, err := alerts.New(alerts.DefaultConfig(), alerts.NewMemStore(), c.now, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(cfg, set, mgr, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, e: e, mgr: mgr, clock: c}
}

// tick advances event time (engine and manager clock).
func (h *harness) tick(t time.Time) {
	h.clock.set(t)
	h.e.Tick(t)
}

func (h *harness) flows(fs ...watchfloor.Flow) {
	h.e.HandleFlows(0, fs)
	h.e.Drain()
}

func (h *harness) obs(os ...watchfloor.Observation) {
	h.e.HandleObservations(0, os)
	h.e.Drain()
}

func (h *harness) events(es ...watchfloor.Event) {
	h.e.HandleEvents(es)
	h.e.Drain()
}

func (h *harness) samples(ss ...watchfloor.Sample) {
	h.e.HandleSamples(ss)
	h.e.Drain()
}

// alerts returns the alerts of rule (open and resolved), oldest first.
func (h *harness) alerts(rule string) []watchfloor.Alert {
	as := h.mgr.List(alerts.Query{Rule: rule, Limit: alerts.MaxLimit})
	for i, j := 0, len(as)-1; i < j; i, j = i+1, j-1 {
		as[i], as[j] = as[j], as[i]
	}
	return as
}

func (h *harness) open(rule string) []watchfloor.Alert {
	return h.mgr.List(alerts.Query{Rule: rule, Open: true, Limit: alerts.MaxLimit})
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func syn(t time.Time, src, dst string, port uint16) watchfloor.Observation {
	return watchfloor.Observation{Time: t, Kind: watchfloor.ObsTCPSyn, SrcAddr: addr(src), DstAddr: addr(dst), SrcPort: 40000, DstPort: port, Proto: 6, TCPFlags: 2, SamplingRate: 1}
}

func flow(t time.Time, src, dst string, dport uint16, bytes uint64) watchfloor.Flow {
	return watchfloor.Flow{Received: t, Start: t.Add(-time.Second), End: t, Exporter: addr("10.0.0.1"), SrcAddr: addr(src), DstAddr: addr(dst),
		SrcPort: 50000, DstPort: dport, Proto: 6, Bytes: bytes, Packets: 10, SamplingRate: 1, Direction: watchfloor.DirectionInternal}
}

func withoutRules(t testing.TB, set *rules.Set, names ...string) *rules.Set {
	t.Helper()
	var keep []*rules.Rule
	for _, r := range set.Rules {
		if !slices.Contains(names, r.Name) {
			keep = append(keep, r)
		}
	}
	s, errs := rules.NewSet(keep, set.Lists)
	if errs != nil {
		t.Fatal(errs)
	}
	return s
}
