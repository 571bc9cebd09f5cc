package correlator

import (
	"fmt"
	"hash/fnv"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/watchfloor/watchfloor/rules"
)

// pred is a compiled condition over one record.
type pred func(r *rec) bool

// compileDetection compiles a detection's condition for records of type t.
func compileDetection(d *rules.Detection, t recType) (pred, error) {
	sels := make(map[*rules.Selection]pred, len(d.Selections))
	for _, s := range d.Selections {
		p, err := compileSelection(s, t)
		if err != nil {
			return nil, err
		}
		sels[s] = p
	}
	return compileExpr(d.Condition, sels)
}

func compileExpr(x rules.Expr, sels map[*rules.Selection]pred) (pred, error) {
	list := func(xs []rules.Expr) ([]pred, error) {
		out := make([]pred, len(xs))
		for i, x := range xs {
			p, err := compileExpr(x, sels)
			if err != nil {
				return nil, err
			}
			out[i] = p
		}
		return out, nil
	}
	selList := func(ss []*rules.Selection) []pred {
		out := make([]pred, 0, len(ss))
		for _, s := range ss {
			out = append(out, sels[s])
		}
		return out
	}
	switch x := x.(type) {
	case *rules.Ref:
		p := sels[x.Sel]
		if p == nil {
			return nil, fmt.Errorf("selection %s is not resolved", x.Name)
		}
		return p, nil
	case *rules.Not:
		p, err := compileExpr(x.X, sels)
		if err != nil {
			return nil, err
		}
		return func(r *rec) bool { return !p(r) }, nil
	case *rules.And:
		ps, err := list(x.X)
		if err != nil {
			return nil, err
		}
		return and(ps), nil
	case *rules.Or:
		ps, err := list(x.X)
		if err != nil {
			return nil, err
		}
		return or(ps), nil
	case *rules.OneOf:
		return or(selList(x.Sels)), nil
	case *rules.AllOf:
		return and(selList(x.Sels)), nil
	}
	return nil, fmt.Errorf("unknown condition node %T", x)
}

func and(ps []pred) pred {
	switch len(ps) {
	case 0:
		return func(*rec) bool { return true }
	case 1:
		return ps[0]
	case 2:
		a, b := ps[0], ps[1]
		return func(r *rec) bool { return a(r) && b(r) }
	}
	return func(r *rec) bool {
		for _, p := range ps {
			if !p(r) {
				return false
			}
		}
		return true
	}
}

func or(ps []pred) pred {
	switch len(ps) {
	case 0:
		return func(*rec) bool { return false }
	case 1:
		return ps[0]
	case 2:
		a, b := ps[0], ps[1]
		return func(r *rec) bool { return a(r) || b(r) }
	}
	return func(r *rec) bool {
		for _, p := range ps {
			if p(r) {
				return true
			}
		}
		return false
	}
}

func compileSelection(s *rules.Selection, t recType) (pred, error) {
	groups := make([]pred, 0, len(s.Groups))
	for _, g := range s.Groups {
		conds := make([]pred, 0, len(g))
		for i := range g {
			p, err := compileCond(&g[i], t)
			if err != nil {
				return nil, fmt.Errorf("selection %s: %w", s.Name, err)
			}
			conds = append(conds, p)
		}
		groups = append(groups, and(conds))
	}
	return or(groups), nil
}

// never is the condition on a field the record type lacks: the field is absent.
func absent(fc *rules.FieldCond) pred {
	want := fc.Op == rules.OpExists && !fc.Exists
	if fc.Op == rules.OpEq {
		for _, v := range fc.Values {
			if v.Kind == rules.ValNull {
				want = true
			}
		}
	}
	return func(*rec) bool { return want }
}

// compileCond compiles one field condition into a typed comparison.
func compileCond(fc *rules.FieldCond, t recType) (pred, error) {
	f := fc.Field
	switch f.Type {
	case rules.Str:
		g := strAccessor(f.Name, t)
		if g == nil {
			return absent(fc), nil
		}
		if fc.Op == rules.OpExists {
			want := fc.Exists
			return func(r *rec) bool { _, ok := g(r); return ok == want }, nil
		}
		ms := make([]func(s string, ok bool) bool, 0, len(fc.Values))
		for _, v := range fc.Values {
			switch v.Kind {
			case rules.ValStr:
				p := v.Pattern
				if p.Kind == rules.PatAny {
					ms = append(ms, func(string, bool) bool { return true })
					continue
				}
				ms = append(ms, func(s string, _ bool) bool { return p.Match(s) })
			case rules.ValRe:
				re := v.Re
				ms = append(ms, func(s string, _ bool) bool { return re.MatchString(s) })
			case rules.ValList:
				l := v.List
				if l.Type != rules.ListDomain {
					ms = append(ms, func(string, bool) bool { return false })
					continue
				}
				d := l.Domains
				ms = append(ms, func(s string, ok bool) bool { return ok && d.Match(s) })
			case rules.ValNull:
				ms = append(ms, func(_ string, ok bool) bool { return !ok })
			default:
				return nil, fmt.Errorf("%s: a %v value on a text field", f.Name, v.Kind)
			}
		}
		return combine(fc.All, ms, func(r *rec) (string, bool) { return g(r) }), nil
	case rules.Num:
		g := numAccessor(f.Name, t)
		if g == nil {
			return absent(fc), nil
		}
		if fc.Op == rules.OpExists {
			want := fc.Exists
			return func(r *rec) bool { _, ok := g(r); return ok == want }, nil
		}
		ms := make([]func(n float64, ok bool) bool, 0, len(fc.Values))
		for _, v := range fc.Values {
			x := v.Num
			switch v.Kind {
			case rules.ValNum:
				switch fc.Op {
				case rules.OpGT:
					ms = append(ms, func(n float64, ok bool) bool { return ok && n > x })
				case rules.OpGTE:
					ms = append(ms, func(n float64, ok bool) bool { return ok && n >= x })
				case rules.OpLT:
					ms = append(ms, func(n float64, ok bool) bool { return ok && n < x })
				case rules.OpLTE:
					ms = append(ms, func(n float64, ok bool) bool { return ok && n <= x })
				default:
					ms = append(ms, func(n float64, ok bool) bool { return ok && n == x })
				}
			case rules.ValList:
				l := v.List
				if l.Type != rules.ListPort {
					ms = append(ms, func(float64, bool) bool { return false })
					continue
				}
				ps := l.Ports
				ms = append(ms, func(n float64, ok bool) bool { return ok && ps.Contains(n) })
			case rules.ValNull:
				ms = append(ms, func(_ float64, ok bool) bool { return !ok })
			default:
				return nil, fmt.Errorf("%s: a %v value on a number field", f.Name, v.Kind)
			}
		}
		return combine(fc.All, ms, func(r *rec) (float64, bool) { return g(r) }), nil
	case rules.Addr:
		g := addrAccessor(f.Name, t)
		if g == nil {
			return absent(fc), nil
		}
		if fc.Op == rules.OpExists {
			want := fc.Exists
			return func(r *rec) bool { _, ok := g(r); return ok == want }, nil
		}
		// A plain OR of networks (the common case) is one range set: a binary search.
		if !fc.All && len(fc.Values) > 2 && allPrefixes(fc.Values) {
			ps := make([]netip.Prefix, len(fc.Values))
			for i, v := range fc.Values {
				ps[i] = v.Prefix
			}
			set := rules.NewIPSet(ps)
			return func(r *rec) bool { a, ok := g(r); return ok && set.Contains(a) }, nil
		}
		ms := make([]func(a netip.Addr, ok bool) bool, 0, len(fc.Values))
		for _, v := range fc.Values {
			switch v.Kind {
			case rules.ValPrefix:
				p := v.Prefix
				if p.Bits() == 0 {
					is4 := p.Addr().Is4()
					ms = append(ms, func(a netip.Addr, ok bool) bool { return ok && a.Unmap().Is4() == is4 })
					continue
				}
				ms = append(ms, func(a netip.Addr, ok bool) bool { return ok && p.Contains(a.Unmap()) })
			case rules.ValList:
				l := v.List
				if l.Type != rules.ListIP {
					ms = append(ms, func(netip.Addr, bool) bool { return false })
					continue
				}
				set := l.IPs
				ms = append(ms, func(a netip.Addr, ok bool) bool { return ok && set.Contains(a) })
			case rules.ValNull:
				ms = append(ms, func(_ netip.Addr, ok bool) bool { return !ok })
			default:
				return nil, fmt.Errorf("%s: a %v value on an address field", f.Name, v.Kind)
			}
		}
		return combine(fc.All, ms, func(r *rec) (netip.Addr, bool) { return g(r) }), nil
	}
	return nil, fmt.Errorf("field %s has no type", f.Name)
}

func allPrefixes(vs []rules.Value) bool {
	for _, v := range vs {
		if v.Kind != rules.ValPrefix {
			return false
		}
	}
	return true
}

// combine reads the field once and ORs (or, with |all, ANDs) the value matchers.
func combine[T any](all bool, ms []func(T, bool) bool, g func(r *rec) (T, bool)) pred {
	if len(ms) == 1 {
		m := ms[0]
		return func(r *rec) bool { v, ok := g(r); return m(v, ok) }
	}
	if all {
		return func(r *rec) bool {
			v, ok := g(r)
			for _, m := range ms {
				if !m(v, ok) {
					return false
				}
			}
			return true
		}
	}
	return func(r *rec) bool {
		v, ok := g(r)
		for _, m := range ms {
			if m(v, ok) {
				return true
			}
		}
		return false
	}
}

// defHash is a hash of what a rule computes: for a correlation its type, window, group-by,
// condition and aliases and, recursively, the rules it reads. Hot reload keeps a
// correlation's state when its name and hash are unchanged.
func defHash(r *rules.Rule) uint64 {
	h := fnv.New64a()
	var walk func(r *rules.Rule, depth int)
	walk = func(r *rules.Rule, depth int) {
		w := func(s ...string) {
			for _, x := range s {
				h.Write([]byte(x))
				h.Write([]byte{0})
			}
		}
		w("rule", r.Name)
		if depth > 16 {
			return
		}
		if d := r.Detection; d != nil {
			names := make([]string, 0, len(d.Selections))
			for n := range d.Selections {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				w("sel", n)
				for _, g := range d.Selections[n].Groups {
					w("group")
					for _, fc := range g {
						w(fc.Field.Name, fc.Op.String(), strconv.FormatBool(fc.All), strconv.FormatBool(fc.Cased), strconv.FormatBool(fc.Exists))
						for _, v := range fc.Values {
							w(strconv.Itoa(int(v.Kind)), v.Str)
						}
					}
				}
			}
			w("cond", exprString(d.Condition))
			for _, k := range r.Kinds {
				w(string(k))
			}
		}
		if c := r.Correlation; c != nil {
			w("corr", string(c.Type), c.Timespan.String(), c.For.String())
			for _, g := range c.GroupBy {
				w("by", g.Name)
				for _, f := range g.ByRule {
					w(f.Name)
				}
			}
			for _, m := range c.Condition.Cmps {
				w(m.Op.String(), strconv.FormatFloat(m.Value, 'g', -1, 64))
			}
			if f := c.Condition.Field; f != nil {
				w("field", f.Name)
				for _, bf := range f.ByRule {
					w(bf.Name)
				}
			}
			w("pct", strconv.FormatFloat(c.Condition.Percentile, 'g', -1, 64))
			for _, t := range c.Rules {
				walk(t, depth+1)
			}
		}
	}
	walk(r, 0)
	return h.Sum64()
}

func exprString(x rules.Expr) string {
	switch x := x.(type) {
	case *rules.Ref:
		return x.Name
	case *rules.Not:
		return "not(" + exprString(x.X) + ")"
	case *rules.And, *rules.Or:
		var xs []rules.Expr
		op := " and "
		if a, ok := x.(*rules.And); ok {
			xs = a.X
		} else {
			xs, op = x.(*rules.Or).X, " or "
		}
		parts := make([]string, len(xs))
		for i, y := range xs {
			parts[i] = exprString(y)
		}
		return "(" + strings.Join(parts, op) + ")"
	case *rules.OneOf:
		n := slices.Clone(x.Names)
		sort.Strings(n)
		return "1of(" + strings.Join(n, ",") + ")"
	case *rules.AllOf:
		n := slices.Clone(x.Names)
		sort.Strings(n)
		return "allof(" + strings.Join(n, ",") + ")"
	}
	return "?"
}
