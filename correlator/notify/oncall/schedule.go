package oncall

import (
	"fmt"
	"sync"
	"time"
)

// Rotation is one layer of a schedule: Members take turns, each for Length, handing off at
// Handoff ("HH:MM", wall clock in Location) from the date of Start on. A Length of whole days
// rotates on the calendar of Location, so a weekly handoff stays at 09:00 local across a DST
// change; any other Length is a fixed duration counted from the first handoff. A rotation is
// active from its first handoff until End (zero: for ever).
type Rotation struct {
	Name     string        `yaml:"name"`
	Members  []string      `yaml:"members"`
	Start    time.Time     `yaml:"start"`    // its date (in Location) is the first handoff's
	Length   time.Duration `yaml:"length"`   // e.g. 168h for a week
	Handoff  string        `yaml:"handoff"`  // "09:00"; empty: Start's own wall clock time
	Location string        `yaml:"location"` // IANA zone, empty: UTC
	End      time.Time     `yaml:"end"`      // optional
}

// Override puts Person on call from Start (inclusive) to End (exclusive), above every layer.
type Override struct {
	Person string    `yaml:"person"`
	Start  time.Time `yaml:"start"`
	End    time.Time `yaml:"end"`
}

// Schedule is a stack of rotations (a later layer wins where it is active) and overrides (a
// later override wins where they overlap).
type Schedule struct {
	Name      string     `yaml:"name"`
	Layers    []Rotation `yaml:"layers"`
	Overrides []Override `yaml:"overrides"`
}

// OnCall returns who is on call at t: the person of the last override covering t, else the
// current member of the last layer active at t. ok is false when nobody is.
func (s *Schedule) OnCall(t time.Time) (person string, ok bool) {
	for i := len(s.Overrides) - 1; i >= 0; i-- {
		o := s.Overrides[i]
		if !t.Before(o.Start) && t.Before(o.End) {
			return o.Person, true
		}
	}
	for i := len(s.Layers) - 1; i >= 0; i-- {
		if p, ok := s.Layers[i].OnCall(t); ok {
			return p, true
		}
	}
	return "", false
}

// OnCall returns the member of r on call at t; ok is false when r is not active at t (or is
// invalid: see Config.Validate).
func (r *Rotation) OnCall(t time.Time) (person string, ok bool) {
	shift, ok := r.Shift(t)
	if !ok {
		return "", false
	}
	return r.Members[shift%int64(len(r.Members))], true
}

// Shift returns the number of handoffs of r up to t (0 in the first shift); ok is false when r
// is not active at t.
func (r *Rotation) Shift(t time.Time) (int64, bool) {
	if len(r.Members) == 0 || r.Length <= 0 || r.Start.IsZero() {
		return 0, false
	}
	if !r.End.IsZero() && !t.Before(r.End) {
		return 0, false
	}
	first, loc, ok := r.firstHandoff()
	if !ok || t.Before(first) {
		return 0, false
	}
	if r.Length%(24*time.Hour) != 0 {
		return int64(t.Sub(first) / r.Length), true
	}
	days := int64(r.Length / (24 * time.Hour))
	hh, mm := first.Hour(), first.Minute()
	lt := t.In(loc)
	day := civilDay(lt) - civilDay(first)
	if t.Before(time.Date(lt.Year(), lt.Month(), lt.Day(), hh, mm, first.Second(), first.Nanosecond(), loc)) {
		day--
	}
	if day < 0 {
		return 0, false
	}
	return day / days, true
}

// firstHandoff is Start's date in the rotation's zone at the handoff time.
func (r *Rotation) firstHandoff() (time.Time, *time.Location, bool) {
	loc, err := location(r.Location)
	if err != nil {
		return time.Time{}, nil, false
	}
	s := r.Start.In(loc)
	if r.Handoff == "" {
		return s, loc, true
	}
	hh, mm, err := parseHandoff(r.Handoff)
	if err != nil {
		return time.Time{}, nil, false
	}
	return time.Date(s.Year(), s.Month(), s.Day(), hh, mm, 0, 0, loc), loc, true
}

// civilDay numbers t's calendar date (in t's own zone) as days since 1970-01-01.
func civilDay(t time.Time) int64 {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC).Unix() / 86400
}

func parseHandoff(s string) (hh, mm int, err error) {
	if s == "" {
		return 0, 0, nil
	}
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, 0, fmt.Errorf("handoff %q is not HH:MM", s)
	}
	return t.Hour(), t.Minute(), nil
}

var locations sync.Map // name → *time.Location

func location(name string) (*time.Location, error) {
	if name == "" {
		return time.UTC, nil
	}
	if l, ok := locations.Load(name); ok {
		return l.(*time.Location), nil
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q", name)
	}
	locations.Store(name, l)
	return l, nil
}
