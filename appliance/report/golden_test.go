package report

import (
	"context"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/appliance/store"
	"github.com/watchfloor/watchfloor/correlator/alerts"
	"github.com/watchfloor/watchfloor/correlator/notify"
	"github.com/watchfloor/watchfloor/correlator/notify/dispatch"
)

var berlin = mustLoc("Europe/Berlin")

func mustLoc(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return l
}

// at is a time in Berlin, October 2026 unless the month is given (DST ends 25 October: the
// month has 745 hours, 44700 minutes).
func at(month time.Month, day, hour, minute int) time.Time {
	return time.Date(2026, month, day, hour, minute, 0, 0, berlin)
}

// golden is the synthetic month: every number the tests expect follows from it by hand.
func writeGolden(t testing.TB, st *store.Store) {
	t.Helper()
	ctx := context.Background()
	up := watchfloor.Interface{Index: 1, Name: "xe-0/0/1", Alias: "transit isp-a", SpeedBps: 10_000_000_000, OperStatus: watchfloor.IfUp}
	devs := []watchfloor.Device{
		{Name: "r1", Site: "east", Status: watchfloor.DeviceUp, Interfaces: []watchfloor.Interface{up}},
		{Name: "s1", Site: "east", Status: watchfloor.DeviceUp, Interfaces: []watchfloor.Interface{{Index: 3, Name: "Gi1/0/3", SpeedBps: 1e9}}},
		{Name: "w1", Site: "west", Status: watchfloor.DeviceUp},
	}
	ev := func(t time.Time, kind watchfloor.EventKind, dev string, ifIndex int32, attrs ...watchfloor.Attr) watchfloor.Event {
		site := "east"
		if dev == "w1" {
			site = "west"
		}
		e := watchfloor.Event{Time: t, Kind: kind, Device: dev, Site: site, IfIndex: ifIndex, Source: "snmp.poll", Attrs: attrs}
		if ifIndex == 1 {
			e.Interface = "xe-0/0/1"
		}
		return e
	}
	v2c := watchfloor.Attr{Key: "version", Value: "2c"}
	events := []watchfloor.Event{
		ev(at(9, 20, 3, 0), watchfloor.EventDeviceUnreachable, "r1", 0), // September: 60 min
		ev(at(9, 20, 4, 0), watchfloor.EventDeviceReachable, "r1", 0),
		ev(at(10, 1, 0, 20), watchfloor.EventDeviceReachable, "s1", 0), // down since the month began: 20 min
		ev(at(10, 3, 10, 0), watchfloor.EventDeviceUnreachable, "r1", 0),
		ev(at(10, 3, 10, 30), watchfloor.EventDeviceReachable, "r1", 0), // 30 min
		ev(at(10, 5, 12, 0), watchfloor.EventInterfaceDown, "r1", 1),
		ev(at(10, 5, 12, 0).Add(5*time.Second), watchfloor.EventTrapLinkDown, "r1", 1, v2c), // the same flap, by trap
		ev(at(10, 5, 12, 10), watchfloor.EventTrapLinkUp, "r1", 1, v2c),
		ev(at(10, 5, 12, 10).Add(3*time.Second), watchfloor.EventInterfaceUp, "r1", 1),
		ev(at(10, 5, 13, 0), watchfloor.EventInterfaceDown, "r1", 1),
		ev(at(10, 5, 13, 5), watchfloor.EventInterfaceUp, "r1", 1), // 2 flaps, 15 min
		ev(at(10, 6, 9, 0), watchfloor.EventTrapAuthFailure, "s1", 0, v2c),
		ev(at(10, 7, 9, 0), watchfloor.EventTrapAuthFailure, "s1", 0, v2c),
		ev(at(10, 8, 9, 0), watchfloor.EventTrap, "r1", 0, watchfloor.Attr{Key: "snmpTrapOID.0", Value: ".1.3.6.1.4.1.9.9.43.2.0.2"}, watchfloor.Attr{Key: "version", Value: "3"}),
		ev(at(10, 9, 9, 0), watchfloor.EventDeviceUnreachable, "w1", 0), // west: 10 min
		ev(at(10, 9, 9, 10), watchfloor.EventDeviceReachable, "w1", 0),
		ev(at(10, 31, 23, 0), watchfloor.EventDeviceUnreachable, "s1", 0), // to the month's end: 60 min
	}
	// SNMP polls: r1 and s1 every hour of September and October at :30, except 15 October
	// (24 hours, UTC) for October; s1 Gi1/0/3 at 2 errors/s in one hour.
	var samples []watchfloor.Sample
	gapFrom := time.Date(2026, 10, 15, 0, 0, 0, 0, time.UTC)
	for h := at(9, 1, 0, 30); h.Before(at(11, 1, 0, 0)); h = h.Add(time.Hour) {
		if !h.Before(gapFrom) && h.Before(gapFrom.Add(24*time.Hour)) {
			continue
		}
		for _, d := range []string{"r1", "s1"} {
			samples = append(samples, watchfloor.Sample{Device: d, Metric: watchfloor.MetricPollSeconds, Time: h, Value: 0.2})
		}
		samples = append(samples, watchfloor.Sample{Device: "r1", IfIndex: 1, Metric: watchfloor.MetricInBps, Time: h, Value: 1e9})
	}
	samples = append(samples, watchfloor.Sample{Device: "s1", IfIndex: 3, Metric: watchfloor.MetricInErrorsPS, Time: at(10, 20, 12, 30), Value: 2})
	// Flows: 100 hourly rollups from 1 October 00:00 Berlin; the uplink's 1200 five-minute
	// slots carry 1, 2, …, 1200 bit/s inbound: the 95th percentile is slot 1140, 1140 bit/s.
	var rollups []watchfloor.FlowRollup
	for h := range 100 {
		in := make([]uint64, 12)
		for s := range in {
			k := h*12 + s + 1
			in[s] = uint64(k) * 300 / 8
		}
		rollups = append(rollups, watchfloor.FlowRollup{Site: "east", Start: at(10, 1, 0, 0).Add(time.Duration(h) * time.Hour), Step: time.Hour,
			Totals:     watchfloor.FlowTotals{Bytes: 1000, Packets: 10, Flows: 1},
			Interfaces: []watchfloor.IfTraffic{{Device: "r1", IfIndex: 1, Interface: "xe-0/0/1", InBytes: 1000, In5m: in, Out5m: make([]uint64, 12)}}})
	}
	if err := st.Write(ctx, &store.Batch{Devices: devs, Events: events, Samples: samples, FlowRollups: rollups}); err != nil {
		t.Fatal(err)
	}

	al := func(id uint64, rule string, sev watchfloor.Severity, cat string, start time.Time, site string, tags []string, labels ...string) alerts.Record {
		a := watchfloor.Alert{ID: id, Rule: rule, Key: rule, Severity: sev, Category: cat, State: watchfloor.AlertResolved,
			Title: rule, Entity: watchfloor.Entity{Site: site}, Tags: tags, StartedAt: start, LastSeen: start.Add(3 * time.Minute),
			UpdatedAt: start, ResolvedAt: start.Add(time.Hour), Count: 5}
		for i := 0; i+1 < len(labels); i += 2 {
			a.Labels = append(a.Labels, watchfloor.Attr{Key: labels[i], Value: labels[i+1]})
			a.Key += "," + labels[i+1]
		}
		return alerts.Record{Alert: a}
	}
	scan := []string{"attack.discovery", "attack.t1046", "attack.reconnaissance", "attack.t1595"}
	recs := []alerts.Record{
		al(1, "port_scan_vertical", watchfloor.SeverityHigh, "security", at(9, 30, 23, 30), "east", scan, "src_ip", "198.51.100.7", "dst_ip", "10.0.0.5"), // September
		al(2, "port_scan_vertical", watchfloor.SeverityHigh, "security", at(10, 2, 9, 0), "east", scan, "src_ip", "198.51.100.7", "dst_ip", "10.0.0.5"),
		al(3, "volumetric_flood_bps", watchfloor.SeverityCritical, "security", at(10, 10, 10, 0), "east",
			[]string{"attack.impact", "attack.t1498", "attack.t1498.001"}, "dst_ip", "10.0.0.80", "device", "r1"),
		al(4, "bad_address_in", watchfloor.SeverityMedium, "security", at(10, 11, 9, 0), "east",
			[]string{"attack.reconnaissance", "attack.t1595"}, "src_ip", "192.0.2.200", "dst_ip", "10.0.0.9"),
		al(5, "telnet_crossing", watchfloor.SeverityHigh, "security", at(10, 12, 9, 0), "east",
			[]string{"attack.initial-access", "attack.t1133", "attack.credential-access", "attack.t1040"}, "src_ip", "10.0.0.20", "dst_ip", "203.0.113.5"),
		al(6, "device_unreachable", watchfloor.SeverityCritical, "availability", at(10, 12, 4, 0), "east", nil, "device", "r1"),
		al(7, "device_unreachable", watchfloor.SeverityCritical, "availability", at(10, 22, 9, 0), "west", nil, "device", "w1"),
		al(8, "port_scan_vertical", watchfloor.SeverityHigh, "security", at(10, 31, 23, 30), "east", scan, "src_ip", "203.0.113.66", "dst_ip", "10.0.0.5"),
	}
	recs[2].Evidence = []watchfloor.Evidence{
		{Kind: "correlation", Summary: "value_sum of bytes = 1500000000 within 1m"},
		{Kind: "correlation", Summary: "value_sum of bytes = 3000000000 within 1m"},
	}
	recs[5].Silenced = true
	if err := st.PutAlerts(ctx, &alerts.Changes{Alerts: recs}); err != nil {
		t.Fatal(err)
	}

	inc := func(opened time.Time, sev watchfloor.Severity, alert uint64, ack, res time.Duration, esc int) dispatch.Incident {
		in := dispatch.Incident{ID: dispatch.IncidentID(opened, "g"), Title: "incident", Severity: sev,
			Alerts: []uint64{alert}, Opened: opened, Escalations: esc, Pages: 1 + esc}
		if ack > 0 {
			in.Acked = opened.Add(ack)
		}
		if res > 0 {
			in.Resolved = opened.Add(res)
		}
		return in
	}
	incidents := []dispatch.Incident{
		inc(at(9, 30, 23, 31), watchfloor.SeverityHigh, 1, 40*time.Minute, time.Hour, 0), // September
		inc(at(10, 10, 10, 1), watchfloor.SeverityCritical, 3, 10*time.Minute, 40*time.Minute, 0),
		inc(at(10, 12, 4, 0), watchfloor.SeverityCritical, 6, 20*time.Minute, 2*time.Hour, 1),
		inc(at(10, 2, 9, 1), watchfloor.SeverityHigh, 2, 5*time.Minute, 30*time.Minute, 0),
		inc(at(10, 20, 9, 30), watchfloor.SeverityHigh, 5, 0, 3*time.Hour, 0),
		inc(at(10, 22, 9, 1), watchfloor.SeverityHigh, 7, time.Minute, 10*time.Minute, 0), // west
	}
	page := func(t time.Time, alert uint64, st notify.Status, res dispatch.Result) dispatch.LogEntry {
		return dispatch.LogEntry{Time: t, NotificationID: "n", Receiver: "mail", Status: st, Alerts: []uint64{alert}, Result: res, Attempt: 1}
	}
	log := []dispatch.LogEntry{
		page(at(10, 2, 9, 1), 2, notify.StatusFiring, dispatch.ResultDelivered),    // Friday 09:01: business hours
		page(at(10, 10, 10, 1), 3, notify.StatusFiring, dispatch.ResultDelivered),  // Saturday: after hours
		page(at(10, 12, 4, 0), 6, notify.StatusFiring, dispatch.ResultDelivered),   // Monday 04:00: after hours
		page(at(10, 12, 4, 1), 6, notify.StatusFiring, dispatch.ResultFailed),      // a failed attempt
		page(at(10, 12, 6, 0), 6, notify.StatusResolved, dispatch.ResultDelivered), // not a page
		page(at(10, 20, 9, 30), 5, notify.StatusFiring, dispatch.ResultDelivered),  // Tuesday: business hours
		page(at(10, 22, 20, 0), 7, notify.StatusFiring, dispatch.ResultDelivered),  // west
	}
	if err := st.SaveDispatch(nil, nil, incidents, log); err != nil {
		t.Fatal(err)
	}
}

func openGolden(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "watchfloor.db"), store.DefaultConfig(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	writeGolden(t, st)
	return st
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9*math.Max(1, math.Abs(b)) }

func TestGoldenMonth(t *testing.T) {
	st := openGolden(t)
	r, err := Generate(context.Background(), st, Options{Month: "2026-10", Site: "east", Location: berlin,
		ConsoleURL: "https://noc.example", PolledV1V2c: []string{"s1"}})
	if err != nil {
		t.Fatal(err)
	}
	const minutes = 44700.0 // 31 days and the hour DST gives back
	if got := r.Period.Minutes(); got != minutes {
		t.Fatalf("minutes = %v", got)
	}
	check := func(name string, got, want float64) {
		t.Helper()
		if !near(got, want) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	// Alerts: 2, 3, 4, 5, 6, 8 (1 is September's, 7 is west's).
	check("alerts", r.Alerts.Total.Value, 6)
	check("alerts prev", r.Alerts.Total.Prev, 1)
	want := map[string]int{"critical": 2, "high": 3, "medium": 1, "low": 0, "info": 0}
	for _, c := range r.Alerts.BySeverity {
		if c.N != want[c.Key] {
			t.Errorf("severity %s = %d, want %d", c.Key, c.N, want[c.Key])
		}
	}
	if r.Alerts.Silenced != 1 {
		t.Errorf("silenced = %d", r.Alerts.Silenced)
	}
	if n := r.Alerts.Noisiest[0]; n.Key != "port_scan_vertical" || n.N != 2 || n.Extra != 10 || n.Prev != 1 {
		t.Errorf("noisiest = %+v", n)
	}
	cell := func(tactic, tech string) int {
		for i, ta := range r.Alerts.Tactics {
			for j, te := range r.Alerts.Techniques {
				if ta == tactic && te == tech {
					return r.Alerts.Matrix[i][j]
				}
			}
		}
		return 0
	}
	for _, c := range []struct {
		ta, te string
		n      int
	}{{"discovery", "T1046", 2}, {"reconnaissance", "T1595", 3}, {"impact", "T1498", 1}, {"impact", "T1498.001", 1},
		{"initial-access", "T1133", 1}, {"credential-access", "T1040", 1}, {"discovery", "T1595", 0}} {
		if got := cell(c.ta, c.te); got != c.n {
			t.Errorf("matrix %s × %s = %d, want %d", c.ta, c.te, got, c.n)
		}
	}
	if d := r.Alerts.ByDay; d[1] != 1 || d[30] != 1 || d[9] != 1 {
		t.Errorf("by day = %v", d)
	}

	// Response (east: incidents of alerts 3, 6, 2, 5).
	sev := map[string]SevResponse{}
	for _, s := range r.Response.BySeverity {
		sev[s.Severity] = s
	}
	c, h := sev["critical"], sev["high"]
	if c.Incidents != 2 || c.MTTAMedian != 10*time.Minute || c.MTTAP90 != 20*time.Minute ||
		c.MTTRMedian != 40*time.Minute || c.MTTRP90 != 2*time.Hour || c.Escalated != 1 || c.WithinSLA != 1 {
		t.Errorf("critical = %+v", c)
	}
	if h.Incidents != 2 || h.Acknowledged != 1 || h.MTTAMedian != 5*time.Minute || h.MTTRMedian != 30*time.Minute ||
		h.MTTRP90 != 3*time.Hour || h.WithinSLA != 1 || h.PrevIncidents != 1 || h.PrevMTTAMedian != 40*time.Minute {
		t.Errorf("high = %+v", h)
	}
	check("SLA compliance", r.Response.SLACompliance.Value, 50)
	check("SLA compliance prev", r.Response.SLACompliance.Prev, 0) // 40 min > 30 min
	check("pages", r.Response.Pages.Value, 4)
	check("after hours", r.Response.AfterHours.Value, 2)
	if r.Response.FailedPages != 1 || r.Response.EscalationPages != 1 {
		t.Errorf("failed %d, escalation pages %d", r.Response.FailedPages, r.Response.EscalationPages)
	}

	// Threats.
	if s := r.Threats.Sources; len(s) != 4 || s[2].Key != "198.51.100.7" || s[2].N != 1 || s[2].Prev != 1 {
		t.Errorf("sources = %+v", s)
	}
	if tg := r.Threats.Targets; tg[0].Key != "10.0.0.5" || tg[0].N != 2 || tg[0].Prev != 1 {
		t.Errorf("targets = %+v", tg)
	}
	if l := r.Threats.ListHits; len(l) != 2 || l[0].Key != "bad_addresses" || l[0].N != 1 || l[0].Extra != 1 || l[1].N != 0 {
		t.Errorf("list hits = %+v", l)
	}
	if f := r.Threats.Floods; len(f) != 1 || f[0].PeakBps != 4e8 || f[0].Duration != 3*time.Minute || f[0].Target != "10.0.0.80" {
		t.Errorf("floods = %+v", f)
	}
	check("scans", r.Threats.ScanCount.Value, 2)
	check("scans prev", r.Threats.ScanCount.Prev, 1)

	// Availability: r1 30 min, s1 20 + 60 min.
	dev := map[string]DeviceAvail{}
	for _, d := range r.Availability.Devices {
		dev[d.Device] = d
	}
	check("r1 down", dev["r1"].DownMinutes, 30)
	check("r1 SLA", dev["r1"].SLA, 100*(1-30/minutes))
	check("r1 SLA prev", dev["r1"].PrevSLA, 100*(1-60/(30*1440.0)))
	check("s1 down", dev["s1"].DownMinutes, 80)
	if dev["s1"].Outages != 2 || len(dev) != 2 {
		t.Errorf("devices = %+v", dev)
	}
	check("overall", r.Availability.Overall.Value, (200-110/minutes*100)/2)
	check("downtime", r.Availability.Down.Value, 110)
	l := r.Availability.Links[0]
	if !l.Uplink || l.Device != "r1" || l.Flaps != 2 || !near(l.DownMinutes, 15) {
		t.Errorf("uplink = %+v", l)
	}
	if e := r.Availability.Errors; len(e) != 1 || e[0].Device != "s1" || !near(e[0].Errors, 7200) || e[0].PeakRate != 2 {
		t.Errorf("error hot spots = %+v", e)
	}

	// Capacity: the 95th percentile as hand-computed, and as the store's API gives it.
	cp := r.Capacity
	if len(cp) != 1 || cp[0].InP95 != 1140 || cp[0].Slots != 1200 || cp[0].PrevSlots != 0 || cp[0].Daily[0] != 1e9 {
		t.Fatalf("capacity = %+v", cp)
	}
	in, _, slots, _ := st.InterfacePercentile95("r1", 1, r.Period.From, r.Period.To)
	if in != cp[0].InP95 || slots != cp[0].Slots {
		t.Errorf("API p95 %v over %d slots, report %v over %d", in, slots, cp[0].InP95, cp[0].Slots)
	}

	// Hygiene.
	if hy := r.Hygiene; len(hy.Cleartext) != 1 || hy.Cleartext[0].Key != "telnet_crossing" || len(hy.V1V2cTraps) != 2 ||
		len(hy.AuthFailures) != 1 || hy.AuthFailures[0].N != 2 || len(hy.ConfigChanges) != 1 || hy.ConfigChanges[0].Key != "r1" ||
		len(hy.V1V2cPolled) != 1 {
		t.Errorf("hygiene = %+v", hy)
	}
	// telnet identity 1 + v1/v2c trap senders r1 (link traps) and s1 + auth failures s1 + polled s1.
	check("findings", r.Hygiene.Findings.Value, 5)

	// Coverage: the poller missed 24 hours, flows saw 100 of 745.
	cov := r.Coverage
	if cov[0].Hours != 721 || len(cov[0].Gaps) != 1 || !cov[0].Gaps[0].From.Equal(gapFromUTC()) || cov[0].Gaps[0].To.Sub(cov[0].Gaps[0].From) != 24*time.Hour {
		t.Errorf("poll coverage = %+v", cov[0])
	}
	if cov[1].Hours != 100 || cov[1].Gaps[0].From != r.Period.From.Add(100*time.Hour) {
		t.Errorf("flow coverage = %+v", cov[1])
	}
	if cov[2].Measured || cov[3].Measured {
		t.Errorf("traps and packets cannot be measured: %+v", cov[2:])
	}

	// Timeline: the four high/critical incidents of east, in time order, linked.
	if tl := r.Timeline; len(tl) != 4 || tl[0].AlertID != 2 || tl[0].Link != "https://noc.example/console#/alert/2" || tl[3].Acked != 0 {
		t.Errorf("timeline = %+v", tl)
	}

	// Score: threat 25 × (1 − (1 + 0.5 × 3) / 20); response 12.5; availability from the
	// mean; hygiene 25 × (1 − 5/10).
	check("threat", r.Summary.Components[0].Value, 25*(1-2.5/20))
	check("response", r.Summary.Components[1].Value, 12.5)
	check("availability", r.Summary.Components[2].Value, 25*(r.Availability.Overall.Value-98)/2)
	check("hygiene", r.Summary.Components[3].Value, 12.5)
	if len(r.Summary.Better)+len(r.Summary.Worse) == 0 || len(r.Definitions) < 20 {
		t.Errorf("better %v worse %v, %d definitions", r.Summary.Better, r.Summary.Worse, len(r.Definitions))
	}
}

func gapFromUTC() time.Time { return time.Date(2026, 10, 15, 0, 0, 0, 0, time.UTC) }

// The report of all sites gives the response figures the store's API gives for the period.
func TestGoldenMatchesAPI(t *testing.T) {
	st := openGolden(t)
	r, err := Generate(context.Background(), st, Options{Month: "2026-10", Location: berlin})
	if err != nil {
		t.Fatal(err)
	}
	api, err := st.ResponseStats(r.Period.From, r.Period.To)
	if err != nil {
		t.Fatal(err)
	}
	if len(api) != len(r.Response.BySeverity) {
		t.Fatalf("API %d severities, report %d", len(api), len(r.Response.BySeverity))
	}
	for i, a := range api {
		g := r.Response.BySeverity[i]
		if g.Severity != a.Severity.String() || g.Incidents != a.Incidents || g.Acknowledged != a.Acknowledged ||
			g.Resolved != a.Resolved || g.Escalated != a.Escalated || g.MTTAMedian != a.MTTAMedian ||
			g.MTTAP90 != a.MTTAP90 || g.MTTRMedian != a.MTTRMedian || g.MTTRP90 != a.MTTRP90 {
			t.Errorf("severity %s: report %+v, API %+v", a.Severity, g, a)
		}
	}
	n, err := st.Incidents(dispatch.IncidentQuery{Since: r.Period.From, Until: r.Period.To, Limit: 1000})
	if err != nil || float64(len(n)) != r.Response.Incidents.Value {
		t.Errorf("API %d incidents (%v), report %v", len(n), err, r.Response.Incidents.Value)
	}
	if r.Alerts.Total.Value != 7 || r.Availability.Devices[0].Device == "" || len(r.Availability.Sites) != 2 {
		t.Errorf("all sites: %v alerts, sites %+v", r.Alerts.Total.Value, r.Availability.Sites)
	}
}

// A month in which the poller was down states the gap, in the model and the limitations.
func TestCoverageGapStated(t *testing.T) {
	st := openGolden(t)
	r, err := Generate(context.Background(), st, Options{Month: "2026-10", Site: "east", Location: berlin})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, l := range r.Limitations {
		if l == "SNMP polling saw 96.8% of the month (721 of 745 hours); the figures from it cover only that time." {
			found = true
		}
	}
	if !found {
		t.Errorf("limitations do not state the polling gap: %q", r.Limitations)
	}
}
