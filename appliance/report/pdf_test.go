package report

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/watchfloor/watchfloor/internal/testpeer"
)

// renderPages turns a PDF into one PNG per page with poppler's pdftoppm, checks that every
// page has ink on it, and keeps the PNGs in dir (named prefix-N.png).
func renderPages(t *testing.T, pdf []byte, dir, prefix string) []string {
	t.Helper()
	bin := testpeer.Program(t, "pdftoppm")
	src := filepath.Join(t.TempDir(), prefix+".pdf")
	if err := os.WriteFile(src, pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-png", "-r", "60", src, filepath.Join(dir, prefix)).CombinedOutput()
	if err != nil {
		t.Fatalf("pdftoppm: %v: %s", err, out)
	}
	pages, _ := filepath.Glob(filepath.Join(dir, prefix+"-*.png"))
	if len(pages) == 0 {
		t.Fatal("pdftoppm made no pages")
	}
	for _, p := range pages {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		ink, b := 0, img.Bounds()
		for y := b.Min.Y; y < b.Max.Y; y += 2 {
			for x := b.Min.X; x < b.Max.X; x += 2 {
				if r, g, bb, _ := img.At(x, y).RGBA(); r < 0xe000 || g < 0xe000 || bb < 0xe000 {
					ink++
				}
			}
		}
		if ink < 200 {
			t.Errorf("%s is (nearly) empty: %d dark pixels sampled", p, ink)
		}
	}
	t.Logf("%d pages rendered into %s", len(pages), dir)
	return pages
}

// The PDF of the golden month: the same bytes twice, and pages that pdftoppm renders with
// something on each.
func TestPDFPages(t *testing.T) {
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
		if err := WritePDF(&b, r); err != nil {
			t.Fatal(err)
		}
		out[i] = b.Bytes()
	}
	if !bytes.Equal(out[0], out[1]) {
		t.Fatal("two PDFs of the same month differ")
	}
	if !bytes.HasPrefix(out[0], []byte("%PDF-")) {
		t.Fatal("not a PDF")
	}
	dir := artifactDir(t)
	os.WriteFile(filepath.Join(dir, "golden.pdf"), out[0], 0o644)
	pages := renderPages(t, out[0], dir, "golden")
	if len(pages) < 4 {
		t.Errorf("%d pages, want the eight sections and the appendix on at least 4", len(pages))
	}
}
