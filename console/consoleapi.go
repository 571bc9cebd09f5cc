package console

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/watchfloor/watchfloor"
)

// The analyst console's own endpoints: assignment, comments and the history of an alert,
// and the audit log.
//
//	POST /api/v1/alerts/{id}/assign   {"assignee": "bob"} ("" takes it back)   analyst
//	POST /api/v1/alerts/{id}/comment  {"text": "…"}                            analyst
//	GET  /api/v1/alerts/{id}/history                                           viewer
//	GET  /api/v1/audit?since&until&who&action&limit                             admin

// AlertChange is one entry of an alert's history: a change of its state (Kind "state":
// From → To), an assignment (Kind "assign": Assignee, "" when taken back) or a comment
// (Kind "comment"). By is the analyst, or "rule", "quiet", "recovery", "system" for the
// automatic changes.
type AlertChange struct {
	Time     time.Time             `json:"time"`
	Kind     string                `json:"kind"`
	From     watchfloor.AlertState `json:"from,omitempty"` // 0 (left out) for the alert's start
	To       watchfloor.AlertState `json:"to"`
	By       string                `json:"by"`
	Comment  string                `json:"comment,omitempty"`
	Assignee string                `json:"assignee,omitempty"`
}

// The kinds of AlertChange.
const (
	ChangeState   = "state"
	ChangeAssign  = "assign"
	ChangeComment = "comment"
)

// Limits of the console's analyst actions.
const (
	MaxNoteLen     = 4096 // bytes of a comment posted to …/comment
	MaxAssigneeLen = 64   // bytes of an assignee's name
	maxNoteBody    = 64 << 10
	maxAuditLimit  = 1000
	defAuditLimit  = 100
	maxAuditFilter = 128 // bytes of the who and action filters
)

// CheckAssignee says what is wrong with an assignee's name, or nil: "" (no one) or a
// user-like name of at most MaxAssigneeLen bytes that starts with a letter or a digit and
// goes on with letters, digits and . _ - @ +. The correlator applies the same rule.
func CheckAssignee(name string) error {
	if name == "" {
		return nil
	}
	if len(name) > MaxAssigneeLen {
		return fmt.Errorf("longer than %d bytes", MaxAssigneeLen)
	}
	if !utf8.ValidString(name) {
		return errors.New("not UTF-8")
	}
	for i, r := range name {
		ok := unicode.IsLetter(r) || unicode.IsDigit(r)
		if i > 0 {
			ok = ok || strings.ContainsRune("._-@+", r)
		}
		if !ok {
			return fmt.Errorf("%q: want a user name (letters, digits and . _ - @ +, starting with a letter or digit)", truncate(name))
		}
	}
	return nil
}

// alertTarget names an alert in the audit log.
func alertTarget(id uint64) string { return "alert " + strconv.FormatUint(id, 10) }

// alertID reads the {id} of the request's path, or answers 400 (or 404 without a
// correlator) and reports false.
func (c *Console) alertID(w http.ResponseWriter, r *http.Request) (uint64, bool) {
	if c.deps.Alerts == nil {
		noCorrelator(w)
		return 0, false
	}
	id, err := parseAlertID(r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return 0, false
	}
	return id, true
}

// actionDone answers a change of alert id that act made: audited (refused ones too), the
// error as its status, else the alert as it is now.
func (c *Console) actionDone(w http.ResponseWriter, r *http.Request, id uint64, action, detail string, err error) {
	c.audit(r, action, alertTarget(id), detail, err == nil)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			writeError(w, http.StatusNotFound, "unknown alert")
			return
		}
		c.apiError(w, action, err)
		return
	}
	c.log.Info(action, "id", id, "who", identity(r.Context()))
	a, ok := c.deps.Alerts.Get(id)
	if !ok {
		writeError(w, http.StatusNotFound, "unknown alert")
		return
	}
	writeJSON(w, http.StatusOK, a)
}

// postAssign serves POST /api/v1/alerts/{id}/assign.
func (c *Console) postAssign(w http.ResponseWriter, r *http.Request) {
	id, ok := c.alertID(w, r)
	if !ok {
		return
	}
	var body struct {
		Assignee *string `json:"assignee"`
	}
	if err := decodeBody(w, r, maxActionBody, &body); err != nil {
		c.apiError(w, "assign", err)
		return
	}
	if body.Assignee == nil {
		writeFieldError(w, FieldError{"assignee", `missing: give a user name, or "" to take the alert back`})
		return
	}
	assignee := strings.TrimSpace(*body.Assignee)
	if err := CheckAssignee(assignee); err != nil {
		writeFieldError(w, FieldError{"assignee", err.Error()})
		return
	}
	detail := "to " + assignee
	if assignee == "" {
		detail = "taken back"
	}
	err := c.deps.Alerts.Assign(id, identity(r.Context()), assignee)
	c.actionDone(w, r, id, AuditAlertAssign, detail, err)
}

// postComment serves POST /api/v1/alerts/{id}/comment.
func (c *Console) postComment(w http.ResponseWriter, r *http.Request) {
	id, ok := c.alertID(w, r)
	if !ok {
		return
	}
	var body struct {
		Text string `json:"text"`
	}
	if err := decodeBody(w, r, maxNoteBody, &body); err != nil {
		c.apiError(w, "comment", err)
		return
	}
	switch {
	case strings.TrimSpace(body.Text) == "":
		writeFieldError(w, FieldError{"text", "missing: write the comment"})
		return
	case len(body.Text) > MaxNoteLen:
		writeFieldError(w, FieldError{"text", fmt.Sprintf("longer than %d bytes", MaxNoteLen)})
		return
	case !utf8.ValidString(body.Text):
		writeFieldError(w, FieldError{"text", "not UTF-8"})
		return
	}
	err := c.deps.Alerts.Comment(id, identity(r.Context()), body.Text)
	c.actionDone(w, r, id, AuditAlertComment, body.Text, err)
}

// getHistory serves GET /api/v1/alerts/{id}/history: the alert's changes, oldest first.
func (c *Console) getHistory(w http.ResponseWriter, r *http.Request) {
	id, ok := c.alertID(w, r)
	if !ok {
		return
	}
	if _, ok := c.deps.Alerts.Get(id); !ok {
		writeError(w, http.StatusNotFound, "unknown alert")
		return
	}
	h, err := c.deps.Alerts.History(id)
	if err != nil {
		c.apiError(w, "read alert history", err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Alert   uint64        `json:"alert"`
		History []AlertChange `json:"history"`
	}{id, nonNil(h)})
}

// auditQuery reads the parameters of /api/v1/audit.
func auditQuery(q url.Values, now time.Time) (AuditQuery, error) {
	aq := AuditQuery{Limit: defAuditLimit}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"since", &aq.Since}, {"until", &aq.Until}} {
		if s := q.Get(p.name); s != "" {
			t, err := parseTime(s, now)
			if err != nil {
				return aq, badParam(p.name, "%v", err)
			}
			*p.dst = t
		}
	}
	if !aq.Since.IsZero() && !aq.Until.IsZero() && aq.Until.Before(aq.Since) {
		return aq, badParam("until", "before since")
	}
	for _, p := range []struct {
		name string
		dst  *string
	}{{"who", &aq.Who}, {"action", &aq.Action}} {
		s := q.Get(p.name)
		if len(s) > maxAuditFilter || !utf8.ValidString(s) {
			return aq, badParam(p.name, "want at most %d bytes of UTF-8", maxAuditFilter)
		}
		*p.dst = s
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxAuditLimit {
			return aq, badParam("limit", "%q: want 1..%d", truncate(s), maxAuditLimit)
		}
		aq.Limit = n
	}
	return aq, nil
}

// getAudit serves GET /api/v1/audit: the audit log, newest first.
func (c *Console) getAudit(w http.ResponseWriter, r *http.Request) {
	if c.deps.Audit == nil {
		writeError(w, http.StatusNotFound, "no audit log configured")
		return
	}
	aq, err := auditQuery(r.URL.Query(), c.now())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	list, err := c.deps.Audit.AuditLog(aq)
	if err != nil {
		c.log.Error("read the audit log", "err", err)
		writeError(w, http.StatusInternalServerError, "cannot read the audit log")
		return
	}
	if len(list) > aq.Limit {
		list = list[:aq.Limit]
	}
	writeJSON(w, http.StatusOK, struct {
		Entries []AuditEntry `json:"entries"`
	}{nonNil(list)})
}

// silenceDetail says what a silence mutes, for the audit log.
func silenceDetail(s watchfloor.Silence) string {
	var b strings.Builder
	for i, m := range s.Matchers {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(m.Name + m.Op + strconv.Quote(m.Value))
	}
	if !s.EndsAt.IsZero() {
		b.WriteString(" until " + s.EndsAt.UTC().Format(time.RFC3339))
	}
	if s.Comment != "" {
		b.WriteString(": " + s.Comment)
	}
	return clip(b.String(), 2048)
}
