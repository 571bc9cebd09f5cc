package report

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/watchfloor/watchfloor"
)

// The posture score (docs/report.md): four parts of 0–25 points each.
const (
	// threatSaturation is the weighted number of critical and high security alerts (a
	// critical counts 1, a high 0.5) at which the threat part is 0.
	threatSaturation = 20.0
	// availFloor is the mean device availability (percent) at which the availability part
	// is 0; it is full at 100%.
	availFloor = 98.0
	// hygieneSaturation is the number of hygiene findings at which the hygiene part is 0.
	hygieneSaturation = 10.0
)

func fig(name string, v, prev float64, hasPrev bool, unit string, lower bool) Figure {
	return Figure{Name: name, Value: v, Prev: prev, HasPrev: hasPrev, Unit: unit, Lower: lower}
}

func clamp01(x float64) float64 { return math.Max(0, math.Min(1, x)) }

// scores are the four parts of the posture score of a month.
type scores struct {
	threat, response, avail, hygiene float64
	compliance                       float64 // percent, NaN without incidents
	availPct                         float64
	findings                         int
}

func (g *gen) score(m *month) scores {
	var s scores
	s.threat = 25 * clamp01(1-(float64(m.secCrit)+0.5*float64(m.secHigh))/threatSaturation)
	inc, within := 0, 0
	for i := range m.sev {
		inc += m.sev[i].incidents
		within += m.sev[i].within
	}
	s.compliance = math.NaN()
	s.response = 25
	if inc > 0 {
		s.compliance = 100 * float64(within) / float64(inc)
		s.response = 25 * float64(within) / float64(inc)
	}
	s.availPct = g.meanAvail(m)
	s.avail = 25 * clamp01((s.availPct-availFloor)/(100-availFloor))
	s.findings = g.findings(m)
	s.hygiene = 25 * clamp01(1-float64(s.findings)/hygieneSaturation)
	return s
}

// findings is the number of hygiene findings of a month: distinct cleartext identities
// (rule and key), devices that sent SNMPv1/v2c traps, devices that sent authentication
// failures, and devices the configuration polls with SNMPv1/v2c.
func (g *gen) findings(m *month) int {
	n := m.cleartextK.n + len(m.v1v2c.m) + len(m.authFail.m)
	if g.o.PolledV1V2c != nil {
		n += len(g.polled())
	}
	return n
}

func (g *gen) polled() []string {
	var out []string
	for _, d := range g.devs {
		if slices.Contains(g.o.PolledV1V2c, d.Name) {
			out = append(out, d.Name)
		}
	}
	return out
}

// deviceSLA is a device's availability in percent of the month.
func deviceSLA(u *upDown, p Period) float64 {
	if u == nil {
		return 100
	}
	return 100 * (1 - u.downtime.Minutes()/p.Minutes())
}

// meanAvail is the mean availability of the site's devices (those in the inventory, and any
// other that had events), 100 with none.
func (g *gen) meanAvail(m *month) float64 {
	names := g.deviceNames(m)
	if len(names) == 0 {
		return 100
	}
	sum := 0.0
	for _, n := range names {
		sum += deviceSLA(m.devices[n], m.p)
	}
	return sum / float64(len(names))
}

func (g *gen) deviceNames(m *month) []string {
	seen := map[string]bool{}
	var out []string
	for _, d := range g.devs {
		if !seen[d.Name] {
			seen[d.Name] = true
			out = append(out, d.Name)
		}
	}
	for n := range m.devices {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

func (g *gen) build(cur, prev *month) *Report {
	r := &Report{
		Site: g.o.Site, Period: cur.p, Prev: prev.p, TimeZone: g.loc.String(),
		Generated: g.o.Generated, ConsoleURL: g.o.ConsoleURL,
	}
	hasPrevAlerts := prev.alerts > 0
	// Alerts.
	A := &r.Alerts
	A.Total = fig("Alerts", float64(cur.alerts), float64(prev.alerts), hasPrevAlerts, "", true)
	A.Silenced, A.Suppressed = cur.silenced, cur.suppressed
	for s := len(cur.bySev) - 1; s >= 0; s-- {
		A.BySeverity = append(A.BySeverity, Count{Key: watchfloor.Severity(s).String(), N: cur.bySev[s], Prev: prev.bySev[s]})
	}
	A.ByCategory = cur.byCat.top(0, prev.byCat)
	A.Noisiest = cur.byRule.top(g.pol.TopN, prev.byRule)
	for i := range A.Noisiest {
		A.Noisiest[i].Label = cur.ruleTitle[A.Noisiest[i].Key]
	}
	for _, c := range cur.tactics.top(0, nil) {
		A.Tactics = append(A.Tactics, c.Key)
	}
	for _, c := range cur.techniques.top(0, nil) {
		A.Techniques = append(A.Techniques, c.Key)
	}
	A.Matrix = make([][]int, len(A.Tactics))
	for i, ta := range A.Tactics {
		A.Matrix[i] = make([]int, len(A.Techniques))
		for j, te := range A.Techniques {
			A.Matrix[i][j] = cur.matrix[[2]string{ta, te}]
		}
	}
	A.ByDay = cur.byDay

	// Response.
	R := &r.Response
	inc, pinc, within, pwithin := 0, 0, 0, 0
	for s := len(cur.sev) - 1; s >= 0; s-- {
		a, pa := &cur.sev[s], &prev.sev[s]
		inc, pinc, within, pwithin = inc+a.incidents, pinc+pa.incidents, within+a.within, pwithin+pa.within
		if a.incidents == 0 && pa.incidents == 0 {
			continue
		}
		sev := watchfloor.Severity(s).String()
		R.BySeverity = append(R.BySeverity, SevResponse{
			Severity: sev, Incidents: a.incidents, Acknowledged: a.acked, Resolved: a.resolved,
			Escalated: a.escalated, SLA: g.pol.AckSLA[sev], WithinSLA: a.within,
			MTTAMedian: nearestRank(a.tta, 1, 2), MTTAP90: nearestRank(a.tta, 9, 10),
			MTTRMedian: nearestRank(a.ttr, 1, 2), MTTRP90: nearestRank(a.ttr, 9, 10),
			PrevMTTAMedian: nearestRank(pa.tta, 1, 2), PrevIncidents: pa.incidents,
		})
	}
	pct := func(a, b int) float64 {
		if b == 0 {
			return 0
		}
		return 100 * float64(a) / float64(b)
	}
	R.Incidents = fig("Incidents paged", float64(inc), float64(pinc), pinc > 0, "", true)
	R.SLACompliance = fig("Acknowledged within SLA", pct(within, inc), pct(pwithin, pinc), pinc > 0, "%", false)
	R.EscalationPages = cur.escPages
	R.Pages = fig("Pages delivered", float64(cur.pages), float64(prev.pages), prev.pages > 0, "", true)
	R.AfterHours = fig("After-hours pages", float64(cur.afterHours), float64(prev.afterHours), prev.pages > 0, "", true)
	R.FailedPages = cur.failed

	// Threats.
	T := &r.Threats
	n := g.pol.TopN
	T.Sources, T.Targets, T.Ports = cur.sources.top(n, prev.sources), cur.targets.top(n, prev.targets), cur.ports.top(n, prev.ports)
	T.Approximate = cur.sources.capped || cur.targets.capped || cur.ports.capped || cur.scanners.capped || cur.listKeys.capped
	lists := map[string]bool{}
	for _, l := range g.pol.ListRules {
		lists[l] = true
	}
	for l := range lists {
		T.ListHits = append(T.ListHits, Count{Key: l, N: cur.lists.m[l], Prev: prev.lists.m[l], Extra: uint64(len(cur.listKeys.m[l]))})
	}
	slices.SortFunc(T.ListHits, func(a, b Count) int { return cmp.Compare(a.Key, b.Key) })
	T.Floods = trimFloods(cur.floods, n)
	T.FloodCount = fig("Floods", float64(cur.floodCount), float64(prev.floodCount), hasPrevAlerts, "", true)
	T.Scans = cur.scans.top(0, prev.scans)
	T.ScanCount = fig("Scans", float64(cur.scans.total()), float64(prev.scans.total()), hasPrevAlerts, "", true)
	T.Scanners = cur.scanners.top(n, prev.scanners)

	// Availability.
	V := &r.Availability
	bySite := map[string]*SiteAvail{}
	site := map[string]string{}
	for _, d := range g.devs {
		site[d.Name] = d.Site
	}
	var down, pdown float64
	for _, name := range g.deviceNames(cur) {
		u := cur.devices[name]
		da := DeviceAvail{Device: name, Site: cmp.Or(site[name], cur.devSite[name]), SLA: deviceSLA(u, cur.p), PrevSLA: deviceSLA(prev.devices[name], prev.p)}
		if u != nil {
			da.DownMinutes, da.Outages = u.downtime.Minutes(), u.outages
		}
		if pu := prev.devices[name]; pu != nil {
			pdown += pu.downtime.Minutes()
		}
		down += da.DownMinutes
		V.Devices = append(V.Devices, da)
		sa := bySite[da.Site]
		if sa == nil {
			sa = &SiteAvail{Site: da.Site}
			bySite[da.Site] = sa
		}
		sa.Devices++
		sa.SLA += da.SLA
		sa.DownMinutes += da.DownMinutes
	}
	for _, sa := range bySite {
		sa.SLA /= float64(sa.Devices)
		V.Sites = append(V.Sites, *sa)
	}
	slices.SortFunc(V.Sites, func(a, b SiteAvail) int { return cmp.Compare(a.Site, b.Site) })
	slices.SortStableFunc(V.Devices, func(a, b DeviceAvail) int {
		return cmp.Or(cmp.Compare(a.SLA, b.SLA), cmp.Compare(a.Device, b.Device))
	})
	V.Overall = fig("Device availability", g.meanAvail(cur), g.meanAvail(prev), len(prev.devices) > 0 || len(g.devs) > 0, "%", false)
	V.Down = fig("Device downtime", down, pdown, true, "min", true)
	flaps, pflaps := 0, 0
	for _, u := range prev.ifaces {
		pflaps += u.outages
	}
	links := map[ifKey]*LinkAvail{}
	for di := range g.devs {
		d := &g.devs[di]
		for ii := range d.Interfaces {
			if i := &d.Interfaces[ii]; g.uplink(d, i) {
				links[ifKey{d.Name, i.Index}] = &LinkAvail{Device: d.Name, Interface: i.Name, Uplink: true, SLA: 100}
			}
		}
	}
	for k, u := range cur.ifaces {
		flaps += u.outages
		l := links[k]
		if l == nil {
			l = &LinkAvail{Device: k.dev, Interface: cmp.Or(cur.ifNames[k], fmt.Sprintf("ifIndex %d", k.idx))}
			links[k] = l
		}
		l.DownMinutes, l.Flaps = u.downtime.Minutes(), u.outages
		l.SLA = 100 * (1 - l.DownMinutes/cur.p.Minutes())
	}
	for _, l := range links {
		V.Links = append(V.Links, *l)
	}
	slices.SortFunc(V.Links, func(a, b LinkAvail) int {
		return cmp.Or(-cmp.Compare(boolInt(a.Uplink), boolInt(b.Uplink)), cmp.Compare(b.DownMinutes, a.DownMinutes),
			cmp.Compare(b.Flaps, a.Flaps), cmp.Compare(a.Device, b.Device), cmp.Compare(a.Interface, b.Interface))
	})
	if len(V.Links) > 3*n {
		V.Links = V.Links[:3*n]
	}
	V.Flaps = fig("Link flaps", float64(flaps), float64(pflaps), true, "", true)

	// Hygiene.
	H := &r.Hygiene
	H.Cleartext = cur.cleartext.top(0, prev.cleartext)
	for i := range H.Cleartext {
		H.Cleartext[i].Extra = uint64(len(cur.cleartextK.m[H.Cleartext[i].Key]))
	}
	H.CleartextHosts = cur.clearHosts
	H.V1V2cTraps = cur.v1v2c.top(0, prev.v1v2c)
	H.AuthFailures = cur.authFail.top(0, prev.authFail)
	H.ConfigChanges = cur.cfgChange.top(0, prev.cfgChange)
	if g.o.PolledV1V2c != nil {
		H.PolledKnown, H.V1V2cPolled = true, g.polled()
	}
	H.Findings = fig("Hygiene findings", float64(g.findings(cur)), float64(g.findings(prev)), true, "", true)

	// Timeline.
	r.Timeline = trimNotable(cur.notable)

	// Coverage.
	r.Coverage = g.coverage(cur)
	return r
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// coverage turns the hours marked by scanCoverage into per-collector coverage.
func (g *gen) coverage(m *month) []Coverage {
	mk := func(name string, hours []bool, note string) Coverage {
		c := Coverage{Collector: name, Measured: true, Note: note}
		var gaps []Gap
		start := -1
		for i := 0; i <= len(hours); i++ {
			if i < len(hours) && hours[i] {
				c.Hours++
			}
			missing := i < len(hours) && !hours[i]
			switch {
			case missing && start < 0:
				start = i
			case !missing && start >= 0:
				gaps = append(gaps, Gap{From: m.p.From.Add(time.Duration(start) * time.Hour), To: m.p.From.Add(time.Duration(i) * time.Hour)})
				start = -1
			}
		}
		if len(hours) > 0 {
			c.Percent = 100 * float64(c.Hours) / float64(len(hours))
		}
		slices.SortStableFunc(gaps, func(a, b Gap) int { return cmp.Compare(b.To.Sub(b.From), a.To.Sub(a.From)) })
		if len(gaps) > 10 {
			c.MoreGaps = len(gaps) - 10
			gaps = gaps[:10]
		}
		slices.SortFunc(gaps, func(a, b Gap) int { return a.From.Compare(b.From) })
		c.Gaps = gaps
		return c
	}
	out := []Coverage{
		mk("SNMP polling", m.pollHours, "hours with an answered poll of any device (hourly poll_seconds rollups)"),
		mk("Flow collector", m.flowHours, "hours with an hourly flow rollup that has traffic"),
		{Collector: "SNMP traps", Note: fmt.Sprintf("not measurable: traps arrive only when something happens (%d received)", m.traps)},
		{Collector: "Packet collector", Note: fmt.Sprintf("not measurable: the store keeps no packet observations, only the alerts of packet rules (%d this month)", m.pktAlerts)},
	}
	return out
}

// finish computes the score, the changes, the limitations and the definitions.
func (g *gen) finish(r *Report, cur, prev *month) {
	s, ps := g.score(cur), g.score(prev)
	hasPrev := prev.alerts > 0 || len(prev.devices) > 0 || slices.Contains(prev.pollHours, true)
	S := &r.Summary
	S.Score = fig("Posture score", s.threat+s.response+s.avail+s.hygiene, ps.threat+ps.response+ps.avail+ps.hygiene, hasPrev, "", false)
	S.Components = []Figure{
		fig("Threat exposure", s.threat, ps.threat, hasPrev, "/25", false),
		fig("Response", s.response, ps.response, hasPrev, "/25", false),
		fig("Availability", s.avail, ps.avail, hasPrev, "/25", false),
		fig("Hygiene", s.hygiene, ps.hygiene, hasPrev, "/25", false),
	}
	var mtta, pmtta float64
	if x := r.Response.BySeverity; len(x) > 0 {
		var all, pall []time.Duration
		for i := range cur.sev {
			all = append(all, cur.sev[i].tta...)
			pall = append(pall, prev.sev[i].tta...)
		}
		mtta, pmtta = nearestRank(all, 1, 2).Minutes(), nearestRank(pall, 1, 2).Minutes()
	}
	S.Key = []Figure{
		r.Alerts.Total,
		fig("Critical and high security alerts", float64(cur.secCrit+cur.secHigh), float64(prev.secCrit+prev.secHigh), hasPrev, "", true),
		r.Response.Incidents,
		fig("MTTA (median, all severities)", mtta, pmtta, len(r.Response.BySeverity) > 0, "min", true),
		r.Response.SLACompliance,
		r.Response.AfterHours,
		r.Availability.Overall,
		r.Availability.Down,
		r.Availability.Flaps,
		r.Threats.FloodCount,
		r.Threats.ScanCount,
		r.Hygiene.Findings,
	}
	var changes []Change
	for _, f := range S.Key {
		if !f.HasPrev || f.Value == f.Prev {
			continue
		}
		changes = append(changes, Change{Figure: f, Text: changeText(f)})
	}
	rel := func(f Figure) float64 {
		d := math.Abs(f.Value - f.Prev)
		return d / math.Max(math.Abs(f.Prev), 1)
	}
	slices.SortStableFunc(changes, func(a, b Change) int { return cmp.Compare(rel(b.Figure), rel(a.Figure)) })
	for _, c := range changes {
		better := (c.Figure.Value < c.Figure.Prev) == c.Figure.Lower
		if better && len(S.Better) < 3 {
			S.Better = append(S.Better, c)
		} else if !better && len(S.Worse) < 3 {
			S.Worse = append(S.Worse, c)
		}
	}

	// Limitations: what the store could not tell.
	L := &r.Limitations
	for _, c := range r.Coverage {
		if c.Measured && c.Percent < 100 {
			*L = append(*L, fmt.Sprintf("%s saw %.1f%% of the month (%d of %d hours); the figures from it cover only that time.",
				c.Collector, c.Percent, c.Hours, int(r.Period.To.Sub(r.Period.From)/time.Hour)))
		}
	}
	*L = append(*L,
		"Packet-collector and trap coverage cannot be measured from the store (no heartbeats are stored).",
		"Flood peaks are the largest per-window rates in the evidence each alert keeps (its first and latest matches): a lower bound of the true peak; one-minute flow rollups, which would give it exactly, are kept only 7 days.",
		"Downtime is measured from the poller's unreachable/reachable and the interfaces' down/up events: an outage starts when it was detected (after snmp.down_after missed polls), so it is short by up to that many poll intervals.",
		"Uplinks, interface names and speeds are the inventory as it is now, not as it was during the month.",
		"Attacking sources, targets and ports come from the labels (src_ip, dst_ip, dst_port) of security alerts; rules without those identity fields are not in those tables.",
	)
	if !r.Hygiene.PolledKnown {
		*L = append(*L, "Devices polled with SNMPv1/v2c are listed only when the report is given the configuration (the store does not keep credentials).")
	}
	if r.Threats.Approximate || cur.approximate {
		*L = append(*L, fmt.Sprintf("More than %d distinct keys in a table: the rankings leave the later ones out.", maxKeys))
	}
	if r.Site != "" {
		*L = append(*L, "Incidents and pages are assigned to a site by their first alert.")
	}
	r.Definitions = definitions(g.pol)
}

func changeText(f Figure) string {
	unit := f.Unit
	if unit == "%" {
		unit = " points"
	} else if unit != "" {
		unit = " " + unit
	}
	dir := "rose"
	if f.Value < f.Prev {
		dir = "fell"
	}
	return fmt.Sprintf("%s %s from %s to %s (%+s%s)", f.Name, dir, num(f.Prev), num(f.Value), num(f.Value-f.Prev), unit)
}

// num formats a figure: integers as such, others with one decimal (two under 10 for
// percentages near 100 would hide nothing: 99.95 shows as 100.0, so three significant
// decimals are kept above 99).
func num(v float64) string {
	switch {
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 99 && math.Abs(v) < 100:
		return fmt.Sprintf("%.3f", v)
	case math.Abs(v) < 1:
		return strconv.FormatFloat(v, 'g', 3, 64) // a change of 0.03 is not "0.0"
	}
	return fmt.Sprintf("%.1f", v)
}

func definitions(p Policy) []Definition {
	var sla []string
	for _, s := range []string{"critical", "high", "medium", "low", "info"} {
		if d, ok := p.AckSLA[s]; ok {
			sla = append(sla, s+" "+d.String())
		}
	}
	days := make([]string, len(p.BusinessHours.Weekdays))
	for i, d := range p.BusinessHours.Weekdays {
		days[i] = d.String()[:3]
	}
	return []Definition{
		{"Period", "The calendar month in the report's time zone, [first day 00:00, first day of the next month 00:00). The previous month is compared with the same definitions."},
		{"Posture score", fmt.Sprintf("0–100, the sum of four parts of 0–25: threat exposure 25 × max(0, 1 − (critical + 0.5 × high security alerts) / %g); response 25 × the share of incidents acknowledged within their SLA (25 without incidents); availability 25 × clamp((mean device availability − %g) / %g, 0, 1); hygiene 25 × max(0, 1 − findings / %g).", threatSaturation, availFloor, 100-availFloor, hygieneSaturation)},
		{"Better and worse", "The headline figures that changed since last month, ranked by relative change |now − before| / max(|before|, 1); at most three each way."},
		{"Data coverage", "Per collector, the share of the month's hours in which it delivered data to the store: SNMP polling, an hourly poll_seconds rollup of any device; flows, an hourly flow rollup with traffic. Gaps are the runs of hours without data (the ten longest)."},
		{"Alerts", "Alerts that started in the month (Alert.StartedAt), each counted once however many matches it folded (those are the rule's 'matches'). Silenced and suppressed alerts are included and counted apart."},
		{"ATT&CK matrix", "Alerts per tactic and technique, from the rules' tags: a technique tag belongs to the tactic tag before it (the pack writes them in pairs); '(none)' where a rule names one without the other."},
		{"Noisiest rules", "Rules by the number of alerts they raised in the month; matches is the sum of the alerts' counts."},
		{"Incident", "One problem paged about (the notification log's incident): opened by the first firing page, in the month it opened."},
		{"MTTA / MTTR", "Time from an incident's first page to its first acknowledgement / its resolution, over the incidents that were; median and 90th percentile by nearest rank (the value at rank ⌈p·n⌉ of the n sorted times), as GET /api/v1/incidents/stats."},
		{"Ack SLA compliance", "Incidents acknowledged within the target for their severity (" + strings.Join(sla, ", ") + "), as a share of all incidents of the month; an incident never acknowledged is a breach."},
		{"Escalations", "Incidents with at least one page beyond their policy's first level; escalation pages is the number of such pages."},
		{"Pages, after-hours pages", fmt.Sprintf("Firing notifications delivered (notification log, result delivered); after-hours: delivered outside %s %02d:00–%02d:00 in the report's time zone. Failed pages: attempts logged failed or dropped.", strings.Join(days, ", "), p.BusinessHours.Start, p.BusinessHours.End)},
		{"Attacking sources, targets, ports", "Security alerts per src_ip, dst_ip and dst_port label (the rules' identity fields)."},
		{"Threat-intel list hits", "Alerts of the rules that match a list (" + listRules(p) + "); distinct is the number of distinct alert keys (address pairs or names)."},
		{"Floods", "Alerts of " + strings.Join(p.FloodRules, ", ") + ". Duration: first to last matching record. Peak bit/s and packets/s: the largest window sum in the alert's kept evidence divided by the window (a lower bound)."},
		{"Scans", "Alerts of " + strings.Join(p.ScanRules, ", ") + "; scanners by src_ip."},
		{"Device availability (SLA %)", "100 × (1 − downtime / minutes in the month); downtime runs from a device.unreachable event to the next device.reachable (from the month's start when the first event is reachable, to its end when still down). Site and overall: the mean over devices."},
		{"Link availability, flaps", "Per interface, from interface.down/up (polls) and linkDown/linkUp (traps) merged: a flap is a change from up to down; downtime runs to the next up. Uplinks are always listed."},
		{"Interface error hot spots", "Estimated errors in the month: the sum over hours of the hourly mean of in_errors_ps + out_errors_ps × 3600; peak: the highest per-poll rate."},
		{"95th percentile (capacity)", "Per uplink, from the flow collector's hourly rollups: the 5-minute byte counts × 8 / 300, sorted, the value at index ⌈0.95 n⌉ − 1 (as transit is billed); slots is n. Utilisation is that over the interface speed. Daily: the day's highest hourly mean of SNMP in/out bit/s."},
		{"Cleartext management", "Alerts of " + strings.Join(p.CleartextMgmt, ", ") + " (telnet, FTP, SNMP crossing the border); distinct is the number of distinct address pairs."},
		{"SNMPv1/v2c in use", "Devices that sent traps with SNMPv1 or v2c (community in clear text), and devices the configuration polls with v1/v2c when the report has the configuration."},
		{"Authentication failures, configuration changes", "authenticationFailure traps per device; CISCO-CONFIG-MAN-MIB configuration-change traps (1.3.6.1.4.1.9.9.43.2.0.1 and .2) per device."},
		{"Hygiene findings", "Distinct cleartext-management identities + devices sending v1/v2c traps + devices sending authentication failures + devices polled with v1/v2c (when known)."},
		{"Notable incidents", fmt.Sprintf("Incidents of high or critical severity opened in the month, the %d most severe (earliest first among equals), with the time to acknowledge and to resolve and a link to the first alert in the console.", maxNotable)},
	}
}

func listRules(p Policy) string {
	var xs []string
	for r, l := range p.ListRules {
		xs = append(xs, r+" → "+l)
	}
	slices.Sort(xs)
	return strings.Join(xs, ", ")
}
