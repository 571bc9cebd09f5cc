package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/watchfloor/watchfloor"
)

// tagBatch is the batch number k of writer w: one event "w-k", one sample at base+k seconds
// on each of four series of writer w, and the state of device "dev-w" with UptimeS k. Tests
// then check that all of a batch or none of it is in the store.
func tagBatch(w, k int) *Batch {
	b := &Batch{
		Devices: []watchfloor.Device{{Name: fmt.Sprintf("dev-%d", w), UptimeS: int64(k)}},
		Events:  []watchfloor.Event{event(base.Add(time.Duration(k)*time.Second), fmt.Sprintf("dev-%d", w), fmt.Sprintf("%d-%d", w, k))},
	}
	for m := range 4 {
		b.Samples = append(b.Samples, sample("tag", int32(w+1), fmt.Sprintf("m%d", m), base.Add(time.Duration(k)*time.Second), float64(k)))
	}
	return b
}

// tagged is what a store holds of tagBatch batches.
type tagged struct {
	events  map[uint64]string   // ID → "w-k"
	samples map[int]map[int]int // writer → second → how many of its four series hold it
	uptime  map[int]int64       // writer → UptimeS of dev-w
	byTag   map[string]uint64   // "w-k" → ID
}

func readTagged(t testing.TB, s *Store, writers int) tagged {
	t.Helper()
	out := tagged{events: map[uint64]string{}, samples: map[int]map[int]int{}, uptime: map[int]int64{}, byTag: map[string]uint64{}}
	for after := uint64(0); ; {
		evs, err := s.Events(watchfloor.EventQuery{AfterID: after, Limit: MaxEventLimit})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			break
		}
		for _, e := range evs {
			out.events[e.ID] = e.Message
			out.byTag[e.Message] = e.ID
		}
		after = evs[len(evs)-1].ID
	}
	for w := range writers {
		out.samples[w] = map[int]int{}
		for m := range 4 {
			ser, err := s.Series(watchfloor.SeriesQuery{Device: "tag", IfIndex: int32(w + 1), Metric: fmt.Sprintf("m%d", m),
				From: base, To: base.Add(1000 * time.Hour), Step: watchfloor.StepRaw})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range ser.Points {
				out.samples[w][int(p.Time.Sub(base)/time.Second)]++
			}
		}
	}
	devs, err := s.Devices()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range devs {
		var w int
		if _, err := fmt.Sscanf(d.Name, "dev-%d", &w); err == nil {
			out.uptime[w] = d.UptimeS
		}
	}
	return out
}

// checkWhole asserts that every batch in the store is there whole: each event's samples are
// in all four series, each sample's event exists, and dev-w is the state of w's last batch.
func (tg tagged) checkWhole(t testing.TB) {
	t.Helper()
	last := map[int]int{}
	for _, tag := range tg.events {
		var w, k int
		if _, err := fmt.Sscanf(tag, "%d-%d", &w, &k); err != nil {
			t.Fatalf("event message %q", tag)
		}
		if n := tg.samples[w][k]; n != 4 {
			t.Fatalf("event %s committed with %d of its 4 samples", tag, n)
		}
		last[w] = max(last[w], k)
	}
	for w, secs := range tg.samples {
		for k := range secs {
			if _, ok := tg.byTag[fmt.Sprintf("%d-%d", w, k)]; !ok {
				t.Fatalf("sample %d-%d committed without its event", w, k)
			}
		}
		if len(secs) > 0 && tg.uptime[w] != int64(last[w]) {
			t.Fatalf("dev-%d has UptimeS %d, its last batch is %d", w, tg.uptime[w], last[w])
		}
	}
}

func TestGroupCommit(t *testing.T) {
	s := openTest(t, "", DefaultConfig())
	const writers, writes = 16, 40
	var wg sync.WaitGroup
	ids := make([][]uint64, writers)
	for w := range writers {
		wg.Go(func() {
			for k := range writes {
				b := tagBatch(w, k)
				if err := s.Write(context.Background(), b); err != nil {
					t.Error(err)
					return
				}
				ids[w] = append(ids[w], b.Events[0].ID)
			}
		})
	}
	wg.Wait()
	commits := metric(t, s.reg, "watchfloor_store_commits_total")
	t.Logf("%d writes in %v commits", writers*writes, commits)
	if commits >= writers*writes || commits < 1 {
		t.Fatalf("%v commits for %d writes: no grouping", commits, writers*writes)
	}
	if got := metric(t, s.reg, "watchfloor_store_records_total", "kind", "sample"); got != writers*writes*4 {
		t.Fatalf("records_total{sample} = %v", got)
	}
	tg := readTagged(t, s.Store, writers)
	if len(tg.events) != writers*writes {
		t.Fatalf("%d events, want %d", len(tg.events), writers*writes)
	}
	for w := range writers {
		for k, id := range ids[w] {
			if tg.events[id] != fmt.Sprintf("%d-%d", w, k) {
				t.Fatalf("ID %d given to %d-%d holds %q", id, w, k, tg.events[id])
			}
			if k > 0 && id <= ids[w][k-1] {
				t.Fatalf("writer %d: IDs %d then %d", w, ids[w][k-1], id)
			}
		}
	}
	tg.checkWhole(t)
	checkConsistent(t, s.Store)
}

func TestMaxBatchSplitsGroups(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxBatch = 12 // two tagBatch batches (6 records each) per transaction at most
	cfg.CommitInterval = 50 * time.Millisecond
	s := openTest(t, "", cfg)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			if err := s.Write(context.Background(), tagBatch(w, 0)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if c := metric(t, s.reg, "watchfloor_store_commits_total"); c < 4 {
		t.Fatalf("8 batches of 6 records with max_batch 12 in %v commits, want at least 4", c)
	}
	// A batch larger than MaxBatch is committed alone, whole.
	big := &Batch{}
	for k := range 20 {
		big.Events = append(big.Events, event(base, "a", fmt.Sprint(k)))
	}
	mustWrite(t, s.Store, big)
	if big.Events[19].ID != big.Events[0].ID+19 {
		t.Fatalf("big batch IDs %d…%d", big.Events[0].ID, big.Events[19].ID)
	}
}

func TestCloseCommitsQueuedWrites(t *testing.T) {
	cfg := DefaultConfig()
	cfg.CommitInterval = time.Second // the committer would wait long for more writers
	path := filepath.Join(t.TempDir(), "s.db")
	s := openTest(t, path, cfg)
	const writers = 50
	errs := make(chan error, writers)
	for w := range writers {
		go func() { errs <- s.Write(context.Background(), tagBatch(w, 0)) }()
	}
	for s.pending.Load() < writers {
		time.Sleep(time.Millisecond) // waiting for a state, not for time to pass
	}
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > cfg.CommitInterval/2 {
		t.Errorf("Close took %v: it waited for the commit interval instead of flushing", d)
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatalf("a Write pending at Close returned %v", err)
		}
	}
	s = openTest(t, path, cfg)
	tg := readTagged(t, s.Store, writers)
	if len(tg.events) != writers {
		t.Fatalf("%d of %d pending writes survived Close", len(tg.events), writers)
	}
	tg.checkWhole(t)
}

func TestBackupWhileWriting(t *testing.T) {
	s := openTest(t, "", DefaultConfig())
	const writers = 4
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for k := 0; ctx.Err() == nil; k++ {
				if err := s.Write(ctx, tagBatch(w, k)); err != nil && ctx.Err() == nil {
					t.Error(err)
					return
				}
			}
		})
	}
	dir := t.TempDir()
	var backups []string
	for i := range 3 {
		for metric(t, s.reg, "watchfloor_store_records_total", "kind", "event") < float64(100*(i+1)) {
			time.Sleep(time.Millisecond) // waiting for a state, not for time to pass
		}
		path := filepath.Join(dir, fmt.Sprintf("backup-%d.db", i))
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		n, err := s.Backup(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if fi, _ := os.Stat(path); fi.Size() != n {
			t.Fatalf("Backup returned %d, file has %d bytes", n, fi.Size())
		}
		backups = append(backups, path)
	}
	cancel()
	wg.Wait()

	prev := 0
	for _, path := range backups {
		b, err := Open(path, DefaultConfig(), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		checkConsistent(t, b)
		tg := readTagged(t, b, writers)
		tg.checkWhole(t)
		if len(tg.events) < prev || len(tg.events) < 100 {
			t.Fatalf("backup %s has %d events, the one before %d", path, len(tg.events), prev)
		}
		prev = len(tg.events)
		_ = b.Close()
	}

	// With the store closed, BackupFile copies the file.
	_ = s.Close()
	path := filepath.Join(dir, "offline.db")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := BackupFile(s.Path(), f); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	b := openTest(t, path, DefaultConfig())
	checkConsistent(t, b.Store)
	tg := readTagged(t, b.Store, writers)
	if len(tg.events) < prev {
		t.Fatalf("offline backup has %d events, fewer than the last online one (%d)", len(tg.events), prev)
	}
}
