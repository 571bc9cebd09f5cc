package topology

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/watchfloor/watchfloor"
)

func TestGraph(t *testing.T) {
	for _, tc := range []struct {
		name    string
		devices []watchfloor.Device
		cfg     func(*Config)
		behind  map[string][]string
		facing  map[string][]Port
	}{{
		name:    "a chain",
		devices: devicesOf("r=core", "r:1 a:1", "a:2 b:1", "b:2 c:1"),
		behind:  map[string][]string{"r": {"a", "b", "c"}, "a": {"b", "c"}, "b": {"c"}, "c": nil},
		facing:  map[string][]Port{"b": {{"a", "2"}}, "r": nil}, // all behind r
	}, {
		name: "multi-homed: behind neither uplink alone",
		devices: devicesOf("r1=core", "r2=core", "r1:1 d1:1", "r2:1 d2:1", "r1:2 d2:2", "r2:2 d1:2",
			"x:1 d1:3", "x:2 d2:3", "y:1 d2:4"),
		behind: map[string][]string{"d1": nil, "d2": {"y"}, "r1": nil},
		facing: map[string][]Port{"d1": {{"r1", "1"}, {"r2", "2"}, {"x", "1"}}},
	}, {
		name: "a lateral link is another way out",
		// b hangs off a, c off d, and b and c are cabled together.
		devices: devicesOf("r=core", "r:1 a:1", "r:2 d:1", "a:2 b:1", "d:2 c:1", "b:2 c:2"),
		behind:  map[string][]string{"a": nil, "d": nil},
	}, {
		name: "declared dependencies for what LLDP does not show",
		// A server farm behind a firewall that LLDP does not reach, and a switch that
		// depends on two routers.
		devices: devicesOf("r=core", "r:1 fw:1", "r:2 d1:1", "r:3 d2:1", "srv", "sw"),
		cfg: func(c *Config) {
			c.Dependencies = []Dependency{{Device: "srv", Upstream: []string{"fw"}},
				{Device: "sw", Upstream: []string{"d1", "d2"}}}
		},
		behind: map[string][]string{"fw": {"srv"}, "d1": nil, "d2": nil, "srv": nil},
	}, {
		name: "a declared dependency goes one way",
		// x declares it hangs off y: x is behind y, and y is not reached through x.
		devices: devicesOf("r=core", "r:1 y:1"),
		cfg:     func(c *Config) { c.Dependencies = []Dependency{{Device: "x", Upstream: []string{"y"}}} },
		behind:  map[string][]string{"y": {"x"}, "x": nil},
	}, {
		name:    "configured roots instead of roles",
		devices: devicesOf("r=core", "r:1 a:1", "a:2 b:1"),
		cfg:     func(c *Config) { c.Roots = []string{"a"} },
		behind:  map[string][]string{"a": {"b", "r"}, "b": nil, "r": nil},
	}, {
		name:    "no roots: nothing is behind anything",
		devices: devicesOf("r:1 a:1", "a:2 b:1"),
		behind:  map[string][]string{"a": nil, "r": nil},
		facing:  map[string][]Port{"a": {{"b", "1"}, {"r", "1"}}},
	}, {
		name:    "a device off the graph",
		devices: devicesOf("r=core", "r:1 a:1", "lonely"),
		behind:  map[string][]string{"lonely": nil, "r": {"a"}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			if errs := cfg.Validate(); len(errs) > 0 {
				t.Fatal(errs)
			}
			g := Build(tc.devices, cfg)
			for d, want := range tc.behind {
				if got := g.Behind(d); !slices.Equal(got, want) {
					t.Errorf("behind %s: %v, want %v", d, got, want)
				}
				for _, x := range want {
					if !g.IsBehind(x, d) || g.IsBehind(d, x) {
						t.Errorf("IsBehind(%s, %s) %v, IsBehind(%s, %s) %v", x, d, g.IsBehind(x, d), d, x, g.IsBehind(d, x))
					}
				}
			}
			for d, want := range tc.facing {
				if got := g.Facing(d); !slices.Equal(got, want) {
					t.Errorf("facing %s: %v, want %v", d, got, want)
				}
			}
		})
	}
}

// Behind is a strict order on any graph: never mutual, never reflexive.
func TestBehindNeverMutual(t *testing.T) {
	var specs []string
	for i := range 30 {
		specs = append(specs, "n"+string(rune('a'+i%26))+string(rune('a'+i/26))+"=x")
	}
	specs = append(specs, "naa=core")
	for i := 1; i < 30; i++ {
		a := specs[(i*7)%i] // some earlier node
		b := specs[i]
		a, _, _ = strings.Cut(a, "=")
		b, _, _ = strings.Cut(b, "=")
		specs = append(specs, a+":p"+b+" "+b+":up")
		if i%4 == 0 {
			c, _, _ := strings.Cut(specs[i/2], "=")
			specs = append(specs, c+":q"+b+" "+b+":up2")
		}
	}
	ds := devicesOf(specs...)
	g := Build(ds, DefaultConfig())
	for _, d := range ds {
		for _, x := range g.Behind(d.Name) {
			if x == d.Name || g.IsBehind(d.Name, x) {
				t.Fatalf("%s and %s behind each other", d.Name, x)
			}
			if g.Depth(x) <= g.Depth(d.Name) {
				t.Fatalf("%s (depth %d) behind %s (depth %d)", x, g.Depth(x), d.Name, g.Depth(d.Name))
			}
		}
	}
}

func TestDeviceAt(t *testing.T) {
	ds := devicesOf("a", "b")
	ds = append(ds, watchfloor.Device{Name: "c", Address: "127.0.0.1:1161"}, watchfloor.Device{Name: "d", Address: "127.0.0.1:1162"})
	g := Build(ds, DefaultConfig())
	if got := g.DeviceAt("192.0.2.a"); got != "a" {
		t.Errorf("DeviceAt a: %q", got)
	}
	if got := g.DeviceAt("127.0.0.1"); got != "" { // shared by c and d
		t.Errorf("DeviceAt of a shared address: %q", got)
	}
}

// The Tracker keeps links that stop being reported, forgets them after LinkMemory, and
// replaces them at once when their port reports another neighbour.
func TestTracker(t *testing.T) {
	cfg := DefaultConfig()
	cfg.LinkMemory = time.Hour
	tr := NewTracker(cfg)
	g := tr.Update(devicesOf("r=core", "r:1 a:1", "a:2 b:1"), base)
	if got := g.Behind("a"); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("behind a %v", got)
	}
	// a goes dark: nobody reports its links.
	g = tr.Update(devicesOf("r=core", "a", "b"), base.Add(30*time.Minute))
	if got := g.Behind("a"); !slices.Equal(got, []string{"b"}) {
		t.Errorf("a dark: behind a %v", got)
	}
	// b is re-cabled to r.
	g = tr.Update(devicesOf("r=core", "a", "b:1 r:9"), base.Add(40*time.Minute))
	if got := g.Behind("a"); len(got) != 0 {
		t.Errorf("b re-cabled: behind a %v", got)
	}
	if got := g.Facing("a"); !slices.Equal(got, []Port{{"r", "1"}}) {
		t.Errorf("b re-cabled: facing a %v", got)
	}
	// An hour after r:1—a:1 was last seen, it is forgotten.
	g = tr.Update(devicesOf("r=core", "a", "b:1 r:9"), base.Add(61*time.Minute))
	if got := g.Depth("a"); got != -1 {
		t.Errorf("a's link kept past LinkMemory: depth %d", got)
	}
}

func TestConfigValidate(t *testing.T) {
	if errs := DefaultConfig().Validate(); len(errs) > 0 {
		t.Fatal(errs)
	}
	c := DefaultConfig()
	c.Roots = []string{"r", "", "r"}
	c.Dependencies = []Dependency{{Device: "", Upstream: nil}, {Device: "x", Upstream: []string{"x", ""}}}
	c.RootRules = []string{""}
	c.LinkMemory = -1
	c.QueueSize = 0
	var got []string
	for _, e := range c.Validate() {
		got = append(got, e.Field)
	}
	want := []string{"roots[1]", "roots[2]", "dependencies[0].device", "dependencies[0].upstream",
		"dependencies[1].upstream[0]", "dependencies[1].upstream[1]", "root_rules[0]", "link_memory", "queue_size"}
	if !slices.Equal(got, want) {
		t.Errorf("fields %v, want %v", got, want)
	}
}
