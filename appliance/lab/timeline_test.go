package lab

import (
	"context"
	"fmt"
	"net"
	"net/netip"
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

		// (b) dist-s3 goes dark for a minute, and acc-a5 and acc-a6, which hang off it alone,
		// with it; the cores see their ports toward it go down and lose it in LLDP.
		silent := func(dev string) bool {
			return query(t, agents[dev], time.Now(), gosnmp.GetRequest, 0, 0, ".1.3.6.1.2.1.1.5.0") == nil
		}
		gone := []string{"dist-s3", "acc-a5", "acc-a6"}
		var facing []end
		for _, c := range []string{"core-r1", "core-r2"} {
			i := findIf(s.byName[c], "xe-0/1/2")
			if i.peerDev.Name != "dist-s3" {
				t.Fatalf("%s xe-0/1/2 goes to %s", c, i.peerDev.Name)
			}
			facing = append(facing, end{s.byName[c], i})
		}
		at(outageStart - time.Second)
		for _, dev := range gone {
			get(dev, ".1.3.6.1.2.1.1.5.0")
		}
		for _, f := range facing {
			if oper(f) != 1 || lldp(f) != gosnmp.OctetString {
				t.Fatalf("%s %s not up before the outage", f.dev.Name, f.ifc.Name)
			}
		}
		at(outageStart + time.Second)
		for _, d := range s.devices {
			if got, want := silent(d.Name), slices.Contains(gone, d.Name); got != want {
				t.Errorf("during the outage %s silent: %v, want %v", d.Name, got, want)
			}
		}
		for _, f := range facing {
			if oper(f) != 2 || lldp(f) != gosnmp.NoSuchInstance {
				t.Errorf("%s %s still up during the outage", f.dev.Name, f.ifc.Name)
			}
		}
		// Read under the device's lock: the timeline goroutine writes it.
		operUp := func(dev, ifc string) bool {
			d := s.byName[dev]
			d.mu.RLock()
			defer d.mu.RUnlock()
			return findIf(d, ifc).operUp
		}
		if operUp("acc-a5", "Te1/1/1") {
			t.Error("acc-a5's uplink to the dead dist-s3 is up")
		}
		if !operUp("acc-a3", "Te1/1/1") { // behind dist-s2: untouched
			t.Error("acc-a3's uplink went down with dist-s3")
		}
		at(outageEnd + time.Second)
		for _, dev := range gone {
			get(dev, ".1.3.6.1.2.1.1.5.0")
		}
		for _, f := range facing {
			if oper(f) != 1 || lldp(f) != gosnmp.OctetString {
				t.Errorf("%s %s not back after the outage", f.dev.Name, f.ifc.Name)
			}
			lc := get(f.dev.Name, fmt.Sprintf("%s.%d", colLastChange, f.ifc.Index)).Value.(uint32)
			if want := uint32(ticks(start.Add(outageEnd).Sub(f.dev.bootAt))); lc != want {
				t.Errorf("%s ifLastChange %d, want %d", f.dev.Name, lc, want)
			}
		}
		if up := uintValue(t, get("dist-s3", ".1.3.6.1.2.1.1.3.0")); up < uint64(ticks(48*time.Hour)) {
			t.Errorf("dist-s3 restarted: sysUpTime %d", up)
		}

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
	// The outage of dist-s3 lists what it takes down with it, in order.
	var outage []string
	for _, s := range steps {
		if s.At == 6*time.Second || s.At == 12*time.Second {
			outage = append(outage, fmt.Sprint(s.At, " ", s.What, " ", s.Device, " ", s.Interface))
		}
	}
	want := []string{
		"6s unreachable acc-a5 ", "6s unreachable acc-a6 ", "6s unreachable dist-s3 ",
		"6s link down core-r1 xe-0/1/2", "6s link down core-r2 xe-0/1/2",
		"12s reachable dist-s3 ", "12s link up core-r1 xe-0/1/2", "12s link up core-r2 xe-0/1/2",
		"12s reachable acc-a5 ", "12s reachable acc-a6 ",
	}
	if !slices.Equal(outage, want) {
		t.Errorf("outage steps:\n%q\nwant\n%q", outage, want)
	}
}

// TestCutOff: what loses its path to the cores when a device dies, from the site's cables.
func TestCutOff(t *testing.T) {
	s := standardSite(DefaultSite, 1, time.Now())
	names := func(ds []*device) (out []string) {
		for _, d := range ds {
			out = append(out, d.Name)
		}
		return out
	}
	for dev, want := range map[string][]string{
		"dist-s1": {"acc-a1", "acc-a2"}, "dist-s3": {"acc-a5", "acc-a6"},
		"core-r1": nil, "fw-1": nil, "acc-a5": nil, // dual-homed, or nothing behind
	} {
		if got := names(s.cutOff(s.byName[dev])); !slices.Equal(got, want) {
			t.Errorf("behind %s: %v, want %v", dev, got, want)
		}
	}
	f := farmSite("farm", 4, 8, 1, time.Now()) // no cores, no cables: nothing behind anything
	if got := f.cutOff(f.outage); len(got) != 0 {
		t.Errorf("behind a farm switch: %v", names(got))
	}
}

// TestOutageFlows: while dist-s3 is dark, neither it nor the switches behind it export
// anything, and the cores send no traffic toward it (their records name other downlinks).
func TestOutageFlows(t *testing.T) {
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	s := standardSite(DefaultSite, 1, start)
	gens, err := newFlowGens(s, DefaultFlowRecordsPerSecond, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	tl := newTimeline(s, start.Add(-outageStart), 1, nil, testLog(t))
	sent := map[string]int{}
	toward := map[string]int{} // core records through xe-0/1/2
	play := func(from, to time.Time) {
		for k := range sent {
			sent[k] = 0
		}
		for k := range toward {
			toward[k] = 0
		}
		var st protoStats
		xs := make([]*flowExporter, len(gens))
		for k, g := range gens {
			xs[k] = newFlowExporter(g, s, netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint32(k), &st, testLog(t))
		}
		for now := from; now.Before(to); now = now.Add(flowTick) {
			tl.advance(now)
			for _, x := range xs {
				x.step(now, func([]byte) error { sent[x.gen.dev.Name]++; return nil })
				if x.gen.dev.Role != "core" {
					continue
				}
				xe2 := uint32(findIf(x.gen.dev, "xe-0/1/2").Index)
				for _, r := range x.gen.recs {
					if r.inIf == xe2 || r.outIf == xe2 {
						toward[x.gen.dev.Name]++
					}
				}
			}
		}
	}
	play(start.Add(-10*time.Second), start) // before: everyone exports, cores reach dist-s3
	for _, d := range []string{"dist-s3", "acc-a5", "acc-a6", "dist-s2"} {
		if sent[d] == 0 {
			t.Errorf("before the outage %s sent nothing", d)
		}
	}
	if toward["core-r1"] == 0 || toward["core-r2"] == 0 {
		t.Errorf("before the outage, core records toward dist-s3: %v", toward)
	}
	play(start.Add(time.Second), start.Add(20*time.Second))
	for _, d := range []string{"dist-s3", "acc-a5", "acc-a6"} {
		if sent[d] != 0 {
			t.Errorf("during the outage %s sent %d datagrams", d, sent[d])
		}
	}
	if sent["dist-s2"] == 0 || sent["core-r1"] == 0 || sent["acc-a4"] == 0 {
		t.Errorf("during the outage the others went quiet: %v", sent)
	}
	if toward["core-r1"] != 0 || toward["core-r2"] != 0 {
		t.Errorf("during the outage, core records toward dist-s3: %v", toward)
	}
}

// TestTraps plays the first cycle against a real lab with traps on, and receives them on a
// UDP socket: linkDown/linkUp from both ends of the flapping link, from the cores' ports
// toward the dead dist-s3 (none from what is behind it), and from the rebooted switch's
// neighbour, coldStart from the rebooted switch, each from its device's address.
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
		{"core-r1", oidLinkDown, "xe-0/1/2"}:  1, // the outage of dist-s3
		{"core-r1", oidLinkUp, "xe-0/1/2"}:    1,
		{"core-r2", oidLinkDown, "xe-0/1/2"}:  1,
		{"core-r2", oidLinkUp, "xe-0/1/2"}:    1,
		{"acc-a5", oidColdStart, ""}:          1,
	}
	for tr, n := range want {
		if count[tr] != n {
			t.Errorf("%+v: %d traps, want %d", tr, count[tr], n)
		}
	}
	if len(got) != 19 {
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
