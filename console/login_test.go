package console

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"

	"github.com/watchfloor/watchfloor/console/users"
)

const (
	annPassword = "ann's long passphrase 1"
	bobPassword = "bob's long passphrase 22"
	vicPassword = "vic's long passphrase 333"
)

// authAudit records audit entries.
type authAudit struct {
	mu sync.Mutex
	es []AuditEntry
}

func (a *authAudit) RecordAudit(e AuditEntry) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.es = append(a.es, e)
	return nil
}

func (a *authAudit) AuditLog(AuditQuery) ([]AuditEntry, error) { return nil, nil }

func (a *authAudit) entries() []AuditEntry {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]AuditEntry(nil), a.es...)
}

// authEnv is a console with users ann (admin), bob (analyst) and vic (viewer), a clock the
// test moves, a captured log and audit.
type authEnv struct {
	c     *Console
	url   string
	dir   string
	users *users.Store
	audit *authAudit
	log   *bytes.Buffer
	logMu *sync.Mutex
	alert *fakeAlerts
	reg   *prometheus.Registry
	mu    sync.Mutex
	now   time.Time
}

func (e *authEnv) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *authEnv) advance(d time.Duration) {
	e.mu.Lock()
	e.now = e.now.Add(d)
	e.mu.Unlock()
}

func (e *authEnv) logText() string {
	e.logMu.Lock()
	defer e.logMu.Unlock()
	return e.log.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func newAuthEnv(t *testing.T, cfg Config) *authEnv {
	t.Helper()
	e := &authEnv{dir: t.TempDir(), audit: &authAudit{}, log: &bytes.Buffer{}, logMu: &sync.Mutex{}, now: testNow,
		alert: newFakeAlerts(testAlerts(testNow)...), reg: prometheus.NewRegistry()}
	us, err := users.Open(e.dir, users.Options{Cost: bcrypt.MinCost, Now: e.clock})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []struct {
		name string
		role users.Role
		pw   string
	}{{"ann", users.Admin, annPassword}, {"bob", users.Analyst, bobPassword}, {"vic", users.Viewer, vicPassword}} {
		if err := us.Add(u.name, u.role, []byte(u.pw)); err != nil {
			t.Fatal(err)
		}
	}
	e.users = us
	log := slog.New(slog.NewTextHandler(lockedWriter{e.logMu, e.log}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := newConsole(cfg, Deps{Store: testStore(), Token: testToken, Site: "lab", Registerer: e.reg, Gatherer: e.reg,
		Alerts: e.alert, Audit: e.audit, Users: us, DataDir: e.dir, Log: log}, e.clock)
	if err != nil {
		t.Fatal(err)
	}
	e.alert.publish = c.PublishAlert
	e.c = c
	srv := httptest.NewServer(c.Handler())
	t.Cleanup(func() { c.hub.close(time.Second); srv.Close() })
	e.url = srv.URL
	return e
}

// call sends a request; hdr are header pairs.
func call(t *testing.T, method, u, body string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// login logs in and answers the cookie header value and the CSRF token.
func (e *authEnv) login(t *testing.T, name, pw string) (cookie, csrf string) {
	t.Helper()
	resp, b := call(t, "POST", e.url+"/api/v1/login", fmt.Sprintf(`{"user":%q,"password":%q}`, name, pw))
	if resp.StatusCode != 200 {
		t.Fatalf("login %s: %d %s", name, resp.StatusCode, b)
	}
	var v sessionView
	if err := json.Unmarshal(b, &v); err != nil || v.CSRF == "" || v.User != name {
		t.Fatalf("login answer %s: %v", b, err)
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == SessionCookie {
			return SessionCookie + "=" + ck.Value, v.CSRF
		}
	}
	t.Fatal("no session cookie")
	return "", ""
}

// concretePath fills a route pattern's wildcards.
func concretePath(pattern string) (method, path string) {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		method, path = "GET", pattern
	}
	path = regexp.MustCompile(`\{[^}]+\}`).ReplaceAllString(path, "41")
	if strings.HasSuffix(path, "/") {
		path += "anything"
	}
	return method, path
}

// TestEveryRouteNeedsCredentials walks every route registered through handle (new routes
// are covered by themselves): without credentials, with a wrong token, a wrong ?token=
// and a cookie naming no session, each answers 401.
func TestEveryRouteNeedsCredentials(t *testing.T) {
	e := newAuthEnv(t, Config{})
	routes := e.c.auth.routes
	if len(routes) < 25 {
		t.Fatalf("only %d routes recorded", len(routes))
	}
	seen := map[string]bool{}
	for _, rt := range routes {
		seen[rt.Pattern] = true
		method, path := concretePath(rt.Pattern)
		for _, hdr := range [][]string{
			nil,
			{"Authorization", "Bearer wrong"},
			{"Authorization", "Bearer wf_" + strings.Repeat("A", 43)},
			{"Authorization", "Basic " + testToken},
			{"Cookie", SessionCookie + "=not-a-session"},
		} {
			resp, b := call(t, method, e.url+path, `{}`, hdr...)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s %s with %v: %d %s, want 401", method, path, hdr, resp.StatusCode, b)
			}
		}
		resp, _ := call(t, method, e.url+path+"?token=wrong", `{}`)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s %s?token=wrong: %d, want 401", method, path, resp.StatusCode)
		}
	}
	for _, p := range []string{"GET /api/v1/stream", "POST /api/v1/alerts/{id}/ack", "POST /api/v1/users", "GET /api/v1/session"} {
		if !seen[p] {
			t.Errorf("route %q not in the table", p)
		}
	}
	// Open: the pages, health, metrics and the login itself.
	for _, p := range []string{"/login", "/wall", "/healthz", "/metrics"} {
		if resp, _ := call(t, "GET", e.url+p, ""); resp.StatusCode != 200 {
			t.Errorf("GET %s: %d", p, resp.StatusCode)
		}
	}
}

// TestRoles: a viewer's token may read but not ack, resolve or silence (403, audited);
// an analyst's token may, without any CSRF token.
func TestRoles(t *testing.T) {
	e := newAuthEnv(t, Config{})
	viewer, _, err := e.users.NewToken("ann", "wall", users.Viewer, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	analyst, _, err := e.users.NewToken("bob", "", users.Analyst, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if resp, b := call(t, "GET", e.url+"/api/v1/alerts", "", "Authorization", "Bearer "+viewer); resp.StatusCode != 200 {
		t.Fatalf("viewer reads alerts: %d %s", resp.StatusCode, b)
	}
	if resp, _ := call(t, "GET", e.url+"/api/v1/users", "", "Authorization", "Bearer "+analyst); resp.StatusCode != 403 {
		t.Errorf("analyst lists users: %d, want 403", resp.StatusCode)
	}
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/api/v1/alerts/41/ack", ""},
		{"POST", "/api/v1/alerts/41/resolve", ""},
		{"POST", "/api/v1/silences", `{"matchers":[{"name":"rule","value":"dns_tunneling"}],"ends_at":"2026-05-04T13:00:00Z","comment":"x"}`},
	} {
		resp, b := call(t, c.method, e.url+c.path, c.body, "Authorization", "Bearer "+viewer)
		if resp.StatusCode != 403 {
			t.Errorf("viewer %s %s: %d %s, want 403", c.method, c.path, resp.StatusCode, b)
		}
	}
	var forbidden int
	for _, a := range e.audit.entries() {
		if a.Action == AuditForbidden && a.Who == "ann" && a.Role == "viewer" && !a.OK {
			forbidden++
		}
	}
	if forbidden != 3 {
		t.Errorf("%d forbidden entries audited, want 3: %+v", forbidden, e.audit.entries())
	}
	resp, b := call(t, "POST", e.url+"/api/v1/alerts/41/ack", "", "Authorization", "Bearer "+analyst, "Origin", "https://evil.example")
	if resp.StatusCode != 200 {
		t.Fatalf("analyst token ack (no CSRF needed): %d %s", resp.StatusCode, b)
	}
	if a, _ := e.alert.Get(41); a.AckedBy != "bob" {
		t.Errorf("acked by %q, want bob", a.AckedBy)
	}
	// The admin token still works as before, with or without users.
	if resp, _ := call(t, "GET", e.url+"/api/v1/users", "", "Authorization", "Bearer "+testToken); resp.StatusCode != 200 {
		t.Errorf("admin token: %d", resp.StatusCode)
	}
	// A disabled user's tokens stop working.
	if err := e.users.SetDisabled("bob", true); err != nil {
		t.Fatal(err)
	}
	if resp, _ := call(t, "GET", e.url+"/api/v1/alerts", "", "Authorization", "Bearer "+analyst); resp.StatusCode != 401 {
		t.Errorf("disabled user's token: %d, want 401", resp.StatusCode)
	}
}

// TestSessionCSRF: an analyst's session acks with the CSRF header; without it, with a
// wrong one or from a foreign Origin it is 403; reads need no CSRF token.
func TestSessionCSRF(t *testing.T) {
	e := newAuthEnv(t, Config{AllowedOrigins: []string{"https://wall.example"}})
	ck, csrf := e.login(t, "bob", bobPassword)
	ack := func(id int, hdr ...string) int {
		resp, _ := call(t, "POST", fmt.Sprintf("%s/api/v1/alerts/%d/ack", e.url, id), "", append([]string{"Cookie", ck}, hdr...)...)
		return resp.StatusCode
	}
	for name, hdr := range map[string][]string{
		"no header":      nil,
		"wrong token":    {CSRFHeader, csrf[:len(csrf)-1] + "x"},
		"empty token":    {CSRFHeader, ""},
		"foreign origin": {CSRFHeader, csrf, "Origin", "https://evil.example"},
		"null origin":    {CSRFHeader, csrf, "Origin", "null"},
	} {
		if code := ack(41, hdr...); code != 403 {
			t.Errorf("%s: %d, want 403", name, code)
		}
	}
	if a, _ := e.alert.Get(41); a.State.String() != "firing" {
		t.Fatalf("acknowledged by a refused request: %v", a.State)
	}
	if code := ack(41, CSRFHeader, csrf, "Origin", e.url); code != 200 {
		t.Fatalf("ack with CSRF and own origin: %d", code)
	}
	if code := ack(44, CSRFHeader, csrf, "Origin", "https://wall.example"); code != 200 {
		t.Fatalf("ack from an allowed origin: %d", code)
	}
	if resp, _ := call(t, "GET", e.url+"/api/v1/alerts", "", "Cookie", ck); resp.StatusCode != 200 {
		t.Errorf("GET in a session: %d", resp.StatusCode)
	}
	if v := metricValue(t, e.reg, "watchfloor_console_csrf_refused_total", nil); v != 5 {
		t.Errorf("csrf refused %v, want 5", v)
	}
	// The session answers who it is.
	resp, b := call(t, "GET", e.url+"/api/v1/session", "", "Cookie", ck)
	var v sessionView
	json.Unmarshal(b, &v)
	if resp.StatusCode != 200 || v.User != "bob" || v.Role != RoleAnalyst || v.Via != "session" || v.CSRF != csrf {
		t.Errorf("session: %d %s", resp.StatusCode, b)
	}
	// Logout needs the CSRF token too, then the cookie is dead.
	if resp, _ := call(t, "POST", e.url+"/api/v1/logout", "", "Cookie", ck); resp.StatusCode != 403 {
		t.Errorf("logout without CSRF: %d", resp.StatusCode)
	}
	if resp, _ := call(t, "POST", e.url+"/api/v1/logout", "", "Cookie", ck, CSRFHeader, csrf); resp.StatusCode != 204 {
		t.Errorf("logout: %d", resp.StatusCode)
	}
	if resp, _ := call(t, "GET", e.url+"/api/v1/session", "", "Cookie", ck); resp.StatusCode != 401 {
		t.Errorf("session after logout: %d", resp.StatusCode)
	}
}

// TestAckLinkWithCookie: the link page's form POST from a logged-in browser (a cookie, no
// CSRF header) is still the signed link's path.
func TestAckLinkWithCookie(t *testing.T) {
	e := newAuthEnv(t, Config{})
	ck, _ := e.login(t, "bob", bobPassword)
	// No AckKey in this console: the link path answers its own 403 page, not the API's.
	resp, b := call(t, "POST", e.url+"/api/v1/alerts/41/ack?by=x&exp=1&sig=00", "", "Cookie", ck)
	if resp.StatusCode != 403 || !strings.Contains(string(b), "Acknowledgement links are off") {
		t.Errorf("link POST with a cookie: %d %s", resp.StatusCode, b)
	}
}

func TestLoginRateLimit(t *testing.T) {
	e := newAuthEnv(t, Config{})
	for i := range loginMaxFailures {
		resp, _ := call(t, "POST", e.url+"/api/v1/login", `{"user":"bob","password":"wrong password!"}`)
		if resp.StatusCode != 401 {
			t.Fatalf("failure %d: %d", i, resp.StatusCode)
		}
	}
	resp, b := call(t, "POST", e.url+"/api/v1/login", fmt.Sprintf(`{"user":"bob","password":%q}`, bobPassword))
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "300" {
		t.Fatalf("6th attempt: %d %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), b)
	}
	// The address is blocked for other names too; the name from other addresses.
	if resp, _ := call(t, "POST", e.url+"/api/v1/login", fmt.Sprintf(`{"user":"ann","password":%q}`, annPassword)); resp.StatusCode != 429 {
		t.Errorf("other user from the blocked address: %d", resp.StatusCode)
	}
	rr := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/api/v1/login", strings.NewReader(fmt.Sprintf(`{"user":"BOB","password":%q}`, bobPassword)))
	req.RemoteAddr = "192.0.2.9:5555"
	e.c.Handler().ServeHTTP(rr, req)
	if rr.Code != 429 {
		t.Errorf("blocked name from another address: %d", rr.Code)
	}
	e.advance(loginWindow)
	e.login(t, "bob", bobPassword)
	if v := metricValue(t, e.reg, "watchfloor_console_logins_total", map[string]string{"result": "limited"}); v != 3 {
		t.Errorf("limited logins %v, want 3", v)
	}
	var failed int
	for _, a := range e.audit.entries() {
		if a.Action == AuditLogin && !a.OK && a.Who == "bob" {
			failed++
		}
	}
	if failed != 6 {
		t.Errorf("%d failed logins of bob audited, want 6", failed)
	}
}

// TestLimiterBounded: the limiter keeps at most its capacity of keys.
func TestLimiterBounded(t *testing.T) {
	l := newLimiter(2, time.Minute, 100)
	for i := range 1000 {
		l.fail(fmt.Sprint(i), testNow.Add(time.Duration(i)*time.Millisecond))
	}
	if len(l.m) > 100 {
		t.Fatalf("%d keys kept", len(l.m))
	}
}

// TestSecretsNeverLeak: passwords and token secrets appear in no file, log line, audit
// entry or API answer other than the one that shows a new token once.
func TestSecretsNeverLeak(t *testing.T) {
	e := newAuthEnv(t, Config{})
	ck, csrf := e.login(t, "ann", annPassword)
	call(t, "POST", e.url+"/api/v1/login", `{"user":"ann","password":"a wrong password here"}`)
	call(t, "POST", e.url+"/api/v1/login", `{"user":"nobody","password":"nobody's password 1"}`)
	admin := []string{"Cookie", ck, CSRFHeader, csrf}
	newPw := "carol's brand new password"
	var answers bytes.Buffer
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/api/v1/users", `{"name":"carol","role":"analyst","password":"carol's first password"}`},
		{"POST", "/api/v1/users", `{"name":"dave","role":"analyst","password":"short"}`},
		{"POST", "/api/v1/users/carol/password", fmt.Sprintf(`{"password":%q}`, newPw)},
		{"GET", "/api/v1/users", ""},
		{"POST", "/api/v1/users/carol/tokens", `{"label":"kiosk","role":"display"}`},
		{"GET", "/api/v1/users/carol/tokens", ""},
	} {
		resp, b := call(t, c.method, e.url+c.path, c.body, admin...)
		if resp.StatusCode >= 500 {
			t.Fatalf("%s %s: %d %s", c.method, c.path, resp.StatusCode, b)
		}
		if c.path != "/api/v1/users/carol/tokens" || c.method != "POST" {
			answers.Write(b)
		}
	}
	ck2, _ := e.login(t, "carol", newPw)
	if ck2 == "" {
		t.Fatal("carol cannot log in")
	}
	e.c.auth.sessions.flush()
	e.users.FlushLastUsed()
	secrets := []string{annPassword, "a wrong password here", "nobody's password 1", "carol's first password", newPw, "short\"", "passphrase", "password here"}
	var audit bytes.Buffer
	json.NewEncoder(&audit).Encode(e.audit.entries())
	files := ""
	for _, f := range []string{users.FileName, SessionsFile} {
		b, err := os.ReadFile(filepath.Join(e.dir, f))
		if err != nil {
			t.Fatal(err)
		}
		files += string(b)
	}
	for _, s := range secrets {
		for where, text := range map[string]string{"log": e.logText(), "audit": audit.String(), "answers": answers.String(), "files": files} {
			if strings.Contains(text, s) {
				t.Errorf("%q is in the %s", s, where)
			}
		}
	}
	// The session IDs are not in the sessions file either.
	if strings.Contains(files, strings.TrimPrefix(ck, SessionCookie+"=")) {
		t.Error("a session ID is in the sessions file")
	}
	if !strings.Contains(e.logText(), "login failed") || len(e.audit.entries()) < 6 {
		t.Errorf("the log or audit is missing entries (log %d bytes, %d audit entries)", len(e.logText()), len(e.audit.entries()))
	}
}

// TestSessionExpiry: idle timeout, absolute lifetime, a new password and a deleted user
// all end sessions.
func TestSessionExpiry(t *testing.T) {
	e := newAuthEnv(t, Config{Session: SessionConfig{IdleTimeout: time.Hour, Lifetime: 3 * time.Hour}})
	session := func(ck string) int {
		resp, _ := call(t, "GET", e.url+"/api/v1/session", "", "Cookie", ck)
		return resp.StatusCode
	}
	ck, _ := e.login(t, "bob", bobPassword)
	for range 5 { // used every 50 min: idle never reached, until the lifetime ends
		e.advance(50 * time.Minute)
		if e.clock().Sub(testNow) < 3*time.Hour {
			if code := session(ck); code != 200 {
				t.Fatalf("at %v: %d", e.clock().Sub(testNow), code)
			}
		}
	}
	if code := session(ck); code != 401 {
		t.Fatalf("past the lifetime: %d", code)
	}
	ck, _ = e.login(t, "bob", bobPassword)
	e.advance(time.Hour)
	if code := session(ck); code != 401 {
		t.Fatalf("idle an hour: %d", code)
	}
	ck, _ = e.login(t, "bob", bobPassword)
	e.advance(time.Second)
	if err := e.users.SetPassword("bob", []byte("bob's second passphrase")); err != nil {
		t.Fatal(err)
	}
	if code := session(ck); code != 401 {
		t.Fatalf("after a new password (by another process): %d", code)
	}
	ck, _ = e.login(t, "vic", vicPassword)
	if err := e.users.Delete("vic"); err != nil {
		t.Fatal(err)
	}
	e.advance(2 * time.Second) // the users file is looked at once a second
	if code := session(ck); code != 401 {
		t.Fatalf("after the user was deleted: %d", code)
	}
}

// TestSessionsSurviveRestart: a second console over the same data directory knows the
// sessions of the first.
func TestSessionsSurviveRestart(t *testing.T) {
	e := newAuthEnv(t, Config{})
	ck, csrf := e.login(t, "bob", bobPassword)
	if err := e.c.auth.sessions.flush(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(e.dir, SessionsFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("sessions file: %v %v", err, fi)
	}
	reg := prometheus.NewRegistry()
	c2, err := newConsole(Config{}, Deps{Store: testStore(), Token: testToken, Users: e.users, Registerer: reg}, e.clock)
	if err != nil {
		t.Fatal(err)
	}
	rr := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/api/v1/session", nil)
	req.Header.Set("Cookie", ck)
	c2.Handler().ServeHTTP(rr, req)
	if rr.Code != 200 || !strings.Contains(rr.Body.String(), csrf) {
		t.Fatalf("after restart: %d %s", rr.Code, rr.Body)
	}
}

func TestCookieFlags(t *testing.T) {
	for _, c := range []struct {
		cfg    Config
		tls    bool
		secure bool
	}{
		{Config{}, false, false},
		{Config{}, true, true},
		{Config{ExternalURL: "https://noc.example"}, false, true},
	} {
		e := newAuthEnv(t, c.cfg)
		rr := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/api/v1/login", strings.NewReader(fmt.Sprintf(`{"user":"bob","password":%q}`, bobPassword)))
		if c.tls {
			req.TLS = &tls.ConnectionState{}
		}
		e.c.Handler().ServeHTTP(rr, req)
		cks := rr.Result().Cookies()
		if rr.Code != 200 || len(cks) != 1 {
			t.Fatalf("%+v: %d %v", c, rr.Code, cks)
		}
		ck := cks[0]
		if ck.Name != SessionCookie || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" ||
			ck.Secure != c.secure || ck.MaxAge != int(DefaultSessionLifetime/time.Second) || len(ck.Value) != 43 {
			t.Errorf("%+v: cookie %s", c, rr.Header().Get("Set-Cookie"))
		}
		if hsts := rr.Header().Get("Strict-Transport-Security"); (hsts != "") != c.tls {
			t.Errorf("%+v: HSTS %q", c, hsts)
		}
	}
}

func TestSecurityHeaders(t *testing.T) {
	e := newAuthEnv(t, Config{})
	for _, p := range []string{"/login", "/wall", "/assets/login.js", "/api/v1/alerts", "/api/v1/nothing", "/healthz", "/metrics"} {
		resp, _ := call(t, "GET", e.url+p, "")
		h := resp.Header
		csp := h.Get("Content-Security-Policy")
		if !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("%s: CSP %q", p, csp)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" || h.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: headers %v", p, h)
		}
	}
	// The login page keeps to the CSP: no inline script or style.
	b, err := embedded.ReadFile("web/login.html")
	if err != nil {
		t.Fatal(err)
	}
	if regexp.MustCompile(`<script>|<script [^>]*>[^<]|<style|\sstyle=|\son[a-z]+=`).Match(b) {
		t.Error("login.html has inline script or style")
	}
}

// TestAdminAPI: admins manage users and tokens; others only their own password and
// tokens, never stronger than themselves.
func TestAdminAPI(t *testing.T) {
	e := newAuthEnv(t, Config{})
	ack, acsrf := e.login(t, "ann", annPassword)
	admin := []string{"Cookie", ack, CSRFHeader, acsrf}
	bck, bcsrf := e.login(t, "bob", bobPassword)
	bob := []string{"Cookie", bck, CSRFHeader, bcsrf}
	type req struct {
		who          []string
		method, path string
		body         string
		want         int
	}
	for _, r := range []req{
		{admin, "POST", "/api/v1/users", `{"name":"carol","role":"viewer","password":"carol's password 1"}`, 201},
		{admin, "POST", "/api/v1/users", `{"name":"carol","role":"viewer","password":"carol's password 1"}`, 409},
		{admin, "POST", "/api/v1/users", `{"name":"c d","role":"viewer","password":"carol's password 1"}`, 400},
		{admin, "POST", "/api/v1/users", `{"name":"dave","role":"god","password":"carol's password 1"}`, 400},
		{admin, "POST", "/api/v1/users", `{"name":"dave","role":"viewer","password":"carol's password 1","x":1}`, 400},
		{bob, "POST", "/api/v1/users", `{"name":"dave","role":"admin","password":"carol's password 1"}`, 403},
		{bob, "GET", "/api/v1/users", ``, 403},
		{bob, "GET", "/api/v1/users/bob/tokens", ``, 200},
		{bob, "GET", "/api/v1/users/ann/tokens", ``, 403},
		{bob, "POST", "/api/v1/users/bob/tokens", `{"role":"admin"}`, 403},
		{bob, "POST", "/api/v1/users/ann/tokens", `{"role":"viewer"}`, 403},
		{bob, "POST", "/api/v1/users/bob/tokens", `{"role":"display","label":"wall 1","expires_in":"720h"}`, 201},
		{bob, "POST", "/api/v1/users/bob/tokens", `{"expires_in":"-1h"}`, 400},
		{admin, "POST", "/api/v1/users/vic/tokens", `{"role":"analyst"}`, 400}, // above vic's role
		{bob, "POST", "/api/v1/users/ann/password", `{"password":"bob owns ann now"}`, 403},
		{bob, "POST", "/api/v1/users/bob/password", `{"password":"bob's new password","current":"wrong one"}`, 403},
		{admin, "POST", "/api/v1/users/vic/password", `{"password":"vic's new password"}`, 204},
		{admin, "DELETE", "/api/v1/users/nobody", ``, 404},
		{admin, "DELETE", "/api/v1/users/carol", ``, 204},
	} {
		resp, b := call(t, r.method, e.url+r.path, r.body, r.who...)
		if resp.StatusCode != r.want {
			t.Errorf("%s %s %s: %d %s, want %d", r.who[1][:14], r.method, r.path, resp.StatusCode, b, r.want)
		}
	}
	// Bob's token: listed without its secret, revocable by bob, not by vic.
	ts, _ := e.users.Tokens("bob")
	if len(ts) != 1 || ts[0].Role != users.Viewer || ts[0].Label != "wall 1" || !ts[0].Expires.Equal(testNow.Add(720*time.Hour)) {
		t.Fatalf("bob's tokens: %+v", ts)
	}
	vck, vcsrf := e.login(t, "vic", "vic's new password")
	if resp, _ := call(t, "DELETE", e.url+"/api/v1/tokens/"+ts[0].ID, "", "Cookie", vck, CSRFHeader, vcsrf); resp.StatusCode != 404 {
		t.Errorf("vic revokes bob's token: %d", resp.StatusCode)
	}
	if resp, _ := call(t, "DELETE", e.url+"/api/v1/tokens/"+ts[0].ID, "", bob...); resp.StatusCode != 204 {
		t.Errorf("bob revokes his token: %d", resp.StatusCode)
	}
	// Bob changes his own password and stays logged in with a new session.
	resp, b := call(t, "POST", e.url+"/api/v1/users/bob/password", fmt.Sprintf(`{"password":"bob's new password","current":%q}`, bobPassword), bob...)
	if resp.StatusCode != 200 || len(resp.Cookies()) != 1 {
		t.Fatalf("own password: %d %s", resp.StatusCode, b)
	}
	if r2, _ := call(t, "GET", e.url+"/api/v1/session", "", "Cookie", bck); r2.StatusCode != 401 {
		t.Errorf("the old session lives on after a new password: %d", r2.StatusCode)
	}
	if r2, _ := call(t, "GET", e.url+"/api/v1/session", "", "Cookie", SessionCookie+"="+resp.Cookies()[0].Value); r2.StatusCode != 200 {
		t.Errorf("the new session: %d", r2.StatusCode)
	}
	// A token made through the API works at once, with its role.
	resp, b = call(t, "POST", e.url+"/api/v1/users/ann/tokens", `{"role":"display","label":"kiosk"}`, admin...)
	var nt struct {
		Token, ID string
		Role      string
	}
	json.Unmarshal(b, &nt)
	if resp.StatusCode != 201 || !strings.HasPrefix(nt.Token, "wf_") || nt.Role != "viewer" {
		t.Fatalf("new token: %d %s", resp.StatusCode, b)
	}
	resp, b = call(t, "GET", e.url+"/api/v1/session?token="+nt.Token, "")
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"role":"viewer"`) {
		t.Errorf("display token session: %d %s", resp.StatusCode, b)
	}
	actions := map[string]int{}
	for _, a := range e.audit.entries() {
		if a.OK {
			actions[a.Action]++
		}
	}
	for _, a := range []string{AuditUserAdd, AuditUserDelete, AuditUserPasswd, AuditTokenAdd, AuditTokenRevoke, AuditLogin} {
		if actions[a] == 0 {
			t.Errorf("no %s audited: %v", a, actions)
		}
	}
}

// TestNoUsers: without a users store the console behaves as before: the admin token, and
// a login endpoint that says there are no users.
func TestNoUsers(t *testing.T) {
	_, srv, _ := newTestServer(t, Config{}, testStore())
	if resp, _ := call(t, "GET", srv.URL+"/api/v1/devices", "", "Authorization", "Bearer "+testToken); resp.StatusCode != 200 {
		t.Errorf("admin token: %d", resp.StatusCode)
	}
	if resp, _ := call(t, "POST", srv.URL+"/api/v1/login", `{"user":"ann","password":"whatever password"}`); resp.StatusCode != 404 {
		t.Errorf("login without users: %d", resp.StatusCode)
	}
	if resp, _ := call(t, "GET", srv.URL+"/api/v1/devices", "", "Cookie", SessionCookie+"=x"); resp.StatusCode != 401 {
		t.Errorf("cookie without users: %d", resp.StatusCode)
	}
	resp, b := call(t, "GET", srv.URL+"/api/v1/session", "", "Authorization", "Bearer "+testToken)
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"user":"admin"`) {
		t.Errorf("session of the admin token: %s", b)
	}
}

// TestTLSSelfSigned serves HTTPS with a self-signed certificate made on first start,
// reused on the next, and checked by a real TLS client.
func TestTLSSelfSigned(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Listen: "127.0.0.1:0", TLS: TLSConfig{SelfSigned: true}}
	start := func() (*Console, func()) {
		reg := prometheus.NewRegistry()
		c, err := New(cfg, Deps{Store: testStore(), Token: testToken, Registerer: reg, DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Listen(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx) }()
		return c, func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
	}
	c, stop := start()
	pemCert, err := os.ReadFile(filepath.Join(dir, SelfSignedCert))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{SelfSignedCert, SelfSignedKey} {
		if fi, _ := os.Stat(filepath.Join(dir, f)); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v", f, fi.Mode().Perm())
		}
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemCert) {
		t.Fatal("no certificate in tls.crt")
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}}
	defer client.CloseIdleConnections()
	resp, err := client.Get("https://" + c.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 || resp.Header.Get("Strict-Transport-Security") == "" {
		t.Fatalf("over TLS: %d %+v %v", resp.StatusCode, resp.TLS, resp.Header)
	}
	// TLS 1.1 is refused; plain HTTP gets no answer.
	old := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost", MaxVersion: tls.VersionTLS11}}}
	if _, err := old.Get("https://" + c.Addr().String() + "/healthz"); err == nil {
		t.Error("TLS 1.1 accepted")
	}
	if resp, err := http.Get("http://" + c.Addr().String() + "/healthz"); err == nil && resp.StatusCode == 200 {
		t.Error("plain HTTP answered 200")
	}
	stop()
	_, stop = start()
	stop()
	again, _ := os.ReadFile(filepath.Join(dir, SelfSignedCert))
	if !bytes.Equal(again, pemCert) {
		t.Error("the self-signed certificate was not reused")
	}
	if got := cfg.BaseURL(); !strings.HasPrefix(got, "https://") {
		t.Errorf("BaseURL %q with TLS", got)
	}
}

func TestAuthConfigValidate(t *testing.T) {
	for _, c := range []struct {
		cfg   Config
		field string
	}{
		{Config{TLS: TLSConfig{CertFile: "a"}}, "tls"},
		{Config{TLS: TLSConfig{CertFile: "a", KeyFile: "b", SelfSigned: true}}, "tls.self_signed"},
		{Config{Session: SessionConfig{IdleTimeout: time.Second}}, "session.idle_timeout"},
		{Config{Session: SessionConfig{Lifetime: 100 * 24 * time.Hour}}, "session.lifetime"},
		{Config{Session: SessionConfig{IdleTimeout: 48 * time.Hour, Lifetime: 24 * time.Hour}}, "session.idle_timeout"},
	} {
		errs := c.cfg.Validate()
		if len(errs) != 1 || errs[0].Field != c.field {
			t.Errorf("%+v: %v, want one error of %s", c.cfg, errs, c.field)
		}
	}
}

func FuzzParseLogin(f *testing.F) {
	f.Add([]byte(`{"user":"ann","password":"a long password"}`))
	f.Add([]byte(`{"user":"ann","password":"x","extra":1}`))
	f.Add([]byte(`{"user":1}`))
	f.Add([]byte(`{"user":"ann","password":"p"}{}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := parseLogin(b)
		if err != nil {
			if req != (loginRequest{}) {
				t.Fatal("an error with a request")
			}
			if len(req.Password) > 3 && strings.Contains(err.Error(), req.Password) {
				t.Fatal("the error quotes the password")
			}
			return
		}
		if users.CheckName(req.User) != nil || req.Password == "" || len(req.Password) > users.MaxPasswordLen {
			t.Fatalf("accepted %q", b)
		}
	})
}

// TestSecurityDocExample: the configuration example of docs/security.md loads strictly
// and validates.
func TestSecurityDocExample(t *testing.T) {
	b, err := os.ReadFile("../docs/security.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(b, -1)
	if len(blocks) == 0 {
		t.Fatal("no yaml example")
	}
	for _, m := range blocks {
		var doc struct {
			Console Config `yaml:"console"`
		}
		dec := yaml.NewDecoder(bytes.NewReader(m[1]))
		dec.KnownFields(true)
		if err := dec.Decode(&doc); err != nil {
			t.Fatalf("%v:\n%s", err, m[1])
		}
		if errs := doc.Console.Validate(); len(errs) != 0 || !doc.Console.TLS.Enabled() {
			t.Errorf("%v:\n%s", errs, m[1])
		}
	}
}
