package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func openOutbox(t testing.TB, s *Store, cfg OutboxConfig) *Outbox {
	t.Helper()
	o, err := s.Outbox(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func rec(kind, id string, at time.Time, size int) OutboxRecord {
	return OutboxRecord{Kind: kind, ID: id, Time: at, Payload: make([]byte, size)}
}

func readAll(t testing.TB, o *Outbox) []OutboxEntry {
	t.Helper()
	es, err := o.Read(nil, 0, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

func mustAppend(t testing.TB, o *Outbox, now time.Time, recs ...OutboxRecord) AppendResult {
	t.Helper()
	res, err := o.Append(now, recs)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestOutboxOrderAndSequences(t *testing.T) {
	s := openTest(t, "", DefaultConfig())
	o := openOutbox(t, s.Store, DefaultOutboxConfig())
	if o.Epoch() == 0 {
		t.Fatal("epoch 0")
	}
	res := mustAppend(t, o, base,
		rec("alert", "a1", base, 10), rec("event", "", base, 20), rec("alert", "a2", base, 30))
	if res.Appended != 3 || res.Refused != nil || res.Evicted != nil || res.Expired != nil {
		t.Fatalf("result %+v", res)
	}
	mustAppend(t, o, base, rec("event", "e9", base.Add(time.Second), 5))
	es := readAll(t, o)
	type got struct {
		seq, kseq uint64
		kind, id  string
		n         int
	}
	var g []got
	for _, e := range es {
		g = append(g, got{e.Seq, e.KindSeq, e.Kind, e.ID, len(e.Payload)})
	}
	want := []got{{1, 1, "alert", "a1", 10}, {2, 1, "event", "", 20}, {3, 2, "alert", "a2", 30}, {4, 2, "event", "e9", 5}}
	if !slices.Equal(g, want) {
		t.Fatalf("entries\n got %v\nwant %v", g, want)
	}
	if !es[3].Time.Equal(base.Add(time.Second)) {
		t.Errorf("time %v", es[3].Time)
	}
	// Read after a sequence, bounded.
	es, _ = o.Read(nil, 1, 2)
	if len(es) != 2 || es[0].Seq != 2 || es[1].Seq != 3 {
		t.Fatalf("read after 1, max 2: %+v", es)
	}
	if err := o.Delete([]uint64{1, 3, 99}); err != nil {
		t.Fatal(err)
	}
	if o.Len() != 2 {
		t.Fatalf("len %d after delete", o.Len())
	}
	es = readAll(t, o)
	if len(es) != 2 || es[0].Seq != 2 || es[1].Seq != 4 {
		t.Fatalf("after delete: %+v", es)
	}
	// Sequences keep increasing after deletions.
	mustAppend(t, o, base, rec("alert", "", base, 1))
	es = readAll(t, o)
	if last := es[len(es)-1]; last.Seq != 5 || last.KindSeq != 3 {
		t.Fatalf("next after delete: seq %d kseq %d", last.Seq, last.KindSeq)
	}
	if got := metric(t, s.reg, "watchfloor_store_records_total", "kind", "uplink"); got != 5 {
		t.Errorf("records_total{kind=uplink} = %v, want 5", got)
	}
}

func TestOutboxBounds(t *testing.T) {
	small := func(p OutboxPolicy) OutboxConfig {
		c := DefaultOutboxConfig()
		c.MaxEntries, c.Policy, c.MaxAge = 3, p, time.Hour
		return c
	}
	for _, tc := range []struct {
		name     string
		cfg      OutboxConfig
		first    []OutboxRecord
		now      time.Time
		second   []OutboxRecord
		want     AppendResult
		wantSeqs []uint64
	}{{
		name:     "block refuses new",
		cfg:      small(OutboxBlock),
		first:    []OutboxRecord{rec("alert", "", base, 1), rec("event", "", base, 1), rec("event", "", base, 1)},
		now:      base,
		second:   []OutboxRecord{rec("flows", "", base, 1), rec("alert", "", base, 1), rec("flows", "", base, 1)},
		want:     AppendResult{Refused: []KindCount{{"flows", 2}, {"alert", 1}}},
		wantSeqs: []uint64{1, 2, 3},
	}, {
		name:     "drop_oldest evicts by kind",
		cfg:      small(OutboxDropOldest),
		first:    []OutboxRecord{rec("alert", "", base, 1), rec("event", "", base, 1), rec("event", "", base, 1)},
		now:      base,
		second:   []OutboxRecord{rec("flows", "", base, 1), rec("flows", "", base, 1)},
		want:     AppendResult{Appended: 2, Evicted: []KindCount{{"alert", 1}, {"event", 1}}},
		wantSeqs: []uint64{3, 4, 5},
	}, {
		name:     "age expires under block",
		cfg:      small(OutboxBlock),
		first:    []OutboxRecord{rec("alert", "", base, 1), rec("event", "", base.Add(30*time.Minute), 1), rec("event", "", base.Add(50*time.Minute), 1)},
		now:      base.Add(80 * time.Minute),
		second:   []OutboxRecord{rec("health", "", base.Add(80*time.Minute), 1), rec("health", "", base.Add(80*time.Minute), 1)},
		want:     AppendResult{Appended: 1, Refused: []KindCount{{"health", 1}}, Expired: []KindCount{{"alert", 1}}},
		wantSeqs: []uint64{2, 3, 4},
	}, {
		name: "bytes bound",
		cfg: func() OutboxConfig {
			c := DefaultOutboxConfig()
			c.MaxBytes, c.Policy = MaxOutboxPayload+1000, OutboxDropOldest
			return c
		}(),
		first:    []OutboxRecord{rec("metrics", "", base, 600_000)},
		now:      base,
		second:   []OutboxRecord{rec("metrics", "", base, 600_000)},
		want:     AppendResult{Appended: 1, Evicted: []KindCount{{"metrics", 1}}},
		wantSeqs: []uint64{2},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t, "", DefaultConfig())
			o := openOutbox(t, s.Store, tc.cfg)
			mustAppend(t, o, base, tc.first...)
			res := mustAppend(t, o, tc.now, tc.second...)
			if fmt.Sprint(res) != fmt.Sprint(tc.want) {
				t.Errorf("result\n got %+v\nwant %+v", res, tc.want)
			}
			var seqs []uint64
			var bytes int64
			for _, e := range readAll(t, o) {
				seqs = append(seqs, e.Seq)
				bytes += int64(outboxOverhead + len(e.Kind) + len(e.ID) + len(e.Payload))
			}
			if !slices.Equal(seqs, tc.wantSeqs) {
				t.Errorf("held %v, want %v", seqs, tc.wantSeqs)
			}
			if o.Len() != int64(len(seqs)) || o.Bytes() != bytes {
				t.Errorf("len %d bytes %d, want %d %d", o.Len(), o.Bytes(), len(seqs), bytes)
			}
		})
	}
}

func TestOutboxExpire(t *testing.T) {
	s := openTest(t, "", DefaultConfig())
	cfg := DefaultOutboxConfig()
	cfg.MaxAge = time.Hour
	o := openOutbox(t, s.Store, cfg)
	mustAppend(t, o, base, rec("alert", "", base, 1), rec("flows", "", base.Add(time.Minute), 1), rec("flows", "", base.Add(2*time.Hour), 1))
	got, err := o.Expire(base.Add(time.Hour + 90*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint([]KindCount{{"alert", 1}, {"flows", 1}}) {
		t.Fatalf("expired %v", got)
	}
	if o.Len() != 1 {
		t.Fatalf("len %d", o.Len())
	}
}

func TestOutboxInvalid(t *testing.T) {
	s := openTest(t, "", DefaultConfig())
	o := openOutbox(t, s.Store, DefaultOutboxConfig())
	for _, r := range []OutboxRecord{
		rec("", "", base, 1),
		rec("Alert", "", base, 1),
		rec("a.b", "", base, 1),
		rec("abcdefghijklmnopqrstuvwxyz0123456", "", base, 1),
		rec("alert", string(make([]byte, MaxOutboxID+1)), base, 1),
		rec("alert", "", base, MaxOutboxPayload+1),
		rec("alert", "", time.Time{}, 1),
	} {
		_, err := o.Append(base, []OutboxRecord{rec("alert", "", base, 1), r})
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("kind %q id %d bytes payload %d: err %v, want ErrInvalid", r.Kind, len(r.ID), len(r.Payload), err)
		}
	}
	if o.Len() != 0 {
		t.Errorf("an invalid call wrote %d records", o.Len())
	}
	for _, c := range []OutboxConfig{{}, {MaxEntries: 1, MaxBytes: 1 << 30, Policy: "drop_newest"}, {MaxEntries: 1, MaxBytes: 100, Policy: OutboxBlock}} {
		if _, err := s.Outbox(c); err == nil {
			t.Errorf("config %+v accepted", c)
		}
	}
}

func TestOutboxSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "watchfloor.db")
	s, err := Open(path, DefaultConfig(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	o := openOutbox(t, s, DefaultOutboxConfig())
	epoch := o.Epoch()
	mustAppend(t, o, base, rec("alert", "x", base, 7), rec("event", "", base, 8), rec("alert", "", base, 9))
	if err := o.Delete([]uint64{1}); err != nil {
		t.Fatal(err)
	}
	n, b := o.Len(), o.Bytes()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Append(base, []OutboxRecord{rec("alert", "", base, 1)}); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
	s = openTest(t, path, DefaultConfig()).Store
	o = openOutbox(t, s, DefaultOutboxConfig())
	if o.Epoch() != epoch || o.Len() != n || o.Bytes() != b {
		t.Fatalf("after reopen: epoch %x len %d bytes %d, want %x %d %d", o.Epoch(), o.Len(), o.Bytes(), epoch, n, b)
	}
	mustAppend(t, o, base, rec("alert", "", base, 1))
	es := readAll(t, o)
	if len(es) != 3 || es[0].Seq != 2 || es[2].Seq != 4 || es[2].KindSeq != 3 {
		t.Fatalf("after reopen: %+v", es)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkOutboxAppend is the uplink's write path: one transaction per batch of 256
// records of 300 bytes (an alert or an event, encoded).
func BenchmarkOutboxAppend(b *testing.B) {
	s := openTest(b, "", DefaultConfig())
	o := openOutbox(b, s.Store, DefaultOutboxConfig())
	batch := make([]OutboxRecord, 256)
	for i := range batch {
		batch[i] = rec("event", "", base, 300)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := o.Append(base, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/record")
}
