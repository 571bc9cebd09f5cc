package console

import (
	"context"
	"fmt"
	"math"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/internal/browser"
	"github.com/watchfloor/watchfloor/internal/testpeer"
)

// curveStore answers every series with a day-shaped curve, a point a minute (or per step),
// so that the device pages have something to draw.
type curveStore struct{ *fakeStore }

func (s curveStore) Series(q watchfloor.SeriesQuery) (watchfloor.Series, error) {
	step := time.Minute
	if q.To.Sub(q.From) > 6*time.Hour {
		step = 5 * time.Minute
	}
	out := watchfloor.Series{Device: q.Device, IfIndex: q.IfIndex, Metric: q.Metric, Step: watchfloor.StepRaw}
	scale := map[string]float64{watchfloor.MetricInBps: 6e8, watchfloor.MetricOutBps: 2.4e8, watchfloor.MetricCPUPercent: 40,
		watchfloor.MetricMemPercent: 60, watchfloor.MetricUtilization: 60}[q.Metric]
	if scale == 0 {
		scale = 1
	}
	for t := q.From.Truncate(step); t.Before(q.To); t = t.Add(step) {
		v := scale * (0.55 + 0.35*math.Sin(float64(t.Unix())/2400) + 0.1*math.Sin(float64(t.Unix())/310))
		out.Points = append(out.Points, watchfloor.Point{Time: t, Value: v, Min: v * 0.85, Max: v * 1.12})
	}
	return out, nil
}

// The analyst console in a real Chromium, opened with the API token as a kiosk would: it
// shows the open alerts of the lab incident by severity, live; acknowledging, assigning and
// commenting reach the API (which then shows the alert acknowledged and assigned) and the
// audit log; an action the server refuses is shown, not swallowed; the device page draws its
// charts; the audit page lists the actions.
func TestConsoleInChromium(t *testing.T) {
	chromium := testpeer.Program(t, "chromium")
	now := time.Now()
	fa, au := newFakeAlerts(testAlerts(now)...), &fakeAudit{}
	fa.now = time.Now
	st := testStore()
	c, err := New(Config{}, Deps{Store: curveStore{st}, Token: testToken, Site: "north-hub", Alerts: fa, Audit: au,
		Rules: fakeRules{{Name: "device_unreachable", Title: "Device unreachable", Level: "critical", Category: "availability", Hits: 12, LastHit: now}}})
	if err != nil {
		t.Fatal(err)
	}
	fa.publish = c.PublishAlert
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()
	defer c.hub.close(time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	b := browser.Start(ctx, t, chromium, srv.URL+"/console?token="+testToken)
	b.WaitDOM(20*time.Second, `class="conn live"`, `data-id="41"`, `id="d-title"`)
	text := func(sel string) string {
		t.Helper()
		return b.Eval(fmt.Sprintf(`(e => e ? e.textContent : "(none)")(document.querySelector(%q))`, sel))
	}
	order := func() string {
		t.Helper()
		return b.Eval(`[...document.querySelectorAll("#queue-body tr")].map(e => e.dataset.id).join(",")`)
	}
	waitFor := func(what, expr string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for b.Eval(expr) != "true" {
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %s: %s is not true; errors: %s", what, expr, text("#errors"))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if got := order(); got != "41,45,42,44,43" {
		t.Errorf("queue %s, want 41,45,42,44,43 (open alerts, the most severe first)", got)
	}
	if u := b.Eval(`location.search`); u != "" {
		t.Errorf("the token stays in the URL: %q", u)
	}
	for sel, want := range map[string]string{
		`#d-title`:                        "access-2 is unreachable",
		`#d-state`:                        "firing",
		`#d-runbook`:                      "https://runbooks.example/device-unreachable",
		`.children a[href="#/alert/43"]`:  "#43",
		`.children a[href="#/alert/44"]`:  "#44",
		`#queue-body [data-id="42"] .st`:  "ack alice",
		`#queue-body [data-id="41"] .sev`: "crit",
		`.who .role`:                      "admin",
	} {
		if got := text(sel); got != want {
			t.Errorf("%s: %q, want %q", sel, got, want)
		}
	}

	// Acknowledge with the button: the API shows it acknowledged, and so does the page.
	b.Eval(`document.getElementById("act-ack").click(), 1`)
	waitFor("the acknowledgement", `document.getElementById("d-state").textContent === "acknowledged"`)
	if a, _ := fa.Get(41); a.State != watchfloor.AlertAcknowledged || a.AckedBy != adminIdentity {
		t.Fatalf("the API has alert 41 %s by %q", a.State, a.AckedBy)
	}
	code, body := do(t, "GET", srv.URL+"/api/v1/alerts/41", "")
	if code != 200 || !strings.Contains(string(body), `"state":"acknowledged"`) {
		t.Fatalf("GET alert 41: %d %s", code, body)
	}
	waitFor("the row", `document.querySelector('#queue-body [data-id="41"] .st').textContent === "ack admin"`)

	// Assign and comment with the keyboard's fields.
	b.Eval(`document.getElementById("d-assignee").value = "bob", document.querySelector("#assign-form button[type=submit]").click(), 1`)
	waitFor("the assignee", `(e => e && e.textContent === "bob")(document.getElementById("d-assignee-now"))`)
	b.Eval(`document.getElementById("d-comment").value = "uplink fibre cut at the river crossing; crew dispatched", document.querySelector("#comment-form button").click(), 1`)
	waitFor("the comment in the timeline", `document.getElementById("d-timeline").textContent.includes("uplink fibre cut")`)
	if a, _ := fa.Get(41); a.Assignee != "bob" {
		t.Errorf("assignee %q", a.Assignee)
	}
	waitFor("the queue's assignee", `document.querySelector('#queue-body [data-id="41"] .assignee').textContent === "bob"`)

	// A refused action is shown: acknowledging 42 again (with the a key) is a 409.
	b.Eval(`location.hash = "#/alert/42", 1`)
	b.WaitDOM(10*time.Second, `Port scan from 203.0.113.66`)
	b.Eval(`document.dispatchEvent(new KeyboardEvent("keydown", {key: "a", bubbles: true})), 1`)
	waitFor("the error", `document.getElementById("errors").textContent.includes("already")`)

	// Live: a new critical alert appears without a reload.
	n := watchfloor.Alert{ID: 46, Rule: "syn_flood", RuleTitle: "SYN flood", Severity: watchfloor.SeverityCritical, Category: watchfloor.CategorySecurity,
		State: watchfloor.AlertFiring, Title: "SYN flood toward 10.20.1.10: 180k SYN/s", Entity: watchfloor.Entity{Site: "north-hub", Host: "10.20.1.10"},
		Tags: []string{"attack.impact", "attack.t1498.001"}, Techniques: []string{"T1498.001"}, StartedAt: now.Add(-40 * time.Second), UpdatedAt: now, Count: 3}
	fa.mu.Lock()
	fa.alerts[46] = n
	fa.mu.Unlock()
	start := time.Now()
	c.PublishAlert(n)
	b.WaitDOM(5*time.Second, `data-id="46"`)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the new alert took %v", d)
	}
	b.Eval(`document.querySelectorAll("#errors .error button").forEach(b => b.click()), location.hash = "#/alert/41", 1`)
	waitFor("alert 41 again", `(e => e && e.textContent === "access-2 is unreachable")(document.getElementById("d-title"))`)
	b.Screenshot(filepath.Join(screenshotDir(t), "console-alerts-1920x1080.png"))

	// Filters: security alerts of the command-and-control tactic.
	b.Eval(`(s => { s.value = "command-and-control"; s.dispatchEvent(new Event("change")); })(document.getElementById("f-tactic")), 1`)
	waitFor("the tactic filter", `[...document.querySelectorAll("#queue-body tr")].map(e => e.dataset.id).join(",") === "45"`)

	// The device page draws its charts.
	b.Eval(`location.hash = "#/device/core1", 1`)
	b.WaitDOM(10*time.Second, `aria-label="CPU"`, `aria-label="Memory"`, `Gi0/1`)
	if n := b.Eval(`document.querySelectorAll(".plot path.line").length`); n != "3" {
		t.Errorf("%s lines on the device page", n)
	}
	b.Screenshot(filepath.Join(screenshotDir(t), "console-device-1920x1080.png"))

	// The audit page lists what was done.
	b.Eval(`location.hash = "#/audit", 1`)
	b.WaitDOM(10*time.Second, `id="audit-table"`, `alert.comment`)
	if got := b.Eval(`[...document.querySelectorAll("#audit-table tbody tr td:nth-child(6)")].map(e => e.textContent).join(",")`); got != "alert.ack,alert.comment,alert.assign,alert.ack" {
		t.Errorf("audit actions %s", got)
	}
	if got := len(au.list()); got != 4 {
		t.Errorf("%d audit entries: %v", got, au.list())
	}
}
