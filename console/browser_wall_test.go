package console

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

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
	if p := pct(r.Gaps, .99); p > timerMax {
		t.Errorf("the page's timer was late by %.0f ms (p99)", p)
	}
	if p := pct(r.Latencies, .99); len(r.Latencies) < 20 || p > latencyMax {
		t.Errorf("latency p99 %.0f ms over %d frames", p, len(r.Latencies))
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
