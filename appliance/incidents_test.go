package appliance

import (
	"context"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/appliance/lab"
	"github.com/watchfloor/watchfloor/correlator/alerts"
)

// The lab's scripted incidents, through the real collectors, the correlator with the default
// pack and the alert lifecycle, each raise exactly the expected alert — and nothing else
// security-wise fires on the lab's normal traffic — and its router outage is one root-cause
// alert that explains the rest. The lab runs at twice its pace: one 5-minute cycle in 2.5.
func TestLabIncidentsRaiseAlerts(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the lab's whole incident cycle (2.5 minutes)")
	}
	t.Parallel()
	const scale = 0.5
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	opts := Options{Config: LabConfig(), Lab: true, DataDir: t.TempDir(), Listen: "127.0.0.1:0",
		LabOpts: lab.Options{Timeline: true, TimeScale: scale}}
	opts.Config.Console.Listen = "127.0.0.1:0"
	a, err := New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	steps, period := a.lab.Incidents()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, func(net.Addr) {}) }()
	defer func() { cancel(); <-done }()

	// Security incidents and the rule each must trip, with the address its alert names.
	want := map[string]string{
		"port_scan_vertical":   lab.PortScanSource.String(),
		"host_sweep":           lab.SweepSource.String(),
		"dns_tunnel":           lab.TunnelClient.String(),
		"tls_beacon":           lab.BeaconClient.String(),
		"syn_flood":            lab.SynFloodTarget.Addr().String(),
		"horizontal_scan":      lab.ScanSource.String(),
		"volumetric_flood_bps": lab.FloodVictim.String(),
	}
	t.Logf("%d incident steps in a cycle of %v", len(steps), period)
	deadline := time.Now().Add(period + 45*time.Second)
	var list []watchfloor.Alert
	for {
		list = a.alerts.List(alerts.Query{Limit: alerts.MaxLimit})
		seen := 0
		for rule := range want {
			if slices.ContainsFunc(list, func(al watchfloor.Alert) bool { return al.Rule == rule }) {
				seen++
			}
		}
		// Wait for the whole cycle: the outage has resolved, every incident has been played.
		if seen == len(want) && time.Now().After(deadline.Add(-30*time.Second)) || time.Now().After(deadline) {
			break
		}
		time.Sleep(2 * time.Second)
	}

	byRule := map[string][]watchfloor.Alert{}
	for _, al := range list {
		byRule[al.Rule] = append(byRule[al.Rule], al)
		t.Logf("%3d %-12s %-8s %-22s %s (count %d, suppressed by %d, explains %v)", al.ID, al.State, al.Severity, al.Rule, al.Title, al.Count, al.SuppressedBy, al.Suppressed)
	}
	for rule, who := range want {
		got := byRule[rule]
		if len(got) != 1 {
			t.Errorf("rule %s: %d alerts, want exactly one", rule, len(got))
			continue
		}
		if !strings.Contains(got[0].Title, who) && !strings.Contains(got[0].Key, who) {
			t.Errorf("rule %s: alert %q does not name %s", rule, got[0].Title, who)
		}
	}
	for _, al := range list {
		if _, ok := want[al.Rule]; al.Category == watchfloor.CategorySecurity && !ok {
			t.Errorf("a security alert nothing in the lab should raise: %s %q", al.Rule, al.Title)
		}
	}

	// The outage: dist-s3's unreachable alert is the root cause of the alerts of what is
	// behind it (acc-a5, acc-a6) and of the cores' ports facing it.
	var root *watchfloor.Alert
	for i, al := range byRule["device_unreachable"] {
		if al.Entity.Device == "dist-s3" {
			root = &byRule["device_unreachable"][i]
		}
	}
	if root == nil {
		t.Fatal("no device_unreachable alert for dist-s3")
	}
	explained := map[string]bool{}
	for _, id := range root.Suppressed {
		for _, al := range list {
			if al.ID == id {
				explained[al.Rule+" "+al.Entity.Device+" "+al.Entity.Interface] = true
			}
		}
	}
	for _, w := range []string{"device_unreachable acc-a5 ", "device_unreachable acc-a6 ", "interface_down core-r1 xe-0/1/2", "interface_down core-r2 xe-0/1/2"} {
		if !explained[w] {
			t.Errorf("the dist-s3 outage does not explain %q (it explains %v)", w, explained)
		}
	}
	if root.SuppressedBy != 0 {
		t.Errorf("the root cause is itself suppressed by %d", root.SuppressedBy)
	}
	if len(byRule["link_flapping"]) == 0 {
		t.Error("the flapping access uplink raised no link_flapping alert")
	}
}
