package store

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/watchfloor/watchfloor"
	bolt "go.etcd.io/bbolt"
)

func TestDevicesRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s := openTest(t, path, DefaultConfig())
	cpu := 12.5
	devs := []watchfloor.Device{
		{Name: "sw-b", Address: "10.0.0.2:161", Site: "north", Status: watchfloor.DeviceDown,
			LastChange: base, PollError: "timeout"},
		{Name: "core-a", Address: "10.0.0.1:161", Site: "north", Role: "core", Status: watchfloor.DeviceUp,
			SysName: "core-a.north", UptimeS: 3600, CPUPercent: &cpu, LastPoll: base, LastChange: base.Add(-time.Hour),
			Interfaces: []watchfloor.Interface{{Index: 1, Name: "xe-0/0/0", SpeedBps: 10e9,
				AdminStatus: watchfloor.IfUp, OperStatus: watchfloor.IfUp, HC: true, InBps: 1e6, Utilization: 0.01}},
			Neighbors: []watchfloor.Neighbor{{LocalIfIndex: 1, LocalPort: "xe-0/0/0", RemoteSysName: "sw-b", RemotePort: "ge-1"}}},
	}
	mustWrite(t, s.Store, &Batch{Devices: devs})
	// A later state of core-a replaces the first.
	up := devs[1]
	up.UptimeS = 3630
	mustWrite(t, s.Store, &Batch{Devices: []watchfloor.Device{up}})

	want := []watchfloor.Device{up, devs[0]} // sorted by name
	got, err := s.Devices()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Devices() =\n%+v\nwant\n%+v", got, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, path, DefaultConfig())
	if got, _ := s.Devices(); !reflect.DeepEqual(got, want) {
		t.Fatalf("after reopen Devices() =\n%+v\nwant\n%+v", got, want)
	}
	if n := metric(t, s.reg, "watchfloor_store_records_total", "kind", "device"); n != 0 {
		t.Errorf("records_total{device} of a fresh process = %v", n)
	}
}

func event(tm time.Time, dev, msg string) watchfloor.Event {
	return watchfloor.Event{Time: tm, Kind: watchfloor.EventInterfaceDown, Severity: watchfloor.SeverityHigh,
		Site: "north", Device: dev, Interface: "ge-0/0/1", IfIndex: 2, Source: "snmp.poll", Message: msg}
}

func TestEventsRoundTripAndIDs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s := openTest(t, path, DefaultConfig())
	b := &Batch{Events: []watchfloor.Event{
		event(base, "a", "one"),
		{Time: base.Add(time.Second), Kind: watchfloor.EventTrap, Source: "snmp.trap", Message: "two",
			Attrs: []watchfloor.Attr{{Key: "1.3.6.1.6.3.1.1.4.1.0", Value: "1.3.6.1.4.1.9.9.41.2.0.1"}, {Key: "k", Value: ""}}},
		{Kind: watchfloor.EventDeviceRebooted, Message: "zero time gets the store's clock"},
	}}
	mustWrite(t, s.Store, b)
	for i, ev := range b.Events {
		if ev.ID != uint64(i+1) {
			t.Errorf("event %d got ID %d, want %d", i, ev.ID, i+1)
		}
	}
	if !b.Events[2].Time.Equal(base) {
		t.Errorf("zero time became %v, want the store's now %v", b.Events[2].Time, base)
	}
	got, err := s.Events(watchfloor.EventQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, b.Events) {
		t.Fatalf("Events() =\n%+v\nwant\n%+v", got, b.Events)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// IDs go on from where they were after a restart.
	s = openTest(t, path, DefaultConfig())
	b2 := &Batch{Events: []watchfloor.Event{event(base.Add(time.Minute), "a", "four")}}
	mustWrite(t, s.Store, b2)
	if b2.Events[0].ID != 4 {
		t.Fatalf("first ID after reopen = %d, want 4", b2.Events[0].ID)
	}
	got, _ = s.Events(watchfloor.EventQuery{AfterID: 3})
	if len(got) != 1 || got[0].Message != "four" {
		t.Fatalf("AfterID 3 = %+v", got)
	}
}

func TestEventQueries(t *testing.T) {
	s := openTest(t, "", DefaultConfig())
	// 100 events a minute apart over devices a, b, c; then two out of order by less than
	// sinceSlack, as when a trap is stamped before a poll result committed ahead of it.
	var b Batch
	for i := range 100 {
		b.Events = append(b.Events, event(base.Add(time.Duration(i)*time.Minute), string(rune('a'+i%3)), ""))
	}
	b.Events = append(b.Events,
		event(base.Add(99*time.Minute+30*time.Second), "a", "late by 30s"),
		event(base.Add(90*time.Minute+30*time.Second), "b", "late by 9m"),
	)
	mustWrite(t, s.Store, &b)

	ids := func(evs []watchfloor.Event) []uint64 {
		out := []uint64{}
		for _, e := range evs {
			out = append(out, e.ID)
		}
		return out
	}
	seq := func(from, to uint64) []uint64 {
		out := []uint64{}
		for i := from; i <= to; i++ {
			out = append(out, i)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		q    watchfloor.EventQuery
		want []uint64
	}{
		{"default limit from the oldest", watchfloor.EventQuery{Limit: 0}, seq(1, 102)},
		{"limit", watchfloor.EventQuery{Limit: 3}, seq(1, 3)},
		{"after ID", watchfloor.EventQuery{AfterID: 97, Limit: 2}, seq(98, 99)},
		{"after the last", watchfloor.EventQuery{AfterID: 102}, seq(1, 0)},
		{"after max", watchfloor.EventQuery{AfterID: math.MaxUint64}, seq(1, 0)},
		{"since", watchfloor.EventQuery{Since: base.Add(95 * time.Minute)}, seq(96, 101)},
		{"since finds an event late by less than the slack", watchfloor.EventQuery{Since: base.Add(90 * time.Minute)}, append(seq(91, 100), 101, 102)},
		{"since, between events", watchfloor.EventQuery{Since: base.Add(98*time.Minute + time.Second)}, seq(100, 101)},
		{"since before all", watchfloor.EventQuery{Since: base.Add(-time.Hour), Limit: 2}, seq(1, 2)},
		{"since after all", watchfloor.EventQuery{Since: base.Add(time.Hour * 3)}, seq(1, 0)},
		{"device", watchfloor.EventQuery{Device: "c", AfterID: 90}, []uint64{93, 96, 99}},
		{"device and since", watchfloor.EventQuery{Device: "b", Since: base.Add(90 * time.Minute)}, []uint64{92, 95, 98, 102}},
		{"unknown device", watchfloor.EventQuery{Device: "zz"}, seq(1, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Events(tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(ids(got), tc.want) {
				t.Fatalf("IDs = %v, want %v", ids(got), tc.want)
			}
		})
	}
	got, err := s.Recent(3)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ids(got), seq(100, 102)) {
		t.Fatalf("Recent(3) = %v", ids(got))
	}
}

func TestEventLimitBounds(t *testing.T) {
	s := openTest(t, "", DefaultConfig())
	b := &Batch{Events: make([]watchfloor.Event, MaxEventLimit+5)}
	for i := range b.Events {
		b.Events[i] = event(base.Add(time.Duration(i)*time.Second), "a", "")
	}
	mustWrite(t, s.Store, b)
	for _, tc := range []struct{ limit, want int }{{0, DefaultEventLimit}, {-1, DefaultEventLimit}, {7, 7}, {MaxEventLimit + 1, MaxEventLimit}} {
		got, err := s.Events(watchfloor.EventQuery{Limit: tc.limit})
		if err != nil || len(got) != tc.want {
			t.Errorf("Limit %d: %d events (%v), want %d", tc.limit, len(got), err, tc.want)
		}
		got, err = s.Recent(tc.limit)
		if err != nil || len(got) != tc.want || got[len(got)-1].ID != uint64(len(b.Events)) {
			t.Errorf("Recent(%d): %d events (%v), want the last %d", tc.limit, len(got), err, tc.want)
		}
	}
}

// writeSeries writes value i at base + 30s·i for i in [0, n) on one series.
func writeSeries(t *testing.T, s *Store, dev string, ifIndex int32, metric string, n int) {
	b := &Batch{}
	for i := range n {
		b.Samples = append(b.Samples, sample(dev, ifIndex, metric, base.Add(time.Duration(i)*30*time.Second), float64(i)))
	}
	mustWrite(t, s, b)
}

func TestSeriesSteps(t *testing.T) {
	s := openTest(t, "", DefaultConfig())
	writeSeries(t, s.Store, "r1", 3, watchfloor.MetricInBps, 240) // 2 hours
	writeSeries(t, s.Store, "r1", 4, watchfloor.MetricInBps, 10)  // another interface
	writeSeries(t, s.Store, "r1", 0, watchfloor.MetricCPUPercent, 10)
	s.clock.Set(base.Add(2 * time.Hour))

	pt := func(t time.Time, v, lo, hi float64) watchfloor.Point {
		return watchfloor.Point{Time: t, Value: v, Min: lo, Max: hi}
	}
	q := watchfloor.SeriesQuery{Device: "r1", IfIndex: 3, Metric: watchfloor.MetricInBps}

	// Raw, with both ends inclusive and From between whole seconds.
	q.From, q.To, q.Step = base.Add(60*time.Second-time.Millisecond), base.Add(150*time.Second), watchfloor.StepRaw
	got, err := s.Series(q)
	if err != nil {
		t.Fatal(err)
	}
	want := []watchfloor.Point{
		pt(base.Add(60*time.Second), 2, 2, 2), pt(base.Add(90*time.Second), 3, 3, 3),
		pt(base.Add(120*time.Second), 4, 4, 4), pt(base.Add(150*time.Second), 5, 5, 5),
	}
	if got.Step != watchfloor.StepRaw || !reflect.DeepEqual(got.Points, want) {
		t.Fatalf("raw = %s %+v, want %+v", got.Step, got.Points, want)
	}

	// 5m: each step holds the 10 values 10k … 10k+9; the step containing From is included.
	q.From, q.To, q.Step = base.Add(7*time.Minute), base.Add(15*time.Minute), watchfloor.Step5m
	got, err = s.Series(q)
	if err != nil {
		t.Fatal(err)
	}
	want = []watchfloor.Point{
		pt(base.Add(5*time.Minute), 14.5, 10, 19), pt(base.Add(10*time.Minute), 24.5, 20, 29),
		pt(base.Add(15*time.Minute), 34.5, 30, 39),
	}
	if !reflect.DeepEqual(got.Points, want) {
		t.Fatalf("5m = %+v, want %+v", got.Points, want)
	}

	// 1h: 120 values each.
	q.From, q.To, q.Step = base, base.Add(3*time.Hour), watchfloor.Step1h
	got, err = s.Series(q)
	if err != nil {
		t.Fatal(err)
	}
	want = []watchfloor.Point{pt(base, 59.5, 0, 119), pt(base.Add(time.Hour), 179.5, 120, 239)}
	if !reflect.DeepEqual(got.Points, want) {
		t.Fatalf("1h = %+v, want %+v", got.Points, want)
	}

	// Other series are separate.
	got, _ = s.Series(watchfloor.SeriesQuery{Device: "r1", Metric: watchfloor.MetricCPUPercent, From: base, To: base.Add(time.Hour), Step: watchfloor.Step1h})
	if !reflect.DeepEqual(got.Points, []watchfloor.Point{pt(base, 4.5, 0, 9)}) {
		t.Fatalf("cpu 1h = %+v", got.Points)
	}
	got, _ = s.Series(watchfloor.SeriesQuery{Device: "nope", Metric: "x", From: base, To: base.Add(time.Hour)})
	if got.Points == nil || len(got.Points) != 0 {
		t.Fatalf("unknown series = %#v, want an empty non-nil slice", got.Points)
	}
}

func TestSeriesAutoStep(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Retention.Raw = 3 * time.Hour
	s := openTest(t, "", cfg)
	now := base.Add(100 * 24 * time.Hour)
	s.clock.Set(now)
	for _, tc := range []struct {
		name     string
		from, to time.Time
		want     string
	}{
		{"last hour", now.Add(-time.Hour), now, watchfloor.StepRaw},
		{"zero range is the last hour", time.Time{}, time.Time{}, watchfloor.StepRaw},
		{"6 hours beyond raw retention", now.Add(-6 * time.Hour), now, watchfloor.Step5m},
		{"2 hours, a week ago", now.Add(-7 * 24 * time.Hour), now.Add(-7*24*time.Hour + 2*time.Hour), watchfloor.Step5m},
		{"7 hours", now.Add(-7 * time.Hour), now, watchfloor.Step5m},
		{"14 days", now.Add(-14 * 24 * time.Hour), now, watchfloor.Step5m},
		{"15 days", now.Add(-15 * 24 * time.Hour), now, watchfloor.Step1h},
		{"2 days, 40 days ago", now.Add(-40 * 24 * time.Hour), now.Add(-38 * 24 * time.Hour), watchfloor.Step1h},
	} {
		got, err := s.Series(watchfloor.SeriesQuery{Device: "d", Metric: "m", From: tc.from, To: tc.to})
		if err != nil {
			t.Fatal(err)
		}
		if got.Step != tc.want {
			t.Errorf("%s: step %q, want %q", tc.name, got.Step, tc.want)
		}
	}
	for _, q := range []watchfloor.SeriesQuery{
		{Metric: "m"},
		{Device: "d"},
		{Device: "d", Metric: "m", From: now, To: now.Add(-time.Second)},
		{Device: "d", Metric: "m", Step: "1m"},
	} {
		if _, err := s.Series(q); !errors.Is(err, ErrInvalid) {
			t.Errorf("Series(%+v) = %v, want ErrInvalid", q, err)
		}
	}
}

func TestRewrittenSample(t *testing.T) {
	s := openTest(t, "", DefaultConfig())
	b := &Batch{Samples: []watchfloor.Sample{sample("d", 1, "m", base, 10), sample("d", 1, "m", base.Add(time.Minute), 20)}}
	mustWrite(t, s.Store, b)
	mustWrite(t, s.Store, b) // a replay changes nothing
	checkConsistent(t, s.Store)
	q := watchfloor.SeriesQuery{Device: "d", IfIndex: 1, Metric: "m", From: base, To: base.Add(time.Hour), Step: watchfloor.Step5m}
	got, _ := s.Series(q)
	if want := []watchfloor.Point{{Time: base, Value: 15, Min: 10, Max: 20}}; !reflect.DeepEqual(got.Points, want) {
		t.Fatalf("after a replay 5m = %+v, want %+v", got.Points, want)
	}
	// A corrected value replaces the raw point and the rollup's sum.
	mustWrite(t, s.Store, &Batch{Samples: []watchfloor.Sample{sample("d", 1, "m", base.Add(time.Minute), 40)}})
	checkConsistent(t, s.Store)
	got, _ = s.Series(q)
	if want := []watchfloor.Point{{Time: base, Value: 25, Min: 10, Max: 40}}; !reflect.DeepEqual(got.Points, want) {
		t.Fatalf("after a correction 5m = %+v, want %+v", got.Points, want)
	}
}

func TestRetention(t *testing.T) {
	s := openTest(t, "", DefaultConfig()) // events 90d, raw 48h, 5m 35d, 1h 400d
	s.chunk = 97                          // many small transactions, resumed mid-series
	const days = 100
	var b Batch
	for d := 0; d <= days; d++ {
		b.Events = append(b.Events, event(base.Add(time.Duration(d)*24*time.Hour), "a", ""))
	}
	for h := 0; h <= days*24; h++ { // one sample an hour, on the hour
		b.Samples = append(b.Samples, sample("a", 1, "m", base.Add(time.Duration(h)*time.Hour), float64(h)))
	}
	for h := 0; h < 10; h++ { // a series that stopped long ago
		b.Samples = append(b.Samples, sample("gone", 1, "m", base.Add(time.Duration(h)*time.Hour), 1))
	}
	mustWrite(t, s.Store, &b)
	now := base.Add(days * 24 * time.Hour)
	s.clock.Set(now)

	deleted, err := s.enforceRetention(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{
		"event":    10,               // days 0…9 are older than 90 days
		"raw":      (days-2)*24 + 10, // hours before now-48h, and all of "gone"
		"5m":       (days-35)*24 + 10,
		"1h":       0,
		"flows_1m": 0, // TestFlowRetention
		"flows_1h": 0,
		"alert":    0, // TestAlertRetention

		"notification": 0, // TestNotifyRetention
		"incident":     0,
		"audit":        0, // TestAuditRetention
	}
	if !reflect.DeepEqual(deleted, want) {
		t.Fatalf("deleted %v, want %v", deleted, want)
	}
	for kind, n := range want {
		if got := metric(t, s.reg, "watchfloor_store_retention_deleted_total", "kind", kind); got != float64(n) {
			t.Errorf("retention_deleted_total{%s} = %v, want %d", kind, got, n)
		}
	}
	evs, _ := s.Events(watchfloor.EventQuery{})
	if len(evs) != days+1-10 || !evs[0].Time.Equal(now.Add(-90*24*time.Hour)) {
		t.Fatalf("%d events left, first at %v", len(evs), evs[0].Time)
	}
	raw, _ := s.Series(watchfloor.SeriesQuery{Device: "a", IfIndex: 1, Metric: "m", From: base, To: now, Step: watchfloor.StepRaw})
	if len(raw.Points) != 49 || !raw.Points[0].Time.Equal(now.Add(-48*time.Hour)) {
		t.Fatalf("%d raw points left, first %+v", len(raw.Points), raw.Points[0])
	}
	r5, _ := s.Series(watchfloor.SeriesQuery{Device: "a", IfIndex: 1, Metric: "m", From: base, To: now, Step: watchfloor.Step5m})
	if len(r5.Points) != 35*24+1 || !r5.Points[0].Time.Equal(now.Add(-35*24*time.Hour)) {
		t.Fatalf("%d 5m points left, first %+v", len(r5.Points), r5.Points[0])
	}
	r1, _ := s.Series(watchfloor.SeriesQuery{Device: "a", IfIndex: 1, Metric: "m", From: base, To: now, Step: watchfloor.Step1h})
	if len(r1.Points) != days*24+1 {
		t.Fatalf("%d 1h points left", len(r1.Points))
	}
	_ = s.view(func(tx *bolt.Tx) error {
		name := seriesName(nil, "gone", 1, "m")
		// Its raw samples and 5m rollups are all gone, and so are their buckets; its 1h
		// rollups are still within retention.
		if tx.Bucket(bRaw).Bucket(name) != nil || tx.Bucket(b5m).Bucket(name) != nil || tx.Bucket(b1h).Bucket(name) == nil {
			t.Errorf("series of an old device: want raw and 5m buckets deleted, 1h kept")
		}
		return nil
	})

	// A second pass finds nothing more.
	deleted, err = s.enforceRetention(context.Background())
	if err != nil || deleted["event"]+deleted["raw"]+deleted["5m"]+deleted["1h"] != 0 {
		t.Fatalf("second pass deleted %v (%v)", deleted, err)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}

func TestRunStopsWithContext(t *testing.T) {
	s := openTest(t, "", DefaultConfig())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// And once the store is closed, even with ctx alive.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	_ = s.Close()
	if err := s.Run(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()

	t.Run("garbage", func(t *testing.T) {
		path := filepath.Join(dir, "garbage.db")
		junk := make([]byte, 64<<10)
		r := rand.NewChaCha8([32]byte{1})
		_, _ = r.Read(junk)
		if err := os.WriteFile(path, junk, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Open(path, DefaultConfig(), nil, nil)
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) {
			t.Fatalf("Open(garbage) = %v, want ErrCorrupt naming the path", err)
		}
	})
	t.Run("short text file", func(t *testing.T) {
		path := filepath.Join(dir, "text.db")
		if err := os.WriteFile(path, []byte("retention: 48h\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Open(path, DefaultConfig(), nil, nil)
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) {
			t.Fatalf("Open(text) = %v, want ErrCorrupt naming the path", err)
		}
	})
	t.Run("meta pages overwritten", func(t *testing.T) {
		path := filepath.Join(dir, "damaged.db")
		s, err := Open(path, DefaultConfig(), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		mustWrite(t, s, &Batch{Events: []watchfloor.Event{event(base, "a", "x")}})
		_ = s.Close()
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = f.WriteAt(make([]byte, 2*os.Getpagesize()), 0)
		_ = f.Close()
		if _, err := Open(path, DefaultConfig(), nil, nil); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Open(damaged) = %v, want ErrCorrupt", err)
		}
	})
	t.Run("newer schema", func(t *testing.T) {
		path := filepath.Join(dir, "newer.db")
		s, err := Open(path, DefaultConfig(), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		_ = s.Close()
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		_ = db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bMeta).Put(kSchema, u64(schemaVersion+1)) })
		_ = db.Close()
		_, err = Open(path, DefaultConfig(), nil, nil)
		if !errors.Is(err, ErrSchema) || !strings.Contains(err.Error(), "schema version 2") || !strings.Contains(err.Error(), path) {
			t.Fatalf("Open(newer) = %v, want ErrSchema naming version and path", err)
		}
	})
	t.Run("another bbolt file", func(t *testing.T) {
		path := filepath.Join(dir, "other.db")
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		_ = db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("alerts")); return err })
		_ = db.Close()
		if _, err := Open(path, DefaultConfig(), nil, nil); !errors.Is(err, ErrSchema) {
			t.Fatalf("Open(foreign) = %v, want ErrSchema", err)
		}
	})
	t.Run("in use", func(t *testing.T) {
		path := filepath.Join(dir, "busy.db")
		s, err := Open(path, DefaultConfig(), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		_, err = Open(path, DefaultConfig(), nil, nil)
		if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), path) {
			t.Fatalf("second Open = %v, want ErrLocked naming the path", err)
		}
		if _, err := BackupFile(path, new(strings.Builder)); !errors.Is(err, ErrLocked) {
			t.Fatalf("BackupFile of an open store = %v, want ErrLocked", err)
		}
	})
	t.Run("invalid config", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.MaxBatch = 0
		_, err := Open(filepath.Join(dir, "cfg.db"), cfg, nil, nil)
		if err == nil || !strings.Contains(err.Error(), "max_batch") {
			t.Fatalf("Open with max_batch 0 = %v", err)
		}
	})
}

func TestClosedAndInvalid(t *testing.T) {
	s := openTest(t, "", DefaultConfig())
	for _, b := range []*Batch{
		{Samples: []watchfloor.Sample{sample("d", 1, "m", base, math.NaN())}},
		{Samples: []watchfloor.Sample{sample("d", 1, "m", time.Time{}, 1)}},
		{Samples: []watchfloor.Sample{sample("", 1, "m", base, 1)}},
		{Samples: []watchfloor.Sample{sample("d\x00x", 1, "m", base, 1)}},
		{Devices: []watchfloor.Device{{}}},
		{Events: []watchfloor.Event{event(base, "a", "fine")}, Samples: []watchfloor.Sample{sample("d", 1, "", base, 1)}},
	} {
		if err := s.Write(context.Background(), b); !errors.Is(err, ErrInvalid) {
			t.Errorf("Write(%+v) = %v, want ErrInvalid", b, err)
		}
	}
	if evs, _ := s.Events(watchfloor.EventQuery{}); len(evs) != 0 {
		t.Fatalf("a rejected batch left %d events", len(evs))
	}
	if err := s.Write(context.Background(), &Batch{}); err != nil {
		t.Fatalf("empty batch: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	err := s.Write(context.Background(), &Batch{Events: []watchfloor.Event{event(base, "a", "late")}})
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after Close = %v, want ErrClosed", err)
	}
	if _, err := s.Events(watchfloor.EventQuery{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Events after Close = %v, want ErrClosed", err)
	}
	if _, err := s.Backup(new(strings.Builder)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Backup after Close = %v, want ErrClosed", err)
	}
}

func TestWriteHonoursContextWhileQueueIsFull(t *testing.T) {
	cfg := DefaultConfig()
	cfg.CommitInterval = 0
	cfg.MaxBatch = 10 // the stalled committer holds at most 11 writes, the queue queueLen
	s := openTest(t, "", cfg)
	// Hold bbolt's writer lock so that the committer stalls and the queue fills.
	tx, err := s.db.Begin(true)
	if err != nil {
		t.Fatal(err)
	}
	const writers = queueLen + 100
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, writers)
	for range writers {
		go func() {
			errs <- s.Write(ctx, &Batch{Events: []watchfloor.Event{event(base, "a", "")}})
		}()
	}
	for s.pending.Load() < writers || len(s.queue) < queueLen {
		time.Sleep(time.Millisecond) // waiting for a state, not for time to pass
	}
	// Writers beyond the queue and the committer's stalled group are blocked: cancelling
	// frees them with the context's error. The queued ones commit once the lock is free.
	cancel()
	_ = tx.Rollback()
	committed, canceled := 0, 0
	for range writers {
		switch err := <-errs; {
		case err == nil:
			committed++
		case errors.Is(err, context.Canceled):
			canceled++
		default:
			t.Fatalf("Write = %v", err)
		}
	}
	if canceled == 0 || committed < queueLen {
		t.Fatalf("%d writes committed, %d cancelled; want at least %d and some", committed, canceled, queueLen)
	}
	evs, _ := s.Events(watchfloor.EventQuery{Limit: MaxEventLimit})
	if len(evs) != committed {
		t.Fatalf("%d events in the store, %d writes reported committed", len(evs), committed)
	}
}

func TestMetrics(t *testing.T) {
	s := openTest(t, "", DefaultConfig())
	mustWrite(t, s.Store, &Batch{
		Devices: []watchfloor.Device{{Name: "a"}},
		Samples: []watchfloor.Sample{sample("a", 1, "m", base, 1), sample("a", 1, "n", base, 1)},
		Events:  []watchfloor.Event{event(base, "a", ""), event(base, "a", ""), event(base, "a", "")},
	})
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"watchfloor_store_records_total", []string{"kind", "device"}, 1},
		{"watchfloor_store_records_total", []string{"kind", "sample"}, 2},
		{"watchfloor_store_records_total", []string{"kind", "event"}, 3},
		{"watchfloor_store_commits_total", nil, 1},
		{"watchfloor_store_write_seconds", nil, 1},
		{"watchfloor_store_queue_depth", nil, 0},
		{"watchfloor_store_retention_deleted_total", []string{"kind", "raw"}, 0},
	} {
		if got := metric(t, s.reg, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if size := metric(t, s.reg, "watchfloor_store_size_bytes"); size < 4096 {
		t.Errorf("size_bytes = %v", size)
	}
	// Two stores on one registry: the second is refused, not a panic.
	if _, err := Open(filepath.Join(t.TempDir(), "b.db"), DefaultConfig(), nil, s.reg); err == nil {
		t.Fatal("second store on the same registry opened")
	}
}

func TestReadsDoNotBlockWrites(t *testing.T) {
	s := openTest(t, "", DefaultConfig())
	// A read transaction held open for the whole test, as a slow console query or a backup
	// would: commits go on, and the reader keeps its snapshot.
	tx, err := s.db.Begin(false)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	done := make(chan error)
	go func() {
		for k := range 200 {
			if err := s.Write(context.Background(), tagBatch(k%4, k)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("writes stalled behind an open read transaction")
	}
	if k, _ := tx.Bucket(bEvents).Cursor().First(); k != nil {
		t.Fatal("the reader's snapshot changed")
	}
	if evs, _ := s.Recent(0); len(evs) != 200 {
		t.Fatalf("%d events after 200 writes", len(evs))
	}
}
