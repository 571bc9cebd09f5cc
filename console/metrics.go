package console

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the console's self-metrics, registered on the injected Registerer.
type metrics struct {
	wsClients  prometheus.Gauge
	wsDropped  prometheus.Counter
	wsMessages prometheus.Counter
	httpReqs   *prometheus.CounterVec // code
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		wsClients: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "watchfloor_console_ws_clients",
			Help: "WebSocket clients connected to the wall stream.",
		}),
		wsDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "watchfloor_console_ws_dropped_total",
			Help: "WebSocket clients dropped because their send queue was full.",
		}),
		wsMessages: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "watchfloor_console_ws_messages_total",
			Help: "Messages written to WebSocket clients.",
		}),
		httpReqs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchfloor_console_http_requests_total",
			Help: "HTTP requests served, by status code.",
		}, []string{"code"}),
	}
	for _, c := range []prometheus.Collector{m.wsClients, m.wsDropped, m.wsMessages, m.httpReqs} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("console: register metrics: %w", err)
		}
	}
	return m, nil
}
