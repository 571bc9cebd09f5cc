// Package uplink is the appliance's side of the link to the central command center: every
// record to send is written to the outbox in the store first (store.Outbox, durable when
// Put returns), and Run publishes the outbox in order to central's JetStream streams,
// rate-limited by a token bucket, a window of records awaiting their PubAck at a time,
// deleting each record only once central has acknowledged it. While central is out of
// reach the outbox keeps filling, within its bounds; when the link returns, Run drains it
// from the oldest record on. The outbox is bbolt: it survives restarts.
//
// Every message is published on wf.<site>.<kind> with a Nats-Msg-Id derived from the
// outbox's epoch and the record's sequence within its kind, so a record sent again (its
// acknowledgement lost, the appliance restarted before deleting it) is dropped by
// JetStream's duplicate window; the sequence headers let central find, per site and kind,
// duplicates older than that window and gaps (records the outbox's policy dropped). See
// wire.go for the headers and docs/uplink.md for the whole design.
package uplink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/watchfloor/watchfloor/appliance/store"
	"github.com/watchfloor/watchfloor/internal/ratelog"
)

// ErrInvalid is returned by Put for a record it cannot send: an unknown kind, or what the
// store refuses (store.ErrInvalid). Nothing of the call is written.
var ErrInvalid = errors.New("uplink: invalid record")

// Record is a record to send to central.
type Record struct {
	Kind    Kind
	ID      string    // the record's own ID, if any (sent in Wf-Record-Id), ≤ 256 bytes
	Time    time.Time // when it was made; the outbox's age bound counts from it
	Payload []byte    // the encoded record (JSON); copied by Put
}

// Status is the uplink's state, for the appliance's health record and the console.
type Status struct {
	Connected    bool
	Server       string    // the URL of the server connected to
	OutboxLen    int64     // records waiting
	OutboxBytes  int64     // their size
	Published    uint64    // records acknowledged by central since start
	LastAck      time.Time // when central last acknowledged a record
	Dropped      uint64    // records refused, evicted or expired since start
	PublishError string    // the last publish failure, until a window succeeds
}

// Uplink publishes the appliance's outbox to central.
type Uplink struct {
	cfg   Config
	ob    *store.Outbox
	log   *slog.Logger
	rlog  *ratelog.Log
	m     *metrics
	reg   prometheus.Registerer
	now   func() time.Time
	lim   *rate.Limiter
	tls   bool
	wake  chan struct{}
	nconn atomic.Pointer[nats.Conn]

	published atomic.Uint64
	dropped   atomic.Uint64
	lastAck   atomic.Int64

	mu      sync.Mutex
	lastErr string
}

// rate-limited log reasons
const (
	logDropped = iota
	logPublish
	logReasons
)

// New opens the outbox in st with cfg.Outbox and returns the uplink; Run connects.
// log and reg may be nil.
func New(cfg Config, st *store.Store, log *slog.Logger, reg prometheus.Registerer) (*Uplink, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("uplink: invalid config: %w", joinFieldErrors(errs))
	}
	if _, err := cfg.TLS.load(); err != nil {
		return nil, fmt.Errorf("uplink: %w", err)
	}
	ob, err := st.Outbox(cfg.Outbox)
	if err != nil {
		return nil, fmt.Errorf("uplink: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "uplink", "site", cfg.Site)
	u := &Uplink{
		cfg:  cfg,
		ob:   ob,
		log:  log,
		rlog: ratelog.New(log, logReasons),
		reg:  reg,
		now:  cfg.Now,
		lim:  rate.NewLimiter(rate.Limit(cfg.Rate), cfg.Burst),
		tls:  cfg.TLS.CAFile != "" || cfg.TLS.CertFile != "",
		wake: make(chan struct{}, 1),
	}
	if u.now == nil {
		u.now = time.Now
	}
	u.m = newMetrics(u)
	if err := u.m.register(reg); err != nil {
		return nil, fmt.Errorf("uplink: %w", err)
	}
	return u, nil
}

// Put writes recs to the outbox in one transaction and returns once they are durable.
// Records the outbox's policy refuses, and older records it evicts or expires to make
// room, are counted (watchfloor_uplink_dropped_total by kind and reason) and logged, not
// returned as errors. An invalid record fails the whole call with ErrInvalid.
func (u *Uplink) Put(recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	out := make([]store.OutboxRecord, len(recs))
	for i := range recs {
		r := &recs[i]
		if !r.Kind.Valid() {
			return fmt.Errorf("%w: record %d: unknown kind %q", ErrInvalid, i, r.Kind)
		}
		out[i] = store.OutboxRecord{Kind: string(r.Kind), ID: r.ID, Time: r.Time, Payload: r.Payload}
	}
	res, err := u.ob.Append(u.now(), out)
	if errors.Is(err, store.ErrInvalid) {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err != nil {
		return fmt.Errorf("uplink: put: %w", err)
	}
	u.m.queued.Add(float64(res.Appended))
	u.countDropped("refused", res.Refused)
	u.countDropped("evicted", res.Evicted)
	u.countDropped("expired", res.Expired)
	select {
	case u.wake <- struct{}{}:
	default:
	}
	return nil
}

// countDropped counts and logs records that left the outbox, or never entered it, unsent.
func (u *Uplink) countDropped(reason string, cs []store.KindCount) {
	if len(cs) == 0 {
		return
	}
	total := 0
	for _, c := range cs {
		u.m.dropped.WithLabelValues(c.Kind, reason).Add(float64(c.N))
		total += c.N
	}
	u.dropped.Add(uint64(total))
	u.rlog.Warn(logDropped, "outbox records dropped", "reason", reason, "records", total,
		"policy", u.cfg.Outbox.Policy, "outbox_entries", u.ob.Len(), "outbox_bytes", u.ob.Bytes())
}

// Status returns the uplink's state.
func (u *Uplink) Status() Status {
	s := Status{
		OutboxLen:   u.ob.Len(),
		OutboxBytes: u.ob.Bytes(),
		Published:   u.published.Load(),
		Dropped:     u.dropped.Load(),
	}
	if t := u.lastAck.Load(); t != 0 {
		s.LastAck = time.Unix(0, t)
	}
	if nc := u.nconn.Load(); nc != nil && nc.IsConnected() {
		s.Connected, s.Server = true, nc.ConnectedUrlRedacted()
	}
	u.mu.Lock()
	s.PublishError = u.lastErr
	u.mu.Unlock()
	return s
}

// Conn is the connection to central while Run runs (nil before; it may be disconnected):
// for what else rides the same link (distrib).
func (u *Uplink) Conn() *nats.Conn { return u.nconn.Load() }

// Close unregisters the metrics; the outbox stays with the store. Call it after Run
// returned, when the uplink is not used again.
func (u *Uplink) Close() { u.m.unregister(u.reg) }

// connect dials central; with central out of reach the connection keeps retrying in the
// background (nats.RetryOnFailedConnect), and Run waits for it.
func (u *Uplink) connect() (*nats.Conn, error) {
	connected := func(nc *nats.Conn) {
		u.m.connected.Set(1)
		u.log.Info("connected to central", "server", nc.ConnectedUrlRedacted())
		select {
		case u.wake <- struct{}{}:
		default:
		}
	}
	opts := []nats.Option{
		nats.Name("watchfloor-appliance " + u.cfg.Site),
		nats.CustomInboxPrefix(InboxPrefix(u.cfg.Site)),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(u.cfg.ReconnectWait),
		nats.ReconnectJitter(u.cfg.ReconnectWait/4, u.cfg.ReconnectWait/4),
		// No buffering while disconnected: the outbox is the buffer, and a publish must
		// fail at once rather than wait in memory.
		nats.ReconnectBufSize(-1),
		// A refused certificate may be fixed at central: keep trying, and say so.
		nats.IgnoreAuthErrorAbort(),
		nats.ConnectHandler(connected),
		nats.ReconnectHandler(func(nc *nats.Conn) { u.m.reconnects.Inc(); connected(nc) }),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			u.m.connected.Set(0)
			u.log.Warn("disconnected from central", "err", err)
		}),
		nats.ErrorHandler(func(nc *nats.Conn, _ *nats.Subscription, err error) {
			u.rlog.Warn(logPublish, "uplink connection error", "err", err)
		}),
	}
	tc, err := u.cfg.TLS.load()
	if err != nil {
		return nil, err
	}
	if tc != nil {
		opts = append(opts, nats.Secure(tc))
	}
	if u.cfg.User != "" {
		opts = append(opts, nats.UserInfo(u.cfg.User, u.cfg.Password.Reveal()))
	}
	urls := ""
	for i, s := range u.cfg.URLs {
		if i > 0 {
			urls += ","
		}
		urls += s
	}
	return nats.Connect(urls, opts...)
}

// Run connects to central and publishes the outbox until ctx is done. It returns nil then,
// leaving what is not acknowledged in the outbox for the next run.
func (u *Uplink) Run(ctx context.Context) error {
	nc, err := u.connect()
	if err != nil {
		return fmt.Errorf("uplink: connect: %w", err)
	}
	u.nconn.Store(nc)
	defer func() {
		nc.Close()
		u.m.connected.Set(0)
	}()
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncTimeout(u.cfg.AckTimeout),
		jetstream.WithPublishAsyncMaxPending(u.cfg.Window))
	if err != nil {
		return fmt.Errorf("uplink: %w", err)
	}
	expire := time.NewTicker(time.Minute)
	defer expire.Stop()
	buf := make([]store.OutboxEntry, 0, u.cfg.Window)
	for ctx.Err() == nil {
		if !nc.IsConnected() {
			select {
			case <-ctx.Done():
			case <-u.wake:
			case <-time.After(u.cfg.ReconnectWait):
			}
			continue
		}
		n, err := u.window(ctx, js, buf[:0])
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			u.setErr(err)
			u.m.windowErrors.Inc()
			u.rlog.Warn(logPublish, "publishing to central failed; retrying from the oldest record", "err", err,
				"outbox_entries", u.ob.Len())
			select {
			case <-ctx.Done():
			case <-time.After(u.cfg.ReconnectWait):
			}
			continue
		}
		u.setErr(nil)
		if n > 0 {
			continue
		}
		select {
		case <-ctx.Done():
		case <-u.wake:
		case <-expire.C:
			cs, err := u.ob.Expire(u.now())
			if err != nil {
				u.log.Error("outbox expiry failed", "err", err)
			}
			u.countDropped("expired", cs)
		}
	}
	return nil
}

func (u *Uplink) setErr(err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if err == nil {
		u.lastErr = ""
	} else {
		u.lastErr = err.Error()
	}
}

// window publishes the oldest records of the outbox, up to Window of them, waits for
// every acknowledgement, and deletes the acknowledged records. It returns how many it
// published, and an error when any was not acknowledged: the caller then starts again from
// the oldest record left, so records are published in order and each is sent again until
// acknowledged (JetStream drops the copies by message ID).
func (u *Uplink) window(ctx context.Context, js jetstream.JetStream, buf []store.OutboxEntry) (int, error) {
	entries, err := u.ob.Read(buf, 0, u.cfg.Window)
	if err != nil || len(entries) == 0 {
		return 0, err
	}
	epoch := u.ob.Epoch()
	epochHex := FormatEpoch(epoch)
	futures := make([]jetstream.PubAckFuture, 0, len(entries))
	var pubErr error
	for i := range entries {
		e := &entries[i]
		if err := u.lim.Wait(ctx); err != nil {
			pubErr = err
			break
		}
		kind := Kind(e.Kind)
		h := nats.Header{
			HeaderMsgID:   {MsgID(u.cfg.Site, kind, epoch, e.KindSeq)},
			HeaderEpoch:   {epochHex},
			HeaderSeq:     {strconv.FormatUint(e.KindSeq, 10)},
			HeaderSiteSeq: {strconv.FormatUint(e.Seq, 10)},
			HeaderTime:    {e.Time.UTC().Format(time.RFC3339Nano)},
		}
		if e.ID != "" {
			h[HeaderRecordID] = []string{e.ID}
		}
		f, err := js.PublishMsgAsync(&nats.Msg{Subject: Subject(u.cfg.Site, kind), Header: h, Data: e.Payload})
		if err != nil {
			pubErr = err
			break
		}
		futures = append(futures, f)
	}
	acked := make([]uint64, 0, len(futures))
	var ackErr error
	for i, f := range futures {
		select {
		case a := <-f.Ok():
			acked = append(acked, entries[i].Seq)
			u.m.published.WithLabelValues(entries[i].Kind).Inc()
			if a.Duplicate {
				u.m.duplicates.Inc()
			}
		case err := <-f.Err():
			if ackErr == nil {
				ackErr = fmt.Errorf("record %d (%s): %w", entries[i].Seq, entries[i].Kind, err)
			}
		case <-ctx.Done():
			// What is acknowledged by now is deleted below; the rest is sent next run.
			ackErr = ctx.Err()
		}
		if ctx.Err() != nil {
			break
		}
	}
	if len(acked) > 0 {
		if err := u.ob.Delete(acked); err != nil {
			return len(futures), fmt.Errorf("deleting acknowledged records: %w", err)
		}
		u.published.Add(uint64(len(acked)))
		u.lastAck.Store(u.now().UnixNano())
		u.m.lastAck.SetToCurrentTime()
	}
	if pubErr == nil {
		pubErr = ackErr
	}
	if pubErr != nil {
		return len(futures), fmt.Errorf("uplink: publish: %w", pubErr)
	}
	return len(futures), nil
}
