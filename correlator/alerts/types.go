package alerts

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/watchfloor/watchfloor"
)

// Errors callers can branch on, wrapped: test with errors.Is.
var (
	ErrNotFound = errors.New("no such alert or silence")
	ErrState    = errors.New("not allowed in the alert's state")
	ErrInvalid  = errors.New("invalid silence")
	ErrFull     = errors.New("too many silences")
)

// Match is what the engine reports each time a rule matches (or a correlation fires) for
// one identity, (Rule, Key).
type Match struct {
	Rule, RuleTitle, Key string
	Severity             watchfloor.Severity
	Category             string
	Title, Description   string
	Entity               watchfloor.Entity
	Tags, Techniques     []string
	Runbook              string
	Labels               []watchfloor.Attr
	// Time is the matching record's (event) time.
	Time time.Time
	// Evidence, when set, is kept in the alert (the first three and the latest seven). Fire
	// keeps the Evidence's Fields slice as it is: the caller must not change it afterwards.
	Evidence *watchfloor.Evidence
	// ResolveAfter is the quiet period after which the alert resolves by itself; 0: only a
	// recovery (Manager.Recover) or an analyst resolves it.
	ResolveAfter time.Duration
}

// Record is an alert as the store keeps it: the alert and what the Manager needs to
// continue it after a restart.
type Record struct {
	watchfloor.Alert
	ResolveAfter time.Duration `json:"resolve_after,omitempty"`
}

// Who made the automatic transitions, in Transition.By.
const (
	ByRule     = "rule"     // a match started the alert, or escalated it
	ByQuiet    = "quiet"    // its quiet period passed
	ByRecovery = "recovery" // its recovery condition matched
	BySystem   = "system"   // the manager itself (a duplicate found at start)
)

// Kinds of history entries, in Transition.Kind.
const (
	KindState   = ""        // a change of state: From → To
	KindAssign  = "assign"  // an analyst (By) gave the alert to Assignee ("" when taken back)
	KindComment = "comment" // an analyst (By) commented (Comment)
)

// Transition is one entry of an alert's history (and MTTA/MTTR): a change of its state
// (Kind KindState), or an assignment or a comment. Only a KindState entry changes the
// state: the others have From and To both the state the alert was in, so that a reader
// computing response times must look at Kind (IsStateChange) first.
type Transition struct {
	Alert    uint64                `json:"alert"`
	Time     time.Time             `json:"time"`
	Kind     string                `json:"kind,omitempty"` // KindState (omitted), KindAssign, KindComment
	From     watchfloor.AlertState `json:"from,omitempty"` // 0 for the alert's start
	To       watchfloor.AlertState `json:"to"`
	By       string                `json:"by"` // an analyst, or ByRule, ByQuiet, ByRecovery, BySystem
	Comment  string                `json:"comment,omitempty"`
	Assignee string                `json:"assignee,omitempty"` // KindAssign: the new assignee
}

// IsStateChange reports whether t changed the alert's state (not an assignment or a
// comment).
func (t Transition) IsStateChange() bool { return t.Kind == KindState }

// Changes is one write of the Manager: all of it is committed, or none.
type Changes struct {
	Alerts          []Record             // inserted or replaced by ID
	History         []Transition         // appended to their alerts' histories
	Silences        []watchfloor.Silence // inserted or replaced by ID
	DeletedSilences []string
}

// Len is the number of records in c.
func (c *Changes) Len() int {
	return len(c.Alerts) + len(c.History) + len(c.Silences) + len(c.DeletedSilences)
}

// Store keeps alerts, their histories and the silences. appliance/store implements it on
// bbolt, MemStore in memory.
type Store interface {
	// PutAlerts commits c and returns once it is durable.
	PutAlerts(ctx context.Context, c *Changes) error
	// LastAlertID is the highest alert ID ever written (0 for none); it never decreases,
	// even when retention deletes that alert.
	LastAlertID() (uint64, error)
	// OpenAlerts returns the alerts that are not resolved.
	OpenAlerts() ([]Record, error)
	// Silences returns every silence kept.
	Silences() ([]watchfloor.Silence, error)
	// Alerts returns the alerts q selects, newest (highest ID) first.
	Alerts(q Query) ([]watchfloor.Alert, error)
	// Alert returns one alert.
	Alert(id uint64) (watchfloor.Alert, bool, error)
	// AlertHistory returns the transitions of one alert, oldest first.
	AlertHistory(id uint64) ([]Transition, error)
}

// Limits of queries.
const (
	DefaultLimit = 100
	MaxLimit     = 10_000
)

// Query selects alerts. Zero fields select everything.
type Query struct {
	State       watchfloor.AlertState // only this state
	Open        bool                  // only alerts not resolved
	MinSeverity watchfloor.Severity   // only this severity and above
	Site        string
	Category    string
	Rule        string
	Tag         string // one of the alert's Tags, e.g. "attack.discovery"
	Before      uint64 // only IDs below this one, to page back; 0: no bound
	Limit       int    // 0: DefaultLimit; at most MaxLimit
}

// Max is the number of alerts q returns at most.
func (q Query) Max() int {
	switch {
	case q.Limit <= 0:
		return DefaultLimit
	case q.Limit > MaxLimit:
		return MaxLimit
	}
	return q.Limit
}

// Matches reports whether q selects a (Before and Limit aside).
func (q Query) Matches(a *watchfloor.Alert) bool {
	switch {
	case q.State != 0 && a.State != q.State,
		q.Open && a.State == watchfloor.AlertResolved,
		a.Severity < q.MinSeverity,
		q.Site != "" && a.Entity.Site != q.Site,
		q.Category != "" && a.Category != q.Category,
		q.Rule != "" && a.Rule != q.Rule,
		q.Tag != "" && !slices.Contains(a.Tags, q.Tag):
		return false
	}
	return true
}
