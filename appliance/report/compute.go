package report

import (
	"cmp"
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/correlator/notify"
	"github.com/watchfloor/watchfloor/correlator/notify/dispatch"
)

// maxKeys bounds the distinct addresses, ports and hosts counted per table; beyond it new
// keys are not ranked and the tables say they are approximate.
const maxKeys = 100_000

// maxFloods bounds the flood alerts kept between trims to the largest.
const maxFloods = 2000

// counter counts keys, up to maxKeys distinct ones.
type counter struct {
	m      map[string]int
	extra  map[string]uint64
	capped bool
}

func newCounter() *counter { return &counter{m: map[string]int{}, extra: map[string]uint64{}} }

func (c *counter) add(k string, n int, extra uint64) {
	if k == "" {
		return
	}
	if _, ok := c.m[k]; !ok && len(c.m) >= maxKeys {
		c.capped = true
		return
	}
	c.m[k] += n
	c.extra[k] += extra
}

// top is the n largest counts, ties by key; prev gives last month's.
func (c *counter) top(n int, prev *counter) []Count {
	out := make([]Count, 0, len(c.m))
	for k, v := range c.m {
		x := Count{Key: k, N: v, Extra: c.extra[k]}
		if prev != nil {
			x.Prev = prev.m[k]
		}
		out = append(out, x)
	}
	slices.SortFunc(out, func(a, b Count) int { return cmp.Or(cmp.Compare(b.N, a.N), cmp.Compare(a.Key, b.Key)) })
	if n > 0 && len(out) > n {
		out = out[:n]
	}
	return out
}

func (c *counter) total() int {
	t := 0
	for _, v := range c.m {
		t += v
	}
	return t
}

// distinct counts distinct keys per group, up to maxKeys keys in all.
type distinct struct {
	m      map[string]map[string]struct{}
	n      int
	capped bool
}

func newDistinct() *distinct { return &distinct{m: map[string]map[string]struct{}{}} }

func (d *distinct) add(group, key string) {
	s := d.m[group]
	if s == nil {
		s = map[string]struct{}{}
		d.m[group] = s
	}
	if _, ok := s[key]; ok {
		return
	}
	if d.n >= maxKeys {
		d.capped = true
		return
	}
	s[key] = struct{}{}
	d.n++
}

// month is everything read about one month; two of them make a report.
type month struct {
	p Period

	alerts      int
	bySev       [5]int
	byCat       *counter
	byRule      *counter
	ruleTitle   map[string]string
	silenced    int
	suppressed  int
	byDay       []int
	matrix      map[[2]string]int
	tactics     *counter
	techniques  *counter
	secCrit     int
	secHigh     int
	sources     *counter
	targets     *counter
	ports       *counter
	lists       *counter
	listKeys    *distinct
	floods      []Flood
	floodCount  int
	scans       *counter
	scanners    *counter
	cleartext   *counter
	cleartextK  *distinct
	clearHosts  []string
	approximate bool

	sev        [5]sevAcc
	pages      int
	afterHours int
	failed     int
	escPages   int
	notable    []Notable

	devices   map[string]*upDown // device name → availability
	devSite   map[string]string
	ifaces    map[ifKey]*upDown
	ifNames   map[ifKey]string
	v1v2c     *counter
	authFail  *counter
	cfgChange *counter
	traps     int

	pollHours []bool
	flowHours []bool
	pktAlerts int
}

type sevAcc struct {
	incidents, acked, resolved, escalated, within int
	tta, ttr                                      []time.Duration
}

type ifKey struct {
	dev string
	idx int32
}

// upDown follows one device's or interface's state through the month's events.
type upDown struct {
	seen      bool
	down      bool
	downSince time.Time
	downtime  time.Duration
	outages   int
}

func (u *upDown) goDown(t time.Time) {
	if u.seen && u.down {
		return
	}
	u.seen, u.down, u.downSince = true, true, t
	u.outages++
}

func (u *upDown) goUp(t time.Time, from time.Time) {
	switch {
	case !u.seen: // down since before the month: count from its start
		u.downtime += t.Sub(from)
		u.outages++
	case u.down:
		u.downtime += t.Sub(u.downSince)
	}
	u.seen, u.down = true, false
}

func (u *upDown) close(to time.Time) {
	if u.seen && u.down {
		u.downtime += to.Sub(u.downSince)
		u.down = false
	}
}

func newMonth(p Period) *month {
	days := int(p.To.Sub(p.From).Hours()/24 + 0.5)
	hours := int(p.To.Sub(p.From) / time.Hour)
	return &month{
		p: p, byCat: newCounter(), byRule: newCounter(), ruleTitle: map[string]string{},
		byDay: make([]int, days), matrix: map[[2]string]int{}, tactics: newCounter(), techniques: newCounter(),
		sources: newCounter(), targets: newCounter(), ports: newCounter(), lists: newCounter(),
		listKeys: newDistinct(), scans: newCounter(), scanners: newCounter(), cleartext: newCounter(),
		cleartextK: newDistinct(), devices: map[string]*upDown{}, devSite: map[string]string{},
		ifaces: map[ifKey]*upDown{}, ifNames: map[ifKey]string{}, v1v2c: newCounter(),
		authFail: newCounter(), cfgChange: newCounter(),
		pollHours: make([]bool, hours), flowHours: make([]bool, hours),
	}
}

// Generate computes the report of o.Month (and the month before, for comparison) from src.
func Generate(ctx context.Context, src Source, o Options) (*Report, error) {
	loc := o.Location
	if loc == nil {
		loc = time.UTC
	}
	p, err := MonthPeriod(o.Month, loc)
	if err != nil {
		return nil, err
	}
	pol := o.Policy.withDefaults()
	g := &gen{src: src, o: o, pol: pol, loc: loc}
	g.steps = 2*len(passes) + 2
	devs, err := src.Devices()
	if err != nil {
		return nil, fmt.Errorf("report: devices: %w", err)
	}
	for _, d := range devs {
		if o.Site == "" || d.Site == o.Site {
			g.devs = append(g.devs, d)
		}
	}
	cur, prev := newMonth(p), newMonth(p.Prev())
	for _, m := range []*month{cur, prev} {
		for _, ps := range passes {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			g.progress(ps.name + " " + m.p.Month)
			if err := ps.run(g, m); err != nil {
				return nil, fmt.Errorf("report: %s of %s: %w", ps.name, m.p.Month, err)
			}
		}
	}
	g.progress("capacity")
	caps, err := g.capacity(cur.p, prev.p)
	if err != nil {
		return nil, fmt.Errorf("report: capacity: %w", err)
	}
	g.progress("error hot spots")
	spots, err := g.errorSpots(cur.p)
	if err != nil {
		return nil, fmt.Errorf("report: interface errors: %w", err)
	}
	r := g.build(cur, prev)
	r.Capacity, r.Availability.Errors = caps, spots
	g.finish(r, cur, prev)
	return r, nil
}

type gen struct {
	src   Source
	o     Options
	pol   Policy
	loc   *time.Location
	devs  []watchfloor.Device
	steps int
	done  int
	sites map[uint64]string // alert ID → site, for incidents and pages (bounded by their number)
}

func (g *gen) progress(step string) {
	if g.o.Progress != nil {
		g.o.Progress(step, g.done, g.steps)
	}
	g.done++
}

var passes = []struct {
	name string
	run  func(*gen, *month) error
}{
	{"alerts", (*gen).scanAlerts},
	{"events", (*gen).scanEvents},
	{"incidents", (*gen).scanIncidents},
	{"coverage", (*gen).scanCoverage},
}

func (p Policy) withDefaults() Policy {
	d := DefaultPolicy()
	// A partial ack_sla keeps the defaults of the severities it leaves out.
	sla := make(map[string]time.Duration, len(d.AckSLA))
	for k, v := range d.AckSLA {
		sla[k] = v
	}
	for k, v := range p.AckSLA {
		sla[k] = v
	}
	p.AckSLA = sla
	if p.BusinessHours.Start == 0 && p.BusinessHours.End == 0 {
		p.BusinessHours = d.BusinessHours
	}
	if len(p.BusinessHours.Weekdays) == 0 { // not configurable: Monday to Friday
		p.BusinessHours.Weekdays = d.BusinessHours.Weekdays
	}
	if p.FloodRules == nil {
		p.FloodRules = d.FloodRules
	}
	if p.ScanRules == nil {
		p.ScanRules = d.ScanRules
	}
	if p.ListRules == nil {
		p.ListRules = d.ListRules
	}
	if p.CleartextMgmt == nil {
		p.CleartextMgmt = d.CleartextMgmt
	}
	if p.ConfigRules == nil {
		p.ConfigRules = d.ConfigRules
	}
	if p.ErrorHotSpots <= 0 {
		p.ErrorHotSpots = d.ErrorHotSpots
	}
	if p.TopN <= 0 {
		p.TopN = d.TopN
	}
	return p
}

func label(a *watchfloor.Alert, k string) string {
	for _, l := range a.Labels {
		if l.Key == k {
			return l.Value
		}
	}
	return ""
}

var techniqueTag = regexp.MustCompile(`^t\d{4}(\.\d{3})?$`)

// attack pairs each ATT&CK technique of a with its tactic: in the pack's tags a technique
// follows its tactic ([attack.discovery, attack.t1046, …]); a technique without a tactic
// before it, or only in Techniques, is under "(none)"; a tactic without a technique is
// paired with "(none)".
func attack(a *watchfloor.Alert, fn func(tactic, technique string)) {
	tactic, paired := "", true
	seen := map[string]bool{}
	for _, t := range a.Tags {
		x, ok := strings.CutPrefix(t, "attack.")
		if !ok {
			continue
		}
		if techniqueTag.MatchString(x) {
			tech := strings.ToUpper(x)
			seen[tech] = true
			fn(cmp.Or(tactic, "(none)"), tech)
			paired = true
			continue
		}
		if !paired {
			fn(tactic, "(none)")
		}
		tactic, paired = x, false
	}
	if !paired {
		fn(tactic, "(none)")
	}
	for _, t := range a.Techniques {
		if !seen[strings.ToUpper(t)] {
			fn("(none)", strings.ToUpper(t))
		}
	}
}

// evidenceValue reads "TYPE of FIELD = VALUE within SPAN" (a correlation's evidence).
var evidenceValue = regexp.MustCompile(`^(\w+)(?: of (\w+))? = ([0-9.]+)(?: \(approximate\))?(?: within (\S+))?$`)

// flood measures a flood alert from its kept evidence: the largest rate among them.
func flood(a *watchfloor.Alert) Flood {
	f := Flood{AlertID: a.ID, Rule: a.Rule, Start: a.StartedAt, Duration: a.LastSeen.Sub(a.StartedAt)}
	f.Target = cmp.Or(label(a, "dst_ip"), a.Entity.Host, a.Entity.Device)
	for _, e := range a.Evidence {
		m := evidenceValue.FindStringSubmatch(e.Summary)
		if m == nil || m[4] == "" {
			continue
		}
		v, err1 := strconv.ParseFloat(m[3], 64)
		span, err2 := time.ParseDuration(m[4])
		if err1 != nil || err2 != nil || span <= 0 {
			continue
		}
		rate := v / span.Seconds()
		switch {
		case m[1] == "value_sum" && m[2] == "bytes":
			f.PeakBps = max(f.PeakBps, rate*8)
		case m[1] == "value_sum" && m[2] == "packets", m[1] == "event_count":
			f.PeakPps = max(f.PeakPps, rate)
		}
	}
	return f
}

func (g *gen) scanAlerts(m *month) error {
	floodR, scanR, clearR := set(g.pol.FloodRules), set(g.pol.ScanRules), set(g.pol.CleartextMgmt)
	return g.src.ScanAlerts(m.p.From, m.p.To, func(a *watchfloor.Alert) error {
		if g.o.Site != "" && a.Entity.Site != g.o.Site {
			return nil
		}
		m.alerts++
		if int(a.Severity) < len(m.bySev) {
			m.bySev[a.Severity]++
		}
		m.byCat.add(a.Category, 1, 0)
		m.byRule.add(a.Rule, 1, a.Count)
		if _, ok := m.ruleTitle[a.Rule]; !ok && len(m.ruleTitle) < maxKeys {
			m.ruleTitle[a.Rule] = cmp.Or(a.RuleTitle, a.Rule)
		}
		if a.Silenced {
			m.silenced++
		}
		if a.SuppressedBy != 0 {
			m.suppressed++
		}
		if d := dayIndex(m.p, a.StartedAt, g.loc); d >= 0 && d < len(m.byDay) {
			m.byDay[d]++
		}
		attack(a, func(tactic, tech string) {
			m.matrix[[2]string{tactic, tech}]++
			m.tactics.add(tactic, 1, 0)
			m.techniques.add(tech, 1, 0)
		})
		if a.Category == watchfloor.CategorySecurity {
			switch a.Severity {
			case watchfloor.SeverityCritical:
				m.secCrit++
			case watchfloor.SeverityHigh:
				m.secHigh++
			}
			m.sources.add(label(a, "src_ip"), 1, 0)
			m.targets.add(label(a, "dst_ip"), 1, 0)
			m.ports.add(label(a, "dst_port"), 1, 0)
		}
		if list, ok := g.pol.ListRules[a.Rule]; ok {
			m.lists.add(list, 1, 0)
			m.listKeys.add(list, a.Key)
		}
		if floodR[a.Rule] {
			m.floodCount++
			m.floods = append(m.floods, flood(a))
			if len(m.floods) >= maxFloods {
				m.floods = trimFloods(m.floods, g.pol.TopN)
			}
		}
		if scanR[a.Rule] {
			m.scans.add(a.Rule, 1, 0)
			m.scanners.add(cmp.Or(label(a, "src_ip"), a.Entity.Host), 1, 0)
		}
		if clearR[a.Rule] {
			m.cleartext.add(a.Rule, 1, 0)
			m.cleartextK.add(a.Rule, a.Key)
			if len(m.clearHosts) < 20 {
				h := cmp.Or(label(a, "src_ip"), a.Entity.Host)
				if h != "" && !slices.Contains(m.clearHosts, h) {
					m.clearHosts = append(m.clearHosts, h)
				}
			}
		}
		if isPacketRule(a) {
			m.pktAlerts++
		}
		return nil
	})
}

// isPacketRule reports whether a came from a packet observation (the mirror port).
func isPacketRule(a *watchfloor.Alert) bool {
	for _, e := range a.Evidence {
		switch e.Kind {
		case "dns.query", "dns.response", "tls.client_hello", "http.request", "tcp.syn", "tcp.syn_ack",
			"tcp.rst", "icmp", "arp", "host.traffic", "tcp.half_open":
			return true
		}
	}
	return false
}

func trimFloods(fs []Flood, n int) []Flood {
	slices.SortFunc(fs, func(a, b Flood) int {
		return cmp.Or(cmp.Compare(b.PeakBps, a.PeakBps), cmp.Compare(b.PeakPps, a.PeakPps),
			a.Start.Compare(b.Start), cmp.Compare(a.AlertID, b.AlertID))
	})
	if len(fs) > n {
		fs = fs[:n]
	}
	return fs
}

func set(xs []string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

func dayIndex(p Period, t time.Time, loc *time.Location) int {
	lt := t.In(loc)
	if t.Before(p.From) || !t.Before(p.To) {
		return -1
	}
	return lt.Day() - 1
}

// configTrapOIDs are the configuration-change notifications (CISCO-CONFIG-MAN-MIB), as the
// pack's config_changed rule lists them.
var configTrapOIDs = map[string]bool{"1.3.6.1.4.1.9.9.43.2.0.2": true, "1.3.6.1.4.1.9.9.43.2.0.1": true}

func attr(ev *watchfloor.Event, k string) string {
	for _, a := range ev.Attrs {
		if a.Key == k {
			return a.Value
		}
	}
	return ""
}

func (g *gen) scanEvents(m *month) error {
	err := g.src.ScanEvents(m.p.From, m.p.To, func(ev *watchfloor.Event) error {
		if g.o.Site != "" && ev.Site != g.o.Site {
			return nil
		}
		if strings.HasPrefix(string(ev.Kind), "trap") {
			m.traps++
			if v := attr(ev, "version"); v == "1" || v == "2c" || v == "v1" || v == "v2c" {
				m.v1v2c.add(ev.Device, 1, 0)
			}
		}
		switch ev.Kind {
		case watchfloor.EventDeviceUnreachable, watchfloor.EventDeviceReachable:
			u := m.devices[ev.Device]
			if u == nil {
				u = &upDown{}
				m.devices[ev.Device] = u
				m.devSite[ev.Device] = ev.Site
			}
			if ev.Kind == watchfloor.EventDeviceUnreachable {
				u.goDown(ev.Time)
			} else {
				u.goUp(ev.Time, m.p.From)
			}
		case watchfloor.EventInterfaceDown, watchfloor.EventTrapLinkDown, watchfloor.EventInterfaceUp, watchfloor.EventTrapLinkUp:
			k := ifKey{ev.Device, ev.IfIndex}
			u := m.ifaces[k]
			if u == nil {
				if len(m.ifaces) >= maxKeys {
					m.approximate = true
					return nil
				}
				u = &upDown{}
				m.ifaces[k] = u
			}
			if ev.Interface != "" {
				m.ifNames[k] = ev.Interface
			}
			if ev.Kind == watchfloor.EventInterfaceDown || ev.Kind == watchfloor.EventTrapLinkDown {
				u.goDown(ev.Time)
			} else {
				u.goUp(ev.Time, m.p.From)
			}
		case watchfloor.EventTrapAuthFailure:
			m.authFail.add(ev.Device, 1, 0)
		case watchfloor.EventTrap:
			if configTrapOIDs[strings.TrimPrefix(attr(ev, "snmpTrapOID.0"), ".")] {
				m.cfgChange.add(ev.Device, 1, 0)
			}
		}
		return nil
	})
	for _, u := range m.devices {
		u.close(m.p.To)
	}
	for _, u := range m.ifaces {
		u.close(m.p.To)
	}
	return err
}

// alertSite is the site of an alert, looked up once.
func (g *gen) alertSite(id uint64) (string, error) {
	if g.sites == nil {
		g.sites = map[uint64]string{}
	}
	if s, ok := g.sites[id]; ok {
		return s, nil
	}
	a, ok, err := g.src.Alert(id)
	if err != nil {
		return "", err
	}
	s := ""
	if ok {
		s = a.Entity.Site
	}
	if len(g.sites) < maxKeys {
		g.sites[id] = s
	}
	return s, nil
}

func (g *gen) inSite(alerts []uint64) (bool, error) {
	if g.o.Site == "" {
		return true, nil
	}
	if len(alerts) == 0 {
		return false, nil
	}
	s, err := g.alertSite(alerts[0])
	return s == g.o.Site, err
}

func (g *gen) businessHours(t time.Time) bool {
	lt := t.In(g.loc)
	bh := g.pol.BusinessHours
	return slices.Contains(bh.Weekdays, lt.Weekday()) && lt.Hour() >= bh.Start && lt.Hour() < bh.End
}

func (g *gen) scanIncidents(m *month) error {
	var ferr error
	err := g.src.ScanIncidents(m.p.From, m.p.To, func(in *dispatch.Incident) bool {
		ok, err := g.inSite(in.Alerts)
		if err != nil {
			ferr = err
			return false
		}
		if !ok || int(in.Severity) >= len(m.sev) {
			return true
		}
		a := &m.sev[in.Severity]
		a.incidents++
		var tta, ttr time.Duration
		if !in.Acked.IsZero() {
			a.acked++
			tta = max(in.Acked.Sub(in.Opened), 0)
			a.tta = append(a.tta, tta)
			if sla, ok := g.pol.AckSLA[in.Severity.String()]; ok && tta <= sla {
				a.within++
			}
		}
		if !in.Resolved.IsZero() {
			a.resolved++
			ttr = max(in.Resolved.Sub(in.Opened), 0)
			a.ttr = append(a.ttr, ttr)
		}
		if in.Escalations > 0 {
			a.escalated++
		}
		m.escPages += in.Escalations
		if in.Severity >= watchfloor.SeverityHigh {
			n := Notable{Time: in.Opened, Severity: in.Severity.String(), Title: in.Title, Acked: tta, Resolved: ttr}
			if len(in.Alerts) > 0 {
				n.AlertID = in.Alerts[0]
				if g.o.ConsoleURL != "" {
					n.Link = strings.TrimRight(g.o.ConsoleURL, "/") + "/console#/alert/" + strconv.FormatUint(n.AlertID, 10)
				}
			}
			m.notable = append(m.notable, n)
			if len(m.notable) > 4*maxNotable {
				m.notable = trimNotable(m.notable)
			}
		}
		return true
	})
	if err == nil {
		err = ferr
	}
	if err != nil {
		return err
	}
	return g.src.ScanNotifications(m.p.From, m.p.To, func(e *dispatch.LogEntry) error {
		ok, err := g.inSite(e.Alerts)
		if err != nil || !ok {
			return err
		}
		switch e.Result {
		case dispatch.ResultDelivered:
			if e.Status != notify.StatusFiring {
				return nil
			}
			m.pages++
			if !g.businessHours(e.Time) {
				m.afterHours++
			}
		case dispatch.ResultFailed, dispatch.ResultDropped:
			m.failed++
		}
		return nil
	})
}

// maxNotable is the length of the timeline.
const maxNotable = 25

// trimNotable keeps the maxNotable most severe incidents, earliest first among equals, in
// time order.
func trimNotable(ns []Notable) []Notable {
	rank := func(s string) int {
		v, _ := watchfloor.ParseSeverity(s)
		return int(v)
	}
	slices.SortFunc(ns, func(a, b Notable) int {
		return cmp.Or(cmp.Compare(rank(b.Severity), rank(a.Severity)), a.Time.Compare(b.Time), cmp.Compare(a.AlertID, b.AlertID))
	})
	if len(ns) > maxNotable {
		ns = ns[:maxNotable]
	}
	slices.SortFunc(ns, func(a, b Notable) int { return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.AlertID, b.AlertID)) })
	return ns
}

// scanCoverage marks the hours of the month in which the SNMP poller (any device of the
// site: a poll_seconds hourly rollup) and the flow collector (an hourly flow rollup with
// flows) saw something.
func (g *gen) scanCoverage(m *month) error {
	mark := func(hours []bool, t time.Time) {
		if i := int(t.Sub(m.p.From) / time.Hour); !t.Before(m.p.From) && i < len(hours) {
			hours[i] = true
		}
	}
	for _, d := range g.devs {
		s, err := g.src.Series(watchfloor.SeriesQuery{Device: d.Name, Metric: watchfloor.MetricPollSeconds,
			From: m.p.From, To: m.p.To.Add(-time.Second), Step: watchfloor.Step1h})
		if err != nil {
			return err
		}
		for _, p := range s.Points {
			mark(m.pollHours, p.Time)
		}
	}
	for day := m.p.From; day.Before(m.p.To); day = day.Add(24 * time.Hour) {
		end := day.Add(24 * time.Hour)
		if end.After(m.p.To) {
			end = m.p.To
		}
		rs, err := g.src.FlowRollups(time.Hour, day, end, g.o.Site)
		if err != nil {
			return err
		}
		for _, r := range rs {
			if r.Totals.Flows > 0 || r.Totals.Bytes > 0 {
				mark(m.flowHours, r.Start)
			}
		}
	}
	return nil
}

// uplink reports whether an interface is an uplink: listed in Policy.Uplinks as
// "device/interface", or, with no list, described as a transit or uplink.
func (g *gen) uplink(d *watchfloor.Device, i *watchfloor.Interface) bool {
	if len(g.pol.Uplinks) > 0 {
		return slices.Contains(g.pol.Uplinks, d.Name+"/"+i.Name)
	}
	s := strings.ToLower(i.Alias + " " + i.Descr)
	return strings.Contains(s, "transit") || strings.Contains(s, "uplink")
}

func (g *gen) capacity(cur, prev Period) ([]Capacity, error) {
	var out []Capacity
	for di := range g.devs {
		d := &g.devs[di]
		for ii := range d.Interfaces {
			i := &d.Interfaces[ii]
			if !g.uplink(d, i) {
				continue
			}
			c := Capacity{Device: d.Name, Interface: i.Name, IfIndex: i.Index, SpeedBps: i.SpeedBps}
			var err error
			if c.InP95, c.OutP95, c.Slots, err = g.src.InterfacePercentile95(d.Name, uint32(i.Index), cur.From, cur.To); err != nil {
				return nil, err
			}
			if c.PrevInP95, c.PrevOutP95, c.PrevSlots, err = g.src.InterfacePercentile95(d.Name, uint32(i.Index), prev.From, prev.To); err != nil {
				return nil, err
			}
			days := int(cur.To.Sub(cur.From).Hours()/24 + 0.5)
			c.Daily = make([]float64, days)
			for _, metric := range []string{watchfloor.MetricInBps, watchfloor.MetricOutBps} {
				s, err := g.src.Series(watchfloor.SeriesQuery{Device: d.Name, IfIndex: i.Index, Metric: metric,
					From: cur.From, To: cur.To.Add(-time.Second), Step: watchfloor.Step1h})
				if err != nil {
					return nil, err
				}
				for _, p := range s.Points {
					if k := dayIndex(cur, p.Time, g.loc); k >= 0 && k < days {
						c.Daily[k] = max(c.Daily[k], p.Value)
					}
				}
			}
			out = append(out, c)
		}
	}
	return out, nil
}

func (g *gen) errorSpots(p Period) ([]ErrorSpot, error) {
	var out []ErrorSpot
	for di := range g.devs {
		d := &g.devs[di]
		for ii := range d.Interfaces {
			i := &d.Interfaces[ii]
			var sp ErrorSpot
			for _, metric := range []string{watchfloor.MetricInErrorsPS, watchfloor.MetricOutErrorsPS,
				watchfloor.MetricInDiscardsPS, watchfloor.MetricOutDiscardsPS} {
				s, err := g.src.Series(watchfloor.SeriesQuery{Device: d.Name, IfIndex: i.Index, Metric: metric,
					From: p.From, To: p.To.Add(-time.Second), Step: watchfloor.Step1h})
				if err != nil {
					return nil, err
				}
				for _, pt := range s.Points {
					n := pt.Value * 3600
					if strings.Contains(metric, "errors") {
						sp.Errors += n
						sp.PeakRate = max(sp.PeakRate, pt.Max)
					} else {
						sp.Discards += n
					}
				}
			}
			if sp.Errors >= 0.5 {
				sp.Device, sp.Interface = d.Name, i.Name
				out = append(out, sp)
			}
		}
	}
	slices.SortFunc(out, func(a, b ErrorSpot) int {
		return cmp.Or(cmp.Compare(b.Errors, a.Errors), cmp.Compare(a.Device, b.Device), cmp.Compare(a.Interface, b.Interface))
	})
	if len(out) > g.pol.ErrorHotSpots {
		out = out[:g.pol.ErrorHotSpots]
	}
	return out, nil
}

// nearestRank is the p-quantile (num/den) of d by the nearest-rank method, as the store's
// ResponseStats: sorted ascending, the value at rank ceil(p·n), 1-based; 0 when empty.
func nearestRank(d []time.Duration, num, den int) time.Duration {
	n := len(d)
	if n == 0 {
		return 0
	}
	slices.Sort(d)
	rank := (num*n + den - 1) / den
	return d[max(rank, 1)-1]
}
