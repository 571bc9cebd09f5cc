package console

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/watchfloor/watchfloor/console/users"
)

// The self-signed certificate's files in the data directory.
const (
	SelfSignedCert = "tls.crt"
	SelfSignedKey  = "tls.key"
	// selfSignedLife is how long a self-signed certificate is valid; it is made again
	// when less than selfSignedRenew is left.
	selfSignedLife  = 397 * 24 * time.Hour
	selfSignedRenew = 30 * 24 * time.Hour
	// certCheckEvery is how often certificate files are looked at for a renewal.
	certCheckEvery = 10 * time.Second
	// hstsHeader asks browsers to keep to HTTPS for a year.
	hstsHeader = "max-age=31536000"
)

// initTLS builds the TLS configuration from cfg.TLS: the certificate files, re-read when
// they change, or the self-signed certificate of the data directory, made when missing,
// expiring or not covering the console's names.
func (c *Console) initTLS() error {
	t := c.cfg.TLS
	if !t.Enabled() {
		return nil
	}
	certFile, keyFile := t.CertFile, t.KeyFile
	if t.SelfSigned {
		if c.deps.DataDir == "" {
			return errors.New("console: tls.self_signed needs a data directory (Deps.DataDir)")
		}
		certFile, keyFile = filepath.Join(c.deps.DataDir, SelfSignedCert), filepath.Join(c.deps.DataDir, SelfSignedKey)
		made, err := ensureSelfSigned(certFile, keyFile, c.tlsNames(), c.now())
		if err != nil {
			return fmt.Errorf("console: self-signed certificate: %w", err)
		}
		if made {
			c.log.Info("self-signed certificate made", "cert", certFile, "names", c.tlsNames())
		}
	}
	cl := &certLoader{certFile: certFile, keyFile: keyFile, now: time.Now}
	if _, err := cl.load(); err != nil {
		return fmt.Errorf("console: tls: %w", err)
	}
	c.auth.tls = &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"http/1.1"}, // the WebSocket upgrade needs HTTP/1.1
		GetCertificate: cl.get,
	}
	return nil
}

// tlsNames are the names a self-signed certificate covers: localhost, the loopback
// addresses, the listen host and the external_url host.
func (c *Console) tlsNames() []string {
	names := []string{"localhost", "127.0.0.1", "::1"}
	add := func(h string) {
		if ip := net.ParseIP(h); h == "" || ip != nil && ip.IsUnspecified() {
			return
		}
		if !slices.Contains(names, h) {
			names = append(names, h)
		}
	}
	if h, _, err := net.SplitHostPort(c.cfg.Listen); err == nil {
		add(h)
	}
	if u, err := url.Parse(c.cfg.ExternalURL); err == nil && c.cfg.ExternalURL != "" {
		add(u.Hostname())
	}
	return names
}

// ensureSelfSigned keeps a usable self-signed certificate in certFile and keyFile: it
// reuses the one there when it parses, covers names and is valid for more than
// selfSignedRenew; it makes a new one otherwise. It reports whether it made one.
func ensureSelfSigned(certFile, keyFile string, names []string, now time.Time) (bool, error) {
	if pair, err := tls.LoadX509KeyPair(certFile, keyFile); err == nil && pair.Leaf != nil {
		ok := now.Add(selfSignedRenew).Before(pair.Leaf.NotAfter)
		for _, n := range names {
			ok = ok && pair.Leaf.VerifyHostname(n) == nil
		}
		if ok {
			return false, nil
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return false, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return false, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "watchfloor console", Organization: []string{"Watchfloor (self-signed)"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(selfSignedLife),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return false, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return false, err
	}
	if err := os.MkdirAll(filepath.Dir(certFile), 0o700); err != nil {
		return false, err
	}
	// The key first: a certificate without its key is never left behind as the newer.
	if err := users.WriteFileAtomic(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})); err != nil {
		return false, err
	}
	if err := users.WriteFileAtomic(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})); err != nil {
		return false, err
	}
	return true, nil
}

// certLoader serves a certificate from files and loads them again when they change
// (looked at every certCheckEvery); a renewal that does not load keeps the old pair.
type certLoader struct {
	certFile, keyFile string
	now               func() time.Time

	mu      sync.Mutex
	cert    *tls.Certificate
	checked time.Time
	stamp   [2]time.Time
	sizes   [2]int64
}

func (l *certLoader) load() (*tls.Certificate, error) {
	var stamp [2]time.Time
	var sizes [2]int64
	for i, f := range []string{l.certFile, l.keyFile} {
		fi, err := os.Stat(f)
		if err != nil {
			return nil, err
		}
		stamp[i], sizes[i] = fi.ModTime(), fi.Size()
	}
	if l.cert != nil && stamp == l.stamp && sizes == l.sizes {
		return l.cert, nil
	}
	pair, err := tls.LoadX509KeyPair(l.certFile, l.keyFile)
	if err != nil {
		return nil, err
	}
	l.cert, l.stamp, l.sizes = &pair, stamp, sizes
	return l.cert, nil
}

func (l *certLoader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if now.Sub(l.checked) >= certCheckEvery {
		l.checked = now
		if _, err := l.load(); err != nil && l.cert == nil {
			return nil, err
		}
	}
	return l.cert, nil
}

// TLS reports whether the console serves HTTPS.
func (c *Console) TLS() bool { return c.auth.tls != nil }
