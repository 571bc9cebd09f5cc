package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"github.com/watchfloor/watchfloor/console/users"
)

// fakeReports keeps reports in memory; Generate makes one of a known site, after waiting
// for gate when it is set (closing started first), within its context.
type fakeReports struct {
	mu        sync.Mutex
	list      []ReportInfo // newest first
	files     map[string][]byte
	sites     []string
	gate      chan struct{}
	started   chan struct{}
	deadlines []time.Duration // of each Generate's context, from its start
	asked     []string
	now       func() time.Time
}

func newFakeReports() *fakeReports {
	pdf := append([]byte("%PDF-1.7\n"), bytes.Repeat([]byte("x"), 2000)...)
	html := []byte("<!doctype html><title>October</title><script>alert(1)</script>")
	return &fakeReports{
		list: []ReportInfo{
			{ID: 2, Site: "north-hub", Month: "2026-04", TimeZone: "Europe/Berlin", Generated: testNow.Add(-72 * time.Hour), Trigger: "schedule",
				Files: []ReportFile{{"pdf", len(pdf)}, {"html", len(html)}}, Mailed: []string{"ciso@city.example"}},
			{ID: 1, Month: "2026-03", TimeZone: "Europe/Berlin", Generated: testNow.Add(-40 * 24 * time.Hour), Trigger: "on-demand",
				Files: []ReportFile{{"pdf", len(pdf)}}},
		},
		files: map[string][]byte{"2/pdf": pdf, "2/html": html, "1/pdf": pdf},
		sites: []string{"north-hub", "south-hub"},
		now:   func() time.Time { return testNow },
	}
}

func (f *fakeReports) List() ([]ReportInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.list), nil
}

func (f *fakeReports) File(id uint64, format string) (ReportInfo, []byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.list {
		if r.ID == id {
			if b, ok := f.files[fmt.Sprintf("%d/%s", id, format)]; ok {
				return r, b, nil
			}
		}
	}
	return ReportInfo{}, nil, fmt.Errorf("report %d %s: %w", id, format, ErrNotFound)
}

func (f *fakeReports) Generate(ctx context.Context, month, site string) (ReportInfo, error) {
	f.mu.Lock()
	f.asked = append(f.asked, month+"/"+site)
	if dl, ok := ctx.Deadline(); ok {
		f.deadlines = append(f.deadlines, time.Until(dl))
	} else {
		f.deadlines = append(f.deadlines, 0)
	}
	gate, started := f.gate, f.started
	f.mu.Unlock()
	if site != "" && !slices.Contains(f.sites, site) {
		return ReportInfo{}, FieldError{"site", fmt.Sprintf("unknown site %q", site)}
	}
	if started != nil {
		close(started)
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ReportInfo{}, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	pdf := []byte("%PDF-1.7 " + month)
	r := ReportInfo{ID: f.list[0].ID + 1, Site: site, Month: month, TimeZone: "Europe/Berlin", Generated: f.now(), Trigger: "on-demand",
		Files: []ReportFile{{"pdf", len(pdf)}}}
	f.files[fmt.Sprintf("%d/pdf", r.ID)] = pdf
	f.list = append([]ReportInfo{r}, f.list...)
	return r, nil
}

// reportsEnv is a console with reports and users ann (admin), bob (analyst), vic (viewer),
// each with an API token.
type reportsEnv struct {
	c                      *Console
	url                    string
	reports                *fakeReports
	audit                  *authAudit
	users                  *users.Store
	admin, analyst, viewer string
}

func newReportsEnv(t *testing.T, reports Reports) *reportsEnv {
	t.Helper()
	dir := t.TempDir()
	us, err := users.Open(dir, users.Options{Cost: bcrypt.MinCost, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	e := &reportsEnv{audit: &authAudit{}, users: us}
	e.reports, _ = reports.(*fakeReports)
	toks := map[string]*string{"ann": &e.admin, "bob": &e.analyst, "vic": &e.viewer}
	for _, u := range []struct {
		name string
		role users.Role
		pw   string
	}{{"ann", users.Admin, annPassword}, {"bob", users.Analyst, bobPassword}, {"vic", users.Viewer, vicPassword}} {
		if err := us.Add(u.name, u.role, []byte(u.pw)); err != nil {
			t.Fatal(err)
		}
		if *toks[u.name], _, err = us.NewToken(u.name, "test", u.role, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	deps := Deps{Store: testStore(), Token: testToken, Site: "north-hub", Registerer: reg, Gatherer: reg,
		Audit: e.audit, Users: us, DataDir: dir, Reports: reports}
	e.c, err = newConsole(Config{}, deps, func() time.Time { return testNow })
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e.c.Handler())
	t.Cleanup(func() { e.c.hub.close(time.Second); srv.Close() })
	e.url = srv.URL
	return e
}

func bearer(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

// The list, newest first, with sizes and mailing; each file as an attachment named for its
// site and month, the HTML never inline; unknown reports and formats.
func TestReportsListAndDownload(t *testing.T) {
	e := newReportsEnv(t, newFakeReports())
	resp, b := call(t, "GET", e.url+"/api/v1/reports", "", bearer(e.viewer)...)
	if resp.StatusCode != 200 {
		t.Fatalf("list: %d %s", resp.StatusCode, b)
	}
	var v struct {
		Reports    []ReportInfo `json:"reports"`
		Generating bool         `json:"generating"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Reports) != 2 || v.Reports[0].ID != 2 || v.Reports[1].ID != 1 || v.Generating {
		t.Fatalf("list %s", b)
	}
	if r := v.Reports[0]; r.Site != "north-hub" || r.Month != "2026-04" || r.TimeZone != "Europe/Berlin" || len(r.Files) != 2 ||
		r.Files[1].Format != "html" || r.Files[1].Bytes != len(e.reports.files["2/html"]) || !slices.Equal(r.Mailed, []string{"ciso@city.example"}) {
		t.Errorf("report 2: %+v", r)
	}
	if !strings.Contains(string(b), `"mailed":[]`) {
		t.Errorf("a report not mailed has no empty mailed list: %s", b)
	}

	for _, tc := range []struct {
		path, ctype, name string
		want              []byte
	}{
		{"/api/v1/reports/2/pdf", "application/pdf", "watchfloor-north-hub-2026-04.pdf", e.reports.files["2/pdf"]},
		{"/api/v1/reports/2/html", "text/html; charset=utf-8", "watchfloor-north-hub-2026-04.html", e.reports.files["2/html"]},
		{"/api/v1/reports/1/pdf", "application/pdf", "watchfloor-all-2026-03.pdf", e.reports.files["1/pdf"]},
	} {
		resp, b := call(t, "GET", e.url+tc.path, "", bearer(e.viewer)...)
		if resp.StatusCode != 200 || !bytes.Equal(b, tc.want) {
			t.Errorf("%s: %d, %d bytes, want %d", tc.path, resp.StatusCode, len(b), len(tc.want))
			continue
		}
		h := resp.Header
		if got := h.Get("Content-Disposition"); got != `attachment; filename="`+tc.name+`"` {
			t.Errorf("%s: Content-Disposition %q", tc.path, got)
		}
		if h.Get("Content-Type") != tc.ctype || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: headers %v", tc.path, h)
		}
		if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "sandbox") || !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("%s: CSP %q", tc.path, csp)
		}
	}
	for path, want := range map[string]int{
		"/api/v1/reports/1/html": 404, // kept without HTML
		"/api/v1/reports/9/pdf":  404,
		"/api/v1/reports/0/pdf":  400,
		"/api/v1/reports/x/pdf":  400,
		"/api/v1/reports/2/docx": 404, // no such route
		"/api/v1/reports/-1/pdf": 400,
	} {
		if resp, b := call(t, "GET", e.url+path, "", bearer(e.viewer)...); resp.StatusCode != want {
			t.Errorf("%s: %d %s, want %d", path, resp.StatusCode, b, want)
		} else if resp.Header.Get("Content-Disposition") != "" {
			t.Errorf("%s: an error answered as an attachment", path)
		}
	}
}

// Viewers list and download but may not generate (403, audited); analysts generate; a
// cookie session needs its CSRF token to generate; the generation is audited.
func TestReportsRoles(t *testing.T) {
	e := newReportsEnv(t, newFakeReports())
	body := `{"month":"2026-04","site":"south-hub"}`
	if resp, b := call(t, "POST", e.url+"/api/v1/reports", body, bearer(e.viewer)...); resp.StatusCode != 403 {
		t.Errorf("viewer generates: %d %s", resp.StatusCode, b)
	}
	if n := len(e.reports.asked); n != 0 {
		t.Fatalf("a refused request reached Generate %d times", n)
	}
	// A cookie session without the CSRF header is refused, with it accepted.
	resp, b := call(t, "POST", e.url+"/api/v1/login", fmt.Sprintf(`{"user":"bob","password":%q}`, bobPassword))
	if resp.StatusCode != 200 {
		t.Fatalf("login: %d %s", resp.StatusCode, b)
	}
	var sv sessionView
	if err := json.Unmarshal(b, &sv); err != nil {
		t.Fatal(err)
	}
	var cookie string
	for _, ck := range resp.Cookies() {
		if ck.Name == SessionCookie {
			cookie = ck.Name + "=" + ck.Value
		}
	}
	if resp, _ := call(t, "POST", e.url+"/api/v1/reports", body, "Cookie", cookie); resp.StatusCode != 403 {
		t.Errorf("session without CSRF: %d, want 403", resp.StatusCode)
	}
	resp, b = call(t, "POST", e.url+"/api/v1/reports", body, "Cookie", cookie, CSRFHeader, sv.CSRF)
	if resp.StatusCode != 201 {
		t.Fatalf("analyst session generates: %d %s", resp.StatusCode, b)
	}
	var made ReportInfo
	if err := json.Unmarshal(b, &made); err != nil || made.ID != 3 || made.Month != "2026-04" || made.Site != "south-hub" || made.Trigger != "on-demand" {
		t.Fatalf("answer %s (%v)", b, err)
	}
	// It is listed first and downloadable.
	_, b = call(t, "GET", e.url+"/api/v1/reports", "", bearer(e.viewer)...)
	if !strings.HasPrefix(string(b), `{"reports":[{"id":3,`) {
		t.Errorf("list after generating: %s", b)
	}
	if resp, b := call(t, "GET", e.url+"/api/v1/reports/3/pdf", "", bearer(e.viewer)...); resp.StatusCode != 200 || string(b) != "%PDF-1.7 2026-04" ||
		resp.Header.Get("Content-Disposition") != `attachment; filename="watchfloor-south-hub-2026-04.pdf"` {
		t.Errorf("download the new one: %d %q %v", resp.StatusCode, b, resp.Header)
	}
	// The admin token may too.
	if resp, b := call(t, "POST", e.url+"/api/v1/reports", `{"month":"2026-03"}`, bearer(testToken)...); resp.StatusCode != 201 {
		t.Errorf("admin token: %d %s", resp.StatusCode, b)
	}
	var gen, forbidden []AuditEntry
	for _, a := range e.audit.entries() {
		switch a.Action {
		case AuditReport:
			gen = append(gen, a)
		case AuditForbidden:
			forbidden = append(forbidden, a)
		}
	}
	if len(forbidden) != 1 || forbidden[0].Who != "vic" || forbidden[0].Detail != "POST /api/v1/reports" {
		t.Errorf("forbidden entries: %+v", forbidden)
	}
	if len(gen) != 2 || gen[0].Who != "bob" || gen[0].Via != "session" || !gen[0].OK || gen[0].Target != "report 3" ||
		!strings.HasPrefix(gen[0].Detail, "report 2026-04 south-hub, made in ") || gen[1].Who != "admin" {
		t.Errorf("generation audit: %+v", gen)
	}
}

// Without reports every endpoint answers 404, after authentication.
func TestReportsNotConfigured(t *testing.T) {
	e := newReportsEnv(t, nil)
	for _, rt := range []struct{ method, path, body string }{
		{"GET", "/api/v1/reports", ""},
		{"GET", "/api/v1/reports/1/pdf", ""},
		{"GET", "/api/v1/reports/1/html", ""},
		{"POST", "/api/v1/reports", `{"month":"2026-04"}`},
	} {
		resp, b := call(t, rt.method, e.url+rt.path, rt.body, bearer(e.analyst)...)
		if resp.StatusCode != 404 || !strings.Contains(string(b), "no reports") {
			t.Errorf("%s %s: %d %s, want 404", rt.method, rt.path, resp.StatusCode, b)
		}
		if resp, _ := call(t, rt.method, e.url+rt.path, rt.body); resp.StatusCode != 401 {
			t.Errorf("%s %s without credentials: %d, want 401", rt.method, rt.path, resp.StatusCode)
		}
	}
}

// One generation at a time: a second request while one runs is 409 with a clear message
// (audited as refused), the list says one is running; once it is done the next one runs.
// Each runs under a deadline of ReportTimeout.
func TestReportGenerateOneAtATime(t *testing.T) {
	f := newFakeReports()
	f.gate, f.started = make(chan struct{}), make(chan struct{})
	e := newReportsEnv(t, f)
	first := make(chan int, 1)
	go func() {
		resp, _ := call(t, "POST", e.url+"/api/v1/reports", `{"month":"2026-04"}`, bearer(e.analyst)...)
		first <- resp.StatusCode
	}()
	select {
	case <-f.started:
	case <-time.After(10 * time.Second):
		t.Fatal("the first generation did not start")
	}
	resp, b := call(t, "POST", e.url+"/api/v1/reports", `{"month":"2026-03"}`, bearer(e.analyst)...)
	if resp.StatusCode != 409 || !strings.Contains(string(b), "a report is being generated") {
		t.Errorf("second while the first runs: %d %s, want 409", resp.StatusCode, b)
	}
	if _, b := call(t, "GET", e.url+"/api/v1/reports", "", bearer(e.viewer)...); !strings.Contains(string(b), `"generating":true`) {
		t.Errorf("list while generating: %s", b)
	}
	close(f.gate)
	if code := <-first; code != 201 {
		t.Fatalf("first: %d", code)
	}
	f.mu.Lock()
	f.gate, f.started = nil, nil
	f.mu.Unlock()
	if resp, b := call(t, "POST", e.url+"/api/v1/reports", `{"month":"2026-03"}`, bearer(e.analyst)...); resp.StatusCode != 201 {
		t.Errorf("after the first: %d %s", resp.StatusCode, b)
	}
	if got := f.asked; !slices.Equal(got, []string{"2026-04/", "2026-03/"}) {
		t.Errorf("generated %v: the refused one must not reach Generate", got)
	}
	for _, d := range f.deadlines {
		if d <= ReportTimeout-10*time.Second || d > ReportTimeout {
			t.Errorf("generation deadline %v from its start, want %v", d, ReportTimeout)
		}
	}
	var refused int
	for _, a := range e.audit.entries() {
		if a.Action == AuditReport && !a.OK && a.Target == "report 2026-03" {
			refused++
		}
	}
	if refused != 1 {
		t.Errorf("%d refused generations audited, want 1: %+v", refused, e.audit.entries())
	}
}

// Malformed and unfinished months, unknown sites and bad bodies are 400 naming the field,
// and never reach Generate but for the site check the Reports make.
func TestReportGenerateRefusals(t *testing.T) {
	// testNow is 2026-05-04: April is over, May is not.
	for _, tc := range []struct{ body, field, msg string }{
		{`{}`, "month", "missing"},
		{`{"month":""}`, "month", "want YYYY-MM"},
		{`{"month":"2026-5"}`, "month", "want YYYY-MM"},
		{`{"month":"2026-13"}`, "month", "want a month"},
		{`{"month":"2026-00"}`, "month", "want a month"},
		{`{"month":"1999-12"}`, "month", "from 2000"},
		{`{"month":"2026-04-01"}`, "month", "want YYYY-MM"},
		{`{"month":"２０２６-04"}`, "month", "want YYYY-MM"},
		{`{"month":"2026-05"}`, "month", "not over yet"},
		{`{"month":"2027-01"}`, "month", "not over yet"},
		{`{"month":202604}`, "month", "want a string"},
		{`{"month":"2026-04","site":"atlantis"}`, "site", `unknown site "atlantis"`},
		{`{"month":"2026-04","site":"` + strings.Repeat("s", 200) + `"}`, "site", "at most 128"},
		{`{"month":"2026-04","sites":["a"]}`, "sites", "unknown field"},
		{`{"month":"2026-04"} {}`, "body", "more than one"},
		{`{"month":`, "body", "truncated"},
	} {
		f := newFakeReports()
		e := newReportsEnv(t, f)
		resp, b := call(t, "POST", e.url+"/api/v1/reports", tc.body, bearer(e.analyst)...)
		var v struct{ Error, Field string }
		_ = json.Unmarshal(b, &v)
		if resp.StatusCode != 400 || v.Field != tc.field || !strings.Contains(v.Error, tc.msg) {
			t.Errorf("%s: %d %s, want 400 naming %s (%q)", tc.body, resp.StatusCode, b, tc.field, tc.msg)
		}
		if tc.field != "site" && len(f.asked) != 0 {
			t.Errorf("%s reached Generate", tc.body)
		}
	}
}

func TestCheckReportMonth(t *testing.T) {
	for _, tc := range []struct {
		month string
		now   time.Time
		ok    bool
	}{
		{"2026-10", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), true},
		{"2026-10", time.Date(2026, 10, 31, 10, 0, 0, 0, time.UTC), true}, // over in UTC+14: the Reports decide
		{"2026-10", time.Date(2026, 10, 31, 9, 59, 0, 0, time.UTC), false},
		{"2026-12", time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), true},
		{"2026-12", time.Date(2026, 12, 15, 0, 0, 0, 0, time.UTC), false},
	} {
		if err := checkReportMonth(tc.month, tc.now); (err == nil) != tc.ok {
			t.Errorf("%s at %v: %v", tc.month, tc.now, err)
		}
	}
}

func TestReportFileName(t *testing.T) {
	for _, tc := range []struct{ site, month, format, want string }{
		{"east-backbone", "2026-10", "pdf", "watchfloor-east-backbone-2026-10.pdf"},
		{"", "2026-10", "html", "watchfloor-all-2026-10.html"},
		{`a"b/../c;d`, "2026-10", "pdf", "watchfloor-abcd-2026-10.pdf"},
		{"x", `2026-10"; evil`, "pdf", "watchfloor-x-month.pdf"},
	} {
		if got := ReportFileName(tc.site, tc.month, tc.format); got != tc.want {
			t.Errorf("ReportFileName(%q, %q, %q) = %q, want %q", tc.site, tc.month, tc.format, got, tc.want)
		}
	}
}

// FuzzReportMonth: any month string is accepted only in the form YYYY-MM, never panics.
func FuzzReportMonth(f *testing.F) {
	for _, s := range []string{"2026-10", "2026-13", "", "9999-12", "0000-01", "2026-1\n"} {
		f.Add(s)
	}
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		err := checkReportMonth(s, now)
		if err == nil {
			if _, perr := time.Parse("2006-01", s); perr != nil || len(s) != 7 {
				t.Fatalf("accepted %q", s)
			}
		} else if fe, ok := err.(FieldError); !ok || fe.Field != "month" {
			t.Fatalf("error %v for %q does not name month", err, s)
		}
	})
}

// Every example of the Monthly reports section of docs/api.md is run, in order, against a
// console over newFakeReports; a JSON answer shown after a command must be the answer, a
// download must be an attachment.
func TestReportsDocExamples(t *testing.T) {
	doc, err := os.ReadFile("../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	sec := string(doc)
	i := strings.Index(sec, "\n## Monthly reports")
	if i < 0 {
		t.Fatal("docs/api.md has no Monthly reports section")
	}
	sec = sec[i+1:]
	if j := strings.Index(sec, "\n## "); j >= 0 {
		sec = sec[:j]
	}
	examples := regexp.MustCompile("(?s)```sh\\n(curl .*?)```\\n+(?:```json\\n(.*?)```)?").FindAllStringSubmatch(sec, -1)
	if len(examples) != 3 {
		t.Fatalf("the section has %d curl examples, want 3", len(examples))
	}
	e := newReportsEnv(t, newFakeReports())
	for _, ex := range examples {
		args := curlArgs(ex[1])
		method, body, target := "GET", "", ""
		for k := 1; k < len(args); k++ {
			switch args[k] {
			case "-d":
				k++
				body, method = args[k], "POST"
			case "-H":
				k++
			case "-s", "-OJ":
			default:
				target = args[k]
			}
		}
		path, ok := strings.CutPrefix(target, "http://127.0.0.1:8080")
		if !ok {
			t.Fatalf("example %q: no URL of the console", ex[1])
		}
		resp, got := call(t, method, e.url+path, body, bearer(testToken)...)
		if resp.StatusCode/100 != 2 {
			t.Errorf("%s %s: %d %s", method, path, resp.StatusCode, got)
			continue
		}
		if ex[2] == "" {
			if cd := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment; filename=") || len(got) == 0 {
				t.Errorf("%s %s: %q, %d bytes: want a download", method, path, cd, len(got))
			}
			continue
		}
		var gotV, wantV any
		if err := json.Unmarshal([]byte(ex[2]), &wantV); err != nil {
			t.Fatalf("%s %s: the example is not JSON: %v", method, path, err)
		}
		json.Unmarshal(got, &gotV)
		gb, _ := json.Marshal(gotV)
		wb, _ := json.Marshal(wantV)
		if !bytes.Equal(gb, wb) {
			t.Errorf("%s %s: the docs differ from the answer\n got %s\nwant %s", method, path, gb, wb)
		}
	}
	// The refusal shown last.
	resp, got := call(t, "POST", e.url+"/api/v1/reports", `{"month":"2026-05"}`, bearer(e.analyst)...)
	want := `{"error":"month: 2026-05 is not over yet: a report covers a whole month","field":"month"}` + "\n"
	if resp.StatusCode != 400 || string(got) != want || !strings.Contains(sec, strings.TrimSpace(strings.ReplaceAll(strings.ReplaceAll(want, `":"`, `": "`), `","`, `", "`))) {
		t.Errorf("refusal %d %s, want it as the docs show it", resp.StatusCode, got)
	}
}
