package decode

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/watchfloor/watchfloor"
)

// Layer is where a packet failed to decode; it is the "layer" label of
// watchfloor_packet_decode_errors_total.
type Layer uint8

// The layers.
const (
	LayerEthernet Layer = iota
	LayerDot1Q
	LayerLink // Linux cooked capture (SLL, SLL2) headers, and link types not supported
	LayerARP
	LayerIPv4
	LayerIPv6 // the IPv6 header and its extension headers
	LayerTCP
	LayerUDP
	LayerICMP // ICMPv4 and ICMPv6
	LayerDNS
	LayerTLS
	LayerHTTP
	numLayers
)

var layerNames = [numLayers]string{"ethernet", "dot1q", "link", "arp", "ipv4", "ipv6", "tcp", "udp", "icmp", "dns", "tls", "http"}

func (l Layer) String() string {
	if l < numLayers {
		return layerNames[l]
	}
	return "unknown"
}

// Reason says why a layer failed; it is the "reason" label of
// watchfloor_packet_decode_errors_total.
type Reason uint8

// The reasons.
const (
	ReasonTruncated   Reason = iota // the bytes ended before the layer did (a short frame, a snap length)
	ReasonMalformed                 // the layer's fields contradict each other or its lengths
	ReasonUnsupported               // a link type the decoder does not read
	numReasons
)

var reasonNames = [numReasons]string{"truncated", "malformed", "unsupported"}

func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "unknown"
}

// The bounded tables, the "table" label of watchfloor_packet_decode_overflow_total.
const (
	tableAttempts = iota // connection attempts for half-open accounting (Config.MaxTracked)
	tableHosts           // one interval's source hosts (Config.MaxHosts)
	numTables
)

var tableNames = [numTables]string{"attempts", "hosts"}

const numKinds = int(watchfloor.ObsHalfOpen) + 1

// Metrics are the counters shared by all Decoders. Labels are bounded: layer (12 values),
// reason (3), kind (the 11 observation kinds), table (2). A Decoder counts locally and adds
// its counts here when Tick or Flush is called (and at each interval boundary), so that
// decoders on several cores do not contend on one cache line per packet.
type Metrics struct {
	packets      prometheus.Counter
	errors       *prometheus.CounterVec
	partial      *prometheus.CounterVec
	observations *prometheus.CounterVec
	overflow     *prometheus.CounterVec
	expired      prometheus.Counter
	tracked      prometheus.Gauge

	errorsBy  [numLayers][numReasons]prometheus.Counter
	partialBy [numLayers]prometheus.Counter
	obsBy     [numKinds]prometheus.Counter
	overBy    [numTables]prometheus.Counter
}

// NewMetrics makes the decoders' metrics and registers them on reg, which may be nil (tests,
// or a caller that registers them itself through Collectors). It panics when reg already
// holds metrics of the same names, as prometheus.MustRegister does: that is a wiring bug.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		packets: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "watchfloor_packet_decode_packets_total",
			Help: "Frames given to the packet decoders (sampled packets).",
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchfloor_packet_decode_errors_total",
			Help: "Frames that failed to decode, by the layer that failed and why.",
		}, []string{"layer", "reason"}),
		partial: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchfloor_packet_decode_partial_total",
			Help: "DNS messages, TLS ClientHellos and HTTP request heads that continue past their TCP segment (not reassembled): DNS skipped, TLS and HTTP observed with what the segment holds.",
		}, []string{"layer"}),
		observations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchfloor_packet_decode_observations_total",
			Help: "Observations produced, by kind.",
		}, []string{"kind"}),
		overflow: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchfloor_packet_decode_overflow_total",
			Help: "Packets not accounted in a bounded table because it was full: attempts (SYNs not tracked for half-open accounting), hosts (packets in no host.traffic row).",
		}, []string{"table"}),
		expired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "watchfloor_packet_decode_half_open_expired_total",
			Help: "Connection attempts forgotten unanswered after half_open_timeout.",
		}),
		tracked: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "watchfloor_packet_decode_tracked_attempts",
			Help: "Connection attempts tracked as half-open now, over all decoders.",
		}),
	}
	for l := range numLayers {
		for r := range numReasons {
			if r == ReasonUnsupported && l != LayerLink {
				continue
			}
			m.errorsBy[l][r] = m.errors.WithLabelValues(l.String(), r.String())
		}
	}
	for _, l := range []Layer{LayerDNS, LayerTLS, LayerHTTP} {
		m.partialBy[l] = m.partial.WithLabelValues(l.String())
	}
	for k := 1; k < numKinds; k++ {
		m.obsBy[k] = m.observations.WithLabelValues(watchfloor.ObsKind(k).String())
	}
	for t := range numTables {
		m.overBy[t] = m.overflow.WithLabelValues(tableNames[t])
	}
	if reg != nil {
		reg.MustRegister(m.Collectors()...)
	}
	return m
}

// Collectors lists the metrics, for a caller that registers them itself.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.packets, m.errors, m.partial, m.observations, m.overflow, m.expired, m.tracked}
}

// counts are one Decoder's counts not yet added to Metrics.
type counts struct {
	packets  uint64
	errors   [numLayers][numReasons]uint64
	partial  [numLayers]uint64
	obs      [numKinds]uint64
	overflow [numTables]uint64
	expired  uint64
	tracked  int64 // attempts tracked now
	reported int64 // tracked as last added to the gauge
}

// flush adds c to m and zeroes it.
func (c *counts) flush(m *Metrics) {
	if m == nil {
		return
	}
	if c.packets != 0 {
		m.packets.Add(float64(c.packets))
	}
	for l := range c.errors {
		for r, n := range c.errors[l] {
			if n != 0 && m.errorsBy[l][r] != nil {
				m.errorsBy[l][r].Add(float64(n))
			}
		}
	}
	for l, n := range c.partial {
		if n != 0 && m.partialBy[l] != nil {
			m.partialBy[l].Add(float64(n))
		}
	}
	for k, n := range c.obs {
		if n != 0 && m.obsBy[k] != nil {
			m.obsBy[k].Add(float64(n))
		}
	}
	for t, n := range c.overflow {
		if n != 0 {
			m.overBy[t].Add(float64(n))
		}
	}
	if c.expired != 0 {
		m.expired.Add(float64(c.expired))
	}
	if d := c.tracked - c.reported; d != 0 {
		m.tracked.Add(float64(d))
		c.reported = c.tracked
	}
	tracked, reported := c.tracked, c.reported
	*c = counts{tracked: tracked, reported: reported}
}
