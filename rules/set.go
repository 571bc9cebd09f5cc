package rules

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"sort"
	"strings"
)

// NewSet checks a set of parsed rules as a whole and resolves the references between them:
// unique names and ids, the rules of correlations (by name or id), cycles of chained
// correlations, group-by and condition fields against the referenced rules' kinds (aliases
// applied), recovery rules, and which rules alert on their own (Generate). It returns the set
// and every error; a set with errors is not for use.
func NewSet(rules []*Rule, lists *Lists) (*Set, []Error) {
	s := &Set{Rules: rules, ByName: make(map[string]*Rule, len(rules)), Lists: lists}
	if s.Lists == nil {
		s.Lists = &Lists{ByName: map[string]*List{}}
	}
	var out []Error
	errAt := func(r *Rule, at pos, field, format string, args ...any) {
		if at.line == 0 {
			at = pos{r.Line, r.Column}
		}
		out = append(out, Error{File: r.File, Line: at.line, Column: at.col, Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	for _, r := range rules {
		if r.x == nil {
			r.x = &ruleExtra{}
		}
		if old, ok := s.ByName[r.Name]; ok && r.Name != "" {
			errAt(r, r.x.name, "name", "duplicate rule name %s (also %s:%d)", r.Name, old.File, old.Line)
			continue
		}
		s.ByName[r.Name] = r
	}
	for _, r := range rules {
		if r.ID == "" {
			continue
		}
		if old, ok := s.ByName[r.ID]; ok && old != r {
			errAt(r, r.x.id, "id", "duplicate rule id %s (also %s:%d)", r.ID, old.File, old.Line)
			continue
		}
		s.ByName[r.ID] = r
	}
	// Resolve the references of correlations.
	for _, r := range rules {
		c := r.Correlation
		if c == nil {
			continue
		}
		c.Rules = c.Rules[:0]
		ok := !r.broken
		for i, ref := range c.RuleRefs {
			t := s.ByName[ref]
			if t == nil {
				errAt(r, posAt(r.x.corrRules, i), fmt.Sprintf("correlation.rules[%d]", i), "unknown rule %q", ref)
				ok = false
				continue
			}
			if t.broken {
				ok = false // its own errors are reported
				continue
			}
			if slices.Contains(c.Rules, t) {
				errAt(r, posAt(r.x.corrRules, i), fmt.Sprintf("correlation.rules[%d]", i), "rule %s is referenced twice", ref)
				ok = false
				continue
			}
			c.Rules = append(c.Rules, t)
		}
		if !ok {
			c.Rules = nil
		}
	}
	// Cycles, and each correlation's kinds in dependency order.
	const (
		white = iota
		grey
		black
	)
	color := make(map[*Rule]int, len(rules))
	var stack []*Rule
	var visit func(r *Rule) bool
	visit = func(r *Rule) bool {
		switch color[r] {
		case grey:
			i := slices.Index(stack, r)
			names := make([]string, 0, len(stack)-i+1)
			for _, x := range stack[i:] {
				names = append(names, x.Name)
			}
			names = append(names, r.Name)
			from := stack[len(stack)-1]
			at, field := from.x.corr, "correlation.rules"
			for j, ref := range from.Correlation.RuleRefs {
				if ref == r.Name || (r.ID != "" && ref == r.ID) {
					at, field = posAt(from.x.corrRules, j), fmt.Sprintf("correlation.rules[%d]", j)
				}
			}
			errAt(from, at, field, "cycle of correlations: %s", strings.Join(names, " → "))
			return false
		case black:
			return true
		}
		color[r] = grey
		stack = append(stack, r)
		good := true
		if c := r.Correlation; c != nil {
			var kinds []Kind
			for _, t := range c.Rules {
				if !visit(t) {
					good = false
					continue
				}
				for _, k := range t.Kinds {
					if !slices.Contains(kinds, k) {
						kinds = append(kinds, k)
					}
				}
			}
			if good {
				r.Kinds = kinds
			}
		}
		stack = stack[:len(stack)-1]
		color[r] = black
		return good
	}
	cyclic := map[*Rule]bool{}
	for _, r := range rules {
		if !visit(r) {
			cyclic[r] = true
		}
	}
	// Group-by and condition fields.
	for _, r := range rules {
		c := r.Correlation
		if c == nil || c.Rules == nil || cyclic[r] {
			continue
		}
		for name, m := range c.Aliases {
			for rn := range m {
				if !slices.ContainsFunc(c.Rules, func(t *Rule) bool { return t.Name == rn || t.ID == rn }) {
					errAt(r, r.x.aliasRules[name][rn], "correlation.aliases."+name+"."+rn, "rule %s is not one of the correlated rules", rn)
				}
			}
			if !slices.ContainsFunc(c.GroupBy, func(g FieldRef) bool { return g.Name == name }) {
				errAt(r, r.x.aliases[name], "correlation.aliases."+name, "alias %s is not used in group-by", name)
			}
		}
		for i := range c.GroupBy {
			g := &c.GroupBy[i]
			g.ByRule = resolveRef(r, g.Name, fmt.Sprintf("correlation.group-by[%d]", i), posAt(r.x.groupBy, i), errAt, true)
		}
		if f := c.Condition.Field; f != nil {
			f.ByRule = resolveRef(r, f.Name, "correlation.condition.field", r.x.condField, errAt, false)
			if c.Type == ValueSum || c.Type == ValueAvg || c.Type == ValuePercentile || c.Type == Threshold {
				for _, bf := range f.ByRule {
					if bf.Type != 0 && bf.Type != Num {
						errAt(r, r.x.condField, "correlation.condition.field", "%s sums or averages numbers; %s is %s", c.Type, bf.Name, article(bf.Type))
						break
					}
				}
			}
		}
		if c.Type == Threshold {
			for i, t := range c.Rules {
				if t.Correlation != nil || !slices.Equal(t.Kinds, []Kind{KindMetric}) {
					errAt(r, posAt(r.x.corrRules, i), fmt.Sprintf("correlation.rules[%d]", i), "threshold holds over metric samples: rule %s reads %s", t.Name, kindNames(t.Kinds))
				}
			}
		}
		if !r.x.categorySet {
			r.Category = defaultCategory(r.Kinds)
		}
	}
	// Generate: a rule alerts on its own unless only correlations with generate: false use it,
	// or it only serves as another rule's recovery (interface_up resolves interface_down: an
	// "up" is news only as the end of a "down").
	referenced := map[*Rule]bool{}
	generate := map[*Rule]bool{}
	for _, r := range rules {
		if t := s.ByName[r.Alert.Recovery]; t != nil && t != r && t.Correlation == nil {
			referenced[t] = true
		}
	}
	for _, r := range rules {
		if c := r.Correlation; c != nil {
			for _, t := range c.Rules {
				referenced[t] = true
				if r.GenerateReferenced {
					generate[t] = true
				}
			}
		}
	}
	for _, r := range rules {
		r.Generate = !referenced[r] || generate[r]
	}
	// Recovery rules.
	for _, r := range rules {
		a := &r.Alert
		if a.Recovery == "" {
			continue
		}
		t := s.ByName[a.Recovery]
		switch {
		case t == nil:
			errAt(r, r.x.recovery, "alert.recovery", "unknown rule %q", a.Recovery)
		case t == r:
			errAt(r, r.x.recovery, "alert.recovery", "a rule cannot recover itself")
		default:
			if miss := t.identityMissing(a.Identity); len(miss) > 0 {
				errAt(r, r.x.recovery, "alert.recovery", "rule %s cannot tell which alert it resolves: it lacks the identity fields %s", t.Name, strings.Join(miss, ", "))
			}
			a.RecoveryRule = t
		}
	}
	return s, SortErrors(out)
}

func posAt(ps []pos, i int) pos {
	if i < len(ps) {
		return ps[i]
	}
	return pos{}
}

// resolveRef resolves a group-by or condition field name for each rule a correlation
// references: through an alias, as a field of a detection's kinds (every kind when all), or
// as a group-by name of a referenced correlation.
func resolveRef(r *Rule, name, field string, at pos, errAt func(*Rule, pos, string, string, ...any), all bool) []Field {
	c := r.Correlation
	out := make([]Field, len(c.Rules))
	for i, t := range c.Rules {
		fname := name
		if m, ok := c.Aliases[name]; ok {
			fn, ok := m[t.Name]
			if !ok && t.ID != "" {
				fn, ok = m[t.ID]
			}
			if !ok {
				errAt(r, at, field, "alias %s does not say which field of rule %s it stands for", name, t.Name)
				continue
			}
			fname = fn
		}
		if tc := t.Correlation; tc != nil {
			found := false
			for _, g := range tc.GroupBy {
				if g.Name == fname {
					found = true
					out[i] = Field{Name: fname, Type: refType(g)}
				}
			}
			if !found {
				errAt(r, at, field, "%s is not a group-by field of the correlation %s it references", fname, t.Name)
			}
			continue
		}
		f, ok := LookupField(fname)
		if !ok {
			errAt(r, at, field, "unknown field %q%s", fname, suggest(fname))
			continue
		}
		if all {
			if miss := f.missingKinds(t.Kinds); len(miss) > 0 {
				errAt(r, at, field, "rule %s reads %s records, and %s lacks %s", t.Name, kindNames(t.Kinds), kindNames(miss), fname)
				continue
			}
		} else if !f.HasAny(t.Kinds) {
			errAt(r, at, field, "rule %s reads %s records, which lack %s", t.Name, kindNames(t.Kinds), fname)
			continue
		}
		out[i] = f
	}
	return out
}

func refType(g FieldRef) FieldType {
	for _, f := range g.ByRule {
		if f.Type != 0 {
			return f.Type
		}
	}
	return Str
}

// LoadDir loads a rule directory: its lists (LoadLists) and every *.yml and *.yaml file
// below it, except lists.yaml and rule test files (*_test.yaml, *_test.yml), in lexical
// order. It returns the set (nil when there is any error) and every error, sorted.
func LoadDir(dir string) (*Set, []Error) {
	fsys := os.DirFS(dir)
	lists, lerrs := LoadListsFS(fsys, dir)
	var paths []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !IsRuleFile(p) {
			return nil
		}
		paths = append(paths, p)
		return nil
	})
	if err != nil {
		return nil, append(lerrs, Error{File: dir, Line: 1, Column: 1, Msg: unwrapPath(err).Error()})
	}
	s, errs := loadFiles(fsys, dir, lists, paths)
	errs = SortErrors(append(lerrs, errs...))
	if len(errs) > 0 {
		return nil, errs
	}
	return s, nil
}

// IsRuleFile reports whether a path in a rule directory is a rule file.
func IsRuleFile(p string) bool {
	base := path.Base(p)
	ext := path.Ext(base)
	if ext != ".yaml" && ext != ".yml" {
		return false
	}
	stem := strings.TrimSuffix(base, ext)
	return base != "lists.yaml" && base != "lists.yml" && !strings.HasSuffix(stem, "_test") && !strings.HasPrefix(base, ".")
}

// LoadFiles loads the named rule files of fsys with lists (nil: none) as one set. It returns
// the set (nil when there is any error) and every error, sorted.
func LoadFiles(fsys fs.FS, lists *Lists, paths ...string) (*Set, []Error) {
	s, errs := loadFiles(fsys, "", lists, paths)
	if len(errs) > 0 {
		return nil, errs
	}
	return s, nil
}

func loadFiles(fsys fs.FS, prefix string, lists *Lists, paths []string) (*Set, []Error) {
	sort.Strings(paths)
	var all []*Rule
	var errs, warns []Error
	for _, p := range paths {
		name := p
		if prefix != "" {
			name = path.Join(prefix, p)
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			errs = append(errs, Error{File: name, Line: 1, Column: 1, Msg: unwrapPath(err).Error()})
			continue
		}
		rules, w, e := parseAll(name, data, lists)
		all = append(all, rules...)
		warns = append(warns, w...)
		errs = append(errs, e...)
	}
	s, e := NewSet(all, lists)
	good := all[:0:0]
	for _, r := range all {
		if !r.broken {
			good = append(good, r)
		}
	}
	s.Rules = good
	s.Warnings = SortErrors(warns)
	return s, SortErrors(append(errs, e...))
}

// LoadPath loads a rule directory (LoadDir) or one rule file with the lists of its directory,
// as `watchfloor rules check` does.
func LoadPath(p string) (*Set, []Error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, []Error{{File: p, Line: 1, Column: 1, Msg: unwrapPath(err).Error()}}
	}
	if st.IsDir() {
		return LoadDir(p)
	}
	dir := path.Dir(p)
	fsys := os.DirFS(dir)
	lists, lerrs := LoadListsFS(fsys, dir)
	s, errs := loadFiles(fsys, dir, lists, []string{path.Base(p)})
	errs = SortErrors(append(lerrs, errs...))
	if len(errs) > 0 {
		return nil, errs
	}
	return s, nil
}
