package store

import (
	"fmt"
	"time"

	"github.com/watchfloor/watchfloor"
)

// Config is the store's part of the appliance configuration.
type Config struct {
	Retention Retention `yaml:"retention"`
	// CommitInterval is the longest a write waits for other writes to share its transaction,
	// counted from when Write was called. With 0, the default, the committer starts a
	// transaction as soon as it is free, with every write that queued meanwhile: under load
	// the writes that arrive during one commit share the next, so groups grow with the disk's
	// latency by themselves. A wait only adds latency when all writers are already in (see
	// BenchmarkGroupCommit); it can help when writes trickle in from many uncoordinated
	// writers onto a disk with cheap fsyncs.
	CommitInterval time.Duration `yaml:"commit_interval"`
	// MaxBatch caps the records (devices, samples and events) of one transaction. A single
	// Batch larger than MaxBatch is committed alone, never split.
	MaxBatch int `yaml:"max_batch"`
	// MergeFlows merges a flow rollup being written into the stored one of the same step,
	// start and site (a is the stored one). It is code, not configuration: the appliance
	// passes the flow collector's merge, which keeps rollups to the collector's top N:
	//
	//	cfg.Store.MergeFlows = func(a, b watchfloor.FlowRollup) watchfloor.FlowRollup {
	//		return rollup.Merge(a, b, flowCfg.TopN)
	//	}
	//
	// With nil, rows are summed per dimension, device and key, interfaces per device and
	// ifIndex (5-minute slots slot by slot) and the totals, keeping every key: exact, but a
	// rollup written many times grows without the collector's trimming. The function runs in
	// the committer; it may keep neither argument's slices, and must not change a's.
	MergeFlows func(a, b watchfloor.FlowRollup) watchfloor.FlowRollup `yaml:"-"`
}

// Retention is how long each kind of record is kept. Older records are deleted in the
// background by Store.Run.
type Retention struct {
	Events   time.Duration `yaml:"events"`    // events, by Event.Time
	Raw      time.Duration `yaml:"raw"`       // raw samples, one per poll
	Rollup5m time.Duration `yaml:"rollup_5m"` // 5-minute rollups
	Rollup1h time.Duration `yaml:"rollup_1h"` // 1-hour rollups
	Flows1m  time.Duration `yaml:"flows_1m"`  // 1-minute flow rollups
	Flows1h  time.Duration `yaml:"flows_1h"`  // 1-hour flow rollups
	Alerts   time.Duration `yaml:"alerts"`    // resolved alerts and their histories, by ResolvedAt
	// Notifications is the on-call notification log, by entry time, and the resolved
	// incidents, by resolution time. Open incidents and the outbox are never deleted.
	Notifications time.Duration `yaml:"notifications"`
	// Audit is the console's audit log of analyst and admin actions, by entry time.
	Audit time.Duration `yaml:"audit"`
}

// Bounds of the configuration.
const (
	maxCommitInterval = time.Second
	maxMaxBatch       = 1_000_000
)

// DefaultConfig returns the configuration used for every field the operator leaves out.
func DefaultConfig() Config {
	return Config{
		Retention: Retention{
			Events:   90 * 24 * time.Hour,
			Raw:      48 * time.Hour,
			Rollup5m: 35 * 24 * time.Hour,
			Rollup1h: 400 * 24 * time.Hour,
			Flows1m:  7 * 24 * time.Hour,
			Flows1h:  9490 * time.Hour, // 13 months: a year back from the last full month
			Alerts:   400 * 24 * time.Hour,

			Notifications: 400 * 24 * time.Hour,
			Audit:         400 * 24 * time.Hour,
		},
		CommitInterval: 0,
		MaxBatch:       10_000,
	}
}

// FieldError is one problem in a configuration, with the path of the field in YAML terms
// relative to the store's section (the appliance prefixes it, "store.retention.raw").
type FieldError struct {
	Field string
	Msg   string
}

func (e FieldError) Error() string { return e.Field + ": " + e.Msg }

// Validate returns every problem of the configuration; none means it is usable.
func (c Config) Validate() []FieldError {
	var errs []FieldError
	bad := func(field, format string, args ...any) {
		errs = append(errs, FieldError{field, fmt.Sprintf(format, args...)})
	}
	for _, r := range []struct {
		field string
		d     time.Duration
	}{
		{"retention.events", c.Retention.Events},
		{"retention.raw", c.Retention.Raw},
		{"retention.rollup_5m", c.Retention.Rollup5m},
		{"retention.rollup_1h", c.Retention.Rollup1h},
		{"retention.flows_1m", c.Retention.Flows1m},
		{"retention.flows_1h", c.Retention.Flows1h},
		{"retention.alerts", c.Retention.Alerts},
		{"retention.notifications", c.Retention.Notifications},
		{"retention.audit", c.Retention.Audit},
	} {
		if r.d <= 0 {
			bad(r.field, "must be greater than 0, got %s", r.d)
		}
	}
	if c.CommitInterval < 0 || c.CommitInterval > maxCommitInterval {
		bad("commit_interval", "must be between 0 and %s, got %s", maxCommitInterval, c.CommitInterval)
	}
	if c.MaxBatch < 1 || c.MaxBatch > maxMaxBatch {
		bad("max_batch", "must be between 1 and %d, got %d", maxMaxBatch, c.MaxBatch)
	}
	return errs
}
