package snmp

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/watchfloor/watchfloor"
)

func v2c() Credentials { return Credentials{Version: "2c", Community: peerCommunity} }

func v3AuthPriv() Credentials {
	return Credentials{Version: "3", Username: peerUser, SecurityLevel: "authPriv",
		AuthProtocol: "SHA", AuthPassphrase: peerAuthPass, PrivProtocol: "AES", PrivPassphrase: peerPrivPass}
}

func testConfig(a *agent, targets ...Target) Config {
	cfg := DefaultConfig()
	cfg.Site = "lab"
	cfg.Interval = 10 * time.Second // the deadline of one poll; PollAll is called directly
	cfg.Timeout = time.Second
	cfg.DownAfter = 1
	for i := range targets {
		if targets[i].Address == "" {
			targets[i].Address = a.addr()
		}
	}
	cfg.Targets = targets
	return cfg
}

// interfaceNames is what snmpwalk says: ifName of every row.
func interfaceNames(t *testing.T, auth []string, addr string) []string {
	names := snmpwalk(t, append(auth, addr, ".1.3.6.1.2.1.31.1.1.1.1")...)
	slices.Sort(names)
	return names
}

func deviceIfNames(d watchfloor.Device) []string {
	var names []string
	for _, f := range d.Interfaces {
		names = append(names, f.Name)
	}
	slices.Sort(names)
	return names
}

// TestSNMPD polls a real net-snmp agent on loopback over SNMPv2c and SNMPv3 authPriv
// (SHA, AES-128) and checks the result against net-snmp's own snmpwalk; then it checks rates,
// a restart of the agent (a reboot: an event, no rate spike), a v3 user with a wrong
// passphrase (an error without the secret, the device down), and the self-metrics.
func TestSNMPD(t *testing.T) {
	a := startAgent(t, "", "127.0.0.1", 0, "127.0.0.1")
	bad := v3AuthPriv()
	bad.AuthPassphrase = "wrong-authpass"
	var logs bytes.Buffer
	reg := prometheus.NewPedanticRegistry()
	p, err := New(testConfig(a,
		Target{Name: "agent-v2c", Role: "core", Credentials: v2c()},
		Target{Name: "agent-v3", Credentials: v3AuthPriv()},
		Target{Name: "agent-badauth", Credentials: bad},
	), slog.New(slog.NewTextHandler(&logs, nil)), reg)
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	ctx := context.Background()

	// (a) What the poller reads is what snmpwalk reads, over v2c and v3. Interfaces can come
	// and go in the root namespace while other tests run, so a mismatch is retried.
	v2cAuth := []string{"-v2c", "-c", peerCommunity}
	v3Auth := []string{"-v3", "-u", peerUser, "-l", "authPriv", "-a", "SHA", "-A", peerAuthPass, "-x", "AES", "-X", peerPrivPass}
	var first map[string]watchfloor.Device
	cycles := 0
	for attempt := 0; ; attempt++ {
		p.PollAll(ctx, rec)
		cycles++
		first = map[string]watchfloor.Device{}
		for _, n := range []string{"agent-v2c", "agent-v3", "agent-badauth"} {
			d, ok := rec.last(n)
			if !ok {
				t.Fatalf("no PutDevice for %s", n)
			}
			first[n] = d
		}
		want := interfaceNames(t, v2cAuth, a.addr())
		wantV3 := interfaceNames(t, v3Auth, a.addr())
		got, gotV3 := deviceIfNames(first["agent-v2c"]), deviceIfNames(first["agent-v3"])
		if slices.Equal(got, want) && slices.Equal(gotV3, wantV3) {
			if len(want) == 0 {
				t.Fatal("snmpwalk found no interfaces")
			}
			break
		}
		if attempt == 10 {
			t.Fatalf("interfaces: v2c %q, v3 %q; snmpwalk: v2c %q, v3 %q", got, gotV3, want, wantV3)
		}
		time.Sleep(100 * time.Millisecond)
	}
	sysName := snmpwalk(t, append(v2cAuth, a.addr(), ".1.3.6.1.2.1.1.5.0")...)
	for _, n := range []string{"agent-v2c", "agent-v3"} {
		d := first[n]
		if d.Status != watchfloor.DeviceUp || d.PollError != "" {
			t.Fatalf("%s: status %v, error %q", n, d.Status, d.PollError)
		}
		if len(sysName) != 1 || d.SysName != sysName[0] {
			t.Errorf("%s: sysName %q, snmpwalk says %q", n, d.SysName, sysName)
		}
		if d.SysObjectID == "" || d.SysDescr == "" || d.Site != "lab" || d.Address != a.addr() {
			t.Errorf("%s: incomplete device %+v", n, d)
		}
		if !slices.IsSortedFunc(d.Interfaces, func(x, y watchfloor.Interface) int { return int(x.Index - y.Index) }) {
			t.Errorf("%s: interfaces not sorted by index", n)
		}
		if d.MemPercent == nil || *d.MemPercent <= 0 || *d.MemPercent > 100 {
			t.Errorf("%s: mem_percent %v from hrStorageRam", n, d.MemPercent)
		}
		for _, f := range d.Interfaces {
			if f.Name == "lo" && (!f.HC || f.OperStatus != watchfloor.IfUp || f.SpeedBps == 0) {
				t.Errorf("%s: lo read as %+v", n, f)
			}
		}
	}
	if first["agent-v2c"].Role != "core" {
		t.Errorf("role not carried")
	}
	_, _, evs := rec.take()
	evs = ours(evs)
	for _, e := range evs {
		if e.Device != "agent-badauth" {
			t.Errorf("event on the first poll: %+v", e)
		}
	}

	// The v3 user with a wrong passphrase: an error that holds no secret, down at once
	// (DownAfter 1) with one event, and one log line however many polls fail.
	badDev := first["agent-badauth"]
	if badDev.Status != watchfloor.DeviceDown || badDev.PollError == "" {
		t.Errorf("bad auth: status %v, error %q", badDev.Status, badDev.PollError)
	}
	if len(evs) != 1 || evs[0].Kind != watchfloor.EventDeviceUnreachable || evs[0].Severity != watchfloor.SeverityHigh {
		t.Errorf("bad auth events %+v", evs)
	}

	// The second poll has rates (the netns test checks their values; net-snmp refreshes its
	// counters every few seconds, so they may be 0 here).
	time.Sleep(200 * time.Millisecond)
	p.PollAll(ctx, rec)
	cycles++
	devs, samples, evs := rec.take()
	if evs = ours(evs); len(evs) != 0 {
		t.Errorf("events on a quiet second poll: %+v", evs)
	}
	d, _ := rec.lastOf(devs, "agent-v2c")
	var loIndex int32
	for _, f := range d.Interfaces {
		if f.Name == "lo" {
			loIndex = f.Index
		}
	}
	if n := countSamples(samples, "agent-v2c", loIndex, watchfloor.MetricInBps); n != 1 {
		t.Errorf("%d in_bps samples of lo, want 1", n)
	}
	if n := countSamples(samples, "agent-v3", 0, watchfloor.MetricPollSeconds); n != 1 {
		t.Errorf("%d poll_seconds samples, want 1", n)
	}

	// A restart of the agent is a reboot: sysUpTime goes back. One event per device, no rate
	// samples in that poll, and SNMPv3 keeps working (new engine boots).
	a.restart(t)
	p.PollAll(ctx, rec)
	cycles++
	devs, samples, evs = rec.take()
	for _, n := range []string{"agent-v2c", "agent-v3"} {
		d, _ := rec.lastOf(devs, n)
		t.Logf("%s: poll after the restart took %.3fs", n, d.PollSeconds)
		if d.Status != watchfloor.DeviceUp || d.PollError != "" {
			t.Errorf("%s after restart: status %v, error %q", n, d.Status, d.PollError)
		}
		var reboots int
		for _, e := range evs {
			if e.Device == n && e.Kind == watchfloor.EventDeviceRebooted {
				reboots++
			}
		}
		if reboots != 1 {
			t.Errorf("%s: %d reboot events, want 1: %+v", n, reboots, evs)
		}
		for _, s := range samples {
			if s.Device == n && s.IfIndex != 0 {
				t.Errorf("%s: rate sample right after a reboot: %+v", n, s)
			}
		}
	}
	time.Sleep(200 * time.Millisecond)
	p.PollAll(ctx, rec)
	cycles++
	_, samples, evs = rec.take()
	if n := countSamples(samples, "agent-v3", loIndex, watchfloor.MetricInBps); n != 1 {
		t.Errorf("no rates again after the reboot's baseline (%d in_bps samples)", n)
	}
	if evs = ours(evs); len(evs) != 0 {
		t.Errorf("events after the reboot's baseline: %+v", evs)
	}

	// Secrets never reach logs or device state; repeated failures log once.
	for _, secret := range []string{peerAuthPass, peerPrivPass, "wrong-authpass"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("log holds a secret:\n%s", logs.String())
		}
		if d, _ := rec.last("agent-badauth"); strings.Contains(d.PollError, secret) {
			t.Errorf("poll error holds a secret: %s", d.PollError)
		}
	}
	if n := strings.Count(logs.String(), `msg="poll failed" component=snmp device=agent-badauth`); n != 1 {
		t.Errorf("%d 'poll failed' log lines for %d failed polls of one device, want 1:\n%s", n, cycles, logs.String())
	}

	// Self-metrics.
	got := gatherValues(t, reg)
	ok, failed := got[`watchfloor_snmp_polls_total{result="ok"}`], got[`watchfloor_snmp_polls_total{result="error"}`]
	if ok < 2*4 || failed < 4 || ok+failed != float64(3*cycles) {
		t.Errorf("polls_total over %d cycles of 3 devices: %v", cycles, got)
	}
	if got["watchfloor_snmp_varbinds_total"] < 100 || got["watchfloor_snmp_poll_duration_seconds_count"] != float64(3*cycles) ||
		got["watchfloor_snmp_cycle_duration_seconds"] <= 0 {
		t.Errorf("metrics: %v", got)
	}
}

// ours drops the events of interfaces other tests may be adding to or removing from the root
// namespace while this one runs: only device events and lo remain.
func ours(evs []watchfloor.Event) []watchfloor.Event {
	var out []watchfloor.Event
	for _, e := range evs {
		if e.Interface == "" || e.Interface == "lo" {
			out = append(out, e)
		}
	}
	return out
}

func (r *recorder) lastOf(devs []watchfloor.Device, name string) (watchfloor.Device, bool) {
	for i := len(devs) - 1; i >= 0; i-- {
		if devs[i].Name == name {
			return devs[i], true
		}
	}
	return watchfloor.Device{}, false
}

func countSamples(samples []watchfloor.Sample, dev string, ifIndex int32, metric string) int {
	n := 0
	for _, s := range samples {
		if s.Device == dev && s.IfIndex == ifIndex && s.Metric == metric {
			n++
		}
	}
	return n
}

// gatherValues flattens a registry into "name{labels}" → value (counters, gauges, histogram
// counts).
func gatherValues(t *testing.T, reg prometheus.Gatherer) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+`="`+l.GetValue()+`"`)
			}
			if len(labels) > 0 {
				name += "{" + strings.Join(labels, ",") + "}"
			}
			switch {
			case m.Counter != nil:
				out[name] = m.Counter.GetValue()
			case m.Gauge != nil:
				out[name] = m.Gauge.GetValue()
			case m.Histogram != nil:
				out[name+"_count"] = float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return out
}
