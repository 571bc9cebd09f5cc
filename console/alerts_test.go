package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/watchfloor/watchfloor"
)

// fakeAlerts is an in-memory Alerts with the lifecycle's rules: ack and resolve refuse a
// resolved alert, and every change is told to publish (the appliance's adapter does the same
// with the manager's changes).
type fakeAlerts struct {
	mu       sync.Mutex
	alerts   map[uint64]watchfloor.Alert
	silences []watchfloor.Silence
	nextSil  int
	addErr   error // AddSilence answers it when set
	actions  []string
	publish  func(watchfloor.Alert)
	now      func() time.Time
	history  map[uint64][]AlertChange // by alert: what change recorded (consoleapi_test.go)
	audit    *fakeAudit               // for the tests that audit what they do
}

func newFakeAlerts(list ...watchfloor.Alert) *fakeAlerts {
	f := &fakeAlerts{alerts: map[uint64]watchfloor.Alert{}, now: func() time.Time { return testNow }, audit: &fakeAudit{}}
	for _, a := range list {
		f.alerts[a.ID] = a
	}
	return f
}

func (f *fakeAlerts) List(q AlertQuery) []watchfloor.Alert {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []watchfloor.Alert
	for _, a := range f.alerts {
		if q.Match(a) {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b watchfloor.Alert) int { return int(b.ID) - int(a.ID) })
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out
}

func (f *fakeAlerts) Get(id uint64) (watchfloor.Alert, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.alerts[id]
	return a, ok
}

func (f *fakeAlerts) change(id uint64, who, comment, what string, apply func(a *watchfloor.Alert) error) error {
	f.mu.Lock()
	a, ok := f.alerts[id]
	if !ok {
		f.mu.Unlock()
		return fmt.Errorf("alert %d: %w", id, ErrNotFound)
	}
	if a.State == watchfloor.AlertResolved {
		f.mu.Unlock()
		return fmt.Errorf("alert %d is resolved: %w", id, ErrState)
	}
	old := a.State
	if err := apply(&a); err != nil {
		f.mu.Unlock()
		return err
	}
	f.record(id, what, who, comment, a, old)
	a.UpdatedAt = f.now()
	f.alerts[id] = a
	f.actions = append(f.actions, fmt.Sprintf("%s %d by %s: %s", what, id, who, comment))
	pub := f.publish
	f.mu.Unlock()
	if pub != nil {
		pub(a)
	}
	return nil
}

func (f *fakeAlerts) Ack(id uint64, who, comment string) error {
	return f.change(id, who, comment, "ack", func(a *watchfloor.Alert) error {
		if a.State == watchfloor.AlertAcknowledged {
			return fmt.Errorf("alert %d is acknowledged already: %w", id, ErrState)
		}
		a.State, a.AckedBy, a.AckedAt = watchfloor.AlertAcknowledged, who, f.now()
		return nil
	})
}

func (f *fakeAlerts) Resolve(id uint64, who, comment string) error {
	return f.change(id, who, comment, "resolve", func(a *watchfloor.Alert) error {
		a.State, a.ResolvedAt = watchfloor.AlertResolved, f.now()
		return nil
	})
}

func (f *fakeAlerts) Silences() []watchfloor.Silence {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.silences)
}

func (f *fakeAlerts) AddSilence(s watchfloor.Silence) (watchfloor.Silence, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.addErr != nil {
		return s, f.addErr
	}
	f.nextSil++
	s.ID = fmt.Sprintf("sil-%04d", f.nextSil)
	f.silences = append(f.silences, s)
	return s, nil
}

func (f *fakeAlerts) DeleteSilence(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, s := range f.silences {
		if s.ID == id {
			f.silences = slices.Delete(f.silences, i, i+1)
			return nil
		}
	}
	return fmt.Errorf("silence %s: %w", id, ErrNotFound)
}

type fakeRules []RuleInfo

func (r fakeRules) List() []RuleInfo { return r }

var _ Alerts = (*fakeAlerts)(nil)

// testAlerts are the alerts of a small incident at now: access-2 is unreachable (critical,
// the root cause of two suppressed alerts), a scanner (acknowledged), DNS tunneling
// (silenced), and a resolved utilization alert.
func testAlerts(now time.Time) []watchfloor.Alert {
	ago := func(m int) time.Time { return now.Add(-time.Duration(m) * time.Minute) }
	return []watchfloor.Alert{
		{ID: 40, Rule: "interface_utilization_high", RuleTitle: "Interface utilization over 90 %", Key: "device=core-1,interface=Gi0/1",
			Severity: watchfloor.SeverityLow, Category: watchfloor.CategoryPerformance, State: watchfloor.AlertResolved,
			Title: "core-1 Gi0/1 over 90 % for 5 min", Entity: watchfloor.Entity{Site: "north-hub", Device: "core-1", Interface: "Gi0/1"},
			StartedAt: ago(95), LastSeen: ago(70), UpdatedAt: ago(60), ResolvedAt: ago(60), Count: 5},
		{ID: 41, Rule: "device_unreachable", RuleTitle: "Device unreachable", Key: "device=access-2",
			Severity: watchfloor.SeverityCritical, Category: watchfloor.CategoryAvailability, State: watchfloor.AlertFiring,
			Title: "access-2 is unreachable", Entity: watchfloor.Entity{Site: "north-hub", Device: "access-2"},
			Runbook:   "https://runbooks.example/device-unreachable",
			StartedAt: ago(12), LastSeen: ago(1), UpdatedAt: ago(1), Count: 12, Suppressed: []uint64{43, 44},
			Evidence: []watchfloor.Evidence{{Time: ago(12), Kind: "event", Summary: "access-2 stopped answering (3 polls)"}}},
		{ID: 42, Rule: "port_scan_vertical", RuleTitle: "Vertical port scan", Key: "src_ip=203.0.113.66",
			Severity: watchfloor.SeverityHigh, Category: watchfloor.CategorySecurity, State: watchfloor.AlertAcknowledged,
			Title: "Port scan from 203.0.113.66: 1024 ports of 10.20.1.10", Entity: watchfloor.Entity{Site: "north-hub", Host: "203.0.113.66"},
			Tags: []string{"attack.discovery", "attack.t1046"}, Techniques: []string{"T1046"},
			StartedAt: ago(25), LastSeen: ago(3), UpdatedAt: ago(4), Count: 1024, AckedBy: "alice", AckedAt: ago(4)},
		{ID: 43, Rule: "interface_down", RuleTitle: "Interface down", Key: "device=dist-2,interface=Gi0/14",
			Severity: watchfloor.SeverityMedium, Category: watchfloor.CategoryAvailability, State: watchfloor.AlertFiring,
			Title: "dist-2 Gi0/14 (uplink to access-2) is down", Entity: watchfloor.Entity{Site: "north-hub", Device: "dist-2", Interface: "Gi0/14"},
			StartedAt: ago(12), LastSeen: ago(12), UpdatedAt: ago(11), Count: 1, SuppressedBy: 41},
		{ID: 44, Rule: "link_flapping", RuleTitle: "Link flapping", Key: "device=access-2,interface=Gi0/48",
			Severity: watchfloor.SeverityMedium, Category: watchfloor.CategoryAvailability, State: watchfloor.AlertFiring,
			Title: "access-2 Gi0/48 flapped 6 times in 10 min", Entity: watchfloor.Entity{Site: "north-hub", Device: "access-2", Interface: "Gi0/48"},
			StartedAt: ago(14), LastSeen: ago(12), UpdatedAt: ago(11), Count: 6, Flapping: true, SuppressedBy: 41},
		{ID: 45, Rule: "dns_tunneling", RuleTitle: "DNS tunneling indicators", Key: "src_ip=10.20.4.17,domain=tunnel.example",
			Severity: watchfloor.SeverityHigh, Category: watchfloor.CategorySecurity, State: watchfloor.AlertFiring,
			Title: "DNS tunneling from 10.20.4.17 to tunnel.example", Entity: watchfloor.Entity{Site: "north-hub", Host: "10.20.4.17"},
			Tags: []string{"attack.command_and_control", "attack.t1071.004"}, Techniques: []string{"T1071.004"},
			StartedAt: ago(7), LastSeen: ago(2), UpdatedAt: ago(6), Count: 311, Silenced: true, SilenceID: "sil-0007"},
	}
}

// newAlertServer serves a console whose correlator is alerts (nil: none) and rules.
func newAlertServer(t *testing.T, alerts *fakeAlerts, rules Rules) (*Console, string) {
	t.Helper()
	store := testStore()
	deps := Deps{Store: store, Token: testToken, Site: "north-hub", Rules: rules}
	if alerts != nil {
		deps.Alerts = alerts
	}
	c, err := newConsole(Config{}, deps, func() time.Time { return testNow })
	if err != nil {
		t.Fatal(err)
	}
	if alerts != nil {
		alerts.publish = c.PublishAlert
	}
	t.Cleanup(func() { c.hub.close(time.Second) })
	return c, newServer(t, c.Handler())
}

// do sends a request with the token and a body, and answers the status and body.
func do(t *testing.T, method, u, body string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func alertIDs(t *testing.T, body []byte) []uint64 {
	t.Helper()
	var v struct{ Alerts []map[string]any }
	if err := json.Unmarshal(body, &v); err != nil || v.Alerts == nil {
		t.Fatalf("not an alert list: %s", body)
	}
	var ids []uint64
	for _, a := range v.Alerts {
		for _, k := range []string{"id", "rule", "severity", "state", "title", "started_at"} {
			if _, ok := a[k]; !ok {
				t.Errorf("alert %v has no %q", a["id"], k)
			}
		}
		ids = append(ids, uint64(a["id"].(float64)))
	}
	return ids
}

func TestAlertsList(t *testing.T) {
	_, srv := newAlertServer(t, newFakeAlerts(testAlerts(testNow)...), nil)
	for _, tc := range []struct {
		query string
		want  []uint64
	}{
		{"", []uint64{45, 44, 43, 42, 41, 40}},
		{"state=open", []uint64{45, 44, 43, 42, 41}},
		{"state=firing", []uint64{45, 44, 43, 41}},
		{"state=acknowledged", []uint64{42}},
		{"state=resolved", []uint64{40}},
		{"severity=high", []uint64{45, 42, 41}},
		{"severity=critical", []uint64{41}},
		{"severity=informational", []uint64{45, 44, 43, 42, 41, 40}},
		{"site=north-hub&state=open&limit=2", []uint64{45, 44}},
		{"site=south", nil},
		{"category=security", []uint64{45, 42}},
		{"category=performance", []uint64{40}},
		{"rule=port_scan_vertical", []uint64{42}},
		{"tactic=discovery", []uint64{42}},
		{"tactic=attack.discovery", []uint64{42}},
		{"tactic=command-and-control", []uint64{45}},
		{"tactic=Command_And_Control", []uint64{45}},
		{"tactic=impact", nil},
		{"since=-5m", []uint64{42, 41}},
		{"since=2026-05-04T11:00:00Z&severity=medium", []uint64{45, 44, 43, 42, 41}},
	} {
		code, body := do(t, "GET", srv+"/api/v1/alerts?"+tc.query, "")
		if code != http.StatusOK {
			t.Errorf("%s: %d %s", tc.query, code, body)
			continue
		}
		if got := alertIDs(t, body); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.query, got, tc.want)
		}
	}
}

func TestAlertsBadParams(t *testing.T) {
	_, srv := newAlertServer(t, newFakeAlerts(testAlerts(testNow)...), nil)
	for _, tc := range []struct{ path, field string }{
		{"/api/v1/alerts?state=open,firing", "state"},
		{"/api/v1/alerts?severity=urgent", "severity"},
		{"/api/v1/alerts?category=noc", "category"},
		{"/api/v1/alerts?tactic=hacking", "tactic"},
		{"/api/v1/alerts?tactic=attack.t1046", "tactic"},
		{"/api/v1/alerts?limit=0", "limit"},
		{"/api/v1/alerts?limit=1001", "limit"},
		{"/api/v1/alerts?since=yesterday", "since"},
		{"/api/v1/alerts?rule=" + strings.Repeat("r", 257), "rule"},
		{"/api/v1/alerts?site=" + strings.Repeat("s", 257), "site"},
		{"/api/v1/alerts/abc", "id"},
		{"/api/v1/alerts/0", "id"},
		{"/api/v1/alerts/99999999999999999999999", "id"},
	} {
		code, body := do(t, "GET", srv+tc.path, "")
		var e struct{ Error string }
		json.Unmarshal(body, &e)
		if code != http.StatusBadRequest || !strings.Contains(e.Error, tc.field+":") {
			t.Errorf("%s: %d %s, want 400 naming %s", tc.path, code, body, tc.field)
		}
	}
}

func TestAlertGet(t *testing.T) {
	_, srv := newAlertServer(t, newFakeAlerts(testAlerts(testNow)...), nil)
	code, body := do(t, "GET", srv+"/api/v1/alerts/41", "")
	var a watchfloor.Alert
	if err := json.Unmarshal(body, &a); code != 200 || err != nil {
		t.Fatalf("%d %s", code, body)
	}
	if a.ID != 41 || len(a.Evidence) != 1 || !slices.Equal(a.Suppressed, []uint64{43, 44}) {
		t.Errorf("alert 41 answered %+v", a)
	}
	if code, body := do(t, "GET", srv+"/api/v1/alerts/4711", ""); code != http.StatusNotFound || !bytes.Contains(body, []byte("unknown alert")) {
		t.Errorf("unknown alert: %d %s", code, body)
	}
}

func TestAlertAckResolve(t *testing.T) {
	fa := newFakeAlerts(testAlerts(testNow)...)
	c, srv := newAlertServer(t, fa, nil)
	for _, tc := range []struct {
		name, path, body string
		code             int
		state            watchfloor.AlertState // of the answered alert, when 200
		errHas           string
	}{
		{"ack with a comment", "/api/v1/alerts/43/ack", `{"comment": "looking at the uplink"}`, 200, watchfloor.AlertAcknowledged, ""},
		{"ack twice", "/api/v1/alerts/43/ack", "", http.StatusConflict, 0, "acknowledged already"},
		{"ack without a body", "/api/v1/alerts/44/ack", "", 200, watchfloor.AlertAcknowledged, ""},
		{"ack an empty object", "/api/v1/alerts/45/ack", "{}", 200, watchfloor.AlertAcknowledged, ""},
		{"ack resolved", "/api/v1/alerts/40/ack", "", http.StatusConflict, 0, "resolved"},
		{"ack unknown", "/api/v1/alerts/4711/ack", "", http.StatusNotFound, 0, "unknown alert"},
		{"ack bad id", "/api/v1/alerts/-1/ack", "", http.StatusBadRequest, 0, "id:"},
		{"comment not a string", "/api/v1/alerts/41/ack", `{"comment": 5}`, http.StatusBadRequest, 0, "comment: want a string"},
		{"unknown field", "/api/v1/alerts/41/ack", `{"coment": "x"}`, http.StatusBadRequest, 0, "coment: unknown field"},
		{"not JSON", "/api/v1/alerts/41/ack", `comment=x`, http.StatusBadRequest, 0, "body: not JSON"},
		{"two values", "/api/v1/alerts/41/ack", `{} {}`, http.StatusBadRequest, 0, "body: more than one"},
		{"long comment", "/api/v1/alerts/41/ack", `{"comment": "` + strings.Repeat("x", 1025) + `"}`, http.StatusBadRequest, 0, "comment: longer"},
		{"huge body", "/api/v1/alerts/41/ack", `{"comment": "` + strings.Repeat("x", 20000) + `"}`, http.StatusBadRequest, 0, "body: larger"},
		{"resolve", "/api/v1/alerts/42/resolve", `{"comment": "scanner blocked at the edge"}`, 200, watchfloor.AlertResolved, ""},
		{"resolve twice", "/api/v1/alerts/42/resolve", "", http.StatusConflict, 0, "resolved"},
		{"resolve unknown", "/api/v1/alerts/4711/resolve", "", http.StatusNotFound, 0, "unknown alert"},
	} {
		code, body := do(t, "POST", srv+tc.path, tc.body)
		if code != tc.code {
			t.Errorf("%s: %d %s, want %d", tc.name, code, body, tc.code)
			continue
		}
		if code == 200 {
			var a watchfloor.Alert
			json.Unmarshal(body, &a)
			if a.State != tc.state {
				t.Errorf("%s: state %v, want %v", tc.name, a.State, tc.state)
			}
			if tc.state == watchfloor.AlertAcknowledged && a.AckedBy != "admin" {
				t.Errorf("%s: acked by %q", tc.name, a.AckedBy)
			}
		} else if !bytes.Contains(body, []byte(tc.errHas)) {
			t.Errorf("%s: %s lacks %q", tc.name, body, tc.errHas)
		}
	}
	want := []string{
		"ack 43 by admin: looking at the uplink", "ack 44 by admin: ", "ack 45 by admin: ",
		"resolve 42 by admin: scanner blocked at the edge",
	}
	if !slices.Equal(fa.actions, want) {
		t.Errorf("actions %q", fa.actions)
	}
	// The stream's state followed: 42 is gone, 43 acknowledged.
	c.hub.mu.Lock()
	_, has42 := c.hub.alerts[42]
	st43 := c.hub.alerts[43].State
	c.hub.mu.Unlock()
	if has42 || st43 != watchfloor.AlertAcknowledged {
		t.Errorf("hub: 42 kept %v, 43 %v", has42, st43)
	}
}

func TestSilencesAPI(t *testing.T) {
	fa := newFakeAlerts(testAlerts(testNow)...)
	_, srv := newAlertServer(t, fa, nil)
	code, body := do(t, "GET", srv+"/api/v1/silences", "")
	if code != 200 || string(body) != "{\"silences\":[]}\n" {
		t.Errorf("no silences: %d %s", code, body)
	}
	code, body = do(t, "POST", srv+"/api/v1/silences",
		`{"matchers": [{"name": "device", "op": "=", "value": "access-2"}, {"name": "rule", "op": "=~", "value": "interface_.*|link_flapping"}],
		  "duration": "2h", "comment": "access-2 replaced tonight"}`)
	var s watchfloor.Silence
	if err := json.Unmarshal(body, &s); code != http.StatusCreated || err != nil {
		t.Fatalf("add: %d %s", code, body)
	}
	if s.ID != "sil-0001" || s.CreatedBy != "admin" || !s.CreatedAt.Equal(testNow) || !s.StartsAt.Equal(testNow) ||
		!s.EndsAt.Equal(testNow.Add(2*time.Hour)) || len(s.Matchers) != 2 || s.Comment != "access-2 replaced tonight" {
		t.Errorf("added %+v", s)
	}
	code, body = do(t, "GET", srv+"/api/v1/silences", "")
	if code != 200 || !bytes.Contains(body, []byte(`"id":"sil-0001"`)) {
		t.Errorf("list: %d %s", code, body)
	}
	if code, body := do(t, "DELETE", srv+"/api/v1/silences/sil-0001", ""); code != http.StatusNoContent || len(body) != 0 {
		t.Errorf("delete: %d %s", code, body)
	}
	if code, body := do(t, "DELETE", srv+"/api/v1/silences/sil-0001", ""); code != http.StatusNotFound || !bytes.Contains(body, []byte("unknown silence")) {
		t.Errorf("delete again: %d %s", code, body)
	}
	// What the correlator refuses.
	for _, tc := range []struct {
		err   error
		code  int
		field string
	}{
		{FieldError{"matchers[0].name", "no such label"}, 400, "matchers[0].name"},
		{fmt.Errorf("silence: %w: overlapping", ErrInvalid), 400, ""},
		{errors.New("store closed"), 500, ""},
	} {
		fa.addErr = tc.err
		code, body := do(t, "POST", srv+"/api/v1/silences", `{"matchers": [{"name": "rule", "op": "=", "value": "x"}], "duration": "1h", "comment": "c"}`)
		var e struct{ Error, Field string }
		json.Unmarshal(body, &e)
		if code != tc.code || e.Field != tc.field || strings.Contains(e.Error, "store closed") {
			t.Errorf("AddSilence %v: %d %s", tc.err, code, body)
		}
	}
}

// Each invalid silence is a 400 whose field and error name the problem.
func TestSilenceValidation(t *testing.T) {
	_, srv := newAlertServer(t, newFakeAlerts(), nil)
	const m = `"matchers": [{"name": "device", "op": "=", "value": "access-2"}]`
	for _, tc := range []struct{ name, body, field string }{
		{"empty", ``, "matchers"},
		{"no matchers", `{"matchers": [], "duration": "1h", "comment": "c"}`, "matchers"},
		{"bad op", `{"matchers": [{"name": "rule", "op": "==", "value": "x"}], "duration": "1h", "comment": "c"}`, "matchers[0].op"},
		{"bad regexp", `{"matchers": [{"name": "rule", "op": "=~", "value": "a(b"}], "duration": "1h", "comment": "c"}`, "matchers[0].value"},
		{"perl regexp", `{"matchers": [{"name": "rule", "op": "!~", "value": "(?=x)"}], "duration": "1h", "comment": "c"}`, "matchers[0].value"},
		{"bad name", `{"matchers": [{"name": "1st", "op": "=", "value": "x"}], "duration": "1h", "comment": "c"}`, "matchers[0].name"},
		{"bad severity", `{"matchers": [{"name": "device", "op": "=", "value": "a"}, {"name": "severity", "op": "=", "value": "urgent"}], "duration": "1h", "comment": "c"}`, "matchers[1].value"},
		{"mutes everything", `{"matchers": [{"name": "rule", "op": "=~", "value": ".*"}, {"name": "host", "op": "!=", "value": "x"}], "duration": "1h", "comment": "c"}`, "matchers"},
		{"unknown field", `{` + m + `, "duration": "1h", "comment": "c", "id": "mine"}`, "id"},
		{"matcher unknown field", `{"matchers": [{"name": "rule", "op": "=", "value": "x", "regex": true}], "duration": "1h", "comment": "c"}`, "regex"},
		{"matcher wrong type", `{"matchers": [{"name": "rule", "op": "=", "value": 7}], "duration": "1h", "comment": "c"}`, "matchers.value"},
		{"no end", `{` + m + `, "comment": "c"}`, "ends_at"},
		{"both ends", `{` + m + `, "ends_at": "+1h", "duration": "1h", "comment": "c"}`, "duration"},
		{"bad duration", `{` + m + `, "duration": "soon", "comment": "c"}`, "duration"},
		{"negative duration", `{` + m + `, "duration": "-1h", "comment": "c"}`, "duration"},
		{"31 days", `{` + m + `, "duration": "31d", "comment": "c"}`, "duration"},
		{"ends before starts", `{` + m + `, "starts_at": "+2h", "ends_at": "+1h", "comment": "c"}`, "ends_at"},
		{"ends in the past", `{` + m + `, "ends_at": "-1h", "comment": "c"}`, "ends_at"},
		{"ends 31 days on", `{` + m + `, "starts_at": "2026-05-05T00:00:00Z", "ends_at": "2026-06-05T00:00:01Z", "comment": "c"}`, "ends_at"},
		{"bad start", `{` + m + `, "starts_at": "tomorrow", "duration": "1h", "comment": "c"}`, "starts_at"},
		{"start too far ahead", `{` + m + `, "starts_at": "+9000h", "duration": "1h", "comment": "c"}`, "starts_at"},
		{"no comment", `{` + m + `, "duration": "1h"}`, "comment"},
		{"blank comment", `{` + m + `, "duration": "1h", "comment": "  "}`, "comment"},
		{"array body", `[1]`, "body"},
		{"truncated", `{"matchers": [`, "body"},
	} {
		code, body := do(t, "POST", srv+"/api/v1/silences", tc.body)
		var e struct{ Error, Field string }
		json.Unmarshal(body, &e)
		if code != http.StatusBadRequest || e.Field != tc.field || !strings.HasPrefix(e.Error, tc.field+": ") {
			t.Errorf("%s: %d %s, want 400 naming %s", tc.name, code, body, tc.field)
		}
	}
	// The good ones: durations with days, a start later, the 30-day maximum.
	for _, body := range []string{
		`{` + m + `, "duration": "1d12h", "comment": "c"}`,
		`{` + m + `, "duration": "30d", "comment": "c"}`,
		`{` + m + `, "starts_at": "now+1h", "ends_at": "2026-05-04T15:00:00Z", "comment": "c"}`,
		`{"matchers": [{"name": "severity", "op": "!=", "value": "critical"}, {"name": "site", "op": "=~", "value": "north-.*"}], "duration": "10m", "comment": "c"}`,
	} {
		if code, resp := do(t, "POST", srv+"/api/v1/silences", body); code != http.StatusCreated {
			t.Errorf("%s: %d %s", body, code, resp)
		}
	}
}

func TestRulesAPI(t *testing.T) {
	rules := fakeRules{
		{Name: "port_scan_vertical", Title: "Vertical port scan", Level: "high", Category: "security", Tags: []string{"attack.discovery", "attack.t1046"},
			Kinds: []string{"flow"}, Hits: 3, LastHit: testNow.Add(-3 * time.Minute), File: "rules/security/port_scan.yaml"},
		{Name: "device_unreachable", Title: "Device unreachable", Level: "critical", Category: "availability", Kinds: []string{"event"}, File: "rules/noc/device.yaml"},
	}
	_, srv := newAlertServer(t, nil, rules)
	code, body := do(t, "GET", srv+"/api/v1/rules", "")
	var v struct{ Rules []map[string]any }
	if err := json.Unmarshal(body, &v); code != 200 || err != nil || len(v.Rules) != 2 {
		t.Fatalf("%d %s", code, body)
	}
	if v.Rules[0]["name"] != "device_unreachable" || v.Rules[0]["tags"] == nil || v.Rules[1]["hits"] != 3.0 {
		t.Errorf("rules %s", body)
	}
	if rules[0].Name != "port_scan_vertical" {
		t.Error("the rules' list was sorted in place")
	}
}

// Without a correlator the alert endpoints say so with 404; the rest of the API works.
func TestNoCorrelator(t *testing.T) {
	_, srv := newAlertServer(t, nil, nil)
	for _, r := range []struct{ method, path string }{
		{"GET", "/api/v1/alerts"}, {"GET", "/api/v1/alerts/1"}, {"POST", "/api/v1/alerts/1/ack"},
		{"POST", "/api/v1/alerts/1/resolve"}, {"GET", "/api/v1/silences"}, {"POST", "/api/v1/silences"},
		{"DELETE", "/api/v1/silences/x"}, {"GET", "/api/v1/rules"},
	} {
		code, body := do(t, r.method, srv+r.path, "")
		if code != http.StatusNotFound || !bytes.Contains(body, []byte("no correlator configured")) {
			t.Errorf("%s %s: %d %s", r.method, r.path, code, body)
		}
	}
	if code, _ := do(t, "GET", srv+"/api/v1/devices", ""); code != 200 {
		t.Errorf("devices: %d", code)
	}
}

// The alert endpoints refuse requests without the token, whatever the method.
func TestAlertsRequireToken(t *testing.T) {
	fa := newFakeAlerts(testAlerts(testNow)...)
	_, srv := newAlertServer(t, fa, fakeRules{})
	for _, r := range []struct{ method, path, body string }{
		{"GET", "/api/v1/alerts", ""}, {"GET", "/api/v1/alerts/41", ""}, {"POST", "/api/v1/alerts/41/ack", "{}"},
		{"POST", "/api/v1/alerts/41/resolve", ""}, {"GET", "/api/v1/silences", ""},
		{"POST", "/api/v1/silences", `{"matchers": [{"name": "rule", "op": "=", "value": "x"}], "duration": "1h", "comment": "c"}`},
		{"DELETE", "/api/v1/silences/sil-0001", ""}, {"GET", "/api/v1/rules", ""},
	} {
		for _, tok := range []string{"", "wrong", testToken + "x"} {
			req, _ := http.NewRequest(r.method, srv+r.path+"?token="+url.QueryEscape(testToken), strings.NewReader(r.body))
			if tok != "" {
				req.Header.Set("Authorization", "Bearer "+tok)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s %s with token %q: %d", r.method, r.path, tok, resp.StatusCode)
			}
		}
	}
	if len(fa.actions) != 0 || len(fa.silences) != 0 {
		t.Errorf("unauthenticated requests changed state: %v %v", fa.actions, fa.silences)
	}
}

func TestAlertQueryMatch(t *testing.T) {
	a := testAlerts(testNow)[5] // 45: high, security, firing, silenced, command and control
	for _, tc := range []struct {
		q    AlertQuery
		want bool
	}{
		{AlertQuery{}, true},
		{AlertQuery{State: StateOpen, Severity: watchfloor.SeverityHigh, Site: "north-hub", Category: "security", Rule: "dns_tunneling", Tactic: "command-and-control", Since: a.UpdatedAt}, true},
		{AlertQuery{State: "acknowledged"}, false},
		{AlertQuery{State: "resolved"}, false},
		{AlertQuery{Severity: watchfloor.SeverityCritical}, false},
		{AlertQuery{Site: "north"}, false},
		{AlertQuery{Category: "availability"}, false},
		{AlertQuery{Rule: "dns"}, false},
		{AlertQuery{Tactic: "discovery"}, false},
		{AlertQuery{Since: a.UpdatedAt.Add(time.Nanosecond)}, false},
	} {
		if got := tc.q.Match(a); got != tc.want {
			t.Errorf("%+v: %v", tc.q, got)
		}
	}
}

func FuzzSilenceBody(f *testing.F) {
	for _, s := range []string{
		`{"matchers": [{"name": "device", "op": "=", "value": "access-2"}], "duration": "2h", "comment": "c"}`,
		`{"matchers": [{"name": "rule", "op": "=~", "value": "a|b"}, {"name": "severity", "op": "!=", "value": "low"}], "starts_at": "+1h", "ends_at": "2026-05-05T00:00:00Z", "comment": "c"}`,
		`{"matchers": [{"name": "x", "op": "!~", "value": "(a*)*b{1000}"}], "duration": "30d", "comment": "c"}`,
		`{"matchers": [], "duration": "1d12h"}`, `{"matchers": [{}]}`, `[]`, `null`, ``, `{"duration": "99999999999d"}`,
		`{"matchers": [{"name": "a", "op": "=", "value": "\xff"}], "duration": "1h", "comment": "\u00e9"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var b silenceBody
		if err := decodeJSON(raw, &b); err != nil {
			var fe FieldError
			if !errors.As(err, &fe) || fe.Field == "" {
				t.Fatalf("decode error %v names no field", err)
			}
			return
		}
		s, err := b.silence(testNow, "admin")
		if err != nil {
			var fe FieldError
			if !errors.As(err, &fe) || fe.Field == "" {
				t.Fatalf("error %v names no field", err)
			}
			return
		}
		if len(s.Matchers) == 0 || len(s.Matchers) > maxMatchers || s.Comment == "" || s.CreatedBy != "admin" {
			t.Fatalf("accepted %+v", s)
		}
		if !s.EndsAt.After(s.StartsAt) || s.EndsAt.Sub(s.StartsAt) > maxSilenceLength || s.StartsAt.Before(testNow) {
			t.Fatalf("accepted times %v..%v", s.StartsAt, s.EndsAt)
		}
		selective := false
		for _, m := range s.Matchers {
			empty, ferr := checkMatcher(m)
			if ferr != nil {
				t.Fatalf("accepted matcher %+v: %v", m, ferr)
			}
			selective = selective || !empty
		}
		if !selective {
			t.Fatal("accepted a silence of everything")
		}
	})
}
