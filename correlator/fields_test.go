package correlator

import (
	"fmt"
	"testing"
	"time"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/rules"
)

// TestFieldConditions compiles one-selection rules and evaluates them on real records.
func TestFieldConditions(t *testing.T) {
	f := flow(t0, "198.51.100.7", "203.0.113.9", 443, 1500)
	f.InIfName, f.Direction, f.InIf = "Uplink-1", watchfloor.DirectionOut, 7
	dnsq := watchfloor.Observation{Time: t0, Kind: watchfloor.ObsDNSQuery, SrcAddr: addr("10.0.0.9"), Name: []byte("a.b.evil.example"), DNSType: 16, DNSLongest: 60, DNSEntropy: 4.5}
	ev := watchfloor.Event{Time: t0, Kind: watchfloor.EventTrap, Device: "edge-1", Severity: watchfloor.SeverityHigh,
		Attrs: []watchfloor.Attr{{Key: "1.3.6.1.2.1.2.2.1.1", Value: "3"}}}
	sm := watchfloor.Sample{Time: t0, Device: "core-1", Metric: "cpu_percent", Value: 97.5}
	lists := map[string]string{"bad": "203.0.113.0/24\n", "ports": "440-450\n", "doms": "evil.example\n"}
	for _, tc := range []struct {
		cat, sel string
		rec      any
		want     bool
	}{
		{"flow", "dst_ip: 203.0.113.9", f, true},
		{"flow", "dst_ip: 203.0.113.0/24", f, true},
		{"flow", "dst_ip|cidr: [10.0.0.0/8, 192.168.0.0/16, 172.16.0.0/12]", f, false},
		{"flow", "dst_ip|cidr: [10.0.0.0/8, 192.168.0.0/16, 203.0.113.0/24]", f, true},
		{"flow", "dst_ip|expand: '%bad%'", f, true},
		{"flow", "src_ip|expand: '%bad%'", f, false},
		{"flow", "dst_port|expand: '%ports%'", f, true},
		{"flow", "dst_port: [80, 443]", f, true},
		{"flow", "dst_port|gt: 443", f, false},
		{"flow", "dst_port|gte: 443", f, true},
		{"flow", "bytes|lt: 1000", f, false},
		{"flow", "in_if_name: uplink-1", f, true},        // case-insensitive
		{"flow", "in_if_name|cased: uplink-1", f, false}, // cased
		{"flow", "in_if_name|startswith: UPL", f, true},
		{"flow", "in_if_name|endswith: '-1'", f, true},
		{"flow", "in_if_name|contains: link", f, true},
		{"flow", "in_if_name: 'Up?ink*'", f, true}, // wildcards
		{"flow", "in_if_name|re: '^Up[a-z]+-\\d$'", f, true},
		{"flow", "in_if_name|contains|all: [up, link, '9']", f, false},
		{"flow", "in_if_name|contains|all: [up, link]", f, true},
		{"flow", "direction: out", f, true},
		{"flow", "out_if_name: null", f, true},
		{"flow", "in_if_name: null", f, false},
		{"flow", "src_as|exists: true", f, false},
		{"flow", "in_if|exists: true", f, true},
		{"dns_query", "dns.query|expand: '%doms%'", dnsq, true},
		{"dns_query", "dns.query|endswith: .example", dnsq, true},
		{"dns_query", "dns.type: 16", dnsq, true},
		{"dns_query", "dns.entropy|gt: 4", dnsq, true},
		{"dns_query", "dns.longest_label|lte: 50", dnsq, false},
		{"event", "attr.1.3.6.1.2.1.2.2.1.1: '3'", ev, true},
		{"event", "attr.1.3.6.1.2.1.2.2.1.2|exists: true", ev, false},
		{"event", "severity: high", ev, true},
		{"event", "event.kind: trap", ev, true},
		{"metric", "value|gt: 95", sm, true},
		{"metric", "metric: cpu_*", sm, true},
	} {
		t.Run(tc.cat+"/"+tc.sel, func(t *testing.T) {
			src := fmt.Sprintf("title: T\nname: t\nlogsource: {category: %s}\ndetection:\n  sel:\n    %s\n  condition: sel\n", tc.cat, tc.sel)
			set := loadYAML(t, src, lists)
			h := newHarness(t, set, DefaultConfig())
			switch r := tc.rec.(type) {
			case watchfloor.Flow:
				h.flows(r)
			case watchfloor.Observation:
				h.obs(r)
			case watchfloor.Event:
				h.events(r)
			case watchfloor.Sample:
				h.samples(r)
			}
			if got := len(h.alerts("t")) == 1; got != tc.want {
				t.Fatalf("matched %v, want %v", got, tc.want)
			}
		})
	}
}

// TestConditionExpr: Sigma condition semantics (not, 1 of, all of, them excluding _names).
func TestConditionExpr(t *testing.T) {
	f := flow(t0, "198.51.100.7", "203.0.113.9", 22, 1500)
	for _, tc := range []struct {
		cond string
		want bool
	}{
		{"sel_a and not sel_b", true},
		{"sel_b or sel_a", true},
		{"1 of sel_*", true},
		{"all of sel_*", false},
		{"all of them", false},
		{"sel_a and not 1 of _f*", true},
		{"not (sel_a or sel_b)", false},
	} {
		src := "title: T\nname: t\nlogsource: {category: flow}\ndetection:\n  sel_a: {dst_port: 22}\n  sel_b: {dst_port: 23}\n  _f: {dst_port: 23}\n  condition: " + tc.cond + "\n"
		h := newHarness(t, loadYAML(t, src, nil), DefaultConfig())
		h.flows(f)
		if got := len(h.alerts("t")) == 1; got != tc.want {
			t.Errorf("%s: matched %v, want %v", tc.cond, got, tc.want)
		}
	}
}

// TestGenerateRefresh: repeated matches of one identity update one alert; title rendering
// is rate-limited but the count is exact.
func TestGenerateRefresh(t *testing.T) {
	h := newHarness(t, loadPack(t), DefaultConfig())
	for i := 0; i < 10; i++ {
		f := flow(t0.Add(time.Duration(i)*300*time.Millisecond), "10.9.0.1", "203.0.113.9", 443, 100)
		f.Direction = watchfloor.DirectionOut
		h.flows(f)
	}
	as := h.alerts("bad_address_out")
	if len(as) != 1 || as[0].Count != 10 || as[0].Title != "Traffic from 10.9.0.1 to listed 203.0.113.9" {
		t.Fatalf("%+v", as)
	}
	_ = rules.ValueField
}
