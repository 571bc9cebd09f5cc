package snmp

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the poller's self-metrics. Labels are bounded: no per-device label.
type metrics struct {
	pollDuration prometheus.Histogram
	polls        *prometheus.CounterVec
	varbinds     prometheus.Counter
	cycle        prometheus.Gauge
	shortWalks   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		pollDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "watchfloor_snmp_poll_duration_seconds",
			Help:    "Time to poll one device, answered or not.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 13), // 5 ms … 20 s
		}),
		polls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchfloor_snmp_polls_total",
			Help: "Device polls by result (ok, error).",
		}, []string{"result"}),
		varbinds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "watchfloor_snmp_varbinds_total",
			Help: "Variable bindings received from agents.",
		}),
		cycle: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "watchfloor_snmp_cycle_duration_seconds",
			Help: "Duration of the last full poll cycle over all devices.",
		}),
		shortWalks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "watchfloor_snmp_short_walks_total",
			Help: "Table walks an agent ended early (tooBig, genErr, non-increasing OIDs, varbind bound).",
		}),
	}
	// Both results exist from the start, so a rate over them is defined before the first error.
	m.polls.WithLabelValues("ok")
	m.polls.WithLabelValues("error")
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.pollDuration, m.polls, m.varbinds, m.cycle, m.shortWalks} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("snmp: register metrics: %w", err)
		}
	}
	return m, nil
}
