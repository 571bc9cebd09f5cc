package distrib

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing/fstest"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/rules"
)

// A files bundle (rules, lists) travels and is kept as one canonical byte string, whose
// SHA-256 is its digest:
//
//	"WFD1" uvarint(n) { uvarint(len(path)) path uvarint(len(data)) data }×n
//
// with the paths slash-separated, relative, clean, strictly increasing.
const bundleMagic = "WFD1"

// file is one file of a bundle.
type file struct {
	Path string
	Data []byte
}

// digest is the hex SHA-256 of content.
func digest(content []byte) string {
	h := sha256.Sum256(content)
	return hex.EncodeToString(h[:])
}

// checkPath says what is wrong with a bundle path, or "".
func checkPath(p string) string {
	switch {
	case p == "" || len(p) > MaxPathLen:
		return fmt.Sprintf("path must have 1 to %d bytes", MaxPathLen)
	case !fs.ValidPath(p) || p == ".":
		return fmt.Sprintf("path %q: not a clean relative path", p)
	case strings.ContainsAny(p, "\\\x00:"):
		return fmt.Sprintf("path %q: contains '\\', ':' or NUL", p)
	}
	for _, el := range strings.Split(p, "/") {
		if strings.HasPrefix(el, ".") {
			return fmt.Sprintf("path %q: hidden or dot element", p)
		}
	}
	return ""
}

// encodeFiles makes the canonical bundle of files (sorted here; paths must be unique).
func encodeFiles(files []file) ([]byte, error) {
	files = slices.Clone(files)
	slices.SortFunc(files, func(a, b file) int { return cmp.Compare(a.Path, b.Path) })
	if len(files) > MaxFiles {
		return nil, fmt.Errorf("%d files, at most %d", len(files), MaxFiles)
	}
	sum := 0
	for i, f := range files {
		if msg := checkPath(f.Path); msg != "" {
			return nil, errors.New(msg)
		}
		if i > 0 && files[i-1].Path == f.Path {
			return nil, fmt.Errorf("path %q twice", f.Path)
		}
		sum += len(f.Path) + len(f.Data)
		if sum > MaxBundleBytes {
			return nil, fmt.Errorf("bundle over %d bytes", MaxBundleBytes)
		}
	}
	size := len(bundleMagic) + binary.MaxVarintLen64*(1+2*len(files)) + sum
	b := make([]byte, 0, size)
	b = append(b, bundleMagic...)
	b = binary.AppendUvarint(b, uint64(len(files)))
	for _, f := range files {
		b = binary.AppendUvarint(b, uint64(len(f.Path)))
		b = append(b, f.Path...)
		b = binary.AppendUvarint(b, uint64(len(f.Data)))
		b = append(b, f.Data...)
	}
	if len(b) > MaxBundleBytes {
		return nil, fmt.Errorf("bundle of %d bytes, over %d", len(b), MaxBundleBytes)
	}
	return b, nil
}

// decodeFiles reads a bundle made by encodeFiles; the files' data alias b. It refuses
// anything not canonical: a bad magic, too many files, bad or unordered paths, lengths
// past the end, trailing bytes.
func decodeFiles(b []byte) ([]file, error) {
	if len(b) > MaxBundleBytes {
		return nil, fmt.Errorf("bundle of %d bytes, over %d", len(b), MaxBundleBytes)
	}
	rest, ok := bytes.CutPrefix(b, []byte(bundleMagic))
	if !ok {
		return nil, errors.New("not a bundle (bad magic)")
	}
	n, k := binary.Uvarint(rest)
	if k <= 0 || n > MaxFiles {
		return nil, fmt.Errorf("bad file count (at most %d)", MaxFiles)
	}
	rest = rest[k:]
	// Each file takes at least 3 bytes: a count that says more files than bytes is a lie.
	if n > uint64(len(rest))/3+1 {
		return nil, errors.New("file count past the end")
	}
	files := make([]file, 0, n)
	field := func(max uint64) ([]byte, error) {
		l, k := binary.Uvarint(rest)
		if k <= 0 || l > max || l > uint64(len(rest)-k) {
			return nil, errors.New("length past the end or over its bound")
		}
		v := rest[k : k+int(l)]
		rest = rest[k+int(l):]
		return v, nil
	}
	for i := uint64(0); i < n; i++ {
		p, err := field(MaxPathLen)
		if err != nil {
			return nil, fmt.Errorf("file %d: path: %w", i, err)
		}
		if msg := checkPath(string(p)); msg != "" {
			return nil, fmt.Errorf("file %d: %s", i, msg)
		}
		if i > 0 && string(p) <= files[i-1].Path {
			return nil, fmt.Errorf("file %d: path %q out of order", i, p)
		}
		d, err := field(MaxBundleBytes)
		if err != nil {
			return nil, fmt.Errorf("file %d (%s): data: %w", i, p, err)
		}
		files = append(files, file{Path: string(p), Data: d})
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%d bytes after the last file", len(rest))
	}
	return files, nil
}

// readDir reads every regular file below dir (not hidden ones, not symbolic links) into
// a bundle, within the bounds.
func readDir(dir string) ([]file, error) {
	var files []file
	total := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		if strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil // directories are walked; links and devices are not content
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if msg := checkPath(rel); msg != "" {
			return errors.New(msg)
		}
		if len(files) >= MaxFiles {
			return fmt.Errorf("more than %d files", MaxFiles)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		total += len(data) + len(rel)
		if total > MaxBundleBytes {
			return fmt.Errorf("more than %d bytes", MaxBundleBytes)
		}
		files = append(files, file{Path: rel, Data: data})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return files, nil
}

// fingerprint is what a scan compares before reading a directory again: every entry's
// path, size, modification time and mode.
func fingerprint(dir string) (string, error) {
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00%d\x00%d\n", p, info.Size(), info.ModTime().UnixNano(), info.Mode())
		return nil
	})
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// combine makes the file system an appliance applies: the rules bundle at its root, the
// lists bundle under lists/, whose files override the rules bundle's of the same path. A
// lists.yaml of the lists bundle is merged into the root lists.yaml (its files prefixed
// with lists/), and its lists, and those of its NAME.txt files, replace the rules bundle's
// declarations of the same names.
func combine(ruleFiles, listFiles []file) (fstest.MapFS, error) {
	m := fstest.MapFS{}
	for _, f := range ruleFiles {
		m[f.Path] = &fstest.MapFile{Data: f.Data, Mode: 0o444}
	}
	var listsYAML []byte
	names := map[string]bool{} // lists the lists bundle defines
	for _, f := range listFiles {
		if f.Path == "lists.yaml" || f.Path == "lists.yml" {
			listsYAML = f.Data
			continue
		}
		m["lists/"+f.Path] = &fstest.MapFile{Data: f.Data, Mode: 0o444}
		if dir, base := path.Split(f.Path); dir == "" && strings.HasSuffix(base, ".txt") {
			names[strings.TrimSuffix(base, ".txt")] = true
		}
	}
	var listEntries []map[string]string
	if listsYAML != nil {
		es, err := parseListDecls(listsYAML)
		if err != nil {
			return nil, fmt.Errorf("lists/lists.yaml: %w", err)
		}
		for _, e := range es {
			names[e["name"]] = true
			if f := e["file"]; f != "" {
				e["file"] = "lists/" + path.Clean(f)
			}
		}
		listEntries = es
	}
	rootName := ""
	for _, n := range []string{"lists.yaml", "lists.yml"} {
		if _, ok := m[n]; ok {
			rootName = n
		}
	}
	if rootName == "" && listEntries == nil {
		return m, nil
	}
	var ruleEntries []map[string]string
	if rootName != "" {
		es, err := parseListDecls(m[rootName].Data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", rootName, err)
		}
		overridden := false
		for _, e := range es {
			if names[e["name"]] {
				overridden = true
				continue
			}
			ruleEntries = append(ruleEntries, e)
		}
		if !overridden && listEntries == nil {
			return m, nil // the rules bundle's own, as it is: its errors keep their lines
		}
		delete(m, rootName)
	}
	merged, err := yaml.Marshal(append(ruleEntries, listEntries...))
	if err != nil {
		return nil, err
	}
	m["lists.yaml"] = &fstest.MapFile{Data: merged, Mode: 0o444}
	return m, nil
}

// parseListDecls reads a lists.yaml as a sequence of string maps ({name, file, type});
// rules.LoadListsFS checks the keys and values.
func parseListDecls(data []byte) ([]map[string]string, error) {
	var es []map[string]string
	if err := yaml.Unmarshal(data, &es); err != nil {
		return nil, err
	}
	return es, nil
}

// checkFS loads a combined file system as the appliance would: its lists and every rule
// file. It returns every error as FILE:LINE:COL: MSG, prefix naming the files.
func checkFS(fsys fs.FS, prefix string) (nRules, nLists int, errs []rules.Error) {
	lists, lerrs := rules.LoadListsFS(fsys, prefix)
	var paths []string
	_ = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && rules.IsRuleFile(p) {
			paths = append(paths, p)
		}
		return nil
	})
	s, rerrs := rules.LoadFiles(prefixFS{fsys, prefix}, lists, prefixed(prefix, paths)...)
	errs = rules.SortErrors(append(lerrs, rerrs...))
	if s != nil {
		nRules = len(s.Rules)
	}
	return nRules, lists.Len(), errs
}

// prefixFS names the files of fsys under prefix, so that errors name them as the operator
// knows them (the directory at central).
type prefixFS struct {
	fs     fs.FS
	prefix string
}

func (p prefixFS) Open(name string) (fs.File, error) {
	if p.prefix == "" {
		return p.fs.Open(name)
	}
	rel, ok := strings.CutPrefix(name, p.prefix+"/")
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return p.fs.Open(rel)
}

func prefixed(prefix string, paths []string) []string {
	if prefix == "" {
		return paths
	}
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = prefix + "/" + p
	}
	return out
}

// errorsText is the first few errors, one a line, for a log line or Applied.Error.
func errorsText(errs []rules.Error) string {
	const most = 10
	var b strings.Builder
	for i, e := range errs {
		if i == most {
			fmt.Fprintf(&b, "\n… and %d more", len(errs)-most)
			break
		}
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// SilenceIDPrefix starts the ID of every silence central sends, so that an appliance keeps
// them apart from its own.
const SilenceIDPrefix = "central-"

// activeSilences is central's silences that are not expired at now, sorted by ID.
func activeSilences(all []watchfloor.Silence, now time.Time) []watchfloor.Silence {
	out := make([]watchfloor.Silence, 0, len(all))
	for _, s := range all {
		if s.EndsAt.After(now) {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b watchfloor.Silence) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// forSite is the silences of active that concern site: those without a site matcher, and
// those whose every site matcher matches it (regular expressions match the whole value,
// as alert matchers do). Their IDs are prefixed with SilenceIDPrefix.
func forSite(active []watchfloor.Silence, site string) []watchfloor.Silence {
	out := make([]watchfloor.Silence, 0, len(active))
	for _, s := range active {
		if !siteMatches(s.Matchers, site) {
			continue
		}
		s.ID = SilenceIDPrefix + s.ID
		s.Matchers = slices.Clone(s.Matchers)
		out = append(out, s)
	}
	return out
}

func siteMatches(ms []watchfloor.Matcher, site string) bool {
	for _, m := range ms {
		if m.Name != "site" {
			continue
		}
		switch m.Op {
		case "=":
			if site != m.Value {
				return false
			}
		case "!=":
			if site == m.Value {
				return false
			}
		case "=~", "!~":
			re, err := regexp.Compile("^(?:" + m.Value + ")$")
			if err != nil || re.MatchString(site) != (m.Op == "=~") {
				return false // a matcher that does not compile matches no site
			}
		default:
			return false
		}
	}
	return true
}

// encodeSilences is the canonical content of a site's silences.
func encodeSilences(ss []watchfloor.Silence) ([]byte, error) {
	if ss == nil {
		ss = []watchfloor.Silence{}
	}
	if len(ss) > MaxSilences {
		return nil, fmt.Errorf("%d silences, at most %d", len(ss), MaxSilences)
	}
	b, err := json.Marshal(ss)
	if err != nil {
		return nil, err
	}
	if len(b) > MaxBundleBytes {
		return nil, fmt.Errorf("silences of %d bytes, over %d", len(b), MaxBundleBytes)
	}
	return b, nil
}

// decodeSilences reads what encodeSilences made; every ID must carry SilenceIDPrefix.
func decodeSilences(b []byte) ([]watchfloor.Silence, error) {
	if len(b) > MaxBundleBytes {
		return nil, fmt.Errorf("silences of %d bytes, over %d", len(b), MaxBundleBytes)
	}
	var ss []watchfloor.Silence
	if err := json.Unmarshal(b, &ss); err != nil {
		return nil, fmt.Errorf("silences: %w", err)
	}
	if len(ss) > MaxSilences {
		return nil, fmt.Errorf("%d silences, at most %d", len(ss), MaxSilences)
	}
	for i, s := range ss {
		if !strings.HasPrefix(s.ID, SilenceIDPrefix) {
			return nil, fmt.Errorf("silence %d: id %q lacks the %q prefix", i, s.ID, SilenceIDPrefix)
		}
	}
	if ss == nil {
		ss = []watchfloor.Silence{}
	}
	return ss, nil
}
