package console

import (
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var (
	refAttr = regexp.MustCompile(`(?i)\s(?:src|href)\s*=\s*["']([^"']+)["']`)
	cssURL  = regexp.MustCompile(`url\(\s*["']?([^"')]+)["']?\s*\)`)
)

// Every src and href of the embedded pages, and every url() of their styles, resolves to a
// file the console serves (Alertmanager's ui/web_test.go, over HTTP so routes count too).
func TestEmbeddedReferencesResolve(t *testing.T) {
	c, srv, _ := newTestServer(t, Config{}, testStore())
	files := c.webFS()
	pages := map[string]string{"wall.html": "/wall", "login.html": "/login", "console.html": "/console"} // file → the path it is served at
	checked := 0
	err := fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(files, p)
		if err != nil {
			return err
		}
		var refs [][]string
		var base string
		switch {
		case strings.HasSuffix(p, ".html"):
			refs, base = refAttr.FindAllStringSubmatch(string(b), -1), pages[p]
			if base == "" {
				t.Errorf("page %s is not served at a known path", p)
				return nil
			}
		case strings.HasSuffix(p, ".css"):
			refs, base = cssURL.FindAllStringSubmatch(string(b), -1), "/assets/"+p
		default:
			return nil
		}
		for _, m := range refs {
			ref := m[1]
			if strings.HasPrefix(ref, "data:") || strings.HasPrefix(ref, "#") {
				continue
			}
			u, err := url.Parse(ref)
			if err != nil || u.Host != "" || u.Scheme != "" {
				t.Errorf("%s: %q is not a local reference (the wall works offline)", p, ref)
				continue
			}
			target := (&url.URL{Path: base}).ResolveReference(u).Path
			resp, _ := get(t, srv.URL+target, "")
			if resp.StatusCode != http.StatusOK {
				t.Errorf("%s: %q (%s) answers %d", p, ref, target, resp.StatusCode)
			}
			checked++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 4 {
		t.Errorf("only %d references checked", checked)
	}
	// The wall's script and styles come with headers that keep the token from leaking.
	resp, _ := get(t, srv.URL+"/wall", "")
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self'") {
		t.Errorf("CSP %q", csp)
	}
	if rp := resp.Header.Get("Referrer-Policy"); rp != "no-referrer" {
		t.Errorf("Referrer-Policy %q", rp)
	}
	if resp, _ := get(t, srv.URL+"/assets/", ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("directory listing: %d", resp.StatusCode)
	}
	if resp, _ := get(t, srv.URL+"/assets/../console.go", ""); resp.StatusCode == http.StatusOK {
		t.Error("escaped the web directory")
	}
}

// WATCHFLOOR_WEB_DIR serves the pages from disk.
func TestWebDirFromDisk(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "wall.html"), []byte("<p>from disk</p>"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(WebDirEnv, dir)
	_, srv, _ := newTestServer(t, Config{}, testStore())
	if _, body := get(t, srv.URL+"/wall", ""); string(body) != "<p>from disk</p>" {
		t.Errorf("/wall = %q", body)
	}
}
