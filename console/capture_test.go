package console

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestCaptureRates(t *testing.T) {
	span := func(seen, sampled, decoded, drops, errs, obs uint64) CaptureStats {
		return CaptureStats{Source: "span0", Seen: seen, Sampled: sampled, Decoded: decoded, KernelDrops: drops,
			DecodeErrors: errs, Observations: obs, SampleRate: 64}
	}
	type rates struct{ seen, sampled, decoded, drops, errs, obs float64 }
	for _, tc := range []struct {
		name      string
		prev, cur []CaptureStats
		dt        float64
		want      []rates
	}{
		{"first", nil, []CaptureStats{span(100, 10, 9, 0, 1, 5)}, 2, []rates{{}}},
		{"two seconds", []CaptureStats{span(100, 10, 9, 0, 1, 5)}, []CaptureStats{span(300_100, 4_010, 4_000, 20, 11, 805)}, 2,
			[]rates{{150_000, 2_000, 1_995.5, 10, 5, 400}}},
		{"restart: counters went backwards", []CaptureStats{span(300_100, 4_010, 4_000, 20, 11, 805)}, []CaptureStats{span(1_000, 20, 20, 0, 0, 4)}, 2,
			[]rates{{}}},
		{"one counter backwards", []CaptureStats{span(100, 10, 9, 50, 1, 5)}, []CaptureStats{span(200, 20, 19, 0, 1, 5)}, 1,
			[]rates{{seen: 100, sampled: 10, decoded: 10}}},
		{"no time passed", []CaptureStats{span(100, 10, 9, 0, 1, 5)}, []CaptureStats{span(200, 20, 19, 0, 1, 5)}, 0, []rates{{}}},
		{"time went back", []CaptureStats{span(100, 10, 9, 0, 1, 5)}, []CaptureStats{span(200, 20, 19, 0, 1, 5)}, -2, []rates{{}}},
		{"matched by source, in any order",
			[]CaptureStats{{Source: "lab mirror", Seen: 1000}, {Source: "span0", Seen: 10}},
			[]CaptureStats{{Source: "span0", Seen: 30}, {Source: "span1", Seen: 500}, {Source: "lab mirror", Seen: 1500}}, 4,
			[]rates{{seen: 5}, {}, {seen: 125}}},
		{"empty", []CaptureStats{span(1, 1, 1, 1, 1, 1)}, nil, 2, nil},
	} {
		got := captureRates(tc.cur, tc.prev, tc.dt)
		if got == nil {
			t.Errorf("%s: nil, want a slice (JSON [])", tc.name)
			continue
		}
		if len(got) != len(tc.want) {
			t.Errorf("%s: %d sources, want %d", tc.name, len(got), len(tc.want))
			continue
		}
		for i, w := range tc.want {
			g := got[i]
			if r := (rates{g.SeenPerS, g.SampledPerS, g.DecodedPerS, g.KernelDropsPerS, g.DecodeErrorsPerS, g.ObservationsPerS}); r != w {
				t.Errorf("%s: source %s rates %+v, want %+v", tc.name, g.Source, r, w)
			}
			if wantDt := tc.dt; (w != rates{} || tc.name == "restart: counters went backwards") && g.IntervalS != wantDt {
				t.Errorf("%s: source %s interval %v, want %v", tc.name, g.Source, g.IntervalS, wantDt)
			}
			if tc.name == "first" && g.IntervalS != 0 {
				t.Errorf("first: interval %v, want 0", g.IntervalS)
			}
			if g.Source != tc.cur[i].Source || g.Seen != tc.cur[i].Seen || g.SampleRate != tc.cur[i].SampleRate {
				t.Errorf("%s: counters changed: %+v from %+v", tc.name, g, tc.cur[i])
			}
		}
	}
	// Rates the caller set are the console's to set.
	if got := captureRates([]CaptureStats{{Source: "x", SeenPerS: 99, KernelDropsPerS: 5}}, nil, 2); got[0].SeenPerS != 0 || got[0].KernelDropsPerS != 0 {
		t.Errorf("caller's rates kept: %+v", got[0])
	}
	// Bounded.
	many := make([]CaptureStats, 100)
	for i := range many {
		many[i].Source = fmt.Sprintf("if%d", i)
	}
	if got := captureRates(many, nil, 2); len(got) != maxCaptureSources {
		t.Errorf("%d sources kept", len(got))
	}
}

// The stream carries the capture counters with their rates; the snapshot has an empty list
// before any stats; the hub keeps its own copy of what the caller published.
func TestStreamCaptureStats(t *testing.T) {
	c, srv, _ := newTestServer(t, Config{}, testStore())
	conn, _, err := dial(t, srv.URL, "", authHeader())
	if err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, snap, err := conn.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(snap), `"capture":[]`) {
		t.Errorf("snapshot without stats: %s", snap)
	}
	capture := []CaptureStats{
		{Source: "span0", Seen: 1_000_000, Sampled: 15_625, Decoded: 15_600, KernelDrops: 10, DecodeErrors: 25, SampleRate: 64, Observations: 3_000},
		{Source: "lab mirror", Seen: 2_000, Sampled: 2_000, Decoded: 2_000, SampleRate: 1, Observations: 400},
	}
	c.PublishStats(Stats{Time: testNow, RecordsIn: 10, Capture: capture})
	if m := read(t, conn); m.Type != "stats" || len(m.Stats.Capture) != 2 || m.Stats.Capture[0].SeenPerS != 0 {
		t.Errorf("first stats %+v", m.Stats)
	}
	// The caller reuses its slice for the next stats.
	capture[0].Seen, capture[0].Sampled, capture[0].KernelDrops, capture[0].Observations = 1_304_000, 20_375, 70, 3_800
	capture[1].Seen, capture[1].Observations = 4_000, 400
	c.PublishStats(Stats{Time: testNow.Add(2 * time.Second), RecordsIn: 20, Capture: capture})
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, b, err := conn.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Stats struct {
			Capture []map[string]any `json:"capture"`
		} `json:"stats"`
	}
	if err := json.Unmarshal(b, &m); err != nil || len(m.Stats.Capture) != 2 {
		t.Fatalf("stats %s: %v", b, err)
	}
	for k, want := range map[string]any{
		"source": "span0", "seen": 1_304_000.0, "sample_rate": 64.0, "kernel_drops": 70.0,
		"seen_per_s": 152_000.0, "sampled_per_s": 2_375.0, "kernel_drops_per_s": 30.0, "observations_per_s": 400.0,
		"decoded_per_s": 0.0, "decode_errors_per_s": 0.0, "interval_s": 2.0,
	} {
		if got := m.Stats.Capture[0][k]; got != want {
			t.Errorf("span0 %s = %v, want %v", k, got, want)
		}
	}
	if got := m.Stats.Capture[1]; got["source"] != "lab mirror" || got["seen_per_s"] != 1000.0 || got["observations_per_s"] != 0.0 {
		t.Errorf("lab mirror %v", got)
	}
	capture[0].Source = "changed after publishing"
	c.hub.mu.Lock()
	kept := c.hub.stats.Capture[0].Source
	c.hub.mu.Unlock()
	if kept != "span0" {
		t.Errorf("the hub shares the caller's slice: %q", kept)
	}
	// The capture goes away: the list is empty, not the last one.
	c.PublishStats(Stats{Time: testNow.Add(4 * time.Second), RecordsIn: 30})
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, b, err = conn.ReadMessage(); err != nil || !strings.Contains(string(b), `"capture":[]`) {
		t.Errorf("stats without capture: %s %v", b, err)
	}
}
