// Package promreg registers a component's Prometheus metrics all or nothing, so that a
// component that fails to start leaves the registry as it found it.
package promreg

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Register registers every collector on reg (nil: none); when one fails, those already
// registered are unregistered and the error says which failed.
func Register(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	if reg == nil {
		return nil
	}
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			Unregister(reg, cs[:i]...)
			return fmt.Errorf("register metrics: %w", err)
		}
	}
	return nil
}

// Unregister unregisters every collector from reg (nil: none).
func Unregister(reg prometheus.Registerer, cs ...prometheus.Collector) {
	if reg == nil {
		return
	}
	for _, c := range cs {
		reg.Unregister(c)
	}
}
