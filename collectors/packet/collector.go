package packet

import (
	"context"
	"errors"
	"fmt"
	"github.com/watchfloor/watchfloor/internal/ratelog"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/bpf"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/collectors/packet/decode"
)

// ErrDisabled is returned by New when the configuration has no interface to capture on.
var ErrDisabled = errors.New("packet: collector disabled (no capture interface)")

// Sink receives observations.
type Sink interface {
	// HandleObservations is called synchronously from worker (0 ≤ worker <
	// Collector.Workers()), never concurrently for one worker. It must not block for long
	// (the capture ring fills meanwhile, and the kernel drops what does not fit) and must not
	// retain obs after it returns: Name and Extra are views into the decoder's buffers (copy
	// them with string(o.Name) to keep them).
	HandleObservations(worker int, obs []watchfloor.Observation)
}

// Source is a stream of frames of one link type, for RunSource: the lab's generated frames,
// or anything shaped like gopacket.ZeroCopyPacketDataSource. data is valid until the next
// read. io.EOF ends the stream; an error with a Timeout() method that returns true means
// "nothing now" and lets the collector emit its interval summaries by the wall clock.
type Source interface {
	ZeroCopyReadPacketData() (data []byte, ci gopacket.CaptureInfo, err error)
	LinkType() layers.LinkType
}

const (
	tickPackets = 64                     // packets decoded between two Ticks (and deliveries to the sink)
	tickAge     = 100 * time.Millisecond // packet time between two Ticks when packets trickle
	statsEvery  = time.Second            // reading the rings' kernel statistics
)

// Collector captures packets from AF_PACKET rings (New), capture files (Replay) or sources
// (RunSource), samples them, decodes them, and hands the observations to a Sink.
type Collector struct {
	cfg  Config
	site string
	log  *slog.Logger
	rlog *ratelog.Log

	cnt  counters
	dm   *decode.Metrics
	live []bpf.RawInstruction // the live filter, attached once the ring is drained

	rings []*ring

	running, busy atomic.Bool
	closed        sync.Once
}

// New builds a live collector: it opens one TPACKET_V3 ring per worker on every configured
// interface, so that a missing interface, a missing privilege (CAP_NET_RAW) or a ring the
// kernel will not allocate fails here, before Run. It returns ErrDisabled when cfg has no
// interface. The rings drop everything until Run attaches the filter.
func New(cfg Config, site string, log *slog.Logger, reg prometheus.Registerer) (*Collector, error) {
	if len(cfg.Interfaces) == 0 {
		return nil, ErrDisabled
	}
	c, err := newCollector(cfg, site, log, reg)
	if err != nil {
		return nil, err
	}
	link, _ := filterLink(layers.LinkTypeEthernet, true)
	prog, err := compileFilter(cfg.Filter, link, uint32(cfg.SnapLen))
	if err != nil {
		return nil, fmt.Errorf("packet: filter: %w", err)
	}
	if c.live, err = bpf.Assemble(prog); err != nil {
		return nil, fmt.Errorf("packet: filter: %w", err)
	}
	for _, iface := range cfg.Interfaces {
		rs, err := openRings(iface, cfg)
		if err != nil {
			c.Close()
			return nil, err
		}
		c.rings = append(c.rings, rs...)
	}
	c.log.Info("capturing", "interfaces", cfg.Interfaces, "workers_per_interface", cfg.Workers,
		"filter", cfg.Filter, "sample_rate", cfg.SampleRate, "snap_len", cfg.SnapLen,
		"ring_bytes", cfg.BlockSize*cfg.NumBlocks)
	return c, nil
}

// NewReplayer builds a collector without rings, for Replay and RunSource: no privileges
// needed. Interfaces are ignored. Run on it returns an error.
func NewReplayer(cfg Config, site string, log *slog.Logger, reg prometheus.Registerer) (*Collector, error) {
	return newCollector(cfg, site, log, reg)
}

func newCollector(cfg Config, site string, log *slog.Logger, reg prometheus.Registerer) (*Collector, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		all := make([]error, len(errs))
		for i, e := range errs {
			all[i] = e
		}
		return nil, fmt.Errorf("packet: invalid configuration: %w", errors.Join(all...))
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "packet")
	c := &Collector{cfg: cfg, site: site, log: log, rlog: ratelog.New(log, numReasons)}
	c.dm = decode.NewMetrics(nil)
	if err := register(reg, append(newMetrics(&c.cnt), c.dm.Collectors()...)...); err != nil {
		return nil, err
	}
	return c, nil
}

// Workers is the number of capture goroutines, the bound of HandleObservations' worker
// argument: interfaces × workers for a live collector, 1 for a replayer.
func (c *Collector) Workers() int { return max(len(c.rings), 1) }

// Stats returns the running totals. Kernel drops are read from the rings every second.
func (c *Collector) Stats() Stats { return c.cnt.stats() }

// Close closes the rings of a collector that never ran; Run closes them itself.
func (c *Collector) Close() {
	c.closed.Do(func() {
		for _, r := range c.rings {
			r.tp.Close()
		}
	})
}

// Run captures until ctx is done, then closes the rings and returns once every goroutine it
// started has ended. Each ring is read by one goroutine, worker i of the Sink; interval
// summaries are emitted by packet time, and by the wall clock when a ring is idle. Run
// returns an error only when a ring cannot take the filter.
func (c *Collector) Run(ctx context.Context, sink Sink) error {
	if len(c.rings) == 0 {
		return errors.New("packet: Run on a collector without capture rings (made by NewReplayer)")
	}
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("packet: Run called twice")
	}
	if !c.busy.CompareAndSwap(false, true) {
		return errors.New("packet: Run while Replay or RunSource is running")
	}
	defer c.busy.Store(false)
	defer c.Close()

	var (
		stop   atomic.Bool
		wg     sync.WaitGroup
		failMu sync.Mutex
		fail   error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for i, r := range c.rings {
		w := c.newWorker(i, r.iface, sink)
		wg.Go(func() {
			if err := c.capture(r, w, &stop); err != nil {
				failMu.Lock()
				fail = errors.Join(fail, err)
				failMu.Unlock()
				cancel()
			}
		})
	}
	tick := time.NewTicker(statsEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			stop.Store(true)
			wg.Wait()
			c.readStats()
			return fail
		case <-tick.C:
			c.readStats()
		}
	}
}

// worker is the sampling and decoding state of one ring (or of Replay, RunSource): one
// decoder and its output, reused for every batch, and the counts of the batch.
type worker struct {
	id     int
	c      *Collector
	dec    *decode.Decoder
	out    decode.Output
	sink   Sink
	source string
	rate   uint32

	// running totals of this worker, and how much of them is already in Collector.cnt
	seen, sampled, decoded, errs, filtered uint64
	added                                  [5]uint64

	n        int       // packets since the last Tick
	lastTick time.Time // packet time of the last Tick
	vlan     []byte    // a frame with its VLAN tag put back (live capture)
}

func (c *Collector) newWorker(id int, source string, sink Sink) *worker {
	return &worker{id: id, c: c, dec: decode.New(c.cfg.Decode, c.dm), sink: sink, source: source,
		rate: c.cfg.SampleRate, vlan: make([]byte, c.cfg.SnapLen+4)}
}

// packet samples and decodes one frame; data is needed only during the call.
func (w *worker) packet(lt layers.LinkType, data []byte, wireLen int, ts time.Time) {
	w.seen++
	if !keep(lt, data, w.rate) {
		return
	}
	w.sampled++
	if err := w.dec.Packet(lt, data, wireLen, ts, w.rate, &w.out); err != nil {
		w.errs++
		if ok, suppressed := w.c.rlog.Allow(reasonDecode, ts); ok {
			w.c.log.Debug("decoding a packet", "source", w.source, "err", err, "suppressed", suppressed)
		}
	} else {
		w.decoded++
	}
	if w.n++; w.n >= tickPackets || ts.Sub(w.lastTick) >= tickAge || ts.Before(w.lastTick) {
		w.tick(ts)
	}
}

// tick has the decoder emit what is due at now and hands the batch to the sink.
func (w *worker) tick(now time.Time) {
	w.dec.Tick(now, &w.out)
	w.deliver()
	w.lastTick, w.n = now, 0
}

// deliver hands the decoded observations to the sink, resets the output and adds the
// batch's counts to the totals.
func (w *worker) deliver() {
	if obs := w.out.Obs; len(obs) > 0 {
		for i := range obs {
			obs[i].Site, obs[i].Source = w.c.site, w.source
		}
		w.sink.HandleObservations(w.id, obs)
		w.c.cnt.obs.Add(uint64(len(obs)))
	}
	w.out.Reset()
	cnt := &w.c.cnt
	for i, x := range [5]uint64{w.seen, w.sampled, w.decoded, w.errs, w.filtered} {
		if d := x - w.added[i]; d > 0 {
			[5]*atomic.Uint64{&cnt.seen, &cnt.sampled, &cnt.decoded, &cnt.errors, &cnt.filtered}[i].Add(d)
			w.added[i] = x
		}
	}
}

// flush emits everything the decoder holds (the end of a file or a source).
func (w *worker) flush(now time.Time) {
	w.dec.Flush(now, &w.out)
	w.deliver()
}

// withVLAN puts a tag the kernel moved to the packet's metadata back into an Ethernet
// frame (in the worker's buffer, not allocated), so that the decoder sees the VLAN.
func (w *worker) withVLAN(data []byte, vlan int) []byte {
	if len(data) < 12 {
		return data
	}
	if need := len(data) + 4; need > len(w.vlan) {
		w.vlan = make([]byte, need)
	}
	b := w.vlan[:len(data)+4]
	copy(b, data[:12])
	b[12], b[13], b[14], b[15] = 0x81, 0x00, byte(vlan>>8)&0x0f, byte(vlan)
	copy(b[16:], data[12:])
	return b
}
