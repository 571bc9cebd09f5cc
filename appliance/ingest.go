package appliance

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/appliance/store"
)

// ingest is the bounded queue between the collectors and the store. Collectors hand it
// batches and never wait: when the queue is full the batch is dropped and counted. One
// goroutine drains it, writes each group of batches to the store in one group commit, and
// only then publishes the committed records to the console, so the wall shows what is
// durable.
type ingest struct {
	log     *slog.Logger
	queue   chan item
	mu      sync.RWMutex // guards closed against sends on a closed queue
	closed  bool
	store   writer
	publish publisher
	// forward, when set, takes every batch once it is committed (the uplink's outbox).
	forward func(*store.Batch)

	in      *prometheus.CounterVec
	dropped *prometheus.CounterVec
	depth   prometheus.GaugeFunc

	// Totals for the wall's stats line.
	recordsIn, recordsDropped atomic.Uint64
}

// item is one batch from a collector: exactly one of its fields is set.
type item struct {
	device  *watchfloor.Device
	samples []watchfloor.Sample
	events  []watchfloor.Event
	rollup  *watchfloor.FlowRollup
}

type writer interface {
	Write(ctx context.Context, b *store.Batch) error
}

type publisher interface {
	PublishDevice(watchfloor.Device)
	PublishEvents([]watchfloor.Event)
	PublishFlows(watchfloor.FlowRollup)
}

// maxGroup bounds how many queued batches one store write takes.
const maxGroup = 256

func newIngest(size int, w writer, p publisher, log *slog.Logger, reg prometheus.Registerer) *ingest {
	in := &ingest{
		log:     log,
		queue:   make(chan item, size),
		store:   w,
		publish: p,
		in: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchfloor_ingest_records_total",
			Help: "Records handed to the ingest queue by collectors, by kind.",
		}, []string{"kind"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchfloor_ingest_dropped_total",
			Help: "Records dropped because the ingest queue was full or closed, by kind.",
		}, []string{"kind"}),
	}
	in.depth = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "watchfloor_ingest_queue_depth",
		Help: "Batches waiting in the ingest queue.",
	}, func() float64 { return float64(len(in.queue)) })
	if reg != nil {
		reg.MustRegister(in.in, in.dropped, in.depth)
	}
	for _, k := range []string{"device", "sample", "event", "flow_rollup"} {
		in.in.WithLabelValues(k)
		in.dropped.WithLabelValues(k)
	}
	return in
}

// PutDevice queues a device's state.
func (in *ingest) PutDevice(d watchfloor.Device) { in.put(item{device: &d}, "device", 1) }

// PutSamples queues metric samples; the slice now belongs to the ingest queue.
func (in *ingest) PutSamples(s []watchfloor.Sample) {
	if len(s) > 0 {
		in.put(item{samples: s}, "sample", len(s))
	}
}

// PutEvents queues events; the slice now belongs to the ingest queue.
func (in *ingest) PutEvents(e []watchfloor.Event) {
	if len(e) > 0 {
		in.put(item{events: e}, "event", len(e))
	}
}

func (in *ingest) put(it item, kind string, n int) {
	in.in.WithLabelValues(kind).Add(float64(n))
	in.recordsIn.Add(uint64(n))
	in.mu.RLock()
	defer in.mu.RUnlock()
	if !in.closed {
		select {
		case in.queue <- it:
			return
		default:
		}
	}
	in.dropped.WithLabelValues(kind).Add(float64(n))
	in.recordsDropped.Add(uint64(n))
}

// PutFlowRollup queues a closed flow rollup.
func (in *ingest) PutFlowRollup(r watchfloor.FlowRollup) { in.put(item{rollup: &r}, "flow_rollup", 1) }

// close stops accepting batches; run then drains what is queued and returns.
func (in *ingest) close() {
	in.mu.Lock()
	defer in.mu.Unlock()
	if !in.closed {
		in.closed = true
		close(in.queue)
	}
}

// run writes queued batches to the store until the queue is closed and empty. A failed
// write is logged and its records counted as dropped: the store's error is not a reason to
// stop watching the network.
func (in *ingest) run(ctx context.Context) {
	var b store.Batch
	for first := range in.queue {
		b.Devices, b.Samples, b.Events, b.FlowRollups = b.Devices[:0], b.Samples[:0], b.Events[:0], b.FlowRollups[:0]
		in.add(&b, first)
	group:
		for range maxGroup - 1 {
			select {
			case it, ok := <-in.queue:
				if !ok {
					break group
				}
				in.add(&b, it)
			default:
				break group
			}
		}
		if err := in.store.Write(ctx, &b); err != nil {
			in.log.Error("store write failed; records dropped", "err", err,
				"devices", len(b.Devices), "samples", len(b.Samples), "events", len(b.Events), "flow_rollups", len(b.FlowRollups))
			in.dropped.WithLabelValues("device").Add(float64(len(b.Devices)))
			in.dropped.WithLabelValues("sample").Add(float64(len(b.Samples)))
			in.dropped.WithLabelValues("event").Add(float64(len(b.Events)))
			in.dropped.WithLabelValues("flow_rollup").Add(float64(len(b.FlowRollups)))
			in.recordsDropped.Add(uint64(b.Len()))
			continue
		}
		if in.forward != nil {
			in.forward(&b)
		}
		for _, d := range b.Devices {
			in.publish.PublishDevice(d)
		}
		if len(b.Events) > 0 {
			// The console keeps the slice: hand it a copy, b.Events is reused.
			in.publish.PublishEvents(append([]watchfloor.Event(nil), b.Events...))
		}
		for _, r := range b.FlowRollups {
			if r.Step == time.Minute { // the wall shows minutes; hours are for the store
				in.publish.PublishFlows(r)
			}
		}
	}
}

func (in *ingest) add(b *store.Batch, it item) {
	switch {
	case it.device != nil:
		b.Devices = append(b.Devices, *it.device)
	case it.samples != nil:
		b.Samples = append(b.Samples, it.samples...)
	case it.events != nil:
		b.Events = append(b.Events, it.events...)
	case it.rollup != nil:
		b.FlowRollups = append(b.FlowRollups, *it.rollup)
	}
}
