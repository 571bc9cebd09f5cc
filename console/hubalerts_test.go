package console

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/watchfloor/watchfloor"
)

// alertStreamMsg is a snapshot's alerts or an alert delta.
type alertStreamMsg struct {
	Type       string        `json:"type"`
	Alerts     []streamAlert `json:"alerts"`
	AlertsOpen int           `json:"alerts_open"`
	Alert      streamAlert   `json:"alert"`
}

func readAlertMsg(t *testing.T, conn *websocket.Conn) (alertStreamMsg, []byte) {
	t.Helper()
	for {
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, b, err := conn.ReadMessage()
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		var m alertStreamMsg
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("decode %s: %v", b, err)
		}
		if m.Type == "snapshot" || m.Type == "alert" {
			return m, b
		}
	}
}

func ids(list []streamAlert) []uint64 {
	var out []uint64
	for _, a := range list {
		out = append(out, a.ID)
	}
	return out
}

// The snapshot carries the open alerts, most severe and newest first, without evidence;
// every change follows as an alert delta, resolved ones included, and a client that comes
// later finds the state as it is then.
func TestStreamAlerts(t *testing.T) {
	fa := newFakeAlerts(testAlerts(testNow)...)
	c, srv := newAlertServer(t, fa, nil)
	conn, _, err := dial(t, srv, "", authHeader())
	if err != nil {
		t.Fatal(err)
	}
	snap, raw := readAlertMsg(t, conn)
	// 41 critical; 45 and 42 high, 45 newer; 43 and 44 medium, 43 newer. 40 is resolved.
	if got := ids(snap.Alerts); snap.Type != "snapshot" || !slices.Equal(got, []uint64{41, 45, 42, 43, 44}) || snap.AlertsOpen != 5 {
		t.Fatalf("snapshot alerts %v (open %d)", got, snap.AlertsOpen)
	}
	alertsJSON := string(raw[strings.Index(string(raw), `"alerts":`):])
	if strings.Contains(alertsJSON, "evidence") || strings.Contains(alertsJSON, "stopped answering") {
		t.Error("the snapshot carries evidence")
	}
	if a := snap.Alerts[0]; a.SuppressedCount != 2 || !slices.Equal(a.Suppressed, []uint64{43, 44}) || a.Title != "access-2 is unreachable" {
		t.Errorf("root cause %+v", a)
	}

	// A new alert, its acknowledgement (through the API), its resolution.
	n := watchfloor.Alert{ID: 46, Rule: "syn_flood", Severity: watchfloor.SeverityCritical, Category: watchfloor.CategorySecurity,
		State: watchfloor.AlertFiring, Title: "SYN flood toward 10.20.1.10", StartedAt: testNow, UpdatedAt: testNow,
		Evidence: []watchfloor.Evidence{{Summary: "secret-ish evidence"}}}
	fa.mu.Lock()
	fa.alerts[46] = n
	fa.mu.Unlock()
	c.PublishAlert(n)
	m, raw := readAlertMsg(t, conn)
	if m.Type != "alert" || m.Alert.ID != 46 || m.Alert.State != watchfloor.AlertFiring || strings.Contains(string(raw), "evidence") {
		t.Errorf("new alert delta %s", raw)
	}
	if code, body := do(t, "POST", srv+"/api/v1/alerts/46/ack", `{"comment": "on it"}`); code != 200 {
		t.Fatalf("ack: %d %s", code, body)
	}
	if m, _ := readAlertMsg(t, conn); m.Alert.ID != 46 || m.Alert.State != watchfloor.AlertAcknowledged || m.Alert.AckedBy != "admin" {
		t.Errorf("ack delta %+v", m.Alert)
	}
	if code, body := do(t, "POST", srv+"/api/v1/alerts/41/resolve", ""); code != 200 {
		t.Fatalf("resolve: %d %s", code, body)
	}
	if m, _ := readAlertMsg(t, conn); m.Alert.ID != 41 || m.Alert.State != watchfloor.AlertResolved {
		t.Errorf("resolve delta %+v", m.Alert)
	}
	// An older change of 46 (an out-of-order publish) is ignored: nothing is sent.
	old := n
	old.UpdatedAt = testNow.Add(-time.Hour)
	c.PublishAlert(old)
	c.PublishAlert(watchfloor.Alert{Title: "no ID"})
	if v := metricValue(t, c.deps.Gatherer, "watchfloor_console_alert_changes_ignored_total", map[string]string{"reason": "old"}); v != 1 {
		t.Errorf("ignored old = %v", v)
	}
	if v := metricValue(t, c.deps.Gatherer, "watchfloor_console_alert_changes_ignored_total", map[string]string{"reason": "invalid"}); v != 1 {
		t.Errorf("ignored invalid = %v", v)
	}
	// A second client: 41 is gone, 46 acknowledged and first (critical).
	conn2, _, err := dial(t, srv, "", authHeader())
	if err != nil {
		t.Fatal(err)
	}
	snap2, _ := readAlertMsg(t, conn2)
	if got := ids(snap2.Alerts); !slices.Equal(got, []uint64{46, 45, 42, 43, 44}) || snap2.Alerts[0].State != watchfloor.AlertAcknowledged {
		t.Errorf("later snapshot %v", got)
	}
	if v := metricValue(t, c.deps.Gatherer, "watchfloor_console_alerts_open", nil); v != 5 {
		t.Errorf("alerts_open = %v", v)
	}
}

// The hub holds at most maxHubAlerts open alerts, the most important; a snapshot carries
// the first snapshotAlerts of them, and the stream cuts long fields.
func TestStreamAlertsBounded(t *testing.T) {
	c, _ := newTestConsole(t, Config{}, testStore())
	for i := range maxHubAlerts + 10 {
		sev := watchfloor.SeverityLow
		if i%100 == 0 {
			sev = watchfloor.SeverityCritical
		}
		c.PublishAlert(watchfloor.Alert{ID: uint64(i + 1), Severity: sev, State: watchfloor.AlertFiring,
			StartedAt: testNow.Add(time.Duration(i) * time.Second), UpdatedAt: testNow})
	}
	// One more low alert older than all: it does not fit, and is not streamed.
	c.PublishAlert(watchfloor.Alert{ID: 99999, Severity: watchfloor.SeverityInfo, State: watchfloor.AlertFiring, StartedAt: testNow.Add(-time.Hour)})
	c.hub.mu.Lock()
	n := len(c.hub.alerts)
	_, hasOld := c.hub.alerts[99999]
	_, hasFirst := c.hub.alerts[1]  // critical
	_, hasSecond := c.hub.alerts[2] // the oldest low one: evicted
	snap := c.hub.snapshotAlertsLocked()
	c.hub.mu.Unlock()
	if n != maxHubAlerts || hasOld || !hasFirst || hasSecond {
		t.Errorf("hub holds %d alerts (old %v, first %v, second %v)", n, hasOld, hasFirst, hasSecond)
	}
	if len(snap) != snapshotAlerts || snap[0].Severity != watchfloor.SeverityCritical || snap[0].ID != 2001 || snap[20].ID != 1 || snap[21].ID != maxHubAlerts+10 {
		t.Errorf("snapshot: %d alerts, first %d, 21st %d, 22nd %d", len(snap), snap[0].ID, snap[20].ID, snap[21].ID)
	}
	if v := metricValue(t, c.deps.Gatherer, "watchfloor_console_alerts_evicted_total", nil); v != 10 {
		t.Errorf("evicted = %v", v)
	}
	if v := metricValue(t, c.deps.Gatherer, "watchfloor_console_alert_changes_ignored_total", map[string]string{"reason": "over_cap"}); v != 1 {
		t.Errorf("over_cap = %v", v)
	}

	sup := make([]uint64, 300)
	for i := range sup {
		sup[i] = uint64(i + 1)
	}
	a := toStream(watchfloor.Alert{ID: 7, Title: strings.Repeat("é", 300), Description: strings.Repeat("d", 5000), Suppressed: sup})
	if len(a.Suppressed) != streamSuppressed || a.SuppressedCount != 300 || len(a.Title) > streamTitleLen+3 ||
		!strings.HasSuffix(a.Title, "é…") || len(a.Description) != streamDescrLen+3 {
		t.Errorf("stream alert: %d suppressed of %d, title %d bytes, description %d", len(a.Suppressed), a.SuppressedCount, len(a.Title), len(a.Description))
	}
	sup[0] = 4711 // the caller's slices are its own again
	if a.Suppressed[0] != 1 {
		t.Error("the stream alert shares the caller's slice")
	}
}

// A client that stops reading during a burst of alert changes is dropped; PublishAlert
// never waits for it and a reading client gets every change in order.
func TestSlowClientAlerts(t *testing.T) {
	c, srv, reg := newTestServer(t, Config{SendQueue: 8}, testStore())
	slow, _, err := dial(t, srv.URL, "", authHeader())
	if err != nil {
		t.Fatal(err)
	}
	_ = slow // never read
	fast, _, err := dial(t, srv.URL, "", authHeader())
	if err != nil {
		t.Fatal(err)
	}
	readAlertMsg(t, fast)
	got := make(chan uint64, 8)
	go func() {
		defer close(got)
		for {
			fast.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, b, err := fast.ReadMessage()
			if err != nil {
				return
			}
			var m alertStreamMsg
			if json.Unmarshal(b, &m) == nil && m.Type == "alert" {
				got <- m.Alert.ID
			}
		}
	}()
	long := strings.Repeat("a long description to fill socket buffers quickly ", 20)
	var worst time.Duration
	dropped := false
	for i := uint64(1); i <= 5000 && !dropped; i++ {
		start := time.Now()
		c.PublishAlert(watchfloor.Alert{ID: i, Severity: watchfloor.SeverityHigh, State: watchfloor.AlertFiring, Title: fmt.Sprint("alert ", i),
			Description: long, StartedAt: testNow, UpdatedAt: testNow})
		worst = max(worst, time.Since(start))
		select {
		case id := <-got:
			if id != i {
				t.Fatalf("fast client got alert %d, want %d", id, i)
			}
		case <-time.After(time.Second):
			t.Fatalf("fast client did not get alert %d within 1s", i)
		}
		dropped = metricValue(t, reg, "watchfloor_console_ws_dropped_total", nil) == 1
	}
	if !dropped {
		t.Fatal("the slow client was never dropped")
	}
	if worst > 100*time.Millisecond {
		t.Errorf("PublishAlert took %v", worst)
	}
	if n := c.hub.clientCount(); n != 1 {
		t.Errorf("%d clients after the drop", n)
	}
}

func BenchmarkPublishAlert(b *testing.B) {
	c, _ := newTestConsole(b, Config{}, testStore())
	a := testAlerts(testNow)[2]
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		a.ID = uint64(i%1000 + 1)
		c.PublishAlert(a)
	}
}
