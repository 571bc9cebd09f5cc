package topology

import (
	"fmt"
	"time"
)

// Config is the topology part of the correlator's configuration.
type Config struct {
	// Roots are the site's uplink devices (its core routers): where every path into the
	// site starts. Empty: the devices with role "core".
	Roots []string `yaml:"roots"`
	// Dependencies are edges LLDP does not show: Device is reached through each of
	// Upstream (one of them is enough).
	Dependencies []Dependency `yaml:"dependencies"`
	// RootRules are the rules whose alert on a device means the device is down: it explains
	// the alerts of what is behind it. Empty: any availability alert about a device and no
	// interface.
	RootRules []string `yaml:"root_rules"`
	// LinkMemory is how long a link learnt from LLDP is kept once no device reports it (a
	// port that goes down drops its LLDP neighbour, and a dead device reports nothing). A
	// link whose port reports another neighbour is replaced at once.
	LinkMemory time.Duration `yaml:"link_memory"`
	// QueueSize bounds the alert changes waiting for the suppressor. When it is full,
	// changes are dropped, counted, and the suppressor re-reads the open alerts.
	QueueSize int `yaml:"queue_size"`
}

// Dependency declares that Device is reached through Upstream.
type Dependency struct {
	Device   string   `yaml:"device"`
	Upstream []string `yaml:"upstream"`
}

// DefaultRootRule is the default pack's rule for a device that does not answer its poller.
const DefaultRootRule = "device_unreachable"

// DefaultConfig returns the defaults: core devices as roots, the default pack's
// device_unreachable as the root-cause rule, links kept a week, 4096 queued changes.
func DefaultConfig() Config {
	return Config{
		RootRules:  []string{DefaultRootRule},
		LinkMemory: 7 * 24 * time.Hour,
		QueueSize:  4096,
	}
}

// FieldError is one problem in a configuration, named by its YAML path relative to the
// topology section.
type FieldError struct {
	Field string
	Msg   string
}

func (e FieldError) Error() string { return e.Field + ": " + e.Msg }

// Bounds of the configuration.
const (
	maxQueueSize    = 1 << 20
	maxDependencies = 100_000
)

// Validate returns every problem of the configuration; none means it is usable.
func (c Config) Validate() []FieldError {
	var errs []FieldError
	bad := func(field, format string, args ...any) {
		errs = append(errs, FieldError{field, fmt.Sprintf(format, args...)})
	}
	seen := map[string]bool{}
	for i, r := range c.Roots {
		switch {
		case r == "":
			bad(fmt.Sprintf("roots[%d]", i), "empty device name")
		case seen[r]:
			bad(fmt.Sprintf("roots[%d]", i), "device %q listed twice", r)
		}
		seen[r] = true
	}
	if len(c.Dependencies) > maxDependencies {
		bad("dependencies", "at most %d, got %d", maxDependencies, len(c.Dependencies))
	}
	for i, d := range c.Dependencies {
		f := fmt.Sprintf("dependencies[%d]", i)
		if d.Device == "" {
			bad(f+".device", "empty device name")
		}
		if len(d.Upstream) == 0 {
			bad(f+".upstream", "no upstream device")
		}
		for j, u := range d.Upstream {
			switch {
			case u == "":
				bad(fmt.Sprintf("%s.upstream[%d]", f, j), "empty device name")
			case u == d.Device:
				bad(fmt.Sprintf("%s.upstream[%d]", f, j), "device %q depends on itself", u)
			}
		}
	}
	for i, r := range c.RootRules {
		if r == "" {
			bad(fmt.Sprintf("root_rules[%d]", i), "empty rule name")
		}
	}
	if c.LinkMemory < 0 {
		bad("link_memory", "must not be negative, got %s", c.LinkMemory)
	}
	if c.QueueSize < 1 || c.QueueSize > maxQueueSize {
		bad("queue_size", "must be between 1 and %d, got %d", maxQueueSize, c.QueueSize)
	}
	return errs
}
