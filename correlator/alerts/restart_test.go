package alerts_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/appliance/store"
	"github.com/watchfloor/watchfloor/correlator/alerts"
)

// TestRestart runs a Manager over a bbolt store, stops it, and starts another over the same
// file: the open alerts continue (no duplicates), with their counts, silences, suppression
// links and quiet periods, and IDs keep increasing.
func TestRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.db")
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	now := func() time.Time { return base }
	open := func() (*store.Store, *alerts.Manager) {
		st, err := store.Open(path, store.DefaultConfig(), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		m, err := alerts.New(alerts.DefaultConfig(), st, now, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return st, m
	}
	fire := func(m *alerts.Manager, key string, at time.Time) (watchfloor.Alert, bool) {
		return m.Fire(alerts.Match{Rule: "down", Key: key, Severity: watchfloor.SeverityCritical,
			Title: "down " + key, Time: at, ResolveAfter: 10 * time.Minute,
			Evidence: &watchfloor.Evidence{Time: at, Kind: "event", Summary: "no answer"}})
	}

	st, m := open()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- m.Run(ctx) }()
	root, _ := fire(m, "core", base)
	child, _ := fire(m, "edge", base)
	gone, _ := fire(m, "gone", base)
	fire(m, "core", base.Add(time.Minute))
	m.Recover("down", "gone", base.Add(time.Minute))
	m.Suppress(root.ID, []uint64{child.ID})
	sil, err := m.AddSilence(watchfloor.Silence{Matchers: []watchfloor.Matcher{{Name: "key", Op: "=", Value: "edge"}},
		EndsAt: base.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	cancel() // Run writes what is left
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st, m = open()
	defer st.Close()
	a, isNew := fire(m, "core", base.Add(2*time.Minute))
	if isNew || a.ID != root.ID || a.Count != 3 {
		t.Fatalf("after restart: %+v new=%v", a, isNew)
	}
	if c, _, _ := m.Get(child.ID); c.SuppressedBy != root.ID || !c.Silenced || c.SilenceID != sil.ID {
		t.Fatalf("child %+v", c)
	}
	if r, _, _ := m.Get(root.ID); len(r.Suppressed) != 1 || len(r.Evidence) != 3 {
		t.Fatalf("root %+v", r)
	}
	n, isNew := fire(m, "gone", base.Add(3*time.Minute))
	if !isNew || n.ID <= gone.ID || n.ID != 4 {
		t.Fatalf("resolved identity again: %+v new=%v", n, isNew)
	}
	if len(m.Silences()) != 1 {
		t.Fatal("silence lost")
	}
	// The quiet period survived the restart.
	m.Tick(base.Add(time.Hour))
	if err := m.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := m.List(alerts.Query{Open: true}); len(got) != 0 {
		t.Fatalf("open after the quiet period: %v", got)
	}
	hist, err := m.History(root.ID)
	if err != nil || len(hist) != 2 || hist[1].By != alerts.ByQuiet {
		t.Fatalf("history %+v %v", hist, err)
	}
}
