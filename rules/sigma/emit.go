package sigma

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Sigma keys carried over, in the order they are written around the rule's body.
var (
	metaHead = []string{"status", "description", "references", "author", "date", "modified", "tags"}
	metaTail = []string{"falsepositives", "level"}
	// Keys read by the conversion itself.
	bodyKeys = map[string]bool{"title": true, "id": true, "name": true, "logsource": true, "detection": true, "correlation": true}
)

func sNode(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v} }

func nNode(v string) *yaml.Node {
	tag := "!!int"
	if strings.ContainsAny(v, ".eE") {
		tag = "!!float"
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: v}
}

func bNode(v bool) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: fmt.Sprint(v)}
}

func nullNode() *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"} }

func mNode(kv ...*yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: kv}
}

func seqNode(items ...*yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: items}
}

func strSeq(items []string) *yaml.Node {
	s := seqNode()
	for _, it := range items {
		s.Content = append(s.Content, sNode(it))
	}
	return s
}

// clone copies a node without its comments and positions.
func clone(n *yaml.Node) *yaml.Node {
	if n == nil {
		return nil
	}
	c := &yaml.Node{Kind: n.Kind, Style: n.Style, Tag: n.Tag, Value: n.Value}
	for _, k := range n.Content {
		c.Content = append(c.Content, clone(k))
	}
	return c
}

// ruleNode builds a rule: title, id, name, the Sigma metadata (when meta), the body pairs,
// then falsepositives and level. It reports the source keys it dropped.
func ruleNode(src *yaml.Node, title, name string, meta bool, body []*yaml.Node) (*yaml.Node, []string) {
	m := mNode(sNode("title"), sNode(title))
	if meta {
		if id := get(src, "id"); id != nil {
			m.Content = append(m.Content, sNode("id"), clone(id))
		}
	}
	m.Content = append(m.Content, sNode("name"), sNode(name))
	if meta {
		for _, k := range metaHead {
			if v := get(src, k); v != nil {
				m.Content = append(m.Content, sNode(k), clone(v))
			}
		}
	}
	m.Content = append(m.Content, body...)
	var dropped []string
	if meta {
		for _, k := range metaTail {
			if v := get(src, k); v != nil {
				m.Content = append(m.Content, sNode(k), clone(v))
			}
		}
		known := map[string]bool{}
		for _, k := range append(append([]string{}, metaHead...), metaTail...) {
			known[k] = true
		}
		for i := 0; i+1 < len(src.Content); i += 2 {
			k := src.Content[i].Value
			if !known[k] && !bodyKeys[k] {
				dropped = append(dropped, k)
			}
		}
	}
	return m, dropped
}

// encode writes one YAML document with a comment header.
func encode(n *yaml.Node, head []string) []byte {
	var lines []string
	for _, h := range head {
		for _, l := range strings.Split(h, "\n") {
			lines = append(lines, "# "+l)
		}
	}
	d := &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{n}, HeadComment: strings.Join(lines, "\n")}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(4)
	if err := enc.Encode(d); err != nil {
		// Nodes built here are always encodable; an error is a bug worth seeing.
		panic(fmt.Sprintf("sigma: encode: %v", err))
	}
	enc.Close()
	return b.Bytes()
}

// Write writes the rules to w as one multi-document YAML stream.
func Write(w io.Writer, rules []Converted) error {
	for i, r := range rules {
		if i > 0 {
			if _, err := io.WriteString(w, "---\n"); err != nil {
				return err
			}
		}
		if _, err := w.Write(r.YAML); err != nil {
			return err
		}
	}
	return nil
}

// WriteDir writes each rule to dir/<name>.yaml (creating dir) and returns the files written.
func WriteDir(dir string, rules []Converted) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("sigma: %w", err)
	}
	var files []string
	for _, r := range rules {
		if !validName.MatchString(r.Name) || strings.Contains(r.Name, "..") {
			return files, fmt.Errorf("sigma: rule name %q is not a file name", r.Name)
		}
		p := filepath.Join(dir, r.Name+".yaml")
		if err := os.WriteFile(p, r.YAML, 0o644); err != nil {
			return files, fmt.Errorf("sigma: %w", err)
		}
		files = append(files, p)
	}
	return files, nil
}
