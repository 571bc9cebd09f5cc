package labmonth

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/appliance/lab"
	"github.com/watchfloor/watchfloor/correlator/alerts"
	"github.com/watchfloor/watchfloor/correlator/notify"
	"github.com/watchfloor/watchfloor/correlator/notify/dispatch"
)

// floodRate is the lab's flood on top of the transit's curve, in bytes per second
// (appliance/lab flowgen.go: 1.2 Gbit/s).
const floodRate = 150e6

// secIncident is one security incident of the day: what the lab's flow and packet
// incidents make the default pack raise.
type secIncident struct {
	rule     string
	at       time.Time
	dur      time.Duration
	labels   []watchfloor.Attr
	evidence watchfloor.Evidence
}

func attrs(kv ...string) []watchfloor.Attr {
	var out []watchfloor.Attr
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, watchfloor.Attr{Key: kv[i], Value: kv[i+1]})
	}
	return out
}

// security draws the day's security incidents (seeded): each of the lab's incidents on
// some days, once or twice.
func (w *writer) security(day time.Time) []secIncident {
	r := w.rng
	var out []secIncident
	add := func(prob int, rule string, dur time.Duration, ev watchfloor.Evidence, labels ...string) {
		for range 2 {
			if r.IntN(100) >= prob {
				return
			}
			out = append(out, secIncident{rule: rule, at: w.at(day, 0, 23), dur: dur, labels: attrs(labels...), evidence: ev})
		}
	}
	ps := lab.PortScanTarget.String()
	add(45, "port_scan_vertical", 3*time.Minute, watchfloor.Evidence{Kind: "tcp.syn", Summary: "distinct_count of dst_port = 1024 within 1m"},
		"src_ip", lab.PortScanSource.String(), "dst_ip", ps)
	add(25, "host_sweep", 4*time.Minute, watchfloor.Evidence{Kind: "icmp", Summary: "distinct_count of dst_ip = 256 within 1m"},
		"src_ip", lab.SweepSource.String())
	add(35, "horizontal_scan", 2*time.Minute, watchfloor.Evidence{Kind: "correlation", Summary: "distinct_count of dst_ip = 180 within 1m"},
		"src_ip", lab.ScanSource.String(), "dst_port", "22")
	add(15, "dns_tunnel", 10*time.Minute, watchfloor.Evidence{Kind: "dns.query", Summary: "event_count = 400 within 5m"},
		"src_ip", lab.TunnelClient.String())
	add(12, "tls_beacon", 40*time.Minute, watchfloor.Evidence{Kind: "tls.client_hello", Summary: "event_count = 30 within 30m"},
		"src_ip", lab.BeaconClient.String(), "dst_ip", lab.BeaconServer.Addr().String(), "dst_port", fmt.Sprint(lab.BeaconServer.Port()))
	pps := 80000 + r.IntN(80000)
	add(20, "syn_flood", 2*time.Minute, watchfloor.Evidence{Kind: "tcp.syn", Summary: fmt.Sprintf("event_count = %d within 10s", pps*10)},
		"dst_ip", lab.SynFloodTarget.Addr().String(), "dst_port", fmt.Sprint(lab.SynFloodTarget.Port()))
	add(22, "volumetric_flood_bps", time.Minute+time.Duration(r.IntN(240))*time.Second,
		watchfloor.Evidence{Kind: "correlation", Summary: fmt.Sprintf("value_sum of bytes = %d within 1m", int64(floodRate*60*(0.8+0.4*r.Float64())))},
		"dst_ip", lab.FloodVictim.String(), "device", "core-r1")
	add(6, "bad_address_in", 5*time.Minute, watchfloor.Evidence{Kind: "flow"},
		"src_ip", "198.51.100.13", "dst_ip", "10.20.101.30", "dst_port", "443")
	add(3, "telnet_crossing", 15*time.Minute, watchfloor.Evidence{Kind: "flow"},
		"src_ip", "10.20.12.44", "dst_ip", "203.0.113.23", "dst_port", "23")
	slices.SortStableFunc(out, func(a, b secIncident) int { return a.at.Compare(b.at) })
	return out
}

// flows writes the day's hourly flow rollups: the two transits (IPFIX from the cores), a
// diurnal curve, the floods on core-r1's, nothing in the gaps.
func (w *writer) flows(ctx context.Context, day, next time.Time, p *plan) error {
	var transits []*watchfloor.Interface
	var devs []string
	// The cores export IPFIX for their transits; the access switches sFlow for their uplinks.
	for _, n := range []string{"core-r1", "core-r2", "acc-a1", "acc-a2", "acc-a3", "acc-a4", "acc-a5", "acc-a6"} {
		for _, name := range []string{"xe-0/1/4", "Te1/1/1"} {
			if ifc := iface(w.devs[n], name); ifc != nil {
				transits, devs = append(transits, ifc), append(devs, n)
			}
		}
	}
	for h := day; h.Before(next); h = h.Add(time.Hour) {
		if gap := func(s *span) bool { return s != nil && s.has(h) }; gap(p.pollGap) || gap(p.flowGap) {
			continue
		}
		ro := watchfloor.FlowRollup{Site: w.site, Start: h, Step: time.Hour}
		for k, ifc := range transits {
			t := watchfloor.IfTraffic{Device: devs[k], IfIndex: uint32(ifc.Index), Interface: ifc.Name, SpeedBps: ifc.SpeedBps,
				In5m: make([]uint64, 12), Out5m: make([]uint64, 12)}
			for s := range 12 {
				from := h.Add(time.Duration(s) * 5 * time.Minute)
				in := diurnal(from, ifc, w.rng) / 8 * 300
				out := 0.6 * diurnal(from, ifc, w.rng) / 8 * 300
				if devs[k] == "core-r1" {
					for _, f := range p.floods {
						in += floodRate * overlap(from, from.Add(5*time.Minute), f.from, f.to).Seconds()
					}
				}
				t.In5m[s], t.Out5m[s] = uint64(in), uint64(out)
				t.InBytes += uint64(in)
				t.OutBytes += uint64(out)
			}
			t.InPackets, t.OutPackets = t.InBytes/900, t.OutBytes/900
			ro.Interfaces = append(ro.Interfaces, t)
			ro.Totals.Bytes += t.InBytes + t.OutBytes
			ro.Totals.Packets += t.InPackets + t.OutPackets
		}
		ro.Totals.Flows = ro.Totals.Bytes / 60_000
		w.batch.FlowRollups = append(w.batch.FlowRollups, ro)
		w.day.FlowRollups++
	}
	return w.flush(ctx)
}

func overlap(a0, a1, b0, b1 time.Time) time.Duration {
	from, to := max(a0.UnixNano(), b0.UnixNano()), min(a1.UnixNano(), b1.UnixNano())
	return time.Duration(max(to-from, 0))
}

// fire raises one match of a pack rule through the Manager.
func (w *writer) fire(rule string, at time.Time, ent watchfloor.Entity, labels []watchfloor.Attr, ev *watchfloor.Evidence, resolveAfter time.Duration) (watchfloor.Alert, error) {
	ru := w.pack.ByName[rule]
	if ru == nil {
		return watchfloor.Alert{}, fmt.Errorf("labmonth: the pack has no rule %s", rule)
	}
	keys := make([]string, 0, len(labels))
	for _, l := range labels {
		keys = append(keys, l.Key+"="+l.Value)
	}
	title := ru.Title
	if len(keys) > 0 {
		title += ": " + strings.Join(keys, " ")
	}
	ent.Site = w.site
	if ev != nil {
		ev.Time = at
	}
	w.now = at
	a, _ := w.mgr.Fire(alerts.Match{Rule: rule, RuleTitle: ru.Title, Key: strings.Join(keys, ","), Severity: ru.Level,
		Category: ru.Category, Title: title, Entity: ent, Tags: ru.Tags, Techniques: ru.Techniques, Labels: labels,
		Time: at, Evidence: ev, ResolveAfter: resolveAfter})
	if a.ID == 0 {
		return a, fmt.Errorf("labmonth: %s at %v was dropped", rule, at)
	}
	w.day.Alerts++
	return a, nil
}

// occurrence is one thing that happened, to be alerted on, acknowledged and resolved.
type occurrence struct {
	at   time.Time
	run  func() error
	name string
}

// incidentsOf raises the day's alerts in time order, acknowledges and resolves them, and
// writes the incidents and pages the dispatcher would.
func (w *writer) incidentsOf(ctx context.Context, day time.Time, p *plan) error {
	var occ []occurrence
	for _, s := range p.sec {
		occ = append(occ, occurrence{at: s.at, name: s.rule, run: func() error {
			var last watchfloor.Alert
			// The rule matches every minute of the incident; the alert resolves after the
			// pack's quiet period.
			for t := s.at; !t.After(s.at.Add(s.dur)); t = t.Add(time.Minute) {
				ev := s.evidence
				a, err := w.fire(s.rule, t, watchfloor.Entity{Host: cmp.Or(label(s.labels, "dst_ip"), label(s.labels, "src_ip"))}, s.labels, &ev, 5*time.Minute)
				if err != nil {
					return err
				}
				if last.ID != 0 && a.ID == last.ID {
					w.day.Alerts-- // an update, not a new alert
				}
				last = a
			}
			end := s.at.Add(s.dur + 5*time.Minute)
			return w.respond(last, s.at, end, func() { w.mgr.Tick(end.Add(time.Second)) })
		}})
	}
	if o := p.outage; o != nil {
		occ = append(occ, occurrence{at: o.from, name: "outage", run: func() error {
			at := o.from.Add(2 * w.step)
			root, err := w.fire("device_unreachable", at, watchfloor.Entity{Device: "dist-s3"}, attrs("device", "dist-s3"), nil, 0)
			if err != nil {
				return err
			}
			var kids []uint64
			for _, d := range []string{"acc-a5", "acc-a6"} {
				a, err := w.fire("device_unreachable", at, watchfloor.Entity{Device: d}, attrs("device", d), nil, 0)
				if err != nil {
					return err
				}
				kids = append(kids, a.ID)
			}
			for _, c := range []string{"core-r1", "core-r2"} {
				a, err := w.fire("interface_down", o.from.Add(w.step/2), watchfloor.Entity{Device: c, Interface: "xe-0/1/2"},
					attrs("device", c, "interface", "xe-0/1/2"), nil, 0)
				if err != nil {
					return err
				}
				kids = append(kids, a.ID)
			}
			w.mgr.Suppress(root.ID, kids)
			return w.respond(root, at, o.to.Add(w.step/2), func() {
				t := o.to.Add(w.step / 2)
				for _, d := range []string{"dist-s3", "acc-a5", "acc-a6"} {
					w.mgr.Recover("device_unreachable", "device="+d, t)
				}
				for _, c := range []string{"core-r1", "core-r2"} {
					w.mgr.Recover("interface_down", "device="+c+",interface=xe-0/1/2", t)
				}
				w.mgr.Unsuppress(root.ID)
			})
		}})
	}
	if b := p.reboot; b != nil {
		occ = append(occ, occurrence{at: b.from, name: "reboot", run: func() error {
			at := b.from.Add(2 * w.step)
			a, err := w.fire("device_unreachable", at, watchfloor.Entity{Device: "acc-a5"}, attrs("device", "acc-a5"), nil, 0)
			if err != nil {
				return err
			}
			up := b.to.Add(w.step / 2)
			if err := w.respond(a, at, up, func() { w.mgr.Recover("device_unreachable", "device=acc-a5", up) }); err != nil {
				return err
			}
			_, err = w.fire("device_rebooted", up, watchfloor.Entity{Device: "acc-a5"}, attrs("device", "acc-a5"), nil, time.Hour)
			return err
		}})
	}
	if len(p.flaps) > 0 {
		f := p.flaps
		occ = append(occ, occurrence{at: f[0].from, name: "flaps", run: func() error {
			var first watchfloor.Alert
			for k, fl := range f {
				a, err := w.fire("interface_down", fl.from.Add(w.step/2), watchfloor.Entity{Device: "acc-a3", Interface: "Te1/1/1"},
					attrs("device", "acc-a3", "interface", "Te1/1/1"), nil, 0)
				if err != nil {
					return err
				}
				w.mgr.Recover("interface_down", "device=acc-a3,interface=Te1/1/1", fl.to.Add(w.step/2))
				if k == 0 {
					first = a
				}
			}
			fl, err := w.fire("link_flapping", f[2].from, watchfloor.Entity{Device: "acc-a3", Interface: "Te1/1/1"},
				attrs("device", "acc-a3", "interface", "Te1/1/1"), &watchfloor.Evidence{Kind: "correlation", Summary: "event_count = 3 within 1h"}, time.Hour)
			if err != nil {
				return err
			}
			_ = first
			end := f[2].to.Add(time.Hour)
			return w.respond(fl, f[2].from, end, func() { w.mgr.Tick(end.Add(time.Second)) })
		}})
	}
	if e := p.errors; e != nil {
		occ = append(occ, occurrence{at: e.from, name: "errors", run: func() error {
			_, err := w.fire("interface_errors", e.from.Add(5*time.Minute), watchfloor.Entity{Device: "acc-a2", Interface: "Gi1/0/7"},
				attrs("device", "acc-a2", "interface", "Gi1/0/7"), nil, 15*time.Minute)
			if err != nil {
				return err
			}
			w.mgr.Tick(e.to.Add(20 * time.Minute))
			return nil
		}})
	}
	slices.SortStableFunc(occ, func(a, b occurrence) int { return a.at.Compare(b.at) })
	for _, o := range occ {
		if err := o.run(); err != nil {
			return fmt.Errorf("%s: %w", o.name, err)
		}
	}
	w.mgr.Tick(day.AddDate(0, 0, 1))
	if err := w.mgr.Flush(ctx); err != nil {
		return err
	}
	if err := w.st.SaveDispatch(nil, nil, w.incs, w.log); err != nil {
		return err
	}
	w.incs, w.log = nil, nil
	return nil
}

func label(ls []watchfloor.Attr, k string) string {
	for _, l := range ls {
		if l.Key == k {
			return l.Value
		}
	}
	return ""
}

// respond pages about a (high and critical alerts page the on-call engineer by mail after
// the route's 30 s group wait), acknowledges it after a delay that depends on the hour
// (slower at night; sometimes only after the escalation to the second person, 15 minutes
// on), and resolves it at resolved (resolve does it: a recovery or the quiet period).
func (w *writer) respond(a watchfloor.Alert, fired, resolved time.Time, resolve func()) error {
	r := w.rng
	pages := a.Severity >= watchfloor.SeverityHigh
	var in dispatch.Incident
	opened := fired.Add(30 * time.Second)
	ackAt := time.Time{}
	if pages {
		group := fmt.Sprintf("{}:{alertname=%q}", a.Rule)
		in = dispatch.Incident{ID: dispatch.IncidentID(opened, group), Groups: []string{group}, Policy: "noc", Title: a.Title,
			Severity: a.Severity, Alerts: []uint64{a.ID}, Opened: opened, Pages: 1}
		page := func(t time.Time, level int, target string, st notify.Status) {
			id := fmt.Sprintf("%s-%d-%s", in.ID, level, st)
			e := dispatch.LogEntry{Time: t, NotificationID: id, Incident: in.ID, GroupKey: group, Receiver: "noc-mail", Target: target,
				Level: level, Status: st, Severity: a.Severity, Title: a.Title, Alerts: []uint64{a.ID}}
			q := e
			q.Result = dispatch.ResultQueued
			d := e
			d.Time, d.Result, d.Attempt = t.Add(time.Duration(400+r.IntN(1500))*time.Millisecond), dispatch.ResultDelivered, 1
			w.log = append(w.log, q, d)
			w.day.Notifications += 2
		}
		page(opened, 0, "person:ann", notify.StatusFiring)
		h := opened.Hour()
		night := h < 7 || h >= 20
		delay := time.Duration(1+r.IntN(12)) * time.Minute
		if night {
			delay = time.Duration(4+r.IntN(30)) * time.Minute
		}
		if r.IntN(10) == 0 || opened.Add(delay).After(resolved) && r.IntN(2) == 0 {
			delay = 0 // resolved before anyone looked
		}
		if delay > 15*time.Minute || delay == 0 && resolved.Sub(opened) > 15*time.Minute {
			in.Escalations, in.Pages = 1, 2
			page(opened.Add(15*time.Minute), 1, "person:bob", notify.StatusFiring)
		}
		if delay > 0 && opened.Add(delay).Before(resolved) {
			ackAt = opened.Add(delay)
			w.now = ackAt
			if err := w.mgr.Ack(a.ID, "ann", "looking"); err != nil {
				return err
			}
			in.Acked, in.AckedBy = ackAt, "ann"
		}
		in.Resolved = resolved
		page(resolved.Add(30*time.Second), 0, "person:ann", notify.StatusResolved)
		w.incs = append(w.incs, in)
		w.day.Incidents++
	}
	w.now = resolved
	resolve()
	return nil
}
