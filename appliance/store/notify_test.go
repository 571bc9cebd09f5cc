package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/correlator/notify"
	"github.com/watchfloor/watchfloor/correlator/notify/dispatch"
	bolt "go.etcd.io/bbolt"
)

// incidentID is the dispatcher's incident ID.
var incidentID = dispatch.IncidentID

func testNotification(id, receiver string, t time.Time) notify.Notification {
	return notify.Notification{ID: id, GroupKey: "route/" + id, Receiver: receiver, Status: notify.StatusFiring,
		Title: "link down " + id, Severity: watchfloor.SeverityHigh, Time: t,
		Alerts:      []watchfloor.Alert{{ID: 7, Rule: "down", State: watchfloor.AlertFiring, Title: "link down", Severity: watchfloor.SeverityHigh, StartedAt: t}},
		GroupLabels: []watchfloor.Attr{{Key: "site", Value: "hq"}}, Link: "https://wf/incident/" + id}
}

func testIncident(opened time.Time, key string, sev watchfloor.Severity) dispatch.Incident {
	return dispatch.Incident{ID: incidentID(opened, key), Groups: []string{key}, Policy: "oncall", Title: "t " + key,
		Severity: sev, Alerts: []uint64{1, 2}, Opened: opened, Pages: 1}
}

func testEntry(t time.Time, id, receiver string, result dispatch.Result) dispatch.LogEntry {
	return dispatch.LogEntry{Time: t, NotificationID: id, Incident: "inc-" + id, GroupKey: "route/" + id,
		Receiver: receiver, Status: notify.StatusFiring, Severity: watchfloor.SeverityHigh, Title: "link down",
		Alerts: []uint64{7}, Result: result, Attempt: 1}
}

func mustSave(t testing.TB, s *Store, state []byte, outbox []notify.Notification, inc []dispatch.Incident, log []dispatch.LogEntry) {
	t.Helper()
	if err := s.SaveDispatch(state, outbox, inc, log); err != nil {
		t.Fatal(err)
	}
}

func allLog(t testing.TB, s *Store) []dispatch.LogEntry {
	t.Helper()
	got, err := s.Notifications(dispatch.LogQuery{Limit: MaxNotifyLimit})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func allIncidents(t testing.TB, s *Store) []dispatch.Incident {
	t.Helper()
	got, err := s.Incidents(dispatch.IncidentQuery{Limit: MaxIncidentLimit})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func outboxKeys(ns []notify.Notification) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.ID+"/"+n.Receiver)
	}
	return out
}

func seqs(es []dispatch.LogEntry) []uint64 {
	var out []uint64
	for _, e := range es {
		out = append(out, e.Seq)
	}
	return out
}

func TestDispatchPersists(t *testing.T) {
	path := t.TempDir() + "/w.db"
	s := openTest(t, path, DefaultConfig())
	state, outbox, err := s.LoadDispatch()
	if err != nil || state != nil || len(outbox) != 0 {
		t.Fatalf("empty store: %q %v %v", state, outbox, err)
	}
	if err := s.SaveDispatch(nil, nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	later := base.Add(time.Minute)
	out := []notify.Notification{
		testNotification("b", "slack", later),
		testNotification("b", "mail", later), // same ID, another receiver: another entry
		testNotification("c", "mail", base),
		testNotification("a", "mail", later),
	}
	inc := testIncident(base, "route/a", watchfloor.SeverityHigh)
	log := []dispatch.LogEntry{testEntry(base, "a", "mail", dispatch.ResultQueued), testEntry(later, "b", "slack", dispatch.ResultQueued)}
	log[0].Seq = 99 // ignored: the store assigns it
	mustSave(t, s.Store, []byte("state-1"), out, []dispatch.Incident{inc}, log)
	if got := metric(t, s.reg, "watchfloor_store_notify_outbox_entries"); got != 4 {
		t.Errorf("outbox gauge %v, want 4", got)
	}
	if got := metric(t, s.reg, "watchfloor_store_records_total", "kind", "notification"); got != 7 {
		t.Errorf("records{notification} %v, want 7", got)
	}

	// A nil state keeps the saved one; an outbox entry of the same ID and receiver replaces
	// the stored one; an incident of the same ID replaces the stored one.
	replaced := testNotification("a", "mail", later)
	replaced.Level = 2
	inc.Acked, inc.AckedBy, inc.Pages = base.Add(3*time.Minute), "ana", 2
	mustSave(t, s.Store, nil, []notify.Notification{replaced}, []dispatch.Incident{inc}, nil)
	if got := metric(t, s.reg, "watchfloor_store_notify_outbox_entries"); got != 4 {
		t.Errorf("outbox gauge %v after a replacement, want 4", got)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, path, DefaultConfig())
	if got := metric(t, s.reg, "watchfloor_store_notify_outbox_entries"); got != 4 {
		t.Errorf("outbox gauge %v after reopening, want 4", got)
	}
	state, outbox, err = s.LoadDispatch()
	if err != nil {
		t.Fatal(err)
	}
	if string(state) != "state-1" {
		t.Errorf("state %q", state)
	}
	// By time, then ID, then receiver.
	if got, want := outboxKeys(outbox), []string{"c/mail", "a/mail", "b/mail", "b/slack"}; !slices.Equal(got, want) {
		t.Errorf("outbox %v, want %v", got, want)
	}
	want := []notify.Notification{out[2], replaced, out[1], out[0]}
	if !reflect.DeepEqual(outbox, want) {
		t.Errorf("outbox\n%+v\nwant\n%+v", outbox, want)
	}
	if got := allIncidents(t, s.Store); !reflect.DeepEqual(got, []dispatch.Incident{inc}) {
		t.Errorf("incidents %+v, want %+v", got, inc)
	}
	got := allLog(t, s.Store)
	log[0].Seq, log[1].Seq = 1, 2
	if !reflect.DeepEqual(got, []dispatch.LogEntry{log[1], log[0]}) {
		t.Errorf("log %+v", got)
	}

	// Seqs keep increasing across restarts; an empty state is not "none".
	mustSave(t, s.Store, []byte{}, nil, nil, []dispatch.LogEntry{testEntry(later, "c", "mail", dispatch.ResultQueued)})
	state, _, _ = s.LoadDispatch()
	if state == nil || len(state) != 0 {
		t.Errorf("empty state loads as %#v", state)
	}
	if got := seqs(allLog(t, s.Store)); !slices.Equal(got, []uint64{3, 2, 1}) {
		t.Errorf("seqs %v", got)
	}
}

func TestSaveDispatchRefusesInvalid(t *testing.T) {
	long := strings.Repeat("x", maxNotifyID+1)
	for _, tc := range []struct {
		name   string
		change func(state *[]byte, out *notify.Notification, inc *dispatch.Incident, e *dispatch.LogEntry)
		want   string // in the error
	}{
		{"huge state", func(st *[]byte, _ *notify.Notification, _ *dispatch.Incident, _ *dispatch.LogEntry) {
			*st = make([]byte, maxDispatchState+1)
		}, "state of"},
		{"outbox without ID", func(_ *[]byte, n *notify.Notification, _ *dispatch.Incident, _ *dispatch.LogEntry) { n.ID = "" }, "outbox notification 1: notification ID"},
		{"outbox long ID", func(_ *[]byte, n *notify.Notification, _ *dispatch.Incident, _ *dispatch.LogEntry) { n.ID = long }, "notification ID must have 1 to 256"},
		{"outbox ID with NUL", func(_ *[]byte, n *notify.Notification, _ *dispatch.Incident, _ *dispatch.LogEntry) { n.ID = "a\x00b" }, "no NUL"},
		{"outbox without receiver", func(_ *[]byte, n *notify.Notification, _ *dispatch.Incident, _ *dispatch.LogEntry) { n.Receiver = "" }, "receiver must have 1 to 64"},
		{"outbox long receiver", func(_ *[]byte, n *notify.Notification, _ *dispatch.Incident, _ *dispatch.LogEntry) {
			n.Receiver = strings.Repeat("r", maxReceiver+1)
		}, "receiver must have 1 to 64"},
		{"outbox bad severity", func(_ *[]byte, n *notify.Notification, _ *dispatch.Incident, _ *dispatch.LogEntry) { n.Severity = 42 }, "invalid severity"},
		{"outbox year 10000", func(_ *[]byte, n *notify.Notification, _ *dispatch.Incident, _ *dispatch.LogEntry) {
			n.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
		}, "year outside of range"},
		{"outbox alert without state", func(_ *[]byte, n *notify.Notification, _ *dispatch.Incident, _ *dispatch.LogEntry) {
			n.Alerts[0].State = 0
		}, "invalid alert state"},
		{"incident ID not from Opened", func(_ *[]byte, _ *notify.Notification, in *dispatch.Incident, _ *dispatch.LogEntry) {
			in.ID = incidentID(base.Add(time.Second), "k")
		}, "must start with"},
		{"incident ID without dash", func(_ *[]byte, _ *notify.Notification, in *dispatch.Incident, _ *dispatch.LogEntry) {
			in.ID = strings.Replace(in.ID, "-", "x", 1)
		}, "must start with"},
		{"incident long ID", func(_ *[]byte, _ *notify.Notification, in *dispatch.Incident, _ *dispatch.LogEntry) { in.ID += long }, "ID longer than"},
		{"incident not opened", func(_ *[]byte, _ *notify.Notification, in *dispatch.Incident, _ *dispatch.LogEntry) {
			in.Opened = time.Time{}
		}, "between 1970 and 2262"},
		{"incident many alerts", func(_ *[]byte, _ *notify.Notification, in *dispatch.Incident, _ *dispatch.LogEntry) {
			in.Alerts = make([]uint64, dispatch.MaxLoggedAlerts+1)
		}, "51 alerts"},
		{"incident bad severity", func(_ *[]byte, _ *notify.Notification, in *dispatch.Incident, _ *dispatch.LogEntry) { in.Severity = 9 }, "invalid severity"},
		{"log without time", func(_ *[]byte, _ *notify.Notification, _ *dispatch.Incident, e *dispatch.LogEntry) {
			e.Time = time.Time{}
		}, "log entry 1: time missing"},
		{"log long receiver", func(_ *[]byte, _ *notify.Notification, _ *dispatch.Incident, e *dispatch.LogEntry) {
			e.Receiver = strings.Repeat("r", maxReceiver+1)
		}, "receiver must have at most 64"},
		{"log long notification ID", func(_ *[]byte, _ *notify.Notification, _ *dispatch.Incident, e *dispatch.LogEntry) {
			e.NotificationID = long
		}, "notification ID"},
		{"log long incident", func(_ *[]byte, _ *notify.Notification, _ *dispatch.Incident, e *dispatch.LogEntry) { e.Incident = long }, "incident ID longer"},
		{"log many alerts", func(_ *[]byte, _ *notify.Notification, _ *dispatch.Incident, e *dispatch.LogEntry) {
			e.Alerts = make([]uint64, dispatch.MaxLoggedAlerts+1)
		}, "51 alerts"},
		{"log huge error", func(_ *[]byte, _ *notify.Notification, _ *dispatch.Incident, e *dispatch.LogEntry) {
			e.Err = strings.Repeat("e", maxNotifyValue)
		}, "more than 1048576"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t, "", DefaultConfig())
			mustSave(t, s.Store, []byte("before"), []notify.Notification{testNotification("old", "mail", base)},
				[]dispatch.Incident{testIncident(base, "old", watchfloor.SeverityLow)}, nil)

			// The valid records first: the invalid one is last of its kind.
			state := []byte("after")
			out := []notify.Notification{testNotification("a", "mail", base), testNotification("b", "mail", base)}
			inc := []dispatch.Incident{testIncident(base.Add(time.Hour), "a", watchfloor.SeverityHigh), testIncident(base, "k", watchfloor.SeverityHigh)}
			log := []dispatch.LogEntry{testEntry(base, "a", "mail", dispatch.ResultQueued), testEntry(base, "b", "mail", dispatch.ResultQueued)}
			tc.change(&state, &out[1], &inc[1], &log[1])
			err := s.SaveDispatch(state, out, inc, log)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want ErrInvalid naming %q", err, tc.want)
			}
			// Nothing of the call was written.
			st, ob, err := s.LoadDispatch()
			if err != nil || string(st) != "before" || !slices.Equal(outboxKeys(ob), []string{"old/mail"}) {
				t.Fatalf("after a refused save: state %q, outbox %v, %v", st, outboxKeys(ob), err)
			}
			if got := allIncidents(t, s.Store); len(got) != 1 || got[0].Groups[0] != "old" {
				t.Fatalf("incidents %+v", got)
			}
			if got := allLog(t, s.Store); len(got) != 0 {
				t.Fatalf("log %+v", got)
			}
			// A refused log entry does not take a sequence number.
			mustSave(t, s.Store, nil, nil, nil, []dispatch.LogEntry{testEntry(base, "c", "mail", dispatch.ResultQueued)})
			if got := seqs(allLog(t, s.Store)); !slices.Equal(got, []uint64{1}) {
				t.Fatalf("seqs %v", got)
			}
		})
	}
}

func TestRecordDelivery(t *testing.T) {
	path := t.TempDir() + "/w.db"
	s := openTest(t, path, DefaultConfig())
	mustSave(t, s.Store, nil, []notify.Notification{
		testNotification("n1", "mail", base), testNotification("n1", "slack", base), testNotification("n2", "mail", base),
	}, nil, nil)
	outbox := func() []string {
		t.Helper()
		_, ob, err := s.LoadDispatch()
		if err != nil {
			t.Fatal(err)
		}
		return outboxKeys(ob)
	}
	for i, tc := range []struct {
		e          dispatch.LogEntry
		done       bool
		wantOutbox []string
	}{
		{testEntry(base, "n1", "mail", dispatch.ResultRetry), false, []string{"n1/mail", "n1/slack", "n2/mail"}},
		{testEntry(base, "n1", "mail", dispatch.ResultDelivered), true, []string{"n1/slack", "n2/mail"}},
		{testEntry(base, "n1", "mail", dispatch.ResultDelivered), true, []string{"n1/slack", "n2/mail"}}, // not there: fine
		{testEntry(base, "n9", "slack", dispatch.ResultFailed), true, []string{"n1/slack", "n2/mail"}},
		{testEntry(base, "n2", "mail", dispatch.ResultFailed), true, []string{"n1/slack"}},
	} {
		if err := s.RecordDelivery(tc.e, tc.done); err != nil {
			t.Fatal(err)
		}
		if got := outbox(); !slices.Equal(got, tc.wantOutbox) {
			t.Fatalf("step %d: outbox %v, want %v", i, got, tc.wantOutbox)
		}
		if got := metric(t, s.reg, "watchfloor_store_notify_outbox_entries"); got != float64(len(tc.wantOutbox)) {
			t.Fatalf("step %d: outbox gauge %v", i, got)
		}
	}
	log := allLog(t, s.Store)
	if got := seqs(log); !slices.Equal(got, []uint64{5, 4, 3, 2, 1}) {
		t.Fatalf("seqs %v", got)
	}
	if log[4].Result != dispatch.ResultRetry || log[0].NotificationID != "n2" || log[0].Result != dispatch.ResultFailed {
		t.Fatalf("log %+v", log)
	}
	// Invalid entries are refused, and change nothing.
	for _, tc := range []struct {
		name string
		e    dispatch.LogEntry
		done bool
	}{
		{"no time", dispatch.LogEntry{NotificationID: "n1", Receiver: "slack"}, true},
		{"done without ID", testEntry(base, "", "slack", dispatch.ResultDelivered), true},
		{"done without receiver", testEntry(base, "n1", "", dispatch.ResultDelivered), true},
		{"bad severity", dispatch.LogEntry{Time: base, NotificationID: "n1", Receiver: "slack", Severity: 200}, true},
	} {
		if err := s.RecordDelivery(tc.e, tc.done); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: error %v, want ErrInvalid", tc.name, err)
		}
	}
	// A dropped notification without a receiver is logged.
	if err := s.RecordDelivery(testEntry(base, "n3", "", dispatch.ResultDropped), false); err != nil {
		t.Fatal(err)
	}
	if got := outbox(); !slices.Equal(got, []string{"n1/slack"}) {
		t.Fatalf("outbox %v", got)
	}
	// What RecordDelivery did survives a restart.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordDelivery(testEntry(base, "n1", "slack", dispatch.ResultDelivered), true); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	if err := s.SaveDispatch([]byte("x"), nil, nil, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	if _, _, err := s.LoadDispatch(); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	s = openTest(t, path, DefaultConfig())
	if got := outbox(); !slices.Equal(got, []string{"n1/slack"}) {
		t.Fatalf("outbox after reopening %v", got)
	}
	if got := seqs(allLog(t, s.Store)); len(got) != 6 || got[0] != 6 {
		t.Fatalf("seqs after reopening %v", got)
	}
}

func TestNotificationsQuery(t *testing.T) {
	s := openTest(t, "", DefaultConfig())
	// Entry i (Seq i+1) at base+i minutes, except that Seq 11 is at 8m30s, before Seq 10 at
	// 9m, and Seq 17 at 14m30s, before Seq 16 at 15m: the log is in time order within the
	// slack. (The binary search for Until probes Seq 11 first, then 16.)
	var log []dispatch.LogEntry
	for i := range 20 {
		rcv := []string{"mail", "slack"}[i%2]
		res := dispatch.ResultDelivered
		if i%5 == 0 {
			res = dispatch.ResultFailed
		}
		e := testEntry(base.Add(time.Duration(i)*time.Minute), fmt.Sprint("n", i/4), rcv, res)
		e.Alerts = []uint64{uint64(100 + i%3), 500}
		log = append(log, e)
	}
	log[10].Time = log[10].Time.Add(-90 * time.Second)
	log[16].Time = log[16].Time.Add(-90 * time.Second)
	mustSave(t, s.Store, nil, nil, nil, log)
	at := func(m float64) time.Time { return base.Add(time.Duration(m * float64(time.Minute))) }
	for _, tc := range []struct {
		name string
		q    dispatch.LogQuery
		want []uint64 // Seqs
	}{
		{"all", dispatch.LogQuery{}, []uint64{20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1}},
		{"limit", dispatch.LogQuery{Limit: 3}, []uint64{20, 19, 18}},
		{"since", dispatch.LogQuery{Since: at(16)}, []uint64{20, 19, 18}},
		{"since is inclusive, until exclusive", dispatch.LogQuery{Since: at(3), Until: at(6)}, []uint64{6, 5, 4}},
		{"until the end", dispatch.LogQuery{Until: at(100)}, []uint64{20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1}},
		{"until the start", dispatch.LogQuery{Until: at(0)}, nil},
		{"since the end", dispatch.LogQuery{Since: at(19.5)}, nil},
		{"since after until", dispatch.LogQuery{Since: at(5), Until: at(4)}, nil},
		{"out of order within the slack", dispatch.LogQuery{Since: at(8.25), Until: at(8.75)}, []uint64{11}},
		{"out of order, until", dispatch.LogQuery{Since: at(8), Until: at(8.9)}, []uint64{11, 9}},
		{"out of order, until within the slack", dispatch.LogQuery{Since: at(14.25), Until: at(14.75)}, []uint64{17}},
		{"out of order, since within the slack", dispatch.LogQuery{Since: at(8.75), Until: at(9.5)}, []uint64{10}},
		{"out of order, since", dispatch.LogQuery{Since: at(8.25)}, []uint64{20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10}},
		{"receiver", dispatch.LogQuery{Receiver: "slack", Limit: 3}, []uint64{20, 18, 16}},
		{"incident", dispatch.LogQuery{Incident: "inc-n1"}, []uint64{8, 7, 6, 5}},
		{"result", dispatch.LogQuery{Result: dispatch.ResultFailed}, []uint64{16, 11, 6, 1}},
		{"alert", dispatch.LogQuery{Alert: 102, Until: at(12)}, []uint64{12, 9, 6, 3}},
		{"alert listed by all", dispatch.LogQuery{Alert: 500, Limit: 2}, []uint64{20, 19}},
		{"unknown alert", dispatch.LogQuery{Alert: 7}, nil},
		{"all filters", dispatch.LogQuery{Since: at(4), Until: at(19), Receiver: "mail", Incident: "inc-n2", Result: dispatch.ResultFailed, Alert: 101}, []uint64{11}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Notifications(tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if got == nil {
				t.Fatal("nil, want an empty slice")
			}
			if g := seqs(got); !slices.Equal(g, tc.want) {
				t.Fatalf("seqs %v, want %v", g, tc.want)
			}
		})
	}
}

func TestNotifyQueryLimits(t *testing.T) {
	s := openTest(t, "", DefaultConfig())
	var log []dispatch.LogEntry
	for i := range MaxNotifyLimit + 50 {
		log = append(log, testEntry(base.Add(time.Duration(i)*time.Second), "n", "mail", dispatch.ResultDelivered))
	}
	var inc []dispatch.Incident
	for i := range MaxIncidentLimit + 50 {
		inc = append(inc, testIncident(base.Add(time.Duration(i)*time.Second), "k", watchfloor.SeverityLow))
	}
	mustSave(t, s.Store, nil, nil, inc, log)
	for _, tc := range []struct{ limit, want int }{{0, DefaultNotifyLimit}, {-1, DefaultNotifyLimit}, {7, 7}, {1 << 30, MaxNotifyLimit}} {
		if got, err := s.Notifications(dispatch.LogQuery{Limit: tc.limit}); err != nil || len(got) != tc.want {
			t.Errorf("notifications limit %d: %d entries (%v), want %d", tc.limit, len(got), err, tc.want)
		}
	}
	for _, tc := range []struct{ limit, want int }{{0, DefaultIncidentLimit}, {-1, DefaultIncidentLimit}, {7, 7}, {1 << 30, MaxIncidentLimit}} {
		if got, err := s.Incidents(dispatch.IncidentQuery{Limit: tc.limit}); err != nil || len(got) != tc.want {
			t.Errorf("incidents limit %d: %d (%v), want %d", tc.limit, len(got), err, tc.want)
		}
	}
}

func TestIncidentsQuery(t *testing.T) {
	s := openTest(t, "", DefaultConfig())
	sevs := []watchfloor.Severity{watchfloor.SeverityLow, watchfloor.SeverityCritical, watchfloor.SeverityHigh}
	var inc []dispatch.Incident
	for i := range 12 { // incident i opened at base+i hours; two groups opened at hour 5
		inc = append(inc, testIncident(base.Add(time.Duration(i)*time.Hour), fmt.Sprint("k", i), sevs[i%3]))
	}
	inc = append(inc, testIncident(base.Add(5*time.Hour+30*time.Minute), "k5b", watchfloor.SeverityCritical))
	// Replacing one keeps one of it.
	inc = append(inc, inc[3])
	inc[len(inc)-1].Resolved = base.Add(4 * time.Hour)
	mustSave(t, s.Store, nil, nil, inc, nil)
	crit := watchfloor.SeverityCritical
	h := func(n int) time.Time { return base.Add(time.Duration(n) * time.Hour) }
	for _, tc := range []struct {
		name string
		q    dispatch.IncidentQuery
		want []string // group keys
	}{
		{"all", dispatch.IncidentQuery{}, []string{"k11", "k10", "k9", "k8", "k7", "k6", "k5b", "k5", "k4", "k3", "k2", "k1", "k0"}},
		{"limit", dispatch.IncidentQuery{Limit: 2}, []string{"k11", "k10"}},
		{"since inclusive, until exclusive", dispatch.IncidentQuery{Since: h(4), Until: h(6)}, []string{"k5b", "k5", "k4"}},
		{"until only", dispatch.IncidentQuery{Until: h(2)}, []string{"k1", "k0"}},
		{"until just after", dispatch.IncidentQuery{Until: h(2).Add(1)}, []string{"k2", "k1", "k0"}},
		{"since only", dispatch.IncidentQuery{Since: h(10)}, []string{"k11", "k10"}},
		{"since just after", dispatch.IncidentQuery{Since: h(10).Add(1)}, []string{"k11"}},
		{"until before all", dispatch.IncidentQuery{Until: h(-1)}, nil},
		{"until at the first", dispatch.IncidentQuery{Until: h(0)}, nil},
		{"until before 1970", dispatch.IncidentQuery{Until: time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)}, nil},
		{"until after 2262", dispatch.IncidentQuery{Since: h(11), Until: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)}, []string{"k11"}},
		{"since after all", dispatch.IncidentQuery{Since: h(12)}, nil},
		{"since after until", dispatch.IncidentQuery{Since: h(5), Until: h(4)}, nil},
		{"severity", dispatch.IncidentQuery{Severity: &crit}, []string{"k10", "k7", "k5b", "k4", "k1"}},
		{"severity and range", dispatch.IncidentQuery{Severity: &crit, Since: h(2), Until: h(7), Limit: 2}, []string{"k5b", "k4"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Incidents(tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if got == nil {
				t.Fatal("nil, want an empty slice")
			}
			var keys []string
			for _, in := range got {
				keys = append(keys, in.Groups[0])
			}
			if !slices.Equal(keys, tc.want) {
				t.Fatalf("%v, want %v", keys, tc.want)
			}
		})
	}
	got, _ := s.Incidents(dispatch.IncidentQuery{Since: h(3), Until: h(4)})
	if len(got) != 1 || !got[0].Resolved.Equal(h(4)) {
		t.Fatalf("replaced incident: %+v", got)
	}
}

func TestNearestRank(t *testing.T) {
	d := func(ns ...int) []time.Duration {
		var out []time.Duration
		for _, n := range ns {
			out = append(out, time.Duration(n))
		}
		return out
	}
	ten := d(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
	for _, tc := range []struct {
		sorted   []time.Duration
		num, den int
		want     time.Duration
	}{
		{nil, 1, 2, 0},
		{d(7), 1, 2, 7}, {d(7), 9, 10, 7},
		{d(3, 9), 1, 2, 3}, {d(3, 9), 9, 10, 9}, // ranks ceil(1) = 1, ceil(1.8) = 2
		{d(1, 2, 3), 1, 2, 2}, {d(1, 2, 3), 9, 10, 3}, // ceil(1.5) = 2, ceil(2.7) = 3
		{ten, 1, 2, 5}, {ten, 9, 10, 9}, // ceil(5) = 5, ceil(9) = 9
		{append(ten, 11), 1, 2, 6}, {append(ten, 11), 9, 10, 10}, // ceil(5.5) = 6, ceil(9.9) = 10
		{ten, 1, 100, 1}, {ten, 1, 1, 10},
	} {
		if got := nearestRank(tc.sorted, tc.num, tc.den); got != tc.want {
			t.Errorf("nearestRank(%v, %d/%d) = %v, want %v", tc.sorted, tc.num, tc.den, got, tc.want)
		}
	}
}

func TestResponseStats(t *testing.T) {
	s := openTest(t, "", DefaultConfig())
	mins := func(n int) time.Duration { return time.Duration(n) * time.Minute }
	var inc []dispatch.Incident
	add := func(sev watchfloor.Severity, opened time.Time, ack, res time.Duration, esc int) {
		in := testIncident(opened, fmt.Sprint(sev, len(inc)), sev)
		if ack >= 0 {
			in.Acked = opened.Add(ack)
		}
		if res >= 0 {
			in.Resolved = opened.Add(res)
		}
		in.Escalations = esc
		inc = append(inc, in)
	}
	const none = -1
	// critical, n = 10 acknowledged (written out of order): MTTA 1…10 minutes, median the
	// 5th (5m), p90 the 9th (9m); 4 resolved after 10, 20, 30, 40 minutes: median rank
	// ceil(2) = 2 (20m), p90 rank ceil(3.6) = 4 (40m). Two escalated.
	for i, ack := range []int{7, 3, 10, 1, 5, 9, 2, 8, 6, 4} {
		res, esc := time.Duration(none), 0
		if i < 4 {
			res = mins(10 * (i + 1))
		}
		if i == 4 || i == 9 {
			esc = 3
		}
		add(watchfloor.SeverityCritical, base.Add(mins(i)), mins(ack), res, esc)
	}
	// high, n = 2: acked after 2m and 6m (median the 1st, p90 the 2nd); one resolved, 1h;
	// one never acknowledged nor resolved.
	add(watchfloor.SeverityHigh, base.Add(mins(1)), mins(6), none, 0)
	add(watchfloor.SeverityHigh, base.Add(mins(2)), mins(2), time.Hour, 1)
	add(watchfloor.SeverityHigh, base.Add(mins(3)), none, none, 0)
	// low, n = 1, acknowledged before it opened (clocks): 0.
	add(watchfloor.SeverityLow, base.Add(mins(4)), 0, mins(15), 0)
	inc[len(inc)-1].Acked = inc[len(inc)-1].Opened.Add(-30 * time.Second)
	// info: outside the period.
	add(watchfloor.SeverityInfo, base.Add(-time.Hour), mins(1), mins(1), 0)
	add(watchfloor.SeverityInfo, base.Add(time.Hour), mins(1), mins(1), 0)
	mustSave(t, s.Store, nil, nil, inc, nil)

	got, err := s.ResponseStats(base, base.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want := []dispatch.ResponseStats{
		{Severity: watchfloor.SeverityCritical, Incidents: 10, Acknowledged: 10, Resolved: 4, Escalated: 2,
			MTTAMedian: mins(5), MTTAP90: mins(9), MTTRMedian: mins(20), MTTRP90: mins(40)},
		{Severity: watchfloor.SeverityHigh, Incidents: 3, Acknowledged: 2, Resolved: 1, Escalated: 1,
			MTTAMedian: mins(2), MTTAP90: mins(6), MTTRMedian: time.Hour, MTTRP90: time.Hour},
		{Severity: watchfloor.SeverityLow, Incidents: 1, Acknowledged: 1, Resolved: 1,
			MTTAMedian: 0, MTTAP90: 0, MTTRMedian: mins(15), MTTRP90: mins(15)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("stats\n%+v\nwant\n%+v", got, want)
	}
	// Unbounded: the info incidents too.
	got, _ = s.ResponseStats(time.Time{}, time.Time{})
	if len(got) != 4 || got[3].Severity != watchfloor.SeverityInfo || got[3].Incidents != 2 || got[3].MTTAP90 != mins(1) {
		t.Fatalf("unbounded: %+v", got)
	}
	got, err = s.ResponseStats(base.Add(2*time.Hour), base.Add(3*time.Hour))
	if err != nil || got == nil || len(got) != 0 {
		t.Fatalf("empty period: %+v %v", got, err)
	}
}

func TestNotifyRetention(t *testing.T) {
	s := openTest(t, "", DefaultConfig())
	s.chunk = 7 // several transactions
	keep := DefaultConfig().Retention.Notifications
	now := base.Add(keep).Add(24 * time.Hour)
	cutoff := now.Add(-keep) // base + 1 day
	var log []dispatch.LogEntry
	for i := range 48 { // one an hour over two days: the first 24 are older than the cutoff
		log = append(log, testEntry(base.Add(time.Duration(i)*time.Hour), "n", "mail", dispatch.ResultDelivered))
	}
	var inc []dispatch.Incident
	for i := range 20 { // opened and resolved an hour apart, from base
		in := testIncident(base.Add(time.Duration(i)*time.Hour), fmt.Sprint("old", i), watchfloor.SeverityHigh)
		in.Resolved = in.Opened.Add(time.Hour)
		inc = append(inc, in)
	}
	inc[3].Resolved = time.Time{}                                               // open for ages: kept
	inc[4].Resolved = cutoff.Add(time.Minute)                                   // resolved after the cutoff: kept
	late := testIncident(cutoff.Add(time.Hour), "late", watchfloor.SeverityLow) // opened after: kept
	late.Resolved = late.Opened.Add(time.Minute)
	inc = append(inc, late)
	// 20 old ones, of which one is open and one was resolved after the cutoff: 18 deleted.
	out := []notify.Notification{testNotification("stuck", "mail", base)}
	mustSave(t, s.Store, []byte("st"), out, inc, log)

	s.clock.Set(now)
	deleted, err := s.enforceRetention(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if deleted["notification"] != 24 || deleted["incident"] != 18 {
		t.Fatalf("deleted %v", deleted)
	}
	if got := metric(t, s.reg, "watchfloor_store_retention_deleted_total", "kind", "notification"); got != 24 {
		t.Errorf("retention metric{notification} %v", got)
	}
	if got := metric(t, s.reg, "watchfloor_store_retention_deleted_total", "kind", "incident"); got != 18 {
		t.Errorf("retention metric{incident} %v", got)
	}
	left := allLog(t, s.Store)
	if len(left) != 24 || !left[len(left)-1].Time.Equal(cutoff) || left[len(left)-1].Seq != 25 {
		t.Fatalf("%d log entries left, oldest %+v", len(left), left[len(left)-1])
	}
	var keys []string
	for _, in := range allIncidents(t, s.Store) {
		keys = append(keys, in.Groups[0])
	}
	if want := []string{"late", "old4", "old3"}; !slices.Equal(keys, want) {
		t.Fatalf("incidents left %v, want %v", keys, want)
	}
	st, ob, err := s.LoadDispatch()
	if err != nil || string(st) != "st" || !slices.Equal(outboxKeys(ob), []string{"stuck/mail"}) {
		t.Fatalf("state %q outbox %v %v", st, outboxKeys(ob), err)
	}
	// Seqs go on from where they were.
	mustSave(t, s.Store, nil, nil, nil, []dispatch.LogEntry{testEntry(now, "n", "mail", dispatch.ResultQueued)})
	if got := allLog(t, s.Store); got[0].Seq != 49 {
		t.Fatalf("seq after retention %d", got[0].Seq)
	}
	// A second pass finds nothing more.
	deleted, err = s.enforceRetention(context.Background())
	if err != nil || deleted["notification"]+deleted["incident"] != 0 {
		t.Fatalf("second pass %v %v", deleted, err)
	}
}

func TestNotifyCorrupt(t *testing.T) {
	for _, tc := range []struct {
		name   string
		bucket []byte
		key    []byte
		read   func(s *Store) error
	}{
		{"outbox", bNotifyOutbox, []byte("x\x00mail"), func(s *Store) error { _, _, err := s.LoadDispatch(); return err }},
		{"log", bNotifyLog, u64(1), func(s *Store) error { _, err := s.Notifications(dispatch.LogQuery{}); return err }},
		{"log, bad key", bNotifyLog, []byte("k"), func(s *Store) error { _, err := s.Notifications(dispatch.LogQuery{}); return err }},
		{"log, binary search", bNotifyLog, u64(1), func(s *Store) error {
			_, err := s.Notifications(dispatch.LogQuery{Until: base})
			return err
		}},
		{"log, retention", bNotifyLog, u64(1), func(s *Store) error { _, err := s.enforceRetention(context.Background()); return err }},
		{"incident", bNotifyIncidents, []byte(incidentID(base, "k")), func(s *Store) error { _, err := s.Incidents(dispatch.IncidentQuery{}); return err }},
		{"incident, stats", bNotifyIncidents, []byte(incidentID(base, "k")), func(s *Store) error { _, err := s.ResponseStats(base, base.Add(time.Hour)); return err }},
		{"incident, retention", bNotifyIncidents, []byte(incidentID(base, "k")), func(s *Store) error { _, err := s.enforceRetention(context.Background()); return err }},
	} {
		for _, v := range [][]byte{[]byte("{not json"), []byte(`{"severity":"dreadful"}`), []byte(`{"time":"yesterday","opened":"yesterday"}`), []byte("[]")} {
			t.Run(fmt.Sprintf("%s %s", tc.name, v), func(t *testing.T) {
				s := openTest(t, "", DefaultConfig())
				err := s.update(func(tx *bolt.Tx) error { return tx.Bucket(tc.bucket).Put(tc.key, v) })
				if err != nil {
					t.Fatal(err)
				}
				if err := tc.read(s.Store); !errors.Is(err, ErrCorrupt) {
					t.Fatalf("error %v, want ErrCorrupt", err)
				}
			})
		}
	}
}

// FuzzNotifyDecode feeds stored values to the three decoders: they fail or decode, never
// panic, and a log entry or incident they decode encodes and decodes again to the same. A
// notification may decode to one that does not encode back (an alert without a state:
// watchfloor.AlertState encodes 0 as a name it does not decode), which SaveDispatch refuses;
// one that does must come back the same.
func FuzzNotifyDecode(f *testing.F) {
	e, _ := encodeLogEntry(testEntry(base, "n", "mail", dispatch.ResultRetry))
	in, _ := json.Marshal(testIncident(base, "k", watchfloor.SeverityHigh))
	n, _ := json.Marshal(testNotification("n", "mail", base))
	for _, v := range [][]byte{e, in, n, []byte("{}"), []byte("null"), []byte(`{"alerts":[1e30]}`), []byte(`{"target":{}}`),
		[]byte(`{"alerts":[{}]}`)} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		check := func(name string, decoded any, encode func() ([]byte, error), again func([]byte) (any, error)) {
			b, err := encode()
			if err != nil {
				t.Fatalf("%s decoded %+v, which does not encode: %v", name, decoded, err)
			}
			d2, err := again(b)
			if err != nil || !reflect.DeepEqual(decoded, d2) {
				t.Fatalf("%s: %+v does not survive a round trip (%+v, %v)", name, decoded, d2, err)
			}
		}
		key := u64(3)
		if le, err := decodeLogEntry(key, v); err == nil {
			if le.Seq != 3 {
				t.Fatalf("seq %d", le.Seq)
			}
			check("log entry", le, func() ([]byte, error) { return json.Marshal(le) },
				func(b []byte) (any, error) { return decodeLogEntry(key, b) })
		}
		if ic, err := decodeIncident([]byte("k"), v); err == nil {
			check("incident", ic, func() ([]byte, error) { return json.Marshal(ic) },
				func(b []byte) (any, error) { return decodeIncident([]byte("k"), b) })
		}
		if nt, err := decodeOutbox([]byte("k"), v); err == nil {
			valid := nt // IDs aside, would SaveDispatch take it?
			valid.ID, valid.Receiver = "n", "mail"
			if _, err := prepareDispatch(nil, []notify.Notification{valid}, nil, nil); err != nil {
				return // refused: never stored
			}
			check("notification", nt, func() ([]byte, error) { return json.Marshal(nt) },
				func(b []byte) (any, error) { return decodeOutbox([]byte("k"), b) })
		}
	})
}

// BenchmarkRecordDelivery measures one delivery recorded done: a log entry appended and an
// outbox entry deleted in one durable transaction (two fdatasyncs). serial is one worker;
// parallel8 is eight workers, whose transactions bbolt runs one at a time.
//
// Run: go test -run '^$' -bench BenchmarkRecordDelivery -benchmem ./appliance/store/
func BenchmarkRecordDelivery(b *testing.B) {
	for _, bc := range []struct {
		name    string
		workers int
	}{{"serial", 1}, {"parallel8", 8}} {
		b.Run(bc.name, func(b *testing.B) {
			s := openTest(b, "", DefaultConfig())
			// An outbox entry for every iteration, written in batches.
			for i := 0; i < b.N; i += 1000 {
				var out []notify.Notification
				for j := i; j < min(i+1000, b.N); j++ {
					out = append(out, testNotification(fmt.Sprint("n", j), "mail", base))
				}
				mustSave(b, s.Store, nil, out, nil, nil)
			}
			var next atomic.Int64
			b.ResetTimer()
			var wg sync.WaitGroup
			for range bc.workers {
				wg.Go(func() {
					for i := next.Add(1) - 1; i < int64(b.N); i = next.Add(1) - 1 {
						e := testEntry(base, fmt.Sprint("n", i), "mail", dispatch.ResultDelivered)
						if err := s.RecordDelivery(e, true); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			if got := metric(b, s.reg, "watchfloor_store_notify_outbox_entries"); got != 0 {
				b.Fatalf("%v outbox entries left", got)
			}
		})
	}
}
