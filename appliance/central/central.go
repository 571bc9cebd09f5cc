// Package central is the command center's side of the uplink: the NATS JetStream server
// the appliances publish to (embedded by default, Server; an external cluster by URL),
// one stream per kind of record, a durable pull consumer on each, and the hand-over of
// every record to a Sink, acknowledged only once the sink has taken it. It checks each
// site's sequence numbers, dropping the duplicates JetStream's window did not catch and
// counting the gaps, per site and kind.
//
//	appliance ──wf.<site>.<kind>──▶ stream WF_<KIND> (subjects wf.*.<kind>, dedup window)
//	                                  └─ durable consumer "central" ─▶ tracker ─▶ Sink.Ingest ─▶ ack
package central

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	dto "github.com/prometheus/client_model/go"
	"github.com/watchfloor/watchfloor/internal/promreg"

	"github.com/watchfloor/watchfloor/appliance/uplink"
	"github.com/watchfloor/watchfloor/internal/ratelog"
)

// Delivery is one record handed to the sink.
type Delivery struct {
	Site     string      // from the subject, which the site's permissions vouch for
	Kind     uplink.Kind // from the subject
	Epoch    uint64      // the appliance outbox's numbering
	Seq      uint64      // sequence within the site and kind, from 1
	SiteSeq  uint64      // sequence within the site, across kinds
	RecordID string      // the record's own ID, when it has one
	Time     time.Time   // when the appliance made the record
	Payload  []byte      // valid during the call only
}

// Sink takes the records central receives. Ingest is called from one goroutine per kind;
// a record is acknowledged to JetStream once Ingest returns nil, and delivered again later
// when it returns an error. It must not keep Payload.
type Sink interface {
	Ingest(d Delivery) error
}

// SiteStats is what central knows of one site and kind.
type SiteStats struct {
	Site       string
	Kind       uplink.Kind
	Epoch      uint64
	Received   uint64    // records handed to the sink
	Duplicates uint64    // records dropped as seen before
	Gaps       uint64    // sequences that never came
	Missing    uint64    // sequences not yet come, that may still
	LastSeq    uint64    // the highest sequence seen
	LastSeen   time.Time // when the last record arrived
}

// Central receives the appliances' records.
type Central struct {
	cfg     Config
	dataDir string
	log     *slog.Logger
	rlog    *ratelog.Log
	reg     prometheus.Registerer
	m       *metrics

	mu       sync.Mutex
	trackers map[uplink.Kind]map[string]*siteState
	server   *Server
	ready    chan struct{}
}

type siteState struct {
	t        *tracker
	lastSeq  uint64
	lastSeen time.Time
}

// rate-limited log reasons
const (
	logInvalid = iota
	logSink
	logConsume
	logReasons
)

// New returns central's receiver. With no URLs, Run starts the embedded server with its
// JetStream files under dataDir. log and reg may be nil.
func New(cfg Config, dataDir string, log *slog.Logger, reg prometheus.Registerer) (*Central, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("central: invalid config: %w", joinFieldErrors(errs))
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "central")
	c := &Central{
		cfg: cfg, dataDir: dataDir, log: log, rlog: ratelog.New(log, logReasons), reg: reg,
		trackers: map[uplink.Kind]map[string]*siteState{},
		ready:    make(chan struct{}),
	}
	for _, k := range uplink.Kinds {
		c.trackers[k] = map[string]*siteState{}
	}
	c.m = newMetrics()
	if err := c.m.register(reg); err != nil {
		return nil, fmt.Errorf("central: %w", err)
	}
	return c, nil
}

// StreamName is the stream of a kind: WF_ALERT, WF_EVENT, …
func StreamName(k uplink.Kind) string { return "WF_" + strings.ToUpper(string(k)) }

// Ready is closed once the streams and consumers exist, and appliances can publish.
func (c *Central) Ready() <-chan struct{} { return c.ready }

// Server is the embedded server once Run started it (nil with URLs, or before).
func (c *Central) Server() *Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.server
}

// connect starts the embedded server (without URLs) and connects central's client.
func (c *Central) connect() (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name("watchfloor-central"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.RetryOnFailedConnect(true),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { c.log.Warn("disconnected from NATS", "err", err) }),
		nats.ReconnectHandler(func(nc *nats.Conn) { c.log.Info("reconnected to NATS", "server", nc.ConnectedUrlRedacted()) }),
	}
	if len(c.cfg.URLs) == 0 {
		s, err := NewServer(c.cfg.Server, c.dataDir, c.log, c.reg)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		c.server = s
		c.mu.Unlock()
		in := s.Internal()
		opts = append(opts, nats.InProcessServer(s.NATS()), nats.UserInfo(in.User, in.Password.Reveal()))
		nc, err := nats.Connect("", opts...)
		if err != nil {
			s.Shutdown()
			return nil, fmt.Errorf("central: connect to the embedded server: %w", err)
		}
		return nc, nil
	}
	tc, err := c.cfg.TLS.clientTLS()
	if err != nil {
		return nil, fmt.Errorf("central: %w", err)
	}
	if tc != nil {
		opts = append(opts, nats.Secure(tc))
	}
	if c.cfg.User != "" {
		opts = append(opts, nats.UserInfo(c.cfg.User, c.cfg.Password.Reveal()))
	}
	nc, err := nats.Connect(strings.Join(c.cfg.URLs, ","), opts...)
	if err != nil {
		return nil, fmt.Errorf("central: connect: %w", err)
	}
	return nc, nil
}

// Run starts the embedded server (without URLs), creates or updates the streams and the
// durable consumers, and hands every record to sink until ctx is done; then it stops the
// server and returns nil.
func (c *Central) Run(ctx context.Context, sink Sink) error {
	nc, err := c.connect()
	if err != nil {
		return err
	}
	defer func() {
		nc.Close()
		if s := c.Server(); s != nil {
			s.Shutdown()
		}
	}()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("central: %w", err)
	}
	consumers := make([]jetstream.Consumer, len(uplink.Kinds))
	for i, k := range uplink.Kinds {
		cons, err := c.ensure(ctx, js, k)
		if err != nil {
			return err
		}
		consumers[i] = cons
	}
	close(c.ready)
	var wg sync.WaitGroup
	for i, k := range uplink.Kinds {
		wg.Go(func() { c.consume(ctx, k, consumers[i], sink) })
	}
	wg.Wait()
	return nil
}

// ensure creates or updates a kind's stream and consumer; it retries while the cluster
// has no JetStream leader yet, until ctx is done.
func (c *Central) ensure(ctx context.Context, js jetstream.JetStream, k uplink.Kind) (jetstream.Consumer, error) {
	sc := jetstream.StreamConfig{
		Name:        StreamName(k),
		Description: "Watchfloor appliances' " + string(k) + " records",
		Subjects:    []string{uplink.KindSubjects(k)},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		Replicas:    c.cfg.Streams.Replicas,
		MaxAge:      c.cfg.Streams.MaxAge,
		MaxBytes:    c.cfg.Streams.MaxBytes,
		MaxMsgSize:  1<<20 + 4096,
		Duplicates:  c.cfg.Streams.Duplicates,
	}
	cc := jetstream.ConsumerConfig{
		Durable:       c.cfg.Durable,
		Description:   "Watchfloor central's ingest",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.cfg.AckWait,
		MaxAckPending: 4 * c.cfg.Batch,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		Replicas:      c.cfg.Streams.Replicas,
	}
	var last error
	for attempt := 0; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := js.CreateOrUpdateStream(actx, sc)
		var cons jetstream.Consumer
		if err == nil {
			cons, err = js.CreateOrUpdateConsumer(actx, sc.Name, cc)
		}
		cancel()
		if err == nil {
			return cons, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("central: stream %s: %w (last error: %w)", sc.Name, ctx.Err(), last)
		}
		last = err
		if attempt%10 == 0 {
			c.log.Warn("creating stream and consumer, retrying", "stream", sc.Name, "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// consume hands a kind's records to sink until ctx is done.
func (c *Central) consume(ctx context.Context, k uplink.Kind, cons jetstream.Consumer, sink Sink) {
	for ctx.Err() == nil {
		it, err := cons.Messages(jetstream.PullMaxMessages(c.cfg.Batch))
		if err != nil {
			c.rlog.Warn(logConsume, "consumer failed; retrying", "kind", k, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		stop := context.AfterFunc(ctx, it.Stop)
		for {
			msg, err := it.Next()
			if err != nil {
				if ctx.Err() == nil && !errors.Is(err, jetstream.ErrMsgIteratorClosed) {
					c.rlog.Warn(logConsume, "consumer interrupted; resuming", "kind", k, "err", err)
					continue
				}
				break
			}
			c.handle(k, msg, sink)
		}
		stop()
		it.Stop()
	}
}

// handle checks one message and hands it to sink. Anything that does not parse is
// terminated (never delivered again) and counted: the subject's permissions vouch for the
// site, but the bytes are the appliance's.
func (c *Central) handle(k uplink.Kind, msg jetstream.Msg, sink Sink) {
	site, kind, ok := uplink.ParseSubject(msg.Subject())
	if !ok || kind != k {
		c.invalid(msg, "", "subject "+msg.Subject())
		return
	}
	d, why := parseDelivery(site, kind, msg.Headers(), msg.Data())
	if why != "" {
		c.invalid(msg, site, why)
		return
	}
	c.mu.Lock()
	st := c.trackers[k][site]
	if st == nil || st.t.epoch != d.Epoch {
		if st != nil {
			c.log.Warn("site started a new numbering (a new or restored store)", "site", site, "kind", k,
				"old_epoch", uplink.FormatEpoch(st.t.epoch), "epoch", uplink.FormatEpoch(d.Epoch))
		}
		st = &siteState{t: newTracker(d.Epoch, d.Seq, uint64(c.cfg.ReorderWindow))}
		c.trackers[k][site] = st
	}
	dup := st.t.seen(d.Seq)
	c.mu.Unlock()
	if dup {
		c.m.records.WithLabelValues(site, string(k), "duplicate").Inc()
		c.mu.Lock()
		st.t.duplicates++
		c.mu.Unlock()
		_ = msg.Ack()
		return
	}
	if err := sink.Ingest(d); err != nil {
		c.m.records.WithLabelValues(site, string(k), "sink_error").Inc()
		c.rlog.Warn(logSink, "sink refused a record; delivering it again later", "site", site, "kind", k, "seq", d.Seq, "err", err)
		_ = msg.NakWithDelay(time.Second)
		return
	}
	c.mu.Lock()
	before := st.t.gaps
	st.t.mark(d.Seq)
	gaps := st.t.gaps - before
	st.lastSeq = max(st.lastSeq, d.Seq)
	st.lastSeen = time.Now()
	c.mu.Unlock()
	if gaps > 0 {
		c.m.gaps.WithLabelValues(site, string(k)).Add(float64(gaps))
		c.log.Warn("records missing from a site", "site", site, "kind", k, "missing", gaps, "up_to_seq", d.Seq)
	}
	c.m.records.WithLabelValues(site, string(k), "ingested").Inc()
	if err := msg.Ack(); err != nil {
		// Delivered again after AckWait, then dropped here as a duplicate.
		c.rlog.Warn(logConsume, "ack failed", "site", site, "kind", k, "err", err)
	}
}

func (c *Central) invalid(msg jetstream.Msg, site, why string) {
	c.m.invalid.Inc()
	c.rlog.Warn(logInvalid, "invalid uplink message dropped", "site", site, "why", why)
	_ = msg.TermWithReason("invalid")
}

// parseDelivery reads the headers of a record; why says what is wrong, or is "".
func parseDelivery(site string, kind uplink.Kind, h nats.Header, data []byte) (d Delivery, why string) {
	d = Delivery{Site: site, Kind: kind, Payload: data}
	var err error
	if d.Epoch, err = uplink.ParseEpoch(h.Get(uplink.HeaderEpoch)); err != nil || d.Epoch == 0 {
		return d, "bad " + uplink.HeaderEpoch
	}
	if d.Seq, err = strconv.ParseUint(h.Get(uplink.HeaderSeq), 10, 64); err != nil || d.Seq == 0 {
		return d, "bad " + uplink.HeaderSeq
	}
	if d.SiteSeq, err = strconv.ParseUint(h.Get(uplink.HeaderSiteSeq), 10, 64); err != nil || d.SiteSeq == 0 {
		return d, "bad " + uplink.HeaderSiteSeq
	}
	if d.Time, err = time.Parse(time.RFC3339Nano, h.Get(uplink.HeaderTime)); err != nil {
		return d, "bad " + uplink.HeaderTime
	}
	if d.RecordID = h.Get(uplink.HeaderRecordID); len(d.RecordID) > 256 {
		return d, uplink.HeaderRecordID + " longer than 256 bytes"
	}
	if id := h.Get(uplink.HeaderMsgID); id != uplink.MsgID(site, kind, d.Epoch, d.Seq) {
		return d, uplink.HeaderMsgID + " does not match the subject and sequence"
	}
	return d, ""
}

// Sites returns what central knows of every site and kind, by site then kind.
func (c *Central) Sites() []SiteStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []SiteStats
	for k, m := range c.trackers {
		for site, st := range m {
			out = append(out, SiteStats{Site: site, Kind: k, Epoch: st.t.epoch, Received: st.t.received,
				Duplicates: st.t.duplicates, Gaps: st.t.gaps, Missing: st.t.missing(),
				LastSeq: st.lastSeq, LastSeen: st.lastSeen})
		}
	}
	slices.SortFunc(out, func(a, b SiteStats) int {
		if a.Site != b.Site {
			return strings.Compare(a.Site, b.Site)
		}
		return strings.Compare(string(a.Kind), string(b.Kind))
	})
	return out
}

// Close unregisters the metrics; call it after Run returned.
func (c *Central) Close() { c.m.unregister(c.reg) }

// metrics are central's self-metrics. site is bounded by the configured sites (their
// permissions keep others out), kind by uplink.Kinds.
type metrics struct {
	records *prometheus.CounterVec // site, kind, result: ingested, duplicate, sink_error
	gaps    *prometheus.CounterVec // site, kind
	invalid prometheus.Counter
}

func newMetrics() *metrics {
	return &metrics{
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchfloor_central_records_total",
			Help: "Records received from appliances, by site, kind and result: ingested (taken by the sink), duplicate (seen before, dropped), sink_error (delivered again later).",
		}, []string{"site", "kind", "result"}),
		gaps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchfloor_central_gap_records_total",
			Help: "Records of a site that never arrived (dropped by its outbox's policy, or lost), by site and kind.",
		}, []string{"site", "kind"}),
		invalid: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "watchfloor_central_invalid_messages_total",
			Help: "Messages on uplink subjects without valid sequence headers, dropped.",
		}),
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.records, m.gaps, m.invalid}
}

func (m *metrics) register(reg prometheus.Registerer) error {
	return promreg.Register(reg, m.collectors()...)
}

func (m *metrics) unregister(reg prometheus.Registerer) {
	promreg.Unregister(reg, m.collectors()...)
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return 0
	}
	return m.GetCounter().GetValue()
}
