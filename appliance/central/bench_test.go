package central_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"github.com/watchfloor/watchfloor/appliance/central"
	"github.com/watchfloor/watchfloor/appliance/store"
	"github.com/watchfloor/watchfloor/appliance/uplink"
)

// benchCentral starts an embedded central (no TLS; user and password per site) and
// returns its URL and sink.
func benchCentral(b *testing.B, sites int) (string, *countingSink) {
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	port := freePort(b)
	var cs []central.Site
	for i := range sites {
		n := fmt.Sprintf("site-%02d", i)
		cs = append(cs, central.Site{Name: n, User: n, PasswordHash: string(hash)})
	}
	cfg := embeddedConfig(b, nil, port, cs...)
	sink := newSink(b)
	c, err := central.New(cfg, b.TempDir(), nil, prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	startCentral(b, c, sink)
	return fmt.Sprintf("nats://127.0.0.1:%d", port), sink
}

func benchUplinkConfig(site, url string) uplink.Config {
	cfg := applianceConfig(site, []string{url}, uplink.TLSConfig{})
	cfg.User, cfg.Password = site, "pw"
	cfg.Rate, cfg.Burst = 1e6, 4096
	return cfg
}

// BenchmarkCentralIngest20Sites: 20 appliances publish concurrently to one embedded
// central, which hands every record (payloads of about 20 bytes, plus ~200 bytes of
// headers) to the test sink: a real store, one Write per consumer batch (an event per
// record and the sequence marks). records/s is what the sink stored per second of wall
// time, from the first Put to the last record in; records/batch how full batches were.
func BenchmarkCentralIngest20Sites(b *testing.B) {
	const sites, perSite = 20, 2000
	url, sink := benchCentral(b, sites)
	var apps []*appliance
	for i := range sites {
		n := fmt.Sprintf("site-%02d", i)
		apps = append(apps, newAppliance(b, n, benchUplinkConfig(n, url)))
	}
	kinds := []uplink.Kind{uplink.KindMetrics, uplink.KindFlows, uplink.KindEvent, uplink.KindAlert}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		want := sink.total() + sites*perSite
		done := make(chan struct{}, sites)
		for _, a := range apps {
			go func() { a.put(perSite, kinds, t0, time.Second); done <- struct{}{} }()
		}
		for range sites {
			<-done
		}
		waitFor(b, 120*time.Second, "the records", func() bool { return sink.total() == want })
	}
	b.ReportMetric(float64(b.N*sites*perSite)/b.Elapsed().Seconds(), "records/s")
	total := sink.total()
	sink.mu.Lock()
	b.ReportMetric(float64(total)/float64(max(sink.batches, 1)), "records/batch")
	sink.mu.Unlock()
}

// BenchmarkOutboxDrain: one appliance's outbox, filled while it was cut off (20,000
// records of 200 bytes), drained to an embedded central: records/s from Run's start to an
// empty outbox.
func BenchmarkOutboxDrain(b *testing.B) {
	const n = 20_000
	url, _ := benchCentral(b, 1)
	kinds := []uplink.Kind{uplink.KindMetrics, uplink.KindFlows, uplink.KindEvent, uplink.KindAlert}
	payload := make([]byte, 200)
	var total time.Duration
	for b.Loop() {
		b.StopTimer()
		st, err := store.Open(filepath.Join(b.TempDir(), "w.db"), store.DefaultConfig(), nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		up, err := uplink.New(benchUplinkConfig("site-00", url), st, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		recs := make([]uplink.Record, 0, 500)
		for i := 0; i < n; i++ {
			recs = append(recs, uplink.Record{Kind: kinds[i%4], ID: "x", Time: t0, Payload: payload})
			if len(recs) == cap(recs) {
				if err := up.Put(recs); err != nil {
					b.Fatal(err)
				}
				recs = recs[:0]
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		b.StartTimer()
		start := time.Now()
		go func() { done <- up.Run(ctx) }()
		for up.Status().OutboxLen > 0 {
			time.Sleep(time.Millisecond)
		}
		total += time.Since(start)
		b.StopTimer()
		cancel()
		<-done
		up.Close()
		st.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(b.N*n)/total.Seconds(), "records/s")
}
