package dispatch

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/correlator/notify"
)

// Result is what a LogEntry says happened to a notification.
type Result string

// The results, in the order a notification may see them.
const (
	ResultQueued    Result = "queued"    // handed to delivery (persisted in the outbox first)
	ResultRetry     Result = "retry"     // an attempt failed; another follows after a backoff
	ResultDelivered Result = "delivered" // the receiver took it
	ResultFailed    Result = "failed"    // a permanent error, or the attempts were exhausted
	ResultDropped   Result = "dropped"   // the receiver's queue was full, or nobody was on call
)

// LogEntry is one line of the notification log: a notification queued, or one attempt at
// delivering it. Every page is there, with its time, receiver, target, result and the
// incident and alerts it was for.
type LogEntry struct {
	Seq            uint64              `json:"seq"` // assigned by the store: increasing, unique
	Time           time.Time           `json:"time"`
	NotificationID string              `json:"notification_id"`
	Incident       string              `json:"incident"` // Incident.ID
	GroupKey       string              `json:"group_key"`
	Receiver       string              `json:"receiver"`
	Target         string              `json:"target,omitempty"` // the person paged, when an escalation picked one
	Level          int                 `json:"escalation_level"` // 0: the route's own page or the policy's first level
	Status         notify.Status       `json:"status"`           // firing, acknowledged, resolved
	Severity       watchfloor.Severity `json:"severity"`
	Title          string              `json:"title"`
	Alerts         []uint64            `json:"alerts"` // the IDs the notification listed, at most MaxLoggedAlerts
	Result         Result              `json:"result"`
	Attempt        int                 `json:"attempt"` // 1-based; 0 for queued and dropped
	Err            string              `json:"error,omitempty"`
}

// MaxLoggedAlerts bounds LogEntry.Alerts.
const MaxLoggedAlerts = 50

// Incident is one problem paged about: the groups of every route that took its root cause
// (the first alert of their first page), from the first firing page to the resolution of its
// last group. MTTA and MTTR are computed from these.
type Incident struct {
	ID          string              `json:"id"`     // Opened and a hash of the first group's key: unique, in time order
	Groups      []string            `json:"groups"` // the group keys (route and group-by values) paged about it
	Policy      string              `json:"policy,omitempty"`
	Title       string              `json:"title"`
	Severity    watchfloor.Severity `json:"severity"` // the highest seen while open
	Alerts      []uint64            `json:"alerts"`   // the first alerts it paged about, at most MaxLoggedAlerts
	Opened      time.Time           `json:"opened"`   // the first firing page
	Acked       time.Time           `json:"acked,omitzero"`
	AckedBy     string              `json:"acked_by,omitempty"`
	Resolved    time.Time           `json:"resolved,omitzero"`
	Pages       int                 `json:"pages"`       // notifications sent for it (all receivers and levels)
	Escalations int                 `json:"escalations"` // escalation pages beyond the policy's first level
}

// IncidentID is the ID of an incident opened at opened by a page of the group key: 16 hex
// digits of opened's Unix nanoseconds, '-', 16 hex digits of a hash of the key. Byte order
// is time order, which the store's queries rely on.
func IncidentID(opened time.Time, groupKey string) string {
	h := sha256.Sum256([]byte(groupKey))
	return fmt.Sprintf("%016x-%016x", uint64(opened.UnixNano()), binary.BigEndian.Uint64(h[:8]))
}

// Open reports whether the incident is not resolved.
func (i *Incident) Open() bool { return i.Resolved.IsZero() }

// LogQuery selects notification log entries. Zero fields do not filter.
type LogQuery struct {
	Since, Until time.Time // Time in [Since, Until)
	Receiver     string
	Incident     string
	Alert        uint64 // entries listing this alert
	Result       Result
	Limit        int // newest first; 0: 100, at most 1000
}

// IncidentQuery selects incidents opened in [Since, Until). Zero fields do not filter.
type IncidentQuery struct {
	Since, Until time.Time
	Severity     *watchfloor.Severity
	Limit        int // newest first; 0: 100, at most 10000
}

// ResponseStats are the response times of the incidents of one severity opened in a period.
type ResponseStats struct {
	Severity     watchfloor.Severity `json:"severity"`
	Incidents    int                 `json:"incidents"`
	Acknowledged int                 `json:"acknowledged"`
	Resolved     int                 `json:"resolved"`
	Escalated    int                 `json:"escalated"` // incidents with at least one escalation page
	// Time to acknowledge and to resolve, from the first page; over the incidents that were.
	MTTAMedian time.Duration `json:"mtta_median"`
	MTTAP90    time.Duration `json:"mtta_p90"`
	MTTRMedian time.Duration `json:"mttr_median"`
	MTTRP90    time.Duration `json:"mttr_p90"`
}

// Store keeps the pipeline durable: its state, the outbox of notifications handed to delivery
// but not yet done, the incidents and the notification log. appliance/store implements it.
type Store interface {
	// LoadDispatch returns the last saved state (nil when none) and the outbox, oldest first.
	LoadDispatch() (state []byte, outbox []notify.Notification, err error)
	// SaveDispatch writes, in one transaction: the state, the notifications to add to the
	// outbox (keyed by ID and receiver), the incidents (by ID, replacing) and log entries.
	// It returns once they are durable.
	SaveDispatch(state []byte, outbox []notify.Notification, incidents []Incident, log []LogEntry) error
	// RecordDelivery appends e to the log; when done, the outbox entry (e.NotificationID,
	// e.Receiver) goes. It returns once that is durable.
	RecordDelivery(e LogEntry, done bool) error
}
