package sigma

import (
	"bytes"
	"flag"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"go.yaml.in/yaml/v3"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestGolden converts each testdata/<case>/ directory and compares the rules with
// expected.yaml and the refusals with refused.txt (absent: none expected).
func TestGolden(t *testing.T) {
	cases, err := filepath.Glob("testdata/*/in.yaml")
	if err != nil || len(cases) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	for _, in := range cases {
		dir := filepath.Dir(in)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			res, err := ConvertDir(caseFS(t, dir), ".")
			if err != nil {
				t.Fatal(err)
			}
			var rules bytes.Buffer
			if err := Write(&rules, res.Rules); err != nil {
				t.Fatal(err)
			}
			var refused bytes.Buffer
			for _, r := range res.Refused {
				refused.WriteString(r.String() + "\n")
			}
			golden(t, filepath.Join(dir, "expected.yaml"), rules.Bytes())
			golden(t, filepath.Join(dir, "refused.txt"), refused.Bytes())
			checkOutput(t, res)
		})
	}
}

// caseFS holds a case's in.yaml and lists/, not its golden files.
func caseFS(t *testing.T, dir string) fstest.MapFS {
	fsys := fstest.MapFS{}
	files, _ := filepath.Glob(filepath.Join(dir, "lists", "*"))
	for _, f := range append(files, filepath.Join(dir, "in.yaml")) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(dir, f)
		fsys[filepath.ToSlash(rel)] = &fstest.MapFile{Data: b}
	}
	return fsys
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if len(got) == 0 {
			os.Remove(path)
			return
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// watchfloorFields reads the Fields table and the Categories of ../fields.go from its
// source, so this check works whatever state the rest of package rules is in.
var watchfloorFields = sync.OnceValues(func() (map[string]string, map[string]bool) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "../fields.go", nil, 0)
	if err != nil {
		panic(err)
	}
	fields, cats := map[string]string{}, map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || len(vs.Names) != 1 || len(vs.Values) != 1 {
			return true
		}
		lit, ok := vs.Values[0].(*ast.CompositeLit)
		if !ok {
			return true
		}
		for _, e := range lit.Elts {
			switch vs.Names[0].Name {
			case "Fields":
				el, ok := e.(*ast.CompositeLit)
				if !ok || len(el.Elts) < 2 {
					continue
				}
				name, _ := strconv.Unquote(el.Elts[0].(*ast.BasicLit).Value)
				fields[name] = el.Elts[1].(*ast.Ident).Name
			case "Categories":
				kv := e.(*ast.KeyValueExpr)
				name, _ := strconv.Unquote(kv.Key.(*ast.BasicLit).Value)
				cats[name] = true
			}
		}
		return true
	})
	if len(fields) < 20 || len(cats) < 5 {
		panic("could not read Fields and Categories from ../fields.go")
	}
	return fields, cats
})

// TestMappingTargetsExist checks every field of the mapping table against rules/fields.go:
// the name exists and its type is the one the conversion assumed.
func TestMappingTargetsExist(t *testing.T) {
	fields, _ := watchfloorFields()
	want := map[ftype]string{tStr: "Str", tNum: "Num", tAddr: "Addr"}
	check := func(from string, tg target) {
		if tg.field == "" {
			if tg.why == "" {
				t.Errorf("%s: refused without a reason", from)
			}
			return
		}
		typ, ok := fields[tg.field]
		if !ok {
			t.Errorf("%s → %s: not in rules.Fields", from, tg.field)
		} else if typ != want[tg.typ] {
			t.Errorf("%s → %s: mapped as %s, rules.Fields says %s", from, tg.field, want[tg.typ], typ)
		}
	}
	for k, tg := range common {
		check(k, tg)
	}
	for fam, m := range perFamily {
		for k, tg := range m {
			check(fam.String()+"/"+k, tg)
		}
	}
}

// checkOutput parses every converted rule and checks its names against rules/fields.go, and
// that every correlation reference names a rule of the output.
func checkOutput(t testing.TB, res Result) {
	t.Helper()
	fields, cats := watchfloorFields()
	names := map[string]bool{}
	for _, r := range res.Rules {
		if names[r.Name] {
			t.Errorf("name %s twice", r.Name)
		}
		names[r.Name] = true
	}
	fieldOK := func(f string) bool {
		_, ok := fields[f]
		return ok || strings.HasPrefix(f, "attr.")
	}
	for _, r := range res.Rules {
		var m map[string]any
		if err := yaml.Unmarshal(r.YAML, &m); err != nil {
			t.Errorf("%s: output does not parse: %v\n%s", r.Name, err, r.YAML)
			continue
		}
		if m["name"] != r.Name || m["title"] == nil {
			t.Errorf("%s: name/title: %v", r.Name, m)
		}
		if ls, ok := m["logsource"].(map[string]any); ok {
			if c, _ := ls["category"].(string); !cats[c] {
				t.Errorf("%s: category %q not in rules.Categories", r.Name, c)
			}
			det, _ := m["detection"].(map[string]any)
			if det == nil || det["condition"] == nil {
				t.Errorf("%s: no detection condition", r.Name)
			}
			for k, v := range det {
				if k == "condition" {
					continue
				}
				maps := []any{v}
				if l, ok := v.([]any); ok {
					maps = l
				}
				for _, mm := range maps {
					for key := range mm.(map[string]any) {
						if f, _, _ := strings.Cut(key, "|"); !fieldOK(f) {
							t.Errorf("%s: field %s not in rules.Fields", r.Name, f)
						}
					}
				}
			}
			continue
		}
		corr, ok := m["correlation"].(map[string]any)
		if !ok {
			t.Errorf("%s: neither logsource nor correlation", r.Name)
			continue
		}
		aliases, _ := corr["aliases"].(map[string]any)
		for _, ref := range corr["rules"].([]any) {
			if !names[ref.(string)] {
				t.Errorf("%s: references %v, not in the output", r.Name, ref)
			}
		}
		for alias, per := range aliases {
			for ref, f := range per.(map[string]any) {
				if !names[ref] || !fieldOK(f.(string)) {
					t.Errorf("%s: alias %s: %s: %v", r.Name, alias, ref, f)
				}
			}
		}
		gb, _ := corr["group-by"].([]any)
		for _, g := range gb {
			if _, isAlias := aliases[g.(string)]; !isAlias && !fieldOK(g.(string)) && !aliasOfChain(res, g.(string)) {
				t.Errorf("%s: group-by %v not in rules.Fields", r.Name, g)
			}
		}
		if cond, ok := corr["condition"].(map[string]any); ok {
			if f, ok := cond["field"].(string); ok && !fieldOK(f) {
				t.Errorf("%s: condition.field %s not in rules.Fields", r.Name, f)
			}
		}
	}
}

// aliasOfChain reports whether some correlation of the output defines the alias (a chained
// correlation may group by it).
func aliasOfChain(res Result, name string) bool {
	for _, r := range res.Rules {
		var m struct {
			Correlation struct {
				Aliases map[string]any `yaml:"aliases"`
			} `yaml:"correlation"`
		}
		if yaml.Unmarshal(r.YAML, &m) == nil {
			if _, ok := m.Correlation.Aliases[name]; ok {
				return true
			}
		}
	}
	return false
}

func TestConvertSingleFileRefusesPlaceholders(t *testing.T) {
	data, err := os.ReadFile("testdata/placeholder_with_list/in.yaml")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Convert("in.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rules) != 0 || len(res.Refused) != 1 || !strings.Contains(res.Refused[0].Reason, "has no list") {
		t.Fatalf("got %+v", res)
	}
}

func TestConvertTooLarge(t *testing.T) {
	_, err := Convert("big.yml", make([]byte, MaxFileBytes+1))
	if err == nil {
		t.Fatal("no error for an oversized file")
	}
}

func TestCrossFileReferences(t *testing.T) {
	fsys := fstest.MapFS{
		"a/detect.yml": {Data: []byte("title: Telnet\nname: telnet\nlogsource: {category: firewall}\ndetection: {selection: {dst_port: 23}, condition: selection}\n")},
		"b/corr.yml":   {Data: []byte("title: Telnet burst\ncorrelation: {type: event_count, rules: [telnet], group-by: [src_ip], timespan: 1m, condition: {gt: 5}}\n")},
	}
	res, err := ConvertDir(fsys, ".")
	if err != nil || len(res.Refused) != 0 || len(res.Rules) != 2 {
		t.Fatalf("got %+v, %v", res, err)
	}
	if res.Rules[1].Name != "telnet_burst" || !bytes.Contains(res.Rules[1].YAML, []byte("- telnet\n")) {
		t.Fatalf("got %s", res.Rules[1].YAML)
	}
	checkOutput(t, res)
}

func TestUniqueNames(t *testing.T) {
	in := "title: Same\nlogsource: {category: firewall}\ndetection: {s: {dst_port: 1}, condition: s}\n---\n" +
		"title: Same\nlogsource: {category: firewall}\ndetection: {s: {dst_port: 2}, condition: s}\n---\n" +
		"title: Other\nname: same_2\nlogsource: {category: firewall}\ndetection: {s: {dst_port: 3}, condition: s}\n---\n" +
		"title: Dup\nname: same_2\nlogsource: {category: firewall}\ndetection: {s: {dst_port: 4}, condition: s}\n"
	res, _ := Convert("x.yml", []byte(in))
	var got []string
	for _, r := range res.Rules {
		got = append(got, r.Name)
	}
	if strings.Join(got, ",") != "same,same_3,same_2" {
		t.Errorf("names %v", got)
	}
	if len(res.Refused) != 1 || !strings.Contains(res.Refused[0].Reason, "already used") {
		t.Errorf("refused %+v", res.Refused)
	}
}

func TestValueTranslation(t *testing.T) {
	for _, tc := range []struct {
		tg       target
		in, want string
		bad      bool
	}{
		{named("proto", protoNames), "TCP", "6", false},
		{named("proto", protoNames), "udp", "17", false},
		{named("proto", protoNames), "58", "58", false},
		{named("proto", protoNames), "quic", "", true},
		{named("dns.type", dnsTypeNames), "TXT", "16", false},
		{named("dns.type", dnsTypeNames), "null", "10", false},
		{named("dns.rcode", rcodeNames), "NXDOMAIN", "3", false},
		{named("dns.rcode", queryStatusNames), "9003", "3", false},
		{named("dns.rcode", queryStatusNames), "0", "0", false},
		{named("dns.rcode", queryStatusNames), "9501", "", true},
		{mapped("dst_port", tNum), "0x50", "", true},
		{mapped("dst_port", tNum), "443", "443", false},
	} {
		got, why := numValue(tc.tg, "f", tc.in)
		if (why != "") != tc.bad || got != tc.want {
			t.Errorf("%s %q: got %q, %q", tc.tg.field, tc.in, got, why)
		}
	}
	for in, want := range map[string]string{"10.": "10.0.0.0/8", "192.168.": "192.168.0.0/16", "172.16.5.": "172.16.5.0/24", "172.1": "", "1.2.3.4.": "", "256.": "", "010.": "", ".": ""} {
		got, ok := octetPrefix(in)
		if got != want || ok != (want != "") {
			t.Errorf("octetPrefix(%q) = %q, %v", in, got, ok)
		}
	}
	for in, want := range map[string]string{"High DNS Requests Rate": "high_dns_requests_rate", "  --": "rule", "Ünïcode Rule 2": "n_code_rule_2"} {
		if got := slug(in); got != want {
			t.Errorf("slug(%q) = %q", in, got)
		}
	}
}

func TestWriteDir(t *testing.T) {
	data, _ := os.ReadFile("testdata/firewall_high_dns_requests_rate/in.yaml")
	res, _ := Convert("in.yaml", data)
	dir := t.TempDir()
	files, err := WriteDir(dir, res.Rules)
	if err != nil || len(files) != 2 {
		t.Fatalf("%v %v", files, err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "high_dns_requests_rate.yaml"))
	if err != nil || !bytes.Equal(b, res.Rules[1].YAML) {
		t.Fatalf("%s %v", b, err)
	}
	if _, err := WriteDir(dir, []Converted{{Name: "../x"}}); err == nil {
		t.Fatal("WriteDir wrote outside its directory")
	}
}

func FuzzConvert(f *testing.F) {
	ins, _ := filepath.Glob("testdata/*/in.yaml")
	for _, in := range ins {
		b, _ := os.ReadFile(in)
		f.Add(b)
	}
	f.Add([]byte("title: a\nlogsource: {category: dns}\ndetection: {s: {query: x}, condition: 's | count(query) by src_ip > 1'}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := Convert("fuzz.yml", data)
		if err != nil {
			return
		}
		checkOutput(t, res)
	})
}

func TestAggregateNameClash(t *testing.T) {
	for cond, clash := range map[string]bool{
		"selection":                      false,
		"1 of selection*":                false,
		"1 of them":                      true,
		"all of them and not filter":     true,
		"(1 of agg*) and not filter":     true,
		"selection and not 1 of filter*": false,
	} {
		if got := aggregateNameClash(cond) != ""; got != clash {
			t.Errorf("%q: clash %v", cond, got)
		}
	}
}
