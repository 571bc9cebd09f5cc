package topology

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/correlator/alerts"
)

const (
	unreachable = DefaultRootRule
	ifDown      = "interface_down"
)

// labConfig declares a camera behind acc-a5 that LLDP does not show.
func labConfig() Config {
	c := DefaultConfig()
	c.Dependencies = []Dependency{{Device: "cam-1", Upstream: []string{"acc-a5"}}}
	return c
}

func labHarness(t *testing.T) *harness {
	cfg := labConfig()
	return newHarness(t, Build(labSite(), cfg), cfg)
}

// expect checks whom each alert is suppressed by (0: not suppressed), and that each root
// lists exactly its children.
func (h *harness) expect(want map[uint64]uint64) {
	h.t.Helper()
	lists := map[uint64][]uint64{}
	for id, root := range want {
		if got := h.get(id).SuppressedBy; got != root {
			h.t.Errorf("alert %d (%s) suppressed by %d, want %d", id, h.get(id).Title, got, root)
		}
		if root != 0 {
			lists[root] = append(lists[root], id)
		}
	}
	for root, children := range lists {
		slices.Sort(children)
		got := slices.Clone(h.get(root).Suppressed)
		slices.Sort(got)
		if !slices.Equal(got, children) {
			h.t.Errorf("root %d lists %v, want %v", root, got, children)
		}
	}
}

// The children fire first (the poller notices the access switches before their
// distribution switch), the root last: it takes them retroactively. A device down behind a
// device that is up is its own root; once its upstream is down too, it and what it explained
// go to the topmost root.
func TestSuppressChildrenFirst(t *testing.T) {
	h := labHarness(t)
	a5 := h.fire(unreachable, "acc-a5", "")
	a6 := h.fire(unreachable, "acc-a6", "")
	cam := h.fire(unreachable, "cam-1", "")
	x1 := h.fire(ifDown, "core-r1", "xe-0/1/2")
	x2 := h.fire(ifDown, "core-r2", "xe-0/1/2")
	other := h.fire(ifDown, "core-r1", "xe-0/1/0") // toward dist-s1: not explained
	a1 := h.fire(unreachable, "acc-a1", "")
	h.expect(map[uint64]uint64{a5: 0, a6: 0, cam: a5, x1: 0, x2: 0, other: 0, a1: 0})

	root := h.fire(unreachable, "dist-s3", "")
	all := map[uint64]uint64{a5: root, a6: root, cam: root, x1: root, x2: root, other: 0, a1: 0, root: 0}
	h.expect(all)

	// Later children join the root at once: the access switch's "reachable" notice, and an
	// exporter-silent alert about dist-s3's flow export address.
	back := h.fire("device_reachable", "acc-a6", "")
	exp, _ := h.m.Fire(alerts.Match{Rule: "exporter_silent", Key: "exporter=192.0.2.dist-s3", Category: watchfloor.CategoryAvailability,
		Title: "exporter silent", Time: base, Entity: watchfloor.Entity{Site: "hq", Host: "192.0.2.dist-s3"}})
	scan, _ := h.m.Fire(alerts.Match{Rule: "port_scan", Key: "src=192.0.2.acc-a5", Category: watchfloor.CategorySecurity,
		Title: "scan", Time: base, Entity: watchfloor.Entity{Site: "hq", Host: "192.0.2.acc-a5"}})
	h.settle()
	all[back], all[exp.ID], all[scan.ID] = root, root, 0 // security alerts are not about devices
	h.expect(all)
	if n := h.metric("watchfloor_suppressor_suppressed_alerts"); n != 7 {
		t.Errorf("suppressed gauge %v", n)
	}

	// One root-cause alert and the rest suppressed: what the on-call engineer is paged for.
	var loud []string
	for _, a := range h.m.List(alerts.Query{Open: true}) {
		if a.SuppressedBy == 0 && a.ID != other && a.ID != a1 && a.ID != scan.ID {
			loud = append(loud, a.Title)
		}
	}
	if len(loud) != 1 {
		t.Errorf("alerts not suppressed: %q", loud)
	}

	// dist-s3 answers again: acc-a5 (still down) is its own root again and takes the
	// camera back; the rest is free.
	h.recover(unreachable, "dist-s3", "")
	// acc-a6's own unreachable alert is still open: it explains its other alerts.
	h.expect(map[uint64]uint64{a5: 0, a6: 0, cam: a5, x1: 0, x2: 0, back: a6, exp.ID: 0})
	if r, _, _ := h.m.Get(root); r.State != watchfloor.AlertResolved || len(r.Suppressed) != 7 {
		t.Errorf("resolved root: %v, lists %v", r.State, r.Suppressed)
	}
	// A new alert behind dist-s3 is not suppressed any more.
	h.recover(unreachable, "acc-a6", "")
	h.expect(map[uint64]uint64{back: 0})
	if a := h.fire(ifDown, "acc-a6", "Te1/1/1"); h.get(a).SuppressedBy != 0 {
		t.Errorf("alert after the root resolved suppressed by %d", h.get(a).SuppressedBy)
	}
	// acc-a5 recovers: the camera is its own root.
	h.recover(unreachable, "acc-a5", "")
	h.expect(map[uint64]uint64{cam: 0})
}

// The root fires first; the children that come after are suppressed as they come.
func TestSuppressRootFirst(t *testing.T) {
	h := labHarness(t)
	root := h.fire(unreachable, "dist-s3", "")
	self := h.fire("device_rebooted", "dist-s3", "") // the dead device's other alerts
	x1 := h.fire(ifDown, "core-r1", "xe-0/1/2")
	a5 := h.fire(unreachable, "acc-a5", "")
	h.expect(map[uint64]uint64{root: 0, self: root, x1: root, a5: root})
	// Another root rule's alert about the same device is not suppressed by the first.
	cfg := labConfig()
	cfg.RootRules = nil // any availability alert about a device
	h2 := newHarness(t, Build(labSite(), cfg), cfg)
	r1 := h2.fire(unreachable, "dist-s3", "")
	r2 := h2.fire("ping_failed", "dist-s3", "")
	c := h2.fire("ping_failed", "acc-a6", "")
	h2.expect(map[uint64]uint64{r1: 0, r2: 0, c: r1})
}

// A Suppressor started over a manager that already holds the alerts (a restart, or the
// appliance wiring it late) suppresses them at once.
func TestSuppressStartLate(t *testing.T) {
	m, err := alerts.New(alerts.DefaultConfig(), alerts.NewMemStore(), nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	fire := func(rule, dev string) uint64 {
		a, _ := m.Fire(alerts.Match{Rule: rule, Key: dev, Category: watchfloor.CategoryAvailability, Time: base,
			Entity: watchfloor.Entity{Device: dev}})
		return a.ID
	}
	a5, root := fire(unreachable, "acc-a5"), fire(unreachable, "dist-s3")
	if _, err := NewSuppressor(Build(labSite(), labConfig()), m, labConfig(), nil, nil); err != nil {
		t.Fatal(err)
	}
	if a, _, _ := m.Get(a5); a.SuppressedBy != root {
		t.Errorf("suppressed by %d, want %d", a.SuppressedBy, root)
	}
}

// A topology change re-applies suppression: once acc-a5 has a second uplink it is no longer
// behind dist-s3.
func TestSuppressSetGraph(t *testing.T) {
	h := labHarness(t)
	root := h.fire(unreachable, "dist-s3", "")
	a5 := h.fire(unreachable, "acc-a5", "")
	a6 := h.fire(unreachable, "acc-a6", "")
	h.expect(map[uint64]uint64{a5: root, a6: root})
	h.s.SetGraph(Build(append(labSite(), devicesOf("acc-a5:Te1/1/2 dist-s2:Ethernet9")...), labConfig()))
	h.settle()
	h.expect(map[uint64]uint64{a5: 0, a6: root})
	if calls := h.metric("watchfloor_suppressor_manager_calls_total"); calls < 3 {
		t.Errorf("%v manager calls", calls)
	}
}

// A full queue drops changes, counts them, and the next pass re-reads the open alerts.
func TestSuppressQueueFull(t *testing.T) {
	cfg := labConfig()
	cfg.QueueSize = 1
	h := newHarness(t, Build(labSite(), cfg), cfg)
	var ids []uint64
	for _, d := range []string{"acc-a5", "acc-a6", "dist-s3"} {
		a, _ := h.m.Fire(alerts.Match{Rule: unreachable, Key: d, Category: watchfloor.CategoryAvailability, Time: base,
			Entity: watchfloor.Entity{Device: d}})
		ids = append(ids, a.ID)
	}
	if err := h.m.Flush(context.Background()); err != nil { // three changes, one fits
		t.Fatal(err)
	}
	if n := h.metric("watchfloor_suppressor_dropped_changes_total"); n != 2 {
		t.Errorf("dropped %v", n)
	}
	h.settle()
	h.expect(map[uint64]uint64{ids[0]: ids[2], ids[1]: ids[2], ids[2]: 0})
	if n := h.metric("watchfloor_suppressor_resyncs_total"); n < 2 { // at start, and after drops
		t.Errorf("resyncs %v", n)
	}
}

// Many writers, the manager's writer and Run at once (run with -race): the end state is
// the one the alerts call for, whatever the order.
func TestSuppressConcurrent(t *testing.T) {
	cfg := labConfig()
	cfg.QueueSize = 64
	g := Build(labSite(), cfg)
	h := newHarness(t, g, cfg)
	ctx, cancel := context.WithCancel(t.Context())
	var run sync.WaitGroup
	run.Go(func() { h.s.Run(ctx) })
	run.Go(func() { h.m.Run(ctx) })
	devices := []string{"dist-s3", "acc-a5", "acc-a6", "cam-1", "dist-s1", "acc-a1", "acc-a2"}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 200 {
				d := devices[(w+i)%len(devices)]
				switch i % 5 {
				case 0, 1:
					h.m.Fire(alerts.Match{Rule: unreachable, Key: d, Category: watchfloor.CategoryAvailability, Time: base,
						Entity: watchfloor.Entity{Device: d}})
				case 2:
					h.m.Fire(alerts.Match{Rule: ifDown, Key: d + fmt.Sprint(i), Category: watchfloor.CategoryAvailability, Time: base,
						Entity: watchfloor.Entity{Device: d, Interface: fmt.Sprint("p", i)}})
				case 3:
					if w == 0 {
						h.m.Recover(unreachable, d, base)
					}
				case 4:
					h.s.OnAlert(watchfloor.Alert{ID: uint64(100000 + i), State: watchfloor.AlertFiring,
						Category: watchfloor.CategoryAvailability, Rule: unreachable, Entity: watchfloor.Entity{Device: d}})
					if i%50 == 4 {
						h.s.SetGraph(g)
					}
				}
			}
		})
	}
	wg.Wait()
	cancel()
	run.Wait()
	h.settle()

	// The state the open alerts call for.
	open := h.m.List(alerts.Query{Open: true, Limit: alerts.MaxLimit})
	rootOf := map[string]uint64{}
	for _, a := range open {
		if a.Rule == unreachable {
			rootOf[a.Entity.Device] = a.ID
		}
	}
	top := func(dev string) uint64 { // the topmost down device dev is behind
		for _, d := range []string{"dist-s3", "dist-s1", "acc-a5"} { // by depth
			if rootOf[d] != 0 && g.IsBehind(dev, d) {
				return rootOf[d]
			}
		}
		return 0
	}
	want := map[uint64]uint64{}
	for _, a := range open {
		w := top(a.Entity.Device)
		if w == 0 && a.Rule != unreachable {
			w = rootOf[a.Entity.Device]
		}
		want[a.ID] = w
	}
	h.expect(want)
	for _, a := range open {
		if a.SuppressedBy != 0 && len(a.Suppressed) > 0 {
			t.Errorf("alert %d is suppressed and suppresses %v", a.ID, a.Suppressed)
		}
	}
}
