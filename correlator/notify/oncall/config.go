package oncall

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Person is someone who can be paged: notify.Target has the same name, e-mail and phone,
// for the receivers that address people (this package does not import notify).
type Person struct {
	Name  string `json:"name" yaml:"name"`
	Email string `json:"email,omitempty" yaml:"email"`
	Phone string `json:"phone,omitempty" yaml:"phone"`
	// Receivers page this person when an escalation reaches them (an e-mail receiver writes
	// to Email, PagerDuty pages the service): checked against the receivers by the caller.
	Receivers []string `json:"receivers,omitempty" yaml:"receivers"`
}

// Config is the on-call configuration: people, schedules and escalation policies. Every
// reference (a rotation member, an override's person, a policy target) must resolve.
type Config struct {
	People    []Person   `yaml:"people"`
	Schedules []Schedule `yaml:"schedules"`
	Policies  []Policy   `yaml:"policies"`
}

// Target kinds of an escalation level: "person:NAME", "schedule:NAME", "receiver:NAME".
const (
	KindPerson   = "person"
	KindSchedule = "schedule"
	KindReceiver = "receiver"
)

// Level is one step of an escalation policy: after Delay (counted from the previous level's
// page, or from the start for the first level), every target is paged.
type Level struct {
	Delay   time.Duration `yaml:"delay"`
	Targets []string      `yaml:"targets"` // "person:ann", "schedule:noc-primary", "receiver:slack-noc"
}

// Policy is an escalation policy: its levels in order, then Repeat more passes over all of
// them, each pass starting RepeatAfter after the previous pass's last level.
type Policy struct {
	Name        string        `yaml:"name"`
	Levels      []Level       `yaml:"levels"`
	Repeat      int           `yaml:"repeat"`
	RepeatAfter time.Duration `yaml:"repeat_after"`
}

// FieldError is a configuration problem, named by its YAML path.
type FieldError struct {
	Field string
	Msg   string
}

func (e FieldError) Error() string { return e.Field + ": " + e.Msg }

// Limits of a configuration, so a hostile or mistaken file cannot make a tick unbounded.
const (
	MaxRepeat  = 100
	maxMembers = 10000
)

// ParseTarget splits "kind:name" into its parts.
func ParseTarget(s string) (kind, name string, err error) {
	kind, name, ok := strings.Cut(s, ":")
	if !ok || name == "" {
		return "", "", fmt.Errorf("target %q is not kind:name", s)
	}
	switch kind {
	case KindPerson, KindSchedule, KindReceiver:
		return kind, name, nil
	}
	return "", "", fmt.Errorf("target %q: kind must be person, schedule or receiver", s)
}

// Validate reports every problem of c, each named by its YAML path.
func (c Config) Validate() []FieldError {
	var errs []FieldError
	bad := func(field, format string, args ...any) {
		errs = append(errs, FieldError{field, fmt.Sprintf(format, args...)})
	}
	people := map[string]bool{}
	for i, p := range c.People {
		f := fmt.Sprintf("people[%d]", i)
		switch {
		case p.Name == "":
			bad(f+".name", "must not be empty")
		case people[p.Name]:
			bad(f+".name", "duplicate person %q", p.Name)
		}
		people[p.Name] = true
	}
	schedules := map[string]bool{}
	for i, s := range c.Schedules {
		f := fmt.Sprintf("schedules[%d]", i)
		switch {
		case s.Name == "":
			bad(f+".name", "must not be empty")
		case schedules[s.Name]:
			bad(f+".name", "duplicate schedule %q", s.Name)
		}
		schedules[s.Name] = true
		if len(s.Layers) == 0 {
			bad(f+".layers", "at least one rotation is needed")
		}
		for j, r := range s.Layers {
			lf := fmt.Sprintf("%s.layers[%d]", f, j)
			if len(r.Members) == 0 {
				bad(lf+".members", "must not be empty")
			}
			if len(r.Members) > maxMembers {
				bad(lf+".members", "at most %d members", maxMembers)
			}
			for k, m := range r.Members {
				if !people[m] {
					bad(fmt.Sprintf("%s.members[%d]", lf, k), "unknown person %q", m)
				}
			}
			if r.Start.IsZero() {
				bad(lf+".start", "must be set (the first handoff)")
			}
			if r.Length < time.Minute {
				bad(lf+".length", "must be at least 1m (is %s)", r.Length)
			}
			if _, _, err := parseHandoff(r.Handoff); err != nil {
				bad(lf+".handoff", "%v", err)
			}
			if _, err := location(r.Location); err != nil {
				bad(lf+".location", "%v", err)
			}
			if !r.End.IsZero() && !r.End.After(r.Start) {
				bad(lf+".end", "must be after start")
			}
		}
		for j, o := range s.Overrides {
			of := fmt.Sprintf("%s.overrides[%d]", f, j)
			if !people[o.Person] {
				bad(of+".person", "unknown person %q", o.Person)
			}
			if o.Start.IsZero() || !o.End.After(o.Start) {
				bad(of+".end", "must be after start")
			}
		}
	}
	policies := map[string]bool{}
	for i, p := range c.Policies {
		f := fmt.Sprintf("policies[%d]", i)
		switch {
		case p.Name == "":
			bad(f+".name", "must not be empty")
		case policies[p.Name]:
			bad(f+".name", "duplicate policy %q", p.Name)
		}
		policies[p.Name] = true
		if len(p.Levels) == 0 {
			bad(f+".levels", "at least one level is needed")
		}
		if p.Repeat < 0 || p.Repeat > MaxRepeat {
			bad(f+".repeat", "must be between 0 and %d (is %d)", MaxRepeat, p.Repeat)
		}
		if p.Repeat > 0 && p.RepeatAfter <= 0 {
			bad(f+".repeat_after", "must be positive when repeat is set")
		}
		for j, l := range p.Levels {
			lf := fmt.Sprintf("%s.levels[%d]", f, j)
			if l.Delay < 0 {
				bad(lf+".delay", "must not be negative (is %s)", l.Delay)
			}
			if len(l.Targets) == 0 {
				bad(lf+".targets", "must not be empty")
			}
			for k, t := range l.Targets {
				tf := fmt.Sprintf("%s.targets[%d]", lf, k)
				kind, name, err := ParseTarget(t)
				switch {
				case err != nil:
					bad(tf, "%v", err)
				case kind == KindPerson && !people[name]:
					bad(tf, "unknown person %q", name)
				case kind == KindSchedule && !schedules[name]:
					bad(tf, "unknown schedule %q", name)
				}
			}
		}
	}
	return errs
}

// ErrInvalid wraps every validation failure of Load.
var ErrInvalid = errors.New("oncall: invalid configuration")

// Load decodes a YAML configuration strictly (unknown keys are errors, with their line) and
// validates it.
func Load(data []byte) (Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("oncall: decode: %w", err)
	}
	if errs := c.Validate(); len(errs) > 0 {
		msgs := make([]string, len(errs))
		for i, e := range errs {
			msgs[i] = e.Error()
		}
		return Config{}, fmt.Errorf("%w: %s", ErrInvalid, strings.Join(msgs, "; "))
	}
	return c, nil
}
