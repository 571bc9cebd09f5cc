package console

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/watchfloor/watchfloor/console/users"
)

// fakeSites is a Sites whose answers the test sets.
type fakeSites struct {
	mu       sync.Mutex
	sites    []SiteStatus
	refusals []Refusal
	totals   map[string]uint64
	calls    int
}

func (f *fakeSites) Sites() []SiteStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return slices.Clone(f.sites)
}

func (f *fakeSites) Refusals() ([]Refusal, map[string]uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.refusals), maps.Clone(f.totals)
}

func (f *fakeSites) set(fn func(f *fakeSites)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// testSites are sites last heard from at the edges of the state thresholds, at testNow.
func testSites() *fakeSites {
	at := func(d time.Duration) time.Time { return testNow.Add(-d) }
	return &fakeSites{
		sites: []SiteStatus{
			{Site: "north", LastContact: at(10 * time.Second), Version: "1.4.2", StartedAt: at(48 * time.Hour), Received: 9000, Devices: 10, DevicesDown: 1, OpenAlerts: 2,
				Applied: []SiteApplied{{Kind: "rules", Version: 7, Offered: 7, AppliedAt: at(time.Hour)}}},
			{Site: "edge-90s", LastContact: at(90 * time.Second)},
			{Site: "late-91s", LastContact: at(91 * time.Second), OutboxEntries: 120, OutboxBytes: 64 << 10},
			{Site: "late-5m", LastContact: at(5 * time.Minute), OpenAlerts: 9},
			{Site: "down-5m1s", LastContact: at(5*time.Minute + time.Second), Dropped: 42, Gaps: 3},
			{Site: "never"},
			{Site: "ahead", LastContact: testNow.Add(30 * time.Second)}, // the clocks' skew
			{Site: "south", LastContact: at(time.Second), Applied: []SiteApplied{
				{Kind: "rules", Version: 6, Offered: 7, AppliedAt: at(time.Hour), Error: "rule dns_tunnel: unknown field \"treshold\""}}},
		},
		refusals: []Refusal{
			{Time: at(time.Minute), Reason: "unknown_certificate", Who: "CN=rogue-1, serial 0x1f", Remote: "192.0.2.7:51000"},
			{Time: at(10 * time.Second), Reason: "bad_password", Who: "user west", Remote: "192.0.2.8:40000"},
		},
		totals: map[string]uint64{"unknown_certificate": 3, "bad_password": 1},
	}
}

func newSitesConsole(t *testing.T, s Sites, now func() time.Time) (*Console, *httptest.Server) {
	t.Helper()
	c, err := newConsole(Config{}, Deps{Store: testStore(), Token: testToken, Site: "central", Sites: s}, now)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.Handler())
	t.Cleanup(func() { c.hub.close(time.Second); srv.Close() })
	return c, srv
}

// GET /api/v1/sites: every site with its state by the age of its last contact (90 s and 5
// min inclusive), the worst first, the refusals newest first and their totals.
func TestSitesAPI(t *testing.T) {
	_, srv := newSitesConsole(t, testSites(), func() time.Time { return testNow })
	resp, b := call(t, "GET", srv.URL+"/api/v1/sites", "", "Authorization", "Bearer "+testToken)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	if keys := slices.Sorted(maps.Keys(raw)); !slices.Equal(keys, []string{"now", "refusals", "refused", "sites", "sites_total"}) {
		t.Errorf("members %v", keys)
	}
	var got struct {
		Now        time.Time         `json:"now"`
		Sites      []map[string]any  `json:"sites"`
		SitesTotal int               `json:"sites_total"`
		Refusals   []Refusal         `json:"refusals"`
		Refused    map[string]uint64 `json:"refused"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if !got.Now.Equal(testNow) || got.SitesTotal != 8 {
		t.Errorf("now %v, sites_total %d", got.Now, got.SitesTotal)
	}
	var order []string
	for _, s := range got.Sites {
		order = append(order, fmt.Sprint(s["site"], "=", s["state"]))
	}
	want := []string{"down-5m1s=down", "never=down", "late-5m=late", "late-91s=late", "north=up", "ahead=up", "edge-90s=up", "south=up"}
	if !slices.Equal(order, want) {
		t.Errorf("sites (worst first):\n got %v\nwant %v", order, want)
	}
	// Every member of a site, the state beside them.
	north := got.Sites[4]
	for _, k := range []string{"site", "state", "last_contact", "version", "started_at", "outbox_entries", "outbox_bytes", "dropped",
		"received", "duplicates", "gaps", "devices", "devices_down", "open_alerts", "applied"} {
		if _, ok := north[k]; !ok {
			t.Errorf("site north lacks %q: %v", k, north)
		}
	}
	if ap := fmt.Sprint(got.Sites[7]["applied"]); !strings.Contains(ap, "offered:7") || !strings.Contains(ap, "version:6") || !strings.Contains(ap, "treshold") {
		t.Errorf("south applied %s", ap)
	}
	if _, ok := got.Sites[0]["applied"]; ok {
		t.Errorf("a site with nothing applied carries applied: %v", got.Sites[0])
	}
	if len(got.Refusals) != 2 || got.Refusals[0].Reason != "bad_password" || got.Refusals[1].Who != "CN=rogue-1, serial 0x1f" {
		t.Errorf("refusals %+v", got.Refusals)
	}
	if got.Refused["unknown_certificate"] != 3 || got.Refused["bad_password"] != 1 || len(got.Refused) != 2 {
		t.Errorf("refused %v", got.Refused)
	}
}

func TestSiteState(t *testing.T) {
	for _, c := range []struct {
		ago  time.Duration
		want string
	}{
		{-time.Hour, SiteUp}, {0, SiteUp}, {89 * time.Second, SiteUp}, {90 * time.Second, SiteUp},
		{90*time.Second + time.Millisecond, SiteLate}, {5 * time.Minute, SiteLate},
		{5*time.Minute + time.Millisecond, SiteDown}, {72 * time.Hour, SiteDown},
	} {
		if got := siteState(testNow.Add(-c.ago), testNow); got != c.want {
			t.Errorf("last contact %v ago: %s, want %s", c.ago, got, c.want)
		}
	}
	if got := siteState(time.Time{}, testNow); got != SiteDown {
		t.Errorf("never heard from: %s", got)
	}
}

// The state follows the clock: a site heard from once goes up, late, down.
func TestSitesStateOverTime(t *testing.T) {
	now := testNow
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	fs := &fakeSites{sites: []SiteStatus{{Site: "north", LastContact: testNow}}}
	_, srv := newSitesConsole(t, fs, clock)
	for _, step := range []struct {
		at   time.Duration
		want string
	}{{0, "up"}, {90 * time.Second, "up"}, {91 * time.Second, "late"}, {300 * time.Second, "late"}, {301 * time.Second, "down"}} {
		mu.Lock()
		now = testNow.Add(step.at)
		mu.Unlock()
		_, b := call(t, "GET", srv.URL+"/api/v1/sites", "", "Authorization", "Bearer "+testToken)
		if !strings.Contains(string(b), `"state":"`+step.want+`"`) {
			t.Errorf("at +%v: %s, want %s", step.at, b, step.want)
		}
	}
}

// Without Sites (an appliance) the endpoint is 404, the snapshot has no sites; with them a
// viewer may read it, nobody without credentials.
func TestSitesAccess(t *testing.T) {
	_, plain := newSitesConsole(t, nil, func() time.Time { return testNow })
	if resp, b := call(t, "GET", plain.URL+"/api/v1/sites", "", "Authorization", "Bearer "+testToken); resp.StatusCode != 404 {
		t.Errorf("without Sites: %d %s", resp.StatusCode, b)
	}
	if resp, _ := call(t, "GET", plain.URL+"/api/v1/sites", ""); resp.StatusCode != 401 {
		t.Errorf("without Sites, without credentials: %d, want 401", resp.StatusCode)
	}
	conn, _, err := dial(t, plain.URL, "", authHeader())
	if err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, snap, err := conn.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(snap), `"sites"`) {
		t.Errorf("an appliance's snapshot carries sites: %.300s", snap)
	}

	dir := t.TempDir()
	us, err := users.Open(dir, users.Options{Cost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	if err := us.Add("vic", users.Viewer, []byte(vicPassword)); err != nil {
		t.Fatal(err)
	}
	viewer, _, err := us.NewToken("vic", "wall", users.Viewer, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := newConsole(Config{}, Deps{Store: testStore(), Token: testToken, Site: "central", Sites: testSites(), Users: us, DataDir: dir},
		func() time.Time { return testNow })
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()
	defer c.hub.close(time.Second)
	if resp, b := call(t, "GET", srv.URL+"/api/v1/sites", "", "Authorization", "Bearer "+viewer); resp.StatusCode != 200 || !strings.Contains(string(b), `"site":"north"`) {
		t.Errorf("viewer: %d %s", resp.StatusCode, b)
	}
	for _, hdr := range [][]string{nil, {"Authorization", "Bearer wrong"}, {"Cookie", SessionCookie + "=nope"}} {
		if resp, b := call(t, "GET", srv.URL+"/api/v1/sites", "", hdr...); resp.StatusCode != 401 || strings.Contains(string(b), "north") {
			t.Errorf("with %v: %d %s, want 401", hdr, resp.StatusCode, b)
		}
	}
}

// What the appliances report is bounded: names and errors cut, at most maxSites sites (the
// worst), maxRefusals refusals (the newest), maxRefusedKind reasons (the rest as "other").
func TestSitesReportBounds(t *testing.T) {
	fs := &fakeSites{totals: map[string]uint64{}}
	long := strings.Repeat("é", 1000)
	for i := range maxSites + 20 {
		last := testNow
		if i == maxSites+10 {
			last = time.Time{} // a down one at the end of the list is kept
		}
		fs.sites = append(fs.sites, SiteStatus{Site: fmt.Sprintf("s%04d", i), LastContact: last, Version: long,
			Applied: make([]SiteApplied, 20)})
	}
	fs.sites[0].Site = long
	fs.sites[0].Applied[0].Error = long
	for i := range 3 * maxRefusals {
		fs.refusals = append(fs.refusals, Refusal{Time: testNow.Add(time.Duration(i) * time.Second), Reason: "bad_password", Who: long, Remote: long})
	}
	for i := range 2 * maxRefusedKind {
		fs.totals[fmt.Sprintf("reason-%02d", i)] = uint64(i + 1)
	}
	m := sitesReport(fs, testNow)
	if len(m.Sites) != maxSites || m.SitesTotal != maxSites+20 {
		t.Errorf("%d sites of %d", len(m.Sites), m.SitesTotal)
	}
	if m.Sites[0].Site != fmt.Sprintf("s%04d", maxSites+10) || m.Sites[0].State != SiteDown {
		t.Errorf("the worst site first: %s %s", m.Sites[0].Site, m.Sites[0].State)
	}
	for _, s := range m.Sites {
		if len(s.Site) > siteNameLen+len("…") || len(s.Version) > siteTextLen+len("…") || len(s.Applied) > maxApplied {
			t.Fatalf("site not bounded: %d %d %d", len(s.Site), len(s.Version), len(s.Applied))
		}
		for _, a := range s.Applied {
			if len(a.Error) > siteTextLen+len("…") {
				t.Fatalf("error not bounded: %d", len(a.Error))
			}
		}
	}
	if len(m.Refusals) != maxRefusals || !m.Refusals[0].Time.Equal(testNow.Add(time.Duration(3*maxRefusals-1)*time.Second)) {
		t.Errorf("%d refusals, newest %v", len(m.Refusals), m.Refusals[0].Time)
	}
	if r := m.Refusals[0]; len(r.Who) > siteTextLen+len("…") || len(r.Remote) > siteNameLen+len("…") {
		t.Errorf("refusal not bounded: %d %d", len(r.Who), len(r.Remote))
	}
	var sum, all uint64
	for _, v := range m.Refused {
		sum += v
	}
	for _, v := range fs.totals {
		all += v
	}
	if len(m.Refused) != maxRefusedKind || sum != all || m.Refused["reason-63"] != 64 || m.Refused["other"] == 0 {
		t.Errorf("refused: %d reasons, %d of %d counted, %v", len(m.Refused), sum, all, m.Refused)
	}
	if b, err := json.Marshal(m); err != nil || len(b) > 2<<20 {
		t.Errorf("report of %d bytes, %v", len(b), err)
	}
}

// The stream: the snapshot carries the sites, then each report as a sites message; the loop
// publishes one every period until it is stopped.
func TestSitesStream(t *testing.T) {
	fs := testSites()
	c, srv := newSitesConsole(t, fs, func() time.Time { return testNow })
	conn, _, err := dial(t, srv.URL, "", authHeader())
	if err != nil {
		t.Fatal(err)
	}
	type sitesMessage struct {
		Type string `json:"type"`
	}
	next := func() (m sitesMessage, raw []byte) {
		t.Helper()
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, raw, err := conn.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		return m, raw
	}
	_, raw := next()
	var snap struct {
		Type  string `json:"type"`
		Sites *struct {
			Sites    []siteView        `json:"sites"`
			Refusals []Refusal         `json:"refusals"`
			Refused  map[string]uint64 `json:"refused"`
		} `json:"sites"`
	}
	if err := json.Unmarshal(raw, &snap); err != nil {
		t.Fatal(err)
	}
	if snap.Type != "snapshot" || snap.Sites == nil || len(snap.Sites.Sites) != 8 || snap.Sites.Sites[0].State != SiteDown || snap.Sites.Refused["unknown_certificate"] != 3 {
		t.Fatalf("snapshot sites: %+v", snap.Sites)
	}
	eventually(t, 5*time.Second, "the client to register", func() bool { return c.hub.clientCount() == 1 })

	// The north site's outbox drains: the next report says so.
	fs.set(func(f *fakeSites) { f.sites[0].OutboxEntries = 500 })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.sitesLoop(ctx, 20*time.Millisecond) }()
	for i := 0; ; i++ {
		var m sitesMessage
		m, raw = next()
		if m.Type != "sites" {
			continue // nothing else is published here
		}
		var s struct {
			Type     string     `json:"type"`
			TS       int64      `json:"ts"`
			Sites    []siteView `json:"sites"`
			Refusals []Refusal  `json:"refusals"`
		}
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatal(err)
		}
		if s.TS == 0 || len(s.Sites) != 8 || len(s.Refusals) != 2 {
			t.Fatalf("sites message: %s", raw)
		}
		if i >= 2 {
			break
		}
	}
	if !strings.Contains(string(raw), `"outbox_entries":500`) {
		t.Errorf("the loop's report lacks the new outbox: %.400s", raw)
	}
	cancel()
	<-done
	// A new client's snapshot has the latest report.
	conn2, _, err := dial(t, srv.URL, "", authHeader())
	if err != nil {
		t.Fatal(err)
	}
	conn2.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, b, err := conn2.ReadMessage()
	if err != nil || !strings.Contains(string(b), `"outbox_entries":500`) {
		t.Errorf("second snapshot (%v): %.300s", err, b)
	}
}

// Run publishes the sites while it runs and stops doing so when it returns.
func TestSitesRun(t *testing.T) {
	fs := testSites()
	c, err := New(Config{Listen: "127.0.0.1:0"}, Deps{Store: testStore(), Token: testToken, Site: "central", Sites: fs})
	if err != nil {
		t.Fatal(err)
	}
	fs.mu.Lock()
	primed := fs.calls
	fs.mu.Unlock()
	if primed != 1 {
		t.Errorf("New asked for the sites %d times, want 1", primed)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	eventually(t, 5*time.Second, "Run to listen", func() bool { return c.Addr() != nil })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// The example of docs/api.md has the members the endpoint answers, site by site.
func TestSitesDocExample(t *testing.T) {
	doc, err := os.ReadFile("../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(doc), "## Sites (central)\n")
	_, block, ok2 := strings.Cut(sec, "```json\n")
	block, _, ok3 := strings.Cut(block, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("docs/api.md has no Sites example")
	}
	var ex map[string]any
	if err := json.Unmarshal([]byte(block), &ex); err != nil {
		t.Fatalf("the example is not JSON: %v", err)
	}
	_, srv := newSitesConsole(t, testSites(), func() time.Time { return testNow })
	_, b := call(t, "GET", srv.URL+"/api/v1/sites", "", "Authorization", "Bearer "+testToken)
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	keys := func(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }
	if !slices.Equal(keys(ex), keys(got)) {
		t.Errorf("example members %v, the endpoint's %v", keys(ex), keys(got))
	}
	exSite := ex["sites"].([]any)[1].(map[string]any)   // south, with applied
	gotSite := got["sites"].([]any)[7].(map[string]any) // south, with applied
	if !slices.Equal(keys(exSite), keys(gotSite)) {
		t.Errorf("example site members %v, the endpoint's %v", keys(exSite), keys(gotSite))
	}
	exAp := exSite["applied"].([]any)[0].(map[string]any)
	gotAp := gotSite["applied"].([]any)[0].(map[string]any)
	if !slices.Equal(keys(exAp), keys(gotAp)) {
		t.Errorf("example applied members %v, the endpoint's %v", keys(exAp), keys(gotAp))
	}
	exRef := ex["refusals"].([]any)[0].(map[string]any)
	gotRef := got["refusals"].([]any)[0].(map[string]any)
	if !slices.Equal(keys(exRef), keys(gotRef)) {
		t.Errorf("example refusal members %v, the endpoint's %v", keys(exRef), keys(gotRef))
	}
}
