package appliance

import (
	"os"
	"regexp"
	"testing"
)

// yamlBlocks returns the ```yaml blocks of a Markdown file.
func yamlBlocks(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?s)```yaml\n(.*?)```")
	var out []string
	for _, m := range re.FindAllStringSubmatch(string(b), -1) {
		out = append(out, m[1])
	}
	return out
}

// TestConfigDocExample loads every YAML example of the docs and the README, and checks that
// docs/config.md names every key the configuration has.
func TestConfigDocExample(t *testing.T) {
	for _, path := range []string{"../docs/config.md", "../README.md", "../docs/alerting.md"} {
		blocks := yamlBlocks(t, path)
		if len(blocks) == 0 {
			t.Fatalf("%s has no yaml example", path)
		}
		for i, y := range blocks {
			if _, err := ParseConfig(path, []byte(y)); err != nil {
				t.Errorf("%s example %d: %v", path, i+1, err)
			}
		}
	}
	doc, _ := os.ReadFile("../docs/config.md")
	full := yamlBlocks(t, "../docs/config.md")[0]
	keys := regexp.MustCompile(`(?m)^\s*-?\s*([a-z_0-9]+):`).FindAllStringSubmatch(full, -1)
	for _, k := range keys {
		if !regexp.MustCompile("[`.]" + k[1] + "[`.\\[]").Match(doc) {
			t.Errorf("docs/config.md does not document %q", k[1])
		}
	}
}
