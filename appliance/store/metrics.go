package store

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/watchfloor/watchfloor/internal/promreg"
)

// metrics are the store's self-metrics, registered on the injected Registerer.
type metrics struct {
	writeSeconds     prometheus.Histogram
	records          *prometheus.CounterVec // kind: device, sample, event, flow_rollup, alert, notification
	commits          prometheus.Counter
	commitErrors     prometheus.Counter
	retentionDeleted *prometheus.CounterVec // kind: retentionKinds
	queueDepth       prometheus.GaugeFunc
	sizeBytes        prometheus.GaugeFunc
	outbox           prometheus.GaugeFunc

	device, sample, event, flowRollup, alert, notification prometheus.Counter
}

func newMetrics(queueDepth, sizeBytes, outbox func() float64) *metrics {
	m := &metrics{
		writeSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "watchfloor_store_write_seconds",
			Help:    "Duration of write transactions, fsync included.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16), // 100µs to 3.3s
		}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchfloor_store_records_total",
			Help: "Records committed, by kind.",
		}, []string{"kind"}),
		commits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "watchfloor_store_commits_total",
			Help: "Write transactions committed; each holds the batches of one or more writers.",
		}),
		commitErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "watchfloor_store_commit_errors_total",
			Help: "Write transactions that failed.",
		}),
		retentionDeleted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchfloor_store_retention_deleted_total",
			Help: "Records deleted by retention, by kind.",
		}, []string{"kind"}),
		queueDepth: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "watchfloor_store_queue_depth",
			Help: "Batches handed to Write and not yet committed.",
		}, queueDepth),
		sizeBytes: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "watchfloor_store_size_bytes",
			Help: "Size of the database file as of the last transaction.",
		}, sizeBytes),
		outbox: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "watchfloor_store_notify_outbox_entries",
			Help: "Notifications handed to delivery and not yet done, in the on-call dispatcher's outbox.",
		}, outbox),
	}
	m.device = m.records.WithLabelValues("device")
	m.sample = m.records.WithLabelValues("sample")
	m.event = m.records.WithLabelValues("event")
	m.flowRollup = m.records.WithLabelValues("flow_rollup")
	m.alert = m.records.WithLabelValues("alert")               // alerts, history entries and silences
	m.notification = m.records.WithLabelValues("notification") // outbox entries, incidents and log entries
	for _, k := range retentionKinds {
		m.retentionDeleted.WithLabelValues(k)
	}
	return m
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.writeSeconds, m.records, m.commits, m.commitErrors,
		m.retentionDeleted, m.queueDepth, m.sizeBytes, m.outbox}
}

// register registers every metric on reg (nil: none), undoing it all when one fails.
func (m *metrics) register(reg prometheus.Registerer) error {
	return promreg.Register(reg, m.collectors()...)
}

func (m *metrics) unregister(reg prometheus.Registerer) {
	promreg.Unregister(reg, m.collectors()...)
}
