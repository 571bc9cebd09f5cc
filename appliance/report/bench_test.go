package report

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/appliance/store"
	"github.com/watchfloor/watchfloor/correlator/alerts"
)

// BenchmarkGenerate1M: October 2026 with 1,000,000 alerts, and a year of hourly flow
// rollups and SNMP samples for an uplink; one report of it, PDF and HTML. Reports the
// generation time and the peak heap. Run with -benchtime=1x (filling the store takes a while):
//
//	go test -run XXX -bench Generate1M -benchtime=1x -benchmem ./appliance/report/
func BenchmarkGenerate1M(b *testing.B) {
	st, err := store.Open(filepath.Join(b.TempDir(), "watchfloor.db"), store.DefaultConfig(), nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	up := watchfloor.Interface{Index: 1, Name: "xe-0/0/1", Alias: "transit isp-a", SpeedBps: 10_000_000_000}
	if err := st.Write(ctx, &store.Batch{Devices: []watchfloor.Device{{Name: "r1", Site: "east", Interfaces: []watchfloor.Interface{up}}}}); err != nil {
		b.Fatal(err)
	}
	start := time.Date(2025, 11, 1, 0, 0, 0, 0, time.UTC)
	var batch store.Batch
	for h := 0; h < 365*24; h++ {
		t := start.Add(time.Duration(h) * time.Hour)
		slots := make([]uint64, 12)
		for s := range slots {
			slots[s] = uint64(1e8 + (h*12+s)%997*1e5)
		}
		batch.FlowRollups = append(batch.FlowRollups, watchfloor.FlowRollup{Site: "east", Start: t, Step: time.Hour,
			Totals:     watchfloor.FlowTotals{Bytes: 1, Flows: 1},
			Rows:       []watchfloor.FlowRow{{By: watchfloor.FlowBySrc, Device: "r1", Key: "198.51.100.7", Bytes: 1e6, Flows: 1}},
			Interfaces: []watchfloor.IfTraffic{{Device: "r1", IfIndex: 1, In5m: slots, Out5m: slots}}})
		batch.Samples = append(batch.Samples, watchfloor.Sample{Device: "r1", Metric: watchfloor.MetricPollSeconds, Time: t, Value: 0.1},
			watchfloor.Sample{Device: "r1", IfIndex: 1, Metric: watchfloor.MetricInBps, Time: t, Value: 1e9})
		if len(batch.FlowRollups) == 500 {
			if err := st.Write(ctx, &batch); err != nil {
				b.Fatal(err)
			}
			batch = store.Batch{}
		}
	}
	if err := st.Write(ctx, &batch); err != nil {
		b.Fatal(err)
	}
	rules := []struct {
		name string
		sev  watchfloor.Severity
		tags []string
	}{{"port_scan_vertical", watchfloor.SeverityHigh, []string{"attack.discovery", "attack.t1046"}},
		{"bad_address_in", watchfloor.SeverityMedium, []string{"attack.reconnaissance", "attack.t1595"}},
		{"interface_down", watchfloor.SeverityHigh, nil}, {"volumetric_flood_bps", watchfloor.SeverityCritical, []string{"attack.impact", "attack.t1498"}}}
	from := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	const n = 1_000_000
	step := 31 * 24 * time.Hour / n
	var ch alerts.Changes
	for i := range n {
		r := rules[i%len(rules)]
		t0 := from.Add(time.Duration(i) * step)
		a := watchfloor.Alert{ID: uint64(i + 1), Rule: r.name, Key: fmt.Sprintf("src_ip=198.51.%d.%d", i/256%256, i%256), Severity: r.sev,
			Category: "security", State: watchfloor.AlertResolved, Title: r.name, Entity: watchfloor.Entity{Site: "east"}, Tags: r.tags,
			Labels:    []watchfloor.Attr{{Key: "src_ip", Value: fmt.Sprintf("198.51.%d.%d", i/256%256, i%256)}, {Key: "dst_ip", Value: "10.0.0.5"}},
			StartedAt: t0, LastSeen: t0.Add(time.Minute), UpdatedAt: t0, ResolvedAt: t0.Add(time.Hour), Count: 3,
			Evidence: []watchfloor.Evidence{{Time: t0, Kind: "correlation", Summary: "value_sum of bytes = 2000000000 within 1m"}}}
		ch.Alerts = append(ch.Alerts, alerts.Record{Alert: a})
		if len(ch.Alerts) == 20_000 {
			if err := st.PutAlerts(ctx, &ch); err != nil {
				b.Fatal(err)
			}
			ch = alerts.Changes{}
		}
	}
	if err := st.PutAlerts(ctx, &ch); err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	b.ResetTimer()
	for range b.N {
		var peak uint64
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() { // sample the heap every 10 ms
			defer close(done)
			s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
			for {
				metrics.Read(s)
				peak = max(peak, s[0].Value.Uint64())
				select {
				case <-stop:
					return
				case <-time.After(10 * time.Millisecond):
				}
			}
		}()
		t0 := time.Now()
		r, err := Generate(ctx, st, Options{Month: "2026-10", Location: time.UTC})
		if err != nil {
			b.Fatal(err)
		}
		if err := WritePDF(io.Discard, r); err != nil {
			b.Fatal(err)
		}
		if err := WriteHTML(io.Discard, r); err != nil {
			b.Fatal(err)
		}
		el := time.Since(t0)
		close(stop)
		<-done
		if r.Alerts.Total.Value != n {
			b.Fatalf("%v alerts", r.Alerts.Total.Value)
		}
		b.ReportMetric(el.Seconds(), "s/report")
		b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	}
}
