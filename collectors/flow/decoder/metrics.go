package decoder

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/watchfloor/watchfloor"
)

// The reasons a datagram, a template or held data is refused; the label sets are bounded by
// these lists.
const (
	ReasonShort         = "short"          // shorter than its header
	ReasonVersion       = "version"        // an unknown or unexpected version
	ReasonMalformed     = "malformed"      // goflow2 could not decode it
	ReasonTruncated     = "truncated"      // fewer records than the header says
	ReasonTooMany       = "too_many"       // more records in a sample than any exporter sends
	ReasonPanic         = "panic"          // goflow2 panicked on it (recovered)
	ReasonTemplateLimit = "template_limit" // a template was refused (see templates_refused_total)

	RefusedExporterLimit = "exporter_limit" // max_exporters reached
	RefusedTemplateLimit = "template_limit" // max_templates of the exporter reached
	RefusedFieldLimit    = "field_limit"    // more fields than max_template_fields
	RefusedTotalLimit    = "total_limit"    // max_template_fields_total reached
	RefusedEmpty         = "empty"          // a template whose records have no length
	RefusedSamplerLimit  = "sampler_limit"  // too many samplers or domains remembered

	DroppedEvicted  = "evicted"     // pushed out by newer held data of the same exporter
	DroppedExpired  = "expired"     // its template did not arrive within pending_age
	DroppedLimit    = "total_limit" // pending_bytes_total or max_exporters reached
	DroppedTooLarge = "too_large"   // larger than pending_bytes on its own
	DroppedBroken   = "broken"      // its template arrived but the data did not decode with it
	DroppedRestart  = "restart"     // its exporter restarted: its template may now mean something else
)

var (
	errorReasons   = []string{ReasonShort, ReasonVersion, ReasonMalformed, ReasonTruncated, ReasonTooMany, ReasonPanic, ReasonTemplateLimit}
	refusedReasons = []string{RefusedExporterLimit, RefusedTemplateLimit, RefusedFieldLimit, RefusedTotalLimit, RefusedEmpty, RefusedSamplerLimit}
	droppedReasons = []string{DroppedEvicted, DroppedExpired, DroppedLimit, DroppedTooLarge, DroppedBroken, DroppedRestart}
	protocols      = []watchfloor.FlowProtocol{watchfloor.FlowNetFlowV5, watchfloor.FlowNetFlowV9, watchfloor.FlowIPFIX, watchfloor.FlowSFlow}
)

// Metrics are the decoders' shared counters. Labels are bounded: protocol (4 values) and
// reason (the Reason*, Refused* and Dropped* constants); no per-exporter label.
type Metrics struct {
	errors         *prometheus.CounterVec
	records        *prometheus.CounterVec
	counterSamples prometheus.Counter
	templates      *prometheus.GaugeVec
	templatesExp   prometheus.Counter
	refused        *prometheus.CounterVec
	pendingHeld    prometheus.Counter
	pendingDecoded prometheus.Counter
	pendingDropped *prometheus.CounterVec
	pendingBytes   prometheus.Gauge
	exporters      prometheus.Gauge
	restarts       *prometheus.CounterVec
	recordsBy      [5]prometheus.Counter // by watchfloor.FlowProtocol
	templatesBy    [5]prometheus.Gauge
	restartsBy     [5]prometheus.Counter
	refusedBy      map[string]prometheus.Counter
	droppedBy      map[string]prometheus.Counter
	errorsBy       [5]map[string]prometheus.Counter
}

// NewMetrics makes the decoders' metrics and registers them on reg, which may be nil (tests,
// or a caller that registers them itself through Collectors). It panics when reg already
// holds metrics of the same names, as prometheus.MustRegister does: that is a wiring bug.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchfloor_flow_decode_errors_total",
			Help: "Datagrams (or parts of them) that could not be decoded, by protocol and reason.",
		}, []string{"protocol", "reason"}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchfloor_flow_records_total",
			Help: "Flow records decoded, by export protocol.",
		}, []string{"protocol"}),
		counterSamples: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "watchfloor_flow_counter_samples_total",
			Help: "sFlow generic interface counter records decoded.",
		}),
		templates: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "watchfloor_flow_templates",
			Help: "NetFlow v9 and IPFIX templates held, over all exporters.",
		}, []string{"protocol"}),
		templatesExp: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "watchfloor_flow_templates_expired_total",
			Help: "Templates dropped because the exporter did not refresh them within the TTL.",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchfloor_flow_templates_refused_total",
			Help: "Templates (and sampler options) refused to keep memory bounded, by reason.",
		}, []string{"reason"}),
		pendingHeld: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "watchfloor_flow_pending_sets_total",
			Help: "Data sets held because their template was not known yet.",
		}),
		pendingDecoded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "watchfloor_flow_pending_decoded_total",
			Help: "Held data sets decoded once their template arrived.",
		}),
		pendingDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchfloor_flow_pending_dropped_total",
			Help: "Held data sets dropped without being decoded, by reason.",
		}, []string{"reason"}),
		pendingBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "watchfloor_flow_pending_bytes",
			Help: "Bytes of data sets held for their template, over all exporters.",
		}),
		exporters: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "watchfloor_flow_template_exporters",
			Help: "Exporter addresses with template, sampler or pending state.",
		}),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchfloor_flow_exporter_restarts_total",
			Help: "Exporter restarts detected (NetFlow v9 uptime or IPFIX sequence number going back, IPFIX system init time changing); the templates, sampling state and held data of the exporter's observation domain were dropped.",
		}, []string{"protocol"}),
		refusedBy: map[string]prometheus.Counter{},
		droppedBy: map[string]prometheus.Counter{},
	}
	for _, p := range protocols {
		m.recordsBy[p] = m.records.WithLabelValues(p.String())
		m.errorsBy[p] = map[string]prometheus.Counter{}
		for _, r := range errorReasons {
			m.errorsBy[p][r] = m.errors.WithLabelValues(p.String(), r)
		}
		if p == watchfloor.FlowNetFlowV9 || p == watchfloor.FlowIPFIX {
			m.templatesBy[p] = m.templates.WithLabelValues(p.String())
			m.restartsBy[p] = m.restarts.WithLabelValues(p.String())
		}
	}
	m.errorsBy[0] = map[string]prometheus.Counter{}
	for _, r := range errorReasons {
		m.errorsBy[0][r] = m.errors.WithLabelValues("netflow", r)
	}
	for _, r := range refusedReasons {
		m.refusedBy[r] = m.refused.WithLabelValues(r)
	}
	for _, r := range droppedReasons {
		m.droppedBy[r] = m.pendingDropped.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.Collectors()...)
	}
	return m
}

// Collectors lists the metrics, for a caller that registers them itself.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.errors, m.records, m.counterSamples, m.templates, m.templatesExp,
		m.refused, m.pendingHeld, m.pendingDecoded, m.pendingDropped, m.pendingBytes, m.exporters, m.restarts}
}

// decodeError counts a failure; protocol 0 is a NetFlow datagram whose version is unknown,
// counted as "netflow".
func (m *Metrics) decodeError(p watchfloor.FlowProtocol, reason string) {
	if int(p) < len(m.errorsBy) {
		if c := m.errorsBy[p][reason]; c != nil {
			c.Inc()
		}
	}
}

func (m *Metrics) templateGauge(version uint16, delta float64) {
	switch version {
	case 9:
		m.templatesBy[watchfloor.FlowNetFlowV9].Add(delta)
	case 10:
		m.templatesBy[watchfloor.FlowIPFIX].Add(delta)
	}
}
