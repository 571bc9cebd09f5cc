package main

import (
	"bytes"
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
		{[]string{"test", "../../rules/testdata/good/scan_test.yaml"}, 2, "2 test cases parsed and valid", "rule tests need the correlator (issue #5, in progress)"},
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
