package alerts

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/watchfloor/watchfloor/internal/promreg"
)

// metrics are the manager's self-metrics, registered on the injected Registerer.
type metrics struct {
	matches      prometheus.Counter
	fired        prometheus.Counter
	resolved     *prometheus.CounterVec // by: quiet, recovery, analyst
	open         *prometheus.GaugeVec   // state: firing, acknowledged
	dropped      *prometheus.CounterVec // reason: max_open, flap_state, history
	silences     prometheus.Gauge
	writeSeconds prometheus.Histogram
	writes       prometheus.Counter
	writeErrors  prometheus.Counter

	firing, acked prometheus.Gauge
}

func newMetrics() *metrics {
	m := &metrics{
		matches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "watchfloor_alerts_matches_total",
			Help: "Rule matches reported to the alert manager.",
		}),
		fired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "watchfloor_alerts_fired_total",
			Help: "Alerts started.",
		}),
		resolved: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchfloor_alerts_resolved_total",
			Help: "Alerts resolved, by what resolved them.",
		}, []string{"by"}),
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "watchfloor_alerts_open",
			Help: "Alerts not resolved, by state.",
		}, []string{"state"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchfloor_alerts_dropped_total",
			Help: "What the manager dropped at a bound: new alerts beyond max_open, flapping bookkeeping, unwritten history.",
		}, []string{"reason"}),
		silences: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "watchfloor_alerts_silences",
			Help: "Silences kept, expired ones included.",
		}),
		writeSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "watchfloor_alerts_store_write_seconds",
			Help:    "Duration of the manager's writes to the store.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		writes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "watchfloor_alerts_store_writes_total",
			Help: "Writes of the manager to the store.",
		}),
		writeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "watchfloor_alerts_store_write_errors_total",
			Help: "Writes of the manager that failed (retried with the next write).",
		}),
	}
	for _, by := range []string{ByQuiet, ByRecovery, "analyst"} {
		m.resolved.WithLabelValues(by)
	}
	for _, r := range []string{"max_open", "flap_state", "history"} {
		m.dropped.WithLabelValues(r)
	}
	m.firing = m.open.WithLabelValues("firing")
	m.acked = m.open.WithLabelValues("acknowledged")
	return m
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.matches, m.fired, m.resolved, m.open, m.dropped, m.silences,
		m.writeSeconds, m.writes, m.writeErrors}
}

// register registers every metric on reg (nil: none), undoing it all when one fails.
func (m *metrics) register(reg prometheus.Registerer) error {
	return promreg.Register(reg, m.collectors()...)
}
