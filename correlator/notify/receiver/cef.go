package receiver

import (
	"strconv"
	"strings"
	"time"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/correlator/notify"
)

// CEFHeaderEscape escapes a CEF header field: '\' and '|' get a backslash; CR and LF, which
// a header may not hold, become spaces.
func CEFHeaderEscape(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\', '|':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\r', '\n':
			b.WriteByte(' ')
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// CEFValueEscape escapes a CEF extension value: '\' and '=' get a backslash, CR and LF
// become the two-character sequences \r and \n. ('|' needs no escape in extensions.)
func CEFValueEscape(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\', '=':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\r':
			b.WriteString(`\r`)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// CEFSeverity maps a severity to CEF's 0–10.
func CEFSeverity(s watchfloor.Severity) int {
	switch s {
	case watchfloor.SeverityInfo:
		return 1
	case watchfloor.SeverityLow:
		return 3
	case watchfloor.SeverityMedium:
		return 5
	case watchfloor.SeverityHigh:
		return 8
	default:
		return 10
	}
}

// CEF formats n as one CEF:0 line:
//
//	CEF:0|Watchfloor|Watchfloor|1|<rule>|<title>|<severity 0-10>|ext…
//
// The extension carries rt (ms since the epoch), act (the status), cnt (alerts), msg (the
// summary), externalId (the notification), request (the incident link), cat, dvchost, src
// host, and cs1 (the group key), each escaped.
func CEF(n notify.Notification) string {
	rule, cat := "watchfloor", ""
	var ent watchfloor.Entity
	if len(n.Alerts) > 0 {
		rule, cat, ent = n.Alerts[0].Rule, n.Alerts[0].Category, n.Alerts[0].Entity
	}
	var b strings.Builder
	b.WriteString("CEF:0|Watchfloor|Watchfloor|1|")
	b.WriteString(CEFHeaderEscape(rule))
	b.WriteByte('|')
	b.WriteString(CEFHeaderEscape(n.Title))
	b.WriteByte('|')
	b.WriteString(strconv.Itoa(CEFSeverity(n.Severity)))
	b.WriteByte('|')
	sep := false
	ext := func(k, v string) {
		if v == "" {
			return
		}
		if sep {
			b.WriteByte(' ')
		}
		sep = true
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(CEFValueEscape(v))
	}
	t := n.Time
	if t.IsZero() {
		t = time.Now()
	}
	ext("rt", strconv.FormatInt(t.UnixMilli(), 10))
	ext("act", string(n.Status))
	ext("cnt", strconv.Itoa(len(n.Alerts)))
	ext("cat", cat)
	ext("dvchost", ent.Device)
	ext("shost", ent.Host)
	ext("externalId", n.ID)
	ext("request", n.Link)
	ext("cs1Label", "groupKey")
	ext("cs1", n.GroupKey)
	if n.Target != nil {
		ext("duser", n.Target.Name)
	}
	ext("msg", n.Summary)
	return b.String()
}
