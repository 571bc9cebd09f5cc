package lab

import (
	"io"
	"testing"
	"time"
)

// Benchmarks of the mirror port:
//
//	go test -run '^$' -bench 'Packet|Pcap' -benchmem ./appliance/lab

// BenchmarkPacketGen generates background frames (no incidents). One op is one frame;
// cpu-ns/frame is the process's CPU time per frame, steadier than ns/op on a busy machine.
func BenchmarkPacketGen(b *testing.B) {
	benchGen(b, false, 0)
}

// BenchmarkPacketGenSynFlood generates frames inside the SYN flood's window at TimeScale
// 0.01, where nearly all of them are the flood's.
func BenchmarkPacketGenSynFlood(b *testing.B) {
	benchGen(b, true, synFloodAt)
}

func benchGen(b *testing.B, incidents bool, from time.Duration) {
	tm, err := templates()
	if err != nil {
		b.Fatal(err)
	}
	// At TimeScale 0.01 the flood sends 50,000 SYNs a second (of 52,000 frames); each time
	// the window closes, the benchmark skips to the next cycle's.
	const scale = 0.01
	sc := func(d time.Duration) time.Duration { return time.Duration(float64(d) * scale) }
	g := newPacketGen(tm, PcapEpoch, sc(from), DefaultPacketsPerSecond, scale, 1, incidents, defaultEdgeMAC)
	cycle := 0
	var bytes int
	b.ReportAllocs()
	cpu := cpuTime()
	for b.Loop() {
		if incidents && g.peek() >= sc(time.Duration(cycle)*cyclePeriod+synFloodAt+synFloodDur) {
			b.StopTimer()
			cycle++
			g.skipTo(sc(time.Duration(cycle)*cyclePeriod + from))
			b.StartTimer()
		}
		f, _ := g.next()
		bytes += len(f)
	}
	reportCPU(b, cpu, 1, "cpu-ns/frame")
	b.SetBytes(int64(bytes / max(b.N, 1)))
}

// BenchmarkWritePcap writes 10 s of the default traffic (20,000 frames) to io.Discard.
func BenchmarkWritePcap(b *testing.B) {
	b.ReportAllocs()
	cpu := cpuTime()
	for b.Loop() {
		if err := WritePcap(io.Discard, PcapOptions{Duration: 10 * time.Second}); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu, 10*DefaultPacketsPerSecond, "cpu-ns/frame")
}

// BenchmarkPacketSourcePaced reads a real-time source at the default rate for one second
// per op and reports the CPU it costs (generation, pacing and wake-ups together), in CPU
// milliseconds per second of traffic.
func BenchmarkPacketSourcePaced(b *testing.B) {
	src, err := NewPacketSource(PacketOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	cpu := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		end := time.Now().Add(time.Second)
		for {
			_, ci, err := src.ZeroCopyReadPacketData()
			if err != nil {
				b.Fatal(err)
			}
			if ci.Timestamp.After(end) {
				break
			}
		}
	}
	reportCPU(b, cpu, 1e6, "cpu-ms/s")
	st := src.Stats()
	b.ReportMetric(float64(st.Packets)/float64(b.N), "frames/op")
	b.ReportMetric(float64(st.Dropped)/float64(b.N), "dropped/op") // 0 unless the machine is starved
}
