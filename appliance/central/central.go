// Package central is the command center's side of the uplink: the NATS JetStream server
// the appliances publish to (embedded by default, Server; an external cluster by URL),
// one stream per kind of record, a durable pull consumer on each, and the hand-over of
// every record to a Sink, acknowledged only once the sink has taken it. It checks each
// site's sequence numbers, dropping the duplicates JetStream's window did not catch and
// counting the gaps, per site and kind.
//
//	appliance ──wf.<site>.<kind>──▶ stream WF_<KIND> (subjects wf.*.<kind>, dedup window)
//	                                  └─ durable consumer "central" ─▶ batch ─▶ tracker ─▶ Sink.Ingest(records, marks) ─▶ ack
//
// The sink stores each batch's records with the sequence state after them (Mark) in one
// transaction; Restore gives that state back after a restart, so duplicates and gaps stay
// exact across restarts of central.
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

	"github.com/watchfloor/watchfloor/appliance/store"
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

// Mark is central's sequence state of one site and kind, as the store keeps it.
type Mark = store.UplinkMark

// Sink takes the records central receives.
type Sink interface {
	// Ingest takes records of one kind — from several sites, each site's in sequence order — and the
	// sequence state of every site in the batch after them. It must make both durable together
	// (store.Batch.Marks) before returning nil; then the records are acknowledged. An error: none of
	// them is acknowledged, the tracker is unchanged, and all are delivered again later.
	// Payloads are valid during the call only. ds may be empty when a batch held only
	// duplicates: the marks then carry their count.
	//
	// Ingest is called from one goroutine per kind, so concurrently for different kinds.
	Ingest(ds []Delivery, marks []Mark) error
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
	baseLog *slog.Logger // without the component: the embedded server names its own
	rlog    *ratelog.Log
	reg     prometheus.Registerer
	m       *metrics

	mu       sync.Mutex
	trackers map[uplink.Kind]map[string]*tracker // committed state: what the sink took
	server   *Server
	nc       *nats.Conn // while Run runs
	ready    chan struct{}
}

// gatherWait is how long a consumer waits, after the first record of a batch, for more to
// fill it: records already delivered are taken at once, and a trickle is not held longer.
const gatherWait = 25 * time.Millisecond

// maxSeq bounds the sequence numbers central takes: an outbox never comes near it, and
// below it a sequence plus the reorder window cannot overflow.
const maxSeq = 1 << 62

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
	c := &Central{
		cfg: cfg, dataDir: dataDir, baseLog: log, log: log.With("component", "central"), reg: reg,
		trackers: map[uplink.Kind]map[string]*tracker{},
		ready:    make(chan struct{}),
	}
	c.rlog = ratelog.New(c.log, logReasons)
	for _, k := range uplink.Kinds {
		c.trackers[k] = map[string]*tracker{}
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

// Conn is central's own client connection while Run runs (nil before and after), for
// other parts of central (the distribution) to serve requests on. It must not be closed.
func (c *Central) Conn() *nats.Conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nc
}

// Restore seeds the sequence state from the marks the sink stored (store.UplinkMarks),
// before Run: a record taken before central restarted and delivered again after it is then
// dropped as a duplicate, a sequence that never came is still a gap, and Sites keeps its
// totals. Marks of unknown kinds are ignored.
func (c *Central) Restore(marks []Mark) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range marks {
		m := &marks[i]
		byKind := c.trackers[uplink.Kind(m.Kind)]
		if byKind == nil || uplink.CheckSite(m.Site) != "" {
			c.log.Warn("ignoring a stored sequence mark", "site", m.Site, "kind", m.Kind)
			continue
		}
		byKind[m.Site] = restoreTracker(m, uint64(c.cfg.ReorderWindow))
	}
}

// Refusals are the last connections the embedded server refused (newest last) and the
// totals by reason; empty with an external cluster, whose own configuration refuses.
func (c *Central) Refusals() (recent []Refusal, totals map[string]uint64) {
	s := c.Server()
	if s == nil {
		return nil, map[string]uint64{}
	}
	return s.Auth().Recent(), s.Auth().Totals()
}

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
		s, err := NewServer(c.cfg.Server, c.dataDir, c.baseLog, c.reg)
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
	c.mu.Lock()
	c.nc = nc
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.nc = nil
		c.mu.Unlock()
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

// consume hands a kind's records to sink until ctx is done, in batches: the first record
// that comes, and what else comes within gatherWait, up to cfg.Batch.
func (c *Central) consume(ctx context.Context, k uplink.Kind, cons jetstream.Consumer, sink Sink) {
	batch := make([]jetstream.Msg, 0, c.cfg.Batch)
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
		for closed := false; !closed; {
			msg, err := it.Next()
			if err != nil {
				if ctx.Err() == nil && !errors.Is(err, jetstream.ErrMsgIteratorClosed) {
					c.rlog.Warn(logConsume, "consumer interrupted; resuming", "kind", k, "err", err)
					continue
				}
				break
			}
			batch = append(batch[:0], msg)
			deadline := time.Now().Add(gatherWait)
			for len(batch) < c.cfg.Batch {
				wait := time.Until(deadline)
				if wait <= 0 {
					break
				}
				msg, err := it.Next(jetstream.NextMaxWait(wait))
				if err != nil {
					closed = errors.Is(err, jetstream.ErrMsgIteratorClosed)
					break
				}
				batch = append(batch, msg)
			}
			c.handle(k, batch, sink)
			clear(batch)
		}
		stop()
		it.Stop()
	}
}

// siteBatch is one site's part of a batch: its tracker as it will be once the sink has
// taken the batch.
type siteBatch struct {
	t                    *tracker
	baseGaps             uint64 // the committed tracker's gaps, when of the same epoch
	ingested, duplicates int
	lastSeqSeen          uint64
}

// handle checks a batch of one kind's messages, hands the new records to sink with the
// sequence state after them, and acknowledges them (and the duplicates) once the sink has
// taken them; when it fails, every one is delivered again later and the state is as
// before. Anything that does not parse is terminated (never delivered again) and counted:
// the subject's permissions vouch for the site, but the bytes are the appliance's.
func (c *Central) handle(k uplink.Kind, msgs []jetstream.Msg, sink Sink) {
	ds := make([]Delivery, 0, len(msgs))
	done := make([]jetstream.Msg, 0, len(msgs)) // records and duplicates, acknowledged together
	work := map[string]*siteBatch{}
	var order []string // sites in order of first appearance
	for _, msg := range msgs {
		site, kind, ok := uplink.ParseSubject(msg.Subject())
		if !ok || kind != k {
			c.invalid(msg, "", "subject "+msg.Subject())
			continue
		}
		d, why := parseDelivery(site, kind, msg.Headers(), msg.Data())
		if why != "" {
			c.invalid(msg, site, why)
			continue
		}
		sb := work[site]
		if sb == nil {
			sb = &siteBatch{}
			c.mu.Lock()
			if t := c.trackers[k][site]; t != nil {
				sb.t, sb.baseGaps = t.clone(), t.gaps
			}
			c.mu.Unlock()
			work[site] = sb
			order = append(order, site)
		}
		if sb.t == nil || sb.t.epoch != d.Epoch {
			if sb.t != nil {
				c.log.Warn("site started a new numbering (a new or restored store)", "site", site, "kind", k,
					"old_epoch", uplink.FormatEpoch(sb.t.epoch), "epoch", uplink.FormatEpoch(d.Epoch))
			}
			sb.t, sb.baseGaps = newTracker(d.Epoch, d.Seq, uint64(c.cfg.ReorderWindow)), 0
		}
		done = append(done, msg)
		if sb.t.seen(d.Seq) {
			sb.t.duplicates++
			sb.duplicates++
			continue
		}
		sb.t.take(d.Seq)
		sb.t.lastSeen = time.Now()
		sb.ingested++
		sb.lastSeqSeen = d.Seq
		ds = append(ds, d)
	}
	if len(done) == 0 {
		return
	}
	marks := make([]Mark, 0, len(order))
	for _, site := range order {
		marks = append(marks, work[site].t.mark(site, string(k)))
	}
	if err := sink.Ingest(ds, marks); err != nil {
		for _, site := range order {
			if n := work[site].ingested; n > 0 {
				c.m.records.WithLabelValues(site, string(k), "sink_error").Add(float64(n))
			}
		}
		c.rlog.Warn(logSink, "sink refused a batch; delivering it again later", "kind", k,
			"records", len(ds), "duplicates", len(done)-len(ds), "err", err)
		for _, msg := range done {
			_ = msg.NakWithDelay(time.Second)
		}
		return
	}
	c.mu.Lock()
	for _, site := range order {
		c.trackers[k][site] = work[site].t
	}
	c.mu.Unlock()
	for _, site := range order {
		sb := work[site]
		if sb.ingested > 0 {
			c.m.records.WithLabelValues(site, string(k), "ingested").Add(float64(sb.ingested))
		}
		if sb.duplicates > 0 {
			c.m.records.WithLabelValues(site, string(k), "duplicate").Add(float64(sb.duplicates))
		}
		if gaps := sb.t.gaps - sb.baseGaps; sb.t.gaps > sb.baseGaps {
			c.m.gaps.WithLabelValues(site, string(k)).Add(float64(gaps))
			c.log.Warn("records missing from a site", "site", site, "kind", k, "missing", gaps,
				"up_to_seq", sb.lastSeqSeen)
		}
	}
	for _, msg := range done {
		if err := msg.Ack(); err != nil {
			// Delivered again after AckWait, then dropped here as a duplicate.
			c.rlog.Warn(logConsume, "ack failed", "kind", k, "err", err)
		}
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
	if d.Seq, err = strconv.ParseUint(h.Get(uplink.HeaderSeq), 10, 64); err != nil || d.Seq == 0 || d.Seq >= maxSeq {
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
		for site, t := range m {
			out = append(out, SiteStats{Site: site, Kind: k, Epoch: t.epoch, Received: t.received,
				Duplicates: t.duplicates, Gaps: t.gaps, Missing: t.missing(),
				LastSeq: t.lastSeq, LastSeen: t.lastSeen})
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
