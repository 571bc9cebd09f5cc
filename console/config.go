package console

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Config is the console's part of the configuration file.
type Config struct {
	// Listen is the host:port the HTTP server binds.
	Listen string `yaml:"listen"`
	// AllowedOrigins are Origins, besides the request's own host, that may open the WebSocket
	// (scheme://host[:port], e.g. "https://wall.noc.example").
	AllowedOrigins []string `yaml:"allowed_origins"`
	// SendQueue is how many messages may wait for one WebSocket client before it is dropped.
	SendQueue int `yaml:"send_queue"`
	// StaleAfter is how long the wall waits without any message, or without a new poll of a
	// device, before it marks the data stale. Set it to about twice the SNMP poll interval.
	StaleAfter time.Duration `yaml:"stale_after"`
	// ExternalURL is the URL people reach this console at (scheme://host[:port][/path]),
	// used in the links that notifications carry. Empty: http://<listen>, which only works
	// on the console's own machine unless listen names a reachable address.
	ExternalURL string `yaml:"external_url"`
	// AckLinkTTL is how long a signed acknowledgement link in a page stays valid.
	AckLinkTTL time.Duration `yaml:"ack_link_ttl"`
	// TLS serves HTTPS: from certificate files, or from a self-signed certificate made in
	// the data directory on first start.
	TLS TLSConfig `yaml:"tls"`
	// Session is how long a login lasts.
	Session SessionConfig `yaml:"session"`
}

// TLSConfig is the console's HTTPS. Zero: plain HTTP.
type TLSConfig struct {
	// CertFile and KeyFile are a PEM certificate (chain) and its key; the console re-reads
	// them when they change (a renewal needs no restart).
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// SelfSigned, without files, makes an ECDSA P-256 certificate for the listen host,
	// the external_url host and localhost into the data directory (tls.crt, tls.key) on
	// first start, and reuses it.
	SelfSigned bool `yaml:"self_signed"`
}

// Enabled says whether the console serves HTTPS.
func (t TLSConfig) Enabled() bool { return t.SelfSigned || t.CertFile != "" || t.KeyFile != "" }

// SessionConfig bounds login sessions.
type SessionConfig struct {
	// IdleTimeout ends a session unused for this long.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// Lifetime ends a session this long after login, used or not.
	Lifetime time.Duration `yaml:"lifetime"`
}

// Defaults.
const (
	DefaultListen     = "127.0.0.1:8080"
	DefaultSendQueue  = 64
	DefaultStaleAfter = time.Minute
	DefaultAckLinkTTL = 7 * 24 * time.Hour
	// DefaultSessionIdle and DefaultSessionLifetime bound a login session.
	DefaultSessionIdle     = 12 * time.Hour
	DefaultSessionLifetime = 7 * 24 * time.Hour
)

// Bounds of the session settings.
const (
	minSessionTime = time.Minute
	maxSessionTime = 90 * 24 * time.Hour
)

// Bounds of AckLinkTTL.
const (
	minAckLinkTTL = time.Minute
	maxAckLinkTTL = 90 * 24 * time.Hour
)

// DefaultConfig returns the configuration used when the file says nothing.
func DefaultConfig() Config {
	return Config{Listen: DefaultListen, SendQueue: DefaultSendQueue, StaleAfter: DefaultStaleAfter, AckLinkTTL: DefaultAckLinkTTL,
		Session: SessionConfig{IdleTimeout: DefaultSessionIdle, Lifetime: DefaultSessionLifetime}}
}

// withDefaults fills the zero fields of c with their defaults.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Listen == "" {
		c.Listen = d.Listen
	}
	if c.SendQueue == 0 {
		c.SendQueue = d.SendQueue
	}
	if c.StaleAfter == 0 {
		c.StaleAfter = d.StaleAfter
	}
	if c.AckLinkTTL == 0 {
		c.AckLinkTTL = d.AckLinkTTL
	}
	if c.Session.IdleTimeout == 0 {
		c.Session.IdleTimeout = d.Session.IdleTimeout
	}
	if c.Session.Lifetime == 0 {
		c.Session.Lifetime = d.Session.Lifetime
	}
	return c
}

// FieldError is one problem of a Config, named by its YAML field path.
type FieldError struct {
	Field string
	Msg   string
}

func (e FieldError) Error() string { return e.Field + ": " + e.Msg }

// Validate returns every problem of c (after defaults are applied to zero fields), each
// naming its YAML field.
func (c Config) Validate() []FieldError {
	c = c.withDefaults()
	var errs []FieldError
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, FieldError{"listen", fmt.Sprintf("want host:port: %v", err)})
	}
	for i, o := range c.AllowedOrigins {
		if _, err := normalizeOrigin(o); err != nil {
			errs = append(errs, FieldError{fmt.Sprintf("allowed_origins[%d]", i), err.Error()})
		}
	}
	if c.SendQueue < 1 || c.SendQueue > 1<<16 {
		errs = append(errs, FieldError{"send_queue", fmt.Sprintf("%d is out of range 1..65536", c.SendQueue)})
	}
	if c.StaleAfter < time.Second {
		errs = append(errs, FieldError{"stale_after", fmt.Sprintf("%v is shorter than 1s", c.StaleAfter)})
	}
	if c.ExternalURL != "" {
		if err := checkExternalURL(c.ExternalURL); err != nil {
			errs = append(errs, FieldError{"external_url", err.Error()})
		}
	}
	if c.AckLinkTTL < minAckLinkTTL || c.AckLinkTTL > maxAckLinkTTL {
		errs = append(errs, FieldError{"ack_link_ttl", fmt.Sprintf("%v is out of range 1m..2160h (90 days)", c.AckLinkTTL)})
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		errs = append(errs, FieldError{"tls", "cert_file and key_file go together"})
	}
	if c.TLS.SelfSigned && c.TLS.CertFile != "" {
		errs = append(errs, FieldError{"tls.self_signed", "either certificate files or self_signed, not both"})
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{{"session.idle_timeout", c.Session.IdleTimeout}, {"session.lifetime", c.Session.Lifetime}} {
		if f.v < minSessionTime || f.v > maxSessionTime {
			errs = append(errs, FieldError{f.name, fmt.Sprintf("%v is out of range 1m..2160h (90 days)", f.v)})
		}
	}
	if c.Session.IdleTimeout > c.Session.Lifetime {
		errs = append(errs, FieldError{"session.idle_timeout", fmt.Sprintf("%v is longer than session.lifetime (%v)", c.Session.IdleTimeout, c.Session.Lifetime)})
	}
	return errs
}

// checkExternalURL accepts an absolute http or https URL with a host and no user, query or
// fragment.
func checkExternalURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q: %v", truncate(s), err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("%q: want an absolute http:// or https:// URL", truncate(s))
	}
	if u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.ContainsAny(s, "?#") {
		return fmt.Errorf("%q: want no user, query or fragment", truncate(s))
	}
	if strings.TrimSpace(s) != s || strings.ContainsFunc(s, func(r rune) bool { return r < 0x21 || r == 0x7f }) {
		return fmt.Errorf("%q: want no spaces or control characters", truncate(s))
	}
	return nil
}

// BaseURL is the URL the console's links start with, without a trailing slash: ExternalURL,
// else http://<listen>, or https:// with TLS (with localhost for a wildcard or empty listen
// host).
func (c Config) BaseURL() string {
	c = c.withDefaults()
	if c.ExternalURL != "" {
		return strings.TrimRight(c.ExternalURL, "/")
	}
	scheme := "http://"
	if c.TLS.Enabled() {
		scheme = "https://"
	}
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return scheme + c.Listen
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return scheme + net.JoinHostPort(host, port)
}

// IncidentLink is the console URL that opens an alert: the analyst console's view of it
// (BaseURL/console#/alert/ID: timeline, evidence, suppressed children, actions), behind the
// console's login.
func (c Config) IncidentLink(alertID uint64) string {
	return c.BaseURL() + "/console#/alert/" + strconv.FormatUint(alertID, 10)
}

// normalizeOrigin reduces an Origin to lower-case scheme://host[:port] so that two spellings
// of one origin compare equal.
func normalizeOrigin(o string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(o))
	if err != nil {
		return "", fmt.Errorf("origin %q: %w", o, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return "", fmt.Errorf("origin %q: want scheme://host[:port] with scheme http or https", o)
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), nil
}
