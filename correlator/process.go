package correlator

import (
	"strconv"
	"strings"
	"time"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/correlator/alerts"
	"github.com/watchfloor/watchfloor/correlator/window"
)

type windowMatch = window.Match

// process handles one batch on the engine's goroutine.
func (e *Engine) process(b *batch) {
	start := time.Now()
	p := e.prog.Load()
	var r rec
	for _, h := range b.hits {
		n := b.prog.nodes[h.rule]
		if b.prog != p { // matched by the rules before a Swap: map by name
			if n = p.byName[n.r.Name]; n == nil {
				continue
			}
		}
		switch {
		case len(b.flows) > 0:
			r = rec{typ: tFlow, f: &b.flows[h.rec]}
		case len(b.obs) > 0:
			r = rec{typ: tObs, o: &b.obs[h.rec]}
		case len(b.events) > 0:
			r = rec{typ: tEvent, e: &b.events[h.rec]}
		default:
			r = rec{typ: tSample, s: &b.samples[h.rec]}
		}
		v := view{r: &r, t: r.time()}
		e.matched(n, &v)
	}
	e.putBatch(b)
	e.m.evalTime[pathEngine].Observe(time.Since(start).Seconds())
}

// matched acts on one match of rule n (a record, or a correlation's firing).
func (e *Engine) matched(n *ruleNode, v *view) {
	n.hits.Add(1)
	n.lastHit.Store(v.t)
	if n.generate {
		e.fire(n, v, n.r.Alert.ResolveAfter)
	}
	for i := range n.recovers {
		rc := &n.recovers[i]
		e.mgr.Recover(rc.target.r.Name, buildKey(rc.target.idNames, rc.key, v), time.Unix(0, v.t))
	}
	for i := range n.feeds {
		f := &n.feeds[i]
		m, ok := e.add(f.c, f, v)
		if ok {
			e.corrMatch(f.c, m)
		}
	}
}

// corrMatch acts on what a correlation's window reported.
func (e *Engine) corrMatch(cn *corrNode, m window.Match) {
	n := cn.n
	switch m.State {
	case window.Pending:
		return
	case window.Resolved:
		vals := decodeKey(m.Key, e.valBuf[:0])
		e.valBuf = vals
		v := view{vals: vals, value: m.Value, t: m.End.UnixNano()}
		if n.generate {
			e.mgr.Recover(n.r.Name, buildKey(n.idNames, n.identity, &v), m.End)
		}
		return
	}
	end := m.End.UnixNano()
	if !m.Rising {
		// Still holding: refresh the alert now and then so its quiet period counts from
		// when the condition last held.
		if !n.generate {
			return
		}
		last, ok := cn.refreshed[string(m.Key)]
		if !ok || end-last < int64(e.cfg.RefreshInterval) {
			return
		}
		cn.refreshed[string(m.Key)] = end
		vals := decodeKey(m.Key, e.valBuf[:0])
		e.valBuf = vals
		v := view{vals: vals, value: m.Value, t: end, start: m.Start.UnixNano(), end: end, approx: m.Approximate}
		e.refresh(n, &v)
		return
	}
	if n.generate && len(cn.refreshed) < maxRefreshed {
		cn.refreshed[string(m.Key)] = end
	}
	// The values outlive this call when chained: decode into a fresh slice.
	vals := decodeKey(m.Key, make([]val, 0, len(cn.c.GroupBy)))
	v := view{vals: vals, value: m.Value, t: end, start: m.Start.UnixNano(), end: end, approx: m.Approximate}
	if cn.th != nil {
		v.value = cn.sample // the sample, not the seconds held
	}
	ra := n.r.Alert.ResolveAfter
	if cn.ab != nil || cn.th != nil {
		ra = 0 // they resolve themselves
	}
	if n.generate {
		e.fire(n, &v, ra)
		n.lastFire[buildKey(n.idNames, n.identity, &v)] = end
	}
	for i := range n.recovers {
		rc := &n.recovers[i]
		e.mgr.Recover(rc.target.r.Name, buildKey(rc.target.idNames, rc.key, &v), m.End)
	}
	for i := range n.feeds {
		f := &n.feeds[i]
		if m2, ok := e.add(f.c, f, &v); ok {
			e.corrMatch(f.c, m2)
		}
	}
}

// buildKey renders identity values as "field=value,…".
func buildKey(names []string, srcs []src, v *view) string {
	if len(names) == 0 {
		return ""
	}
	var b strings.Builder
	for i := range srcs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(names[i])
		b.WriteByte('=')
		b.WriteString(srcs[i].get(v).String())
	}
	return b.String()
}

func render(parts []tsrc, v *view) string {
	var b strings.Builder
	for _, p := range parts {
		if p.src == nil {
			b.WriteString(p.lit)
			continue
		}
		x := p.src.get(v)
		if p.src.value {
			b.WriteString(strconv.FormatFloat(roundValue(x.n), 'f', -1, 64))
			continue
		}
		b.WriteString(x.String())
	}
	return b.String()
}

// roundValue keeps two decimals of measured values (averages, percentiles) in titles.
func roundValue(x float64) float64 {
	if x == float64(int64(x)) {
		return x
	}
	return float64(int64(x*100+0.5)) / 100
}

// refresh updates an open alert without rendering it (the title stays).
func (e *Engine) refresh(n *ruleNode, v *view) {
	e.mgr.Fire(alerts.Match{
		Rule: n.r.Name, RuleTitle: n.r.Title, Key: buildKey(n.idNames, n.identity, v),
		Severity: n.r.Level, Category: n.r.Category, Time: time.Unix(0, v.t),
		ResolveAfter: n.r.Alert.ResolveAfter,
	})
}

// fire raises or updates the alert of rule n for the match v.
func (e *Engine) fire(n *ruleNode, v *view, resolveAfter time.Duration) {
	key := buildKey(n.idNames, n.identity, v)
	if n.corr == nil {
		if last, ok := n.lastFire[key]; ok && v.t-last < int64(e.cfg.RefreshInterval) && v.t >= last {
			e.mgr.Fire(alerts.Match{Rule: n.r.Name, RuleTitle: n.r.Title, Key: key, Severity: n.r.Level,
				Category: n.r.Category, Time: time.Unix(0, v.t), ResolveAfter: resolveAfter})
			return
		}
		n.lastFire[key] = v.t
	}
	var ent watchfloor.Entity
	for i, s := range n.entity {
		if s == nil {
			continue
		}
		x := strings.Clone(s.get(v).String())
		switch i {
		case 0:
			ent.Host = x
		case 1:
			ent.Device = x
		case 2:
			ent.Interface = x
		case 3:
			ent.Site = x
		}
	}
	if ent.Site == "" && v.r != nil {
		switch v.r.typ {
		case tFlow:
			ent.Site = v.r.f.Site
		case tObs:
			ent.Site = v.r.o.Site
		case tEvent:
			ent.Site = v.r.e.Site
		}
	}
	if ent.Site == "" {
		ent.Site = e.cfg.Site
	}
	labels := make([]watchfloor.Attr, len(n.identity))
	for i := range n.identity {
		labels[i] = watchfloor.Attr{Key: n.idNames[i], Value: strings.Clone(n.identity[i].get(v).String())}
	}
	ev := evidence(n, v, labels)
	e.mgr.Fire(alerts.Match{
		Rule: n.r.Name, RuleTitle: n.r.Title, Key: key,
		Severity: n.r.Level, Category: n.r.Category,
		Title: render(n.title, v), Description: render(n.desc, v),
		Entity: ent, Tags: n.r.Tags, Techniques: n.r.Techniques, Runbook: n.r.Alert.Runbook,
		Labels: labels, Time: time.Unix(0, v.t), Evidence: &ev, ResolveAfter: resolveAfter,
	})
}

// evidence summarises the record, or the correlation's value, of a match.
func evidence(n *ruleNode, v *view, fields []watchfloor.Attr) watchfloor.Evidence {
	ev := watchfloor.Evidence{Time: time.Unix(0, v.t), Fields: fields}
	if v.r == nil {
		c := n.r.Correlation
		ev.Kind = "correlation"
		var b strings.Builder
		b.WriteString(string(c.Type))
		if f := c.Condition.Field; f != nil {
			b.WriteString(" of " + f.Name)
		}
		b.WriteString(" = ")
		b.WriteString(strconv.FormatFloat(roundValue(v.value), 'f', -1, 64))
		if v.approx {
			b.WriteString(" (approximate)")
		}
		if c.Timespan > 0 {
			b.WriteString(" within " + c.Timespan.String())
		}
		ev.Summary = b.String()
		return ev
	}
	r := v.r
	switch r.typ {
	case tFlow:
		f := r.f
		ev.Kind = "flow"
		ev.Summary = "flow " + f.SrcAddr.String() + ":" + strconv.Itoa(int(f.SrcPort)) + " → " + f.DstAddr.String() + ":" +
			strconv.Itoa(int(f.DstPort)) + " proto " + strconv.Itoa(int(f.Proto)) + ", " + strconv.FormatUint(f.Bytes, 10) + " bytes, " +
			strconv.FormatUint(f.Packets, 10) + " packets, exporter " + f.Exporter.String()
	case tObs:
		o := r.o
		ev.Kind = o.Kind.String()
		ev.Summary = o.Kind.String() + " " + o.SrcAddr.String() + ":" + strconv.Itoa(int(o.SrcPort)) + " → " + o.DstAddr.String() + ":" + strconv.Itoa(int(o.DstPort))
		if len(o.Name) > 0 {
			ev.Summary += " " + string(o.Name)
		}
	case tEvent:
		ev.Kind = "event"
		ev.Summary = string(r.e.Kind) + " " + r.e.Device
		if r.e.Interface != "" {
			ev.Summary += " " + r.e.Interface
		}
		if r.e.Message != "" {
			ev.Summary += ": " + r.e.Message
		}
	case tSample:
		ev.Kind = "metric"
		ev.Summary = r.s.Device + " " + r.s.Metric + " = " + strconv.FormatFloat(r.s.Value, 'f', -1, 64)
		if r.s.IfIndex != 0 {
			ev.Summary += " (ifIndex " + strconv.Itoa(int(r.s.IfIndex)) + ")"
		}
	}
	return ev
}
