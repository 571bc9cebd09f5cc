package snmp

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/watchfloor/watchfloor"
)

// fakeIf is an interface of a reading built by hand.
type fakeIf struct {
	index       int32
	name        string
	admin, oper watchfloor.IfStatus
	in, out     uint64 // HC octets
	disc        uint32
}

// fakeReading builds what a poll would have read.
func fakeReading(at time.Time, uptime uint32, ifs ...fakeIf) *reading {
	r := &reading{}
	r.reset(at)
	r.sysName, r.sysDescr, r.sysObjectID, r.uptime = "core-r1.lab", "Test agent", ".1.3.6.1.4.1.8072.3.2.10", uptime
	for _, f := range ifs {
		r.ifs = append(r.ifs, ifRow{index: f.index, name: f.name, descr: f.name, highSpeed: 1000,
			admin: f.admin, oper: f.oper, disc: f.disc,
			hc:   [4]uint64{ctrInOctets: f.in, ctrOutOctets: f.out},
			have: 1<<colIfName | 1<<colIfDescr | 1<<colIfHighSpeed | 1<<colIfAdmin | 1<<colIfOper | 1<<colIfHCInOctets | 1<<colIfHCOutOctets | 1<<colIfDiscontinuity,
		})
		r.ifPos[f.index] = len(r.ifs) - 1
	}
	return r
}

func kinds(evs []watchfloor.Event) []string {
	var k []string
	for _, e := range evs {
		k = append(k, string(e.Kind))
	}
	return k
}

func TestTrackerStateMachine(t *testing.T) {
	tr := newTracker(Target{Name: "core-r1", Address: "192.0.2.1", Role: "core"}, "east", 2)
	up, down := watchfloor.IfUp, watchfloor.IfDown
	gi1 := fakeIf{index: 1, name: "Gi1/0/1", admin: up, oper: up}
	gi3 := fakeIf{index: 3, name: "Gi1/0/3", admin: up, oper: up}
	at := t0
	uptime := uint32(1_000_000)
	poll := func(ifs ...fakeIf) (watchfloor.Device, []watchfloor.Sample, []watchfloor.Event) {
		return tr.success(fakeReading(at, uptime, ifs...), 150*time.Millisecond)
	}
	next := func() { at = at.Add(30 * time.Second); uptime += 3000 }

	// First poll: the baseline. Up, no events, no rates.
	d, samples, evs := poll(gi1, gi3)
	if d.Status != watchfloor.DeviceUp || !d.LastChange.Equal(at) || len(evs) != 0 {
		t.Fatalf("first poll: %v %v %v", d.Status, d.LastChange, evs)
	}
	if d.Address != "192.0.2.1:161" || d.Site != "east" || d.Role != "core" || d.SysName != "core-r1.lab" || d.UptimeS != 10_000 {
		t.Fatalf("device %+v", d)
	}
	if len(samples) != 1 || samples[0].Metric != watchfloor.MetricPollSeconds {
		t.Fatalf("first poll samples %+v", samples)
	}

	// Traffic: rates and samples.
	next()
	gi1.in, gi1.out = 375_000_000, 37_500_000 // 100 and 10 Mbit/s over 30 s
	d, samples, evs = poll(gi1, gi3)
	if len(evs) != 0 {
		t.Fatalf("events %v", kinds(evs))
	}
	if f := d.Interfaces[0]; f.InBps != 100e6 || f.OutBps != 10e6 || f.Utilization != 10 || !f.HC || f.SpeedBps != 1e9 {
		t.Fatalf("rates %+v", f)
	}
	if n := countSamples(samples, "core-r1", 1, watchfloor.MetricInBps); n != 1 {
		t.Fatalf("%d in_bps samples: %+v", n, samples)
	}
	if n := countSamples(samples, "core-r1", 1, watchfloor.MetricUtilization); n != 1 {
		t.Fatalf("%d utilization samples", n)
	}
	for _, s := range samples {
		if !s.Time.Equal(at) || s.Device != "core-r1" {
			t.Fatalf("sample %+v", s)
		}
	}

	// Gi1/0/3 loses its link while admin up: interface.down, medium.
	next()
	gi3.oper = down
	_, _, evs = poll(gi1, gi3)
	if !slices.Equal(kinds(evs), []string{"interface.down"}) {
		t.Fatalf("events %v", kinds(evs))
	}
	if e := evs[0]; e.Severity != watchfloor.SeverityMedium || e.Interface != "Gi1/0/3" || e.IfIndex != 3 ||
		e.Message != "core-r1 Gi1/0/3 oper down (admin up)" || e.Source != "snmp.poll" || e.Site != "east" || e.Device != "core-r1" {
		t.Fatalf("event %+v", e)
	}
	// Back up: interface.up, info.
	next()
	gi3.oper = up
	_, _, evs = poll(gi1, gi3)
	if !slices.Equal(kinds(evs), []string{"interface.up"}) || evs[0].Severity != watchfloor.SeverityInfo {
		t.Fatalf("events %+v", evs)
	}
	// Shut by an operator: admin down only (the oper down that follows is not news).
	next()
	gi3.admin, gi3.oper = down, down
	_, _, evs = poll(gi1, gi3)
	if !slices.Equal(kinds(evs), []string{"interface.admin_down"}) || evs[0].Severity != watchfloor.SeverityLow {
		t.Fatalf("events %+v", evs)
	}
	next()
	gi3.admin, gi3.oper = up, up
	_, _, evs = poll(gi1, gi3)
	if !slices.Equal(kinds(evs), []string{"interface.admin_up", "interface.up"}) {
		t.Fatalf("events %v", kinds(evs))
	}

	// One failed poll: not down yet (DownAfter 2), last known state kept with the error.
	next()
	d, evs = tr.failure(at, 4*time.Second, "snmp: get system group: request timeout")
	if d.Status != watchfloor.DeviceUp || len(evs) != 0 || d.PollError == "" || len(d.Interfaces) != 2 || d.SysName == "" {
		t.Fatalf("one failure: %+v %v", d, evs)
	}
	lastPoll := d.LastPoll
	// The second: down, one event.
	next()
	d, evs = tr.failure(at, 4*time.Second, "snmp: get system group: request timeout")
	if d.Status != watchfloor.DeviceDown || !d.LastChange.Equal(at) || !d.LastPoll.Equal(lastPoll) ||
		!slices.Equal(kinds(evs), []string{"device.unreachable"}) || evs[0].Severity != watchfloor.SeverityHigh {
		t.Fatalf("down: %+v %+v", d, evs)
	}
	// More failures: no more events.
	next()
	if _, evs = tr.failure(at, 4*time.Second, "timeout"); len(evs) != 0 {
		t.Fatalf("repeated unreachable: %v", kinds(evs))
	}

	// It answers again, rebooted during the outage (uptime 5 s) and with Gi1/0/1 down:
	// reachable, rebooted, interface.down; no rates (counters restarted) and no spike.
	next()
	uptime = 500
	gi1.in, gi1.out, gi1.oper = 1000, 1000, down
	d, samples, evs = poll(gi1, gi3)
	if !slices.Equal(kinds(evs), []string{"device.reachable", "device.rebooted", "interface.down"}) {
		t.Fatalf("events %v", kinds(evs))
	}
	if d.Status != watchfloor.DeviceUp || d.PollError != "" || !d.LastChange.Equal(at) {
		t.Fatalf("device %+v", d)
	}
	for _, s := range samples {
		if s.IfIndex != 0 {
			t.Fatalf("rate right after a reboot: %+v", s)
		}
	}
	if !strings.Contains(evs[1].Message, "rebooted") || evs[1].Severity != watchfloor.SeverityMedium {
		t.Fatalf("reboot event %+v", evs[1])
	}
	// Next poll: rates from the new baseline.
	next()
	gi1.in += 3_750_000
	d, _, _ = poll(gi1, gi3)
	if d.Interfaces[0].InBps != 1e6 {
		t.Fatalf("rate after the reboot's baseline: %+v", d.Interfaces[0])
	}

	// An interface that disappears is forgotten; one that appears is a baseline (no event).
	next()
	gi9 := fakeIf{index: 9, name: "Gi1/0/9", admin: up, oper: down}
	d, _, evs = poll(gi1, gi9)
	if len(evs) != 0 || len(d.Interfaces) != 2 || d.Interfaces[1].Index != 9 {
		t.Fatalf("%v %+v", kinds(evs), d.Interfaces)
	}
	if _, ok := tr.ifs[3]; ok {
		t.Fatal("Gi1/0/3 still tracked")
	}
}

func TestTrackerNeverAnswers(t *testing.T) {
	tr := newTracker(Target{Name: "ghost", Address: "192.0.2.9:1161"}, "east", 3)
	var evs []watchfloor.Event
	var d watchfloor.Device
	for i := range 3 {
		d, evs = tr.failure(t0.Add(time.Duration(i)*30*time.Second), 2*time.Second, "timeout")
		if d.Interfaces == nil {
			t.Fatal("nil interfaces")
		}
		if i < 2 && (len(evs) != 0 || d.Status != watchfloor.DeviceUnknown) {
			t.Fatalf("poll %d: %v %v", i, d.Status, kinds(evs))
		}
	}
	if d.Status != watchfloor.DeviceDown || !slices.Equal(kinds(evs), []string{"device.unreachable"}) {
		t.Fatalf("%v %v", d.Status, kinds(evs))
	}
	if evs[0].Message != "ghost unreachable: 3 polls in a row failed (timeout)" {
		t.Fatalf("message %q", evs[0].Message)
	}
	// Its first answer: reachable, and a baseline (no interface events).
	d2, _, evs := tr.success(fakeReading(t0.Add(2*time.Minute), 100, fakeIf{index: 1, name: "eth0", admin: 1, oper: 2}), time.Second)
	if d2.Status != watchfloor.DeviceUp || !slices.Equal(kinds(evs), []string{"device.reachable"}) {
		t.Fatalf("%v %v", d2.Status, kinds(evs))
	}
}

func TestTrackerDiscontinuityAndWalkError(t *testing.T) {
	tr := newTracker(Target{Name: "sw1", Address: "192.0.2.2"}, "east", 2)
	up := watchfloor.IfUp
	f := fakeIf{index: 1, name: "ge-0/0/1", admin: up, oper: up, disc: 10}
	tr.success(fakeReading(t0, 1000, f), 0)
	// Counters cleared on the interface: its discontinuity time moved; no rate, no spike.
	f.in, f.disc = 5, 20_000
	d, samples, _ := tr.success(fakeReading(t0.Add(30*time.Second), 4000, f), 0)
	if countSamples(samples, "sw1", 1, watchfloor.MetricInBps) != 0 || d.Interfaces[0].InBps != 0 {
		t.Fatalf("rate across a discontinuity: %+v", samples)
	}
	// The walk failed (the system group answered): up, error set, interfaces kept.
	r := fakeReading(t0.Add(60*time.Second), 7000)
	r.walkErr = "walk ifDescr: request timeout"
	d, samples, evs := tr.success(r, time.Second)
	if d.Status != watchfloor.DeviceUp || d.PollError == "" || len(d.Interfaces) != 1 || len(samples) != 0 || len(evs) != 0 {
		t.Fatalf("%+v %v %v", d, samples, evs)
	}
	f.in += 30_000
	d, _, _ = tr.success(fakeReading(t0.Add(90*time.Second), 10000, f), 0)
	if d.PollError != "" || d.Interfaces[0].InBps != 4000 { // 30000 bytes over 60 s
		t.Fatalf("%+v", d)
	}
}
