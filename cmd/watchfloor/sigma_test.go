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
