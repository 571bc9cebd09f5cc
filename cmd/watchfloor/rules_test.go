package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

func TestRulesCmd(t *testing.T) {
	for _, tc := range []struct {
		args        []string
		code        int
		out, errOut string
	}{
		{[]string{"check", "../../rules/testdata/good"}, 0, "16 rules, 4 lists: ok\n", ""},
		{[]string{"check", "../../rules/testdata/good/correlations.yaml"}, 1, "", `unknown rule "tcp_syn_inbound"`},
		{[]string{"check", "../../rules/testdata/check/bad_regex"}, 1, "", "../../rules/testdata/check/bad_regex/rules.yaml:8:9: detection.selection.dns.query|re: bad regular expression"},
		{[]string{"check", "../../rules/testdata/nonexistent"}, 1, "", "no such file or directory"},
		{[]string{"test", "../../rules/testdata/good/scan_test.yaml"}, 0, "SUCCESS", ""},
		{[]string{"test", "../../correlator/testdata/ruletest/pass_test.yaml"}, 0, "SUCCESS", ""},
		{[]string{"test", "../../rules/testdata/testfile_bad/bad_test.yaml"}, 1, "", `unknown rule "port_scan_vertikal"`},
		{[]string{"check"}, 2, "", "usage:"},
		{[]string{"frob", "x"}, 2, "", "unknown command"},
	} {
		var out, errOut bytes.Buffer
		code := rulesCmd(tc.args, &out, &errOut)
		if code != tc.code || !strings.Contains(out.String(), tc.out) || !strings.Contains(errOut.String(), tc.errOut) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", tc.args, code, out.String(), errOut.String())
		}
	}
}

// Every rule of the default pack has its tests, and `watchfloor rules test` passes them all.
func TestDefaultPackTests(t *testing.T) {
	files, err := filepath.Glob("../../rules/pack/tests/*_test.yaml")
	if err != nil || len(files) < 5 {
		t.Fatalf("%d pack test files (%v)", len(files), err)
	}
	central, err := filepath.Glob("../../rules/central/tests/*_test.yaml")
	if err != nil || len(central) == 0 {
		t.Fatalf("%d central pack test files (%v)", len(central), err)
	}
	files = append(files, central...)
	for _, f := range files {
		var out, errb bytes.Buffer
		if code := run([]string{"rules", "test", f}, &out, &errb); code != 0 {
			t.Errorf("rules test %s: exit %d\n%s%s", filepath.Base(f), code, out.String(), errb.String())
		}
	}
}
