package lab

import (
	"cmp"
	"context"
	"log/slog"
	"slices"
	"time"
)

// cyclePeriod is how often the incident script repeats (before TimeScale).
const cyclePeriod = 5 * time.Minute

// Times of the script, after the start of each cycle (before TimeScale). The first incident
// begins within 5 s of Start, and every down phase lasts longer than a 5 s poll interval.
const (
	flapFirst    = 4 * time.Second  // the uplink goes down at 4, 22 and 40 s…
	flapDown     = 12 * time.Second // …for 12 s each time
	flapEvery    = 18 * time.Second
	flapCount    = 3
	outageStart  = 60 * time.Second // a distribution switch goes dark, and what hangs off it…
	outageEnd    = 120 * time.Second
	rebootStart  = 135 * time.Second // an access switch loses power…
	rebootEnd    = 155 * time.Second // …and answers again, 15 s after its boot
	rebootUptime = 15 * time.Second
	rebootCards  = 3 * time.Second // its counters restart 3 s after boot
	errorsStart  = 170 * time.Second
	errorsEnd    = 230 * time.Second
	errorRate    = 40 // input errors per second during the burst
)

// step is one action of the script.
type step struct {
	at       time.Duration // in the cycle, before scaling
	what     string
	dev, ifc string
	do       func(at time.Time)
}

// timeline plays the incident script on the site. advance applies every step due by a given
// time and is what tests drive; run calls it from a timer.
type timeline struct {
	site  *site
	start time.Time
	scale float64
	steps []step
	cycle int
	idx   int
	traps *trapSender // nil: no traps
	log   *slog.Logger

	rebooted []*iface // interfaces the rebooting device had up
	darkened []end    // ports the outage took down without a trap (its own, and those behind it)
}

func newTimeline(s *site, start time.Time, scale float64, traps *trapSender, log *slog.Logger) *timeline {
	tl := &timeline{site: s, start: start, scale: scale, traps: traps, log: log}
	f := s.flap
	for k := range flapCount {
		down := flapFirst + time.Duration(k)*flapEvery
		tl.add(down, "link down", f[0].dev.Name, f[0].ifc.Name, func(at time.Time) { tl.setLink(f, false, at) })
		tl.add(down+flapDown, "link up", f[0].dev.Name, f[0].ifc.Name, func(at time.Time) { tl.setLink(f, true, at) })
	}
	tl.addOutage(s.outage)
	tl.add(rebootStart, "reboot", s.reboot.Name, "", tl.powerOff)
	tl.add(rebootEnd, "rebooted", s.reboot.Name, "", tl.powerOn)
	e := s.errPort
	tl.add(errorsStart, "errors start", e.dev.Name, e.ifc.Name, func(at time.Time) { tl.setErrors(e, errorRate, at) })
	tl.add(errorsEnd, "errors stop", e.dev.Name, e.ifc.Name, func(at time.Time) { tl.setErrors(e, 0, at) })
	if x := s.fx.edge; x.dev != nil {
		// Seen in flows only (flowgen.go): a horizontal scan, and a UDP flood that also
		// shows in the transit's SNMP counters.
		tl.add(scanAt, "scan start", x.dev.Name, x.ifc.Name, tl.startScan)
		tl.add(scanAt+scanDur, "scan stop", x.dev.Name, x.ifc.Name, func(time.Time) {})
		tl.add(floodAt, "flood start", x.dev.Name, x.ifc.Name, tl.startFlood)
		tl.add(floodAt+floodDur, "flood stop", x.dev.Name, x.ifc.Name, func(time.Time) {})
		tl.addPacketSteps(x) // seen on the mirror port only (packetinc.go)
	}
	slices.SortStableFunc(tl.steps, func(a, b step) int { return cmp.Compare(a.at, b.at) })
	return tl
}

// addOutage scripts the death of o, a router or switch, for the outage window: o stops
// answering and exporting, and its ports go dark; the devices whose only path to the cores
// goes through o stop answering and exporting too (their management traffic crosses o), and
// their ports toward o go down unannounced (their traps would cross o); the reachable
// devices cabled to o see their ports toward it go down and send linkDown. At the end all of
// it comes back, in the reverse order, with linkUp from the reachable neighbours. o does not
// restart (a standby supervisor took over): sysUpTime and the counters go on.
func (tl *timeline) addOutage(o *device) {
	behind := tl.site.cutOff(o)
	cut := make(map[*device]bool, len(behind))
	for _, d := range behind {
		cut[d] = true
	}
	var facing []end // ports of reachable devices cabled to o
	for _, i := range o.ifaces {
		if i.peer != nil && !cut[i.peerDev] {
			facing = append(facing, end{i.peerDev, i.peer})
		}
	}
	for _, d := range behind {
		tl.add(outageStart, "unreachable", d.Name, "", func(time.Time) { d.silent.Store(true) })
	}
	tl.add(outageStart, "unreachable", o.Name, "", func(at time.Time) { tl.darken(o, cut, at) })
	for _, f := range facing {
		tl.add(outageStart, "link down", f.dev.Name, f.ifc.Name, func(at time.Time) { tl.setOper(f.dev, f.ifc, false, at, true) })
	}
	tl.add(outageEnd, "reachable", o.Name, "", func(at time.Time) { tl.relight(o, at) })
	for _, f := range facing {
		tl.add(outageEnd, "link up", f.dev.Name, f.ifc.Name, func(at time.Time) { tl.setOper(f.dev, f.ifc, true, at, true) })
	}
	for _, d := range behind {
		tl.add(outageEnd, "reachable", d.Name, "", func(time.Time) { d.silent.Store(false) })
	}
}

// darken silences o and takes its ports down, with the ports of the devices in cut at the
// other end of its cables; no traps (o is dead, and the others' traps would cross it). The
// ports of reachable neighbours are the outage's "link down" steps.
func (tl *timeline) darken(o *device, cut map[*device]bool, at time.Time) {
	o.silent.Store(true)
	tl.darkened = tl.darkened[:0]
	var peers []end
	o.mu.Lock()
	for _, i := range o.ifaces {
		if i.Physical && i.operUp && o.setOper(i, false, at) {
			tl.darkened = append(tl.darkened, end{o, i})
			if i.peer != nil && cut[i.peerDev] {
				peers = append(peers, end{i.peerDev, i.peer})
			}
		}
	}
	o.mu.Unlock()
	o.rebuildView()
	for _, p := range peers {
		p.dev.mu.Lock()
		changed := p.dev.setOper(p.ifc, false, at)
		p.dev.mu.Unlock()
		if changed {
			p.dev.rebuildView()
			tl.darkened = append(tl.darkened, p)
		}
	}
}

// relight undoes darken: the ports it took down come back, and o answers again.
func (tl *timeline) relight(o *device, at time.Time) {
	for _, e := range tl.darkened {
		e.dev.mu.Lock()
		e.dev.setOper(e.ifc, true, at)
		e.dev.mu.Unlock()
	}
	for _, e := range tl.darkened {
		if e.dev != o {
			e.dev.rebuildView()
		}
	}
	o.rebuildView()
	tl.darkened = tl.darkened[:0]
	o.silent.Store(false)
}

// startScan opens the scan's window; the flow generator of the edge device exports its
// probes for the part of each tick inside it.
func (tl *timeline) startScan(at time.Time) {
	fx := &tl.site.fx
	fx.mu.Lock()
	fx.scanFrom, fx.scanTo = at, at.Add(tl.scaled(scanDur))
	fx.mu.Unlock()
}

// startFlood puts the flood on the transit's input curve (so SNMP counts it) and opens its
// window for the flow generator.
func (tl *timeline) startFlood(at time.Time) {
	fx := &tl.site.fx
	to := at.Add(tl.scaled(floodDur))
	d := fx.edge.dev
	d.mu.Lock()
	fx.edge.ifc.in.surge.set(d.sec(at), d.sec(to), floodRate)
	d.mu.Unlock()
	fx.mu.Lock()
	fx.floodFrom, fx.floodTo = at, to
	fx.mu.Unlock()
}

func (tl *timeline) add(at time.Duration, what, dev, ifc string, do func(time.Time)) {
	tl.steps = append(tl.steps, step{at: at, what: what, dev: dev, ifc: ifc, do: do})
}

func (tl *timeline) scaled(d time.Duration) time.Duration {
	return time.Duration(float64(d) * tl.scale)
}

// next is when the next step is due.
func (tl *timeline) next() time.Time {
	return tl.start.Add(tl.scaled(time.Duration(tl.cycle)*cyclePeriod + tl.steps[tl.idx].at))
}

// advance applies, in order, every step due at or before now. Each step takes effect at
// its scheduled time (ifLastChange, sysUpTime, counters), not at the time it is applied.
func (tl *timeline) advance(now time.Time) {
	for at := tl.next(); !at.After(now); at = tl.next() {
		s := tl.steps[tl.idx]
		tl.log.Info("lab incident", "what", s.what, "device", s.dev, "interface", s.ifc, "cycle", tl.cycle)
		s.do(at)
		if tl.idx++; tl.idx == len(tl.steps) {
			tl.idx = 0
			tl.cycle++
		}
	}
}

// run plays the script in real time until ctx is done.
func (tl *timeline) run(ctx context.Context) {
	for {
		t := time.NewTimer(time.Until(tl.next()))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		tl.advance(time.Now())
	}
}

// setLink takes both ends of a link down or up; each end that changes sends a trap.
func (tl *timeline) setLink(ends [2]end, up bool, at time.Time) {
	for _, e := range ends {
		if e.dev != nil {
			tl.setOper(e.dev, e.ifc, up, at, true)
		}
	}
}

func (tl *timeline) setOper(d *device, i *iface, up bool, at time.Time, trap bool) {
	d.mu.Lock()
	changed := d.setOper(i, up, at)
	d.mu.Unlock()
	if !changed {
		return
	}
	d.rebuildView()
	if trap && tl.traps != nil {
		tl.traps.link(d, i, up, at)
	}
}

// powerOff starts the reboot: the device goes silent, its ports go dark, and the devices at
// the other end of its links see them go down.
func (tl *timeline) powerOff(at time.Time) {
	d := tl.site.reboot
	d.silent.Store(true)
	tl.rebooted = tl.rebooted[:0]
	d.mu.Lock()
	for _, i := range d.ifaces {
		if i.Physical && i.operUp && d.setOper(i, false, at) {
			tl.rebooted = append(tl.rebooted, i)
		}
	}
	d.mu.Unlock()
	d.rebuildView()
	for _, i := range tl.rebooted {
		if i.peer != nil {
			tl.setOper(i.peerDev, i.peer, false, at, true)
		}
	}
}

// powerOn ends the reboot: sysUpTime and the counters start again (with
// ifCounterDiscontinuityTime a few seconds after boot), snmpEngineBoots goes up by one, the
// ports come back, and the device sends coldStart.
func (tl *timeline) powerOn(at time.Time) {
	d := tl.site.reboot
	d.mu.Lock()
	d.bootAt = at.Add(-tl.scaled(rebootUptime))
	d.countersAt = d.bootAt.Add(tl.scaled(rebootCards))
	d.boots++
	d.resetCounters(d.sec(at))
	for _, i := range tl.rebooted {
		d.setOper(i, true, at)
	}
	d.mu.Unlock()
	d.rebuildView()
	d.silent.Store(false)
	if tl.traps != nil {
		tl.traps.coldStart(d, at)
	}
	for _, i := range tl.rebooted {
		if i.peer != nil {
			tl.setOper(i.peerDev, i.peer, true, at, true)
		}
	}
}

func (tl *timeline) setErrors(e end, rate float64, at time.Time) {
	e.dev.mu.Lock()
	e.ifc.setErrors(rate, e.dev.sec(at))
	e.dev.mu.Unlock()
}
