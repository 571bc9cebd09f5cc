package receiver

import (
	"fmt"
	"net/url"
	"strings"
)

// FieldError is a configuration problem, named by its YAML path.
type FieldError struct {
	Field string
	Msg   string
}

func (e FieldError) Error() string { return e.Field + ": " + e.Msg }

type fieldErrors []FieldError

func (e *fieldErrors) add(field, format string, args ...any) {
	*e = append(*e, FieldError{field, fmt.Sprintf(format, args...)})
}

// checkURL validates an http(s) URL. When secret is true the URL carries a credential (Slack
// and Teams webhook URLs do), so the message never repeats it.
func (e *fieldErrors) checkURL(field, raw string, secret bool) {
	if raw == "" {
		e.add(field, "is required")
		return
	}
	u, err := url.Parse(raw)
	if err != nil {
		if secret {
			e.add(field, "is not a valid URL")
		} else {
			e.add(field, "is not a valid URL: %v", err)
		}
		return
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		e.add(field, "must be an http or https URL")
	}
	if u.Host == "" {
		e.add(field, "has no host")
	}
}

// validName reports whether s is usable as a receiver name (a metric label, a log field).
func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool {
		return !(r == '-' || r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	})
}
