package console

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/watchfloor/watchfloor"
)

// Query parameter limits.
const (
	defaultRange      = time.Hour
	maxRange          = 400 * 24 * time.Hour
	defaultEventLimit = 100
	maxEventLimit     = 1000
	maxParamLen       = 128
)

// errBadParam marks errors that the caller answers with 400.
var errBadParam = errors.New("bad parameter")

func badParam(name, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", errBadParam, name, fmt.Sprintf(format, args...))
}

// parseTime reads a point in time as the API accepts it: RFC 3339
// ("2026-05-01T12:00:00Z"), unix seconds ("1767225600", fractions allowed), "now", or a
// duration relative to now ("-1h", "-90m", "now-15m", "+5m").
func parseTime(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return time.Time{}, errors.New("empty time")
	case len(s) > maxParamLen:
		return time.Time{}, errors.New("time too long")
	case s == "now":
		return now, nil
	}
	rel := strings.TrimPrefix(s, "now")
	if rel != "" && (rel[0] == '-' || rel[0] == '+') {
		d, err := time.ParseDuration(rel)
		if err != nil {
			return time.Time{}, fmt.Errorf("relative time %q: want a duration such as -1h or -15m", truncate(s))
		}
		return now.Add(d), nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && isDecimal(s) {
		// Unix seconds; years 1970..9999 only, which also keeps the conversion exact enough.
		if f < 0 || f > 253402300799 || math.IsNaN(f) {
			return time.Time{}, fmt.Errorf("unix time %q out of range", truncate(s))
		}
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q: want RFC 3339, unix seconds, now or a relative duration such as -1h", truncate(s))
	}
	return t, nil
}

// isDecimal reports whether s is digits with at most one decimal point, so that
// ParseFloat's other spellings (1e9, 0x10, Inf) are not taken for unix times.
func isDecimal(s string) bool {
	dot := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
		case c == '.' && !dot:
			dot = true
		default:
			return false
		}
	}
	return true
}

// timeRange reads from and to (defaults: the last hour) and checks that they make sense.
func timeRange(q url.Values, now time.Time) (from, to time.Time, err error) {
	return timeRangeOr(q, now, defaultRange)
}

// timeRangeOr is timeRange with def as the length of the range when from is not given.
func timeRangeOr(q url.Values, now time.Time, def time.Duration) (from, to time.Time, err error) {
	to = now
	if s := q.Get("to"); s != "" {
		if to, err = parseTime(s, now); err != nil {
			return from, to, badParam("to", "%v", err)
		}
	}
	from = to.Add(-def)
	if s := q.Get("from"); s != "" {
		if from, err = parseTime(s, now); err != nil {
			return from, to, badParam("from", "%v", err)
		}
	}
	if !from.Before(to) {
		return from, to, badParam("from", "must be before to")
	}
	if to.Sub(from) > maxRange {
		return from, to, badParam("from", "range longer than %d days", int(maxRange/(24*time.Hour)))
	}
	return from, to, nil
}

// parseStep reads a series resolution.
func parseStep(s string) (string, error) {
	switch s {
	case "", "auto":
		return watchfloor.StepAuto, nil
	case watchfloor.StepRaw, watchfloor.Step5m, watchfloor.Step1h:
		return s, nil
	}
	return "", badParam("step", "%q is not one of auto, raw, 5m, 1h", truncate(s))
}

// parseMetric checks a metric name: lower-case letters, digits and underscores.
func parseMetric(s string) (string, error) {
	if s == "" {
		return "", badParam("metric", "missing (e.g. metric=in_bps)")
	}
	if len(s) > 64 {
		return "", badParam("metric", "longer than 64 characters")
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return "", badParam("metric", "%q: want lower-case letters, digits and _", truncate(s))
		}
	}
	return s, nil
}

// findInterface resolves an interface of d by ifIndex (a number) or by name.
func findInterface(d watchfloor.Device, s string) (watchfloor.Interface, bool) {
	if n, err := strconv.ParseInt(s, 10, 32); err == nil {
		for _, i := range d.Interfaces {
			if i.Index == int32(n) {
				return i, true
			}
		}
	}
	for _, i := range d.Interfaces {
		if i.Name == s {
			return i, true
		}
	}
	for _, i := range d.Interfaces {
		if i.Descr == s {
			return i, true
		}
	}
	return watchfloor.Interface{}, false
}

// eventQuery reads the parameters of /api/v1/events.
func eventQuery(q url.Values, now time.Time) (watchfloor.EventQuery, error) {
	var eq watchfloor.EventQuery
	var err error
	if s := q.Get("since"); s != "" {
		if eq.Since, err = parseTime(s, now); err != nil {
			return eq, badParam("since", "%v", err)
		}
	}
	if s := q.Get("after_id"); s != "" {
		if eq.AfterID, err = strconv.ParseUint(s, 10, 64); err != nil {
			return eq, badParam("after_id", "%q is not an event ID", truncate(s))
		}
	}
	eq.Device = q.Get("device")
	if len(eq.Device) > 256 {
		return eq, badParam("device", "longer than 256 characters")
	}
	eq.Limit = defaultEventLimit
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxEventLimit {
			return eq, badParam("limit", "%q: want 1..%d", truncate(s), maxEventLimit)
		}
		eq.Limit = n
	}
	return eq, nil
}

// truncate shortens user input quoted in an error message, at a rune boundary.
func truncate(s string) string {
	if len(s) <= 40 {
		return s
	}
	n := 40
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
