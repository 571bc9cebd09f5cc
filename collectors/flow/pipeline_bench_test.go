package flow

import (
	"net/netip"
	"testing"
	"time"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/appliance/lab"
	"github.com/watchfloor/watchfloor/collectors/flow/decoder"
	"github.com/watchfloor/watchfloor/collectors/flow/rollup"
)

// rollupSink adds to the aggregator, as the appliance's sink does.
type rollupSink struct{ agg *rollup.Aggregator }

func (s rollupSink) HandleFlows(w int, f []watchfloor.Flow) { s.agg.Add(w, f) }
func (s rollupSink) PutSamples([]watchfloor.Sample)         {}

// BenchmarkPipeline is the flow hot path on one core, without the sockets: decode IPFIX
// datagrams of the lab's load (goflow2 and our mapping), enrich (device, interfaces,
// direction), add to the minute's rollups. One op is one record.
func BenchmarkPipeline(b *testing.B) {
	cfg := DefaultConfig()
	cfg.OurNetworks = lab.OurNetworks
	c, err := NewReplayer(cfg, "lab", nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	c.UpdateDevice(testDevice("core-r1", "127.0.0.1:161", 0))
	agg, err := rollup.New(rollup.DefaultConfig(), "lab", 1, nil)
	if err != nil {
		b.Fatal(err)
	}
	sink := rollupSink{agg}
	gen := lab.NewIPFIXLoad(1, 20)
	var dgs [][]byte
	for len(dgs) < 1024 {
		dgs = append(dgs, gen.Next(make([]byte, 0, 1500)))
	}
	per := gen.PerDatagram()
	w := c.newWorker(0)
	exporter := netip.MustParseAddrPort("127.0.0.1:50000")
	now := time.Now()
	run := func(n int) {
		for i := range n {
			_ = w.decode(protoNetFlow, decoder.Datagram{Exporter: exporter, Received: now, Payload: dgs[i%len(dgs)]})
			if i%3 == 2 { // a recvmmsg batch holds a few datagrams
				w.deliver(w.out, sink)
			}
		}
		w.deliver(w.out, sink)
	}
	run(len(dgs)) // templates learnt, tables grown
	b.ReportAllocs()
	b.ResetTimer()
	run((b.N + per - 1) / per)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
