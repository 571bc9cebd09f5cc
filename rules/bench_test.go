package rules

import (
	"fmt"
	"net/netip"
	"os"
	"testing"
)

func BenchmarkPatternContains(b *testing.B) {
	p := CompilePattern("tunnel", OpContains, false)
	b.ReportAllocs()
	for b.Loop() {
		p.Match("aGVsbG8gd29ybGQ.x7f3.TUNNEL.example.org")
	}
}

func BenchmarkPatternGlob(b *testing.B) {
	p := CompilePattern("*.x?f3.*.example.*", OpEq, false)
	b.ReportAllocs()
	for b.Loop() {
		p.Match("aGVsbG8gd29ybGQ.x7f3.TUNNEL.example.org")
	}
}

// BenchmarkIPSetContains looks up addresses in a DROP-sized list (1,500 networks).
func BenchmarkIPSetContains(b *testing.B) {
	var ps []netip.Prefix
	for i := range 1500 {
		ps = append(ps, netip.MustParsePrefix(fmt.Sprintf("%d.%d.0.0/16", 1+i/200, i%200)))
	}
	s := NewIPSet(ps)
	a := netip.MustParseAddr("5.77.1.2")
	b.ReportAllocs()
	for b.Loop() {
		s.Contains(a)
	}
}

func BenchmarkDomainSetMatch(b *testing.B) {
	names := make([]string, 10000)
	for i := range names {
		names[i] = fmt.Sprintf("bad%d.example", i)
	}
	d := NewDomainSet(names)
	b.ReportAllocs()
	for b.Loop() {
		d.Match("a.b.c.Good.example.org")
	}
}

func BenchmarkParseRules(b *testing.B) {
	data, err := os.ReadFile("testdata/good/detections.yaml")
	if err != nil {
		b.Fatal(err)
	}
	lists, _ := LoadLists("testdata/good")
	b.ReportAllocs()
	for b.Loop() {
		Parse("detections.yaml", data, lists)
	}
}
