package topology

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/appliance/lab"
	"github.com/watchfloor/watchfloor/collectors/snmp"
	"github.com/watchfloor/watchfloor/correlator/alerts"
)

// devicesOf builds devices from links written "a:port b:port" (the LLDP neighbour is
// recorded on a's side only, as when b is not polled or its table is missing) and roles
// written "name=role".
func devicesOf(specs ...string) []watchfloor.Device {
	var ds []watchfloor.Device
	at := map[string]int{}
	dev := func(name string) *watchfloor.Device {
		if i, ok := at[name]; ok {
			return &ds[i]
		}
		at[name] = len(ds)
		ds = append(ds, watchfloor.Device{Name: name, Site: "hq", Address: "192.0.2." + name + ":161"})
		return &ds[len(ds)-1]
	}
	for _, s := range specs {
		if name, role, ok := strings.Cut(s, "="); ok {
			dev(name).Role = role
			continue
		}
		a, b, _ := strings.Cut(s, " ")
		an, ap, _ := strings.Cut(a, ":")
		bn, bp, _ := strings.Cut(b, ":")
		dev(bn)
		d := dev(an)
		d.Neighbors = append(d.Neighbors, watchfloor.Neighbor{LocalPort: ap, RemoteSysName: bn, RemotePort: bp})
	}
	return ds
}

// labSite is the lab's standard site as links: two cores, a firewall, three distribution
// switches each on both cores, two access switches on each distribution switch.
func labSite() []watchfloor.Device {
	return devicesOf(
		"core-r1=core", "core-r2=core",
		"core-r1:et-0/0/0 core-r2:et-0/0/0", "core-r1:et-0/0/1 core-r2:et-0/0/1",
		"core-r1:xe-0/1/3 fw-1:ethernet1/1", "core-r2:xe-0/1/3 fw-1:ethernet1/2",
		"core-r1:xe-0/1/0 dist-s1:Ethernet1", "core-r2:xe-0/1/0 dist-s1:Ethernet2",
		"core-r1:xe-0/1/1 dist-s2:Ethernet1", "core-r2:xe-0/1/1 dist-s2:Ethernet2",
		"core-r1:xe-0/1/2 dist-s3:Ethernet1", "core-r2:xe-0/1/2 dist-s3:Ethernet2",
		"acc-a1:Te1/1/1 dist-s1:Ethernet3", "acc-a2:Te1/1/1 dist-s1:Ethernet4",
		"acc-a3:Te1/1/1 dist-s2:Ethernet3", "acc-a4:Te1/1/1 dist-s2:Ethernet4",
		"acc-a5:Te1/1/1 dist-s3:Ethernet3", "acc-a6:Te1/1/1 dist-s3:Ethernet4",
	)
}

// labPoller returns a function that polls every device of a running lab once through the
// real SNMP poller (one poller, so a device that stops answering keeps its last state).
func labPoller(t testing.TB, l *lab.Lab) func() []watchfloor.Device {
	t.Helper()
	cfg := snmp.DefaultConfig()
	cfg.Site = lab.DefaultSite
	cfg.Targets = l.Targets()
	cfg.Timeout = 300 * time.Millisecond
	cfg.Retries = 0
	p, err := snmp.New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return func() []watchfloor.Device {
		var sk sink
		p.PollAll(t.Context(), &sk)
		return sk.devices
	}
}

type sink struct {
	mu      sync.Mutex
	devices []watchfloor.Device
}

func (s *sink) PutDevice(d watchfloor.Device) {
	s.mu.Lock()
	s.devices = append(s.devices, d)
	s.mu.Unlock()
}
func (s *sink) PutSamples([]watchfloor.Sample) {}
func (s *sink) PutEvents([]watchfloor.Event)   {}

var base = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// harness is a real alert manager on a memory store with a Suppressor subscribed to it.
type harness struct {
	t   testing.TB
	m   *alerts.Manager
	s   *Suppressor
	reg *prometheus.Registry
}

func newHarness(t testing.TB, g *Graph, cfg Config) *harness {
	t.Helper()
	m, err := alerts.New(alerts.DefaultConfig(), alerts.NewMemStore(), func() time.Time { return base }, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	s, err := NewSuppressor(g, m, cfg, slog.New(slog.DiscardHandler), reg)
	if err != nil {
		t.Fatal(err)
	}
	m.Subscribe(s.OnAlert)
	return &harness{t, m, s, reg}
}

// fire reports a match of rule about device (and port, if not ""), writes it, and lets the
// suppressor see it.
func (h *harness) fire(rule, device, port string) uint64 {
	h.t.Helper()
	x := alerts.Match{Rule: rule, Key: "device=" + device + ",if=" + port, Severity: watchfloor.SeverityHigh,
		Category: watchfloor.CategoryAvailability, Title: rule + " " + device + " " + port, Time: base,
		Entity: watchfloor.Entity{Site: "hq", Device: device, Interface: port}}
	a, _ := h.m.Fire(x)
	h.settle()
	return a.ID
}

func (h *harness) recover(rule, device, port string) {
	h.t.Helper()
	h.m.Recover(rule, "device="+device+",if="+port, base.Add(time.Minute))
	h.settle()
}

// settle writes the manager's changes (which tells the suppressor), applies them, and
// writes what the suppressor changed.
func (h *harness) settle() {
	h.t.Helper()
	for range 2 {
		if err := h.m.Flush(context.Background()); err != nil {
			h.t.Fatal(err)
		}
		h.s.Drain()
	}
	if err := h.m.Flush(context.Background()); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) get(id uint64) watchfloor.Alert {
	h.t.Helper()
	a, ok, err := h.m.Get(id)
	if err != nil || !ok {
		h.t.Fatalf("alert %d: %v %v", id, ok, err)
	}
	return a
}

func (h *harness) metric(name string) float64 {
	h.t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			if m.Counter != nil {
				return m.Counter.GetValue()
			}
			return m.Gauge.GetValue()
		}
	}
	return -1
}
