// Package window holds the windowed state of the correlator: one structure
// per Sigma correlation type (EventCount, ValueCount, ValueSum, ValueAvg,
// ValuePercentile, Temporal, TemporalOrdered) and Watchfloor's two
// (Absence, Threshold). It knows nothing of rules or records: the engine
// passes a group key, an event time and a value, and gets back a Match.
//
// # Keys
//
// A group key is a []byte the caller encodes from the group-by values in a
// reused buffer (for instance the 16 bytes of each address and the two of a
// port, strings length-prefixed so the encoding is injective). Structures
// hash it (hash/maphash, a random seed per structure), and keep a copy per
// group that every lookup compares, so two keys with the same hash never
// share a group. Match.Key hands that copy back for display; it is valid
// until the next call on the structure.
//
// # Windows
//
// Windows slide over event time with sub-buckets: a timespan is cut into
// Config.Buckets (16) buckets of width timespan/Buckets aligned on
// multiples of the width. After a record, a group's window is its newest
// bucket and the Buckets-1 before it: it covers at least timespan-width and
// never more than timespan. So two records exactly timespan apart are never
// counted together, and records less than timespan-width apart always are.
// Conditions are evaluated at every record of the group (a sliding
// evaluation: `lt` and `lte` can hold from a group's first record), and
// Match.Rising marks the record at which the condition starts to hold.
// Temporal and TemporalOrdered keep exact times and need no buckets.
//
// # Time, lateness, expiry
//
// All time is event time passed by the caller; nothing reads a clock and
// nothing starts a goroutine. Each structure keeps a watermark (the newest
// time seen by Add or Tick): a record older than watermark-Lateness is
// dropped and counted (Stats.LateDrops), as is a record older than its
// group's window. Tick(now) advances the watermark and drops groups whose
// newest record is older than timespan+Lateness (Stats.Expired), walking
// from the least recently updated group; Absence and Threshold fire and
// resolve on Tick. A structure is used by one goroutine; only Stats may be
// read from others (atomic counters).
//
// # Bounds
//
// Config.MaxGroups caps the groups and Config.MaxBytes the estimated memory
// (Bytes: fixed per-group arrays at their capacity, key buffers, the index
// at its peak size, variable-size sets and histograms). Past either, the
// least recently updated group is evicted (Stats.Evictions; OnEvict, when
// set, sees its key and whether its condition held, so the engine can deal
// with an alert whose state is gone). A million distinct keys keep a
// structure under its cap (TestMillionKeysUnderCap). Adds allocate nothing
// in steady state; a new group may allocate its key buffer and, for
// value_count and value_percentile, its first set or cells.
//
// # Approximations
//
// ValueCount is exact (on the 64-bit values the caller passes) up to
// Config.MaxDistinct distinct values in a group's window, in an
// open-addressing set whose entries expire with their bucket. Past it the
// group moves to a HyperLogLog sketch (precision 12, one register array per
// bucket, Ertl's improved estimator: standard error 1.6 %, tested within
// 5 %), counted in Stats.Approximations and flagged Match.Approximate. A
// group that cannot get a sketch under MaxBytes keeps counting a lower bound
// (Stats.Saturated). ValuePercentile uses a sparse log-linear histogram (16
// bins per power of two): the reported value is within 3.125 % of the exact
// nearest-rank percentile.
//
// # Metrics
//
// Structures keep plain atomic counters (Stats) rather than registering
// Prometheus metrics: the engine owns one structure per rule and exports
// the sums (groups, evictions, late drops, approximations) under its own
// names and labels, on its injected registerer.
package window
