// Package topology is topology-aware alert suppression: which devices depend on which,
// from the LLDP neighbours the poller reads and dependencies the configuration declares,
// and the Suppressor that makes the alert of a dead upstream device the root cause of the
// alerts of what is behind it.
//
// # The graph
//
// The nodes are the devices and the LLDP neighbours that are not monitored; the edges are
// the LLDP links (either way) and the declared dependencies (from the upstream device to the
// dependent one only). The roots are the site's uplink devices. A device is behind D when
// every path from the roots to it passes through D: it is reachable from the roots, and no
// longer reachable once D is taken out. A device with two uplinks is behind neither one
// alone. Behind is transitive and never mutual, so root causes never form cycles.
package topology

import (
	"cmp"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/watchfloor/watchfloor"
)

// Port is one interface of a device.
type Port struct {
	Device    string `json:"device"`
	Interface string `json:"interface"`
}

// Graph is who depends on whom at a site. It is immutable once built; its methods are
// safe for concurrent use.
type Graph struct {
	names []string
	index map[string]int
	out   [][]int // the nodes each node leads to: LLDP links both ways, dependencies downward
	roots []int
	depth []int // breadth-first distance from the roots; -1: not reachable
	links []watchfloor.Link
	addrs map[string]string // a device's address (its poller target's host) → its name

	mu     sync.Mutex
	behind map[int][]int // computed on demand
}

// Build returns the graph of devices: their LLDP links (watchfloor.Topology) and cfg's
// dependencies, oriented from cfg's roots.
func Build(devices []watchfloor.Device, cfg Config) *Graph {
	return build(devices, watchfloor.Topology(devices), cfg)
}

func build(devices []watchfloor.Device, links []watchfloor.Link, cfg Config) *Graph {
	g := &Graph{index: map[string]int{}, links: links, addrs: map[string]string{}, behind: map[int][]int{}}
	node := func(name string) int {
		if i, ok := g.index[name]; ok {
			return i
		}
		g.index[name] = len(g.names)
		g.names = append(g.names, name)
		g.out = append(g.out, nil)
		return len(g.names) - 1
	}
	shared := map[string]bool{}
	for _, d := range devices {
		node(d.Name)
		host := d.Address
		if h, _, err := net.SplitHostPort(d.Address); err == nil {
			host = h
		}
		if host == "" {
			continue
		}
		if o, ok := g.addrs[host]; ok && o != d.Name {
			shared[host] = true // devices behind one address (a NAT, a lab): no telling
		}
		g.addrs[host] = d.Name
	}
	for h := range shared {
		delete(g.addrs, h)
	}
	edge := func(a, b int) {
		if a != b && !slices.Contains(g.out[a], b) {
			g.out[a] = append(g.out[a], b)
		}
	}
	for _, l := range links {
		if l.A == "" || l.B == "" {
			continue
		}
		a, b := node(l.A), node(l.B)
		edge(a, b)
		edge(b, a)
	}
	for _, d := range cfg.Dependencies {
		if d.Device == "" {
			continue
		}
		x := node(d.Device)
		for _, u := range d.Upstream {
			if u != "" {
				edge(node(u), x)
			}
		}
	}
	if len(cfg.Roots) > 0 {
		for _, r := range cfg.Roots {
			g.roots = append(g.roots, node(r))
		}
	} else {
		for _, d := range devices {
			if d.Role == "core" {
				g.roots = append(g.roots, g.index[d.Name])
			}
		}
	}
	slices.Sort(g.roots)
	g.roots = slices.Compact(g.roots)
	g.depth = g.reach(-1)
	return g
}

// reach returns the breadth-first distance of every node from the roots without node skip
// (-1: none skipped); -1 for the nodes not reached.
func (g *Graph) reach(skip int) []int {
	depth := make([]int, len(g.names))
	for i := range depth {
		depth[i] = -1
	}
	queue := make([]int, 0, len(g.names))
	for _, r := range g.roots {
		if r != skip {
			depth[r] = 0
			queue = append(queue, r)
		}
	}
	for len(queue) > 0 {
		x := queue[0]
		queue = queue[1:]
		for _, y := range g.out[x] {
			if y != skip && depth[y] < 0 {
				depth[y] = depth[x] + 1
				queue = append(queue, y)
			}
		}
	}
	return depth
}

// behindOf returns the nodes behind node d, sorted by index; computed once per node.
func (g *Graph) behindOf(d int) []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if b, ok := g.behind[d]; ok {
		return b
	}
	var b []int
	if g.depth[d] >= 0 {
		without := g.reach(d)
		for x := range g.names {
			if x != d && g.depth[x] >= 0 && without[x] < 0 {
				b = append(b, x)
			}
		}
	}
	g.behind[d] = b
	return b
}

// Behind returns the devices that lose every path from the roots when device is down,
// sorted; none for a device the graph does not know.
func (g *Graph) Behind(device string) []string {
	d, ok := g.index[device]
	if !ok {
		return nil
	}
	var out []string
	for _, x := range g.behindOf(d) {
		out = append(out, g.names[x])
	}
	slices.Sort(out)
	return out
}

// IsBehind reports whether x is behind d.
func (g *Graph) IsBehind(x, d string) bool {
	xi, ok1 := g.index[x]
	di, ok2 := g.index[d]
	if !ok1 || !ok2 || xi == di {
		return false
	}
	_, found := slices.BinarySearch(g.behindOf(di), xi)
	return found
}

// Facing returns the ports cabled to device on the devices that are not behind it (its
// upstream devices, and neighbours with another way out): the ports that go down with it.
// Sorted.
func (g *Graph) Facing(device string) []Port {
	var out []Port
	for _, l := range g.links {
		var p Port
		switch device {
		case l.A:
			p = Port{l.B, l.BPort}
		case l.B:
			p = Port{l.A, l.APort}
		default:
			continue
		}
		if p.Device == device || p.Interface == "" || g.IsBehind(p.Device, device) {
			continue
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b Port) int {
		return cmp.Or(cmp.Compare(a.Device, b.Device), cmp.Compare(a.Interface, b.Interface))
	})
	return slices.Compact(out)
}

// Depth is device's breadth-first distance from the roots: 0 for a root, -1 when the
// roots do not reach it or the graph does not know it.
func (g *Graph) Depth(device string) int {
	if d, ok := g.index[device]; ok {
		return g.depth[d]
	}
	return -1
}

// Roots returns the root devices, sorted.
func (g *Graph) Roots() []string {
	out := make([]string, len(g.roots))
	for i, r := range g.roots {
		out[i] = g.names[r]
	}
	slices.Sort(out)
	return out
}

// Links returns the LLDP links the graph was built from.
func (g *Graph) Links() []watchfloor.Link { return slices.Clone(g.links) }

// DeviceAt returns the device whose poller address has host addr ("" when none does, or
// several): how an alert about an exporter's address finds its device.
func (g *Graph) DeviceAt(addr string) string { return g.addrs[addr] }

// Tracker builds graphs from successive polls of the devices, remembering links that stop
// being reported: a port that goes down loses its LLDP neighbour, and a dead device reports
// nothing, yet the cable is still there and the topology must not change under an outage.
// A remembered link is forgotten after Config.LinkMemory, or at once when one of its ports
// reports another neighbour. Its methods are safe for concurrent use.
type Tracker struct {
	cfg   Config
	mu    sync.Mutex
	links map[watchfloor.Link]time.Time // last seen
}

// NewTracker returns a Tracker with cfg's roots, dependencies and link memory.
func NewTracker(cfg Config) *Tracker {
	return &Tracker{cfg: cfg, links: map[watchfloor.Link]time.Time{}}
}

// maxLinks bounds the links a Tracker remembers (the oldest go first).
const maxLinks = 1_000_000

// Update folds the devices' current LLDP links in at now and returns the graph of the
// links seen now and those remembered.
func (t *Tracker) Update(devices []watchfloor.Device, now time.Time) *Graph {
	cur := watchfloor.Topology(devices)
	t.mu.Lock()
	defer t.mu.Unlock()
	type end struct{ dev, port string }
	taken := make(map[end]bool, 2*len(cur))
	for _, l := range cur {
		taken[end{l.A, l.APort}] = true
		taken[end{l.B, l.BPort}] = true
	}
	for l, seen := range t.links {
		// A port seen with another neighbour now was re-cabled; ports with no name say
		// nothing about re-cabling.
		recabled := l.APort != "" && taken[end{l.A, l.APort}] || l.BPort != "" && taken[end{l.B, l.BPort}]
		if now.Sub(seen) > t.cfg.LinkMemory || recabled {
			delete(t.links, l)
		}
	}
	for _, l := range cur {
		t.links[l] = now
	}
	if over := len(t.links) - maxLinks; over > 0 {
		type aged struct {
			l watchfloor.Link
			t time.Time
		}
		all := make([]aged, 0, len(t.links))
		for l, s := range t.links {
			all = append(all, aged{l, s})
		}
		slices.SortFunc(all, func(a, b aged) int { return a.t.Compare(b.t) })
		for _, a := range all[:over] {
			delete(t.links, a.l)
		}
	}
	links := make([]watchfloor.Link, 0, len(t.links))
	for l := range t.links {
		links = append(links, l)
	}
	slices.SortFunc(links, func(x, y watchfloor.Link) int {
		return cmp.Or(cmp.Compare(x.A, y.A), cmp.Compare(x.APort, y.APort), cmp.Compare(x.B, y.B), cmp.Compare(x.BPort, y.BPort))
	})
	return build(devices, links, t.cfg)
}
