package appliance

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/appliance/store"
	"github.com/watchfloor/watchfloor/collectors/flow"
	"github.com/watchfloor/watchfloor/collectors/flow/rollup"
)

// ReplayResult says what a replay read and what it wrote to the store.
type ReplayResult struct {
	flow.ReplayStats
	Rollups int // flow rollups written (minutes and hours)
	Samples int // interface rate samples written (from sFlow counters)
}

// Replay reads a capture (pcap or pcapng) of flow export datagrams into the store in
// dataDir, through the same decoding, enrichment and rollups as the live collector, with the
// capture's timestamps as time: the rollups are those the appliance would have made had it
// received the datagrams then. Devices already in the store name the exporters and their
// interfaces. The store must not be open in a running watchfloor (bbolt locks it).
// progress, when not nil, gets the bytes read so far and the capture's size.
func Replay(ctx context.Context, cfg Config, dataDir, capture string, log *slog.Logger, progress func(done, total int64)) (ReplayResult, error) {
	var res ReplayResult
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f, err := os.Open(capture)
	if err != nil {
		return res, fmt.Errorf("replay: %w", err)
	}
	defer f.Close()
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return res, fmt.Errorf("replay: data dir: %w", err)
	}
	cfg.Store.MergeFlows = mergeFlows(cfg.Flow.Rollups.TopN)
	st, err := store.Open(filepath.Join(dataDir, DBFile), cfg.Store, log, nil)
	if err != nil {
		return res, err
	}
	defer st.Close()
	col, err := flow.NewReplayer(cfg.Flow.Config, cfg.Site, log, nil)
	if err != nil {
		return res, err
	}
	devices, err := st.Devices()
	if err != nil {
		return res, err
	}
	for _, d := range devices {
		col.UpdateDevice(d)
	}
	agg, err := rollup.New(cfg.Flow.Rollups, cfg.Site, 1, nil)
	if err != nil {
		return res, err
	}
	sink := &replaySink{ctx: ctx, agg: agg, st: st}
	stats, err := col.Replay(ctx, f, sink, progress)
	res.ReplayStats = stats
	if err == nil {
		agg.Flush(sink.emit)
		err = sink.write()
	}
	if err == nil {
		err = sink.err
	}
	res.Rollups, res.Samples = sink.rollups, sink.samples
	return res, err
}

// replaySink feeds the aggregator, advancing its clock with the capture's, and writes what
// closes (and the sFlow counter rates) to the store in batches.
type replaySink struct {
	ctx     context.Context
	agg     *rollup.Aggregator
	st      *store.Store
	batch   store.Batch
	err     error
	rollups int
	samples int
}

func (s *replaySink) HandleFlows(worker int, flows []watchfloor.Flow) {
	if len(flows) == 0 {
		return
	}
	s.agg.Add(worker, flows)
	s.agg.AdvanceTo(flows[len(flows)-1].Received, s.emit)
	if len(s.batch.FlowRollups) > 0 || len(s.batch.Samples) >= 4096 {
		s.err = s.write()
	}
}

func (s *replaySink) PutSamples(x []watchfloor.Sample) {
	s.batch.Samples = append(s.batch.Samples, x...)
}

func (s *replaySink) emit(r watchfloor.FlowRollup) {
	s.batch.FlowRollups = append(s.batch.FlowRollups, r)
}

func (s *replaySink) write() error {
	if s.err != nil || s.batch.Len() == 0 {
		return s.err
	}
	if err := s.st.Write(s.ctx, &s.batch); err != nil {
		return fmt.Errorf("replay: store: %w", err)
	}
	s.rollups += len(s.batch.FlowRollups)
	s.samples += len(s.batch.Samples)
	s.batch = store.Batch{}
	return nil
}
