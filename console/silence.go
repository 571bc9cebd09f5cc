package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/watchfloor/watchfloor"
)

// Limits of a silence.
const (
	maxSilenceBody     = 64 << 10
	maxSilenceLength   = 30 * 24 * time.Hour // from start to end
	maxSilenceLead     = 365 * 24 * time.Hour
	maxMatchers        = 32
	maxMatcherValueLen = 1024
	maxMatcherNameLen  = 128
)

// silenceBody is what POST /api/v1/silences takes. Times are strings so that a bad one is
// reported with its field, and so that the API's relative forms ("now", "+2h") work.
type silenceBody struct {
	Matchers []watchfloor.Matcher `json:"matchers"`
	StartsAt string               `json:"starts_at"` // default now
	EndsAt   string               `json:"ends_at"`   // this or Duration
	Duration string               `json:"duration"`  // "2h", "90m", "1d12h"
	Comment  string               `json:"comment"`
}

var matcherName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.:-]*$`)

// silence validates b and builds the silence who asks for at now. Every error is a
// FieldError naming the field.
func (b silenceBody) silence(now time.Time, who string) (watchfloor.Silence, error) {
	s := watchfloor.Silence{CreatedBy: who, CreatedAt: now, Comment: b.Comment}
	if len(b.Matchers) == 0 {
		return s, FieldError{"matchers", "at least one matcher is needed"}
	}
	if len(b.Matchers) > maxMatchers {
		return s, FieldError{"matchers", fmt.Sprintf("more than %d matchers", maxMatchers)}
	}
	selective := false
	for i, m := range b.Matchers {
		empty, err := checkMatcher(m)
		if err != nil {
			err.Field = fmt.Sprintf("matchers[%d].%s", i, err.Field)
			return s, *err
		}
		selective = selective || !empty
	}
	if !selective {
		return s, FieldError{"matchers", "every matcher matches an empty value, so the silence would mute everything: give at least one that selects"}
	}
	s.Matchers = append([]watchfloor.Matcher(nil), b.Matchers...)

	s.StartsAt = now
	if b.StartsAt != "" {
		t, err := parseTime(b.StartsAt, now)
		if err != nil {
			return s, FieldError{"starts_at", err.Error()}
		}
		if t.After(now.Add(maxSilenceLead)) {
			return s, FieldError{"starts_at", "more than a year ahead"}
		}
		if t.After(now) {
			s.StartsAt = t // one that started in the past starts now
		}
	}
	switch {
	case b.EndsAt != "" && b.Duration != "":
		return s, FieldError{"duration", "give ends_at or duration, not both"}
	case b.EndsAt != "":
		t, err := parseTime(b.EndsAt, now)
		if err != nil {
			return s, FieldError{"ends_at", err.Error()}
		}
		s.EndsAt = t
	case b.Duration != "":
		d, err := parseSilenceDuration(b.Duration)
		if err != nil {
			return s, FieldError{"duration", err.Error()}
		}
		if d <= 0 {
			return s, FieldError{"duration", "must be positive"}
		}
		if d > maxSilenceLength {
			return s, FieldError{"duration", "longer than 30 days"}
		}
		s.EndsAt = s.StartsAt.Add(d)
	default:
		return s, FieldError{"ends_at", "missing: give ends_at or duration"}
	}
	if !s.EndsAt.After(s.StartsAt) {
		return s, FieldError{"ends_at", "must be after starts_at"}
	}
	if s.EndsAt.Sub(s.StartsAt) > maxSilenceLength {
		return s, FieldError{"ends_at", "more than 30 days after starts_at"}
	}
	switch c := strings.TrimSpace(b.Comment); {
	case c == "":
		return s, FieldError{"comment", "missing: say why the alerts are silenced"}
	case len(b.Comment) > maxCommentLen:
		return s, FieldError{"comment", fmt.Sprintf("longer than %d bytes", maxCommentLen)}
	case !utf8.ValidString(b.Comment):
		return s, FieldError{"comment", "not UTF-8"}
	}
	return s, nil
}

// checkMatcher validates one matcher and reports whether it matches an empty value. The
// error's Field is the matcher's own field (name, op, value).
func checkMatcher(m watchfloor.Matcher) (matchesEmpty bool, _ *FieldError) {
	if len(m.Name) > maxMatcherNameLen || !matcherName.MatchString(m.Name) {
		return false, &FieldError{"name", fmt.Sprintf("%q: want a label name (rule, severity, category, site, device, interface, host, key, or a label's key)", truncate(m.Name))}
	}
	if len(m.Value) > maxMatcherValueLen {
		return false, &FieldError{"value", fmt.Sprintf("longer than %d bytes", maxMatcherValueLen)}
	}
	if !utf8.ValidString(m.Value) {
		return false, &FieldError{"value", "not UTF-8"}
	}
	switch m.Op {
	case "=", "!=":
		if m.Name == "severity" {
			if _, err := watchfloor.ParseSeverity(m.Value); err != nil {
				return false, &FieldError{"value", fmt.Sprintf("%q is not one of info, low, medium, high, critical", truncate(m.Value))}
			}
		}
		return (m.Value == "") == (m.Op == "="), nil
	case "=~", "!~":
		re, err := regexp.Compile("^(?:" + m.Value + ")$")
		if err != nil {
			return false, &FieldError{"value", fmt.Sprintf("not a regular expression (RE2): %v", cleanRegexpError(err))}
		}
		return re.MatchString("") == (m.Op == "=~"), nil
	}
	return false, &FieldError{"op", fmt.Sprintf("%q is not one of =, !=, =~, !~", truncate(m.Op))}
}

// cleanRegexpError says what is wrong with a regular expression without echoing it.
func cleanRegexpError(err error) string {
	var se *syntax.Error
	if errors.As(err, &se) {
		return string(se.Code)
	}
	return "invalid"
}

// parseSilenceDuration reads a Go duration with an optional leading count of days: "2h",
// "90m", "7d", "1d12h".
func parseSilenceDuration(s string) (time.Duration, error) {
	if len(s) > 32 {
		return 0, errors.New("too long")
	}
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		n, err := strconv.Atoi(s[:i])
		if err != nil || n < 0 || n > 366 {
			return 0, fmt.Errorf("%q: want a duration such as 2h, 90m, 7d or 1d12h", truncate(s))
		}
		days, s = time.Duration(n)*24*time.Hour, s[i+1:]
		if s == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q: want a duration such as 2h, 90m, 7d or 1d12h", truncate(s))
	}
	return days + d, nil
}

// decodeBody reads a JSON object of at most limit bytes into v; an empty body leaves v as
// it is. Unknown fields and trailing data are refused. Errors are FieldErrors.
func decodeBody(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return FieldError{"body", fmt.Sprintf("larger than %d bytes", limit)}
		}
		return FieldError{"body", "could not be read"}
	}
	return decodeJSON(raw, v)
}

// decodeJSON is decodeBody's parser.
func decodeJSON(raw []byte, v any) error {
	if len(strings.TrimSpace(string(raw))) == 0 {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if dec.More() {
			return FieldError{"body", "more than one JSON value"}
		}
		if _, err := dec.Token(); err != io.EOF {
			return FieldError{"body", "more than one JSON value"}
		}
		return nil
	}
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return FieldError{"body", fmt.Sprintf("not JSON at byte %d", se.Offset)}
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "body"
		}
		return FieldError{field, fmt.Sprintf("want %s, not %s", jsonKind(te.Type.Kind().String()), te.Value)}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return FieldError{"body", "truncated JSON"}
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if name, _ = strconv.Unquote(name); name == "" || !utf8.ValidString(name) {
			return FieldError{"body", fmt.Sprintf("unknown field %q", truncate(name))}
		}
		return FieldError{truncate(name), "unknown field"}
	}
	return FieldError{"body", "not valid JSON for this call"}
}

// jsonKind names a Go kind as JSON would.
func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "an object"
	case "bool":
		return "true or false"
	}
	return "a number"
}
