package window

import (
	"fmt"
	"math"
	"sync/atomic"
	"time"
)

// Config bounds the state of one windowed structure (one correlation rule).
type Config struct {
	// MaxGroups caps the groups held; when reached, the least recently
	// updated group is evicted (counted in Stats.Evictions).
	MaxGroups int `yaml:"max_groups"`
	// MaxDistinct is the number of distinct values a value_count group
	// counts exactly; above it the group switches to a HyperLogLog sketch
	// (counted in Stats.Approximations).
	MaxDistinct int `yaml:"max_distinct"`
	// MaxBytes caps the estimated memory of the structure (Bytes); groups
	// are evicted, least recently updated first, to stay under it.
	MaxBytes int64 `yaml:"max_bytes"`
	// Lateness is how far behind the latest event time a record may be and
	// still count; later records are dropped and counted (Stats.LateDrops).
	Lateness time.Duration `yaml:"lateness"`
	// Buckets is the number of sub-buckets a sliding window is cut into
	// (window granularity = timespan/Buckets).
	Buckets int `yaml:"buckets"`
}

// DefaultConfig returns the defaults: 100000 groups, 10000 exact distinct
// values per group, 64 MiB, 30 s of lateness, 16 buckets per window.
func DefaultConfig() Config {
	return Config{MaxGroups: 100000, MaxDistinct: 10000, MaxBytes: 64 << 20, Lateness: 30 * time.Second, Buckets: 16}
}

// FieldError is a configuration problem, named by its YAML path.
type FieldError struct {
	Field string
	Msg   string
}

func (e FieldError) Error() string { return e.Field + ": " + e.Msg }

// minBytes is the smallest MaxBytes accepted: room for a few sketches.
const minBytes = 1 << 20

// Validate reports every problem of c.
func (c Config) Validate() []FieldError {
	var errs []FieldError
	bad := func(field, format string, args ...any) {
		errs = append(errs, FieldError{field, fmt.Sprintf(format, args...)})
	}
	if c.MaxGroups < 1 || c.MaxGroups > 1<<28 {
		bad("max_groups", "must be between 1 and %d (is %d)", 1<<28, c.MaxGroups)
	}
	if c.MaxDistinct < 1 || c.MaxDistinct > 1<<22 {
		bad("max_distinct", "must be between 1 and %d (is %d)", 1<<22, c.MaxDistinct)
	}
	if c.MaxBytes < minBytes {
		bad("max_bytes", "must be at least %d (is %d)", minBytes, c.MaxBytes)
	}
	if c.Lateness < 0 {
		bad("lateness", "must not be negative (is %s)", c.Lateness)
	}
	if c.Buckets < 1 || c.Buckets > 256 {
		bad("buckets", "must be between 1 and 256 (is %d)", c.Buckets)
	}
	return errs
}

func (c Config) check(timespan time.Duration) error {
	if errs := c.Validate(); len(errs) > 0 {
		return fmt.Errorf("window: %w", errs[0])
	}
	if timespan <= 0 {
		return fmt.Errorf("window: timespan must be positive (is %s)", timespan)
	}
	if timespan < time.Duration(c.Buckets) {
		return fmt.Errorf("window: timespan %s is shorter than %d ns buckets", timespan, c.Buckets)
	}
	return nil
}

// Op is a comparison of a correlation condition.
type Op uint8

// The comparisons of Sigma correlation conditions (neq is Watchfloor's).
const (
	GT Op = iota + 1
	GTE
	LT
	LTE
	EQ
	NEQ
)

var opNames = [...]string{GT: "gt", GTE: "gte", LT: "lt", LTE: "lte", EQ: "eq", NEQ: "neq"}

func (o Op) String() string {
	if int(o) < len(opNames) && opNames[o] != "" {
		return opNames[o]
	}
	return fmt.Sprintf("Op(%d)", uint8(o))
}

// Term is one comparison against a number.
type Term struct {
	Op    Op
	Value float64
}

// Cond is a conjunction of terms (Sigma: `gt: 100, lte: 200` is a range).
// An empty Cond always holds.
type Cond []Term

// Holds reports whether v satisfies every term.
func (c Cond) Holds(v float64) bool {
	for _, t := range c {
		var ok bool
		switch t.Op {
		case GT:
			ok = v > t.Value
		case GTE:
			ok = v >= t.Value
		case LT:
			ok = v < t.Value
		case LTE:
			ok = v <= t.Value
		case EQ:
			ok = v == t.Value
		case NEQ:
			ok = v != t.Value
		}
		if !ok {
			return false
		}
	}
	return true
}

func (c Cond) check() error {
	for i, t := range c {
		if t.Op < GT || t.Op > NEQ {
			return fmt.Errorf("window: condition term %d: unknown comparison %d", i, t.Op)
		}
		if math.IsNaN(t.Value) {
			return fmt.Errorf("window: condition term %d: NaN", i)
		}
	}
	return nil
}

// State is what a Match reports about its group.
type State uint8

const (
	// Holds: the condition holds over the group's window (aggregations,
	// temporal kinds). Match.Rising tells a change from not holding.
	Holds State = iota + 1
	// Pending: a threshold group's samples all satisfy the condition, but
	// not yet for the `for` duration.
	Pending
	// Firing: an absence or threshold group starts firing.
	Firing
	// Resolved: an absence group came back, or a threshold group had a false
	// sample or went stale while firing.
	Resolved
)

var stateNames = [...]string{Holds: "holds", Pending: "pending", Firing: "firing", Resolved: "resolved"}

func (s State) String() string {
	if int(s) < len(stateNames) && stateNames[s] != "" {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// Match is what a structure reports for one group.
type Match struct {
	// Key is the group's key as the caller encoded it. It aliases the
	// structure's memory: valid until the next call on the structure; copy
	// it to keep it.
	Key []byte
	// State says what happened.
	State State
	// Rising is true when the condition did not hold at the group's previous
	// evaluation (or the group is new): the edge an alert is raised on.
	Rising bool
	// Start and End bound the window the value covers (event time).
	Start, End time.Time
	// Value is the aggregate: the count, distinct count, sum, average,
	// percentile, or the number of rules seen (temporal kinds); for absence
	// the silence in seconds, for threshold the seconds the condition held.
	Value float64
	// Approximate is true when Value comes from a sketch (HyperLogLog past
	// MaxDistinct, or the percentile histogram).
	Approximate bool
}

// Stats are the counters of a structure. They are read with atomic loads,
// so an exporter may read them from another goroutine while the owner adds.
type Stats struct {
	Groups         int64  // groups held now
	Evictions      uint64 // groups evicted to respect MaxGroups or MaxBytes
	Expired        uint64 // groups dropped by Tick after their window emptied
	LateDrops      uint64 // records older than the watermark minus Lateness, or than the group's window
	Approximations uint64 // value_count groups switched to a sketch
	Saturated      uint64 // value_count groups that could not get a sketch (MaxBytes) and count a lower bound
	Invalid        uint64 // values dropped because NaN or an out-of-range rule index
}

type counters struct {
	groups         atomic.Int64
	evictions      atomic.Uint64
	expired        atomic.Uint64
	late           atomic.Uint64
	approximations atomic.Uint64
	saturated      atomic.Uint64
	invalid        atomic.Uint64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Groups:         c.groups.Load(),
		Evictions:      c.evictions.Load(),
		Expired:        c.expired.Load(),
		LateDrops:      c.late.Load(),
		Approximations: c.approximations.Load(),
		Saturated:      c.saturated.Load(),
		Invalid:        c.invalid.Load(),
	}
}

func errorf(format string, args ...any) error { return fmt.Errorf("window: "+format, args...) }
