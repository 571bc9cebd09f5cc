package lab

import (
	"testing"
	"time"
)

// BenchmarkFlowGenerate generates and encodes the whole site's export for 250 ms ticks at
// the default budget, as the running lab does (without the sockets). It reports records
// (and sFlow samples) per second of CPU and allocations per record.
//
//	go test -run '^$' -bench 'Flow|IPFIXLoad' -benchmem ./appliance/lab
func BenchmarkFlowGenerate(b *testing.B) {
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	s := standardSite(DefaultSite, 1, start)
	gens, err := newFlowGens(s, 20000, 1, 1)
	if err != nil {
		b.Fatal(err)
	}
	var xs []*flowExporter
	var st protoStats
	for k, g := range gens {
		xs = append(xs, newFlowExporter(g, s, loopbackAddr(k), uint32(k+1), &st, testLog(b)))
	}
	var bytes int
	send := func(p []byte) error { bytes += len(p); return nil }
	now := start
	for _, x := range xs { // prime the meters and the buffers
		x.step(now, send)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		now = now.Add(flowTick)
		for _, x := range xs {
			x.step(now, send)
		}
	}
	recs := float64(st.records.Load())
	b.ReportMetric(recs/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(recs/float64(b.N), "records/op")
	b.SetBytes(int64(bytes / max(b.N, 1)))
}

// BenchmarkIPFIXLoad measures the load generator a collector benchmark drives.
func BenchmarkIPFIXLoad(b *testing.B) {
	ld := NewIPFIXLoad(1, 20)
	buf := make([]byte, 0, 1500)
	b.ReportAllocs()
	for b.Loop() {
		buf = ld.Next(buf)
	}
	b.ReportMetric(float64(ld.Records())/b.Elapsed().Seconds(), "records/s")
}
