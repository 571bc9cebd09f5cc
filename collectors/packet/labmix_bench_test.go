package packet

import (
	"bytes"
	"context"
	"testing"
	"time"

	wflab "github.com/watchfloor/watchfloor/appliance/lab"
)

// BenchmarkLabMix replays 30 s of the lab's mirror port (its whole application mix, VLANs,
// IPv6, and a port scan, a host sweep and the start of a DNS tunnel) from a pcap in memory
// through sampling, decoding and observations: the realistic-mix decode rate, per core.
func BenchmarkLabMix(b *testing.B) {
	var buf bytes.Buffer
	if err := wflab.WritePcap(&buf, wflab.PcapOptions{Duration: 30 * time.Second, From: 60 * time.Second, Incidents: true, SnapLen: 512}); err != nil {
		b.Fatal(err)
	}
	capture := buf.Bytes()
	c := newTestReplayer(b, nil)
	st, err := c.Replay(context.Background(), bytes.NewReader(capture), discard{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(capture)))
	for b.Loop() {
		if _, err := c.Replay(context.Background(), bytes.NewReader(capture), discard{}, nil); err != nil {
			b.Fatal(err)
		}
	}
	n := float64(b.N) * float64(st.Packets)
	b.ReportMetric(n/b.Elapsed().Seconds(), "packets/s")
	b.ReportMetric(float64(testing.AllocsPerRun(1, func() {
		_, _ = c.Replay(context.Background(), bytes.NewReader(capture), discard{}, nil)
	}))/float64(st.Packets), "allocs/packet")
	b.ReportMetric(float64(st.Observations)/float64(st.Packets), "obs/packet")
}
