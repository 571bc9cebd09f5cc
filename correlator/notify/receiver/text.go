package receiver

import (
	"fmt"
	"strings"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/correlator/notify"
)

// statusWord is the upper-case status shown before titles: FIRING, RESOLVED, ACKNOWLEDGED.
func statusWord(s notify.Status) string {
	if s == "" {
		return "FIRING"
	}
	return strings.ToUpper(string(s))
}

// counts is "3 alerts: 1 critical, 2 high".
func counts(n notify.Notification) string {
	var by [watchfloor.SeverityCritical + 1]int
	for _, a := range n.Alerts {
		if a.Severity <= watchfloor.SeverityCritical {
			by[a.Severity]++
		}
	}
	var parts []string
	for s := watchfloor.SeverityCritical; ; s-- {
		if by[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", by[s], s))
		}
		if s == watchfloor.SeverityInfo {
			break
		}
	}
	word := "alerts"
	if len(n.Alerts) == 1 {
		word = "alert"
	}
	if len(parts) == 0 {
		return fmt.Sprintf("%d %s", len(n.Alerts), word)
	}
	return fmt.Sprintf("%d %s: %s", len(n.Alerts), word, strings.Join(parts, ", "))
}

// headline is "[FIRING] high: <title>".
func headline(n notify.Notification) string {
	return fmt.Sprintf("[%s] %s: %s", statusWord(n.Status), n.Severity, n.Title)
}

// truncate cuts s to at most max bytes on a rune boundary, marking the cut with "…".
func truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	const ell = "…"
	cut := max - len(ell)
	if cut < 0 {
		return s[:0]
	}
	for cut > 0 && cut < len(s) && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + ell
}
