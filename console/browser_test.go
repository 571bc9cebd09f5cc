package console

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
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

// wallStore is a small site as the wall would show it: a core, distribution, access and a
// firewall, one device down, a few ports down, traffic of all sizes, recent events.
func wallStore(now time.Time) *fakeStore {
	dev := func(name, role string, status watchfloor.DeviceStatus, ports int, load float64) watchfloor.Device {
		d := testDevice(name, role, status, ports)
		d.Site, d.LastPoll, d.SysName = "north-hub", now, name+".north.example"
		for i := range d.Interfaces {
			it := &d.Interfaces[i]
			if it.OperStatus != watchfloor.IfUp {
				it.InBps, it.OutBps, it.Utilization = 0, 0, 0
				continue
			}
			it.SpeedBps = 10e9
			u := load * float64((i*37)%100) / 100
			if i == 0 {
				u = min(97, load*1.6)
			}
			it.Utilization = u
			it.InBps, it.OutBps = u/100*float64(it.SpeedBps), u/100*float64(it.SpeedBps)*0.6
		}
		return d
	}
	core1 := dev("core-1", "core", watchfloor.DeviceUp, 24, 55)
	core1.Neighbors = []watchfloor.Neighbor{
		{LocalPort: "Gi0/1", RemoteSysName: "dist-1.north.example", RemotePort: "Gi0/1"},
		{LocalPort: "Gi0/2", RemoteSysName: "dist-2.north.example", RemotePort: "Gi0/1"},
	}
	access2 := dev("access-2", "access", watchfloor.DeviceDown, 48, 0)
	access2.LastChange = now.Add(-7 * time.Minute)
	core2 := dev("core-2", "core", watchfloor.DeviceUp, 24, 35)
	core2.CPUPercent = ptr(82.0)
	fw := dev("fw-edge", "firewall", watchfloor.DeviceUp, 8, 40)
	fw.CPUPercent, fw.MemPercent = ptr(91.0), ptr(77.0)
	devices := []watchfloor.Device{
		core1, core2,
		dev("dist-1", "distribution", watchfloor.DeviceUp, 16, 30),
		dev("dist-2", "distribution", watchfloor.DeviceUp, 16, 20),
		dev("access-1", "access", watchfloor.DeviceUp, 48, 12),
		access2,
		dev("access-3", "access", watchfloor.DeviceUp, 48, 8),
		dev("access-4", "access", watchfloor.DeviceUp, 48, 25),
		dev("access-5", "access", watchfloor.DeviceUnknown, 0, 0),
		fw,
	}
	var events []watchfloor.Event
	msgs := []struct {
		sev       watchfloor.Severity
		dev, kind string
		msg       string
	}{
		{watchfloor.SeverityInfo, "core-1", "device.reachable", "core-1 answers SNMP again"},
		{watchfloor.SeverityLow, "access-4", "trap.authentication_failure", "SNMP authentication failure from 192.0.2.44"},
		{watchfloor.SeverityMedium, "dist-2", "interface.down", "Gi0/14 (uplink to access-4) went down"},
		{watchfloor.SeverityMedium, "dist-2", "interface.up", "Gi0/14 (uplink to access-4) is up"},
		{watchfloor.SeverityHigh, "access-2", "device.unreachable", "access-2 stopped answering (3 polls)"},
	}
	for i, m := range msgs {
		events = append(events, watchfloor.Event{
			ID: uint64(i + 1), Time: now.Add(-time.Duration(len(msgs)-i) * 3 * time.Minute), Kind: watchfloor.EventKind(m.kind),
			Severity: m.sev, Device: m.dev, Source: "snmp.poll", Message: m.msg,
		})
	}
	return &fakeStore{devices: devices, events: events}
}

// The wall in a real headless Chromium: it takes the token from the URL, connects the
// stream, renders the snapshot as device tiles, and shows an event and a device change that
// arrive as deltas after it connected.
func TestWallInChromium(t *testing.T) {
	chromium := testpeer.Program(t, "chromium")
	now := time.Now()
	reg := prometheus.NewRegistry()
	c, err := New(Config{}, Deps{Store: wallStore(now), Token: testToken, Site: "north-hub", Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	c.PublishStats(Stats{Time: now.Add(-5 * time.Second), RecordsIn: 1_000_000})
	c.PublishStats(Stats{Time: now, RecordsIn: 1_212_500, Dropped: 0, QueueDepth: 37, QueueCapacity: 4096})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()
	defer c.hub.close(time.Second)

	b := browser.Start(ctx, t, chromium, srv.URL+"/wall?token="+testToken)
	// Once the page is connected, send what it can only learn from the stream.
	eventually(t, 20*time.Second, "the page to connect", func() bool { return c.hub.clientCount() == 1 })
	c.PublishEvents([]watchfloor.Event{{
		ID: 100, Time: time.Now(), Kind: "flow.port_scan", Severity: watchfloor.SeverityCritical,
		Device: "fw-edge", Source: "flow", Message: "Port scan from 203.0.113.66: 1,024 ports in 10 s",
	}})
	d, _ := c.hub.device("dist-2")
	d.Status, d.PollError, d.LastChange = watchfloor.DeviceDown, "request timeout after 2 retries", time.Now()
	c.PublishDevice(d)
	b.WaitDOM(20*time.Second,
		`data-device="core-1"`, `data-device="access-2"`, `data-device="fw-edge"`, // tiles from the snapshot
		`class="tile down" data-device="dist-2"`,                          // a device delta
		"Port scan from 203.0.113.66",                                     // an event delta
		"access-2 stopped answering",                                      // an event of the snapshot
		`id="site">north-hub<`, `class="conn live"`, `id="k-rate">42.5k<`, // header
		`<p class="empty" id="fl-empty">No flow data`, `id="fl-lists" hidden=""`, // no flows yet, said so
	)
	if href := b.Eval("location.href"); strings.Contains(href, "token") {
		t.Errorf("the token stayed in the URL: %s", href)
	}
	if tok := b.Eval(`sessionStorage.getItem("watchfloor.token")`); tok != testToken {
		t.Errorf("sessionStorage token %q", tok)
	}
	b.Screenshot(filepath.Join(screenshotDir(t), "wall-1920x1080.png"))
}

// A large site still fits one 1920×1080 screen: the wall switches to a denser layout.
func TestWallInChromiumLargeSite(t *testing.T) {
	chromium := testpeer.Program(t, "chromium")
	now := time.Now()
	store := &fakeStore{events: wallStore(now).events}
	for i, role := range []string{"core", "distribution", "access", "firewall"} {
		n, ports, prefix := []int{6, 18, 64, 6}[i], []int{24, 24, 48, 8}[i], []string{"core", "dist", "acc", "fw"}[i]
		for j := 1; j <= n; j++ {
			status := watchfloor.DeviceUp
			if role == "access" && j%23 == 0 {
				status = watchfloor.DeviceDown
			}
			d := testDevice(fmt.Sprintf("%s-%02d", prefix, j), role, status, ports)
			d.LastPoll, d.LastChange = now, now.Add(-time.Duration(j)*time.Minute)
			for k := range d.Interfaces { // mostly healthy, some busy, a few ports down
				it := &d.Interfaces[k]
				it.AdminStatus, it.OperStatus = watchfloor.IfUp, watchfloor.IfUp
				it.Utilization = float64((j*13+k*29)%70) + float64(j%3)*10
				it.InBps = it.Utilization / 100 * float64(it.SpeedBps)
				it.OutBps = it.InBps / 2
				if role == "access" && j%5 == 0 && k%17 == 3 {
					it.OperStatus, it.InBps, it.OutBps, it.Utilization = watchfloor.IfDown, 0, 0, 0
				}
			}
			store.devices = append(store.devices, d)
		}
	}
	c, err := New(Config{}, Deps{Store: store, Token: testToken, Site: "metro-core"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()
	defer c.hub.close(time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	b := browser.Start(ctx, t, chromium, srv.URL+"/wall?token="+testToken)
	dom := b.WaitDOM(20*time.Second, `data-device="fw-06"`, `class="conn live"`)
	if got := strings.Count(dom, `<article class="tile`); got != len(store.devices) {
		t.Errorf("%d tiles rendered, want %d", got, len(store.devices))
	}
	if d := b.Eval("document.body.dataset.density"); d == "0" {
		t.Errorf("the wall did not switch to a denser layout for %d devices", len(store.devices))
	}
	// Every tile is on the screen.
	if off := b.Eval(`[...document.querySelectorAll(".tile")].filter(e => e.getBoundingClientRect().bottom > innerHeight).length`); off != "0" {
		t.Errorf("%s tiles below the screen", off)
		t.Log(b.Eval(`(() => { const d = document.getElementById("devices"), m = document.getElementById("map"), c = d.parentElement; return JSON.stringify({dc: d.clientHeight, ds: d.scrollHeight, mh: m.clientHeight, ch: c.clientHeight, cs: c.scrollHeight, dens: document.body.dataset.density, cls: document.body.className, fh: document.querySelector(".floor").clientHeight}); })()`))
	}
	b.Screenshot(filepath.Join(screenshotDir(t), "wall-large-1920x1080.png"))

	// A packet capture takes a line under the devices: the tiles make room, denser if need be.
	before, after := wallCapture(now)
	c.PublishStats(before)
	c.PublishStats(after)
	b.WaitDOM(20*time.Second, `class="cap dropping" data-source="span0"`, `class="cap ok" data-source="lab mirror"`)
	if v := b.Eval(`(() => { const c = document.getElementById("capture").getBoundingClientRect();
		return [c.bottom <= innerHeight, [...document.querySelectorAll(".tile")].filter(e => e.getBoundingClientRect().bottom > c.top + 0.5).length].join(" "); })()`); v != "true 0" {
		t.Errorf("large site with a capture (capture on screen, tiles over it): %s", v)
	}
	b.Screenshot(filepath.Join(screenshotDir(t), "wall-large-capture-1920x1080.png"))
}

// wallRollup is a minute of flows at the wall's site: ten busy sources, destinations and
// services, and the traffic of core-1's uplink. rate gives the bytes that make bps over a minute.
func wallRollup(start time.Time) watchfloor.FlowRollup {
	bytes := func(bps float64) uint64 { return uint64(bps * 60 / 8) }
	r := watchfloor.FlowRollup{Site: "north-hub", Start: start, Step: time.Minute,
		Totals: watchfloor.FlowTotals{Bytes: bytes(9.7e9), Packets: 60 * 910_000, Flows: 48_200, Overflow: 0}}
	srcs := []struct {
		key string
		bps float64
	}{{"10.20.4.17", 612e6}, {"10.20.9.3", 148e6}, {"2001:db8:40:12::8", 97.4e6}, {"10.20.11.52", 41e6}, {"10.20.4.88", 30.2e6},
		{"10.20.7.201", 22.9e6}, {"198.51.100.23", 12.3e6}, {"10.20.2.14", 8.7e6}, {"10.20.3.9", 2.1e6}, {"10.20.5.5", 640e3}}
	for i, x := range srcs {
		dev := "core-1"
		if i%3 == 1 {
			dev = "fw-edge"
		}
		r.Rows = append(r.Rows, watchfloor.FlowRow{By: watchfloor.FlowBySrc, Device: dev, Key: x.key, Bytes: bytes(x.bps), Packets: bytes(x.bps) / 900, Flows: 10})
	}
	dsts := []struct {
		key string
		bps float64
	}{{"203.0.113.10", 488e6}, {"192.0.2.80", 203e6}, {"10.20.1.10", 75.5e6}, {"203.0.113.77", 18e6}, {"10.20.1.53", 4.2e6},
		{"192.0.2.200", 1.9e6}, {"10.20.8.8", 910e3}, {"198.18.0.9", 420e3}, {"10.20.1.11", 97e3}, {"10.20.1.12", 12e3}}
	for _, x := range dsts {
		r.Rows = append(r.Rows, watchfloor.FlowRow{By: watchfloor.FlowByDst, Device: "core-1", Key: x.key, Bytes: bytes(x.bps), Packets: bytes(x.bps) / 900, Flows: 4})
	}
	ports := []struct {
		key string
		bps float64
	}{{"tcp/443", 701e6}, {"udp/443", 96.1e6}, {"tcp/80", 38e6}, {"tcp/22", 12.3e6}, {"udp/53", 3.3e6},
		{"tcp/3389", 1.2e6}, {"udp/123", 88e3}, {"tcp/8443", 51e3}, {"udp/161", 20e3}, {"tcp/9100", 9e3}}
	for _, x := range ports {
		r.Rows = append(r.Rows, watchfloor.FlowRow{By: watchfloor.FlowByPort, Device: "core-1", Key: x.key, Bytes: bytes(x.bps), Packets: bytes(x.bps) / 900, Flows: 30})
	}
	r.Interfaces = []watchfloor.IfTraffic{
		{Device: "core-1", IfIndex: 1, Interface: "Gi0/1", SpeedBps: 10e9, InBytes: bytes(8.61e9), OutBytes: bytes(3.2e9)},
		{Device: "fw-edge", IfIndex: 1, Interface: "Gi0/1", InBytes: bytes(2.75e9), OutBytes: bytes(1.04e9)},
	}
	return r
}

// Flows on the wall, in a real Chromium: a closed minute fills the top talkers with keys,
// human rates and bars, and puts flow rates beside the SNMP rates of the busiest links; then
// the live minute replaces it.
func TestWallFlowsInChromium(t *testing.T) {
	chromium := testpeer.Program(t, "chromium")
	now := time.Now()
	c, err := New(Config{}, Deps{Store: wallStore(now), Token: testToken, Site: "north-hub"})
	if err != nil {
		t.Fatal(err)
	}
	c.PublishStats(Stats{Time: now.Add(-5 * time.Second), RecordsIn: 1_000_000})
	c.PublishStats(Stats{Time: now, RecordsIn: 1_212_500, QueueDepth: 37, QueueCapacity: 4096})
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()
	defer c.hub.close(time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	b := browser.Start(ctx, t, chromium, srv.URL+"/wall?token="+testToken)
	b.WaitDOM(20*time.Second, `class="conn live"`, `id="fl-lists" hidden=""`, "No flow data")
	eventually(t, 20*time.Second, "the page to connect", func() bool { return c.hub.clientCount() == 1 })

	minute := now.Truncate(time.Minute).Add(-time.Minute)
	c.PublishFlows(wallRollup(minute))
	b.WaitDOM(20*time.Second, `data-key="10.20.4.17"`, `data-key="203.0.113.10"`, `data-key="tcp/443"`, `id="fl-lists">`)
	text := func(sel string) string {
		return b.Eval(fmt.Sprintf(`(e => e ? e.textContent : "(none)")(document.querySelector(%q))`, sel))
	}
	for sel, want := range map[string]string{
		`#fl-src li[data-key="10.20.4.17"] .r`:    "612 Mbit/s",
		`#fl-src li[data-key="198.51.100.23"] .r`: "12.3 Mbit/s",
		`#fl-src li[data-key="10.20.9.3"] .k`:     "10.20.9.3 fw-edge",
		`#fl-dst li[data-key="192.0.2.80"] .r`:    "203 Mbit/s",
		`#fl-port li[data-key="tcp/443"] .k`:      "tcp/443 https",
		`#fl-port li[data-key="tcp/22"] .r`:       "12.3 Mbit/s",
		`[data-link="core-1 Gi0/1"] .flow`:        "flows in 8.6 Gbit/s · out 3.2 Gbit/s",
		`#fl-empty[hidden]`:                       "No flow data: no exporter has sent any yet.",
		`#fl-total`:                               "all exporters 9.7 Gbit/s · 910.0k pkt/s · 48.2k flows",
	} {
		if got := text(sel); got != want {
			t.Errorf("%s: %q, want %q", sel, got, want)
		}
	}
	// Bars are proportional to the top value.
	if w := b.Eval(`document.querySelector('#fl-src li[data-key="10.20.9.3"] .fill').style.width`); w != "24.2%" {
		t.Errorf("bar of 148 of 612 Mbit/s: %s", w)
	}
	// Every list shows several whole rows, and the panel is on the screen.
	for _, id := range []string{"fl-src", "fl-dst", "fl-port"} {
		if n, _ := strconv.Atoi(b.Eval(fmt.Sprintf(`[...document.querySelectorAll("#%s li")].filter(e => !e.hidden).length`, id))); n < 6 {
			t.Errorf("#%s shows %d rows", id, n)
		}
	}
	if off := b.Eval(`document.getElementById("talkers").getBoundingClientRect().bottom <= innerHeight`); off != "true" {
		t.Error("the top talkers panel goes below the screen")
	}
	b.Screenshot(filepath.Join(screenshotDir(t), "wall-flows-1920x1080.png"))

	// The live minute, 20 s in, replaces the closed one.
	live := wallRollup(minute.Add(time.Minute))
	live.Rows[0].Bytes *= 2
	c.PublishFlowsLive(live, minute.Add(time.Minute+20*time.Second))
	b.WaitDOM(20*time.Second, "live · last 20 s")
	if got := text(`#fl-src li[data-key="10.20.4.17"] .r`); got != "3.7 Gbit/s" { // twice 612 Mbit/s × 60 s / 20 s
		t.Errorf("live rate %q", got)
	}
}

// screenshotDir is WATCHFLOOR_SCREENSHOT_DIR when set (to look at the wall), else a
// temporary directory.
func screenshotDir(t *testing.T) string {
	if dir := os.Getenv("WATCHFLOOR_SCREENSHOT_DIR"); dir != "" {
		return dir
	}
	return t.TempDir()
}

// Without a token the wall asks for one; a wrong one is refused, the right one connects.
func TestWallAsksForToken(t *testing.T) {
	chromium := testpeer.Program(t, "chromium")
	c, err := New(Config{}, Deps{Store: wallStore(time.Now()), Token: testToken, Site: "north-hub"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()
	defer c.hub.close(time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	b := browser.Start(ctx, t, chromium, srv.URL+"/")
	b.WaitDOM(20*time.Second, `<form class="login" id="login">`) // shown: no hidden attribute
	login := func(token string) {
		b.Eval(fmt.Sprintf(`document.getElementById("login-token").value = %q; document.getElementById("login").requestSubmit(); "ok"`, token))
	}
	login("wrong-token")
	b.WaitDOM(20*time.Second, "The server refused this token", `<form class="login" id="login">`)
	login(testToken)
	b.WaitDOM(20*time.Second, `class="conn live"`, `data-device="core-1"`, `<form class="login" id="login" hidden="">`)
}

// wallCapture is a SPAN port that drops and a lab mirror that is fine, 2 s apart.
func wallCapture(now time.Time) (before, after Stats) {
	before = Stats{Time: now.Add(-2 * time.Second), RecordsIn: 1_000_000, Capture: []CaptureStats{
		{Source: "span0", Seen: 91_196_000, Sampled: 1_424_937, Decoded: 1_424_100, KernelDrops: 1_130, DecodeErrors: 890, SampleRate: 64, Observations: 309_180},
		{Source: "lab mirror", Seen: 500_000, Sampled: 500_000, Decoded: 500_000, SampleRate: 1, Observations: 80_000},
	}}
	after = Stats{Time: now, RecordsIn: 1_085_000, QueueDepth: 37, QueueCapacity: 4096, Capture: []CaptureStats{
		{Source: "span0", Seen: 91_500_000, Sampled: 1_429_687, Decoded: 1_428_840, KernelDrops: 1_200, DecodeErrors: 900, SampleRate: 64, Observations: 310_000},
		{Source: "lab mirror", Seen: 504_800, Sampled: 504_800, Decoded: 504_800, SampleRate: 1, Observations: 80_240},
	}}
	return before, after
}

// Capture health on the wall, in a real Chromium: nothing without a capture source; with
// two, a line each with the rates the hub derived, drops in red and errors in amber, under
// the devices and on the screen with and without flows; gone again when the capture goes.
func TestWallCaptureInChromium(t *testing.T) {
	chromium := testpeer.Program(t, "chromium")
	now := time.Now()
	c, err := New(Config{}, Deps{Store: wallStore(now), Token: testToken, Site: "north-hub"})
	if err != nil {
		t.Fatal(err)
	}
	c.PublishStats(Stats{Time: now.Add(-4 * time.Second), RecordsIn: 900_000})
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()
	defer c.hub.close(time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	b := browser.Start(ctx, t, chromium, srv.URL+"/wall?token="+testToken)
	b.WaitDOM(20*time.Second, `class="conn live"`, `data-device="core-1"`, `id="capture" aria-label="packet capture health" hidden=""`)
	if cls := b.Eval("document.body.className"); strings.Contains(cls, "has-capture") {
		t.Errorf("body %q with no capture source", cls)
	}
	eventually(t, 20*time.Second, "the page to connect", func() bool { return c.hub.clientCount() == 1 })

	before, after := wallCapture(now)
	c.PublishStats(before)
	b.WaitDOM(20*time.Second, `class="cap starting" data-source="span0"`) // no rates yet: said so, not zeros
	c.PublishStats(after)
	b.WaitDOM(20*time.Second, `class="cap dropping" data-source="span0"`, `class="cap ok" data-source="lab mirror"`)
	text := func(sel string) string {
		return b.Eval(fmt.Sprintf(`(e => e ? e.textContent : "(none)")(document.querySelector(%q))`, sel))
	}
	check := func() {
		t.Helper()
		for sel, want := range map[string]string{
			`[data-source="span0"] .state`:                    "dropping",
			`[data-source="span0"] .src`:                      "span0packet capture",
			`[data-source="span0"] .seen`:                     "152kpkt/s seen",
			`[data-source="span0"] .rate`:                     "1:64sampled",
			`[data-source="span0"] .obs`:                      "410obs/s",
			`[data-source="span0"] .drops.alarm`:              "35kernel drops/s",
			`[data-source="span0"] .errs.warn`:                "5decode errors/s",
			`[data-source="lab mirror"] .state`:               "ok",
			`[data-source="lab mirror"] .seen b`:              "2.4k",
			`[data-source="lab mirror"] .rate b`:              "all",
			`[data-source="lab mirror"] .obs b`:               "120",
			`[data-source="lab mirror"] .drops:not(.alarm) b`: "0",
			`[data-source="lab mirror"] .errs:not(.warn) b`:   "0",
		} {
			if got := text(sel); got != want {
				t.Errorf("%s: %q, want %q", sel, got, want)
			}
		}
		// Red means red: the drops of span0 are in the alarm colour, those of the mirror not.
		if col := b.Eval(`getComputedStyle(document.querySelector('[data-source="span0"] .drops b')).color`); col != "rgb(255, 59, 92)" {
			t.Errorf("span0 drops colour %s", col)
		}
		if col := b.Eval(`getComputedStyle(document.querySelector('[data-source="lab mirror"] .drops b')).color`); col == "rgb(255, 59, 92)" {
			t.Error("the mirror's zero drops are red")
		}
		// The capture lines are on the screen, below every device tile, and not cut.
		if v := b.Eval(`(() => { const c = document.getElementById("capture").getBoundingClientRect();
			const tiles = [...document.querySelectorAll(".tile")].filter(e => e.getBoundingClientRect().bottom > c.top + 0.5).length;
			const cut = [...document.querySelectorAll(".cap")].filter(e => e.scrollWidth > e.clientWidth + 1).length;
			return [c.bottom <= innerHeight, c.height > 40, tiles, cut].join(" "); })()`); v != "true true 0 0" {
			t.Errorf("layout (on screen, has height, tiles overlapping, lines cut): %s", v)
		}
	}
	check()
	b.Screenshot(filepath.Join(screenshotDir(t), "wall-capture-noflows-1920x1080.png"))

	c.PublishFlows(wallRollup(now.Truncate(time.Minute).Add(-time.Minute)))
	b.WaitDOM(20*time.Second, `data-key="10.20.4.17"`)
	check()
	if off := b.Eval(`document.getElementById("talkers").getBoundingClientRect().bottom <= innerHeight`); off != "true" {
		t.Error("the top talkers panel goes below the screen")
	}
	b.Screenshot(filepath.Join(screenshotDir(t), "wall-capture-1920x1080.png"))

	// Many sources: those in trouble first, three lines in all with the summary of the rest.
	many := Stats{Time: now.Add(time.Second), RecordsIn: 1_088_000}
	for i := range 6 {
		many.Capture = append(many.Capture, CaptureStats{Source: fmt.Sprintf("span%d", i+1), Seen: uint64(i) * 1000})
	}
	many.Capture[4].KernelDrops = 7 // span5 drops
	manyBefore := many
	manyBefore.Time = now.Add(-time.Second)
	manyBefore.Capture = slices.Clone(many.Capture)
	manyBefore.Capture[4].KernelDrops = 0
	c.PublishStats(manyBefore)
	c.PublishStats(many)
	b.WaitDOM(20*time.Second, `class="cap dropping" data-source="span5"`, "+4 more capture sources")
	if got := b.Eval(`[...document.querySelectorAll("#cap-list li")].map(e => e.dataset.source || e.textContent).join("|")`); got != "span5|span1|+4 more capture sourcesall ok or idle" {
		t.Errorf("capture lines of 6 sources: %q", got)
	}
	if v := b.Eval(`document.getElementById("capture").getBoundingClientRect().bottom <= innerHeight`); v != "true" {
		t.Error("the capture lines of 6 sources go below the screen")
	}
	b.Screenshot(filepath.Join(screenshotDir(t), "wall-capture-many-1920x1080.png"))

	// The capture goes away: so does its panel.
	c.PublishStats(Stats{Time: now.Add(2 * time.Second), RecordsIn: 1_090_000})
	b.WaitDOM(20*time.Second, `id="capture" aria-label="packet capture health" hidden=""`)
	if cls := b.Eval("document.body.className"); strings.Contains(cls, "has-capture") {
		t.Errorf("body %q after the capture went", cls)
	}
}
