// Package rules is Watchfloor's rule language: Sigma rules (detections and correlations) over
// Watchfloor's record kinds and fields, named lists (IP/CIDR, port and domain sets), alert
// metadata, and rule unit tests. It parses and validates; the correlator compiles the AST
// defined here into its hot path. docs/rules.md describes the language.
package rules

import (
	"net/netip"
	"regexp"
	"time"

	"github.com/watchfloor/watchfloor"
)

// Set is a validated set of rules and the lists they reference.
type Set struct {
	Rules  []*Rule          // in file order, files in lexical order
	ByName map[string]*Rule // every rule by its name (and by its id, when it has one)
	Lists  *Lists
	// Warnings are problems that do not make the set invalid (unknown top-level keys: Sigma
	// allows custom attributes there).
	Warnings []Error
}

// Rule is one detection or correlation rule. Exactly one of Detection and Correlation is set.
type Rule struct {
	File         string // the file it came from
	Line, Column int    // where its document starts

	Name        string // unique across a set: correlations, recoveries and tests name rules by it
	ID          string // Sigma's id (a UUID), optional
	Title       string
	Description string
	Status      string              // stable, test, experimental, deprecated, unsupported, or ""
	Level       watchfloor.Severity // Sigma's level; medium when absent
	Category    string              // availability, performance or security
	Tags        []string
	Techniques  []string // ATT&CK technique IDs from attack.tNNNN[.NNN] tags, upper-cased: T1046, T1071.004

	LogSource LogSource // detections only
	// Kinds are the record kinds the rule reads: from the logsource category for a detection,
	// the union of the referenced rules' kinds for a correlation.
	Kinds []Kind

	Detection   *Detection
	Correlation *Correlation
	Alert       AlertSpec

	// Generate reports whether the rule raises alerts of its own. Sigma: a rule referenced by a
	// correlation only feeds it unless one of those correlations says `generate: true`; a rule
	// nothing references always alerts.
	Generate bool
	// GenerateReferenced is the correlation's own `generate` key: whether the rules it
	// references also alert on their own.
	GenerateReferenced bool

	x      *ruleExtra // positions for NewSet's messages
	broken bool       // had errors: only its name is known
}

// IsCorrelation reports whether the rule is a correlation rule.
func (r *Rule) IsCorrelation() bool { return r.Correlation != nil }

// LogSource is Sigma's logsource.
type LogSource struct {
	Product  string
	Category string
	Service  string
}

// Detection is a detection rule's named selections and its condition over them.
type Detection struct {
	Selections map[string]*Selection
	Condition  Expr
}

// Selection is one named search identifier: an OR of AND-groups of field conditions (a map is
// one group; a list of maps is several).
type Selection struct {
	Name         string
	Line, Column int
	Groups       [][]FieldCond
}

// Op is how a field condition compares.
type Op uint8

// The operators. OpEq is Sigma's plain value match (with wildcards for strings, prefix
// containment for addresses given as networks, list membership for list references).
const (
	OpEq Op = iota
	OpContains
	OpStartsWith
	OpEndsWith
	OpRe
	OpCIDR
	OpGT
	OpGTE
	OpLT
	OpLTE
	OpExists
)

var opNames = [...]string{"eq", "contains", "startswith", "endswith", "re", "cidr", "gt", "gte", "lt", "lte", "exists"}

func (o Op) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return "op?"
}

// FieldCond is one `field|modifiers: values` entry of a selection.
type FieldCond struct {
	Line, Column int
	Field        Field    // resolved; attribute fields are Field{Name: "attr.KEY", Type: Str}
	Attr         string   // for attribute fields, KEY
	Modifiers    []string // as written
	Op           Op
	Values       []Value // OR of these, or AND when All
	All          bool
	Cased        bool // strings compare case-sensitively
	// Exists is the wanted presence for OpExists (field|exists: true|false).
	Exists bool
}

// ValueKind says which member of a Value is set.
type ValueKind uint8

// The value kinds.
const (
	ValStr    ValueKind = iota + 1 // Pattern (and Str)
	ValRe                          // Re
	ValNum                         // Num
	ValPrefix                      // Prefix (a single address is a /32 or /128)
	ValList                        // List (ListName)
	ValNull                        // null: the field is empty or absent
)

// Value is one value of a field condition, typed per the field.
type Value struct {
	Kind     ValueKind
	Str      string   // the value as written (strings, regexes)
	Pattern  *Pattern // ValStr: the compiled match (operator and case folding applied)
	Re       *regexp.Regexp
	Num      float64
	Prefix   netip.Prefix
	ListName string
	List     *List // resolved against the lists the rule was parsed with
}

// Expr is a node of a detection condition: *And, *Or, *Not, *Ref, *OneOf, *AllOf.
type Expr interface{ exprNode() }

// And is true when every operand is.
type And struct{ X []Expr }

// Or is true when any operand is.
type Or struct{ X []Expr }

// Not negates its operand.
type Not struct{ X Expr }

// Ref is one selection by name.
type Ref struct {
	Name string
	Sel  *Selection
}

// OneOf is `1 of PATTERN` (or `1 of them`), resolved to the matching selections.
type OneOf struct {
	Pattern string
	Names   []string
	Sels    []*Selection
}

// AllOf is `all of PATTERN` (or `all of them`), resolved to the matching selections.
type AllOf struct {
	Pattern string
	Names   []string
	Sels    []*Selection
}

func (*And) exprNode()   {}
func (*Or) exprNode()    {}
func (*Not) exprNode()   {}
func (*Ref) exprNode()   {}
func (*OneOf) exprNode() {}
func (*AllOf) exprNode() {}

// CorrelationType is a Sigma correlation type, or one of Watchfloor's two.
type CorrelationType string

// The correlation types.
const (
	EventCount      CorrelationType = "event_count"
	ValueCount      CorrelationType = "value_count"
	Temporal        CorrelationType = "temporal"
	TemporalOrdered CorrelationType = "temporal_ordered"
	ValueSum        CorrelationType = "value_sum"
	ValueAvg        CorrelationType = "value_avg"
	ValuePercentile CorrelationType = "value_percentile"
	Absence         CorrelationType = "absence"   // Watchfloor: an expected record missing for Timespan
	Threshold       CorrelationType = "threshold" // Watchfloor: a metric condition held For
)

// CorrelationTypes lists every correlation type.
var CorrelationTypes = []CorrelationType{EventCount, ValueCount, Temporal, TemporalOrdered, ValueSum, ValueAvg, ValuePercentile, Absence, Threshold}

// Correlation is a correlation rule's correlation section.
type Correlation struct {
	Type     CorrelationType
	RuleRefs []string // as written (names or ids)
	Rules    []*Rule  // resolved, in the order written (temporal_ordered's sequence)
	// GroupBy are the group-by names, each resolved per referenced rule (aliases applied).
	GroupBy   []FieldRef
	Timespan  time.Duration
	Condition Condition
	// Aliases maps an alias to the field it stands for in each referenced rule (by name).
	Aliases map[string]map[string]string
	// For is threshold's hold time: every sample for this long satisfies the condition.
	For time.Duration
}

// FieldRef is a field name read from the records of every referenced rule of a correlation.
// ByRule[i] is the field read from records matched by Correlation.Rules[i]; for a referenced
// correlation it is that correlation's group-by name (with the type of its field).
type FieldRef struct {
	Name   string
	ByRule []Field
}

// CmpOp is a correlation condition's comparison.
type CmpOp uint8

// The comparisons.
const (
	CmpGT CmpOp = iota + 1
	CmpGTE
	CmpLT
	CmpLTE
	CmpEQ
	CmpNEQ
)

var cmpNames = [...]string{"", "gt", "gte", "lt", "lte", "eq", "neq"}

func (c CmpOp) String() string {
	if int(c) < len(cmpNames) {
		return cmpNames[c]
	}
	return "cmp?"
}

// Compare reports whether v satisfies the comparison with ref.
func (c CmpOp) Compare(v, ref float64) bool {
	switch c {
	case CmpGT:
		return v > ref
	case CmpGTE:
		return v >= ref
	case CmpLT:
		return v < ref
	case CmpLTE:
		return v <= ref
	case CmpEQ:
		return v == ref
	case CmpNEQ:
		return v != ref
	}
	return false
}

// Cmp is one comparison of a correlation condition.
type Cmp struct {
	Op    CmpOp
	Value float64
}

// Condition is a correlation's condition: the measured value (a count, a distinct count, a
// sum, an average, a percentile, or for threshold the sample's field) must satisfy every
// comparison in Cmps (Sigma: several keys are a conjunction, a range).
type Condition struct {
	Cmps       []Cmp
	Field      *FieldRef // value_count, value_sum, value_avg, value_percentile, threshold
	Percentile float64   // value_percentile: 0 < p <= 100
}

// Satisfied reports whether v satisfies every comparison.
func (c *Condition) Satisfied(v float64) bool {
	for _, m := range c.Cmps {
		if !m.Op.Compare(v, m.Value) {
			return false
		}
	}
	return true
}

// AlertSpec is the Watchfloor `alert` extension, with defaults applied.
type AlertSpec struct {
	Title       Template // default: the rule's title
	Description Template // default: the rule's description
	Entity      Entity
	// Identity are the fields whose values make one alert: default the correlation's group-by,
	// else none (one alert per rule).
	Identity []string
	Runbook  string
	// ResolveAfter is the quiet period after which a firing alert resolves: 10m by default, 0
	// when a recovery rule resolves it or the correlation resolves by itself (absence,
	// threshold).
	ResolveAfter time.Duration
	Recovery     string // the name of the rule whose match (same identity values) resolves it
	RecoveryRule *Rule
}

// Entity says which fields name what an alert is about. Empty names are unset.
type Entity struct {
	Host      string
	Device    string
	Interface string
	Site      string
}

// Template is a title or description with {field} references, split at parse time.
type Template struct {
	Raw   string
	Parts []TemplatePart
}

// TemplatePart is a literal (Field == "") or a field reference.
type TemplatePart struct {
	Lit   string
	Field string
}

// ValueField is the template pseudo-field of correlations: the measured value (count,
// distinct count, sum, average, percentile or sample).
const ValueField = "_value"

// DefaultPercentile is the percentile a value_percentile correlation compares when its
// condition names none (Sigma's own form names none).
const DefaultPercentile = 95
