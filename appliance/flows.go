package appliance

import (
	"context"
	"time"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/collectors/flow"
	"github.com/watchfloor/watchfloor/collectors/flow/rollup"
	"github.com/watchfloor/watchfloor/collectors/snmp"
	"github.com/watchfloor/watchfloor/console"
	"github.com/watchfloor/watchfloor/correlator"
)

// flowLiveEvery is how often the wall gets the minute in progress.
const flowLiveEvery = 5 * time.Second

// flowSink is where the flow collector's receive goroutines hand their batches: straight
// into the rollup aggregator's shard of that goroutine (no queue, no copy), and the sFlow
// counter rates into the ingest queue like the poller's.
type flowSink struct {
	agg    *rollup.Aggregator
	in     *ingest
	engine *correlator.Engine
}

var _ flow.Sink = flowSink{}

func (s flowSink) HandleFlows(worker int, flows []watchfloor.Flow) {
	s.agg.Add(worker, flows)
	s.engine.HandleFlows(worker, flows)
}

func (s flowSink) PutSamples(x []watchfloor.Sample) {
	s.engine.HandleSamples(x)
	s.in.PutSamples(x)
}

// pollerSink passes what the poller learns to the correlator and the ingest queue, and each
// device's inventory (interface names and speeds) to the flow collector's enrichment.
type pollerSink struct {
	*ingest
	flows  *flow.Collector
	engine *correlator.Engine
	inv    *inventory
}

var _ snmp.Sink = pollerSink{}

func (s pollerSink) PutDevice(d watchfloor.Device) {
	if s.flows != nil {
		s.flows.UpdateDevice(d)
	}
	s.inv.put(d)
	s.ingest.PutDevice(d)
}

// The correlator reads the slices before the ingest queue takes them over.
func (s pollerSink) PutSamples(x []watchfloor.Sample) {
	s.engine.HandleSamples(x)
	s.ingest.PutSamples(x)
}

func (s pollerSink) PutEvents(x []watchfloor.Event) {
	s.engine.HandleEvents(x)
	s.ingest.PutEvents(x)
}

// eventSink is the trap receiver's: events to the correlator, then the ingest queue.
type eventSink struct {
	in     *ingest
	engine *correlator.Engine
}

func (s eventSink) PutEvents(x []watchfloor.Event) {
	s.engine.HandleEvents(x)
	s.in.PutEvents(x)
}

// mergeFlows is how the store adds two rollups of one interval: rollup.Merge, trimmed to the
// configured top N.
func mergeFlows(topN int) func(a, b watchfloor.FlowRollup) watchfloor.FlowRollup {
	return func(a, b watchfloor.FlowRollup) watchfloor.FlowRollup { return rollup.Merge(a, b, topN) }
}

// runFlows runs the flow collector until ctx is done, and the aggregator until aggCtx is
// done: the aggregator outlives the collector so that the last batches are in the final,
// flushed rollups. It returns when both have stopped.
func (a *Appliance) runFlows(ctx, aggCtx context.Context) (collectorDone, aggDone <-chan struct{}) {
	cd, ad := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(ad)
		if err := a.rollups.Run(aggCtx, a.ingest.PutFlowRollup); err != nil {
			a.log.Error("flow rollups stopped", "err", err)
		}
	}()
	go func() {
		defer close(cd)
		if err := a.flows.Run(ctx, flowSink{a.rollups, a.ingest, a.engine}); err != nil {
			a.log.Error("flow collector stopped", "err", err)
		}
	}()
	go func() {
		t := time.NewTicker(flowLiveEvery)
		defer t.Stop()
		for {
			select {
			case <-aggCtx.Done():
				return
			case now := <-t.C:
				if cur := a.rollups.Current(); !cur.Start.IsZero() {
					a.console.PublishFlowsLive(coverFrom(cur, a.flowsSince), now)
				}
			}
		}
	}()
	return cd, ad
}

// coverFrom trims a rollup's interval, for the wall only, so that it starts no earlier than
// since, the moment the flow collector started: the first minute after a start is partial,
// and its rates must be averaged over the part that was seen, not the whole minute. The
// store keeps the true interval.
func coverFrom(r watchfloor.FlowRollup, since time.Time) watchfloor.FlowRollup {
	if r.Start.Before(since) && since.Before(r.Start.Add(r.Step)) {
		r.Step -= since.Sub(r.Start)
		r.Start = since
	}
	return r
}

// wallPublisher is the console as the ingest queue publishes to it, with the first partial
// minute's rates averaged over what was seen of it.
type wallPublisher struct {
	*console.Console
	since *time.Time // set when Run starts, before any rollup
}

func (w wallPublisher) PublishFlows(r watchfloor.FlowRollup) {
	w.Console.PublishFlows(coverFrom(r, *w.since))
}
