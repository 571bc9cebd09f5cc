package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/watchfloor/watchfloor"
	bolt "go.etcd.io/bbolt"
)

func row(by watchfloor.FlowDim, dev, key string, b, p, f uint64) watchfloor.FlowRow {
	return watchfloor.FlowRow{By: by, Device: dev, Key: key, Bytes: b, Packets: p, Flows: f}
}

func minute(site string, m int, rows ...watchfloor.FlowRow) watchfloor.FlowRollup {
	r := watchfloor.FlowRollup{Site: site, Start: base.Add(time.Duration(m) * time.Minute), Step: time.Minute, Rows: rows}
	for _, x := range rows {
		if x.By == watchfloor.FlowBySrc {
			r.Totals.Bytes += x.Bytes
			r.Totals.Packets += x.Packets
			r.Totals.Flows += x.Flows
		}
	}
	return r
}

// stored reads back every rollup of step in [from, to) at site.
func stored(t *testing.T, s *Store, step time.Duration, from, to time.Time, site string) []watchfloor.FlowRollup {
	t.Helper()
	rs, err := s.FlowRollups(step, from, to, site)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// byDim orders rows the way the store returns them: by dimension, in FlowDims order, and
// within one in their order.
func byDim(rows []watchfloor.FlowRow) []watchfloor.FlowRow {
	out := slices.Clone(rows)
	slices.SortStableFunc(out, func(a, b watchfloor.FlowRow) int { return int(dimPart(a.By)) - int(dimPart(b.By)) })
	return out
}

var codecCases = []watchfloor.FlowRollup{
	{Site: "north", Start: base, Step: time.Minute},
	{Site: "", Start: base, Step: time.Hour,
		Rows: []watchfloor.FlowRow{
			row(watchfloor.FlowByPort, "core-1", "tcp/443", 1, 2, 3),
			row(watchfloor.FlowBySrc, "core-1", "192.0.2.1", math.MaxUint64, 1<<40, 0),
			row(watchfloor.FlowBySrc, "", "", 0, 0, 0),
			row(watchfloor.FlowByPair, "edge-ü", "2001:db8::1 → 2001:db8::2", 5, 6, 7),
			row(watchfloor.FlowByInterface, "core-1", "core-1/xe-0/0/1", 9, 9, 9),
		},
		Interfaces: []watchfloor.IfTraffic{
			{Device: "core-1", IfIndex: math.MaxUint32, Interface: "xe-0/0/1", SpeedBps: 10e9, InBytes: 1, OutBytes: 2,
				InPackets: 3, OutPackets: 4, In5m: []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, Out5m: []uint64{0, math.MaxUint64}},
			{Device: "edge-ü", IfIndex: 0},
		},
		Totals: watchfloor.FlowTotals{Bytes: 100, Packets: 10, Flows: 3, Overflow: math.MaxUint64}},
}

func TestFlowCodec(t *testing.T) {
	for i, r := range codecCases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			parts := encodeFlowParts(&r)
			got := watchfloor.FlowRollup{Site: r.Site, Start: r.Start, Step: r.Step}
			for j, p := range parts {
				if j > 0 && p.part <= parts[j-1].part {
					t.Fatalf("parts out of order: %d after %d", p.part, parts[j-1].part)
				}
				if err := decodeFlowRecord(p.rec, &got); err != nil {
					t.Fatal(err)
				}
				// Every truncation and a wrong version are errors, never panics.
				for n := range len(p.rec) {
					if err := decodeFlowRecord(p.rec[:n], &watchfloor.FlowRollup{}); !errors.Is(err, ErrCorrupt) {
						t.Fatalf("part %d truncated to %d bytes: %v", p.part, n, err)
					}
				}
				bad := slices.Clone(p.rec)
				bad[0] = 2
				if err := decodeFlowRecord(bad, &watchfloor.FlowRollup{}); !errors.Is(err, ErrCorrupt) {
					t.Fatalf("version 2 accepted: %v", err)
				}
			}
			want := r
			want.Rows = byDim(r.Rows)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("decoded\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

// FuzzDecodeRollup feeds the flow record decoder what a damaged file could hold: it must not
// panic, and what it accepts must decode the same once encoded again.
func FuzzDecodeRollup(f *testing.F) {
	for _, r := range codecCases {
		for _, p := range encodeFlowParts(&r) {
			f.Add(p.rec)
		}
	}
	var e flowEncoder
	f.Add(e.encode(nil, codecCases[1].Totals, codecCases[1].Rows, codecCases[1].Interfaces))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		var r watchfloor.FlowRollup
		if err := decodeFlowRecord(b, &r); err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		var e flowEncoder
		again := e.encode(nil, r.Totals, r.Rows, r.Interfaces)
		var back watchfloor.FlowRollup
		if err := decodeFlowRecord(again, &back); err != nil || !reflect.DeepEqual(back, r) {
			t.Fatalf("re-encoded record decodes to %+v, %v; want %+v", back, err, r)
		}
	})
}

func TestFlowWriteMerges(t *testing.T) {
	s := openTest(t, "", DefaultConfig())
	src := watchfloor.FlowBySrc
	first := minute("north", 0, row(src, "r1", "10.0.0.1", 100, 10, 1), row(src, "r1", "10.0.0.2", 50, 5, 1))
	first.Interfaces = []watchfloor.IfTraffic{{Device: "r1", IfIndex: 1, Interface: "ge-1", InBytes: 150, In5m: []uint64{150}}}
	second := minute("north", 0, row(src, "r1", "10.0.0.1", 1, 1, 1), row(src, "r2", "10.0.0.1", 7, 7, 7),
		row(watchfloor.FlowByPort, "r1", "tcp/22", 3, 3, 3))
	second.Interfaces = []watchfloor.IfTraffic{{Device: "r1", IfIndex: 1, SpeedBps: 1e9, InBytes: 1, In5m: []uint64{1, 2}},
		{Device: "r1", IfIndex: 2, OutBytes: 8}}
	other := minute("south", 0, row(src, "r9", "10.9.9.9", 1, 1, 1))
	mustWrite(t, s.Store, &Batch{FlowRollups: []watchfloor.FlowRollup{first, other}})
	keep := cloneRollup(&second)
	mustWrite(t, s.Store, &Batch{FlowRollups: []watchfloor.FlowRollup{second}})
	if !reflect.DeepEqual(second, keep) {
		t.Fatal("Write changed the caller's rollup")
	}
	want := watchfloor.FlowRollup{Site: "north", Start: base, Step: time.Minute,
		Rows: []watchfloor.FlowRow{row(src, "r1", "10.0.0.1", 101, 11, 2), row(src, "r1", "10.0.0.2", 50, 5, 1),
			row(src, "r2", "10.0.0.1", 7, 7, 7), row(watchfloor.FlowByPort, "r1", "tcp/22", 3, 3, 3)},
		Interfaces: []watchfloor.IfTraffic{{Device: "r1", IfIndex: 1, Interface: "ge-1", SpeedBps: 1e9, InBytes: 151, In5m: []uint64{151, 2}},
			{Device: "r1", IfIndex: 2, OutBytes: 8}},
		Totals: watchfloor.FlowTotals{Bytes: 158, Packets: 23, Flows: 10}}
	got := stored(t, s.Store, time.Minute, base, base.Add(time.Minute), "north")
	if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Fatalf("merged rollup\n%+v\nwant\n%+v", got, want)
	}
	// The same key twice in one batch merges too, and other sites are untouched.
	mustWrite(t, s.Store, &Batch{FlowRollups: []watchfloor.FlowRollup{other, other}})
	got = stored(t, s.Store, time.Minute, base, base.Add(time.Minute), "south")
	if len(got) != 1 || got[0].Rows[0].Bytes != 3 || got[0].Totals.Bytes != 3 {
		t.Fatalf("south after two more writes: %+v", got)
	}
	if n := metric(t, s.reg, "watchfloor_store_records_total", "kind", "flow_rollup"); n != 5 {
		t.Errorf("records_total{flow_rollup} = %v, want 5", n)
	}
	// An hourly rollup of the same start is another key.
	h := first
	h.Step = time.Hour
	mustWrite(t, s.Store, &Batch{FlowRollups: []watchfloor.FlowRollup{h}})
	if got := stored(t, s.Store, time.Hour, base, base.Add(time.Hour), ""); len(got) != 1 || got[0].Totals != first.Totals {
		t.Fatalf("hourly: %+v", got)
	}
}

func TestFlowMergeFunc(t *testing.T) {
	cfg := DefaultConfig()
	calls := 0
	cfg.MergeFlows = func(a, b watchfloor.FlowRollup) watchfloor.FlowRollup {
		calls++
		if a.Totals.Bytes != 10 || b.Totals.Bytes != 1 {
			t.Errorf("merge called with a=%+v b=%+v", a.Totals, b.Totals)
		}
		b.Rows[0].Key = "changed by merge" // must not reach the caller
		b.Site = "elsewhere"               // ignored: the key decides
		return b
	}
	s := openTest(t, "", cfg)
	a := minute("north", 3, row(watchfloor.FlowByDst, "r", "x", 10, 1, 1))
	a.Totals.Bytes = 10
	b := minute("north", 3, row(watchfloor.FlowByDst, "r", "y", 1, 1, 1))
	b.Totals.Bytes = 1
	mustWrite(t, s.Store, &Batch{FlowRollups: []watchfloor.FlowRollup{a}})
	mustWrite(t, s.Store, &Batch{FlowRollups: []watchfloor.FlowRollup{b}})
	if calls != 1 || b.Rows[0].Key != "y" {
		t.Fatalf("calls %d, caller's key %q", calls, b.Rows[0].Key)
	}
	got := stored(t, s.Store, time.Minute, base, base.Add(time.Hour), "")
	if len(got) != 1 || got[0].Site != "north" || got[0].Rows[0].Key != "changed by merge" || got[0].Totals.Bytes != 1 {
		t.Fatalf("stored %+v", got)
	}
	// A merge that returns an unstorable rollup fails the write.
	s.cfg.MergeFlows = func(a, b watchfloor.FlowRollup) watchfloor.FlowRollup {
		b.Rows = append(b.Rows, row("bogus", "r", "k", 1, 1, 1))
		return b
	}
	if err := s.Write(context.Background(), &Batch{FlowRollups: []watchfloor.FlowRollup{b}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad merge result: %v", err)
	}
}

func TestFlowWriteInvalid(t *testing.T) {
	s := openTest(t, "", DefaultConfig())
	ok := minute("n", 0, row(watchfloor.FlowBySrc, "r", "k", 1, 1, 1))
	for _, tc := range []struct {
		name   string
		change func(*watchfloor.FlowRollup)
	}{
		{"step", func(r *watchfloor.FlowRollup) { r.Step = 5 * time.Minute }},
		{"unaligned start", func(r *watchfloor.FlowRollup) { r.Start = r.Start.Add(time.Second) }},
		{"hour start not on the hour", func(r *watchfloor.FlowRollup) { r.Step = time.Hour; r.Start = r.Start.Add(time.Minute) }},
		{"nanoseconds", func(r *watchfloor.FlowRollup) { r.Start = r.Start.Add(1) }},
		{"zero start", func(r *watchfloor.FlowRollup) { r.Start = time.Time{} }},
		{"NUL in site", func(r *watchfloor.FlowRollup) { r.Site = "a\x00b" }},
		{"long site", func(r *watchfloor.FlowRollup) { r.Site = strings.Repeat("s", maxName+1) }},
		{"unknown dimension", func(r *watchfloor.FlowRollup) { r.Rows[0].By = "colour" }},
		{"long key", func(r *watchfloor.FlowRollup) { r.Rows[0].Key = strings.Repeat("k", maxName+1) }},
		{"13 slots", func(r *watchfloor.FlowRollup) {
			r.Interfaces = []watchfloor.IfTraffic{{Device: "r", IfIndex: 1, In5m: make([]uint64, 13)}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := cloneRollup(&ok)
			tc.change(&r)
			err := s.Write(context.Background(), &Batch{Events: []watchfloor.Event{event(base, "a", "")},
				FlowRollups: []watchfloor.FlowRollup{r}})
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
		})
	}
	if evs, _ := s.Events(watchfloor.EventQuery{}); len(evs) != 0 {
		t.Fatalf("a batch with an invalid rollup wrote %d events", len(evs))
	}
	mustWrite(t, s.Store, &Batch{FlowRollups: []watchfloor.FlowRollup{ok}})
}

// topFixture writes five minutes at two sites: r1 and r2 at north, r3 at south.
func topFixture(t *testing.T) *testStore {
	s := openTest(t, "", DefaultConfig())
	s.clock.Set(base.Add(time.Hour))
	src, port := watchfloor.FlowBySrc, watchfloor.FlowByPort
	var b Batch
	for m := range 5 {
		n := uint64(m + 1)
		north := minute("north", m,
			row(src, "r1", "10.0.0.1", 1000*n, 10*n, 1), // many bytes, few packets
			row(src, "r1", "10.0.0.2", 100*n, 100*n, 1), // more packets
			row(src, "r2", "10.0.0.1", 500, 5, 1),       // the same key on another device
			row(src, "r2", "10.0.0.3", 10, 1, 1),        //
			row(port, "r1", "tcp/443", 5000, 50, 5),     // another dimension
			row(port, "r2", "udp/53", 20, 20, 2))        //
		north.Interfaces = []watchfloor.IfTraffic{
			{Device: "r1", IfIndex: 1, Interface: "ge-0/0/1", SpeedBps: 1e9, InBytes: 600, OutBytes: 400, InPackets: 6, OutPackets: 4},
			{Device: "r1", IfIndex: 2, InBytes: 10, OutBytes: 10, InPackets: 100, OutPackets: 100},
			{Device: "r2", IfIndex: 1, Interface: "ge-0/0/1", InBytes: 50, OutBytes: 0},
		}
		south := minute("south", m, row(src, "r3", "10.0.0.1", 1, 1, 1), row(src, "r3", "10.9.0.1", 2000, 1, 1))
		b.FlowRollups = append(b.FlowRollups, north, south)
	}
	mustWrite(t, s.Store, &b)
	return s
}

func TestFlowTop(t *testing.T) {
	s := topFixture(t)
	src, port, iface := watchfloor.FlowBySrc, watchfloor.FlowByPort, watchfloor.FlowByInterface
	all := watchfloor.FlowTopQuery{From: base, To: base.Add(5 * time.Minute)}
	for _, tc := range []struct {
		name string
		q    func(*watchfloor.FlowTopQuery)
		want []watchfloor.FlowRow
	}{
		{"all sites and devices: one row per key", func(q *watchfloor.FlowTopQuery) { q.By = src },
			[]watchfloor.FlowRow{row(src, "", "10.0.0.1", 15000+2500+5, 150+25+5, 15), row(src, "", "10.9.0.1", 10000, 5, 5),
				row(src, "", "10.0.0.2", 1500, 1500, 5), row(src, "", "10.0.0.3", 50, 5, 5)}},
		{"by packets", func(q *watchfloor.FlowTopQuery) { q.By = src; q.OrderBy = "packets"; q.Limit = 2 },
			[]watchfloor.FlowRow{row(src, "", "10.0.0.2", 1500, 1500, 5), row(src, "", "10.0.0.1", 17505, 180, 15)}},
		{"one site", func(q *watchfloor.FlowTopQuery) { q.By = src; q.Site = "south" },
			[]watchfloor.FlowRow{row(src, "", "10.9.0.1", 10000, 5, 5), row(src, "", "10.0.0.1", 5, 5, 5)}},
		{"one device keeps it", func(q *watchfloor.FlowTopQuery) { q.By = src; q.Device = "r2" },
			[]watchfloor.FlowRow{row(src, "r2", "10.0.0.1", 2500, 25, 5), row(src, "r2", "10.0.0.3", 50, 5, 5)}},
		{"device at another site", func(q *watchfloor.FlowTopQuery) { q.By = src; q.Device = "r3"; q.Site = "north" },
			[]watchfloor.FlowRow{}},
		{"limit", func(q *watchfloor.FlowTopQuery) { q.By = src; q.Limit = 1 },
			[]watchfloor.FlowRow{row(src, "", "10.0.0.1", 17505, 180, 15)}},
		{"two minutes", func(q *watchfloor.FlowTopQuery) { q.By = port; q.From = base.Add(3 * time.Minute) },
			[]watchfloor.FlowRow{row(port, "", "tcp/443", 10000, 100, 10), row(port, "", "udp/53", 40, 40, 4)}},
		{"interfaces", func(q *watchfloor.FlowTopQuery) { q.By = iface },
			[]watchfloor.FlowRow{row(iface, "r1", "r1/ge-0/0/1", 5000, 50, 0), row(iface, "r2", "r2/ge-0/0/1", 250, 0, 0),
				row(iface, "r1", "r1/ifIndex 2", 100, 1000, 0)}},
		{"interfaces by packets", func(q *watchfloor.FlowTopQuery) { q.By = iface; q.OrderBy = "packets"; q.Limit = 1 },
			[]watchfloor.FlowRow{row(iface, "r1", "r1/ifIndex 2", 100, 1000, 0)}},
		{"interface by name", func(q *watchfloor.FlowTopQuery) { q.By = iface; q.Interface = "ge-0/0/1" },
			[]watchfloor.FlowRow{row(iface, "r1", "r1/ge-0/0/1", 5000, 50, 0), row(iface, "r2", "r2/ge-0/0/1", 250, 0, 0)}},
		{"interface by ifIndex and device", func(q *watchfloor.FlowTopQuery) { q.By = iface; q.Interface = "2"; q.Device = "r1" },
			[]watchfloor.FlowRow{row(iface, "r1", "r1/ifIndex 2", 100, 1000, 0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := all
			tc.q(&q)
			res, err := s.FlowTopResult(q)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(res.Rows, tc.want) {
				t.Fatalf("rows\n%+v\nwant\n%+v", res.Rows, tc.want)
			}
			if res.Step != time.Minute || !res.From.Equal(q.From) || !res.To.Equal(q.To) || res.Approximate {
				t.Fatalf("step %s from %s to %s approximate %v", res.Step, res.From, res.To, res.Approximate)
			}
			if q.By == iface {
				if len(res.Interfaces) != len(res.Rows) {
					t.Fatalf("%d interfaces for %d rows", len(res.Interfaces), len(res.Rows))
				}
				for i, f := range res.Interfaces {
					if f.InBytes+f.OutBytes != res.Rows[i].Bytes || f.Device != res.Rows[i].Device {
						t.Fatalf("interface %+v for row %+v", f, res.Rows[i])
					}
				}
			} else if res.Interfaces != nil {
				t.Fatalf("interfaces for by=%s", q.By)
			}
		})
	}
	res, err := s.FlowTopResult(watchfloor.FlowTopQuery{By: iface, From: base, To: base.Add(5 * time.Minute), Device: "r1", Interface: "ge-0/0/1"})
	if err != nil || len(res.Interfaces) != 1 || !reflect.DeepEqual(res.Interfaces[0], watchfloor.IfTraffic{Device: "r1", IfIndex: 1,
		Interface: "ge-0/0/1", SpeedBps: 1e9, InBytes: 3000, OutBytes: 2000, InPackets: 30, OutPackets: 20}) {
		t.Fatalf("interface in and out: %+v %v", res.Interfaces, err)
	}
	// Totals count every device of the sites read, and how many rollups were read.
	res, _ = s.FlowTopResult(watchfloor.FlowTopQuery{By: src, From: base, To: base.Add(5 * time.Minute), Device: "r1"})
	wantBytes := uint64(0)
	for m := range 5 {
		n := uint64(m + 1)
		wantBytes += 1000*n + 100*n + 500 + 10 + 1 + 2000
	}
	if res.Rollups != 10 || res.Totals.Bytes != wantBytes || res.Totals.Flows != 30 {
		t.Fatalf("rollups %d totals %+v, want 10 and %d bytes", res.Rollups, res.Totals, wantBytes)
	}
	// A range that starts mid-minute takes the minute it starts in; zero From is To-1h.
	res, _ = s.FlowTopResult(watchfloor.FlowTopQuery{By: src, From: base.Add(4*time.Minute + 30*time.Second), To: base.Add(4*time.Minute + 40*time.Second), Site: "south"})
	if res.Rollups != 1 || !res.From.Equal(base.Add(4*time.Minute)) || !res.To.Equal(base.Add(5*time.Minute)) {
		t.Fatalf("mid-minute: %d rollups from %s to %s", res.Rollups, res.From, res.To)
	}
	res, _ = s.FlowTopResult(watchfloor.FlowTopQuery{By: src, To: base.Add(time.Hour)})
	if res.Rollups != 10 || len(res.Rows) != 4 {
		t.Fatalf("default range: %d rollups, %d rows", res.Rollups, len(res.Rows))
	}
	for _, q := range []watchfloor.FlowTopQuery{
		{By: "colour", From: base, To: base.Add(time.Hour)},
		{By: src, From: base, To: base.Add(time.Hour), OrderBy: "flows"},
		{By: src, From: base, To: base.Add(time.Hour), Interface: "ge-0/0/1"},
		{By: src, From: base, To: base},
	} {
		if _, err := s.FlowTopResult(q); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v, want ErrInvalid", q, err)
		}
	}
}

func TestFlowTopLimits(t *testing.T) {
	s := openTest(t, "", DefaultConfig())
	s.clock.Set(base.Add(time.Hour))
	r := minute("n", 0)
	for i := range 1500 {
		r.Rows = append(r.Rows, row(watchfloor.FlowByDst, "d", fmt.Sprintf("k%04d", i), uint64(i), 1, 1))
	}
	mustWrite(t, s.Store, &Batch{FlowRollups: []watchfloor.FlowRollup{r}})
	for _, c := range []struct{ limit, want int }{{0, DefaultFlowTopLimit}, {-1, DefaultFlowTopLimit}, {7, 7}, {5000, MaxFlowTopLimit}} {
		res, err := s.FlowTopResult(watchfloor.FlowTopQuery{By: watchfloor.FlowByDst, From: base, To: base.Add(time.Minute), Limit: c.limit})
		if err != nil || len(res.Rows) != c.want || res.Rows[0].Key != "k1499" {
			t.Fatalf("limit %d: %d rows, %v", c.limit, len(res.Rows), err)
		}
	}
	// Equal traffic ranks by key.
	res, _ := s.FlowTopResult(watchfloor.FlowTopQuery{By: watchfloor.FlowByDst, From: base, To: base.Add(time.Minute), OrderBy: "packets", Limit: 3})
	if res.Rows[0].Key != "k1499" || res.Rows[1].Key != "k1498" {
		t.Fatalf("ties: %+v", res.Rows)
	}
}

func TestFlowTopStep(t *testing.T) {
	s := openTest(t, "", DefaultConfig()) // flows: 1m kept 7 days
	var b Batch
	// Minute rollups say "minute", hourly ones "hour", for two days.
	for h := range 48 {
		start := base.Add(time.Duration(h) * time.Hour)
		b.FlowRollups = append(b.FlowRollups, watchfloor.FlowRollup{Site: "n", Start: start, Step: time.Hour,
			Rows: []watchfloor.FlowRow{row(watchfloor.FlowByProto, "d", "hour", 60, 60, 60)}})
		for m := range 60 {
			b.FlowRollups = append(b.FlowRollups, watchfloor.FlowRollup{Site: "n", Start: start.Add(time.Duration(m) * time.Minute),
				Step: time.Minute, Rows: []watchfloor.FlowRow{row(watchfloor.FlowByProto, "d", "minute", 1, 1, 1)}})
		}
	}
	mustWrite(t, s.Store, &b)
	for _, tc := range []struct {
		name     string
		now      time.Time
		from, to time.Duration // after base
		step     time.Duration
		key      string
		bytes    uint64
	}{
		{"a day", base.Add(48 * time.Hour), 0, 24 * time.Hour, time.Minute, "minute", 1440},
		{"a day and a minute", base.Add(48 * time.Hour), 0, 24*time.Hour + time.Minute, time.Hour, "hour", 25 * 60},
		{"ten minutes", base.Add(48 * time.Hour), 30 * time.Minute, 40 * time.Minute, time.Minute, "minute", 10},
		{"beyond 1m retention", base.Add(8 * 24 * time.Hour), 0, time.Hour, time.Hour, "hour", 60},
		{"hourly widens to whole hours", base.Add(8 * 24 * time.Hour), 30 * time.Minute, 90 * time.Minute, time.Hour, "hour", 120},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.clock.Set(tc.now)
			res, err := s.FlowTopResult(watchfloor.FlowTopQuery{By: watchfloor.FlowByProto, From: base.Add(tc.from), To: base.Add(tc.to)})
			if err != nil {
				t.Fatal(err)
			}
			if res.Step != tc.step || len(res.Rows) != 1 || res.Rows[0].Key != tc.key || res.Rows[0].Bytes != tc.bytes {
				t.Fatalf("step %s rows %+v; want step %s, %s with %d bytes", res.Step, res.Rows, tc.step, tc.key, tc.bytes)
			}
		})
	}
}

func TestFlowRollupsBounded(t *testing.T) {
	s := openTest(t, "", DefaultConfig())
	var b Batch
	for m := range MaxFlowRollups + 10 {
		b.FlowRollups = append(b.FlowRollups, minute("a", m, row(watchfloor.FlowBySrc, "d", "k", 1, 1, 1)),
			minute("b", m, row(watchfloor.FlowBySrc, "d", "k", 1, 1, 1)))
	}
	mustWrite(t, s.Store, &b)
	end := base.Add(24 * time.Hour)
	got := stored(t, s.Store, time.Minute, base, end, "")
	if len(got) != MaxFlowRollups {
		t.Fatalf("%d rollups, want %d", len(got), MaxFlowRollups)
	}
	// Reading on from the last one's end gets the rest, with no start split between calls.
	total := 0
	for page := got; len(page) > 0; {
		total += len(page)
		last := page[len(page)-1]
		if len(page)%2 != 0 || last.Site != "b" {
			t.Fatalf("a page of %d ends at site %q", len(page), last.Site)
		}
		page = stored(t, s.Store, time.Minute, last.Start.Add(last.Step), end, "")
	}
	if total != 2*(MaxFlowRollups+10) {
		t.Fatalf("%d rollups in all pages", total)
	}
	if got := stored(t, s.Store, time.Minute, base, end, "b"); len(got) != MaxFlowRollups || got[0].Site != "b" {
		t.Fatalf("site b: %d", len(got))
	}
	for _, c := range []struct {
		step     time.Duration
		from, to time.Time
	}{{5 * time.Minute, base, end}, {time.Minute, end, base}} {
		if _, err := s.FlowRollups(c.step, c.from, c.to, ""); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v", c, err)
		}
	}
}

// hour is an hourly rollup at site n with the given interfaces.
func hour(h int, ifs ...watchfloor.IfTraffic) watchfloor.FlowRollup {
	return watchfloor.FlowRollup{Site: "n", Start: base.Add(time.Duration(h) * time.Hour), Step: time.Hour, Interfaces: ifs}
}

func TestInterfacePercentile95(t *testing.T) {
	s := openTest(t, "", DefaultConfig())
	// Hour 0: in slots of 300·k bytes (8k bit/s), k = 1…12. Hour 1: 13…24. Hour 2: the
	// device has traffic only on another interface: 12 zeros. Hour 3: no rollup.
	// Hour 4: a rollup of another device only: not counted.
	slots := func(from uint64) []uint64 {
		var s []uint64
		for k := from; k < from+12; k++ {
			s = append(s, 300*k)
		}
		return s
	}
	mustWrite(t, s.Store, &Batch{FlowRollups: []watchfloor.FlowRollup{
		hour(0, watchfloor.IfTraffic{Device: "r", IfIndex: 7, In5m: slots(1), Out5m: []uint64{3000}}),
		hour(1, watchfloor.IfTraffic{Device: "r", IfIndex: 7, In5m: slots(13)}),
		hour(2, watchfloor.IfTraffic{Device: "r", IfIndex: 8, In5m: slots(100)}),
		hour(4, watchfloor.IfTraffic{Device: "other", IfIndex: 7, In5m: slots(1000)}),
	}})
	// 36 slots: 12 zeros and 8·1 … 8·24 bit/s; index ceil(0.95·36)−1 = 34, the 35th
	// smallest: 8·23. Out: one slot of 80 bit/s and 35 zeros: the 35th smallest is 0.
	in, out, n, err := s.InterfacePercentile95("r", 7, base, base.Add(5*time.Hour))
	if err != nil || n != 36 || in != 8*23 || out != 0 {
		t.Fatalf("p95 = %v, %v over %d slots (%v); want 184, 0 over 36", in, out, n, err)
	}
	// From 00:50 to 01:10: the slots 00:50, 00:55, 01:00, 01:05 (k = 11…14); index
	// ceil(3.8)−1 = 3: 8·14.
	in, _, n, _ = s.InterfacePercentile95("r", 7, base.Add(50*time.Minute), base.Add(70*time.Minute))
	if n != 4 || in != 8*14 {
		t.Fatalf("partial hours: %v over %d slots", in, n)
	}
	// One hour: 12 slots, index ceil(11.4)−1 = 11: the largest, and out the one 80 bit/s.
	in, out, n, _ = s.InterfacePercentile95("r", 7, base, base.Add(time.Hour))
	if n != 12 || in != 8*12 || out != 80 {
		t.Fatalf("one hour: %v %v over %d slots", in, out, n)
	}
	if in, out, n, err := s.InterfacePercentile95("nobody", 7, base, base.Add(5*time.Hour)); err != nil || n != 0 || in != 0 || out != 0 {
		t.Fatalf("unknown device: %v %v %d %v", in, out, n, err)
	}
	if _, _, _, err := s.InterfacePercentile95("r", 7, base, time.Time{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("no range: %v", err)
	}
	// Two sites with the same interface in the same hour add up slot by slot.
	other := hour(0, watchfloor.IfTraffic{Device: "r", IfIndex: 7, In5m: slots(1)})
	other.Site = "m"
	mustWrite(t, s.Store, &Batch{FlowRollups: []watchfloor.FlowRollup{other}})
	in, _, n, _ = s.InterfacePercentile95("r", 7, base, base.Add(time.Hour))
	if n != 12 || in != 2*8*12 {
		t.Fatalf("two sites: %v over %d slots", in, n)
	}
}

func TestInterfaceTraffic(t *testing.T) {
	s := openTest(t, "", DefaultConfig())
	s.clock.Set(base.Add(time.Hour))
	m0 := minute("n", 0)
	m0.Interfaces = []watchfloor.IfTraffic{{Device: "r", IfIndex: 1, Interface: "ge-1", SpeedBps: 1e9,
		InBytes: 60e6, OutBytes: 30e6, InPackets: 6000, OutPackets: 600}}
	m1 := minute("n", 1)
	m1.Interfaces = []watchfloor.IfTraffic{{Device: "r", IfIndex: 2, InBytes: 1}} // r, but not ifIndex 1
	m3 := minute("n", 3)
	m3.Interfaces = []watchfloor.IfTraffic{{Device: "r", IfIndex: 1, InBytes: 60}}
	mustWrite(t, s.Store, &Batch{FlowRollups: []watchfloor.FlowRollup{m0, m1, m3}})
	got, err := s.InterfaceTraffic("r", 1, base, base.Add(10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	want := IfSeries{Device: "r", IfIndex: 1, Interface: "ge-1", SpeedBps: 1e9, Step: time.Minute, Points: []IfPoint{
		{Time: base, InBps: 8e6, OutBps: 4e6, InPps: 100, OutPps: 10},
		{Time: base.Add(time.Minute)},
		{Time: base.Add(3 * time.Minute), InBps: 8},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got\n%+v\nwant\n%+v", got, want)
	}
	if _, err := s.InterfaceTraffic("", 1, base, base.Add(time.Minute)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("no device: %v", err)
	}
}

func TestFlowRetention(t *testing.T) {
	s := openTest(t, "", DefaultConfig()) // flows 1m: 7 days, 1h: 9490h
	s.chunk = 7                           // many transactions
	var b Batch
	const days = 10
	for m := 0; m < days*24*60; m += 30 { // a rollup every half hour, with two parts
		b.FlowRollups = append(b.FlowRollups, minute("n", m, row(watchfloor.FlowBySrc, "d", "k", 1, 1, 1)))
	}
	const hours = 9600
	for h := range hours {
		b.FlowRollups = append(b.FlowRollups, hour(h, watchfloor.IfTraffic{Device: "d", IfIndex: 1, InBytes: 1}))
	}
	mustWrite(t, s.Store, &b)
	now := base.Add(hours * time.Hour)
	s.clock.Set(base.Add(days * 24 * time.Hour))
	deleted, err := s.enforceRetention(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Minute rollups that ended by now−7d: 3 days' worth (starts before now−7d−1m+1s).
	if deleted["flows_1m"] != 3*48 || deleted["flows_1h"] != 0 {
		t.Fatalf("deleted %v", deleted)
	}
	s.clock.Set(now)
	if deleted, err = s.enforceRetention(context.Background()); err != nil || deleted["flows_1m"] != 7*48 || deleted["flows_1h"] != hours-9490 {
		t.Fatalf("deleted %v %v", deleted, err)
	}
	for kind, n := range map[string]int{"flows_1m": days * 48, "flows_1h": hours - 9490} {
		if got := metric(t, s.reg, "watchfloor_store_retention_deleted_total", "kind", kind); got != float64(n) {
			t.Errorf("retention_deleted_total{%s} = %v, want %d", kind, got, n)
		}
	}
	left := stored(t, s.Store, time.Hour, base, now, "")
	if len(left) != MaxFlowRollups || !left[0].Start.Equal(now.Add(-9490*time.Hour)) {
		t.Fatalf("first hourly rollup left at %s", left[0].Start)
	}
	_ = s.view(func(tx *bolt.Tx) error {
		if k, _ := tx.Bucket(bFlows1m).Cursor().First(); k != nil {
			t.Errorf("minute rollups left: %x", k)
		}
		return nil
	})
	if deleted, _ = s.enforceRetention(context.Background()); deleted["flows_1m"]+deleted["flows_1h"] != 0 {
		t.Fatalf("second pass deleted %v", deleted)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}

func TestFlowCorrupt(t *testing.T) {
	s := openTest(t, "", DefaultConfig())
	s.clock.Set(base.Add(time.Hour))
	r := minute("n", 0, row(watchfloor.FlowBySrc, "d", "k", 1, 1, 1))
	mustWrite(t, s.Store, &Batch{FlowRollups: []watchfloor.FlowRollup{r}})
	key := append(flowKeyPrefix(nil, base.Unix(), "n"), dimPart(watchfloor.FlowBySrc))
	err := s.update(func(tx *bolt.Tx) error { return tx.Bucket(bFlows1m).Put(key, []byte{1, 0, 0, 0, 0, 0, 5, 9}) })
	if err != nil {
		t.Fatal(err)
	}
	q := watchfloor.FlowTopQuery{By: watchfloor.FlowBySrc, From: base, To: base.Add(time.Minute)}
	if _, err := s.FlowTopResult(q); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("FlowTop over a damaged rollup: %v", err)
	}
	if _, err := s.FlowRollups(time.Minute, base, base.Add(time.Minute), ""); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("FlowRollups over a damaged rollup: %v", err)
	}
	// Writing the same minute again replaces what cannot be read.
	mustWrite(t, s.Store, &Batch{FlowRollups: []watchfloor.FlowRollup{r}})
	if res, err := s.FlowTopResult(q); err != nil || len(res.Rows) != 1 || res.Rows[0].Bytes != 1 {
		t.Fatalf("after rewrite: %+v %v", res, err)
	}
}

func TestSumFlows(t *testing.T) {
	a := watchfloor.FlowRollup{Rows: []watchfloor.FlowRow{row("src", "d", "k", 1, 2, 3)},
		Interfaces: []watchfloor.IfTraffic{{Device: "d", IfIndex: 1, In5m: []uint64{1}, Out5m: []uint64{1, 1}}}}
	keep := cloneRollup(&a)
	b := cloneRollup(&a)
	b.Rows = append(b.Rows, row("dst", "d", "k", 1, 1, 1))
	m := sumFlows(a, b)
	m.Interfaces[0].In5m[0] = 99
	m.Rows[0].Key = "x"
	if !reflect.DeepEqual(a, keep) {
		t.Fatal("sumFlows shares a's slices")
	}
	if len(m.Rows) != 2 || m.Rows[0].Bytes != 2 || m.Rows[0].Flows != 6 || !reflect.DeepEqual(m.Interfaces[0].Out5m, []uint64{2, 2}) {
		t.Fatalf("%+v", m)
	}
}

// benchRollup is a realistic rollup of one step at one site: 12 devices, for each of the 8
// dimensions 100 rows per device drawn from a pool of keys that recur from minute to minute,
// and 300 interfaces (with 12 slots when hourly).
func benchRollup(rng *rand.Rand, start time.Time, step time.Duration) watchfloor.FlowRollup {
	r := watchfloor.FlowRollup{Site: "east-backbone", Start: start, Step: step,
		Rows: make([]watchfloor.FlowRow, 0, 8*12*100), Interfaces: make([]watchfloor.IfTraffic, 0, 300)}
	for _, dim := range watchfloor.FlowDims {
		for d := range 12 {
			dev := benchDevices[d]
			for range 100 {
				k := int(rng.ExpFloat64() * 300) // popular keys recur
				r.Rows = append(r.Rows, watchfloor.FlowRow{By: dim, Device: dev, Key: benchKey(dim, dev, k),
					Bytes: uint64(rng.IntN(50e6)), Packets: uint64(rng.IntN(50e3)), Flows: uint64(rng.IntN(500))})
				r.Totals.Bytes += r.Rows[len(r.Rows)-1].Bytes
			}
		}
	}
	for i := range 300 {
		f := watchfloor.IfTraffic{Device: benchDevices[i%12], IfIndex: uint32(500 + i/12), Interface: fmt.Sprintf("xe-0/0/%d", i/12),
			SpeedBps: 10e9, InBytes: uint64(rng.IntN(1e9)), OutBytes: uint64(rng.IntN(1e9)),
			InPackets: uint64(rng.IntN(1e6)), OutPackets: uint64(rng.IntN(1e6))}
		if step == time.Hour {
			for range 12 {
				f.In5m = append(f.In5m, uint64(rng.IntN(1e9)))
				f.Out5m = append(f.Out5m, uint64(rng.IntN(1e9)))
			}
		}
		r.Interfaces = append(r.Interfaces, f)
	}
	return r
}

// cpuTime is the CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

var benchDevices = func() []string {
	var d []string
	for i := range 12 {
		d = append(d, fmt.Sprintf("core-r%02d", i))
	}
	return d
}()

func benchKey(dim watchfloor.FlowDim, dev string, k int) string {
	switch dim {
	case watchfloor.FlowByPair:
		return fmt.Sprintf("10.%d.%d.%d → 198.51.100.%d", k/65536%256, k/256%256, k%256, k%251)
	case watchfloor.FlowByPort:
		return fmt.Sprintf("tcp/%d", 1000+k)
	case watchfloor.FlowByProto:
		return fmt.Sprintf("proto-%d", k)
	case watchfloor.FlowByAS, watchfloor.FlowByDstAS:
		return fmt.Sprintf("AS%d", 64500+k)
	case watchfloor.FlowByInterface:
		return fmt.Sprintf("%s/xe-0/0/%d", dev, k)
	}
	return fmt.Sprintf("10.%d.%d.%d", k/65536%256, k/256%256, k%256)
}

// BenchmarkWriteRollup measures a Write of one realistic 1-minute rollup (9,600 rows, 300
// interfaces): "new" a minute not yet stored, "merge" the same minute again, read, merged
// with the built-in sum and rewritten.
//
// Run: go test -run '^$' -bench BenchmarkWriteRollup -benchmem ./appliance/store/
func BenchmarkWriteRollup(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	r := benchRollup(rng, base, time.Minute)
	var size int
	for _, p := range encodeFlowParts(&r) {
		size += len(p.rec)
	}
	for _, mode := range []string{"new", "merge"} {
		b.Run(mode, func(b *testing.B) {
			s := openTest(b, "", DefaultConfig())
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if mode == "new" {
					r.Start = base.Add(time.Duration(i) * time.Minute)
				}
				if err := s.Write(context.Background(), &Batch{FlowRollups: []watchfloor.FlowRollup{r}}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(size), "record-bytes")
		})
	}
}

// BenchmarkFlowTop measures FlowTop over 24 hours of realistic 1-minute rollups (1,440 of
// them, 9,600 rows each): the top 10 sources of all devices, of one device, and the top
// interfaces.
//
// Run: go test -run '^$' -bench BenchmarkFlowTop -benchmem ./appliance/store/
func BenchmarkFlowTop(b *testing.B) {
	s := openTest(b, "", DefaultConfig())
	rng := rand.New(rand.NewPCG(3, 4))
	const minutes = 1440
	for m := 0; m < minutes; m += 60 {
		var batch Batch
		for i := range 60 {
			batch.FlowRollups = append(batch.FlowRollups, benchRollup(rng, base.Add(time.Duration(m+i)*time.Minute), time.Minute))
		}
		mustWrite(b, s.Store, &batch)
	}
	s.clock.Set(base.Add(minutes * time.Minute))
	b.Logf("store: %.0f MiB for %d minute rollups", float64(s.size.Load())/(1<<20), minutes)
	for _, bc := range []struct {
		name string
		q    watchfloor.FlowTopQuery
	}{
		{"src", watchfloor.FlowTopQuery{By: watchfloor.FlowBySrc}},
		{"pair-device", watchfloor.FlowTopQuery{By: watchfloor.FlowByPair, Device: benchDevices[3]}},
		{"interface", watchfloor.FlowTopQuery{By: watchfloor.FlowByInterface}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			q := bc.q
			q.From, q.To = base, base.Add(minutes*time.Minute)
			b.ReportAllocs()
			cpu := cpuTime()
			for b.Loop() {
				res, err := s.FlowTopResult(q)
				if err != nil {
					b.Fatal(err)
				}
				if res.Step != time.Minute || res.Rollups != minutes || len(res.Rows) != DefaultFlowTopLimit {
					b.Fatalf("step %s, %d rollups, %d rows", res.Step, res.Rollups, len(res.Rows))
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1e3/float64(b.N), "ms/query")
			// CPU time is steadier than wall time on a shared machine.
			b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/1e3/float64(b.N), "cpu-ms/query")
		})
	}
}

func TestFlowTopRows(t *testing.T) {
	s := topFixture(t)
	q := watchfloor.FlowTopQuery{By: watchfloor.FlowBySrc, From: base, To: base.Add(5 * time.Minute), Limit: 2}
	rows, err := s.FlowTop(q)
	res, _ := s.FlowTopResult(q)
	if err != nil || !reflect.DeepEqual(rows, res.Rows) || len(rows) != 2 {
		t.Fatalf("FlowTop = %+v, %v; FlowTopResult rows %+v", rows, err, res.Rows)
	}
	if rows, err := s.FlowTop(watchfloor.FlowTopQuery{By: "colour"}); !errors.Is(err, ErrInvalid) || rows == nil {
		t.Fatalf("bad query: %v, %v", rows, err)
	}
}
