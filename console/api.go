package console

import (
	"bufio"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/watchfloor/watchfloor"
)

// routes builds the console's handler. Static pages, /healthz, /metrics and the login are
// open; every other /api path needs a token or a login session (authenticate, login.go),
// except that an alert's ack also takes a signed link (acklink.go). Every answer carries
// the security headers (secure, web.go).
func (c *Console) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", c.healthz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(c.deps.Gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/wall", http.StatusFound)
	})
	c.webRoutes(mux)

	api := func(pattern string, min Role, h http.HandlerFunc) { c.handle(mux, pattern, min, false, h) }
	api("GET /api/v1/devices", RoleViewer, c.getDevices)
	api("GET /api/v1/devices/{name}", RoleViewer, c.getDevice)
	api("GET /api/v1/devices/{name}/series", RoleViewer, c.getSeries)
	api("GET /api/v1/events", RoleViewer, c.getEvents)
	api("GET /api/v1/topology", RoleViewer, c.getTopology)
	api("GET /api/v1/backup", RoleAdmin, c.getBackup)
	api("GET /api/v1/flows/top", RoleViewer, c.getFlowsTop)
	api("GET /api/v1/observations", RoleViewer, c.getObservations)
	api("GET /api/v1/alerts", RoleViewer, c.getAlerts)
	api("GET /api/v1/alerts/{id}", RoleViewer, c.getAlert)
	c.ackRoutes(mux) // POST …/ack: an analyst, or a signed link; GET …/ack: a signed link's page
	api("POST /api/v1/alerts/{id}/resolve", RoleAnalyst, c.alertAction("resolve", Alerts.Resolve))
	api("POST /api/v1/alerts/{id}/assign", RoleAnalyst, c.postAssign)
	api("POST /api/v1/alerts/{id}/comment", RoleAnalyst, c.postComment)
	api("GET /api/v1/alerts/{id}/history", RoleViewer, c.getHistory)
	api("GET /api/v1/audit", RoleAdmin, c.getAudit)
	api("GET /api/v1/silences", RoleViewer, c.getSilences)
	api("POST /api/v1/silences", RoleAnalyst, c.postSilence)
	api("DELETE /api/v1/silences/{id}", RoleAnalyst, c.deleteSilence)
	api("GET /api/v1/rules", RoleViewer, c.getRules)
	api("GET /api/v1/notifications", RoleViewer, c.getNotifications)
	api("GET /api/v1/incidents", RoleViewer, c.getIncidents)
	api("GET /api/v1/incidents/stats", RoleViewer, c.getIncidentStats)
	reports := &reportGen{} // one generation at a time (reports.go)
	api("GET /api/v1/reports", RoleViewer, c.getReports(reports))
	api("POST /api/v1/reports", RoleAnalyst, c.postReport(reports))
	api("GET /api/v1/reports/{id}/pdf", RoleViewer, c.getReportFile("pdf"))
	api("GET /api/v1/reports/{id}/html", RoleViewer, c.getReportFile("html"))
	api("GET /api/v1/sites", RoleViewer, c.getSites) // central's appliances (sites.go)
	c.handle(mux, "GET /api/v1/stream", RoleViewer, true, c.stream)
	c.authRoutes(mux) // login, logout, session, users, tokens (login.go)
	api("/api/", RoleViewer, func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint")
	})
	return c.instrument(c.secure(mux))
}

func (c *Console) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := c.deps.Health(); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, err.Error())
		return
	}
	io.WriteString(w, "ok\n")
}

func (c *Console) getDevices(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, struct {
		Site    string              `json:"site"`
		Devices []watchfloor.Device `json:"devices"`
	}{c.deps.Site, c.hub.deviceList()})
}

func (c *Console) getDevice(w http.ResponseWriter, r *http.Request) {
	d, ok := c.hub.device(r.PathValue("name"))
	if !ok {
		writeError(w, http.StatusNotFound, "unknown device")
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (c *Console) getSeries(w http.ResponseWriter, r *http.Request) {
	d, ok := c.hub.device(r.PathValue("name"))
	if !ok {
		writeError(w, http.StatusNotFound, "unknown device")
		return
	}
	q := r.URL.Query()
	sq := watchfloor.SeriesQuery{Device: d.Name}
	var err error
	if sq.Metric, err = parseMetric(q.Get("metric")); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if sq.From, sq.To, err = timeRange(q, c.now()); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if sq.Step, err = parseStep(q.Get("step")); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if s := q.Get("interface"); s != "" {
		i, ok := findInterface(d, s)
		if !ok {
			writeError(w, http.StatusNotFound, fmt.Sprintf("device %s has no interface %q", d.Name, truncate(s)))
			return
		}
		sq.IfIndex = i.Index
	}
	series, err := c.deps.Store.Series(sq)
	if err != nil {
		c.log.Error("read series", "device", sq.Device, "metric", sq.Metric, "err", err)
		writeError(w, http.StatusInternalServerError, "cannot read the series")
		return
	}
	series.Points = nonNil(series.Points)
	writeJSON(w, http.StatusOK, series)
}

func (c *Console) getEvents(w http.ResponseWriter, r *http.Request) {
	eq, err := eventQuery(r.URL.Query(), c.now())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	evs, err := c.deps.Store.Events(eq)
	if err != nil {
		c.log.Error("read events", "err", err)
		writeError(w, http.StatusInternalServerError, "cannot read events")
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Events []watchfloor.Event `json:"events"`
	}{nonNil(evs)})
}

// topologyDevice is a node of /api/v1/topology.
type topologyDevice struct {
	Name   string                  `json:"name"`
	Role   string                  `json:"role,omitempty"`
	Status watchfloor.DeviceStatus `json:"status"`
}

func (c *Console) getTopology(w http.ResponseWriter, r *http.Request) {
	links, devices := c.hub.topology()
	nodes := make([]topologyDevice, len(devices))
	for i, d := range devices {
		nodes[i] = topologyDevice{d.Name, d.Role, d.Status}
	}
	writeJSON(w, http.StatusOK, struct {
		Links   []watchfloor.Link `json:"links"`
		Devices []topologyDevice  `json:"devices"`
	}{nonNil(links), nodes})
}

// backupWriteWait bounds each write of a backup, so a stalled client cannot hold the store's
// read transaction forever while a large backup still may take as long as it needs.
const backupWriteWait = 30 * time.Second

func (c *Console) getBackup(w http.ResponseWriter, r *http.Request) {
	name := fmt.Sprintf("watchfloor-%s-%s.db", safeName(c.deps.Site), c.now().UTC().Format("20060102T150405Z"))
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Cache-Control", "no-store")
	bw := &deadlineWriter{w: w, rc: http.NewResponseController(w)}
	n, err := c.deps.Store.Backup(bw)
	if err == nil {
		c.log.Info("backup sent", "bytes", n)
		return
	}
	c.log.Error("backup", "bytes", n, "err", err)
	if !bw.wrote {
		w.Header().Del("Content-Disposition")
		writeError(w, http.StatusInternalServerError, "backup failed")
		return
	}
	// Part of it is on the wire: break the connection so the client cannot take a truncated
	// file for a whole one.
	panic(http.ErrAbortHandler)
}

// deadlineWriter extends the response's write deadline before every write.
type deadlineWriter struct {
	w     io.Writer
	rc    *http.ResponseController
	wrote bool
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	d.rc.SetWriteDeadline(time.Now().Add(backupWriteWait))
	d.wrote = true
	return d.w.Write(p)
}

// safeName keeps letters, digits, '-' and '_' of s for a file name.
func safeName(s string) string {
	b := []byte(s)
	out := b[:0]
	for _, c := range b {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return "site"
	}
	return string(out)
}

var upgrader = websocket.Upgrader{
	ReadBufferSize:   1024,
	WriteBufferSize:  16 << 10,
	HandshakeTimeout: 10 * time.Second,
	CheckOrigin:      func(*http.Request) bool { return true }, // checked before Upgrade
}

// stream upgrades to the WebSocket of the wall.
func (c *Console) stream(w http.ResponseWriter, r *http.Request) {
	if !c.originAllowed(r) {
		writeError(w, http.StatusForbidden, "origin not allowed")
		return
	}
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has answered the client
	}
	c.hub.serve(conn)
}

// originAllowed admits requests without an Origin (not from a browser), from the host the
// request was sent to, and from the configured allowed origins.
func (c *Console) originAllowed(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	n, err := normalizeOrigin(o)
	return err == nil && c.origins[n]
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":"cannot encode the answer"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, struct {
		Error string `json:"error"`
	}{msg})
}

// instrument counts requests by status code. An upgraded WebSocket counts as 101 when it
// is upgraded, not when it ends.
func (c *Console) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, count: func(code int) {
			c.m.httpReqs.WithLabelValues(strconv.Itoa(code)).Inc()
		}}
		defer func() {
			if !rec.hijacked {
				rec.count(cmp.Or(rec.code, http.StatusOK))
			}
		}()
		next.ServeHTTP(rec, r)
	})
}

// statusRecorder remembers the status code; it keeps Flush and Hijack reachable (the
// WebSocket upgrade needs http.Hijacker on the writer itself).
type statusRecorder struct {
	http.ResponseWriter
	code     int
	hijacked bool
	count    func(code int)
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(p []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(p)
}

func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := s.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("console: response cannot be hijacked")
	}
	conn, rw, err := h.Hijack()
	if err == nil {
		s.hijacked = true
		s.count(http.StatusSwitchingProtocols)
	}
	return conn, rw, err
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
