// Package labmonth writes a month (or two) of the built-in lab site's life into a store,
// fast-forwarded, for the monthly report's tests, its sample and its benchmarks: the 12
// devices of appliance/lab as the real SNMP poller reads them, poll samples, the scripted
// incidents of the lab's timeline (the uplink flap of acc-a3, dist-s3 going dark with
// acc-a5 and acc-a6 behind it, the reboot of acc-a5, the error burst on acc-a2 Gi1/0/7,
// the flood and the scans from the transit, the mirror port's DNS tunnel, beacon and SYN
// flood), the alerts the default rule pack raises for them through the real alerts.Manager
// on a fake clock, the dispatcher's incidents and notification log, hourly flow rollups
// with a diurnal curve and the floods, and two collector gaps.
//
// Thinned, honestly: the lab repeats its script every 5 minutes; a month of that would be
// 8,928 floods. Here each incident happens on some days, once or twice (seeded), and poll
// samples are written every Options.Step (default 5 minutes) for the device (poll time)
// and the uplinks (rates), not for every interface and metric the poller reads.
package labmonth

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/appliance/lab"
	"github.com/watchfloor/watchfloor/appliance/store"
	"github.com/watchfloor/watchfloor/collectors/snmp"
	"github.com/watchfloor/watchfloor/correlator/alerts"
	"github.com/watchfloor/watchfloor/correlator/notify/dispatch"
	"github.com/watchfloor/watchfloor/rules"
)

// Options say which month to write.
type Options struct {
	Month    string         // "2026-10"; the month before is written too (for the comparison)
	Location *time.Location // the month's calendar; nil: UTC
	Seed     uint64         // same seed, same month
	Step     time.Duration  // poll samples every Step; default 5 minutes
}

// Day is what was written for one day.
type Day struct {
	Date          string
	Samples       int
	Events        int
	Alerts        int
	Incidents     int
	Notifications int
	FlowRollups   int
}

// Stats are the counts per day, previous month first.
type Stats struct {
	Days []Day
}

// Total sums the days.
func (s Stats) Total() Day {
	var t Day
	for _, d := range s.Days {
		t.Samples += d.Samples
		t.Events += d.Events
		t.Alerts += d.Alerts
		t.Incidents += d.Incidents
		t.Notifications += d.Notifications
		t.FlowRollups += d.FlowRollups
	}
	return t
}

// Inventory is the lab's standard site as the real SNMP poller reads it: a lab is started
// on loopback (no timeline, no flows), polled once, and closed.
func Inventory(ctx context.Context, site string) ([]watchfloor.Device, error) {
	l, err := lab.Start(ctx, lab.Options{Site: site}, nil)
	if err != nil {
		return nil, err
	}
	defer l.Close()
	cfg := snmp.DefaultConfig()
	cfg.Site, cfg.Targets = site, l.Targets()
	p, err := snmp.New(cfg, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		return nil, err
	}
	s := &sink{}
	p.PollAll(ctx, s)
	slices.SortFunc(s.devs, func(a, b watchfloor.Device) int { return strings.Compare(a.Name, b.Name) })
	if len(s.devs) != len(cfg.Targets) {
		return nil, fmt.Errorf("labmonth: polled %d devices of %d", len(s.devs), len(cfg.Targets))
	}
	for _, d := range s.devs {
		if d.Status != watchfloor.DeviceUp {
			return nil, fmt.Errorf("labmonth: lab device %s did not answer: %s", d.Name, d.PollError)
		}
	}
	return s.devs, nil
}

// sink keeps what the poller reports; PollAll polls the devices in parallel.
type sink struct {
	mu   sync.Mutex
	devs []watchfloor.Device
}

func (s *sink) PutDevice(d watchfloor.Device) {
	s.mu.Lock()
	s.devs = append(s.devs, d)
	s.mu.Unlock()
}
func (s *sink) PutSamples([]watchfloor.Sample) {}
func (s *sink) PutEvents([]watchfloor.Event)   {}

func iface(d *watchfloor.Device, name string) *watchfloor.Interface {
	for i := range d.Interfaces {
		if d.Interfaces[i].Name == name {
			return &d.Interfaces[i]
		}
	}
	return nil
}

// writer holds one run's state.
type writer struct {
	st    *store.Store
	site  string
	devs  map[string]*watchfloor.Device
	pack  *rules.Set
	rng   *rand.Rand
	now   time.Time // the Manager's clock
	mgr   *alerts.Manager
	stats *Stats
	day   *Day
	batch store.Batch
	incs  []dispatch.Incident
	log   []dispatch.LogEntry
	step  time.Duration
}

// Write writes o.Month and the month before into st. devs is the inventory (Inventory).
func Write(ctx context.Context, st *store.Store, devs []watchfloor.Device, o Options) (Stats, error) {
	loc := o.Location
	if loc == nil {
		loc = time.UTC
	}
	from, err := time.ParseInLocation("2006-01", o.Month, loc)
	if err != nil {
		return Stats{}, fmt.Errorf("labmonth: month %q: want YYYY-MM", o.Month)
	}
	pack, errs := rules.LoadPack()
	if len(errs) > 0 {
		return Stats{}, fmt.Errorf("labmonth: the rule pack: %v", errs[0])
	}
	w := &writer{st: st, devs: map[string]*watchfloor.Device{}, pack: pack, rng: rand.New(rand.NewPCG(o.Seed, 0x6c61626d)),
		stats: &Stats{}, step: o.Step}
	if w.step <= 0 {
		w.step = 5 * time.Minute
	}
	for i := range devs {
		w.devs[devs[i].Name] = &devs[i]
		w.site = devs[i].Site
	}
	for _, n := range []string{"core-r1", "dist-s3", "acc-a2", "acc-a3", "acc-a5", "acc-a6"} {
		if w.devs[n] == nil {
			return Stats{}, fmt.Errorf("labmonth: the inventory has no %s: not the lab's standard site", n)
		}
	}
	if err := st.Write(ctx, &store.Batch{Devices: devs}); err != nil {
		return Stats{}, err
	}
	start := from.AddDate(0, -1, 0)
	w.now = start
	w.mgr, err = alerts.New(alerts.DefaultConfig(), st, func() time.Time { return w.now }, nil, nil)
	if err != nil {
		return Stats{}, err
	}
	end := from.AddDate(0, 1, 0)
	for d := start; d.Before(end); d = d.AddDate(0, 0, 1) {
		if err := ctx.Err(); err != nil {
			return *w.stats, err
		}
		if err := w.writeDay(ctx, d, d.AddDate(0, 0, 1)); err != nil {
			return *w.stats, err
		}
	}
	return *w.stats, nil
}

// span is a run of time in which something is down, gapped or happening.
type span struct{ from, to time.Time }

func (s span) has(t time.Time) bool { return !t.Before(s.from) && t.Before(s.to) }

// plan is one day's script.
type plan struct {
	outage  *span // dist-s3 dark (acc-a5, acc-a6 with it)
	reboot  *span // acc-a5
	flaps   []span
	errors  *span
	pollGap *span // the appliance was down: no polls, no flows
	flowGap *span // the flow collector saw nothing
	sec     []secIncident
	floods  []span // volumetric floods, seen in the flows too
}

func (w *writer) at(day time.Time, lo, hi int) time.Time {
	// a time between lo:00 and hi:00 of day, to the second
	return day.Add(time.Duration(lo)*time.Hour + time.Duration(w.rng.IntN((hi-lo)*3600))*time.Second)
}

func (w *writer) writeDay(ctx context.Context, day, next time.Time) error {
	w.stats.Days = append(w.stats.Days, Day{Date: day.Format("2006-01-02")})
	w.day = &w.stats.Days[len(w.stats.Days)-1]
	var p plan
	dom := day.Day()
	r := w.rng
	// The scripted availability incidents, on some days (seeded), at lab-like durations
	// stretched to what an operator would see.
	if r.IntN(9) == 0 {
		t := w.at(day, 1, 22)
		p.outage = &span{t, t.Add(time.Duration(20+r.IntN(100)) * time.Minute)}
	}
	if r.IntN(12) == 0 {
		t := w.at(day, 0, 23)
		p.reboot = &span{t, t.Add(time.Duration(12+r.IntN(9)) * time.Minute)} // longer than the 2 missed polls that detect it
	}
	if r.IntN(4) == 0 {
		t := w.at(day, 6, 20)
		for k := range 3 {
			s := t.Add(time.Duration(k) * 18 * time.Minute)
			p.flaps = append(p.flaps, span{s, s.Add(time.Duration(5+r.IntN(8)) * time.Minute)})
		}
	}
	if r.IntN(3) == 0 {
		t := w.at(day, 0, 20)
		p.errors = &span{t, t.Add(time.Duration(1+r.IntN(3)) * time.Hour)}
	}
	// Two collector gaps in each month: the appliance down for an upgrade that went wrong
	// (no polls, no flows), and the flow collector deaf after an exporter change.
	if dom == 12 {
		t := day.Add(9 * time.Hour)
		p.pollGap = &span{t, t.Add(7 * time.Hour)}
	}
	if dom == 21 {
		t := day.Add(13 * time.Hour)
		p.flowGap = &span{t, t.Add(11 * time.Hour)}
	}

	p.sec = w.security(day)
	for _, s := range p.sec {
		if s.rule == "volumetric_flood_bps" {
			p.floods = append(p.floods, span{s.at, s.at.Add(s.dur)})
		}
	}
	if err := w.polls(ctx, day, next, &p); err != nil {
		return err
	}
	if err := w.flows(ctx, day, next, &p); err != nil {
		return err
	}
	return w.incidentsOf(ctx, day, &p)
}

// polls writes the day's poll samples and the poller's and trap receiver's events.
func (w *writer) polls(ctx context.Context, day, next time.Time, p *plan) error {
	r := w.rng
	down := func(dev string, t time.Time) bool {
		if p.pollGap != nil && p.pollGap.has(t) {
			return true
		}
		if p.outage != nil && p.outage.has(t) && (dev == "dist-s3" || dev == "acc-a5" || dev == "acc-a6") {
			return true
		}
		return p.reboot != nil && p.reboot.has(t) && dev == "acc-a5"
	}
	names := make([]string, 0, len(w.devs))
	for n := range w.devs {
		names = append(names, n)
	}
	slices.Sort(names)
	for t := day.Add(time.Duration(r.IntN(30)) * time.Second); t.Before(next); t = t.Add(w.step) {
		for _, n := range names {
			if down(n, t) {
				continue
			}
			d := w.devs[n]
			w.sample(watchfloor.Sample{Device: n, Metric: watchfloor.MetricPollSeconds, Time: t, Value: 0.05 + 0.2*r.Float64()})
			for i := range d.Interfaces {
				ifc := &d.Interfaces[i]
				s := strings.ToLower(ifc.Alias)
				if !strings.Contains(s, "transit") && !strings.Contains(s, "uplink") || ifc.OperStatus != watchfloor.IfUp {
					continue
				}
				if slices.ContainsFunc(p.flaps, func(f span) bool { return f.has(t) }) && n == "acc-a3" {
					continue
				}
				in, out := diurnal(t, ifc, r), 0.6*diurnal(t, ifc, r)
				w.sample(watchfloor.Sample{Device: n, IfIndex: ifc.Index, Metric: watchfloor.MetricInBps, Time: t, Value: in})
				w.sample(watchfloor.Sample{Device: n, IfIndex: ifc.Index, Metric: watchfloor.MetricOutBps, Time: t, Value: out})
			}
			if n == "acc-a2" {
				rate := 0.0
				if p.errors != nil && p.errors.has(t) {
					rate = 40 * (0.5 + r.Float64())
				}
				if ifc := iface(d, "Gi1/0/7"); ifc != nil {
					w.sample(watchfloor.Sample{Device: n, IfIndex: ifc.Index, Metric: watchfloor.MetricInErrorsPS, Time: t, Value: rate})
				}
			}
		}
	}
	// Events, as the poller (down_after 2 polls) and the trap receiver write them.
	poll := func(t time.Time, kind watchfloor.EventKind, sev watchfloor.Severity, dev, ifName, msg string) {
		ev := watchfloor.Event{Time: t, Kind: kind, Severity: sev, Site: w.site, Device: dev, Source: "snmp.poll", Message: msg}
		if ifName != "" {
			if ifc := iface(w.devs[dev], ifName); ifc != nil {
				ev.Interface, ev.IfIndex = ifc.Name, ifc.Index
			}
		}
		w.batch.Events = append(w.batch.Events, ev)
		w.day.Events++
	}
	trap := func(t time.Time, kind watchfloor.EventKind, sev watchfloor.Severity, dev, ifName string) {
		ev := watchfloor.Event{Time: t, Kind: kind, Severity: sev, Site: w.site, Device: dev, Source: "snmp.trap",
			Attrs: []watchfloor.Attr{{Key: "version", Value: "2c"}}}
		if ifName != "" {
			if ifc := iface(w.devs[dev], ifName); ifc != nil {
				ev.Interface, ev.IfIndex = ifc.Name, ifc.Index
				ev.Attrs = append(ev.Attrs, watchfloor.Attr{Key: "ifIndex", Value: fmt.Sprint(ifc.Index)})
			}
		}
		w.batch.Events = append(w.batch.Events, ev)
		w.day.Events++
	}
	detect := 2 * w.step // down_after 2 missed polls
	if o := p.outage; o != nil {
		for _, dev := range []string{"dist-s3", "acc-a5", "acc-a6"} {
			poll(o.from.Add(detect), watchfloor.EventDeviceUnreachable, watchfloor.SeverityHigh, dev, "",
				dev+" unreachable: 2 polls in a row failed (request timeout)")
			poll(o.to.Add(w.step/2), watchfloor.EventDeviceReachable, watchfloor.SeverityInfo, dev, "",
				dev+" reachable again after "+fmt.Sprint(int(o.to.Sub(o.from)/w.step))+" failed polls")
		}
		// The cores' ports toward dist-s3 go down, with linkDown from the cores.
		for _, c := range []string{"core-r1", "core-r2"} {
			trap(o.from, watchfloor.EventTrapLinkDown, watchfloor.SeverityMedium, c, "xe-0/1/2")
			poll(o.from.Add(w.step/2), watchfloor.EventInterfaceDown, watchfloor.SeverityMedium, c, "xe-0/1/2", c+" xe-0/1/2 oper down (admin up)")
			trap(o.to, watchfloor.EventTrapLinkUp, watchfloor.SeverityInfo, c, "xe-0/1/2")
			poll(o.to.Add(w.step/2), watchfloor.EventInterfaceUp, watchfloor.SeverityInfo, c, "xe-0/1/2", c+" xe-0/1/2 oper up (admin up)")
		}
	}
	if b := p.reboot; b != nil {
		poll(b.from.Add(detect), watchfloor.EventDeviceUnreachable, watchfloor.SeverityHigh, "acc-a5", "", "acc-a5 unreachable: 2 polls in a row failed (request timeout)")
		trap(b.to, watchfloor.EventTrapColdStart, watchfloor.SeverityMedium, "acc-a5", "")
		poll(b.to.Add(w.step/2), watchfloor.EventDeviceReachable, watchfloor.SeverityInfo, "acc-a5", "", "acc-a5 reachable again")
		poll(b.to.Add(w.step/2), watchfloor.EventDeviceRebooted, watchfloor.SeverityMedium, "acc-a5", "", "acc-a5 rebooted")
	}
	for _, f := range p.flaps {
		trap(f.from, watchfloor.EventTrapLinkDown, watchfloor.SeverityMedium, "acc-a3", "Te1/1/1")
		trap(f.from, watchfloor.EventTrapLinkDown, watchfloor.SeverityMedium, "dist-s2", "Ethernet3")
		poll(f.from.Add(w.step/2), watchfloor.EventInterfaceDown, watchfloor.SeverityMedium, "acc-a3", "Te1/1/1", "acc-a3 Te1/1/1 oper down (admin up)")
		trap(f.to, watchfloor.EventTrapLinkUp, watchfloor.SeverityInfo, "acc-a3", "Te1/1/1")
		trap(f.to, watchfloor.EventTrapLinkUp, watchfloor.SeverityInfo, "dist-s2", "Ethernet3")
		poll(f.to.Add(w.step/2), watchfloor.EventInterfaceUp, watchfloor.SeverityInfo, "acc-a3", "Te1/1/1", "acc-a3 Te1/1/1 oper up (admin up)")
	}
	if w.rng.IntN(10) == 0 { // someone mistyped a community
		trap(w.at(day, 8, 18), watchfloor.EventTrapAuthFailure, watchfloor.SeverityLow, "acc-a1", "")
	}
	slices.SortStableFunc(w.batch.Events, func(a, b watchfloor.Event) int { return a.Time.Compare(b.Time) })
	return w.flush(ctx)
}

// diurnal is an interface's rate at t: a quiet night, a working-day peak, weekends lower.
func diurnal(t time.Time, ifc *watchfloor.Interface, r *rand.Rand) float64 {
	h := float64(t.Hour()) + float64(t.Minute())/60
	f := 0.25 + 0.75*math.Max(0, math.Sin((h-6)/14*math.Pi))
	if wd := t.Weekday(); wd == time.Saturday || wd == time.Sunday {
		f *= 0.55
	}
	peak := 0.35
	if strings.Contains(strings.ToLower(ifc.Alias), "uplink") {
		peak = 0.12
	}
	return float64(ifc.SpeedBps) * peak * f * (0.9 + 0.2*r.Float64())
}

func (w *writer) sample(s watchfloor.Sample) {
	w.batch.Samples = append(w.batch.Samples, s)
	w.day.Samples++
}

func (w *writer) flush(ctx context.Context) error {
	if w.batch.Len() == 0 {
		return nil
	}
	err := w.st.Write(ctx, &w.batch)
	w.batch = store.Batch{}
	return err
}
