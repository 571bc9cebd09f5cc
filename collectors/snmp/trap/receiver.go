// Package trap receives SNMP notifications — v1 traps, v2c traps and informs, v3 traps and
// informs — on a UDP socket, and turns each into a watchfloor.Event for the sink.
//
// One goroutine reads the socket and queues datagrams (a full queue drops and counts, so the
// socket is never blocked by decoding); another decodes them with gosnmp, checks community or
// USM user, answers informs, and hands events to the sink in batches. Nothing a sender puts in
// a datagram can make the receiver panic, allocate without bound or stall: datagrams are
// capped, attributes are capped, and a panic in the decoder drops that datagram only.
package trap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/watchfloor/watchfloor"
)

// Sink receives the events of traps and informs. PutEvents must not block; the slice is the
// sink's to keep.
type Sink interface {
	PutEvents([]watchfloor.Event)
}

const (
	maxDatagram = 16 << 10 // larger datagrams are dropped (reason decode); real traps are < 1.5 KiB
	queueLen    = 256      // datagrams waiting for the decoder: at most 4 MiB
	maxBatch    = 64       // events per PutEvents call
	readBuffer  = 1 << 20  // SO_RCVBUF asked for, to ride out bursts
	logEvery    = 10 * time.Second
)

// ErrDisabled is returned by New when the configuration has no listen address.
var ErrDisabled = errors.New("trap: receiver disabled (no listen address)")

// Receiver is the SNMP trap and inform receiver.
type Receiver struct {
	log     *slog.Logger
	metrics *metrics
	conn    *net.UDPConn
	dec     *decoder
	logs    *limiter
	running atomic.Bool
	close   sync.Once
}

// New validates the configuration and binds the socket, so that Addr is known before Run.
// lookup maps a sender address to a configured device name ("" when unknown); it may be nil.
// reg may be nil.
func New(cfg Config, site string, lookup func(netip.Addr) string, log *slog.Logger, reg prometheus.Registerer) (*Receiver, error) {
	if cfg.Listen == "" {
		return nil, ErrDisabled
	}
	if errs := cfg.Validate(); len(errs) > 0 {
		all := make([]error, len(errs))
		for i, e := range errs {
			all[i] = e
		}
		return nil, fmt.Errorf("trap: invalid configuration: %w", errors.Join(all...))
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "trap")
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("trap: registering metrics: %w", err)
	}
	eng, err := newEngine(cfg, site, time.Now())
	if err != nil {
		return nil, fmt.Errorf("trap: %w", err)
	}
	dec, err := newDecoder(cfg, site, lookup, eng)
	if err != nil {
		return nil, fmt.Errorf("trap: %w", err)
	}
	addr, err := net.ResolveUDPAddr("udp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("trap: resolving %q: %w", cfg.Listen, err)
	}
	conn, err := net.ListenUDP("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("trap: listening: %w", err)
	}
	if err := conn.SetReadBuffer(readBuffer); err != nil {
		log.Warn("cannot enlarge the socket receive buffer", "err", err)
	}
	log.Info("listening for SNMP traps and informs", "addr", conn.LocalAddr().String(),
		"communities", len(cfg.Communities), "users", len(cfg.Users), "engine_id", fmt.Sprintf("%x", eng.id))
	return &Receiver{log: log, metrics: m, conn: conn, dec: dec, logs: newLimiter(logEvery)}, nil
}

// Addr is the address the receiver listens on.
func (r *Receiver) Addr() net.Addr { return r.conn.LocalAddr() }

// Close closes the socket of a receiver that will not Run (Run closes it itself).
func (r *Receiver) Close() error {
	var err error
	r.close.Do(func() { err = r.conn.Close() })
	return err
}

type datagram struct {
	b    []byte
	from netip.AddrPort
	at   time.Time
}

// Run receives until ctx is done, then closes the socket and returns nil. Events go to sink.
// A Receiver runs once.
func (r *Receiver) Run(ctx context.Context, sink Sink) error {
	if !r.running.CompareAndSwap(false, true) {
		return errors.New("trap: Run called twice")
	}
	queue := make(chan datagram, queueLen)
	var wg sync.WaitGroup
	wg.Go(func() { r.read(queue) })
	defer func() {
		_ = r.Close()
		wg.Wait()
	}()

	batch := make([]watchfloor.Event, 0, maxBatch)
	for {
		select {
		case <-ctx.Done():
			return nil
		case dg := <-queue:
			batch = r.handle(dg, batch)
		}
		// Take what else is waiting, up to a batch, then hand it over.
	more:
		for len(batch) < maxBatch {
			select {
			case dg := <-queue:
				batch = r.handle(dg, batch)
			default:
				break more
			}
		}
		if len(batch) > 0 {
			sink.PutEvents(batch)
			batch = make([]watchfloor.Event, 0, maxBatch)
		}
	}
}

// read copies datagrams off the socket into the queue until the socket is closed.
func (r *Receiver) read(queue chan<- datagram) {
	buf := make([]byte, maxDatagram+1)
	for {
		n, from, err := r.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if ok, n := r.logs.allow("read"); ok {
				r.log.Warn("reading the socket", "err", err, "suppressed", n)
			}
			time.Sleep(10 * time.Millisecond) // a persistent error must not spin
			continue
		}
		at := time.Now()
		if n > maxDatagram {
			r.drop(from, dropDecode, fmt.Errorf("datagram larger than %d octets", maxDatagram))
			continue
		}
		select {
		case queue <- datagram{b: append([]byte(nil), buf[:n]...), from: from, at: at}:
		default:
			r.drop(from, dropFull, errors.New("receive queue full"))
		}
	}
}

// handle decodes one datagram, answers it if needed, and appends its event to batch.
func (r *Receiver) handle(dg datagram, batch []watchfloor.Event) []watchfloor.Event {
	out := r.decode(dg)
	if out.reply != nil {
		if _, err := r.conn.WriteToUDPAddrPort(out.reply, dg.from); err != nil {
			if ok, n := r.logs.allow("write"); ok {
				r.log.Warn("answering", "sender", dg.from.String(), "err", err, "suppressed", n)
			}
		} else if out.inform {
			r.metrics.informs.Inc()
		} else if out.report != "" {
			r.metrics.reports.WithLabelValues(out.report).Inc()
		}
	}
	if out.drop != "" {
		r.drop(dg.from, out.drop, out.err)
		return batch
	}
	if out.event == nil {
		return batch // answered engine discovery: nothing to tell
	}
	r.metrics.received.WithLabelValues(out.version).Inc()
	return append(batch, *out.event)
}

// decode runs the decoder, turning a panic into a dropped datagram.
func (r *Receiver) decode(dg datagram) (out outcome) {
	defer func() {
		if p := recover(); p != nil {
			r.metrics.panics.Inc()
			// Not the datagram itself: a v1/v2c one carries a community.
			r.log.Error("decoding a datagram panicked; dropped", "sender", dg.from.String(),
				"octets", len(dg.b), "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			out = dropped(dropDecode, fmt.Errorf("panic: %v", p))
		}
	}()
	return r.dec.decode(dg.b, dg.from, dg.at)
}

// drop counts a dropped datagram and logs it, at most once per reason every logEvery.
func (r *Receiver) drop(from netip.AddrPort, reason string, err error) {
	r.metrics.dropped.WithLabelValues(reason).Inc()
	if ok, n := r.logs.allow(reason); ok {
		msg := ""
		if err != nil {
			msg = clip(err.Error(), 300)
		}
		r.log.Warn("dropped a datagram", "reason", reason, "sender", from.String(), "err", msg,
			"suppressed_since_last", n)
	}
}

// limiter lets one log line per key through every interval, and counts the others.
type limiter struct {
	mu         sync.Mutex
	every      time.Duration
	last       map[string]time.Time
	suppressed map[string]int
}

func newLimiter(every time.Duration) *limiter {
	return &limiter{every: every, last: map[string]time.Time{}, suppressed: map[string]int{}}
}

// allow reports whether a line for key may be logged now, and how many were held back since
// the last one. Keys are a fixed set (reasons), so the maps stay small.
func (l *limiter) allow(key string) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if last, ok := l.last[key]; ok && now.Sub(last) < l.every {
		l.suppressed[key]++
		return false, 0
	}
	n := l.suppressed[key]
	l.last[key], l.suppressed[key] = now, 0
	return true, n
}
