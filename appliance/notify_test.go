package appliance

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/correlator/alerts"
	"github.com/watchfloor/watchfloor/correlator/notify"
	"github.com/watchfloor/watchfloor/correlator/notify/receiver"
)

// received is what the far ends got: one line per page, "receiver status group/target".
type received struct {
	mu    sync.Mutex
	pages []string
	hooks []notify.Notification // the webhook's, decoded strictly
	errs  []string
}

func (r *received) add(page string) {
	r.mu.Lock()
	r.pages = append(r.pages, page)
	r.mu.Unlock()
}

func (r *received) fail(format string, args ...any) {
	r.mu.Lock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

func (r *received) count(prefix string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, p := range r.pages {
		if strings.HasPrefix(p, prefix) {
			n++
		}
	}
	return n
}

// The far ends: a webhook checking its HMAC signature and the documented schema, a Slack
// incoming webhook, the PagerDuty Events API v2, an SMTP server, and a syslog collector.
type farEnds struct {
	web       *httptest.Server
	smtpAddr  string
	syslog    net.PacketConn
	got       *received
	hookToken watchfloor.Secret
}

func startFarEnds(t *testing.T) *farEnds {
	f := &farEnds{got: &received{}, hookToken: "hook-secret-0123456789"}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /hook", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !receiver.VerifySignature(f.hookToken, r.Header.Get("X-Watchfloor-Timestamp"), body, r.Header.Get("X-Watchfloor-Signature"), time.Now(), 5*time.Minute) {
			f.got.fail("webhook: bad signature")
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var n notify.Notification
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&n); err != nil || n.ID == "" || n.GroupKey == "" || n.Link == "" {
			f.got.fail("webhook: %v: %.200s", err, body)
		}
		f.got.mu.Lock()
		f.got.hooks = append(f.got.hooks, n)
		f.got.mu.Unlock()
		f.got.add(fmt.Sprintf("hook %s %s", n.Status, n.GroupKey))
	})
	mux.HandleFunc("POST /slack", func(w http.ResponseWriter, r *http.Request) {
		var m struct {
			Text   string            `json:"text"`
			Blocks []json.RawMessage `json:"blocks"`
		}
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil || m.Text == "" || len(m.Blocks) == 0 {
			f.got.fail("slack: %v %+v", err, m)
		}
		status, _, _ := strings.Cut(strings.TrimPrefix(m.Text, "["), "]")
		f.got.add("slack " + strings.ToLower(status) + " " + m.Text)
	})
	mux.HandleFunc("POST /pd/v2/enqueue", func(w http.ResponseWriter, r *http.Request) {
		var e struct {
			RoutingKey  string `json:"routing_key"`
			EventAction string `json:"event_action"`
			DedupKey    string `json:"dedup_key"`
			Payload     *struct {
				Summary, Source, Severity string
			} `json:"payload"`
		}
		if err := json.NewDecoder(r.Body).Decode(&e); err != nil || e.RoutingKey != "0123456789abcdef0123456789abcdef" || e.DedupKey == "" ||
			(e.EventAction == "trigger") != (e.Payload != nil && e.Payload.Summary != "" && e.Payload.Severity != "") {
			f.got.fail("pagerduty: %v %+v", err, e)
		}
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, `{"status":"success","message":"Event processed","dedup_key":"`+e.DedupKey+`"}`)
		f.got.add("pager " + e.EventAction + " " + e.DedupKey)
	})
	f.web = httptest.NewServer(mux)
	t.Cleanup(f.web.Close)

	srv := smtp.NewServer(smtpBackend{f.got})
	srv.Domain = "127.0.0.1"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	f.smtpAddr = ln.Addr().String()

	if f.syslog, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.syslog.Close() })
	go func() {
		buf := make([]byte, 65536)
		for {
			n, _, err := f.syslog.ReadFrom(buf)
			if err != nil {
				return
			}
			line := string(buf[:n])
			// RFC 5424: <PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG, the message CEF.
			if !strings.HasPrefix(line, "<") || !strings.Contains(line, ">1 ") || !strings.Contains(line, "CEF:0|") {
				f.got.fail("syslog: %q", line)
			}
			f.got.add("siem " + line)
		}
	}()
	return f
}

type smtpBackend struct{ got *received }

func (b smtpBackend) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &smtpSession{got: b.got}, nil
}

type smtpSession struct {
	got *received
	to  []string
}

func (s *smtpSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}
func (s *smtpSession) Data(r io.Reader) error {
	m, err := mail.ReadMessage(r)
	if err != nil {
		s.got.fail("mail: %v", err)
		return err
	}
	subj, _ := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	status, _, _ := strings.Cut(strings.TrimPrefix(subj, "["), "]")
	if !strings.HasPrefix(m.Header.Get("Content-Type"), "multipart/alternative") {
		s.got.fail("mail: content type %q", m.Header.Get("Content-Type"))
	}
	s.got.add(fmt.Sprintf("mail %s %s %s", strings.ToLower(status), strings.Join(s.to, ","), subj))
	return nil
}
func (s *smtpSession) Reset()        { s.to = nil }
func (s *smtpSession) Logout() error { return nil }

const onCallConfig = `
site: lab
console:
  listen: 127.0.0.1:%[1]d
alerting:
  receivers:
    - name: hook
      webhook: {url: "%[2]s/hook", secret: "hook-secret-0123456789"}
    - name: slack
      slack: {url: "%[2]s/slack"}
    - name: pager
      pagerduty: {url: "%[2]s/pd/v2/enqueue", routing_key: 0123456789abcdef0123456789abcdef}
    - name: mail
      email: {smarthost: "%[3]s", from: watchfloor@city.example, to: [noc@city.example], starttls: none}
    - name: siem
      syslog: {network: udp, address: "%[4]s", format: cef}
  delivery: {initial_backoff: 100ms, max_backoff: 1s}
  route:
    receiver: hook
    group_by: [site, rule]
    group_wait: 8s
    group_interval: 2s
    repeat_interval: 4h
    routes:
      - matchers: ["severity=critical"]
        receiver: pager
        escalation: noc
        continue: true
      - matchers: ["category=availability"]
        receiver: slack
        continue: true
      - matchers: ["severity!=info"]
        receiver: siem
        group_by: ["..."]
        continue: true
      - matchers: ["site=lab"]
        receiver: hook
  people:
    - {name: ann, email: ann@city.example, receivers: [mail]}
    - {name: bob, email: bob@city.example, receivers: [mail]}
  schedules:
    - name: primary
      layers:
        - {members: [ann], start: 2020-01-06T09:00:00Z, length: 168h, handoff: "09:00", location: UTC}
  policies:
    - name: noc
      levels:
        - {delay: 0s, targets: ["schedule:primary"]}
        - {delay: %[5]s, targets: ["person:bob"]}
`

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// running is an appliance run by a test.
type running struct {
	a      *Appliance
	cancel context.CancelFunc
	done   chan error
}

func runAppliance(t *testing.T, path, dir string) *running {
	t.Helper()
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	a, err := New(ctx, Options{Config: cfg, ConfigPath: path, DataDir: dir})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	r := &running{a: a, cancel: cancel, done: make(chan error, 1)}
	up := make(chan struct{})
	go func() { r.done <- a.Run(ctx, func(net.Addr) { close(up) }) }()
	select {
	case <-up:
	case err := <-r.done:
		t.Fatalf("appliance stopped: %v", err)
	}
	return r
}

func (r *running) stop() {
	r.cancel()
	<-r.done
}

// stormAlert is alert i of a router outage: 0 the critical device_down, the rest the
// interfaces behind it.
func stormMatch(i int) alerts.Match {
	m := alerts.Match{Rule: "interface_down", Key: fmt.Sprintf("device=dist-s3,if=%d", i), Severity: watchfloor.SeverityMedium,
		Category: watchfloor.CategoryAvailability, Title: fmt.Sprintf("dist-s3 port %d down", i),
		Entity: watchfloor.Entity{Site: "lab", Device: "dist-s3"}, Time: time.Now()}
	if i == 0 {
		m.Rule, m.Key, m.Title, m.Severity = "device_unreachable", "device=dist-s3", "dist-s3 unreachable", watchfloor.SeverityCritical
	}
	return m
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, got *received, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			got.mu.Lock()
			defer got.mu.Unlock()
			t.Fatalf("timed out waiting for %s; received %d pages:\n  %s", what, len(got.pages), strings.Join(got.pages, "\n  "))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The acceptance run of on-call alerting, through the real appliance and real receivers: a
// storm of 200 alerts with a restart in the middle yields exactly the pages the routing
// implies; the person on call is paged; acknowledging from the signed link in a page stops
// the escalation and tells everyone paged; the resolution reaches them all; a restart after
// all that sends nothing again; the notification log and response times are in the API.
func TestOnCallStormThroughRealReceivers(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the appliance for about 30 s")
	}
	t.Parallel()
	f := startFarEnds(t)
	port := freePort(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "watchfloor.yaml")
	write := func(escalateAfter string) {
		cfg := fmt.Sprintf(onCallConfig, port, f.web.URL, f.smtpAddr, f.syslog.LocalAddr(), escalateAfter)
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("8s")
	got := f.got

	// The storm: 100 alerts, a restart within group_wait, 100 more.
	r := runAppliance(t, path, filepath.Join(dir, "data"))
	stormStart := time.Now()
	for i := range 100 {
		r.a.alerts.Fire(stormMatch(i))
	}
	r.stop()
	r = runAppliance(t, path, filepath.Join(dir, "data"))
	for i := 100; i < 200; i++ {
		r.a.alerts.Fire(stormMatch(i))
	}
	if d := time.Since(stormStart); d > 8*time.Second {
		t.Fatalf("the storm with its restart took %v, longer than group_wait", d)
	}
	// The interfaces are behind the unreachable router: the topology folds them under it,
	// so the whole storm is one incident, paged once on each route that takes it — the
	// pager, Slack, the SIEM and the webhook — with the root cause first, and ann, on call,
	// is mailed.
	want := map[string]int{"pager trigger": 1, "slack firing": 1, "hook firing": 1, "mail firing ann@": 1, "siem": 1}
	waitFor(t, "the storm's pages", 30*time.Second, got, func() bool {
		for p, n := range want {
			if got.count(p) < n {
				return false
			}
		}
		return true
	})
	got.mu.Lock()
	var link string
	for _, n := range got.hooks {
		link = n.AckLink
		if n.Status != notify.StatusFiring || n.Title != "dist-s3 unreachable" || len(n.Alerts) != 100 || n.Alerts[0].Rule != "device_unreachable" ||
			n.Summary != "1 firing (1 critical), 199 suppressed; 100 more not listed" || !strings.HasPrefix(n.Link, fmt.Sprintf("http://127.0.0.1:%d/", port)) {
			t.Errorf("webhook page: %s %q, %d alerts listed, summary %q, link %q", n.Status, n.Title, len(n.Alerts), n.Summary, n.Link)
		}
	}
	got.mu.Unlock()

	// Acknowledge from the signed link: GET shows a page and acknowledges nothing; POST does.
	if link == "" {
		t.Fatal("no ack link in the webhook's page")
	}
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if a, _, _ := r.a.alerts.Get(1); resp.StatusCode != http.StatusOK || a.State != watchfloor.AlertFiring {
		t.Fatalf("GET of the link: %s, alert %s", resp.Status, a.State)
	}
	resp, err = http.Post(link, "application/x-www-form-urlencoded", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if a, _, _ := r.a.alerts.Get(1); resp.StatusCode != http.StatusOK || a.State != watchfloor.AlertAcknowledged || a.AckedBy != "hook (link)" {
		t.Fatalf("POST of the link: %s, alert %s by %q", resp.Status, a.State, a.AckedBy)
	}
	// Everyone paged about the device hears of it; bob (level 2, 8 s after ann) is not paged.
	ack := map[string]int{"pager acknowledge": 1, "slack acknowledged": 1, "hook acknowledged": 1, "mail acknowledged ann@": 1, "siem": 2}
	waitFor(t, "the acknowledgements", 10*time.Second, got, func() bool {
		for p, n := range ack {
			if got.count(p) < n {
				return false
			}
		}
		return true
	})
	time.Sleep(9 * time.Second) // past bob's level, and group_interval: a duplicate would be here now
	for p, n := range want {
		if c := got.count(p); c != n && p != "siem" {
			t.Errorf("%q: %d pages, want %d", p, c, n)
		}
	}
	if n := got.count("mail firing bob@"); n != 0 {
		t.Errorf("bob paged after the acknowledgement")
	}

	// The resolution reaches everyone paged, once.
	if err := r.a.alerts.Resolve(1, "noc", "power restored"); err != nil {
		t.Fatal(err)
	}
	res := map[string]int{"pager resolve": 1, "slack resolved": 1, "hook resolved": 1, "mail resolved ann@": 1, "siem": 3}
	waitFor(t, "the resolutions", 10*time.Second, got, func() bool {
		for p, n := range res {
			if got.count(p) < n {
				return false
			}
		}
		return true
	})
	// A restart sends nothing again.
	r.stop()
	got.mu.Lock()
	before := len(got.pages)
	got.mu.Unlock()
	r = runAppliance(t, path, filepath.Join(dir, "data"))
	defer r.stop()
	time.Sleep(4 * time.Second)
	got.mu.Lock()
	after := slicesFrom(got.pages, before)
	errs := got.errs
	got.mu.Unlock()
	if len(after) != 0 {
		t.Errorf("after a restart, %d pages again:\n  %s", len(after), strings.Join(after, "\n  "))
	}
	if len(errs) > 0 {
		t.Errorf("the far ends saw problems:\n  %s", strings.Join(errs, "\n  "))
	}

	// The notification log and the response times, through the API.
	tok, _ := r.a.Token()
	api := func(path string, v any) {
		req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d%s", port, path), nil)
		req.Header.Set("Authorization", "Bearer "+tok.Reveal())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("%s: %s %s", path, resp.Status, b)
		}
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	var logged struct {
		Notifications []struct {
			Receiver, Target, Result, Status, Incident string
		} `json:"notifications"`
	}
	api("/api/v1/notifications?receiver=mail&limit=1000", &logged)
	var delivered []string
	for _, e := range logged.Notifications {
		if e.Result == "delivered" {
			delivered = append(delivered, e.Status+"/"+e.Target)
		}
		if e.Incident == "" {
			t.Errorf("log entry without its incident: %+v", e)
		}
	}
	if strings.Join(delivered, ",") != "resolved/ann,acknowledged/ann,firing/ann" {
		t.Errorf("mail deliveries logged, newest first: %v", delivered)
	}
	var stats struct {
		Stats []map[string]any `json:"stats"`
	}
	api("/api/v1/incidents/stats", &stats)
	t.Logf("response stats: %v", stats.Stats)
	var critical map[string]any
	for _, s := range stats.Stats {
		if s["severity"] == "critical" {
			critical = s
		}
	}
	// One incident, though four routes paged about it.
	if critical == nil || critical["incidents"].(float64) != 1 || critical["acknowledged"].(float64) != 1 || critical["resolved"].(float64) != 1 {
		t.Errorf("critical response stats: %v", critical)
	}
}

func slicesFrom(s []string, i int) []string {
	if i >= len(s) {
		return nil
	}
	return append([]string(nil), s[i:]...)
}

const reloadConfig = `
site: lab
console:
  listen: 127.0.0.1:0
alerting:
  receivers:
    - name: hook
      webhook: {url: "%[1]s/hook", secret: "hook-secret-0123456789"}
    - name: slack
      slack: {url: "%[1]s/slack"}
  route:
    receiver: hook
    group_by: ["..."]
    group_wait: 0s
    routes:
      - matchers: ["severity=critical"]
        receiver: %[2]s
`

// A routing change applies while running; a broken one is refused with its file, line and
// field, and the routes in force stay.
func TestAlertingReloadKeepsLastGood(t *testing.T) {
	f := startFarEnds(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "watchfloor.yaml")
	write := func(critical string) {
		if err := os.WriteFile(path, fmt.Appendf(nil, reloadConfig, f.web.URL, critical), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("hook")
	r := runAppliance(t, path, filepath.Join(dir, "data"))
	defer r.stop()
	routers := 0
	page := func(want string, n int) {
		t.Helper()
		routers++
		m := stormMatch(0)
		m.Key = fmt.Sprintf("device=r%d", routers)
		r.a.alerts.Fire(m)
		waitFor(t, want, 10*time.Second, f.got, func() bool { return f.got.count(want) == n })
	}
	page("hook firing", 1)

	write("pagr") // a typo: no such receiver
	err := r.a.ReloadConfig(path)
	if err == nil || !strings.Contains(err.Error(), path+":17: alerting.route.routes[0].receiver: unknown receiver \"pagr\"") {
		t.Fatalf("reload of a broken file: %v", err)
	}
	page("hook firing", 2) // the running routes stay

	write("slack")
	if err := r.a.ReloadConfig(path); err != nil {
		t.Fatal(err)
	}
	page("slack firing", 1)
	if n := f.got.count("hook firing"); n != 2 {
		t.Errorf("hook got %d pages, want 2", n)
	}
}
