package distrib

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// TestDocExample: the configuration in docs/distrib.md decodes strictly into
// SourceConfig, and validates but for its directories, which do not exist here.
func TestDocExample(t *testing.T) {
	doc, err := os.ReadFile("../../docs/distrib.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "```yaml\n")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("no yaml block in docs/distrib.md")
	}
	var c struct {
		Central struct {
			Distribute SourceConfig `yaml:"distribute"`
		} `yaml:"central"`
	}
	c.Central.Distribute = DefaultSourceConfig()
	dec := yaml.NewDecoder(bytes.NewReader([]byte(block)))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	d := c.Central.Distribute
	if d.Rules == "" || d.Lists == "" || !d.Silences || d.Scan != 10*time.Second {
		t.Errorf("decoded %+v", d)
	}
	for _, e := range d.Validate() {
		if e.Field != "rules" && e.Field != "lists" {
			t.Errorf("%v", e)
		}
	}
}
