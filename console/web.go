package console

import (
	"embed"
	"io/fs"
	"net/http"
	"os"
	"strings"
)

//go:embed web
var embedded embed.FS

// WebDirEnv names the environment variable that, when set, makes the console serve the web
// UI from that directory instead of the embedded copy (for editing the pages live).
const WebDirEnv = "WATCHFLOOR_WEB_DIR"

// webFS returns the files of the web UI: the directory named by WATCHFLOOR_WEB_DIR when set,
// else the embedded console/web.
func (c *Console) webFS() fs.FS {
	if dir := os.Getenv(WebDirEnv); dir != "" {
		c.log.Info("serving the web UI from disk", "dir", dir)
		return os.DirFS(dir)
	}
	sub, err := fs.Sub(embedded, "web")
	if err != nil {
		panic(err) // the embedded tree always has web/
	}
	return sub
}

// contentSecurityPolicy allows the wall its own scripts, styles and WebSocket only.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// webRoutes serves the wall page and its assets. They carry no data, so they need no token.
func (c *Console) webRoutes(mux *http.ServeMux) {
	files := c.webFS()
	static := http.FileServerFS(files)
	headers := func(h http.Header) {
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer") // the first URL may carry ?token=
		h.Set("Cache-Control", "no-cache")
	}
	mux.HandleFunc("GET /wall", func(w http.ResponseWriter, r *http.Request) {
		headers(w.Header())
		http.ServeFileFS(w, r, files, "wall.html")
	})
	mux.HandleFunc("GET /assets/", func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") { // no directory listings
			http.NotFound(w, r)
			return
		}
		headers(w.Header())
		http.StripPrefix("/assets", static).ServeHTTP(w, r)
	})
}
