package snmp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/bits"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gosnmp/gosnmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/watchfloor/watchfloor"
)

// Sink receives what the poller reads. Its methods must not block; they are called from the
// poll workers.
type Sink interface {
	PutDevice(watchfloor.Device)    // full state after every poll (answered or not)
	PutSamples([]watchfloor.Sample) // ownership passes to the sink
	PutEvents([]watchfloor.Event)   // ownership passes to the sink
}

// Poller polls a site's devices every Interval.
type Poller struct {
	cfg     Config
	log     *slog.Logger
	m       *metrics
	devices []*device
	now     func() time.Time
}

// device is one target with its session and state. mu makes sure only one poll of the
// device runs at a time: the gosnmp session is not safe for concurrent use.
type device struct {
	mu      sync.Mutex
	target  Target
	host    string
	port    uint16
	sess    *gosnmp.GoSNMP // kept between polls (v3 engine discovery), rebuilt after a failure
	reps    uint32         // max-repetitions that works for this device
	walk    walker
	rd      reading
	tr      *tracker
	failing bool   // the last poll failed: log only the transition
	short   uint64 // columns whose walk ended early last time: log only changes
}

// New builds a poller. It checks the configuration; reg may be nil.
func New(cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Poller, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		msgs := make([]string, len(errs))
		for i, e := range errs {
			msgs[i] = e.Error()
		}
		return nil, fmt.Errorf("snmp: invalid config: %s", strings.Join(msgs, "; "))
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	p := &Poller{cfg: cfg, log: log.With("component", "snmp"), m: m, now: time.Now}
	for _, t := range cfg.Targets {
		host, port, _ := splitAddress(t.Address)
		t.Address = normalAddress(t.Address)
		p.devices = append(p.devices, &device{
			target: t, host: host, port: port, reps: cfg.MaxRepetitions,
			tr: newTracker(t, cfg.Site, cfg.DownAfter),
		})
	}
	return p, nil
}

// Run polls every Interval, the first cycle at once, until ctx is done; then it closes the
// sessions and returns nil. A cycle that overruns the interval delays the next one; ticks are
// not queued.
func (p *Poller) Run(ctx context.Context, sink Sink) error {
	tick := time.NewTicker(p.cfg.Interval)
	defer tick.Stop()
	defer p.close()
	for {
		p.PollAll(ctx, sink)
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// PollAll polls every device once, Workers at a time, and returns when all are done. A
// device whose previous poll is still running (PollAll called concurrently) is skipped.
func (p *Poller) PollAll(ctx context.Context, sink Sink) {
	start := time.Now()
	workers := min(p.cfg.Workers, len(p.devices))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(p.devices) || ctx.Err() != nil {
					return
				}
				p.poll(ctx, p.devices[i], sink)
			}
		})
	}
	wg.Wait()
	p.m.cycle.Set(time.Since(start).Seconds())
}

// close ends every session.
func (p *Poller) close() {
	for _, d := range p.devices {
		d.mu.Lock()
		d.closeSession()
		d.mu.Unlock()
	}
}

func (d *device) closeSession() {
	if d.sess != nil {
		_ = d.sess.Close()
		d.sess = nil
	}
}

// poll polls one device and hands the outcome to the sink.
func (p *Poller) poll(ctx context.Context, d *device, sink Sink) {
	if !d.mu.TryLock() {
		p.log.Debug("previous poll still running, skipped", "device", d.target.Name)
		return
	}
	defer d.mu.Unlock()
	if ctx.Err() != nil {
		return
	}
	at := p.now()
	start := time.Now()
	err := p.collect(ctx, d, at)
	took := time.Since(start)
	if err != nil && ctx.Err() != nil {
		return // shutting down: not the device's fault
	}
	p.m.pollDuration.Observe(took.Seconds())
	var (
		dev     watchfloor.Device
		samples []watchfloor.Sample
		events  []watchfloor.Event
	)
	if err != nil {
		p.m.polls.WithLabelValues("error").Inc()
		msg := d.redact(err.Error())
		dev, events = d.tr.failure(at, took, msg)
		if !d.failing {
			p.log.Warn("poll failed", "device", d.target.Name, "address", d.target.Address, "error", msg)
		}
		d.failing = true
	} else {
		if d.rd.walkErr != "" {
			p.m.polls.WithLabelValues("error").Inc()
			d.rd.walkErr = d.redact(d.rd.walkErr)
		} else {
			p.m.polls.WithLabelValues("ok").Inc()
		}
		if d.failing {
			p.log.Info("poll answered again", "device", d.target.Name)
		}
		d.failing = false
		dev, samples, events = d.tr.success(&d.rd, took)
		if d.rd.walkErr != "" {
			p.log.Debug("walk failed", "device", d.target.Name, "error", d.rd.walkErr)
		}
	}
	sink.PutDevice(dev)
	if len(samples) > 0 {
		sink.PutSamples(samples)
	}
	if len(events) > 0 {
		sink.PutEvents(events)
	}
}

// collect reads the device into d.rd. An error means the device did not answer the system
// group; a failed table walk is reported in d.rd.walkErr.
func (p *Poller) collect(ctx context.Context, d *device, at time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Interval)
	defer cancel()
	d.rd.reset(at)
	fresh := d.sess == nil
	resp, err := p.getSystem(ctx, d)
	if err != nil && !fresh && d.target.Credentials.Version == "3" && ctx.Err() == nil && !isTimeout(err) {
		// The agent answered but the v3 exchange failed: its engine ID or keys may have
		// changed (a replaced or reconfigured device). Discover the engine again, once.
		resp, err = p.getSystem(ctx, d)
	}
	if err != nil {
		return err
	}
	g := d.sess
	conn := g.Conn
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	p.m.varbinds.Add(float64(len(resp.Variables)))
	d.rd.setSystem(resp.Variables)
	// The reading's time is when its counters are read: after the system group, whose
	// request may have needed a retry.
	d.rd.at = p.now()

	d.walk.req = g
	d.walk.v1 = g.Version == gosnmp.Version1
	d.walk.reps = d.reps
	res, err := d.walk.walk(ctx, allColumns, d.rd.put)
	p.m.varbinds.Add(float64(res.varbinds))
	d.rd.finish()
	if short := res.short; short != 0 {
		p.m.shortWalks.Add(float64(bits.OnesCount64(short)))
		if short != d.short {
			p.log.Warn("agent ended table walks early", "device", d.target.Name, "columns", columnList(short))
		}
		d.short = short
	} else {
		d.short = 0
	}
	switch {
	case err != nil && !errors.Is(err, errWalkBound):
		d.rd.walkErr = err.Error()
		if isTimeout(err) {
			d.closeSession()
		}
	case err != nil:
		d.rd.walkErr = err.Error()
	case res.reps != d.reps:
		p.log.Info("device times out on large GETBULK requests; max-repetitions lowered",
			"device", d.target.Name, "from", d.reps, "to", res.reps)
		d.reps = res.reps
		if d.sess != nil {
			d.sess.MaxRepetitions = res.reps
		}
	}
	return nil
}

// redact removes the device's secrets from a message, in case a library ever puts one there.
func (d *device) redact(msg string) string {
	c := d.target.Credentials
	for _, s := range []watchfloor.Secret{c.Community, c.AuthPassphrase, c.PrivPassphrase} {
		if v := s.Reveal(); len(v) >= 3 {
			msg = strings.ReplaceAll(msg, v, "[redacted]")
		}
	}
	return msg
}

func columnList(bits uint64) string {
	var b strings.Builder
	for c := range numColumns {
		if bits&(1<<c) != 0 {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(c.String())
		}
	}
	return b.String()
}

// getSystem reads the system group, opening a session first when there is none. On failure
// the session is closed, so the next attempt starts with a new socket and, for SNMPv3, a new
// engine discovery.
func (p *Poller) getSystem(ctx context.Context, d *device) (*gosnmp.SnmpPacket, error) {
	if d.sess == nil {
		g := &gosnmp.GoSNMP{
			Target:         d.host,
			Port:           d.port,
			Transport:      "udp",
			Timeout:        p.cfg.Timeout,
			Retries:        p.cfg.Retries,
			MaxOids:        gosnmp.MaxOids,
			MaxRepetitions: d.reps,
			Context:        ctx,
		}
		d.target.Credentials.Apply(g)
		if err := g.Connect(); err != nil {
			return nil, fmt.Errorf("snmp: connect: %w", err)
		}
		d.sess = g
	}
	g := d.sess
	g.Context = ctx
	// Cancelling ctx interrupts a request in flight instead of waiting out its timeout.
	conn := g.Conn
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	resp, err := g.Get(systemOIDs)
	if err == nil && resp.Error != gosnmp.NoError {
		err = fmt.Errorf("agent answered %s", resp.Error)
	}
	if err != nil {
		d.closeSession()
		return nil, fmt.Errorf("snmp: get system group: %w", err)
	}
	return resp, nil
}
