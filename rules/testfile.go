package rules

import (
	"fmt"
	"math"
	"math/big"
	"net/netip"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/watchfloor/watchfloor"
)

// Bounds of rule test files.
const (
	MaxTestRepeat  = 1_000_000  // repeat of one input line
	MaxTestRecords = 10_000_000 // records of one test case
)

// TestFile is a parsed rule unit test file (`watchfloor rules test FILE`): the rules under
// test and the cases to run through the correlator.
type TestFile struct {
	File      string
	RuleFiles []string // as resolved (relative to the test file's directory); empty: its directory
	Set       *Set     // the rules, with the directory's lists and the file's inline lists
	Tests     []TestCase
}

// TestCase is one named case: records in time order and the alerts they must (and must not)
// raise.
type TestCase struct {
	Name       string
	Line       int
	Input      []InputRecord
	Expect     []Expectation
	ExpectNone []*Rule
}

// Records is the number of records the case's input expands to.
func (tc *TestCase) Records() int {
	n := 0
	for _, in := range tc.Input {
		n += 1 + in.Repeat
	}
	return n
}

// InputRecord is one input line: a record of Kind at Time (relative to the case's start),
// repeated Repeat more times Step apart with the Vary fields stepped each time.
type InputRecord struct {
	Line   int
	Time   time.Duration
	Kind   Kind
	Fields []FieldValue
	Repeat int
	Step   time.Duration
	Vary   []Vary
}

// FieldValue is a field's value in a test record, typed per the field.
type FieldValue struct {
	Field Field
	Str   string
	Num   float64
	Addr  netip.Addr
}

// Vary steps a Num field by Step, or an Addr field by Step addresses, per repetition.
type Vary struct {
	Field Field
	Step  float64
}

// Instance returns the time and field values of repetition i (0: the record as written),
// appending the values to dst.
func (in *InputRecord) Instance(i int, dst []FieldValue) (time.Duration, []FieldValue) {
	for _, fv := range in.Fields {
		for _, v := range in.Vary {
			if v.Field.Name != fv.Field.Name {
				continue
			}
			switch fv.Field.Type {
			case Num:
				fv.Num += v.Step * float64(i)
			case Addr:
				fv.Addr = addAddr(fv.Addr, int64(v.Step)*int64(i))
			}
		}
		dst = append(dst, fv)
	}
	return in.Time + time.Duration(i)*in.Step, dst
}

func addAddr(a netip.Addr, n int64) netip.Addr {
	b := a.As16()
	x := new(big.Int).SetBytes(b[:])
	x.Add(x, big.NewInt(n))
	if a.Is4() {
		x.And(x, big.NewInt(0xffffffff))
		v := x.Uint64()
		return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	}
	var out [16]byte
	xb := x.Bytes()
	if len(xb) > 16 {
		xb = xb[len(xb)-16:]
	}
	copy(out[16-len(xb):], xb)
	return netip.AddrFrom16(out)
}

// Expectation is one alert a case must raise.
type Expectation struct {
	Line     int
	Rule     *Rule
	At       time.Duration // when it fires, relative to the case's start
	Severity *watchfloor.Severity
	Key      []KeyValue // the identity values, in the rule's identity order; nil: any
	Title    *string    // the rendered title; nil: any
}

// KeyValue is one identity field's value.
type KeyValue struct {
	Field string
	Value string
}

// LoadTestFile reads and validates a rule test file: its rule files (default: the rule
// directory it is in), lists, and cases.
func LoadTestFile(p string) (*TestFile, []Error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, []Error{{File: p, Line: 1, Column: 1, Msg: unwrapPath(err).Error()}}
	}
	tp := &parser{errs: errs{file: p}}
	tf := &TestFile{File: p}
	if len(data) > MaxRuleFileBytes {
		tp.at(1, 1, "", "file is %d bytes, over the %d limit", len(data), MaxRuleFileBytes)
		return nil, tp.list
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		line, msg := yamlErrLine(err)
		tp.at(line, 1, "", "%s", msg)
		return nil, tp.list
	}
	if len(doc.Content) == 0 {
		tp.at(1, 1, "tests", "missing: a test file has tests")
		return nil, tp.list
	}
	root := doc.Content[0]
	var ruleFiles, lists, tests *yaml.Node
	tp.mapping(root, "", func(k, v *yaml.Node) {
		switch k.Value {
		case "rule_files":
			ruleFiles = v
		case "lists":
			lists = v
		case "tests":
			tests = v
		default:
			tp.atN(k, k.Value, "unknown key (want rule_files, lists, tests)")
		}
	})
	if root.Kind != yaml.MappingNode {
		return nil, tp.list
	}
	dir := path.Dir(p)
	// The rules and their lists.
	var set *Set
	var errs []Error
	if ruleFiles == nil {
		set, errs = loadTestRules(dir, nil, lists, tp)
	} else {
		names, nodes := tp.strList(ruleFiles, "rule_files")
		for i, n := range names {
			if path.IsAbs(n) {
				tp.atN(nodes[i], fmt.Sprintf("rule_files[%d]", i), "want a path relative to the test file")
				continue
			}
			tf.RuleFiles = append(tf.RuleFiles, path.Join(dir, n))
		}
		if len(tf.RuleFiles) > 0 {
			set, errs = loadTestRules(path.Dir(tf.RuleFiles[0]), tf.RuleFiles, lists, tp)
		}
	}
	tp.list = append(tp.list, errs...)
	if set == nil {
		return nil, SortErrors(tp.list)
	}
	tf.Set = set
	if tests == nil {
		tp.atN(root, "tests", "missing: a test file has tests")
	} else if tests.Kind != yaml.SequenceNode || len(tests.Content) == 0 {
		tp.atN(tests, "tests", "want a list of test cases")
	} else {
		for i, c := range tests.Content {
			tf.Tests = append(tf.Tests, tp.testCase(set, c, fmt.Sprintf("tests[%d]", i)))
		}
	}
	if errs := SortErrors(tp.list); len(errs) > 0 {
		return nil, errs
	}
	return tf, nil
}

// loadTestRules loads the rule files (nil: every rule file of dir) with dir's lists and the
// test file's inline lists (which win).
func loadTestRules(dir string, files []string, inline *yaml.Node, tp *parser) (*Set, []Error) {
	fsys := os.DirFS(dir)
	lists, errs := LoadListsFS(fsys, dir)
	if inline != nil {
		tp.mapping(inline, "lists", func(k, v *yaml.Node) {
			f := join("lists", k.Value)
			entries, nodes := tp.strList(v, f)
			l, lerrs := ParseList(k.Value, tp.file, []byte(strings.Join(entries, "\n")), 0)
			for _, e := range lerrs {
				if e.Line-1 < len(nodes) {
					n := nodes[e.Line-1]
					e.Line, e.Column, e.Field = n.Line, n.Column, f
				}
				tp.list = append(tp.list, e)
			}
			if l != nil {
				lists.ByName[k.Value] = l
			}
		})
	}
	var paths []string
	if files == nil {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, append(errs, Error{File: dir, Line: 1, Column: 1, Msg: unwrapPath(err).Error()})
		}
		for _, e := range entries {
			if !e.IsDir() && IsRuleFile(e.Name()) {
				paths = append(paths, e.Name())
			}
		}
		s, e := loadFiles(fsys, dir, lists, paths)
		return s, append(errs, e...)
	}
	// Rule files may live in several directories: load each from the root of its path.
	var all []*Rule
	var all2 []Error
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			all2 = append(all2, Error{File: f, Line: 1, Column: 1, Msg: unwrapPath(err).Error()})
			continue
		}
		rs, _, e := parseAll(f, data, lists)
		all = append(all, rs...)
		all2 = append(all2, e...)
	}
	s, e := NewSet(all, lists)
	good := all[:0:0]
	for _, r := range all {
		if !r.broken {
			good = append(good, r)
		}
	}
	s.Rules = good
	return s, append(append(errs, all2...), e...)
}

func (p *parser) testCase(set *Set, n *yaml.Node, field string) TestCase {
	tc := TestCase{Line: n.Line}
	var input *yaml.Node
	p.mapping(n, field, func(k, v *yaml.Node) {
		f := join(field, k.Value)
		switch k.Value {
		case "name":
			tc.Name, _ = p.str(v, f)
		case "input":
			input = v
			if v.Kind != yaml.SequenceNode {
				p.atN(v, f, "want a list of records")
				return
			}
			var prev time.Duration
			total := 0
			for i, c := range v.Content {
				in, ok := p.inputRecord(c, fmt.Sprintf("%s[%d]", f, i))
				if !ok {
					continue
				}
				if in.Time < prev {
					p.atN(c, fmt.Sprintf("%s[%d].time", f, i), "records are in time order: %v is before %v", in.Time, prev)
				}
				prev = in.Time
				total += 1 + in.Repeat
				if total > MaxTestRecords {
					p.atN(c, fmt.Sprintf("%s[%d]", f, i), "over %d records in one case", MaxTestRecords)
					return
				}
				tc.Input = append(tc.Input, in)
			}
		case "expect":
			if v.Kind != yaml.SequenceNode {
				p.atN(v, f, "want a list of expected alerts")
				return
			}
			for i, c := range v.Content {
				if e, ok := p.expectation(set, c, fmt.Sprintf("%s[%d]", f, i)); ok {
					tc.Expect = append(tc.Expect, e)
				}
			}
		case "expect_none":
			names, nodes := p.strList(v, f)
			for i, name := range names {
				r := set.ByName[name]
				if r == nil {
					p.atN(nodes[i], fmt.Sprintf("%s[%d]", f, i), "unknown rule %q", name)
					continue
				}
				tc.ExpectNone = append(tc.ExpectNone, r)
			}
		default:
			p.atN(k, f, "unknown key (want name, input, expect, expect_none)")
		}
	})
	if n.Kind == yaml.MappingNode {
		if tc.Name == "" {
			p.atN(n, join(field, "name"), "missing: every test case has a name")
		}
		if input == nil {
			p.atN(n, join(field, "input"), "missing: the records of the case")
		}
	}
	return tc
}

func (p *parser) inputRecord(n *yaml.Node, field string) (InputRecord, bool) {
	in := InputRecord{Line: n.Line}
	n0 := len(p.list)
	var kindNode, timeNode, stepNode, varyNode *yaml.Node
	type fv struct{ k, v *yaml.Node }
	var fields []fv
	p.mapping(n, field, func(k, v *yaml.Node) {
		f := join(field, k.Value)
		switch k.Value {
		case "time":
			timeNode = v
			in.Time, _ = p.duration(v, f)
		case "kind":
			kindNode = v
			if s, ok := p.str(v, f); ok {
				in.Kind = Kind(s)
			}
		case "repeat":
			r, ok := p.number(v, f)
			if ok && (r < 0 || r > MaxTestRepeat || r != math.Trunc(r)) {
				p.atN(v, f, "want a whole number 0–%d", MaxTestRepeat)
			}
			in.Repeat = int(r)
		case "step":
			stepNode = v
			in.Step, _ = p.duration(v, f)
		case "vary":
			varyNode = v
		default:
			fields = append(fields, fv{k, v})
		}
	})
	if n.Kind != yaml.MappingNode {
		return in, false
	}
	if timeNode == nil {
		p.atN(n, join(field, "time"), "missing: the record's time from the case's start (0s, 1.5s, 2m)")
	}
	if kindNode == nil {
		p.atN(n, join(field, "kind"), "missing: the record kind (flow, tcp.syn, event, metric, …)")
		return in, false
	}
	known := false
	for _, k := range allKinds {
		known = known || k == in.Kind
	}
	if !known {
		p.atN(kindNode, join(field, "kind"), "unknown kind %q (want one of %s)", in.Kind, kindNames(allKinds))
		return in, false
	}
	if in.Repeat > 0 && stepNode == nil {
		p.atN(n, join(field, "step"), "missing: repeat needs the step between records")
	}
	for _, x := range fields {
		f := join(field, x.k.Value)
		fd, ok := LookupField(x.k.Value)
		if !ok {
			p.atN(x.k, f, "unknown field %q%s", x.k.Value, suggest(x.k.Value))
			continue
		}
		if !fd.Has(in.Kind) {
			p.atN(x.k, f, "%s records have no field %s", in.Kind, fd.Name)
			continue
		}
		if fd.Name == "kind" {
			continue
		}
		s, ok := p.str(x.v, f)
		if !ok {
			continue
		}
		val := FieldValue{Field: fd, Str: s}
		switch fd.Type {
		case Num:
			v, err := strconv.ParseFloat(s, 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				p.atN(x.v, f, "%s is a number, not %q", fd.Name, s)
				continue
			}
			val.Num = v
		case Addr:
			a, err := netip.ParseAddr(s)
			if err != nil {
				p.atN(x.v, f, "%q is not an address", s)
				continue
			}
			val.Addr = a.Unmap()
		}
		in.Fields = append(in.Fields, val)
	}
	if varyNode != nil {
		p.mapping(varyNode, join(field, "vary"), func(k, v *yaml.Node) {
			f := join(join(field, "vary"), k.Value)
			step, ok := p.number(v, f)
			if !ok {
				return
			}
			for _, fv := range in.Fields {
				if fv.Field.Name == k.Value {
					if fv.Field.Type == Str {
						p.atN(k, f, "%s is text: only numbers and addresses vary", k.Value)
						return
					}
					in.Vary = append(in.Vary, Vary{Field: fv.Field, Step: step})
					return
				}
			}
			p.atN(k, f, "vary steps a field of the record: %s is not set", k.Value)
		})
	}
	return in, len(p.list) == n0
}

func (p *parser) expectation(set *Set, n *yaml.Node, field string) (Expectation, bool) {
	e := Expectation{Line: n.Line}
	n0 := len(p.list)
	var ruleNode, keyNode *yaml.Node
	var key string
	p.mapping(n, field, func(k, v *yaml.Node) {
		f := join(field, k.Value)
		switch k.Value {
		case "rule":
			ruleNode = v
			if s, ok := p.str(v, f); ok {
				if e.Rule = set.ByName[s]; e.Rule == nil {
					p.atN(v, f, "unknown rule %q", s)
				}
			}
		case "at":
			e.At, _ = p.duration(v, f)
		case "severity":
			if s, ok := p.str(v, f); ok {
				sev, err := watchfloor.ParseSeverity(s)
				if err != nil {
					p.atN(v, f, "%v", err)
				}
				e.Severity = &sev
			}
		case "key":
			keyNode = v
			key, _ = p.str(v, f)
		case "title":
			if s, ok := p.str(v, f); ok {
				e.Title = &s
			}
		default:
			p.atN(k, f, "unknown key (want rule, at, severity, key, title)")
		}
	})
	if n.Kind != yaml.MappingNode {
		return e, false
	}
	if ruleNode == nil {
		p.atN(n, join(field, "rule"), "missing: the rule that fires")
	}
	if keyNode != nil && e.Rule != nil {
		e.Key = []KeyValue{}
		for _, kv := range strings.Split(key, ",") {
			if kv == "" && key == "" {
				break
			}
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				p.atN(keyNode, join(field, "key"), "%q: want field=value[,field=value…]", kv)
				break
			}
			e.Key = append(e.Key, KeyValue{strings.TrimSpace(k), v})
		}
		id := e.Rule.Alert.Identity
		var names []string
		for _, kv := range e.Key {
			names = append(names, kv.Field)
		}
		if strings.Join(names, ",") != strings.Join(id, ",") {
			p.atN(keyNode, join(field, "key"), "rule %s's identity is [%s]: the key names those fields in that order", e.Rule.Name, strings.Join(id, ", "))
		}
	}
	return e, len(p.list) == n0
}
