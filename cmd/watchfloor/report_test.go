package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/watchfloor/watchfloor/appliance/store"
)

// report monthly on an empty store writes both formats; a locked store says what to do.
func TestReportMonthly(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "watchfloor.db"), store.DefaultConfig(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	// Locked by the open store (as by a running appliance).
	code := run([]string{"report", "monthly", "-data", dir, "-month", "2026-01", "-timeout", "100ms", "-o", filepath.Join(dir, "r.pdf")}, &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "watchfloor backup -data") {
		t.Fatalf("locked store: exit %d, %s", code, errb.String())
	}
	st.Close()
	for _, f := range []string{"r.pdf", "r.html"} {
		out.Reset()
		errb.Reset()
		code := run([]string{"report", "monthly", "-data", dir, "-month", "2026-01", "-tz", "Europe/Berlin", "-o", filepath.Join(dir, f)}, &out, &errb)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", f, code, errb.String())
		}
		b, _ := os.ReadFile(filepath.Join(dir, f))
		if len(b) < 1000 || !strings.Contains(errb.String(), "report: 1/") {
			t.Errorf("%s: %d bytes; progress %q", f, len(b), errb.String())
		}
	}
	if code := run([]string{"report", "monthly", "-data", dir, "-month", "2999-01", "-o", "x.pdf"}, &out, &errb); code != 2 {
		t.Errorf("a month not over: exit %d", code)
	}
}
