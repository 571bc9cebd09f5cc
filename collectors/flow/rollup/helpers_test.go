package rollup

import (
	"cmp"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/watchfloor/watchfloor"
)

// t0 is the start of the test data: an hour boundary.
var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func newTest(t testing.TB, cfg Config, workers int) (*Aggregator, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	a, err := New(cfg, "east", workers, reg)
	if err != nil {
		t.Fatal(err)
	}
	return a, reg
}

// fl is a TCP record of 1 packet per 100 bytes from core-r1, in on ifIndex 1, out on 2.
func fl(at time.Time, src, dst string, dport uint16, bytes uint64) watchfloor.Flow {
	return watchfloor.Flow{
		Received: at, Exporter: netip.MustParseAddr("192.0.2.254"), SamplingRate: 1,
		SrcAddr: netip.MustParseAddr(src), DstAddr: netip.MustParseAddr(dst),
		SrcPort: 40000, DstPort: dport, Proto: 6, InIf: 1, OutIf: 2,
		Bytes: bytes, Packets: max(1, bytes/100),
		Device: "core-r1", InIfName: "ge-0/0/1", OutIfName: "ge-0/0/2", InSpeed: 1e9, OutSpeed: 1e10,
	}
}

// collector gathers emitted rollups.
type collector struct{ got []watchfloor.FlowRollup }

func (c *collector) emit(r watchfloor.FlowRollup) { c.got = append(c.got, r) }

func (c *collector) steps(step time.Duration) []watchfloor.FlowRollup {
	var out []watchfloor.FlowRollup
	for _, r := range c.got {
		if r.Step == step {
			out = append(out, r)
		}
	}
	return out
}

// rowsOf are the rows of one dimension.
func rowsOf(r watchfloor.FlowRollup, by watchfloor.FlowDim) []watchfloor.FlowRow {
	var out []watchfloor.FlowRow
	for _, row := range r.Rows {
		if row.By == by {
			out = append(out, row)
		}
	}
	return out
}

func keysOf(rows []watchfloor.FlowRow) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.Key
	}
	return out
}

// reference computes the rows of one dimension the slow way: string keys, full sort.
// Ties rank as the aggregator ranks them with one worker: packets, flows, first seen.
func reference(flows []watchfloor.Flow, by watchfloor.FlowDim, topN int) []watchfloor.FlowRow {
	type acc struct {
		row   watchfloor.FlowRow
		first int
	}
	idx := map[[2]string]*acc{}
	for i, f := range flows {
		dev := f.Device
		if dev == "" {
			dev = f.Exporter.String()
		}
		var keys []string
		s, d := f.SrcAddr.Unmap(), f.DstAddr.Unmap()
		switch by {
		case watchfloor.FlowBySrc:
			if s.IsValid() {
				keys = append(keys, s.String())
			}
		case watchfloor.FlowByDst:
			if d.IsValid() {
				keys = append(keys, d.String())
			}
		case watchfloor.FlowByPair:
			if s.IsValid() && d.IsValid() {
				keys = append(keys, s.String()+" → "+d.String())
			}
		case watchfloor.FlowByPort:
			keys = append(keys, PortName(f.Proto, f.DstPort))
		case watchfloor.FlowByProto:
			keys = append(keys, ProtoName(f.Proto))
		case watchfloor.FlowByAS:
			if f.SrcAS != 0 {
				keys = append(keys, ASName(f.SrcAS))
			}
		case watchfloor.FlowByDstAS:
			if f.DstAS != 0 {
				keys = append(keys, ASName(f.DstAS))
			}
		}
		for _, k := range keys {
			a := idx[[2]string{dev, k}]
			if a == nil {
				a = &acc{row: watchfloor.FlowRow{By: by, Device: dev, Key: k}, first: i}
				idx[[2]string{dev, k}] = a
			}
			a.row.Bytes += f.Bytes
			a.row.Packets += f.Packets
			a.row.Flows++
		}
	}
	byDev := map[string][]*acc{}
	for k, a := range idx {
		byDev[k[0]] = append(byDev[k[0]], a)
	}
	var devs []string
	for d := range byDev {
		devs = append(devs, d)
	}
	slices.Sort(devs)
	var out []watchfloor.FlowRow
	for _, d := range devs {
		accs := byDev[d]
		keep := map[*acc]bool{}
		slices.SortFunc(accs, func(x, y *acc) int {
			return cmp.Or(cmp.Compare(y.row.Bytes, x.row.Bytes), cmp.Compare(y.row.Packets, x.row.Packets),
				cmp.Compare(y.row.Flows, x.row.Flows), cmp.Compare(x.first, y.first))
		})
		for _, a := range accs[:min(topN, len(accs))] {
			keep[a] = true
		}
		slices.SortFunc(accs, func(x, y *acc) int {
			return cmp.Or(cmp.Compare(y.row.Packets, x.row.Packets), cmp.Compare(y.row.Bytes, x.row.Bytes),
				cmp.Compare(y.row.Flows, x.row.Flows), cmp.Compare(x.first, y.first))
		})
		for _, a := range accs[:min(topN, len(accs))] {
			keep[a] = true
		}
		var rows []watchfloor.FlowRow
		for a := range keep {
			rows = append(rows, a.row)
		}
		sortRows(rows)
		out = append(out, rows...)
	}
	return out
}

// randomFlows makes n records over [from, from+span) with Zipf-distributed hosts, several
// devices (one unknown), ports, protocols and ASes, in time order.
func randomFlows(rng *rand.Rand, n int, from time.Time, span time.Duration) []watchfloor.Flow {
	zipf := rand.NewZipf(rng, 1.2, 1, 2000)
	devices := []string{"core-r1", "core-r2", ""}
	protos := []uint8{6, 6, 6, 17, 17, 1, 58, 47, 50, 132, 89}
	out := make([]watchfloor.Flow, n)
	for i := range out {
		h := zipf.Uint64()
		src := netip.AddrFrom4([4]byte{10, 0, byte(h >> 8), byte(h)})
		dst := netip.AddrFrom4([4]byte{198, 51, 100, byte(zipf.Uint64())})
		if rng.IntN(10) == 0 {
			dst = netip.MustParseAddr("2001:db8::1")
		}
		dev := devices[rng.IntN(len(devices))]
		bytes := uint64(40 + rng.IntN(1500*20))
		out[i] = watchfloor.Flow{
			Received: from.Add(time.Duration(int64(span) * int64(i) / int64(n))),
			Exporter: netip.AddrFrom4([4]byte{192, 0, 2, byte(1 + rng.IntN(2))}),
			SrcAddr:  src, DstAddr: dst, Proto: protos[rng.IntN(len(protos))],
			SrcPort: uint16(1024 + rng.IntN(60000)), DstPort: []uint16{443, 80, 53, 22, 8080}[rng.IntN(5)],
			InIf: uint32(1 + rng.IntN(4)), OutIf: uint32(rng.IntN(4)),
			SrcAS: []uint32{0, 64500, 64501, 64502}[rng.IntN(4)], DstAS: []uint32{0, 64510, 64511}[rng.IntN(3)],
			Bytes: bytes, Packets: 1 + bytes/(100+uint64(rng.IntN(1400))),
			Device: dev,
		}
		if dev != "" {
			out[i].InIfName = "ge-0/0/" + string(rune('0'+out[i].InIf))
			out[i].InSpeed = 1e9
		}
	}
	return out
}

func metricValue(t testing.TB, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			if m.Counter != nil {
				return m.Counter.GetValue()
			}
			if m.Histogram != nil {
				return float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return -1
}
