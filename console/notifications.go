package console

import (
	"cmp"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/correlator/notify/dispatch"
)

// Notifications is what the console reads of the on-call pipeline: the notification log,
// the incidents and their response times. The appliance's store implements it.
type Notifications interface {
	// Notifications answers the log entries q selects, newest first, at most q.Limit.
	Notifications(q dispatch.LogQuery) ([]dispatch.LogEntry, error)
	// Incidents answers the incidents opened in [q.Since, q.Until), newest first.
	Incidents(q dispatch.IncidentQuery) ([]dispatch.Incident, error)
	// ResponseStats answers the response times of the incidents opened in [since, until),
	// one row per severity that had any.
	ResponseStats(since, until time.Time) ([]dispatch.ResponseStats, error)
}

// Limits of the notification API.
const (
	defaultNotificationLimit = 100
	maxNotificationLimit     = 1000
	defaultIncidentLimit     = 100
	maxIncidentLimit         = 10000
	defaultStatsRange        = 30 * 24 * time.Hour
	maxFilterLen             = 256
)

// dispatchResults are the values of LogQuery.Result, in the order a notification sees them.
var dispatchResults = []dispatch.Result{
	dispatch.ResultQueued, dispatch.ResultRetry, dispatch.ResultDelivered, dispatch.ResultFailed, dispatch.ResultDropped,
}

// sinceUntil reads the since and until parameters. A missing one stays zero (no bound),
// except that defRange > 0 makes until default to now and since to until-defRange. When
// both are set since must be before until and the range at most maxRange.
func sinceUntil(q url.Values, now time.Time, defRange time.Duration) (since, until time.Time, err error) {
	if s := q.Get("until"); s != "" {
		if until, err = parseTime(s, now); err != nil {
			return since, until, badParam("until", "%v", err)
		}
	} else if defRange > 0 {
		until = now
	}
	if s := q.Get("since"); s != "" {
		if since, err = parseTime(s, now); err != nil {
			return since, until, badParam("since", "%v", err)
		}
	} else if defRange > 0 {
		since = until.Add(-defRange)
	}
	if !since.IsZero() && !until.IsZero() {
		if !since.Before(until) {
			return since, until, badParam("since", "must be before until")
		}
		if until.Sub(since) > maxRange {
			return since, until, badParam("since", "range longer than %d days", int(maxRange/(24*time.Hour)))
		}
	}
	return since, until, nil
}

// parseLimit reads the limit parameter: def when absent, else 1..most.
func parseLimit(q url.Values, def, most int) (int, error) {
	s := q.Get("limit")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > most {
		return 0, badParam("limit", "%q: want 1..%d", truncate(s), most)
	}
	return n, nil
}

// textFilter reads a free-text equality filter of at most maxFilterLen bytes.
func textFilter(q url.Values, name string) (string, error) {
	s := q.Get(name)
	if len(s) > maxFilterLen {
		return "", badParam(name, "longer than %d characters", maxFilterLen)
	}
	return s, nil
}

// logQuery reads the parameters of /api/v1/notifications.
func logQuery(q url.Values, now time.Time) (dispatch.LogQuery, error) {
	var lq dispatch.LogQuery
	var err error
	if lq.Since, lq.Until, err = sinceUntil(q, now, 0); err != nil {
		return lq, err
	}
	if lq.Receiver, err = textFilter(q, "receiver"); err != nil {
		return lq, err
	}
	if lq.Incident, err = textFilter(q, "incident"); err != nil {
		return lq, err
	}
	if s := q.Get("alert"); s != "" {
		if lq.Alert, err = parseAlertID(s); err != nil {
			return lq, badParam("alert", "%q is not an alert ID", truncate(s))
		}
	}
	if s := q.Get("result"); s != "" {
		if !slices.Contains(dispatchResults, dispatch.Result(s)) {
			return lq, badParam("result", "%q is not one of queued, retry, delivered, failed, dropped", truncate(s))
		}
		lq.Result = dispatch.Result(s)
	}
	if lq.Limit, err = parseLimit(q, defaultNotificationLimit, maxNotificationLimit); err != nil {
		return lq, err
	}
	return lq, nil
}

// incidentQuery reads the parameters of /api/v1/incidents.
func incidentQuery(q url.Values, now time.Time) (dispatch.IncidentQuery, error) {
	var iq dispatch.IncidentQuery
	var err error
	if iq.Since, iq.Until, err = sinceUntil(q, now, 0); err != nil {
		return iq, err
	}
	if s := q.Get("severity"); s != "" {
		sev, err := watchfloor.ParseSeverity(s)
		if err != nil {
			return iq, badParam("severity", "%q is not one of info, low, medium, high, critical", truncate(s))
		}
		iq.Severity = &sev
	}
	if iq.Limit, err = parseLimit(q, defaultIncidentLimit, maxIncidentLimit); err != nil {
		return iq, err
	}
	return iq, nil
}

// noNotifications answers the notification endpoints of a console built without them.
func noNotifications(w http.ResponseWriter) {
	writeError(w, http.StatusNotFound, "no notification log configured")
}

func (c *Console) getNotifications(w http.ResponseWriter, r *http.Request) {
	if c.deps.Notifications == nil {
		noNotifications(w)
		return
	}
	lq, err := logQuery(r.URL.Query(), c.now())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	list, err := c.deps.Notifications.Notifications(lq)
	if err != nil {
		c.log.Error("read notifications", "err", err)
		writeError(w, http.StatusInternalServerError, "cannot read notifications")
		return
	}
	if len(list) > lq.Limit {
		list = list[:lq.Limit]
	}
	list = slices.Clone(list) // the store's slice is not ours to change
	for i := range list {
		list[i].Alerts = nonNil(list[i].Alerts)
	}
	writeJSON(w, http.StatusOK, struct {
		Notifications []dispatch.LogEntry `json:"notifications"`
	}{nonNil(list)})
}

func (c *Console) getIncidents(w http.ResponseWriter, r *http.Request) {
	if c.deps.Notifications == nil {
		noNotifications(w)
		return
	}
	iq, err := incidentQuery(r.URL.Query(), c.now())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	list, err := c.deps.Notifications.Incidents(iq)
	if err != nil {
		c.log.Error("read incidents", "err", err)
		writeError(w, http.StatusInternalServerError, "cannot read incidents")
		return
	}
	if len(list) > iq.Limit {
		list = list[:iq.Limit]
	}
	list = slices.Clone(list)
	for i := range list {
		list[i].Alerts, list[i].Groups = nonNil(list[i].Alerts), nonNil(list[i].Groups)
	}
	writeJSON(w, http.StatusOK, struct {
		Incidents []dispatch.Incident `json:"incidents"`
	}{nonNil(list)})
}

// responseStats is dispatch.ResponseStats as the API answers it: durations in seconds,
// null when no incident of the row was acknowledged (MTTA) or resolved (MTTR).
type responseStats struct {
	Severity          watchfloor.Severity `json:"severity"`
	Incidents         int                 `json:"incidents"`
	Acknowledged      int                 `json:"acknowledged"`
	Resolved          int                 `json:"resolved"`
	Escalated         int                 `json:"escalated"`
	MTTAMedianSeconds *float64            `json:"mtta_median_seconds"`
	MTTAP90Seconds    *float64            `json:"mtta_p90_seconds"`
	MTTRMedianSeconds *float64            `json:"mttr_median_seconds"`
	MTTRP90Seconds    *float64            `json:"mttr_p90_seconds"`
}

// seconds is d in seconds, or nil when none of the incidents it is over happened (n == 0).
func seconds(d time.Duration, n int) *float64 {
	if n == 0 {
		return nil
	}
	s := d.Seconds()
	return &s
}

func newResponseStats(s dispatch.ResponseStats) responseStats {
	return responseStats{
		Severity: s.Severity, Incidents: s.Incidents, Acknowledged: s.Acknowledged, Resolved: s.Resolved, Escalated: s.Escalated,
		MTTAMedianSeconds: seconds(s.MTTAMedian, s.Acknowledged), MTTAP90Seconds: seconds(s.MTTAP90, s.Acknowledged),
		MTTRMedianSeconds: seconds(s.MTTRMedian, s.Resolved), MTTRP90Seconds: seconds(s.MTTRP90, s.Resolved),
	}
}

func (c *Console) getIncidentStats(w http.ResponseWriter, r *http.Request) {
	if c.deps.Notifications == nil {
		noNotifications(w)
		return
	}
	since, until, err := sinceUntil(r.URL.Query(), c.now(), defaultStatsRange)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	stats, err := c.deps.Notifications.ResponseStats(since, until)
	if err != nil {
		c.log.Error("read response stats", "err", err)
		writeError(w, http.StatusInternalServerError, "cannot read response statistics")
		return
	}
	out := make([]responseStats, len(stats))
	for i, s := range stats {
		out[i] = newResponseStats(s)
	}
	// The most severe first, whatever order the store keeps.
	slices.SortStableFunc(out, func(a, b responseStats) int { return cmp.Compare(b.Severity, a.Severity) })
	writeJSON(w, http.StatusOK, struct {
		Since time.Time       `json:"since"`
		Until time.Time       `json:"until"`
		Stats []responseStats `json:"stats"`
	}{since, until, out})
}
