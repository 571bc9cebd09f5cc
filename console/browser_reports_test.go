package console

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/internal/browser"
	"github.com/watchfloor/watchfloor/internal/testpeer"
)

// The reports and silences views in a real Chromium, opened with the API token as a kiosk
// would: the kept reports are listed with their files; a file downloads through fetch with
// the token (a plain link could not carry it) under the server's name and with its bytes;
// Generate shows its progress while the server works, then lists the new report; the
// silences view lists the active silences with who, why, when and matchers, and Expire
// ends one through the API.
func TestReportsAndSilencesInChromium(t *testing.T) {
	chromium := testpeer.Program(t, "chromium")
	now := time.Now()
	fr := newFakeReports()
	fr.now = time.Now
	fr.gate, fr.started = make(chan struct{}), make(chan struct{})
	fa := newFakeAlerts(testAlerts(now)...)
	fa.now = time.Now
	fa.silences = []watchfloor.Silence{
		{ID: "sil-0001", Matchers: []watchfloor.Matcher{{Name: "device", Op: "=", Value: "access-2"}, {Name: "rule", Op: "=~", Value: "interface_.*|link_flapping"}},
			StartsAt: now.Add(-time.Hour), EndsAt: now.Add(3 * time.Hour), CreatedBy: "bob", CreatedAt: now.Add(-time.Hour), Comment: "access-2 is replaced tonight"},
		{ID: "sil-0002", Matchers: []watchfloor.Matcher{{Name: "host", Op: "=", Value: "198.51.100.7"}},
			StartsAt: now.Add(-10 * time.Minute), EndsAt: now.Add(7 * 24 * time.Hour), CreatedBy: "alice", CreatedAt: now.Add(-10 * time.Minute), Comment: "the pen test's scanner"},
		{ID: "sil-0000", Matchers: []watchfloor.Matcher{{Name: "rule", Op: "=", Value: "syn_flood"}},
			StartsAt: now.Add(-48 * time.Hour), EndsAt: now.Add(-24 * time.Hour), CreatedBy: "bob", CreatedAt: now.Add(-48 * time.Hour), Comment: "load test"},
	}
	au := &fakeAudit{}
	c, err := New(Config{}, Deps{Store: testStore(), Token: testToken, Site: "north-hub", Alerts: fa, Audit: au, Reports: fr})
	if err != nil {
		t.Fatal(err)
	}
	fa.publish = c.PublishAlert
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()
	defer c.hub.close(time.Second)
	// Chromium saves downloads into $HOME/Downloads: a directory of the test's.
	home := t.TempDir()
	t.Setenv("HOME", home)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	b := browser.Start(ctx, t, chromium, srv.URL+"/console?token="+testToken+"#/reports")
	text := func(sel string) string {
		t.Helper()
		return b.Eval(fmt.Sprintf(`(e => e ? e.textContent : "(none)")(document.querySelector(%q))`, sel))
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

	// The list.
	b.WaitDOM(20*time.Second, `id="reports-table"`, `data-report="2"`, `data-report="1"`)
	if got := b.Eval(`[...document.querySelectorAll("#reports-table tbody tr")].map(e => e.dataset.report).join(",")`); got != "2,1" {
		t.Errorf("reports listed %s, want 2,1 (newest first)", got)
	}
	for sel, want := range map[string]string{
		`[data-report="2"] td:nth-child(1)`:         "2026-04",
		`[data-report="2"] td:nth-child(2)`:         "north-hub",
		`[data-report="1"] td:nth-child(2)`:         "all sites",
		`[data-report="2"] td:nth-child(5)`:         "scheduled",
		`[data-report="2"] td:nth-child(7)`:         "mailed to ciso@city.example",
		`[data-report="1"] td:nth-child(7)`:         "not mailed",
		`[data-report="2"] a.dl[data-format="pdf"]`: "↓ PDF 2 kB",
	} {
		if got := text(sel); got != want {
			t.Errorf("%s: %q, want %q", sel, got, want)
		}
	}

	// A download through fetch: the click hands the browser the file under the server's name.
	b.Eval(`document.querySelector('[data-report="2"] a.dl[data-format="pdf"]').click(), 1`)
	waitFor("the download note", `document.getElementById("errors").textContent.includes("Downloaded watchfloor-north-hub-2026-04.pdf (2 kB)")`)
	saved := filepath.Join(home, "Downloads", "watchfloor-north-hub-2026-04.pdf")
	eventually(t, 10*time.Second, "the file in "+saved, func() bool {
		got, err := os.ReadFile(saved)
		return err == nil && string(got) == string(fr.files["2/pdf"])
	})
	// The HTML comes as a file too, with the server's bytes, never shown in the page.
	got := b.Eval(`downloadReport(2, "html").then(d => d.name + " " + d.blob.type + " " + d.size).then(s => s)`)
	if want := fmt.Sprintf("watchfloor-north-hub-2026-04.html text/html; charset=utf-8 %d", len(fr.files["2/html"])); got != want {
		t.Errorf("html download %q, want %q", got, want)
	}
	if got := b.Eval(`downloadReport(1, "html").then(() => "ok", e => e.status + " " + e.message)`); got != "404 report 1 has no html file" {
		t.Errorf("missing file: %q", got)
	}

	// Generate: the page shows progress while the server works, then the new report.
	month := b.Eval(`document.getElementById("rp-month").value`)
	if want := time.Date(now.Year(), now.Month()-1, 1, 0, 0, 0, 0, time.Local).Format("2006-01"); month != want {
		t.Errorf("month picker starts at %q, want last month %q", month, want)
	}
	b.Eval(`document.getElementById("rp-site").value = "south-hub", document.getElementById("rp-generate").click(), 1`)
	select {
	case <-fr.started:
	case <-time.After(10 * time.Second):
		t.Fatalf("the generation did not reach the server; errors: %s", text("#errors"))
	}
	waitFor("the progress", `!document.getElementById("rp-progress").hidden && document.getElementById("rp-progress-text").textContent.startsWith("generating the report for `+month+` of south-hub")`)
	if b.Eval(`document.getElementById("rp-generate").disabled`) != "true" {
		t.Error("Generate stays enabled while a report is made")
	}
	b.Screenshot(filepath.Join(screenshotDir(t), "console-reports-generating-1920x1080.png"))
	close(fr.gate)
	waitFor("the new report", `(e => e && e.classList.contains("fresh"))(document.querySelector('[data-report="3"]'))`)
	waitFor("the progress to go", `document.getElementById("rp-progress").hidden`)
	if got := fr.asked; len(got) != 1 || got[0] != month+"/south-hub" {
		t.Errorf("generated %v", got)
	}
	b.Screenshot(filepath.Join(screenshotDir(t), "console-reports-1920x1080.png"))

	// Silences: the active ones, the latest to end first as the API answers; expire one.
	b.Eval(`document.querySelectorAll("#errors > *").forEach(e => e.remove()), location.hash = "#/silences", 1`)
	b.WaitDOM(10*time.Second, `id="silences-table"`, `data-silence="sil-0001"`, `1 expired silence not shown`)
	if got := b.Eval(`[...document.querySelectorAll("#silences-table tbody tr")].map(e => e.dataset.silence).join(",")`); got != "sil-0001,sil-0002" {
		t.Errorf("silences listed %s, want the two active ones", got)
	}
	row := `[data-silence="sil-0001"] `
	for sel, want := range map[string]string{
		row + `.matchers`:       `device="access-2"rule=~"interface_.*|link_flapping"`,
		row + `.why`:            "access-2 is replaced tonight",
		row + `td:nth-child(4)`: "bob",
		row + `.st`:             "active",
		row + `td:nth-child(7)`: fmt.Sprintf("%s (in 2h 59m)", now.Add(3*time.Hour).Local().Format("2006-01-02 15:04:05")),
		row + `button.expire`:   "Expire",
	} {
		if got := text(sel); got != want {
			t.Errorf("%s: %q, want %q", sel, got, want)
		}
	}
	b.Screenshot(filepath.Join(screenshotDir(t), "console-silences-1920x1080.png"))
	b.Eval(`document.querySelector('[data-silence="sil-0001"] button.expire').click(), 1`)
	waitFor("the silence to go", `!document.querySelector('[data-silence="sil-0001"]')`)
	waitFor("the note", `document.getElementById("errors").textContent.includes("Silence sil-0001 expired")`)
	for _, s := range fa.Silences() {
		if s.ID == "sil-0001" {
			t.Error("the API still has sil-0001")
		}
	}
	if got := au.list(); len(got) != 2 || !strings.HasPrefix(got[0], "report.generate report 3 admin/admin/token") ||
		!strings.HasPrefix(got[1], "silence.delete silence sil-0001 admin/admin/token") {
		t.Errorf("audited %q", got)
	}
	// Expired ones on request.
	b.Eval(`(c => { c.checked = true; c.dispatchEvent(new Event("change")); })(document.getElementById("si-expired")), 1`)
	b.WaitDOM(10*time.Second, `data-silence="sil-0000"`)
	if got := text(`[data-silence="sil-0000"] .st`); got != "expired" {
		t.Errorf("the expired silence shows %q", got)
	}
}
