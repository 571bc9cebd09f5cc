package correlator

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/correlator/alerts"
)

func TestAbsence(t *testing.T) {
	h := newHarness(t, loadPack(t), DefaultConfig())
	h.flows(flow(t0, "10.1.0.1", "10.2.0.1", 443, 100))
	h.tick(t0.Add(4 * time.Minute))
	if len(h.open("exporter_silent")) != 0 {
		t.Fatal("fired before the timespan")
	}
	h.tick(t0.Add(5*time.Minute + time.Second))
	as := h.open("exporter_silent")
	if len(as) != 1 || as[0].Key != "exporter=10.0.0.1" || as[0].Title != "No flows from 10.0.0.1" {
		t.Fatalf("absence: %+v", as)
	}
	h.tick(t0.Add(7 * time.Minute))
	h.flows(flow(t0.Add(7*time.Minute), "10.1.0.1", "10.2.0.1", 443, 100))
	if len(h.open("exporter_silent")) != 0 || len(h.alerts("exporter_silent")) != 1 {
		t.Fatalf("not resolved by the exporter coming back: %+v", h.alerts("exporter_silent"))
	}
}

func TestThreshold(t *testing.T) {
	h := newHarness(t, loadPack(t), DefaultConfig())
	s := func(at time.Duration, v float64) watchfloor.Sample {
		return watchfloor.Sample{Device: "core-1", IfIndex: 3, Metric: "utilization", Time: t0.Add(at), Value: v}
	}
	for m := 0; m < 5; m++ {
		h.samples(s(time.Duration(m)*time.Minute, 95))
	}
	if len(h.open("utilization_high")) != 0 {
		t.Fatal("fired before for: 5m")
	}
	h.samples(s(5*time.Minute, 97))
	as := h.open("utilization_high")
	if len(as) != 1 || as[0].Key != "device=core-1,if_index=3" || as[0].Title != "Utilization of core-1 ifIndex 3 at 97%" {
		t.Fatalf("threshold: %+v", as)
	}
	h.samples(s(6*time.Minute, 50))
	if len(h.open("utilization_high")) != 0 {
		t.Fatal("not resolved by a false sample")
	}
}

func TestRecovery(t *testing.T) {
	h := newHarness(t, loadPack(t), DefaultConfig())
	down := watchfloor.Event{Time: t0, Kind: watchfloor.EventInterfaceDown, Device: "edge-1", Interface: "ge-0/0/1", Site: "north"}
	h.events(down)
	as := h.open("interface_down")
	if len(as) != 1 || as[0].Key != "device=edge-1,interface=ge-0/0/1" || as[0].Entity.Device != "edge-1" || as[0].Entity.Interface != "ge-0/0/1" || as[0].Entity.Site != "north" {
		t.Fatalf("down: %+v", as)
	}
	other := down
	other.Kind, other.Interface, other.Time = watchfloor.EventInterfaceUp, "ge-0/0/2", t0.Add(time.Second)
	h.events(other)
	if len(h.open("interface_down")) != 1 {
		t.Fatal("another interface's recovery resolved it")
	}
	up := down
	up.Kind, up.Time = watchfloor.EventInterfaceUp, t0.Add(time.Minute)
	h.events(up)
	if len(h.open("interface_down")) != 0 {
		t.Fatal("not recovered")
	}
	if len(h.alerts("interface_up")) != 0 {
		t.Fatal("interface_up only serves as interface_down's recovery: it raises no alert of its own")
	}
}

// TestChainedAndTemporal: port_scan_vertical and syn_flood_source firing for one source feed
// scan_and_flood (temporal, generate: true); temporal_ordered with aliases.
func TestChainedAndTemporal(t *testing.T) {
	h := newHarness(t, loadPack(t), DefaultConfig())
	var batch []watchfloor.Observation
	for i := 0; i < 2100; i++ {
		batch = append(batch, syn(t0.Add(time.Duration(i)*time.Millisecond), "198.51.100.9", "10.20.1.5", uint16(1+i%200)))
	}
	h.obs(batch...)
	for _, rule := range []string{"port_scan_vertical", "syn_flood_source", "scan_and_flood"} {
		if as := h.open(rule); len(as) != 1 {
			t.Fatalf("%s: %+v", rule, as)
		}
	}
	if a := h.open("scan_and_flood")[0]; a.Key != "src_ip=198.51.100.9" {
		t.Fatalf("chain key: %q", a.Key)
	}

	// Lookup then contact, in order: fires; contact then lookup: does not.
	h2 := newHarness(t, loadPack(t), DefaultConfig())
	lookup := func(at time.Duration, src string) watchfloor.Observation {
		return watchfloor.Observation{Time: t0.Add(at), Kind: watchfloor.ObsDNSQuery, SrcAddr: addr(src), DstAddr: addr("10.0.0.53"), Name: []byte("c2.evil.example")}
	}
	contact := func(at time.Duration, src string) watchfloor.Flow {
		f := flow(t0.Add(at), src, "203.0.113.9", 443, 100)
		f.Direction = watchfloor.DirectionOut
		return f
	}
	h2.flows(contact(0, "10.9.0.2"))
	h2.obs(lookup(time.Second, "10.9.0.2"))
	h2.obs(lookup(2*time.Second, "10.9.0.1"))
	h2.flows(contact(3*time.Second, "10.9.0.1"))
	as := h2.open("lookup_then_contact")
	if len(as) != 1 || as[0].Key != "client=10.9.0.1" {
		t.Fatalf("temporal_ordered: %+v", as)
	}
	// generate: true — the referenced detections alert too.
	if len(h2.open("dns_bad")) != 2 || len(h2.open("bad_address_out")) != 2 {
		t.Fatalf("generate: dns_bad %d, bad_address_out %d", len(h2.open("dns_bad")), len(h2.open("bad_address_out")))
	}
	if a := h2.open("dns_bad")[0]; a.Title != a.Entity.Host+" looked up c2.evil.example" && a.Title == "" {
		t.Fatalf("title: %q", a.Title)
	}
}

func TestLateness(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Lateness = 30 * time.Second
	h := newHarness(t, loadPack(t), cfg)
	// 99 ports in order, one far in the future moves the watermark; a record 40 s behind it
	// is dropped (late), one 10 s behind (out of order, within lateness) counts.
	for p := 1; p <= 98; p++ {
		h.obs(syn(t0.Add(time.Duration(p)*100*time.Millisecond), "198.51.100.7", "10.20.1.5", uint16(p)))
	}
	h.obs(syn(t0.Add(50*time.Second), "198.51.100.7", "10.20.1.5", 99))
	h.obs(syn(t0.Add(9*time.Second), "198.51.100.7", "10.20.1.5", 100)) // 41 s late
	if len(h.open("port_scan_vertical")) != 0 {
		t.Fatal("a late record counted")
	}
	h.obs(syn(t0.Add(40*time.Second), "198.51.100.7", "10.20.1.5", 101)) // 10 s out of order
	if len(h.open("port_scan_vertical")) != 1 {
		t.Fatal("an out-of-order record within the lateness did not count")
	}
}

func TestSwapKeepsState(t *testing.T) {
	set := loadPack(t)
	h := newHarness(t, set, DefaultConfig())
	for p := 1; p <= 60; p++ {
		h.obs(syn(t0.Add(time.Duration(p)*10*time.Millisecond), "198.51.100.7", "10.20.1.5", uint16(p)))
	}
	// Same set again (a reload): state kept, 40 more ports fire.
	if err := h.e.Swap(loadPack(t)); err != nil {
		t.Fatal(err)
	}
	for p := 61; p <= 100; p++ {
		h.obs(syn(t0.Add(time.Second+time.Duration(p)*10*time.Millisecond), "198.51.100.7", "10.20.1.5", uint16(p)))
	}
	if len(h.open("port_scan_vertical")) != 1 {
		t.Fatal("state lost over a reload of the same rules")
	}
	// A changed definition starts fresh.
	changed := loadYAML(t, `title: TCP SYN
name: tcp_syn
logsource: {category: tcp}
detection:
  selection: {kind: tcp.syn}
  condition: selection
---
title: Horizontal scan
name: port_scan_horizontal
correlation: {type: value_count, rules: [tcp_syn], group-by: [src_ip, dst_port], timespan: 1m, condition: {field: dst_ip, gte: 3}}
`, nil)
	h2 := newHarness(t, loadPack(t), DefaultConfig())
	for i := 0; i < 2; i++ {
		h2.obs(syn(t0.Add(time.Duration(i)*time.Millisecond), "198.51.100.7", fmt.Sprintf("10.20.1.%d", i+1), 22))
	}
	if err := h2.e.Swap(changed); err != nil {
		t.Fatal(err)
	}
	h2.obs(syn(t0.Add(3*time.Millisecond), "198.51.100.7", "10.20.1.9", 22))
	if len(h2.open("port_scan_horizontal")) != 0 {
		t.Fatal("a changed correlation kept its old state")
	}
}

func TestConcurrentHandle(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := &evClock{t: t0}
	mgr, err := alerts.New(alerts.DefaultConfig(), alerts.NewMemStore(), c.now, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(DefaultConfig(), loadPack(t), mgr, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = e.Run(ctx); close(done) }()
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				at := t0.Add(time.Duration(i) * time.Millisecond)
				e.HandleFlows(w, []watchfloor.Flow{flow(at, "10.1.0.1", "203.0.113.5", 443, 100)})
				e.HandleObservations(w, []watchfloor.Observation{syn(at, fmt.Sprintf("198.51.100.%d", w), "10.20.1.5", uint16(i))})
				e.HandleEvents([]watchfloor.Event{{Time: at, Kind: watchfloor.EventInterfaceDown, Device: "d", Interface: "i"}})
				e.HandleSamples([]watchfloor.Sample{{Time: at, Device: "d", Metric: "utilization", Value: 10}})
				if i == 100 && w == 0 {
					_ = e.Swap(loadPack(t))
				}
			}
		}(w)
	}
	wg.Wait()
	cancel()
	<-done
	if got := testutil.ToFloat64(e.m.records[kiFlow]); got != 800 {
		t.Fatalf("flow records counted %v", got)
	}
	matched := testutil.ToFloat64(e.m.matches.WithLabelValues("tcp_syn"))
	dropped := testutil.ToFloat64(e.m.dropped)
	if matched != 800 {
		t.Fatalf("tcp_syn matches %v", matched)
	}
	if n := len(mgr.List(alerts.Query{Rule: "port_scan_vertical", Limit: 100})); n != 4 && dropped == 0 {
		t.Fatalf("port scans: %d", n)
	}
	if _, err := reg.Gather(); err != nil {
		t.Fatal(err)
	}
}

// TestQueueFullDrops: a full queue drops batches, counted, without blocking.
func TestQueueFullDrops(t *testing.T) {
	cfg := DefaultConfig()
	cfg.QueueSize = 1
	h := newHarness(t, loadPack(t), cfg)
	for i := 0; i < 3; i++ {
		h.e.HandleObservations(0, []watchfloor.Observation{syn(t0, "198.51.100.1", "10.0.0.1", 22)})
	}
	if got := testutil.ToFloat64(h.e.m.dropped); got != 2 {
		t.Fatalf("dropped %v, want 2", got)
	}
	h.e.Drain()
}

// TestMillionSources: a million distinct sources keep every correlation under its caps.
func TestMillionSources(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	cfg := DefaultConfig()
	cfg.Window.MaxGroups = 50_000
	cfg.Window.MaxBytes = 8 << 20
	h := newHarness(t, loadPack(t), cfg)
	const n = 1_000_000
	batch := make([]watchfloor.Observation, 1000)
	for i := 0; i < n; i += len(batch) {
		for j := range batch {
			k := i + j
			s := syn(t0.Add(time.Duration(k)*time.Microsecond), "1.1.1.1", "10.20.1.5", uint16(k))
			s.SrcAddr = netip.AddrFrom4([4]byte{byte(k >> 24), byte(k >> 16), byte(k >> 8), byte(k)})
			batch[j] = s
		}
		h.obs(batch...)
	}
	for _, cn := range h.e.prog.Load().corrs {
		st := cn.stats()
		if st.Groups > int64(cfg.Window.MaxGroups) || cn.bytes() > cfg.Window.MaxBytes {
			t.Errorf("%s: %d groups, %d bytes over the caps", cn.n.r.Name, st.Groups, cn.bytes())
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("heap in use %d MiB", ms.HeapInuse>>20)
}
