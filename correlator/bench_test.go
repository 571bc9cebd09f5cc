package correlator

import (
	"net/netip"
	"testing"
	"time"

	"github.com/watchfloor/watchfloor"
)

// BenchmarkFlowsNoMatch: flows that no rule of the test pack (36 rules, 13 reading flows)
// matches, except the catch-all any_flow that feeds stateless-looking correlations… which
// would match everything, so the pack is loaded without it: see noMatchPack.
func BenchmarkFlowsNoMatch(b *testing.B) {
	set := loadPack(b)
	h := newHarness(b, set, DefaultConfig())
	// any_flow matches every flow (it feeds absence and volume correlations), so a flow "no
	// rule can match" must come from outside 0.0.0.0/0 and ::/0: none exists. Measure with
	// the pack minus the rules that read every flow.
	h = newHarness(b, withoutRules(b, set, "any_flow", "exporter_silent", "volumetric_flood", "big_avg", "p95_packets"), DefaultConfig())
	flows := make([]watchfloor.Flow, 256)
	for i := range flows {
		f := flow(t0, "10.1.0.1", "10.2.0.1", 443, 1500)
		f.SrcAddr = netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
		f.InIfName = "core-1"
		flows[i] = f
	}
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		h.e.HandleFlows(0, flows)
		n += len(flows)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(testing.AllocsPerRun(10, func() { h.e.HandleFlows(0, flows) }))/float64(len(flows)), "allocs/record")
}

// BenchmarkMixedStateful: a realistic mixed stream driving the stateful rules: flows (every
// flow feeds absence, value_sum, value_avg and value_percentile), SYNs of a scan and of
// normal traffic (value_count ×2, event_count ×2), DNS responses (NXDOMAIN bursts).
func BenchmarkMixedStateful(b *testing.B) {
	h := newHarness(b, loadPack(b), DefaultConfig())
	const batch = 256
	flows := make([]watchfloor.Flow, batch)
	syns := make([]watchfloor.Observation, batch)
	dns := make([]watchfloor.Observation, batch/4)
	i := 0
	now := t0
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		for j := range flows {
			i++
			now = now.Add(10 * time.Microsecond)
			f := flow(now, "10.1.0.1", "10.2.0.1", 443, 1500)
			f.SrcAddr = netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
			f.DstAddr = netip.AddrFrom4([4]byte{10, 2, 0, byte(i % 50)})
			flows[j] = f
			s := syn(now, "198.51.100.7", "10.20.1.5", uint16(i))
			if j%2 == 0 {
				s.SrcAddr = netip.AddrFrom4([4]byte{172, 16, byte(i >> 8), byte(i)})
				s.DstPort = 443
			}
			syns[j] = s
		}
		for j := range dns {
			dns[j] = watchfloor.Observation{Time: now, Kind: watchfloor.ObsDNSResponse, SrcAddr: addr("10.0.0.53"),
				DstAddr: netip.AddrFrom4([4]byte{10, 3, 0, byte(j)}), DNSRcode: 3, Name: []byte("x.example")}
		}
		h.e.HandleFlows(0, flows)
		h.e.HandleObservations(0, syns)
		h.e.HandleObservations(0, dns)
		h.e.Drain()
		n += 2*batch + len(dns)
		if i%(batch*64) == 0 {
			h.e.Tick(now)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
}
