package window

import (
	"encoding/binary"
	"runtime"
	"testing"
	"time"
)

var t0 = time.Unix(1_700_000_000, 0)

func TestBoundaryAtTimespan(t *testing.T) {
	// 16 buckets of 1 s over 16 s. A record exactly one timespan older than
	// the newest never shares its window; records within timespan-bucket do.
	w, _ := NewEventCount(DefaultConfig(), 16*time.Second, Cond{{GTE, 2}})
	k := []byte("k")
	w.Add(k, t0)
	if _, ok := w.Add(k, t0.Add(16*time.Second)); ok {
		t.Fatal("records exactly timespan apart counted together")
	}
	w2, _ := NewEventCount(DefaultConfig(), 16*time.Second, Cond{{GTE, 2}})
	w2.Add(k, t0)
	m, ok := w2.Add(k, t0.Add(15*time.Second))
	if !ok || m.Value != 2 {
		t.Fatalf("records timespan-1 bucket apart: %v %+v", ok, m)
	}
	if !m.Start.Equal(t0) || !m.End.Equal(t0.Add(15*time.Second)) {
		t.Fatalf("window %v..%v", m.Start, m.End)
	}
}

func TestLateness(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Lateness = 5 * time.Second
	w, _ := NewEventCount(cfg, time.Minute, nil)
	w.Add([]byte("a"), t0.Add(time.Minute))
	if _, ok := w.Add([]byte("b"), t0.Add(time.Minute-5*time.Second)); !ok {
		t.Fatal("record at exactly the lateness dropped")
	}
	if _, ok := w.Add([]byte("b"), t0.Add(time.Minute-5*time.Second-1)); ok {
		t.Fatal("record beyond the lateness counted")
	}
	w.Tick(t0.Add(2 * time.Minute)) // Tick moves the watermark too
	if _, ok := w.Add([]byte("c"), t0.Add(time.Minute+30*time.Second)); ok {
		t.Fatal("record late against the Tick watermark counted")
	}
	if st := w.Stats(); st.LateDrops != 2 {
		t.Fatalf("late drops %d, want 2", st.LateDrops)
	}
}

func TestEvictionLRU(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxGroups = 3
	w, _ := NewEventCount(cfg, time.Minute, nil)
	var evicted []string
	w.OnEvict(func(k []byte, firing bool) {
		if !firing {
			t.Error("evicted group's condition held (empty cond) but firing=false")
		}
		evicted = append(evicted, string(k))
	})
	for i, k := range []string{"a", "b", "c", "a", "d", "e"} {
		w.Add([]byte(k), t0.Add(time.Duration(i)*time.Second))
	}
	if len(evicted) != 2 || evicted[0] != "b" || evicted[1] != "c" {
		t.Fatalf("evicted %v, want [b c] (least recently updated)", evicted)
	}
	st := w.Stats()
	if st.Evictions != 2 || st.Groups != 3 {
		t.Fatalf("stats %+v", st)
	}
	// "a" kept its count across the evictions.
	if m, _ := w.Add([]byte("a"), t0.Add(10*time.Second)); m.Value != 3 {
		t.Fatalf("a counted %v, want 3", m.Value)
	}
}

func TestTickExpires(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Lateness = time.Second
	w, _ := NewEventCount(cfg, 10*time.Second, nil)
	w.Add([]byte("old"), t0)
	w.Add([]byte("new"), t0.Add(20*time.Second))
	w.Tick(t0.Add(20 * time.Second))
	st := w.Stats()
	if st.Groups != 1 || st.Expired != 1 {
		t.Fatalf("stats %+v", st)
	}
	if m, _ := w.Add([]byte("old"), t0.Add(21*time.Second)); m.Value != 1 || !m.Rising {
		t.Fatalf("expired group came back with %+v", m)
	}
}

func TestHashCollisionsDoNotMerge(t *testing.T) {
	w, _ := NewEventCount(DefaultConfig(), time.Minute, nil)
	// Put two keys on the same hash chain and check lookups stay apart.
	a, _ := w.t.get([]byte("a"), 0)
	b, _ := w.t.get([]byte("b"), 0)
	delete(w.t.index, w.t.slots[b].hash)
	w.t.slots[b].hash = w.t.slots[a].hash
	w.t.slots[b].chain = a
	w.t.index[w.t.slots[a].hash] = b
	// Lookups of "a" by its hash walk the chain past "b".
	if got := w.t.find([]byte("a"), w.t.slots[a].hash); got != a {
		t.Fatalf("find a = %d, want %d", got, a)
	}
	if got := w.t.find([]byte("b"), w.t.slots[a].hash); got != b {
		t.Fatalf("find b = %d, want %d", got, b)
	}
	if got := w.t.find([]byte("c"), w.t.slots[a].hash); got != nilSlot {
		t.Fatal("a third key with the same hash found a group")
	}
	w.t.remove(b)
	if got := w.t.find([]byte("a"), w.t.slots[a].hash); got != a {
		t.Fatal("removing the chain head lost the other key")
	}
}

func TestAbsenceLifecycle(t *testing.T) {
	w, _ := NewAbsence(DefaultConfig(), 5*time.Minute, time.Hour)
	var got []Match
	emit := func(m Match) { m.Key = append([]byte(nil), m.Key...); got = append(got, m) }
	exp := []byte("exporter-1")
	w.Add(exp, t0)
	w.Add([]byte("exporter-2"), t0)
	w.Tick(t0.Add(5*time.Minute), emit)
	if len(got) != 0 {
		t.Fatalf("fired at exactly timespan: %+v", got)
	}
	w.Add([]byte("exporter-2"), t0.Add(5*time.Minute))
	w.Tick(t0.Add(5*time.Minute+time.Second), emit)
	if len(got) != 1 || string(got[0].Key) != "exporter-1" || got[0].State != Firing {
		t.Fatalf("fire: %+v", got)
	}
	w.Tick(t0.Add(6*time.Minute), emit) // fires once, not at every tick
	if len(got) != 1 {
		t.Fatalf("re-fired: %+v", got)
	}
	m, ok := w.Add(exp, t0.Add(7*time.Minute))
	if !ok || m.State != Resolved {
		t.Fatalf("resolve: %v %+v", ok, m)
	}
	if _, ok := w.Add(exp, t0.Add(7*time.Minute+time.Second)); ok {
		t.Fatal("resolved twice")
	}
	w.Add([]byte("exporter-2"), t0.Add(13*time.Minute))
	w.Tick(t0.Add(13*time.Minute), emit)
	if len(got) != 2 || string(got[1].Key) != "exporter-1" || got[1].State != Firing {
		t.Fatalf("re-fire: %+v", got)
	}
	// Forgotten after an hour of silence, through the eviction hook.
	var forgot []string
	w.OnEvict(func(k []byte, firing bool) { forgot = append(forgot, string(k)) })
	w.Tick(t0.Add(2*time.Hour), emit) // exporter-2 fires, exporter-1 is forgotten
	w.Tick(t0.Add(3*time.Hour), emit) // exporter-2 is forgotten
	if len(got) != 3 || len(forgot) != 2 || w.Stats().Groups != 0 {
		t.Fatalf("forgot %v, stats %+v", forgot, w.Stats())
	}
}

func TestThresholdLifecycle(t *testing.T) {
	w, _ := NewThreshold(DefaultConfig(), 5*time.Minute)
	k := []byte("sw1/ge-0/0/1")
	var states []State
	add := func(at time.Duration, ok bool) {
		if m, fired := w.Add(k, t0.Add(at), ok); fired {
			states = append(states, m.State)
		}
	}
	add(0, true)               // pending
	add(time.Minute, true)     //
	add(2*time.Minute, false)  // reset, was not firing
	add(3*time.Minute, true)   // pending again
	add(7*time.Minute, true)   // 4 min
	add(8*time.Minute, true)   // 5 min: firing
	add(9*time.Minute, true)   // still firing, no transition
	add(10*time.Minute, false) // resolved
	add(11*time.Minute, true)  // pending
	add(16*time.Minute, true)  // firing again
	want := []State{Pending, Pending, Firing, Resolved, Pending, Firing}
	if len(states) != len(want) {
		t.Fatalf("states %v, want %v", states, want)
	}
	for i := range want {
		if states[i] != want[i] {
			t.Fatalf("states %v, want %v", states, want)
		}
	}
	// Stale after 2×for without a sample: dropped, resolved.
	var res []Match
	w.Tick(t0.Add(26*time.Minute), func(m Match) { res = append(res, m) })
	if len(res) != 0 {
		t.Fatal("stale before 2×for")
	}
	w.Tick(t0.Add(26*time.Minute+time.Second), func(m Match) { res = append(res, m) })
	if len(res) != 1 || res[0].State != Resolved || w.Stats().Groups != 0 {
		t.Fatalf("stale: %+v %+v", res, w.Stats())
	}
	// for: 0 fires at the first true sample.
	z, _ := NewThreshold(DefaultConfig(), 0)
	if m, ok := z.Add(k, t0, true); !ok || m.State != Firing {
		t.Fatalf("for 0: %+v", m)
	}
}

func TestConfigValidate(t *testing.T) {
	bad := Config{MaxGroups: 0, MaxDistinct: 0, MaxBytes: 10, Lateness: -1, Buckets: 0}
	errs := bad.Validate()
	fields := map[string]bool{}
	for _, e := range errs {
		fields[e.Field] = true
	}
	for _, f := range []string{"max_groups", "max_distinct", "max_bytes", "lateness", "buckets"} {
		if !fields[f] {
			t.Errorf("no error for %s in %v", f, errs)
		}
	}
	if errs := DefaultConfig().Validate(); len(errs) != 0 {
		t.Fatal(errs)
	}
	if _, err := NewEventCount(DefaultConfig(), 0, nil); err == nil {
		t.Fatal("zero timespan accepted")
	}
	if _, err := NewEventCount(DefaultConfig(), time.Second, Cond{{Op(9), 1}}); err == nil {
		t.Fatal("unknown op accepted")
	}
}

// addr4 writes a distinct IPv4-like key for i.
func addr4(buf []byte, i int) []byte {
	binary.BigEndian.PutUint32(buf[:4], uint32(i))
	return buf[:4]
}

// TestMillionKeysUnderCap feeds a million distinct source addresses to
// each structure and checks the estimate (Bytes) and the Go heap stay
// under MaxBytes, with evictions counted.
func TestMillionKeysUnderCap(t *testing.T) {
	n := 1_000_000
	if testing.Short() {
		n = 200_000
	}
	cfg := DefaultConfig()
	cfg.MaxBytes = 16 << 20
	type adder struct {
		name  string
		make  func() (add func(k []byte, t time.Time, i int), bytes func() int64, stats func() Stats)
		evict bool
	}
	adders := []adder{
		{"event_count", func() (func([]byte, time.Time, int), func() int64, func() Stats) {
			w, _ := NewEventCount(cfg, time.Minute, Cond{{GT, 100}})
			return func(k []byte, t time.Time, _ int) { w.Add(k, t) }, w.Bytes, w.Stats
		}, true},
		{"value_count", func() (func([]byte, time.Time, int), func() int64, func() Stats) {
			w, _ := NewValueCount(cfg, time.Minute, Cond{{GT, 100}})
			return func(k []byte, t time.Time, i int) { w.Add(k, t, uint64(i%7)) }, w.Bytes, w.Stats
		}, true},
		{"value_sum", func() (func([]byte, time.Time, int), func() int64, func() Stats) {
			w, _ := NewValueSum(cfg, time.Minute, Cond{{GT, 1e12}})
			return func(k []byte, t time.Time, i int) { w.Add(k, t, float64(i)) }, w.Bytes, w.Stats
		}, true},
		{"value_percentile", func() (func([]byte, time.Time, int), func() int64, func() Stats) {
			w, _ := NewValuePercentile(cfg, time.Minute, 95, Cond{{GT, 1e12}})
			return func(k []byte, t time.Time, i int) { w.Add(k, t, float64(i%1500)) }, w.Bytes, w.Stats
		}, true},
		{"temporal_ordered", func() (func([]byte, time.Time, int), func() int64, func() Stats) {
			w, _ := NewTemporalOrdered(cfg, time.Minute, 3)
			return func(k []byte, t time.Time, i int) { w.Add(k, t, i%3) }, w.Bytes, w.Stats
		}, false},
		{"absence", func() (func([]byte, time.Time, int), func() int64, func() Stats) {
			w, _ := NewAbsence(cfg, time.Minute, 0)
			return func(k []byte, t time.Time, _ int) { w.Add(k, t) }, w.Bytes, w.Stats
		}, false},
	}
	for _, a := range adders {
		t.Run(a.name, func(t *testing.T) {
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			add, bytes, stats := a.make()
			buf := make([]byte, 4)
			for i := range n {
				add(addr4(buf, i), t0.Add(time.Duration(i)*time.Microsecond), i)
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
			st := stats()
			t.Logf("%s: Bytes %d, heap +%d, groups %d, evictions %d", a.name, bytes(), heap, st.Groups, st.Evictions)
			if b := bytes(); b > cfg.MaxBytes {
				t.Errorf("Bytes %d over the cap %d", b, cfg.MaxBytes)
			}
			if heap > cfg.MaxBytes*11/10 {
				t.Errorf("heap grew %d, over the cap %d (+10%%)", heap, cfg.MaxBytes)
			}
			if heap > 2*bytes()+1<<20 {
				t.Errorf("Bytes %d underestimates the heap growth %d", bytes(), heap)
			}
			if st.Evictions == 0 || uint64(st.Groups)+st.Evictions != uint64(n) {
				t.Errorf("groups %d + evictions %d != %d keys", st.Groups, st.Evictions, n)
			}
			runtime.KeepAlive(add)
		})
	}
}

func TestZeroAllocsSteadyState(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxGroups = 1000
	ec, _ := NewEventCount(cfg, time.Minute, Cond{{GT, 10}})
	vc, _ := NewValueCount(cfg, time.Minute, Cond{{GT, 10}})
	vs, _ := NewValueSum(cfg, time.Minute, Cond{{GT, 10}})
	vp, _ := NewValuePercentile(cfg, time.Minute, 95, Cond{{GT, 10}})
	tp, _ := NewTemporal(cfg, time.Minute, 3, nil)
	to, _ := NewTemporalOrdered(cfg, time.Minute, 3)
	ab, _ := NewAbsence(cfg, time.Minute, 0)
	th, _ := NewThreshold(cfg, time.Minute)
	buf := make([]byte, 4)
	i := 0
	step := func() {
		k := addr4(buf, i%5000) // more keys than MaxGroups: evictions and reuse
		ts := t0.Add(time.Duration(i) * time.Millisecond)
		ec.Add(k, ts)
		vc.Add(k, ts, uint64(i%50))
		vs.Add(k, ts, float64(i))
		vp.Add(k, ts, float64(i%100))
		tp.Add(k, ts, i%3)
		to.Add(k, ts, i%3)
		ab.Add(k, ts)
		th.Add(k, ts, i%7 != 0)
		i++
	}
	for range 200000 { // warm up: capacities reach their steady state
		step()
	}
	if a := testing.AllocsPerRun(20000, step); a != 0 {
		t.Fatalf("%v allocations per record across all kinds", a)
	}
}
