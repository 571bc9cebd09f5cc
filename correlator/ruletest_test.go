package correlator

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/watchfloor/watchfloor/rules"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestRunTestsGolden(t *testing.T) {
	for _, tc := range []struct {
		file string
		ok   bool
	}{
		{"testdata/ruletest/pass_test.yaml", true},
		{"testdata/ruletest/fail_test.yaml", false},
	} {
		t.Run(filepath.Base(tc.file), func(t *testing.T) {
			tf, errs := rules.LoadTestFile(tc.file)
			if errs != nil {
				t.Fatal(errs)
			}
			var out bytes.Buffer
			ok := WriteTestReport(&out, tc.file, RunTests(tf))
			if ok != tc.ok {
				t.Errorf("passed = %v, want %v:\n%s", ok, tc.ok, out.String())
			}
			golden := tc.file[:len(tc.file)-len(".yaml")] + ".out"
			if *update {
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Errorf("output differs from %s:\n%s\nwant:\n%s", golden, out.String(), want)
			}
		})
	}
}
