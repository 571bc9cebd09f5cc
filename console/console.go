// Package console is the command center's face: the HTTP API, the WebSocket stream that
// keeps video walls live, and the embedded wall page.
//
// The console only reads state and streams changes. The appliance primes it from the store
// (New), then tells it what changed (PublishDevice, PublishEvents, PublishStats,
// PublishFlows, PublishFlowsLive, PublishAlert). The hub
// keeps the current state in memory, sends each new WebSocket client a snapshot, and then
// every change, encoded once and shared by all clients. Publishing never waits for a client:
// one whose send queue is full is dropped and counted.
package console

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/console/users"
)

// Store is what the console reads from the appliance's store.
type Store interface {
	Devices() ([]watchfloor.Device, error)
	Events(q watchfloor.EventQuery) ([]watchfloor.Event, error)
	Series(q watchfloor.SeriesQuery) (watchfloor.Series, error)
	Backup(w io.Writer) (int64, error)
	// FlowTop ranks the keys of one flow dimension over a range, best first by q.OrderBy,
	// at most q.Limit of them.
	FlowTop(q watchfloor.FlowTopQuery) ([]watchfloor.FlowRow, error)
}

// Deps are the parts the console is built from.
type Deps struct {
	Store      Store
	Token      watchfloor.Secret // bearer token of the API and the stream; required
	Site       string
	Log        *slog.Logger          // nil: discard
	Gatherer   prometheus.Gatherer   // what /metrics serves; nil: Registerer when it is a Gatherer
	Registerer prometheus.Registerer // where the console's metrics go; nil: a private registry
	Health     func() error          // /healthz; nil: always healthy
	// Observations are the recent packet observations of /api/v1/observations (usually an
	// ObsRing); nil when there is no packet capture. When it is a prometheus.Collector (an
	// ObsRing is), the console registers it on Registerer.
	Observations Observations
	// Alerts is the correlator's alert state, Rules its loaded rules; nil when there is no
	// correlator (their endpoints answer 404). New primes the stream with the open alerts;
	// the appliance then calls PublishAlert on every change.
	Alerts Alerts
	Rules  Rules
	// Notifications is the on-call pipeline's log, incidents and response times; nil when
	// there is no notification pipeline (its endpoints answer 404).
	Notifications Notifications
	// AckKey signs the acknowledgement links in pages (AckSigner): at least 32 bytes, the
	// same across restarts so that links sent before one still work. Empty: no links, and
	// the signed acknowledgement endpoints answer 403.
	AckKey watchfloor.Secret
	// Reports are the monthly posture reports: listed, downloaded and made on demand
	// (reports.go); nil: none (their endpoints answer 404).
	Reports Reports
	// Audit keeps every analyst and admin action (nil: not kept).
	Audit Audit
	// Users are the local users and their API tokens (users.Open on the data directory);
	// nil: no logins, only Token. Sessions are kept beside the users file.
	Users *users.Store
	// DataDir is where a self-signed certificate is made (config tls.self_signed).
	DataDir string
	// Sites is central's view of its appliances (sites.go): GET /api/v1/sites, the wall's
	// sites panel, and a sites message on the stream every 5 s while Run runs. Nil on an
	// appliance (the endpoint answers 404, the wall shows no sites panel).
	Sites Sites
}

// Console serves the API, the stream and the wall.
type Console struct {
	cfg     Config
	deps    Deps
	log     *slog.Logger
	m       *metrics
	hub     *hub
	origins map[string]bool
	handler http.Handler
	now     func() time.Time
	ack     ackLinks
	auth    authState

	mu sync.Mutex
	ln net.Listener
}

// Shutdown timing of Run.
const shutdownTimeout = 5 * time.Second

// Initial snapshot: the last events of this window are loaded from the store.
const (
	primeWindow   = 24 * time.Hour
	primePageSize = 1000
	primeMaxPages = 1000
)

// New builds the console and loads the current devices and the last events from the store.
func New(cfg Config, deps Deps) (*Console, error) { return newConsole(cfg, deps, time.Now) }

// newConsole is New with a clock.
func newConsole(cfg Config, deps Deps, now func() time.Time) (*Console, error) {
	cfg = cfg.withDefaults()
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("console: config: %w", errors.Join(fieldErrs(errs)...))
	}
	if deps.Store == nil {
		return nil, errors.New("console: no store")
	}
	if deps.Token.Reveal() == "" {
		return nil, errors.New("console: no API token")
	}
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	if deps.Registerer == nil {
		reg := prometheus.NewRegistry()
		deps.Registerer = reg
		if deps.Gatherer == nil {
			deps.Gatherer = reg
		}
	}
	if deps.Gatherer == nil {
		if g, ok := deps.Registerer.(prometheus.Gatherer); ok {
			deps.Gatherer = g
		} else {
			deps.Gatherer = prometheus.NewRegistry()
		}
	}
	if deps.Health == nil {
		deps.Health = func() error { return nil }
	}
	m, err := newMetrics(deps.Registerer)
	if err != nil {
		return nil, err
	}
	if r, ok := deps.Observations.(*ObsRing); ok && r == nil {
		deps.Observations = nil // a nil *ObsRing is no capture, not a ring to call
	}
	if col, ok := deps.Observations.(prometheus.Collector); ok {
		if err := deps.Registerer.Register(col); err != nil {
			return nil, fmt.Errorf("console: register observation metrics: %w", err)
		}
	}
	log := deps.Log.With("component", "console")
	c := &Console{
		cfg: cfg, deps: deps, log: log, m: m, now: now,
		hub:     newHub(deps.Site, cfg.SendQueue, cfg.StaleAfter, m, log),
		origins: make(map[string]bool),
	}
	if err := c.initAckLinks(); err != nil {
		return nil, err
	}
	if err := c.initAuth(); err != nil {
		return nil, err
	}
	for _, o := range cfg.AllowedOrigins {
		n, _ := normalizeOrigin(o) // validated above
		c.origins[n] = true
	}
	devices, err := deps.Store.Devices()
	if err != nil {
		return nil, fmt.Errorf("console: load devices: %w", err)
	}
	events, err := c.lastEvents()
	if err != nil {
		return nil, fmt.Errorf("console: load events: %w", err)
	}
	c.hub.now = now
	c.hub.prime(devices, events)
	if deps.Alerts != nil {
		c.hub.primeAlerts(deps.Alerts.List(AlertQuery{State: StateOpen, Limit: maxHubAlerts}))
	}
	c.publishSites() // the first snapshot has the sites; Run refreshes them
	c.handler = c.routes()
	return c, nil
}

// lastEvents pages through the events of the last primeWindow and keeps the newest.
func (c *Console) lastEvents() ([]watchfloor.Event, error) {
	q := watchfloor.EventQuery{Since: c.now().Add(-primeWindow), Limit: primePageSize}
	var keep []watchfloor.Event
	for range primeMaxPages {
		page, err := c.deps.Store.Events(q)
		if err != nil {
			return nil, err
		}
		keep = trimEvents(append(keep, page...))
		if len(page) < primePageSize || page[len(page)-1].ID <= q.AfterID {
			break
		}
		q.AfterID = page[len(page)-1].ID
	}
	return keep, nil
}

func fieldErrs(errs []FieldError) []error {
	out := make([]error, len(errs))
	for i, e := range errs {
		out[i] = e
	}
	return out
}

// PublishDevice records the state of a device after a poll and streams it to the walls.
// It never blocks on a client.
func (c *Console) PublishDevice(d watchfloor.Device) { c.hub.publishDevice(d) }

// PublishEvents streams events once they are committed (their IDs set). It never blocks on
// a client.
func (c *Console) PublishEvents(evs []watchfloor.Event) { c.hub.publishEvents(evs) }

// PublishAlert streams a change of an alert (new, updated, acknowledged, silenced,
// suppressed, resolved) to the walls; call it on every change, in the order of the changes.
// The hub keeps the open ones for the snapshot of new clients and forgets resolved ones. It
// never blocks on a client.
func (c *Console) PublishAlert(a watchfloor.Alert) { c.hub.publishAlert(a) }

// PublishStats streams the appliance's ingest and packet capture counters; call it every
// few seconds. The console derives the rates from the previous call.
func (c *Console) PublishStats(s Stats) { c.hub.publishStats(s) }

// Handler returns the console's HTTP handler, for tests and for embedding in another server.
func (c *Console) Handler() http.Handler { return c.handler }

// Listen binds cfg.Listen. Calling it before Run is optional; it lets the caller learn the
// address (Addr) and report a busy port before anything else starts. Run binds the address
// itself when Listen was not called.
func (c *Console) Listen() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ln != nil {
		return nil
	}
	ln, err := net.Listen("tcp", c.cfg.Listen)
	if err != nil {
		return fmt.Errorf("console: listen: %w", err)
	}
	if c.auth.tls != nil {
		ln = tls.NewListener(ln, c.auth.tls)
	}
	c.ln = ln
	return nil
}

// Addr is the bound address once Listen (or Run) has bound it, else nil.
func (c *Console) Addr() net.Addr {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ln == nil {
		return nil
	}
	return c.ln.Addr()
}

// Run serves HTTP (HTTPS when cfg.TLS says so) on cfg.Listen until ctx is done, then closes every WebSocket client with
// a close frame, shuts the server down gracefully and returns nil. It returns an error
// when it cannot listen or serving fails.
func (c *Console) Run(ctx context.Context) error {
	if err := c.Listen(); err != nil {
		return err
	}
	c.mu.Lock()
	ln := c.ln
	c.mu.Unlock()
	srv := &http.Server{
		Handler:           c.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second, // the stream and backup manage their own deadlines
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(c.log.Handler(), slog.LevelDebug),
	}
	c.log.Info("serving", "addr", ln.Addr().String(), "tls", c.auth.tls != nil)
	authCtx, stopAuth := context.WithCancel(context.WithoutCancel(ctx))
	authDone := make(chan struct{})
	go func() { defer close(authDone); c.authLoop(authCtx) }()
	defer func() { stopAuth(); <-authDone }() // a last write of sessions and token use
	if c.deps.Sites != nil {
		sitesCtx, stopSites := context.WithCancel(ctx)
		sitesDone := make(chan struct{})
		go func() { defer close(sitesDone); c.sitesLoop(sitesCtx, sitesEvery) }()
		defer func() { stopSites(); <-sitesDone }()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		c.hub.close(shutdownTimeout)
		return fmt.Errorf("console: serve: %w", err)
	case <-ctx.Done():
	}
	// The stream's connections are hijacked, so Shutdown does not wait for them: the hub
	// says goodbye to them itself.
	c.hub.close(shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		c.log.Warn("shutdown", "err", err)
		srv.Close()
	}
	<-errc
	return nil
}
