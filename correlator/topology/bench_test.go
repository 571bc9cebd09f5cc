package topology

import (
	"fmt"
	"testing"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/correlator/alerts"
)

// nopManager is a manager that holds nothing, to measure the suppressor alone.
type nopManager struct{}

func (nopManager) Suppress(uint64, []uint64)            {}
func (nopManager) Unsuppress(uint64)                    {}
func (nopManager) List(alerts.Query) []watchfloor.Alert { return nil }

// BenchmarkProcess: one alert change processed, with 2000 open alerts of the lab's devices
// and dist-s3 down.
func BenchmarkProcess(b *testing.B) {
	cfg := labConfig()
	s, err := NewSuppressor(Build(labSite(), cfg), nopManager{}, cfg, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	devs := []string{"acc-a1", "acc-a5", "acc-a6", "core-r1", "dist-s2", "cam-1"}
	for i := range 2000 {
		s.OnAlert(watchfloor.Alert{ID: uint64(i + 2), State: watchfloor.AlertFiring, Rule: ifDown,
			Entity: watchfloor.Entity{Device: devs[i%len(devs)], Interface: fmt.Sprint("p", i)}})
		if i%512 == 0 {
			s.Drain()
		}
	}
	s.OnAlert(watchfloor.Alert{ID: 1, State: watchfloor.AlertFiring, Rule: unreachable, Category: watchfloor.CategoryAvailability,
		Entity: watchfloor.Entity{Device: "dist-s3"}})
	s.Drain()
	b.Run("update", func(b *testing.B) { // an open alert's count or evidence changed
		a := watchfloor.Alert{ID: 3, State: watchfloor.AlertFiring, Rule: ifDown, SuppressedBy: 1,
			Entity: watchfloor.Entity{Device: "acc-a5", Interface: "p1"}}
		b.ReportAllocs()
		for b.Loop() {
			s.OnAlert(a)
			s.Drain()
		}
	})
	b.Run("new", func(b *testing.B) { // an alert comes, or goes: a reconcile
		a := watchfloor.Alert{ID: 100000, State: watchfloor.AlertFiring, Rule: ifDown,
			Entity: watchfloor.Entity{Device: "acc-a6", Interface: "x"}}
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			a.State = watchfloor.AlertFiring
			if i%2 == 1 {
				a.State = watchfloor.AlertResolved
			}
			s.OnAlert(a)
			s.Drain()
		}
	})
}
