package central

import (
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/appliance/uplink"
	"github.com/watchfloor/watchfloor/internal/ratelog"
)

// Server is one embedded NATS server with JetStream: central's own, or one node of a
// cluster of centrals. It authenticates every client itself (Auth): an appliance by its
// client certificate or its user and password, allowed to publish only under its own
// subjects; central's own client by the internal credentials.
type Server struct {
	cfg  ServerConfig
	ns   *server.Server
	auth *Auth
	log  *slog.Logger
}

// NewServer starts the server and waits until it accepts clients and JetStream is ready.
// storeDir is resolved against dataDir when relative. reg may be nil.
func NewServer(cfg ServerConfig, dataDir string, log *slog.Logger, reg prometheus.Registerer) (*Server, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("central: server: invalid config: %w", joinFieldErrors(errs))
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "central.nats")
	if cfg.Internal.User == "" {
		var b [18]byte
		_, _ = rand.Read(b[:])
		cfg.Internal = Credentials{User: "watchfloor-central", Password: watchfloor.Secret(hex.EncodeToString(b[:]))}
	}
	auth, err := NewAuth(cfg.Sites, cfg.Internal, log, reg)
	if err != nil {
		return nil, err
	}
	host, portStr, _ := net.SplitHostPort(cfg.Listen)
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("central: server: listen %q: %w", cfg.Listen, err)
	}
	dir := cfg.StoreDir
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(dataDir, dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("central: server: %w", err)
	}
	opts := &server.Options{
		ServerName:                 cfg.Name,
		Host:                       host,
		Port:                       port,
		JetStream:                  true,
		StoreDir:                   dir,
		JetStreamMaxMemory:         cfg.MaxMemory,
		JetStreamMaxStore:          cfg.MaxStore,
		CustomClientAuthentication: auth,
		NoSigs:                     true, // the appliance owns the signals
		MaxPayload:                 2 << 20,
		AuthTimeout:                5,
	}
	if cfg.TLS.CertFile != "" {
		tc, err := auth.serverTLS(cfg.TLS)
		if err != nil {
			return nil, fmt.Errorf("central: server: %w", err)
		}
		opts.TLSConfig, opts.TLS = tc, true
		opts.TLSVerify = cfg.TLS.CAFile != ""
		opts.TLSTimeout = 5
	}
	if cfg.Cluster.Listen != "" {
		ch, cp, _ := net.SplitHostPort(cfg.Cluster.Listen)
		p, err := strconv.Atoi(cp)
		if err != nil {
			return nil, fmt.Errorf("central: server: cluster.listen %q: %w", cfg.Cluster.Listen, err)
		}
		opts.Cluster = server.ClusterOpts{Name: cfg.Cluster.Name, Host: ch, Port: p}
		for _, r := range cfg.Cluster.Routes {
			u, err := url.Parse(r)
			if err != nil {
				return nil, fmt.Errorf("central: server: cluster.routes: %q: %w", r, err)
			}
			opts.Routes = append(opts.Routes, u)
		}
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("central: server: %w", err)
	}
	ns.SetLoggerV2(&natsLog{log: log, auth: auth}, false, false, false)
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("central: server: not ready for connections within 10s")
	}
	log.Info("NATS server started", "client_url", ns.ClientURL(), "jetstream", dir, "cluster", cfg.Cluster.Name)
	return &Server{cfg: cfg, ns: ns, auth: auth, log: log}, nil
}

// ClientURL is the URL clients reach the server at.
func (s *Server) ClientURL() string { return s.ns.ClientURL() }

// ClusterAddr is the address of the cluster listener, nil without one.
func (s *Server) ClusterAddr() net.Addr { return s.ns.ClusterAddr() }

// NATS is the server itself, for in-process connections (nats.InProcessServer).
func (s *Server) NATS() *server.Server { return s.ns }

// Internal is the credentials of central's own client.
func (s *Server) Internal() Credentials { return s.cfg.Internal }

// Auth is the server's authenticator (its refusals, for the wall).
func (s *Server) Auth() *Auth { return s.auth }

// Shutdown stops the server and waits for it; JetStream's files stay.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
	s.auth.unregister()
	s.log.Info("NATS server stopped")
}

// natsLog routes nats-server's log to slog. Its lines are not on a hot path.
type natsLog struct {
	log  *slog.Logger
	auth *Auth
}

func (l *natsLog) Noticef(f string, v ...any) { l.log.Info(fmt.Sprintf(f, v...)) }
func (l *natsLog) Warnf(f string, v ...any)   { l.log.Warn(fmt.Sprintf(f, v...)) }
func (l *natsLog) Fatalf(f string, v ...any)  { l.log.Error(fmt.Sprintf(f, v...)) }
func (l *natsLog) Debugf(string, ...any)      {}
func (l *natsLog) Tracef(string, ...any)      {}
func (l *natsLog) Errorf(f string, v ...any) {
	msg := fmt.Sprintf(f, v...)
	// A client whose TLS handshake fails before the certificate could be checked (no
	// certificate, an expired one, a protocol mismatch) is a refusal too.
	if strings.Contains(msg, "TLS handshake error") {
		if strings.Contains(msg, errRefusedCert.Error()) {
			return // counted and logged by VerifyPeerCertificate, naming the certificate
		}
		l.auth.refuse("tls_handshake", "", remoteOf(msg), msg)
		return
	}
	l.log.Error(msg)
}

// Auth decides who may connect, and counts and logs whom it refuses. It implements
// nats-server's custom client authentication.
type Auth struct {
	bySite   map[string]*Site
	byUser   map[string]*Site
	internal Credentials
	log      *slog.Logger
	rlog     *ratelog.Log
	reg      prometheus.Registerer
	refused  *prometheus.CounterVec // reason
	accepted prometheus.Counter

	mu     sync.Mutex
	recent [maxRecentRefusals]Refusal // a ring: the last ones
	nrec   int                        // refusals ever put in recent
	totals map[string]uint64
}

// maxRecentRefusals is how many refusals Recent remembers.
const maxRecentRefusals = 64

// Refusal is one connection the server refused.
type Refusal struct {
	Time   time.Time
	Reason string // a label of watchfloor_central_refused_connections_total
	Who    string // the certificate (subject, DNS names, serial) or "user NAME"; "" when unknown
	Remote string // the client's address, when known
}

var _ server.Authentication = (*Auth)(nil)

// Refusal reasons, the labels of watchfloor_central_refused_connections_total.
var refusalReasons = []string{"unknown_certificate", "bad_certificate", "unknown_user", "bad_password",
	"no_credentials", "tls_handshake"}

// NewAuth returns the authenticator of sites and central's internal user; reg may be nil.
func NewAuth(sites []Site, internal Credentials, log *slog.Logger, reg prometheus.Registerer) (*Auth, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &Auth{
		bySite: map[string]*Site{}, byUser: map[string]*Site{}, internal: internal, totals: map[string]uint64{},
		log: log, rlog: ratelog.New(log, len(refusalReasons)), reg: reg,
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchfloor_central_refused_connections_total",
			Help: "Connections to central's NATS server refused, by reason: an unknown appliance, a bad credential, a failed TLS handshake.",
		}, []string{"reason"}),
		accepted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "watchfloor_central_accepted_connections_total",
			Help: "Connections of appliances (and central's own client) accepted.",
		}),
	}
	for i := range sites {
		s := &sites[i]
		a.bySite[s.Name] = s
		if s.User != "" {
			a.byUser[s.User] = s
		}
	}
	for _, r := range refusalReasons {
		a.refused.WithLabelValues(r)
	}
	if reg != nil {
		if err := reg.Register(a.refused); err != nil {
			return nil, fmt.Errorf("central: register metrics: %w", err)
		}
		if err := reg.Register(a.accepted); err != nil {
			reg.Unregister(a.refused)
			return nil, fmt.Errorf("central: register metrics: %w", err)
		}
	}
	return a, nil
}

func (a *Auth) unregister() {
	if a.reg != nil {
		a.reg.Unregister(a.refused)
		a.reg.Unregister(a.accepted)
	}
}

// Refused is the number of connections refused for reason.
func (a *Auth) Refused(reason string) float64 {
	return counterValue(a.refused.WithLabelValues(reason))
}

// Recent returns the last refusals (at most 64), oldest first.
func (a *Auth) Recent() []Refusal {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := min(a.nrec, maxRecentRefusals)
	out := make([]Refusal, 0, n)
	for i := a.nrec - n; i < a.nrec; i++ {
		out = append(out, a.recent[i%maxRecentRefusals])
	}
	return out
}

// Totals returns the refusals since the server started, by reason.
func (a *Auth) Totals() map[string]uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return maps.Clone(a.totals)
}

// refuse counts a refusal, remembers it, and logs it, naming who (never a password).
func (a *Auth) refuse(reason, who, remote, detail string, args ...any) {
	i := 0
	for j, r := range refusalReasons {
		if r == reason {
			i = j
		}
	}
	a.refused.WithLabelValues(reason).Inc()
	a.mu.Lock()
	a.recent[a.nrec%maxRecentRefusals] = Refusal{Time: time.Now(), Reason: reason, Who: who, Remote: remote}
	a.nrec++
	a.totals[reason]++
	a.mu.Unlock()
	a.rlog.Warn(i, "appliance refused", append([]any{"reason", reason, "who", who, "remote", remote, "detail", detail}, args...)...)
}

// sitePermissions lets a site publish its own records (and its requests to central's
// distribution), receive its replies and PubAcks, and hear of new distributed versions;
// nothing else.
func sitePermissions(site string) *server.Permissions {
	return &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: []string{uplink.SiteSubjects(site)}},
		Subscribe: &server.SubjectPermission{Allow: []string{uplink.InboxPrefix(site) + ".>", uplink.DistNotifySubject(site)}},
	}
}

// Check authenticates a client: central's internal user, an appliance by certificate, or
// an appliance by user and password.
func (a *Auth) Check(c server.ClientAuthentication) bool {
	o := c.GetOpts()
	remote := ""
	if addr := c.RemoteAddress(); addr != nil {
		remote = addr.String()
	}
	if o.Username != "" && o.Username == a.internal.User {
		if subtle.ConstantTimeCompare([]byte(o.Password), []byte(a.internal.Password.Reveal())) != 1 {
			a.refuse("bad_password", "user "+o.Username, remote, "wrong password for central's internal user")
			return false
		}
		c.RegisterUser(&server.User{Username: o.Username})
		a.accepted.Inc()
		return true
	}
	if st := c.GetTLSConnectionState(); st != nil && len(st.PeerCertificates) > 0 {
		cert := st.PeerCertificates[0]
		who := certName(cert)
		for _, n := range append([]string{cert.Subject.CommonName}, cert.DNSNames...) {
			if s, ok := a.bySite[n]; ok {
				c.RegisterUser(&server.User{Username: "site:" + s.Name, Permissions: sitePermissions(s.Name)})
				a.accepted.Inc()
				return true
			}
		}
		a.refuse("unknown_certificate", who, remote, "the certificate names no configured site")
		return false
	}
	if o.Username == "" {
		a.refuse("no_credentials", "", remote, "neither a client certificate nor a user")
		return false
	}
	s, ok := a.byUser[o.Username]
	if !ok {
		// The same work as a known user, so that timing does not tell users apart.
		_ = bcrypt.CompareHashAndPassword(dummyHash, []byte(o.Password))
		a.refuse("unknown_user", "user "+o.Username, remote, "no site has this user")
		return false
	}
	if bcrypt.CompareHashAndPassword([]byte(s.PasswordHash), []byte(o.Password)) != nil {
		a.refuse("bad_password", "user "+o.Username, remote, "wrong password", "site", s.Name)
		return false
	}
	c.RegisterUser(&server.User{Username: "site:" + s.Name, Permissions: sitePermissions(s.Name)})
	a.accepted.Inc()
	return true
}

// remoteOf is the client address nats-server puts at the start of a client's log line
// ("127.0.0.1:5000 - cid:7 - …"), or "".
func remoteOf(msg string) string {
	addr, _, ok := strings.Cut(msg, " - ")
	if !ok {
		return ""
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return ""
	}
	return addr
}

// errRefusedCert marks a handshake failed by VerifyPeerCertificate, already counted.
var errRefusedCert = errors.New("watchfloor: client certificate refused")

var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("watchfloor"), bcrypt.MinCost)

// certName names a certificate in a log line: its subject, DNS names and serial.
func certName(c *x509.Certificate) string {
	s := "certificate " + c.Subject.String()
	if len(c.DNSNames) > 0 {
		s += " dns=" + strings.Join(c.DNSNames, ",")
	}
	return s + " serial=" + c.SerialNumber.Text(16)
}

// serverTLS is the server's TLS: its certificate, and with a CA, client certificates
// verified here (rather than by crypto/tls) so that a certificate from another CA is
// refused by name.
func (a *Auth) serverTLS(f TLSFiles) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tls.cert_file: %w", err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if f.CAFile == "" {
		return cfg, nil
	}
	pool, err := loadPool(f.CAFile)
	if err != nil {
		return nil, fmt.Errorf("tls.ca_file: %w", err)
	}
	// Any certificate is asked for; VerifyPeerCertificate checks it against the CA. A
	// client without one still gets through the handshake, to be refused (and named) by
	// Check, unless it is central's own in-process client.
	cfg.ClientAuth = tls.RequestClientCert
	verify := func(remote string) func([][]byte, [][]*x509.Certificate) error {
		return func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return nil
			}
			certs := make([]*x509.Certificate, 0, len(raw))
			for _, r := range raw {
				c, err := x509.ParseCertificate(r)
				if err != nil {
					a.refuse("bad_certificate", "", remote, "unparsable certificate: "+err.Error())
					return errRefusedCert
				}
				certs = append(certs, c)
			}
			inter := x509.NewCertPool()
			for _, c := range certs[1:] {
				inter.AddCert(c)
			}
			_, err := certs[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
			if err != nil {
				a.refuse("bad_certificate", certName(certs[0]), remote, err.Error())
				return fmt.Errorf("%w: %w", errRefusedCert, err)
			}
			return nil
		}
	}
	cfg.VerifyPeerCertificate = verify("")
	// Per connection, the same configuration with a check that knows the client's address.
	base := cfg.Clone()
	cfg.GetConfigForClient = func(hi *tls.ClientHelloInfo) (*tls.Config, error) {
		c := base.Clone()
		if hi.Conn != nil {
			c.VerifyPeerCertificate = verify(hi.Conn.RemoteAddr().String())
		}
		return c, nil
	}
	return cfg, nil
}
