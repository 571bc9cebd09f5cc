package decoder

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/watchfloor/watchfloor"
)

var (
	t0       = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	exporter = netip.MustParseAddrPort("[::ffff:192.0.2.1]:2055")
	expAddr  = netip.MustParseAddr("192.0.2.1")
)

type harness struct {
	m   *Metrics
	tm  *Templates
	d   *Decoder
	out Output
}

func newHarness(t testing.TB, cfg Config) *harness {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	tm := NewTemplates(cfg, m)
	return &harness{m: m, tm: tm, d: New(tm, cfg, m)}
}

func (h *harness) netflow(t testing.TB, at time.Time, p []byte) []watchfloor.Flow {
	t.Helper()
	h.out.Reset()
	if err := h.d.DecodeNetFlow(Datagram{Exporter: exporter, Received: at, Payload: p}, &h.out); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return h.out.Flows
}

// TestGoldenFixtures decodes the datagrams captured from softflowd and pmacctd (see
// peer_test.go, -update) and compares per-host totals with the capture they exported.
func TestGoldenFixtures(t *testing.T) {
	tr := buildTraffic(t)
	for _, tc := range []struct {
		name  string
		sflow bool
		rate  uint32
		v4    bool // NetFlow v5: IPv4 only
	}{
		{name: "softflowd-netflow5", rate: 1, v4: true},
		{name: "softflowd-netflow9", rate: 1},
		{name: "softflowd-ipfix", rate: 1},
		{name: "softflowd-sampled-netflow5", rate: 4, v4: true},
		{name: "softflowd-sampled-netflow9", rate: 4},
		{name: "softflowd-sampled-ipfix", rate: 4},
		{name: "pmacct-sflow", rate: 1, sflow: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := decodeAll(t, readFixtures(t, tc.name), tc.sflow)
			if len(out.Flows) == 0 {
				t.Fatal("no flows")
			}
			got := sumFlows(out.Flows)
			for _, f := range out.Flows {
				if f.SamplingRate != tc.rate {
					t.Fatalf("flow %s→%s: rate %d, want %d", f.SrcAddr, f.DstAddr, f.SamplingRate, tc.rate)
				}
				if f.Exporter != netip.MustParseAddr("127.0.0.1") {
					t.Fatalf("exporter %s, want the unmapped 127.0.0.1", f.Exporter)
				}
				if f.Bytes%uint64(tc.rate) != 0 || f.Packets%uint64(tc.rate) != 0 {
					t.Fatalf("flow %+v: counts not scaled by the rate", f)
				}
			}
			if tc.rate != 1 {
				return // sampled: the peer test checks the estimate
			}
			for host, want := range tr.totals {
				if tc.v4 && host.Is6() {
					continue
				}
				g := got[host]
				wantBytes := want.IPBytes
				if tc.sflow {
					wantBytes = want.FrameBytes + 4*want.Packets // frame_length counts the FCS
				}
				if g == nil || g.IPBytes != wantBytes || g.Packets != want.Packets {
					t.Errorf("%s: got %+v, want %d bytes %d packets", host, g, wantBytes, want.Packets)
				}
			}
			for _, f := range out.Flows {
				switch f.SrcAddr.String() {
				case "10.1.0.1":
					// Flow exporters OR the flags of all packets; sFlow has one packet's.
					if f.SrcPort != 40001 || f.DstPort != 443 || f.Proto != 6 || f.TCPFlags&0x12 != 0x12 && !tc.sflow || f.TCPFlags&0x02 == 0 && f.TCPFlags&0x10 == 0 {
						t.Errorf("TCP flow %+v: ports, protocol or flags wrong", f)
					}
					if tc.sflow && (f.InIf != 0 || f.OutIf != 0) {
						t.Errorf("sFlow unknown interface (0x3fffffff) not 0: %+v", f)
					}
				case "10.1.0.3":
					if f.Proto != 1 || f.DstPort != 8<<8 {
						t.Errorf("ICMP flow %+v: want echo request (8<<8) in DstPort", f)
					}
				case "2001:db8::3":
					if f.Proto != 17 || f.DstPort != 4789 || f.DstAddr != netip.MustParseAddr("2001:db8:1::4") {
						t.Errorf("IPv6 UDP flow %+v wrong", f)
					}
				}
			}
		})
	}
}

func TestV5HeaderSampling(t *testing.T) {
	h := newHarness(t, DefaultConfig())
	src, dst := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	// Mode bits 01 (deterministic) and interval 100 in the low 14 bits.
	p := v5Message(60_000, uint32(t0.Unix()), 500_000_000, 1<<14|100,
		v5Record{src: src, dst: dst, in: 3, out: 4, pkts: 7, octets: 7000, first: 50_000, last: 59_000,
			sport: 1234, dport: 80, flags: 0x1b, proto: 6, srcAS: 64500, dstAS: 64501})
	flows := h.netflow(t, t0.Add(time.Second), p)
	if len(flows) != 1 {
		t.Fatalf("%d flows", len(flows))
	}
	f := flows[0]
	export := t0.Add(500 * time.Millisecond)
	want := watchfloor.Flow{
		Received: t0.Add(time.Second), Start: export.Add(-10 * time.Second), End: export.Add(-time.Second),
		Exporter: expAddr, ObsDomain: 1<<8 | 2, Protocol: watchfloor.FlowNetFlowV5, SamplingRate: 100,
		SrcAddr: src, DstAddr: dst, SrcPort: 1234, DstPort: 80, Proto: 6, TCPFlags: 0x1b, InIf: 3, OutIf: 4,
		SrcAS: 64500, DstAS: 64501, Bytes: 700_000, Packets: 700,
	}
	if !sameFlow(f, want) {
		t.Errorf("got  %+v\nwant %+v", f, want)
	}
	if v := testutil.ToFloat64(h.m.records.WithLabelValues("netflow_v5")); v != 1 {
		t.Errorf("records_total = %v", v)
	}

	// No rate in the header: the configured one, then 1.
	cfg := DefaultConfig()
	cfg.SamplingRate = func(a netip.Addr) uint32 {
		if a == expAddr {
			return 32
		}
		return 0
	}
	h = newHarness(t, cfg)
	p = v5Message(60_000, uint32(t0.Unix()), 0, 0, v5Record{src: src, dst: dst, pkts: 1, octets: 100})
	if f := h.netflow(t, t0, p)[0]; f.SamplingRate != 32 || f.Bytes != 3200 || f.Packets != 32 {
		t.Errorf("configured rate: %+v", f)
	}
}

// TestV5UptimeWrap: first switched before a wrap of the 32-bit uptime, export after it.
func TestV5UptimeWrap(t *testing.T) {
	h := newHarness(t, DefaultConfig())
	p := v5Message(1000, uint32(t0.Unix()), 0, 0, v5Record{src: expAddr, dst: expAddr, pkts: 1, octets: 1, first: 0xffffffff - 999, last: 500})
	f := h.netflow(t, t0, p)[0]
	if !f.Start.Equal(t0.Add(-2*time.Second)) || !f.End.Equal(t0.Add(-500*time.Millisecond)) {
		t.Errorf("start %s end %s", f.Start, f.End)
	}
}

var dataFields = []field{{8, 4}, {12, 4}, {7, 2}, {11, 2}, {4, 1}, {6, 1}, {1, 8}, {2, 8}, {152, 8}, {153, 8}, {10, 4}, {14, 4}, {58, 2}, {16, 4}, {17, 4}}

func dataRecord(src, dst string, bytes, pkts uint64, start, end time.Time) []byte {
	return be(netip.MustParseAddr(src), netip.MustParseAddr(dst), uint16(5000), uint16(443), uint8(6), uint8(0x18),
		bytes, pkts, uint64(start.UnixMilli()), uint64(end.UnixMilli()), uint32(11), uint32(12), uint16(300), uint32(64500), uint32(64501))
}

func TestIPFIXDataRecord(t *testing.T) {
	h := newHarness(t, DefaultConfig())
	p := ipfixMessage(42, uint32(t0.Unix()),
		set(2, templateRecord(300, dataFields...)),
		set(300, dataRecord("198.51.100.1", "203.0.113.2", 1500, 3, t0.Add(-time.Minute), t0.Add(-time.Second))))
	flows := h.netflow(t, t0, p)
	if len(flows) != 1 {
		t.Fatalf("%d flows", len(flows))
	}
	want := watchfloor.Flow{
		Received: t0, Start: t0.Add(-time.Minute), End: t0.Add(-time.Second),
		Exporter: expAddr, ObsDomain: 42, Protocol: watchfloor.FlowIPFIX, SamplingRate: 1,
		SrcAddr: netip.MustParseAddr("198.51.100.1"), DstAddr: netip.MustParseAddr("203.0.113.2"),
		SrcPort: 5000, DstPort: 443, Proto: 6, TCPFlags: 0x18, VLAN: 300, InIf: 11, OutIf: 12,
		SrcAS: 64500, DstAS: 64501, Bytes: 1500, Packets: 3,
	}
	if !sameFlow(flows[0], want) {
		t.Errorf("got  %+v\nwant %+v", flows[0], want)
	}
}

// TestIPFIXOptionsSampling: an options template scoped by selector ID (302) with
// samplingPacketInterval/Space (305/306), a domain-wide one with samplingInterval (34); data
// records with a matching selector ID, an unknown one and none.
func TestIPFIXOptionsSampling(t *testing.T) {
	h := newHarness(t, DefaultConfig())
	withSel := append(append([]field(nil), dataFields...), field{302, 8})
	rec := func(sel uint64) []byte {
		return append(dataRecord("10.0.0.1", "10.0.0.2", 1000, 2, t0, t0), be(sel)...)
	}
	opts := ipfixMessage(7, uint32(t0.Unix()),
		set(3,
			ipfixOptionsTemplate(400, 1, field{302, 8}, field{305, 4}, field{306, 4}),
			ipfixOptionsTemplate(401, 1, field{149, 4}, field{34, 4})),
		set(400, be(uint64(5), uint32(1), uint32(99))), // 1 packet in 100
		set(401, be(uint32(7), uint32(16))),            // domain-wide: 1 in 16
	)
	if flows := h.netflow(t, t0, opts); len(flows) != 0 {
		t.Fatalf("options made flows: %+v", flows)
	}
	data := ipfixMessage(7, uint32(t0.Unix()),
		set(2, templateRecord(300, withSel...), templateRecord(301, dataFields...)),
		set(300, rec(5), rec(6)),
		set(301, dataRecord("10.0.0.3", "10.0.0.4", 10, 1, t0, t0)))
	flows := h.netflow(t, t0.Add(time.Second), data)
	if len(flows) != 3 {
		t.Fatalf("%d flows", len(flows))
	}
	for i, want := range []uint32{100, 16, 16} {
		if f := flows[i]; f.SamplingRate != want || f.Bytes != f.Bytes/uint64(want)*uint64(want) {
			t.Errorf("flow %d: rate %d, want %d (%+v)", i, f.SamplingRate, want, f)
		}
	}
	if flows[0].Bytes != 100_000 || flows[0].Packets != 200 {
		t.Errorf("scaled counts: %d bytes %d packets", flows[0].Bytes, flows[0].Packets)
	}
	// Another domain of the same exporter learnt nothing.
	other := ipfixMessage(8, uint32(t0.Unix()), set(2, templateRecord(301, dataFields...)),
		set(301, dataRecord("10.0.0.3", "10.0.0.4", 10, 1, t0, t0)))
	if f := h.netflow(t, t0, other); f[0].SamplingRate != 1 {
		t.Errorf("domain 8: rate %d, want 1", f[0].SamplingRate)
	}
	// A rate in the record itself wins.
	own := ipfixMessage(7, uint32(t0.Unix()), set(2, templateRecord(302, field{8, 4}, field{12, 4}, field{1, 4}, field{2, 4}, field{34, 4})),
		set(302, be(netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), uint32(10), uint32(1), uint32(3))))
	if f := h.netflow(t, t0, own); f[0].SamplingRate != 3 || f[0].Bytes != 30 {
		t.Errorf("own rate: %+v", f[0])
	}
}

// TestV9OptionsSamplerAndUptime: a NetFlow v9 sampler options record (48/50), data records
// with FLOW_SAMPLER_ID, FIRST/LAST_SWITCHED against the header uptime, and out-counters
// (23/24) where in-counters are missing.
func TestV9OptionsSamplerAndUptime(t *testing.T) {
	h := newHarness(t, DefaultConfig())
	p := v9Message(3, 100_000, uint32(t0.Unix()),
		set(1, v9OptionsTemplate(260, []field{{1, 4}}, []field{{48, 1}, {49, 1}, {50, 4}})),
		set(260, be(uint32(0), uint8(2), uint8(2), uint32(512)), []byte{0, 0}), // padded
		set(0, templateRecord(261, field{27, 16}, field{28, 16}, field{23, 4}, field{24, 4}, field{22, 4}, field{21, 4}, field{48, 1}, field{4, 1}, field{243, 2})),
		set(261, be(netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2"), uint32(64), uint32(1),
			uint32(90_000), uint32(99_000), uint8(2), uint8(58), uint16(77)), []byte{0, 0, 0}))
	flows := h.netflow(t, t0, p)
	if len(flows) != 1 {
		t.Fatalf("%d flows", len(flows))
	}
	f := flows[0]
	if f.SamplingRate != 512 || f.Bytes != 64*512 || f.Packets != 512 || f.VLAN != 77 || f.Proto != 58 ||
		!f.Start.Equal(t0.Add(-10*time.Second)) || !f.End.Equal(t0.Add(-time.Second)) || f.ObsDomain != 3 || f.Protocol != watchfloor.FlowNetFlowV9 {
		t.Errorf("got %+v", f)
	}
}

// TestIPFIXSysUpTime: flowStart/EndSysUpTime (22/21) count from systemInitTimeMilliseconds
// (160) that options data stated.
func TestIPFIXSysUpTime(t *testing.T) {
	h := newHarness(t, DefaultConfig())
	boot := t0.Add(-time.Hour)
	p := ipfixMessage(1, uint32(t0.Unix()),
		set(3, ipfixOptionsTemplate(500, 1, field{149, 4}, field{160, 8})),
		set(500, be(uint32(1), uint64(boot.UnixMilli()))),
		set(2, templateRecord(501, field{8, 4}, field{12, 4}, field{1, 4}, field{2, 4}, field{22, 4}, field{21, 4})),
		set(501, be(expAddr, expAddr, uint32(1), uint32(1), uint32(1000), uint32(2000))))
	f := h.netflow(t, t0, p)[0]
	if !f.Start.Equal(boot.Add(time.Second)) || !f.End.Equal(boot.Add(2*time.Second)) {
		t.Errorf("start %s end %s, want boot+1s, boot+2s", f.Start, f.End)
	}
}

// TestPendingUntilTemplate: data that arrives before its template is held, then decoded
// with its own Received time when the template comes.
func TestPendingUntilTemplate(t *testing.T) {
	h := newHarness(t, DefaultConfig())
	data := ipfixMessage(9, uint32(t0.Unix()), set(300, dataRecord("10.0.0.1", "10.0.0.2", 100, 1, t0, t0), dataRecord("10.0.0.1", "10.0.0.2", 200, 2, t0, t0)))
	if flows := h.netflow(t, t0, data); len(flows) != 0 {
		t.Fatalf("decoded without a template: %+v", flows)
	}
	if v := testutil.ToFloat64(h.m.pendingHeld); v != 1 {
		t.Fatalf("pending_sets_total = %v", v)
	}
	tmpl := ipfixMessage(9, uint32(t0.Unix()), set(2, templateRecord(300, dataFields...)))
	flows := h.netflow(t, t0.Add(5*time.Second), tmpl)
	if len(flows) != 2 || !flows[0].Received.Equal(t0) || flows[1].Bytes != 200 {
		t.Fatalf("held data: %+v", flows)
	}
	if v := testutil.ToFloat64(h.m.pendingDecoded); v != 1 {
		t.Errorf("pending_decoded_total = %v", v)
	}
	if v := testutil.ToFloat64(h.m.pendingBytes); v != 0 {
		t.Errorf("pending_bytes = %v after decoding", v)
	}
	// Held data past pending_age is dropped, not decoded, when its template comes.
	late := ipfixMessage(9, uint32(t0.Unix()), set(310, dataRecord("10.0.0.1", "10.0.0.2", 100, 1, t0, t0)))
	h.netflow(t, t0, late)
	if flows := h.netflow(t, t0.Add(2*time.Minute), ipfixMessage(9, 0, set(2, templateRecord(310, dataFields...)))); len(flows) != 0 {
		t.Errorf("expired held data decoded: %+v", flows)
	}
	if v := testutil.ToFloat64(h.m.pendingDropped.WithLabelValues(DroppedExpired)); v != 1 {
		t.Errorf("expired drops = %v, want 1", v)
	}
	// Another exporter's data is held for that exporter only, and Expire drops it in time.
	h.out.Reset()
	_ = h.d.DecodeNetFlow(Datagram{Exporter: netip.MustParseAddrPort("192.0.2.99:1"), Received: t0, Payload: data}, &h.out)
	if len(h.out.Flows) != 0 {
		t.Errorf("another exporter's data decoded with this one's template")
	}
	if n := h.tm.Expire(t0.Add(2 * time.Minute)); n != 0 {
		t.Errorf("Expire dropped %d templates", n)
	}
	if v := testutil.ToFloat64(h.m.pendingDropped.WithLabelValues(DroppedExpired)); v != 2 {
		t.Errorf("expired drops = %v, want 2 (the other exporter's, by Expire)", v)
	}
}

// TestPendingBounded: held data beyond pending_bytes evicts the oldest, and counts it.
func TestPendingBounded(t *testing.T) {
	cfg := DefaultConfig()
	cfg.PendingBytes = 1000
	h := newHarness(t, cfg)
	rec := dataRecord("10.0.0.1", "10.0.0.2", 1, 1, t0, t0)
	for i := range 20 {
		h.netflow(t, t0.Add(time.Duration(i)*time.Millisecond), ipfixMessage(1, 0, set(uint16(300+i), rec, rec, rec)))
	}
	evicted := testutil.ToFloat64(h.m.pendingDropped.WithLabelValues(DroppedEvicted))
	if evicted == 0 || evicted >= 20 {
		t.Errorf("evicted %v of 20", evicted)
	}
	if b := testutil.ToFloat64(h.m.pendingBytes); b > 1000 || b <= 0 {
		t.Errorf("pending_bytes %v, bound 1000", b)
	}
	huge := make([]byte, 2000)
	h.netflow(t, t0, ipfixMessage(1, 0, set(999, huge)))
	if v := testutil.ToFloat64(h.m.pendingDropped.WithLabelValues(DroppedTooLarge)); v != 1 {
		t.Errorf("too_large = %v", v)
	}
	// The newest are still held: their template decodes them.
	flows := h.netflow(t, t0, ipfixMessage(1, 0, set(2, templateRecord(319, dataFields...))))
	if len(flows) != 3 {
		t.Errorf("newest held set gave %d flows, want 3", len(flows))
	}
}

func TestTemplateExpiry(t *testing.T) {
	cfg := DefaultConfig()
	cfg.TemplateTTL = time.Minute
	h := newHarness(t, cfg)
	tmpl := set(2, templateRecord(300, dataFields...))
	data := set(300, dataRecord("10.0.0.1", "10.0.0.2", 1, 1, t0, t0))
	if f := h.netflow(t, t0, ipfixMessage(1, 0, tmpl, data)); len(f) != 1 {
		t.Fatalf("%d flows", len(f))
	}
	if g := testutil.ToFloat64(h.m.templates.WithLabelValues("ipfix")); g != 1 {
		t.Errorf("templates gauge %v", g)
	}
	// Still valid within the TTL; refreshed by a resend.
	h.netflow(t, t0.Add(50*time.Second), ipfixMessage(1, 0, tmpl))
	if f := h.netflow(t, t0.Add(100*time.Second), ipfixMessage(1, 0, data)); len(f) != 1 {
		t.Fatalf("refreshed template not used")
	}
	if n := h.tm.Expire(t0.Add(100 * time.Second)); n != 0 {
		t.Fatalf("Expire dropped %d fresh templates", n)
	}
	// Past the TTL it is not used, even before Expire runs, and Expire drops it.
	if f := h.netflow(t, t0.Add(111*time.Second), ipfixMessage(1, 0, data)); len(f) != 0 {
		t.Fatalf("expired template used")
	}
	if n := h.tm.Expire(t0.Add(111 * time.Second)); n != 1 {
		t.Fatalf("Expire dropped %d, want 1", n)
	}
	if g := testutil.ToFloat64(h.m.templates.WithLabelValues("ipfix")); g != 0 || h.tm.Len() != 0 {
		t.Errorf("after expiry: gauge %v, %d templates", g, h.tm.Len())
	}
	if v := testutil.ToFloat64(h.m.templatesExp); v != 1 {
		t.Errorf("templates_expired_total %v", v)
	}
	// The held data set and the exporter's state go with a later Expire.
	h.tm.Expire(t0.Add(time.Hour))
	if g := testutil.ToFloat64(h.m.exporters); g != 0 {
		t.Errorf("exporters gauge %v after everything expired", g)
	}
}

// TestTemplateBounds: template ID abuse stays bounded: templates per exporter, fields per
// template, exporters; zero-length templates (which make goflow2 loop) are refused.
func TestTemplateBounds(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxTemplates = 8
	cfg.MaxTemplateFields = 16
	cfg.MaxExporters = 2
	h := newHarness(t, cfg)
	var recs [][]byte
	for i := range 100 {
		recs = append(recs, templateRecord(uint16(256+i), field{8, 4}, field{1, 4}))
	}
	h.netflow(t, t0, ipfixMessage(1, 0, set(2, recs...)))
	if n := h.tm.Len(); n != 8 {
		t.Errorf("%d templates held, want 8", n)
	}
	if v := testutil.ToFloat64(h.m.refused.WithLabelValues(RefusedTemplateLimit)); v != 92 {
		t.Errorf("refused %v, want 92", v)
	}
	// A stored template can still be refreshed at the limit.
	h.netflow(t, t0.Add(time.Second), ipfixMessage(1, 0, set(2, recs[0])))
	if v := testutil.ToFloat64(h.m.refused.WithLabelValues(RefusedTemplateLimit)); v != 92 {
		t.Errorf("refresh refused")
	}
	many := make([]field, 17)
	for i := range many {
		many[i] = field{1, 1}
	}
	h.netflow(t, t0, ipfixMessage(2, 0, set(2, templateRecord(256, many...))))
	if v := testutil.ToFloat64(h.m.refused.WithLabelValues(RefusedFieldLimit)); v != 1 {
		t.Errorf("field limit refusals %v", v)
	}
	// A zero-length template and data for it: refused, and the data is held, not looped on.
	done := make(chan struct{})
	go func() {
		defer close(done)
		h2 := newHarness(t, cfg)
		h2.out.Reset()
		_ = h2.d.DecodeNetFlow(Datagram{Exporter: exporter, Received: t0, Payload: ipfixMessage(3, 0,
			set(2, templateRecord(256, field{1, 0}, field{2, 0})), set(256, make([]byte, 64)))}, &h2.out)
		if v := testutil.ToFloat64(h2.m.refused.WithLabelValues(RefusedEmpty)); v != 1 {
			t.Errorf("empty refusals %v", v)
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("zero-length template: decoder hangs")
	}
	for i := range 3 {
		h.out.Reset()
		_ = h.d.DecodeNetFlow(Datagram{Exporter: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), 1), Received: t0,
			Payload: ipfixMessage(1, 0, set(2, recs[0]))}, &h.out)
	}
	if v := testutil.ToFloat64(h.m.refused.WithLabelValues(RefusedExporterLimit)); v != 2 {
		t.Errorf("exporter limit refusals %v, want 2 (192.0.2.1 and 10.0.0.0 fill the 2 places)", v)
	}
}

// TestTemplateWithdrawal: an IPFIX template record with no fields withdraws the template.
func TestTemplateWithdrawal(t *testing.T) {
	h := newHarness(t, DefaultConfig())
	h.netflow(t, t0, ipfixMessage(1, 0, set(2, templateRecord(300, dataFields...))))
	h.netflow(t, t0, ipfixMessage(1, 0, set(2, templateRecord(300))))
	if h.tm.Len() != 0 {
		t.Errorf("%d templates after withdrawal", h.tm.Len())
	}
}

func TestDecodeErrors(t *testing.T) {
	h := newHarness(t, DefaultConfig())
	truncatedV5 := v5Message(0, 0, 0, 0, v5Record{src: expAddr, dst: expAddr, pkts: 1, octets: 10}, v5Record{src: expAddr, dst: expAddr, pkts: 1, octets: 10})
	truncatedV5 = truncatedV5[:len(truncatedV5)-10]
	for _, tc := range []struct {
		name     string
		sflow    bool
		p        []byte
		want     error
		protocol string
		reason   string
		flows    int
	}{
		{"empty", false, nil, ErrShort, "netflow", ReasonShort, 0},
		{"version 7", false, []byte{0, 7, 0, 0}, ErrVersion, "netflow", ReasonVersion, 0},
		{"short v9", false, []byte{0, 9, 0, 0, 0}, ErrShort, "netflow_v9", ReasonShort, 0},
		{"truncated v5", false, truncatedV5, ErrTruncated, "netflow_v5", ReasonTruncated, 1},
		{"bad set id", false, ipfixMessage(1, 0, set(5, make([]byte, 8))), ErrMalformed, "ipfix", ReasonMalformed, 0},
		{"sflow v4", true, append(be(4), make([]byte, 40)...), ErrVersion, "sflow", ReasonVersion, 0},
		{"sflow short", true, be(5, 1), ErrShort, "sflow", ReasonShort, 0},
		{"sflow expanded bomb", true, sflowDatagram(0, sflowExpandedFlowSample(1, 1, 2, 1<<30)), ErrTooMany, "sflow", ReasonTooMany, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.out.Reset()
			dg := Datagram{Exporter: exporter, Received: t0, Payload: tc.p}
			var err error
			if tc.sflow {
				err = h.d.DecodeSFlow(dg, &h.out)
			} else {
				err = h.d.DecodeNetFlow(dg, &h.out)
			}
			var de *DecodeError
			if !errors.Is(err, tc.want) || !errors.As(err, &de) || de.Reason != tc.reason {
				t.Fatalf("err %v, want %v (%s)", err, tc.want, tc.reason)
			}
			if v := testutil.ToFloat64(h.m.errors.WithLabelValues(tc.protocol, tc.reason)); v < 1 {
				t.Errorf("decode_errors_total{%s,%s} = %v", tc.protocol, tc.reason, v)
			}
			if len(h.out.Flows) != tc.flows {
				t.Errorf("%d flows, want %d", len(h.out.Flows), tc.flows)
			}
			if !strings.HasPrefix(err.Error(), "flow decoder: ") {
				t.Errorf("message %q", err)
			}
		})
	}
}

func qinqFrame(t testing.TB) []byte {
	buf := gopacket.NewSerializeBuffer()
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.IPv4(10, 2, 0, 1), DstIP: net.IPv4(10, 2, 0, 2)}
	tcp := &layers.TCP{SrcPort: 33000, DstPort: 8443, SYN: true, ECE: true, CWR: true}
	_ = tcp.SetNetworkLayerForChecksum(ip)
	err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		&layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeQinQ},
		&layers.Dot1Q{VLANIdentifier: 200, Type: layers.EthernetTypeDot1Q},
		&layers.Dot1Q{VLANIdentifier: 10, Type: layers.EthernetTypeIPv4},
		ip, tcp, gopacket.Payload(make([]byte, 100)))
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func v6FragmentFrame(t testing.TB, offset uint16) []byte {
	buf := gopacket.NewSerializeBuffer()
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolIPv6Fragment, SrcIP: net.ParseIP("2001:db8::a"), DstIP: net.ParseIP("2001:db8::b")}
	frag := &layers.IPv6Fragment{NextHeader: layers.IPProtocolUDP, FragmentOffset: offset, MoreFragments: true, Identification: 1}
	err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, ip, frag, gopacket.Payload(be(uint16(1111), uint16(2222), uint16(16), uint16(0), make([]byte, 8))))
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestSFlowSamples: a flow sample with a QinQ frame, extended switch and gateway data; an
// expanded flow sample with a raw IPv6 fragment header; a counter sample.
func TestSFlowSamples(t *testing.T) {
	h := newHarness(t, DefaultConfig())
	gateway := sflowRecord(1003, be(1, netip.MustParseAddr("192.0.2.254"), 64500, 64510, 64511, 1, 2, 3, 64520, 64521, 64530, 0, 100))
	p := sflowDatagram(3,
		sflowFlowSample(256, 5, 0x40000000|7, sflowSampledHeader(1500, qinqFrame(t)), gateway),
		sflowFlowSample(0, 5, 6, sflowSampledHeader(1000, qinqFrame(t)), sflowRecord(1001, be(300, 0, 301, 0))),
		sflowExpandedFlowSample(10, 8, 9, 1, sflowRecord(1, append(be(12, 700, 0, 56), v6FragmentFrame(t, 0)...))),
		sflowExpandedFlowSample(10, 8, 9, 1, sflowRecord(1, append(be(12, 700, 0, 56), v6FragmentFrame(t, 100)...))),
		sflowCounterSample(sflowIfCounters(ifCounters{index: 5, status: 3, speed: 1e9, inOctets: 1 << 40, outOctets: 77, inUcast: 1, inErr: 2, outDisc: 3}),
			sflowRecord(2, make([]byte, 52))),
	)
	h.out.Reset()
	if err := h.d.DecodeSFlow(Datagram{Exporter: exporter, Received: t0, Payload: p}, &h.out); err != nil {
		t.Fatal(err)
	}
	if len(h.out.Flows) != 4 || len(h.out.Counters) != 1 {
		t.Fatalf("%d flows %d counters", len(h.out.Flows), len(h.out.Counters))
	}
	a, b := netip.MustParseAddr("10.2.0.1"), netip.MustParseAddr("10.2.0.2")
	want := watchfloor.Flow{Received: t0, Start: t0, End: t0, Exporter: expAddr, ObsDomain: 3, Protocol: watchfloor.FlowSFlow,
		SamplingRate: 256, SrcAddr: a, DstAddr: b, SrcPort: 33000, DstPort: 8443, Proto: 6, TCPFlags: 0xc2, VLAN: 200,
		InIf: 5, OutIf: 0, SrcAS: 64510, DstAS: 64530, Bytes: 1500 * 256, Packets: 256}
	if f := h.out.Flows[0]; !sameFlow(f, want) {
		t.Errorf("QinQ sample:\ngot  %+v\nwant %+v", f, want)
	}
	if f := h.out.Flows[1]; f.VLAN != 300 || f.SamplingRate != 1 || f.Bytes != 1000 || f.OutIf != 6 {
		t.Errorf("extended switch sample: %+v", f)
	}
	if f := h.out.Flows[2]; f.Proto != 17 || f.SrcPort != 1111 || f.DstPort != 2222 || f.InIf != 8 || f.OutIf != 9 || f.Bytes != 7000 || !f.SrcAddr.Is6() {
		t.Errorf("first IPv6 fragment: %+v", f)
	}
	if f := h.out.Flows[3]; f.Proto != 17 || f.SrcPort != 0 || f.DstPort != 0 {
		t.Errorf("later IPv6 fragment has ports: %+v", f)
	}
	c := h.out.Counters[0]
	wantC := Counters{Exporter: expAddr, ObsDomain: 3, IfIndex: 5, Time: t0, SpeedBps: 1e9, InOctets: 1 << 40, OutOctets: 77,
		InUcastPkts: 1, InErrors: 2, OutDiscards: 3, AdminUp: true, OperUp: true}
	if c.Time.Equal(wantC.Time) {
		c.Time = wantC.Time
	}
	if c != wantC {
		t.Errorf("counters:\ngot  %+v\nwant %+v", c, wantC)
	}
	if v := testutil.ToFloat64(h.m.counterSamples); v != 1 {
		t.Errorf("counter_samples_total %v", v)
	}
}

// sameFlow compares flows with time.Time.Equal for the times.
func sameFlow(a, b watchfloor.Flow) bool {
	if !a.Received.Equal(b.Received) || !a.Start.Equal(b.Start) || !a.End.Equal(b.End) {
		return false
	}
	a.Received, a.Start, a.End = b.Received, b.Start, b.End
	return a == b
}

// TestConcurrentDecoders: decoders of several goroutines share one Templates while Expire
// runs (go test -race checks the locking).
func TestConcurrentDecoders(t *testing.T) {
	cfg := DefaultConfig()
	cfg.TemplateTTL = time.Second
	m := NewMetrics(nil)
	tm := NewTemplates(cfg, m)
	tmpl := set(2, templateRecord(300, dataFields...))
	data := set(300, dataRecord("10.0.0.1", "10.0.0.2", 1, 1, t0, t0))
	done := make(chan int)
	for g := range 4 {
		go func() {
			d := New(tm, cfg, m)
			var out Output
			n := 0
			for i := range 500 {
				at := t0.Add(time.Duration(i) * 10 * time.Millisecond)
				exp := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(g), byte(i % 3)}), 1)
				out.Reset()
				if i%50 == 0 {
					_ = d.DecodeNetFlow(Datagram{Exporter: exp, Received: at, Payload: ipfixMessage(1, 0, tmpl, data)}, &out)
				} else {
					_ = d.DecodeNetFlow(Datagram{Exporter: exp, Received: at, Payload: ipfixMessage(1, 0, data)}, &out)
				}
				n += len(out.Flows)
			}
			done <- n
		}()
	}
	go func() {
		for i := range 100 {
			tm.Expire(t0.Add(time.Duration(i) * 50 * time.Millisecond))
		}
		done <- 0
	}()
	total := 0
	for range 5 {
		total += <-done
	}
	if total == 0 {
		t.Fatal("no flows decoded")
	}
}
