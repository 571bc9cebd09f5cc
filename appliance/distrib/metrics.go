package distrib

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Request results at central, the labels of watchfloor_distrib_requests_total.
var requestResults = []string{"offer", "chunk", "stale", "invalid", "error", "dropped"}

// pubMetrics are central's. Labels are bounded: kind is one of the three kinds, result one
// of requestResults.
type pubMetrics struct {
	requests *prometheus.CounterVec // result
	version  *prometheus.GaugeVec   // kind
	invalid  *prometheus.CounterVec // kind
	sent     prometheus.Counter
}

func newPubMetrics() *pubMetrics {
	m := &pubMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchfloor_distrib_requests_total",
			Help: "Appliances' distribution requests, by result: offer (what differs), chunk (content), stale (the version fetched was replaced), invalid (undecodable), error (the reply could not be sent), dropped (the queue of requests was full).",
		}, []string{"result"}),
		version: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "watchfloor_distrib_version",
			Help: "The version central offers, by kind (0: none yet).",
		}, []string{"kind"}),
		invalid: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchfloor_distrib_invalid_bundles_total",
			Help: "Contents of the rules or lists directory not offered because they do not check (alone or together), or cannot be read; counted once per distinct content.",
		}, []string{"kind"}),
		sent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "watchfloor_distrib_sent_bytes_total",
			Help: "Content bytes sent to appliances.",
		}),
	}
	for _, r := range requestResults {
		m.requests.WithLabelValues(r)
	}
	for _, k := range kinds {
		m.version.WithLabelValues(k)
		m.invalid.WithLabelValues(k)
	}
	return m
}

func (m *pubMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.requests, m.version, m.invalid, m.sent}
}

// Sync results at an appliance, the labels of watchfloor_distrib_syncs_total.
var syncResults = []string{"ok", "error"}

// subMetrics are the appliance's.
type subMetrics struct {
	syncs    *prometheus.CounterVec // result
	applied  *prometheus.GaugeVec   // kind
	refused  *prometheus.CounterVec // kind
	received prometheus.Counter
}

func newSubMetrics() *subMetrics {
	m := &subMetrics{
		syncs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchfloor_distrib_syncs_total",
			Help: "Exchanges with central's distribution, by result: ok, or error (no answer, an invalid reply, a digest mismatch).",
		}, []string{"result"}),
		applied: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "watchfloor_distrib_applied_version",
			Help: "The version of what central distributes in force here, by kind (0: none).",
		}, []string{"kind"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchfloor_distrib_refused_total",
			Help: "Versions central offered that this appliance did not apply (its rule set or silences refused them), by kind.",
		}, []string{"kind"}),
		received: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "watchfloor_distrib_received_bytes_total",
			Help: "Content bytes received from central.",
		}),
	}
	for _, r := range syncResults {
		m.syncs.WithLabelValues(r)
	}
	for _, k := range kinds {
		m.applied.WithLabelValues(k)
		m.refused.WithLabelValues(k)
	}
	return m
}

func (m *subMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.syncs, m.applied, m.refused, m.received}
}
