package store

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/correlator/alerts"
)

func testAlert(id uint64, state watchfloor.AlertState, started time.Time) alerts.Record {
	a := watchfloor.Alert{ID: id, Rule: "scan", Key: fmt.Sprint("src=", id), Severity: watchfloor.SeverityHigh,
		Category: watchfloor.CategorySecurity, State: state, Title: "scan", StartedAt: started, LastSeen: started,
		Count: id, Tags: []string{"attack.discovery"}, Entity: watchfloor.Entity{Site: "hq"},
		Evidence: []watchfloor.Evidence{{Time: started, Kind: "flow", Summary: "syn", Fields: []watchfloor.Attr{{Key: "dst_port", Value: "22"}}}}}
	if state == watchfloor.AlertResolved {
		a.ResolvedAt = started.Add(time.Hour)
	}
	return alerts.Record{Alert: a, ResolveAfter: 5 * time.Minute}
}

func TestAlertsPersist(t *testing.T) {
	path := t.TempDir() + "/w.db"
	s := openTest(t, path, DefaultConfig())
	ctx := context.Background()
	if id, err := s.LastAlertID(); err != nil || id != 0 {
		t.Fatalf("empty store: %d %v", id, err)
	}
	c := &alerts.Changes{
		Alerts: []alerts.Record{testAlert(1, watchfloor.AlertFiring, base), testAlert(2, watchfloor.AlertFiring, base),
			testAlert(3, watchfloor.AlertAcknowledged, base)},
		History: []alerts.Transition{
			{Alert: 1, Time: base, To: watchfloor.AlertFiring, By: alerts.ByRule},
			{Alert: 2, Time: base, To: watchfloor.AlertFiring, By: alerts.ByRule},
			{Alert: 1, Time: base.Add(time.Minute), From: watchfloor.AlertFiring, To: watchfloor.AlertResolved, By: "ana", Comment: "done"},
		},
		Silences: []watchfloor.Silence{{ID: "s1", Matchers: []watchfloor.Matcher{{Name: "rule", Op: "=", Value: "scan"}},
			StartsAt: base, EndsAt: base.Add(time.Hour), CreatedBy: "ana"}, {ID: "s2", EndsAt: base}},
	}
	if err := s.PutAlerts(ctx, c); err != nil {
		t.Fatal(err)
	}
	r1 := testAlert(1, watchfloor.AlertResolved, base)
	if err := s.PutAlerts(ctx, &alerts.Changes{Alerts: []alerts.Record{r1}, DeletedSilences: []string{"s2"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, path, DefaultConfig())
	if id, _ := s.LastAlertID(); id != 3 {
		t.Fatalf("last ID %d", id)
	}
	open, err := s.OpenAlerts()
	if err != nil {
		t.Fatal(err)
	}
	var ids []uint64
	for _, r := range open {
		ids = append(ids, r.ID)
		if r.ResolveAfter != 5*time.Minute || len(r.Evidence) != 1 || r.Evidence[0].Fields[0].Value != "22" {
			t.Fatalf("%+v", r)
		}
	}
	if !slices.Equal(ids, []uint64{2, 3}) {
		t.Fatalf("open %v", ids)
	}
	a, ok, err := s.Alert(1)
	if err != nil || !ok || a.State != watchfloor.AlertResolved || !a.ResolvedAt.Equal(base.Add(time.Hour)) {
		t.Fatalf("%+v %v %v", a, ok, err)
	}
	if _, ok, err := s.Alert(9); ok || err != nil {
		t.Fatalf("unknown: %v %v", ok, err)
	}
	h, err := s.AlertHistory(1)
	if err != nil || len(h) != 2 || h[1].By != "ana" || h[1].Comment != "done" || h[0].To != watchfloor.AlertFiring {
		t.Fatalf("%+v %v", h, err)
	}
	sils, err := s.Silences()
	if err != nil || len(sils) != 1 || sils[0].ID != "s1" || sils[0].Matchers[0].Value != "scan" {
		t.Fatalf("%+v %v", sils, err)
	}
	if metric(t, s.reg, "watchfloor_store_records_total", "kind", "alert") != -1 {
		// counted by the store of the first open, which is closed; this one counts from 0
		t.Log("records counter present")
	}
	// Invalid changes are refused whole.
	if err := s.PutAlerts(ctx, &alerts.Changes{Alerts: []alerts.Record{{}}}); err == nil {
		t.Fatal("alert ID 0 stored")
	}
}

func TestAlertsQuery(t *testing.T) {
	s := openTest(t, "", DefaultConfig())
	var c alerts.Changes
	for id := uint64(1); id <= 50; id++ {
		st := watchfloor.AlertResolved
		if id%10 == 0 {
			st = watchfloor.AlertFiring
		}
		r := testAlert(id, st, base.Add(time.Duration(id)*time.Minute))
		if id%2 == 0 {
			r.Entity.Site = "paris"
		}
		c.Alerts = append(c.Alerts, r)
	}
	if err := s.PutAlerts(context.Background(), &c); err != nil {
		t.Fatal(err)
	}
	ids := func(q alerts.Query) []uint64 {
		got, err := s.Alerts(q)
		if err != nil {
			t.Fatal(err)
		}
		var out []uint64
		for _, a := range got {
			out = append(out, a.ID)
		}
		return out
	}
	for _, tc := range []struct {
		q    alerts.Query
		want []uint64
	}{
		{alerts.Query{Limit: 3}, []uint64{50, 49, 48}},
		{alerts.Query{Limit: 3, Before: 48}, []uint64{47, 46, 45}},
		{alerts.Query{Limit: 3, Before: 1000}, []uint64{50, 49, 48}},
		{alerts.Query{Before: 3}, []uint64{2, 1}},
		{alerts.Query{Open: true}, []uint64{50, 40, 30, 20, 10}},
		{alerts.Query{State: watchfloor.AlertFiring, Before: 30}, []uint64{20, 10}},
		{alerts.Query{State: watchfloor.AlertResolved, Site: "paris", Limit: 3}, []uint64{48, 46, 44}},
		{alerts.Query{Rule: "nope"}, nil},
	} {
		if got := ids(tc.q); !slices.Equal(got, tc.want) {
			t.Errorf("%+v: %v, want %v", tc.q, got, tc.want)
		}
	}
}

func TestAlertRetention(t *testing.T) {
	s := openTest(t, "", DefaultConfig())
	s.chunk = 7 // several transactions
	keep := DefaultConfig().Retention.Alerts
	old := base
	var c alerts.Changes
	for id := uint64(1); id <= 30; id++ {
		st := watchfloor.AlertResolved
		if id == 5 {
			st = watchfloor.AlertFiring // open for ages: never deleted
		}
		started := old
		if id > 20 {
			started = base.Add(keep) // recent
		}
		c.Alerts = append(c.Alerts, testAlert(id, st, started))
		c.History = append(c.History, alerts.Transition{Alert: id, Time: started, To: watchfloor.AlertFiring, By: alerts.ByRule})
	}
	if err := s.PutAlerts(context.Background(), &c); err != nil {
		t.Fatal(err)
	}
	s.clock.Set(base.Add(keep).Add(2 * time.Hour)) // alerts 1…20 resolved keep+1h ago
	deleted, err := s.enforceRetention(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if deleted["alert"] != 19 {
		t.Fatalf("deleted %v", deleted)
	}
	got, _ := s.Alerts(alerts.Query{Limit: 100})
	if len(got) != 11 || got[len(got)-1].ID != 5 {
		t.Fatalf("%d left, last %d", len(got), got[len(got)-1].ID)
	}
	if h, _ := s.AlertHistory(3); len(h) != 0 {
		t.Fatalf("history of a deleted alert kept: %v", h)
	}
	if h, _ := s.AlertHistory(5); len(h) != 1 {
		t.Fatalf("history of an open alert: %v", h)
	}
	if id, _ := s.LastAlertID(); id != 30 {
		t.Fatalf("last ID %d", id)
	}
	if metric(t, s.reg, "watchfloor_store_retention_deleted_total", "kind", "alert") != 19 {
		t.Error("metric")
	}
}
