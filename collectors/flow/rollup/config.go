package rollup

import (
	"fmt"
	"time"
)

// Limits that Validate enforces.
const (
	maxTopN    = 10000
	maxMaxKeys = 10_000_000
	maxGrace   = 5 * time.Minute
	maxWorkers = 4096
)

// Config is the rollup's configuration, under flow.rollup in the appliance's YAML.
type Config struct {
	// TopN is, per dimension and device, how many keys a rollup keeps: the top TopN by bytes
	// and the top TopN by packets (their union, so at most 2×TopN rows).
	TopN int `yaml:"top_n" json:"top_n"`
	// MaxKeys bounds the distinct keys of one dimension in one receive goroutine's table for
	// one minute. Records whose key does not fit are counted in Totals.Overflow and in
	// watchfloor_flow_rollup_overflow_total{dim}, not in rows.
	MaxKeys int `yaml:"max_keys" json:"max_keys"`
	// Grace is how long after its end a minute stays open for late datagrams.
	Grace time.Duration `yaml:"grace" json:"grace"`
}

// DefaultConfig returns the defaults: top 100, 100,000 keys per dimension, 5 s of grace.
func DefaultConfig() Config {
	return Config{TopN: 100, MaxKeys: 100_000, Grace: 5 * time.Second}
}

// FieldError is one problem in a configuration, with the path of the field in YAML terms
// (relative to the struct that was validated).
type FieldError struct {
	Field string
	Msg   string
}

func (e FieldError) Error() string { return e.Field + ": " + e.Msg }

// Validate lists every problem with the configuration, naming fields by their YAML path.
func (c Config) Validate() []FieldError {
	var errs []FieldError
	bad := func(field, format string, args ...any) {
		errs = append(errs, FieldError{field, fmt.Sprintf(format, args...)})
	}
	if c.TopN < 1 || c.TopN > maxTopN {
		bad("top_n", "must be between 1 and %d (is %d)", maxTopN, c.TopN)
	}
	if c.MaxKeys < 1 || c.MaxKeys > maxMaxKeys {
		bad("max_keys", "must be between 1 and %d (is %d)", maxMaxKeys, c.MaxKeys)
	} else if c.TopN > c.MaxKeys {
		bad("max_keys", "%d is less than top_n %d", c.MaxKeys, c.TopN)
	}
	if c.Grace < 0 || c.Grace > maxGrace {
		bad("grace", "must be between 0s and %s (is %s)", maxGrace, c.Grace)
	}
	return errs
}
