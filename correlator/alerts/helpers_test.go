package alerts

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/watchfloor/watchfloor"
)

var base = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time                  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration)             { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func (c *clock) Set(t time.Time)                 { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func (c *clock) After(d time.Duration) time.Time { return c.Now().Add(d) }

type harness struct {
	*Manager
	t     testing.TB
	st    *MemStore
	clock *clock
	reg   *prometheus.Registry
}

func newHarness(t testing.TB, cfg Config, st *MemStore) *harness {
	t.Helper()
	if st == nil {
		st = NewMemStore()
	}
	c := &clock{t: base}
	reg := prometheus.NewRegistry()
	m, err := New(cfg, st, c.Now, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{m, t, st, c, reg}
}

func match(rule, key string, t time.Time) Match {
	return Match{Rule: rule, Key: key, Severity: watchfloor.SeverityMedium, Category: watchfloor.CategorySecurity,
		Title: rule + " " + key, Time: t, Entity: watchfloor.Entity{Site: "hq", Host: key}}
}

func (h *harness) flush() {
	h.t.Helper()
	if err := h.Flush(context.Background()); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) get(id uint64) watchfloor.Alert {
	h.t.Helper()
	a, ok, err := h.Get(id)
	if err != nil || !ok {
		h.t.Fatalf("alert %d: %v %v", id, ok, err)
	}
	return a
}

func (h *harness) metric(name string, labels ...string) float64 {
	h.t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return -1
}
