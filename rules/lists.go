package rules

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ListType is what a named list holds.
type ListType uint8

// The list types. ListEmpty is an undeclared list with no entries: it matches nothing and
// fits any field (a feed that is empty today must not break the rules that use it).
const (
	ListIP     ListType = iota + 1 // addresses and networks, for Addr fields
	ListPort                       // ports and port ranges, for Num fields
	ListDomain                     // domain names, suffix match, for Str fields
	ListEmpty
)

func (t ListType) String() string {
	switch t {
	case ListIP:
		return "ip"
	case ListPort:
		return "port"
	case ListDomain:
		return "domain"
	case ListEmpty:
		return "empty"
	}
	return "list?"
}

// fits reports whether a list of this type can be compared with a field of type ft.
func (t ListType) fits(ft FieldType) bool {
	switch t {
	case ListIP:
		return ft == Addr
	case ListPort:
		return ft == Num
	case ListDomain:
		return ft == Str
	}
	return t == ListEmpty
}

// MaxListBytes bounds one list file.
const MaxListBytes = 64 << 20

// List is a named set: exactly the member for its Type is set.
type List struct {
	Name    string
	Type    ListType
	File    string
	Len     int // entries read
	IPs     *IPSet
	Ports   *PortSet
	Domains *DomainSet
}

// Lists are the named lists of a rule directory.
type Lists struct {
	ByName map[string]*List
}

// Get returns the list of that name, or nil.
func (l *Lists) Get(name string) *List {
	if l == nil {
		return nil
	}
	return l.ByName[name]
}

// Len is the number of lists.
func (l *Lists) Len() int {
	if l == nil {
		return 0
	}
	return len(l.ByName)
}

// IPSet is a set of addresses and networks as sorted, merged, disjoint ranges; Contains is a
// binary search that allocates nothing. IPv4-mapped IPv6 addresses are IPv4.
type IPSet struct {
	v4 []r4
	v6 []r6
}

type r4 struct{ lo, hi uint32 }
type u128 struct{ hi, lo uint64 }
type r6 struct{ lo, hi u128 }

func (a u128) cmp(b u128) int { return cmp.Or(cmp.Compare(a.hi, b.hi), cmp.Compare(a.lo, b.lo)) }
func (a u128) next() (u128, bool) {
	if a.lo == ^uint64(0) {
		if a.hi == ^uint64(0) {
			return a, false
		}
		return u128{a.hi + 1, 0}, true
	}
	return u128{a.hi, a.lo + 1}, true
}

// NewIPSet builds a set of the prefixes (single addresses as /32 or /128).
func NewIPSet(prefixes []netip.Prefix) *IPSet {
	s := &IPSet{}
	for _, p := range prefixes {
		p = unmapPrefix(p).Masked()
		a := p.Addr()
		if a.Is4() {
			b := a.As4()
			lo := binary.BigEndian.Uint32(b[:])
			host := uint32(0)
			if bits := 32 - p.Bits(); bits > 0 {
				host = uint32(1)<<bits - 1
				if bits == 32 {
					host = ^uint32(0)
				}
			}
			s.v4 = append(s.v4, r4{lo, lo | host})
		} else {
			b := a.As16()
			lo := u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
			hostBits := 128 - p.Bits()
			hi := lo
			switch {
			case hostBits >= 64:
				hi.lo = ^uint64(0)
				if hostBits-64 == 64 {
					hi.hi = ^uint64(0)
				} else if hostBits > 64 {
					hi.hi |= uint64(1)<<(hostBits-64) - 1
				}
			case hostBits > 0:
				hi.lo |= uint64(1)<<hostBits - 1
			}
			s.v6 = append(s.v6, r6{lo, hi})
		}
	}
	slices.SortFunc(s.v4, func(a, b r4) int { return cmp.Compare(a.lo, b.lo) })
	out4 := s.v4[:0]
	for _, r := range s.v4 {
		if n := len(out4); n > 0 && (r.lo <= out4[n-1].hi || (out4[n-1].hi != ^uint32(0) && r.lo == out4[n-1].hi+1)) {
			out4[n-1].hi = max(out4[n-1].hi, r.hi)
			continue
		}
		out4 = append(out4, r)
	}
	s.v4 = slices.Clip(out4)
	slices.SortFunc(s.v6, func(a, b r6) int { return a.lo.cmp(b.lo) })
	out6 := s.v6[:0]
	for _, r := range s.v6 {
		if n := len(out6); n > 0 {
			nx, ok := out6[n-1].hi.next()
			if r.lo.cmp(out6[n-1].hi) <= 0 || (ok && r.lo == nx) {
				if r.hi.cmp(out6[n-1].hi) > 0 {
					out6[n-1].hi = r.hi
				}
				continue
			}
		}
		out6 = append(out6, r)
	}
	s.v6 = slices.Clip(out6)
	return s
}

func unmapPrefix(p netip.Prefix) netip.Prefix {
	if a := p.Addr(); a.Is4In6() {
		bits := p.Bits() - 96
		if bits < 0 {
			bits = 0
		}
		return netip.PrefixFrom(a.Unmap(), bits)
	}
	return p
}

// Contains reports whether a is in the set.
func (s *IPSet) Contains(a netip.Addr) bool {
	if s == nil || !a.IsValid() {
		return false
	}
	a = a.Unmap()
	if a.Is4() {
		b := a.As4()
		v := binary.BigEndian.Uint32(b[:])
		i, _ := slices.BinarySearchFunc(s.v4, v, func(r r4, v uint32) int { return cmp.Compare(r.lo, v) })
		// i is the first range with lo >= v: v is in range i (lo == v) or range i-1.
		if i < len(s.v4) && s.v4[i].lo == v {
			return true
		}
		return i > 0 && v <= s.v4[i-1].hi
	}
	b := a.As16()
	v := u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
	i, found := slices.BinarySearchFunc(s.v6, v, func(r r6, v u128) int { return r.lo.cmp(v) })
	if found {
		return true
	}
	return i > 0 && v.cmp(s.v6[i-1].hi) <= 0
}

// Ranges is the number of disjoint ranges held.
func (s *IPSet) Ranges() int { return len(s.v4) + len(s.v6) }

// PortSet is a set of ports 0–65535 as a bitmap.
type PortSet struct{ bits [1024]uint64 }

// Add adds the ports lo..hi.
func (s *PortSet) Add(lo, hi uint16) {
	for p := uint32(lo); p <= uint32(hi); p++ {
		s.bits[p>>6] |= 1 << (p & 63)
	}
}

// Contains reports whether port p (a field value) is in the set.
func (s *PortSet) Contains(p float64) bool {
	if s == nil || p < 0 || p > 65535 || p != float64(uint16(p)) {
		return false
	}
	v := uint16(p)
	return s.bits[v>>6]&(1<<(v&63)) != 0
}

// DomainSet is a set of domain names matching the name and its subdomains: evil.example
// matches evil.example and a.b.evil.example, not notevil.example. Names are lower case
// without a trailing dot; Match folds ASCII case without allocating (names up to 253 bytes).
type DomainSet struct{ names map[string]struct{} }

// NewDomainSet builds a set of the names (normalised: lower case, no trailing dot).
func NewDomainSet(names []string) *DomainSet {
	d := &DomainSet{names: make(map[string]struct{}, len(names))}
	for _, n := range names {
		d.names[strings.TrimSuffix(strings.ToLower(n), ".")] = struct{}{}
	}
	return d
}

// Match reports whether name or one of its parent domains is in the set.
func (d *DomainSet) Match(name string) bool {
	if d == nil || len(name) == 0 || len(name) > 254 {
		return false
	}
	var buf [254]byte
	n := copy(buf[:], name)
	for i := 0; i < n; i++ {
		buf[i] = fold(buf[i], false)
	}
	if n > 0 && buf[n-1] == '.' {
		n--
	}
	b := buf[:n]
	for len(b) > 0 {
		if _, ok := d.names[string(b)]; ok {
			return true
		}
		i := bytes.IndexByte(b, '.')
		if i < 0 {
			break
		}
		b = b[i+1:]
	}
	return false
}

// Len is the number of names.
func (d *DomainSet) Len() int { return len(d.names) }

// ParseList reads a list in the plain formats of threat-intelligence feeds: one address,
// network, port (or lo-hi range) or domain a line, `#` and `;` starting comments (Spamhaus
// DROP's `1.2.3.0/24 ; SBL123`), hosts-file lines (`0.0.0.0 evil.example`) as domains. typ 0
// infers the type from the content. Errors carry the line numbers.
func ParseList(name, file string, data []byte, typ ListType) (*List, []Error) {
	e := &errs{file: file}
	l := &List{Name: name, File: file}
	if len(data) > MaxListBytes {
		e.at(1, 1, "", "list %s is %d bytes, over the %d limit", name, len(data), MaxListBytes)
		return nil, e.list
	}
	type entry struct {
		line int
		tok  string
		host string // hosts-file domain
	}
	var entries []entry
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	line := 0
	for sc.Scan() {
		line++
		t := sc.Text()
		if i := strings.IndexAny(t, "#;"); i >= 0 {
			t = t[:i]
		}
		fields := strings.Fields(t)
		switch len(fields) {
		case 0:
			continue
		case 1:
			entries = append(entries, entry{line: line, tok: fields[0]})
		case 2:
			if a, err := netip.ParseAddr(fields[0]); err == nil && (a.IsUnspecified() || a.IsLoopback()) {
				entries = append(entries, entry{line: line, tok: fields[1], host: fields[1]})
				continue
			}
			fallthrough
		default:
			col := strings.Index(sc.Text(), fields[1]) + 1
			e.at(line, col, "", "list %s: one entry a line (trailing text %q: start a comment with # or ;)", name, fields[1])
		}
	}
	if err := sc.Err(); err != nil {
		e.at(line+1, 1, "", "list %s: %v", name, err)
		return nil, e.list
	}
	isIP := func(s string) bool {
		if strings.Contains(s, "/") {
			_, err := netip.ParsePrefix(s)
			return err == nil
		}
		_, err := netip.ParseAddr(s)
		return err == nil
	}
	isPort := func(s string) bool { _, _, err := parsePortRange(s); return err == nil }
	if typ == 0 {
		switch {
		case len(entries) == 0:
			typ = ListEmpty
		case entries[0].host == "" && isIP(entries[0].tok):
			typ = ListIP
		case entries[0].host == "" && isPort(entries[0].tok):
			typ = ListPort
		default:
			typ = ListDomain
		}
	}
	l.Type = typ
	switch typ {
	case ListIP:
		ps := make([]netip.Prefix, 0, len(entries))
		for _, en := range entries {
			p, err := parseIPOrPrefix(en.tok)
			if err != nil || en.host != "" {
				e.at(en.line, 1, "", "list %s (ip): %q is not an address or network", name, en.tok)
				continue
			}
			ps = append(ps, p)
		}
		l.IPs = NewIPSet(ps)
	case ListPort:
		l.Ports = &PortSet{}
		for _, en := range entries {
			lo, hi, err := parsePortRange(en.tok)
			if err != nil {
				e.at(en.line, 1, "", "list %s (port): %v", name, err)
				continue
			}
			l.Ports.Add(lo, hi)
		}
	case ListDomain:
		names := make([]string, 0, len(entries))
		for _, en := range entries {
			if err := checkDomain(en.tok); err != nil {
				e.at(en.line, 1, "", "list %s (domain): %v", name, err)
				continue
			}
			names = append(names, en.tok)
		}
		l.Domains = NewDomainSet(names)
	case ListEmpty:
	default:
		e.at(1, 1, "", "list %s: unknown type", name)
	}
	l.Len = len(entries)
	return l, e.list
}

func parseIPOrPrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, err
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.WithZone("")
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func parsePortRange(s string) (lo, hi uint16, err error) {
	a, b, isRange := strings.Cut(s, "-")
	l, err1 := strconv.ParseUint(a, 10, 16)
	h := l
	var err2 error
	if isRange {
		h, err2 = strconv.ParseUint(b, 10, 16)
	}
	if err1 != nil || err2 != nil || h < l {
		return 0, 0, fmt.Errorf("%q is not a port (0-65535) or a range lo-hi", s)
	}
	return uint16(l), uint16(h), nil
}

func checkDomain(s string) error {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return fmt.Errorf("%q is not a domain name", s)
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("%q is not a domain name (empty or long label)", s)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '*') {
				return fmt.Errorf("%q is not a domain name (character %q)", s, c)
			}
		}
	}
	return nil
}

// LoadLists reads the lists of a rule directory: every lists/NAME.txt (type inferred) and the
// lists declared in lists.yaml (`- {name, file, type: ip|port|domain}`, file relative to the
// directory). Call it again to reload; a directory without lists gives an empty Lists.
func LoadLists(dir string) (*Lists, []Error) {
	return LoadListsFS(os.DirFS(dir), dir)
}

// LoadListsFS is LoadLists over a file system; prefix names the files in errors.
func LoadListsFS(fsys fs.FS, prefix string) (*Lists, []Error) {
	ls := &Lists{ByName: map[string]*List{}}
	var all []Error
	name := func(p string) string { return path.Join(prefix, p) }
	add := func(l *List, line int, file string) {
		if old, ok := ls.ByName[l.Name]; ok {
			all = append(all, Error{File: file, Line: line, Column: 1, Field: "name", Msg: fmt.Sprintf("list %s is already defined by %s", l.Name, old.File)})
			return
		}
		ls.ByName[l.Name] = l
	}
	readList := func(p string, typ ListType, line int) {
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			all = append(all, Error{File: name(p), Line: line, Column: 1, Msg: fmt.Sprintf("list: %v", unwrapPath(err))})
			return
		}
		base := strings.TrimSuffix(path.Base(p), path.Ext(p))
		l, errs := ParseList(base, name(p), data, typ)
		all = append(all, errs...)
		if l != nil {
			add(l, 1, name(p))
		}
	}
	declared := map[string]bool{}
	if data, err := fs.ReadFile(fsys, "lists.yaml"); err == nil {
		all = append(all, parseListsYAML(fsys, name("lists.yaml"), data, ls, name, declared)...)
	} else if !errors.Is(err, fs.ErrNotExist) {
		all = append(all, Error{File: name("lists.yaml"), Line: 1, Column: 1, Msg: unwrapPath(err).Error()})
	}
	matches, _ := fs.Glob(fsys, "lists/*.txt")
	for _, m := range matches {
		if declared[m] {
			continue
		}
		readList(m, 0, 1)
	}
	return ls, SortErrors(all)
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func parseListsYAML(fsys fs.FS, file string, data []byte, ls *Lists, name func(string) string, declared map[string]bool) []Error {
	e := &errs{file: file}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		line, msg := yamlErrLine(err)
		e.at(line, 1, "", "%s", msg)
		return e.list
	}
	if len(doc.Content) == 0 {
		return nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.SequenceNode {
		e.at(root.Line, root.Column, "", "want a list of {name, file, type}")
		return e.list
	}
	for i, item := range root.Content {
		fld := fmt.Sprintf("[%d]", i)
		if item.Kind != yaml.MappingNode {
			e.at(item.Line, item.Column, fld, "want {name, file, type}")
			continue
		}
		var lname, lfile string
		var typ ListType
		for j := 0; j+1 < len(item.Content); j += 2 {
			k, v := item.Content[j], item.Content[j+1]
			switch k.Value {
			case "name":
				lname = v.Value
			case "file":
				lfile = v.Value
			case "type":
				switch v.Value {
				case "ip":
					typ = ListIP
				case "port":
					typ = ListPort
				case "domain":
					typ = ListDomain
				default:
					e.at(v.Line, v.Column, fld+".type", "unknown list type %q (want ip, port or domain)", v.Value)
				}
			default:
				e.at(k.Line, k.Column, fld+"."+k.Value, "unknown key (want name, file, type)")
			}
		}
		if lname == "" || lfile == "" {
			e.at(item.Line, item.Column, fld, "a list needs a name and a file")
			continue
		}
		if !fs.ValidPath(lfile) {
			e.at(item.Line, item.Column, fld+".file", "%q: want a path inside the rule directory", lfile)
			continue
		}
		declared[path.Clean(lfile)] = true
		data, err := fs.ReadFile(fsys, lfile)
		if err != nil {
			e.at(item.Line, item.Column, fld+".file", "%v", unwrapPath(err))
			continue
		}
		l, errs := ParseList(lname, name(lfile), data, typ)
		e.list = append(e.list, errs...)
		if l == nil {
			continue
		}
		if old, ok := ls.ByName[lname]; ok {
			e.at(item.Line, item.Column, fld+".name", "list %s is already defined by %s", lname, old.File)
			continue
		}
		ls.ByName[lname] = l
	}
	return e.list
}
