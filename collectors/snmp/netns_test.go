package snmp

import (
	"context"
	"io"
	"math"
	"net"
	"testing"
	"time"

	"github.com/watchfloor/watchfloor"
)

// TestNamespaceAgent runs snmpd inside a network namespace of its own, reached over a veth
// pair, and checks (b) that rates track traffic the test sends across that veth pair and (c)
// that a link taken down inside the namespace becomes an event within one poll interval.
func TestNamespaceAgent(t *testing.T) {
	ns := newNetns(t)
	a := startAgent(t, ns.name, ns.nsAddr, 161, ns.hostAddr)

	t.Run("rates", func(t *testing.T) {
		p, err := New(testConfig(a, Target{Name: "ns-agent", Credentials: v2c()}), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		rec := newRecorder()
		ctx := context.Background()

		// Traffic over TCP between a listener in the namespace and a client in the root
		// namespace: toNS bytes in, fromNS bytes out of the namespace's veth end.
		const toNS, fromNS = 24 << 20, 8 << 20
		ln := ns.listen(t, net.JoinHostPort(ns.nsAddr, "5001"))
		served := make(chan error, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				served <- err
				return
			}
			defer c.Close()
			if _, err := io.CopyN(io.Discard, c, toNS); err != nil {
				served <- err
				return
			}
			_, err = io.CopyN(c, zeros{}, fromNS)
			served <- err
		}()

		p.PollAll(ctx, rec) // baseline
		d1, _ := rec.last("ns-agent")
		if d1.Status != watchfloor.DeviceUp {
			t.Fatalf("agent in the namespace: %v %s", d1.Status, d1.PollError)
		}
		c, err := net.Dial("tcp", net.JoinHostPort(ns.nsAddr, "5001"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.CopyN(c, zeros{}, toNS); err != nil {
			t.Fatal(err)
		}
		if _, err := io.CopyN(io.Discard, c, fromNS); err != nil {
			t.Fatal(err)
		}
		c.Close()
		if err := <-served; err != nil {
			t.Fatal(err)
		}
		// net-snmp refreshes interface counters at most every 3 s: poll after that.
		time.Sleep(time.Until(d1.LastPoll.Add(3500 * time.Millisecond)))
		p.PollAll(ctx, rec)
		d2, _ := rec.last("ns-agent")
		dt := d2.LastPoll.Sub(d1.LastPoll).Seconds()
		var f watchfloor.Interface
		for _, x := range d2.Interfaces {
			if x.Name == ns.nsIf {
				f = x
			}
		}
		if f.Name == "" {
			t.Fatalf("no interface %s in %+v", ns.nsIf, d2.Interfaces)
		}
		wantIn, wantOut := toNS*8/dt, fromNS*8/dt
		t.Logf("%s over %.2fs: in %.0f bit/s (sent %.0f), out %.0f bit/s (sent %.0f), %.0f/%.0f pkt/s, utilization %.3f%% of %d",
			f.Name, dt, f.InBps, wantIn, f.OutBps, wantOut, f.InPps, f.OutPps, f.Utilization, f.SpeedBps)
		if math.Abs(f.InBps/wantIn-1) > 0.25 || math.Abs(f.OutBps/wantOut-1) > 0.25 {
			t.Errorf("rates do not track the traffic: in %.0f want %.0f, out %.0f want %.0f", f.InBps, wantIn, f.OutBps, wantOut)
		}
		if f.InPps <= 0 || f.OutPps <= 0 || !f.HC {
			t.Errorf("packet rates or HC missing: %+v", f)
		}
		if f.SpeedBps > 0 {
			if want := max(f.InBps, f.OutBps) / float64(f.SpeedBps) * 100; math.Abs(f.Utilization-want) > 1e-9 {
				t.Errorf("utilization %v, want %v", f.Utilization, want)
			}
		}
	})

	t.Run("link down", func(t *testing.T) {
		cfg := testConfig(a, Target{Name: "ns-agent", Credentials: v3AuthPriv()})
		// net-snmp serves interface tables from a cache refreshed at most every 3 s: an
		// interval shorter than that could read the cache of the previous poll.
		cfg.Interval = 3500 * time.Millisecond
		p, err := New(cfg, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		rec := newRecorder()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx, rec) }()
		defer func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Error("Run did not return after cancel")
			}
		}()
		waitPoll := func() watchfloor.Device {
			t.Helper()
			select {
			case d := <-rec.notify:
				return d
			case <-time.After(3 * cfg.Interval):
				t.Fatal("no poll")
			}
			return watchfloor.Device{}
		}
		if d := waitPoll(); d.Status != watchfloor.DeviceUp {
			t.Fatalf("agent: %v %s", d.Status, d.PollError)
		}

		// Take pairA down: pairA is admin down, its peer pairB loses its carrier (oper down
		// while admin up). The first poll after the change must report both.
		downAt := time.Now()
		ns.ip(t, "link", "set", ns.pairA, "down")
		seen := firstPollAfter(t, rec, downAt, cfg.Interval)
		waitEvents(t, rec, watchfloor.EventInterfaceDown, watchfloor.EventInterfaceAdminDown)
		t.Logf("first poll %s after the link went down", seen.LastPoll.Sub(downAt).Round(time.Millisecond))
		if seen.LastPoll.Sub(downAt) > cfg.Interval {
			t.Errorf("first poll after the change came %s later, interval %s", seen.LastPoll.Sub(downAt), cfg.Interval)
		}
		for _, e := range rec.eventsOf(watchfloor.EventInterfaceDown) {
			if e.Interface != ns.pairB || e.Severity != watchfloor.SeverityMedium || e.Device != "ns-agent" ||
				e.Site != "lab" || e.Source != "snmp.poll" || e.IfIndex == 0 || !e.Time.Equal(seen.LastPoll) {
				t.Errorf("interface.down event %+v (first poll after the change at %v)", e, seen.LastPoll)
			}
			t.Logf("%s: %s", e.Kind, e.Message)
		}
		for _, e := range rec.eventsOf(watchfloor.EventInterfaceAdminDown) {
			if e.Interface != ns.pairA || e.Severity != watchfloor.SeverityLow || !e.Time.Equal(seen.LastPoll) {
				t.Errorf("interface.admin_down event %+v", e)
			}
			t.Logf("%s: %s", e.Kind, e.Message)
		}

		// And up again: interface.up for both ends, interface.admin_up for pairA.
		upAt := time.Now()
		ns.ip(t, "link", "set", ns.pairA, "up")
		seen = firstPollAfter(t, rec, upAt, cfg.Interval)
		waitEvents(t, rec, watchfloor.EventInterfaceUp, watchfloor.EventInterfaceAdminUp)
		ups := rec.eventsOf(watchfloor.EventInterfaceUp)
		if len(ups) != 2 || !ups[0].Time.Equal(seen.LastPoll) {
			t.Errorf("interface.up events %+v", ups)
		}
	})
}

// firstPollAfter waits for the first poll stamped after at.
func firstPollAfter(t *testing.T, rec *recorder, at time.Time, interval time.Duration) watchfloor.Device {
	t.Helper()
	timeout := time.After(3 * interval)
	for {
		select {
		case d := <-rec.notify:
			if d.LastPoll.After(at) {
				return d
			}
		case <-timeout:
			t.Fatalf("no poll within %s", 3*interval)
		}
	}
}

// waitEvents waits until events of every kind given were recorded (a poll puts its events
// right after its device).
func waitEvents(t *testing.T, rec *recorder, kinds ...watchfloor.EventKind) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for _, k := range kinds {
		for len(rec.eventsOf(k)) == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("no %s event; events %+v", k, rec.events)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// zeros reads as an endless run of zero bytes.
type zeros struct{}

func (zeros) Read(b []byte) (int, error) {
	clear(b)
	return len(b), nil
}
