package appliance

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/appliance/lab"
	"github.com/watchfloor/watchfloor/collectors/snmp"
	"github.com/watchfloor/watchfloor/internal/testpeer"
)

// The poll-cycle benchmarks measure one full poll of a farm of 250 simulated switches with
// 48 interfaces each — Watchfloor's poller, and beside it, in the same run and against the
// same agents and OIDs, Prometheus' snmp_exporter (the baseline). Run them together:
//
//	go test -run '^$' -bench 'PollCycle' -benchtime 5x ./appliance/

const (
	farmDevices    = 250
	farmInterfaces = 48
	farmWorkers    = 32 // both pollers poll this many devices at once
)

func startFarm(b *testing.B) *lab.Lab {
	b.Helper()
	l, err := lab.Start(b.Context(), lab.Options{Devices: farmDevices, Interfaces: farmInterfaces, Seed: 1}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	return l
}

// countSink counts what a poll cycle produced.
type countSink struct {
	devices, up, interfaces, samples atomic.Int64
}

func (s *countSink) PutDevice(d watchfloor.Device) {
	s.devices.Add(1)
	if d.Status == watchfloor.DeviceUp && d.PollError == "" {
		s.up.Add(1)
	}
	s.interfaces.Add(int64(len(d.Interfaces)))
}
func (s *countSink) PutSamples(x []watchfloor.Sample) { s.samples.Add(int64(len(x))) }
func (s *countSink) PutEvents([]watchfloor.Event)     {}

func BenchmarkPollCycleWatchfloor(b *testing.B) {
	l := startFarm(b)
	cfg := snmp.DefaultConfig()
	cfg.Site, cfg.Targets, cfg.Workers, cfg.Retries = "farm", l.Targets(), farmWorkers, 1
	p, err := snmp.New(cfg, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	p.PollAll(ctx, &countSink{}) // the baseline poll: counters start here
	var worst time.Duration
	for b.Loop() {
		sink := &countSink{}
		t0 := time.Now()
		p.PollAll(ctx, sink)
		worst = max(worst, time.Since(t0))
		if sink.up.Load() != farmDevices || sink.interfaces.Load() != farmDevices*farmInterfaces || sink.samples.Load() < farmDevices*farmInterfaces*8 {
			b.Fatalf("cycle polled %d/%d devices fully, %d interfaces, %d samples", sink.up.Load(), farmDevices, sink.interfaces.Load(), sink.samples.Load())
		}
	}
	b.ReportMetric(worst.Seconds(), "worst-s/cycle")
	if worst > time.Minute {
		b.Fatalf("a cycle took %v, longer than a 60 s poll interval", worst)
	}
}

func BenchmarkPollCycleSNMPExporter(b *testing.B) {
	exporter := testpeer.Program(b, "prometheus-snmp-exporter")
	l := startFarm(b)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(exporter, "--config.file=testdata/snmp_exporter.yml", "--web.listen-address="+addr, "--log.level=warn")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: farmWorkers}}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := client.Get("http://" + addr + "/"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("snmp_exporter did not start")
		}
	}
	targets := l.Targets()
	scrape := func(t snmp.Target) (int64, error) {
		resp, err := client.Get(fmt.Sprintf("http://%s/snmp?module=watchfloor&target=%s", addr, t.Address))
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		n, err := io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != 200 {
			return n, fmt.Errorf("%s: %s", t.Name, resp.Status)
		}
		if n < farmInterfaces*20*40 { // about 20 metrics of ~40+ bytes per interface
			return n, fmt.Errorf("%s: a short scrape of %d bytes", t.Name, n)
		}
		return n, err
	}
	cycle := func() error {
		work := make(chan snmp.Target)
		var wg sync.WaitGroup
		var firstErr atomic.Value
		for range farmWorkers {
			wg.Go(func() {
				for t := range work {
					if _, err := scrape(t); err != nil {
						firstErr.CompareAndSwap(nil, err)
					}
				}
			})
		}
		for _, t := range targets {
			work <- t
		}
		close(work)
		wg.Wait()
		if err, ok := firstErr.Load().(error); ok {
			return err
		}
		return nil
	}
	if err := cycle(); err != nil { // warm up like the poller's baseline poll
		b.Fatal(err)
	}
	var worst time.Duration
	for b.Loop() {
		t0 := time.Now()
		if err := cycle(); err != nil {
			b.Fatal(err)
		}
		worst = max(worst, time.Since(t0))
	}
	b.ReportMetric(worst.Seconds(), "worst-s/cycle")
}
