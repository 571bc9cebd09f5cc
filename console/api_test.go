package console

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/watchfloor/watchfloor"
)

var apiPaths = []string{
	"/api/v1/devices",
	"/api/v1/devices/core1",
	"/api/v1/devices/core1/series?metric=in_bps",
	"/api/v1/events",
	"/api/v1/topology",
	"/api/v1/backup",
	"/api/v1/flows/top?by=src",
	"/api/v1/observations?kind=dns.query",
	"/api/v1/alerts?state=open",
	"/api/v1/alerts/1",
	"/api/v1/silences",
	"/api/v1/rules",
	"/api/v1/stream",
	"/api/v1/nothing-here",
	"/api/",
}

// Every API endpoint refuses a request without the token, or with a wrong one, with a JSON
// error that does not echo the token; only the stream accepts it as a query parameter.
func TestAPIRequiresToken(t *testing.T) {
	_, srv, reg := newTestServer(t, Config{}, testStore())
	for _, p := range apiPaths {
		for _, tc := range []struct{ name, token, query string }{
			{"none", "", ""},
			{"wrong", "not-the-token", ""},
			{"prefix", testToken[:5], ""},
			{"longer", testToken + "x", ""},
			{"query on a non-stream endpoint", "", testToken},
		} {
			if tc.query != "" && strings.HasPrefix(p, "/api/v1/stream") {
				continue
			}
			u := srv.URL + p
			if tc.query != "" {
				u += sep(p) + "token=" + url.QueryEscape(tc.query)
			}
			resp, body := get(t, u, tc.token)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s with %s token: status %d, want 401", p, tc.name, resp.StatusCode)
				continue
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("%s: content type %q", p, ct)
			}
			var e struct{ Error string }
			if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
				t.Errorf("%s: body %q is not a JSON error", p, body)
			}
			if strings.Contains(string(body), testToken) || (tc.token != "" && strings.Contains(string(body), tc.token)) {
				t.Errorf("%s: body echoes the token: %s", p, body)
			}
		}
		// And with the token the request gets past auth.
		resp, _ := get(t, srv.URL+p, testToken)
		if resp.StatusCode == http.StatusUnauthorized {
			t.Errorf("%s with the token: 401", p)
		}
	}
	if got := metricValue(t, reg, "watchfloor_console_http_requests_total", map[string]string{"code": "401"}); got < float64(5*len(apiPaths)-1) {
		t.Errorf("http_requests_total{code=401} = %v", got)
	}
}

func sep(p string) string {
	if strings.Contains(p, "?") {
		return "&"
	}
	return "?"
}

// /healthz and /metrics need no token; /healthz reports the health check.
func TestHealthzAndMetricsAreOpen(t *testing.T) {
	var health error
	reg := prometheus.NewRegistry()
	c, err := newConsole(Config{}, Deps{Store: testStore(), Token: testToken, Registerer: reg, Health: func() error { return health }}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	h := c.Handler()
	srv := newServer(t, h)

	resp, body := get(t, srv+"/healthz", "")
	if resp.StatusCode != 200 || string(body) != "ok\n" {
		t.Errorf("healthz: %d %q", resp.StatusCode, body)
	}
	health = errors.New("store: disk full")
	resp, body = get(t, srv+"/healthz", "")
	if resp.StatusCode != 503 || !strings.Contains(string(body), "store: disk full") {
		t.Errorf("unhealthy healthz: %d %q", resp.StatusCode, body)
	}
	resp, body = get(t, srv+"/metrics", "")
	if resp.StatusCode != 200 {
		t.Fatalf("metrics: %d", resp.StatusCode)
	}
	for _, want := range []string{
		"watchfloor_console_ws_clients 0",
		"watchfloor_console_ws_dropped_total 0",
		"watchfloor_console_ws_messages_total 0",
		`watchfloor_console_http_requests_total{code="503"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// The static pages are open too, and / leads to the wall.
	resp, _ = get(t, srv+"/wall", "")
	if resp.StatusCode != 200 {
		t.Errorf("/wall: %d", resp.StatusCode)
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	r, err := noFollow.Get(srv + "/")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusFound || r.Header.Get("Location") != "/wall" {
		t.Errorf("/: %d to %q", r.StatusCode, r.Header.Get("Location"))
	}
}

// The device list has the documented field names, sorted by name, and follows PublishDevice.
func TestDevicesJSON(t *testing.T) {
	c, srv, _ := newTestServer(t, Config{}, testStore())
	resp, body := get(t, srv.URL+"/api/v1/devices", testToken)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var got struct {
		Site    string           `json:"site"`
		Devices []map[string]any `json:"devices"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if got.Site != "lab" {
		t.Errorf("site %q", got.Site)
	}
	var names []string
	for _, d := range got.Devices {
		names = append(names, d["name"].(string))
		for _, k := range []string{"name", "address", "status", "sys_name", "uptime_s", "role", "last_poll", "interfaces"} {
			if _, ok := d[k]; !ok {
				t.Errorf("device %v lacks %q", d["name"], k)
			}
		}
	}
	if want := []string{"access1", "core1", "dist1"}; !slices.Equal(names, want) {
		t.Fatalf("devices %v, want %v", names, want)
	}
	core := got.Devices[1]
	if core["status"] != "up" || core["sys_name"] != "core1.lab" || core["uptime_s"] != float64(86400*3+3600*5) || core["cpu_percent"] != 23.0 {
		t.Errorf("core1 = %v", core)
	}
	ifs := core["interfaces"].([]any)
	if len(ifs) != 8 {
		t.Fatalf("core1 has %d interfaces", len(ifs))
	}
	gi1 := ifs[0].(map[string]any)
	for k, want := range map[string]any{"name": "Gi0/1", "index": 1.0, "oper_status": "up", "admin_status": "up", "in_bps": 612e6, "out_bps": 240e6, "utilization": 61.2, "speed_bps": 1e9} {
		if gi1[k] != want {
			t.Errorf("Gi0/1 %s = %v, want %v", k, gi1[k], want)
		}
	}
	if ifs[6].(map[string]any)["oper_status"] != "down" {
		t.Errorf("Gi0/7 = %v", ifs[6])
	}

	// One device, and what PublishDevice changes.
	d := testDevice("core1", "core", watchfloor.DeviceDown, 0)
	c.PublishDevice(d)
	c.PublishDevice(testDevice("edge9", "firewall", watchfloor.DeviceUp, 2))
	resp, body = get(t, srv.URL+"/api/v1/devices/core1", testToken)
	var one map[string]any
	if err := json.Unmarshal(body, &one); resp.StatusCode != 200 || err != nil {
		t.Fatalf("one device: %d %v", resp.StatusCode, err)
	}
	if one["status"] != "down" || one["interfaces"] == nil {
		t.Errorf("published core1 = %v (interfaces must be [] not null)", one)
	}
	_, body = get(t, srv.URL+"/api/v1/devices", testToken)
	json.Unmarshal(body, &got)
	if len(got.Devices) != 4 || got.Devices[3]["name"] != "edge9" {
		t.Errorf("after publish: %d devices", len(got.Devices))
	}
	resp, body = get(t, srv.URL+"/api/v1/devices/nope", testToken)
	if resp.StatusCode != 404 || !strings.Contains(string(body), "unknown device") {
		t.Errorf("unknown device: %d %s", resp.StatusCode, body)
	}
	// A name with a slash, escaped, is one path segment.
	c.PublishDevice(testDevice("rack/2", "access", watchfloor.DeviceUp, 1))
	if resp, _ := get(t, srv.URL+"/api/v1/devices/rack%2F2", testToken); resp.StatusCode != 200 {
		t.Errorf("escaped name: %d", resp.StatusCode)
	}
}

func TestSeriesParams(t *testing.T) {
	store := testStore()
	_, srv, _ := newTestServer(t, Config{}, store)
	for _, tc := range []struct {
		query string
		code  int
		want  watchfloor.SeriesQuery // checked when code is 200
		msg   string                 // in the error otherwise
	}{
		{query: "metric=in_bps", code: 200,
			want: watchfloor.SeriesQuery{Device: "dist1", Metric: "in_bps", From: testNow.Add(-time.Hour), To: testNow}},
		{query: "metric=in_bps&interface=Gi0/3&from=-6h&to=now&step=5m", code: 200,
			want: watchfloor.SeriesQuery{Device: "dist1", IfIndex: 3, Metric: "in_bps", From: testNow.Add(-6 * time.Hour), To: testNow, Step: "5m"}},
		{query: "metric=utilization&interface=4&from=1777888800&to=2026-05-04T11:30:00Z&step=raw", code: 200,
			want: watchfloor.SeriesQuery{Device: "dist1", IfIndex: 4, Metric: "utilization", From: time.Unix(1777888800, 0).UTC(), To: testNow.Add(-30 * time.Minute), Step: "raw"}},
		{query: "metric=cpu_percent&from=now-2h&to=now-1h&step=auto", code: 200,
			want: watchfloor.SeriesQuery{Device: "dist1", Metric: "cpu_percent", From: testNow.Add(-2 * time.Hour), To: testNow.Add(-time.Hour)}},
		{query: "metric=in_bps&interface=GigabitEthernet0/2", code: 200,
			want: watchfloor.SeriesQuery{Device: "dist1", IfIndex: 2, Metric: "in_bps", From: testNow.Add(-time.Hour), To: testNow}},
		{query: "", code: 400, msg: "metric: missing"},
		{query: "metric=IN-BPS", code: 400, msg: "metric"},
		{query: "metric=in_bps&from=yesterday", code: 400, msg: "from: time \"yesterday\""},
		{query: "metric=in_bps&to=-1x", code: 400, msg: "to: relative time"},
		{query: "metric=in_bps&from=now&to=-1h", code: 400, msg: "must be before to"},
		{query: "metric=in_bps&from=0", code: 400, msg: "range longer than"},
		{query: "metric=in_bps&from=1e9", code: 400, msg: "from"},
		{query: "metric=in_bps&step=1m", code: 400, msg: "step"},
		{query: "metric=in_bps&interface=Gi9/9", code: 404, msg: "no interface"},
		{query: "metric=in_bps&interface=99", code: 404, msg: "no interface"},
	} {
		resp, body := get(t, srv.URL+"/api/v1/devices/dist1/series?"+tc.query, testToken)
		if resp.StatusCode != tc.code {
			t.Errorf("%q: status %d, want %d: %s", tc.query, resp.StatusCode, tc.code, body)
			continue
		}
		if tc.code != 200 {
			var e struct{ Error string }
			if json.Unmarshal(body, &e); !strings.Contains(e.Error, tc.msg) {
				t.Errorf("%q: error %q lacks %q", tc.query, e.Error, tc.msg)
			}
			continue
		}
		if got := store.lastSeries(); got != tc.want {
			t.Errorf("%q: store asked %+v\nwant %+v", tc.query, got, tc.want)
		}
		var s watchfloor.Series
		if err := json.Unmarshal(body, &s); err != nil || len(s.Points) != 1 || s.Metric != tc.want.Metric {
			t.Errorf("%q: answer %s", tc.query, body)
		}
	}
	if resp, _ := get(t, srv.URL+"/api/v1/devices/nope/series?metric=in_bps", testToken); resp.StatusCode != 404 {
		t.Errorf("unknown device: %d", resp.StatusCode)
	}
}

func TestEvents(t *testing.T) {
	store := testStore()
	_, srv, _ := newTestServer(t, Config{}, store)
	for _, tc := range []struct {
		query string
		code  int
		want  watchfloor.EventQuery
		ids   []uint64
	}{
		{"", 200, watchfloor.EventQuery{Limit: 100}, []uint64{1, 2, 3}},
		{"since=-1h", 200, watchfloor.EventQuery{Since: testNow.Add(-time.Hour), Limit: 100}, []uint64{2, 3}},
		{"since=2026-05-04T11:50:00Z&device=access1&limit=5", 200,
			watchfloor.EventQuery{Since: testNow.Add(-10 * time.Minute), Device: "access1", Limit: 5}, []uint64{3}},
		{"after_id=1&limit=1", 200, watchfloor.EventQuery{AfterID: 1, Limit: 1}, []uint64{2}},
		{"since=later", 400, watchfloor.EventQuery{}, nil},
		{"after_id=-1", 400, watchfloor.EventQuery{}, nil},
		{"limit=0", 400, watchfloor.EventQuery{}, nil},
		{"limit=100000", 400, watchfloor.EventQuery{}, nil},
	} {
		resp, body := get(t, srv.URL+"/api/v1/events?"+tc.query, testToken)
		if resp.StatusCode != tc.code {
			t.Errorf("%q: status %d, want %d: %s", tc.query, resp.StatusCode, tc.code, body)
			continue
		}
		if tc.code != 200 {
			continue
		}
		if got := store.lastEvents(); got != tc.want {
			t.Errorf("%q: store asked %+v, want %+v", tc.query, got, tc.want)
		}
		var got struct{ Events []watchfloor.Event }
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
		var ids []uint64
		for _, e := range got.Events {
			ids = append(ids, e.ID)
		}
		if !slices.Equal(ids, tc.ids) {
			t.Errorf("%q: events %v, want %v", tc.query, ids, tc.ids)
		}
	}
	// No events is [] rather than null.
	_, body := get(t, srv.URL+"/api/v1/events?device=ghost", testToken)
	if strings.TrimSpace(string(body)) != `{"events":[]}` {
		t.Errorf("no events: %s", body)
	}
}

func TestTopology(t *testing.T) {
	_, srv, _ := newTestServer(t, Config{}, testStore())
	_, body := get(t, srv.URL+"/api/v1/topology", testToken)
	want := `{"links":[{"a":"core1","a_port":"Gi0/1","b":"dist1","b_port":"Gi0/1"}],"devices":[` +
		`{"name":"access1","role":"access","status":"down"},{"name":"core1","role":"core","status":"up"},` +
		`{"name":"dist1","role":"distribution","status":"up"}]}`
	if strings.TrimSpace(string(body)) != want {
		t.Errorf("topology\n got %s\nwant %s", body, want)
	}
}

func TestBackup(t *testing.T) {
	store := testStore()
	_, srv, _ := newTestServer(t, Config{}, store)
	resp, body := get(t, srv.URL+"/api/v1/backup", testToken)
	if resp.StatusCode != 200 || string(body) != string(store.backup) {
		t.Fatalf("backup: %d, %d bytes", resp.StatusCode, len(body))
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/octet-stream" {
		t.Errorf("content type %q", ct)
	}
	if cd := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, `attachment; filename="watchfloor-lab-20260504T120000Z.db"`) {
		t.Errorf("content disposition %q", cd)
	}
	store.backupErr = errors.New("disk on fire")
	resp, body = get(t, srv.URL+"/api/v1/backup", testToken)
	if resp.StatusCode != 500 || strings.Contains(string(body), "fire") {
		t.Errorf("failed backup: %d %s", resp.StatusCode, body)
	}
}

func TestNewRejects(t *testing.T) {
	for name, tc := range map[string]struct {
		cfg  Config
		deps Deps
		msg  string
	}{
		"no token":    {Config{}, Deps{Store: testStore()}, "no API token"},
		"no store":    {Config{}, Deps{Token: testToken}, "no store"},
		"bad listen":  {Config{Listen: "8080"}, Deps{Store: testStore(), Token: testToken}, "listen"},
		"bad origin":  {Config{AllowedOrigins: []string{"wall.example"}}, Deps{Store: testStore(), Token: testToken}, "allowed_origins[0]"},
		"bad queue":   {Config{SendQueue: -1}, Deps{Store: testStore(), Token: testToken}, "send_queue"},
		"store fails": {Config{}, Deps{Store: &fakeStore{failDevices: true}, Token: testToken}, "load devices"},
	} {
		_, err := New(tc.cfg, tc.deps)
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: error %v, want %q", name, err, tc.msg)
		}
	}
}

// New keeps the newest events of the store, paging through them.
func TestNewLoadsLastEvents(t *testing.T) {
	store := testStore()
	store.events = nil
	for i := 1; i <= 2500; i++ {
		store.events = append(store.events, watchfloor.Event{ID: uint64(i), Time: testNow.Add(-time.Duration(2500-i) * time.Second)})
	}
	c, _ := newTestConsole(t, Config{}, store)
	evs := c.hub.events
	if len(evs) != maxEvents || evs[0].ID != 2301 || evs[len(evs)-1].ID != 2500 {
		t.Errorf("kept %d events, %d..%d", len(evs), evs[0].ID, evs[len(evs)-1].ID)
	}
}
