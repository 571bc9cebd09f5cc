package watchfloor

import (
	"fmt"
	"time"
)

// AlertState is where an alert is in its life.
type AlertState uint8

// The alert states. An alert fires, may be acknowledged by an analyst, and is resolved by
// its rule's recovery condition, its quiet period, or an analyst.
const (
	AlertFiring AlertState = iota + 1
	AlertAcknowledged
	AlertResolved
)

var alertStateNames = [...]string{"", "firing", "acknowledged", "resolved"}

func (s AlertState) String() string {
	if s != 0 && int(s) < len(alertStateNames) {
		return alertStateNames[s]
	}
	return fmt.Sprintf("alert_state(%d)", uint8(s))
}

// MarshalText makes an AlertState its name in JSON and YAML; the zero or an unknown state is
// an error, so that nothing is written that UnmarshalText would refuse.
func (s AlertState) MarshalText() ([]byte, error) {
	if s == 0 || int(s) >= len(alertStateNames) {
		return nil, fmt.Errorf("invalid alert state %d", uint8(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText reads an AlertState's name.
func (s *AlertState) UnmarshalText(b []byte) error {
	for i, n := range alertStateNames {
		if i > 0 && n == string(b) {
			*s = AlertState(i)
			return nil
		}
	}
	return fmt.Errorf("unknown alert state %q", b)
}

// Alert categories: what kind of trouble, for routing and the posture report.
const (
	CategoryAvailability = "availability" // NOC: something is down or unreachable
	CategoryPerformance  = "performance"  // NOC: something is slow, full or erring
	CategorySecurity     = "security"     // SOC: something hostile or against policy
)

// Entity is what an alert is about: the most specific of these that is set names it.
type Entity struct {
	Site      string `json:"site,omitempty"`
	Device    string `json:"device,omitempty"`
	Interface string `json:"interface,omitempty"`
	Host      string `json:"host,omitempty"` // an address (or a name) the alert is about, e.g. a scanner
}

// Evidence is one piece of what made an alert fire: a summary line and, where there is one,
// the record it came from (time, kind, and the fields that mattered).
type Evidence struct {
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"` // record kind: "flow", "dns.query", "event", "metric", …
	Summary string    `json:"summary"`
	Fields  []Attr    `json:"fields,omitempty"`
}

// Alert is one incident a rule found, deduplicated by its Key: while it is not resolved,
// more matches of the same rule and key update it (Count, LastSeen, Evidence) instead of
// making a new one.
type Alert struct {
	ID          uint64     `json:"id"`   // assigned by the store; orders alerts of one appliance
	Rule        string     `json:"rule"` // the rule's name
	RuleTitle   string     `json:"rule_title,omitempty"`
	Key         string     `json:"key"` // the rule's identity fields' values, "src_ip=198.51.100.7"
	Severity    Severity   `json:"severity"`
	Category    string     `json:"category"`
	State       AlertState `json:"state"`
	Title       string     `json:"title"`
	Description string     `json:"description,omitempty"`
	Entity      Entity     `json:"entity"`
	Tags        []string   `json:"tags,omitempty"`       // e.g. "attack.discovery", "attack.t1046"
	Techniques  []string   `json:"techniques,omitempty"` // ATT&CK technique IDs, "T1046"
	Runbook     string     `json:"runbook,omitempty"`
	Labels      []Attr     `json:"labels,omitempty"` // group-by values and other labels for routing

	StartedAt  time.Time  `json:"started_at"`         // first matching record's time
	LastSeen   time.Time  `json:"last_seen"`          // last matching record's time
	UpdatedAt  time.Time  `json:"updated_at"`         // last change of any kind
	ResolvedAt time.Time  `json:"resolved_at"`        // zero while not resolved
	Count      uint64     `json:"count"`              // matches folded into this alert
	Evidence   []Evidence `json:"evidence,omitempty"` // bounded: the first and the latest few

	AckedBy      string    `json:"acked_by,omitempty"`
	AckedAt      time.Time `json:"acked_at"`
	Assignee     string    `json:"assignee,omitempty"`      // who works on it now (an analyst's name); "" when no one
	Silenced     bool      `json:"silenced"`                // a silence matches it: it shows, but pages no one
	SilenceID    string    `json:"silence_id,omitempty"`    // the matching silence
	Flapping     bool      `json:"flapping"`                // fired and resolved too often lately
	SuppressedBy uint64    `json:"suppressed_by,omitempty"` // the root-cause alert that explains this one
	Suppressed   []uint64  `json:"suppressed,omitempty"`    // on a root-cause alert: the alerts it explains
}

// Matcher selects alerts by one label: Name is "rule", "severity", "category", "site",
// "device", "interface", "host", "key", or a label's key; Op is "=", "!=", "=~" or "!~"
// (regular expressions match the whole value).
type Matcher struct {
	Name  string `json:"name"`
	Op    string `json:"op"`
	Value string `json:"value"`
}

// Silence mutes the alerts its matchers all match, from StartsAt until EndsAt: they still
// fire and show, marked silenced, but page no one.
type Silence struct {
	ID        string    `json:"id"`
	Matchers  []Matcher `json:"matchers"`
	StartsAt  time.Time `json:"starts_at"`
	EndsAt    time.Time `json:"ends_at"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	Comment   string    `json:"comment"`
}

// Label is the value of the alert's label name as silences and matchers see it: "rule",
// "severity", "category", "site", "device", "interface", "host" and "key" name the alert's
// own fields, anything else one of its Labels ("" when it has none of that key).
func (a *Alert) Label(name string) string {
	switch name {
	case "rule":
		return a.Rule
	case "severity":
		return a.Severity.String()
	case "category":
		return a.Category
	case "site":
		return a.Entity.Site
	case "device":
		return a.Entity.Device
	case "interface":
		return a.Entity.Interface
	case "host":
		return a.Entity.Host
	case "key":
		return a.Key
	}
	for _, l := range a.Labels {
		if l.Key == name {
			return l.Value
		}
	}
	return ""
}
