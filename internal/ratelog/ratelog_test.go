package ratelog

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// Burst lines a reason per window, the rest counted and reported with the next line; reasons
// are limited on their own.
func TestWarn(t *testing.T) {
	var buf bytes.Buffer
	l := New(slog.New(slog.NewTextHandler(&buf, nil)), 2)
	now := time.Unix(1_700_000_000, 0)
	l.now = func() time.Time { return now }
	for range 20 {
		l.Warn(0, "bad datagram")
	}
	l.Warn(1, "other")
	if n := strings.Count(buf.String(), "bad datagram"); n != Burst {
		t.Fatalf("%d lines of reason 0 in a window, want %d", n, Burst)
	}
	if !strings.Contains(buf.String(), "other") {
		t.Fatal("reason 1 was limited by reason 0")
	}
	buf.Reset()
	now = now.Add(Window)
	l.Warn(0, "bad datagram")
	if !strings.Contains(buf.String(), "suppressed=15") {
		t.Fatalf("the next window's line does not count the 15 suppressed: %q", buf.String())
	}
}
