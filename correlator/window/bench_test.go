package window

import (
	"testing"
	"time"
)

// benchAdd runs add over 10000 groups (4-byte keys, like IPv4 sources),
// one record per microsecond of event time.
func benchAdd(b *testing.B, add func(k []byte, ts time.Time, i int)) {
	buf := make([]byte, 4)
	for i := range 100000 { // warm up: groups and capacities exist
		add(addr4(buf, i%10000), t0.Add(time.Duration(i)*time.Microsecond), i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 100000; i < 100000+b.N; i++ {
		add(addr4(buf, i%10000), t0.Add(time.Duration(i)*time.Microsecond), i)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

func BenchmarkEventCountAdd(b *testing.B) {
	w, _ := NewEventCount(DefaultConfig(), time.Minute, Cond{{GTE, 100}})
	benchAdd(b, func(k []byte, ts time.Time, _ int) { w.Add(k, ts) })
}

func BenchmarkValueCountAdd(b *testing.B) {
	w, _ := NewValueCount(DefaultConfig(), time.Minute, Cond{{GTE, 100}})
	benchAdd(b, func(k []byte, ts time.Time, i int) { w.Add(k, ts, uint64(i%1024)) })
}

func BenchmarkValueCountSketchAdd(b *testing.B) {
	cfg := DefaultConfig()
	cfg.MaxDistinct = 1000
	w, _ := NewValueCount(cfg, time.Minute, Cond{{GTE, 100}})
	benchAdd(b, func(_ []byte, ts time.Time, i int) { w.Add([]byte("one scanner"), ts, uint64(i)) })
}

func BenchmarkValueSumAdd(b *testing.B) {
	w, _ := NewValueSum(DefaultConfig(), time.Minute, Cond{{GTE, 1e9}})
	benchAdd(b, func(k []byte, ts time.Time, i int) { w.Add(k, ts, float64(i%1500)) })
}

func BenchmarkValueAvgAdd(b *testing.B) {
	w, _ := NewValueAvg(DefaultConfig(), time.Minute, Cond{{GTE, 1e9}})
	benchAdd(b, func(k []byte, ts time.Time, i int) { w.Add(k, ts, float64(i%1500)) })
}

func BenchmarkValuePercentileAdd(b *testing.B) {
	w, _ := NewValuePercentile(DefaultConfig(), time.Minute, 95, Cond{{GTE, 1e9}})
	benchAdd(b, func(k []byte, ts time.Time, i int) { w.Add(k, ts, float64(40+i%1460)) })
}

func BenchmarkTemporalAdd(b *testing.B) {
	w, _ := NewTemporal(DefaultConfig(), time.Minute, 3, nil)
	benchAdd(b, func(k []byte, ts time.Time, i int) { w.Add(k, ts, i%3) })
}

func BenchmarkTemporalOrderedAdd(b *testing.B) {
	w, _ := NewTemporalOrdered(DefaultConfig(), time.Minute, 3)
	benchAdd(b, func(k []byte, ts time.Time, i int) { w.Add(k, ts, i%3) })
}

func BenchmarkAbsenceAdd(b *testing.B) {
	w, _ := NewAbsence(DefaultConfig(), time.Minute, 0)
	benchAdd(b, func(k []byte, ts time.Time, _ int) { w.Add(k, ts) })
}

func BenchmarkThresholdAdd(b *testing.B) {
	w, _ := NewThreshold(DefaultConfig(), time.Minute)
	benchAdd(b, func(k []byte, ts time.Time, i int) { w.Add(k, ts, i%100 != 0) })
}

// BenchmarkEventCountNewGroups: every record is a new group past MaxGroups
// (a high-cardinality stream): lookup miss, eviction, slot reuse.
func BenchmarkEventCountNewGroups(b *testing.B) {
	cfg := DefaultConfig()
	w, _ := NewEventCount(cfg, time.Minute, Cond{{GTE, 100}})
	buf := make([]byte, 4)
	for i := range cfg.MaxGroups {
		w.Add(addr4(buf, i), t0)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		w.Add(addr4(buf, cfg.MaxGroups+i), t0)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkTick: one op is one second of event time over 100000 groups a
// minute: 1667 records of new groups, then the Tick that expires the 1667
// groups whose window emptied (reported as expired/op).
func BenchmarkTick(b *testing.B) {
	cfg := DefaultConfig()
	cfg.MaxGroups = 1 << 20 // expiry, not eviction, bounds the groups here
	cfg.MaxBytes = 1 << 30
	w, _ := NewEventCount(cfg, time.Minute, nil)
	buf := make([]byte, 4)
	i := 0
	feed := func(sec int) {
		for range 1667 {
			w.Add(addr4(buf, i), t0.Add(time.Duration(sec)*time.Second))
			i++
		}
	}
	for s := range 120 {
		feed(s)
		w.Tick(t0.Add(time.Duration(s) * time.Second))
	}
	before := w.Stats().Expired
	b.ReportAllocs()
	b.ResetTimer()
	for n := range b.N {
		feed(120 + n)
		w.Tick(t0.Add(time.Duration(120+n) * time.Second))
	}
	b.ReportMetric(float64(w.Stats().Expired-before)/float64(b.N), "expired/op")
}

func BenchmarkAbsenceTick(b *testing.B) {
	w, _ := NewAbsence(DefaultConfig(), time.Minute, 0)
	buf := make([]byte, 4)
	for i := range 100000 {
		w.Add(addr4(buf, i), t0)
	}
	w.Tick(t0.Add(2*time.Minute), nil) // all fired: each Tick walks them
	b.ReportAllocs()
	b.ResetTimer()
	for n := range b.N {
		w.Tick(t0.Add(2*time.Minute+time.Duration(n)*time.Second), nil)
	}
}
