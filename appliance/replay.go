package appliance

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/appliance/store"
	"github.com/watchfloor/watchfloor/collectors/flow"
	"github.com/watchfloor/watchfloor/collectors/flow/rollup"
	"github.com/watchfloor/watchfloor/collectors/packet"
)

// ReplayResult says what a replay read and what it wrote to the store.
type ReplayResult struct {
	Flows   flow.ReplayStats // the flow pass: export datagrams found and decoded
	Rollups int              // flow rollups written (minutes and hours)
	Samples int              // interface rate samples written (from sFlow counters)

	Packets      packet.ReplayStats // the packet pass: every frame, sampled and decoded
	Observations ObsSummary
}

// Replay passes that progress reports.
const (
	PassFlows   = "flows"
	PassPackets = "packets"
)

// Replay reads a capture (pcap or pcapng) twice, as the appliance would have seen it live,
// with the capture's timestamps as time. The flow pass takes the NetFlow/IPFIX/sFlow export
// datagrams in it through the flow collector's decoding, enrichment and rollups into the
// store in dataDir (devices already in the store name the exporters and their interfaces).
// The packet pass takes every frame through the packet collector, as from a mirror port, and
// summarises its observations. The store must not be open in a running watchfloor (bbolt
// locks it). progress, when not nil, gets the pass, the bytes read so far and the size.
func Replay(ctx context.Context, cfg Config, dataDir, capture string, log *slog.Logger, progress func(pass string, done, total int64)) (ReplayResult, error) {
	var res ReplayResult
	if progress == nil {
		progress = func(string, int64, int64) {}
	}
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
	stats, err := col.Replay(ctx, f, sink, func(done, total int64) { progress(PassFlows, done, total) })
	res.Flows = stats
	if err == nil {
		agg.Flush(sink.emit)
		err = sink.write()
	}
	if err == nil {
		err = sink.err
	}
	res.Rollups, res.Samples = sink.rollups, sink.samples
	if err != nil {
		return res, err
	}

	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return res, fmt.Errorf("replay: %w", err)
	}
	pc, err := packet.NewReplayer(cfg.Packets, cfg.Site, log, nil)
	if err != nil {
		return res, err
	}
	obs := &obsCounter{}
	res.Packets, err = pc.Replay(ctx, f, obs, func(done, total int64) { progress(PassPackets, done, total) })
	res.Observations = obs.summary()
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

// ObsSummary is what a replay's packet pass observed: observations by kind, and what stands
// out for an analyst until the correlator's rules say it better.
type ObsSummary struct {
	ByKind   map[watchfloor.ObsKind]int64
	HalfOpen []Count // destinations by their largest half-open count in one interval
	Entropic []Count // DNS names of high label entropy (≥ 3.5 bits a character), by parent domain ("*.t.example.net"), by queries
	SNI      []Count // TLS server names by ClientHellos
}

// Count is a key and how many (or how much) of it.
type Count struct {
	Key string
	N   int64
}

// obsTop bounds each list of an ObsSummary, and the keys counted for it.
const (
	obsTop     = 5
	obsMaxKeys = 100000
)

// obsCounter is the packet pass's sink: it counts, copying the few strings it keeps.
type obsCounter struct {
	byKind   map[watchfloor.ObsKind]int64
	halfOpen map[string]int64
	entropic map[string]int64
	sni      map[string]int64
}

func (c *obsCounter) HandleObservations(_ int, obs []watchfloor.Observation) {
	if c.byKind == nil {
		c.byKind, c.halfOpen, c.entropic, c.sni = map[watchfloor.ObsKind]int64{}, map[string]int64{}, map[string]int64{}, map[string]int64{}
	}
	for i := range obs {
		o := &obs[i]
		c.byKind[o.Kind]++
		switch {
		case o.Kind == watchfloor.ObsHalfOpen:
			// Workers summarise separately; their counts for one destination add up.
			k := o.DstAddr.String() + " @" + o.Time.UTC().Format("15:04:05")
			bounded(c.halfOpen, k, int64(o.HalfOpen))
		case o.Kind == watchfloor.ObsDNSQuery && o.DNSEntropy >= 3.5:
			// Grouped under the parent: a tunnel's or a DGA's names differ in the first label.
			name := o.Name
			if i := bytes.IndexByte(name, '.'); i >= 0 {
				name = name[i:]
			}
			bounded(c.entropic, "*"+string(name), 1)
		case o.Kind == watchfloor.ObsTLSClientHello && len(o.Name) > 0:
			bounded(c.sni, string(o.Name), 1)
		}
	}
}

// bounded adds n to m[k], unless k is new and m is full.
func bounded(m map[string]int64, k string, n int64) {
	if _, ok := m[k]; ok || len(m) < obsMaxKeys {
		m[k] += n
	}
}

func (c *obsCounter) summary() ObsSummary {
	return ObsSummary{ByKind: c.byKind, HalfOpen: top(c.halfOpen), Entropic: top(c.entropic), SNI: top(c.sni)}
}

// top is the obsTop largest counts of m, largest first, ties by key.
func top(m map[string]int64) []Count {
	keys := slices.SortedFunc(maps.Keys(m), func(a, b string) int {
		return cmp.Or(cmp.Compare(m[b], m[a]), cmp.Compare(a, b))
	})
	out := make([]Count, 0, min(len(keys), obsTop))
	for _, k := range keys[:min(len(keys), obsTop)] {
		out = append(out, Count{k, m[k]})
	}
	return out
}
