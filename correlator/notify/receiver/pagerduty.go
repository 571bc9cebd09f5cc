package receiver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/correlator/notify"
)

// PagerDutyDefaultURL is the Events API v2 endpoint.
const PagerDutyDefaultURL = "https://events.pagerduty.com/v2/enqueue"

// PagerDutyConfig configures a PagerDuty Events API v2 receiver.
type PagerDutyConfig struct {
	URL        string            `yaml:"url"`         // default PagerDutyDefaultURL
	RoutingKey watchfloor.Secret `yaml:"routing_key"` // the integration key of the service
	Source     string            `yaml:"source"`      // payload.source when the alert names no device or host; default "watchfloor"
	Timeout    time.Duration     `yaml:"timeout"`
}

// Validate reports every problem of c.
func (c PagerDutyConfig) Validate() []FieldError {
	var errs fieldErrors
	if c.URL != "" {
		errs.checkURL("url", c.URL, false)
	}
	if c.RoutingKey == "" {
		errs.add("routing_key", "is required")
	} else if len(c.RoutingKey) != 32 {
		errs.add("routing_key", "must be the 32-character integration key")
	}
	if c.Timeout < 0 {
		errs.add("timeout", "must not be negative")
	}
	return errs
}

// PagerDutyEvent is an Events API v2 event.
type PagerDutyEvent struct {
	RoutingKey  string            `json:"routing_key"`
	EventAction string            `json:"event_action"` // trigger, acknowledge, resolve
	DedupKey    string            `json:"dedup_key"`
	Payload     *PagerDutyPayload `json:"payload,omitempty"` // trigger only
	Client      string            `json:"client,omitempty"`
	ClientURL   string            `json:"client_url,omitempty"`
	Links       []PagerDutyLink   `json:"links,omitempty"`
}

// PagerDutyPayload is the event's payload.
type PagerDutyPayload struct {
	Summary       string         `json:"summary"`
	Source        string         `json:"source"`
	Severity      string         `json:"severity"` // critical, error, warning, info
	Timestamp     string         `json:"timestamp,omitempty"`
	Component     string         `json:"component,omitempty"`
	Group         string         `json:"group,omitempty"`
	Class         string         `json:"class,omitempty"`
	CustomDetails map[string]any `json:"custom_details,omitempty"`
}

// PagerDutyLink is a link shown on the incident.
type PagerDutyLink struct {
	Href string `json:"href"`
	Text string `json:"text"`
}

// PagerDutySeverity maps a Watchfloor severity to PagerDuty's four.
func PagerDutySeverity(s watchfloor.Severity) string {
	switch {
	case s >= watchfloor.SeverityCritical:
		return "critical"
	case s == watchfloor.SeverityHigh:
		return "error"
	case s == watchfloor.SeverityMedium:
		return "warning"
	default:
		return "info"
	}
}

// PagerDutyDedupKey is the dedup_key of a group: its GroupKey, or the GroupKey's SHA-256
// when longer than PagerDuty's 255 characters.
func PagerDutyDedupKey(groupKey string) string {
	if len(groupKey) <= 255 {
		return groupKey
	}
	sum := sha256.Sum256([]byte(groupKey))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// maxPDAlerts bounds the alerts listed in custom_details (PagerDuty takes 512 KB per event).
const maxPDAlerts = 20

// PagerDutyPayloadOf builds the event for n with routing key key and default source.
func PagerDutyPayloadOf(n notify.Notification, key, source string) PagerDutyEvent {
	ev := PagerDutyEvent{
		RoutingKey: key,
		DedupKey:   PagerDutyDedupKey(n.GroupKey),
		Client:     "Watchfloor",
		ClientURL:  n.Link,
	}
	switch n.Status {
	case notify.StatusResolved:
		ev.EventAction = "resolve"
	case notify.StatusAcknowledged:
		ev.EventAction = "acknowledge"
	default:
		ev.EventAction = "trigger"
	}
	if n.Link != "" {
		ev.Links = append(ev.Links, PagerDutyLink{Href: n.Link, Text: "Open in Watchfloor"})
	}
	if ev.EventAction != "trigger" {
		return ev
	}
	if source == "" {
		source = "watchfloor"
	}
	p := &PagerDutyPayload{
		Summary:  truncate(headline(n), 1024),
		Source:   source,
		Severity: PagerDutySeverity(n.Severity),
	}
	if !n.Time.IsZero() {
		p.Timestamp = n.Time.UTC().Format(time.RFC3339Nano)
	}
	if len(n.Alerts) > 0 {
		a := n.Alerts[0]
		switch {
		case a.Entity.Device != "":
			p.Source = a.Entity.Device
		case a.Entity.Host != "":
			p.Source = a.Entity.Host
		}
		p.Component = a.Entity.Interface
		p.Group = a.Entity.Site
		p.Class = a.Category
	}
	details := map[string]any{"summary": n.Summary, "counts": counts(n), "group_key": n.GroupKey, "notification_id": n.ID}
	if len(n.GroupLabels) > 0 {
		gl := make(map[string]string, len(n.GroupLabels))
		for _, l := range n.GroupLabels {
			gl[l.Key] = l.Value
		}
		details["group_labels"] = gl
	}
	type brief struct {
		Rule     string `json:"rule"`
		Title    string `json:"title"`
		Severity string `json:"severity"`
		Key      string `json:"key,omitempty"`
		Started  string `json:"started_at"`
	}
	var list []brief
	for i, a := range n.Alerts {
		if i == maxPDAlerts {
			details["alerts_omitted"] = len(n.Alerts) - maxPDAlerts
			break
		}
		list = append(list, brief{a.Rule, a.Title, a.Severity.String(), a.Key, a.StartedAt.UTC().Format(time.RFC3339)})
	}
	if list != nil {
		details["alerts"] = list
	}
	p.CustomDetails = details
	ev.Payload = p
	if n.AckLink != "" {
		ev.Links = append(ev.Links, PagerDutyLink{Href: n.AckLink, Text: "Acknowledge in Watchfloor"})
	}
	return ev
}

// PagerDuty sends Events API v2 events.
type PagerDuty struct {
	name   string
	cfg    PagerDutyConfig
	client *http.Client
}

var _ notify.Receiver = (*PagerDuty)(nil)

// NewPagerDuty returns a PagerDuty receiver; client nil uses a default client.
func NewPagerDuty(name string, cfg PagerDutyConfig, client *http.Client) (*PagerDuty, error) {
	if err := checkNew(name, cfg.Validate()); err != nil {
		return nil, err
	}
	if cfg.URL == "" {
		cfg.URL = PagerDutyDefaultURL
	}
	return &PagerDuty{name: name, cfg: cfg, client: defaultClient(client)}, nil
}

// Name returns the receiver's name.
func (p *PagerDuty) Name() string { return p.name }

// Send makes one POST of n's event; PagerDuty answers 202 when it took it.
func (p *PagerDuty) Send(ctx context.Context, n notify.Notification) error {
	body, err := json.Marshal(PagerDutyPayloadOf(n, p.cfg.RoutingKey.Reveal(), p.cfg.Source))
	if err != nil {
		return permanent(fmt.Errorf("pagerduty %s: encode: %w", p.name, err))
	}
	ok := func(code int) bool { return code == http.StatusAccepted }
	if err := post(ctx, p.client, p.cfg.Timeout, p.cfg.URL, body, nil, ok); err != nil {
		return fmt.Errorf("pagerduty %s: %w", p.name, err)
	}
	return nil
}
