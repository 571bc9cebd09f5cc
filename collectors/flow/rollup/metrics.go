package rollup

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Dimension indices of the typed tables; dimNames are their metric label values.
const (
	dimSrc = iota
	dimDst
	dimPair
	dimPort
	dimProto
	dimAS
	dimDstAS
	dimInterface
	dimDevice // the table of devices of an interval was full
	numDims
)

var dimNames = [numDims]string{"src", "dst", "pair", "port", "proto", "as", "dst_as", "interface", "device"}

// metrics are the rollup's self-metrics. Labels are bounded: dimensions and steps.
type metrics struct {
	records  prometheus.Counter
	late     prometheus.Counter
	overflow [numDims]prometheus.Counter
	emitted  *prometheus.CounterVec
	dropped  prometheus.Counter
	closing  prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	overflow := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "watchfloor_flow_rollup_overflow_total",
		Help: "Flow records (or, for hour tables, flows of merged keys) that did not fit a dimension's bounded key table; they are in the totals but in no row.",
	}, []string{"dim"})
	m := &metrics{
		records: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "watchfloor_flow_rollup_records_total",
			Help: "Flow records added to rollups.",
		}),
		late: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "watchfloor_flow_rollup_late_records_total",
			Help: "Flow records received for a minute already closed; they were added to the oldest open minute.",
		}),
		emitted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchfloor_flow_rollup_rollups_total",
			Help: "Rollups emitted, by step (minute, hour).",
		}, []string{"step"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "watchfloor_flow_rollup_dropped_total",
			Help: "Closed rollups dropped because nobody collected them (the queue of closed rollups was full).",
		}),
		closing: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "watchfloor_flow_rollup_close_duration_seconds",
			Help:    "Time to close one minute: merge the receive goroutines' tables, rank, render, fold into the hour.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16), // 100 µs … 3.3 s
		}),
	}
	for i := range m.overflow {
		m.overflow[i] = overflow.WithLabelValues(dimNames[i])
	}
	m.emitted.WithLabelValues("minute")
	m.emitted.WithLabelValues("hour")
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.records, m.late, overflow, m.emitted, m.dropped, m.closing} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("flow rollup: register metrics: %w", err)
		}
	}
	return m, nil
}
