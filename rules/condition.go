package rules

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// ConditionError is a syntax or reference error of a condition, at a byte offset of it.
type ConditionError struct {
	Offset int
	Msg    string
}

func (e *ConditionError) Error() string { return fmt.Sprintf("at %d: %s", e.Offset, e.Msg) }

// ParseCondition parses a Sigma condition over the named selections: `and`, `or`, `not`
// (not binds tighter than and, and tighter than or), parentheses, `1 of PATTERN`, `all of
// PATTERN`, `1 of them`, `all of them` (names starting with `_` are left out of `them`).
// Patterns use * wildcards and must match at least one selection. Keywords are
// case-insensitive.
func ParseCondition(src string, sels map[string]*Selection) (Expr, *ConditionError) {
	cp := &condParser{src: src, sels: sels}
	cp.lex()
	if cp.err != nil {
		return nil, cp.err
	}
	if len(cp.toks) == 0 {
		return nil, &ConditionError{0, "empty condition"}
	}
	e := cp.or()
	if cp.err == nil && cp.i < len(cp.toks) {
		t := cp.toks[cp.i]
		if t.s == ")" {
			cp.fail(t.off, "unbalanced )")
		} else {
			cp.fail(t.off, fmt.Sprintf("unexpected %q: want and, or, or the end", t.s))
		}
	}
	if cp.err != nil {
		return nil, cp.err
	}
	return e, nil
}

type token struct {
	s   string
	off int
}

type condParser struct {
	src   string
	sels  map[string]*Selection
	toks  []token
	i     int
	err   *ConditionError
	depth int
}

func (cp *condParser) fail(off int, msg string) {
	if cp.err == nil {
		cp.err = &ConditionError{off, msg}
	}
}

func isIdent(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '*' || c == '.' || c == '-'
}

func (cp *condParser) lex() {
	s := cp.src
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(' || c == ')':
			cp.toks = append(cp.toks, token{s[i : i+1], i})
			i++
		case c == '|':
			cp.fail(i, "the deprecated Sigma aggregation (`| count() …`) is not supported: write a correlation rule (`watchfloor rules import-sigma` converts it)")
			return
		case isIdent(c):
			j := i
			for j < len(s) && isIdent(s[j]) {
				j++
			}
			cp.toks = append(cp.toks, token{s[i:j], i})
			i = j
		default:
			r, _ := utf8.DecodeRuneInString(s[i:])
			cp.fail(i, fmt.Sprintf("unexpected character %q", r))
			return
		}
	}
}

func (cp *condParser) peek() (token, bool) {
	if cp.i < len(cp.toks) {
		return cp.toks[cp.i], true
	}
	return token{off: len(cp.src)}, false
}

func kw(t token, k string) bool { return strings.EqualFold(t.s, k) }

func isKeyword(s string) bool {
	switch strings.ToLower(s) {
	case "and", "or", "not", "of", "them", "all":
		return true
	}
	return false
}

func (cp *condParser) or() Expr {
	var xs []Expr
	for {
		xs = append(xs, cp.and())
		if t, ok := cp.peek(); cp.err == nil && ok && kw(t, "or") {
			cp.i++
			continue
		}
		break
	}
	if len(xs) == 1 {
		return xs[0]
	}
	return &Or{X: flatten(xs, true)}
}

func (cp *condParser) and() Expr {
	var xs []Expr
	for {
		xs = append(xs, cp.not())
		if t, ok := cp.peek(); cp.err == nil && ok && kw(t, "and") {
			cp.i++
			continue
		}
		break
	}
	if len(xs) == 1 {
		return xs[0]
	}
	return &And{X: flatten(xs, false)}
}

func flatten(xs []Expr, or bool) []Expr {
	var out []Expr
	for _, x := range xs {
		switch v := x.(type) {
		case *Or:
			if or {
				out = append(out, v.X...)
				continue
			}
		case *And:
			if !or {
				out = append(out, v.X...)
				continue
			}
		}
		out = append(out, x)
	}
	return out
}

func (cp *condParser) not() Expr {
	t, ok := cp.peek()
	if ok && kw(t, "not") {
		cp.i++
		cp.depth++
		defer func() { cp.depth-- }()
		if cp.depth > 100 {
			cp.fail(t.off, "condition nested too deep")
			return nil
		}
		return &Not{X: cp.not()}
	}
	return cp.primary()
}

func (cp *condParser) primary() Expr {
	if cp.err != nil {
		return nil
	}
	t, ok := cp.peek()
	if !ok {
		cp.fail(t.off, "unexpected end of condition: want a selection, `(`, `not`, `1 of` or `all of`")
		return nil
	}
	cp.i++
	switch {
	case t.s == "(":
		cp.depth++
		defer func() { cp.depth-- }()
		if cp.depth > 100 {
			cp.fail(t.off, "condition nested too deep")
			return nil
		}
		e := cp.or()
		if cp.err != nil {
			return nil
		}
		c, ok := cp.peek()
		if !ok || c.s != ")" {
			cp.fail(t.off, "unbalanced (: no matching )")
			return nil
		}
		cp.i++
		return e
	case t.s == ")":
		cp.fail(t.off, "unexpected ): want a selection")
		return nil
	case kw(t, "all") || isNumber(t.s):
		of, ok := cp.peek()
		if !ok || !kw(of, "of") {
			if isNumber(t.s) {
				break // a selection named like a number
			}
			cp.fail(of.off, fmt.Sprintf("want `of` after %q", t.s))
			return nil
		}
		cp.i++
		if isNumber(t.s) && t.s != "1" {
			cp.fail(t.off, fmt.Sprintf("%q of: Sigma conditions take `1 of` or `all of`", t.s))
			return nil
		}
		pt, ok := cp.peek()
		if !ok || pt.s == "(" || pt.s == ")" || (isKeyword(pt.s) && !kw(pt, "them")) {
			cp.fail(pt.off, "want a selection pattern or `them` after `of`")
			return nil
		}
		cp.i++
		names := cp.matching(pt)
		if names == nil {
			return nil
		}
		sels := make([]*Selection, len(names))
		for i, n := range names {
			sels[i] = cp.sels[n]
		}
		if kw(t, "all") {
			return &AllOf{Pattern: pt.s, Names: names, Sels: sels}
		}
		return &OneOf{Pattern: pt.s, Names: names, Sels: sels}
	case isKeyword(t.s):
		cp.fail(t.off, fmt.Sprintf("unexpected %q: want a selection", t.s))
		return nil
	}
	if strings.Contains(t.s, "*") {
		cp.fail(t.off, fmt.Sprintf("%q: a pattern needs `1 of` or `all of` before it", t.s))
		return nil
	}
	s, ok := cp.sels[t.s]
	if !ok {
		cp.fail(t.off, fmt.Sprintf("unknown selection %q%s", t.s, selNames(cp.sels)))
		return nil
	}
	return &Ref{Name: t.s, Sel: s}
}

func (cp *condParser) matching(pt token) []string {
	var names []string
	them := kw(pt, "them")
	pat := CompilePattern(pt.s, OpEq, true)
	for n := range cp.sels {
		if them && !strings.HasPrefix(n, "_") || !them && pat.Match(n) {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		if them {
			cp.fail(pt.off, "`them`: no selections (names starting with _ are left out)")
		} else {
			cp.fail(pt.off, fmt.Sprintf("pattern %q matches no selection%s", pt.s, selNames(cp.sels)))
		}
		return nil
	}
	sort.Strings(names)
	return names
}

func isNumber(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func selNames(sels map[string]*Selection) string {
	if len(sels) == 0 {
		return ""
	}
	names := make([]string, 0, len(sels))
	for n := range sels {
		names = append(names, n)
	}
	sort.Strings(names)
	return " (selections: " + strings.Join(names, ", ") + ")"
}

// condition parses the detection's condition node: a string, or Sigma 1's list of strings
// (any of them).
func (p *parser) condition(n *yaml.Node, d *Detection, det *yaml.Node) Expr {
	const f = "detection.condition"
	var nodes []*yaml.Node
	switch n.Kind {
	case yaml.ScalarNode:
		nodes = []*yaml.Node{n}
	case yaml.SequenceNode:
		nodes = n.Content
		if len(nodes) == 0 {
			p.atN(n, f, "empty condition")
			return nil
		}
	default:
		p.atN(n, f, "want a condition string, not %s", nodeDesc(n))
		return nil
	}
	var xs []Expr
	for _, c := range nodes {
		if c.Kind != yaml.ScalarNode || c.ShortTag() == "!!null" {
			p.atN(c, f, "want a condition string, not %s", nodeDesc(c))
			continue
		}
		e, err := ParseCondition(c.Value, d.Selections)
		if err != nil {
			line, col := scalarPos(c, err.Offset)
			p.at(line, col, f, "%s", err.Msg)
			continue
		}
		xs = append(xs, e)
	}
	if len(xs) == 1 {
		return xs[0]
	}
	if len(xs) == 0 {
		return nil
	}
	return &Or{X: flatten(xs, true)}
}

// scalarPos maps a byte offset of a scalar's value to its line and column in the file, exact
// for plain and quoted one-line scalars (escapes aside), the scalar's start otherwise.
func scalarPos(n *yaml.Node, off int) (int, int) {
	if strings.Contains(n.Value, "\n") || n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 || off > len(n.Value) {
		return n.Line, n.Column
	}
	col := n.Column + utf8.RuneCountInString(n.Value[:off])
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
		col++
	}
	return n.Line, col
}
