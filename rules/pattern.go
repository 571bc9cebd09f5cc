package rules

import (
	"strings"
	"unicode/utf8"
)

// PatternKind is the shape of a compiled string pattern; the correlator may specialise on it.
type PatternKind uint8

// The pattern shapes. Lit holds the literal (lower-cased unless Cased) for all but PatGlob.
const (
	PatExact    PatternKind = iota + 1 // s == Lit
	PatPrefix                          // Lit*
	PatSuffix                          // *Lit
	PatContains                        // *Lit*
	PatAny                             // * (any value, even empty)
	PatGlob                            // wildcards inside: matched by Match
)

// Pattern is a compiled Sigma string value: wildcards `*` (any run) and `?` (one character),
// `\*`, `\?` and `\\` as escapes, with contains/startswith/endswith applied. Comparisons fold
// ASCII letters unless Cased. Match allocates nothing.
type Pattern struct {
	Kind  PatternKind
	Lit   string
	Cased bool
	glob  string // PatGlob: the pattern, literals folded
	star  []bool // PatGlob: per byte of glob, 1 = `*`, handled with qmark
	qmark []bool
}

// CompilePattern compiles a Sigma string value for an operator (OpEq, OpContains,
// OpStartsWith, OpEndsWith).
func CompilePattern(raw string, op Op, cased bool) *Pattern {
	var b strings.Builder
	var star, qmark []bool
	add := func(c byte, s, q bool) {
		if s && len(star) > 0 && star[len(star)-1] {
			return // ** is *
		}
		b.WriteByte(c)
		star = append(star, s)
		qmark = append(qmark, q)
	}
	if op == OpContains || op == OpEndsWith {
		add('*', true, false)
	}
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '\\' && i+1 < len(raw) && (raw[i+1] == '*' || raw[i+1] == '?' || raw[i+1] == '\\'):
			i++
			add(fold(raw[i], cased), false, false)
		case c == '*':
			add('*', true, false)
		case c == '?':
			add('?', false, true)
		default:
			add(fold(c, cased), false, false)
		}
	}
	if op == OpContains || op == OpStartsWith {
		add('*', true, false)
	}
	p := &Pattern{Cased: cased}
	g := b.String()
	inner, hasQ := 0, false
	for i := range star {
		if star[i] && i != 0 && i != len(star)-1 {
			inner++
		}
		hasQ = hasQ || qmark[i]
	}
	lead := len(star) > 0 && star[0]
	trail := len(star) > 0 && star[len(star)-1]
	switch {
	case hasQ || inner > 0:
		p.Kind, p.glob, p.star, p.qmark = PatGlob, g, star, qmark
	case lead && len(g) == 1:
		p.Kind = PatAny
	case lead && trail:
		p.Kind, p.Lit = PatContains, g[1:len(g)-1]
	case lead:
		p.Kind, p.Lit = PatSuffix, g[1:]
	case trail:
		p.Kind, p.Lit = PatPrefix, g[:len(g)-1]
	default:
		p.Kind, p.Lit = PatExact, g
	}
	return p
}

func fold(c byte, cased bool) byte {
	if !cased && 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// eqFold compares s with the folded literal lit.
func eqFold(s, lit string, cased bool) bool {
	if len(s) != len(lit) {
		return false
	}
	if cased {
		return s == lit
	}
	for i := 0; i < len(s); i++ {
		if fold(s[i], false) != lit[i] {
			return false
		}
	}
	return true
}

func indexFold(s, lit string, cased bool) int {
	if cased {
		return strings.Index(s, lit)
	}
	for i := 0; i+len(lit) <= len(s); i++ {
		if eqFold(s[i:i+len(lit)], lit, false) {
			return i
		}
	}
	return -1
}

// Match reports whether s matches the pattern.
func (p *Pattern) Match(s string) bool {
	switch p.Kind {
	case PatExact:
		return eqFold(s, p.Lit, p.Cased)
	case PatPrefix:
		return len(s) >= len(p.Lit) && eqFold(s[:len(p.Lit)], p.Lit, p.Cased)
	case PatSuffix:
		return len(s) >= len(p.Lit) && eqFold(s[len(s)-len(p.Lit):], p.Lit, p.Cased)
	case PatContains:
		return indexFold(s, p.Lit, p.Cased) >= 0
	case PatAny:
		return true
	case PatGlob:
		return p.globMatch(s)
	}
	return false
}

// globMatch is the linear-time wildcard match with one backtrack point (the last star).
func (p *Pattern) globMatch(s string) bool {
	pi, si := 0, 0
	starP, starS := -1, 0
	for si < len(s) {
		if pi < len(p.glob) {
			switch {
			case p.star[pi]:
				starP, starS = pi, si
				pi++
				continue
			case p.qmark[pi]:
				_, n := utf8.DecodeRuneInString(s[si:])
				si += n
				pi++
				continue
			case fold(s[si], p.Cased) == p.glob[pi]:
				si++
				pi++
				continue
			}
		}
		if starP < 0 {
			return false
		}
		// Let the last star swallow one more character.
		_, n := utf8.DecodeRuneInString(s[starS:])
		starS += n
		pi, si = starP+1, starS
	}
	for pi < len(p.glob) && p.star[pi] {
		pi++
	}
	return pi == len(p.glob)
}

// String returns the pattern in Sigma syntax (folded).
func (p *Pattern) String() string {
	switch p.Kind {
	case PatExact:
		return p.Lit
	case PatPrefix:
		return p.Lit + "*"
	case PatSuffix:
		return "*" + p.Lit
	case PatContains:
		return "*" + p.Lit + "*"
	case PatAny:
		return "*"
	}
	return p.glob
}
