package notify

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"github.com/watchfloor/watchfloor/internal/yamlpos"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Bounds of a routing config file.
const (
	MaxConfigBytes = 1 << 20 // a routing file larger than this is refused
	MaxRouteDepth  = 16      // nesting of routes
	MaxRoutes      = 1000    // routes in the whole tree
	maxMatcherText = 1024
)

// Defaults of the root route, Alertmanager's.
const (
	DefaultGroupWait      = 30 * time.Second
	DefaultGroupInterval  = 5 * time.Minute
	DefaultRepeatInterval = 4 * time.Hour
)

// Error is one problem of a routing config, printed as `FILE:LINE:COL: FIELD: MSG`. Field is
// the YAML path of what is wrong (route.routes[1].matchers[0]) or empty.
type Error = yamlpos.Error

// The YAML path and node words shared with the rule language.
var (
	join     = yamlpos.Join
	nodeDesc = yamlpos.Describe
)

// RouteConfig is one node of the routing tree. Empty fields of a child route take their
// parent's value (receiver, group_by, the three intervals); time windows are the route's own.
type RouteConfig struct {
	Receiver       string        `yaml:"receiver"`
	Matchers       []string      `yaml:"matchers"` // "severity=~high|critical", "site=east", "tactic!=discovery"
	Continue       bool          `yaml:"continue"` // after matching, go on to the next sibling
	GroupBy        []string      `yaml:"group_by"` // label names; "..." groups every alert alone
	GroupWait      time.Duration `yaml:"group_wait"`
	GroupInterval  time.Duration `yaml:"group_interval"`
	RepeatInterval time.Duration `yaml:"repeat_interval"`
	ActiveTimes    []string      `yaml:"active_times"` // names of TimeWindows: notify only within one
	MuteTimes      []string      `yaml:"mute_times"`   // names of TimeWindows: never notify within one
	// Escalation names the on-call escalation policy a group this route takes starts when it
	// first pages: the route's own, not inherited (a `continue` sibling must not page twice).
	Escalation string        `yaml:"escalation"`
	Routes     []RouteConfig `yaml:"routes"`

	groupBySet bool
	pos        map[string]pos // field → position, for NewTree's messages
}

// TimeRange is a time of day span, "HH:MM" to "HH:MM"; End before Start crosses midnight
// (22:00–06:00 belongs to the day it starts on). "24:00" ends at midnight.
type TimeRange struct {
	Start string `yaml:"start"`
	End   string `yaml:"end"`
}

// TimeWindow is a named set of times, such as business hours or nights: it contains an
// instant when the instant's weekday is one of Weekdays (all days when empty) and its time
// of day is within one of Times (all day when empty), both read in Location (an IANA zone,
// UTC when empty).
type TimeWindow struct {
	Name     string      `yaml:"name"`
	Weekdays []string    `yaml:"weekdays"` // "monday", "monday:friday"
	Times    []TimeRange `yaml:"times"`
	Location string      `yaml:"location"`
}

// Config is a routing file: `route:` (the root of the tree) and `time_windows:`.
type Config struct {
	Route       RouteConfig  `yaml:"route"`
	TimeWindows []TimeWindow `yaml:"time_windows"`

	file string
}

type pos struct{ line, col int }

// ParseConfig reads a routing file: name is its name in messages, receivers the names of the
// receivers routes may send to. Every problem is reported with its position; a config with
// errors is not returned. Escalation policy names are not checked: see ParseRouting.
func ParseConfig(name string, data []byte, receivers []string) (*Config, []Error) {
	return ParseRouting(name, data, receivers, nil)
}

// ParseRouting is ParseConfig that also checks each route's escalation against the names
// of the configured policies (nil: not checked).
func ParseRouting(name string, data []byte, receivers, policies []string) (*Config, []Error) {
	p := &cparser{file: name, policies: policies}
	if len(data) > MaxConfigBytes {
		p.at(pos{1, 1}, "", "file is %d bytes, over the %d limit", len(data), MaxConfigBytes)
		return nil, p.list
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if err == io.EOF {
			p.at(pos{1, 1}, "", "empty file: want route:")
			return nil, p.list
		}
		line, msg := yamlErrLine(err)
		p.at(pos{line, 1}, "", "%s", msg)
		return nil, p.list
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err != io.EOF {
		at := pos{max(extra.Line, 1), max(extra.Column, 1)}
		if err != nil {
			line, _ := yamlErrLine(err)
			at = pos{line, 1}
		}
		p.at(at, "", "want one YAML document")
		return nil, p.list
	}
	c := &Config{file: name}
	if len(doc.Content) == 0 {
		p.at(pos{1, 1}, "", "empty file: want route:")
		return nil, p.list
	}
	root := doc.Content[0]
	var routeNode *yaml.Node
	p.mapping(root, "", func(k, v *yaml.Node) {
		switch k.Value {
		case "route":
			routeNode = v
			p.route(&c.Route, v, "route", 0)
		case "time_windows":
			p.windows(c, v)
		default:
			p.atN(k, k.Value, "unknown key (want route or time_windows)")
		}
	})
	if root.Kind == yaml.MappingNode && routeNode == nil {
		p.atN(root, "route", "missing")
	}
	p.validate(c, receivers, routeNode)
	if len(p.list) > 0 {
		return nil, sortErrors(p.list)
	}
	return c, nil
}

var yamlLineRE = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

func yamlErrLine(err error) (int, string) {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		err = fmt.Errorf("%s", te.Errors[0])
	}
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line := 1
		if m[1] != "" {
			line, _ = strconv.Atoi(m[1])
		}
		return line, "YAML: " + m[2]
	}
	return 1, "YAML: " + msg
}

func sortErrors(errs []Error) []Error {
	slices.SortStableFunc(errs, func(a, b Error) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column),
			cmp.Compare(a.Field, b.Field), cmp.Compare(a.Msg, b.Msg))
	})
	return slices.Compact(errs)
}

type cparser struct {
	file     string
	list     []Error
	routes   int
	policies []string // nil: escalation names not checked
}

func (p *cparser) at(at pos, field, format string, args ...any) {
	p.list = append(p.list, Error{File: p.file, Line: at.line, Column: at.col, Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (p *cparser) atN(n *yaml.Node, field, format string, args ...any) {
	p.at(pos{n.Line, n.Column}, field, format, args...)
}

func (p *cparser) mapping(n *yaml.Node, field string, f func(k, v *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		p.atN(n, field, "want a mapping, not %s", nodeDesc(n))
		return
	}
	seen := make(map[string]bool, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.atN(k, field, "want a plain key, not %s", nodeDesc(k))
			continue
		}
		if seen[k.Value] {
			p.atN(k, join(field, k.Value), "duplicate key")
			continue
		}
		seen[k.Value] = true
		if v.Kind == yaml.AliasNode {
			p.atN(v, join(field, k.Value), "YAML aliases are not supported")
			continue
		}
		f(k, v)
	}
}

func (p *cparser) str(n *yaml.Node, field string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		p.atN(n, field, "want a string, not %s", nodeDesc(n))
		return "", false
	}
	return n.Value, true
}

func (p *cparser) strList(n *yaml.Node, field string) ([]string, []pos) {
	if n.Kind != yaml.SequenceNode {
		p.atN(n, field, "want a list of strings, not %s", nodeDesc(n))
		return nil, nil
	}
	var out []string
	var at []pos
	for i, c := range n.Content {
		if s, ok := p.str(c, fmt.Sprintf("%s[%d]", field, i)); ok {
			out = append(out, s)
			at = append(at, pos{c.Line, c.Column})
		}
	}
	return out, at
}

// ParseDuration reads a Go duration ("90s", "5m", "4h") or a number of days ("1d").
func ParseDuration(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseUint(d, 10, 16)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q (want e.g. 30s, 5m, 4h, 1d)", s)
	}
	return d, nil
}

func (p *cparser) duration(n *yaml.Node, field string) (time.Duration, bool) {
	s, ok := p.str(n, field)
	if !ok {
		return 0, false
	}
	d, err := ParseDuration(s)
	if err != nil {
		p.atN(n, field, "%v", err)
		return 0, false
	}
	if d < 0 {
		p.atN(n, field, "must not be negative")
		return 0, false
	}
	return d, true
}

func (p *cparser) route(r *RouteConfig, n *yaml.Node, field string, depth int) {
	p.routes++
	if p.routes > MaxRoutes {
		if p.routes == MaxRoutes+1 {
			p.atN(n, field, "more than %d routes", MaxRoutes)
		}
		return
	}
	if depth >= MaxRouteDepth {
		p.atN(n, field, "routes nested deeper than %d", MaxRouteDepth)
		return
	}
	r.pos = map[string]pos{"": {n.Line, n.Column}}
	p.mapping(n, field, func(k, v *yaml.Node) {
		f := join(field, k.Value)
		r.pos[k.Value] = pos{v.Line, v.Column}
		switch k.Value {
		case "receiver":
			r.Receiver, _ = p.str(v, f)
		case "matchers":
			var at []pos
			r.Matchers, at = p.strList(v, f)
			for i, m := range r.Matchers {
				if _, err := ParseMatcher(m); err != nil {
					p.at(at[i], fmt.Sprintf("%s[%d]", f, i), "%v", err)
				}
			}
		case "continue":
			if v.Kind == yaml.ScalarNode && v.ShortTag() == "!!bool" {
				r.Continue, _ = strconv.ParseBool(strings.ToLower(v.Value))
			} else {
				p.atN(v, f, "want true or false, not %s", nodeDesc(v))
			}
		case "group_by":
			var at []pos
			r.GroupBy, at = p.strList(v, f)
			r.groupBySet = true
			for i, g := range r.GroupBy {
				if g == "" || len(g) > maxMatcherText {
					p.at(at[i], fmt.Sprintf("%s[%d]", f, i), "want a label name")
				} else if g == "..." && len(r.GroupBy) > 1 {
					p.at(at[i], fmt.Sprintf("%s[%d]", f, i), `"..." (every alert alone) must be the only group_by entry`)
				}
			}
		case "group_wait":
			r.GroupWait, _ = p.duration(v, f)
		case "group_interval":
			if d, ok := p.duration(v, f); ok && d == 0 {
				p.atN(v, f, "must be positive")
			} else {
				r.GroupInterval = d
			}
		case "repeat_interval":
			if d, ok := p.duration(v, f); ok && d == 0 {
				p.atN(v, f, "must be positive")
			} else {
				r.RepeatInterval = d
			}
		case "escalation":
			r.Escalation, _ = p.str(v, f)
		case "active_times":
			r.ActiveTimes, _ = p.strList(v, f)
		case "mute_times":
			r.MuteTimes, _ = p.strList(v, f)
		case "routes":
			if v.Kind != yaml.SequenceNode {
				p.atN(v, f, "want a list of routes, not %s", nodeDesc(v))
				return
			}
			r.Routes = make([]RouteConfig, len(v.Content))
			for i, c := range v.Content {
				p.route(&r.Routes[i], c, fmt.Sprintf("%s[%d]", f, i), depth+1)
			}
		default:
			p.atN(k, f, "unknown key (want receiver, matchers, continue, group_by, group_wait, group_interval, repeat_interval, active_times, mute_times or routes)")
		}
	})
}

func (p *cparser) windows(c *Config, n *yaml.Node) {
	if n.Kind != yaml.SequenceNode {
		p.atN(n, "time_windows", "want a list of time windows, not %s", nodeDesc(n))
		return
	}
	seen := map[string]bool{}
	for i, wn := range n.Content {
		field := fmt.Sprintf("time_windows[%d]", i)
		var w TimeWindow
		p.mapping(wn, field, func(k, v *yaml.Node) {
			f := join(field, k.Value)
			switch k.Value {
			case "name":
				w.Name, _ = p.str(v, f)
				if w.Name == "" {
					break
				}
				if seen[w.Name] {
					p.atN(v, f, "duplicate time window %q", w.Name)
				}
				seen[w.Name] = true
			case "weekdays":
				var at []pos
				w.Weekdays, at = p.strList(v, f)
				for j, d := range w.Weekdays {
					if _, err := parseWeekdays(d); err != nil {
						p.at(at[j], fmt.Sprintf("%s[%d]", f, j), "%v", err)
					}
				}
			case "times":
				if v.Kind != yaml.SequenceNode {
					p.atN(v, f, "want a list of {start, end}, not %s", nodeDesc(v))
					return
				}
				for j, tn := range v.Content {
					tf := fmt.Sprintf("%s[%d]", f, j)
					var tr TimeRange
					var sp, ep pos
					p.mapping(tn, tf, func(k, v *yaml.Node) {
						switch k.Value {
						case "start":
							tr.Start, _ = p.str(v, join(tf, "start"))
							sp = pos{v.Line, v.Column}
						case "end":
							tr.End, _ = p.str(v, join(tf, "end"))
							ep = pos{v.Line, v.Column}
						default:
							p.atN(k, join(tf, k.Value), "unknown key (want start or end)")
						}
					})
					if tn.Kind != yaml.MappingNode {
						continue
					}
					s, err1 := parseClock(tr.Start)
					if err1 != nil {
						p.at(cmp.Or(sp, pos{tn.Line, tn.Column}), join(tf, "start"), "%v", err1)
					}
					e, err2 := parseClock(tr.End)
					if err2 != nil {
						p.at(cmp.Or(ep, pos{tn.Line, tn.Column}), join(tf, "end"), "%v", err2)
					}
					if err1 == nil && err2 == nil && s == e {
						p.at(ep, join(tf, "end"), "equals start: the range is empty (leave times out for all day)")
					}
					w.Times = append(w.Times, tr)
				}
			case "location":
				w.Location, _ = p.str(v, f)
				if _, err := time.LoadLocation(w.Location); err != nil {
					p.atN(v, f, "unknown time zone %q", w.Location)
				}
			default:
				p.atN(k, f, "unknown key (want name, weekdays, times or location)")
			}
		})
		if wn.Kind == yaml.MappingNode && w.Name == "" {
			p.atN(wn, join(field, "name"), "missing")
		}
		c.TimeWindows = append(c.TimeWindows, w)
	}
}

// validate checks what needs the whole file: receivers and time window names exist, the root
// route has a receiver.
func (p *cparser) validate(c *Config, receivers []string, routeNode *yaml.Node) {
	windows := map[string]bool{}
	for _, w := range c.TimeWindows {
		windows[w.Name] = true
	}
	var walk func(r *RouteConfig, field string, root bool)
	walk = func(r *RouteConfig, field string, root bool) {
		at := func(k string) pos {
			if q, ok := r.pos[k]; ok {
				return q
			}
			return r.pos[""]
		}
		if root {
			if r.Receiver == "" {
				p.at(at(""), join(field, "receiver"), "the root route needs a receiver (the default for every alert)")
			}
			if len(r.Matchers) > 0 {
				p.at(at("matchers"), join(field, "matchers"), "the root route matches every alert: it takes no matchers")
			}
			if r.Continue {
				p.at(at("continue"), join(field, "continue"), "the root route has no siblings to continue to")
			}
		}
		if r.Receiver != "" && !slices.Contains(receivers, r.Receiver) {
			p.at(at("receiver"), join(field, "receiver"), "unknown receiver %q (have %s)", r.Receiver, strings.Join(receivers, ", "))
		}
		if r.Escalation != "" && p.policies != nil && !slices.Contains(p.policies, r.Escalation) {
			p.at(at("escalation"), join(field, "escalation"), "unknown escalation policy %q (have %s)", r.Escalation, strings.Join(p.policies, ", "))
		}
		for i, n := range r.ActiveTimes {
			if !windows[n] {
				p.at(at("active_times"), fmt.Sprintf("%s.active_times[%d]", field, i), "unknown time window %q", n)
			}
		}
		for i, n := range r.MuteTimes {
			if !windows[n] {
				p.at(at("mute_times"), fmt.Sprintf("%s.mute_times[%d]", field, i), "unknown time window %q", n)
			}
		}
		for i := range r.Routes {
			walk(&r.Routes[i], fmt.Sprintf("%s.routes[%d]", field, i), false)
		}
	}
	if routeNode != nil {
		walk(&c.Route, "route", true)
	}
}

var weekdayNames = map[string]time.Weekday{
	"sunday": time.Sunday, "monday": time.Monday, "tuesday": time.Tuesday, "wednesday": time.Wednesday,
	"thursday": time.Thursday, "friday": time.Friday, "saturday": time.Saturday,
}

// parseWeekdays reads "monday" or a range "monday:friday" (which may wrap: "friday:monday")
// into a bit set of weekdays.
func parseWeekdays(s string) (uint8, error) {
	a, b, isRange := strings.Cut(strings.ToLower(strings.TrimSpace(s)), ":")
	from, ok := weekdayNames[strings.TrimSpace(a)]
	if !ok {
		return 0, fmt.Errorf("unknown weekday %q (want monday … sunday, or a range monday:friday)", s)
	}
	to := from
	if isRange {
		if to, ok = weekdayNames[strings.TrimSpace(b)]; !ok {
			return 0, fmt.Errorf("unknown weekday %q (want monday … sunday, or a range monday:friday)", s)
		}
	}
	var set uint8
	for d := from; ; d = (d + 1) % 7 {
		set |= 1 << d
		if d == to {
			break
		}
	}
	return set, nil
}

// parseClock reads "HH:MM" (00:00 to 24:00) into minutes since midnight.
func parseClock(s string) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	if ok && len(h) == 2 && len(m) == 2 {
		hh, err1 := strconv.Atoi(h)
		mm, err2 := strconv.Atoi(m)
		if err1 == nil && err2 == nil && hh >= 0 && mm >= 0 && mm < 60 && (hh < 24 || hh == 24 && mm == 0) {
			return hh*60 + mm, nil
		}
	}
	return 0, fmt.Errorf("invalid time of day %q (want HH:MM, 00:00 to 24:00)", s)
}
