package correlator

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/rules"
)

// defaultPack is the built-in detection pack, as the appliance loads it.
func defaultPack(b *testing.B) *rules.Set {
	set, errs := rules.LoadPack()
	if len(errs) > 0 {
		b.Fatal(errs)
	}
	return set
}

// BenchmarkDefaultPackNoMatch: with the full default pack loaded, ordinary DNS queries and
// TLS ClientHellos to popular names — records the pack's DNS and TLS rules read and evaluate,
// and none matches. (Every flow matches the exporter heartbeat of the pack's
// exporter_silent rule, so flows are never "no match" with the pack loaded: they are in the
// mixed benchmark.)
func BenchmarkDefaultPackNoMatch(b *testing.B) {
	h := newHarness(b, defaultPack(b), DefaultConfig())
	obs := make([]watchfloor.Observation, 256)
	names := [][]byte{[]byte("www.example.com"), []byte("mail.example.org"), []byte("updates.example.net"), []byte("time.example.com")}
	for i := range obs {
		o := watchfloor.Observation{Time: t0, Kind: watchfloor.ObsDNSQuery, SamplingRate: 1,
			SrcAddr: netip.AddrFrom4([4]byte{10, 20, byte(i >> 4), byte(i)}), DstAddr: addr("192.0.2.53"),
			SrcPort: uint16(30000 + i), DstPort: 53, Proto: 17, DNSType: 1, DNSLabels: 3, DNSLongest: 7, DNSEntropy: 2.3,
			Name: names[i%len(names)], DNSQueryBytes: 15}
		if i%2 == 1 {
			o.Kind, o.DstAddr, o.DstPort, o.Proto, o.Extra = watchfloor.ObsTLSClientHello, addr("198.51.100.10"), 443, 6, []byte("h2,http/1.1")
		}
		obs[i] = o
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		h.e.HandleObservations(0, obs)
		n += len(obs)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(testing.AllocsPerRun(10, func() { h.e.HandleObservations(0, obs) }))/float64(len(obs)), "allocs/record")
}

// BenchmarkDefaultPackMixed: the full default pack over a mixed stream that drives its
// stateful rules: flows in and out (exporter heartbeats, reflection sums, border rules),
// SYNs of a vertical scan among normal SYNs (value_count, event_count), NXDOMAIN responses
// (the DGA burst rule), ordinary DNS queries.
func BenchmarkDefaultPackMixed(b *testing.B) {
	h := newHarness(b, defaultPack(b), DefaultConfig())
	const batch = 256
	flows := make([]watchfloor.Flow, batch)
	syns := make([]watchfloor.Observation, batch)
	dns := make([]watchfloor.Observation, batch/2)
	i := 0
	now := t0
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		for j := range flows {
			i++
			now = now.Add(10 * time.Microsecond)
			f := flow(now, "198.51.100.1", "10.20.2.1", 443, 1500)
			f.SrcAddr = netip.AddrFrom4([4]byte{198, 51, 100, byte(i)})
			f.DstAddr = netip.AddrFrom4([4]byte{10, 20, byte(i >> 8), byte(i % 50)})
			f.Direction = watchfloor.DirectionIn
			f.Device = "core-r1"
			f.Exporter = addr("127.0.1.10")
			if j%3 == 0 {
				f.SrcAddr, f.DstAddr, f.Direction = f.DstAddr, f.SrcAddr, watchfloor.DirectionOut
			}
			if j%17 == 0 {
				f.Proto, f.SrcPort = 17, 123
			}
			flows[j] = f
			s := syn(now, "198.51.100.190", "10.20.101.25", uint16(i))
			if j%2 == 0 {
				s.SrcAddr = netip.AddrFrom4([4]byte{10, 20, byte(i >> 8), byte(i)})
				s.DstAddr, s.DstPort = addr("198.51.100.10"), 443
			}
			syns[j] = s
		}
		for j := range dns {
			d := watchfloor.Observation{Time: now, Kind: watchfloor.ObsDNSQuery, SrcAddr: netip.AddrFrom4([4]byte{10, 20, 3, byte(j)}),
				DstAddr: addr("192.0.2.53"), DstPort: 53, Proto: 17, DNSType: 1, Name: []byte("www.example.com"), DNSLabels: 3, DNSEntropy: 2}
			if j%4 == 0 {
				d.Kind, d.DNSRcode, d.Name = watchfloor.ObsDNSResponse, 3, fmt.Appendf(nil, "q%dx.example", i%1000)
			}
			dns[j] = d
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
