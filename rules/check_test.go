package rules

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/check")

// TestCheckGolden loads each broken rule directory of testdata/check/<case>/ and compares
// every error, as `watchfloor rules check` prints it, with expected.txt.
func TestCheckGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/check/*")
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) < 15 {
		t.Fatalf("%d golden cases, want at least 15", len(dirs))
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			set, errs := LoadDir(dir)
			if len(errs) == 0 {
				t.Fatalf("no errors (set of %d rules): a check case must be broken", len(set.Rules))
			}
			if set != nil {
				t.Errorf("a set with errors is returned")
			}
			var b strings.Builder
			for _, e := range errs {
				b.WriteString(strings.TrimPrefix(e.Error(), dir+"/"))
				b.WriteByte('\n')
			}
			got := b.String()
			golden := filepath.Join(dir, "expected.txt")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestGoodSet(t *testing.T) {
	set, errs := LoadDir("testdata/good")
	for _, e := range errs {
		t.Error(e)
	}
	if set == nil {
		t.FailNow()
	}
	if len(set.Rules) != 16 || set.Lists.Len() != 4 || len(set.Warnings) != 0 {
		t.Errorf("%d rules, %d lists, warnings %v", len(set.Rules), set.Lists.Len(), set.Warnings)
	}
}
