package lab

import (
	"fmt"
	"math"
	"net/netip"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"
	"github.com/netsampler/goflow2/v2/decoders/netflow"

	"github.com/watchfloor/watchfloor"
)

// TestFlowAgreement: over a minute, the bytes of each metered uplink's records × the
// sampling rate equal the SNMP octets of that uplink, in and out, on every exporter.
func TestFlowAgreement(t *testing.T) {
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	s := standardSite(DefaultSite, 1, start)
	gens, err := newFlowGens(s, DefaultFlowRecordsPerSecond, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	type key struct {
		g   *flowGen
		idx uint32
	}
	flowIn, flowOut := map[key]float64{}, map[key]float64{}
	var records int
	step := flowTick
	for now := start; !now.After(start.Add(time.Minute)); now = now.Add(step) {
		for _, g := range gens {
			g.tick(now.Add(-step), now)
			for k := range g.recs {
				r := &g.recs[k]
				flowIn[key{g, r.inIf}] += float64(r.bytes) * float64(g.rate)
				flowOut[key{g, r.outIf}] += float64(r.bytes) * float64(g.rate)
			}
			records += len(g.recs)
		}
	}
	if rps := float64(records) / 60; rps < 0.7*DefaultFlowRecordsPerSecond || rps > 1.3*DefaultFlowRecordsPerSecond {
		t.Errorf("%.0f records/s, budget %d", rps, DefaultFlowRecordsPerSecond)
	}
	for _, g := range gens {
		for _, m := range g.meters {
			g.dev.mu.RLock()
			in0, out0 := g.dev.octets(m.ifc, g.dev.sec(start))
			in1, out1 := g.dev.octets(m.ifc, g.dev.sec(start.Add(time.Minute)))
			g.dev.mu.RUnlock()
			k := key{g, uint32(m.ifc.Index)}
			ri, ro := flowIn[k]/(in1-in0), flowOut[k]/(out1-out0)
			t.Logf("%-8s %-11s %-10v 1:%-5d in %6.0f Mbit/s flows/snmp %.4f, out %6.0f Mbit/s flows/snmp %.4f",
				g.dev.Name, m.ifc.Name, g.proto, g.rate, (in1-in0)*8/60/1e6, ri, (out1-out0)*8/60/1e6, ro)
			tol := 0.01
			if g.proto == watchfloor.FlowSFlow {
				tol = 0.03
			}
			if math.Abs(ri-1) > tol || math.Abs(ro-1) > tol {
				t.Errorf("%s %s: flows/SNMP in %.4f out %.4f", g.dev.Name, m.ifc.Name, ri, ro)
			}
		}
	}
}

// TestFlowRecordsSane: every record names interfaces of its device, site hosts on one
// side and the outside on the other, and counts at least a packet.
func TestFlowRecordsSane(t *testing.T) {
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	s := standardSite(DefaultSite, 3, start)
	gens, err := newFlowGens(s, DefaultFlowRecordsPerSecond, 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	ours := func(a netip.Addr) bool { return OurNetworks[0].Contains(a) || OurNetworks[1].Contains(a) }
	v6 := 0
	for _, g := range gens {
		idx := map[uint32]bool{}
		for _, i := range g.dev.ifaces {
			idx[uint32(i.Index)] = true
		}
		g.tick(start, start)
		g.tick(start, start.Add(2*time.Second))
		if len(g.recs) == 0 {
			t.Fatalf("%s: no records", g.dev.Name)
		}
		for _, r := range g.recs {
			if !idx[r.inIf] || !idx[r.outIf] || r.inIf == r.outIf {
				t.Fatalf("%s: interfaces %d → %d", g.dev.Name, r.inIf, r.outIf)
			}
			if ours(r.src) == ours(r.dst) || r.packets == 0 || r.bytes < r.packets {
				t.Fatalf("%s: record %+v", g.dev.Name, r)
			}
			// One family per flow: a v4 template cannot carry a v6 address (it was written
			// as 0.0.0.0 once, and showed on the wall as a top destination).
			if r.src.Unmap().Is4() != r.dst.Unmap().Is4() || r.src.IsUnspecified() || r.dst.IsUnspecified() {
				t.Fatalf("%s: mixed or empty addresses %v → %v", g.dev.Name, r.src, r.dst)
			}
			if r.v6() {
				v6++
				if g.proto == watchfloor.FlowNetFlowV5 {
					t.Fatalf("%s: IPv6 in NetFlow v5", g.dev.Name)
				}
			}
		}
	}
	if v6 == 0 {
		t.Error("no IPv6 records")
	}
}

// TestFlowIncidents plays the timeline at TimeScale 0.1 with the generators stepped on
// the same synthetic clock: the scan shows as many SYN-only destinations from one source
// in its window only, the flood as the top destination by packets in its window only, and
// the flood is in the transit's SNMP counters too.
func TestFlowIncidents(t *testing.T) {
	const scale = 0.1
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	s := standardSite(DefaultSite, 1, start)
	gens, err := newFlowGens(s, DefaultFlowRecordsPerSecond, 1, scale)
	if err != nil {
		t.Fatal(err)
	}
	core := gens[0]
	if core.dev.Name != "core-r1" || core.fx == nil {
		t.Fatal("core-r1 does not see the incidents")
	}
	tl := newTimeline(s, start, scale, nil, testLog(t))
	at := func(d time.Duration) time.Time { return start.Add(time.Duration(float64(d) * scale)) }
	inWin := func(tm time.Time, from, dur time.Duration) bool {
		return !tm.Before(at(from)) && tm.Before(at(from+dur))
	}
	d0 := s.fx.edge.dev
	d0.mu.RLock()
	in0, _ := d0.octets(s.fx.edge.ifc, d0.sec(start)) // now: later readings of the past include the floods since
	d0.mu.RUnlock()
	scanDst := map[bool]map[netip.Addr]bool{true: {}, false: {}}
	dstPkts := map[bool]map[netip.Addr]uint64{true: {}, false: {}}
	var floodBytes, transitIn float64
	step := 50 * time.Millisecond
	for now := start; now.Before(start.Add(2 * time.Duration(float64(cyclePeriod)*scale))); now = now.Add(step) {
		tl.advance(now)
		core.tick(now.Add(-step), now)
		for _, r := range core.recs {
			if r.src == ScanSource {
				if r.tcpFlags != 0x02 || r.dstPort != scanPort || r.packets != 1 {
					t.Fatalf("scan probe %+v", r)
				}
				scanDst[inWin(r.last, scanAt, scanDur) || inWin(r.last, cyclePeriod+scanAt, scanDur)][r.dst] = true
			}
			flood := inWin(r.last, floodAt, floodDur) || inWin(r.last, cyclePeriod+floodAt, floodDur)
			dstPkts[flood][r.dst] += r.packets
			if r.dst == FloodVictim && r.proto == 17 && r.srcPort == floodOnPort {
				floodBytes += float64(r.bytes * uint64(core.rate))
			}
			if r.inIf == uint32(s.fx.edge.ifc.Index) {
				transitIn += float64(r.bytes * uint64(core.rate))
			}
		}
	}
	if n := len(scanDst[true]); n < int(0.9*scanPerSec*scanDur.Seconds()) {
		t.Errorf("%d scanned destinations in two cycles", n)
	}
	if n := len(scanDst[false]); n != 0 {
		t.Errorf("%d scanned destinations outside the scan's window", n)
	}
	top := func(m map[netip.Addr]uint64) netip.Addr {
		var best netip.Addr
		for a, n := range m {
			if !best.IsValid() || n > m[best] {
				best = a
			}
		}
		return best
	}
	if v := top(dstPkts[true]); v != FloodVictim {
		t.Errorf("top destination by packets during the flood: %s", v)
	}
	if dstPkts[false][FloodVictim] > dstPkts[true][FloodVictim]/100 {
		t.Errorf("flood packets outside its window: %d", dstPkts[false][FloodVictim])
	}
	want := 2 * floodRate * floodDur.Seconds() * scale
	if math.Abs(floodBytes/want-1) > 0.02 {
		t.Errorf("flood bytes %.3g, want %.3g", floodBytes, want)
	}
	// The transit's SNMP input includes the flood, and the flows agree with it.
	d := s.fx.edge.dev
	end := start.Add(2 * time.Duration(float64(cyclePeriod)*scale)).Add(-step)
	d.mu.RLock()
	in1, _ := d.octets(s.fx.edge.ifc, d.sec(end))
	d.mu.RUnlock()
	if r := transitIn / (in1 - in0); math.Abs(r-1) > 0.01 {
		t.Errorf("transit input: flows/SNMP %.4f", r)
	}
}

// TestSFlowCounters: the access switches' counter samples carry what their SNMP agents
// answer at the same instant, for every interface with traffic.
func TestSFlowCounters(t *testing.T) {
	start := time.Now()
	s := standardSite(DefaultSite, 1, start)
	gens, err := newFlowGens(s, DefaultFlowRecordsPerSecond, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	now := start.Add(90 * time.Second)
	checked := 0
	for _, g := range gens {
		if g.proto != watchfloor.FlowSFlow {
			continue
		}
		a := v2cAgent(t, g.dev)
		g.counterSamples(now)
		if len(g.counters) < 10 {
			t.Fatalf("%s: %d counter samples", g.dev.Name, len(g.counters))
		}
		for _, c := range g.counters {
			x := fmt.Sprint(c.index)
			r := query(t, a, now, gosnmp.GetRequest, 0, 0, colHCInOctets+"."+x, colHCOutOctets+"."+x,
				".1.3.6.1.2.1.2.2.1.11."+x, ".1.3.6.1.2.1.2.2.1.17."+x, colInErrors+"."+x, ".1.3.6.1.2.1.2.2.1.8."+x)
			v := func(k int) uint64 { return uintValue(t, r.Variables[k]) }
			oper := uint32(r.Variables[5].Value.(int))
			if c.inOctets != v(0) || c.outOctets != v(1) || uint64(c.inUcast) != v(2) || uint64(c.outUcast) != v(3) ||
				uint64(c.inErr) != v(4) || (oper == 1) != (c.status&2 != 0) {
				t.Errorf("%s if %d: counters %+v, SNMP %d %d %d %d %d oper %d", g.dev.Name, c.index, c, v(0), v(1), v(2), v(3), v(4), oper)
			}
			checked++
		}
	}
	if checked < 60 {
		t.Errorf("%d interfaces checked", checked)
	}
}

// TestIPFIXLoad: the load generator's stream decodes with goflow2: a template datagram
// first and after every 1000 data datagrams, then exactly recordsPerDatagram records each.
func TestIPFIXLoad(t *testing.T) {
	ld := NewIPFIXLoad(7, 20)
	ts := netflow.CreateTemplateSystem()
	buf := make([]byte, 0, 1500)
	var recs int
	for k := range 2003 {
		b := ld.Next(buf)
		if len(b) > maxFlowDatagram {
			t.Fatalf("datagram of %d bytes", len(b))
		}
		r := decodeNF(t, ts, b, testBoot)
		if tmpl := k == 0 || k == 1001 || k == 2002; tmpl != (r.tmpls > 0) || r.raw > 0 {
			t.Fatalf("datagram %d: %+v", k, r)
		}
		if r.tmpls == 0 && len(r.recs) != 20 {
			t.Fatalf("datagram %d: %d records", k, len(r.recs))
		}
		recs += len(r.recs)
		for _, d := range r.recs {
			if d.bytes == 0 || d.packets == 0 || d.inIf == 0 || (d.srcAS != SiteAS && d.dstAS != SiteAS) {
				t.Fatalf("record %+v", d)
			}
		}
	}
	if ld.Records() != recs || recs != 2000*20 {
		t.Errorf("Records %d, decoded %d", ld.Records(), recs)
	}
}
