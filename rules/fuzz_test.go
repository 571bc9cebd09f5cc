package rules

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds hostile rule files through parsing and set validation: no panic, and every
// error is positioned inside the input.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*/*.yaml")
	more, _ := filepath.Glob("testdata/check/*/*.yaml")
	for _, p := range append(files, more...) {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	lists, _ := LoadLists("testdata/good")
	f.Fuzz(func(t *testing.T, data []byte) {
		rules, _, errs := Parse("f.yaml", data, lists)
		lines := 1
		for _, c := range data {
			if c == '\n' {
				lines++
			}
		}
		for _, e := range errs {
			if e.Line < 1 || e.Line > lines+1 || e.Column < 1 {
				t.Fatalf("error outside the input (%d lines): %v", lines, e)
			}
		}
		NewSet(rules, lists)
	})
}

// FuzzLists feeds hostile list files through the list parser and the sets it builds.
func FuzzLists(f *testing.F) {
	for _, s := range []string{"; DROP\n1.10.16.0/20 ; SBL1\n", "# x\n198.51.100.1\n2001:db8::/32\n", "22\n1000-2000\n", "0.0.0.0 evil.example\nbad.example\n", "::ffff:1.2.3.4/120\n0.0.0.0/0\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		l, _ := ParseList("x", "x.txt", data, 0)
		if l == nil {
			return
		}
		switch l.Type {
		case ListIP:
			for _, p := range []string{"1.2.3.4", "::1", "2001:db8::1"} {
				_ = l.IPs.Contains(mustAddr(p))
			}
		case ListDomain:
			l.Domains.Match("a.b.example")
		case ListPort:
			l.Ports.Contains(443)
		}
	})
}

// FuzzCondition checks the condition parser against hostile strings.
func FuzzCondition(f *testing.F) {
	for _, s := range []string{"a and not (b or c)", "1 of sel_* and all of them", "not not not a", "((a)"} {
		f.Add(s)
	}
	sels := map[string]*Selection{"a": {}, "b": {}, "c": {}, "sel_1": {}, "_f": {}}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseCondition(s, sels)
		if err == nil && e == nil {
			t.Fatal("no expression and no error")
		}
		if err != nil && (err.Offset < 0 || err.Offset > len(s)) {
			t.Fatalf("offset %d outside %q", err.Offset, s)
		}
	})
}
