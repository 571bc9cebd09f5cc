package rules

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

var fieldsByName = func() map[string]Field {
	m := make(map[string]Field, len(Fields))
	for _, f := range Fields {
		m[f.Name] = f
	}
	return m
}()

// LookupField returns the field of that name: one of Fields, or an event attribute field
// "attr.KEY" (Str, events only).
func LookupField(name string) (Field, bool) {
	if f, ok := fieldsByName[name]; ok {
		return f, true
	}
	if key, ok := strings.CutPrefix(name, AttrPrefix); ok && key != "" {
		return Field{Name: name, Type: Str, Kinds: eventOnly, Doc: "event attribute " + key}, true
	}
	return Field{}, false
}

// Has reports whether records of kind k have the field.
func (f Field) Has(k Kind) bool { return slices.Contains(f.Kinds, k) }

// HasAny reports whether records of at least one of the kinds have the field.
func (f Field) HasAny(kinds []Kind) bool {
	for _, k := range kinds {
		if f.Has(k) {
			return true
		}
	}
	return false
}

// missingKinds lists the kinds (of kinds) that lack the field.
func (f Field) missingKinds(kinds []Kind) []Kind {
	var out []Kind
	for _, k := range kinds {
		if !f.Has(k) {
			out = append(out, k)
		}
	}
	return out
}

func (t FieldType) String() string {
	switch t {
	case Str:
		return "string"
	case Num:
		return "number"
	case Addr:
		return "address"
	}
	return "type?"
}

func kindNames(kinds []Kind) string {
	s := make([]string, len(kinds))
	for i, k := range kinds {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

// ParseDuration reads a Sigma timespan (a number and one of s, m, h, d, w: `90m`, `1d`) or a
// Go duration (`1m30s`, `500ms`). Negative durations are refused.
func ParseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	if n := len(s); s[n-1] == 'd' || s[n-1] == 'w' {
		v, err := strconv.ParseUint(s[:n-1], 10, 32)
		if err != nil {
			return 0, fmt.Errorf("bad duration %q (want a number and s, m, h, d or w: 90s, 5m, 1h, 1d)", s)
		}
		unit := 24 * time.Hour
		if s[n-1] == 'w' {
			unit *= 7
		}
		if v > uint64(1<<62/unit) {
			return 0, fmt.Errorf("duration %q is too long", s)
		}
		return time.Duration(v) * unit, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("bad duration %q (want a number and s, m, h, d or w: 90s, 5m, 1h, 1d)", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("negative duration %q", s)
	}
	return d, nil
}
