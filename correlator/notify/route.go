package notify

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/watchfloor/watchfloor"
)

// Matcher is a compiled "name op value" route matcher. Name is any label alerts have
// (watchfloor.Alert.Label) or "tactic", the ATT&CK tactics of the alert's attack.* tags; Op
// is "=", "!=", "=~" or "!~", and regular expressions (RE2) match the whole value. A
// "tactic" matcher with = or =~ matches when any of the alert's tactics does; != and !~
// when none does.
type Matcher struct {
	watchfloor.Matcher
	re *regexp.Regexp
}

// ParseMatcher reads `name op value`: `severity=~high|critical`, `site="east"`. The value
// may be double-quoted (Go syntax).
func ParseMatcher(s string) (*Matcher, error) {
	if len(s) > maxMatcherText {
		return nil, fmt.Errorf("matcher is %d bytes, at most %d", len(s), maxMatcherText)
	}
	i := strings.IndexAny(s, "=!")
	if i <= 0 {
		return nil, fmt.Errorf("invalid matcher %q (want name=value, name!=value, name=~regexp or name!~regexp)", s)
	}
	name := strings.TrimSpace(s[:i])
	rest := s[i:]
	var op string
	for _, o := range []string{"=~", "!~", "!=", "="} {
		if strings.HasPrefix(rest, o) {
			op = o
			break
		}
	}
	if op == "" || name == "" || strings.ContainsAny(name, " \t\"'~") {
		return nil, fmt.Errorf("invalid matcher %q (want name=value, name!=value, name=~regexp or name!~regexp)", s)
	}
	value := strings.TrimSpace(rest[len(op):])
	if strings.HasPrefix(value, `"`) {
		v, err := strconv.Unquote(value)
		if err != nil {
			return nil, fmt.Errorf("matcher %q: bad quoted value", s)
		}
		value = v
	}
	m := &Matcher{Matcher: watchfloor.Matcher{Name: name, Op: op, Value: value}}
	if op == "=~" || op == "!~" {
		re, err := regexp.Compile("^(?:" + value + ")$")
		if err != nil {
			return nil, fmt.Errorf("matcher %q: bad regular expression: %v", s, err)
		}
		m.re = re
	}
	return m, nil
}

func (m *Matcher) String() string { return m.Name + m.Op + strconv.Quote(m.Value) }

func (m *Matcher) test(v string) bool {
	if m.re != nil {
		return m.re.MatchString(v)
	}
	return v == m.Value
}

// Matches reports whether the alert's label matches.
func (m *Matcher) Matches(a *watchfloor.Alert) bool {
	negate := m.Op == "!=" || m.Op == "!~"
	if m.Name == "tactic" && a.Label("tactic") == "" {
		ts := Tactics(a)
		if len(ts) == 0 {
			return m.test("") != negate
		}
		return slices.ContainsFunc(ts, m.test) != negate
	}
	return m.test(a.Label(m.Name)) != negate
}

// Tactics are the ATT&CK tactics among an alert's tags: "attack.discovery" → "discovery";
// technique tags (attack.t1046) are not tactics.
func Tactics(a *watchfloor.Alert) []string {
	var out []string
	for _, t := range a.Tags {
		v, ok := strings.CutPrefix(strings.ToLower(t), "attack.")
		if !ok || v == "" || isTechnique(v) || slices.Contains(out, v) {
			continue
		}
		out = append(out, v)
	}
	return out
}

func isTechnique(v string) bool {
	if len(v) < 2 || v[0] != 't' && v[0] != 's' && v[0] != 'g' {
		return false
	}
	for _, c := range v[1:] {
		if (c < '0' || c > '9') && c != '.' {
			return false
		}
	}
	return true
}

// label is what routes and group_by see of an alert: its Label, or for "tactic" (when no
// label of that name is set) its tactics joined by ",".
func label(a *watchfloor.Alert, name string) string {
	if v := a.Label(name); v != "" || name != "tactic" {
		return v
	}
	return strings.Join(Tactics(a), ",")
}

// timeWindow is a compiled TimeWindow.
type timeWindow struct {
	name     string
	weekdays uint8 // bit per time.Weekday; 0: every day
	ranges   [][2]int
	loc      *time.Location
}

func compileWindow(w TimeWindow) (*timeWindow, error) {
	tw := &timeWindow{name: w.Name, loc: time.UTC}
	for _, d := range w.Weekdays {
		set, err := parseWeekdays(d)
		if err != nil {
			return nil, err
		}
		tw.weekdays |= set
	}
	for _, r := range w.Times {
		s, err := parseClock(r.Start)
		if err != nil {
			return nil, err
		}
		e, err := parseClock(r.End)
		if err != nil {
			return nil, err
		}
		tw.ranges = append(tw.ranges, [2]int{s, e})
	}
	if w.Location != "" {
		loc, err := time.LoadLocation(w.Location)
		if err != nil {
			return nil, fmt.Errorf("time window %q: unknown time zone %q", w.Name, w.Location)
		}
		tw.loc = loc
	}
	return tw, nil
}

func (w *timeWindow) day(d time.Weekday) bool { return w.weekdays == 0 || w.weekdays&(1<<d) != 0 }

// Contains reports whether t is within the window. A range crossing midnight belongs to the
// day it starts on: friday 22:00–06:00 contains saturday 02:00.
func (w *timeWindow) Contains(t time.Time) bool {
	t = t.In(w.loc)
	if len(w.ranges) == 0 {
		return w.day(t.Weekday())
	}
	m := t.Hour()*60 + t.Minute()
	for _, r := range w.ranges {
		s, e := r[0], r[1]
		if s < e {
			if m >= s && m < e && w.day(t.Weekday()) {
				return true
			}
			continue
		}
		// crosses midnight
		if m >= s && w.day(t.Weekday()) {
			return true
		}
		if m < e && w.day((t.Weekday()+6)%7) {
			return true
		}
	}
	return false
}

// Route is a compiled node of the routing tree, its defaults filled in from its parents.
type Route struct {
	ID             string // position in the tree: "0", "0.2", "0.2.1"; part of group keys
	Receiver       string
	Matchers       []*Matcher
	Continue       bool
	GroupBy        []string // sorted; ["..."]: every alert alone; empty: one group for all
	GroupWait      time.Duration
	GroupInterval  time.Duration
	RepeatInterval time.Duration
	Escalation     string // the on-call policy its groups start; empty: none
	Routes         []*Route

	active, mute []*timeWindow
}

// Tree is a compiled routing config. It is immutable, so safe for concurrent use.
type Tree struct {
	Root   *Route
	byID   map[string]*Route
	config *Config
}

// NewTree compiles a config ParseConfig accepted (or one built in code: it is checked again).
func NewTree(c *Config) (*Tree, error) {
	windows := map[string]*timeWindow{}
	for _, w := range c.TimeWindows {
		tw, err := compileWindow(w)
		if err != nil {
			return nil, err
		}
		windows[w.Name] = tw
	}
	t := &Tree{byID: map[string]*Route{}, config: c}
	root := &RouteConfig{GroupWait: DefaultGroupWait, GroupInterval: DefaultGroupInterval, RepeatInterval: DefaultRepeatInterval}
	if c.Route.Receiver == "" {
		return nil, fmt.Errorf("route.receiver: the root route needs a receiver")
	}
	r, err := t.compile(&c.Route, root, windows, "0", "route", 0)
	if err != nil {
		return nil, err
	}
	t.Root = r
	return t, nil
}

func (t *Tree) compile(rc, parent *RouteConfig, windows map[string]*timeWindow, id, field string, depth int) (*Route, error) {
	if depth >= MaxRouteDepth || len(t.byID) >= MaxRoutes {
		return nil, fmt.Errorf("%s: routes nested deeper than %d or more than %d routes", field, MaxRouteDepth, MaxRoutes)
	}
	r := &Route{
		ID:             id,
		Receiver:       cmpOr(rc.Receiver, parent.Receiver),
		Continue:       rc.Continue,
		Escalation:     rc.Escalation,
		GroupWait:      parent.GroupWait,
		GroupInterval:  cmpOr(rc.GroupInterval, parent.GroupInterval),
		RepeatInterval: cmpOr(rc.RepeatInterval, parent.RepeatInterval),
	}
	if _, set := rc.pos["group_wait"]; set || rc.GroupWait != 0 {
		r.GroupWait = rc.GroupWait
	}
	if rc.groupBySet || len(rc.GroupBy) > 0 {
		r.GroupBy = slices.Clone(rc.GroupBy)
	} else {
		r.GroupBy = slices.Clone(parent.GroupBy)
	}
	slices.Sort(r.GroupBy)
	r.GroupBy = slices.Compact(r.GroupBy)
	if r.GroupInterval <= 0 || r.RepeatInterval <= 0 || r.GroupWait < 0 {
		return nil, fmt.Errorf("%s: group_interval and repeat_interval must be positive, group_wait not negative", field)
	}
	for i, s := range rc.Matchers {
		m, err := ParseMatcher(s)
		if err != nil {
			return nil, fmt.Errorf("%s.matchers[%d]: %v", field, i, err)
		}
		r.Matchers = append(r.Matchers, m)
	}
	for _, n := range rc.ActiveTimes {
		w, ok := windows[n]
		if !ok {
			return nil, fmt.Errorf("%s.active_times: unknown time window %q", field, n)
		}
		r.active = append(r.active, w)
	}
	for _, n := range rc.MuteTimes {
		w, ok := windows[n]
		if !ok {
			return nil, fmt.Errorf("%s.mute_times: unknown time window %q", field, n)
		}
		r.mute = append(r.mute, w)
	}
	t.byID[id] = r
	eff := &RouteConfig{Receiver: r.Receiver, GroupBy: r.GroupBy, GroupWait: r.GroupWait, GroupInterval: r.GroupInterval, RepeatInterval: r.RepeatInterval}
	for i := range rc.Routes {
		c, err := t.compile(&rc.Routes[i], eff, windows, fmt.Sprintf("%s.%d", id, i), fmt.Sprintf("%s.routes[%d]", field, i), depth+1)
		if err != nil {
			return nil, err
		}
		r.Routes = append(r.Routes, c)
	}
	return r, nil
}

func cmpOr[T comparable](a, b T) T {
	var zero T
	if a != zero {
		return a
	}
	return b
}

// Route returns the route of an ID, or nil.
func (t *Tree) Route(id string) *Route { return t.byID[id] }

// Config is the config the tree was built from.
func (t *Tree) Config() *Config { return t.config }

func (r *Route) matches(a *watchfloor.Alert) bool {
	for _, m := range r.Matchers {
		if !m.Matches(a) {
			return false
		}
	}
	return true
}

// Match returns the routes an alert goes to, Alertmanager's way: depth first, a route's
// children in order; the first matching child takes the alert unless it has continue set,
// and a route none of whose children matches takes it itself. The root matches every alert.
func (t *Tree) Match(a watchfloor.Alert) []*Route {
	return t.Root.match(&a, nil)
}

func (r *Route) match(a *watchfloor.Alert, out []*Route) []*Route {
	if !r.matches(a) {
		return out
	}
	n := len(out)
	for _, c := range r.Routes {
		before := len(out)
		out = c.match(a, out)
		if len(out) > before && !c.Continue {
			break
		}
	}
	if len(out) == n {
		out = append(out, r)
	}
	return out
}

// Active reports whether the route may notify at t: within one of its active time windows
// (if it has any) and within none of its mute time windows.
func (r *Route) Active(t time.Time) bool {
	for _, w := range r.mute {
		if w.Contains(t) {
			return false
		}
	}
	if len(r.active) == 0 {
		return true
	}
	for _, w := range r.active {
		if w.Contains(t) {
			return true
		}
	}
	return false
}

// GroupLabels are the alert's values of the route's group_by labels, in group_by order.
func (r *Route) GroupLabels(a *watchfloor.Alert) []watchfloor.Attr {
	if len(r.GroupBy) == 1 && r.GroupBy[0] == "..." {
		return []watchfloor.Attr{{Key: "rule", Value: a.Rule}, {Key: "key", Value: a.Key}}
	}
	out := make([]watchfloor.Attr, 0, len(r.GroupBy))
	for _, g := range r.GroupBy {
		out = append(out, watchfloor.Attr{Key: g, Value: label(a, g)})
	}
	return out
}

// GroupKey names the group of an alert on a route: stable for the life of the group, and
// across restarts while the route keeps its place in the tree.
func (r *Route) GroupKey(labels []watchfloor.Attr) string {
	var b strings.Builder
	b.WriteString(r.ID)
	b.WriteString(":{")
	for i, l := range labels {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(l.Key)
		b.WriteByte('=')
		b.WriteString(strconv.Quote(l.Value))
	}
	b.WriteByte('}')
	return b.String()
}

// RouteOf is the ID of the route a group key (GroupKey's) belongs to.
func RouteOf(groupKey string) string {
	id, _, _ := strings.Cut(groupKey, ":")
	return id
}

// TestRoute lists the receivers an example alert reaches, in the order of the routes that
// take it, each once (like amtool config routes test).
func TestRoute(t *Tree, a watchfloor.Alert) []string {
	var out []string
	for _, r := range t.Match(a) {
		if !slices.Contains(out, r.Receiver) {
			out = append(out, r.Receiver)
		}
	}
	return out
}
