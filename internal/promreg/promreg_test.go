package promreg

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestAllOrNothing(t *testing.T) {
	reg := prometheus.NewRegistry()
	a := prometheus.NewCounter(prometheus.CounterOpts{Name: "a_total", Help: "a"})
	taken := prometheus.NewCounter(prometheus.CounterOpts{Name: "b_total", Help: "b"})
	if err := reg.Register(taken); err != nil {
		t.Fatal(err)
	}
	b := prometheus.NewCounter(prometheus.CounterOpts{Name: "b_total", Help: "b"})
	if err := Register(reg, a, b); err == nil {
		t.Fatal("a duplicate registered")
	}
	if err := reg.Register(a); err != nil { // a was undone, so it registers again
		t.Fatalf("a left registered: %v", err)
	}
	Unregister(reg, a)
	if err := Register(reg, a); err != nil {
		t.Fatal(err)
	}
	if err := Register(nil, a); err != nil {
		t.Fatal(err)
	}
}
