package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/watchfloor/watchfloor"
)

// MaxRuleFileBytes bounds one rule file.
const MaxRuleFileBytes = 4 << 20

// pos is a position in a file.
type pos struct{ line, col int }

func at(n *yaml.Node) pos { return pos{n.Line, n.Column} }

// topKeys are the keys a rule document may have: Sigma's, and Watchfloor's category and alert.
// Other keys are Sigma custom attributes: ignored with a warning.
var topKeys = map[string]bool{
	"title": true, "id": true, "name": true, "related": true, "taxonomy": true, "status": true,
	"description": true, "license": true, "author": true, "references": true, "date": true,
	"modified": true, "logsource": true, "detection": true, "correlation": true, "fields": true,
	"falsepositives": true, "level": true, "tags": true, "scope": true, "generate": true,
	"category": true, "alert": true,
}

var (
	nameRE      = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.\-]*$`)
	selRE       = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.\-]*$`)
	techniqueRE = regexp.MustCompile(`^attack\.(t\d{4}(\.\d{3})?)$`)
	yamlLineRE  = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
)

// refused are Sigma modifiers Watchfloor does not implement, with the reason.
var refused = map[string]string{
	"windash":      "it varies Windows command-line dashes; network records have no command lines",
	"base64":       "it searches encoded payload text; network records carry no payload text",
	"base64offset": "it searches encoded payload text; network records carry no payload text",
	"wide":         "it searches UTF-16 payload text; network records carry no payload text",
	"utf16":        "it searches UTF-16 payload text; network records carry no payload text",
	"utf16le":      "it searches UTF-16 payload text; network records carry no payload text",
	"utf16be":      "it searches UTF-16 payload text; network records carry no payload text",
	"fieldref":     "comparing two fields of a record is not supported",
	"minute":       "time-part modifiers are not supported: records are matched on their fields",
	"hour":         "time-part modifiers are not supported: records are matched on their fields",
	"day":          "time-part modifiers are not supported: records are matched on their fields",
	"week":         "time-part modifiers are not supported: records are matched on their fields",
	"month":        "time-part modifiers are not supported: records are matched on their fields",
	"year":         "time-part modifiers are not supported: records are matched on their fields",
}

// Parse parses the rule documents of one file (YAML documents separated by `---`), resolving
// fields and the lists referenced with |expand against lists (nil: no lists). References
// between rules (correlations, recoveries) are resolved by NewSet. It returns the rules that
// parsed without error, the warnings (unknown top-level keys), and every error.
func Parse(name string, data []byte, lists *Lists) (rules []*Rule, warnings, errors []Error) {
	all, warnings, errors := parseAll(name, data, lists)
	for _, r := range all {
		if !r.broken {
			rules = append(rules, r)
		}
	}
	return rules, warnings, errors
}

// parseAll is Parse returning the broken rules too (marked), so that a set does not report
// references to them as unknown.
func parseAll(name string, data []byte, lists *Lists) (rules []*Rule, warnings, errors []Error) {
	p := &parser{errs: errs{file: name}, lists: lists}
	if len(data) > MaxRuleFileBytes {
		p.at(1, 1, "", "file is %d bytes, over the %d limit", len(data), MaxRuleFileBytes)
		return nil, nil, p.list
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if err == io.EOF {
			break
		}
		if err != nil {
			line, msg := yamlErrLine(err)
			p.at(line, 1, "", "%s", msg)
			break
		}
		if len(doc.Content) == 0 {
			continue
		}
		n := len(p.list)
		r := p.rule(doc.Content[0])
		if r != nil {
			r.broken = len(p.list) != n
			rules = append(rules, r)
		}
	}
	return rules, p.warns, SortErrors(p.list)
}

func yamlErrLine(err error) (int, string) {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		err = fmt.Errorf("%s", te.Errors[0])
	}
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return line, "YAML: " + m[2]
	}
	if s, ok := strings.CutPrefix(msg, "yaml: "); ok {
		msg = s
	}
	return 1, "YAML: " + msg
}

type parser struct {
	errs
	warns []Error
	lists *Lists
}

func (p *parser) atN(n *yaml.Node, field, format string, args ...any) {
	p.at(n.Line, n.Column, field, format, args...)
}

func (p *parser) warn(n *yaml.Node, field, format string, args ...any) {
	p.warns = append(p.warns, Error{File: p.file, Line: n.Line, Column: n.Column, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// mapping walks a mapping node's pairs, reporting duplicate keys and YAML aliases.
func (p *parser) mapping(n *yaml.Node, field string, f func(k, v *yaml.Node)) bool {
	if n.Kind != yaml.MappingNode {
		p.atN(n, field, "want a mapping, not %s", nodeDesc(n))
		return false
	}
	seen := make(map[string]bool, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.atN(k, field, "want a plain key")
			continue
		}
		if seen[k.Value] {
			p.atN(k, join(field, k.Value), "duplicate key")
			continue
		}
		seen[k.Value] = true
		if v.Kind == yaml.AliasNode || k.Kind == yaml.AliasNode {
			p.atN(v, join(field, k.Value), "YAML aliases are not supported in rules")
			continue
		}
		f(k, v)
	}
	return true
}

func (p *parser) str(n *yaml.Node, field string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		p.atN(n, field, "want a string, not %s", nodeDesc(n))
		return "", false
	}
	return n.Value, true
}

func (p *parser) strList(n *yaml.Node, field string) ([]string, []*yaml.Node) {
	if n.Kind == yaml.ScalarNode && n.ShortTag() != "!!null" {
		return []string{n.Value}, []*yaml.Node{n}
	}
	if n.Kind != yaml.SequenceNode {
		p.atN(n, field, "want a list of strings, not %s", nodeDesc(n))
		return nil, nil
	}
	var out []string
	var nodes []*yaml.Node
	for i, c := range n.Content {
		if s, ok := p.str(c, fmt.Sprintf("%s[%d]", field, i)); ok {
			out = append(out, s)
			nodes = append(nodes, c)
		}
	}
	return out, nodes
}

func (p *parser) duration(n *yaml.Node, field string) (time.Duration, bool) {
	s, ok := p.str(n, field)
	if !ok {
		return 0, false
	}
	d, err := ParseDuration(s)
	if err != nil {
		p.atN(n, field, "%v", err)
		return 0, false
	}
	return d, true
}

func (p *parser) boolean(n *yaml.Node, field string) (bool, bool) {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!bool" {
		b, err := strconv.ParseBool(strings.ToLower(n.Value))
		if err == nil {
			return b, true
		}
	}
	p.atN(n, field, "want true or false, not %s", nodeDesc(n))
	return false, false
}

// ruleExtra holds positions NewSet needs for its messages.
type ruleExtra struct {
	name, id       pos
	corr           pos // the correlation key
	corrRules      []pos
	groupBy        []pos
	condField      pos
	aliases        map[string]pos // alias → position of its mapping
	aliasRules     map[string]map[string]pos
	recovery       pos
	identity       []pos
	entity         map[string]pos
	categorySet    bool
	resolveSet     bool
	generateSet    bool
	templateFields []templateRef // correlation templates, checked against group-by names
}

type templateRef struct {
	field string
	at    pos
	path  string
}

func (p *parser) rule(n *yaml.Node) *Rule {
	r := &Rule{File: p.file, Line: n.Line, Column: n.Column, Level: watchfloor.SeverityMedium}
	x := &ruleExtra{}
	r.x = x
	if n.Kind != yaml.MappingNode {
		p.atN(n, "", "a rule is a mapping (title, name, logsource, detection or correlation, …), not %s", nodeDesc(n))
		return nil
	}
	var detection, correlation, alert, logsource, title, name *yaml.Node
	p.mapping(n, "", func(k, v *yaml.Node) {
		key := k.Value
		switch key {
		case "title":
			title = v
			r.Title, _ = p.str(v, key)
		case "name":
			name = v
			if s, ok := p.str(v, key); ok {
				if !nameRE.MatchString(s) {
					p.atN(v, key, "%q: a name is letters, digits, _, . and -", s)
				}
				r.Name = s
				x.name = at(v)
			}
		case "id":
			r.ID, _ = p.str(v, key)
			x.id = at(v)
		case "status":
			if s, ok := p.str(v, key); ok {
				switch s {
				case "stable", "test", "experimental", "deprecated", "unsupported":
					r.Status = s
				default:
					p.atN(v, key, "unknown status %q (want stable, test, experimental, deprecated or unsupported)", s)
				}
			}
		case "description":
			r.Description, _ = p.str(v, key)
		case "level":
			if s, ok := p.str(v, key); ok {
				sev, err := watchfloor.ParseSeverity(s)
				if err != nil || s == "info" {
					p.atN(v, key, "unknown level %q (want informational, low, medium, high or critical)", s)
				}
				r.Level = sev
			}
		case "tags":
			tags, nodes := p.strList(v, key)
			r.Tags = tags
			for i, t := range tags {
				if m := techniqueRE.FindStringSubmatch(strings.ToLower(t)); m != nil {
					r.Techniques = append(r.Techniques, strings.ToUpper(m[1]))
				} else if strings.HasPrefix(strings.ToLower(t), "attack.t") && len(t) > 8 && t[8] >= '0' && t[8] <= '9' {
					p.atN(nodes[i], fmt.Sprintf("tags[%d]", i), "%q is not an ATT&CK technique tag (attack.tNNNN or attack.tNNNN.NNN)", t)
				}
			}
		case "category":
			if s, ok := p.str(v, key); ok {
				switch s {
				case "availability", "performance", "security":
					r.Category = s
					x.categorySet = true
				default:
					p.atN(v, key, "unknown category %q (want availability, performance or security)", s)
				}
			}
		case "logsource":
			logsource = v
		case "detection":
			detection = v
		case "correlation":
			correlation = v
			x.corr = at(k)
		case "alert":
			alert = v
		case "generate":
			if b, ok := p.boolean(v, key); ok {
				r.GenerateReferenced = b
				x.generateSet = true
			}
		case "author", "references", "date", "modified", "license", "related", "taxonomy", "fields", "falsepositives", "scope":
			// Sigma metadata: kept in the file, not needed to evaluate.
		case "action":
			p.atN(k, key, "Sigma rule collections (action: global/reset/repeat) are not supported: write each rule in full")
		case "filter":
			p.atN(k, key, "Sigma filter rules are not supported: add the exclusion to the rule's condition")
		default:
			if !topKeys[key] {
				p.warn(k, key, "unknown key ignored (a Sigma custom attribute?)")
			}
		}
	})
	if title == nil {
		p.atN(n, "title", "missing: every rule has a title")
	}
	if name == nil {
		p.atN(n, "name", "missing: every Watchfloor rule has a unique name")
	}
	switch {
	case detection != nil && correlation != nil:
		p.atN(correlation, "correlation", "a rule has a detection or a correlation, not both")
	case detection != nil:
		if logsource == nil {
			p.atN(n, "logsource", "missing: a detection rule names its logsource category")
		} else {
			p.logsource(r, logsource)
		}
		if r.Kinds != nil || logsource == nil {
			r.Detection = p.detection(r, detection)
		}
		if !x.categorySet {
			r.Category = defaultCategory(r.Kinds)
		}
	case correlation != nil:
		if logsource != nil {
			p.atN(logsource, "logsource", "a correlation rule reads the records of the rules it references: no logsource")
		}
		r.Correlation = p.correlation(r, correlation)
	default:
		p.atN(n, "detection", "missing: a rule has a detection or a correlation")
	}
	if r.Title == "" {
		r.Title = r.Name
	}
	p.alert(r, alert)
	return r
}

func defaultCategory(kinds []Kind) string {
	if len(kinds) == 0 {
		return "security"
	}
	for _, k := range kinds {
		if k != KindEvent {
			goto notEvent
		}
	}
	return "availability"
notEvent:
	for _, k := range kinds {
		if k != KindMetric {
			return "security"
		}
	}
	return "performance"
}

func (p *parser) logsource(r *Rule, n *yaml.Node) {
	var cat *yaml.Node
	p.mapping(n, "logsource", func(k, v *yaml.Node) {
		f := join("logsource", k.Value)
		switch k.Value {
		case "category":
			cat = v
			r.LogSource.Category, _ = p.str(v, f)
		case "product":
			r.LogSource.Product, _ = p.str(v, f)
		case "service":
			r.LogSource.Service, _ = p.str(v, f)
		case "definition":
		default:
			p.atN(k, f, "unknown key (want category, product, service, definition)")
		}
	})
	if cat == nil {
		if n.Kind == yaml.MappingNode {
			p.atN(n, "logsource.category", "missing: want one of %s", categoryNames())
		}
		return
	}
	kinds, ok := Categories[r.LogSource.Category]
	if !ok {
		if r.LogSource.Category != "" {
			p.atN(cat, "logsource.category", "unknown category %q (want one of %s)", r.LogSource.Category, categoryNames())
		}
		return
	}
	r.Kinds = kinds
}

func categoryNames() string {
	names := make([]string, 0, len(Categories))
	for c := range Categories {
		names = append(names, c)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func (p *parser) detection(r *Rule, n *yaml.Node) *Detection {
	d := &Detection{Selections: map[string]*Selection{}}
	var cond *yaml.Node
	p.mapping(n, "detection", func(k, v *yaml.Node) {
		f := join("detection", k.Value)
		switch k.Value {
		case "condition":
			cond = v
		case "timeframe":
			p.atN(k, f, "the deprecated Sigma aggregation form: write a correlation rule (`watchfloor rules import-sigma` converts it)")
		default:
			if !selRE.MatchString(k.Value) {
				p.atN(k, f, "%q: a selection name is letters, digits, _, . and -", k.Value)
			}
			s := p.selection(r, k, v, f)
			if s == nil { // reported; known by name so the condition does not report it again
				s = &Selection{Name: k.Value, Line: k.Line, Column: k.Column}
			}
			d.Selections[k.Value] = s
		}
	})
	if n.Kind != yaml.MappingNode {
		return nil
	}
	if cond == nil {
		p.atN(n, "detection.condition", "missing: a detection has a condition")
		return d
	}
	d.Condition = p.condition(cond, d, n)
	return d
}

func (p *parser) selection(r *Rule, k, v *yaml.Node, field string) *Selection {
	s := &Selection{Name: k.Value, Line: k.Line, Column: k.Column}
	switch v.Kind {
	case yaml.MappingNode:
		g := p.group(r, v, field)
		s.Groups = append(s.Groups, g)
	case yaml.SequenceNode:
		if len(v.Content) == 0 {
			p.atN(v, field, "empty selection")
			return nil
		}
		for i, c := range v.Content {
			if c.Kind != yaml.MappingNode {
				p.atN(c, fmt.Sprintf("%s[%d]", field, i), "keyword search (a value without a field) is not supported: network records have no free text; name the field")
				continue
			}
			s.Groups = append(s.Groups, p.group(r, c, fmt.Sprintf("%s[%d]", field, i)))
		}
	default:
		p.atN(v, field, "keyword search (a value without a field) is not supported: network records have no free text; name the field")
		return nil
	}
	return s
}

func (p *parser) group(r *Rule, n *yaml.Node, field string) []FieldCond {
	var g []FieldCond
	if len(n.Content) == 0 {
		p.atN(n, field, "empty selection")
	}
	p.mapping(n, field, func(k, v *yaml.Node) {
		if fc, ok := p.fieldCond(r, k, v, join(field, k.Value)); ok {
			g = append(g, fc)
		}
	})
	return g
}

func (p *parser) fieldCond(r *Rule, k, v *yaml.Node, path string) (FieldCond, bool) {
	parts := strings.Split(k.Value, "|")
	fc := FieldCond{Line: k.Line, Column: k.Column, Modifiers: parts[1:]}
	name := parts[0]
	if name == "" {
		p.atN(k, path, "keyword search (a value without a field) is not supported: network records have no free text; name the field")
		return fc, false
	}
	f, ok := LookupField(name)
	if !ok {
		p.atN(k, path, "unknown field %q%s", name, suggest(name))
		return fc, false
	}
	if r.Kinds != nil && !f.HasAny(r.Kinds) {
		p.atN(k, path, "field %s is not in %s records (category %s); it is in: %s", name, kindNames(r.Kinds), r.LogSource.Category, kindNames(f.Kinds))
		return fc, false
	}
	fc.Field = f
	if key, ok := strings.CutPrefix(name, AttrPrefix); ok {
		fc.Attr = key
	}
	ok = true
	opSet := false
	var expand bool
	var reFlags string
	for _, m := range fc.Modifiers {
		op := Op(255)
		switch m {
		case "contains":
			op = OpContains
		case "startswith":
			op = OpStartsWith
		case "endswith":
			op = OpEndsWith
		case "re":
			op = OpRe
		case "cidr":
			op = OpCIDR
		case "gt":
			op = OpGT
		case "gte":
			op = OpGTE
		case "lt":
			op = OpLT
		case "lte":
			op = OpLTE
		case "exists":
			op = OpExists
		case "all":
			fc.All = true
		case "cased":
			fc.Cased = true
		case "expand":
			expand = true
		case "i", "m", "s":
			if fc.Op != OpRe {
				p.atN(k, path, "modifier %s is a flag of |re and follows it", m)
				ok = false
			}
			reFlags += m
		default:
			if why, bad := refused[m]; bad {
				p.atN(k, path, "modifier %s is not supported: %s", m, why)
			} else {
				p.atN(k, path, "unknown modifier %q (want contains, startswith, endswith, re, cidr, gt, gte, lt, lte, all, exists, cased, expand)", m)
			}
			ok = false
		}
		if op != 255 {
			if opSet {
				p.atN(k, path, "modifiers %s and %s do not combine", fc.Op, op)
				ok = false
			}
			fc.Op, opSet = op, true
		}
	}
	if !ok {
		return fc, false
	}
	// Operator and field type.
	switch fc.Op {
	case OpContains, OpStartsWith, OpEndsWith, OpRe:
		if f.Type != Str {
			p.atN(k, path, "|%s compares text; %s is %s", fc.Op, name, article(f.Type))
			return fc, false
		}
	case OpCIDR:
		if f.Type != Addr {
			p.atN(k, path, "|cidr compares addresses; %s is %s", name, article(f.Type))
			return fc, false
		}
	case OpGT, OpGTE, OpLT, OpLTE:
		if f.Type != Num {
			p.atN(k, path, "|%s compares numbers; %s is %s", fc.Op, name, article(f.Type))
			return fc, false
		}
	case OpExists:
		if len(fc.Modifiers) != 1 {
			p.atN(k, path, "|exists takes no other modifier")
			return fc, false
		}
		b, good := p.boolean(v, path)
		fc.Exists = b
		return fc, good
	}
	if fc.Cased && f.Type != Str {
		p.atN(k, path, "|cased applies to text; %s is %s", name, article(f.Type))
		return fc, false
	}
	if expand && fc.Op != OpEq && fc.Op != OpCIDR {
		p.atN(k, path, "|expand takes list placeholders (%%name%%), which match as set lookups: not with |%s", fc.Op)
		return fc, false
	}
	var nodes []*yaml.Node
	switch v.Kind {
	case yaml.ScalarNode:
		nodes = []*yaml.Node{v}
	case yaml.SequenceNode:
		if len(v.Content) == 0 {
			p.atN(v, path, "empty list of values")
			return fc, false
		}
		nodes = v.Content
	default:
		p.atN(v, path, "want a value or a list of values, not %s", nodeDesc(v))
		return fc, false
	}
	for _, vn := range nodes {
		val, good := p.value(fc, vn, path, expand, reFlags)
		if good {
			fc.Values = append(fc.Values, val)
		} else {
			ok = false
		}
	}
	return fc, ok
}

func article(t FieldType) string {
	if t == Addr {
		return "an address"
	}
	return "a " + t.String()
}

func suggest(name string) string {
	var near []string
	for _, f := range Fields {
		if strings.Contains(f.Name, name) || strings.Contains(name, f.Name) || strings.EqualFold(strings.ReplaceAll(f.Name, "_", ""), strings.ReplaceAll(name, "_", "")) {
			near = append(near, f.Name)
		}
	}
	if len(near) == 0 || len(near) > 4 {
		return " (docs/rules.md lists the fields)"
	}
	return " (did you mean " + strings.Join(near, ", ") + "?)"
}

var placeholderRE = regexp.MustCompile(`^%([A-Za-z0-9_.\-]+)%$`)

func (p *parser) value(fc FieldCond, n *yaml.Node, path string, expand bool, reFlags string) (Value, bool) {
	if n.Kind != yaml.ScalarNode {
		p.atN(n, path, "want a value, not %s", nodeDesc(n))
		return Value{}, false
	}
	if n.ShortTag() == "!!null" {
		if fc.Op != OpEq || fc.All {
			p.atN(n, path, "null (the field is empty or absent) takes no modifier")
			return Value{}, false
		}
		return Value{Kind: ValNull}, true
	}
	s, f := n.Value, fc.Field
	if expand {
		m := placeholderRE.FindStringSubmatch(s)
		if m == nil {
			p.atN(n, path, "|expand wants a whole %%name%% list placeholder, not %q", s)
			return Value{}, false
		}
		l := p.lists.Get(m[1])
		if l == nil {
			p.atN(n, path, "unknown list %q%s", m[1], listNames(p.lists))
			return Value{}, false
		}
		if !l.Type.fits(f.Type) {
			p.atN(n, path, "list %s holds %s entries; %s is %s", m[1], l.Type, f.Name, article(f.Type))
			return Value{}, false
		}
		return Value{Kind: ValList, Str: s, ListName: m[1], List: l}, true
	}
	switch {
	case fc.Op == OpRe:
		src := s
		if reFlags != "" {
			src = "(?" + reFlags + ")" + s
		}
		re, err := regexp.Compile(src)
		if err != nil {
			p.atN(n, path, "bad regular expression: %v", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
			return Value{}, false
		}
		return Value{Kind: ValRe, Str: s, Re: re}, true
	case f.Type == Str:
		return Value{Kind: ValStr, Str: s, Pattern: CompilePattern(s, fc.Op, fc.Cased)}, true
	case f.Type == Num:
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			if strings.ContainsAny(s, "*?") {
				p.atN(n, path, "%s is a number: wildcards do not apply (use |gte and |lte for a range)", f.Name)
			} else {
				p.atN(n, path, "%s is a number, not %q", f.Name, s)
			}
			return Value{}, false
		}
		return Value{Kind: ValNum, Str: s, Num: v}, true
	case f.Type == Addr:
		pfx, err := parseIPOrPrefix(s)
		if err != nil {
			if strings.ContainsAny(s, "*?") {
				p.atN(n, path, "%s is an address: wildcards do not apply (use |cidr)", f.Name)
			} else {
				p.atN(n, path, "%q is not an address or network", s)
			}
			return Value{}, false
		}
		return Value{Kind: ValPrefix, Str: s, Prefix: unmapPrefix(pfx)}, true
	}
	p.atN(n, path, "field %s has no type", f.Name)
	return Value{}, false
}

func listNames(l *Lists) string {
	if l.Len() == 0 {
		return " (no lists are loaded: add lists/NAME.txt to the rule directory)"
	}
	names := make([]string, 0, l.Len())
	for n := range l.ByName {
		names = append(names, n)
	}
	sort.Strings(names)
	return " (lists: " + strings.Join(names, ", ") + ")"
}

// Correlations.

func (p *parser) correlation(r *Rule, n *yaml.Node) *Correlation {
	c := &Correlation{}
	x := r.x
	var typ, cond, forN, timespan *yaml.Node
	p.mapping(n, "correlation", func(k, v *yaml.Node) {
		f := join("correlation", k.Value)
		switch k.Value {
		case "type":
			typ = v
			if s, ok := p.str(v, f); ok {
				c.Type = CorrelationType(s)
				if !slices.Contains(CorrelationTypes, c.Type) {
					p.atN(v, f, "unknown correlation type %q (want event_count, value_count, temporal, temporal_ordered, value_sum, value_avg, value_percentile, absence or threshold)", s)
					c.Type = ""
				}
			}
		case "rules":
			refs, nodes := p.strList(v, f)
			c.RuleRefs = refs
			for _, rn := range nodes {
				x.corrRules = append(x.corrRules, at(rn))
			}
			if len(refs) == 0 && v.Kind == yaml.SequenceNode {
				p.atN(v, f, "empty: name the rules to correlate")
			}
		case "group-by":
			names, nodes := p.strList(v, f)
			for i, g := range names {
				c.GroupBy = append(c.GroupBy, FieldRef{Name: g})
				x.groupBy = append(x.groupBy, at(nodes[i]))
			}
		case "timespan":
			timespan = v
			c.Timespan, _ = p.duration(v, f)
		case "for":
			forN = v
			c.For, _ = p.duration(v, f)
		case "condition":
			cond = v
		case "aliases":
			c.Aliases = map[string]map[string]string{}
			x.aliases = map[string]pos{}
			x.aliasRules = map[string]map[string]pos{}
			p.mapping(v, f, func(ak, av *yaml.Node) {
				af := join(f, ak.Value)
				m := map[string]string{}
				x.aliases[ak.Value] = at(ak)
				x.aliasRules[ak.Value] = map[string]pos{}
				p.mapping(av, af, func(rk, rv *yaml.Node) {
					if s, ok := p.str(rv, join(af, rk.Value)); ok {
						m[rk.Value] = s
						x.aliasRules[ak.Value][rk.Value] = at(rv)
					}
				})
				c.Aliases[ak.Value] = m
			})
		case "generate":
			if b, ok := p.boolean(v, f); ok {
				r.GenerateReferenced = b
			}
		default:
			p.atN(k, f, "unknown key (want type, rules, group-by, timespan, condition, aliases, generate, for)")
		}
	})
	if n.Kind != yaml.MappingNode {
		return nil
	}
	if typ == nil {
		p.atN(n, "correlation.type", "missing: want event_count, value_count, temporal, temporal_ordered, value_sum, value_avg, value_percentile, absence or threshold")
	}
	if c.RuleRefs == nil && !hasKey(n, "rules") {
		p.atN(n, "correlation.rules", "missing: name the rules to correlate")
	}
	if cond != nil {
		p.corrCondition(c, x, cond)
	}
	switch c.Type {
	case "":
	case Threshold:
		if timespan != nil {
			p.atN(timespan, "correlation.timespan", "threshold holds its condition `for` a duration: no timespan")
		}
		if forN == nil {
			p.atN(n, "correlation.for", "missing: threshold fires when the condition holds for this long (0s: at once)")
		}
	default:
		if forN != nil {
			p.atN(forN, "correlation.for", "only threshold correlations take `for`")
		}
		if timespan == nil {
			p.atN(n, "correlation.timespan", "missing: the window of the correlation (5m, 1h, …)")
		} else if c.Timespan == 0 && timespan.Value != "" {
			if _, err := ParseDuration(timespan.Value); err == nil {
				p.atN(timespan, "correlation.timespan", "a timespan is longer than 0")
			}
		}
	}
	// The condition each type needs.
	condPath := "correlation.condition"
	needField := c.Type == ValueCount || c.Type == ValueSum || c.Type == ValueAvg || c.Type == ValuePercentile || c.Type == Threshold
	switch {
	case c.Type == "":
	case c.Type == Absence:
		if cond != nil {
			p.atN(cond, condPath, "absence fires when nothing matched for the timespan: no condition")
		}
	case c.Type == Temporal || c.Type == TemporalOrdered:
		if c.Condition.Field != nil {
			p.atN(cond, condPath+".field", "%s counts the referenced rules that matched: no field", c.Type)
		}
		if cond == nil {
			// Sigma: all the rules.
			c.Condition.Cmps = []Cmp{{CmpGTE, float64(len(c.RuleRefs))}}
		}
	case cond == nil:
		p.atN(n, condPath, "missing: %s needs a condition (gte: 10, …)", c.Type)
	default:
		if needField && c.Condition.Field == nil {
			p.atN(cond, condPath+".field", "missing: %s needs the field it measures", c.Type)
		}
		if !needField && c.Condition.Field != nil {
			p.atN(cond, condPath+".field", "%s counts records: no field", c.Type)
		}
	}
	if c.Type != ValuePercentile && c.Condition.Percentile != 0 {
		p.atN(cond, condPath+".percentile", "only value_percentile takes a percentile")
	}
	if c.Type == ValuePercentile && cond != nil && c.Condition.Percentile == 0 && !hasKey(cond, "percentile") {
		// Sigma 2.1's value_percentile names no percentile (its example: {field, lte: 1});
		// Watchfloor takes the 95th, the figure a flood's volume is judged by, unless told.
		c.Condition.Percentile = DefaultPercentile
	}
	if c.Type == TemporalOrdered && len(c.RuleRefs) < 2 {
		p.atN(n, "correlation.rules", "temporal_ordered needs at least two rules in sequence")
	}
	return c
}

func hasKey(n *yaml.Node, key string) bool {
	if n.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return true
		}
	}
	return false
}

func (p *parser) corrCondition(c *Correlation, x *ruleExtra, n *yaml.Node) {
	const f0 = "correlation.condition"
	p.mapping(n, f0, func(k, v *yaml.Node) {
		f := join(f0, k.Value)
		var op CmpOp
		switch k.Value {
		case "gt":
			op = CmpGT
		case "gte":
			op = CmpGTE
		case "lt":
			op = CmpLT
		case "lte":
			op = CmpLTE
		case "eq":
			op = CmpEQ
		case "neq":
			op = CmpNEQ
		case "field":
			if s, ok := p.str(v, f); ok {
				c.Condition.Field = &FieldRef{Name: s}
				x.condField = at(v)
			}
			return
		case "percentile":
			pc, ok := p.number(v, f)
			if ok && (pc <= 0 || pc > 100) {
				p.atN(v, f, "a percentile is over 0 and at most 100")
			}
			c.Condition.Percentile = pc
			return
		default:
			p.atN(k, f, "unknown key (want gt, gte, lt, lte, eq, neq, field, percentile)")
			return
		}
		if val, ok := p.number(v, f); ok {
			c.Condition.Cmps = append(c.Condition.Cmps, Cmp{op, val})
		}
	})
	if n.Kind == yaml.MappingNode && len(c.Condition.Cmps) == 0 && !hasKey(n, "gt") && !hasKey(n, "gte") && !hasKey(n, "lt") && !hasKey(n, "lte") && !hasKey(n, "eq") && !hasKey(n, "neq") {
		p.atN(n, f0, "no comparison (want gt, gte, lt, lte, eq or neq)")
	}
}

func (p *parser) number(n *yaml.Node, field string) (float64, bool) {
	if n.Kind == yaml.ScalarNode && (n.ShortTag() == "!!int" || n.ShortTag() == "!!float") {
		v, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
		if err == nil && !math.IsNaN(v) && !math.IsInf(v, 0) {
			return v, true
		}
		if i, err := strconv.ParseInt(n.Value, 0, 64); err == nil {
			return float64(i), true
		}
	}
	p.atN(n, field, "want a number, not %s", nodeDesc(n))
	return 0, false
}
