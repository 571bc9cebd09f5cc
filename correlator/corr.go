package correlator

import (
	"fmt"
	"hash/maphash"
	"math"
	"time"

	"github.com/watchfloor/watchfloor/correlator/window"
	"github.com/watchfloor/watchfloor/rules"
)

// corrNode is one correlation's windowed state (owned by the engine's goroutine).
type corrNode struct {
	n    *ruleNode
	c    *rules.Correlation
	hash uint64

	ec   *window.EventCount
	vc   *window.ValueCount
	vs   *window.ValueSum
	va   *window.ValueAvg
	vp   *window.ValuePercentile
	tm   *window.Temporal
	to   *window.TemporalOrdered
	ab   *window.Absence
	th   *window.Threshold
	seed maphash.Seed
	// refreshed is when each holding group's alert was last refreshed (event ns).
	refreshed map[string]int64
	// sample is the value of the threshold sample being added: a threshold's {_value}.
	sample float64
}

// maxRefreshed bounds corrNode.refreshed; past it holding groups are not refreshed (their
// alerts resolve after their quiet period even while the condition holds) and counted.
const maxRefreshed = 100_000

func newCorr(n *ruleNode, c *rules.Correlation, cfg window.Config) (*corrNode, error) {
	cn := &corrNode{n: n, c: c, hash: defHash(n.r), seed: maphash.MakeSeed(), refreshed: map[string]int64{}}
	cond := toCond(c.Condition)
	var err error
	switch c.Type {
	case rules.EventCount:
		cn.ec, err = window.NewEventCount(cfg, c.Timespan, cond)
	case rules.ValueCount:
		cn.vc, err = window.NewValueCount(cfg, c.Timespan, cond)
	case rules.ValueSum:
		cn.vs, err = window.NewValueSum(cfg, c.Timespan, cond)
	case rules.ValueAvg:
		cn.va, err = window.NewValueAvg(cfg, c.Timespan, cond)
	case rules.ValuePercentile:
		p := c.Condition.Percentile
		if p == 0 {
			p = rules.DefaultPercentile
		}
		cn.vp, err = window.NewValuePercentile(cfg, c.Timespan, p, cond)
	case rules.Temporal:
		var tc window.Cond
		if len(c.Condition.Cmps) > 0 {
			tc = cond
		} else {
			tc = window.Cond{{Op: window.GTE, Value: float64(len(c.Rules))}}
		}
		cn.tm, err = window.NewTemporal(cfg, c.Timespan, len(c.Rules), tc)
	case rules.TemporalOrdered:
		cn.to, err = window.NewTemporalOrdered(cfg, c.Timespan, len(c.Rules))
	case rules.Absence:
		cn.ab, err = window.NewAbsence(cfg, c.Timespan, 0)
	case rules.Threshold:
		cn.th, err = window.NewThreshold(cfg, c.For)
	default:
		err = fmt.Errorf("unknown correlation type %s", c.Type)
	}
	return cn, err
}

// adopt takes over old's state (same name and definition hash).
func (cn *corrNode) adopt(old *corrNode) {
	cn.ec, cn.vc, cn.vs, cn.va, cn.vp = old.ec, old.vc, old.vs, old.va, old.vp
	cn.tm, cn.to, cn.ab, cn.th = old.tm, old.to, old.ab, old.th
	cn.seed, cn.refreshed = old.seed, old.refreshed
}

func (cn *corrNode) stats() window.Stats {
	switch {
	case cn.ec != nil:
		return cn.ec.Stats()
	case cn.vc != nil:
		return cn.vc.Stats()
	case cn.vs != nil:
		return cn.vs.Stats()
	case cn.va != nil:
		return cn.va.Stats()
	case cn.vp != nil:
		return cn.vp.Stats()
	case cn.tm != nil:
		return cn.tm.Stats()
	case cn.to != nil:
		return cn.to.Stats()
	case cn.ab != nil:
		return cn.ab.Stats()
	case cn.th != nil:
		return cn.th.Stats()
	}
	return window.Stats{}
}

func (cn *corrNode) bytes() int64 {
	switch {
	case cn.ec != nil:
		return cn.ec.Bytes()
	case cn.vc != nil:
		return cn.vc.Bytes()
	case cn.vs != nil:
		return cn.vs.Bytes()
	case cn.va != nil:
		return cn.va.Bytes()
	case cn.vp != nil:
		return cn.vp.Bytes()
	case cn.tm != nil:
		return cn.tm.Bytes()
	case cn.to != nil:
		return cn.to.Bytes()
	case cn.ab != nil:
		return cn.ab.Bytes()
	case cn.th != nil:
		return cn.th.Bytes()
	}
	return 0
}

// distinct maps a value to the 64-bit identity value_count counts.
func (cn *corrNode) distinct(v val) uint64 {
	switch v.typ {
	case rules.Num:
		return math.Float64bits(v.n) | 1
	case rules.Addr:
		a := v.a.Unmap()
		if a.Is4() {
			b := a.As4()
			return uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3]) | 1<<40
		}
		b := a.As16()
		return maphash.Bytes(cn.seed, b[:]) | 1
	case rules.Str:
		return maphash.String(cn.seed, v.s) | 1
	}
	return 0
}

// add feeds one match (of the correlation's rule pos) into the window and reports a
// window.Match to act on.
func (e *Engine) add(cn *corrNode, f *feed, v *view) (window.Match, bool) {
	key := e.keyBuf[:0]
	for i := range f.by {
		key = appendKey(key, f.by[i].get(v))
	}
	e.keyBuf = key
	t := time.Unix(0, v.t)
	num := func() (float64, bool) {
		if f.field == nil {
			return 0, false
		}
		x := f.field.get(v)
		return x.n, x.typ == rules.Num
	}
	switch {
	case cn.ec != nil:
		return cn.ec.Add(key, t)
	case cn.vc != nil:
		if f.field == nil {
			return window.Match{}, false
		}
		x := f.field.get(v)
		if x.typ == 0 {
			return window.Match{}, false
		}
		return cn.vc.Add(key, t, cn.distinct(x))
	case cn.vs != nil:
		if x, ok := num(); ok {
			return cn.vs.Add(key, t, x)
		}
	case cn.va != nil:
		if x, ok := num(); ok {
			return cn.va.Add(key, t, x)
		}
	case cn.vp != nil:
		if x, ok := num(); ok {
			return cn.vp.Add(key, t, x)
		}
	case cn.tm != nil:
		return cn.tm.Add(key, t, f.pos)
	case cn.to != nil:
		return cn.to.Add(key, t, f.pos)
	case cn.ab != nil:
		return cn.ab.Add(key, t)
	case cn.th != nil:
		x, ok := num()
		cn.sample = x
		return cn.th.Add(key, t, ok && cn.c.Condition.Satisfied(x))
	}
	return window.Match{}, false
}
