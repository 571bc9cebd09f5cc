package decoder

import (
	"math"
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/watchfloor/watchfloor"
)

// Two layouts of template 300, the same length: data of one decoded with the other gives
// swapped addresses and counts, not an error.
var (
	layoutOld = []field{{8, 4}, {12, 4}, {1, 4}, {2, 4}} // src, dst, octets, packets
	layoutNew = []field{{12, 4}, {8, 4}, {2, 4}, {1, 4}} // dst, src, packets, octets
	srcA      = netip.MustParseAddr("10.1.1.1")
	dstA      = netip.MustParseAddr("10.9.9.9")
)

func oldRecord(bytes, pkts uint32) []byte { return be(srcA, dstA, bytes, pkts) }
func newRecord(bytes, pkts uint32) []byte { return be(dstA, srcA, pkts, bytes) }

// templated builds the datagrams of one exporter's domain 3 (and 4), NetFlow v9 or IPFIX;
// mark is the v9 uptime or the IPFIX sequence number.
type templated struct {
	version uint16
	proto   watchfloor.FlowProtocol
}

func (m templated) msg(domain, mark uint32, sets ...[]byte) []byte {
	if m.version == 9 {
		return v9Message(domain, mark, uint32(t0.Unix()), sets...)
	}
	return ipfixMessageSeq(domain, uint32(t0.Unix()), mark, sets...)
}

func (m templated) template(id uint16, fields []field) []byte {
	if m.version == 9 {
		return set(0, templateRecord(id, fields...))
	}
	return set(2, templateRecord(id, fields...))
}

// samplerOptions is an options template and record stating 1-in-rate for the whole domain.
func (m templated) samplerOptions(rate uint32) [][]byte {
	if m.version == 9 {
		return [][]byte{set(1, v9OptionsTemplate(260, []field{{1, 4}}, []field{{34, 4}})), set(260, be(uint32(0), rate))}
	}
	return [][]byte{set(3, ipfixOptionsTemplate(260, 1, field{149, 4}, field{34, 4})), set(260, be(uint32(3), rate))}
}

func (h *harness) restarts(p watchfloor.FlowProtocol) float64 {
	return testutil.ToFloat64(h.m.restarts.WithLabelValues(p.String()))
}

// TestRestartRedefinesTemplate: an exporter reboots (v9 uptime, IPFIX sequence number going
// back) and reuses template ID 300 with another layout. Its data after the reboot is held,
// not decoded with the old layout, until the new template arrives; the old sampling rate and
// the data held before the reboot are gone; its other domain keeps its templates.
func TestRestartRedefinesTemplate(t *testing.T) {
	for _, tc := range []struct {
		m              templated
		before, reboot uint32
	}{
		{templated{9, watchfloor.FlowNetFlowV9}, 3_600_000, 5_000},
		{templated{10, watchfloor.FlowIPFIX}, 5_000_000, 0},
	} {
		t.Run(tc.m.proto.String(), func(t *testing.T) {
			m := tc.m
			h := newHarness(t, DefaultConfig())
			sets := append(m.samplerOptions(100), m.template(300, layoutOld), set(300, oldRecord(1000, 2)))
			flows := h.netflow(t, t0, m.msg(3, tc.before, sets...))
			if len(flows) != 1 || flows[0].SrcAddr != srcA || flows[0].SamplingRate != 100 || flows[0].Bytes != 100_000 {
				t.Fatalf("before the reboot: %+v", flows)
			}
			h.netflow(t, t0, m.msg(4, tc.before, m.template(300, layoutOld)))
			// Data for a template not seen yet is held; the exporter reboots before sending it.
			if f := h.netflow(t, t0.Add(time.Second), m.msg(3, tc.before+1000, set(300, oldRecord(1000, 2)), set(301, oldRecord(1, 1)))); len(f) != 1 {
				t.Fatalf("%d flows", len(f))
			}

			// The reboot: data of the new template 300 only.
			if f := h.netflow(t, t0.Add(2*time.Second), m.msg(3, tc.reboot, set(300, newRecord(7000, 7)))); len(f) != 0 {
				t.Fatalf("decoded with the template of before the reboot: %+v", f)
			}
			if v := h.restarts(m.proto); v != 1 {
				t.Errorf("restarts_total{%s} = %v, want 1", m.proto, v)
			}
			if v := testutil.ToFloat64(h.m.pendingDropped.WithLabelValues(DroppedRestart)); v != 1 {
				t.Errorf("pending dropped for restart = %v, want 1 (template 301's data)", v)
			}
			if n := h.tm.Len(); n != 1 {
				t.Errorf("%d templates after the reboot, want 1 (domain 4's)", n)
			}
			if g := testutil.ToFloat64(h.m.templates.WithLabelValues(m.proto.String())); g != 1 {
				t.Errorf("templates gauge %v, want 1", g)
			}

			// The new template decodes the held data with its layout, unsampled now.
			flows = h.netflow(t, t0.Add(3*time.Second), m.msg(3, tc.reboot+1000, m.template(300, layoutNew)))
			want := watchfloor.Flow{Received: t0.Add(2 * time.Second), Exporter: expAddr, ObsDomain: 3, Protocol: m.proto,
				SamplingRate: 1, SrcAddr: srcA, DstAddr: dstA, Bytes: 7000, Packets: 7}
			if len(flows) != 1 {
				t.Fatalf("%d flows from the held data, want 1", len(flows))
			}
			want.Start, want.End = flows[0].Start, flows[0].End
			if !sameFlow(flows[0], want) {
				t.Errorf("got  %+v\nwant %+v", flows[0], want)
			}
			// Domain 4 has not said it rebooted: its template is still the old one.
			if f := h.netflow(t, t0.Add(3*time.Second), m.msg(4, tc.before+2000, set(300, oldRecord(5, 1)))); len(f) != 1 || f[0].SrcAddr != srcA || f[0].Bytes != 5 {
				t.Errorf("domain 4: %+v", f)
			}
			if v := h.restarts(m.proto); v != 1 {
				t.Errorf("restarts_total{%s} = %v at the end, want 1", m.proto, v)
			}
		})
	}
}

// TestRestartOrNot: the mark of a domain's datagram after one that set up its template:
// reordering and counter wraps are not restarts, going back far is.
func TestRestartOrNot(t *testing.T) {
	const top = math.MaxUint32
	for _, tc := range []struct {
		name          string
		version       uint16
		first, second uint32
		restart       bool
	}{
		{"v9 forward", 9, 3_600_000, 3_601_000, false},
		{"v9 same", 9, 3_600_000, 3_600_000, false},
		{"v9 reordered 3s", 9, 3_600_000, 3_597_000, false},
		{"v9 back 10s", 9, 3_600_000, 3_590_000, false},
		{"v9 back 10.001s", 9, 3_600_000, 3_589_999, true},
		{"v9 reboot", 9, 3_600_000, 4_000, true},
		{"v9 uptime wrap", 9, top - 2000, 1500, false},
		{"v9 uptime wrap, quiet 5 minutes", 9, top - 2000, 300_000, false},
		{"v9 reboot 20 minutes before the wrap", 9, top - 20*60*1000, 1000, true},
		{"ipfix forward", 10, 5_000_000, 5_000_030, false},
		{"ipfix reordered", 10, 5_000_000, 4_999_000, false},
		{"ipfix reset", 10, 5_000_000, 0, true},
		{"ipfix reset from the top half", 10, 3_000_000_000, 12, true},
		{"ipfix back, not to near 0", 10, 5_000_000, 2_000_000, false},
		{"ipfix reset of a quiet exporter", 10, 500_000, 0, false}, // systemInitTime tells it
		{"ipfix wrap", 10, top - 100, 200, false},
		{"ipfix wrap after a gap", 10, top - 1<<23, 1 << 19, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := templated{tc.version, watchfloor.FlowNetFlowV9}
			if tc.version == 10 {
				m.proto = watchfloor.FlowIPFIX
			}
			h := newHarness(t, DefaultConfig())
			h.netflow(t, t0, m.msg(1, tc.first, m.template(300, layoutOld)))
			flows := h.netflow(t, t0.Add(time.Second), m.msg(1, tc.second, set(300, oldRecord(10, 1))))
			if got := h.restarts(m.proto) == 1; got != tc.restart || len(flows) == 1 == tc.restart {
				t.Errorf("restart %v with %d flows, want restart %v", got, len(flows), tc.restart)
			}
			if got := restarted(tc.version, tc.first, tc.second); got != tc.restart {
				t.Errorf("restarted(%d, %d, %d) = %v", tc.version, tc.first, tc.second, got)
			}
		})
	}
}

// TestIPFIXSysInitRestart: options data stating another systemInitTimeMilliseconds is a
// restart even when the sequence number does not tell it (an exporter that had sent few
// records). The datagram that tells it is decoded with the templates it brings, even its data
// set that comes before its template; a template of before that it does not redefine is gone.
// A boot time that moves by less than a second is not a restart.
func TestIPFIXSysInitRestart(t *testing.T) {
	h := newHarness(t, DefaultConfig())
	boot1, boot2 := t0.Add(-time.Hour), t0.Add(-time.Minute)
	options := func(boot time.Time, rate uint32) [][]byte {
		return [][]byte{set(3, ipfixOptionsTemplate(500, 1, field{149, 4}, field{160, 8}, field{34, 4})),
			set(500, be(uint32(1), uint64(boot.UnixMilli()), rate))}
	}
	uptimes := []field{{22, 4}, {21, 4}}
	oldL, newL := append(append([]field(nil), layoutOld...), uptimes...), append(append([]field(nil), layoutNew...), uptimes...)
	up := be(uint32(1000), uint32(2000))

	sets := append(options(boot1, 100), set(2, templateRecord(300, oldL...), templateRecord(301, layoutOld...)),
		set(300, oldRecord(1000, 2), up))
	flows := h.netflow(t, t0, ipfixMessageSeq(1, uint32(t0.Unix()), 100, sets...))
	if len(flows) != 1 || flows[0].SamplingRate != 100 || !flows[0].Start.Equal(boot1.Add(time.Second)) {
		t.Fatalf("before: %+v", flows)
	}
	// Jitter of the boot time the exporter computes is not a restart.
	sets = append(options(boot1.Add(400*time.Millisecond), 100), set(300, oldRecord(1000, 2), up))
	if f := h.netflow(t, t0.Add(time.Second), ipfixMessageSeq(1, uint32(t0.Unix()), 101, sets...)); len(f) != 1 || h.restarts(watchfloor.FlowIPFIX) != 0 {
		t.Fatalf("400 ms of jitter: %d flows, %v restarts", len(f), h.restarts(watchfloor.FlowIPFIX))
	}

	// After the reboot: its boot time, its sampling, data of the new 300 before the new
	// template, data of 301 that it has not defined again.
	sets = append(options(boot2, 10), set(300, newRecord(7000, 7), up), set(2, templateRecord(300, newL...)),
		set(301, oldRecord(1, 1)))
	flows = h.netflow(t, t0.Add(2*time.Second), ipfixMessageSeq(1, uint32(t0.Unix()), 0, sets...))
	if v := h.restarts(watchfloor.FlowIPFIX); v != 1 {
		t.Errorf("restarts_total = %v, want 1", v)
	}
	want := watchfloor.Flow{Received: t0.Add(2 * time.Second), Start: boot2.Add(time.Second), End: boot2.Add(2 * time.Second),
		Exporter: expAddr, ObsDomain: 1, Protocol: watchfloor.FlowIPFIX, SamplingRate: 10,
		SrcAddr: srcA, DstAddr: dstA, Bytes: 70_000, Packets: 70}
	if len(flows) != 1 || !sameFlow(flows[0], want) {
		t.Fatalf("after the reboot: %+v\nwant %+v", flows, want)
	}
	if v := testutil.ToFloat64(h.m.pendingBytes); v == 0 {
		t.Errorf("template 301's data not held")
	}
	if n := h.tm.Len(); n != 2 {
		t.Errorf("%d templates, want 2 (the new 300 and 500)", n)
	}
	// The same boot time again is no news.
	sets = append(options(boot2, 10), set(300, newRecord(7000, 7), up))
	if f := h.netflow(t, t0.Add(3*time.Second), ipfixMessageSeq(1, uint32(t0.Unix()), 1, sets...)); len(f) != 1 || h.restarts(watchfloor.FlowIPFIX) != 1 {
		t.Errorf("same boot time: %d flows, %v restarts", len(f), h.restarts(watchfloor.FlowIPFIX))
	}
}

// TestRestartClocksExpire: the clock of a domain goes with its last state, and with it the
// exporter's state.
func TestRestartClocksExpire(t *testing.T) {
	cfg := DefaultConfig()
	cfg.TemplateTTL = time.Minute
	h := newHarness(t, cfg)
	m := templated{9, watchfloor.FlowNetFlowV9}
	h.netflow(t, t0, m.msg(1, 3_600_000, m.template(300, layoutOld)))
	h.netflow(t, t0, m.msg(2, 3_600_000, set(300, oldRecord(1, 1)))) // held: domain 2 has a clock too
	st := h.tm.state(expAddr)
	st.mu.RLock()
	clocks := len(st.clocks)
	st.mu.RUnlock()
	if clocks != 2 {
		t.Fatalf("%d clocks, want 2", clocks)
	}
	h.tm.Expire(t0.Add(2 * time.Minute))
	if h.tm.state(expAddr) != nil || testutil.ToFloat64(h.m.exporters) != 0 {
		t.Errorf("exporter state kept after everything expired")
	}
	// A new start: nothing to compare with, no restart.
	h.netflow(t, t0.Add(3*time.Minute), m.msg(1, 1000, m.template(300, layoutOld)))
	if f := h.netflow(t, t0.Add(3*time.Minute), m.msg(1, 2000, set(300, oldRecord(1, 1)))); len(f) != 1 || h.restarts(m.proto) != 0 {
		t.Errorf("%d flows, %v restarts", len(f), h.restarts(m.proto))
	}
}

// TestSysInitTwiceInOneDatagram: a datagram that states two boot times for one domain is a
// restart once, and decoded once.
func TestSysInitTwiceInOneDatagram(t *testing.T) {
	h := newHarness(t, DefaultConfig())
	p := ipfixMessage(1, uint32(t0.Unix()), set(3, ipfixOptionsTemplate(500, 1, field{149, 4}, field{160, 8})),
		set(500, be(uint32(1), uint64(t0.Add(-time.Hour).UnixMilli())), be(uint32(1), uint64(t0.UnixMilli()))),
		set(2, templateRecord(300, layoutOld...)), set(300, oldRecord(10, 1)))
	if f := h.netflow(t, t0, p); len(f) != 1 || f[0].Bytes != 10 {
		t.Errorf("flows %+v", f)
	}
	if v := h.restarts(watchfloor.FlowIPFIX); v != 1 {
		t.Errorf("restarts_total = %v, want 1", v)
	}
	if v := testutil.ToFloat64(h.m.recordsBy[watchfloor.FlowIPFIX]); v != 1 {
		t.Errorf("records_total = %v, want 1", v)
	}
	if n := h.tm.Len(); n != 2 {
		t.Errorf("%d templates, want 2", n)
	}
}
