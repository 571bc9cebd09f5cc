package topology

import (
	"slices"
	"testing"
	"time"

	"github.com/watchfloor/watchfloor/appliance/lab"
)

// The lab's site, polled through the real SNMP poller: roots, depths, what is behind each
// distribution switch, and the cores' ports that face it.
func TestLabGraph(t *testing.T) {
	l, err := lab.Start(t.Context(), lab.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ds := labPoller(t, l)()
	if len(ds) != 12 {
		t.Fatalf("%d devices polled", len(ds))
	}
	g := Build(ds, DefaultConfig())
	checkLabGraph(t, g)
	// The site as the lab defines it, written by hand, gives the same answers for the
	// monitored devices.
	h := Build(labSite(), DefaultConfig())
	for _, d := range []string{"core-r1", "fw-1", "dist-s1", "dist-s2", "dist-s3", "acc-a5"} {
		var want []string
		for _, x := range g.Behind(d) {
			if h.Depth(x) >= 0 {
				want = append(want, x)
			}
		}
		if got := h.Behind(d); !slices.Equal(got, want) {
			t.Errorf("hand-written site: behind %s %v, polled %v", d, got, want)
		}
		if got, want := h.Facing(d), g.Facing(d); !slices.Equal(got, want) {
			t.Errorf("hand-written site: facing %s %v, polled %v", d, got, want)
		}
	}
}

func checkLabGraph(t *testing.T, g *Graph) {
	t.Helper()
	if got := g.Roots(); !slices.Equal(got, []string{"core-r1", "core-r2"}) {
		t.Errorf("roots %v", got)
	}
	for d, want := range map[string]int{"core-r1": 0, "core-r2": 0, "fw-1": 1, "dist-s3": 1, "acc-a5": 2, "esx-03": 2, "ap-1C-01": 3, "nosuch": -1} {
		if got := g.Depth(d); got != want {
			t.Errorf("depth of %s %d, want %d", d, got, want)
		}
	}
	for d, want := range map[string][]string{
		// Unmonitored LLDP neighbours (access points, hosts) count as devices too.
		"dist-s3": {"acc-a5", "acc-a6", "ap-1C-01", "ap-2C-01", "esx-03"},
		"dist-s1": {"acc-a1", "acc-a2", "ap-1A-01", "ap-2A-01", "esx-01"},
		"acc-a5":  {"ap-1C-01"},
		"core-r1": {"isp-a-pe1"}, // the cores back each other up: only its transit is behind it
		"fw-1":    {"dmz-sw1"},
		"nosuch":  nil,
	} {
		if got := g.Behind(d); !slices.Equal(got, want) {
			t.Errorf("behind %s: %v, want %v", d, got, want)
		}
	}
	want := []Port{{"core-r1", "xe-0/1/2"}, {"core-r2", "xe-0/1/2"}}
	if got := g.Facing("dist-s3"); !slices.Equal(got, want) {
		t.Errorf("facing dist-s3: %v, want %v", got, want)
	}
	if got := g.Facing("acc-a5"); !slices.Equal(got, []Port{{"dist-s3", "Ethernet3"}}) {
		t.Errorf("facing acc-a5: %v", got)
	}
	if got := g.Facing("core-r1"); len(got) != 6 { // core-r2 ×2, fw-1, dist-s1…s3
		t.Errorf("facing core-r1: %v", got)
	}
}

// During the lab's outage, dist-s3 and what hangs off it are silent and the cores no longer
// see it in LLDP: a graph of that poll alone has lost dist-s3's uplinks, the Tracker's has
// not.
func TestLabOutageGraph(t *testing.T) {
	if testing.Short() {
		t.Skip("plays the lab timeline for a few seconds")
	}
	const scale = 0.03
	l, err := lab.Start(t.Context(), lab.Options{Timeline: true, TimeScale: scale}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	start := time.Now()
	var from, to time.Duration
	steps, _ := l.Incidents()
	for _, s := range steps {
		if s.Device == "dist-s3" && s.What == "unreachable" {
			from = s.At
		}
		if s.Device == "dist-s3" && s.What == "reachable" {
			to = s.At
		}
	}
	poll := labPoller(t, l)
	tr := NewTracker(DefaultConfig())
	g := tr.Update(poll(), time.Now())
	checkLabGraph(t, g)
	time.Sleep(time.Until(start.Add((from + to) / 2)))
	ds := poll()
	if time.Since(start) > to {
		t.Skip("the machine is too slow to poll within the outage")
	}
	// What the devices that answered this poll say (a poller that started during the
	// outage knows no more).
	for i := range ds {
		if ds[i].PollError != "" {
			ds[i].Neighbors = nil
		}
	}
	silent := 0
	for _, d := range ds {
		if d.PollError != "" {
			silent++
			if !slices.Contains([]string{"dist-s3", "acc-a5", "acc-a6"}, d.Name) {
				t.Errorf("%s silent during the outage: %s", d.Name, d.PollError)
			}
		}
	}
	if silent != 3 {
		t.Errorf("%d devices silent during the outage, want 3", silent)
	}
	if h := Build(ds, DefaultConfig()); h.Depth("dist-s3") >= 0 || len(h.Facing("dist-s3")) != 0 {
		t.Errorf("the cores still see dist-s3 during its outage: depth %d, facing %v", h.Depth("dist-s3"), h.Facing("dist-s3"))
	}
	checkLabGraph(t, tr.Update(ds, time.Now()))
}
