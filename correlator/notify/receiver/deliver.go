package receiver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/watchfloor/watchfloor/correlator/notify"
)

// Errors of Deliverer.Enqueue.
var (
	ErrUnknownReceiver = errors.New("receiver: unknown receiver")
	ErrQueueFull       = errors.New("receiver: queue full")
)

// DelivererConfig configures retries and queues.
type DelivererConfig struct {
	QueueSize      int           `yaml:"queue_size"`      // per receiver; default 256
	MaxAttempts    int           `yaml:"max_attempts"`    // per notification; default 6
	InitialBackoff time.Duration `yaml:"initial_backoff"` // before the 2nd attempt; default 2s
	MaxBackoff     time.Duration `yaml:"max_backoff"`     // default 2m
	AttemptTimeout time.Duration `yaml:"attempt_timeout"` // default 30s
}

// DefaultDelivererConfig returns the defaults.
func DefaultDelivererConfig() DelivererConfig {
	return DelivererConfig{QueueSize: 256, MaxAttempts: 6, InitialBackoff: 2 * time.Second, MaxBackoff: 2 * time.Minute, AttemptTimeout: 30 * time.Second}
}

// Validate reports every problem of c.
func (c DelivererConfig) Validate() []FieldError {
	var errs fieldErrors
	if c.QueueSize < 1 || c.QueueSize > 1<<20 {
		errs.add("queue_size", "must be between 1 and %d (is %d)", 1<<20, c.QueueSize)
	}
	if c.MaxAttempts < 1 || c.MaxAttempts > 100 {
		errs.add("max_attempts", "must be between 1 and 100 (is %d)", c.MaxAttempts)
	}
	if c.InitialBackoff <= 0 {
		errs.add("initial_backoff", "must be positive")
	}
	if c.MaxBackoff < c.InitialBackoff {
		errs.add("max_backoff", "must be at least initial_backoff")
	}
	if c.AttemptTimeout <= 0 {
		errs.add("attempt_timeout", "must be positive")
	}
	return errs
}

// Delivery is the result of one attempt, for the notification log.
type Delivery struct {
	NotificationID string
	GroupKey       string
	Receiver       string
	Attempt        int // 1-based; 0 for a notification dropped before any attempt
	Time           time.Time
	Err            string // empty: delivered
	// Done: no further attempt will follow (delivered, permanent error, attempts exhausted,
	// or dropped). Done false with an error: a retry follows, or the deliverer stopped
	// before it (the durable pipeline re-sends those after a restart).
	Done bool
}

// DelivererDeps are the Deliverer's collaborators. Now, Sleep and Jitter default to the
// real clock, a context-aware sleep, and math/rand.
type DelivererDeps struct {
	Log        *slog.Logger
	Registerer prometheus.Registerer
	Record     func(Delivery) // called from the workers, concurrently; must not block long
	Now        func() time.Time
	Sleep      func(ctx context.Context, d time.Duration) error
	Jitter     func() float64 // in [0, 1)
}

// Deliverer gives each receiver its own bounded queue and worker, so a receiver that hangs
// or fails never delays the others, and retries failed sends with exponential backoff and
// jitter.
type Deliverer struct {
	cfg     DelivererConfig
	deps    DelivererDeps
	workers map[string]*worker
	busy    atomic.Int64 // notifications queued or being delivered (attempts and backoffs)

	attempts *prometheus.CounterVec
	dropped  *prometheus.CounterVec
	queued   *prometheus.GaugeVec
}

type worker struct {
	r notify.Receiver
	q chan notify.Notification
}

// NewDeliverer returns a Deliverer for receivers, which must have distinct names.
func NewDeliverer(cfg DelivererConfig, receivers []notify.Receiver, deps DelivererDeps) (*Deliverer, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("receiver: deliverer config: %w", errors.Join(fieldErrs(errs)...))
	}
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	deps.Log = deps.Log.With("component", "notify.deliver")
	if deps.Registerer == nil {
		deps.Registerer = prometheus.NewRegistry()
	}
	if deps.Record == nil {
		deps.Record = func(Delivery) {}
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Sleep == nil {
		deps.Sleep = sleepCtx
	}
	if deps.Jitter == nil {
		deps.Jitter = rand.Float64
	}
	d := &Deliverer{cfg: cfg, deps: deps, workers: make(map[string]*worker, len(receivers))}
	for _, r := range receivers {
		if _, dup := d.workers[r.Name()]; dup {
			return nil, fmt.Errorf("receiver: duplicate receiver name %q", r.Name())
		}
		d.workers[r.Name()] = &worker{r: r, q: make(chan notify.Notification, cfg.QueueSize)}
	}
	d.attempts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "watchfloor_notify_receiver_attempts_total",
		Help: "Delivery attempts by receiver and result (ok, retry, failed).",
	}, []string{"receiver", "result"})
	d.dropped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "watchfloor_notify_receiver_dropped_total",
		Help: "Notifications dropped because the receiver's queue was full.",
	}, []string{"receiver"})
	d.queued = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "watchfloor_notify_receiver_queue_length",
		Help: "Notifications waiting in the receiver's queue.",
	}, []string{"receiver"})
	for _, c := range []prometheus.Collector{d.attempts, d.dropped, d.queued} {
		if err := deps.Registerer.Register(c); err != nil {
			return nil, fmt.Errorf("receiver: register metrics: %w", err)
		}
	}
	return d, nil
}

func fieldErrs(fe []FieldError) []error {
	out := make([]error, len(fe))
	for i, e := range fe {
		out[i] = e
	}
	return out
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Enqueue queues n for the receiver n.Receiver without blocking. A full queue drops n,
// counts it, records it (Done, Attempt 0) and returns ErrQueueFull.
func (d *Deliverer) Enqueue(n notify.Notification) error {
	w, ok := d.workers[n.Receiver]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownReceiver, n.Receiver)
	}
	d.busy.Add(1)
	select {
	case w.q <- n:
		d.queued.WithLabelValues(n.Receiver).Inc()
		return nil
	default:
		d.busy.Add(-1)
		d.dropped.WithLabelValues(n.Receiver).Inc()
		d.deps.Record(Delivery{NotificationID: n.ID, GroupKey: n.GroupKey, Receiver: n.Receiver,
			Time: d.deps.Now(), Err: ErrQueueFull.Error(), Done: true})
		return ErrQueueFull
	}
}

// Run runs one worker per receiver until ctx ends. Notifications still queued then are
// recorded as not delivered (Done false).
func (d *Deliverer) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, w := range d.workers {
		wg.Go(func() { d.work(ctx, w) })
	}
	wg.Wait()
	return nil
}

func (d *Deliverer) work(ctx context.Context, w *worker) {
	name := w.r.Name()
	for {
		select {
		case n := <-w.q:
			d.queued.WithLabelValues(name).Dec()
			d.deliver(ctx, w.r, n)
			d.busy.Add(-1)
		case <-ctx.Done():
			for {
				select {
				case n := <-w.q:
					d.queued.WithLabelValues(name).Dec()
					d.busy.Add(-1)
					d.deps.Record(Delivery{NotificationID: n.ID, GroupKey: n.GroupKey, Receiver: name,
						Time: d.deps.Now(), Err: "deliverer stopped before delivery"})
				default:
					return
				}
			}
		}
	}
}

// Idle reports whether no notification is queued or being delivered: a caller shutting
// down waits for it (bounded) so that a delivery in progress is not cut off and re-sent.
func (d *Deliverer) Idle() bool { return d.busy.Load() == 0 }

// Backoff returns the wait before attempt+1 (attempt ≥ 1): InitialBackoff·2^(attempt-1),
// capped at MaxBackoff, then scaled by a jitter factor in [0.5, 1).
func (d *Deliverer) Backoff(attempt int) time.Duration {
	b := d.cfg.InitialBackoff
	for i := 1; i < attempt && b < d.cfg.MaxBackoff; i++ {
		b *= 2
	}
	b = min(b, d.cfg.MaxBackoff)
	return time.Duration(float64(b) * (0.5 + d.deps.Jitter()/2))
}

func (d *Deliverer) deliver(ctx context.Context, r notify.Receiver, n notify.Notification) {
	name := r.Name()
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, d.cfg.AttemptTimeout)
		err := r.Send(actx, n)
		cancel()
		rec := Delivery{NotificationID: n.ID, GroupKey: n.GroupKey, Receiver: name, Attempt: attempt, Time: d.deps.Now()}
		if err == nil {
			rec.Done = true
			d.attempts.WithLabelValues(name, "ok").Inc()
			d.deps.Record(rec)
			return
		}
		rec.Err = err.Error()
		if IsPermanent(err) || attempt >= d.cfg.MaxAttempts {
			rec.Done = true
			d.attempts.WithLabelValues(name, "failed").Inc()
			d.deps.Record(rec)
			d.deps.Log.Warn("notification not delivered", "receiver", name, "notification", n.ID, "attempts", attempt, "err", err)
			return
		}
		d.attempts.WithLabelValues(name, "retry").Inc()
		d.deps.Record(rec)
		if ctx.Err() != nil || d.deps.Sleep(ctx, d.Backoff(attempt)) != nil {
			return // stopped: the last record says Done false
		}
	}
}
