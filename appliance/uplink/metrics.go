package uplink

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/watchfloor/watchfloor/internal/promreg"
)

// metrics are the uplink's self-metrics. Label sets are bounded: kind is one of Kinds,
// reason one of refused, evicted, expired.
type metrics struct {
	queued       prometheus.Counter
	dropped      *prometheus.CounterVec // kind, reason
	published    *prometheus.CounterVec // kind
	duplicates   prometheus.Counter
	windowErrors prometheus.Counter
	reconnects   prometheus.Counter
	connected    prometheus.Gauge
	lastAck      prometheus.Gauge
	outboxLen    prometheus.GaugeFunc
	outboxBytes  prometheus.GaugeFunc
}

func newMetrics(u *Uplink) *metrics {
	m := &metrics{
		queued: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "watchfloor_uplink_queued_records_total",
			Help: "Records written to the uplink outbox.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchfloor_uplink_dropped_records_total",
			Help: "Records never sent to central, by kind and reason: refused (outbox full, policy block), evicted (outbox full, policy drop_oldest), expired (older than outbox.max_age).",
		}, []string{"kind", "reason"}),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchfloor_uplink_published_records_total",
			Help: "Records acknowledged by central, by kind.",
		}, []string{"kind"}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "watchfloor_uplink_duplicate_acks_total",
			Help: "Records sent again that central's duplicate window recognised (acknowledged as duplicates).",
		}),
		windowErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "watchfloor_uplink_publish_errors_total",
			Help: "Publish windows in which a record was not acknowledged (and is sent again).",
		}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "watchfloor_uplink_reconnects_total",
			Help: "Reconnections to central.",
		}),
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "watchfloor_uplink_connected",
			Help: "1 while connected to central.",
		}),
		lastAck: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "watchfloor_uplink_last_ack_timestamp_seconds",
			Help: "When central last acknowledged a record.",
		}),
		outboxLen: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "watchfloor_uplink_outbox_entries",
			Help: "Records in the uplink outbox, waiting for central.",
		}, func() float64 { return float64(u.ob.Len()) }),
		outboxBytes: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "watchfloor_uplink_outbox_bytes",
			Help: "Size of the records in the uplink outbox, as counted against outbox.max_bytes.",
		}, func() float64 { return float64(u.ob.Bytes()) }),
	}
	for _, k := range Kinds {
		m.published.WithLabelValues(string(k))
		for _, r := range []string{"refused", "evicted", "expired"} {
			m.dropped.WithLabelValues(string(k), r)
		}
	}
	return m
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.queued, m.dropped, m.published, m.duplicates, m.windowErrors,
		m.reconnects, m.connected, m.lastAck, m.outboxLen, m.outboxBytes}
}

func (m *metrics) register(reg prometheus.Registerer) error {
	return promreg.Register(reg, m.collectors()...)
}

func (m *metrics) unregister(reg prometheus.Registerer) {
	promreg.Unregister(reg, m.collectors()...)
}
