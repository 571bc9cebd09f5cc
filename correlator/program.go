package correlator

import (
	"encoding/binary"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/watchfloor/watchfloor/correlator/window"
	"github.com/watchfloor/watchfloor/rules"
)

// program is a compiled rule set. Its detection part is read-only and shared by the
// collectors' goroutines; its correlation state (corrNode windows, alert caches) belongs to
// the engine's goroutine.
type program struct {
	set    *rules.Set
	nodes  []*ruleNode
	byName map[string]*ruleNode
	// byKind lists, per record kind, the detections that read it.
	byKind [nKinds][]*ruleNode
	corrs  []*corrNode
}

// ruleNode is one compiled rule.
type ruleNode struct {
	r   *rules.Rule
	idx int
	det [nRecTypes]pred // detections: the condition per record type that the rule reads
	// What a match (or a correlation's firing) does.
	generate bool
	feeds    []feed
	recovers []recovery
	corr     *corrNode // correlations
	// Alert rendering.
	identity []src
	idNames  []string
	entity   [4]*src // host, device, interface, site
	title    []tsrc
	desc     []tsrc
	// lastFire is when each identity last got a full update (title, evidence), event ns.
	lastFire map[string]int64

	matches prometheus.Counter
	// hits and lastHit (event ns) count the rule's matches for the console's rule list.
	hits    atomic.Uint64
	lastHit atomic.Int64
}

// feed is a correlation reading a rule: pos is the rule's index in the correlation's rules;
// by and field read the group-by and condition values from that rule's matches.
type feed struct {
	c     *corrNode
	pos   int
	by    []src
	field *src
}

// recovery resolves target's alert when the rule matches: key reads target's identity
// fields from the rule's match.
type recovery struct {
	target *ruleNode
	key    []src
}

// tsrc is one part of a template: a literal, or a field.
type tsrc struct {
	lit string
	src *src
}

// src reads a named value from a match: a field of a detection's record (per record type), a
// group-by value of a correlation's firing (idx), or the correlation's measured value.
type src struct {
	name  string
	g     [nRecTypes]getter
	idx   int // >= 0: the correlation group-by value at idx
	value bool
}

// view is a match as the alert path sees it: a record, or a correlation's group values.
type view struct {
	r     *rec
	vals  []val
	value float64
	t     int64
	// correlation evidence
	start, end int64
	approx     bool
}

func (s *src) get(v *view) val {
	switch {
	case s.value:
		return val{typ: rules.Num, n: v.value}
	case s.idx >= 0:
		if s.idx < len(v.vals) {
			return v.vals[s.idx]
		}
		return val{}
	case v.r == nil:
		return val{}
	}
	if g := s.g[v.r.typ]; g != nil {
		return g(v.r)
	}
	return val{}
}

// source compiles the reader of name for matches of rule n.
func (n *ruleNode) source(name string) *src {
	s := &src{name: name, idx: -1}
	if name == rules.ValueField {
		s.value = n.corr != nil
		return s
	}
	if c := n.r.Correlation; c != nil {
		for i, g := range c.GroupBy {
			if g.Name == name {
				s.idx = i
			}
		}
		return s
	}
	f, ok := rules.LookupField(name)
	if !ok {
		return s
	}
	for t := recType(0); t < nRecTypes; t++ {
		s.g[t] = fieldGetter(f, t)
	}
	return s
}

// fieldSource compiles the reader of a resolved field (a detection's field, or a referenced
// correlation's group-by name).
func (n *ruleNode) fieldSource(f rules.Field) *src {
	if n.r.Correlation != nil || f.Name == "" {
		return n.source(f.Name)
	}
	s := &src{name: f.Name, idx: -1}
	for t := recType(0); t < nRecTypes; t++ {
		s.g[t] = fieldGetter(f, t)
	}
	return s
}

func (n *ruleNode) template(t rules.Template) []tsrc {
	out := make([]tsrc, len(t.Parts))
	for i, p := range t.Parts {
		if p.Field == "" {
			out[i].lit = p.Lit
		} else {
			out[i].src = n.source(p.Field)
		}
	}
	return out
}

// compile builds a program from a validated set. Correlation windows are created fresh.
func compile(set *rules.Set, cfg Config, m *metrics) (*program, error) {
	p := &program{set: set, byName: make(map[string]*ruleNode, len(set.Rules))}
	for i, r := range set.Rules {
		n := &ruleNode{r: r, idx: i, generate: r.Generate, lastFire: map[string]int64{}}
		if m != nil {
			n.matches = m.matches.WithLabelValues(r.Name)
		}
		p.nodes = append(p.nodes, n)
		p.byName[r.Name] = n
	}
	wcfg := cfg.Window
	wcfg.Lateness = cfg.Lateness
	for _, n := range p.nodes {
		r := n.r
		if d := r.Detection; d != nil {
			for _, k := range r.Kinds {
				ki := kindIndex(k)
				if ki < 0 {
					return nil, fmt.Errorf("rule %s: unknown kind %s", r.Name, k)
				}
				t := recTypeOf(ki)
				if n.det[t] == nil {
					pr, err := compileDetection(d, t)
					if err != nil {
						return nil, fmt.Errorf("rule %s: %w", r.Name, err)
					}
					n.det[t] = pr
				}
				p.byKind[ki] = append(p.byKind[ki], n)
			}
		}
		if c := r.Correlation; c != nil {
			cn, err := newCorr(n, c, wcfg)
			if err != nil {
				return nil, fmt.Errorf("rule %s: %w", r.Name, err)
			}
			n.corr = cn
			p.corrs = append(p.corrs, cn)
		}
	}
	for _, n := range p.nodes {
		r := n.r
		for _, name := range r.Alert.Identity {
			n.identity = append(n.identity, *n.source(name))
			n.idNames = append(n.idNames, name)
		}
		e := r.Alert.Entity
		for i, name := range []string{e.Host, e.Device, e.Interface, e.Site} {
			if name != "" {
				n.entity[i] = n.source(name)
			}
		}
		n.title = n.template(r.Alert.Title)
		n.desc = n.template(r.Alert.Description)
		if c := r.Correlation; c != nil {
			for pos, t := range c.Rules {
				tn := p.byName[t.Name]
				if tn == nil {
					return nil, fmt.Errorf("rule %s: referenced rule %s is not in the set", r.Name, t.Name)
				}
				f := feed{c: n.corr, pos: pos}
				for _, g := range c.GroupBy {
					var bf rules.Field
					if pos < len(g.ByRule) {
						bf = g.ByRule[pos]
					}
					f.by = append(f.by, *tn.fieldSource(bf))
				}
				if cf := c.Condition.Field; cf != nil && pos < len(cf.ByRule) {
					f.field = tn.fieldSource(cf.ByRule[pos])
				}
				tn.feeds = append(tn.feeds, f)
			}
		}
		if rr := r.Alert.RecoveryRule; rr != nil {
			rn := p.byName[rr.Name]
			if rn == nil {
				return nil, fmt.Errorf("rule %s: recovery rule %s is not in the set", r.Name, rr.Name)
			}
			rc := recovery{target: n}
			for _, name := range r.Alert.Identity {
				rc.key = append(rc.key, *rn.source(name))
			}
			rn.recovers = append(rn.recovers, rc)
		}
	}
	// Detections nothing needs (no alert, no correlation, no recovery) are not evaluated.
	for ki := range p.byKind {
		p.byKind[ki] = slices.DeleteFunc(p.byKind[ki], func(n *ruleNode) bool {
			return !n.generate && len(n.feeds) == 0 && len(n.recovers) == 0
		})
	}
	return p, nil
}

// Group keys: each value tagged with its type; strings length-prefixed; injective.
func appendKey(dst []byte, v val) []byte {
	dst = append(dst, byte(v.typ))
	switch v.typ {
	case rules.Str:
		dst = binary.AppendUvarint(dst, uint64(len(v.s)))
		dst = append(dst, v.s...)
	case rules.Num:
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(v.n))
	case rules.Addr:
		a := v.a.Unmap()
		if a.Is4() {
			b := a.As4()
			dst = append(dst, 4)
			dst = append(dst, b[:]...)
		} else {
			b := a.As16()
			dst = append(dst, 16)
			dst = append(dst, b[:]...)
		}
	}
	return dst
}

// decodeKey reads the values of a group key (allocating its strings: only when an alert is
// raised or a chained correlation fed).
func decodeKey(key []byte, dst []val) []val {
	for len(key) > 0 {
		t := rules.FieldType(key[0])
		key = key[1:]
		switch t {
		case rules.Str:
			n, k := binary.Uvarint(key)
			if k <= 0 || uint64(len(key)-k) < n {
				return dst
			}
			dst = append(dst, val{typ: t, s: string(key[k : k+int(n)])})
			key = key[k+int(n):]
		case rules.Num:
			if len(key) < 8 {
				return dst
			}
			dst = append(dst, val{typ: t, n: math.Float64frombits(binary.LittleEndian.Uint64(key))})
			key = key[8:]
		case rules.Addr:
			if len(key) < 1 || len(key) < 1+int(key[0]) {
				return dst
			}
			var a netip.Addr
			if key[0] == 4 {
				a = netip.AddrFrom4([4]byte(key[1:5]))
			} else {
				a = netip.AddrFrom16([16]byte(key[1:17]))
			}
			dst = append(dst, val{typ: t, a: a})
			key = key[1+int(key[0]):]
		default:
			dst = append(dst, val{})
		}
	}
	return dst
}

func toCond(c rules.Condition) window.Cond {
	out := make(window.Cond, 0, len(c.Cmps))
	for _, m := range c.Cmps {
		out = append(out, window.Term{Op: window.Op(m.Op), Value: m.Value})
	}
	return out
}
