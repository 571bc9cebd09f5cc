package console

import (
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/internal/browser"
	"github.com/watchfloor/watchfloor/internal/testpeer"
)

// centralSites are three appliances as central sees them at now: west is down (last heard
// 20 minutes ago), north's outbox holds records after a link outage, south refused the
// rules central offers; and the connections central refused.
func centralSites(now time.Time) *fakeSites {
	return &fakeSites{
		sites: []SiteStatus{
			{Site: "north", LastContact: now.Add(-4 * time.Second), Version: "1.4.2", StartedAt: now.Add(-50 * time.Hour),
				OutboxEntries: 8200, OutboxBytes: 3 << 20, Received: 1_204_000, Duplicates: 12, Devices: 4, DevicesDown: 1, OpenAlerts: 2,
				Applied: []SiteApplied{
					{Kind: "rules", Version: 7, Offered: 7, AppliedAt: now.Add(-time.Hour)},
					{Kind: "lists", Version: 3, Offered: 4, AppliedAt: now.Add(-2 * time.Hour)},
					{Kind: "silences", Version: 12, Offered: 12, AppliedAt: now.Add(-time.Minute)},
				}},
			{Site: "south", LastContact: now.Add(-9 * time.Second), Version: "1.4.2", StartedAt: now.Add(-3 * time.Hour),
				Received: 880_000, Devices: 3, OpenAlerts: 1, Dropped: 340, Gaps: 17,
				Applied: []SiteApplied{
					{Kind: "rules", Version: 6, Offered: 7, AppliedAt: now.Add(-26 * time.Hour), Error: `rule "dns_tunnel": unknown field "treshold"`},
					{Kind: "lists", Version: 4, Offered: 4, AppliedAt: now.Add(-time.Hour)},
					{Kind: "silences", Version: 12, Offered: 12, AppliedAt: now.Add(-time.Minute)},
				}},
			{Site: "west", LastContact: now.Add(-20 * time.Minute), Version: "1.3.9", StartedAt: now.Add(-400 * time.Hour),
				OutboxEntries: 0, Received: 310_000, Devices: 5, DevicesDown: 0},
		},
		refusals: []Refusal{
			{Time: now.Add(-12 * time.Second), Reason: "unknown_certificate", Who: "CN=branch-9.example.net, serial 4f:1a", Remote: "192.0.2.91:50122"},
			{Time: now.Add(-10 * time.Minute), Reason: "bad_password", Who: "user east", Remote: "192.0.2.40:41000"},
		},
		totals: map[string]uint64{"unknown_certificate": 4, "bad_password": 1},
	}
}

// centralDevices are the devices of north and south as central's store holds them:
// qualified NAME@SITE, Device.Site set, a link within each site.
func centralDevices(now time.Time) []watchfloor.Device {
	var out []watchfloor.Device
	for _, site := range []struct {
		name  string
		roles []string
		down  int
	}{{"north", []string{"core", "distribution", "access", "access"}, 3}, {"south", []string{"core", "access", "firewall"}, -1}} {
		for i, role := range site.roles {
			status := watchfloor.DeviceUp
			if i == site.down {
				status = watchfloor.DeviceDown
			}
			d := testDevice(fmt.Sprintf("%s-%d@%s", role[:4], i+1, site.name), role, status, 12)
			d.Site, d.LastPoll, d.LastChange, d.SysName = site.name, now, now.Add(-7*time.Minute), fmt.Sprintf("%s-%d.%s.example", role[:4], i+1, site.name)
			if i == 0 {
				d.Neighbors = []watchfloor.Neighbor{{LocalPort: "Gi0/1", RemoteSysName: fmt.Sprintf("%s-2.%s.example", site.roles[1][:4], site.name), RemotePort: "Gi0/1"}}
			}
			out = append(out, d)
		}
	}
	return out
}

// Central's wall in a real Chromium: a tile per site, the worst first, with state in words
// and shapes, the outbox draining, the refused rules and the refused connections; a click
// drills into one site (map, alerts, events, device counts, health) with a chip back to all;
// ?site= pins a kiosk to one site and ?panel=sites shows the sites alone.
func TestWallSitesInChromium(t *testing.T) {
	chromium := testpeer.Program(t, "chromium")
	now := time.Now()
	fs := centralSites(now)
	c, err := New(Config{}, Deps{Store: &fakeStore{}, Token: testToken, Site: "central", Sites: fs})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range centralDevices(now) {
		c.PublishDevice(d)
	}
	for i, a := range []watchfloor.Alert{
		{Rule: "port_scan", Severity: watchfloor.SeverityCritical, Title: "Port scan from 203.0.113.66", Entity: watchfloor.Entity{Site: "north", Host: "203.0.113.66"}},
		{Rule: "device_down", Severity: watchfloor.SeverityHigh, Title: "acce-4@north is down", Entity: watchfloor.Entity{Site: "north", Device: "acce-4@north"}},
		{Rule: "dns_tunnel", Severity: watchfloor.SeverityMedium, Title: "DNS tunnelling from 10.9.0.4", Entity: watchfloor.Entity{Site: "south", Host: "10.9.0.4"}},
	} {
		a.ID, a.State, a.Category, a.StartedAt, a.UpdatedAt = uint64(i+1), watchfloor.AlertFiring, watchfloor.CategorySecurity, now.Add(-time.Duration(i+2)*time.Minute), now
		c.PublishAlert(a)
	}
	c.PublishEvents([]watchfloor.Event{
		{ID: 1, Time: now.Add(-time.Minute), Kind: "device.unreachable", Severity: watchfloor.SeverityHigh, Site: "north", Device: "acce-4@north", Source: "snmp.poll", Message: "acce-4@north stopped answering"},
		{ID: 2, Time: now.Add(-30 * time.Second), Kind: "interface.down", Severity: watchfloor.SeverityMedium, Site: "south", Device: "core-1@south", Source: "snmp.trap", Message: "Gi0/7 went down at south"},
	})
	c.PublishStats(Stats{Time: now.Add(-2 * time.Second), RecordsIn: 1000})
	c.PublishStats(Stats{Time: now, RecordsIn: 5000})
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()
	defer c.hub.close(time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	b := browser.Start(ctx, t, chromium, srv.URL+"/wall?token="+testToken)
	b.WaitDOM(20*time.Second, `class="conn live"`, `data-site="west"`, `data-site="south"`, `data-node="core-1@south"`)
	eventually(t, 20*time.Second, "the page to connect", func() bool { return c.hub.clientCount() == 1 })
	text := func(sel string) string {
		return b.Eval(fmt.Sprintf(`(e => e ? e.textContent : "(none)")(document.querySelector(%q))`, sel))
	}
	shown := func(sel string) string {
		return b.Eval(fmt.Sprintf(`[...document.querySelectorAll(%q)].map(e => e.dataset.site || e.dataset.node || e.dataset.id || e.dataset.device).join(",")`, sel))
	}

	// The tiles: the down site first, then the one with a critical alert.
	if got := shown("#si-list .site-tile"); got != "west,north,south" {
		t.Errorf("tiles %q, want west,north,south", got)
	}
	for sel, want := range map[string]string{
		`[data-site="west"] .badge`:                     "DOWN",
		`[data-site="west"] .shape`:                     "✕",
		`[data-site="west"] .contact`:                   "heard 20m ago",
		`[data-site="west"] .ver`:                       "v1.3.9",
		`[data-site="north"] .badge`:                    "UP",
		`[data-site="north"] .shape`:                    "●",
		`[data-site="north"] .outbox`:                   "8200outbox 3.0 MB",
		`[data-site="north"] .devs`:                     "1/4down",
		`[data-site="north"] .alerts`:                   "21 crit",
		`[data-site="north"] [data-kind="lists"]`:       "lists v3 / v4 out of date",
		`[data-site="north"] [data-kind="rules"]`:       "rules v7 ✓",
		`[data-site="south"] .drops`:                    "340dropped",
		`[data-site="south"] .gaps`:                     "17gaps",
		`[data-site="south"] [data-kind="rules"]`:       `rules v6 / v7 refused: rule "dns_tunnel": unknown field "treshold"`,
		`[data-site="south"] [data-kind="rules"] .mark`: `refused: rule "dns_tunnel": unknown field "treshold"`,
		`#si-count`: "3 sites · 1 down",
	} {
		if got := text(sel); got != want {
			t.Errorf("%s: %q, want %q", sel, got, want)
		}
	}
	if ref := text("#si-refused"); !strings.HasPrefix(ref, "5 refused connections — last: unknown_certificate CN=branch-9.example.net, serial 4f:1a 1") || !strings.HasSuffix(ref, "s ago") {
		t.Errorf("refusals line %q", ref)
	}
	// Down is a shape as well as a colour: a dashed border; late would be dotted.
	if v := b.Eval(`getComputedStyle(document.querySelector('[data-site="west"]')).borderTopStyle`); v != "dashed" {
		t.Errorf("the down site's border is %s", v)
	}
	if v := b.Eval(`getComputedStyle(document.querySelector('[data-site="north"] .outbox b')).color + " " + getComputedStyle(document.querySelector('[data-site="west"] .outbox b')).color`); !strings.HasPrefix(v, "rgb(255, 176, 32) ") || strings.HasSuffix(v, "rgb(255, 176, 32)") {
		t.Errorf("outbox colours (north with records, west empty): %s", v)
	}
	// Every site's devices are on the map; nothing is below the screen.
	if got := b.Eval(`document.querySelectorAll("#map-svg .node").length`); got != "7" {
		t.Errorf("%s devices on the map, want 7", got)
	}
	if v := b.Eval(`[...document.querySelectorAll("section")].filter(s => s.offsetParent && s.getBoundingClientRect().bottom > innerHeight + 0.5).map(s => s.id || s.className).join(",")`); v != "" {
		t.Errorf("panels below the screen: %s", v)
	}

	// North's outbox drains between two reports.
	fs.set(func(f *fakeSites) { f.sites[0].OutboxEntries, f.sites[0].OutboxBytes = 3100, 1<<20 })
	c.publishSites()
	b.WaitDOM(10*time.Second, "▼ draining")
	if got := text(`[data-site="north"] .outbox`); got != "3100▼ draining" {
		t.Errorf("draining outbox: %q", got)
	}
	b.Screenshot(filepath.Join(screenshotDir(t), "wall-central-1920x1080.png"))

	// Drill into south: its devices, alerts and events only, the chip, the URL.
	b.Eval(`document.querySelector('#si-list [data-site="south"]').click(); "ok"`)
	b.WaitDOM(10*time.Second, `class="site-tile up selected" data-site="south"`)
	checkDrill := func(site string, nodes, alerts, events string, up string) {
		t.Helper()
		if got := b.Eval(`document.getElementById("site-chip").hidden ? "hidden" : document.getElementById("site-chip").textContent`); got != "Site: "+site+" ✕" {
			t.Errorf("chip %q", got)
		}
		if got := b.Eval(`new URL(location.href).searchParams.get("site")`); got != site {
			t.Errorf("?site=%q", got)
		}
		if got := b.Eval(`[...document.querySelectorAll("#map-svg .node")].map(e => e.dataset.node).sort().join(",")`); got != nodes {
			t.Errorf("%s: map %q, want %q", site, got, nodes)
		}
		if got := shown("#al-list .al[data-id]"); got != alerts {
			t.Errorf("%s: alerts %q, want %q", site, got, alerts)
		}
		if got := shown("#events li[data-id]"); got != events {
			t.Errorf("%s: events %q, want %q", site, got, events)
		}
		if got := text("#k-up"); got != up {
			t.Errorf("%s: devices up %q, want %q", site, got, up)
		}
		if got := text("#he-title") + " " + text("#he-site"); got != "Site health "+site {
			t.Errorf("%s: health panel %q", site, got)
		}
	}
	checkDrill("south", "acce-2@south,core-1@south,fire-3@south", "3", "2", "3/3")
	if got := text(`[data-site-health="Drops"] .state`); got != "lost" {
		t.Errorf("south's drops in its health: %q", got)
	}
	if n := b.Eval(`document.querySelectorAll("#devices .tile").length`); n != "3" {
		t.Errorf("%s device tiles for south", n)
	}
	b.Screenshot(filepath.Join(screenshotDir(t), "wall-central-south-1920x1080.png"))
	// At 4K the same layout, twice the size, still on the screen.
	b.Viewport(3840, 2160)
	time.Sleep(700 * time.Millisecond)
	if v := b.Eval(`[...document.querySelectorAll("section, .site-tile")].filter(s => s.offsetParent && s.getBoundingClientRect().bottom > innerHeight + 0.5).map(s => s.id || s.className).join(",")`); v != "" {
		t.Errorf("4K: below the screen: %s", v)
	}
	if v, _ := strconv.Atoi(b.Eval(`Math.round(document.querySelector('#si-list [data-site="south"] .name').getBoundingClientRect().height)`)); v < 50 {
		t.Errorf("4K: a site's name is %d px high, want about twice the 27 px of 1080p", v)
	}
	b.Screenshot(filepath.Join(screenshotDir(t), "wall-central-south-3840x2160.png"))
	b.Viewport(1920, 1080)
	time.Sleep(300 * time.Millisecond)

	// The chip goes back to every site.
	b.Eval(`document.getElementById("site-chip").click(); "ok"`)
	b.WaitDOM(10*time.Second, `id="site-chip" type="button" title="show every site" hidden=""`)
	if got := b.Eval(`document.querySelectorAll("#map-svg .node").length + " " + location.search`); got != "7 " {
		t.Errorf("back to all sites: %q", got)
	}
	if got := shown("#al-list .al[data-id]"); got != "1,2,3" {
		t.Errorf("all alerts: %q", got)
	}

	// A kiosk pinned to north, and the sites alone.
	b.Eval(fmt.Sprintf(`setTimeout(() => { location.href = %q }, 0); "ok"`, srv.URL+"/wall?site=north"))
	time.Sleep(200 * time.Millisecond)
	b.WaitDOM(20*time.Second, `class="conn live"`, `class="site-tile up selected" data-site="north"`)
	checkDrill("north", "acce-3@north,acce-4@north,core-1@north,dist-2@north", "1,2", "1", "3/4")
	b.Eval(fmt.Sprintf(`setTimeout(() => { location.href = %q }, 0); "ok"`, srv.URL+"/wall?panel=sites"))
	time.Sleep(200 * time.Millisecond)
	b.WaitDOM(20*time.Second, `class="conn live"`, `data-panel="sites"`, `data-site="west"`)
	time.Sleep(300 * time.Millisecond)
	if got := b.Eval(`[...document.querySelectorAll("section[data-p]")].filter(s => s.offsetParent && s.getClientRects().length).map(s => s.dataset.p).join(",")`); got != "sites" {
		t.Errorf("?panel=sites shows %q", got)
	}
	b.Screenshot(filepath.Join(screenshotDir(t), "wall-central-panel-sites-1920x1080.png"))
}
