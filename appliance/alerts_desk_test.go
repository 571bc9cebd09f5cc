package appliance

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/console"
	"github.com/watchfloor/watchfloor/correlator/alerts"
)

// Assign, Comment and History through the adapter: the Manager's transitions in the
// console's kinds, and its errors as the console's.
func TestAlertsAPIDesk(t *testing.T) {
	now := time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)
	m, err := alerts.New(alerts.DefaultConfig(), alerts.NewMemStore(), func() time.Time { return now }, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	api := alertsAPI{m}
	a, _ := m.Fire(alerts.Match{Rule: "port_scan_vertical", Key: "src_ip=198.51.100.7", Severity: watchfloor.SeverityHigh,
		Category: watchfloor.CategorySecurity, Title: "scan", Time: now})
	for _, step := range []error{
		api.Assign(a.ID, "ann", "bob"),
		api.Comment(a.ID, "bob", "a scheduled scan"),
		api.Ack(a.ID, "bob", ""),
	} {
		if step != nil {
			t.Fatal(step)
		}
	}
	h, err := api.History(a.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range h {
		got = append(got, fmt.Sprintf("%s %s %s %s %s", c.Kind, c.To, c.By, c.Assignee, c.Comment))
	}
	want := []string{"state firing rule  ", "assign firing ann bob ", "comment firing bob  a scheduled scan", "state acknowledged bob  "}
	if !slices.Equal(got, want) {
		t.Errorf("history %q, want %q", got, want)
	}
	if got, _ := api.Get(a.ID); got.Assignee != "bob" {
		t.Errorf("assignee %q", got.Assignee)
	}
	if err := api.Assign(999, "ann", "bob"); !errors.Is(err, console.ErrNotFound) {
		t.Errorf("unknown alert: %v", err)
	}
	if err := api.Assign(a.ID, "ann", "bob smith"); !errors.Is(err, console.ErrInvalid) {
		t.Errorf("bad name: %v", err)
	}
	if err := api.Comment(a.ID, "ann", ""); !errors.Is(err, console.ErrInvalid) {
		t.Errorf("empty comment: %v", err)
	}
}
