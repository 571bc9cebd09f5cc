package distrib

import (
	"context"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/appliance/central"
	"github.com/watchfloor/watchfloor/appliance/uplink"
	"github.com/watchfloor/watchfloor/rules"
)

// testLog is a logger for tests: warnings and errors to the test log.
func testLog(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// startServer runs central's NATS server on loopback with a user per site (password
// "pw-SITE").
func startServer(t testing.TB, sites ...string) *central.Server {
	t.Helper()
	cfg := central.ServerConfig{Listen: "127.0.0.1:-1", StoreDir: "js"}
	for _, s := range sites {
		h, err := bcrypt.GenerateFromPassword([]byte("pw-"+s), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Sites = append(cfg.Sites, central.Site{Name: s, User: s, PasswordHash: string(h)})
	}
	srv, err := central.NewServer(cfg, t.TempDir(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	return srv
}

// centralConn is central's own client.
func centralConn(t testing.TB, srv *central.Server) *nats.Conn {
	t.Helper()
	in := srv.Internal()
	nc, err := nats.Connect(srv.ClientURL(), nats.UserInfo(in.User, in.Password.Reveal()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// siteConn is an appliance's connection, as the uplink makes it.
func siteConn(t testing.TB, srv *central.Server, site string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	opts = append([]nats.Option{nats.UserInfo(site, "pw-"+site), nats.CustomInboxPrefix(uplink.InboxPrefix(site))}, opts...)
	nc, err := nats.Connect(srv.ClientURL(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// fakeApplier checks with the real rules package, as the appliance's rule set would, and
// refuses rules that contain refuseMark.
type fakeApplier struct {
	refuseMark string

	mu       sync.Mutex
	files    map[string]string
	nRules   int
	silences []watchfloor.Silence
	rulesN   int // ApplyRules calls that succeeded
}

func (a *fakeApplier) ApplyRules(fsys fs.FS) error {
	files := map[string]string{}
	var paths []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		files[p] = string(b)
		if rules.IsRuleFile(p) {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	lists, lerrs := rules.LoadListsFS(fsys, "")
	s, errs := rules.LoadFiles(fsys, lists, paths...)
	if errs = append(lerrs, errs...); len(errs) > 0 {
		return &rulesError{errorsText(rules.SortErrors(errs))}
	}
	for p, c := range files {
		if a.refuseMark != "" && strings.Contains(c, a.refuseMark) {
			return &rulesError{p + ":1:1: refused by this appliance's policy"}
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.files, a.nRules = files, len(s.Rules)
	a.rulesN++
	return nil
}

type rulesError struct{ s string }

func (e *rulesError) Error() string { return e.s }

func (a *fakeApplier) ApplySilences(ss []watchfloor.Silence) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.silences = ss
	return nil
}

func (a *fakeApplier) file(p string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.files[p]
}

func (a *fakeApplier) silenceIDs() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var ids []string
	for _, s := range a.silences {
		ids = append(ids, s.ID)
	}
	return ids
}

// writeFile writes dir/name (directories made), with a modification time that differs
// from the last write's, so a scan sees the change even within the clock's resolution.
func writeFile(t testing.TB, dir, name, data string) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	mt := time.Now().Add(time.Duration(writes.Add(1)) * time.Second)
	_ = os.Chtimes(p, mt, mt)
}

// ruleFile is a valid rule reading the list bad_ips; title makes versions differ.
func ruleFile(title string) string {
	return `title: ` + title + `
name: bad_address_out
logsource: {category: flow}
detection:
  selection:
    dst_ip|expand: '%bad_ips%'
  condition: selection
level: high
`
}

func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// applied is kind's Applied at s (zero when none).
func applied(s *Subscriber, kind string) uplink.Applied {
	for _, a := range s.Applied() {
		if a.Kind == kind {
			return a
		}
	}
	return uplink.Applied{}
}

func offered(p *Publisher, kind string) uplink.Applied {
	for _, a := range p.Offered() {
		if a.Kind == kind {
			return a
		}
	}
	return uplink.Applied{}
}

// running runs f's Run in the background until the test ends (or stop is called).
func running(t testing.TB, run func(ctx context.Context) error) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("Run did not return within 10s of its context's end")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func connOf(nc *nats.Conn) func() *nats.Conn { return func() *nats.Conn { return nc } }

var writes atomic.Int64

var _ = prometheus.NewRegistry
