package correlator

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/correlator/alerts"
	"github.com/watchfloor/watchfloor/rules"
)

// TestEpoch is the event time of a rule test case's start (time: 0s).
var TestEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// TestResult is the outcome of one rule test case.
type TestResult struct {
	Name     string
	Line     int
	Records  int
	Failures []string // empty: passed
}

// Passed reports whether the case passed.
func (r TestResult) Passed() bool { return len(r.Failures) == 0 }

// RunTests runs every case of tf through a fresh Engine and alerts.Manager (on a MemStore,
// with the manager's clock at event time), promtool-style: at each expectation's `at`, after
// the records up to that time, the open alerts of that rule must be exactly the expected
// ones (key, severity and title where given); rules in expect_none must raise no alert in
// the whole case.
func RunTests(tf *rules.TestFile) []TestResult {
	out := make([]TestResult, 0, len(tf.Tests))
	for i := range tf.Tests {
		out = append(out, runCase(tf.Set, &tf.Tests[i]))
	}
	return out
}

// WriteTestReport prints results like promtool and reports whether all passed.
func WriteTestReport(w io.Writer, file string, results []TestResult) bool {
	fmt.Fprintf(w, "Unit Testing: %s\n", file)
	ok := true
	for _, r := range results {
		if r.Passed() {
			fmt.Fprintf(w, "  PASS  %s (%d records)\n", r.Name, r.Records)
			continue
		}
		ok = false
		fmt.Fprintf(w, "  FAIL  %s (line %d)\n", r.Name, r.Line)
		for _, f := range r.Failures {
			for j, l := range strings.Split(f, "\n") {
				if j == 0 {
					fmt.Fprintf(w, "        %s\n", l)
				} else {
					fmt.Fprintf(w, "          %s\n", l)
				}
			}
		}
	}
	if ok {
		fmt.Fprintln(w, "  SUCCESS")
	} else {
		fmt.Fprintln(w, "  FAILED")
	}
	return ok
}

type cursor struct {
	in *rules.InputRecord
	i  int
}

func runCase(set *rules.Set, tc *rules.TestCase) TestResult {
	res := TestResult{Name: tc.Name, Line: tc.Line}
	now := TestEpoch
	clock := func() time.Time { return now }
	mgr, err := alerts.New(alerts.DefaultConfig(), alerts.NewMemStore(), clock, nil, nil)
	if err != nil {
		res.Failures = append(res.Failures, err.Error())
		return res
	}
	cfg := DefaultConfig()
	cfg.QueueSize = 16
	e, err := New(cfg, set, mgr, nil, nil)
	if err != nil {
		res.Failures = append(res.Failures, err.Error())
		return res
	}
	// Expectations grouped by (at, rule), in time order.
	type check struct {
		at   time.Duration
		rule *rules.Rule
		exp  []rules.Expectation
	}
	var checks []*check
	for _, x := range tc.Expect {
		var c *check
		for _, k := range checks {
			if k.at == x.At && k.rule == x.Rule {
				c = k
			}
		}
		if c == nil {
			c = &check{at: x.At, rule: x.Rule}
			checks = append(checks, c)
		}
		c.exp = append(c.exp, x)
	}
	sort.SliceStable(checks, func(i, j int) bool { return checks[i].at < checks[j].at })

	curs := make([]cursor, len(tc.Input))
	for i := range tc.Input {
		curs[i] = cursor{in: &tc.Input[i]}
	}
	var fields []rules.FieldValue
	advance := func(t time.Duration) {
		now = TestEpoch.Add(t)
		e.Tick(now)
	}
	runChecks := func(upTo time.Duration, final bool) {
		for len(checks) > 0 && (final || checks[0].at < upTo) {
			c := checks[0]
			checks = checks[1:]
			advance(max(c.at, now.Sub(TestEpoch)))
			got := mgr.List(alerts.Query{Open: true, Rule: c.rule.Name, Limit: alerts.MaxLimit})
			if f := compare(c.rule, c.at, c.exp, got); f != "" {
				res.Failures = append(res.Failures, f)
			}
		}
	}
	for {
		// The next record of all lines, in time order (lines in order of appearance on ties).
		best := -1
		var bt time.Duration
		for i := range curs {
			c := &curs[i]
			if c.i > c.in.Repeat {
				continue
			}
			t := c.in.Time + time.Duration(c.i)*c.in.Step
			if best < 0 || t < bt {
				best, bt = i, t
			}
		}
		if best < 0 {
			break
		}
		runChecks(bt, false)
		c := &curs[best]
		var t time.Duration
		t, fields = c.in.Instance(c.i, fields[:0])
		c.i++
		if now.Before(TestEpoch.Add(t)) {
			advance(t)
		}
		feedRecord(e, c.in.Kind, TestEpoch.Add(t), fields)
		e.Drain()
		res.Records++
	}
	runChecks(0, true)
	for _, r := range tc.ExpectNone {
		if got := mgr.List(alerts.Query{Rule: r.Name, Limit: 3}); len(got) > 0 {
			res.Failures = append(res.Failures, fmt.Sprintf("rule %s: expected no alert, got %s", r.Name, describeAlerts(got)))
		}
	}
	_ = mgr.Flush(context.Background())
	return res
}

func compare(r *rules.Rule, at time.Duration, exp []rules.Expectation, got []watchfloor.Alert) string {
	used := make([]bool, len(got))
	var missing []string
	for _, x := range exp {
		found := false
		for i := range got {
			if !used[i] && expMatches(x, &got[i]) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			missing = append(missing, describeExp(x))
		}
	}
	var extra []watchfloor.Alert
	for i := range got {
		if !used[i] {
			extra = append(extra, got[i])
		}
	}
	if len(missing) == 0 && len(extra) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "rule %s at %s:", r.Name, at)
	fmt.Fprintf(&b, "\nexpected: %s", "["+strings.Join(describeExps(exp), ", ")+"]")
	fmt.Fprintf(&b, "\ngot:      %s", describeAlerts(got))
	return b.String()
}

func expMatches(x rules.Expectation, a *watchfloor.Alert) bool {
	if x.Severity != nil && *x.Severity != a.Severity {
		return false
	}
	if x.Title != nil && *x.Title != a.Title {
		return false
	}
	if x.Key != nil {
		parts := make([]string, len(x.Key))
		for i, kv := range x.Key {
			parts[i] = kv.Field + "=" + kv.Value
		}
		if strings.Join(parts, ",") != a.Key {
			return false
		}
	}
	return true
}

func describeExps(xs []rules.Expectation) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = describeExp(x)
	}
	return out
}

func describeExp(x rules.Expectation) string {
	var parts []string
	if x.Key != nil {
		kv := make([]string, len(x.Key))
		for i, k := range x.Key {
			kv[i] = k.Field + "=" + k.Value
		}
		parts = append(parts, fmt.Sprintf("key=%q", strings.Join(kv, ",")))
	}
	if x.Severity != nil {
		parts = append(parts, "severity="+x.Severity.String())
	}
	if x.Title != nil {
		parts = append(parts, fmt.Sprintf("title=%q", *x.Title))
	}
	return "{" + strings.Join(parts, " ") + "}"
}

func describeAlerts(as []watchfloor.Alert) string {
	as = slices.Clone(as)
	sort.Slice(as, func(i, j int) bool { return as[i].ID < as[j].ID })
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = fmt.Sprintf("{key=%q severity=%s title=%q started=%s}", a.Key, a.Severity, a.Title, a.StartedAt.Sub(TestEpoch))
	}
	return "[" + strings.Join(out, ", ") + "]"
}

// feedRecord builds one record of kind at t from test field values and hands it to e.
func feedRecord(e *Engine, kind rules.Kind, t time.Time, fields []rules.FieldValue) {
	ki := kindIndex(kind)
	switch {
	case ki == kiFlow:
		f := watchfloor.Flow{Received: t, Start: t, End: t, SamplingRate: 1}
		for _, fv := range fields {
			setFlow(&f, fv)
		}
		e.HandleFlows(0, []watchfloor.Flow{f})
	case ki == kiEvent:
		ev := watchfloor.Event{Time: t, Kind: watchfloor.EventTrap}
		for _, fv := range fields {
			setEvent(&ev, fv)
		}
		e.HandleEvents([]watchfloor.Event{ev})
	case ki == kiMetric:
		s := watchfloor.Sample{Time: t}
		for _, fv := range fields {
			switch fv.Field.Name {
			case "device":
				s.Device = fv.Str
			case "metric":
				s.Metric = fv.Str
			case "if_index":
				s.IfIndex = int32(fv.Num)
			case "value":
				s.Value = fv.Num
			}
		}
		e.HandleSamples([]watchfloor.Sample{s})
	case ki > 0:
		o := watchfloor.Observation{Time: t, Kind: watchfloor.ObsKind(ki), SamplingRate: 1}
		for _, fv := range fields {
			setObs(&o, fv)
		}
		e.HandleObservations(0, []watchfloor.Observation{o})
	}
}

func setFlow(f *watchfloor.Flow, fv rules.FieldValue) {
	n := fv.Num
	switch fv.Field.Name {
	case "site":
		f.Site = fv.Str
	case "device":
		f.Device = fv.Str
	case "src_ip":
		f.SrcAddr = fv.Addr
	case "dst_ip":
		f.DstAddr = fv.Addr
	case "exporter":
		f.Exporter = fv.Addr
	case "src_port":
		f.SrcPort = uint16(n)
	case "dst_port":
		f.DstPort = uint16(n)
	case "proto":
		f.Proto = uint8(n)
	case "tcp_flags":
		f.TCPFlags = uint8(n)
	case "vlan":
		f.VLAN = uint16(n)
	case "bytes":
		f.Bytes = uint64(n)
	case "packets":
		f.Packets = uint64(n)
	case "sampling_rate":
		f.SamplingRate = uint32(n)
	case "in_if":
		f.InIf = uint32(n)
	case "out_if":
		f.OutIf = uint32(n)
	case "in_if_name":
		f.InIfName = fv.Str
	case "out_if_name":
		f.OutIfName = fv.Str
	case "src_as":
		f.SrcAS = uint32(n)
	case "dst_as":
		f.DstAS = uint32(n)
	case "direction":
		for d := watchfloor.DirectionUnknown; d <= watchfloor.DirectionTransit; d++ {
			if d.String() == fv.Str {
				f.Direction = d
			}
		}
	case "duration":
		f.Start = f.End.Add(-time.Duration(n * float64(time.Second)))
	}
}

func setObs(o *watchfloor.Observation, fv rules.FieldValue) {
	n := fv.Num
	switch fv.Field.Name {
	case "site":
		o.Site = fv.Str
	case "src_ip":
		o.SrcAddr = fv.Addr
	case "dst_ip":
		o.DstAddr = fv.Addr
	case "src_port":
		o.SrcPort = uint16(n)
	case "dst_port":
		o.DstPort = uint16(n)
	case "proto":
		o.Proto = uint8(n)
	case "tcp_flags":
		o.TCPFlags = uint8(n)
	case "vlan":
		o.VLAN = uint16(n)
	case "bytes":
		o.Bytes = uint64(n)
	case "packets":
		o.Packets = uint64(n)
	case "sampling_rate":
		o.SamplingRate = uint32(n)
	case "dns.query", "tls.sni", "http.host":
		o.Name = []byte(fv.Str)
	case "tls.alpn", "http.method":
		o.Extra = []byte(fv.Str)
	case "dns.type":
		o.DNSType = uint16(n)
	case "dns.rcode":
		o.DNSRcode = uint8(n)
	case "dns.answers":
		o.DNSAnswers = uint16(n)
	case "dns.labels":
		o.DNSLabels = uint8(n)
	case "dns.longest_label":
		o.DNSLongest = uint8(n)
	case "dns.entropy":
		o.DNSEntropy = float32(n)
	case "dns.length":
		o.DNSQueryBytes = uint16(n)
	case "icmp.type":
		o.ICMPType = uint8(n)
	case "icmp.code":
		o.ICMPCode = uint8(n)
	case "half_open":
		o.HalfOpen = uint32(n)
	}
}

func setEvent(ev *watchfloor.Event, fv rules.FieldValue) {
	if key, ok := cutAttr(fv.Field.Name); ok {
		ev.Attrs = append(ev.Attrs, watchfloor.Attr{Key: key, Value: fv.Str})
		return
	}
	switch fv.Field.Name {
	case "site":
		ev.Site = fv.Str
	case "device":
		ev.Device = fv.Str
	case "event.kind":
		ev.Kind = watchfloor.EventKind(fv.Str)
	case "severity":
		if s, err := watchfloor.ParseSeverity(fv.Str); err == nil {
			ev.Severity = s
		}
	case "interface":
		ev.Interface = fv.Str
	case "if_index":
		ev.IfIndex = int32(fv.Num)
	case "source":
		ev.Source = fv.Str
	case "message":
		ev.Message = fv.Str
	}
}
