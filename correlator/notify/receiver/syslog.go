package receiver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/correlator/notify"
)

// SyslogConfig configures a syslog receiver (RFC 5424 messages).
type SyslogConfig struct {
	Network  string `yaml:"network"`  // udp (RFC 5426), tcp or tls (octet counting, RFC 6587 / RFC 5425)
	Address  string `yaml:"address"`  // host:port
	Format   string `yaml:"format"`   // text (default) or cef
	Facility int    `yaml:"facility"` // 0–23; default 16 (local0)
	Hostname string `yaml:"hostname"` // HOSTNAME field; default os.Hostname()
	AppName  string `yaml:"app_name"` // APP-NAME; default "watchfloor"
	// MaxMessageBytes cuts longer messages (at a rune boundary); default 2048 for udp, 8192 otherwise.
	MaxMessageBytes int             `yaml:"max_message_bytes"`
	TLS             TLSClientConfig `yaml:"tls"`
	Timeout         time.Duration   `yaml:"timeout"`
}

// TLSClientConfig configures a TLS client. Tests and embedders may also pass a *tls.Config.
type TLSClientConfig struct {
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// Validate reports every problem of c.
func (c SyslogConfig) Validate() []FieldError {
	var errs fieldErrors
	switch c.Network {
	case "udp", "tcp", "tls":
	default:
		errs.add("network", "must be udp, tcp or tls (is %q)", c.Network)
	}
	if _, _, err := net.SplitHostPort(c.Address); err != nil {
		errs.add("address", "must be host:port: %v", err)
	}
	switch c.Format {
	case "", "text", "cef":
	default:
		errs.add("format", "must be text or cef (is %q)", c.Format)
	}
	if c.Facility < 0 || c.Facility > 23 {
		errs.add("facility", "must be between 0 and 23 (is %d)", c.Facility)
	}
	if c.MaxMessageBytes != 0 && (c.MaxMessageBytes < 480 || c.MaxMessageBytes > 65000) {
		errs.add("max_message_bytes", "must be between 480 and 65000 (is %d)", c.MaxMessageBytes)
	}
	if c.Timeout < 0 {
		errs.add("timeout", "must not be negative")
	}
	return errs
}

// Syslog sends RFC 5424 messages over UDP, TCP or TLS. Stream connections are kept open
// between sends and redialled once when a write fails.
type Syslog struct {
	name string
	cfg  SyslogConfig
	tls  *tls.Config
	now  func() time.Time

	mu   sync.Mutex // serialises sends on conn
	conn net.Conn
}

var _ notify.Receiver = (*Syslog)(nil)

// NewSyslog returns a syslog receiver. tlsConf, when not nil, is the base TLS client config
// for network tls (its RootCAs, certificates); cfg.TLS fills in ServerName and
// InsecureSkipVerify.
func NewSyslog(name string, cfg SyslogConfig, tlsConf *tls.Config) (*Syslog, error) {
	if err := checkNew(name, cfg.Validate()); err != nil {
		return nil, err
	}
	if cfg.Facility == 0 {
		cfg.Facility = 16
	}
	if cfg.AppName == "" {
		cfg.AppName = "watchfloor"
	}
	if cfg.Hostname == "" {
		cfg.Hostname, _ = os.Hostname()
	}
	if cfg.MaxMessageBytes == 0 {
		cfg.MaxMessageBytes = 8192
		if cfg.Network == "udp" {
			cfg.MaxMessageBytes = 2048
		}
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	var tc *tls.Config
	if tlsConf != nil {
		tc = tlsConf.Clone()
	} else {
		tc = &tls.Config{}
	}
	tc.MinVersion = max(tc.MinVersion, tls.VersionTLS12)
	if cfg.TLS.ServerName != "" {
		tc.ServerName = cfg.TLS.ServerName
	} else if tc.ServerName == "" {
		tc.ServerName, _, _ = net.SplitHostPort(cfg.Address)
	}
	if cfg.TLS.InsecureSkipVerify {
		tc.InsecureSkipVerify = true
	}
	return &Syslog{name: name, cfg: cfg, tls: tc, now: time.Now}, nil
}

// Name returns the receiver's name.
func (s *Syslog) Name() string { return s.name }

// Close closes the stream connection, if any.
func (s *Syslog) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	return err
}

// syslogSeverity maps to RFC 5424 severities: critical 2 (crit), high 3 (err), medium 4
// (warning), low 5 (notice), info 6 (informational); a resolution is a notice.
func syslogSeverity(n notify.Notification) int {
	if n.Status == notify.StatusResolved {
		return 5
	}
	switch n.Severity {
	case watchfloor.SeverityCritical:
		return 2
	case watchfloor.SeverityHigh:
		return 3
	case watchfloor.SeverityMedium:
		return 4
	case watchfloor.SeverityLow:
		return 5
	default:
		return 6
	}
}

// headerField makes s a valid RFC 5424 header field: PRINTUSASCII, at most max, "-" if empty.
func headerField(s string, max int) string {
	b := make([]byte, 0, min(len(s), max))
	for i := 0; i < len(s) && len(b) < max; i++ {
		if c := s[i]; c >= 33 && c <= 126 {
			b = append(b, c)
		}
	}
	if len(b) == 0 {
		return "-"
	}
	return string(b)
}

// sdEscape escapes an SD-PARAM value: '"', '\' and ']' get a backslash.
func sdEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `]`, `\]`)
	return r.Replace(s)
}

// Format returns the RFC 5424 message for n (without transport framing):
//
//	<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [watchfloor@32473 id="…" group_key="…" status="…" alerts="N"] MSG
//
// MSGID is the status; MSG is the headline, counts and link, or a CEF line.
func (s *Syslog) Format(n notify.Notification) []byte {
	pri := s.cfg.Facility*8 + syslogSeverity(n)
	t := n.Time
	if t.IsZero() {
		t = s.now()
	}
	var b strings.Builder
	b.WriteString("<" + strconv.Itoa(pri) + ">1 ")
	b.WriteString(t.UTC().Format("2006-01-02T15:04:05.000000Z07:00"))
	b.WriteByte(' ')
	b.WriteString(headerField(s.cfg.Hostname, 255))
	b.WriteByte(' ')
	b.WriteString(headerField(s.cfg.AppName, 48))
	b.WriteString(" " + strconv.Itoa(os.Getpid()) + " ")
	b.WriteString(headerField(statusWord(n.Status), 32))
	// 32473 is the example enterprise number of RFC 5612.
	fmt.Fprintf(&b, ` [watchfloor@32473 id="%s" group_key="%s" status="%s" alerts="%d"] `,
		sdEscape(n.ID), sdEscape(n.GroupKey), sdEscape(string(n.Status)), len(n.Alerts))
	if s.cfg.Format == "cef" {
		b.WriteString(CEF(n))
	} else {
		msg := headline(n) + " — " + counts(n)
		if n.Summary != "" {
			msg += " — " + n.Summary
		}
		if n.Link != "" {
			msg += " — " + n.Link
		}
		b.WriteString(strings.NewReplacer("\r", " ", "\n", " ").Replace(msg))
	}
	return []byte(truncate(b.String(), s.cfg.MaxMessageBytes))
}

// Send writes one message. Over a stream, a broken kept connection is redialled once.
func (s *Syslog) Send(ctx context.Context, n notify.Notification) error {
	msg := s.Format(n)
	if s.cfg.Network != "udp" {
		msg = append([]byte(strconv.Itoa(len(msg))+" "), msg...) // RFC 6587 octet counting
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	for try := 0; ; try++ {
		fresh := false
		if s.conn == nil {
			c, err := s.dial(ctx)
			if err != nil {
				return fmt.Errorf("syslog %s: %w", s.name, err)
			}
			s.conn, fresh = c, true
		}
		err := s.write(ctx, msg)
		if err == nil {
			if s.cfg.Network == "udp" { // a fresh socket each time: no state to keep
				s.conn.Close()
				s.conn = nil
			}
			return nil
		}
		s.conn.Close()
		s.conn = nil
		if fresh || try > 0 || ctx.Err() != nil {
			return fmt.Errorf("syslog %s: write: %w", s.name, err)
		}
	}
}

func (s *Syslog) dial(ctx context.Context) (net.Conn, error) {
	switch s.cfg.Network {
	case "tls":
		d := tls.Dialer{Config: s.tls}
		return d.DialContext(ctx, "tcp", s.cfg.Address)
	default:
		var d net.Dialer
		return d.DialContext(ctx, s.cfg.Network, s.cfg.Address)
	}
}

func (s *Syslog) write(ctx context.Context, msg []byte) error {
	c := s.conn
	dl, _ := ctx.Deadline()
	if err := c.SetWriteDeadline(dl); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { c.SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()
	_, err := c.Write(msg)
	if err != nil && ctx.Err() != nil {
		return errors.Join(ctx.Err(), err)
	}
	return err
}
