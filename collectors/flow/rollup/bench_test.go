package rollup

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/watchfloor/watchfloor"
)

// zipfStream is a realistic mix: 10k hosts with Zipf-distributed traffic talking to 2k
// servers, a few ports and protocols, 4 interfaces, 2 devices.
func zipfStream(n int, at time.Time) []watchfloor.Flow {
	rng := rand.New(rand.NewPCG(42, 42))
	hosts := rand.NewZipf(rng, 1.1, 1, 9999)
	servers := rand.NewZipf(rng, 1.1, 1, 1999)
	out := make([]watchfloor.Flow, n)
	for i := range out {
		h, s := hosts.Uint64(), servers.Uint64()
		out[i] = watchfloor.Flow{
			Received: at, Exporter: netip.AddrFrom4([4]byte{192, 0, 2, byte(1 + i%2)}), SamplingRate: 1,
			SrcAddr: netip.AddrFrom4([4]byte{10, 1, byte(h >> 8), byte(h)}),
			DstAddr: netip.AddrFrom4([4]byte{198, 51, byte(s >> 8), byte(s)}),
			SrcPort: uint16(1024 + rng.IntN(60000)), DstPort: []uint16{443, 443, 80, 53, 22}[rng.IntN(5)],
			Proto: []uint8{6, 6, 6, 17, 1}[rng.IntN(5)], InIf: uint32(1 + rng.IntN(4)), OutIf: uint32(1 + rng.IntN(4)),
			SrcAS: 64500 + uint32(rng.IntN(20)), DstAS: 64600 + uint32(rng.IntN(20)),
			Bytes: uint64(64 + rng.IntN(1400)), Packets: 1 + uint64(rng.IntN(10)),
			Device: []string{"core-r1", "core-r2"}[i%2], InIfName: "ge-0/0/1", OutIfName: "ge-0/0/2",
		}
	}
	return out
}

// BenchmarkAdd is the hot path: one op is one record, added in batches of 64 by one
// worker. After warming up over several minutes (every table of the ring has grown), the
// steady state must not allocate.
func BenchmarkAdd(b *testing.B) {
	a, _ := newTest(b, DefaultConfig(), 1)
	stream := zipfStream(1<<16, t0)
	emit := func(watchfloor.FlowRollup) {}
	// warm every minute slot and spare with the same distribution
	for m := range 2 * a.slots {
		at := t0.Add(time.Duration(m) * time.Minute)
		for i := range stream {
			stream[i].Received = at
		}
		for i := 0; i < len(stream); i += 64 {
			a.Add(0, stream[i:i+64])
		}
		a.AdvanceTo(at.Add(time.Minute+a.cfg.Grace), emit)
	}
	at := t0.Add(time.Duration(2*a.slots) * time.Minute)
	for i := range stream {
		stream[i].Received = at
	}
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		i := done % len(stream)
		n := min(64, b.N-done, len(stream)-i)
		a.Add(0, stream[i:i+n])
		done += n
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkAddParallel adds from one worker per goroutine, as the receive goroutines do:
// they must not contend.
func BenchmarkAddParallel(b *testing.B) {
	const workers = 2
	a, _ := newTest(b, DefaultConfig(), workers)
	stream := zipfStream(1<<16, t0)
	for w := range workers {
		for i := 0; i < len(stream); i += 64 {
			a.Add(w, stream[i:i+64])
		}
	}
	next := make(chan int, workers)
	for w := range workers {
		next <- w
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		w := <-next
		i := 0
		// one op is one record; batches of 64 as a receive goroutine sends them
		n := 0
		for pb.Next() {
			if n++; n == 64 {
				a.Add(w, stream[i:i+64])
				i = (i + 64) % len(stream)
				n = 0
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkClose is the cost of closing a minute of 100k distinct sources (and pairs), over
// two workers: merge, rank, render, fold into the hour.
func BenchmarkClose(b *testing.B) {
	const workers = 2
	a, _ := newTest(b, DefaultConfig(), workers)
	stream := zipfStream(100_000, t0)
	for i := range stream {
		stream[i].SrcAddr = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
	}
	emit := func(watchfloor.FlowRollup) {}
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		b.StopTimer()
		at := t0.Add(time.Duration(n) * time.Minute)
		for i := range stream {
			stream[i].Received = at
		}
		for i := 0; i < len(stream); i += 1000 {
			a.Add(i/1000%workers, stream[i:i+1000])
		}
		b.StartTimer()
		a.AdvanceTo(at.Add(time.Minute+a.cfg.Grace), emit)
	}
}
