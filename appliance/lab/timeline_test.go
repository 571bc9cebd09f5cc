package lab

import (
	"context"
	"fmt"
	"net"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gosnmp/gosnmp"
)

// TestTimeline plays the incident script in a synctest bubble, where time is fake and
// advances only when every goroutine waits, and reads the devices through their agents at
// the scripted times.
func TestTimeline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		s := standardSite(DefaultSite, 1, start)
		agents := map[string]*agent{}
		for _, d := range s.devices {
			agents[d.Name] = v2cAgent(t, d) // v2c to every device: query() speaks v2c
		}
		tl := newTimeline(s, start, 1, nil, testLog(t))
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			tl.run(ctx)
			close(done)
		}()
		defer func() {
			cancel()
			<-done
		}()
		at := func(d time.Duration) { // sleep until start+d
			time.Sleep(time.Until(start.Add(d)))
			synctest.Wait()
		}
		get := func(dev string, oid string) gosnmp.SnmpPDU {
			t.Helper()
			r := query(t, agents[dev], time.Now(), gosnmp.GetRequest, 0, 0, oid)
			if r == nil {
				t.Fatalf("%s is silent at +%v", dev, time.Since(start))
			}
			return r.Variables[0]
		}
		acc, dist := s.flap[0], s.flap[1]
		oper := func(e end) int {
			return get(e.dev.Name, fmt.Sprintf("%s.%d", colOperStatus, e.ifc.Index)).Value.(int)
		}
		lldp := func(e end) gosnmp.Asn1BER {
			return get(e.dev.Name, fmt.Sprintf("%s.%d.1", colLldpRemSys, e.ifc.Index)).Type
		}
		if acc.dev.Name != "acc-a3" || dist.dev.Name != "dist-s2" {
			t.Fatalf("flap on %s–%s", acc.dev.Name, dist.dev.Name)
		}

		// (a) The uplink flaps three times; both ends go down, LLDP forgets the neighbour.
		at(3 * time.Second)
		if oper(acc) != 1 || oper(dist) != 1 || lldp(acc) != gosnmp.OctetString {
			t.Fatal("the uplink is not up before the flap")
		}
		for k := range flapCount {
			down := flapFirst + time.Duration(k)*flapEvery
			at(down + time.Second)
			if oper(acc) != 2 || oper(dist) != 2 {
				t.Fatalf("+%v: uplink not down on both ends", down)
			}
			if lldp(acc) != gosnmp.NoSuchInstance || lldp(dist) != gosnmp.NoSuchInstance {
				t.Fatalf("+%v: LLDP neighbour still there", down)
			}
			lc := get("acc-a3", fmt.Sprintf("%s.%d", colLastChange, acc.ifc.Index)).Value.(uint32)
			if want := uint32(ticks(start.Add(down).Sub(acc.dev.bootAt))); lc != want {
				t.Fatalf("ifLastChange %d, want %d", lc, want)
			}
			at(down + flapDown + time.Second)
			if oper(acc) != 1 || oper(dist) != 1 || lldp(acc) != gosnmp.OctetString || lldp(dist) != gosnmp.OctetString {
				t.Fatalf("+%v: uplink not back", down+flapDown)
			}
		}

		// (b) dist-s3 stops answering for a minute.
		at(outageStart - time.Second)
		get("dist-s3", ".1.3.6.1.2.1.1.5.0")
		at(outageStart + time.Second)
		if r := query(t, agents["dist-s3"], time.Now(), gosnmp.GetRequest, 0, 0, ".1.3.6.1.2.1.1.5.0"); r != nil {
			t.Fatal("dist-s3 answers during its outage")
		}
		at(outageEnd + time.Second)
		get("dist-s3", ".1.3.6.1.2.1.1.5.0")

		// (c) acc-a5 reboots: silent, its uplink down at dist-s3; then a fresh sysUpTime,
		// counters from 0, a discontinuity time, one more engine boot.
		a5 := s.reboot
		up := findIf(a5, "Te1/1/1")
		at(rebootStart - time.Second)
		boots := a5.boots
		if hc := uintValue(t, get("acc-a5", ifOID(colHCInOctets, up))); hc < 1e12 {
			t.Fatalf("uplink counter before the reboot: %d", hc)
		}
		at(rebootStart + time.Second)
		if query(t, agents["acc-a5"], time.Now(), gosnmp.GetRequest, 0, 0, ".1.3.6.1.2.1.1.3.0") != nil {
			t.Fatal("acc-a5 answers while rebooting")
		}
		if oper(end{up.peerDev, up.peer}) != 2 {
			t.Fatal("dist-s3 still sees acc-a5's uplink")
		}
		at(rebootEnd + time.Second)
		if ut := get("acc-a5", ".1.3.6.1.2.1.1.3.0").Value.(uint32); ut != 1600 {
			t.Errorf("sysUpTime after the reboot: %d, want 1600", ut)
		}
		if hc := uintValue(t, get("acc-a5", ifOID(colHCInOctets, up))); hc == 0 || hc > 1.25e9 {
			t.Errorf("uplink counter 1 s after the reboot: %d", hc)
		}
		if dt := get("acc-a5", ifOID(colDiscontinuty, up)).Value.(uint32); dt != 300 {
			t.Errorf("ifCounterDiscontinuityTime %d, want 300", dt)
		}
		if a5.boots != boots+1 {
			t.Errorf("engine boots %d → %d", boots, a5.boots)
		}
		if oper(end{up.peerDev, up.peer}) != 1 {
			t.Error("dist-s3 does not see acc-a5's uplink back")
		}

		// (d) A desk port of acc-a2 collects input errors for a minute.
		ep := s.errPort
		errs := func() uint64 { return uintValue(t, get(ep.dev.Name, ifOID(colInErrors, ep.ifc))) }
		at(errorsStart - time.Second)
		e0 := errs()
		at(errorsStart + 31*time.Second)
		if n := errs() - e0; n < 30*errorRate || n > 32*errorRate {
			t.Errorf("%d errors in the first 31 s of the burst", n)
		}
		at(errorsEnd + time.Second)
		e1 := errs()
		at(errorsEnd + 60*time.Second)
		if n := errs() - e1; n > 2 {
			t.Errorf("%d errors after the burst", n)
		}

		// The script repeats.
		at(cyclePeriod + flapFirst + time.Second)
		if oper(acc) != 2 {
			t.Error("the second cycle does not flap the uplink")
		}
	})
}

// TestTimelineScaled: TimeScale compresses the script, and Incidents lists it.
func TestTimelineScaled(t *testing.T) {
	l := startLab(t, Options{TimeScale: 0.1})
	steps, period := l.Incidents()
	if period != 30*time.Second {
		t.Errorf("period %v", period)
	}
	if steps[0].At != 400*time.Millisecond || steps[0].What != "link down" || steps[0].Device != "acc-a3" {
		t.Errorf("first step %+v", steps[0])
	}
	if !slices.IsSortedFunc(steps, func(a, b Incident) int { return int(a.At - b.At) }) {
		t.Error("steps out of order")
	}
}

// TestTraps plays the first cycle against a real lab with traps on, and receives them on a
// UDP socket: linkDown/linkUp from both ends of the flapping link and from the rebooted
// switch's neighbour, coldStart from the rebooted switch, each from its device's address.
func TestTraps(t *testing.T) {
	ln, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	l := startLab(t, Options{TrapTarget: ln.LocalAddr().String()})
	byAddr := map[string]string{}
	for _, tg := range l.Targets() {
		byAddr[tg.Address] = tg.Name
	}
	start := time.Now()
	tl := newTimeline(l.site, start, 1, l.traps, testLog(t))
	tl.advance(start.Add(rebootEnd))

	type trap struct{ from, oid, ifName string }
	var got []trap
	var coldUptime uint32
	buf := make([]byte, 65536)
	for {
		ln.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		n, from, err := ln.ReadFromUDP(buf)
		if err != nil {
			break
		}
		g := &gosnmp.GoSNMP{Version: gosnmp.Version2c, Community: "public"}
		p, err := g.SnmpDecodePacket(buf[:n])
		if err != nil {
			t.Fatal(err)
		}
		if p.PDUType != gosnmp.SNMPv2Trap || p.Community != "public" || p.Variables[0].Name != oidSysUpTime0 || p.Variables[1].Name != oidSnmpTrapOID0 {
			t.Fatalf("not a v2c trap: %+v", p)
		}
		tr := trap{from: byAddr[from.String()], oid: p.Variables[1].Value.(string)}
		if tr.from == "" {
			t.Fatalf("trap from %s, not a lab device", from)
		}
		switch tr.oid {
		case oidLinkDown, oidLinkUp:
			if len(p.Variables) != 6 {
				t.Fatalf("link trap with %d varbinds", len(p.Variables))
			}
			wantOper := 2
			if tr.oid == oidLinkUp {
				wantOper = 1
			}
			if p.Variables[4].Value.(int) != wantOper || p.Variables[3].Value.(int) != 1 {
				t.Errorf("link trap statuses %v %v", p.Variables[3].Value, p.Variables[4].Value)
			}
			tr.ifName = string(p.Variables[5].Value.([]byte))
		case oidColdStart:
			coldUptime = p.Variables[0].Value.(uint32)
		}
		got = append(got, tr)
	}
	count := map[trap]int{}
	for _, tr := range got {
		count[tr]++
	}
	want := map[trap]int{
		{"acc-a3", oidLinkDown, "Te1/1/1"}:    3,
		{"acc-a3", oidLinkUp, "Te1/1/1"}:      3,
		{"dist-s2", oidLinkDown, "Ethernet3"}: 3,
		{"dist-s2", oidLinkUp, "Ethernet3"}:   3,
		{"dist-s3", oidLinkDown, "Ethernet3"}: 1,
		{"dist-s3", oidLinkUp, "Ethernet3"}:   1,
		{"acc-a5", oidColdStart, ""}:          1,
	}
	for tr, n := range want {
		if count[tr] != n {
			t.Errorf("%+v: %d traps, want %d", tr, count[tr], n)
		}
	}
	if len(got) != 15 {
		t.Errorf("%d traps: %+v", len(got), got)
	}
	if coldUptime != 1500 {
		t.Errorf("coldStart sysUpTime %d, want 1500", coldUptime)
	}
}

// TestRebootV3Session: a manager's v3 session opened before acc-a5 reboots keeps working
// after it: the new snmpEngineBoots gets a notInTimeWindow report and gosnmp resynchronises.
func TestRebootV3Session(t *testing.T) {
	l := startLab(t, Options{})
	tg := target(t, l, "acc-a5")
	if tg.Credentials.Version != "3" {
		t.Fatal("acc-a5 is not v3")
	}
	g := client(t, tg)
	get := func() (uptime uint32, boots int) {
		r, err := g.Get([]string{".1.3.6.1.2.1.1.3.0", ".1.3.6.1.6.3.10.2.1.2.0"})
		if err != nil {
			t.Fatal(err)
		}
		return r.Variables[0].Value.(uint32), r.Variables[1].Value.(int)
	}
	up0, boots0 := get()
	// Play the first cycle up to just after the reboot, as if Start had been 156 s ago.
	tl := newTimeline(l.site, time.Now().Add(-rebootEnd-time.Second), 1, nil, testLog(t))
	tl.advance(time.Now())
	up1, boots1 := get()
	if boots1 != boots0+1 || up1 >= up0 || up1 < 1600 || up1 > 1800 {
		t.Errorf("before: uptime %d boots %d; after: uptime %d boots %d", up0, boots0, up1, boots1)
	}
	if st := l.Stats(); st.NotInTimeWindows != 1 {
		t.Errorf("stats %+v", st)
	}
}
