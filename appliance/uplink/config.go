package uplink

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/appliance/store"
)

// Config is the appliance's uplink section.
type Config struct {
	// Site names this appliance at central: the subject token, and the name its client
	// certificate or user must carry there. [a-z0-9-]{1,63}.
	Site string `yaml:"site"`
	// URLs of central's NATS servers (nats:// or tls://); several for a cluster, tried in
	// turn.
	URLs []string `yaml:"urls"`
	// TLS: the CA that signed central's server certificate, and this appliance's client
	// certificate and key. With CertFile the appliance authenticates with its certificate.
	TLS TLSConfig `yaml:"tls"`
	// User and Password authenticate the appliance when it has no client certificate.
	User     string            `yaml:"user"`
	Password watchfloor.Secret `yaml:"password"`
	// Rate is the most records a second the uplink publishes, Burst the most at once
	// (a token bucket): a returning link drains the outbox at this pace, not at line rate.
	Rate  float64 `yaml:"rate"`
	Burst int     `yaml:"burst"`
	// Window is how many records may await central's acknowledgement at once.
	Window int `yaml:"window"`
	// AckTimeout is how long a record waits for its acknowledgement before it is sent
	// again (deduplicated at central by its message ID).
	AckTimeout time.Duration `yaml:"ack_timeout"`
	// ReconnectWait is the pause between connection attempts and after a failed window.
	ReconnectWait time.Duration `yaml:"reconnect_wait"`
	// Outbox bounds the outbox in the store.
	Outbox store.OutboxConfig `yaml:"outbox"`
	// HealthInterval is how often the appliance sends its health (Health). Central's wall
	// counts a site late after three intervals of 30 s without a record, so keep it at most 30s.
	HealthInterval time.Duration `yaml:"health_interval"`

	// Now is the clock of the outbox's age bound; nil: time.Now. Code, not configuration.
	Now func() time.Time `yaml:"-"`
}

// TLSConfig names PEM files.
type TLSConfig struct {
	CAFile   string `yaml:"ca_file"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// DefaultConfig returns the defaults; Site and URLs have none.
func DefaultConfig() Config {
	return Config{
		Rate:          2000,
		Burst:         500,
		Window:        512,
		AckTimeout:    5 * time.Second,
		ReconnectWait: 2 * time.Second,
		Outbox:        store.DefaultOutboxConfig(),

		HealthInterval: HealthEvery,
	}
}

// FieldError is one problem in the configuration, named by its YAML path relative to the
// uplink section.
type FieldError = store.FieldError

// Validate returns every problem of c.
func (c Config) Validate() []FieldError {
	var errs []FieldError
	bad := func(field, format string, args ...any) {
		errs = append(errs, FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if msg := CheckSite(c.Site); msg != "" {
		bad("site", "%s", msg)
	}
	if len(c.URLs) == 0 {
		bad("urls", "at least one URL of central is required")
	}
	for i, u := range c.URLs {
		p, err := url.Parse(u)
		if err != nil || p.Host == "" || (p.Scheme != "nats" && p.Scheme != "tls") {
			bad(fmt.Sprintf("urls[%d]", i), "%q: must be nats://HOST:PORT or tls://HOST:PORT", u)
		}
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		bad("tls", "cert_file and key_file go together")
	}
	if c.TLS.CertFile == "" && c.User == "" {
		bad("user", "an appliance authenticates with tls.cert_file or with user and password")
	}
	if c.User != "" && c.Password == "" {
		bad("password", "required with user")
	}
	if c.Rate <= 0 {
		bad("rate", "must be positive, got %g", c.Rate)
	}
	if c.Burst < 1 {
		bad("burst", "must be at least 1, got %d", c.Burst)
	}
	if c.Window < 1 || c.Window > 65536 {
		bad("window", "must be between 1 and 65536, got %d", c.Window)
	}
	if c.AckTimeout < 100*time.Millisecond {
		bad("ack_timeout", "must be at least 100ms, got %s", c.AckTimeout)
	}
	if c.ReconnectWait < 10*time.Millisecond {
		bad("reconnect_wait", "must be at least 10ms, got %s", c.ReconnectWait)
	}
	if c.HealthInterval < time.Second || c.HealthInterval > HealthEvery {
		bad("health_interval", "must be between 1s and %s, got %s", HealthEvery, c.HealthInterval)
	}
	for _, e := range c.Outbox.Validate() {
		e.Field = "outbox." + e.Field
		errs = append(errs, e)
	}
	return errs
}

// errs joins field errors into one error.
func joinFieldErrors(errs []FieldError) error {
	all := make([]error, len(errs))
	for i, e := range errs {
		all[i] = e
	}
	return errors.Join(all...)
}

// tlsConfig loads the files of c; nil when none is configured.
func (c TLSConfig) load() (*tls.Config, error) {
	if c.CAFile == "" && c.CertFile == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.ca_file %s: no PEM certificate", c.CAFile)
		}
		cfg.RootCAs = pool
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls.cert_file/key_file: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
