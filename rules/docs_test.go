package rules

import (
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite the fields table of docs/rules.md")

const (
	docsFile  = "../docs/rules.md"
	tableOpen = "<!-- fields table: generated from rules.Fields by `go test ./rules -update-docs` -->\n"
	tableEnd  = "<!-- end of fields table -->"
)

// TestDocsFields checks that docs/rules.md holds the fields table generated from Fields, and
// names every field.
func TestDocsFields(t *testing.T) {
	data, err := os.ReadFile(docsFile)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	i, j := strings.Index(doc, tableOpen), strings.Index(doc, tableEnd)
	if i < 0 || j < i {
		t.Fatalf("docs/rules.md has no fields table markers")
	}
	want := FieldsMarkdown()
	if got := doc[i+len(tableOpen) : j]; got != want {
		if *updateDocs {
			doc = doc[:i+len(tableOpen)] + want + doc[j:]
			if err := os.WriteFile(docsFile, []byte(doc), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Errorf("docs/rules.md's fields table is stale: run go test ./rules -update-docs")
	}
	for _, f := range Fields {
		if !strings.Contains(doc, "| `"+f.Name+"` |") {
			t.Errorf("docs/rules.md does not list field %s", f.Name)
		}
	}
	for c := range Categories {
		if !strings.Contains(doc, "| `"+c+"` |") {
			t.Errorf("docs/rules.md does not list category %s", c)
		}
	}
}

// TestDocsExamples parses every rule example of docs/rules.md (```yaml blocks with a name:)
// as one set with the lists the examples use. The test-file example is
// testdata/good/scan_test.yaml, which TestLoadTestFile parses.
func TestDocsExamples(t *testing.T) {
	data, err := os.ReadFile(docsFile)
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(data), -1)
	lists := &Lists{ByName: map[string]*List{}}
	for name, content := range map[string]string{"spamhaus_drop": "203.0.113.0/24 ; SBL1\n", "feodo_c2": "192.0.2.77\n", "admin_ports": "21\n23\n", "bad_domains": "evil.example\n"} {
		l, _ := ParseList(name, name, []byte(content), 0)
		lists.ByName[name] = l
	}
	var all []*Rule
	n := 0
	for i, b := range blocks {
		src := b[1]
		switch {
		case strings.HasPrefix(src, "tests:") || strings.HasPrefix(src, "rule_files:") || strings.HasPrefix(src, "lists:"):
			continue // a test file
		case !strings.Contains(src, "name:") || strings.HasPrefix(src, "- {name:"):
			continue // a fragment or lists.yaml
		}
		rs, _, errs := Parse(fmt.Sprintf("docs/rules.md example %d", i), []byte(src), lists)
		for _, e := range errs {
			t.Errorf("example %d: %v\n%s", i, e, src)
		}
		all = append(all, rs...)
		n++
	}
	if n < 7 || len(all) < 20 {
		t.Fatalf("%d examples, %d rules found", n, len(all))
	}
	_, errs := NewSet(all, lists)
	for _, e := range errs {
		t.Errorf("examples as a set: %v", e)
	}
}
