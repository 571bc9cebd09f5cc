package flow

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Listener protocols, the "protocol" label of the receive metrics.
const (
	protoNetFlow = iota // NetFlow v5/v9 and IPFIX
	protoSFlow
	numProtos
)

var protoNames = [numProtos]string{"netflow", "sflow"}

// metrics are the collector's own self-metrics; the decoders' (records, decode errors,
// templates) are registered beside them by the decoder package. Labels are bounded: protocol
// (netflow, sflow) and a few fixed reasons.
type metrics struct {
	datagrams   [numProtos]prometheus.Counter
	bytes       [numProtos]prometheus.Counter
	truncated   [numProtos]prometheus.Counter
	readErrors  prometheus.Counter
	unknown     prometheus.Counter // records from exporters no device is known for
	rcvbuf      prometheus.Gauge
	rates       *prometheus.CounterVec
	rateResults [numRateResults]prometheus.Counter
	rateEntries prometheus.Gauge
	replayed    prometheus.Counter

	collectors []prometheus.Collector
}

func newMetrics(drops func(proto int) float64) *metrics {
	datagrams := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "watchfloor_flow_datagrams_total",
		Help: "Datagrams received from exporters, by listener protocol.",
	}, []string{"protocol"})
	bytes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "watchfloor_flow_received_bytes_total",
		Help: "UDP payload bytes received from exporters, by listener protocol.",
	}, []string{"protocol"})
	truncated := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "watchfloor_flow_truncated_datagrams_total",
		Help: "Datagrams larger than the receive buffer of a message (9216 bytes), dropped.",
	}, []string{"protocol"})
	m := &metrics{
		readErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "watchfloor_flow_read_errors_total",
			Help: "Socket read errors other than the close at shutdown.",
		}),
		unknown: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "watchfloor_flow_unknown_exporter_records_total",
			Help: "Flow records from exporters that no configured exporter or polled device matches.",
		}),
		rcvbuf: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "watchfloor_flow_socket_receive_buffer_bytes",
			Help: "The smallest receive buffer the kernel granted a listening socket (SO_RCVBUF as read back, halved).",
		}),
		rates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchfloor_flow_counter_rates_total",
			Help: "sFlow interface counter readings by outcome (ok, first, reset, implausible, limit).",
		}, []string{"result"}),
		rateEntries: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "watchfloor_flow_counter_interfaces",
			Help: "Interfaces whose last sFlow counter reading is kept for rates.",
		}),
		replayed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "watchfloor_flow_replayed_datagrams_total",
			Help: "Exporter datagrams decoded from capture files by Replay.",
		}),
	}
	drops0 := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name:        "watchfloor_flow_socket_drops_total",
		Help:        "Datagrams the kernel dropped on the listening sockets (receive buffer full), from /proc/net/udp{,6}.",
		ConstLabels: prometheus.Labels{"protocol": protoNames[protoNetFlow]},
	}, func() float64 { return drops(protoNetFlow) })
	drops1 := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name:        "watchfloor_flow_socket_drops_total",
		Help:        "Datagrams the kernel dropped on the listening sockets (receive buffer full), from /proc/net/udp{,6}.",
		ConstLabels: prometheus.Labels{"protocol": protoNames[protoSFlow]},
	}, func() float64 { return drops(protoSFlow) })
	for p := range numProtos {
		m.datagrams[p] = datagrams.WithLabelValues(protoNames[p])
		m.bytes[p] = bytes.WithLabelValues(protoNames[p])
		m.truncated[p] = truncated.WithLabelValues(protoNames[p])
	}
	for r := range numRateResults {
		m.rateResults[r] = m.rates.WithLabelValues(rateResult(r).String())
	}
	m.collectors = []prometheus.Collector{datagrams, bytes, truncated, m.readErrors, m.unknown, m.rcvbuf,
		m.rates, m.rateEntries, m.replayed, drops0, drops1}
	return m
}

func (m *metrics) register(reg prometheus.Registerer, more ...prometheus.Collector) error {
	if reg == nil {
		return nil
	}
	for _, c := range append(m.collectors, more...) {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("flow: register metrics: %w", err)
		}
	}
	return nil
}

// Log reasons, each limited on its own.
const (
	reasonRead = iota
	reasonDecodeNetFlow
	reasonDecodeSFlow
	reasonTruncated
	reasonReplay
	numReasons
)
