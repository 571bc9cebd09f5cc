package decoder

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fuzzSeeds are the golden datagrams of the real exporters.
func fuzzSeeds(f *testing.F, sflow bool) {
	names, _ := filepath.Glob(filepath.Join("testdata", "*.dgrams"))
	for _, n := range names {
		name := strings.TrimSuffix(filepath.Base(n), ".dgrams")
		if strings.Contains(name, "sflow") != sflow {
			continue
		}
		for _, p := range readFixtures(f, name) {
			f.Add(p)
		}
	}
}

func checkFlows(t *testing.T, out *Output) {
	for _, fl := range out.Flows {
		if fl.SamplingRate == 0 {
			t.Fatalf("flow with rate 0: %+v", fl)
		}
		if fl.Protocol == 0 || !fl.Exporter.IsValid() {
			t.Fatalf("flow without protocol or exporter: %+v", fl)
		}
	}
}

// FuzzDecodeNetFlow feeds any datagram to DecodeNetFlow, twice with the same decoder (the
// first pass may store templates the second uses, or hold data the second releases), and
// then as held data: no panic, no hang, bounded state.
func FuzzDecodeNetFlow(f *testing.F) {
	fuzzSeeds(f, false)
	f.Add(ipfixMessage(1, 0, set(2, templateRecord(256, field{1, 0})), set(256, make([]byte, 8))))
	f.Add(ipfixMessage(1, 0, set(3, ipfixOptionsTemplate(400, 1, field{302, 8}, field{305, 4}, field{306, 4})), set(400, be(uint64(5), uint32(0), uint32(99)))))
	f.Add(v9Message(1, 0, 0, set(1, v9OptionsTemplate(260, []field{{1, 4}}, []field{{48, 1}, {50, 4}})), set(260, be(uint32(0), uint8(1), uint32(0)))))
	f.Add(v5Message(0, 0, 0, 0xffff, v5Record{}))
	f.Add(ipfixMessage(1, 0, set(3, ipfixOptionsTemplate(500, 1, field{149, 4}, field{160, 8})), // two boot times: a restart
		set(500, be(uint32(1), uint64(1e12)), be(uint32(1), uint64(2e12))), set(2, templateRecord(300, field{1, 4})), set(300, be(uint32(9)))))
	cfg := DefaultConfig()
	cfg.MaxTemplates = 64
	cfg.PendingBytes = 64 << 10
	cfg.PendingBytesTotal = 1 << 20
	cfg.MaxTemplateFieldsTotal = 1 << 16
	m := NewMetrics(nil)
	tm := NewTemplates(cfg, m)
	d := New(tm, cfg, m)
	var out Output
	f.Fuzz(func(t *testing.T, p []byte) {
		for i := range 2 {
			out.Reset()
			_ = d.DecodeNetFlow(Datagram{Exporter: exporter, Received: t0.Add(mins(i)), Payload: p}, &out)
			checkFlows(t, &out)
		}
		if len(out.Flows) > len(p) {
			t.Fatalf("%d flows from %d bytes", len(out.Flows), len(p))
		}
		if tm.Len() > cfg.MaxTemplates {
			t.Fatalf("%d templates, bound %d", tm.Len(), cfg.MaxTemplates)
		}
		if tm.pendingTotal.Load() > int64(cfg.PendingBytesTotal) {
			t.Fatalf("%d bytes held", tm.pendingTotal.Load())
		}
	})
}

// FuzzDecodeSFlow feeds any datagram to DecodeSFlow: no panic, no hang, and every flow
// scaled by a non-zero rate.
func FuzzDecodeSFlow(f *testing.F) {
	fuzzSeeds(f, true)
	f.Add(sflowDatagram(1, sflowFlowSample(10, 1, 2, sflowSampledHeader(100, qinqFrame(f))),
		sflowCounterSample(sflowIfCounters(ifCounters{index: 1}))))
	f.Add(sflowDatagram(1, sflowExpandedFlowSample(10, 1, 2, 1, sflowRecord(1, append(be(12, 700, 0, 56), v6FragmentFrame(f, 0)...)))))
	m := NewMetrics(nil)
	tm := NewTemplates(DefaultConfig(), m)
	d := New(tm, DefaultConfig(), m)
	var out Output
	f.Fuzz(func(t *testing.T, p []byte) {
		out.Reset()
		_ = d.DecodeSFlow(Datagram{Exporter: exporter, Received: t0, Payload: p}, &out)
		checkFlows(t, &out)
		if len(out.Flows)+len(out.Counters) > len(p) {
			t.Fatalf("%d records from %d bytes", len(out.Flows)+len(out.Counters), len(p))
		}
	})
}

func mins(i int) time.Duration { return time.Duration(i) * time.Minute }

// TestFuzzCorpusPresent keeps the fuzz seeds honest: the fixtures must be there.
func TestFuzzCorpusPresent(t *testing.T) {
	for _, n := range []string{"softflowd-ipfix", "softflowd-netflow9", "softflowd-netflow5", "pmacct-sflow"} {
		if _, err := os.Stat(filepath.Join("testdata", n+".dgrams")); err != nil {
			t.Error(err)
		}
	}
}
