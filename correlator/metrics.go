package correlator

import (
	"fmt"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

const (
	pathFlow = iota
	pathObs
	pathEvent
	pathSample
	pathEngine
	nPaths
)

var pathNames = [nPaths]string{"flow", "observation", "event", "sample", "engine"}

type metrics struct {
	records  [nKinds]prometheus.Counter
	recVec   *prometheus.CounterVec
	matches  *prometheus.CounterVec
	dropped  prometheus.Counter
	late     prometheus.Counter
	evalVec  *prometheus.HistogramVec
	evalTime [nPaths]prometheus.Observer
	prog     *atomic.Pointer[program]

	groups, evictions, windowLate, approx *prometheus.Desc
}

func newMetrics() *metrics {
	m := &metrics{
		recVec: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchfloor_correlator_records_total", Help: "Records evaluated, by kind.",
		}, []string{"kind"}),
		matches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchfloor_correlator_matches_total", Help: "Records a detection rule matched, by rule.",
		}, []string{"rule"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "watchfloor_correlator_dropped_matches_total", Help: "Matches dropped because the engine's queue was full.",
		}),
		late: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "watchfloor_correlator_late_records_total", Help: "Records older than the newest record time minus the allowed lateness.",
		}),
		evalVec: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "watchfloor_correlator_eval_seconds", Help: "Time to evaluate one batch, by path (detection per record type, engine for correlations and alerts).",
			Buckets: prometheus.ExponentialBuckets(1e-6, 4, 12),
		}, []string{"path"}),
		groups:     prometheus.NewDesc("watchfloor_correlator_groups", "Groups held by a correlation.", []string{"rule"}, nil),
		evictions:  prometheus.NewDesc("watchfloor_correlator_evictions_total", "Groups evicted by a correlation's caps.", []string{"rule"}, nil),
		windowLate: prometheus.NewDesc("watchfloor_correlator_window_late_total", "Matches a correlation's window dropped as late.", []string{"rule"}, nil),
		approx:     prometheus.NewDesc("watchfloor_correlator_approximations_total", "value_count groups switched to a sketch.", []string{"rule"}, nil),
	}
	for ki := range m.records {
		m.records[ki] = m.recVec.WithLabelValues(kindName(ki))
	}
	for i := range m.evalTime {
		m.evalTime[i] = m.evalVec.WithLabelValues(pathNames[i])
	}
	return m
}

// Describe and Collect export the windows' counters of the rules in use.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.groups
	ch <- m.evictions
	ch <- m.windowLate
	ch <- m.approx
}

func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	if m.prog == nil {
		return
	}
	p := m.prog.Load()
	if p == nil {
		return
	}
	for _, cn := range p.corrs {
		s := cn.stats()
		name := cn.n.r.Name
		ch <- prometheus.MustNewConstMetric(m.groups, prometheus.GaugeValue, float64(s.Groups), name)
		ch <- prometheus.MustNewConstMetric(m.evictions, prometheus.CounterValue, float64(s.Evictions), name)
		ch <- prometheus.MustNewConstMetric(m.windowLate, prometheus.CounterValue, float64(s.LateDrops), name)
		ch <- prometheus.MustNewConstMetric(m.approx, prometheus.CounterValue, float64(s.Approximations), name)
	}
}

func (m *metrics) register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.recVec, m.matches, m.dropped, m.late, m.evalVec, m} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register metrics: %w", err)
		}
	}
	return nil
}
