package appliance

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/appliance/store"
	"github.com/watchfloor/watchfloor/appliance/uplink"
	"github.com/watchfloor/watchfloor/correlator/alerts"
	"github.com/watchfloor/watchfloor/internal/ratelog"
)

// forwarder hands what the appliance made to the uplink's outbox: the records the ingest
// queue committed to the store (devices, events, samples, flow rollups — raw flows stay
// here), every change of an alert, and the appliance's health every uplink.HealthEvery.
// Records go to the outbox only once they are in the store, so central never knows more
// than the appliance does.
type forwarder struct {
	up     *uplink.Uplink
	log    *slog.Logger
	rlog   *ratelog.Log
	health func() uplink.Health
	every  time.Duration // health

	// Alert changes wait here, the latest state of each alert only, for the loop to write
	// them: the alert manager calls its subscribers under its lock, which must not wait for
	// a disk write.
	mu      sync.Mutex
	pending map[uint64]watchfloor.Alert
	order   []uint64
	wake    chan struct{}

	skipped *prometheus.CounterVec // records that could not go to the outbox, by kind and reason
	n       atomic.Uint64          // records handed to the outbox
}

// maxPendingAlerts bounds the alert changes waiting for the outbox; beyond it, changes of
// new alerts are dropped and counted (the outbox write is milliseconds; this is a stuck disk).
const maxPendingAlerts = 65536

// samplesPerRecord keeps a metrics record well under the outbox's payload bound.
const samplesPerRecord = 2000

const (
	logForward = iota
	logForwardReasons
)

func newForwarder(up *uplink.Uplink, health func() uplink.Health, every time.Duration, log *slog.Logger, reg prometheus.Registerer) *forwarder {
	f := &forwarder{
		up: up, health: health, every: every,
		log:     log.With("component", "uplink"),
		pending: map[uint64]watchfloor.Alert{},
		wake:    make(chan struct{}, 1),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchfloor_uplink_unsent_records_total",
			Help: "Records the appliance could not hand to the uplink's outbox, by kind and reason (too_large, queue_full, outbox_error).",
		}, []string{"kind", "reason"}),
	}
	f.rlog = ratelog.New(f.log, logForwardReasons)
	if reg != nil {
		reg.MustRegister(f.skipped)
	}
	return f
}

// committed sends a batch the store just committed (called by the ingest goroutine).
func (f *forwarder) committed(b *store.Batch) {
	recs := make([]uplink.Record, 0, len(b.Devices)+len(b.Events)+len(b.FlowRollups)+len(b.Samples)/samplesPerRecord+1)
	add := func(kind uplink.Kind, id string, t time.Time, v any) {
		data, err := json.Marshal(v)
		switch {
		case err != nil:
			f.skip(kind, "encode", 1, err)
		case len(data) > store.MaxOutboxPayload:
			f.skip(kind, "too_large", 1, nil)
		default:
			recs = append(recs, uplink.Record{Kind: kind, ID: id, Time: t, Payload: data})
		}
	}
	for i := range b.Devices {
		d := &b.Devices[i]
		add(uplink.KindDevice, d.Name, time.Now(), d) // a poll's result: made now, whatever LastPoll says
	}
	for i := range b.Events {
		e := &b.Events[i]
		add(uplink.KindEvent, strconv.FormatUint(e.ID, 10), e.Time, e)
	}
	for s := b.Samples; len(s) > 0; {
		n := min(len(s), samplesPerRecord)
		add(uplink.KindMetrics, "", s[0].Time, s[:n])
		s = s[n:]
	}
	for i := range b.FlowRollups {
		r := &b.FlowRollups[i]
		add(uplink.KindFlows, "", r.Start, r)
	}
	f.put(recs)
}

// alert takes an alert's change (an alert manager subscriber): it must not block.
func (f *forwarder) alert(a watchfloor.Alert) {
	f.mu.Lock()
	if _, ok := f.pending[a.ID]; !ok {
		if len(f.pending) >= maxPendingAlerts {
			f.mu.Unlock()
			f.skip(uplink.KindAlert, "queue_full", 1, nil)
			return
		}
		f.order = append(f.order, a.ID)
	}
	f.pending[a.ID] = a
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// run writes alert changes as they come and the health record every f.every,
// until ctx is done; then it writes what is pending and a last health record.
func (f *forwarder) run(ctx context.Context) {
	t := time.NewTicker(f.every)
	defer t.Stop()
	f.sendHealth()
	for {
		select {
		case <-ctx.Done():
			f.flushAlerts()
			f.sendHealth()
			return
		case <-f.wake:
			f.flushAlerts()
		case <-t.C:
			f.sendHealth()
		}
	}
}

func (f *forwarder) flushAlerts() {
	f.mu.Lock()
	order, pending := f.order, f.pending
	f.order, f.pending = nil, make(map[uint64]watchfloor.Alert, len(pending))
	f.mu.Unlock()
	if len(order) == 0 {
		return
	}
	recs := make([]uplink.Record, 0, len(order))
	for _, id := range order {
		a := pending[id]
		data, err := json.Marshal(&a)
		if err != nil || len(data) > store.MaxOutboxPayload {
			f.skip(uplink.KindAlert, "too_large", 1, err)
			continue
		}
		recs = append(recs, uplink.Record{Kind: uplink.KindAlert, ID: strconv.FormatUint(a.ID, 10), Time: a.UpdatedAt, Payload: data})
	}
	f.put(recs)
}

func (f *forwarder) sendHealth() {
	h := f.health()
	data, err := json.Marshal(&h)
	if err != nil {
		f.skip(uplink.KindHealth, "encode", 1, err)
		return
	}
	f.put([]uplink.Record{{Kind: uplink.KindHealth, Time: h.Time, Payload: data}})
}

// put writes recs to the outbox; a failure (the store's) is counted and logged: the records
// are in the appliance's own store, and central will show the gap.
func (f *forwarder) put(recs []uplink.Record) {
	if len(recs) == 0 {
		return
	}
	if err := f.up.Put(recs); err != nil {
		for _, r := range recs {
			f.skipped.WithLabelValues(string(r.Kind), "outbox_error").Inc()
		}
		f.rlog.Warn(logForward, "records not handed to the uplink's outbox", "records", len(recs), "err", err)
		return
	}
	f.n.Add(uint64(len(recs)))
}

func (f *forwarder) skip(kind uplink.Kind, reason string, n int, err error) {
	f.skipped.WithLabelValues(string(kind), reason).Add(float64(n))
	f.rlog.Warn(logForward, "record not sent to central", "kind", kind, "reason", reason, "err", err)
}

// uplinkHealth is the appliance's health record.
func (a *Appliance) uplinkHealth() uplink.Health {
	st := a.uplink.Status()
	h := uplink.Health{
		Site: a.opts.Config.Uplink.Site, Time: time.Now().UTC(), Version: a.opts.Version, StartedAt: a.started,
		OutboxEntries: st.OutboxLen, OutboxBytes: st.OutboxBytes, UplinkDropped: st.Dropped,
		IngestDropped: a.ingest.recordsDropped.Load(),
	}
	for _, c := range collectorStats(a.reg) {
		if c.Name != "ingest" {
			h.CollectorDropped += c.Drops
		}
	}
	for _, d := range a.inventory.list() {
		h.Devices++
		if d.Status == watchfloor.DeviceDown {
			h.DevicesDown++
		}
	}
	h.OpenAlerts = len(a.alerts.List(alerts.Query{Open: true, Limit: alerts.MaxLimit}))
	if a.distrib != nil {
		h.Applied = a.distrib.Applied()
	}
	return h
}
