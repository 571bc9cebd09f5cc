package alerts

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"regexp"
	"time"

	"github.com/watchfloor/watchfloor"
)

// Bounds of one silence: it comes from the API, so from anyone.
const (
	maxMatchers    = 32
	maxMatcherText = 1024
	maxSilenceText = 4096 // comment, created_by, id
)

// matcher is a compiled watchfloor.Matcher.
type matcher struct {
	name, value string
	negate      bool
	re          *regexp.Regexp // for =~ and !~
}

func (m *matcher) matches(a *watchfloor.Alert) bool {
	v := a.Label(m.name)
	var ok bool
	if m.re != nil {
		ok = m.re.MatchString(v)
	} else {
		ok = v == m.value
	}
	return ok != m.negate
}

// silence is a watchfloor.Silence with its matchers compiled.
type silence struct {
	s        watchfloor.Silence
	matchers []matcher
}

// active reports whether s mutes alerts at t.
func (s *silence) active(t time.Time) bool {
	return !t.Before(s.s.StartsAt) && t.Before(s.s.EndsAt)
}

func (s *silence) matches(a *watchfloor.Alert) bool {
	for i := range s.matchers {
		if !s.matchers[i].matches(a) {
			return false
		}
	}
	return true
}

// CompileMatchers checks ms and compiles them. Regular expressions match the whole value.
// At least one matcher must not match the empty value, so that no silence mutes every
// alert by accident (Alertmanager's rule).
func compileMatchers(ms []watchfloor.Matcher) ([]matcher, error) {
	if len(ms) == 0 {
		return nil, fmt.Errorf("%w: no matchers", ErrInvalid)
	}
	if len(ms) > maxMatchers {
		return nil, fmt.Errorf("%w: %d matchers, at most %d", ErrInvalid, len(ms), maxMatchers)
	}
	out := make([]matcher, len(ms))
	nonEmpty := false
	empty := watchfloor.Alert{}
	for i, m := range ms {
		if m.Name == "" || len(m.Name) > maxMatcherText || len(m.Value) > maxMatcherText {
			return nil, fmt.Errorf("%w: matchers[%d]: name must have 1 to %d bytes, value at most %d", ErrInvalid, i, maxMatcherText, maxMatcherText)
		}
		c := matcher{name: m.Name, value: m.Value}
		switch m.Op {
		case "=":
		case "!=":
			c.negate = true
		case "=~", "!~":
			re, err := regexp.Compile("^(?:" + m.Value + ")$")
			if err != nil {
				return nil, fmt.Errorf("%w: matchers[%d]: %s: %w", ErrInvalid, i, m.Name, err)
			}
			c.re, c.negate = re, m.Op == "!~"
		default:
			return nil, fmt.Errorf("%w: matchers[%d]: op %q, want one of =, !=, =~, !~", ErrInvalid, i, m.Op)
		}
		// An alert without labels has "" everywhere, and severity "info".
		probe := empty
		probe.Labels = []watchfloor.Attr{{Key: m.Name}}
		if !c.matches(&probe) {
			nonEmpty = true
		}
		out[i] = c
	}
	if !nonEmpty {
		return nil, fmt.Errorf("%w: every matcher matches the empty value; a silence must select something", ErrInvalid)
	}
	return out, nil
}

// compileSilence checks s and compiles it.
func compileSilence(s watchfloor.Silence) (*silence, error) {
	if len(s.ID) > maxSilenceText || len(s.Comment) > maxSilenceText || len(s.CreatedBy) > maxSilenceText {
		return nil, fmt.Errorf("%w: id, comment and created_by have at most %d bytes", ErrInvalid, maxSilenceText)
	}
	if !s.EndsAt.After(s.StartsAt) {
		return nil, fmt.Errorf("%w: ends_at (%s) must be after starts_at (%s)", ErrInvalid, s.EndsAt, s.StartsAt)
	}
	ms, err := compileMatchers(s.Matchers)
	if err != nil {
		return nil, err
	}
	return &silence{s: s, matchers: ms}, nil
}

// newSilenceID is 16 random bytes in hex.
func newSilenceID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics instead)
	return hex.EncodeToString(b[:])
}
