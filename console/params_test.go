package console

import (
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/watchfloor/watchfloor"
)

func TestParseTime(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Time
		err  string
	}{
		{in: "now", want: testNow},
		{in: " now ", want: testNow},
		{in: "-1h", want: testNow.Add(-time.Hour)},
		{in: "-1h30m", want: testNow.Add(-90 * time.Minute)},
		{in: "+5m", want: testNow.Add(5 * time.Minute)},
		{in: "now-15m", want: testNow.Add(-15 * time.Minute)},
		{in: "1777896000", want: testNow},
		{in: "1777896000.5", want: testNow.Add(500 * time.Millisecond)},
		{in: "2026-05-04T12:00:00Z", want: testNow},
		{in: "2026-05-04T14:00:00+02:00", want: testNow},
		{in: "2026-05-04T12:00:00.250Z", want: testNow.Add(250 * time.Millisecond)},
		{in: "", err: "empty"},
		{in: "-1", err: "relative time"},
		{in: "-1d", err: "relative time"},
		{in: "nowish", err: "want RFC 3339"},
		{in: "1e9", err: "want RFC 3339"},
		{in: "0x10", err: "want RFC 3339"},
		{in: "Inf", err: "want RFC 3339"},
		{in: "99999999999999", err: "out of range"},
		{in: "2026-05-04", err: "want RFC 3339"},
		{in: strings.Repeat("1", 200), err: "too long"},
	} {
		got, err := parseTime(tc.in, testNow)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("parseTime(%q) error %v, want %q", tc.in, err, tc.err)
		case tc.err == "" && err != nil:
			t.Errorf("parseTime(%q): %v", tc.in, err)
		case tc.err == "" && !got.Equal(tc.want):
			t.Errorf("parseTime(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// FuzzParseTime: any input either parses or gives an error; what parses is a real time and
// relative input stays relative to now.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"now", "-1h", "now-15m", "+5m", "1777896000", "1777896000.25", "2026-05-04T12:00:00Z",
		"2026-05-04T14:00:00+02:00", "", "-", "now-", "1e9", "-9223372036854775808ns", "9999-12-31T23:59:59Z", "."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseTime(s, testNow)
		if err != nil {
			if got != (time.Time{}) {
				t.Errorf("parseTime(%q) returned %v with error %v", s, got, err)
			}
			if len(err.Error()) > 300 {
				t.Errorf("parseTime(%q): error of %d bytes", s, len(err.Error()))
			}
			return
		}
		if strings.HasPrefix(strings.TrimSpace(s), "now") || strings.HasPrefix(strings.TrimSpace(s), "-") {
			// Relative: the same input on another "now" moves by the same amount.
			later, err := parseTime(s, testNow.Add(time.Hour))
			if err != nil || later.Sub(got) != time.Hour {
				t.Errorf("parseTime(%q) is not relative: %v then %v (%v)", s, got, later, err)
			}
		}
	})
}

// FuzzQueryParams feeds arbitrary query strings to the parsers of the series and events
// endpoints: they answer or refuse, never panic, and what they accept is within bounds.
func FuzzQueryParams(f *testing.F) {
	for _, s := range []string{
		"metric=in_bps&interface=Gi0/1&from=-1h&to=now&step=5m",
		"since=-1h&after_id=10&device=core1&limit=50",
		"from=0&to=1", "limit=-1", "step=%zz", "interface=7&metric=" + strings.Repeat("a", 70),
	} {
		f.Add(s)
	}
	dev := testDevice("core1", "core", watchfloor.DeviceUp, 8)
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		if from, to, err := timeRange(q, testNow); err == nil {
			if !from.Before(to) || to.Sub(from) > maxRange {
				t.Errorf("%q: accepted range %v..%v", raw, from, to)
			}
		}
		if m, err := parseMetric(q.Get("metric")); err == nil && (m == "" || len(m) > 64) {
			t.Errorf("%q: accepted metric %q", raw, m)
		}
		if _, err := parseStep(q.Get("step")); err != nil && !utf8.ValidString(err.Error()) && utf8.ValidString(q.Get("step")) {
			t.Errorf("%q: error is not UTF-8", raw)
		}
		if i, ok := findInterface(dev, q.Get("interface")); ok && i.Name == "" {
			t.Errorf("%q: found an empty interface", raw)
		}
		if eq, err := eventQuery(q, testNow); err == nil && (eq.Limit < 1 || eq.Limit > maxEventLimit) {
			t.Errorf("%q: accepted limit %d", raw, eq.Limit)
		}
	})
}
