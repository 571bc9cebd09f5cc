package uplink

import (
	"fmt"
	"strconv"
	"strings"
)

// Kind is what a record is; each kind has its own subject and its own stream at central.
type Kind string

// The kinds an appliance sends.
const (
	KindAlert   Kind = "alert"   // alert changes (fired, acknowledged, resolved)
	KindEvent   Kind = "event"   // events (state changes, traps, observations)
	KindDevice  Kind = "device"  // device and interface status
	KindMetrics Kind = "metrics" // metric rollups
	KindFlows   Kind = "flows"   // flow rollups (raw flows stay local)
	KindHealth  Kind = "health"  // the appliance's own health: outbox depth, drops, versions
)

// Kinds is every kind, in the order of their streams.
var Kinds = []Kind{KindAlert, KindEvent, KindDevice, KindMetrics, KindFlows, KindHealth}

// Valid reports whether k is one of Kinds.
func (k Kind) Valid() bool {
	for _, x := range Kinds {
		if k == x {
			return true
		}
	}
	return false
}

// SubjectRoot is the first token of every uplink subject: wf.<site>.<kind>.
const SubjectRoot = "wf"

// Message headers. The subject's site and kind are authoritative (central's permissions
// let a site publish only under its own subjects); the headers number the records.
const (
	// HeaderMsgID is JetStream's deduplication ID: <site>.<kind>.<epoch>.<kind seq>, stable
	// for the record across retries and restarts of the appliance.
	HeaderMsgID = "Nats-Msg-Id"
	// HeaderEpoch is the outbox's epoch, 16 hex digits: a new store starts a new numbering.
	HeaderEpoch = "Wf-Epoch"
	// HeaderSeq is the record's sequence within its site and kind, from 1, in decimal.
	HeaderSeq = "Wf-Seq"
	// HeaderSiteSeq is the record's sequence within its site across kinds, in decimal.
	HeaderSiteSeq = "Wf-Site-Seq"
	// HeaderTime is when the record was made, RFC 3339 with nanoseconds.
	HeaderTime = "Wf-Time"
	// HeaderRecordID is the record's own ID, when it has one (an alert's, an event's).
	HeaderRecordID = "Wf-Record-Id"
)

// MaxSite is the longest site name.
const MaxSite = 63

// CheckSite says what is wrong with a site name, or "". A site is a DNS label in lower
// case ([a-z0-9-], 1 to 63 bytes, no leading or trailing '-'): it is a subject token, part
// of a certificate name and of stream names, so nothing that could be a wildcard or a
// separator.
func CheckSite(s string) string {
	if s == "" || len(s) > MaxSite {
		return fmt.Sprintf("must have 1 to %d characters", MaxSite)
	}
	if s[0] == '-' || s[len(s)-1] == '-' {
		return "must not start or end with '-'"
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Sprintf("%q: only a-z, 0-9 and '-'", s)
		}
	}
	return ""
}

// Subject is where a site publishes records of a kind.
func Subject(site string, kind Kind) string {
	return SubjectRoot + "." + site + "." + string(kind)
}

// KindSubjects is the subject filter of a kind's stream: every site's records of it.
func KindSubjects(kind Kind) string { return SubjectRoot + ".*." + string(kind) }

// SiteSubjects is everything a site may publish.
func SiteSubjects(site string) string { return SubjectRoot + "." + site + ".>" }

// InboxPrefix is the inbox prefix of a site's connection: its PubAcks come back under it,
// and its permissions allow it to subscribe there only.
func InboxPrefix(site string) string { return "_INBOX_" + site }

// ParseSubject splits wf.<site>.<kind>; ok is false for anything else.
func ParseSubject(subject string) (site string, kind Kind, ok bool) {
	rest, found := strings.CutPrefix(subject, SubjectRoot+".")
	if !found {
		return "", "", false
	}
	site, k, found := strings.Cut(rest, ".")
	if !found || CheckSite(site) != "" || !Kind(k).Valid() {
		return "", "", false
	}
	return site, Kind(k), true
}

// MsgID is the Nats-Msg-Id of a record.
func MsgID(site string, kind Kind, epoch, seq uint64) string {
	b := make([]byte, 0, len(site)+len(kind)+40)
	b = append(b, site...)
	b = append(b, '.')
	b = append(b, kind...)
	b = append(b, '.')
	b = appendEpoch(b, epoch)
	b = append(b, '.')
	b = strconv.AppendUint(b, seq, 10)
	return string(b)
}

func appendEpoch(b []byte, epoch uint64) []byte {
	const hex = "0123456789abcdef"
	for i := 60; i >= 0; i -= 4 {
		b = append(b, hex[epoch>>uint(i)&0xf])
	}
	return b
}

// FormatEpoch is the HeaderEpoch value of epoch.
func FormatEpoch(epoch uint64) string { return string(appendEpoch(nil, epoch)) }

// ParseEpoch parses a HeaderEpoch value.
func ParseEpoch(s string) (uint64, error) {
	if len(s) != 16 {
		return 0, fmt.Errorf("epoch %q: not 16 hex digits", s)
	}
	return strconv.ParseUint(s, 16, 64)
}
