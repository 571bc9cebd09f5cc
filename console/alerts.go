package console

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/watchfloor/watchfloor"
)

// Alerts is what the console needs of the correlator's alert state. The console never
// computes detections: it lists, shows and acts on the alerts the correlator owns. The
// appliance adapts the correlator's alert manager to it.
type Alerts interface {
	// List answers the alerts q matches (q.Match), newest first (highest ID first), at most
	// q.Limit of them.
	List(q AlertQuery) []watchfloor.Alert
	Get(id uint64) (watchfloor.Alert, bool)
	// Ack and Resolve change an alert's state on behalf of who (an analyst's identity).
	// They return an error wrapping ErrNotFound for an unknown alert and ErrState when the
	// alert cannot take that step (it is resolved).
	Ack(id uint64, who, comment string) error
	Resolve(id uint64, who, comment string) error
	Silences() []watchfloor.Silence
	// AddSilence stores a silence the console validated (matchers, times, comment) and
	// returns it with its ID set. A problem the console could not see is a FieldError
	// (answered 400 naming the field) or an error wrapping ErrInvalid.
	AddSilence(s watchfloor.Silence) (watchfloor.Silence, error)
	// DeleteSilence expires a silence; ErrNotFound for an unknown ID.
	DeleteSilence(id string) error
	// Assign gives an open alert to assignee ("" takes it back) on behalf of who; Comment
	// adds who's comment to an alert's history (resolved ones too). Errors as Ack's.
	Assign(id uint64, who, assignee string) error
	Comment(id uint64, who, text string) error
	// History is the alert's changes, oldest first (empty for an unknown alert).
	History(id uint64) ([]AlertChange, error)
}

// RuleInfo describes one loaded detection rule and how often it fired.
type RuleInfo struct {
	Name     string    `json:"name"`
	Title    string    `json:"title"`
	Level    string    `json:"level"` // severity name
	Category string    `json:"category"`
	Tags     []string  `json:"tags"`
	Kinds    []string  `json:"kinds"` // record kinds the rule reads
	Hits     uint64    `json:"hits"`
	LastHit  time.Time `json:"last_hit"` // zero when it never hit
	File     string    `json:"file"`
}

// Rules lists the loaded detection rules.
type Rules interface {
	List() []RuleInfo
}

// Errors an Alerts implementation returns (wrapped) so that the API answers the right status.
var (
	ErrNotFound = errors.New("not found")                       // 404
	ErrState    = errors.New("not possible in the alert state") // 409
	ErrInvalid  = errors.New("invalid")                         // 400
)

// The values of AlertQuery.State besides the alert states' names.
const (
	StateOpen = "open" // firing or acknowledged
	StateAny  = ""
)

// AlertQuery selects alerts. Zero fields select everything.
type AlertQuery struct {
	State    string              // "firing", "acknowledged", "resolved", "open" (firing or acknowledged), "" any
	Severity watchfloor.Severity // at least this severity
	Site     string              // Entity.Site equals
	Category string              // equals
	Rule     string              // equals
	Tactic   string              // an ATT&CK tactic, hyphenated ("command-and-control"): a tag "attack.<tactic>" (or with _) is on the alert
	Since    time.Time           // changed (UpdatedAt) at or after
	Limit    int                 // at most this many; 0: no limit
}

// Match reports whether a is one of the alerts q selects (Limit aside). Implementations of
// Alerts may use it so that every filter means the same thing everywhere.
func (q AlertQuery) Match(a watchfloor.Alert) bool {
	switch q.State {
	case StateAny:
	case StateOpen:
		if a.State != watchfloor.AlertFiring && a.State != watchfloor.AlertAcknowledged {
			return false
		}
	default:
		if a.State.String() != q.State {
			return false
		}
	}
	if a.Severity < q.Severity ||
		(q.Site != "" && a.Entity.Site != q.Site) ||
		(q.Category != "" && a.Category != q.Category) ||
		(q.Rule != "" && a.Rule != q.Rule) ||
		(!q.Since.IsZero() && a.UpdatedAt.Before(q.Since)) {
		return false
	}
	if q.Tactic != "" {
		for _, t := range a.Tags {
			if tacticOf(t) == q.Tactic {
				return true
			}
		}
		return false
	}
	return true
}

// tacticOf reads an ATT&CK tag ("attack.command_and_control", "attack.Discovery") as a
// hyphenated lower-case tactic name, or "" when it is not a tactic tag.
func tacticOf(tag string) string {
	if len(tag) < 8 || !strings.EqualFold(tag[:7], "attack.") {
		return ""
	}
	t := strings.ToLower(strings.ReplaceAll(tag[7:], "_", "-"))
	if attackTactics[t] {
		return t
	}
	return ""
}

// attackTactics are the tactics of ATT&CK Enterprise, as Sigma tags name them.
var attackTactics = map[string]bool{
	"reconnaissance": true, "resource-development": true, "initial-access": true, "execution": true,
	"persistence": true, "privilege-escalation": true, "defense-evasion": true, "credential-access": true,
	"discovery": true, "lateral-movement": true, "collection": true, "command-and-control": true,
	"exfiltration": true, "impact": true,
}

// Limits of the alert API.
const (
	defaultAlertLimit = 100
	maxAlertLimit     = 1000
	maxCommentLen     = 1024
	maxActionBody     = 16 << 10
)

var alertStates = []string{"firing", "acknowledged", "resolved", StateOpen}

// alertQuery reads the parameters of /api/v1/alerts.
func alertQuery(q url.Values, now time.Time) (AlertQuery, error) {
	aq := AlertQuery{Limit: defaultAlertLimit}
	if s := q.Get("state"); s != "" {
		ok := false
		for _, st := range alertStates {
			ok = ok || s == st
		}
		if !ok {
			return aq, badParam("state", "%q is not one of firing, acknowledged, resolved, open", truncate(s))
		}
		aq.State = s
	}
	if s := q.Get("severity"); s != "" {
		sev, err := watchfloor.ParseSeverity(s)
		if err != nil {
			return aq, badParam("severity", "%q is not one of info, low, medium, high, critical", truncate(s))
		}
		aq.Severity = sev
	}
	if s := q.Get("category"); s != "" {
		switch s {
		case watchfloor.CategoryAvailability, watchfloor.CategoryPerformance, watchfloor.CategorySecurity:
			aq.Category = s
		default:
			return aq, badParam("category", "%q is not one of availability, performance, security", truncate(s))
		}
	}
	if s := q.Get("tactic"); s != "" {
		t := tacticOf("attack." + strings.TrimPrefix(strings.ToLower(s), "attack."))
		if t == "" {
			return aq, badParam("tactic", "%q is not an ATT&CK tactic (e.g. discovery, command-and-control)", truncate(s))
		}
		aq.Tactic = t
	}
	for _, p := range []struct {
		name string
		dst  *string
	}{{"site", &aq.Site}, {"rule", &aq.Rule}} {
		s := q.Get(p.name)
		if len(s) > 256 {
			return aq, badParam(p.name, "longer than 256 characters")
		}
		*p.dst = s
	}
	if s := q.Get("since"); s != "" {
		t, err := parseTime(s, now)
		if err != nil {
			return aq, badParam("since", "%v", err)
		}
		aq.Since = t
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxAlertLimit {
			return aq, badParam("limit", "%q: want 1..%d", truncate(s), maxAlertLimit)
		}
		aq.Limit = n
	}
	return aq, nil
}

// parseAlertID reads the {id} of an alert path.
func parseAlertID(s string) (uint64, error) {
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil || id == 0 {
		return 0, badParam("id", "%q is not an alert ID", truncate(s))
	}
	return id, nil
}

// adminIdentity is who the one API token acts as.
const adminIdentity = "admin"

// apiError writes err as the answer of a failed call to Alerts: 400 naming the field, 404,
// 409, or 500 (logged, not shown).
func (c *Console) apiError(w http.ResponseWriter, what string, err error) {
	var fe FieldError
	switch {
	case errors.As(err, &fe):
		writeFieldError(w, fe)
	case errors.Is(err, errBadParam), errors.Is(err, ErrInvalid):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, ErrState):
		writeError(w, http.StatusConflict, err.Error())
	default:
		c.log.Error(what, "err", err)
		writeError(w, http.StatusInternalServerError, what+" failed")
	}
}

// writeFieldError answers 400 with the problem and the field it is about.
func writeFieldError(w http.ResponseWriter, fe FieldError) {
	writeJSON(w, http.StatusBadRequest, struct {
		Error string `json:"error"`
		Field string `json:"field"`
	}{fe.Error(), fe.Field})
}

// noCorrelator answers the alert endpoints of a console built without a correlator.
func noCorrelator(w http.ResponseWriter) {
	writeError(w, http.StatusNotFound, "no correlator configured")
}

func (c *Console) getAlerts(w http.ResponseWriter, r *http.Request) {
	if c.deps.Alerts == nil {
		noCorrelator(w)
		return
	}
	aq, err := alertQuery(r.URL.Query(), c.now())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	list := c.deps.Alerts.List(aq)
	if len(list) > aq.Limit {
		list = list[:aq.Limit]
	}
	writeJSON(w, http.StatusOK, struct {
		Alerts []watchfloor.Alert `json:"alerts"`
	}{nonNil(list)})
}

func (c *Console) getAlert(w http.ResponseWriter, r *http.Request) {
	if c.deps.Alerts == nil {
		noCorrelator(w)
		return
	}
	id, err := parseAlertID(r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	a, ok := c.deps.Alerts.Get(id)
	if !ok {
		writeError(w, http.StatusNotFound, "unknown alert")
		return
	}
	writeJSON(w, http.StatusOK, a)
}

// actionBody is the optional body of ack and resolve.
type actionBody struct {
	Comment string `json:"comment"`
}

// alertAction serves POST /api/v1/alerts/{id}/ack and …/resolve: it applies act and
// answers the alert as it is afterwards.
func (c *Console) alertAction(name string, act func(a Alerts, id uint64, who, comment string) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if c.deps.Alerts == nil {
			noCorrelator(w)
			return
		}
		id, err := parseAlertID(r.PathValue("id"))
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		var body actionBody
		if err := decodeBody(w, r, maxActionBody, &body); err != nil {
			c.apiError(w, name, err)
			return
		}
		if len(body.Comment) > maxCommentLen {
			writeFieldError(w, FieldError{"comment", fmt.Sprintf("longer than %d bytes", maxCommentLen)})
			return
		}
		who := identity(r.Context())
		err = act(c.deps.Alerts, id, who, body.Comment)
		c.audit(r, "alert."+name, alertTarget(id), body.Comment, err == nil)
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				writeError(w, http.StatusNotFound, "unknown alert")
				return
			}
			c.apiError(w, name, err)
			return
		}
		c.log.Info("alert "+name, "id", id, "who", who)
		a, ok := c.deps.Alerts.Get(id)
		if !ok {
			writeError(w, http.StatusNotFound, "unknown alert")
			return
		}
		writeJSON(w, http.StatusOK, a)
	}
}

func (c *Console) getSilences(w http.ResponseWriter, r *http.Request) {
	if c.deps.Alerts == nil {
		noCorrelator(w)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Silences []watchfloor.Silence `json:"silences"`
	}{nonNil(c.deps.Alerts.Silences())})
}

func (c *Console) postSilence(w http.ResponseWriter, r *http.Request) {
	if c.deps.Alerts == nil {
		noCorrelator(w)
		return
	}
	var body silenceBody
	if err := decodeBody(w, r, maxSilenceBody, &body); err != nil {
		c.apiError(w, "add silence", err)
		return
	}
	s, err := body.silence(c.now(), identity(r.Context()))
	if err != nil {
		c.apiError(w, "add silence", err)
		return
	}
	s, err = c.deps.Alerts.AddSilence(s)
	c.audit(r, AuditSilenceAdd, "silence "+s.ID, silenceDetail(s), err == nil)
	if err != nil {
		c.apiError(w, "add silence", err)
		return
	}
	c.log.Info("silence added", "id", s.ID, "who", s.CreatedBy, "ends", s.EndsAt)
	writeJSON(w, http.StatusCreated, s)
}

func (c *Console) deleteSilence(w http.ResponseWriter, r *http.Request) {
	if c.deps.Alerts == nil {
		noCorrelator(w)
		return
	}
	id := r.PathValue("id")
	if id == "" || len(id) > 128 {
		writeError(w, http.StatusBadRequest, "id: want 1..128 characters")
		return
	}
	err := c.deps.Alerts.DeleteSilence(id)
	c.audit(r, AuditSilenceDelete, "silence "+id, "", err == nil)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			writeError(w, http.StatusNotFound, "unknown silence")
			return
		}
		c.apiError(w, "delete silence", err)
		return
	}
	c.log.Info("silence deleted", "id", id, "who", identity(r.Context()))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

func (c *Console) getRules(w http.ResponseWriter, r *http.Request) {
	if c.deps.Rules == nil {
		noCorrelator(w)
		return
	}
	list := slices.Clone(c.deps.Rules.List())
	slices.SortFunc(list, func(a, b RuleInfo) int { return strings.Compare(a.Name, b.Name) })
	for i := range list {
		list[i].Tags, list[i].Kinds = nonNil(list[i].Tags), nonNil(list[i].Kinds)
	}
	writeJSON(w, http.StatusOK, struct {
		Rules []RuleInfo `json:"rules"`
	}{nonNil(list)})
}
