package flow

import (
	"math"
	"net/netip"
	"testing"
	"time"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/collectors/flow/decoder"
)

func TestDelta(t *testing.T) {
	tests := []struct {
		name            string
		old, cur        uint64
		wide            bool
		d               uint64
		ok, unsupported bool
	}{
		{"up", 10, 25, false, 15, true, false},
		{"32-bit wrap", math.MaxUint32 - 5, 4, false, 10, true, false},
		{"32-bit reset", 1 << 30, 5, false, 0, false, false},
		{"64-bit down is a reset", 1 << 40, 5, true, 0, false, false},
		{"64-bit up", 1 << 40, 1<<40 + 1e9, true, 1e9, true, false},
		{"unsupported 32", math.MaxUint32, math.MaxUint32, false, 0, true, true},
		{"unsupported 64", math.MaxUint64, math.MaxUint64, true, 0, true, true},
		{"became supported", math.MaxUint32, 7, false, 0, false, false},
	}
	for _, tc := range tests {
		d, ok, un := delta(tc.old, tc.cur, tc.wide)
		if d != tc.d || ok != tc.ok || un != tc.unsupported {
			t.Errorf("%s: delta = %d %v %v, want %d %v %v", tc.name, d, ok, un, tc.d, tc.ok, tc.unsupported)
		}
	}
}

func TestCounterRates(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	exp := netip.MustParseAddr("192.0.2.1")
	reading := func(at time.Duration, inOct, outOct, inPkts uint64) decoder.Counters {
		return decoder.Counters{Exporter: exp, IfIndex: 3, Time: t0.Add(at), SpeedBps: 1e9,
			InOctets: inOct, OutOctets: outOct, InUcastPkts: inPkts, InMulticastPkts: 10, InBroadcastPkts: 1,
			OutUcastPkts: math.MaxUint32 - 100, OutMulticastPkts: math.MaxUint32, OutBroadcastPkts: math.MaxUint32,
			InErrors: 4, OutErrors: 0, InDiscards: 1, OutDiscards: 0}
	}
	known := &devInfo{name: "core-r1"}
	devOf := func(a netip.Addr) *devInfo {
		if a == exp {
			return known
		}
		return nil
	}
	tests := []struct {
		name   string
		c      decoder.Counters
		want   map[string]float64 // nil: no samples
		result rateResult
	}{
		{"first", reading(0, 1000, 0, 100), nil, rateFirst},
		{"rates", reading(10*time.Second, 1000+125e6, 1000, 100+1000), map[string]float64{
			watchfloor.MetricInBps: 1e8, watchfloor.MetricOutBps: 800, watchfloor.MetricInPps: 100,
			watchfloor.MetricOutPps: 0, watchfloor.MetricInErrorsPS: 0, watchfloor.MetricOutErrorsPS: 0,
			watchfloor.MetricInDiscardsPS: 0, watchfloor.MetricOutDiscardsPS: 0, watchfloor.MetricUtilization: 10,
		}, rateOK},
		{"32-bit packets wrap", func() decoder.Counters {
			c := reading(20*time.Second, 1000+125e6, 1000, 100+1000)
			c.OutUcastPkts = 99 // from MaxUint32-100: +200
			return c
		}(), map[string]float64{
			watchfloor.MetricInBps: 0, watchfloor.MetricOutBps: 0, watchfloor.MetricInPps: 0,
			watchfloor.MetricOutPps: 20, watchfloor.MetricInErrorsPS: 0, watchfloor.MetricOutErrorsPS: 0,
			watchfloor.MetricInDiscardsPS: 0, watchfloor.MetricOutDiscardsPS: 0, watchfloor.MetricUtilization: 0,
		}, rateOK},
		{"octets reset", reading(30*time.Second, 10, 1000, 100+1000), nil, rateReset},
		{"beyond the link", reading(40*time.Second, 10+1e12, 1000, 100+1000), nil, rateImplausible},
		{"time not advancing", reading(40*time.Second, 20+1e12, 1000, 100+1000), nil, rateReset},
	}
	r := newCounterRates()
	for _, tc := range tests {
		var got rateResult = 255
		samples := r.samples(nil, []decoder.Counters{tc.c}, devOf, func(res rateResult) { got = res })
		if got != tc.result {
			t.Errorf("%s: result %s, want %s", tc.name, got, tc.result)
		}
		if len(samples) != len(tc.want) {
			t.Errorf("%s: %d samples %v, want %d", tc.name, len(samples), samples, len(tc.want))
			continue
		}
		for _, s := range samples {
			w, ok := tc.want[s.Metric]
			if !ok || math.Abs(s.Value-w) > 1e-9 || s.Device != "core-r1" || s.IfIndex != 3 || !s.Time.Equal(tc.c.Time) {
				t.Errorf("%s: sample %+v, want value %v", tc.name, s, w)
			}
		}
	}
	// An exporter no device is known for is named by its address.
	other := reading(0, 0, 0, 0)
	other.Exporter = netip.MustParseAddr("2001:db8::1")
	r.samples(nil, []decoder.Counters{other}, devOf, func(rateResult) {})
	other.Time = other.Time.Add(time.Second)
	s := r.samples(nil, []decoder.Counters{other}, devOf, func(rateResult) {})
	if len(s) == 0 || s[0].Device != "2001:db8::1" {
		t.Errorf("unknown exporter samples: %+v", s)
	}
	if n := r.expire(t0.Add(time.Hour)); n != 0 {
		t.Errorf("%d entries left after expiry", n)
	}
}
