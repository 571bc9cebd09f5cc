package flow

import (
	"net/netip"
	"testing"

	"github.com/watchfloor/watchfloor"
)

func TestEnrich(t *testing.T) {
	cfg := DefaultConfig()
	cfg.OurNetworks = []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("2001:db8::/32")}
	cfg.Exporters = []Exporter{
		{Address: netip.MustParseAddr("192.0.2.1"), Device: "core-r1", SamplingRate: 100},
		{Address: netip.MustParseAddr("192.0.2.2"), Device: "edge-unpolled"},
	}
	e := newEnricher(cfg, "east")
	// core-r1 is polled at another address than it exports from; access-s7 is not in the
	// exporter list but exports from its polled address; a device polled by DNS name matches
	// nothing by address.
	e.update(testDevice("core-r1", "192.0.2.100:161", 0))
	e.update(watchfloor.Device{Name: "access-s7", Address: "[2001:db8::7]:161", Interfaces: []watchfloor.Interface{
		{Index: 70000, Name: "sparse", SpeedBps: 25e9},
	}})
	e.update(watchfloor.Device{Name: "dns-named", Address: "switch.example:161"})

	ours4, ours6 := netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("2001:db8::1")
	ext4, ext6 := netip.MustParseAddr("203.0.113.9"), netip.MustParseAddr("2001:db9::1")
	tests := []struct {
		name                string
		f                   watchfloor.Flow
		device, inIf, outIf string
		inSpeed, outSpeed   uint64
		dir                 watchfloor.Direction
	}{
		{"configured exporter, polled interfaces", watchfloor.Flow{Exporter: netip.MustParseAddr("192.0.2.1"), InIf: 1, OutIf: 2, SrcAddr: ext4, DstAddr: ours4},
			"core-r1", "ge-0/0/1", "ge-0/0/2", 1e9, 10e9, watchfloor.DirectionIn},
		{"mapped exporter address", watchfloor.Flow{Exporter: netip.MustParseAddr("::ffff:192.0.2.1"), InIf: 2, SrcAddr: ours4, DstAddr: ext4},
			"core-r1", "ge-0/0/2", "", 10e9, 0, watchfloor.DirectionOut},
		{"unknown ifIndex", watchfloor.Flow{Exporter: netip.MustParseAddr("192.0.2.1"), InIf: 99, OutIf: 1 << 31, SrcAddr: ours4, DstAddr: ours4},
			"core-r1", "", "", 0, 0, watchfloor.DirectionInternal},
		{"configured, not polled", watchfloor.Flow{Exporter: netip.MustParseAddr("192.0.2.2"), InIf: 1, SrcAddr: ext4, DstAddr: ext4},
			"edge-unpolled", "", "", 0, 0, watchfloor.DirectionTransit},
		{"polled device by address, sparse ifIndex", watchfloor.Flow{Exporter: netip.MustParseAddr("2001:db8::7"), InIf: 70000, SrcAddr: ext6, DstAddr: ours6},
			"access-s7", "sparse", "", 25e9, 0, watchfloor.DirectionIn},
		{"mapped flow addresses", watchfloor.Flow{Exporter: netip.MustParseAddr("192.0.2.1"), SrcAddr: netip.MustParseAddr("::ffff:198.51.100.1"), DstAddr: ext6},
			"core-r1", "", "", 0, 0, watchfloor.DirectionOut},
		{"configured device's polled address", watchfloor.Flow{Exporter: netip.MustParseAddr("192.0.2.100"), InIf: 1, SrcAddr: ext4, DstAddr: ext4},
			"core-r1", "ge-0/0/1", "", 1e9, 0, watchfloor.DirectionTransit},
		{"unknown exporter", watchfloor.Flow{Exporter: netip.MustParseAddr("192.0.2.200"), InIf: 1, Device: "stale", InIfName: "stale", SrcAddr: ext6, DstAddr: ext4},
			"", "", "", 0, 0, watchfloor.DirectionTransit},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			flows := []watchfloor.Flow{tc.f}
			e.enrich(flows)
			f := flows[0]
			if f.Site != "east" || f.Device != tc.device || f.InIfName != tc.inIf || f.OutIfName != tc.outIf ||
				f.InSpeed != tc.inSpeed || f.OutSpeed != tc.outSpeed || f.Direction != tc.dir {
				t.Errorf("got site %q device %q in %q/%d out %q/%d %s; want device %q in %q/%d out %q/%d %s",
					f.Site, f.Device, f.InIfName, f.InSpeed, f.OutIfName, f.OutSpeed, f.Direction,
					tc.device, tc.inIf, tc.inSpeed, tc.outIf, tc.outSpeed, tc.dir)
			}
		})
	}
	if got := e.samplingRate(netip.MustParseAddr("192.0.2.1")); got != 100 {
		t.Errorf("samplingRate = %d, want 100", got)
	}
	if got := e.samplingRate(netip.MustParseAddr("203.0.113.1")); got != 0 {
		t.Errorf("samplingRate of an unknown exporter = %d", got)
	}
}

func TestEnrichNoNetworks(t *testing.T) {
	e := newEnricher(DefaultConfig(), "east")
	flows := []watchfloor.Flow{{SrcAddr: netip.MustParseAddr("10.0.0.1"), DstAddr: netip.MustParseAddr("10.0.0.2")}}
	if unknown := e.enrich(flows); unknown != 1 || flows[0].Direction != watchfloor.DirectionUnknown {
		t.Errorf("unknown %d, direction %s", unknown, flows[0].Direction)
	}
}

// TestUpdateDeviceRebuild: the tables are swapped only when something enrichment uses
// changed.
func TestUpdateDeviceRebuild(t *testing.T) {
	e := newEnricher(DefaultConfig(), "east")
	tests := []struct {
		name    string
		d       watchfloor.Device
		rebuild bool
	}{
		{"new device", testDevice("r1", "192.0.2.1:161", 0), true},
		{"same again", testDevice("r1", "192.0.2.1:161", 0), false},
		{"status and rates do not matter", func() watchfloor.Device {
			d := testDevice("r1", "192.0.2.1:161", 0)
			d.Status, d.UptimeS, d.Interfaces[0].InBps, d.Interfaces[1].OperStatus = watchfloor.DeviceUp, 42, 1e6, watchfloor.IfDown
			return d
		}(), false},
		{"speed changed", testDevice("r1", "192.0.2.1:161", 1), true},
		{"address changed", testDevice("r1", "192.0.2.9:161", 1), true},
		{"interface renamed", func() watchfloor.Device {
			d := testDevice("r1", "192.0.2.9:161", 1)
			d.Interfaces[0].Name = "xe-0/0/1"
			return d
		}(), true},
		{"no name", watchfloor.Device{Address: "192.0.2.5:161"}, false},
	}
	for _, tc := range tests {
		before := e.tab.Load()
		got := e.update(tc.d)
		if swapped := e.tab.Load() != before; got != tc.rebuild || swapped != tc.rebuild {
			t.Errorf("%s: update = %v, swapped = %v, want %v", tc.name, got, swapped, tc.rebuild)
		}
	}
	if d := e.device(netip.MustParseAddr("192.0.2.9")); d == nil || d.ifs.get(1).name != "xe-0/0/1" {
		t.Errorf("after the updates: %+v", d)
	}
	if d := e.device(netip.MustParseAddr("192.0.2.1")); d != nil {
		t.Errorf("the old address still maps to %q", d.name)
	}
}

// BenchmarkEnrich: allocations per record must be 0.
func BenchmarkEnrich(b *testing.B) {
	cfg := DefaultConfig()
	for i := range 16 {
		cfg.OurNetworks = append(cfg.OurNetworks, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i), 0, 0}), 16))
	}
	cfg.Exporters = []Exporter{{Address: netip.MustParseAddr("192.0.2.1"), Device: "core-r1"}}
	e := newEnricher(cfg, "east")
	d := testDevice("core-r1", "192.0.2.1:161", 0)
	for i := 3; i < 48; i++ {
		d.Interfaces = append(d.Interfaces, watchfloor.Interface{Index: int32(i), Name: "ge-0/0/x", SpeedBps: 1e9})
	}
	e.update(d)
	flows := make([]watchfloor.Flow, 1024)
	for i := range flows {
		flows[i] = watchfloor.Flow{Exporter: netip.MustParseAddr("192.0.2.1"), InIf: uint32(i % 50), OutIf: uint32(i % 7),
			SrcAddr: netip.AddrFrom4([4]byte{10, byte(i % 20), 1, 1}), DstAddr: netip.AddrFrom4([4]byte{203, 0, 113, byte(i)})}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		e.enrich(flows)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(flows)), "ns/record")
	b.ReportMetric(float64(testing.AllocsPerRun(10, func() { e.enrich(flows) }))/float64(len(flows)), "allocs/record")
}
