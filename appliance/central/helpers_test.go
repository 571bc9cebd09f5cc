package central_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/appliance/central"
	"github.com/watchfloor/watchfloor/appliance/store"
	"github.com/watchfloor/watchfloor/appliance/uplink"
)

// pki is a throwaway CA with the server's certificate and the appliances'.
type pki struct {
	dir    string
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	CAFile string
	serial int64
}

func newPKI(t testing.TB) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir()}
	p.ca, p.caKey = p.issue(t, nil, nil, "watchfloor test CA", true, nil)
	p.CAFile = p.write(t, "ca.pem", p.ca, nil)
	return p
}

// issue makes a certificate signed by parent (self-signed with nil).
func (p *pki) issue(t testing.TB, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, cn string, isCA bool, dns []string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p.serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.serial),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"Watchfloor tests"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		DNSNames:     dns,
	}
	if isCA {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

func (p *pki) write(t testing.TB, name string, c *x509.Certificate, key *ecdsa.PrivateKey) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	if key != nil {
		der, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path+".key", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// cert issues a leaf certificate named cn and returns its files.
func (p *pki) cert(t testing.TB, cn string, dns ...string) (certFile, keyFile string) {
	c, k := p.issue(t, p.ca, p.caKey, cn, false, dns)
	f := p.write(t, fmt.Sprintf("%s-%d.pem", cn, p.serial), c, k)
	return f, f + ".key"
}

// serverTLS is a server section's TLS with this CA for clients.
func (p *pki) serverTLS(t testing.TB) central.TLSFiles {
	c, k := p.cert(t, "central", "localhost")
	return central.TLSFiles{CAFile: p.CAFile, CertFile: c, KeyFile: k}
}

// applianceTLS is an appliance's TLS section for site.
func (p *pki) applianceTLS(t testing.TB, site string) uplink.TLSConfig {
	c, k := p.cert(t, site)
	return uplink.TLSConfig{CAFile: p.CAFile, CertFile: c, KeyFile: k}
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// logBuffer is a slog destination tests read.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// key of a record at the sink.
type key struct {
	site string
	kind uplink.Kind
	seq  uint64
}

// countingSink writes what central hands on into a real store (an event per record, with
// the marks, in one transaction per batch, as central's sink does), counts it, and counts
// what it gets twice.
type countingSink struct {
	st *store.Store

	mu      sync.Mutex
	seen    map[key]int
	order   map[string][]uint64 // site/kind → sequences in arrival order
	times   map[string][]time.Time
	bySite  map[string]int
	dups    int
	failN   int // fail the next failN calls (a sink that is briefly down)
	batches int // successful Ingest calls
	// hold, when set, is called after a batch was committed and its error returned
	// instead of nil: central stopping between the commit and the acknowledgements.
	hold func(ds []central.Delivery) error
}

func newSink(t testing.TB) *countingSink {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "central.db"), store.DefaultConfig(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return &countingSink{st: st, seen: map[key]int{}, order: map[string][]uint64{}, times: map[string][]time.Time{}, bySite: map[string]int{}}
}

func (s *countingSink) Ingest(ds []central.Delivery, marks []central.Mark) error {
	s.mu.Lock()
	if s.failN > 0 {
		s.failN--
		s.mu.Unlock()
		return fmt.Errorf("sink down")
	}
	s.mu.Unlock()
	b := &store.Batch{Events: make([]watchfloor.Event, 0, len(ds)), Marks: marks}
	for _, d := range ds {
		want := fmt.Sprintf("%s/%s/%s", d.Site, d.Kind, d.RecordID)
		if len(d.Payload) != 200 && string(d.Payload) != want { // the drain benchmark sends 200 bytes
			return fmt.Errorf("payload %q, want %q", d.Payload, want)
		}
		b.Events = append(b.Events, watchfloor.Event{Time: d.Time, Site: d.Site, Source: "uplink." + string(d.Kind),
			Message: string(d.Payload), Attrs: []watchfloor.Attr{{Key: "seq", Value: strconv.FormatUint(d.Seq, 10)}}})
	}
	if err := s.st.Write(context.Background(), b); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches++
	for _, d := range ds {
		k := key{d.Site, d.Kind, d.Seq}
		s.seen[k]++
		if s.seen[k] > 1 {
			s.dups++
			continue
		}
		sk := d.Site + "/" + string(d.Kind)
		s.order[sk] = append(s.order[sk], d.Seq)
		s.times[sk] = append(s.times[sk], d.Time)
		s.bySite[d.Site]++
	}
	if s.hold != nil {
		hold := s.hold
		s.mu.Unlock()
		err := hold(ds)
		s.mu.Lock()
		return err
	}
	return nil
}

// stored counts the records in the sink's store by site, kind and sequence.
func (s *countingSink) stored(t testing.TB) map[key]int {
	t.Helper()
	out := map[key]int{}
	var after uint64
	for {
		evs, err := s.st.Events(watchfloor.EventQuery{AfterID: after, Limit: store.MaxEventLimit})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			return out
		}
		for _, e := range evs {
			seq, _ := strconv.ParseUint(e.Attrs[0].Value, 10, 64)
			out[key{e.Site, uplink.Kind(strings.TrimPrefix(e.Source, "uplink.")), seq}]++
			after = e.ID
		}
	}
}

func (s *countingSink) count(site string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bySite[site]
}

func (s *countingSink) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, v := range s.bySite {
		n += v
	}
	return n
}

// appliance is a simulated appliance: a store, its outbox and uplink.
type appliance struct {
	t      testing.TB
	site   string
	path   string
	cfg    uplink.Config
	st     *store.Store
	up     *uplink.Uplink
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan error
	next   int // records made so far, their IDs
}

func newAppliance(t testing.TB, site string, cfg uplink.Config) *appliance {
	t.Helper()
	a := &appliance{t: t, site: site, path: filepath.Join(t.TempDir(), "watchfloor.db"), cfg: cfg}
	a.open()
	t.Cleanup(a.close)
	return a
}

// open opens the store and the uplink, and starts it.
func (a *appliance) open() {
	a.t.Helper()
	st, err := store.Open(a.path, store.DefaultConfig(), nil, nil)
	if err != nil {
		a.t.Fatal(err)
	}
	a.reg = prometheus.NewRegistry()
	up, err := uplink.New(a.cfg, st, nil, a.reg)
	if err != nil {
		a.t.Fatal(err)
	}
	a.st, a.up = st, up
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel, a.done = cancel, make(chan error, 1)
	go func() { a.done <- up.Run(ctx) }()
}

// close stops the uplink and closes the store: an appliance shut down.
func (a *appliance) close() {
	if a.st == nil {
		return
	}
	a.cancel()
	if err := <-a.done; err != nil {
		a.t.Error(err)
	}
	a.up.Close()
	if err := a.st.Close(); err != nil {
		a.t.Error(err)
	}
	a.st = nil
}

// put makes n records, cycling through kinds, at times from start every step.
func (a *appliance) put(n int, kinds []uplink.Kind, start time.Time, step time.Duration) {
	a.t.Helper()
	recs := make([]uplink.Record, 0, n)
	for i := 0; i < n; i++ {
		k := kinds[a.next%len(kinds)]
		id := strconv.Itoa(a.next)
		recs = append(recs, uplink.Record{Kind: k, ID: id, Time: start.Add(time.Duration(i) * step),
			Payload: []byte(a.site + "/" + string(k) + "/" + id)})
		a.next++
	}
	for len(recs) > 0 {
		b := recs[:min(len(recs), 200)]
		recs = recs[len(b):]
		if err := a.up.Put(b); err != nil {
			a.t.Fatal(err)
		}
	}
}

// applianceConfig is an uplink configuration for site with fast retries.
func applianceConfig(site string, urls []string, tls uplink.TLSConfig) uplink.Config {
	cfg := uplink.DefaultConfig()
	cfg.Site, cfg.URLs, cfg.TLS = site, urls, tls
	cfg.Rate, cfg.Burst = 50_000, 1000
	cfg.AckTimeout = 2 * time.Second
	cfg.ReconnectWait = 100 * time.Millisecond
	return cfg
}

// waitFor polls cond until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startCentral runs c in the background until the test ends.
func startCentral(t testing.TB, c *central.Central, sink central.Sink) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, sink) }()
	select {
	case <-c.Ready():
	case err := <-done:
		cancel()
		t.Fatalf("central stopped: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("central not ready within 30s")
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
			c.Close()
		})
	}
	t.Cleanup(stop)
	return stop
}
