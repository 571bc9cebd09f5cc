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
	}
	b.Screenshot(filepath.Join(screenshotDir(t), "wall-large-1920x1080.png"))
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
