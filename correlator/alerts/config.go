package alerts

import (
	"fmt"
	"time"
)

// Config is the alert manager's part of the correlator's configuration.
type Config struct {
	// MaxOpen caps the alerts that are not resolved. Beyond it, matches that would start a
	// new alert are dropped and counted (watchfloor_alerts_dropped_total{reason="max_open"});
	// matches of open alerts still update them.
	MaxOpen int `yaml:"max_open"`
	// FlushInterval is the longest an update of an open alert (Count, LastSeen, Evidence)
	// waits before it is written: updates of one alert within it are one write. New alerts,
	// state changes and silences are written sooner (within a tenth of it).
	FlushInterval time.Duration `yaml:"flush_interval"`
	// FlapCount and FlapWindow: an identity (rule and key) that starts more than FlapCount
	// alerts within FlapWindow — it fired and resolved FlapCount times and fires again — is
	// flapping, and its alert is marked so.
	FlapCount  int           `yaml:"flap_count"`
	FlapWindow time.Duration `yaml:"flap_window"`
	// MaxSilences caps the silences kept, expired ones included.
	MaxSilences int `yaml:"max_silences"`
	// SilenceRetention is how long an expired silence is kept, for the record.
	SilenceRetention time.Duration `yaml:"silence_retention"`
}

// DefaultConfig returns the defaults: 10000 open alerts, updates written every second,
// flapping at more than 4 alerts of one identity in an hour, 1000 silences kept 5 days
// after they end (Alertmanager's retention).
func DefaultConfig() Config {
	return Config{
		MaxOpen:          10_000,
		FlushInterval:    time.Second,
		FlapCount:        4,
		FlapWindow:       time.Hour,
		MaxSilences:      1000,
		SilenceRetention: 120 * time.Hour,
	}
}

// FieldError is one problem in a configuration, with the path of the field in YAML terms
// relative to the manager's section.
type FieldError struct {
	Field string
	Msg   string
}

func (e FieldError) Error() string { return e.Field + ": " + e.Msg }

// Bounds of the configuration.
const (
	maxMaxOpen       = 1_000_000
	minFlushInterval = 10 * time.Millisecond
	maxFlushInterval = time.Minute
	maxMaxSilences   = 100_000
)

// Validate returns every problem of the configuration; none means it is usable.
func (c Config) Validate() []FieldError {
	var errs []FieldError
	bad := func(field, format string, args ...any) {
		errs = append(errs, FieldError{field, fmt.Sprintf(format, args...)})
	}
	if c.MaxOpen < 1 || c.MaxOpen > maxMaxOpen {
		bad("max_open", "must be between 1 and %d, got %d", maxMaxOpen, c.MaxOpen)
	}
	if c.FlushInterval < minFlushInterval || c.FlushInterval > maxFlushInterval {
		bad("flush_interval", "must be between %s and %s, got %s", minFlushInterval, maxFlushInterval, c.FlushInterval)
	}
	if c.FlapCount < 1 || c.FlapCount > 1000 {
		bad("flap_count", "must be between 1 and 1000, got %d", c.FlapCount)
	}
	if c.FlapWindow <= 0 {
		bad("flap_window", "must be greater than 0, got %s", c.FlapWindow)
	}
	if c.MaxSilences < 1 || c.MaxSilences > maxMaxSilences {
		bad("max_silences", "must be between 1 and %d, got %d", maxMaxSilences, c.MaxSilences)
	}
	if c.SilenceRetention < 0 {
		bad("silence_retention", "must not be negative, got %s", c.SilenceRetention)
	}
	return errs
}
