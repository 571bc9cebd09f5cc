package console

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/watchfloor/watchfloor"
)

var testAckKey = []byte("0123456789abcdef0123456789abcdef-ack-key")

func testSigner() AckSigner {
	return AckSigner{Key: testAckKey, BaseURL: "https://noc.example/wf/", TTL: 24 * time.Hour}
}

// linkParts splits a link into its alert ID and query.
func linkParts(t testing.TB, link string) (uint64, url.Values) {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`^/wf/api/v1/alerts/(\d+)/ack$`).FindStringSubmatch(u.Path)
	if m == nil {
		t.Fatalf("link path %q", u.Path)
	}
	id, _ := strconv.ParseUint(m[1], 10, 64)
	return id, u.Query()
}

func verifyQuery(s AckSigner, id uint64, q url.Values, now time.Time) error {
	by, exp, sig, err := parseAckQuery(q)
	if err != nil {
		return err
	}
	return s.Verify(id, by, exp, sig, now)
}

func TestAckSignerRoundTrip(t *testing.T) {
	s := testSigner()
	link := s.Link(41, "bob", testNow)
	if !strings.HasPrefix(link, "https://noc.example/wf/api/v1/alerts/41/ack?by=bob&exp=1777982400&sig=") {
		t.Fatalf("link %s", link)
	}
	id, q := linkParts(t, link)
	if err := verifyQuery(s, id, q, testNow); err != nil {
		t.Fatalf("fresh link: %v", err)
	}
	if err := verifyQuery(s, id, q, testNow.Add(24*time.Hour-time.Second)); err != nil {
		t.Errorf("a second before it expires: %v", err)
	}
	if err := verifyQuery(s, id, q, testNow.Add(24*time.Hour)); !errors.Is(err, ErrAckLinkExpired) {
		t.Errorf("at exp: %v", err)
	}
	if err := verifyQuery(s, id, q, testNow.Add(30*24*time.Hour)); !errors.Is(err, ErrAckLinkExpired) {
		t.Errorf("a month on: %v", err)
	}
	// The default TTL is 7 days.
	s.TTL = 0
	_, q = linkParts(t, s.Link(41, "bob", testNow))
	if q.Get("exp") != strconv.FormatInt(testNow.Add(7*24*time.Hour).Unix(), 10) {
		t.Errorf("default TTL: exp %s", q.Get("exp"))
	}
	// A signer with a shorter TTL than the link's refuses it: shortening the TTL shortens
	// the links already sent.
	s.TTL = time.Hour
	if err := verifyQuery(s, 41, q, testNow); !errors.Is(err, ErrAckLinkInvalid) || !strings.Contains(err.Error(), "further ahead") {
		t.Errorf("link longer than the TTL: %v", err)
	}
}

// The signature is the documented encoding, so that another implementation (or the docs)
// can be checked against it.
func TestAckSignerDocumentedEncoding(t *testing.T) {
	msg := []byte("watchfloor-ack\x00")
	msg = binary.BigEndian.AppendUint64(msg, 41)
	msg = binary.BigEndian.AppendUint64(msg, 1777982400)
	msg = binary.BigEndian.AppendUint32(msg, 3)
	msg = append(msg, "bob"...)
	m := hmac.New(sha256.New, testAckKey)
	m.Write(msg)
	want := hex.EncodeToString(m.Sum(nil))
	_, q := linkParts(t, testSigner().Link(41, "bob", testNow))
	if q.Get("sig") != want {
		t.Errorf("sig %s, want %s", q.Get("sig"), want)
	}
	// Fields cannot run into one another: moving bytes between by and the numbers changes it.
	s := testSigner()
	seen := map[string]string{}
	for _, v := range []struct {
		id  uint64
		by  string
		exp int64
	}{{1, "a", 2}, {1, "a2", 2}, {12, "a", 2}, {1, "1a", 2}, {1, "a", 12}, {0x100, "a", 2}, {1, "a\x00", 2}} {
		sig := hex.EncodeToString(s.sum(v.id, v.by, v.exp))
		if prev, dup := seen[sig]; dup {
			t.Errorf("%v and %s share a signature", v, prev)
		}
		seen[sig] = fmt.Sprint(v)
	}
}

func TestAckSignerRefuses(t *testing.T) {
	s := testSigner()
	_, good := linkParts(t, s.Link(41, "bob", testNow))
	otherKey := s
	otherKey.Key = append(bytes.Clone(testAckKey[:31]), 'X')
	otherKey.Key = append(otherKey.Key, testAckKey[32:]...)
	with := func(name, value string) url.Values {
		q := url.Values{}
		for k, v := range good {
			q[k] = append([]string(nil), v...)
		}
		if value == "\x00delete" {
			q.Del(name)
		} else {
			q.Set(name, value)
		}
		return q
	}
	sig := good.Get("sig")
	flip := func(i int) string {
		b := []byte(sig)
		if b[i] == '0' {
			b[i] = '1'
		} else {
			b[i] = '0'
		}
		return string(b)
	}
	for _, tc := range []struct {
		name   string
		signer AckSigner
		id     uint64
		q      url.Values
		why    string
	}{
		{"other alert", s, 42, good, "bad signature"},
		{"other by", s, 41, with("by", "mallory"), "bad signature"},
		{"by with a suffix", s, 41, with("by", "bob "), "bad signature"},
		{"later exp", s, 41, with("exp", strconv.FormatInt(testNow.Add(time.Hour).Unix()+86400, 10)), "bad signature"},
		{"earlier exp", s, 41, with("exp", strconv.FormatInt(testNow.Unix()+60, 10)), "bad signature"},
		{"flipped first sig digit", s, 41, with("sig", flip(0)), "bad signature"},
		{"flipped last sig digit", s, 41, with("sig", flip(63)), "bad signature"},
		{"short sig", s, 41, with("sig", sig[:62]), "bad signature"},
		{"long sig", s, 41, with("sig", sig+"00"), "bad signature"},
		{"sig not hex", s, 41, with("sig", "zz"+sig[2:]), "bad signature"},
		{"no sig", s, 41, with("sig", "\x00delete"), "no sig"},
		{"no exp", s, 41, with("exp", "\x00delete"), "no exp"},
		{"no by", s, 41, with("by", "\x00delete"), "no by"},
		{"empty by", s, 41, with("by", ""), "by: empty"},
		{"two sigs", s, 41, url.Values{"by": {"bob"}, "exp": good["exp"], "sig": {sig, sig}}, "sig given 2 times"},
		{"exp with a sign", s, 41, with("exp", "+"+good.Get("exp")), "exp is not"},
		{"exp negative", s, 41, with("exp", "-1"), "exp is not"},
		{"exp zero", s, 41, with("exp", "0"), "exp is not"},
		{"exp huge", s, 41, with("exp", "99999999999999999999"), "exp is not"},
		{"by too long", s, 41, with("by", strings.Repeat("b", 65)), "longer than 64"},
		{"by with a newline", s, 41, with("by", "bob\nadmin"), "control"},
		{"by with a NUL", s, 41, with("by", "bob\x00"), "control"},
		{"by with a bidi override", s, 41, with("by", "bob\u202e"), "format"},
		{"by not UTF-8", s, 41, with("by", "bob\xff"), "UTF-8"},
		{"other key", otherKey, 41, good, "bad signature"},
		{"short key", AckSigner{Key: testAckKey[:31], TTL: 24 * time.Hour}, 41, good, "no signing key"},
		{"alert 0", s, 0, good, "no alert"},
	} {
		err := verifyQuery(tc.signer, tc.id, tc.q, testNow)
		if !errors.Is(err, ErrAckLinkInvalid) || !strings.Contains(err.Error(), tc.why) {
			t.Errorf("%s: %v, want invalid: %s", tc.name, err, tc.why)
		}
	}
}

func TestAckLinkCleansBy(t *testing.T) {
	s := testSigner()
	for _, tc := range []struct{ in, want string }{
		{"bob", "bob"},
		{"  Bob Smith ", "Bob Smith"},
		{"bob\r\nX-Injected: 1", "bobX-Injected: 1"},
		{"b\u202eob\xff", "bob"},
		{"", "on-call"},
		{"\x00\x01", "on-call"},
		{strings.Repeat("é", 40), strings.Repeat("é", 32)},
	} {
		link := s.Link(7, tc.in, testNow)
		id, q := linkParts(t, link)
		if q.Get("by") != tc.want {
			t.Errorf("Link(%q): by %q, want %q", tc.in, q.Get("by"), tc.want)
		}
		if err := verifyQuery(s, id, q, testNow); err != nil {
			t.Errorf("Link(%q) does not verify: %v", tc.in, err)
		}
	}
	if l := (AckSigner{Key: testAckKey[:31]}).Link(7, "bob", testNow); l != "" {
		t.Errorf("short key made %s", l)
	}
	if l := s.Link(0, "bob", testNow); l != "" {
		t.Errorf("alert 0 made %s", l)
	}
}

func TestAckSignerHidesKey(t *testing.T) {
	s := testSigner()
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("signer", "s", s)
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%+v", s), fmt.Sprintf("%#v", s), fmt.Sprintf("%v", &s), logged.String()} {
		if strings.Contains(out, string(testAckKey[:16])) || strings.Contains(out, hex.EncodeToString(testAckKey[:8])) ||
			strings.Contains(out, fmt.Sprint(testAckKey[:8])[1:10]) {
			t.Errorf("key shown: %s", out)
		}
	}
}

// newAckServer serves a console with alerts and an ack key (nil: none), reached by
// people at https://noc.example/wf.
func newAckServer(t *testing.T, fa *fakeAlerts, key []byte) (*Console, string, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	deps := Deps{Store: testStore(), Token: testToken, Site: "north-hub", Alerts: fa, AckKey: watchfloor.Secret(key), Registerer: reg,
		Audit: fa.audit}
	c, err := newConsole(Config{ExternalURL: "https://noc.example/wf/", AckLinkTTL: 24 * time.Hour}, deps, func() time.Time { return testNow })
	if err != nil {
		t.Fatal(err)
	}
	fa.publish = c.PublishAlert
	t.Cleanup(func() { c.hub.close(time.Second) })
	return c, newServer(t, c.Handler()), reg
}

// send makes a request with an optional Authorization header and answers the response and body.
func send(t *testing.T, method, u, auth string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// onServer is the link as the test server serves it.
func onServer(t *testing.T, srv, link string) string {
	t.Helper()
	if !strings.HasPrefix(link, "https://noc.example/wf/") {
		t.Fatalf("link %q", link)
	}
	return srv + "/" + strings.TrimPrefix(link, "https://noc.example/wf/")
}

var formAction = regexp.MustCompile(`<form method="post" action="([^"]*)">`)

func TestAckLinkPage(t *testing.T) {
	fa := newFakeAlerts(testAlerts(testNow)...)
	c, srv, reg := newAckServer(t, fa, testAckKey)
	s := c.AckSigner()

	// A firing alert: its title, severity and state, and one button; nothing acknowledged.
	resp, body := send(t, "GET", onServer(t, srv, s.Link(41, "bob <b>", testNow)), "")
	if resp.StatusCode != 200 {
		t.Fatalf("GET: %d %s", resp.StatusCode, body)
	}
	for _, want := range []string{"access-2 is unreachable", "<dd>critical</dd>", "<dd>firing</dd>", "north-hub / access-2",
		"Acknowledge as bob &lt;b&gt;</button>", "Acknowledge alert #41?"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q:\n%s", want, body)
		}
	}
	for _, bad := range []string{"<script", "<style", "style=", "<link", "<img", "http://", "https://", "<b>"} {
		if strings.Contains(body, bad) {
			t.Errorf("page has %q", bad)
		}
	}
	h := resp.Header
	if h.Get("Content-Security-Policy") != contentSecurityPolicy || h.Get("Referrer-Policy") != "no-referrer" ||
		h.Get("Cache-Control") != "no-store" || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
		t.Errorf("headers %v", h)
	}
	if len(fa.actions) != 0 {
		t.Fatalf("GET acknowledged: %v", fa.actions)
	}

	// The button posts to the same link: it acknowledges as "bob <b> (link)".
	m := formAction.FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no form")
	}
	action, err := url.Parse(html.UnescapeString(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	page, _ := url.Parse(onServer(t, srv, s.Link(41, "bob <b>", testNow)))
	target := page.ResolveReference(action)
	if target.Path != page.Path || target.RawQuery != page.RawQuery {
		t.Fatalf("form posts to %s, want %s", target, page)
	}
	resp, body = send(t, "POST", target.String(), "")
	if resp.StatusCode != 200 || !strings.Contains(body, "Alert #41 acknowledged") || !strings.Contains(body, "<dd>acknowledged</dd>") {
		t.Fatalf("POST: %d %s", resp.StatusCode, body)
	}
	if a, _ := fa.Get(41); a.State != watchfloor.AlertAcknowledged || a.AckedBy != "bob <b> (link)" {
		t.Errorf("alert 41 %v by %q", a.State, a.AckedBy)
	}
	if want := "ack 41 by bob <b> (link): acknowledged from a notification link"; len(fa.actions) != 1 || fa.actions[0] != want {
		t.Errorf("actions %q", fa.actions)
	}
	if es := fa.audit.entries; len(es) != 1 || es[0].Action != AuditAlertAck || es[0].Who != "bob <b> (link)" || es[0].Via != "link" || !es[0].OK || es[0].Target != "alert 41" {
		t.Errorf("audit %+v", es)
	}
	// The walls saw it.
	c.hub.mu.Lock()
	st := c.hub.alerts[41].State
	c.hub.mu.Unlock()
	if st != watchfloor.AlertAcknowledged {
		t.Errorf("hub: 41 %v", st)
	}

	// Opened again, and posted again: it says so, no button, no second ack.
	resp, body = send(t, "GET", onServer(t, srv, s.Link(41, "carol", testNow)), "")
	if resp.StatusCode != 200 || strings.Contains(body, "<form") || !strings.Contains(body, "Alert #41 is acknowledged") ||
		!strings.Contains(body, "bob &lt;b&gt; (link) at 2026-05-04 12:00 UTC") {
		t.Errorf("GET acknowledged: %d %s", resp.StatusCode, body)
	}
	if resp, body := send(t, "POST", onServer(t, srv, s.Link(41, "carol", testNow)), ""); resp.StatusCode != http.StatusConflict || !strings.Contains(body, "was not acknowledged") {
		t.Errorf("POST acknowledged: %d %s", resp.StatusCode, body)
	}
	// Resolved: said, no button.
	resp, body = send(t, "GET", onServer(t, srv, s.Link(40, "carol", testNow)), "")
	if resp.StatusCode != 200 || strings.Contains(body, "<form") || !strings.Contains(body, "Alert #40 is resolved") || !strings.Contains(body, "<dt>Resolved</dt><dd>2026-05-04 11:00 UTC</dd>") {
		t.Errorf("GET resolved: %d %s", resp.StatusCode, body)
	}
	if resp, _ := send(t, "POST", onServer(t, srv, s.Link(40, "carol", testNow)), ""); resp.StatusCode != http.StatusConflict {
		t.Errorf("POST resolved: %d", resp.StatusCode)
	}
	// A valid link to an alert the correlator forgot.
	if resp, body := send(t, "GET", onServer(t, srv, s.Link(4711, "carol", testNow)), ""); resp.StatusCode != 404 || !strings.Contains(body, "no alert #4711") {
		t.Errorf("GET unknown: %d %s", resp.StatusCode, body)
	}
	if resp, _ := send(t, "POST", onServer(t, srv, s.Link(4711, "carol", testNow)), ""); resp.StatusCode != 404 {
		t.Errorf("POST unknown: %d", resp.StatusCode)
	}
	if len(fa.actions) != 1 {
		t.Errorf("actions %q", fa.actions)
	}
	for r, want := range map[string]float64{"shown": 3, "acked": 1, "refused": 4, "invalid": 0} {
		if got := metricValue(t, reg, "watchfloor_console_ack_links_total", map[string]string{"result": r}); got != want {
			t.Errorf("ack links %s = %v, want %v", r, got, want)
		}
	}
}

// Tampered, expired and foreign links are 403 on GET and POST, whether the alert exists or
// not, and acknowledge nothing.
func TestAckLinkRefused(t *testing.T) {
	fa := newFakeAlerts(testAlerts(testNow)...)
	c, srv, reg := newAckServer(t, fa, testAckKey)
	s := c.AckSigner()
	good := onServer(t, srv, s.Link(41, "bob", testNow))
	u, _ := url.Parse(good)
	q := u.Query()
	re := func(path string, set ...string) string {
		v := url.Values{}
		for k, vs := range q {
			v[k] = vs
		}
		for i := 0; i+1 < len(set); i += 2 {
			v.Set(set[i], set[i+1])
		}
		return srv + path + "?" + v.Encode()
	}
	other := AckSigner{Key: bytes.Repeat([]byte("k"), 32), BaseURL: "https://noc.example/wf"}
	cases := []struct{ name, url, want string }{
		{"other alert", re("/api/v1/alerts/43/ack"), "not valid"},
		{"unknown alert", re("/api/v1/alerts/4711/ack"), "not valid"},
		{"alert not a number", re("/api/v1/alerts/x41/ack"), "not valid"},
		{"other by", re("/api/v1/alerts/41/ack", "by", "mallory"), "not valid"},
		{"other exp", re("/api/v1/alerts/41/ack", "exp", strconv.FormatInt(testNow.Unix()+3600, 10)), "not valid"},
		{"other sig", re("/api/v1/alerts/41/ack", "sig", strings.Repeat("0", 64)), "not valid"},
		{"no sig", srv + "/api/v1/alerts/41/ack?by=bob&exp=" + q.Get("exp"), "not valid"},
		{"by only", srv + "/api/v1/alerts/41/ack?by=bob", "not valid"},
		{"other key", onServer(t, srv, other.Link(41, "bob", testNow)), "not valid"},
		{"expired", onServer(t, srv, s.Link(41, "bob", testNow.Add(-25*time.Hour))), "has expired"},
	}
	for _, tc := range cases {
		for _, method := range []string{"GET", "POST"} {
			resp, body := send(t, method, tc.url, "")
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, tc.want) || strings.Contains(body, "access-2") {
				t.Errorf("%s %s: %d %s", method, tc.name, resp.StatusCode, body)
			}
		}
	}
	if len(fa.actions) != 0 {
		t.Errorf("refused links acknowledged: %q", fa.actions)
	}
	if got := metricValue(t, reg, "watchfloor_console_ack_links_total", map[string]string{"result": "invalid"}); got != float64(2*(len(cases)-1)) {
		t.Errorf("invalid = %v", got)
	}
	if got := metricValue(t, reg, "watchfloor_console_ack_links_total", map[string]string{"result": "expired"}); got != 2 {
		t.Errorf("expired = %v", got)
	}
	// A console without a key refuses every link, its own signer makes none.
	fa2 := newFakeAlerts(testAlerts(testNow)...)
	c2, srv2, _ := newAckServer(t, fa2, nil)
	if l := c2.AckSigner().Link(41, "bob", testNow); l != "" {
		t.Errorf("keyless console made a link %s", l)
	}
	for _, method := range []string{"GET", "POST"} {
		resp, body := send(t, method, srv2+"/api/v1/alerts/41/ack?"+q.Encode(), "")
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "does not accept acknowledgement links") {
			t.Errorf("%s keyless: %d %s", method, resp.StatusCode, body)
		}
	}
	if len(fa2.actions) != 0 {
		t.Errorf("keyless console acknowledged: %q", fa2.actions)
	}
}

// The token and the link are separate ways in: an Authorization header means the token
// path whatever the query carries, and a link never needs a token.
func TestAckLinkAndToken(t *testing.T) {
	fa := newFakeAlerts(testAlerts(testNow)...)
	c, srv, _ := newAckServer(t, fa, testAckKey)
	s := c.AckSigner()

	// No token, no link: 401 as before.
	resp, body := send(t, "POST", srv+"/api/v1/alerts/41/ack", "")
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "bearer token") {
		t.Errorf("bare POST: %d %s", resp.StatusCode, body)
	}
	// The token in the query is not a way in for POST.
	if resp, _ := send(t, "POST", srv+"/api/v1/alerts/41/ack?token="+testToken, ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("query token: %d", resp.StatusCode)
	}
	// A bad token with a good link: 401, the link is not looked at.
	link := onServer(t, srv, s.Link(41, "bob", testNow))
	for _, auth := range []string{"Bearer wrong", "Bearer ", "Basic Ym9iOmJvYg==", " "} {
		if resp, body := send(t, "POST", link, auth); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("POST link with Authorization %q: %d %s", auth, resp.StatusCode, body)
		}
	}
	if len(fa.actions) != 0 {
		t.Fatalf("bad token acknowledged: %q", fa.actions)
	}
	// A good token with a bad link: the token's path, as admin, answering JSON.
	resp, body = send(t, "POST", srv+"/api/v1/alerts/43/ack?by=mallory&exp=1&sig=00", "Bearer "+testToken)
	if resp.StatusCode != 200 || !strings.Contains(body, `"acked_by":"admin"`) || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("token with a bad link: %d %s", resp.StatusCode, body)
	}
	// The token alone still works, with its comment.
	if code, body := do(t, "POST", srv+"/api/v1/alerts/44/ack", `{"comment": "on it"}`); code != 200 || !bytes.Contains(body, []byte(`"acked_by":"admin"`)) {
		t.Errorf("token: %d %s", code, body)
	}
	// The link alone works.
	if resp, body := send(t, "POST", link, ""); resp.StatusCode != 200 || !strings.Contains(body, "Acknowledged as bob (link).") {
		t.Errorf("link: %d %s", resp.StatusCode, body)
	}
	want := []string{"ack 43 by admin: ", "ack 44 by admin: on it", "ack 41 by bob (link): acknowledged from a notification link"}
	if fmt.Sprint(fa.actions) != fmt.Sprint(want) {
		t.Errorf("actions %q", fa.actions)
	}
	// GET never acknowledges, with or without a token.
	link45 := onServer(t, srv, s.Link(45, "bob", testNow))
	for _, auth := range []string{"", "Bearer " + testToken, "Bearer wrong"} {
		if resp, _ := send(t, "GET", link45, auth); resp.StatusCode != 200 {
			t.Errorf("GET with %q: %d", auth, resp.StatusCode)
		}
		if resp, _ := send(t, "HEAD", link45, auth); resp.StatusCode != 200 {
			t.Errorf("HEAD with %q: %d", auth, resp.StatusCode)
		}
	}
	if a, _ := fa.Get(45); a.State != watchfloor.AlertFiring || len(fa.actions) != 3 {
		t.Errorf("GET acknowledged 45: %v %q", a.State, fa.actions)
	}
	// GET of …/ack without a link is a 403 page, not the API's 401.
	if resp, body := send(t, "GET", srv+"/api/v1/alerts/45/ack", "Bearer "+testToken); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "not valid") {
		t.Errorf("GET without a link: %d %s", resp.StatusCode, body)
	}
	// The rest of the alert API still needs the token.
	if resp, _ := send(t, "POST", onServer(t, srv, strings.Replace(s.Link(45, "bob", testNow), "/ack?", "/resolve?", 1)), ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("resolve with a link: %d", resp.StatusCode)
	}
}

func TestAckLinkNoCorrelator(t *testing.T) {
	reg := prometheus.NewRegistry()
	c, err := newConsole(Config{}, Deps{Store: testStore(), Token: testToken, AckKey: watchfloor.Secret(testAckKey), Registerer: reg},
		func() time.Time { return testNow })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.hub.close(time.Second) })
	srv := newServer(t, c.Handler())
	link := c.AckSigner().Link(41, "bob", testNow)
	if !strings.HasPrefix(link, "http://127.0.0.1:8080/api/v1/alerts/41/ack?") {
		t.Fatalf("link %s", link)
	}
	path := strings.TrimPrefix(link, "http://127.0.0.1:8080")
	if resp, body := send(t, "POST", srv+path, ""); resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "no alerts") {
		t.Errorf("valid link: %d %s", resp.StatusCode, body)
	}
	if resp, _ := send(t, "POST", srv+"/api/v1/alerts/41/ack?by=bob&exp=1&sig="+strings.Repeat("0", 64), ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("invalid link: %d", resp.StatusCode)
	}
}

func TestNewChecksAckKey(t *testing.T) {
	for _, tc := range []struct {
		key string
		ok  bool
	}{{"", true}, {strings.Repeat("k", 31), false}, {strings.Repeat("k", 32), true}} {
		_, err := newConsole(Config{}, Deps{Store: testStore(), Token: testToken, AckKey: watchfloor.Secret(tc.key)}, time.Now)
		if (err == nil) != tc.ok {
			t.Errorf("key of %d bytes: %v", len(tc.key), err)
		}
		if err != nil && strings.Contains(err.Error(), tc.key) {
			t.Errorf("error shows the key: %v", err)
		}
	}
	c, err := newConsole(Config{}, Deps{Store: testStore(), Token: testToken, AckKey: watchfloor.Secret(testAckKey)}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	s := c.AckSigner()
	s.Key[0] ^= 0xff
	if c.ack.signer.Key[0] == s.Key[0] {
		t.Error("AckSigner shares the console's key")
	}
}

func TestConfigLinks(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		base string
	}{
		{Config{}, "http://127.0.0.1:8080"},
		{Config{Listen: ":9090"}, "http://localhost:9090"},
		{Config{Listen: "0.0.0.0:80"}, "http://localhost:80"},
		{Config{Listen: "[::]:8443"}, "http://localhost:8443"},
		{Config{Listen: "[fd00::7]:8080"}, "http://[fd00::7]:8080"},
		{Config{Listen: "wall.lab:8080"}, "http://wall.lab:8080"},
		{Config{ExternalURL: "https://noc.example"}, "https://noc.example"},
		{Config{ExternalURL: "https://noc.example/watchfloor/"}, "https://noc.example/watchfloor"},
	} {
		if got := tc.cfg.BaseURL(); got != tc.base {
			t.Errorf("%+v: BaseURL %q, want %q", tc.cfg, got, tc.base)
		}
		if got, want := tc.cfg.IncidentLink(41), tc.base+"/console#/alert/41"; got != want {
			t.Errorf("%+v: IncidentLink %q, want %q", tc.cfg, got, want)
		}
	}
	if d := DefaultConfig(); d.AckLinkTTL != 7*24*time.Hour || len(d.Validate()) != 0 {
		t.Errorf("default %+v: %v", d, d.Validate())
	}
	for _, tc := range []struct {
		cfg   Config
		field string
	}{
		{Config{ExternalURL: "noc.example"}, "external_url"},
		{Config{ExternalURL: "/wf"}, "external_url"},
		{Config{ExternalURL: "ftp://noc.example"}, "external_url"},
		{Config{ExternalURL: "https://"}, "external_url"},
		{Config{ExternalURL: "https://noc.example/?x=1"}, "external_url"},
		{Config{ExternalURL: "https://noc.example/?"}, "external_url"},
		{Config{ExternalURL: "https://noc.example/#top"}, "external_url"},
		{Config{ExternalURL: "https://bob:pw@noc.example"}, "external_url"},
		{Config{ExternalURL: "https://noc.example/a b"}, "external_url"},
		{Config{ExternalURL: " https://noc.example"}, "external_url"},
		{Config{ExternalURL: "mailto:noc@example.org"}, "external_url"},
		{Config{AckLinkTTL: time.Second}, "ack_link_ttl"},
		{Config{AckLinkTTL: -time.Hour}, "ack_link_ttl"},
		{Config{AckLinkTTL: 91 * 24 * time.Hour}, "ack_link_ttl"},
	} {
		errs := tc.cfg.Validate()
		if len(errs) != 1 || errs[0].Field != tc.field {
			t.Errorf("%+v: %v, want one error on %s", tc.cfg, errs, tc.field)
		}
	}
	for _, ok := range []Config{{ExternalURL: "http://10.0.0.1:8080"}, {ExternalURL: "https://noc.example/wf/"}, {AckLinkTTL: time.Minute}, {AckLinkTTL: 90 * 24 * time.Hour}} {
		if errs := ok.Validate(); len(errs) != 0 {
			t.Errorf("%+v: %v", ok, errs)
		}
	}
}

// FuzzAckLinkQuery: whatever query a link arrives with, reading and checking it does not
// panic, and what is accepted is exactly what the key signed.
func FuzzAckLinkQuery(f *testing.F) {
	s := testSigner()
	for _, l := range []string{s.Link(41, "bob", testNow), s.Link(1, "on call — Zoë", testNow), s.Link(18446744073709551615, "x", testNow)} {
		u, _ := url.Parse(l)
		f.Add(uint64(41), u.RawQuery)
	}
	for _, q := range []string{"", "by=&exp=&sig=", "by=a&by=b&exp=1&sig=00", "exp=9223372036854775807&by=a&sig=" + strings.Repeat("f", 64),
		"by=%00&exp=1&sig=x", "by=" + strings.Repeat("%ff", 70), "exp=-0&by=a&sig=" + strings.Repeat("A", 64)} {
		f.Add(uint64(1), q)
	}
	f.Fuzz(func(t *testing.T, id uint64, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		by, exp, sig, err := parseAckQuery(q)
		if err != nil {
			if !errors.Is(err, ErrAckLinkInvalid) {
				t.Fatalf("parseAckQuery(%q): %v", raw, err)
			}
			return
		}
		if checkAckBy(by) != nil || exp <= 0 || len(sig) != 64 {
			t.Fatalf("parseAckQuery(%q) accepted by %q exp %d sig %q", raw, by, exp, sig)
		}
		err = s.Verify(id, by, exp, sig, testNow)
		if err == nil || errors.Is(err, ErrAckLinkExpired) {
			if want := hex.EncodeToString(s.sum(id, by, exp)); !strings.EqualFold(sig, want) {
				t.Fatalf("Verify accepted a signature the key did not make: %q", raw)
			}
		} else if !errors.Is(err, ErrAckLinkInvalid) {
			t.Fatalf("Verify(%q): %v", raw, err)
		}
	})
}

func BenchmarkAckSignerVerify(b *testing.B) {
	s := testSigner()
	_, q := linkParts(b, s.Link(41, "bob", testNow))
	b.ReportAllocs()
	for b.Loop() {
		if err := verifyQuery(s, 41, q, testNow); err != nil {
			b.Fatal(err)
		}
	}
}
