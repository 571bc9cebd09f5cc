// Package notify takes alerts to the people on call: a routing tree matches an alert's labels
// to receivers, groups alerts into notifications (group_by, group_wait, group_interval,
// repeat_interval), escalates unacknowledged ones along a policy to whoever a schedule says is
// on call now, and delivers through receivers (webhook, Slack, Teams, PagerDuty, e-mail,
// syslog/CEF) with retries that never hold up the other receivers. Every delivery is logged.
//
// The parts, each in its own file or subpackage:
//   - route.go, group.go: the routing tree and the grouping of alerts into notifications;
//   - oncall/: escalation policies and on-call schedules;
//   - receiver/: the receivers and their delivery with retries.
package notify

import (
	"context"
	"time"

	"github.com/watchfloor/watchfloor"
)

// Status is what a notification says of its group.
type Status string

// The statuses.
const (
	StatusFiring       Status = "firing"       // at least one alert of the group is open
	StatusResolved     Status = "resolved"     // every alert of the group is resolved
	StatusAcknowledged Status = "acknowledged" // the group is acknowledged (PagerDuty's acknowledge)
)

// Target is who a notification is for, when an escalation policy picked a person: receivers
// that page people (mail, PagerDuty) address it; channel receivers (a Slack channel, a
// webhook) ignore it.
type Target struct {
	Name  string `json:"name" yaml:"name"`
	Email string `json:"email,omitempty" yaml:"email"`
	Phone string `json:"phone,omitempty" yaml:"phone"`
}

// Notification is one page: the alerts of one group, for one receiver, at one time.
type Notification struct {
	ID          string              `json:"id"`        // unique per delivery attempt chain, stable across retries
	GroupKey    string              `json:"group_key"` // the route and the group-by values: stable for the group's life (PagerDuty dedup_key)
	Receiver    string              `json:"receiver"`
	Status      Status              `json:"status"`
	Target      *Target             `json:"target,omitempty"`
	Level       int                 `json:"escalation_level,omitempty"` // 0: the first page
	Title       string              `json:"title"`                      // the root cause first: the most severe, oldest alert's title
	Summary     string              `json:"summary"`                    // counts by severity, what is suppressed
	Severity    watchfloor.Severity `json:"severity"`                   // the highest of the group's alerts
	Alerts      []watchfloor.Alert  `json:"alerts"`                     // root causes first, then by severity and age
	GroupLabels []watchfloor.Attr   `json:"group_labels"`
	Link        string              `json:"link"`               // opens the incident in the console
	AckLink     string              `json:"ack_link,omitempty"` // a signed link that acknowledges it
	Time        time.Time           `json:"time"`
}

// Receiver delivers notifications somewhere. Send returns once the far end took it (or it
// failed); the caller retries with backoff, so Send makes one attempt. It must honour ctx.
type Receiver interface {
	Name() string
	Send(ctx context.Context, n Notification) error
}
