package report

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// artifactDir is WATCHFLOOR_ARTIFACT_DIR when set (to look at the reports), else a
// temporary directory.
func artifactDir(t testing.TB) string {
	if dir := os.Getenv("WATCHFLOOR_ARTIFACT_DIR"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	return t.TempDir()
}

// The same store and month give byte-identical HTML, self-contained, with every section,
// the appendix and the figures of the golden month.
func TestHTMLDeterministic(t *testing.T) {
	st := openGolden(t)
	o := Options{Month: "2026-10", Site: "east", Location: berlin, ConsoleURL: "https://noc.example",
		Generated: time.Date(2026, 11, 1, 6, 0, 0, 0, berlin)}
	var out [2][]byte
	for i := range out {
		r, err := Generate(context.Background(), st, o)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := WriteHTML(&b, r); err != nil {
			t.Fatal(err)
		}
		out[i] = b.Bytes()
	}
	if !bytes.Equal(out[0], out[1]) {
		t.Fatal("two renderings of the same month differ")
	}
	html := string(out[0])
	os.WriteFile(filepath.Join(artifactDir(t), "golden.html"), out[0], 0o644)
	for _, want := range []string{
		"Security posture report — east — October 2026", "1. Executive summary", "2. Alerts", "3. Response",
		"4. Threats", "5. Availability", "6. Capacity", "7. Hygiene", "8. Notable incidents", "Appendix: definitions",
		"<svg", "https://noc.example/console#/alert/2", "1.14 kbit/s", "Generated 2026-11-01 06:00 CET",
		"15 Oct 02:00 – 16 Oct 02:00 (24h00m)", "Posture score", "400.00 Mbit/s",
	} {
		if !strings.Contains(html, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	for _, bad := range []string{"<script", "http://", "src=", "@import", "url("} {
		if strings.Contains(html, bad) {
			t.Errorf("HTML is not self-contained: has %q", bad)
		}
	}
}
