package console

import (
	"fmt"
	"math"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the console's self-metrics, registered on the injected Registerer.
type metrics struct {
	wsClients  prometheus.Gauge
	wsDropped  prometheus.Counter
	wsMessages prometheus.Counter
	httpReqs   *prometheus.CounterVec // code
	// Flow rollups received for the walls, by kind (closed, live), and those ignored, by
	// reason (old: older than the last of their kind; invalid: no start or step).
	flowRollups *prometheus.CounterVec
	flowIgnored *prometheus.CounterVec
	// Alert changes received for the walls, the open alerts the hub holds, and changes not
	// streamed, by reason (old: older than the alert's last change; over_cap: the hub holds
	// maxHubAlerts more important ones; invalid: no ID).
	alertDeltas  prometheus.Counter
	alertsOpen   prometheus.Gauge
	alertIgnored *prometheus.CounterVec
	alertEvicted prometheus.Counter
	auditErrors  prometheus.Counter // audit entries the log could not record
	// The security posture as the hub last computed it (posture.go): the score and the
	// points each part took off it. NaN until the first evaluation.
	postureScore, postureAlerts, postureDevices, postureBlind prometheus.Gauge
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
		flowRollups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchfloor_console_flow_rollups_total",
			Help: "Flow rollups received for the wall stream, by kind (closed, live).",
		}, []string{"kind"}),
		flowIgnored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchfloor_console_flow_rollups_ignored_total",
			Help: "Flow rollups not shown, by reason (old: older than the last of their kind; invalid).",
		}, []string{"reason"}),
		alertDeltas: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "watchfloor_console_alert_changes_total",
			Help: "Alert changes received for the wall stream.",
		}),
		alertsOpen: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "watchfloor_console_alerts_open",
			Help: "Open (firing or acknowledged) alerts the wall stream holds.",
		}),
		alertIgnored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchfloor_console_alert_changes_ignored_total",
			Help: "Alert changes not streamed, by reason (old, over_cap, invalid).",
		}, []string{"reason"}),
		alertEvicted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "watchfloor_console_alerts_evicted_total",
			Help: "Open alerts the stream's snapshot forgot to make room for more important ones.",
		}),
		auditErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "watchfloor_console_audit_errors_total",
			Help: "Audit entries that could not be recorded (each is logged).",
		}),
		postureScore: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "watchfloor_console_posture_score",
			Help: "Security posture score of the site, 0 (poor) to 100 (nothing wrong); good from 80, fair from 50. NaN before the first evaluation.",
		}),
		postureAlerts: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "watchfloor_console_posture_alert_penalty",
			Help: "Points the open alerts take off the security posture score (0 to 100).",
		}),
		postureDevices: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "watchfloor_console_posture_device_penalty",
			Help: "Points the devices down take off the security posture score (0 to 40).",
		}),
		postureBlind: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "watchfloor_console_posture_blind_penalty",
			Help: "Points data loss (drops anywhere in the last stats) takes off the security posture score (0 or 10).",
		}),
	}
	for _, g := range []prometheus.Gauge{m.postureScore, m.postureAlerts, m.postureDevices, m.postureBlind} {
		g.Set(math.NaN())
	}
	for _, r := range []string{"old", "over_cap", "invalid"} {
		m.alertIgnored.WithLabelValues(r)
	}
	for _, k := range []string{"closed", "live"} {
		m.flowRollups.WithLabelValues(k)
	}
	for _, r := range []string{"old", "invalid"} {
		m.flowIgnored.WithLabelValues(r)
	}
	for _, c := range []prometheus.Collector{m.wsClients, m.wsDropped, m.wsMessages, m.httpReqs, m.flowRollups, m.flowIgnored, m.auditErrors,
		m.alertDeltas, m.alertsOpen, m.alertIgnored, m.alertEvicted, m.postureScore, m.postureAlerts, m.postureDevices, m.postureBlind} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("console: register metrics: %w", err)
		}
	}
	return m, nil
}
