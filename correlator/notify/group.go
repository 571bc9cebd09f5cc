package notify

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/watchfloor/watchfloor"
)

// GrouperConfig bounds a Grouper and says how to link a notification.
type GrouperConfig struct {
	MaxGroups int // groups kept at once; an alert that would open one more is counted and not grouped
	MaxAlerts int // alerts tracked (grouped or suppressed) at once; past it new alerts are counted and dropped
	// MaxListed bounds the alerts a notification lists; the Summary counts the rest.
	MaxListed int
	// Link makes a notification's Link (e.g. the console's incident page); nil: none.
	Link func(n *Notification) string
	// Now is the clock Update reads; nil: time.Now.
	Now func() time.Time
}

// DefaultGrouperConfig returns the defaults.
func DefaultGrouperConfig() GrouperConfig {
	return GrouperConfig{MaxGroups: 10000, MaxAlerts: 100000, MaxListed: 100}
}

// GrouperStats counts what a Grouper did.
type GrouperStats struct {
	Groups         int    // groups now
	Alerts         int    // alerts tracked now
	GroupsDropped  uint64 // alerts not grouped because MaxGroups was hit
	AlertsDropped  uint64 // alerts not tracked because MaxAlerts was hit
	Notifications  uint64 // notifications Tick returned
	HeldByTimeSpan uint64 // flushes held back by a route's active or mute times
}

// Grouper gathers alert changes into groups per route and group-by values and says, on each
// Tick, which notifications are due: a new group's first after group_wait, then one every
// group_interval while the group changes, a repeat of an unchanged firing group every
// repeat_interval, and one resolved notification when all its alerts are resolved, after
// which the group is gone. Silenced alerts notify no one; suppressed alerts are listed under
// their root cause's notification and never page on their own. It is safe for concurrent use.
type Grouper struct {
	mu     sync.Mutex
	cfg    GrouperConfig
	tree   *Tree
	groups map[string]*group
	byAl   map[uint64][]string                    // alert ID → keys of its groups
	supp   map[uint64]map[uint64]watchfloor.Alert // root ID → suppressed alerts it explains
	suppOf map[uint64]uint64                      // suppressed alert ID → its root
	seq    uint64
	stats  GrouperStats
}

type group struct {
	key        string
	route      string
	receiver   string
	labels     []watchfloor.Attr
	alerts     map[uint64]watchfloor.Alert
	created    time.Time
	next       time.Time // when the group is next looked at
	lastSent   time.Time
	lastHash   string // fingerprint of what was last sent
	sentFiring bool   // a firing notification went out: the resolution must too
	// intervals, kept so that a group whose route left the tree on a reload still ends well
	wait, interval, repeat time.Duration
}

// NewGrouper returns a grouper routing by t. Zero fields of cfg take the defaults.
func NewGrouper(t *Tree, cfg GrouperConfig) *Grouper {
	d := DefaultGrouperConfig()
	cfg.MaxGroups = cmpOr(cfg.MaxGroups, d.MaxGroups)
	cfg.MaxAlerts = cmpOr(cfg.MaxAlerts, d.MaxAlerts)
	cfg.MaxListed = cmpOr(cfg.MaxListed, d.MaxListed)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Grouper{cfg: cfg, tree: t, groups: map[string]*group{}, byAl: map[uint64][]string{},
		supp: map[uint64]map[uint64]watchfloor.Alert{}, suppOf: map[uint64]uint64{}}
}

// SetTree switches to a new routing tree (a reloaded config): alerts updated from now on are
// routed by it; existing groups keep their keys until they resolve.
func (g *Grouper) SetTree(t *Tree) {
	g.mu.Lock()
	g.tree = t
	g.mu.Unlock()
}

// Stats returns the counters.
func (g *Grouper) Stats() GrouperStats {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.stats
	s.Groups = len(g.groups)
	s.Alerts = len(g.byAl) + len(g.suppOf)
	return s
}

// Update takes a new or changed alert (by ID). A resolved alert is marked so in its groups;
// a silenced one leaves them; one suppressed by a root cause moves under that root.
func (g *Grouper) Update(a watchfloor.Alert) {
	now := g.cfg.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.update(a, now)
}

func (g *Grouper) update(a watchfloor.Alert, now time.Time) {
	// Suppressed: fold under the root.
	if root, ok := g.suppOf[a.ID]; ok && (root != a.SuppressedBy || a.State == watchfloor.AlertResolved || a.Silenced) {
		delete(g.supp[root], a.ID)
		if len(g.supp[root]) == 0 {
			delete(g.supp, root)
		}
		delete(g.suppOf, a.ID)
	}
	if a.SuppressedBy != 0 {
		g.leave(a.ID, nil)
		if a.State == watchfloor.AlertResolved || a.Silenced {
			return
		}
		if _, known := g.suppOf[a.ID]; !known && g.tracked() >= g.cfg.MaxAlerts {
			g.stats.AlertsDropped++
			return
		}
		m := g.supp[a.SuppressedBy]
		if m == nil {
			m = map[uint64]watchfloor.Alert{}
			g.supp[a.SuppressedBy] = m
		}
		m[a.ID] = a
		g.suppOf[a.ID] = a.SuppressedBy
		return
	}
	if a.Silenced {
		g.leave(a.ID, nil)
		return
	}
	var keys []string
	var routes []*Route
	for _, r := range g.tree.Match(a) {
		k := r.GroupKey(r.GroupLabels(&a))
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
			routes = append(routes, r)
		}
	}
	g.leave(a.ID, keys)
	old := g.byAl[a.ID]
	if old == nil && a.State == watchfloor.AlertResolved {
		return // never paged: nothing to resolve
	}
	if old == nil && g.tracked() >= g.cfg.MaxAlerts {
		g.stats.AlertsDropped++
		return
	}
	var in []string
	for i, k := range keys {
		gr := g.groups[k]
		if gr == nil {
			if a.State == watchfloor.AlertResolved {
				continue
			}
			if len(g.groups) >= g.cfg.MaxGroups {
				g.stats.GroupsDropped++
				continue
			}
			r := routes[i]
			gr = &group{key: k, route: r.ID, receiver: r.Receiver, labels: r.GroupLabels(&a),
				alerts: map[uint64]watchfloor.Alert{}, created: now, next: now.Add(r.GroupWait),
				wait: r.GroupWait, interval: r.GroupInterval, repeat: r.RepeatInterval}
			g.groups[k] = gr
		}
		gr.alerts[a.ID] = a
		in = append(in, k)
	}
	if len(in) == 0 {
		delete(g.byAl, a.ID)
	} else {
		g.byAl[a.ID] = in
	}
}

// Groups returns the keys of the groups alert id is in (not those it is suppressed under).
func (g *Grouper) Groups(id uint64) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.byAl[id])
}

// Has reports whether the group of key exists: it goes once its resolution is sent, or when
// its alerts all left it (silenced, suppressed by a root cause elsewhere).
func (g *Grouper) Has(key string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.groups[key] != nil
}

// Tracked returns the IDs of every alert the grouper holds, grouped or suppressed, ascending.
func (g *Grouper) Tracked() []uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]uint64, 0, g.tracked())
	for id := range g.byAl {
		out = append(out, id)
	}
	for id := range g.suppOf {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

func (g *Grouper) tracked() int { return len(g.byAl) + len(g.suppOf) }

// leave takes alert id out of its groups other than keep; groups left empty go (an empty
// group has nothing to notify: its alerts were silenced or suppressed, not resolved).
func (g *Grouper) leave(id uint64, keep []string) {
	var still []string
	for _, k := range g.byAl[id] {
		if slices.Contains(keep, k) {
			still = append(still, k)
			continue
		}
		if gr := g.groups[k]; gr != nil {
			delete(gr.alerts, id)
			if len(gr.alerts) == 0 {
				delete(g.groups, k)
			}
		}
	}
	if len(still) == 0 {
		delete(g.byAl, id)
	} else {
		g.byAl[id] = still
	}
}

// Tick returns the notifications due at now, ordered by group key. The caller hands them to
// delivery and then persists State, so that a restart neither repeats nor loses them.
func (g *Grouper) Tick(now time.Time) []Notification {
	g.mu.Lock()
	defer g.mu.Unlock()
	var due []*group
	for _, gr := range g.groups {
		if !now.Before(gr.next) {
			due = append(due, gr)
		}
	}
	slices.SortFunc(due, func(a, b *group) int { return strings.Compare(a.key, b.key) })
	var out []Notification
	for _, gr := range due {
		if n, ok := g.flush(gr, now); ok {
			out = append(out, n)
		}
	}
	g.stats.Notifications += uint64(len(out))
	return out
}

// NextTick is the earliest time a group is due; zero when there are no groups.
func (g *Grouper) NextTick() time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	var t time.Time
	for _, gr := range g.groups {
		if t.IsZero() || gr.next.Before(t) {
			t = gr.next
		}
	}
	return t
}

func (g *Grouper) flush(gr *group, now time.Time) (Notification, bool) {
	gr.next = now.Add(gr.interval)
	firing := 0
	for _, a := range gr.alerts {
		if a.State != watchfloor.AlertResolved {
			firing++
		}
	}
	if firing == 0 && !gr.sentFiring {
		g.drop(gr) // resolved before anyone was told
		return Notification{}, false
	}
	if r := g.tree.Route(gr.route); r != nil && r.Receiver == gr.receiver && !r.Active(now) {
		g.stats.HeldByTimeSpan++
		return Notification{}, false
	}
	alerts := g.ordered(gr)
	hash := fingerprint(alerts)
	if firing > 0 && hash == gr.lastHash && now.Sub(gr.lastSent) < gr.repeat {
		return Notification{}, false
	}
	g.seq++
	n := g.notification(gr, alerts, firing, now)
	gr.lastHash, gr.lastSent = hash, now
	if firing == 0 {
		g.drop(gr)
		return n, true
	}
	gr.sentFiring = true
	for id, a := range gr.alerts { // a resolved alert is told once, then leaves
		if a.State == watchfloor.AlertResolved {
			delete(gr.alerts, id)
			g.unlink(id, gr.key)
		}
	}
	gr.lastHash = fingerprint(g.ordered(gr))
	return n, true
}

func (g *Grouper) drop(gr *group) {
	for id := range gr.alerts {
		g.unlink(id, gr.key)
	}
	delete(g.groups, gr.key)
}

func (g *Grouper) unlink(id uint64, key string) {
	ks := slices.DeleteFunc(g.byAl[id], func(k string) bool { return k == key })
	if len(ks) == 0 {
		delete(g.byAl, id)
	} else {
		g.byAl[id] = ks
	}
}

// rank orders a notification's alerts: firing root causes, other firing alerts, the
// suppressed ones they explain, then resolved ones.
func rank(a *watchfloor.Alert, roots map[uint64]bool, suppressed bool) int {
	switch {
	case a.State == watchfloor.AlertResolved:
		return 3
	case suppressed:
		return 2
	case roots[a.ID] || len(a.Suppressed) > 0:
		return 0
	}
	return 1
}

type listed struct {
	a          watchfloor.Alert
	suppressed bool
}

func (g *Grouper) ordered(gr *group) []listed {
	roots := map[uint64]bool{}
	out := make([]listed, 0, len(gr.alerts))
	for id, a := range gr.alerts {
		out = append(out, listed{a: a})
		if a.State != watchfloor.AlertResolved {
			for _, s := range g.supp[id] {
				roots[id] = true
				out = append(out, listed{a: s, suppressed: true})
			}
		}
	}
	slices.SortFunc(out, func(x, y listed) int {
		return cmp.Or(cmp.Compare(rank(&x.a, roots, x.suppressed), rank(&y.a, roots, y.suppressed)),
			cmp.Compare(y.a.Severity, x.a.Severity), x.a.StartedAt.Compare(y.a.StartedAt), cmp.Compare(x.a.ID, y.a.ID))
	})
	return out
}

// fingerprint is what makes a group changed: its alerts, which are resolved, what is
// suppressed.
func fingerprint(ls []listed) string {
	h := sha256.New()
	var b [18]byte
	for _, l := range ls {
		binary.BigEndian.PutUint64(b[:8], l.a.ID)
		b[8] = 0 // an acknowledgement is told by its own notification, not as a change
		if l.a.State == watchfloor.AlertResolved {
			b[8] = 1
		}
		b[9] = byte(l.a.Severity)
		if l.suppressed {
			b[9] |= 0x80
		}
		binary.BigEndian.PutUint64(b[10:], uint64(len(l.a.Title)))
		h.Write(b[:])
		h.Write([]byte(l.a.Title))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func (g *Grouper) notification(gr *group, ls []listed, firing int, now time.Time) Notification {
	kh := sha256.Sum256([]byte(gr.key))
	n := Notification{
		ID:          fmt.Sprintf("%x-%d", kh[:8], g.seq),
		GroupKey:    gr.key,
		Receiver:    gr.receiver,
		Status:      StatusFiring,
		GroupLabels: slices.Clone(gr.labels),
		Time:        now,
	}
	if firing == 0 {
		n.Status = StatusResolved
	}
	bySev := map[watchfloor.Severity]int{}
	suppressed, resolved := 0, 0
	for i, l := range ls {
		if i == 0 {
			n.Title = l.a.Title
			n.Severity = l.a.Severity
		}
		switch {
		case l.suppressed:
			suppressed++
		case l.a.State == watchfloor.AlertResolved:
			resolved++
			if firing == 0 {
				bySev[l.a.Severity]++
			}
		default:
			bySev[l.a.Severity]++
		}
		if (firing == 0 || l.a.State != watchfloor.AlertResolved) && l.a.Severity > n.Severity {
			n.Severity = l.a.Severity
		}
	}
	listedN := min(len(ls), g.cfg.MaxListed)
	n.Alerts = make([]watchfloor.Alert, listedN)
	for i := range listedN {
		n.Alerts[i] = ls[i].a
	}
	var b strings.Builder
	if firing > 0 {
		fmt.Fprintf(&b, "%d firing", firing)
	} else {
		fmt.Fprintf(&b, "%d resolved", resolved)
	}
	var parts []string
	for s := watchfloor.SeverityCritical; ; s-- {
		if bySev[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", bySev[s], s))
		}
		if s == watchfloor.SeverityInfo {
			break
		}
	}
	if len(parts) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(parts, ", "))
	}
	if suppressed > 0 {
		fmt.Fprintf(&b, ", %d suppressed", suppressed)
	}
	if firing > 0 && resolved > 0 {
		fmt.Fprintf(&b, ", %d resolved", resolved)
	}
	if len(ls) > listedN {
		fmt.Fprintf(&b, "; %d more not listed", len(ls)-listedN)
	}
	n.Summary = b.String()
	if g.cfg.Link != nil {
		n.Link = g.cfg.Link(&n)
	}
	return n
}

// GroupState is a Grouper's state, serialisable (JSON) for the appliance to persist.
type GroupState struct {
	Version    int                `json:"version"`
	Seq        uint64             `json:"seq"`
	Groups     []GroupSnapshot    `json:"groups"`
	Suppressed []watchfloor.Alert `json:"suppressed,omitempty"` // folded under their roots
}

// GroupSnapshot is one group of a GroupState.
type GroupSnapshot struct {
	Key            string             `json:"key"`
	Route          string             `json:"route"`
	Receiver       string             `json:"receiver"`
	Labels         []watchfloor.Attr  `json:"labels"`
	Alerts         []watchfloor.Alert `json:"alerts"`
	Created        time.Time          `json:"created"`
	Next           time.Time          `json:"next"`
	LastSent       time.Time          `json:"last_sent"`
	LastHash       string             `json:"last_hash,omitempty"`
	SentFiring     bool               `json:"sent_firing"`
	GroupWait      time.Duration      `json:"group_wait"`
	GroupInterval  time.Duration      `json:"group_interval"`
	RepeatInterval time.Duration      `json:"repeat_interval"`
}

const groupStateVersion = 1

// State returns a copy of the grouper's state, groups ordered by key.
func (g *Grouper) State() GroupState {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := GroupState{Version: groupStateVersion, Seq: g.seq}
	for _, gr := range g.groups {
		gs := GroupSnapshot{Key: gr.key, Route: gr.route, Receiver: gr.receiver, Labels: slices.Clone(gr.labels),
			Created: gr.created, Next: gr.next, LastSent: gr.lastSent, LastHash: gr.lastHash, SentFiring: gr.sentFiring,
			GroupWait: gr.wait, GroupInterval: gr.interval, RepeatInterval: gr.repeat}
		for _, a := range gr.alerts {
			gs.Alerts = append(gs.Alerts, a)
		}
		slices.SortFunc(gs.Alerts, func(x, y watchfloor.Alert) int { return cmp.Compare(x.ID, y.ID) })
		s.Groups = append(s.Groups, gs)
	}
	slices.SortFunc(s.Groups, func(x, y GroupSnapshot) int { return strings.Compare(x.Key, y.Key) })
	for _, m := range g.supp {
		for _, a := range m {
			s.Suppressed = append(s.Suppressed, a)
		}
	}
	slices.SortFunc(s.Suppressed, func(x, y watchfloor.Alert) int { return cmp.Compare(x.ID, y.ID) })
	return s
}

// Restore replaces the grouper's state with s (from State, possibly of another process).
// The bounds apply: groups and alerts past them are counted as dropped.
func (g *Grouper) Restore(s GroupState) error {
	if s.Version != groupStateVersion {
		return fmt.Errorf("group state version %d, want %d", s.Version, groupStateVersion)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.groups = map[string]*group{}
	g.byAl = map[uint64][]string{}
	g.supp = map[uint64]map[uint64]watchfloor.Alert{}
	g.suppOf = map[uint64]uint64{}
	g.seq = s.Seq
	for _, gs := range s.Groups {
		if gs.Key == "" || len(gs.Alerts) == 0 || g.groups[gs.Key] != nil {
			continue
		}
		if len(g.groups) >= g.cfg.MaxGroups {
			g.stats.GroupsDropped++
			continue
		}
		if gs.GroupInterval <= 0 || gs.RepeatInterval <= 0 {
			return fmt.Errorf("group %s: intervals must be positive", gs.Key)
		}
		gr := &group{key: gs.Key, route: gs.Route, receiver: gs.Receiver, labels: slices.Clone(gs.Labels),
			alerts: map[uint64]watchfloor.Alert{}, created: gs.Created, next: gs.Next, lastSent: gs.LastSent,
			lastHash: gs.LastHash, sentFiring: gs.SentFiring, wait: gs.GroupWait, interval: gs.GroupInterval, repeat: gs.RepeatInterval}
		for _, a := range gs.Alerts {
			if _, known := g.byAl[a.ID]; !known && g.tracked() >= g.cfg.MaxAlerts {
				g.stats.AlertsDropped++
				continue
			}
			gr.alerts[a.ID] = a
			g.byAl[a.ID] = append(g.byAl[a.ID], gs.Key)
		}
		if len(gr.alerts) > 0 {
			g.groups[gs.Key] = gr
		}
	}
	for _, a := range s.Suppressed {
		if a.SuppressedBy == 0 {
			continue
		}
		if g.tracked() >= g.cfg.MaxAlerts {
			g.stats.AlertsDropped++
			continue
		}
		m := g.supp[a.SuppressedBy]
		if m == nil {
			m = map[uint64]watchfloor.Alert{}
			g.supp[a.SuppressedBy] = m
		}
		m[a.ID] = a
		g.suppOf[a.ID] = a.SuppressedBy
	}
	return nil
}
