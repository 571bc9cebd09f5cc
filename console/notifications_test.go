package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/correlator/notify"
	"github.com/watchfloor/watchfloor/correlator/notify/dispatch"
)

// fakeNotifications answers its lists and remembers the queries it was asked. It filters by
// some fields only, enough for the docs' examples: the tests check the queries the console
// builds.
type fakeNotifications struct {
	mu        sync.Mutex
	log       []dispatch.LogEntry
	incidents []dispatch.Incident
	stats     []dispatch.ResponseStats
	err       error
	logQs     []dispatch.LogQuery
	incQs     []dispatch.IncidentQuery
	statsQs   [][2]time.Time
}

func (f *fakeNotifications) Notifications(q dispatch.LogQuery) ([]dispatch.LogEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logQs = append(f.logQs, q)
	var out []dispatch.LogEntry
	for _, e := range f.log {
		if (q.Alert == 0 || slices.Contains(e.Alerts, q.Alert)) && (q.Receiver == "" || e.Receiver == q.Receiver) &&
			(q.Result == "" || e.Result == q.Result) {
			out = append(out, e)
		}
	}
	return out, f.err
}

func (f *fakeNotifications) Incidents(q dispatch.IncidentQuery) ([]dispatch.Incident, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.incQs = append(f.incQs, q)
	var out []dispatch.Incident
	for _, i := range f.incidents {
		if q.Severity == nil || i.Severity == *q.Severity {
			out = append(out, i)
		}
	}
	return out, f.err
}

func (f *fakeNotifications) ResponseStats(since, until time.Time) ([]dispatch.ResponseStats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.statsQs = append(f.statsQs, [2]time.Time{since, until})
	return f.stats, f.err
}

var _ Notifications = (*fakeNotifications)(nil)

func testNotifications() *fakeNotifications {
	ago := func(m int) time.Time { return testNow.Add(-time.Duration(m) * time.Minute) }
	return &fakeNotifications{
		log: []dispatch.LogEntry{
			{Seq: 9, Time: ago(1), NotificationID: "n-2", Incident: "inc-1", GroupKey: "noc/site=north-hub", Receiver: "pager",
				Target: "bob", Level: 1, Status: notify.StatusFiring, Severity: watchfloor.SeverityCritical, Title: "access-2 is unreachable",
				Alerts: []uint64{41, 43, 44}, Result: dispatch.ResultDelivered, Attempt: 1},
			{Seq: 8, Time: ago(2), NotificationID: "n-1", Incident: "inc-1", GroupKey: "noc/site=north-hub", Receiver: "mail",
				Status: notify.StatusFiring, Severity: watchfloor.SeverityCritical, Title: "access-2 is unreachable",
				Alerts: []uint64{41}, Result: dispatch.ResultRetry, Attempt: 1, Err: "dial tcp 127.0.0.1:25: connection refused"},
			{Seq: 7, Time: ago(3), NotificationID: "n-0", Incident: "inc-0", Receiver: "mail", Result: dispatch.ResultQueued},
		},
		incidents: []dispatch.Incident{
			{ID: "inc-1", Groups: []string{"noc/site=north-hub"}, Policy: "noc-oncall", Title: "access-2 is unreachable",
				Severity: watchfloor.SeverityCritical, Alerts: []uint64{41}, Opened: ago(12), Acked: ago(4), AckedBy: "bob (link)", Pages: 3, Escalations: 1},
			{ID: "inc-0", Title: "core-1 Gi0/1 over 90 %", Severity: watchfloor.SeverityLow, Opened: ago(95), Resolved: ago(60), Pages: 2},
		},
		stats: []dispatch.ResponseStats{
			{Severity: watchfloor.SeverityLow, Incidents: 4, Resolved: 4, MTTRMedian: 35 * time.Minute, MTTRP90: 90 * time.Minute},
			{Severity: watchfloor.SeverityCritical, Incidents: 3, Acknowledged: 2, Resolved: 1, Escalated: 1,
				MTTAMedian: 4*time.Minute + 500*time.Millisecond, MTTAP90: 11 * time.Minute, MTTRMedian: 2 * time.Hour, MTTRP90: 2 * time.Hour},
		},
	}
}

// newNotificationServer serves a console whose notification log is n (nil: none).
func newNotificationServer(t *testing.T, n *fakeNotifications) string {
	t.Helper()
	deps := Deps{Store: testStore(), Token: testToken, Site: "north-hub"}
	if n != nil {
		deps.Notifications = n
	}
	c, err := newConsole(Config{}, deps, func() time.Time { return testNow })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.hub.close(time.Second) })
	return newServer(t, c.Handler())
}

func TestNotificationsAPI(t *testing.T) {
	fn := testNotifications()
	srv := newNotificationServer(t, fn)
	for _, tc := range []struct {
		query string
		want  dispatch.LogQuery
		n     int // entries answered
	}{
		{"", dispatch.LogQuery{Limit: 100}, 3},
		{"limit=2", dispatch.LogQuery{Limit: 2}, 2},
		{"since=-1h&until=now", dispatch.LogQuery{Since: testNow.Add(-time.Hour), Until: testNow, Limit: 100}, 3},
		{"since=2026-05-04T11:00:00Z", dispatch.LogQuery{Since: testNow.Add(-time.Hour), Limit: 100}, 3},
		{"until=1777896000", dispatch.LogQuery{Until: testNow, Limit: 100}, 3},
		{"receiver=pager&incident=inc-1&alert=41&result=delivered&limit=1000",
			dispatch.LogQuery{Receiver: "pager", Incident: "inc-1", Alert: 41, Result: dispatch.ResultDelivered, Limit: 1000}, 1},
		{"alert=41", dispatch.LogQuery{Alert: 41, Limit: 100}, 2},
		{"result=dropped", dispatch.LogQuery{Result: dispatch.ResultDropped, Limit: 100}, 0},
	} {
		code, body := do(t, "GET", srv+"/api/v1/notifications?"+tc.query, "")
		if code != http.StatusOK {
			t.Errorf("%s: %d %s", tc.query, code, body)
			continue
		}
		fn.mu.Lock()
		got := fn.logQs[len(fn.logQs)-1]
		fn.mu.Unlock()
		if !got.Since.Equal(tc.want.Since) || !got.Until.Equal(tc.want.Until) {
			t.Errorf("%s: range %v..%v, want %v..%v", tc.query, got.Since, got.Until, tc.want.Since, tc.want.Until)
		}
		got.Since, got.Until, tc.want.Since, tc.want.Until = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		if got != tc.want {
			t.Errorf("%s: query %+v, want %+v", tc.query, got, tc.want)
		}
		var v struct{ Notifications []map[string]any }
		if err := json.Unmarshal(body, &v); err != nil || v.Notifications == nil || len(v.Notifications) != tc.n {
			t.Fatalf("%s: %d entries: %s", tc.query, len(v.Notifications), body)
		}
		if tc.n == 0 {
			continue
		}
		first := v.Notifications[0]
		if first["seq"] != 9.0 || first["receiver"] != "pager" || first["result"] != "delivered" || first["severity"] != "critical" ||
			first["status"] != "firing" || first["escalation_level"] != 1.0 || first["target"] != "bob" {
			t.Errorf("%s: first entry %v", tc.query, first)
		}
		// Entries without alerts answer [] not null.
		for _, e := range v.Notifications {
			if a, ok := e["alerts"].([]any); !ok || a == nil {
				t.Errorf("%s: entry %v: alerts %v", tc.query, e["seq"], e["alerts"])
			}
		}
	}
	if fn.log[2].Alerts != nil {
		t.Error("the store's entries were changed")
	}
}

func TestIncidentsAPI(t *testing.T) {
	fn := testNotifications()
	srv := newNotificationServer(t, fn)
	code, body := do(t, "GET", srv+"/api/v1/incidents?since=-2h&severity=critical&limit=5000", "")
	if code != http.StatusOK {
		t.Fatalf("%d %s", code, body)
	}
	q := fn.incQs[len(fn.incQs)-1]
	if !q.Since.Equal(testNow.Add(-2*time.Hour)) || !q.Until.IsZero() || q.Severity == nil || *q.Severity != watchfloor.SeverityCritical || q.Limit != 5000 {
		t.Errorf("query %+v", q)
	}
	var v struct{ Incidents []map[string]any }
	if err := json.Unmarshal(body, &v); err != nil || len(v.Incidents) != 1 {
		t.Fatalf("%s", body)
	}
	if open := v.Incidents[0]; open["id"] != "inc-1" || open["acked_by"] != "bob (link)" || open["escalations"] != 1.0 ||
		open["resolved"] != nil || open["severity"] != "critical" {
		t.Errorf("open incident %v", open)
	}
	code, body = do(t, "GET", srv+"/api/v1/incidents", "")
	v.Incidents = nil
	if err := json.Unmarshal(body, &v); code != 200 || err != nil || len(v.Incidents) != 2 {
		t.Fatalf("%d %s", code, body)
	}
	if closed := v.Incidents[1]; closed["alerts"] == nil || closed["groups"] == nil || closed["acked"] != nil || closed["resolved"] != "2026-05-04T11:00:00Z" {
		t.Errorf("closed incident %v", closed)
	}
	// Defaults, and a limit the store did not keep.
	code, body = do(t, "GET", srv+"/api/v1/incidents?limit=1", "")
	q = fn.incQs[len(fn.incQs)-1]
	if code != 200 || q.Severity != nil || q.Limit != 1 || !q.Since.IsZero() || bytes.Count(body, []byte(`"id"`)) != 1 {
		t.Errorf("limit=1: %+v %d %s", q, code, body)
	}
	if code, _ := do(t, "GET", srv+"/api/v1/incidents?severity=info", ""); code != 200 || fn.incQs[len(fn.incQs)-1].Severity == nil {
		t.Errorf("severity=info is a filter, not none: %d", code)
	}
}

func TestIncidentStatsAPI(t *testing.T) {
	fn := testNotifications()
	srv := newNotificationServer(t, fn)
	code, body := do(t, "GET", srv+"/api/v1/incidents/stats", "")
	if code != http.StatusOK {
		t.Fatalf("%d %s", code, body)
	}
	if got := fn.statsQs[0]; !got[0].Equal(testNow.Add(-30*24*time.Hour)) || !got[1].Equal(testNow) {
		t.Errorf("default range %v", got)
	}
	var v struct {
		Since, Until time.Time
		Stats        []map[string]any
	}
	if err := json.Unmarshal(body, &v); err != nil || len(v.Stats) != 2 {
		t.Fatalf("%s", body)
	}
	if !v.Since.Equal(testNow.Add(-30*24*time.Hour)) || !v.Until.Equal(testNow) {
		t.Errorf("answered range %v..%v", v.Since, v.Until)
	}
	crit, low := v.Stats[0], v.Stats[1] // the most severe first
	want := map[string]any{"severity": "critical", "incidents": 3.0, "acknowledged": 2.0, "resolved": 1.0, "escalated": 1.0,
		"mtta_median_seconds": 240.5, "mtta_p90_seconds": 660.0, "mttr_median_seconds": 7200.0, "mttr_p90_seconds": 7200.0}
	for k, w := range want {
		if crit[k] != w {
			t.Errorf("critical %s = %v, want %v", k, crit[k], w)
		}
	}
	if len(crit) != len(want) {
		t.Errorf("critical has other fields: %v", crit)
	}
	// Nothing acknowledged: no MTTA, not 0.
	if v, ok := low["mtta_median_seconds"]; !ok || v != nil || low["mttr_median_seconds"] != 2100.0 {
		t.Errorf("low %v", low)
	}
	if bytes.Contains(body, []byte(`"mtta_median"`)) {
		t.Errorf("nanosecond fields leaked: %s", body)
	}
	if code, _ := do(t, "GET", srv+"/api/v1/incidents/stats?since=-7d", ""); code != 400 {
		t.Errorf("since=-7d (not a Go duration): %d", code)
	}
	if code, body := do(t, "GET", srv+"/api/v1/incidents/stats?since=-168h&until=-24h", ""); code != 200 || !bytes.Contains(body, []byte(`"until":"2026-05-03T12:00:00Z"`)) {
		t.Errorf("explicit range: %d %s", code, body)
	}
	if got := fn.statsQs[len(fn.statsQs)-1]; !got[0].Equal(testNow.Add(-168 * time.Hour)) {
		t.Errorf("explicit since %v", got[0])
	}
	// until alone moves the default window with it.
	do(t, "GET", srv+"/api/v1/incidents/stats?until=-24h", "")
	if got := fn.statsQs[len(fn.statsQs)-1]; !got[0].Equal(testNow.Add(-31*24*time.Hour)) || !got[1].Equal(testNow.Add(-24*time.Hour)) {
		t.Errorf("until only: %v", got)
	}
	fn.stats = nil
	if code, body := do(t, "GET", srv+"/api/v1/incidents/stats", ""); code != 200 || !bytes.Contains(body, []byte(`"stats":[]`)) {
		t.Errorf("no stats: %d %s", code, body)
	}
}

func TestNotificationsBadParams(t *testing.T) {
	srv := newNotificationServer(t, testNotifications())
	long := strings.Repeat("x", 257)
	for _, tc := range []struct{ path, field string }{
		{"/api/v1/notifications?since=yesterday", "since"},
		{"/api/v1/notifications?until=tomorrow", "until"},
		{"/api/v1/notifications?since=now&until=-1h", "since"},
		{"/api/v1/notifications?since=2025-01-01T00:00:00Z&until=2026-05-01T00:00:00Z", "since"},
		{"/api/v1/notifications?receiver=" + long, "receiver"},
		{"/api/v1/notifications?incident=" + long, "incident"},
		{"/api/v1/notifications?alert=0", "alert"},
		{"/api/v1/notifications?alert=x", "alert"},
		{"/api/v1/notifications?alert=-4", "alert"},
		{"/api/v1/notifications?result=sent", "result"},
		{"/api/v1/notifications?result=Delivered", "result"},
		{"/api/v1/notifications?limit=0", "limit"},
		{"/api/v1/notifications?limit=1001", "limit"},
		{"/api/v1/notifications?limit=ten", "limit"},
		{"/api/v1/incidents?severity=urgent", "severity"},
		{"/api/v1/incidents?limit=10001", "limit"},
		{"/api/v1/incidents?limit=-1", "limit"},
		{"/api/v1/incidents?since=-1h&until=-2h", "since"},
		{"/api/v1/incidents?until=" + long, "until"},
		{"/api/v1/incidents/stats?since=x", "since"},
		{"/api/v1/incidents/stats?since=now", "since"},
		{"/api/v1/incidents/stats?since=-10000h", "since"},
	} {
		code, body := do(t, "GET", srv+tc.path, "")
		var e struct{ Error string }
		json.Unmarshal(body, &e)
		if code != http.StatusBadRequest || !strings.Contains(e.Error, tc.field+":") {
			t.Errorf("%s: %d %s, want 400 naming %s", truncate(tc.path), code, body, tc.field)
		}
	}
}

func TestNotificationsStoreError(t *testing.T) {
	fn := testNotifications()
	fn.err = errors.New("bolt: database not open /var/lib/watchfloor/secret-path")
	srv := newNotificationServer(t, fn)
	for _, p := range []string{"/api/v1/notifications", "/api/v1/incidents", "/api/v1/incidents/stats"} {
		code, body := do(t, "GET", srv+p, "")
		if code != http.StatusInternalServerError || bytes.Contains(body, []byte("secret-path")) || !bytes.Contains(body, []byte("cannot read")) {
			t.Errorf("%s: %d %s", p, code, body)
		}
	}
}

// Without a notification log the endpoints say so with 404; with one, they need the token.
func TestNotificationsAbsentAndAuth(t *testing.T) {
	paths := []string{"/api/v1/notifications", "/api/v1/incidents", "/api/v1/incidents/stats"}
	srv := newNotificationServer(t, nil)
	for _, p := range paths {
		code, body := do(t, "GET", srv+p, "")
		if code != http.StatusNotFound || !bytes.Contains(body, []byte("no notification log configured")) {
			t.Errorf("%s without a log: %d %s", p, code, body)
		}
	}
	fn := testNotifications()
	srv = newNotificationServer(t, fn)
	for _, p := range paths {
		for _, tok := range []string{"", "wrong"} {
			if resp, _ := get(t, srv+p+"?token="+url.QueryEscape(testToken), tok); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s with token %q: %d", p, tok, resp.StatusCode)
			}
		}
	}
	if len(fn.logQs)+len(fn.incQs)+len(fn.statsQs) != 0 {
		t.Error("unauthenticated requests reached the store")
	}
}

// FuzzNotificationQueries: any query either parses into a query the store can take or is a
// 400 naming a parameter.
func FuzzNotificationQueries(f *testing.F) {
	for _, s := range []string{"", "since=-1h&until=now", "receiver=pager&incident=inc-1&alert=41&result=delivered&limit=1000",
		"alert=18446744073709551615", "alert=18446744073709551616", "limit=0", "result=queued&result=x", "severity=critical&limit=10000",
		"since=1777896000.5&until=2026-05-04T12:00:00Z", "since=%ff", "until=now-1h&since=now"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		check := func(what string, err error, since, until time.Time) {
			if err != nil {
				if !errors.Is(err, errBadParam) || len(err.Error()) > 400 {
					t.Fatalf("%s(%q): error %v", what, raw, err)
				}
				return
			}
			if !since.IsZero() && !until.IsZero() && (!since.Before(until) || until.Sub(since) > maxRange) {
				t.Fatalf("%s(%q): range %v..%v", what, raw, since, until)
			}
		}
		lq, err := logQuery(q, testNow)
		check("logQuery", err, lq.Since, lq.Until)
		if err == nil && (lq.Limit < 1 || lq.Limit > maxNotificationLimit || len(lq.Receiver) > maxFilterLen || len(lq.Incident) > maxFilterLen ||
			(lq.Result != "" && !slices.Contains(dispatchResults, lq.Result))) {
			t.Fatalf("logQuery(%q) = %+v", raw, lq)
		}
		iq, err := incidentQuery(q, testNow)
		check("incidentQuery", err, iq.Since, iq.Until)
		if err == nil && (iq.Limit < 1 || iq.Limit > maxIncidentLimit || (iq.Severity != nil && *iq.Severity > watchfloor.SeverityCritical)) {
			t.Fatalf("incidentQuery(%q) = %+v", raw, iq)
		}
		since, until, err := sinceUntil(q, testNow, defaultStatsRange)
		check("sinceUntil", err, since, until)
		if err == nil && (since.IsZero() || until.IsZero()) {
			t.Fatalf("sinceUntil(%q) with a default gave an open range", raw)
		}
	})
}

// Every example of the On-call section of docs/api.md is run against a console over
// testNotifications; each answer must be the JSON shown after it.
func TestNotificationDocExamples(t *testing.T) {
	doc, err := os.ReadFile("../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	sec := string(doc)
	i := strings.Index(sec, "\n## On-call")
	if i < 0 {
		t.Fatal("docs/api.md has no On-call section")
	}
	sec = sec[i+1:]
	if j := strings.Index(sec, "\n## "); j >= 0 {
		sec = sec[:j]
	}
	examples := regexp.MustCompile("(?s)```sh\\n(curl .*?)```\\n+```json\\n(.*?)```").FindAllStringSubmatch(sec, -1)
	if len(examples) != 3 {
		t.Fatalf("the On-call section has %d curl examples with answers, want 3", len(examples))
	}
	srv := newNotificationServer(t, testNotifications())
	for _, ex := range examples {
		args := curlArgs(ex[1])
		path, ok := strings.CutPrefix(args[len(args)-1], "http://127.0.0.1:8080")
		if !ok || !slices.Contains(args, "Authorization: Bearer $WATCHFLOOR_TOKEN") {
			t.Errorf("example %q: no URL of the console or no token", ex[1])
			continue
		}
		code, got := do(t, "GET", srv+path, "")
		var gotV, wantV any
		if err := json.Unmarshal([]byte(ex[2]), &wantV); err != nil {
			t.Errorf("%s: the example is not JSON: %v", path, err)
			continue
		}
		json.Unmarshal(got, &gotV)
		gb, _ := json.Marshal(gotV)
		wb, _ := json.Marshal(wantV)
		if code != http.StatusOK || !bytes.Equal(gb, wb) {
			t.Errorf("%s: %d: the docs differ from the answer\n got %s\nwant %s", path, code, gb, wb)
		}
	}
}
