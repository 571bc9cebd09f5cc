package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/watchfloor/watchfloor"
	bolt "go.etcd.io/bbolt"
)

func siteAlert(site string, id uint64, state watchfloor.AlertState, updated time.Time) watchfloor.Alert {
	a := watchfloor.Alert{ID: id, Rule: "r", Key: fmt.Sprintf("k%d", id), State: state, Title: site + " alert",
		Entity: watchfloor.Entity{Site: site, Device: "d"}, StartedAt: updated.Add(-time.Minute),
		LastSeen: updated, UpdatedAt: updated}
	if state == watchfloor.AlertResolved {
		a.ResolvedAt = updated
	}
	return a
}

func alertIDs(as []watchfloor.Alert) []string {
	var out []string
	for _, a := range as {
		out = append(out, fmt.Sprintf("%s/%d", a.Entity.Site, a.ID))
	}
	return out
}

func TestSitesRoundTrip(t *testing.T) {
	s := openTest(t, "", DefaultConfig())
	marks := []UplinkMark{
		{Site: "north", Kind: "alert", Epoch: 7, Next: 11, Received: 12, Duplicates: 3, Gaps: 1,
			LastSeen: base.Add(time.Second)},
		{Site: "north", Kind: "metrics", Epoch: 1<<64 - 1, Next: 100, Seen: []uint64{102, 103, 104, 200, 1 << 40},
			Blind: 90, Received: 5},
		{Site: "south", Kind: "event", Epoch: 2, Next: 1},
	}
	health := []SiteHealth{{Site: "south", Time: base, Data: []byte(`{"ok":true}`)}, {Site: "north", Time: base.Add(time.Minute), Data: []byte(`{}`)}}
	mustWrite(t, s.Store, &Batch{
		SiteAlerts: []watchfloor.Alert{siteAlert("north", 1, watchfloor.AlertFiring, base)},
		SiteHealth: health,
		Marks:      marks,
	})
	gotMarks, err := s.UplinkMarks()
	if err != nil {
		t.Fatal(err)
	}
	for i := range marks {
		marks[i].LastSeen = marks[i].LastSeen.UTC()
	}
	if !reflect.DeepEqual(gotMarks, marks) {
		t.Errorf("marks:\n got %+v\nwant %+v", gotMarks, marks)
	}
	gotHealth, err := s.SiteHealth()
	if err != nil {
		t.Fatal(err)
	}
	if len(gotHealth) != 2 || gotHealth[0].Site != "north" || gotHealth[1].Site != "south" ||
		string(gotHealth[1].Data) != `{"ok":true}` || !gotHealth[1].Time.Equal(base) {
		t.Errorf("health: %+v", gotHealth)
	}
	a, ok, err := s.SiteAlert("north", 1)
	if err != nil || !ok || a.Title != "north alert" || !a.UpdatedAt.Equal(base) {
		t.Errorf("SiteAlert: %+v %v %v", a, ok, err)
	}
	if _, ok, err := s.SiteAlert("south", 1); ok || err != nil {
		t.Errorf("SiteAlert of another site: %v %v", ok, err)
	}
	idx, err := s.SiteIndexes()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(idx, map[string]uint32{"north": 1, "south": 2}) {
		t.Errorf("site indexes %v", idx)
	}

	// A later health record and mark replace the earlier.
	mustWrite(t, s.Store, &Batch{
		SiteHealth: []SiteHealth{{Site: "south", Time: base.Add(time.Hour), Data: []byte(`{"v":2}`)}},
		Marks:      []UplinkMark{{Site: "south", Kind: "event", Epoch: 2, Next: 5, Received: 4}},
	})
	gotHealth, _ = s.SiteHealth()
	gotMarks, _ = s.UplinkMarks()
	if len(gotHealth) != 2 || string(gotHealth[1].Data) != `{"v":2}` || len(gotMarks) != 3 || gotMarks[2].Next != 5 {
		t.Errorf("after update: %+v %+v", gotHealth, gotMarks)
	}
	checkConsistent(t, s.Store)
}

// TestSitesAtomic: a batch with one invalid site record writes nothing, the records of
// other kinds in it included.
func TestSitesAtomic(t *testing.T) {
	s := openTest(t, "", DefaultConfig())
	good := UplinkMark{Site: "north", Kind: "event", Epoch: 1, Next: 3}
	for _, tc := range []struct {
		name string
		b    Batch
	}{
		{"seen not above next", Batch{Marks: []UplinkMark{good, {Site: "north", Kind: "alert", Epoch: 1, Next: 5, Seen: []uint64{5}}}}},
		{"seen not ascending", Batch{Marks: []UplinkMark{good, {Site: "north", Kind: "alert", Next: 1, Seen: []uint64{3, 2}}}}},
		{"seen too long", Batch{Marks: []UplinkMark{good, {Site: "north", Kind: "alert", Next: 1, Seen: make([]uint64, MaxMarkSeen+1)}}}},
		{"mark site", Batch{Marks: []UplinkMark{good, {Site: "North", Kind: "alert"}}}},
		{"mark site empty", Batch{Marks: []UplinkMark{good, {Kind: "alert"}}}},
		{"mark kind empty", Batch{Marks: []UplinkMark{good, {Site: "north"}}}},
		{"mark kind long", Batch{Marks: []UplinkMark{good, {Site: "north", Kind: string(make([]byte, 33))}}}},
		{"alert ID 0", Batch{Marks: []UplinkMark{good}, SiteAlerts: []watchfloor.Alert{siteAlert("north", 0, watchfloor.AlertFiring, base)}}},
		{"alert state", Batch{Marks: []UplinkMark{good}, SiteAlerts: []watchfloor.Alert{siteAlert("north", 1, 0, base)}}},
		{"alert site", Batch{Marks: []UplinkMark{good}, SiteAlerts: []watchfloor.Alert{siteAlert("no.rth", 1, watchfloor.AlertFiring, base)}}},
		{"health site", Batch{Marks: []UplinkMark{good}, SiteHealth: []SiteHealth{{Site: string(make([]byte, 64))}}}},
		{"health too big", Batch{Marks: []UplinkMark{good}, SiteHealth: []SiteHealth{{Site: "north", Data: make([]byte, MaxSiteHealth+1)}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.b
			b.Events = []watchfloor.Event{{Time: base, Source: "x", Message: "with the invalid record"}}
			b.SiteAlerts = append([]watchfloor.Alert{siteAlert("south", 9, watchfloor.AlertFiring, base)}, b.SiteAlerts...)
			err := s.Write(context.Background(), &b)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err %v, want ErrInvalid", err)
			}
			marks, _ := s.UplinkMarks()
			alerts, _ := s.SiteAlerts(SiteAlertQuery{})
			idx, _ := s.SiteIndexes()
			evs, _ := s.Events(watchfloor.EventQuery{})
			if len(marks)+len(alerts)+len(idx)+len(evs) != 0 {
				t.Errorf("written: %v %v %v %v", marks, alerts, idx, evs)
			}
		})
	}
}

func TestSiteAlertUpsert(t *testing.T) {
	s := openTest(t, "", DefaultConfig())
	at := func(m int) time.Time { return base.Add(time.Duration(m) * time.Minute) }
	mustWrite(t, s.Store, &Batch{SiteAlerts: []watchfloor.Alert{
		siteAlert("north", 1, watchfloor.AlertFiring, at(0)),
		siteAlert("south", 1, watchfloor.AlertFiring, at(1)), // the same ID at another site
		siteAlert("north", 2, watchfloor.AlertAcknowledged, at(2)),
	}})
	query := func(q SiteAlertQuery) []string {
		t.Helper()
		as, err := s.SiteAlerts(q)
		if err != nil {
			t.Fatal(err)
		}
		return alertIDs(as)
	}
	for _, tc := range []struct {
		q    SiteAlertQuery
		want []string
	}{
		{SiteAlertQuery{}, []string{"north/2", "south/1", "north/1"}},
		{SiteAlertQuery{OpenOnly: true}, []string{"north/2", "south/1", "north/1"}},
		{SiteAlertQuery{Site: "north"}, []string{"north/2", "north/1"}},
		{SiteAlertQuery{Site: "east"}, nil},
		{SiteAlertQuery{Since: at(1)}, []string{"north/2", "south/1"}},
		{SiteAlertQuery{Limit: 1}, []string{"north/2"}},
	} {
		if got := query(tc.q); !slices.Equal(got, tc.want) {
			t.Errorf("before the update, %+v: %v, want %v", tc.q, got, tc.want)
		}
	}

	// north/1 changes twice, the second time resolved: one entry, newest, not open.
	mustWrite(t, s.Store, &Batch{SiteAlerts: []watchfloor.Alert{siteAlert("north", 1, watchfloor.AlertAcknowledged, at(3))}})
	mustWrite(t, s.Store, &Batch{SiteAlerts: []watchfloor.Alert{siteAlert("north", 1, watchfloor.AlertResolved, at(4))}})
	for _, tc := range []struct {
		q    SiteAlertQuery
		want []string
	}{
		{SiteAlertQuery{}, []string{"north/1", "north/2", "south/1"}},
		{SiteAlertQuery{OpenOnly: true}, []string{"north/2", "south/1"}},
		{SiteAlertQuery{OpenOnly: true, Site: "north"}, []string{"north/2"}},
		{SiteAlertQuery{OpenOnly: true, Since: at(2)}, []string{"north/2"}},
		{SiteAlertQuery{Since: at(4)}, []string{"north/1"}},
	} {
		if got := query(tc.q); !slices.Equal(got, tc.want) {
			t.Errorf("after the update, %+v: %v, want %v", tc.q, got, tc.want)
		}
	}
	a, ok, err := s.SiteAlert("north", 1)
	if err != nil || !ok || a.State != watchfloor.AlertResolved {
		t.Errorf("north/1: %+v %v %v", a, ok, err)
	}
	// The time index holds one entry per alert.
	err = s.view(func(tx *bolt.Tx) error {
		if n := tx.Bucket(bSiteAlertsUpdated).Stats().KeyN; n != 3 {
			t.Errorf("%d index entries, want 3", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, s.Store)
}

func TestSiteAlertRetention(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Retention.Alerts = 24 * time.Hour
	s := openTest(t, "", cfg)
	s.chunk = 2 // several transactions
	old := base.Add(-48 * time.Hour)
	mustWrite(t, s.Store, &Batch{SiteAlerts: []watchfloor.Alert{
		siteAlert("north", 1, watchfloor.AlertResolved, old),
		siteAlert("north", 2, watchfloor.AlertFiring, old), // open: kept however old
		siteAlert("south", 3, watchfloor.AlertResolved, old.Add(time.Hour)),
		siteAlert("south", 4, watchfloor.AlertResolved, old.Add(2*time.Hour)),
		siteAlert("south", 5, watchfloor.AlertResolved, base.Add(-time.Hour)), // recent
		siteAlert("east", 6, watchfloor.AlertAcknowledged, old),
	}})
	deleted, err := s.enforceRetention(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if deleted["alert"] != 3 {
		t.Errorf("deleted %d alerts, want 3", deleted["alert"])
	}
	if got := metric(t, s.reg, "watchfloor_store_retention_deleted_total", "kind", "alert"); got != 3 {
		t.Errorf("metric %v, want 3", got)
	}
	as, err := s.SiteAlerts(SiteAlertQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := alertIDs(as), []string{"south/5", "east/6", "north/2"}; !slices.Equal(got, want) {
		t.Errorf("left %v, want %v", got, want)
	}
	// A resolved open one changes later and ages out in its turn; nothing else goes.
	mustWrite(t, s.Store, &Batch{SiteAlerts: []watchfloor.Alert{siteAlert("north", 2, watchfloor.AlertResolved, base.Add(-30*time.Hour))}})
	if deleted, _ := s.enforceRetention(context.Background()); deleted["alert"] != 1 {
		t.Errorf("second round deleted %d, want 1", deleted["alert"])
	}
	checkConsistent(t, s.Store)
}

func TestSiteIndexesStable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	s := openTest(t, path, DefaultConfig())
	mustWrite(t, s.Store, &Batch{Marks: []UplinkMark{{Site: "b", Kind: "alert", Next: 1}}})
	mustWrite(t, s.Store, &Batch{SiteHealth: []SiteHealth{{Site: "a", Time: base}}})
	mustWrite(t, s.Store, &Batch{SiteAlerts: []watchfloor.Alert{siteAlert("c", 1, watchfloor.AlertFiring, base), siteAlert("a", 2, watchfloor.AlertFiring, base)}})
	want := map[string]uint32{"b": 1, "a": 2, "c": 3}
	if got, _ := s.SiteIndexes(); !reflect.DeepEqual(got, want) {
		t.Fatalf("indexes %v, want %v", got, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, path, DefaultConfig())
	mustWrite(t, s.Store, &Batch{Marks: []UplinkMark{{Site: "a", Kind: "event", Next: 1}, {Site: "d", Kind: "event", Next: 1}}})
	want["d"] = 4
	if got, _ := s.SiteIndexes(); !reflect.DeepEqual(got, want) {
		t.Fatalf("after reopening, indexes %v, want %v", got, want)
	}
}

func TestMarkCodec(t *testing.T) {
	long := make([]uint64, MaxMarkSeen)
	for i := range long {
		long[i] = uint64(10 + 2*i) // no two consecutive: the most runs
	}
	for _, m := range []UplinkMark{
		{Site: "a", Kind: "k"},
		{Site: "a", Kind: "k", Next: 1<<64 - 3, Seen: []uint64{1<<64 - 1}},
		{Site: "a", Kind: "k", Next: 3, Seen: long},
		{Site: "a", Kind: "k", Next: 3, Seen: []uint64{4, 5, 6, 8, 9, 1 << 50, 1<<50 + 1}, LastSeen: base},
	} {
		if msg := markProblem(&m); msg != "" {
			t.Fatal(msg)
		}
		v := encodeMark(&m)
		got, err := decodeMark(markKey(m.Site, m.Kind), v)
		if err != nil {
			t.Fatal(err)
		}
		m.LastSeen = m.LastSeen.UTC()
		if !reflect.DeepEqual(got, m) {
			t.Errorf("round trip of a mark with %d seen (%d bytes): got %d seen", len(m.Seen), len(v), len(got.Seen))
		}
	}
	contiguous := UplinkMark{Site: "a", Kind: "k", Next: 1}
	for i := range 65536 {
		contiguous.Seen = append(contiguous.Seen, uint64(3+i))
	}
	if n := len(encodeMark(&contiguous)); n > markHeader+8 {
		t.Errorf("a run of 65536 sequences takes %d bytes", n)
	}
}

// FuzzDecodeMark: marks are read from disk; a damaged one must fail, never panic or
// allocate without bound, and anything decoded must be a valid mark that encodes back.
func FuzzDecodeMark(f *testing.F) {
	f.Add([]byte("north\x00alert"), encodeMark(&UplinkMark{Next: 3, Seen: []uint64{5, 6, 9}, LastSeen: base}))
	f.Add([]byte("north"), []byte{1})
	f.Add([]byte("a\x00b"), append(make([]byte, markHeader), 0xff, 0xff, 0xff, 0xff, 0x0f))
	f.Fuzz(func(t *testing.T, k, v []byte) {
		m, err := decodeMark(k, v)
		if err != nil {
			return
		}
		if len(m.Seen) > MaxMarkSeen {
			t.Fatalf("%d seen", len(m.Seen))
		}
		for i, s := range m.Seen {
			if s <= m.Next || i > 0 && s <= m.Seen[i-1] {
				t.Fatalf("seen %v not ascending above %d", m.Seen, m.Next)
			}
		}
		again, err := decodeMark(k, encodeMark(&m))
		if err != nil || !reflect.DeepEqual(again, m) {
			t.Fatalf("re-encoded: %+v %v, want %+v", again, err, m)
		}
	})
}

// FuzzDecodeSiteRecords: the site alert and health decoders on damaged values.
func FuzzDecodeSiteRecords(f *testing.F) {
	f.Add([]byte("\x00\x00\x00\x00\x00\x00\x00\x01{\"id\":1,\"state\":\"firing\"}"))
	f.Add([]byte("\xff\xff\xff\xff\xff\xff\xff\xff"))
	f.Add([]byte("short"))
	f.Fuzz(func(t *testing.T, v []byte) {
		_, _, _ = decodeSiteAlert([]byte("k"), v)
		if h, err := decodeSiteHealth([]byte("north"), v); err == nil && len(h.Data) > MaxSiteHealth {
			t.Fatalf("%d bytes of health", len(h.Data))
		}
	})
}
