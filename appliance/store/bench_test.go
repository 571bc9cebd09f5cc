package store

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/watchfloor/watchfloor"
)

// BenchmarkGroupCommit measures durable ingest with 8 concurrent writers, each waiting for
// every one of its batches to be committed. Two workloads:
//
//	mixed   batches of 50 interface samples (10 interfaces × 5 metrics of the writer's own
//	        device) and 2 events: each sample touches its series' raw, 5m and 1h B+trees,
//	        so the cost per record is high and grouping saves mostly fsyncs
//	events  batches of 10 events: appends to one B+tree, so the cost of a commit
//	        (page writes, two fdatasyncs) dominates and grouping shows
//
// and three configurations, whose ratio holds on a noisy machine:
//
//	grouped        DefaultConfig: the writes that queue during a commit share the next
//	grouped-wait   CommitInterval 2ms: a transaction also waits up to 2ms for more writes
//	unbatched      MaxBatch 1: one transaction, one fsync per Write (the baseline)
//
// Run: go test -run '^$' -bench BenchmarkGroupCommit -benchmem ./appliance/store/
func BenchmarkGroupCommit(b *testing.B) {
	const writers = 8
	for _, load := range []struct {
		name            string
		samples, events int
	}{{"mixed", 50, 2}, {"events", 0, 10}} {
		for _, bc := range []struct {
			name   string
			config func(*Config)
		}{
			{"grouped", func(*Config) {}},
			{"grouped-wait", func(c *Config) { c.CommitInterval = 2 * time.Millisecond }},
			{"unbatched", func(c *Config) { c.MaxBatch = 1; c.CommitInterval = 0 }},
		} {
			b.Run(load.name+"/"+bc.name, func(b *testing.B) {
				cfg := DefaultConfig()
				bc.config(&cfg)
				s := openTest(b, "", cfg)
				var writer atomic.Int32
				b.SetParallelism(max(1, writers/runtime.GOMAXPROCS(0)))
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					dev := fmt.Sprintf("bench-%d", writer.Add(1))
					batch := &Batch{Samples: make([]watchfloor.Sample, load.samples), Events: make([]watchfloor.Event, load.events)}
					for k := 0; pb.Next(); k++ {
						tm := base.Add(time.Duration(k) * time.Second)
						for i := range batch.Samples {
							batch.Samples[i] = watchfloor.Sample{Device: dev, IfIndex: int32(i/5 + 1),
								Metric: benchMetrics[i%5], Time: tm, Value: float64(k * i)}
						}
						for i := range batch.Events {
							batch.Events[i] = watchfloor.Event{Time: tm, Kind: watchfloor.EventInterfaceDown,
								Severity: watchfloor.SeverityHigh, Device: dev, Interface: "ge-0/0/1", IfIndex: 1,
								Source: "snmp.poll", Message: "interface ge-0/0/1 is down"}
						}
						if err := s.Write(context.Background(), batch); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.StopTimer()
				b.ReportMetric(float64(b.N*(load.samples+load.events))/b.Elapsed().Seconds(), "records/s")
				b.ReportMetric(float64(b.N)/metric(b, s.reg, "watchfloor_store_commits_total"), "writes/commit")
			})
		}
	}
}

var benchMetrics = [...]string{watchfloor.MetricInBps, watchfloor.MetricOutBps, watchfloor.MetricInPps,
	watchfloor.MetricOutPps, watchfloor.MetricUtilization}
