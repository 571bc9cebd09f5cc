package console

import (
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/watchfloor/watchfloor"
)

// The posture formula of docs/wall.md, with its golden values worked out by hand.
func TestPostureGolden(t *testing.T) {
	al := func(sev watchfloor.Severity, cat string, st watchfloor.AlertState) watchfloor.Alert {
		return watchfloor.Alert{Severity: sev, Category: cat, State: st}
	}
	const sec, avail, perf = watchfloor.CategorySecurity, watchfloor.CategoryAvailability, watchfloor.CategoryPerformance
	crit, high, med, low, info := watchfloor.SeverityCritical, watchfloor.SeverityHigh, watchfloor.SeverityMedium, watchfloor.SeverityLow, watchfloor.SeverityInfo
	firing, acked, resolved := watchfloor.AlertFiring, watchfloor.AlertAcknowledged, watchfloor.AlertResolved
	many := func(n int, a watchfloor.Alert) []watchfloor.Alert {
		out := make([]watchfloor.Alert, n)
		for i := range out {
			out[i] = a
		}
		return out
	}
	silenced := al(crit, sec, firing)
	silenced.Silenced = true
	suppressed := al(crit, sec, firing)
	suppressed.SuppressedBy = 7
	for _, tc := range []struct {
		name    string
		in      postureInput
		score   float64
		word    string
		penalty [3]float64 // alerts, devices, blind
	}{
		{"nothing wrong", postureInput{Devices: 12}, 100, "good", [3]float64{0, 0, 0}},
		{"no devices at all", postureInput{}, 100, "good", [3]float64{0, 0, 0}},
		{"one critical security alert", postureInput{Alerts: many(1, al(crit, sec, firing)), Devices: 12}, 62.5, "fair", [3]float64{37.5, 0, 0}},
		{"criticals are capped at 60", postureInput{Alerts: many(2, al(crit, sec, firing)), Devices: 12}, 40, "poor", [3]float64{60, 0, 0}},
		{"acknowledged counts half", postureInput{Alerts: many(1, al(crit, sec, acked)), Devices: 12}, 81.3, "good", [3]float64{18.8, 0, 0}},
		{"silenced and suppressed count nothing", postureInput{Alerts: []watchfloor.Alert{silenced, suppressed}, Devices: 12}, 100, "good", [3]float64{0, 0, 0}},
		{"resolved counts nothing", postureInput{Alerts: many(3, al(crit, sec, resolved))}, 100, "good", [3]float64{0, 0, 0}},
		{"info counts nothing", postureInput{Alerts: many(50, al(info, sec, firing))}, 100, "good", [3]float64{0, 0, 0}},
		{"many lows are capped at 10", postureInput{Alerts: many(12, al(low, avail, firing))}, 90, "good", [3]float64{10, 0, 0}},
		{"80 is good", postureInput{Alerts: many(2, al(high, avail, firing))}, 80, "good", [3]float64{20, 0, 0}},
		{"50 is fair", postureInput{Alerts: append(many(4, al(high, avail, firing)), many(10, al(low, avail, firing))...)}, 50, "fair", [3]float64{50, 0, 0}},
		{"a mix", postureInput{Alerts: []watchfloor.Alert{al(high, perf, firing), al(med, sec, firing)}, Devices: 10, DevicesDown: 2, Dropping: true},
			68.5, "fair", [3]float64{13.5, 8, 10}},
		{"everything on fire", postureInput{Alerts: append(many(3, al(crit, sec, firing)), many(5, al(high, sec, firing))...), Devices: 4, DevicesDown: 4, Dropping: true},
			0, "poor", [3]float64{100, 40, 10}},
		{"down beyond devices is all", postureInput{Devices: 2, DevicesDown: 5}, 60, "fair", [3]float64{0, 40, 0}},
		{"the lab's router down", postureInput{Alerts: []watchfloor.Alert{al(crit, avail, firing), al(high, avail, acked), al(med, sec, firing)}, Devices: 12, DevicesDown: 1},
			60.7, "fair", [3]float64{36, 3.3, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)
			p := computePosture(tc.in, now)
			if p.Score != tc.score || p.Word != tc.word {
				t.Errorf("score %v %s, want %v %s", p.Score, p.Word, tc.score, tc.word)
			}
			if got := [3]float64{p.AlertPenalty, p.DevicePenalty, p.BlindPenalty}; got != tc.penalty {
				t.Errorf("penalties %v, want %v", got, tc.penalty)
			}
			if !p.Time.Equal(now) {
				t.Errorf("time %v", p.Time)
			}
		})
	}
}

// The trend keeps one point per 5 minutes, the last score of each, for 24 hours.
func TestPostureTrend(t *testing.T) {
	var s postureState
	start := time.Date(2026, 5, 4, 0, 0, 0, 0, time.UTC)
	s.add(Posture{Time: start.Add(10 * time.Second), Score: 90})
	s.add(Posture{Time: start.Add(4 * time.Minute), Score: 70}) // same step: replaces
	s.add(Posture{Time: start.Add(6 * time.Minute), Score: 60})
	if got := fmt.Sprint(s.trend); got != fmt.Sprint([]posturePoint{{float64(start.UnixMilli()), 70}, {float64(start.Add(5 * time.Minute).UnixMilli()), 60}}) {
		t.Errorf("trend %v", got)
	}
	s.add(Posture{Time: start.Add(2 * time.Minute), Score: 10}) // older than the last point: not a point
	if len(s.trend) != 2 || s.trend[1][1] != 60 {
		t.Errorf("an old evaluation changed the trend: %v", s.trend)
	}
	// Two days of evaluations every minute: 288 points, the newest last, 5 minutes apart.
	for m := range 2 * 24 * 60 {
		s.add(Posture{Time: start.Add(time.Duration(m) * time.Minute), Score: float64(m % 100)})
	}
	if len(s.trend) != postureTrend {
		t.Fatalf("%d points, want %d", len(s.trend), postureTrend)
	}
	last := start.Add((2*24*60 - 1) * time.Minute)
	if s.trend[len(s.trend)-1][0] != float64(last.Truncate(postureStep).UnixMilli()) {
		t.Errorf("newest point at %v", time.UnixMilli(int64(s.trend[len(s.trend)-1][0])))
	}
	for i := 1; i < len(s.trend); i++ {
		if s.trend[i][0]-s.trend[i-1][0] != float64(postureStep.Milliseconds()) {
			t.Fatalf("points %d and %d are not one step apart", i-1, i)
		}
	}
	if s.last.Time != last {
		t.Errorf("last %v", s.last.Time)
	}
}

// The hub evaluates the posture on its state, streams it, and puts it in the snapshot; every
// message carries the time it was sent.
func TestStreamPostureAndTimestamps(t *testing.T) {
	c, srv, _ := newTestServer(t, Config{}, testStore())
	var clockNS atomic.Int64 // the writer goroutine reads the clock too
	clockNS.Store(testNow.UnixNano())
	c.hub.mu.Lock()
	c.hub.now = func() time.Time { return time.Unix(0, clockNS.Load()).UTC() }
	c.hub.mu.Unlock()
	clock := testNow
	setClock := func(t time.Time) { clock = t; clockNS.Store(t.UnixNano()) }
	conn, _, err := dial(t, srv.URL, "", authHeader())
	if err != nil {
		t.Fatal(err)
	}
	readRaw := func() map[string]json.RawMessage {
		t.Helper()
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, b, err := conn.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("decode %s: %v", b, err)
		}
		return m
	}
	snap := readRaw()
	var p postureMsg
	if err := json.Unmarshal(snap["posture"], &p); err != nil {
		t.Fatalf("snapshot posture %s: %v", snap["posture"], err)
	}
	// testStore: 3 devices, access1 down: 40 × 1/3.
	if p.Posture.Score != 86.7 || p.Posture.Word != "good" || p.Posture.DevicesDown != 1 || len(p.Trend) != 1 || p.Trend[0][1] != 86.7 {
		t.Errorf("snapshot posture %+v", p)
	}
	if string(snap["ts"]) != fmt.Sprint(testNow.UnixMilli()) {
		t.Errorf("snapshot ts %s", snap["ts"])
	}
	type statsMsg struct {
		Type    string   `json:"type"`
		TS      int64    `json:"ts"`
		Stats   Stats    `json:"stats"`
		Posture *Posture `json:"posture"`
	}
	readStats := func() statsMsg {
		t.Helper()
		var m statsMsg
		if err := json.Unmarshal(mustJSON(readRaw()), &m); err != nil || m.Type != "stats" || m.Posture == nil {
			t.Fatalf("want stats with a posture: %+v %v", m, err)
		}
		return m
	}

	// Each stats message is stamped and carries the posture evaluated with it.
	setClock(testNow.Add(time.Second))
	c.PublishStats(Stats{Time: clock, RecordsIn: 100})
	if m := readStats(); m.TS != clock.UnixMilli() || m.Posture.Score != 86.7 || !m.Posture.Time.Equal(clock) {
		t.Errorf("stats %+v posture %+v", m, m.Posture)
	}
	// Drops take the blind penalty off.
	setClock(testNow.Add(2 * time.Second))
	c.PublishStats(Stats{Time: clock, RecordsIn: 200, Dropped: 5, Collectors: []CollectorStats{{Name: "flows", Records: 10}}})
	if m := readStats(); m.Posture.Score != 76.7 || m.Posture.BlindPenalty != 10 || !m.Posture.Dropping {
		t.Errorf("posture with drops %+v", m.Posture)
	}

	// A critical security alert counts at the next stats; a collector's drops are data loss.
	c.hub.publishAlert(watchfloor.Alert{ID: 9, Severity: watchfloor.SeverityCritical, Category: watchfloor.CategorySecurity,
		State: watchfloor.AlertFiring, UpdatedAt: clock})
	if m := readRaw(); string(m["type"]) != `"alert"` || m["ts"] == nil {
		t.Fatalf("got %s (ts %s), want the alert, stamped", m["type"], m["ts"])
	}
	setClock(clock.Add(5 * time.Second))
	c.PublishStats(Stats{Time: clock, RecordsIn: 300, Dropped: 5, Collectors: []CollectorStats{{Name: "flows", Records: 30, Drops: 2}}})
	m := readStats()
	if cs := m.Stats.Collectors; len(cs) != 1 || cs[0].RecordsPerS != 4 || cs[0].DropsPerS != 0.4 || cs[0].IntervalS != 5 {
		t.Errorf("collector rates %+v", cs)
	}
	if m.Posture.Score != 39.2 || m.Posture.Alerts["critical"] != 1 || !m.Posture.Dropping {
		t.Errorf("posture with a critical alert %+v", m.Posture)
	}
	// A new client's snapshot has the trend: every evaluation fell in one 5-minute step.
	conn2, _, err := dial(t, srv.URL, "", authHeader())
	if err != nil {
		t.Fatal(err)
	}
	conn2.SetReadDeadline(time.Now().Add(5 * time.Second))
	var snap2 struct{ Posture postureMsg }
	if err := conn2.ReadJSON(&snap2); err != nil {
		t.Fatal(err)
	}
	if tr := snap2.Posture.Trend; len(tr) != 1 || tr[0][1] != 39.2 || tr[0][0] != float64(testNow.Truncate(postureStep).UnixMilli()) {
		t.Errorf("trend %v", tr)
	}
}

func mustJSON(m map[string]json.RawMessage) []byte {
	b, _ := json.Marshal(m)
	return b
}

func TestStamp(t *testing.T) {
	at := time.UnixMilli(1700000000123)
	for in, want := range map[string]string{
		`{"type":"x"}`: `{"ts":1700000000123,"type":"x"}`,
		`{}`:           `{"ts":1700000000123}`,
		`[1]`:          `[1]`,
		``:             ``,
	} {
		if got := string(stamp([]byte(in), at)); got != want {
			t.Errorf("stamp(%s) = %s, want %s", in, got, want)
		}
	}
}
