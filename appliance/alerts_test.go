package appliance

import (
	"errors"
	"testing"
	"time"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/console"
	"github.com/watchfloor/watchfloor/correlator/alerts"
)

// The console's alert API over the Manager: filters, and the Manager's errors as the
// console's statuses.
func TestAlertsAPI(t *testing.T) {
	now := time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)
	m, err := alerts.New(alerts.DefaultConfig(), alerts.NewMemStore(), func() time.Time { return now }, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	api := alertsAPI{m}
	scan, _ := m.Fire(alerts.Match{Rule: "port_scan_vertical", Key: "src_ip=198.51.100.7", Severity: watchfloor.SeverityHigh,
		Category: watchfloor.CategorySecurity, Title: "scan", Tags: []string{"attack.discovery", "attack.t1046"}, Time: now})
	down, _ := m.Fire(alerts.Match{Rule: "device_unreachable", Key: "device=dist-s3", Severity: watchfloor.SeverityCritical,
		Category: watchfloor.CategoryAvailability, Title: "down", Time: now})
	if err := api.Ack(scan.ID, "admin", "looking"); err != nil {
		t.Fatal(err)
	}
	if err := api.Resolve(down.ID, "admin", "fixed"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		q    console.AlertQuery
		want []uint64
	}{
		{console.AlertQuery{State: console.StateOpen}, []uint64{scan.ID}},
		{console.AlertQuery{State: "resolved"}, []uint64{down.ID}},
		{console.AlertQuery{}, []uint64{down.ID, scan.ID}},
		{console.AlertQuery{Tactic: "discovery"}, []uint64{scan.ID}},
		{console.AlertQuery{Severity: watchfloor.SeverityCritical}, []uint64{down.ID}},
		{console.AlertQuery{Limit: 1}, []uint64{down.ID}},
	} {
		var got []uint64
		for _, a := range api.List(c.q) {
			got = append(got, a.ID)
		}
		if len(got) != len(c.want) || (len(got) > 0 && got[0] != c.want[0]) {
			t.Errorf("List(%+v) = %v, want %v", c.q, got, c.want)
		}
	}
	if err := api.Ack(999, "admin", ""); !errors.Is(err, console.ErrNotFound) {
		t.Errorf("ack of an unknown alert: %v", err)
	}
	if err := api.Ack(down.ID, "admin", ""); !errors.Is(err, console.ErrState) {
		t.Errorf("ack of a resolved alert: %v", err)
	}
	if _, err := api.AddSilence(watchfloor.Silence{}); !errors.Is(err, console.ErrInvalid) {
		t.Errorf("empty silence: %v", err)
	}
}
