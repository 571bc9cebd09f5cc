package console

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/internal/browser"
	"github.com/watchfloor/watchfloor/internal/testpeer"
)

// wallCollectors are the collectors of a site 2 s apart: the flows collector drops.
func wallCollectors(now time.Time) (before, after Stats) {
	before = Stats{Time: now.Add(-2 * time.Second), RecordsIn: 1_000_000, Collectors: []CollectorStats{
		{Name: "snmp", Unit: "varbinds", Records: 500_000, Errors: 3},
		{Name: "traps", Unit: "traps", Records: 1200},
		{Name: "flows", Unit: "records", Records: 9_000_000, Drops: 100},
		{Name: "ingest", Unit: "records", Records: 1_000_000},
	}}
	after = Stats{Time: now, RecordsIn: 1_085_000, QueueDepth: 37, QueueCapacity: 4096, Collectors: []CollectorStats{
		{Name: "snmp", Unit: "varbinds", Records: 503_000, Errors: 3},
		{Name: "traps", Unit: "traps", Records: 1204},
		{Name: "flows", Unit: "records", Records: 9_300_000, Drops: 180},
		{Name: "ingest", Unit: "records", Records: 1_085_000},
	}}
	return before, after
}

// The wall in a real Chromium: with a display token it shows the site as a map (devices by
// role, links coloured by load, the down device said DOWN), the posture, the collectors'
// health; a new alert shows within a second of PublishAlert; ?panel= shows one panel alone.
func TestWallMapAlertsPanelsInChromium(t *testing.T) {
	chromium := testpeer.Program(t, "chromium")
	now := time.Now()
	fa := newFakeAlerts(testAlerts(now)...)
	fa.now = time.Now
	c, err := New(Config{}, Deps{Store: wallStore(now), Token: testToken, Site: "north-hub", Alerts: fa})
	if err != nil {
		t.Fatal(err)
	}
	fa.publish = c.PublishAlert
	before, after := wallCollectors(now)
	c.PublishStats(before)
	c.PublishStats(after)
	c.PublishFlows(wallRollup(now.Truncate(time.Minute).Add(-time.Minute)))
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()
	defer c.hub.close(time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	b := browser.Start(ctx, t, chromium, srv.URL+"/wall?token="+testToken)
	b.WaitDOM(20*time.Second, `class="conn live"`, `data-node="access-2"`, `data-collector="flows"`, `data-key="10.20.4.17"`)
	eventually(t, 20*time.Second, "the page to connect", func() bool { return c.hub.clientCount() == 1 })
	if href := b.Eval("location.href"); strings.Contains(href, "token") {
		t.Errorf("the token stayed in the URL: %s", href)
	}
	text := func(sel string) string {
		return b.Eval(fmt.Sprintf(`(e => e ? e.textContent : "(none)")(document.querySelector(%q))`, sel))
	}
	// The map: every device, both LLDP links, the down device in words and shape.
	if n := b.Eval(`document.querySelectorAll("#map-svg .node").length`); n != "10" {
		t.Errorf("%s map nodes, want 10", n)
	}
	if n := b.Eval(`document.querySelectorAll("#map-svg .link").length`); n != "2" {
		t.Errorf("%s map links, want 2", n)
	}
	for sel, want := range map[string]string{
		`#map-svg [data-node="access-2"] .st`:                   "DOWN",
		`#map-svg [data-node="access-5"] .st`:                   "NOT POLLED",
		`#map-svg [data-link="core-1 Gi0/1 dist-1 Gi0/1"] text`: "88%",
		`#map-count`:                      "10 devices · 2 links · 1 down",
		`[data-collector="flows"] .state`: "dropping",
		`[data-collector="flows"] .rate`:  "150krecords/s",
		`[data-collector="flows"] .drops`: "40drops/s",
		`[data-collector="snmp"] .state`:  "ok",
		`[data-collector="snmp"] .rate`:   "1.5kvarbinds/s",
		`#po-word`:                        "▲ fair",
	} {
		if got := text(sel); got != want {
			t.Errorf("%s: %q, want %q", sel, got, want)
		}
	}
	// Down is a shape as well as a colour: a dashed outline and a cross.
	if v := b.Eval(`(() => { const n = document.querySelector('#map-svg [data-node="access-2"]'); return [getComputedStyle(n.querySelector("rect")).strokeDasharray !== "none", !!n.querySelector(".x")].join(" "); })()`); v != "true true" {
		t.Errorf("down device (dashed, crossed): %s", v)
	}
	// Posture: the hub's score of the snapshot (alerts, 1 of 10 devices down, flows dropping).
	p := c.hub.postureSnapshotLocked // read under the lock below
	c.hub.mu.Lock()
	score := p().Posture.Score
	c.hub.mu.Unlock()
	if got := text("#po-num"); got != strconv.Itoa(int(score+0.5)) {
		t.Errorf("posture %q on the wall, %v on the hub", got, score)
	}
	// Nothing is off the screen.
	if v := b.Eval(`[...document.querySelectorAll("section")].filter(s => s.offsetParent && s.getBoundingClientRect().bottom > innerHeight + 0.5).map(s => s.id || s.className).join(",")`); v != "" {
		t.Errorf("panels below the screen: %s", v)
	}
	b.Screenshot(filepath.Join(screenshotDir(t), "wall-full-1920x1080.png"))

	// A new critical alert: from PublishAlert to the DOM within a second.
	n := watchfloor.Alert{ID: 77, Rule: "port_scan", RuleTitle: "Port scan", Severity: watchfloor.SeverityCritical, Category: watchfloor.CategorySecurity,
		State: watchfloor.AlertFiring, Title: "Port scan from 203.0.113.66: 1,024 ports in 10 s", Entity: watchfloor.Entity{Site: "north-hub", Host: "203.0.113.66"},
		StartedAt: time.Now(), UpdatedAt: time.Now()}
	b.Eval(`window.seen77 = 0; new MutationObserver(() => { if (!seen77 && document.querySelector('[data-id="77"]')) seen77 = Date.now(); }).observe(document.body, { subtree: true, childList: true }); "ok"`)
	start := time.Now()
	c.PublishAlert(n)
	b.WaitDOM(5*time.Second, `class="al critical firing newest" data-id="77"`)
	seen, _ := strconv.ParseInt(b.Eval(`String(seen77)`), 10, 64)
	shown := time.UnixMilli(seen).Sub(start)
	t.Logf("new alert: published → in the DOM in %v (polled: %v)", shown, time.Since(start))
	if seen == 0 || shown > time.Second {
		t.Errorf("the new alert took %v to show", shown)
	}

	// One panel per screen: only its sections are shown, on the whole screen.
	for _, panel := range []string{"alerts", "map", "posture", "health", "traffic", "events"} {
		b.Eval(fmt.Sprintf(`setTimeout(() => { location.href = %q }, 0); "ok"`, srv.URL+"/wall?panel="+panel))
		time.Sleep(200 * time.Millisecond)
		b.WaitDOM(20*time.Second, `data-panel="`+panel+`"`, `class="conn live"`)
		time.Sleep(300 * time.Millisecond) // a frame or two
		shownSecs := b.Eval(`[...document.querySelectorAll(".col > section")].filter(s => s.offsetParent && s.getClientRects().length).map(s => s.dataset.p).join(",")`)
		for _, p := range strings.Split(shownSecs, ",") {
			if p != panel {
				t.Errorf("panel=%s shows a %q section (%s)", panel, p, shownSecs)
			}
		}
		if shownSecs == "" {
			t.Errorf("panel=%s shows nothing", panel)
		}
		if w := b.Eval(`Math.round([...document.querySelectorAll(".col > section")].filter(s => s.offsetParent).reduce((w, s) => w + s.getBoundingClientRect().width, 0))`); panel == "alerts" && w < "1800" {
			t.Errorf("panel=alerts is %s px wide", w)
		}
		if panel == "alerts" || panel == "map" || panel == "posture" {
			b.Screenshot(filepath.Join(screenshotDir(t), "wall-panel-"+panel+"-1920x1080.png"))
		}
	}
	// Rotation goes through the panels.
	b.Eval(fmt.Sprintf(`setTimeout(() => { location.href = %q }, 0); "ok"`, srv.URL+"/wall?rotate=2s"))
	time.Sleep(200 * time.Millisecond)
	b.WaitDOM(20*time.Second, `data-panel="map"`, `class="conn live"`)
	b.WaitDOM(5*time.Second, `data-panel="alerts"`, `2/6 alerts`)
}

// The stale banner: when the server stops, the wall says DATA IS STALE and "reconnecting in
// N s" well within StaleAfter, backs off, and when a server answers again it takes a fresh
// snapshot and is live.
func TestWallStaleAndReconnectInChromium(t *testing.T) {
	chromium := testpeer.Program(t, "chromium")
	now := time.Now()
	const staleAfter = 3 * time.Second
	start := func(addr, site string) (*Console, context.CancelFunc, chan error) {
		c, err := New(Config{Listen: addr, StaleAfter: staleAfter}, Deps{Store: wallStore(now), Token: testToken, Site: site})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Listen(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx) }()
		return c, cancel, done
	}
	c, stop, done := start("127.0.0.1:0", "north-hub")
	addr := c.Addr().String()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	b := browser.Start(ctx, t, chromium, "http://"+addr+"/wall?token="+testToken)
	b.WaitDOM(20*time.Second, `class="conn live"`, `id="site">north-hub<`, `class="stale-banner" id="stale-banner" role="alert" hidden=""`)

	// The server stops: its Run returns, the socket closes.
	stopped := time.Now()
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	b.WaitDOM(staleAfter, `class="stale-banner" id="stale-banner" role="alert">`, "DATA IS STALE", "reconnecting")
	t.Logf("stale banner %v after the server stopped", time.Since(stopped))
	if txt := b.Eval(`document.getElementById("conn-text").textContent`); !strings.HasPrefix(txt, "reconnecting") {
		t.Errorf("connection badge %q", txt)
	}
	if cls := b.Eval("document.body.className"); !strings.Contains(cls, "stale") {
		t.Errorf("body %q", cls)
	}
	b.Screenshot(filepath.Join(screenshotDir(t), "wall-stale-1920x1080.png"))

	// A server comes back on the same address, with a new site name: the wall reconnects by
	// itself, takes its snapshot, and the banner goes.
	c2, stop2, done2 := start(addr, "north-hub-b")
	defer func() { stop2(); <-done2 }()
	back := time.Now()
	b.WaitDOM(40*time.Second, `class="conn live"`, `id="site">north-hub-b<`, `class="stale-banner" id="stale-banner" role="alert" hidden=""`)
	t.Logf("reconnected %v after the server came back", time.Since(back))
	if n := c2.hub.clientCount(); n != 1 {
		t.Errorf("%d clients after the reconnect", n)
	}
}

// A burst of 1,000 updates a second for 3 s (device polls, events, alerts, stats): the page
// keeps answering (a 20 ms timer in it is never late by more than 100 ms at the 99th
// percentile), renders at most once per frame, and the 99th percentile of the latency from a
// message's send time to the frame that shows it stays under 250 ms.
func TestWallBurstInChromium(t *testing.T) {
	chromium := testpeer.Program(t, "chromium")
	now := time.Now()
	store := wallStore(now)
	c, err := New(Config{SendQueue: 4096}, Deps{Store: store, Token: testToken, Site: "north-hub", Alerts: newFakeAlerts()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()
	defer c.hub.close(time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	b := browser.Start(ctx, t, chromium, srv.URL+"/wall?token="+testToken)
	b.WaitDOM(20*time.Second, `class="conn live"`, `data-node="core-1"`)
	eventually(t, 20*time.Second, "the page to connect", func() bool { return c.hub.clientCount() == 1 })
	b.Eval(`window.gaps = []; window.lastTick = performance.now(); setInterval(() => { const t = performance.now(); gaps.push(t - lastTick - 20); lastTick = t; }, 20);
		wfWall.latencies.length = 0; window.frames0 = wfWall.frames; window.msgs0 = wfWall.messages; "ok"`)

	const rate, secs = 1000, 3
	devices := store.devices
	begin := time.Now()
	for i := range rate * secs {
		switch i % 10 {
		case 0, 1, 2, 3, 4: // device polls with new rates
			d := cloneDevice(devices[i%len(devices)])
			d.LastPoll = time.Now()
			for k := range d.Interfaces {
				if d.Interfaces[k].OperStatus == watchfloor.IfUp {
					d.Interfaces[k].Utilization = float64((i + k) % 100)
				}
			}
			c.PublishDevice(d)
		case 5, 6, 7:
			c.PublishEvents([]watchfloor.Event{{ID: uint64(1000 + i), Time: time.Now(), Kind: "interface.down", Severity: watchfloor.Severity(i % 5),
				Device: devices[i%len(devices)].Name, Source: "burst", Message: fmt.Sprintf("burst event %d", i)}})
		case 8:
			st := watchfloor.AlertFiring
			if i%20 == 8 {
				st = watchfloor.AlertResolved
			}
			c.PublishAlert(watchfloor.Alert{ID: uint64(1 + i%50), Rule: "burst", Severity: watchfloor.Severity(i % 5), Category: watchfloor.CategorySecurity,
				State: st, Title: fmt.Sprintf("burst alert %d", i), StartedAt: now, UpdatedAt: time.Now()})
		case 9:
			c.PublishStats(Stats{Time: time.Now(), RecordsIn: uint64(i * 100)})
		}
		if i%10 == 9 { // 10 every 10 ms
			time.Sleep(time.Until(begin.Add(time.Duration(i+1) * time.Second / rate)))
		}
	}
	sent := time.Since(begin)
	b.WaitDOM(10*time.Second, "burst event 2997")
	var r struct {
		Gaps, Latencies  []float64
		Frames, Messages int
	}
	if err := json.Unmarshal([]byte(b.Eval(`JSON.stringify({gaps, latencies: wfWall.latencies, frames: wfWall.frames - frames0, messages: wfWall.messages - msgs0})`)), &r); err != nil {
		t.Fatal(err)
	}
	pct := func(v []float64, p float64) float64 {
		if len(v) == 0 {
			return 0
		}
		v = slices.Clone(v)
		slices.Sort(v)
		return v[min(len(v)-1, int(float64(len(v))*p))]
	}
	t.Logf("%d updates in %v; the page: %d messages, %d frames; timer lateness p50 %.0f ms p99 %.0f ms max %.0f ms; latency send→frame p50 %.0f ms p99 %.0f ms max %.0f ms (%d frames measured)",
		rate*secs, sent.Round(time.Millisecond), r.Messages, r.Frames, pct(r.Gaps, .5), pct(r.Gaps, .99), pct(r.Gaps, 1), pct(r.Latencies, .5), pct(r.Latencies, .99), pct(r.Latencies, 1), len(r.Latencies))
	t.Logf("render cost by part (ms): %s", b.Eval(`JSON.stringify(Object.fromEntries(Object.entries(wfWall.cost).map(([k, v]) => [k, Math.round(v)]))) + " calls " + JSON.stringify(wfWall.calls)`))
	// The goals are 100 ms and 250 ms; on a machine busier than its CPUs (other tests,
	// shared CI) the browser is not scheduled on time, and the limits double.
	timerMax, latencyMax := 100.0, 250.0
	if load := loadPerCPU(); load > 1 {
		timerMax, latencyMax = 200, 500
		t.Logf("load %.1f per CPU: limits %v ms (timer) and %v ms (latency)", load, timerMax, latencyMax)
	}
	if r.Messages < rate*secs*9/10 {
		t.Errorf("the page got %d of %d messages", r.Messages, rate*secs)
	}
	if r.Frames >= r.Messages/2 {
		t.Errorf("%d frames for %d messages: rendering is not coalesced", r.Frames, r.Messages)
	}
	switch {
	case raceDetector:
		t.Log("under the race detector: the timing goals are checked in the plain run")
	default:
		if p := pct(r.Gaps, .99); p > timerMax {
			t.Errorf("the page's timer was late by %.0f ms (p99)", p)
		}
		if p := pct(r.Latencies, .99); len(r.Latencies) < 20 || p > latencyMax {
			t.Errorf("latency p99 %.0f ms over %d frames", p, len(r.Latencies))
		}
	}
	if n := c.hub.clientCount(); n != 1 {
		t.Errorf("%d clients after the burst (dropped as too slow?)", n)
	}
}

// loadPerCPU is the 1-minute load average per CPU (0 when unknown).
func loadPerCPU() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	l, _ := strconv.ParseFloat(f[0], 64)
	return l / float64(runtime.NumCPU())
}

// TestWallLook screenshots a running wall (WATCHFLOOR_WALL_URL, e.g. the lab's URL with its
// token) after WATCHFLOOR_WALL_WAIT (default 10s), at 1920×1080 and 3840×2160, into
// WATCHFLOOR_SCREENSHOT_DIR: a tool to look at a real wall, skipped without the URL.
func TestWallLook(t *testing.T) {
	url := os.Getenv("WATCHFLOOR_WALL_URL")
	if url == "" {
		t.Skip("WATCHFLOOR_WALL_URL not set")
	}
	chromium := testpeer.Program(t, "chromium")
	wait := 10 * time.Second
	if w, err := time.ParseDuration(os.Getenv("WATCHFLOOR_WALL_WAIT")); err == nil {
		wait = w
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait+2*time.Minute)
	defer cancel()
	b := browser.Start(ctx, t, chromium, url)
	b.WaitDOM(30*time.Second, `class="conn live"`)
	time.Sleep(wait)
	dir := screenshotDir(t)
	b.Screenshot(filepath.Join(dir, "wall-look-1920x1080.png"))
	t.Logf("rows cut: %q; rows outside: %q", b.Eval(wallCut), b.Eval(wallOutside))
	b.Viewport(3840, 2160)
	time.Sleep(1500 * time.Millisecond)
	b.Screenshot(filepath.Join(dir, "wall-look-3840x2160.png"))
	t.Logf("at 4K: rows cut: %q; rows outside: %q", b.Eval(wallCut), b.Eval(wallOutside))
}

// wallCut is a script that lists the rows of the wall's lists that show cut by their list's
// bottom edge: part of the row in sight, part not (empty when none is).
const wallCut = `[...document.querySelectorAll("#fl-src, #fl-dst, #fl-port, #links, #events")].flatMap(ol => {
	const box = ol.getBoundingClientRect();
	return [...ol.children].filter(li => {
		const r = li.getBoundingClientRect();
		return r.height > 0 && r.left < box.right - 0.5 && r.right > box.left + 0.5 && r.top < box.bottom - 0.5 && r.bottom > box.bottom + 0.5;
	}).map(li => ol.id + ":" + (li.dataset.key || li.dataset.id || li.dataset.link || li.textContent.slice(0, 20)));
}).join(",")`

// wallOutside is a script that lists the rows of the wall's lists not hidden but outside
// their list's box (the rows the CSS keeps out of sight until the page measures again).
const wallOutside = `[...document.querySelectorAll("#fl-src, #fl-dst, #fl-port, #links, #events")].flatMap(ol => {
	const box = ol.getBoundingClientRect();
	return [...ol.children].filter(li => {
		const r = li.getBoundingClientRect();
		return !li.hidden && r.height > 0 && (r.bottom > box.bottom + 0.5 || r.right > box.right + 0.5 || r.left < box.left - 0.5);
	}).map(li => ol.id + ":" + (li.dataset.key || li.dataset.id || li.dataset.link || li.textContent.slice(0, 20)));
}).join(",")`

// Collectors that work in bursts keep a steady rate on the wall: stats every 2 s, an SNMP
// poller adding its varbinds every 5 s (the lab) or 30 s (the default), flows at every
// stats, a trap receiver that hears nothing. Rates span each one's cadence; a collector is
// idle (rates 0) only after 3 of its cadences of silence; a counter that goes back starts
// the history again.
func TestCollectorRatesSpanCadence(t *testing.T) {
	const tick = 2 * time.Second
	type step struct {
		at      time.Duration // since the first stats
		records uint64
	}
	// burst returns the records counter at each stats of a collector that adds per every
	// `every`, and stops adding after stop (0: never).
	burst := func(every, stop time.Duration, per uint64) func(time.Duration) uint64 {
		return func(at time.Duration) uint64 {
			if stop > 0 && at > stop {
				at = stop
			}
			return uint64(at/every) * per
		}
	}
	for _, tc := range []struct {
		name          string
		records       func(time.Duration) uint64
		run           time.Duration
		wantRate      float64 // per second, once rated (±15 %)
		idleFrom      time.Duration
		idleNotBefore time.Duration // 0 with idleFrom 0: never idle once rated
	}{
		{name: "snmp every 5 s (lab)", records: burst(5*time.Second, 0, 100), run: 2 * time.Minute, wantRate: 20},
		{name: "snmp every 30 s (default)", records: burst(30*time.Second, 0, 3000), run: 5 * time.Minute, wantRate: 100},
		{name: "flows at every stats", records: burst(tick, 0, 5000), run: time.Minute, wantRate: 2500},
		{name: "snmp every 5 s, stops at 60 s", records: burst(5*time.Second, 60*time.Second, 100), run: 2 * time.Minute, wantRate: 20,
			idleNotBefore: 60*time.Second + 3*5*time.Second, idleFrom: 60*time.Second + 3*6*time.Second + tick},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sr counterSeries
			t0 := time.Date(2026, 5, 4, 12, 0, 1, 0, time.UTC)
			var steps []step
			for at := time.Duration(0); at <= tc.run; at += tick {
				steps = append(steps, step{at, tc.records(at)})
			}
			rated := false
			for i, s := range steps {
				r, interval := sr.add(t0.Add(s.at), [3]uint64{s.records, 0, 0})
				if i == 0 {
					if interval != 0 || r[0] != 0 {
						t.Fatalf("first stats: rate %v over %v s, want none", r[0], interval)
					}
					continue
				}
				if interval <= 0 {
					t.Fatalf("at %v: no interval", s.at)
				}
				idle := r[0] == 0
				switch {
				case tc.idleFrom > 0 && s.at >= tc.idleFrom:
					if !idle {
						t.Errorf("at %v: rate %.1f, want idle (silent since %v)", s.at, r[0], tc.idleNotBefore-15*time.Second)
					}
				case idle && (rated || s.at > 30*time.Second):
					t.Errorf("at %v: idle (interval %.0f s), want a rate of %v", s.at, interval, tc.wantRate)
				case !idle:
					rated = true
					// Once the history spans a cadence, the rate is within 15 % of the truth.
					if s.at >= 70*time.Second && (r[0] < tc.wantRate*0.85 || r[0] > tc.wantRate*1.15) {
						t.Errorf("at %v: rate %.1f over %.0f s, want %v ±15 %%", s.at, r[0], interval, tc.wantRate)
					}
				}
			}
			if !rated {
				t.Error("never rated")
			}
			if len(sr.samples) > maxRateSamples || sr.samples[len(sr.samples)-1].t.Sub(sr.samples[0].t) > rateHistory {
				t.Errorf("history of %d samples over %v", len(sr.samples), sr.samples[len(sr.samples)-1].t.Sub(sr.samples[0].t))
			}
		})
	}

	t.Run("never changes", func(t *testing.T) {
		var sr counterSeries
		t0 := time.Now()
		for i := range 20 {
			r, interval := sr.add(t0.Add(time.Duration(i)*tick), [3]uint64{7, 0, 0})
			if r != ([3]float64{}) || (i > 0 && interval <= 0) {
				t.Fatalf("stats %d: %v over %v s", i, r, interval)
			}
		}
	})
	t.Run("counter back: starts again", func(t *testing.T) {
		var sr counterSeries
		t0 := time.Now()
		sr.add(t0, [3]uint64{100, 5, 1})
		sr.add(t0.Add(tick), [3]uint64{200, 6, 1})
		r, interval := sr.add(t0.Add(2*tick), [3]uint64{10, 0, 0})
		if interval != 0 || r != ([3]float64{}) {
			t.Fatalf("after a restart: %v over %v s, want none", r, interval)
		}
		r, interval = sr.add(t0.Add(3*tick), [3]uint64{30, 2, 0})
		if interval != 2 || r != ([3]float64{10, 1, 0}) {
			t.Fatalf("after a restart: %v over %v s, want [10 1 0] over 2 s", r, interval)
		}
	})
	t.Run("errors alone keep a collector busy", func(t *testing.T) {
		// Every device down: no varbinds, a failed poll per device every 5 s.
		var sr counterSeries
		t0 := time.Now()
		for at := time.Duration(0); at <= time.Minute; at += tick {
			r, _ := sr.add(t0.Add(at), [3]uint64{1000, 0, uint64(at/(5*time.Second)) * 3})
			if at >= 10*time.Second && (r[2] < 0.4 || r[0] != 0) {
				t.Fatalf("at %v: rates %v, want errors ≈ 0.6/s and no records", at, r)
			}
		}
	})
}

// The hub's stats carry those rates, the collectors that went away are forgotten, and the
// posture gauges follow the score the hub computes.
func TestHubStatsRatesAndPostureGauges(t *testing.T) {
	reg := prometheus.NewRegistry()
	c, err := New(Config{}, Deps{Store: wallStore(time.Now()), Token: testToken, Site: "north-hub", Registerer: reg, Gatherer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer c.hub.close(time.Second)
	if v := metricValue(t, reg, "watchfloor_console_posture_score", nil); !math.IsNaN(v) {
		t.Errorf("posture score %v before any evaluation, want NaN", v)
	}
	t0 := time.Now()
	for i := range 16 { // 30 s of stats every 2 s; SNMP every 5 s, ingest in 5 s batches
		at := time.Duration(i) * 2 * time.Second
		c.PublishStats(Stats{Time: t0.Add(at), RecordsIn: uint64(at/(5*time.Second)) * 50, Dropped: 4, Collectors: []CollectorStats{
			{Name: "snmp", Unit: "varbinds", Records: uint64(at/(5*time.Second)) * 100},
			{Name: "ingest", Unit: "records", Records: uint64(at/(5*time.Second)) * 50},
			{Name: "gone", Records: uint64(i)},
		}})
		c.hub.mu.Lock()
		s := c.hub.stats
		c.hub.mu.Unlock()
		if at >= 6*time.Second && (s.RecordsPerS == 0 || s.Collectors[0].RecordsPerS == 0 || s.Collectors[1].RecordsPerS == 0) {
			t.Errorf("at %v: records %.1f/s, snmp %.1f/s, ingest %.1f/s: a busy collector shows idle", at, s.RecordsPerS, s.Collectors[0].RecordsPerS, s.Collectors[1].RecordsPerS)
		}
		if s.DroppedPerS != 0 {
			t.Errorf("at %v: %v dropped/s with a counter that never moved", at, s.DroppedPerS)
		}
	}
	c.PublishStats(Stats{Time: t0.Add(32 * time.Second), Collectors: []CollectorStats{{Name: "snmp", Records: 600}}})
	c.hub.mu.Lock()
	_, gone := c.hub.series["gone"]
	_, snmp := c.hub.series["snmp"]
	score := c.hub.posture.last
	c.hub.mu.Unlock()
	if gone || !snmp {
		t.Errorf("series kept: gone %v, snmp %v", gone, snmp)
	}
	// wallStore has a device down: the score is below 100, and the gauges say what the hub said.
	for name, want := range map[string]float64{
		"watchfloor_console_posture_score":          score.Score,
		"watchfloor_console_posture_alert_penalty":  score.AlertPenalty,
		"watchfloor_console_posture_device_penalty": score.DevicePenalty,
		"watchfloor_console_posture_blind_penalty":  score.BlindPenalty,
	} {
		if v := metricValue(t, reg, name, nil); v != want {
			t.Errorf("%s = %v, want %v", name, v, want)
		}
	}
	if score.Score >= 100 || score.DevicePenalty == 0 {
		t.Errorf("posture %+v: want the down device counted", score)
	}
}

// Top talkers, busiest links and events show whole rows only, at any screen size, and stay so
// when their room changes between two measures (here the collector health panel grows).
func TestWallWholeRowsInChromium(t *testing.T) {
	chromium := testpeer.Program(t, "chromium")
	now := time.Now()
	fa := newFakeAlerts(testAlerts(now)...)
	c, err := New(Config{}, Deps{Store: wallStore(now), Token: testToken, Site: "north-hub", Alerts: fa})
	if err != nil {
		t.Fatal(err)
	}
	before, after := wallCollectors(now)
	c.PublishStats(before)
	c.PublishStats(after)
	c.PublishFlows(wallRollup(now.Truncate(time.Minute).Add(-time.Minute)))
	evs := make([]watchfloor.Event, 40)
	for i := range evs {
		evs[i] = watchfloor.Event{ID: uint64(500 + i), Time: now, Kind: "interface.down", Severity: watchfloor.SeverityMedium,
			Device: "access-1", Source: "test", Message: fmt.Sprintf("event %d", i)}
	}
	c.PublishEvents(evs)
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()
	defer c.hub.close(time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	b := browser.Start(ctx, t, chromium, srv.URL+"/wall?token="+testToken)
	b.WaitDOM(20*time.Second, `class="conn live"`, `data-key="10.20.4.17"`, `data-collector="flows"`)
	// watchCut samples the lists at every frame for ms and returns the rows seen cut.
	watchCut := func(ms int) string {
		return b.Eval(fmt.Sprintf(`new Promise(done => { const seen = new Set(), end = performance.now() + %d;
			const look = () => { for (const r of (%s).split(",").filter(Boolean)) seen.add(r); if (performance.now() < end) requestAnimationFrame(look); else done([...seen].join(",")); };
			requestAnimationFrame(look); })`, ms, wallCut))
	}
	shown := func(id string) int {
		n, _ := strconv.Atoi(b.Eval(fmt.Sprintf(`[...document.querySelectorAll("#%s li")].filter(e => !e.hidden && e.getClientRects().length).length`, id)))
		return n
	}
	collectors := after.Collectors
	for i, size := range [][2]int{{1920, 1080}, {3840, 2160}, {1366, 768}, {1920, 820}, {1280, 720}} {
		b.Viewport(size[0], size[1])
		if cut := watchCut(800); cut != "" {
			t.Errorf("%dx%d: rows cut in half while the page settles: %s", size[0], size[1], cut)
		}
		if out := b.Eval(wallOutside); out != "" {
			t.Errorf("%dx%d: rows not hidden outside their list: %s", size[0], size[1], out)
		}
		for _, id := range []string{"fl-src", "fl-dst", "fl-port", "links", "events"} {
			if n := shown(id); n < 1 {
				t.Errorf("%dx%d: #%s shows no row", size[0], size[1], id)
			}
		}
		t.Logf("%dx%d: rows shown: sources %d, destinations %d, services %d, links %d, events %d", size[0], size[1],
			shown("fl-src"), shown("fl-dst"), shown("fl-port"), shown("links"), shown("events"))
		b.Screenshot(filepath.Join(screenshotDir(t), fmt.Sprintf("wall-rows-%dx%d.png", size[0], size[1])))

		// The health panel grows by a collector: the talkers lose room, with no new flows.
		collectors = append(slices.Clone(collectors), CollectorStats{Name: fmt.Sprintf("extra-%d", i), Unit: "records", Records: uint64(i)})
		c.PublishStats(Stats{Time: now.Add(time.Duration(i+1) * 2 * time.Second), RecordsIn: after.RecordsIn, Collectors: collectors})
		b.WaitDOM(5*time.Second, fmt.Sprintf(`data-collector="extra-%d"`, i))
		if cut := watchCut(600); cut != "" {
			t.Errorf("%dx%d, health grown: rows cut in half: %s", size[0], size[1], cut)
		}
		if out := b.Eval(wallOutside); out != "" {
			t.Errorf("%dx%d, health grown: rows not hidden outside their list after 600 ms: %s", size[0], size[1], out)
		}
	}
}

// The site map with many LLDP neighbours that are not monitored (16 under 10 devices, as the
// lab has): their names are readable — chips that overlap neither each other nor the devices,
// each name within its chip, every chip on the map — at 1080p and 4K; a neighbour cut off (its
// only link on a down device) says ✕ in a red, dashed chip.
func TestWallMapNeighboursInChromium(t *testing.T) {
	chromium := testpeer.Program(t, "chromium")
	now := time.Now()
	store := wallStore(now)
	names := []string{"ap-1A-01", "esx-01", "ap-2A-01", "isp-a-pe1", "ap-2B-01", "dmz-sw1", "esx-02", "ap-1C-01",
		"ap-2C-01", "isp-b-pe1", "esx-03", "ap-1B-01", "printer-3rd-floor-west", "cam-lobby", "ups-rack2", "ap-cut-01"}
	hosts := []string{"access-1", "access-3", "access-4", "core-1", "core-2", "dist-1", "dist-2", "fw-edge"}
	for i, n := range names {
		host := hosts[i%len(hosts)]
		if n == "ap-cut-01" {
			host = "access-2" // down: every link to it is down
		}
		for k := range store.devices {
			d := &store.devices[k]
			if d.Name == host {
				port := d.Interfaces[len(d.Interfaces)-1-i%4].Name
				d.Neighbors = append(d.Neighbors, watchfloor.Neighbor{LocalPort: port, RemoteSysName: n, RemotePort: "eth0"})
			}
		}
	}
	c, err := New(Config{}, Deps{Store: store, Token: testToken, Site: "north-hub"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()
	defer c.hub.close(time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	b := browser.Start(ctx, t, chromium, srv.URL+"/wall?token="+testToken)
	b.WaitDOM(20*time.Second, `class="conn live"`, `data-node="ap-cut-01"`, `data-node="printer-3rd-floor-west"`)
	// overlaps lists chips that overlap another chip or a device box, names wider than their
	// chip, and chips off the map.
	const overlaps = `(() => {
		const svg = document.getElementById("map-svg").getBoundingClientRect();
		const box = (g) => g.querySelector("rect").getBoundingClientRect();
		const chips = [...document.querySelectorAll("#map-svg .node.external")], devs = [...document.querySelectorAll("#map-svg .node:not(.external)")];
		const hit = (a, b) => a.left < b.right - 0.5 && b.left < a.right - 0.5 && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5;
		const bad = [];
		chips.forEach((g, i) => {
			const r = box(g), name = g.dataset.node, tx = g.querySelector("text");
			if (r.left < svg.left - 0.5 || r.right > svg.right + 0.5 || r.top < svg.top - 0.5 || r.bottom > svg.bottom + 0.5) bad.push(name + " off the map");
			if (tx && g.classList.contains("chip") && tx.getBBox().width > r.width) bad.push(name + " name wider than its chip");
			for (const o of chips.slice(i + 1)) if (hit(r, box(o))) bad.push(name + " on " + o.dataset.node);
			for (const d of devs) if (hit(r, box(d))) bad.push(name + " on device " + d.dataset.node);
		});
		return bad.join("; ");
	})()`
	for _, size := range [][2]int{{1920, 1080}, {3840, 2160}} {
		b.Viewport(size[0], size[1])
		time.Sleep(700 * time.Millisecond)
		if n := b.Eval(`document.querySelectorAll("#map-svg .node.external").length`); n != "16" {
			t.Errorf("%dx%d: %s neighbours on the map, want 16", size[0], size[1], n)
		}
		if n := b.Eval(`document.querySelectorAll("#map-svg .node.external.chip").length`); n != "16" {
			t.Errorf("%dx%d: %s neighbours named in chips, want 16", size[0], size[1], n)
		}
		if bad := b.Eval(overlaps); bad != "" {
			t.Errorf("%dx%d: %s", size[0], size[1], bad)
		}
		if got := b.Eval(`(g => g ? g.dataset.state + " " + g.querySelector("text").textContent + " " + (getComputedStyle(g.querySelector("rect")).strokeDasharray !== "none") : "(none)")(document.querySelector('#map-svg [data-node="ap-cut-01"]'))`); got != "cut ✕ ap-cut-01 true" {
			t.Errorf("%dx%d: the cut-off neighbour: %q", size[0], size[1], got)
		}
		if got := b.Eval(`document.querySelector('#map-svg [data-node="esx-01"]').dataset.state`); got != "external" {
			t.Errorf("%dx%d: a neighbour with its link up: %q", size[0], size[1], got)
		}
		b.Screenshot(filepath.Join(screenshotDir(t), fmt.Sprintf("wall-map-neighbours-%dx%d.png", size[0], size[1])))
	}
}
