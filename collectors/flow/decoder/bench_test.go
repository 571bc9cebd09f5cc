package decoder

import (
	"bytes"
	"testing"
	"time"

	"github.com/netsampler/goflow2/v2/decoders/netflow"
	"github.com/netsampler/goflow2/v2/decoders/netflowlegacy"
	"github.com/netsampler/goflow2/v2/decoders/sflow"
)

// The benchmarks decode one datagram per iteration and report records/s and allocations
// per record; the Goflow2 ones run goflow2's decoder alone on the same datagram, the
// baseline that tells its allocations from ours.
//
//	go test -run '^$' -bench . -benchmem ./collectors/flow/decoder/

func ipfixBenchDatagram() []byte {
	recs := make([][]byte, 30)
	for i := range recs {
		recs[i] = dataRecord("10.0.0.1", "192.0.2.7", 1500, 3, t0, t0.Add(time.Second))
	}
	return ipfixMessage(1, uint32(t0.Unix()), set(300, recs...))
}

func v5BenchDatagram() []byte {
	recs := make([]v5Record, 30)
	for i := range recs {
		recs[i] = v5Record{src: expAddr, dst: expAddr, pkts: 3, octets: 1500, first: 1000, last: 2000, sport: 1, dport: 443, proto: 6}
	}
	return v5Message(60_000, uint32(t0.Unix()), 0, 0, recs...)
}

func sflowBenchDatagram(b *testing.B) []byte {
	for _, p := range readFixtures(b, "pmacct-sflow") {
		if len(p) > 1000 {
			return p // 6 flow samples with sampled headers
		}
	}
	b.Fatal("no full sFlow datagram in the fixture")
	return nil
}

func report(b *testing.B, records int, allocs float64) {
	b.ReportMetric(float64(records)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(allocs/float64(records), "allocs/record")
}

func BenchmarkDecodeIPFIX(b *testing.B) {
	h := newHarness(b, DefaultConfig())
	h.netflow(b, t0, ipfixMessage(1, 0, set(2, templateRecord(300, dataFields...))))
	p := ipfixBenchDatagram()
	dg := Datagram{Exporter: exporter, Received: t0, Payload: p}
	run := func() {
		h.out.Reset()
		if err := h.d.DecodeNetFlow(dg, &h.out); err != nil || len(h.out.Flows) != 30 {
			b.Fatalf("%v, %d flows", err, len(h.out.Flows))
		}
	}
	run()
	allocs := testing.AllocsPerRun(100, run)
	b.ResetTimer()
	for b.Loop() {
		run()
	}
	report(b, 30, allocs)
}

func BenchmarkGoflow2IPFIX(b *testing.B) {
	ts := netflow.CreateTemplateSystem()
	tmpl := ipfixMessage(1, 0, set(2, templateRecord(300, dataFields...)))
	var nf9 netflow.NFv9Packet
	var ipfix netflow.IPFIXPacket
	_ = netflow.DecodeMessageVersion(bytes.NewBuffer(tmpl), ts, &nf9, &ipfix)
	p := ipfixBenchDatagram()
	var rd bytes.Buffer
	run := func() {
		rd.Reset()
		rd.Write(p)
		ipfix = netflow.IPFIXPacket{}
		if err := netflow.DecodeMessageVersion(&rd, ts, &nf9, &ipfix); err != nil {
			b.Fatal(err)
		}
	}
	allocs := testing.AllocsPerRun(100, run)
	b.ResetTimer()
	for b.Loop() {
		run()
	}
	report(b, 30, allocs)
}

func BenchmarkDecodeNetFlowV5(b *testing.B) {
	h := newHarness(b, DefaultConfig())
	dg := Datagram{Exporter: exporter, Received: t0, Payload: v5BenchDatagram()}
	run := func() {
		h.out.Reset()
		if err := h.d.DecodeNetFlow(dg, &h.out); err != nil || len(h.out.Flows) != 30 {
			b.Fatalf("%v, %d flows", err, len(h.out.Flows))
		}
	}
	run()
	allocs := testing.AllocsPerRun(100, run)
	b.ResetTimer()
	for b.Loop() {
		run()
	}
	report(b, 30, allocs)
}

func BenchmarkGoflow2NetFlowV5(b *testing.B) {
	p := v5BenchDatagram()
	var rd bytes.Buffer
	var pk netflowlegacy.PacketNetFlowV5
	run := func() {
		rd.Reset()
		rd.Write(p)
		if err := netflowlegacy.DecodeMessageVersion(&rd, &pk); err != nil {
			b.Fatal(err)
		}
	}
	allocs := testing.AllocsPerRun(100, run)
	b.ResetTimer()
	for b.Loop() {
		run()
	}
	report(b, 30, allocs)
}

func BenchmarkDecodeSFlow(b *testing.B) {
	h := newHarness(b, DefaultConfig())
	dg := Datagram{Exporter: exporter, Received: t0, Payload: sflowBenchDatagram(b)}
	var n int
	run := func() {
		h.out.Reset()
		if err := h.d.DecodeSFlow(dg, &h.out); err != nil || len(h.out.Flows) == 0 {
			b.Fatalf("%v, %d flows", err, len(h.out.Flows))
		}
		n = len(h.out.Flows)
	}
	run()
	allocs := testing.AllocsPerRun(100, run)
	b.ResetTimer()
	for b.Loop() {
		run()
	}
	report(b, n, allocs)
}

func BenchmarkGoflow2SFlow(b *testing.B) {
	p := sflowBenchDatagram(b)
	var rd bytes.Buffer
	var pk sflow.Packet
	var n int
	run := func() {
		rd.Reset()
		rd.Write(p)
		pk = sflow.Packet{}
		if err := sflow.DecodeMessageVersion(&rd, &pk); err != nil {
			b.Fatal(err)
		}
		n = len(pk.Samples)
	}
	run()
	allocs := testing.AllocsPerRun(100, run)
	b.ResetTimer()
	for b.Loop() {
		run()
	}
	report(b, n, allocs)
}
