package snmp

import (
	"fmt"
	"time"

	"github.com/watchfloor/watchfloor"
)

// eventSource is Event.Source for what the poller sees.
const eventSource = "snmp.poll"

// tracker is the state machine of one device: it turns each poll's outcome into the device's
// full state, its samples and its state-change events. It does no I/O and reads no clock, so
// tests feed it readings directly.
//
// The first answered poll is the baseline: no events, no rates. After it:
//   - DownAfter failed polls in a row make the device Down (device.unreachable, high); a
//     device that never answers becomes Down the same way. The next answer makes it Up again
//     (device.reachable, info).
//   - sysUpTime going back, or an uptime shorter than the time since the last answer, is a
//     restart (device.rebooted, medium): every interface re-baselines, no rates that poll.
//   - An interface whose admin status goes down gives interface.admin_down (low), and back up
//     interface.admin_up (info). One whose oper status leaves up while it is admin up gives
//     interface.down (medium); oper status reaching up gives interface.up (info).
//
// Slices handed out (Device.Interfaces, Device.Neighbors, samples, events) are never touched
// again by the tracker.
type tracker struct {
	downAfter int
	dev       watchfloor.Device // as last published
	answered  bool              // a poll was answered: there is a baseline
	failures  int               // failed polls in a row
	uptime    uint32            // sysUpTime at the last answer
	uptimeAt  time.Time
	ifs       map[int32]*ifTrack
	gen       uint64
}

// ifTrack is what the tracker remembers of an interface between polls.
type ifTrack struct {
	base  baseline
	iface watchfloor.Interface // as last published, rates included
	gen   uint64
}

func newTracker(t Target, site string, downAfter int) *tracker {
	return &tracker{
		downAfter: max(1, downAfter),
		dev: watchfloor.Device{
			Name:       t.Name,
			Address:    normalAddress(t.Address),
			Site:       site,
			Role:       t.Role,
			Status:     watchfloor.DeviceUnknown,
			Interfaces: []watchfloor.Interface{},
		},
		ifs: make(map[int32]*ifTrack),
	}
}

func (t *tracker) event(at time.Time, kind watchfloor.EventKind, sev watchfloor.Severity, msg string) watchfloor.Event {
	return watchfloor.Event{
		Time: at, Kind: kind, Severity: sev, Site: t.dev.Site, Device: t.dev.Name,
		Source: eventSource, Message: msg,
	}
}

// failure records a poll that got no answer (err says why; it must hold no secret). It
// returns the device's state and the events, if any.
func (t *tracker) failure(at time.Time, took time.Duration, err string) (watchfloor.Device, []watchfloor.Event) {
	t.failures++
	dev := t.dev
	dev.PollError = err
	dev.PollSeconds = took.Seconds()
	var evs []watchfloor.Event
	if t.failures >= t.downAfter && dev.Status != watchfloor.DeviceDown {
		dev.Status = watchfloor.DeviceDown
		dev.LastChange = at
		evs = append(evs, t.event(at, watchfloor.EventDeviceUnreachable, watchfloor.SeverityHigh,
			fmt.Sprintf("%s unreachable: %d polls in a row failed (%s)", dev.Name, t.failures, err)))
	}
	t.dev = dev
	return dev, evs
}

// success records an answered poll. r.walkErr set means the device answered the system
// group but its tables could not be walked: it is up, its interfaces stay as they were.
func (t *tracker) success(r *reading, took time.Duration) (watchfloor.Device, []watchfloor.Sample, []watchfloor.Event) {
	at := r.at
	dev := t.dev
	var evs []watchfloor.Event
	first := !t.answered

	switch dev.Status {
	case watchfloor.DeviceDown:
		evs = append(evs, t.event(at, watchfloor.EventDeviceReachable, watchfloor.SeverityInfo,
			fmt.Sprintf("%s reachable again after %d failed polls", dev.Name, t.failures)))
		fallthrough
	case watchfloor.DeviceUnknown:
		dev.Status = watchfloor.DeviceUp
		dev.LastChange = at
	}
	t.failures = 0

	rebooted := !first && rebootedSince(t.uptime, r.uptime, at.Sub(t.uptimeAt))
	if rebooted {
		evs = append(evs, t.event(at, watchfloor.EventDeviceRebooted, watchfloor.SeverityMedium,
			fmt.Sprintf("%s rebooted (uptime %s, was %s)", dev.Name, ticks(r.uptime), ticks(t.uptime))))
	}
	t.answered = true
	t.uptime, t.uptimeAt = r.uptime, at

	dev.SysName, dev.SysDescr, dev.SysObjectID = r.sysName, r.sysDescr, r.sysObjectID
	dev.UptimeS = int64(r.uptime / 100)
	dev.LastPoll = at
	dev.PollSeconds = took.Seconds()
	dev.PollError = r.walkErr

	if r.walkErr != "" {
		if rebooted {
			for _, f := range t.ifs {
				f.base.valid = false
			}
		}
		t.dev = dev
		return dev, nil, evs
	}

	samples := make([]watchfloor.Sample, 0, 9*len(r.ifs)+3)
	sample := func(ifIndex int32, metric string, v float64) {
		samples = append(samples, watchfloor.Sample{Device: dev.Name, IfIndex: ifIndex, Metric: metric, Time: at, Value: v})
	}
	t.gen++
	ifaces := make([]watchfloor.Interface, 0, len(r.ifs))
	for i := range r.ifs {
		row := &r.ifs[i]
		f := t.ifs[row.index]
		known := f != nil
		if !known {
			f = &ifTrack{}
			t.ifs[row.index] = f
		}
		f.gen = t.gen
		prev := f.iface
		cur := watchfloor.Interface{
			Index:       row.index,
			Name:        row.displayName(),
			Descr:       row.descr,
			Alias:       row.alias,
			SpeedBps:    row.speedBps(),
			AdminStatus: row.admin,
			OperStatus:  row.oper,
			HC:          row.has(colIfHCInOctets),
		}
		// A re-baselined interface keeps its last rates rather than dropping to zero.
		cur.InBps, cur.OutBps, cur.InPps, cur.OutPps = prev.InBps, prev.OutBps, prev.InPps, prev.OutPps
		cur.InErrorsPS, cur.OutErrorsPS, cur.InDiscardsPS, cur.OutDiscardsPS = prev.InErrorsPS, prev.OutErrorsPS, prev.InDiscardsPS, prev.OutDiscardsPS
		cur.Utilization = prev.Utilization

		rt, have, res := f.base.advance(row.counters(), row.disc, at, row.boundBps(), rebooted)
		if res == rateOK && have != 0 {
			set := func(i int, dst *float64, scale float64, metric string) {
				if have&(1<<i) != 0 {
					*dst = rt[i] * scale
					sample(row.index, metric, *dst)
				}
			}
			set(ctrInOctets, &cur.InBps, 8, watchfloor.MetricInBps)
			set(ctrOutOctets, &cur.OutBps, 8, watchfloor.MetricOutBps)
			set(ctrInUcast, &cur.InPps, 1, watchfloor.MetricInPps)
			set(ctrOutUcast, &cur.OutPps, 1, watchfloor.MetricOutPps)
			set(ctrInErrors, &cur.InErrorsPS, 1, watchfloor.MetricInErrorsPS)
			set(ctrOutErrors, &cur.OutErrorsPS, 1, watchfloor.MetricOutErrorsPS)
			set(ctrInDiscards, &cur.InDiscardsPS, 1, watchfloor.MetricInDiscardsPS)
			set(ctrOutDiscards, &cur.OutDiscardsPS, 1, watchfloor.MetricOutDiscardsPS)
			cur.Utilization = 0
			if cur.SpeedBps > 0 {
				cur.Utilization = max(cur.InBps, cur.OutBps) / float64(cur.SpeedBps) * 100
			}
			if have&(1<<ctrInOctets|1<<ctrOutOctets) != 0 {
				sample(row.index, watchfloor.MetricUtilization, cur.Utilization)
			}
		}
		if known && !first {
			evs = t.ifEvents(evs, at, prev, cur)
		}
		f.iface = cur
		ifaces = append(ifaces, cur)
	}
	for idx, f := range t.ifs {
		if f.gen != t.gen {
			delete(t.ifs, idx)
		}
	}
	dev.Interfaces = ifaces
	dev.Neighbors = r.neighbors()
	dev.CPUPercent, dev.MemPercent = r.cpu(), r.mem()
	if dev.CPUPercent != nil {
		sample(0, watchfloor.MetricCPUPercent, *dev.CPUPercent)
	}
	if dev.MemPercent != nil {
		sample(0, watchfloor.MetricMemPercent, *dev.MemPercent)
	}
	sample(0, watchfloor.MetricPollSeconds, dev.PollSeconds)
	t.dev = dev
	return dev, samples, evs
}

// ifEvents appends the events of an interface's change from prev to cur.
func (t *tracker) ifEvents(evs []watchfloor.Event, at time.Time, prev, cur watchfloor.Interface) []watchfloor.Event {
	ev := func(kind watchfloor.EventKind, sev watchfloor.Severity, msg string) {
		e := t.event(at, kind, sev, msg)
		e.Interface, e.IfIndex = cur.Name, cur.Index
		e.Attrs = []watchfloor.Attr{
			{Key: "admin_status", Value: cur.AdminStatus.String()},
			{Key: "oper_status", Value: cur.OperStatus.String()},
		}
		evs = append(evs, e)
	}
	adminDown := cur.AdminStatus == watchfloor.IfDown
	switch {
	case prev.AdminStatus != watchfloor.IfDown && adminDown && prev.AdminStatus != 0:
		ev(watchfloor.EventInterfaceAdminDown, watchfloor.SeverityLow,
			fmt.Sprintf("%s %s admin down", t.dev.Name, cur.Name))
	case prev.AdminStatus == watchfloor.IfDown && cur.AdminStatus == watchfloor.IfUp:
		ev(watchfloor.EventInterfaceAdminUp, watchfloor.SeverityInfo,
			fmt.Sprintf("%s %s admin up", t.dev.Name, cur.Name))
	}
	switch {
	case prev.OperStatus == watchfloor.IfUp && cur.OperStatus != watchfloor.IfUp && !adminDown:
		ev(watchfloor.EventInterfaceDown, watchfloor.SeverityMedium,
			fmt.Sprintf("%s %s oper %s (admin %s)", t.dev.Name, cur.Name, cur.OperStatus, cur.AdminStatus))
	case prev.OperStatus != watchfloor.IfUp && prev.OperStatus != 0 && cur.OperStatus == watchfloor.IfUp:
		ev(watchfloor.EventInterfaceUp, watchfloor.SeverityInfo,
			fmt.Sprintf("%s %s oper up", t.dev.Name, cur.Name))
	}
	return evs
}

// ticks renders a sysUpTime for a human: 3d4h5m, 42s.
func ticks(t uint32) string {
	d := time.Duration(t) * 10 * time.Millisecond
	days := d / (24 * time.Hour)
	d -= days * 24 * time.Hour
	if days > 0 {
		return fmt.Sprintf("%dd%s", days, d.Truncate(time.Minute))
	}
	return d.Truncate(time.Second).String()
}
