package rules

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/watchfloor/watchfloor"
)

// exprString prints a condition tree with explicit grouping.
func exprString(e Expr) string {
	switch x := e.(type) {
	case *And:
		return "and(" + exprList(x.X) + ")"
	case *Or:
		return "or(" + exprList(x.X) + ")"
	case *Not:
		return "not(" + exprString(x.X) + ")"
	case *Ref:
		return x.Name
	case *OneOf:
		return "one[" + strings.Join(x.Names, ",") + "]"
	case *AllOf:
		return "all[" + strings.Join(x.Names, ",") + "]"
	}
	return "?"
}

func exprList(xs []Expr) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = exprString(x)
	}
	return strings.Join(s, " ")
}

func TestParseCondition(t *testing.T) {
	sels := map[string]*Selection{}
	for _, n := range []string{"a", "b", "c", "sel_x", "sel_y", "_filter", "filter"} {
		sels[n] = &Selection{Name: n}
	}
	for _, tc := range []struct{ in, want, err string }{
		{in: "a", want: "a"},
		{in: "a and b or c", want: "or(and(a b) c)"},
		{in: "a or b and c", want: "or(a and(b c))"},
		{in: "not a and b", want: "and(not(a) b)"},
		{in: "not (a and b)", want: "not(and(a b))"},
		{in: "a and (b or c)", want: "and(a or(b c))"},
		{in: "a and b and c", want: "and(a b c)"},
		{in: "a or (b or c)", want: "or(a b c)"},
		{in: "not not a", want: "not(not(a))"},
		{in: "1 of sel_*", want: "one[sel_x,sel_y]"},
		{in: "all of sel_*", want: "all[sel_x,sel_y]"},
		{in: "1 of them", want: "one[a,b,c,filter,sel_x,sel_y]"},
		{in: "all of them and not _filter", want: "and(all[a,b,c,filter,sel_x,sel_y] not(_filter))"},
		{in: "1 of _*", want: "one[_filter]"},
		{in: "1 of sel_* AND NOT filter", want: "and(one[sel_x,sel_y] not(filter))"},
		{in: "(a)", want: "a"},
		{in: "", err: "at 0: empty condition"},
		{in: "a and", err: "at 5: unexpected end of condition"},
		{in: "(a and b", err: "at 0: unbalanced ("},
		{in: "a)", err: "at 1: unbalanced )"},
		{in: "a b", err: `at 2: unexpected "b"`},
		{in: "a or or b", err: `at 5: unexpected "or"`},
		{in: "d", err: `at 0: unknown selection "d"`},
		{in: "1 of zz*", err: `at 5: pattern "zz*" matches no selection`},
		{in: "sel_*", err: `a pattern needs`},
		{in: "2 of sel_*", err: "`1 of` or `all of`"},
		{in: "all sel_x", err: "want `of`"},
		{in: "1 of (a)", err: "want a selection pattern"},
		{in: "a | count() > 5", err: "at 2: the deprecated Sigma aggregation"},
		{in: "a & b", err: "at 2: unexpected character"},
		{in: strings.Repeat("(", 200) + "a" + strings.Repeat(")", 200), err: "nested too deep"},
	} {
		e, err := ParseCondition(tc.in, sels)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if got := exprString(e); got != tc.want {
			t.Errorf("%q: %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestPattern(t *testing.T) {
	for _, tc := range []struct {
		raw   string
		op    Op
		cased bool
		kind  PatternKind
		yes   []string
		no    []string
	}{
		{"evil.example", OpEq, false, PatExact, []string{"evil.example", "EVIL.Example"}, []string{"evil.example.org", "xevil.example"}},
		{"Evil", OpEq, true, PatExact, []string{"Evil"}, []string{"evil"}},
		{"*.example", OpEq, false, PatSuffix, []string{"a.example", ".example", "A.B.EXAMPLE"}, []string{"example", "a.example.org"}},
		{"example", OpEndsWith, false, PatSuffix, []string{"a.example"}, []string{"exampl"}},
		{"www.", OpStartsWith, false, PatPrefix, []string{"www.x", "WWW."}, []string{"ww.x"}},
		{"tunnel", OpContains, false, PatContains, []string{"a.tunnel.b", "TUNNEL"}, []string{"tunne"}},
		{"*", OpEq, false, PatAny, []string{"", "x"}, nil},
		{"a*b?c", OpEq, false, PatGlob, []string{"abxc", "aXXXbyc", "ab€c"}, []string{"abc", "abxxc", "xabxc"}},
		{"*a*b*", OpEq, false, PatGlob, []string{"ab", "xxaxxbxx"}, []string{"ba", "b"}},
		{`a\*b`, OpEq, false, PatExact, []string{"a*b"}, []string{"axb"}},
		{`a\?`, OpEq, false, PatExact, []string{"a?"}, []string{"ab"}},
		{`c:\\x`, OpEq, false, PatExact, []string{`c:\x`}, []string{`c:\\x`}},
		{`c:\d`, OpEq, false, PatExact, []string{`c:\d`}, nil},
		{"a**", OpContains, false, PatContains, []string{"xa"}, []string{"x"}},
		{"x?z", OpContains, false, PatGlob, []string{"1xyz2", "xyz"}, []string{"xz"}},
	} {
		p := CompilePattern(tc.raw, tc.op, tc.cased)
		if p.Kind != tc.kind {
			t.Errorf("%q %v: kind %d, want %d", tc.raw, tc.op, p.Kind, tc.kind)
		}
		for _, s := range tc.yes {
			if !p.Match(s) {
				t.Errorf("%q %v: %q does not match", tc.raw, tc.op, s)
			}
		}
		for _, s := range tc.no {
			if p.Match(s) {
				t.Errorf("%q %v: %q matches", tc.raw, tc.op, s)
			}
		}
	}
}

func TestPatternNoAlloc(t *testing.T) {
	ps := []*Pattern{CompilePattern("tunnel", OpContains, false), CompilePattern("a*b?c*d", OpEq, false), CompilePattern("*.EXAMPLE", OpEq, false)}
	n := testing.AllocsPerRun(100, func() {
		for _, p := range ps {
			p.Match("xxxTunnelaxxbycxxd.example")
		}
	})
	if n != 0 {
		t.Errorf("%v allocations a match", n)
	}
}

func ruleOf(t *testing.T, src string) *Rule {
	t.Helper()
	rs, _, errs := Parse("r.yaml", []byte(src), nil)
	if len(errs) > 0 || len(rs) != 1 {
		t.Fatalf("%v", errs)
	}
	return rs[0]
}

func TestValues(t *testing.T) {
	r := ruleOf(t, `
title: t
name: t
logsource: {category: flow}
detection:
  sel:
    - src_ip: [10.1.2.3, 192.0.2.0/24, '::ffff:198.51.100.1', 2001:db8::/32]
      dst_port|gte: 1024
      in_if_name|contains|all: [eth, '0']
    - in_if_name|re|i: '^GE'
      out_if_name: null
      device|cased: Edge-1
      exporter|exists: false
  condition: sel
`)
	g := r.Detection.Selections["sel"].Groups
	if len(g) != 2 || len(g[0]) != 3 || len(g[1]) != 4 {
		t.Fatalf("groups %v", g)
	}
	ip := g[0][0]
	want := []string{"10.1.2.3/32", "192.0.2.0/24", "198.51.100.1/32", "2001:db8::/32"}
	for i, v := range ip.Values {
		if v.Kind != ValPrefix || v.Prefix.String() != want[i] {
			t.Errorf("src_ip value %d: %v %v", i, v.Kind, v.Prefix)
		}
	}
	if c := g[0][1]; c.Op != OpGTE || c.Values[0].Kind != ValNum || c.Values[0].Num != 1024 {
		t.Errorf("dst_port|gte: %+v", c)
	}
	if c := g[0][2]; c.Op != OpContains || !c.All || c.Values[1].Pattern.Kind != PatContains {
		t.Errorf("contains|all: %+v", c)
	}
	if c := g[1][0]; c.Op != OpRe || !c.Values[0].Re.MatchString("ge-0/0/1") {
		t.Errorf("re|i: %+v", c)
	}
	if c := g[1][1]; c.Values[0].Kind != ValNull {
		t.Errorf("null: %+v", c)
	}
	if c := g[1][2]; !c.Cased || c.Values[0].Pattern.Match("edge-1") || !c.Values[0].Pattern.Match("Edge-1") {
		t.Errorf("cased: %+v", c)
	}
	if c := g[1][3]; c.Op != OpExists || c.Exists {
		t.Errorf("exists: %+v", c)
	}
	if r.Category != "security" || r.Level != watchfloor.SeverityMedium {
		t.Errorf("defaults: %s %v", r.Category, r.Level)
	}
}

func TestMetadata(t *testing.T) {
	rs, warns, errs := Parse("r.yaml", []byte(`
title: t
name: t
level: informational
tags: [attack.discovery, attack.t1046, ATTACK.T1071.004]
logsource: {category: event}
detection: {sel: {attr.1.3.6.1.6.3.1.1.4.1: linkDown}, condition: sel}
custom_owner: noc
`), nil)
	if len(errs) != 0 || len(rs) != 1 {
		t.Fatal(errs)
	}
	r := rs[0]
	if fmt.Sprint(r.Techniques) != "[T1046 T1071.004]" || r.Level != watchfloor.SeverityInfo || r.Category != "availability" {
		t.Errorf("%v %v %s", r.Techniques, r.Level, r.Category)
	}
	if c := r.Detection.Selections["sel"].Groups[0][0]; c.Attr != "1.3.6.1.6.3.1.1.4.1" || c.Field.Type != Str {
		t.Errorf("attr: %+v", c)
	}
	if len(warns) != 1 || warns[0].Line != 8 || warns[0].Field != "custom_owner" {
		t.Errorf("warnings %v", warns)
	}
	if r.Alert.ResolveAfter != DefaultResolveAfter || r.Alert.Title.Raw != "t" {
		t.Errorf("alert defaults %+v", r.Alert)
	}
}

func TestTemplate(t *testing.T) {
	tpl, err := ParseTemplate("Scan from {src_ip} to {{x}} {dst_ip}")
	if err != nil {
		t.Fatal(err)
	}
	got := tpl.Expand(func(f string) string { return "<" + f + ">" })
	if got != "Scan from <src_ip> to {x} <dst_ip>" || fmt.Sprint(tpl.Fields()) != "[src_ip dst_ip]" {
		t.Errorf("%q %v", got, tpl.Fields())
	}
	for _, bad := range []string{"{", "a {} b", "a } b"} {
		if _, err := ParseTemplate(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// TestCorrelationTypes loads testdata/good, which has a correlation of every type, and
// checks what each resolved to.
func TestCorrelationTypes(t *testing.T) {
	set, errs := LoadDir("testdata/good")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	seen := map[CorrelationType]bool{}
	for _, r := range set.Rules {
		if c := r.Correlation; c != nil {
			seen[c.Type] = true
			if len(c.Rules) != len(c.RuleRefs) {
				t.Errorf("%s: rules %d of %d", r.Name, len(c.Rules), len(c.RuleRefs))
			}
			for _, g := range c.GroupBy {
				if len(g.ByRule) != len(c.Rules) {
					t.Errorf("%s: group-by %s unresolved", r.Name, g.Name)
				}
			}
		}
	}
	for _, ty := range CorrelationTypes {
		if !seen[ty] {
			t.Errorf("no %s correlation in testdata/good", ty)
		}
	}
	get := func(n string) *Rule { return set.ByName[n] }
	scan := get("port_scan_vertical").Correlation
	if scan.Timespan != time.Minute || scan.Condition.Field.Name != "dst_port" || scan.Condition.Field.ByRule[0].Type != Num ||
		!scan.Condition.Satisfied(100) || scan.Condition.Satisfied(99) {
		t.Errorf("value_count: %+v", scan)
	}
	if a := get("port_scan_vertical").Alert; fmt.Sprint(a.Identity) != "[src_ip dst_ip]" || a.Entity.Host != "src_ip" || a.ResolveAfter != DefaultResolveAfter {
		t.Errorf("scan alert %+v", a)
	}
	if c := get("big_avg").Correlation; len(c.Condition.Cmps) != 2 || !c.Condition.Satisfied(5e5) || c.Condition.Satisfied(2e9) {
		t.Errorf("range condition %+v", c.Condition)
	}
	if c := get("p95_packets").Correlation; c.Condition.Percentile != 95 {
		t.Errorf("percentile %+v", c.Condition)
	}
	if c := get("utilization_high").Correlation; c.For != 5*time.Minute || get("utilization_high").Alert.ResolveAfter != 0 || get("utilization_high").Category != "performance" {
		t.Errorf("threshold %+v", c)
	}
	if c := get("exporter_silent").Correlation; c.Timespan != 5*time.Minute || c.GroupBy[0].ByRule[0].Type != Addr {
		t.Errorf("absence %+v", c)
	}
	chain := get("scan_then_bad").Correlation
	if chain.Rules[0] != get("port_scan_vertical") || chain.GroupBy[0].ByRule[0].Name != "src_ip" || chain.GroupBy[0].ByRule[1].Name != "src_ip" {
		t.Errorf("temporal_ordered chain %+v", chain.GroupBy)
	}
	if !chain.Condition.Satisfied(2) || chain.Condition.Satisfied(1) {
		t.Errorf("temporal default condition %+v", chain.Condition)
	}
	if fmt.Sprint(get("scan_then_bad").Kinds) != "[tcp.syn tcp.syn_ack tcp.rst flow]" {
		t.Errorf("chained kinds %v", get("scan_then_bad").Kinds)
	}
	// Generate: tcp_syn_inbound is used by scan_and_dns, and port_scan_vertical and
	// bad_address_out by scan_then_bad, both of which say generate: true.
	for name, want := range map[string]bool{"tcp_syn_inbound": true, "flow_from_exporter": false, "port_scan_vertical": true, "scan_then_bad": true, "bad_address_out": true, "interface_down": true} {
		if got := get(name).Generate; got != want {
			t.Errorf("%s: Generate %v, want %v", name, got, want)
		}
	}
	if r := get("interface_down"); r.Alert.RecoveryRule != get("interface_up") || r.Alert.ResolveAfter != 0 || r.Alert.Entity.Interface != "interface" {
		t.Errorf("recovery %+v", r.Alert)
	}
	if get("0e0c3b7a-5c1d-4c8e-9a53-0b8b6b7a1c01") != get("bad_address_out") {
		t.Error("rule by id")
	}
}

func TestLists(t *testing.T) {
	set, errs := LoadDir("testdata/good")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	drop := set.Lists.Get("spamhaus_drop")
	if drop.Type != ListIP || drop.Len != 3 {
		t.Fatalf("drop %+v", drop)
	}
	for a, want := range map[string]bool{"1.10.16.1": true, "1.10.31.255": true, "1.10.32.0": false, "203.0.113.255": true,
		"::ffff:203.0.113.9": true, "2001:db8:bad:1::1": true, "2001:db8:bae::1": false, "10.0.0.1": false} {
		if got := drop.IPs.Contains(netip.MustParseAddr(a)); got != want {
			t.Errorf("drop %s: %v", a, got)
		}
	}
	feodo := set.Lists.Get("feodo")
	if feodo.Type != ListIP || !feodo.IPs.Contains(netip.MustParseAddr("192.0.2.77")) || feodo.IPs.Contains(netip.MustParseAddr("192.0.2.78")) {
		t.Errorf("feodo %+v", feodo)
	}
	ports := set.Lists.Get("admin_ports")
	if ports.Type != ListPort || !ports.Ports.Contains(23) || !ports.Ports.Contains(162) || ports.Ports.Contains(22) || ports.Ports.Contains(161.5) {
		t.Errorf("ports %+v", ports.Type)
	}
	dom := set.Lists.Get("bad_domains")
	for n, want := range map[string]bool{"evil.example": true, "a.b.EVIL.example.": true, "notevil.example": false, "bad.example.org": true, "example.org": false} {
		if got := dom.Domains.Match(n); got != want {
			t.Errorf("domain %s: %v", n, got)
		}
	}
	// Used by a rule: the value is resolved to the list.
	v := set.ByName["bad_address_out"].Detection.Selections["selection"].Groups[0]
	for _, c := range v {
		if c.Field.Name == "dst_ip" && (c.Values[0].Kind != ValList || c.Values[0].List != drop) {
			t.Errorf("list value %+v", c.Values[0])
		}
	}
	n := testing.AllocsPerRun(100, func() {
		drop.IPs.Contains(netip.MustParseAddr("2001:db8:bad::5"))
		dom.Domains.Match("A.Evil.Example")
		ports.Ports.Contains(23)
	})
	if n != 0 {
		t.Errorf("%v allocations a lookup", n)
	}
}

func TestIPSetMerge(t *testing.T) {
	var ps []netip.Prefix
	for _, s := range []string{"10.0.0.0/25", "10.0.0.128/25", "10.0.1.0/24", "10.0.0.5/32", "0.0.0.0/0", "::/0", "255.255.255.255/32"} {
		ps = append(ps, netip.MustParsePrefix(s))
	}
	s := NewIPSet(ps[:4])
	if s.Ranges() != 1 || !s.Contains(netip.MustParseAddr("10.0.1.255")) || s.Contains(netip.MustParseAddr("10.0.2.0")) {
		t.Errorf("merge: %d ranges", s.Ranges())
	}
	all := NewIPSet(ps)
	if all.Ranges() != 2 || !all.Contains(netip.MustParseAddr("255.255.255.255")) || !all.Contains(netip.MustParseAddr("ffff::1")) {
		t.Errorf("full ranges: %d", all.Ranges())
	}
}

func TestParseListFormats(t *testing.T) {
	for _, tc := range []struct {
		name, data string
		typ        ListType
		n          int
		errs       string
	}{
		{"drop", "; Spamhaus\n1.10.16.0/20 ; SBL256894\n\n", ListIP, 1, ""},
		{"feodo", "# abuse.ch\n# x\n198.51.100.23\n2001:db8::1\n", ListIP, 2, ""},
		{"ports", "22\n1000-2000 # range\n", ListPort, 2, ""},
		{"hosts", "0.0.0.0 evil.example\n127.0.0.1 bad.example # x\nplain.example\n", ListDomain, 3, ""},
		{"empty", "# nothing today\n", ListEmpty, 0, ""},
		{"mixed", "10.0.0.0/8\nevil.example\n", ListIP, 2, `f:2:1: list mixed (ip): "evil.example" is not an address or network`},
		{"extra", "10.0.0.1 10.0.0.2\n", ListEmpty, 0, `f:1:10: list extra: one entry a line`},
		{"long", strings.Repeat("a", 70<<10), 0, 0, "token too long"},
	} {
		l, errs := ParseList(tc.name, "f", []byte(tc.data), 0)
		var es []string
		for _, e := range errs {
			es = append(es, e.Error())
		}
		joined := strings.Join(es, "\n")
		if tc.errs == "" && joined != "" || tc.errs != "" && !strings.Contains(joined, tc.errs) {
			t.Errorf("%s: errors %q, want %q", tc.name, joined, tc.errs)
		}
		if tc.typ != 0 && (l == nil || l.Type != tc.typ || l.Len != tc.n) {
			t.Errorf("%s: %+v", tc.name, l)
		}
	}
}

func TestLoadFilesFS(t *testing.T) {
	fsys := fstest.MapFS{
		"a.yaml": {Data: []byte("title: a\nname: a\nlogsource: {category: icmp}\ndetection: {sel: {icmp.type: 8}, condition: sel}\n")},
		"b.yaml": {Data: []byte("title: b\nname: b\ncorrelation: {type: event_count, rules: [a], group-by: [src_ip], timespan: 10s, condition: {gt: 50}}\n")},
	}
	set, errs := LoadFiles(fsys, nil, "b.yaml", "a.yaml")
	if len(errs) > 0 || len(set.Rules) != 2 || set.Rules[0].Name != "a" {
		t.Fatalf("%v %v", errs, set)
	}
	// A broken referenced rule is reported once, not again as unknown by its correlation.
	fsys["a.yaml"] = &fstest.MapFile{Data: []byte("title: a\nname: a\nlogsource: {category: icmp}\ndetection: {sel: {icmp.typo: 8}, condition: sel}\n")}
	_, errs = LoadFiles(fsys, nil, "a.yaml", "b.yaml")
	if len(errs) != 1 || errs[0].Line != 4 || errs[0].Column != 19 {
		t.Errorf("%v", errs)
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
