// Package sigma converts Sigma rules for network log sources into Watchfloor rules.
//
// Sigma detection rules (firewall, network_connection, dns, dns_query, proxy and the zeek
// conn, dns, http and ssl services), Sigma correlation rules (every type of the Sigma 2.1
// correlation specification, chained, with aliases) and the older SigmaHQ aggregation form
// (`condition: selection | count(dst_port) by src_ip > 10` with `timeframe:`) become rules in
// Watchfloor's native format: the same Sigma shape with Watchfloor's field names and
// logsource categories. The field and logsource mapping is the table in docs/sigma.md; what it
// cannot map exactly is refused with the reason, never converted into a rule that means
// something else.
//
// The package emits YAML text; the native parser (package rules) reads and validates it.
package sigma

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Result is what a conversion produced: the converted rules, in input order (an aggregation
// rule gives its base detection rule, then its correlation), and the refused ones.
type Result struct {
	Rules   []Converted
	Refused []Refusal
}

// Converted is one Watchfloor rule converted from Sigma.
type Converted struct {
	Source string   // the Sigma file it came from
	Title  string   // the rule's title
	Name   string   // the Watchfloor rule name (unique within the Result)
	YAML   []byte   // one YAML document in the native format
	Notes  []string // what the conversion changed or dropped, also written as comments in YAML
}

// Refusal is a Sigma rule that was not converted, and why.
type Refusal struct {
	Source string
	Line   int // the line of the first problem (1-based; 0 when unknown)
	Title  string
	Reason string
}

func (r Refusal) String() string {
	if r.Title != "" {
		return fmt.Sprintf("%s:%d: %q: %s", r.Source, r.Line, r.Title, r.Reason)
	}
	return fmt.Sprintf("%s:%d: %s", r.Source, r.Line, r.Reason)
}

// Limits on hostile input.
const (
	MaxFileBytes = 1 << 20 // a Sigma file larger than this is an error
	maxDocs      = 1000    // documents read from one file
	maxFiles     = 100000  // files read by ConvertDir
)

// ErrTooLarge is returned for a file over MaxFileBytes.
var ErrTooLarge = errors.New("sigma: file too large")

// Convert converts one Sigma file, possibly holding several YAML documents (a correlation and
// the rules it references may share a file). Problems with rules are Refusals; the error is
// non-nil only for input over MaxFileBytes. Placeholders (|expand) are refused: a single file
// has no lists (ConvertDir accepts those whose list is in the directory's lists/).
func Convert(name string, data []byte) (Result, error) {
	c := newConverter(nil)
	if err := c.addFile(name, data); err != nil {
		return Result{}, err
	}
	return c.run(), nil
}

// ConvertDir converts every *.yml and *.yaml file under dir in fsys (recursively, in lexical
// order) as one set, so correlations may reference rules of other files. A placeholder
// `%name%` with |expand is accepted when the directory has lists/name.txt (or names it in
// lists.yaml), as the native format loads lists from there.
func ConvertDir(fsys fs.FS, dir string) (Result, error) {
	lists := map[string]bool{}
	if ents, err := fs.ReadDir(fsys, path.Join(dir, "lists")); err == nil {
		for _, e := range ents {
			if n, ok := strings.CutSuffix(e.Name(), ".txt"); ok && !e.IsDir() {
				lists[n] = true
			}
		}
	}
	if b, err := fs.ReadFile(fsys, path.Join(dir, "lists.yaml")); err == nil && len(b) <= MaxFileBytes {
		var decl []struct {
			Name string `yaml:"name"`
		}
		if yaml.Unmarshal(b, &decl) == nil {
			for _, d := range decl {
				lists[d.Name] = true
			}
		}
	}
	c := newConverter(lists)
	var files []string
	err := fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != dir && d.Name() == "lists" {
				return fs.SkipDir
			}
			return nil
		}
		ext := path.Ext(p)
		if (ext == ".yml" || ext == ".yaml") && path.Base(p) != "lists.yaml" {
			files = append(files, p)
			if len(files) > maxFiles {
				return fmt.Errorf("sigma: more than %d files under %s", maxFiles, dir)
			}
		}
		return nil
	})
	if err != nil {
		return Result{}, fmt.Errorf("sigma: read %s: %w", dir, err)
	}
	sort.Strings(files)
	for _, p := range files {
		f, err := fsys.Open(p)
		if err != nil {
			return Result{}, fmt.Errorf("sigma: %w", err)
		}
		data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
		f.Close()
		if err != nil {
			return Result{}, fmt.Errorf("sigma: read %s: %w", p, err)
		}
		if err := c.addFile(p, data); err != nil {
			c.refuse(p, 0, "", err.Error())
		}
	}
	return c.run(), nil
}

// doc is one YAML document of the input.
type doc struct {
	source string
	line   int
	root   *yaml.Node // the document's mapping
	title  string
	id     string
	name   string // the Sigma name, if any
	corr   bool   // a correlation rule

	out     string // the Watchfloor name
	refusal *problem

	// after conversion
	done     bool
	visiting bool
	families []family        // the families of the detection rules it stands for
	aliases  map[string]bool // alias names a correlation defines (usable by chained correlations)
	rules    []Converted
}

type problem struct {
	line int
	msg  string
}

type converter struct {
	lists   map[string]bool // nil: no lists known
	docs    []*doc
	refused []Refusal
	names   map[string]bool // output names taken
	byName  map[string]*doc
	byID    map[string]*doc
}

func newConverter(lists map[string]bool) *converter {
	return &converter{lists: lists, names: map[string]bool{}, byName: map[string]*doc{}, byID: map[string]*doc{}}
}

func (c *converter) refuse(source string, line int, title, reason string) {
	c.refused = append(c.refused, Refusal{Source: source, Line: line, Title: title, Reason: reason})
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

func (c *converter) addFile(name string, data []byte) error {
	if len(data) > MaxFileBytes {
		return fmt.Errorf("%w: %s is over %d bytes", ErrTooLarge, name, MaxFileBytes)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for i := 0; ; i++ {
		if i >= maxDocs {
			c.refuse(name, 0, "", fmt.Sprintf("more than %d YAML documents in one file", maxDocs))
			return nil
		}
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			line := 0
			if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
				fmt.Sscan(m[1], &line)
			}
			c.refuse(name, line, "", "invalid YAML: "+strings.TrimPrefix(err.Error(), "yaml: "))
			return nil
		}
		c.addDoc(name, &n)
	}
}

func (c *converter) addDoc(source string, n *yaml.Node) {
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return
		}
		n = n.Content[0]
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // an empty document (a trailing ---)
	}
	if n.Kind != yaml.MappingNode {
		c.refuse(source, n.Line, "", "a Sigma rule is a YAML mapping")
		return
	}
	d := &doc{source: source, line: n.Line, root: n}
	d.title = scalar(get(n, "title"))
	if p := checkPlainYAML(n); p != nil {
		d.refusal = p
	}
	if a := get(n, "action"); a != nil {
		d.refusal = &problem{a.Line, "Sigma 1 rule collections (action: global/repeat/reset) are not supported: write each rule as a complete document"}
	}
	d.id = scalar(get(n, "id"))
	d.name = scalar(get(n, "name"))
	d.corr = get(n, "correlation") != nil
	if d.title == "" && d.refusal == nil {
		d.refusal = &problem{n.Line, "the rule has no title"}
	}
	c.docs = append(c.docs, d)
}

// checkPlainYAML refuses anchors, aliases and merge keys: Sigma rules do not use them, and
// following them would let a small file expand into a huge one.
func checkPlainYAML(n *yaml.Node) *problem {
	var walk func(n *yaml.Node, depth int) *problem
	walk = func(n *yaml.Node, depth int) *problem {
		if depth > 64 {
			return &problem{n.Line, "YAML nested deeper than 64 levels"}
		}
		if n.Kind == yaml.AliasNode || n.Anchor != "" || n.Tag == "!!merge" {
			return &problem{n.Line, "YAML anchors, aliases and merge keys are not supported in Sigma rules"}
		}
		for _, k := range n.Content {
			if p := walk(k, depth+1); p != nil {
				return p
			}
		}
		return nil
	}
	return walk(n, 0)
}

var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// run names every rule, converts detections, then correlations (chains resolved in order).
func (c *converter) run() Result {
	// Sigma names first: correlations refer to them.
	for _, d := range c.docs {
		if d.refusal != nil || d.name == "" {
			continue
		}
		if prev, ok := c.byName[d.name]; ok {
			d.refusal = &problem{valueLine(get(d.root, "name"), d.line), fmt.Sprintf("name %s is already used by the rule at %s:%d", d.name, prev.source, prev.line)}
			continue
		}
		c.byName[d.name] = d
		if validName.MatchString(d.name) && !c.names[d.name] {
			d.out = d.name
			c.names[d.out] = true
		}
	}
	for _, d := range c.docs {
		if d.id != "" {
			if _, ok := c.byID[d.id]; !ok {
				c.byID[d.id] = d
			}
		}
		if d.refusal != nil || d.out != "" {
			continue
		}
		base := d.name
		if base == "" {
			base = d.title
		}
		d.out = c.unique(slug(base))
	}
	for _, d := range c.docs {
		c.convert(d)
	}
	var res Result
	for _, d := range c.docs {
		if d.refusal != nil {
			res.Refused = append(res.Refused, Refusal{Source: d.source, Line: d.refusal.line, Title: d.title, Reason: d.refusal.msg})
			continue
		}
		res.Rules = append(res.Rules, d.rules...)
	}
	res.Refused = append(res.Refused, c.refused...)
	sort.SliceStable(res.Refused, func(i, j int) bool {
		a, b := res.Refused[i], res.Refused[j]
		if a.Source != b.Source {
			return a.Source < b.Source
		}
		return a.Line < b.Line
	})
	return res
}

func (c *converter) unique(base string) string {
	name := base
	for i := 2; c.names[name]; i++ {
		name = fmt.Sprintf("%s_%d", base, i)
	}
	c.names[name] = true
	return name
}

// slug turns a title into a rule name: lower case letters and digits joined by underscores.
func slug(s string) string {
	var b strings.Builder
	under := false
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			if under && b.Len() > 0 {
				b.WriteByte('_')
			}
			under = false
			b.WriteRune(r)
			if b.Len() >= 64 {
				break
			}
			continue
		}
		under = true
	}
	if b.Len() == 0 {
		return "rule"
	}
	return b.String()
}

// convert converts one document (once), a correlation after the rules it references.
func (c *converter) convert(d *doc) {
	if d.done || d.refusal != nil {
		return
	}
	if d.visiting {
		d.refusal = &problem{d.line, "correlation references form a cycle through " + d.out}
		return
	}
	d.visiting = true
	defer func() { d.visiting = false; d.done = true }()
	var p *problem
	if d.corr {
		p = c.convertCorrelation(d)
	} else {
		p = c.convertDetection(d)
	}
	if p != nil {
		d.refusal = p
		d.rules = nil
	}
}

// YAML node access.

func get(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func scalar(n *yaml.Node) string {
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return ""
	}
	return n.Value
}

func valueLine(n *yaml.Node, def int) int {
	if n == nil {
		return def
	}
	return n.Line
}
