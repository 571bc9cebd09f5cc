package store

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/watchfloor/watchfloor"
	bolt "go.etcd.io/bbolt"
)

// base is the start of the test data; tests move the store's clock from there.
var base = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// clock is a settable time source for Store.now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

type testStore struct {
	*Store
	reg   *prometheus.Registry
	clock *clock
}

// openTest opens a store at path (a new file in a temporary directory when empty) with a
// registry and a clock set to base, and closes it at the end of the test.
func openTest(t testing.TB, path string, cfg Config) *testStore {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "watchfloor.db")
	}
	reg := prometheus.NewRegistry()
	s, err := Open(path, cfg, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: base}
	s.now = c.Now
	t.Cleanup(func() { _ = s.Close() })
	return &testStore{s, reg, c}
}

func mustWrite(t testing.TB, s *Store, b *Batch) {
	t.Helper()
	if err := s.Write(context.Background(), b); err != nil {
		t.Fatal(err)
	}
}

// metric is the value of the metric name with the given label pairs, or -1 when absent.
func metric(t testing.TB, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i < len(labels); i += 2 {
				if labelValue(m, labels[i]) != labels[i+1] {
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

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// checkConsistent asserts what must hold of any store, whatever happened to the process
// that wrote it: bbolt's own check passes, event IDs have no holes, and every rollup counts
// exactly the raw samples of its steps (raw retention has not run in these tests).
func checkConsistent(t testing.TB, s *Store) {
	t.Helper()
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bEvents).Cursor()
		var prev uint64
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			id := bigEndian(k)
			if prev != 0 && id != prev+1 {
				return fmt.Errorf("event IDs jump from %d to %d", prev, id)
			}
			prev = id
		}
		if seq := tx.Bucket(bEvents).Sequence(); seq != prev {
			return fmt.Errorf("event sequence %d, last event %d", seq, prev)
		}
		return tx.Bucket(bRaw).ForEach(func(name, _ []byte) error {
			for _, r := range []struct {
				parent []byte
				step   int64
			}{{b5m, step5m}, {b1h, step1h}} {
				counts := map[int64]uint64{}
				_ = tx.Bucket(bRaw).Bucket(name).ForEach(func(k, _ []byte) error {
					ts := int64(bigEndian(k))
					counts[ts-ts%r.step]++
					return nil
				})
				rb := tx.Bucket(r.parent).Bucket(name)
				if rb == nil {
					return fmt.Errorf("series %q has no %s rollups", name, r.parent)
				}
				n := 0
				err := rb.ForEach(func(k, v []byte) error {
					n++
					ru, _ := decodeRollup(v)
					if ru.count != counts[int64(bigEndian(k))] {
						return fmt.Errorf("series %q %s step %d: rollup counts %d, raw has %d", name, r.parent, bigEndian(k), ru.count, counts[int64(bigEndian(k))])
					}
					return nil
				})
				if err != nil {
					return err
				}
				if n != len(counts) {
					return fmt.Errorf("series %q: %d %s rollups for %d steps of raw samples", name, n, r.parent, len(counts))
				}
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func sample(dev string, ifIndex int32, metric string, t time.Time, v float64) watchfloor.Sample {
	return watchfloor.Sample{Device: dev, IfIndex: ifIndex, Metric: metric, Time: t, Value: v}
}
