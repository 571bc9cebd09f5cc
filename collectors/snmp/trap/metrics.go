package trap

import "github.com/prometheus/client_golang/prometheus"

// Drop reasons, the values of watchfloor_trap_dropped_total's reason label.
const (
	dropDecode      = "decode"       // not an SNMP trap or inform we can parse, or a bad PDU
	dropCommunity   = "community"    // v1/v2c with a community we do not accept
	dropAuth        = "auth"         // v3: authentication, decryption, security level or time window failed
	dropUnknownUser = "unknown_user" // v3: no such user (for the sender's engine)
	dropFull        = "full"         // the receive queue was full
)

var dropReasons = []string{dropDecode, dropCommunity, dropAuth, dropUnknownUser, dropFull}

type metrics struct {
	received *prometheus.CounterVec // by version
	dropped  *prometheus.CounterVec // by reason
	informs  prometheus.Counter
	reports  *prometheus.CounterVec // v3 reports sent, by kind
	panics   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchfloor_trap_received_total",
			Help: "SNMP traps and informs accepted and turned into events, by SNMP version.",
		}, []string{"version"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchfloor_trap_dropped_total",
			Help: "Datagrams received on the trap socket and dropped, by reason.",
		}, []string{"reason"}),
		informs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "watchfloor_trap_informs_answered_total",
			Help: "Informs acknowledged with a Response PDU.",
		}),
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchfloor_trap_v3_reports_total",
			Help: "SNMPv3 Report PDUs sent to inform senders (engine discovery and time synchronisation), by kind.",
		}, []string{"kind"}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "watchfloor_trap_decode_panics_total",
			Help: "Datagrams whose decoding panicked (also counted as dropped, reason decode).",
		}),
	}
	for _, v := range []string{"1", "2c", "3"} {
		m.received.WithLabelValues(v)
	}
	for _, r := range dropReasons {
		m.dropped.WithLabelValues(r)
	}
	for _, k := range []string{reportUnknownEngine, reportNotInTimeWindow} {
		m.reports.WithLabelValues(k)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.received, m.dropped, m.informs, m.reports, m.panics} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
