package receiver

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"strings"
	"time"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/correlator/notify"
)

// The STARTTLS modes.
const (
	StartTLSRequired      = "required"      // fail unless the server offers STARTTLS and it succeeds
	StartTLSOpportunistic = "opportunistic" // use STARTTLS when offered
	StartTLSNone          = "none"          // never (loopback relays only)
)

// EmailConfig configures an SMTP receiver.
type EmailConfig struct {
	Smarthost string            `yaml:"smarthost"` // host:port of the relay
	From      string            `yaml:"from"`
	To        []string          `yaml:"to"` // used when the notification has no Target.Email
	Hello     string            `yaml:"hello"`
	StartTLS  string            `yaml:"starttls"` // required (default), opportunistic, none
	Username  string            `yaml:"username"` // AUTH when set
	Password  watchfloor.Secret `yaml:"password"`
	AuthMech  string            `yaml:"auth_mechanism"` // PLAIN or LOGIN; default: PLAIN if offered, else LOGIN
	TLS       TLSClientConfig   `yaml:"tls"`
	Timeout   time.Duration     `yaml:"timeout"`
}

// Validate reports every problem of c.
func (c EmailConfig) Validate() []FieldError {
	var errs fieldErrors
	if _, _, err := net.SplitHostPort(c.Smarthost); err != nil {
		errs.add("smarthost", "must be host:port: %v", err)
	}
	if _, err := mail.ParseAddress(c.From); err != nil {
		errs.add("from", "is not an address: %v", err)
	}
	for i, to := range c.To {
		if _, err := mail.ParseAddress(to); err != nil {
			errs.add(fmt.Sprintf("to[%d]", i), "is not an address: %v", err)
		}
	}
	switch c.StartTLS {
	case "", StartTLSRequired, StartTLSOpportunistic, StartTLSNone:
	default:
		errs.add("starttls", "must be required, opportunistic or none (is %q)", c.StartTLS)
	}
	switch strings.ToUpper(c.AuthMech) {
	case "", "PLAIN", "LOGIN":
	default:
		errs.add("auth_mechanism", "must be PLAIN or LOGIN (is %q)", c.AuthMech)
	}
	if c.Username == "" && c.Password != "" {
		errs.add("username", "is required with a password")
	}
	if strings.ContainsAny(c.Hello, " \r\n") {
		errs.add("hello", "must be a host name")
	}
	if c.Timeout < 0 {
		errs.add("timeout", "must not be negative")
	}
	return errs
}

// Email sends notifications as multipart/alternative mail through an SMTP relay.
type Email struct {
	name string
	cfg  EmailConfig
	tls  *tls.Config
	now  func() time.Time
}

var _ notify.Receiver = (*Email)(nil)

// NewEmail returns a mail receiver. tlsConf, when not nil, is the base TLS config for
// STARTTLS (RootCAs); cfg.TLS fills in ServerName and InsecureSkipVerify.
func NewEmail(name string, cfg EmailConfig, tlsConf *tls.Config) (*Email, error) {
	if err := checkNew(name, cfg.Validate()); err != nil {
		return nil, err
	}
	if cfg.StartTLS == "" {
		cfg.StartTLS = StartTLSRequired
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Hello == "" {
		cfg.Hello = "localhost"
	}
	tc := &tls.Config{}
	if tlsConf != nil {
		tc = tlsConf.Clone()
	}
	tc.MinVersion = max(tc.MinVersion, tls.VersionTLS12)
	host, _, _ := net.SplitHostPort(cfg.Smarthost)
	if cfg.TLS.ServerName != "" {
		tc.ServerName = cfg.TLS.ServerName
	} else if tc.ServerName == "" {
		tc.ServerName = host
	}
	tc.InsecureSkipVerify = tc.InsecureSkipVerify || cfg.TLS.InsecureSkipVerify
	return &Email{name: name, cfg: cfg, tls: tc, now: time.Now}, nil
}

// Name returns the receiver's name.
func (e *Email) Name() string { return e.name }

// smtpErr classifies an SMTP error: a 5xx reply is permanent.
func smtpErr(step string, err error) error {
	var te *textproto.Error
	if errors.As(err, &te) && te.Code >= 500 {
		return permanent(fmt.Errorf("%s: %w", step, err))
	}
	return fmt.Errorf("%s: %w", step, err)
}

// Send makes one SMTP transaction for n.
func (e *Email) Send(ctx context.Context, n notify.Notification) error {
	if err := e.send(ctx, n); err != nil {
		return fmt.Errorf("email %s: %w", e.name, err)
	}
	return nil
}

func (e *Email) recipients(n notify.Notification) ([]string, error) {
	if n.Target != nil && n.Target.Email != "" {
		a, err := mail.ParseAddress(n.Target.Email)
		if err != nil {
			return nil, permanent(fmt.Errorf("target e-mail: %w", err))
		}
		return []string{a.Address}, nil
	}
	if len(e.cfg.To) == 0 {
		return nil, permanent(errors.New("no recipient: no target e-mail and no configured to"))
	}
	out := make([]string, 0, len(e.cfg.To))
	for _, to := range e.cfg.To {
		a, _ := mail.ParseAddress(to) // validated
		out = append(out, a.Address)
	}
	return out, nil
}

func (e *Email) send(ctx context.Context, n notify.Notification) error {
	rcpts, err := e.recipients(n)
	if err != nil {
		return err
	}
	msg, err := e.Message(n, rcpts)
	if err != nil {
		return permanent(err)
	}
	return e.transact(ctx, rcpts, msg)
}

// transact runs one SMTP transaction: STARTTLS and AUTH as configured, then the message.
// Notifications (send) and reports with a file (SendFile) both go through it.
func (e *Email) transact(ctx context.Context, rcpts []string, msg []byte) error {
	from, _ := mail.ParseAddress(e.cfg.From)
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", e.cfg.Smarthost)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	dl, _ := ctx.Deadline()
	conn.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	host, _, _ := net.SplitHostPort(e.cfg.Smarthost)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return smtpErr("greeting", err)
	}
	defer c.Close()
	if err := c.Hello(e.cfg.Hello); err != nil {
		return smtpErr("hello", err)
	}
	tlsOn := false
	if e.cfg.StartTLS != StartTLSNone {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(e.tls); err != nil {
				return smtpErr("starttls", err)
			}
			tlsOn = true
		} else if e.cfg.StartTLS == StartTLSRequired {
			return errors.New("starttls: required but the server does not offer it")
		}
	}
	if e.cfg.Username != "" {
		ok, mechs := c.Extension("AUTH")
		if !ok {
			return errors.New("auth: a username is set but the server offers no AUTH")
		}
		auth, err := e.auth(host, mechs, tlsOn)
		if err != nil {
			return err
		}
		if err := c.Auth(auth); err != nil {
			return smtpErr("auth", err)
		}
	}
	if err := c.Mail(from.Address); err != nil {
		return smtpErr("mail from", err)
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r); err != nil {
			return smtpErr("rcpt to", err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return smtpErr("data", err)
	}
	if _, err := w.Write(msg); err != nil {
		return smtpErr("data", err)
	}
	if err := w.Close(); err != nil {
		return smtpErr("data", err)
	}
	return c.Quit()
}

func (e *Email) auth(host, offered string, tlsOn bool) (smtp.Auth, error) {
	mech := strings.ToUpper(e.cfg.AuthMech)
	has := func(m string) bool {
		for _, f := range strings.Fields(strings.ToUpper(offered)) {
			if f == m {
				return true
			}
		}
		return false
	}
	if mech == "" {
		switch {
		case has("PLAIN"):
			mech = "PLAIN"
		case has("LOGIN"):
			mech = "LOGIN"
		default:
			return nil, permanent(fmt.Errorf("auth: server offers neither PLAIN nor LOGIN (%q)", offered))
		}
	}
	if mech == "LOGIN" {
		return &loginAuth{user: e.cfg.Username, pass: e.cfg.Password, host: host, tls: tlsOn}, nil
	}
	// net/smtp's PlainAuth refuses to send the password without TLS except to localhost.
	return smtp.PlainAuth("", e.cfg.Username, e.cfg.Password.Reveal(), host), nil
}

// loginAuth is the LOGIN mechanism, with PlainAuth's rule: never in clear text except on loopback.
type loginAuth struct {
	user string
	pass watchfloor.Secret
	host string
	tls  bool
}

func (a *loginAuth) Start(server *smtp.ServerInfo) (string, []byte, error) {
	if !server.TLS && !isLoopback(server.Name) {
		return "", nil, errors.New("unencrypted connection")
	}
	if server.Name != a.host {
		return "", nil, errors.New("wrong host name")
	}
	return "LOGIN", nil, nil
}

func (a *loginAuth) Next(fromServer []byte, more bool) ([]byte, error) {
	if !more {
		return nil, nil
	}
	switch p := strings.ToLower(strings.TrimSpace(string(fromServer))); {
	case strings.HasPrefix(p, "username"):
		return []byte(a.user), nil
	case strings.HasPrefix(p, "password"):
		return []byte(a.pass.Reveal()), nil
	default:
		return nil, fmt.Errorf("unexpected LOGIN challenge %q", truncate(p, 40))
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

var mailHTML = template.Must(template.New("mail").Parse(`<!DOCTYPE html>
<html><body style="font-family:sans-serif">
<h2>{{.Headline}}</h2>
<p><b>Severity:</b> {{.N.Severity}} &middot; <b>Status:</b> {{.Status}} &middot; {{.Counts}}</p>
{{if .N.Summary}}<p>{{.N.Summary}}</p>{{end}}
{{if .N.Alerts}}<ul>{{range .Alerts}}<li>[{{.Severity}}] {{.Title}}</li>{{end}}</ul>{{if .More}}<p>and {{.More}} more</p>{{end}}{{end}}
{{if .N.Link}}<p><a href="{{.N.Link}}">Open the incident</a></p>{{end}}
{{if .N.AckLink}}<p><a href="{{.N.AckLink}}">Acknowledge</a></p>{{end}}
</body></html>
`))

// maxMailAlerts bounds the alerts listed in a mail.
const maxMailAlerts = 25

// headerText strips CR and LF so a value cannot start a header of its own.
func headerText(s string) string { return strings.NewReplacer("\r", " ", "\n", " ").Replace(s) }

// Message renders n as an RFC 5322 message with a multipart/alternative text and HTML body.
func (e *Email) Message(n notify.Notification, rcpts []string) ([]byte, error) {
	alerts, more := n.Alerts, 0
	if len(alerts) > maxMailAlerts {
		alerts, more = alerts[:maxMailAlerts], len(alerts)-maxMailAlerts
	}
	var text bytes.Buffer
	fmt.Fprintf(&text, "%s\n\nSeverity: %s\nStatus: %s\n%s\n", headline(n), n.Severity, statusWord(n.Status), counts(n))
	if n.Summary != "" {
		fmt.Fprintf(&text, "\n%s\n", n.Summary)
	}
	if len(alerts) > 0 {
		text.WriteString("\n")
		for _, a := range alerts {
			fmt.Fprintf(&text, "- [%s] %s\n", a.Severity, a.Title)
		}
		if more > 0 {
			fmt.Fprintf(&text, "and %d more\n", more)
		}
	}
	if n.Link != "" {
		fmt.Fprintf(&text, "\nOpen the incident: %s\n", n.Link)
	}
	if n.AckLink != "" {
		fmt.Fprintf(&text, "Acknowledge: %s\n", n.AckLink)
	}
	var html bytes.Buffer
	err := mailHTML.Execute(&html, map[string]any{
		"Headline": headline(n), "N": n, "Status": statusWord(n.Status), "Counts": counts(n),
		"Alerts": alerts, "More": more,
	})
	if err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	var rnd [12]byte
	rand.Read(rnd[:])
	boundary := "wf-" + hex.EncodeToString(rnd[:])
	from, _ := mail.ParseAddress(e.cfg.From)
	fromHost := from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	to := make([]string, len(rcpts))
	for i, r := range rcpts {
		to[i] = (&mail.Address{Address: r}).String()
	}
	var b bytes.Buffer
	h := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	h("From", from.String())
	h("To", strings.Join(to, ", "))
	h("Subject", mime.QEncoding.Encode("utf-8", headerText(headline(n))))
	t := n.Time
	if t.IsZero() {
		t = e.now()
	}
	h("Date", t.Format(time.RFC1123Z))
	h("Message-ID", "<"+hex.EncodeToString(rnd[:])+"."+headerField(n.ID, 64)+"@"+fromHost+">")
	h("X-Watchfloor-Group-Key", mime.QEncoding.Encode("utf-8", headerText(truncate(n.GroupKey, 200))))
	h("MIME-Version", "1.0")
	h("Content-Type", `multipart/alternative; boundary="`+boundary+`"`)
	b.WriteString("\r\n")
	part := func(ctype string, body []byte) {
		fmt.Fprintf(&b, "--%s\r\nContent-Type: %s; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n", boundary, ctype)
		qp := quotedprintable.NewWriter(&b)
		qp.Write(body)
		qp.Close()
		b.WriteString("\r\n")
	}
	part("text/plain", text.Bytes())
	part("text/html", html.Bytes())
	fmt.Fprintf(&b, "--%s--\r\n", boundary)
	return b.Bytes(), nil
}
