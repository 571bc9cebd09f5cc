package rollup

import (
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/watchfloor/watchfloor"
)

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Config)
		fields []string
	}{
		{"defaults", func(*Config) {}, nil},
		{"top_n zero", func(c *Config) { c.TopN = 0 }, []string{"top_n"}},
		{"top_n huge", func(c *Config) { c.TopN = 20000 }, []string{"top_n"}},
		{"max_keys zero", func(c *Config) { c.MaxKeys = 0 }, []string{"max_keys"}},
		{"max_keys below top_n", func(c *Config) { c.TopN, c.MaxKeys = 100, 50 }, []string{"max_keys"}},
		{"grace negative", func(c *Config) { c.Grace = -time.Second }, []string{"grace"}},
		{"grace too long", func(c *Config) { c.Grace = time.Hour }, []string{"grace"}},
		{"all", func(c *Config) { *c = Config{Grace: -1} }, []string{"top_n", "max_keys", "grace"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.change(&c)
			var got []string
			for _, e := range c.Validate() {
				got = append(got, e.Field)
				if e.Msg == "" || !strings.HasPrefix(e.Error(), e.Field+": ") {
					t.Errorf("bad error %q", e.Error())
				}
			}
			if !slices.Equal(got, tc.fields) {
				t.Errorf("fields %v, want %v", got, tc.fields)
			}
			_, err := New(c, "east", 1, nil)
			if (err != nil) != (len(tc.fields) > 0) {
				t.Errorf("New: %v", err)
			}
		})
	}
	for _, w := range []int{0, -1, maxWorkers + 1} {
		if _, err := New(DefaultConfig(), "east", w, nil); err == nil {
			t.Errorf("New with %d workers: no error", w)
		}
	}
}

// TestTopN checks exact rows and totals on constructed streams.
func TestTopN(t *testing.T) {
	at := t0.Add(10 * time.Second)
	type row struct {
		key            string
		bytes, packets uint64
		flows          uint64
	}
	for _, tc := range []struct {
		name  string
		topN  int
		by    watchfloor.FlowDim
		flows []watchfloor.Flow
		want  []row
	}{
		{"sums per source", 10, watchfloor.FlowBySrc, []watchfloor.Flow{
			fl(at, "10.0.0.1", "198.51.100.1", 443, 1000),
			fl(at, "10.0.0.2", "198.51.100.1", 443, 5000),
			fl(at, "10.0.0.1", "198.51.100.2", 80, 3000),
			fl(at, "::ffff:10.0.0.3", "198.51.100.2", 80, 100),
		}, []row{{"10.0.0.2", 5000, 50, 1}, {"10.0.0.1", 4000, 40, 2}, {"10.0.0.3", 100, 1, 1}}},
		{"top 2 of 4 sources", 2, watchfloor.FlowBySrc, []watchfloor.Flow{
			fl(at, "10.0.0.1", "198.51.100.1", 443, 1000),
			fl(at, "10.0.0.2", "198.51.100.1", 443, 2000),
			fl(at, "10.0.0.3", "198.51.100.1", 443, 3000),
			fl(at, "10.0.0.4", "198.51.100.1", 443, 4000),
		}, []row{{"10.0.0.4", 4000, 40, 1}, {"10.0.0.3", 3000, 30, 1}}},
		{"destinations v6", 5, watchfloor.FlowByDst, []watchfloor.Flow{
			fl(at, "2001:db8::1", "2001:db8:1::53", 53, 200),
			fl(at, "2001:db8::2", "2001:db8:1::53", 53, 300),
			fl(at, "2001:db8::2", "2001:db8:1::80", 80, 400),
		}, []row{{"2001:db8:1::53", 500, 5, 2}, {"2001:db8:1::80", 400, 4, 1}}},
		{"pairs", 5, watchfloor.FlowByPair, []watchfloor.Flow{
			fl(at, "10.0.0.1", "198.51.100.1", 443, 1000),
			fl(at, "10.0.0.1", "198.51.100.1", 80, 1000),
			fl(at, "10.0.0.2", "198.51.100.1", 443, 500),
		}, []row{{"10.0.0.1 → 198.51.100.1", 2000, 20, 2}, {"10.0.0.2 → 198.51.100.1", 500, 5, 1}}},
		{"ports", 5, watchfloor.FlowByPort, []watchfloor.Flow{
			fl(at, "10.0.0.1", "198.51.100.1", 443, 1000),
			fl(at, "10.0.0.2", "198.51.100.1", 443, 1000),
			fl(at, "10.0.0.1", "198.51.100.1", 22, 1500),
		}, []row{{"tcp/443", 2000, 20, 2}, {"tcp/22", 1500, 15, 1}}},
		{"interfaces in and out", 5, watchfloor.FlowByInterface, []watchfloor.Flow{
			fl(at, "10.0.0.1", "198.51.100.1", 443, 1000),
			fl(at, "10.0.0.2", "198.51.100.1", 443, 3000),
		}, []row{{"core-r1/ge-0/0/1", 4000, 40, 2}, {"core-r1/ge-0/0/2", 4000, 40, 2}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.TopN = tc.topN
			a, _ := newTest(t, cfg, 1)
			a.Add(0, tc.flows)
			var c collector
			a.Flush(c.emit)
			mins := c.steps(time.Minute)
			if len(mins) != 1 || len(c.steps(time.Hour)) != 1 {
				t.Fatalf("got %d rollups, want a minute and an hour", len(c.got))
			}
			r := mins[0]
			var got []row
			for _, x := range rowsOf(r, tc.by) {
				if x.Device != "core-r1" {
					t.Errorf("device %q", x.Device)
				}
				got = append(got, row{x.Key, x.Bytes, x.Packets, x.Flows})
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("rows\n got %v\nwant %v", got, tc.want)
			}
			var want watchfloor.FlowTotals
			for _, f := range tc.flows {
				want.Bytes += f.Bytes
				want.Packets += f.Packets
				want.Flows++
			}
			if r.Totals != want {
				t.Errorf("totals %+v, want %+v", r.Totals, want)
			}
			if !r.Start.Equal(t0) || r.Site != "east" {
				t.Errorf("start %v site %q", r.Start, r.Site)
			}
		})
	}
}

// TestTopNRandom compares every dimension with the reference on a random stream.
func TestTopNRandom(t *testing.T) {
	for _, topN := range []int{1, 5, 50} {
		rng := rand.New(rand.NewPCG(1, uint64(topN)))
		flows := randomFlows(rng, 20000, t0, 50*time.Second)
		cfg := DefaultConfig()
		cfg.TopN = topN
		a, _ := newTest(t, cfg, 1)
		for b := 0; b < len(flows); b += 100 {
			a.Add(0, flows[b:b+100])
		}
		var c collector
		a.Flush(c.emit)
		r := c.steps(time.Minute)[0]
		for _, by := range watchfloor.FlowDims[:7] {
			want := reference(flows, by, topN)
			if got := rowsOf(r, by); !reflect.DeepEqual(got, want) {
				t.Errorf("top %d by %s: %d rows, want %d\n got %v\nwant %v", topN, by, len(got), len(want), got, want)
			}
		}
	}
}

func TestUnionOfBytesAndPackets(t *testing.T) {
	at := t0
	f := func(src string, bytes, packets uint64) watchfloor.Flow {
		x := fl(at, src, "198.51.100.1", 443, bytes)
		x.Packets = packets
		return x
	}
	cfg := DefaultConfig()
	cfg.TopN = 2
	a, _ := newTest(t, cfg, 1)
	a.Add(0, []watchfloor.Flow{
		f("10.0.0.1", 90000, 60), // big transfer
		f("10.0.0.2", 80000, 55), // big transfer
		f("10.0.0.3", 6000, 100), // many small packets
		f("10.0.0.4", 5000, 90),  // many small packets
		f("10.0.0.5", 7000, 50),  // third by bytes, fourth by packets: out
		f("10.0.0.6", 100, 1),    // out
		f("10.0.0.2", 0, 0),      // a second record of .2
		f("10.0.0.7", 70000, 57), // third by bytes AND third by packets: out
		f("10.0.0.8", 6500, 95),  // second by packets
	})
	var c collector
	a.Flush(c.emit)
	got := keysOf(rowsOf(c.steps(time.Minute)[0], watchfloor.FlowBySrc))
	want := []string{"10.0.0.1", "10.0.0.2", "10.0.0.8", "10.0.0.3"}
	if !slices.Equal(got, want) {
		t.Errorf("rows %v, want %v (top 2 by bytes ∪ top 2 by packets)", got, want)
	}
}

func TestKeys(t *testing.T) {
	at := t0
	base := fl(at, "10.0.0.1", "198.51.100.1", 443, 100)
	cases := []struct {
		name string
		set  func(*watchfloor.Flow)
		by   watchfloor.FlowDim
		dev  string
		key  string
	}{
		{"udp port", func(f *watchfloor.Flow) { f.Proto, f.DstPort = 17, 53 }, watchfloor.FlowByPort, "core-r1", "udp/53"},
		{"sctp port", func(f *watchfloor.Flow) { f.Proto, f.DstPort = 132, 2905 }, watchfloor.FlowByPort, "core-r1", "sctp/2905"},
		{"icmp has no port", func(f *watchfloor.Flow) { f.Proto, f.DstPort = 1, 0x0800 }, watchfloor.FlowByPort, "core-r1", "icmp"},
		{"ipv6-icmp", func(f *watchfloor.Flow) { f.Proto, f.DstPort = 58, 128 }, watchfloor.FlowByPort, "core-r1", "ipv6-icmp"},
		{"other protocol port", func(f *watchfloor.Flow) { f.Proto, f.DstPort = 89, 7 }, watchfloor.FlowByPort, "core-r1", "proto/89/7"},
		{"gre", func(f *watchfloor.Flow) { f.Proto = 47 }, watchfloor.FlowByProto, "core-r1", "gre"},
		{"esp", func(f *watchfloor.Flow) { f.Proto = 50 }, watchfloor.FlowByProto, "core-r1", "esp"},
		{"protocol number", func(f *watchfloor.Flow) { f.Proto = 89 }, watchfloor.FlowByProto, "core-r1", "89"},
		{"source AS", func(f *watchfloor.Flow) { f.SrcAS = 64500 }, watchfloor.FlowByAS, "core-r1", "AS64500"},
		{"destination AS", func(f *watchfloor.Flow) { f.DstAS = 4200000000 }, watchfloor.FlowByDstAS, "core-r1", "AS4200000000"},
		{"unknown device", func(f *watchfloor.Flow) { f.Device = "" }, watchfloor.FlowBySrc, "192.0.2.254", "10.0.0.1"},
		{"interface without name", func(f *watchfloor.Flow) { f.InIfName, f.OutIf = "", 0 }, watchfloor.FlowByInterface, "core-r1", "core-r1/ifIndex 1"},
		{"unknown device interface", func(f *watchfloor.Flow) { f.Device, f.InIfName, f.OutIf = "", "", 0 }, watchfloor.FlowByInterface, "192.0.2.254", "192.0.2.254/ifIndex 1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, _ := newTest(t, DefaultConfig(), 1)
			f := base
			tc.set(&f)
			a.Add(0, []watchfloor.Flow{f})
			var c collector
			a.Flush(c.emit)
			rows := rowsOf(c.steps(time.Minute)[0], tc.by)
			if len(rows) != 1 || rows[0].Key != tc.key || rows[0].Device != tc.dev {
				t.Errorf("rows %+v, want one %s/%q", rows, tc.dev, tc.key)
			}
		})
	}
	// AS 0, ifIndex 0 and invalid addresses make no rows but count in the totals
	a, _ := newTest(t, DefaultConfig(), 1)
	f := base
	f.SrcAddr, f.DstAddr, f.InIf, f.OutIf = netip.Addr{}, netip.Addr{}, 0, 0
	a.Add(0, []watchfloor.Flow{f})
	var c collector
	a.Flush(c.emit)
	r := c.steps(time.Minute)[0]
	for _, by := range []watchfloor.FlowDim{watchfloor.FlowBySrc, watchfloor.FlowByDst, watchfloor.FlowByPair, watchfloor.FlowByAS, watchfloor.FlowByDstAS, watchfloor.FlowByInterface} {
		if rows := rowsOf(r, by); len(rows) != 0 {
			t.Errorf("%s rows %+v, want none", by, rows)
		}
	}
	if len(r.Interfaces) != 0 || r.Totals.Flows != 1 || r.Totals.Bytes != 100 {
		t.Errorf("interfaces %+v totals %+v", r.Interfaces, r.Totals)
	}
}
