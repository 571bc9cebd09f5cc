package snmp

import (
	"math"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// ctr32 and ctr64 build readings whose in-octets counter is v (other counters unread).
func ctr32(v uint64) counters { var c counters; c.set(ctrInOctets, v, false); return c }
func ctr64(v uint64) counters { var c counters; c.set(ctrInOctets, v, true); return c }

func TestAdvance(t *testing.T) {
	type step struct {
		c      counters
		disc   uint32
		after  time.Duration // since the previous step
		reset  bool          // the device rebooted
		bound  uint64        // interface speed, bit/s
		want   rateResult
		wantPS float64 // in-octets per second when want is rateOK
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"first poll has no rate", []step{
			{c: ctr32(1000), want: rateFirst},
		}},
		{"32-bit counter", []step{
			{c: ctr32(1000), want: rateFirst},
			{c: ctr32(31000), after: 30 * time.Second, want: rateOK, wantPS: 1000},
			{c: ctr32(31000), after: 30 * time.Second, want: rateOK, wantPS: 0},
		}},
		{"32-bit wrap", []step{
			{c: ctr32(math.MaxUint32 - 9999), want: rateFirst},
			{c: ctr32(20000), after: 10 * time.Second, want: rateOK, wantPS: 3000}, // 10000 to the wrap, 20000 after
		}},
		{"32-bit wrap within the speed bound", []step{
			{c: ctr32(math.MaxUint32 - 999), bound: 10_000_000, want: rateFirst},
			{c: ctr32(1_000_000), bound: 10_000_000, after: time.Second, want: rateOK, wantPS: 1_001_000},
		}},
		{"32-bit drop too large for a wrap is a reset", []step{
			{c: ctr32(1_000_000), want: rateFirst},
			{c: ctr32(500), after: 30 * time.Second, want: rateReset},
			{c: ctr32(30500), after: 30 * time.Second, want: rateOK, wantPS: 1000}, // re-baselined
		}},
		{"64-bit counter", []step{
			{c: ctr64(1 << 40), want: rateFirst},
			{c: ctr64(1<<40 + 3_000_000_000), after: 30 * time.Second, want: rateOK, wantPS: 100_000_000},
		}},
		{"64-bit counter past 2^32 is not a wrap", []step{
			{c: ctr64(math.MaxUint32 - 10), want: rateFirst},
			{c: ctr64(math.MaxUint32 + 290), after: 3 * time.Second, want: rateOK, wantPS: 100},
		}},
		{"64-bit decrease is a reset", []step{
			{c: ctr64(5_000_000), want: rateFirst},
			{c: ctr64(1_000), after: 30 * time.Second, want: rateReset},
			{c: ctr64(31_000), after: 30 * time.Second, want: rateOK, wantPS: 1000},
		}},
		{"reboot: re-baseline, no spike", []step{
			{c: ctr64(9_000_000_000), want: rateFirst},
			// after a reboot the counter restarted and is already past a small value: a naive
			// delta would be a 64-bit "wrap" of 18 exabytes
			{c: ctr64(4_000), after: 30 * time.Second, reset: true, want: rateReset},
			{c: ctr64(34_000), after: 30 * time.Second, want: rateOK, wantPS: 1000},
		}},
		{"reboot hides even a plausible increase", []step{
			{c: ctr32(1000), want: rateFirst},
			{c: ctr32(2000), after: 30 * time.Second, reset: true, want: rateReset},
		}},
		{"discontinuity time changed", []step{
			{c: ctr64(1_000_000), disc: 100, want: rateFirst},
			{c: ctr64(2_000_000), disc: 5000, after: 30 * time.Second, want: rateReset},
			{c: ctr64(2_030_000), disc: 5000, after: 30 * time.Second, want: rateOK, wantPS: 1000},
		}},
		{"beyond twice the speed is a missed reset", []step{
			{c: ctr64(0), bound: 1_000_000_000, want: rateFirst},
			// 10 GB in 30 s = 2.67 Gbit/s on a 1 Gbit/s port
			{c: ctr64(10_000_000_000), bound: 1_000_000_000, after: 30 * time.Second, want: rateImplausible},
			{c: ctr64(10_030_000_000), bound: 1_000_000_000, after: 30 * time.Second, want: rateOK, wantPS: 1_000_000},
		}},
		{"unknown speed: only absurd rates are rejected", []step{
			{c: ctr64(0), want: rateFirst},
			{c: ctr64(10_000_000_000), after: 30 * time.Second, want: rateOK, wantPS: 10_000_000_000.0 / 30},
			{c: ctr64(math.MaxUint64 / 2), after: 30 * time.Second, want: rateImplausible},
		}},
		{"counter width changed", []step{
			{c: ctr32(1000), want: rateFirst},
			{c: ctr64(2000), after: 30 * time.Second, want: rateReset},
			{c: ctr64(32000), after: 30 * time.Second, want: rateOK, wantPS: 1000},
		}},
		{"no time elapsed", []step{
			{c: ctr32(1000), want: rateFirst},
			{c: ctr32(2000), want: rateReset},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b baseline
			at := t0
			for i, s := range tt.steps {
				at = at.Add(s.after)
				r, have, res := b.advance(s.c, s.disc, at, s.bound, s.reset)
				if res != s.want {
					t.Fatalf("step %d: %v, want %v", i, res, s.want)
				}
				if res != rateOK {
					if have != 0 || r != (rates{}) {
						t.Fatalf("step %d: %v with rates %v (have %b)", i, res, r, have)
					}
					continue
				}
				if have != 1<<ctrInOctets {
					t.Fatalf("step %d: have %b", i, have)
				}
				if math.Abs(r[ctrInOctets]-s.wantPS) > 1e-6*max(1, s.wantPS) {
					t.Fatalf("step %d: %v octets/s, want %v", i, r[ctrInOctets], s.wantPS)
				}
			}
		})
	}
}

func TestAdvanceAllCounters(t *testing.T) {
	var prev, cur counters
	for i := range numCounters {
		prev.set(i, 1000, i < 4)
		cur.set(i, 1000+uint64(i+1)*100, i < 4)
	}
	var b baseline
	b.advance(prev, 0, t0, 1e9, false)
	r, have, res := b.advance(cur, 0, t0.Add(10*time.Second), 1e9, false)
	if res != rateOK || have != 0xff {
		t.Fatalf("%v %b", res, have)
	}
	for i := range numCounters {
		if want := float64(i+1) * 10; r[i] != want {
			t.Errorf("counter %d: %v, want %v", i, r[i], want)
		}
	}
	// A counter the agent stopped giving has no rate; the others do.
	cur2 := cur
	cur2.have &^= 1 << ctrOutErrors
	cur2.v[ctrInOctets] += 1000
	_, have, res = b.advance(cur2, 0, t0.Add(20*time.Second), 1e9, false)
	if res != rateOK || have != 0xff&^(1<<ctrOutErrors) {
		t.Fatalf("%v %b", res, have)
	}
	// Packets beyond what the link can carry (64-byte frames at twice the speed).
	cur3 := cur2
	cur3.v[ctrInUcast] += 1e9
	if _, _, res = b.advance(cur3, 0, t0.Add(30*time.Second), 1e9, false); res != rateImplausible {
		t.Fatalf("%v", res)
	}
}

func TestRebootedSince(t *testing.T) {
	const day = 24 * time.Hour
	tests := []struct {
		name     string
		old, cur uint32 // hundredths of a second
		elapsed  time.Duration
		want     bool
	}{
		{"uptime advanced with the clock", 100_000, 103_000, 30 * time.Second, false},
		{"small jitter", 100_000, 102_950, 30 * time.Second, false},
		{"uptime went back", 100_000, 500, 30 * time.Second, true},
		{"rebooted during an outage, uptime larger than before", 6_000, 90_000, time.Hour, true},
		{"long outage without reboot", 6_000, 6_000 + 360_000, time.Hour, false},
		{"497-day wrap is not a reboot", math.MaxUint32 - 1000, 2000, 30 * time.Second, false},
		{"reboot near the wrap", math.MaxUint32 - 1000, 2000, 5 * day, true},
		{"agent restarted just now", 200, 100, 2 * time.Second, true},
	}
	for _, tt := range tests {
		if got := rebootedSince(tt.old, tt.cur, tt.elapsed); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestCounterDelta(t *testing.T) {
	tests := []struct {
		old, cur uint64
		wide     bool
		want     uint64
		res      rateResult
	}{
		{10, 20, false, 10, rateOK},
		{math.MaxUint32, 0, false, 1, rateOK},
		{math.MaxUint32 - 5, 4, false, 10, rateOK},
		{1 << 31, 1, false, 0, rateReset}, // half the range: a reset
		{20, 10, true, 0, rateReset},
		{math.MaxUint64 - 1, math.MaxUint64, true, 1, rateOK},
	}
	for _, tt := range tests {
		if d, res := counterDelta(tt.old, tt.cur, tt.wide); d != tt.want || res != tt.res {
			t.Errorf("counterDelta(%d, %d, %v) = %d %v, want %d %v", tt.old, tt.cur, tt.wide, d, res, tt.want, tt.res)
		}
	}
}

// BenchmarkRates is the rate computation of one interface with all eight counters.
func BenchmarkRates(b *testing.B) {
	var c counters
	for i := range numCounters {
		c.set(i, 1<<33, i < 4)
	}
	var base baseline
	at := t0
	base.advance(c, 0, at, 1e10, false)
	b.ReportAllocs()
	var sink float64
	for b.Loop() {
		for i := range numCounters {
			c.v[i] += 1_000_000
		}
		at = at.Add(30 * time.Second)
		r, _, _ := base.advance(c, 0, at, 1e10, false)
		sink += r[ctrInOctets]
	}
	if sink == 0 {
		b.Fatal("no rates")
	}
}
