package flow

import (
	"context"
	"errors"
	"fmt"
	"github.com/watchfloor/watchfloor/internal/ratelog"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/collectors/flow/decoder"
)

// ErrDisabled is returned by New when the configuration has no listen address.
var ErrDisabled = errors.New("flow: collector disabled (no netflow or sflow listen address)")

// Sink receives decoded, enriched batches.
type Sink interface {
	// HandleFlows is called synchronously from receive goroutine worker (0 ≤ worker <
	// Collector.Workers()), never concurrently for one worker. It must not block for long
	// (the socket fills meanwhile) and must not retain flows after it returns.
	HandleFlows(worker int, flows []watchfloor.Flow)
	// PutSamples takes interface rates computed from sFlow counter samples; ownership of
	// the slice passes to the sink.
	PutSamples([]watchfloor.Sample)
}

const (
	batchSize = 64   // datagrams per recvmmsg
	msgSize   = 9216 // bytes per datagram buffer: jumbo frames; larger datagrams are counted and dropped

	housekeepEvery = 2 * time.Second
	expireEvery    = 10 * time.Second
)

// Collector receives flow exports on UDP sockets, decodes and enriches them, and hands them to
// a Sink. A Collector made by NewReplayer has no sockets and only replays captures.
type Collector struct {
	cfg  Config
	site string
	log  *slog.Logger
	rlog *ratelog.Log

	m         *metrics
	dm        *decoder.Metrics
	dcfg      decoder.Config
	templates *decoder.Templates
	enr       *enricher
	rates     *counterRates
	drops     *dropTracker

	socks          []*socket
	netflow, sflow []net.Addr
	ports          map[uint16]int // listening port → protocol, for Replay

	running   atomic.Bool
	replaying atomic.Bool
	close     sync.Once
}

// New builds a collector and binds its sockets, so that Addrs is known and a busy port fails
// here, before Run. It returns ErrDisabled when cfg has no listen address.
func New(cfg Config, site string, log *slog.Logger, reg prometheus.Registerer) (*Collector, error) {
	if len(cfg.NetFlow) == 0 && len(cfg.SFlow) == 0 {
		return nil, ErrDisabled
	}
	c, err := newCollector(cfg, site, log, reg)
	if err != nil {
		return nil, err
	}
	granted := 0
	for _, l := range []struct {
		proto int
		addrs []string
		out   *[]net.Addr
	}{{protoNetFlow, cfg.NetFlow, &c.netflow}, {protoSFlow, cfg.SFlow, &c.sflow}} {
		for _, a := range l.addrs {
			socks, err := listen(a, cfg.Sockets, cfg.ReceiveBuffer, l.proto)
			if err != nil {
				_ = c.Close()
				return nil, err
			}
			c.socks = append(c.socks, socks...)
			c.drops.socks, c.drops.open = c.socks, true
			la := socks[0].conn.LocalAddr()
			*l.out = append(*l.out, la)
			c.ports[uint16(la.(*net.UDPAddr).Port)] = l.proto
			for _, s := range socks {
				if granted == 0 || s.rcvbuf < granted {
					granted = s.rcvbuf
				}
			}
		}
	}
	c.m.rcvbuf.Set(float64(granted))
	if cfg.ReceiveBuffer > 0 && granted < cfg.ReceiveBuffer {
		c.log.Warn("the kernel granted a smaller receive buffer than configured: bursts may be dropped; run as root (CAP_NET_ADMIN) or raise net.core.rmem_max",
			"requested", cfg.ReceiveBuffer, "granted", granted)
	}
	c.log.Info("listening", "netflow", addrStrings(c.netflow), "sflow", addrStrings(c.sflow),
		"sockets_per_address", cfg.Sockets, "receive_buffer", granted)
	return c, nil
}

// NewReplayer builds a collector without sockets, for Replay only (the `watchfloor replay`
// command): the same decoding and enrichment as New, listen addresses optional (their
// ports, when given, tell NetFlow from sFlow in a capture). Run on it returns an error.
func NewReplayer(cfg Config, site string, log *slog.Logger, reg prometheus.Registerer) (*Collector, error) {
	c, err := newCollector(cfg, site, log, reg)
	if err != nil {
		return nil, err
	}
	for _, l := range []struct {
		proto int
		addrs []string
	}{{protoNetFlow, cfg.NetFlow}, {protoSFlow, cfg.SFlow}} {
		for _, a := range l.addrs {
			if ap, err := netip.ParseAddrPort(a); err == nil && ap.Port() != 0 {
				c.ports[ap.Port()] = l.proto
			} else if _, p, err := net.SplitHostPort(a); err == nil {
				if ap, err := netip.ParseAddrPort("0.0.0.0:" + p); err == nil && ap.Port() != 0 {
					c.ports[ap.Port()] = l.proto
				}
			}
		}
	}
	return c, nil
}

func newCollector(cfg Config, site string, log *slog.Logger, reg prometheus.Registerer) (*Collector, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		all := make([]error, len(errs))
		for i, e := range errs {
			all[i] = e
		}
		return nil, fmt.Errorf("flow: invalid configuration: %w", errors.Join(all...))
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "flow")
	c := &Collector{
		cfg:   cfg,
		site:  site,
		log:   log,
		rlog:  ratelog.New(log, numReasons),
		enr:   newEnricher(cfg, site),
		rates: newCounterRates(),
		drops: &dropTracker{procFS: "/proc/net"},
		ports: map[uint16]int{},
	}
	c.m = newMetrics(c.drops.drops)
	c.dm = decoder.NewMetrics(nil)
	if err := c.m.register(reg, c.dm.Collectors()...); err != nil {
		return nil, err
	}
	c.dcfg = decoder.DefaultConfig()
	c.dcfg.TemplateTTL = cfg.TemplateTTL
	c.dcfg.SamplingRate = c.enr.samplingRate
	c.templates = decoder.NewTemplates(c.dcfg, c.dm)
	return c, nil
}

func addrStrings(as []net.Addr) []string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return s
}

// Addrs returns the bound addresses: one per configured listen address (with the port the
// kernel picked for port 0).
func (c *Collector) Addrs() (netflow, sflow []net.Addr) { return c.netflow, c.sflow }

// Workers is the number of receive goroutines, the bound of HandleFlows' worker argument
// (1 for a replayer).
func (c *Collector) Workers() int { return max(len(c.socks), 1) }

// UpdateDevice takes a device from the SNMP inventory: its name, its address (whose host part
// is matched to exporter addresses) and its interfaces' names and speeds. The lookup tables
// are rebuilt only when one of those changed. Safe concurrently with Run.
func (c *Collector) UpdateDevice(d watchfloor.Device) {
	if c.enr.update(d) {
		c.log.Debug("enrichment updated", "device", d.Name)
	}
}

// Close closes the sockets of a collector that never ran; Run closes them itself.
func (c *Collector) Close() error {
	var err error
	c.close.Do(func() { err = c.drops.closeAll() })
	return err
}

// Run receives until ctx is done, then closes the sockets and returns nil once every
// goroutine it started has ended. Each socket is read by one goroutine, worker i of the
// Sink. Run expires templates and reads the kernel's drop counters in the background.
func (c *Collector) Run(ctx context.Context, sink Sink) error {
	if len(c.socks) == 0 {
		return errors.New("flow: Run on a collector without sockets (made by NewReplayer, or closed)")
	}
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("flow: Run called twice")
	}
	if c.replaying.Load() {
		return errors.New("flow: Run while Replay is running")
	}
	var wg sync.WaitGroup
	for i, s := range c.socks {
		w := c.newWorker(i)
		wg.Go(func() { w.receive(s, sink) })
	}
	tick := time.NewTicker(housekeepEvery)
	defer tick.Stop()
	lastExpire := time.Now()
	for {
		select {
		case <-ctx.Done():
			err := c.Close() // takes a last drop reading, then unblocks the readers
			wg.Wait()
			c.templates.Expire(time.Now())
			if err != nil {
				c.log.Warn("closing sockets", "err", err)
			}
			return nil
		case now := <-tick.C:
			if err := c.drops.refresh(); err != nil {
				c.rlog.Warn(reasonRead, "reading socket drop counters", "err", err)
			}
			if now.Sub(lastExpire) >= expireEvery {
				lastExpire = now
				c.housekeep(now)
			}
		}
	}
}

// housekeep expires templates and forgotten interfaces' counter readings.
func (c *Collector) housekeep(now time.Time) {
	if n := c.templates.Expire(now); n > 0 {
		c.log.Debug("templates expired", "n", n)
	}
	c.m.rateEntries.Set(float64(c.rates.expire(now)))
}

// worker is the decode and enrich state of one socket (or of Replay): one decoder, and the
// output being decoded into; outputs are reused for every batch.
type worker struct {
	id  int
	c   *Collector
	dec *decoder.Decoder
	out *decoder.Output
}

func (c *Collector) newWorker(id int) *worker {
	return &worker{id: id, c: c, dec: decoder.New(c.templates, c.dcfg, c.dm), out: new(decoder.Output)}
}

// inFlight is how many decoded batches of one socket may wait for its sink stage.
const inFlight = 4

// decode decodes one datagram into w.out, logging (rate-limited) what fails; decode errors
// are counted by the decoder's metrics.
func (w *worker) decode(proto int, dg decoder.Datagram) error {
	var err error
	if proto == protoSFlow {
		err = w.dec.DecodeSFlow(dg, w.out)
	} else {
		err = w.dec.DecodeNetFlow(dg, w.out)
	}
	if err != nil {
		reason := reasonDecodeNetFlow
		if proto == protoSFlow {
			reason = reasonDecodeSFlow
		}
		w.c.rlog.Warn(reason, "decoding a datagram", "protocol", protoNames[proto], "exporter", dg.Exporter, "err", err)
	}
	return err
}

// deliver enriches a decoded batch, hands it to the sink and resets it.
func (w *worker) deliver(out *decoder.Output, sink Sink) {
	if len(out.Flows) > 0 {
		if unknown := w.c.enr.enrich(out.Flows); unknown > 0 {
			w.c.m.unknown.Add(float64(unknown))
		}
		sink.HandleFlows(w.id, out.Flows)
	}
	if len(out.Counters) > 0 {
		samples := w.c.rates.samples(nil, out.Counters, w.c.enr.device, w.countRate)
		if len(samples) > 0 {
			sink.PutSamples(samples)
		}
	}
	out.Reset()
}

func (w *worker) countRate(r rateResult) { w.c.m.rateResults[r].Inc() }

// receive reads batches from s until it is closed, in two stages on two goroutines: this one
// reads and decodes, a second one enriches each decoded batch and hands it to the sink (the
// rollups, later the rules). The stages overlap, so one exporter's datagrams are worked on
// by two cores, and still in order: batches pass through a queue of inFlight outputs. When
// the sink stage is behind, this one waits for a free output, the socket's buffer absorbs
// the burst, and beyond it the kernel drops datagrams and counts them (socket drops).
func (w *worker) receive(s *socket, sink Sink) {
	full := make(chan *decoder.Output, inFlight)
	free := make(chan *decoder.Output, inFlight)
	for range inFlight {
		free <- new(decoder.Output)
	}
	delivered := make(chan struct{})
	go func() {
		defer close(delivered)
		for out := range full {
			w.deliver(out, sink)
			free <- out
		}
	}()
	defer func() {
		close(full)
		<-delivered
	}()

	msgs := make([]ipv4.Message, batchSize)
	buf := make([]byte, batchSize*msgSize)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{buf[i*msgSize : (i+1)*msgSize : (i+1)*msgSize]}
	}
	m := w.c.m
	for {
		n, err := s.reader.ReadBatch(msgs, 0)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			m.readErrors.Inc()
			w.c.rlog.Warn(reasonRead, "reading datagrams", "err", err)
			continue
		}
		now := time.Now()
		w.out = <-free
		var bytes, truncated int
		for i := range msgs[:n] {
			msg := &msgs[i]
			bytes += msg.N
			if msg.Flags&unix.MSG_TRUNC != 0 {
				truncated++
				w.c.rlog.Warn(reasonTruncated, "datagram larger than the receive buffer dropped", "from", msg.Addr, "buffer", msgSize)
				continue
			}
			ua, ok := msg.Addr.(*net.UDPAddr)
			if !ok {
				continue
			}
			ip, _ := netip.AddrFromSlice(ua.IP)
			dg := decoder.Datagram{
				Exporter: netip.AddrPortFrom(ip.Unmap(), uint16(ua.Port)),
				Received: now,
				Payload:  msg.Buffers[0][:msg.N],
			}
			_ = w.decode(s.proto, dg)
		}
		full <- w.out
		m.datagrams[s.proto].Add(float64(n))
		m.bytes[s.proto].Add(float64(bytes))
		if truncated > 0 {
			m.truncated[s.proto].Add(float64(truncated))
		}
	}
}
