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

// secure sets the security headers on every answer, API and pages alike: the CSP (no
// inline script or style, no framing), nosniff, no referrer (a wall's first URL may carry
// ?token=), X-Frame-Options for old browsers, and HSTS over TLS. A handler may set its
// own Cache-Control.
func (c *Console) secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", hstsHeader)
		}
		next.ServeHTTP(w, r)
	})
}

// webRoutes serves the wall and login pages and their assets. They carry no data, so they
// need no token: a page asks /api/v1/session and goes to /login when it answers 401.
func (c *Console) webRoutes(mux *http.ServeMux) {
	files := c.webFS()
	static := http.FileServerFS(files)
	headers := func(h http.Header) {
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer") // the first URL may carry ?token=
		h.Set("Cache-Control", "no-cache")
	}
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		headers(w.Header())
		http.ServeFileFS(w, r, files, "login.html")
	})
	mux.HandleFunc("GET /wall", func(w http.ResponseWriter, r *http.Request) {
		headers(w.Header())
		http.ServeFileFS(w, r, files, "wall.html")
	})
	mux.HandleFunc("GET /console", func(w http.ResponseWriter, r *http.Request) {
		headers(w.Header())
		http.ServeFileFS(w, r, files, "console.html")
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
