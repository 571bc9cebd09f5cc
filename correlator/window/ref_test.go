package window

import (
	"fmt"
	"math"
	"math/rand/v2"

	"sort"
	"testing"
	"time"
)

// rec is one record of a random stream.
type rec struct {
	key string
	ns  int64
	v   float64
	u   uint64
}

// stream makes n records over groups keys, mostly in time order with
// jitter up to jitter (some late, some beyond the lateness).
func stream(r *rand.Rand, n, groups int, step, jitter time.Duration, vals int) []rec {
	out := make([]rec, n)
	var now int64 = 1_700_000_000e9
	for i := range out {
		now += r.Int64N(int64(step) + 1)
		t := now
		if jitter > 0 && r.IntN(8) == 0 {
			t -= r.Int64N(int64(jitter))
		}
		u := uint64(r.IntN(vals))
		out[i] = rec{key: fmt.Sprintf("g%d", r.IntN(groups)), ns: t, v: float64(r.IntN(1000)) - 100, u: u}
	}
	return out
}

// naive keeps every admitted record per group and answers with the same
// window definition as the package: at a group's newest bucket H, a record
// counts when its bucket is > H - Buckets.
type naive struct {
	cfg       Config
	width     int64
	nb        int64
	watermark int64
	started   bool
	groups    map[string][]rec
	newest    map[string]int64
}

func newNaive(cfg Config, span time.Duration) *naive {
	nb := int64(cfg.Buckets)
	return &naive{cfg: cfg, nb: nb, width: (int64(span) + nb - 1) / nb, groups: map[string][]rec{}, newest: map[string]int64{}}
}

func (n *naive) bucket(ns int64) int64 { return int64(math.Floor(float64(ns) / float64(n.width))) }

// add returns the records in the group's window after adding r, ok false
// when r was dropped as late.
func (n *naive) add(r rec) ([]rec, bool) {
	if n.started && n.watermark-r.ns > int64(n.cfg.Lateness) {
		return nil, false
	}
	if !n.started || r.ns > n.watermark {
		n.watermark, n.started = r.ns, true
	}
	newest, seen := n.newest[r.key]
	if !seen || r.ns > newest {
		newest = r.ns
		n.newest[r.key] = newest
	}
	h := n.bucket(newest)
	if n.bucket(r.ns) <= h-n.nb {
		return nil, false
	}
	var in []rec
	for _, x := range append(n.groups[r.key], r) {
		if n.bucket(x.ns) > h-n.nb {
			in = append(in, x)
		}
	}
	n.groups[r.key] = in
	return in, true
}

func testConfig() Config {
	c := DefaultConfig()
	c.Lateness = 2 * time.Second
	c.Buckets = 8
	return c
}

func TestEventCountMatchesReference(t *testing.T) {
	for _, tc := range []struct {
		name   string
		span   time.Duration
		step   time.Duration
		jitter time.Duration
		cond   Cond
	}{
		{"dense", 10 * time.Second, 50 * time.Millisecond, 0, Cond{{GTE, 20}}},
		{"sparse jittered", 10 * time.Second, time.Second, 4 * time.Second, Cond{{GT, 3}}},
		{"range", 5 * time.Second, 100 * time.Millisecond, time.Second, Cond{{GT, 5}, {LTE, 9}}},
		{"lt", 3 * time.Second, 400 * time.Millisecond, 0, Cond{{LT, 3}}},
		{"neq", 3 * time.Second, 400 * time.Millisecond, 500 * time.Millisecond, Cond{{NEQ, 2}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			w, err := NewEventCount(cfg, tc.span, tc.cond)
			if err != nil {
				t.Fatal(err)
			}
			ref := newNaive(cfg, tc.span)
			r := rand.New(rand.NewPCG(1, uint64(len(tc.name))))
			fires := 0
			for i, x := range stream(r, 20000, 7, tc.step, tc.jitter, 10) {
				in, ok := ref.add(x)
				want := ok && tc.cond.Holds(float64(len(in)))
				m, got := w.Add([]byte(x.key), time.Unix(0, x.ns))
				if got != want {
					t.Fatalf("record %d %+v: fired %v, want %v (reference count %d, ok %v)", i, x, got, want, len(in), ok)
				}
				if got {
					fires++
					if m.Value != float64(len(in)) || string(m.Key) != x.key {
						t.Fatalf("record %d: match %+v, want count %d key %s", i, m, len(in), x.key)
					}
				}
			}
			if fires == 0 {
				t.Fatal("the stream never fired: the test proves nothing")
			}
		})
	}
}

func TestNumericMatchesReference(t *testing.T) {
	for _, avg := range []bool{false, true} {
		t.Run(fmt.Sprint("avg=", avg), func(t *testing.T) {
			cfg := testConfig()
			span := 5 * time.Second
			var w interface {
				Add([]byte, time.Time, float64) (Match, bool)
			}
			cond := Cond{{GT, 3000}}
			if avg {
				cond = Cond{{GT, 420}}
				w, _ = NewValueAvg(cfg, span, cond)
			} else {
				w, _ = NewValueSum(cfg, span, cond)
			}
			ref := newNaive(cfg, span)
			r := rand.New(rand.NewPCG(2, 3))
			fires := 0
			for i, x := range stream(r, 20000, 5, 100*time.Millisecond, time.Second, 10) {
				in, ok := ref.add(x)
				var sum float64
				for _, y := range in {
					sum += y.v
				}
				if avg && len(in) > 0 {
					sum /= float64(len(in))
				}
				want := ok && cond.Holds(sum)
				m, got := w.Add([]byte(x.key), time.Unix(0, x.ns), x.v)
				if got != want && math.Abs(sum-cond[0].Value) > 1e-6 {
					t.Fatalf("record %d: fired %v, want %v (reference %v)", i, got, want, sum)
				}
				if got {
					fires++
					if math.Abs(m.Value-sum) > 1e-6*math.Max(1, math.Abs(sum)) {
						t.Fatalf("record %d: value %v, want %v", i, m.Value, sum)
					}
				}
			}
			if fires == 0 {
				t.Fatal("never fired")
			}
		})
	}
}

func TestValueCountExactMatchesReference(t *testing.T) {
	cfg := testConfig()
	span := 5 * time.Second
	cond := Cond{{GTE, 12}}
	w, err := NewValueCount(cfg, span, cond)
	if err != nil {
		t.Fatal(err)
	}
	ref := newNaive(cfg, span)
	r := rand.New(rand.NewPCG(4, 5))
	fires := 0
	for i, x := range stream(r, 50000, 6, 30*time.Millisecond, time.Second, 40) {
		in, ok := ref.add(x)
		d := map[uint64]bool{}
		for _, y := range in {
			d[y.u] = true
		}
		want := ok && cond.Holds(float64(len(d)))
		m, got := w.Add([]byte(x.key), time.Unix(0, x.ns), x.u)
		if got != want {
			t.Fatalf("record %d: fired %v, want %v (reference %d distinct)", i, got, want, len(d))
		}
		if got {
			fires++
			if m.Value != float64(len(d)) || m.Approximate {
				t.Fatalf("record %d: %v distinct (approx %v), want %d", i, m.Value, m.Approximate, len(d))
			}
		}
	}
	if fires == 0 {
		t.Fatal("never fired")
	}
	if st := w.Stats(); st.Approximations != 0 {
		t.Fatalf("approximations %d below MaxDistinct", st.Approximations)
	}
}

func TestValueCountSketchError(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxDistinct = 1000
	w, err := NewValueCount(cfg, time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	base := time.Unix(1_700_000_000, 0)
	key := []byte("scanner")
	checkpoints := map[int]bool{999: true, 1001: true, 5000: true, 20000: true, 100000: true, 300000: true}
	for i := range 300000 {
		m, ok := w.Add(key, base.Add(time.Duration(i)*100*time.Nanosecond), uint64(i))
		if !ok {
			t.Fatal("empty condition must hold")
		}
		if checkpoints[i] {
			want := float64(i + 1)
			if rel := math.Abs(m.Value-want) / want; rel > 0.05 {
				t.Errorf("%d distinct: estimate %v, relative error %.3f > 5%% (3 sigma at p=12)", i+1, m.Value, rel)
			}
			if m.Approximate != (i+1 > cfg.MaxDistinct) {
				t.Errorf("%d distinct: approximate %v", i+1, m.Approximate)
			}
		}
	}
	if st := w.Stats(); st.Approximations != 1 {
		t.Fatalf("approximations %d, want 1", st.Approximations)
	}
	// Repeats do not grow the estimate.
	m, _ := w.Add(key, base.Add(time.Second), 5)
	if rel := math.Abs(m.Value-300000) / 300000; rel > 0.05 {
		t.Fatalf("after a repeat: %v", m.Value)
	}
	// The window slides: a minute later only the new values count.
	later := base.Add(2 * time.Minute)
	for i := range 50 {
		m, _ = w.Add(key, later.Add(time.Duration(i)*time.Millisecond), uint64(1e9+i))
	}
	if math.Abs(m.Value-50) > 3 {
		t.Fatalf("after the window slid: %v distinct, want about 50", m.Value)
	}
}

func TestPercentileError(t *testing.T) {
	cfg := testConfig()
	span := 10 * time.Second
	for _, q := range []float64{0, 50, 90, 95, 99, 100} {
		w, err := NewValuePercentile(cfg, span, q, nil)
		if err != nil {
			t.Fatal(err)
		}
		ref := newNaive(cfg, span)
		r := rand.New(rand.NewPCG(6, uint64(q)))
		recs := stream(r, 20000, 3, 20*time.Millisecond, time.Second, 10)
		for i := range recs {
			switch i % 3 {
			case 0:
				recs[i].v = math.Exp(r.NormFloat64()*3 + 5) // lognormal, wide range
			case 1:
				recs[i].v = -r.Float64() * 1e4
			default:
				recs[i].v = float64(r.IntN(3)) // zeros and small integers
			}
		}
		for i, x := range recs {
			in, ok := ref.add(x)
			m, got := w.Add([]byte(x.key), time.Unix(0, x.ns), x.v)
			if got != ok {
				t.Fatalf("q=%v record %d: ok %v, want %v", q, i, got, ok)
			}
			if !ok {
				continue
			}
			vs := make([]float64, len(in))
			for j, y := range in {
				vs[j] = y.v
			}
			sort.Float64s(vs)
			rank := max(int(math.Ceil(q/100*float64(len(vs)))), 1)
			want := vs[rank-1]
			if math.Abs(m.Value-want) > math.Abs(want)/32+1e-12 {
				t.Fatalf("q=%v record %d: %v, want %v ±3.125%%", q, i, m.Value, want)
			}
		}
	}
}

func TestTemporalMatchesReference(t *testing.T) {
	cfg := testConfig()
	span := 2 * time.Second
	const n = 3
	w, err := NewTemporal(cfg, span, n, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 8))
	last := map[string][]int64{}
	newest := map[string]int64{}
	var now int64 = 1e18
	fires := 0
	for i := range 30000 {
		now += r.Int64N(int64(300 * time.Millisecond))
		key, rule := fmt.Sprintf("g%d", r.IntN(4)), r.IntN(n)
		if last[key] == nil {
			last[key] = []int64{math.MinInt64, math.MinInt64, math.MinInt64}
		}
		last[key][rule] = now
		newest[key] = now
		k := 0
		for _, s := range last[key] {
			if s >= newest[key]-int64(span) {
				k++
			}
		}
		_, got := w.Add([]byte(key), time.Unix(0, now), rule)
		if got != (k == n) {
			t.Fatalf("record %d: fired %v, want %v", i, got, k == n)
		}
		if got {
			fires++
		}
	}
	if fires == 0 {
		t.Fatal("never fired")
	}
}

// orderedRef reports whether some r0 ≤ … ≤ r(n-1)=last, in stream order, lies within span.
func orderedRef(evs []rec, n int, span int64) bool {
	last := evs[len(evs)-1]
	if int(last.u) != n-1 {
		return false
	}
	// best[k] = latest start of a chain through stage k over the prefix.
	best := make([]int64, n)
	for i := range best {
		best[i] = math.MinInt64
	}
	for i, e := range evs {
		k := int(e.u)
		var s int64 = math.MinInt64
		if k == 0 {
			s = e.ns
		} else if best[k-1] != math.MinInt64 && e.ns-best[k-1] <= span {
			s = best[k-1]
		}
		if i == len(evs)-1 {
			return s != math.MinInt64
		}
		best[k] = max(best[k], s)
	}
	return false
}

// orderedBrute checks all subsequences (small streams) to validate orderedRef.
func orderedBrute(evs []rec, n int, span int64) bool {
	last := len(evs) - 1
	if int(evs[last].u) != n-1 {
		return false
	}
	var rec func(stage int, before int, end int64) bool
	rec = func(stage, before int, end int64) bool {
		if stage < 0 {
			return true
		}
		for i := before - 1; i >= 0; i-- {
			if int(evs[i].u) == stage && end-evs[i].ns <= span && (stage > 0 || true) {
				if stage == 0 {
					return true
				}
				if rec(stage-1, i, end) {
					return true
				}
			}
		}
		return false
	}
	if n == 1 {
		return true
	}
	return rec(n-2, last, evs[last].ns)
}

func TestTemporalOrderedInterleavings(t *testing.T) {
	cfg := testConfig()
	span := time.Second
	const n = 3
	r := rand.New(rand.NewPCG(9, 10))
	fires := 0
	for trial := range 300 {
		w, err := NewTemporalOrdered(cfg, span, n)
		if err != nil {
			t.Fatal(err)
		}
		var evs []rec
		var now int64 = 1e18
		for i := range 14 {
			now += r.Int64N(int64(400 * time.Millisecond))
			e := rec{key: "g", ns: now, u: uint64(r.IntN(n))}
			evs = append(evs, e)
			want := orderedBrute(evs, n, int64(span))
			if orderedRef(evs, n, int64(span)) != want {
				t.Fatalf("trial %d step %d: reference disagrees with brute force", trial, i)
			}
			m, got := w.Add([]byte(e.key), time.Unix(0, e.ns), int(e.u))
			if got != want {
				t.Fatalf("trial %d step %d %v: fired %v, want %v", trial, i, evs, got, want)
			}
			if got {
				fires++
				if m.End.UnixNano()-m.Start.UnixNano() > int64(span) {
					t.Fatalf("window %v..%v longer than the span", m.Start, m.End)
				}
			}
		}
	}
	if fires == 0 {
		t.Fatal("never fired")
	}
	// The spec's example: failed logins then a success; the reverse order must not fire.
	w, _ := NewTemporalOrdered(cfg, span, 2)
	base := time.Unix(100, 0)
	if _, ok := w.Add([]byte("u"), base, 1); ok {
		t.Fatal("success alone fired")
	}
	if _, ok := w.Add([]byte("u"), base.Add(time.Millisecond), 0); ok {
		t.Fatal("failure after success fired")
	}
	if m, ok := w.Add([]byte("u"), base.Add(span), 1); !ok || !m.Rising {
		t.Fatalf("failure then success exactly one span later: %v %+v", ok, m)
	}
}
