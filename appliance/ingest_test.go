package appliance

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/appliance/store"
)

// fakeStore records what was written; it blocks while gate is held and can fail.
type fakeStore struct {
	mu      sync.Mutex
	gate    sync.Mutex
	fail    bool
	nextID  uint64
	samples int
	rollups int
	devices []string
	events  []watchfloor.Event
}

func (s *fakeStore) Write(_ context.Context, b *store.Batch) error {
	s.gate.Lock()
	defer s.gate.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail {
		return errors.New("disk full")
	}
	for i := range b.Events {
		s.nextID++
		b.Events[i].ID = s.nextID
	}
	s.samples += len(b.Samples)
	s.rollups += len(b.FlowRollups)
	for _, d := range b.Devices {
		s.devices = append(s.devices, d.Name)
	}
	s.events = append(s.events, b.Events...)
	return nil
}

type fakeConsole struct {
	mu      sync.Mutex
	devices []string
	events  []watchfloor.Event
	flows   []time.Duration // steps of the rollups published
}

func (c *fakeConsole) PublishDevice(d watchfloor.Device) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.devices = append(c.devices, d.Name)
}

func (c *fakeConsole) PublishEvents(evs []watchfloor.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, evs...)
}

func (c *fakeConsole) PublishFlows(r watchfloor.FlowRollup) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.flows = append(c.flows, r.Step)
}

func newTestIngest(size int) (*ingest, *fakeStore, *fakeConsole, *prometheus.Registry) {
	st, con, reg := &fakeStore{}, &fakeConsole{}, prometheus.NewRegistry()
	return newIngest(size, st, con, slog.New(slog.DiscardHandler), reg), st, con, reg
}

// What the collectors hand over reaches the store, and the console sees it only after the
// commit, with the IDs the store gave; close drains everything that was queued.
func TestIngestCommitsThenPublishes(t *testing.T) {
	in, st, con, reg := newTestIngest(16)
	st.gate.Lock() // the store is slow: everything queues
	done := make(chan struct{})
	go func() { in.run(context.Background()); close(done) }()
	in.PutDevice(watchfloor.Device{Name: "core-r1"})
	in.PutSamples(make([]watchfloor.Sample, 100))
	in.PutEvents([]watchfloor.Event{{Kind: watchfloor.EventInterfaceDown}, {Kind: watchfloor.EventInterfaceUp}})
	in.PutEvents(nil) // nothing, not even a count
	in.PutFlowRollup(watchfloor.FlowRollup{Step: time.Minute})
	in.PutFlowRollup(watchfloor.FlowRollup{Step: time.Hour})
	time.Sleep(10 * time.Millisecond)
	con.mu.Lock()
	if len(con.events)+len(con.devices)+len(con.flows) != 0 {
		t.Fatal("the console saw records before they were committed")
	}
	con.mu.Unlock()
	st.gate.Unlock()
	in.close()
	<-done
	if st.samples != 100 || len(st.devices) != 1 || len(st.events) != 2 {
		t.Fatalf("store got %d samples, %v, %d events", st.samples, st.devices, len(st.events))
	}
	if len(con.events) != 2 || con.events[0].ID != 1 || con.events[1].ID != 2 || len(con.devices) != 1 {
		t.Fatalf("console got %+v, %v", con.events, con.devices)
	}
	if got := testutil.ToFloat64(in.in.WithLabelValues("sample")); got != 100 {
		t.Fatalf("records_total{sample} = %v", got)
	}
	if st.rollups != 2 || len(con.flows) != 1 || con.flows[0] != time.Minute {
		t.Fatalf("store got %d rollups; the console got %v, want the minute only", st.rollups, con.flows)
	}
	if n, _ := testutil.GatherAndCount(reg, "watchfloor_ingest_dropped_total"); n != 4 {
		t.Fatalf("dropped series: %d", n)
	}
}

// A full queue drops at the edge and counts it: the collector never waits.
func TestIngestDropsWhenFull(t *testing.T) {
	in, st, _, _ := newTestIngest(2)
	st.gate.Lock()
	done := make(chan struct{})
	go func() { in.run(context.Background()); close(done) }()
	in.PutSamples(make([]watchfloor.Sample, 1)) // taken by run, stuck in Write
	for len(in.queue) > 0 {
		runtime.Gosched()
	}
	t0 := time.Now()
	for range 10 {
		in.PutSamples(make([]watchfloor.Sample, 5))
	}
	if d := time.Since(t0); d > 100*time.Millisecond {
		t.Fatalf("puts into a full queue took %v", d)
	}
	if got := testutil.ToFloat64(in.dropped.WithLabelValues("sample")); got != 40 { // 2 of 10 fit
		t.Fatalf("dropped{sample} = %v, want 40", got)
	}
	st.gate.Unlock()
	in.close()
	<-done
	if st.samples != 11 {
		t.Fatalf("store got %d samples, want 11", st.samples)
	}
	in.PutSamples(make([]watchfloor.Sample, 3)) // after close: dropped, counted, no panic
	if in.recordsDropped.Load() != 43 {
		t.Fatalf("recordsDropped = %d", in.recordsDropped.Load())
	}
}

// A failing store loses the batch, counted, and the queue keeps going.
func TestIngestStoreFailure(t *testing.T) {
	in, st, con, _ := newTestIngest(8)
	st.fail = true
	done := make(chan struct{})
	go func() { in.run(context.Background()); close(done) }()
	in.PutEvents([]watchfloor.Event{{Kind: watchfloor.EventTrap}})
	in.close()
	<-done
	if got := testutil.ToFloat64(in.dropped.WithLabelValues("event")); got != 1 {
		t.Fatalf("dropped{event} = %v", got)
	}
	if len(con.events) != 0 {
		t.Fatal("an uncommitted event was published")
	}
}

func BenchmarkIngestPut(b *testing.B) {
	in, _, _, _ := newTestIngest(1 << 20)
	batch := make([]watchfloor.Sample, 48*9) // one 48-port switch's samples of one poll
	b.ReportAllocs()
	for b.Loop() {
		in.PutSamples(batch)
		if len(in.queue) == cap(in.queue) {
			b.StopTimer()
			for len(in.queue) > 0 {
				<-in.queue
			}
			b.StartTimer()
		}
	}
}
