package distrib

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/watchfloor/watchfloor"
)

func TestFilesRoundTrip(t *testing.T) {
	files := []file{{"z.yaml", []byte("z")}, {"a/b.txt", []byte("")}, {"lists/x.txt", []byte("1.2.3.4\n")}}
	b, err := encodeFiles(files)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeFiles(b)
	if err != nil {
		t.Fatal(err)
	}
	want := []file{{"a/b.txt", []byte("")}, {"lists/x.txt", []byte("1.2.3.4\n")}, {"z.yaml", []byte("z")}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	b2, _ := encodeFiles(want)
	if !bytes.Equal(b, b2) {
		t.Error("the encoding depends on the order given")
	}
}

func TestFilesRefused(t *testing.T) {
	enc := func(paths ...string) []byte {
		b := []byte(bundleMagic)
		b = binary.AppendUvarint(b, uint64(len(paths)))
		for _, p := range paths {
			b = binary.AppendUvarint(b, uint64(len(p)))
			b = append(b, p...)
			b = binary.AppendUvarint(b, 1)
			b = append(b, 'x')
		}
		return b
	}
	for name, b := range map[string][]byte{
		"magic":       []byte("WFD2\x00"),
		"dotdot":      enc("../etc/passwd"),
		"absolute":    enc("/etc/passwd"),
		"dot element": enc("a/./b"),
		"hidden":      enc(".git/config"),
		"backslash":   enc(`a\b`),
		"twice":       enc("a", "a"),
		"order":       enc("b", "a"),
		"empty path":  enc(""),
		"trailing":    append(enc("a"), 0),
		"count lie":   append([]byte(bundleMagic), binary.AppendUvarint(nil, MaxFiles)...),
		"long data":   append(append([]byte(bundleMagic), 1, 1, 'a'), binary.AppendUvarint(nil, 1<<40)...),
	} {
		if _, err := decodeFiles(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := encodeFiles([]file{{"../x", nil}}); err == nil {
		t.Error("encodeFiles accepted ../x")
	}
}

func TestReadDir(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.yaml", "a")
	writeFile(t, dir, "lists/x.txt", "x")
	writeFile(t, dir, ".git/HEAD", "ref")
	writeFile(t, dir, ".hidden.yaml", "h")
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "link.yaml")); err != nil {
		t.Fatal(err)
	}
	files, err := readDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range files {
		paths = append(paths, f.Path)
	}
	if want := []string{"a.yaml", "lists/x.txt"}; !reflect.DeepEqual(paths, want) {
		t.Errorf("read %v, want %v", paths, want)
	}
}

// TestCombine: the lists bundle goes under lists/, overriding the rules bundle's files
// and declarations of the same names.
func TestCombine(t *testing.T) {
	r := []file{
		{"scan.yaml", []byte(ruleFile("x"))},
		{"lists/bad_ips.txt", []byte("192.0.2.1\n")},
		{"lists/ports.txt", []byte("22\n")},
		{"lists.yaml", []byte("- {name: bad_ips, file: feeds/old.txt, type: ip}\n- {name: admin, file: lists/ports.txt, type: port}\n")},
	}
	l := []file{
		{"bad_ips.txt", []byte("203.0.113.0/24\n")},
		{"c2.txt", []byte("198.51.100.1\n")},
		{"lists.yaml", []byte("- {name: c2, file: c2.txt, type: ip}\n")},
	}
	m, err := combine(r, l)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(m["lists/bad_ips.txt"].Data); got != "203.0.113.0/24\n" {
		t.Errorf("lists/bad_ips.txt %q: not overridden", got)
	}
	var decls []map[string]string
	if err := json.Unmarshal(yamlToJSON(t, m["lists.yaml"].Data), &decls); err != nil {
		t.Fatal(err)
	}
	want := []map[string]string{
		{"name": "admin", "file": "lists/ports.txt", "type": "port"},
		{"name": "c2", "file": "lists/c2.txt", "type": "ip"},
	}
	if !reflect.DeepEqual(decls, want) {
		t.Errorf("lists.yaml %v, want %v", decls, want)
	}
	if _, nLists, errs := checkFS(m, ""); len(errs) > 0 || nLists != 3 {
		t.Errorf("combined: %d lists, errors %v", nLists, errs)
	}
	// Without a lists bundle the rules bundle's lists.yaml stays as it is.
	m, _ = combine(r, nil)
	if !bytes.Equal(m["lists.yaml"].Data, r[3].Data) {
		t.Errorf("lists.yaml rewritten: %q", m["lists.yaml"].Data)
	}
	if _, ok := m["lists"]; ok {
		t.Error("a directory entry")
	}
	if _, err := fs.Stat(m, "scan.yaml"); err != nil {
		t.Error(err)
	}
}

func yamlToJSON(t *testing.T, y []byte) []byte {
	t.Helper()
	es, err := parseListDecls(y)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(es)
	return b
}

func TestSiteMatches(t *testing.T) {
	m := func(op, v string) watchfloor.Matcher { return watchfloor.Matcher{Name: "site", Op: op, Value: v} }
	for _, tc := range []struct {
		ms   []watchfloor.Matcher
		site string
		want bool
	}{
		{nil, "north", true},
		{[]watchfloor.Matcher{{Name: "rule", Op: "=", Value: "x"}}, "north", true},
		{[]watchfloor.Matcher{m("=", "north")}, "north", true},
		{[]watchfloor.Matcher{m("=", "north")}, "north-2", false},
		{[]watchfloor.Matcher{m("!=", "north")}, "south", true},
		{[]watchfloor.Matcher{m("!=", "north")}, "north", false},
		{[]watchfloor.Matcher{m("=~", "nor")}, "north", false}, // whole value
		{[]watchfloor.Matcher{m("=~", "nor.*")}, "north", true},
		{[]watchfloor.Matcher{m("!~", "nor.*")}, "north", false},
		{[]watchfloor.Matcher{m("!~", "nor.*")}, "south", true},
		{[]watchfloor.Matcher{m("=~", "(")}, "north", false},
		{[]watchfloor.Matcher{m("=~", "n.*"), m("!=", "north")}, "north", false},
		{[]watchfloor.Matcher{m("~", "north")}, "north", false},
	} {
		if got := siteMatches(tc.ms, tc.site); got != tc.want {
			t.Errorf("%v on %s: %v, want %v", tc.ms, tc.site, got, tc.want)
		}
	}
}

func TestSilencesContent(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	all := []watchfloor.Silence{
		{ID: "b", EndsAt: now.Add(time.Hour)},
		{ID: "a", EndsAt: now.Add(time.Hour), Matchers: []watchfloor.Matcher{{Name: "site", Op: "=", Value: "x"}}},
		{ID: "gone", EndsAt: now},
	}
	act := activeSilences(all, now)
	if len(act) != 2 || act[0].ID != "a" {
		t.Fatalf("active %+v", act)
	}
	b, err := encodeSilences(forSite(act, "y"))
	if err != nil {
		t.Fatal(err)
	}
	ss, err := decodeSilences(b)
	if err != nil || len(ss) != 1 || ss[0].ID != "central-b" {
		t.Fatalf("decoded %+v, %v", ss, err)
	}
	if act[0].ID != "a" {
		t.Error("forSite changed central's silences")
	}
	if _, err := decodeSilences([]byte(`[{"id":"mine"}]`)); err == nil {
		t.Error("a silence without the central- prefix accepted")
	}
	if b, _ := encodeSilences(nil); string(b) != "[]" {
		t.Errorf("no silences: %q", b)
	}
}

func TestSourceConfigValidate(t *testing.T) {
	dir := t.TempDir()
	fileName := filepath.Join(dir, "f")
	writeFile(t, dir, "f", "x")
	for _, tc := range []struct {
		name string
		cfg  func(*SourceConfig)
		want []string
	}{
		{"defaults", func(*SourceConfig) {}, nil},
		{"dirs", func(c *SourceConfig) { c.Rules, c.Lists = dir, t.TempDir() }, nil},
		{"missing", func(c *SourceConfig) { c.Rules = filepath.Join(dir, "nope") }, []string{"rules"}},
		{"a file", func(c *SourceConfig) { c.Lists = fileName }, []string{"lists"}},
		{"same", func(c *SourceConfig) { c.Rules, c.Lists = dir, dir }, []string{"lists"}},
		{"scan", func(c *SourceConfig) { c.Scan = time.Millisecond }, []string{"scan"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultSourceConfig()
			tc.cfg(&c)
			var got []string
			for _, e := range c.Validate() {
				got = append(got, e.Field)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("fields %v, want %v", got, tc.want)
			}
		})
	}
}

func TestWireDecoders(t *testing.T) {
	d := strings.Repeat("ab", 32)
	good := []string{
		`{}`,
		`{"have":{"rules":{"version":3,"digest":"` + d + `","refused":4}}}`,
		`{"fetch":{"kind":"lists","version":1,"digest":"` + d + `","offset":524288}}`,
	}
	for _, s := range good {
		if _, err := decodeRequest([]byte(s)); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	bad := []string{
		`{"have":{"secrets":{"version":1}}}`,
		`{"have":{"rules":{"version":1,"digest":"xyz"}}}`,
		`{"fetch":{"kind":"rules","version":1,"digest":"` + d + `","offset":-1}}`,
		`{"fetch":{"kind":"rules","version":1,"digest":"` + d + `","offset":1e12}}`,
		`[`,
		strings.Repeat(" ", maxRequestBytes+1),
	}
	for _, s := range bad {
		if _, err := decodeRequest([]byte(s)); err == nil {
			t.Errorf("accepted %.80s", s)
		}
	}
	badReplies := []string{
		`{"offers":[{"kind":"rules","version":0,"digest":"` + d + `"}]}`,
		`{"offers":[{"kind":"rules","version":1,"digest":"` + d + `","size":1,"data":"AAAA"}]}`,
		`{"offers":[{"kind":"rules","version":1,"digest":"` + d + `","size":1e9}]}`,
		`{"offers":[{"kind":"rules","version":1,"digest":"` + d + `"},{"kind":"rules","version":1,"digest":"` + d + `"}]}`,
		`{"chunk":{"kind":"rules","version":1,"digest":"` + d + `","offset":0,"data":""}}`,
	}
	for _, s := range badReplies {
		if _, err := decodeReply([]byte(s)); err == nil {
			t.Errorf("accepted %.100s", s)
		}
	}
}
