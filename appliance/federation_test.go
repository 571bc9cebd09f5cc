package appliance

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/appliance/store"
	"github.com/watchfloor/watchfloor/correlator/alerts"
)

// federation is a central and its appliances, each a real Appliance from a config file, the
// uplinks on a real embedded NATS JetStream server on loopback.
type federation struct {
	t       *testing.T
	dir     string
	natsURL string
	central *running
	sites   map[string]*running
	// rulesDir is what central distributes as its rule pack.
	rulesDir string
}

// probeRule is central's distributed rule: it must reach every appliance and run there.
const probeRule = `title: Probe from a watched source
name: central_probe
description: A trap whose source is on central's probe_sources list.
author: Watchfloor
level: low
logsource: {product: watchfloor, category: event}
detection:
  selection: {event.kind: trap, attr.source|expand: '%probe_sources%'}
  condition: selection
category: security
tags: [attack.discovery, attack.t1046]
alert:
  title: 'Probe from {attr.source}'
  identity: [attr.source]
  entity: {host: attr.source}
  runbook: https://wiki.example.org/runbooks/probe
`

const fedCentral = `role: central
site: city
console: {listen: "127.0.0.1:0"}
central:
  distribute: {rules: "%s", silences: true, scan: 200ms}
  server:
    listen: "127.0.0.1:%d"
    store_dir: js
    sites:
%s
`

const fedSite = `site: %s
console: {listen: "127.0.0.1:0"}
uplink:
  urls: ["%s"]
  user: %s
  password: %s
  reconnect_wait: 50ms
  ack_timeout: 1s
  health_interval: 1s
`

func startFederation(t *testing.T, sites ...string) *federation {
	t.Helper()
	f := &federation{t: t, dir: t.TempDir(), sites: map[string]*running{}}
	port := freePort(t)
	f.natsURL = fmt.Sprintf("nats://127.0.0.1:%d", port)
	var list strings.Builder
	for _, s := range sites {
		hash, err := bcrypt.GenerateFromPassword([]byte("pw-"+s), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&list, "      - {name: %s, user: %s, password_hash: '%s'}\n", s, s, hash)
	}
	f.rulesDir = filepath.Join(f.dir, "central-rules")
	if err := os.MkdirAll(filepath.Join(f.rulesDir, "lists"), 0o700); err != nil {
		t.Fatal(err)
	}
	f.write("central-rules/probe.yaml", probeRule)
	f.write("central-rules/lists/probe_sources.txt", "scanner.example\n")
	f.write("central.yaml", fmt.Sprintf(fedCentral, f.rulesDir, port, list.String()))
	f.startCentral()
	for _, s := range sites {
		f.write(s+".yaml", fmt.Sprintf(fedSite, s, f.natsURL, s, "pw-"+s))
		f.startSite(s)
	}
	t.Cleanup(f.stop)
	return f
}

func (f *federation) write(name, body string) {
	if err := os.WriteFile(filepath.Join(f.dir, name), []byte(body), 0o600); err != nil {
		f.t.Fatal(err)
	}
}

func (f *federation) startCentral() {
	f.central = runAppliance(f.t, filepath.Join(f.dir, "central.yaml"), filepath.Join(f.dir, "central-data"))
	select {
	case <-f.central.a.central.recv.Ready():
	case <-time.After(20 * time.Second):
		f.t.Fatal("central's streams not ready in 20 s")
	}
}

func (f *federation) startSite(s string) {
	f.sites[s] = runAppliance(f.t, filepath.Join(f.dir, s+".yaml"), filepath.Join(f.dir, s+"-data"))
}

func (f *federation) stop() {
	for _, r := range f.sites {
		r.stop()
	}
	if f.central != nil {
		f.central.stop()
	}
}

// api GETs a path from central's console with the admin token and decodes the answer.
func (f *federation) api(path string, v any) int {
	f.t.Helper()
	tok, _ := f.central.a.Token()
	req, _ := http.NewRequest("GET", "http://"+f.central.a.console.Addr().String()+path, nil)
	req.Header.Set("Authorization", "Bearer "+tok.Reveal())
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer res.Body.Close()
	if v != nil && res.StatusCode == 200 {
		if err := json.NewDecoder(res.Body).Decode(v); err != nil {
			f.t.Fatal(err)
		}
	}
	return res.StatusCode
}

func eventually(t *testing.T, what string, d time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, got := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; last: %s", d, what, got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// siteEvents sends n events from a site's collectors, numbered from first.
func siteEvents(r *running, site string, first, n int) {
	evs := make([]watchfloor.Event, n)
	for i := range evs {
		evs[i] = watchfloor.Event{Time: time.Now(), Kind: watchfloor.EventInterfaceDown, Severity: watchfloor.SeverityLow,
			Site: site, Device: "core-r1", Interface: "Gi0/1", Source: "snmp.poll", Message: fmt.Sprintf("%s event %d", site, first+i)}
	}
	r.a.ingest.PutEvents(evs)
}

// centralEvents counts central's stored events per site, and fails on a message stored twice.
func centralEvents(t *testing.T, st *store.Store) map[string]int {
	evs, err := st.Events(watchfloor.EventQuery{Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	n := map[string]int{}
	for _, e := range evs {
		if e.Kind != watchfloor.EventInterfaceDown {
			continue
		}
		if seen[e.Message] {
			t.Fatalf("event %q stored twice at central", e.Message)
		}
		seen[e.Message] = true
		n[e.Site]++
	}
	return n
}

// The whole federation through real parts: three appliances send devices, events and alerts
// to central over NATS JetStream; central stores them by site (device names qualified), shows
// every site's health, raises the cross-site rule when one attacker is alerted on at the three
// sites, keeps the appliances' alerts read-only, and through a central restart and an uplink
// outage ingests every event exactly once.
func TestFederation(t *testing.T) {
	f := startFederation(t, "north", "south", "east")
	sites := []string{"north", "south", "east"}

	// Each site: its core router, 50 events, and a port scan from one attacker.
	for i, s := range sites {
		r := f.sites[s]
		r.a.ingest.PutDevice(watchfloor.Device{Name: "core-r1", Address: "192.0.2.1:161", Site: s, Status: watchfloor.DeviceUp,
			SysName: "core-r1", LastPoll: time.Now(), Neighbors: []watchfloor.Neighbor{{LocalPort: "Gi0/2", RemoteSysName: "dist-s1", RemotePort: "Gi0/1"}}})
		siteEvents(r, s, 0, 50)
		r.a.alerts.Fire(alerts.Match{Rule: "port_scan_vertical", Key: "src_ip=198.51.100.190,dst_ip=10.0.0." + fmt.Sprint(i+1),
			Severity: watchfloor.SeverityHigh, Category: watchfloor.CategorySecurity, Title: "Vertical port scan from 198.51.100.190",
			Entity: watchfloor.Entity{Site: s, Host: "198.51.100.190"}, Time: time.Now(), ResolveAfter: time.Hour})
	}
	st := f.central.a.store
	eventually(t, "every site's device, events and alert at central", 30*time.Second, func() (bool, string) {
		devs, _ := st.Devices()
		n := centralEvents(t, st)
		al, _ := st.SiteAlerts(store.SiteAlertQuery{OpenOnly: true})
		return len(devs) == 3 && n["north"] == 50 && n["south"] == 50 && n["east"] == 50 && len(al) == 3,
			fmt.Sprintf("%d devices, events %v, %d site alerts", len(devs), n, len(al))
	})
	devs, _ := st.Devices()
	for _, d := range devs {
		if d.Name != "core-r1@"+d.Site || d.SysName != d.Name || d.Neighbors[0].RemoteSysName != "dist-s1@"+d.Site {
			t.Errorf("device at central: name %q sysname %q neighbour %q (site %q): want names qualified by the site",
				d.Name, d.SysName, d.Neighbors[0].RemoteSysName, d.Site)
		}
	}

	// The cross-site rule fires once at central.
	eventually(t, "the cross-site attacker alert at central", 20*time.Second, func() (bool, string) {
		got := f.central.a.alerts.List(alerts.Query{Rule: "cross_site_attacker", Open: true})
		return len(got) == 1 && got[0].Entity.Host == "198.51.100.190", fmt.Sprint(got)
	})

	// The sites API: three sites up, their versions and counts.
	var sitesAnswer struct {
		Sites []struct {
			Site, State, Version string
			Received             uint64
			Gaps, Duplicates     uint64
			OpenAlerts           int `json:"open_alerts"`
		}
	}
	eventually(t, "three sites up with their health", 45*time.Second, func() (bool, string) {
		if code := f.api("/api/v1/sites", &sitesAnswer); code != 200 {
			return false, fmt.Sprint("status ", code)
		}
		up := 0
		for _, s := range sitesAnswer.Sites {
			if s.State == "up" && s.OpenAlerts == 1 && s.Received >= 52 && s.Gaps == 0 && s.Duplicates == 0 {
				up++
			}
		}
		return up == 3, fmt.Sprintf("%+v", sitesAnswer.Sites)
	})

	// Central's rule pack reached every site, runs there, and the sites say so.
	for _, s := range sites {
		r := f.sites[s]
		eventually(t, s+" applying central's rules", 20*time.Second, func() (bool, string) {
			for _, ap := range r.a.distrib.Applied() {
				if ap.Kind == "rules" && ap.Version >= 1 && ap.Error == "" {
					return r.a.engine.Set().ByName["central_probe"] != nil, fmt.Sprintf("%+v", ap)
				}
			}
			return false, fmt.Sprintf("%+v", r.a.distrib.Applied())
		})
	}
	probe := []watchfloor.Event{{Time: time.Now(), Kind: watchfloor.EventTrap, Site: "north", Device: "core-r1",
		Source: "snmp.trap", Message: "probe", Attrs: []watchfloor.Attr{{Key: "source", Value: "probe.scanner.example"}}}}
	eventSink{f.sites["north"].a.ingest, f.sites["north"].a.engine}.PutEvents(probe) // as the trap receiver hands them over
	eventually(t, "central's rule firing at north", 10*time.Second, func() (bool, string) {
		n := len(f.sites["north"].a.alerts.List(alerts.Query{Rule: "central_probe"}))
		return n == 1, fmt.Sprint(n, " alerts")
	})
	var applied struct {
		Sites []struct {
			Site    string
			Applied []struct {
				Kind             string
				Version, Offered uint64
			}
		}
	}
	eventually(t, "the applied versions on central's wall", 20*time.Second, func() (bool, string) {
		f.api("/api/v1/sites", &applied)
		ok := 0
		for _, s := range applied.Sites {
			for _, ap := range s.Applied {
				if ap.Kind == "rules" && ap.Version >= 1 && ap.Version == ap.Offered {
					ok++
				}
			}
		}
		return ok == 3, fmt.Sprintf("%+v", applied.Sites)
	})

	// A silence made at central for north reaches north only.
	ca := centralAlerts{alertsAPI{f.central.a.alerts}, f.central.a.central, f.central.a.publisher}
	sil, err := ca.AddSilence(watchfloor.Silence{Matchers: []watchfloor.Matcher{{Name: "site", Op: "=", Value: "north"}, {Name: "rule", Op: "=", Value: "port_scan_vertical"}},
		EndsAt: time.Now().Add(time.Hour), CreatedBy: "ann", Comment: "known pentest at north"})
	if err != nil {
		t.Fatal(err)
	}
	hasSilence := func(s string) bool {
		for _, x := range f.sites[s].a.alerts.Silences() {
			if x.ID == centralSilencePrefix+sil.ID && x.EndsAt.After(time.Now()) {
				return true
			}
		}
		return false
	}
	eventually(t, "central's silence at north", 10*time.Second, func() (bool, string) {
		return hasSilence("north"), fmt.Sprint(f.sites["north"].a.alerts.Silences())
	})
	if hasSilence("south") {
		t.Error("north's silence reached south")
	}
	eventually(t, "north's scan alert silenced", 10*time.Second, func() (bool, string) {
		got := f.sites["north"].a.alerts.List(alerts.Query{Rule: "port_scan_vertical"})
		return len(got) == 1 && got[0].Silenced, fmt.Sprint(got)
	})

	// The appliances' alerts on central's console: listed, read-only.
	var list struct {
		Alerts []watchfloor.Alert `json:"alerts"`
	}
	f.api("/api/v1/alerts?state=open", &list)
	var siteAlert *watchfloor.Alert
	for i, a := range list.Alerts {
		if a.Rule == "port_scan_vertical" && a.Entity.Site == "south" {
			siteAlert = &list.Alerts[i]
		}
	}
	if siteAlert == nil || siteAlert.ID&siteAlertBit == 0 {
		t.Fatalf("south's alert not on central's console with a site ID: %+v", list.Alerts)
	}
	if err := ca.Ack(siteAlert.ID, "ann", ""); err == nil || !strings.Contains(err.Error(), "site south") {
		t.Errorf("ack of a site's alert at central: %v, want refused naming the site", err)
	}

	// Central restarts; the sites keep sending meanwhile (their outboxes hold it).
	f.central.stop()
	for _, s := range sites {
		siteEvents(f.sites[s], s, 50, 25)
	}
	f.startCentral()
	st = f.central.a.store
	eventually(t, "every event once at central after its restart", 30*time.Second, func() (bool, string) {
		n := centralEvents(t, st)
		return n["north"] == 75 && n["south"] == 75 && n["east"] == 75, fmt.Sprint(n)
	})

	// One appliance restarts while central is away: its outbox stays and drains.
	f.central.stop()
	f.sites["east"].stop()
	f.startSite("east")
	siteEvents(f.sites["east"], "east", 75, 25)
	f.startCentral()
	st = f.central.a.store
	eventually(t, "east's events after its restart while central was away", 30*time.Second, func() (bool, string) {
		n := centralEvents(t, st)
		return n["north"] == 75 && n["south"] == 75 && n["east"] == 100, fmt.Sprint(n)
	})
	for _, k := range f.central.a.central.recv.Sites() {
		if k.Gaps != 0 || k.Duplicates != 0 && k.Kind == "event" {
			t.Errorf("site %s kind %s: %d gaps, %d duplicates", k.Site, k.Kind, k.Gaps, k.Duplicates)
		}
	}
}

// An appliance with a wrong password is refused, keeps its records, and the refusal shows
// at central.
func TestFederationRefused(t *testing.T) {
	f := startFederation(t, "north")
	f.write("rogue.yaml", fmt.Sprintf(fedSite, "north", f.natsURL, "north", "not-the-password"))
	rogue := runAppliance(t, filepath.Join(f.dir, "rogue.yaml"), filepath.Join(f.dir, "rogue-data"))
	defer rogue.stop()
	siteEvents(rogue, "north", 0, 5)
	var answer struct {
		Refusals []struct{ Reason, Who string }
		Refused  map[string]uint64
	}
	eventually(t, "the refusal at central", 20*time.Second, func() (bool, string) {
		f.api("/api/v1/sites", &answer)
		return answer.Refused["bad_password"] > 0 && len(answer.Refusals) > 0 && answer.Refusals[0].Who == "user north",
			fmt.Sprintf("%+v", answer)
	})
	if st := rogue.a.uplink.Status(); st.OutboxLen == 0 || st.Connected {
		t.Errorf("refused appliance: connected %v, outbox %d; want its records kept", st.Connected, st.OutboxLen)
	}
}
