package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// `watchfloor rules import-sigma` output is a valid Watchfloor rule set: every golden Sigma
// case of rules/sigma that converts is imported with the command and then checked with
// `watchfloor rules check`.
func TestImportSigmaThenCheck(t *testing.T) {
	cases, err := filepath.Glob("../../rules/sigma/testdata/*/in.yaml")
	if err != nil || len(cases) < 10 {
		t.Fatalf("%d Sigma cases (%v)", len(cases), err)
	}
	checked := 0
	for _, in := range cases {
		data, _ := os.ReadFile(in)
		if bytes.Contains(data, []byte("%")) {
			continue // placeholders need the lists of a rule directory
		}
		name := filepath.Base(filepath.Dir(in))
		out := t.TempDir()
		var so, se bytes.Buffer
		code := run([]string{"rules", "import-sigma", "-o", out, in}, &so, &se)
		if code == 1 {
			continue // nothing converted: a refusal case
		}
		if code != 0 {
			t.Errorf("%s: import-sigma exit %d: %s", name, code, se.String())
			continue
		}
		so.Reset()
		se.Reset()
		if code := run([]string{"rules", "check", out}, &so, &se); code != 0 {
			t.Errorf("%s: the imported rules do not check:\n%s", name, se.String())
			continue
		}
		if !strings.Contains(so.String(), "ok") {
			t.Errorf("%s: rules check said %q", name, so.String())
		}
		checked++
	}
	if checked < 10 {
		t.Errorf("only %d imported sets checked", checked)
	}
}

// A Sigma rule in the old aggregation form behaves, once imported, as the specification says:
// `count(dst_port) by src_ip, dst_ip > 10` fires on the 11th distinct port and not before, and
// not for a source that stays at 10 ports. Run through `watchfloor rules test`.
func TestImportedSigmaBehaves(t *testing.T) {
	out := t.TempDir()
	var so, se bytes.Buffer
	if code := run([]string{"rules", "import-sigma", "-o", out, "../../rules/sigma/testdata/firewall_scan_count_by_port/in.yaml"}, &so, &se); code != 0 {
		t.Fatalf("import-sigma: exit %d: %s", code, se.String())
	}
	const name = "network_scans_count_by_destination_port_without_firewall_action"
	test := `rule_files: [` + name + `.yaml, ` + name + `_base.yaml]
tests:
  - name: the 11th distinct port of one host from one source fires
    input:
      - {time: 0s, kind: flow, src_ip: 198.51.100.7, dst_ip: 10.20.1.5, proto: 6, dst_port: 1, repeat: 9, step: 1s, vary: {dst_port: 1}}
      - {time: 10s, kind: flow, src_ip: 198.51.100.7, dst_ip: 10.20.1.5, proto: 6, dst_port: 22}
    expect:
      - {rule: ` + name + `, at: 10s, severity: medium, key: 'src_ip=198.51.100.7,dst_ip=10.20.1.5'}
  - name: ten ports, UDP, ports above 49151, or one port many times do not
    input:
      - {time: 0s, kind: flow, src_ip: 198.51.100.8, dst_ip: 10.20.1.5, proto: 6, dst_port: 1, repeat: 9, step: 1s, vary: {dst_port: 1}}
      - {time: 0s, kind: flow, src_ip: 198.51.100.8, dst_ip: 10.20.1.5, proto: 17, dst_port: 100, repeat: 9, step: 1s, vary: {dst_port: 1}}
      - {time: 0s, kind: flow, src_ip: 198.51.100.8, dst_ip: 10.20.1.5, proto: 6, dst_port: 50000, repeat: 9, step: 1s, vary: {dst_port: 1}}
      - {time: 20s, kind: flow, src_ip: 198.51.100.9, dst_ip: 10.20.1.6, proto: 6, dst_port: 1, repeat: 30, step: 1s}
    expect_none: [` + name + `]
`
	files, _ := filepath.Glob(filepath.Join(out, "*.yaml"))
	if len(files) != 2 {
		t.Fatalf("import-sigma wrote %v, want the search and the correlation", files)
	}
	tf := filepath.Join(out, "scan_test.yaml")
	if err := os.WriteFile(tf, []byte(test), 0o600); err != nil {
		t.Fatal(err)
	}
	so.Reset()
	se.Reset()
	if code := run([]string{"rules", "test", tf}, &so, &se); code != 0 {
		t.Fatalf("rules test: exit %d\n%s%s", code, so.String(), se.String())
	}
}
