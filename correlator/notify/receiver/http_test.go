package receiver

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/correlator/notify"
)

func testNotification() notify.Notification {
	t0 := time.Date(2025, 3, 4, 3, 0, 0, 0, time.UTC)
	return notify.Notification{
		ID: "n-1", GroupKey: "route=core/site=lab", Receiver: "r", Status: notify.StatusFiring,
		Title: "Router lab-r1 down", Summary: "1 critical, 1 high; 5 suppressed", Severity: watchfloor.SeverityCritical,
		Alerts: []watchfloor.Alert{
			{Rule: "device_down", State: watchfloor.AlertFiring, Title: "Router lab-r1 down", Severity: watchfloor.SeverityCritical, Category: "availability",
				Entity: watchfloor.Entity{Site: "lab", Device: "lab-r1", Interface: "ge-0/0/1"}, StartedAt: t0},
			{Rule: "if_down", State: watchfloor.AlertFiring, Title: "ge-0/0/1 down", Severity: watchfloor.SeverityHigh, StartedAt: t0},
		},
		GroupLabels: []watchfloor.Attr{{Key: "site", Value: "lab"}},
		Link:        "https://wf.example/incidents/42", AckLink: "https://wf.example/ack/42?sig=x", Time: t0,
	}
}

type captured struct {
	hdr  http.Header
	body []byte
}

func server(t *testing.T, status int) (*httptest.Server, chan captured) {
	ch := make(chan captured, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ch <- captured{r.Header.Clone(), b}
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv, ch
}

func strictDecode(t *testing.T, b []byte, v any) {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		t.Fatalf("body does not match the documented schema: %v\n%s", err, b)
	}
}

func TestWebhookSignedJSON(t *testing.T) {
	srv, ch := server(t, http.StatusNoContent)
	w, err := NewWebhook("hook", WebhookConfig{URL: srv.URL, Secret: "s3cret"}, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	n := testNotification()
	if err := w.Send(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	c := <-ch
	ts := c.hdr.Get(HeaderTimestamp)
	tsTime, _ := strconv.ParseInt(ts, 10, 64)
	at := time.Unix(tsTime, 0)
	if !VerifySignature("s3cret", ts, c.body, c.hdr.Get(HeaderSignature), at, 5*time.Minute) {
		t.Fatalf("signature %q does not verify", c.hdr.Get(HeaderSignature))
	}
	if VerifySignature("s3cret", ts, c.body, c.hdr.Get(HeaderSignature), at.Add(time.Hour), 5*time.Minute) {
		t.Fatal("an hour-old signature verifies: a captured request could be replayed")
	}
	if VerifySignature("s3cret", strconv.FormatInt(tsTime+1, 10), c.body, c.hdr.Get(HeaderSignature), at, 0) {
		t.Fatal("the signature does not cover the timestamp")
	}
	if VerifySignature("other", ts, c.body, c.hdr.Get(HeaderSignature), at, 0) {
		t.Fatal("signature verifies with the wrong secret")
	}
	if c.hdr.Get(HeaderTimestamp) == "" || c.hdr.Get("Content-Type") != "application/json" {
		t.Fatalf("headers %v", c.hdr)
	}
	var got notify.Notification
	strictDecode(t, c.body, &got)
	if got.ID != n.ID || got.GroupKey != n.GroupKey || got.Severity != n.Severity || len(got.Alerts) != 2 || got.Link != n.Link {
		t.Fatalf("decoded %+v", got)
	}
}

func TestHTTPStatusClassification(t *testing.T) {
	for _, tc := range []struct {
		status   int
		ok, perm bool
	}{
		{200, true, false}, {204, true, false}, {400, false, true}, {401, false, true}, {404, false, true},
		{408, false, false}, {429, false, false}, {500, false, false}, {503, false, false},
	} {
		srv, _ := server(t, tc.status)
		w, _ := NewWebhook("hook", WebhookConfig{URL: srv.URL}, srv.Client())
		err := w.Send(context.Background(), testNotification())
		if (err == nil) != tc.ok || IsPermanent(err) != tc.perm {
			t.Errorf("status %d: err %v, permanent %v", tc.status, err, IsPermanent(err))
		}
	}
}

func TestHTTPHonoursContext(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(block)
	w, _ := NewWebhook("hook", WebhookConfig{URL: srv.URL}, srv.Client())
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := w.Send(ctx, testNotification())
	if !errors.Is(err, context.DeadlineExceeded) || IsPermanent(err) {
		t.Fatalf("err %v", err)
	}
}

func TestSlackPayload(t *testing.T) {
	srv, ch := server(t, 200)
	s, err := NewSlack("chat", SlackConfig{URL: watchfloor.Secret(srv.URL)}, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), testNotification()); err != nil {
		t.Fatal(err)
	}
	var m SlackMessage
	strictDecode(t, (<-ch).body, &m)
	if !strings.Contains(m.Text, "Router lab-r1 down") || !strings.Contains(m.Text, "https://wf.example/incidents/42") {
		t.Fatalf("text %q", m.Text)
	}
	if m.Blocks[0].Type != "header" || m.Blocks[0].Text.Text != "[FIRING] critical: Router lab-r1 down" {
		t.Fatalf("header %+v", m.Blocks[0])
	}
	all, _ := json.Marshal(m.Blocks)
	for _, want := range []string{"*Severity:* critical", "2 alerts: 1 critical, 1 high", `"url":"https://wf.example/incidents/42"`} {
		if !strings.Contains(string(all), want) {
			t.Errorf("blocks lack %q: %s", want, all)
		}
	}
}

func TestTeamsPayload(t *testing.T) {
	srv, ch := server(t, 200)
	tm, err := NewTeams("teams", TeamsConfig{URL: watchfloor.Secret(srv.URL)}, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	if err := tm.Send(context.Background(), testNotification()); err != nil {
		t.Fatal(err)
	}
	var m TeamsMessage
	strictDecode(t, (<-ch).body, &m)
	if m.Type != "message" || len(m.Attachments) != 1 || m.Attachments[0].ContentType != "application/vnd.microsoft.card.adaptive" {
		t.Fatalf("envelope %+v", m)
	}
	c := m.Attachments[0].Content
	if c.Type != "AdaptiveCard" || c.Version == "" || c.Body[0].Text != "[FIRING] critical: Router lab-r1 down" || c.Body[0].Color != "Attention" {
		t.Fatalf("card %+v", c)
	}
	if len(c.Actions) != 2 || c.Actions[0].Type != "Action.OpenUrl" || c.Actions[0].URL != "https://wf.example/incidents/42" {
		t.Fatalf("actions %+v", c.Actions)
	}
}

func TestPagerDutyEvents(t *testing.T) {
	key := watchfloor.Secret(strings.Repeat("k", 32))
	for _, tc := range []struct {
		status notify.Status
		action string
	}{{notify.StatusFiring, "trigger"}, {notify.StatusAcknowledged, "acknowledge"}, {notify.StatusResolved, "resolve"}} {
		srv, ch := server(t, http.StatusAccepted)
		p, err := NewPagerDuty("pd", PagerDutyConfig{URL: srv.URL, RoutingKey: key}, srv.Client())
		if err != nil {
			t.Fatal(err)
		}
		n := testNotification()
		n.Status = tc.status
		if err := p.Send(context.Background(), n); err != nil {
			t.Fatal(err)
		}
		var ev PagerDutyEvent
		strictDecode(t, (<-ch).body, &ev)
		if ev.RoutingKey != key.Reveal() || ev.EventAction != tc.action || ev.DedupKey != n.GroupKey {
			t.Fatalf("%s: event %+v", tc.action, ev)
		}
		if len(ev.Links) == 0 || ev.Links[0].Href != n.Link || ev.Links[0].Text == "" {
			t.Fatalf("links %+v", ev.Links)
		}
		if tc.action != "trigger" {
			if ev.Payload != nil {
				t.Fatalf("%s carries a payload", tc.action)
			}
			continue
		}
		pl := ev.Payload
		if pl.Summary != "[FIRING] critical: Router lab-r1 down" || pl.Source != "lab-r1" || pl.Severity != "critical" ||
			pl.Timestamp != "2025-03-04T03:00:00Z" || pl.Component != "ge-0/0/1" || pl.Group != "lab" || pl.Class != "availability" {
			t.Fatalf("payload %+v", pl)
		}
		if pl.CustomDetails["group_key"] != n.GroupKey || pl.CustomDetails["alerts"] == nil {
			t.Fatalf("custom_details %+v", pl.CustomDetails)
		}
	}
	// 200 is not PagerDuty's 202: not taken for success.
	srv, _ := server(t, 200)
	p, _ := NewPagerDuty("pd", PagerDutyConfig{URL: srv.URL, RoutingKey: key}, srv.Client())
	if err := p.Send(context.Background(), testNotification()); err == nil {
		t.Fatal("200 taken for 202")
	}
	if k := PagerDutyDedupKey(strings.Repeat("g", 300)); len(k) > 255 {
		t.Fatalf("dedup key %d chars", len(k))
	}
	for s, want := range map[watchfloor.Severity]string{watchfloor.SeverityCritical: "critical", watchfloor.SeverityHigh: "error", watchfloor.SeverityMedium: "warning", watchfloor.SeverityLow: "info", watchfloor.SeverityInfo: "info"} {
		if PagerDutySeverity(s) != want {
			t.Errorf("%s → %s", s, PagerDutySeverity(s))
		}
	}
}

func TestConfigValidate(t *testing.T) {
	secretURL := watchfloor.Secret("ftp://hooks.example/T000/SECRETPART")
	errs := SlackConfig{URL: secretURL}.Validate()
	if len(errs) != 1 || errs[0].Field != "url" || strings.Contains(errs[0].Msg, "SECRETPART") {
		t.Fatalf("slack: %v", errs)
	}
	errs = PagerDutyConfig{RoutingKey: "short"}.Validate()
	if len(errs) != 1 || errs[0].Field != "routing_key" {
		t.Fatalf("pagerduty: %v", errs)
	}
	errs = SyslogConfig{Network: "sctp", Address: "x", Format: "json", Facility: 30}.Validate()
	if len(errs) != 4 {
		t.Fatalf("syslog: %v", errs)
	}
	errs = EmailConfig{Smarthost: "mail", From: "nope", To: []string{"a@b", "bad"}, StartTLS: "maybe"}.Validate()
	fields := map[string]bool{}
	for _, e := range errs {
		fields[e.Field] = true
	}
	for _, f := range []string{"smarthost", "from", "to[1]", "starttls"} {
		if !fields[f] {
			t.Errorf("email: no error for %s in %v", f, errs)
		}
	}
	if _, err := NewWebhook("bad name", WebhookConfig{URL: "http://127.0.0.1/"}, nil); err == nil {
		t.Fatal("bad name accepted")
	}
}
