package appliance

import (
	"context"
	"math"
	"net"
	"testing"
	"time"

	"github.com/watchfloor/watchfloor"
)

// The lab's exporters, through the real flow collector, the rollups and the store, give
// each metered uplink the traffic that SNMP says crossed it: IPFIX with its rate in an
// options template (field 34 on core-r1, 305/306 on core-r2), NetFlow v9 (fw-1), v5 with its
// rate in the header (dist-s*) and sFlow (acc-a*), every one sampled, so this is the
// sampling maths end to end. It waits for the first whole minute to close (up to two).
func TestLabFlowsAgreeWithSNMP(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a whole minute of flows")
	}
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	opts := Options{Config: LabConfig(), Lab: true, DataDir: t.TempDir(), Listen: "127.0.0.1:0"}
	opts.Config.Console.Listen = "127.0.0.1:0"
	a, err := New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, func(net.Addr) {}) }()
	defer func() { cancel(); <-done }()

	// The first minute after the start is partial; the one after it is whole.
	minute := started.Truncate(time.Minute).Add(time.Minute)
	var r watchfloor.FlowRollup
	for deadline := minute.Add(2*time.Minute + 30*time.Second); ; {
		rs, err := a.store.FlowRollups(time.Minute, minute, minute.Add(time.Minute), opts.Config.Site)
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) > 0 {
			r = rs[0]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no rollup of %v by %v", minute, time.Now())
		}
		time.Sleep(time.Second)
	}
	t.Logf("minute %v: %d flows, %d rows, %d interfaces, %d overflow", r.Start.Format("15:04"), r.Totals.Flows, len(r.Rows), len(r.Interfaces), r.Totals.Overflow)

	metered := map[string][]string{
		"core-r1": {"xe-0/1/4"}, "core-r2": {"xe-0/1/4"}, "fw-1": {"ethernet1/1", "ethernet1/2"},
		"dist-s1": {"Ethernet1", "Ethernet2"}, "dist-s2": {"Ethernet1", "Ethernet2"},
		"acc-a1": {"Te1/1/1"}, "acc-a2": {"Te1/1/1"}, "acc-a4": {"Te1/1/1"}, "acc-a6": {"Te1/1/1"},
	}
	byIf := map[string]watchfloor.IfTraffic{}
	for _, it := range r.Interfaces {
		byIf[it.Device+"/"+it.Interface] = it
	}
	devices, err := a.store.Devices()
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, d := range devices {
		for _, name := range metered[d.Name] {
			var ifIndex int32
			for _, i := range d.Interfaces {
				if i.Name == name {
					ifIndex = i.Index
				}
			}
			it, ok := byIf[d.Name+"/"+name]
			if !ok || ifIndex == 0 {
				t.Errorf("%s %s: no flow traffic in the minute (ifIndex %d)", d.Name, name, ifIndex)
				continue
			}
			for _, dir := range []struct {
				metric string
				bytes  uint64
			}{{watchfloor.MetricInBps, it.InBytes}, {watchfloor.MetricOutBps, it.OutBytes}} {
				snmp := meanRate(t, a, d.Name, ifIndex, dir.metric, r.Start)
				flows := float64(dir.bytes) * 8 / 60
				ratio := flows / snmp
				t.Logf("%-8s %-12s %-7s flows %8.1f Mbit/s  snmp %8.1f Mbit/s  ratio %.3f", d.Name, name, dir.metric, flows/1e6, snmp/1e6, ratio)
				if snmp < 1e6 {
					continue // too little to compare sampled estimates with
				}
				checked++
				if math.Abs(ratio-1) > 0.05 {
					t.Errorf("%s %s %s: flows say %.1f Mbit/s, SNMP %.1f Mbit/s", d.Name, name, dir.metric, flows/1e6, snmp/1e6)
				}
			}
		}
	}
	if checked < 10 {
		t.Errorf("only %d interface directions compared", checked)
	}
}

// meanRate is the mean of the raw SNMP rates polled within the minute from start, each of
// which covers the five seconds before it.
func meanRate(t *testing.T, a *Appliance, device string, ifIndex int32, metric string, start time.Time) float64 {
	t.Helper()
	s, err := a.store.Series(watchfloor.SeriesQuery{Device: device, IfIndex: ifIndex, Metric: metric,
		From: start.Add(LabPollInterval), To: start.Add(time.Minute), Step: watchfloor.StepRaw})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Points) == 0 {
		return 0
	}
	var sum float64
	for _, p := range s.Points {
		sum += p.Value
	}
	return sum / float64(len(s.Points))
}
