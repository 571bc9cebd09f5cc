package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/console/users"
)

// record notes a change in the fake's history; f.mu is held.
func (f *fakeAlerts) record(id uint64, what, who, text string, a watchfloor.Alert, from watchfloor.AlertState) {
	if f.history == nil {
		f.history = make(map[uint64][]AlertChange)
	}
	ch := AlertChange{Time: f.now(), Kind: ChangeState, From: from, To: a.State, By: who, Comment: text}
	switch what {
	case "assign":
		ch.Kind, ch.Assignee, ch.Comment = ChangeAssign, a.Assignee, ""
	case "comment":
		ch.Kind = ChangeComment
	}
	f.history[id] = append(f.history[id], ch)
}

func (f *fakeAlerts) Assign(id uint64, who, assignee string) error {
	return f.change(id, who, "", "assign", func(a *watchfloor.Alert) error {
		a.Assignee = assignee
		return nil
	})
}

// Comment takes comments on resolved alerts too, as the correlator does.
func (f *fakeAlerts) Comment(id uint64, who, text string) error {
	f.mu.Lock()
	a, ok := f.alerts[id]
	if !ok {
		f.mu.Unlock()
		return fmt.Errorf("alert %d: %w", id, ErrNotFound)
	}
	f.record(id, "comment", who, text, a, a.State)
	a.UpdatedAt = f.now()
	f.alerts[id] = a
	f.actions = append(f.actions, fmt.Sprintf("comment %d by %s: %s", id, who, text))
	pub := f.publish
	f.mu.Unlock()
	if pub != nil {
		pub(a)
	}
	return nil
}

func (f *fakeAlerts) History(id uint64) ([]AlertChange, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.history[id]), nil
}

// fakeAudit is an audit log in memory.
type fakeAudit struct {
	mu      sync.Mutex
	entries []AuditEntry
	queries []AuditQuery
	fail    error
}

func (a *fakeAudit) RecordAudit(e AuditEntry) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fail != nil {
		return a.fail
	}
	e.Seq = uint64(len(a.entries) + 1)
	a.entries = append(a.entries, e)
	return nil
}

func (a *fakeAudit) AuditLog(q AuditQuery) ([]AuditEntry, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.queries = append(a.queries, q)
	var out []AuditEntry
	for i := len(a.entries) - 1; i >= 0; i-- {
		e := a.entries[i]
		if (q.Who == "" || e.Who == q.Who) && (q.Action == "" || e.Action == q.Action) &&
			(q.Since.IsZero() || !e.Time.Before(q.Since)) && (q.Until.IsZero() || e.Time.Before(q.Until)) {
			out = append(out, e)
		}
	}
	return out, nil
}

func (a *fakeAudit) list() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, e := range a.entries {
		out = append(out, fmt.Sprintf("%s %s %s/%s/%s %q ok=%v", e.Action, e.Target, e.Who, e.Role, e.Via, e.Detail, e.OK))
	}
	return out
}

// newDeskServer serves a console with the test alerts and an audit log.
func newDeskServer(t *testing.T) (*fakeAlerts, *fakeAudit, string) {
	t.Helper()
	fa, au := newFakeAlerts(testAlerts(testNow)...), &fakeAudit{}
	c, err := newConsole(Config{}, Deps{Store: testStore(), Token: testToken, Site: "north-hub", Alerts: fa, Audit: au},
		func() time.Time { return testNow })
	if err != nil {
		t.Fatal(err)
	}
	fa.publish = c.PublishAlert
	t.Cleanup(func() { c.hub.close(time.Second) })
	return fa, au, newServer(t, c.Handler())
}

// Assign, comment and history: the changes land in the alert and its history, each one in
// the audit log with who, role and how; bad input is a 400 naming the field.
func TestAssignCommentHistory(t *testing.T) {
	fa, au, url := newDeskServer(t)
	code, body := do(t, "POST", url+"/api/v1/alerts/41/assign", `{"assignee":"bob"}`)
	if code != http.StatusOK || !strings.Contains(string(body), `"assignee":"bob"`) {
		t.Fatalf("assign: %d %s", code, body)
	}
	if a, _ := fa.Get(41); a.Assignee != "bob" {
		t.Fatalf("assignee %q", a.Assignee)
	}
	code, body = do(t, "POST", url+"/api/v1/alerts/41/comment", `{"text":"access-2's uplink fibre is cut; the city crew is on site"}`)
	if code != http.StatusOK || !strings.Contains(string(body), `"id":41`) {
		t.Fatalf("comment: %d %s", code, body)
	}
	if code, body := do(t, "POST", url+"/api/v1/alerts/41/ack", `{"comment":"mine"}`); code != http.StatusOK {
		t.Fatalf("ack: %d %s", code, body)
	}
	if code, body := do(t, "POST", url+"/api/v1/alerts/41/assign", `{"assignee":""}`); code != http.StatusOK {
		t.Fatalf("take back: %d %s", code, body)
	}
	// A resolved alert takes a comment, not an assignment.
	if code, body := do(t, "POST", url+"/api/v1/alerts/40/comment", `{"text":"post-mortem: a backup job"}`); code != http.StatusOK {
		t.Fatalf("comment on a resolved alert: %d %s", code, body)
	}
	if code, body := do(t, "POST", url+"/api/v1/alerts/40/assign", `{"assignee":"bob"}`); code != http.StatusConflict {
		t.Fatalf("assign a resolved alert: %d %s", code, body)
	}

	code, body = do(t, "GET", url+"/api/v1/alerts/41/history", "")
	if code != http.StatusOK {
		t.Fatalf("history: %d %s", code, body)
	}
	var h struct {
		Alert   uint64
		History []AlertChange
	}
	if err := json.Unmarshal(body, &h); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range h.History {
		got = append(got, fmt.Sprintf("%s %s>%s %s %q %q", c.Kind, c.From, c.To, c.By, c.Assignee, c.Comment))
	}
	want := []string{
		`assign firing>firing admin "bob" ""`,
		`comment firing>firing admin "" "access-2's uplink fibre is cut; the city crew is on site"`,
		`state firing>acknowledged admin "" "mine"`,
		`assign acknowledged>acknowledged admin "" ""`,
	}
	if h.Alert != 41 || !slices.Equal(got, want) {
		t.Fatalf("history of %d:\n%s\nwant\n%s", h.Alert, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(string(body), `"kind":"assign"`) || !strings.Contains(string(body), `"to":"acknowledged"`) {
		t.Errorf("history JSON %s", body)
	}

	wantAudit := []string{
		`alert.assign alert 41 admin/admin/token "to bob" ok=true`,
		`alert.comment alert 41 admin/admin/token "access-2's uplink fibre is cut; the city crew is on site" ok=true`,
		`alert.ack alert 41 admin/admin/token "mine" ok=true`,
		`alert.assign alert 41 admin/admin/token "taken back" ok=true`,
		`alert.comment alert 40 admin/admin/token "post-mortem: a backup job" ok=true`,
		`alert.assign alert 40 admin/admin/token "to bob" ok=false`,
	}
	if got := au.list(); !slices.Equal(got, wantAudit) {
		t.Errorf("audit:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantAudit, "\n"))
	}

	for _, tc := range []struct {
		path, body string
		code       int
		want       string
	}{
		{"/api/v1/alerts/41/assign", `{"assignee":"bob smith"}`, 400, `"field":"assignee"`},
		{"/api/v1/alerts/41/assign", `{"assignee":"<img src=x>"}`, 400, `"field":"assignee"`},
		{"/api/v1/alerts/41/assign", `{"assignee":"` + strings.Repeat("b", MaxAssigneeLen+1) + `"}`, 400, `"field":"assignee"`},
		{"/api/v1/alerts/41/assign", `{}`, 400, `"field":"assignee"`},
		{"/api/v1/alerts/41/assign", `{"assignee":"bob","x":1}`, 400, `"field":"x"`},
		{"/api/v1/alerts/41/comment", `{"text":"  "}`, 400, `"field":"text"`},
		{"/api/v1/alerts/41/comment", `{"text":"` + strings.Repeat("x", MaxNoteLen+1) + `"}`, 400, `"field":"text"`},
		{"/api/v1/alerts/41/comment", `{"text":7}`, 400, `"field":"text"`},
		{"/api/v1/alerts/99/comment", `{"text":"hello"}`, 404, "unknown alert"},
		{"/api/v1/alerts/99/assign", `{"assignee":"bob"}`, 404, "unknown alert"},
		{"/api/v1/alerts/x/assign", `{"assignee":"bob"}`, 400, "not an alert ID"},
	} {
		code, body := do(t, "POST", url+tc.path, tc.body)
		if code != tc.code || !strings.Contains(string(body), tc.want) {
			t.Errorf("%s %.60s: %d %s, want %d %s", tc.path, tc.body, code, body, tc.code, tc.want)
		}
	}
	// The longest comment passes.
	if code, body := do(t, "POST", url+"/api/v1/alerts/42/comment", `{"text":"`+strings.Repeat("x", MaxNoteLen)+`"}`); code != 200 {
		t.Errorf("a comment of %d bytes: %d %s", MaxNoteLen, code, body)
	}
	if code, _ := do(t, "GET", url+"/api/v1/alerts/99/history", ""); code != 404 {
		t.Errorf("history of an unknown alert: %d", code)
	}
	for _, p := range []string{"/api/v1/alerts/41/history", "/api/v1/audit"} {
		if resp, _ := get(t, url+p, ""); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s without a token: %d", p, resp.StatusCode)
		}
	}
	req, _ := http.NewRequest("POST", url+"/api/v1/alerts/41/comment", strings.NewReader(`{"text":"x"}`))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("comment without a token: %v %v", resp.StatusCode, err)
	}
}

// The existing alert and silence actions are audited, refused ones too.
func TestActionsAudited(t *testing.T) {
	_, au, url := newDeskServer(t)
	steps := []struct {
		method, path, body string
		code               int
	}{
		{"POST", "/api/v1/alerts/43/ack", `{"comment":"looking"}`, 200},
		{"POST", "/api/v1/alerts/43/ack", ``, 409},
		{"POST", "/api/v1/alerts/44/resolve", `{"comment":"cable replaced"}`, 200},
		{"POST", "/api/v1/silences", `{"matchers":[{"name":"device","op":"=","value":"access-2"}],"duration":"2h","comment":"maintenance"}`, 201},
		{"DELETE", "/api/v1/silences/sil-0001", ``, 204},
		{"DELETE", "/api/v1/silences/sil-0001", ``, 404},
	}
	for _, s := range steps {
		if code, body := do(t, s.method, url+s.path, s.body); code != s.code {
			t.Fatalf("%s %s: %d %s", s.method, s.path, code, body)
		}
	}
	want := []string{
		`alert.ack alert 43 admin/admin/token "looking" ok=true`,
		`alert.ack alert 43 admin/admin/token "" ok=false`,
		`alert.resolve alert 44 admin/admin/token "cable replaced" ok=true`,
		`silence.add silence sil-0001 admin/admin/token "device=\"access-2\" until 2026-05-04T14:00:00Z: maintenance" ok=true`,
		`silence.delete silence sil-0001 admin/admin/token "" ok=true`,
		`silence.delete silence sil-0001 admin/admin/token "" ok=false`,
	}
	if got := au.list(); !slices.Equal(got, want) {
		t.Errorf("audit:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// GET /api/v1/audit: newest first, the filters passed to the log, bad ones refused.
func TestAuditAPI(t *testing.T) {
	_, au, url := newDeskServer(t)
	for i, who := range []string{"ann", "bob", "ann"} {
		au.RecordAudit(AuditEntry{Time: testNow.Add(time.Duration(i-3) * time.Hour), Who: who, Role: "analyst", Via: "session",
			Action: AuditAlertAck, Target: alertTarget(uint64(41 + i)), OK: true})
	}
	code, body := do(t, "GET", url+"/api/v1/audit?who=ann&since=-4h&until=now&action=alert.ack&limit=10", "")
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	var v struct{ Entries []AuditEntry }
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Entries) != 2 || v.Entries[0].Target != "alert 43" || v.Entries[1].Target != "alert 41" || v.Entries[0].Seq != 3 {
		t.Fatalf("entries %+v", v.Entries)
	}
	q := au.queries[len(au.queries)-1]
	if q.Who != "ann" || q.Action != "alert.ack" || q.Limit != 10 || !q.Since.Equal(testNow.Add(-4*time.Hour)) || !q.Until.Equal(testNow) {
		t.Errorf("query %+v", q)
	}
	if code, body := do(t, "GET", url+"/api/v1/audit", ""); code != 200 || !strings.Contains(string(body), `"seq":3`) || au.queries[len(au.queries)-1].Limit != defAuditLimit {
		t.Errorf("no filter: %d %s", code, body)
	}
	for _, bad := range []string{"limit=0", "limit=1001", "limit=x", "since=yesterday", "since=now&until=-1h",
		"who=" + strings.Repeat("a", maxAuditFilter+1), "action=%ff"} {
		if code, body := do(t, "GET", url+"/api/v1/audit?"+bad, ""); code != 400 {
			t.Errorf("%s: %d %s", bad, code, body)
		}
	}
	// Without an audit log the endpoint says so.
	_, noAudit := newAlertServer(t, newFakeAlerts(), nil)
	if code, _ := do(t, "GET", noAudit+"/api/v1/audit", ""); code != 404 {
		t.Errorf("no audit log: %d", code)
	}
}

// A failure to record is counted and logged; the action itself stands.
func TestAuditFailureCounted(t *testing.T) {
	fa, au := newFakeAlerts(testAlerts(testNow)...), &fakeAudit{fail: fmt.Errorf("disk full")}
	c, reg := newTestConsole(t, Config{}, testStore())
	c.deps.Alerts, c.deps.Audit = fa, au
	srv := newServer(t, c.Handler())
	if code, body := do(t, "POST", srv+"/api/v1/alerts/41/comment", `{"text":"x"}`); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	if v := metricValue(t, reg, "watchfloor_console_audit_errors_total", nil); v != 1 {
		t.Errorf("audit errors %v", v)
	}
}

// CheckAssignee accepts user names and refuses anything else.
func TestCheckAssignee(t *testing.T) {
	for name, ok := range map[string]bool{
		"": true, "bob": true, "ana.maría": true, "o_neil-2": true, "soc+night@city": true, "7th-shift": true,
		"bob smith": false, ".bob": false, "-bob": false, "<b>": false, "bob\n": false, "a\xffb": false,
		strings.Repeat("x", MaxAssigneeLen): true, strings.Repeat("x", MaxAssigneeLen+1): false,
	} {
		if err := CheckAssignee(name); (err == nil) != ok {
			t.Errorf("%q: %v", name, err)
		}
	}
}

// roleTokens serves the test alerts with a users file holding a viewer and an analyst, and
// answers their API tokens.
func roleTokens(t *testing.T) (fa *fakeAlerts, au *fakeAudit, url, viewer, analyst string) {
	t.Helper()
	dir := t.TempDir()
	us, err := users.Open(dir, users.Options{Cost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	toks := map[users.Role]string{}
	for name, role := range map[string]users.Role{"vic": users.Viewer, "bob": users.Analyst} {
		if err := us.Add(name, role, []byte("correct horse battery staple")); err != nil {
			t.Fatal(err)
		}
		tok, _, err := us.NewToken(name, "test", role, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		toks[role] = tok
	}
	fa, au = newFakeAlerts(testAlerts(testNow)...), &fakeAudit{}
	c, err := newConsole(Config{}, Deps{Store: testStore(), Token: testToken, Site: "north-hub", Alerts: fa, Audit: au,
		Users: us, DataDir: dir}, func() time.Time { return testNow })
	if err != nil {
		t.Fatal(err)
	}
	fa.publish = c.PublishAlert
	t.Cleanup(func() { c.hub.close(time.Second) })
	return fa, au, newServer(t, c.Handler()), toks[users.Viewer], toks[users.Analyst]
}

// A viewer reads the queue and histories but changes nothing (403), and may not read the
// audit log; an analyst changes alerts but may not read the audit log either.
func TestDeskRoles(t *testing.T) {
	fa, _, url, viewer, analyst := roleTokens(t)
	send := func(method, path, body, tok string) int {
		t.Helper()
		resp, b := call(t, method, url+path, body, "Authorization", "Bearer "+tok)
		if resp.StatusCode >= 500 {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
		return resp.StatusCode
	}
	for _, c := range []struct {
		method, path, body string
		viewer, analyst    int
	}{
		{"GET", "/api/v1/alerts/41/history", "", 200, 200},
		{"POST", "/api/v1/alerts/41/assign", `{"assignee":"bob"}`, 403, 200},
		{"POST", "/api/v1/alerts/41/comment", `{"text":"mine"}`, 403, 200},
		{"POST", "/api/v1/alerts/41/ack", `{}`, 403, 200},
		{"POST", "/api/v1/alerts/43/resolve", `{}`, 403, 200},
		{"POST", "/api/v1/silences", `{"matchers":[{"name":"rule","op":"=","value":"x"}],"duration":"1h","comment":"c"}`, 403, 201},
		{"GET", "/api/v1/audit", "", 403, 403},
	} {
		if got := send(c.method, c.path, c.body, viewer); got != c.viewer {
			t.Errorf("viewer %s %s: %d, want %d", c.method, c.path, got, c.viewer)
		}
		if got := send(c.method, c.path, c.body, analyst); got != c.analyst {
			t.Errorf("analyst %s %s: %d, want %d", c.method, c.path, got, c.analyst)
		}
	}
	if a, _ := fa.Get(41); a.Assignee != "bob" || a.AckedBy != "bob" {
		t.Errorf("the analyst's changes: %+v", a)
	}
	if code, body := do(t, "GET", url+"/api/v1/audit?action=alert.assign", ""); code != 200 || !strings.Contains(string(body), `"who":"bob"`) {
		t.Errorf("the admin reads the audit log: %d %s", code, body)
	}
}
