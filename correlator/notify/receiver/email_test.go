package receiver

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/watchfloor/watchfloor/correlator/notify"
)

type gotMail struct {
	from, user string
	to         []string
	tls        bool
	data       []byte
}

type smtpBackend struct{ got chan gotMail }

func (b *smtpBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &smtpSession{b: b, c: c}, nil
}

type smtpSession struct {
	b *smtpBackend
	c *smtp.Conn
	m gotMail
}

func (s *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *smtpSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if user != "pager" || pass != "hunter2" {
			return smtp.ErrAuthFailed
		}
		s.m.user = user
		return nil
	}), nil
}
func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error { s.m.from = from; return nil }
func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.m.to = append(s.m.to, to)
	return nil
}
func (s *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, s.m.tls = s.c.TLSConnectionState()
	s.m.data = b
	s.b.got <- s.m
	return nil
}
func (s *smtpSession) Reset()        {}
func (s *smtpSession) Logout() error { return nil }

func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

func startSMTP(t *testing.T, withTLS bool) (string, *smtpBackend, *x509.CertPool) {
	be := &smtpBackend{got: make(chan gotMail, 4)}
	srv := smtp.NewServer(be)
	srv.Domain = "127.0.0.1"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	var pool *x509.CertPool
	if withTLS {
		var cert tls.Certificate
		cert, pool = selfSigned(t)
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	} else {
		srv.AllowInsecureAuth = true
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), be, pool
}

func TestEmailStartTLSAuthMultipart(t *testing.T) {
	addr, be, pool := startSMTP(t, true)
	e, err := NewEmail("mail", EmailConfig{Smarthost: addr, From: "Watchfloor <wf@noc.example>", To: []string{"noc@city.example"},
		Username: "pager", Password: "hunter2"}, &tls.Config{RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	n := testNotification()
	n.Target = &notifyTarget
	if err := e.Send(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	var m gotMail
	select {
	case m = <-be.got:
	case <-time.After(5 * time.Second):
		t.Fatal("no mail")
	}
	if !m.tls || m.user != "pager" || m.from != "wf@noc.example" || len(m.to) != 1 || m.to[0] != "ana@city.example" {
		t.Fatalf("envelope %+v", m)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(m.data))
	if err != nil {
		t.Fatal(err)
	}
	subj, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if subj != "[FIRING] critical: Router lab-r1 down" || msg.Header.Get("To") != "<ana@city.example>" ||
		!strings.Contains(msg.Header.Get("From"), "wf@noc.example") || msg.Header.Get("Message-Id") == "" {
		t.Fatalf("headers %v (subject %q)", msg.Header, subj)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("content type %q %v", mt, err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	parts := map[string]string{}
	for {
		p, err := mr.NextPart() // decodes quoted-printable
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		parts[ct] = string(b)
	}
	if !strings.Contains(parts["text/plain"], "Open the incident: https://wf.example/incidents/42") ||
		!strings.Contains(parts["text/plain"], "- [high] ge-0/0/1 down") {
		t.Errorf("text part %q", parts["text/plain"])
	}
	if !strings.Contains(parts["text/html"], `<a href="https://wf.example/incidents/42">Open the incident</a>`) ||
		!strings.Contains(parts["text/html"], "<h2>[FIRING] critical: Router lab-r1 down</h2>") {
		t.Errorf("html part %q", parts["text/html"])
	}
}

func TestEmailFailures(t *testing.T) {
	// STARTTLS required but not offered: an error, nothing sent.
	addr, be, _ := startSMTP(t, false)
	e, _ := NewEmail("mail", EmailConfig{Smarthost: addr, From: "wf@noc.example", To: []string{"noc@city.example"}}, nil)
	if err := e.Send(context.Background(), testNotification()); err == nil || !strings.Contains(err.Error(), "starttls") {
		t.Fatalf("err %v", err)
	}
	// Opportunistic on a plain loopback server, wrong password: a permanent 535.
	e, _ = NewEmail("mail", EmailConfig{Smarthost: addr, From: "wf@noc.example", To: []string{"noc@city.example"},
		StartTLS: StartTLSOpportunistic, Username: "pager", Password: "wrong"}, nil)
	if err := e.Send(context.Background(), testNotification()); !IsPermanent(err) || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("err %v", err)
	}
	// And the right one delivers in clear text (loopback only).
	e, _ = NewEmail("mail", EmailConfig{Smarthost: addr, From: "wf@noc.example", To: []string{"noc@city.example"},
		StartTLS: StartTLSOpportunistic, Username: "pager", Password: "hunter2"}, nil)
	if err := e.Send(context.Background(), testNotification()); err != nil {
		t.Fatal(err)
	}
	if m := <-be.got; m.tls || m.to[0] != "noc@city.example" {
		t.Fatalf("%+v", m)
	}
}

var notifyTarget = notify.Target{Name: "Ana", Email: "Ana <ana@city.example>"}
