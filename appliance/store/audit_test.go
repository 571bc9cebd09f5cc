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
	"testing"
	"time"
	"unicode/utf8"

	"github.com/watchfloor/watchfloor/console"
	bolt "go.etcd.io/bbolt"
)

func auditEntry(t time.Time, who, action, target string) console.AuditEntry {
	return console.AuditEntry{Time: t, Who: who, Role: "analyst", Via: "session", Action: action, Target: target,
		Detail: "on it", Remote: "192.0.2.10", OK: true}
}

func mustAudit(t testing.TB, s *Store, e console.AuditEntry) {
	t.Helper()
	if err := s.RecordAudit(e); err != nil {
		t.Fatal(err)
	}
}

func auditSeqs(list []console.AuditEntry) []uint64 {
	var out []uint64
	for _, e := range list {
		out = append(out, e.Seq)
	}
	return out
}

// Recorded entries come back newest first with their Seqs, filtered by time, who and action,
// and survive a reopen.
func TestAuditLog(t *testing.T) {
	path := t.TempDir() + "/w.db"
	s := openTest(t, path, DefaultConfig())
	// One an hour over 10 hours: ann acks, bob comments, alternately; the last is a failed login.
	for i := range 10 {
		who, action := "ann", console.AuditAlertAck
		if i%2 == 1 {
			who, action = "bob", console.AuditAlertComment
		}
		e := auditEntry(base.Add(time.Duration(i)*time.Hour), who, action, fmt.Sprintf("alert %d", i))
		e.Seq = 999 // ignored
		mustAudit(t, s.Store, e)
	}
	failed := console.AuditEntry{Time: base.Add(10 * time.Hour), Who: "mallory", Action: console.AuditLogin, Remote: "198.51.100.9"}
	mustAudit(t, s.Store, failed)

	all, err := s.AuditLog(console.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if got := auditSeqs(all); !slices.Equal(got, []uint64{11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1}) {
		t.Fatalf("seqs %v", got)
	}
	want := auditEntry(base.Add(9*time.Hour), "bob", console.AuditAlertComment, "alert 9")
	want.Seq = 10
	if !reflect.DeepEqual(all[1], want) || all[0].OK || all[0].Who != "mallory" {
		t.Fatalf("entries\n%+v\n%+v", all[0], all[1])
	}
	for _, tc := range []struct {
		name string
		q    console.AuditQuery
		want []uint64
	}{
		{"who", console.AuditQuery{Who: "ann"}, []uint64{9, 7, 5, 3, 1}},
		{"action", console.AuditQuery{Action: console.AuditAlertComment}, []uint64{10, 8, 6, 4, 2}},
		{"who and action", console.AuditQuery{Who: "ann", Action: console.AuditAlertComment}, nil},
		{"since", console.AuditQuery{Since: base.Add(8 * time.Hour)}, []uint64{11, 10, 9}},
		{"until", console.AuditQuery{Until: base.Add(2 * time.Hour)}, []uint64{2, 1}},
		{"range", console.AuditQuery{Since: base.Add(3 * time.Hour), Until: base.Add(5 * time.Hour)}, []uint64{5, 4}},
		{"empty range", console.AuditQuery{Since: base.Add(5 * time.Hour), Until: base.Add(5 * time.Hour)}, nil},
		{"until before all", console.AuditQuery{Until: base.Add(-time.Hour)}, nil},
		{"until after all", console.AuditQuery{Until: base.Add(100 * time.Hour)}, []uint64{11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1}},
		{"limit", console.AuditQuery{Limit: 3}, []uint64{11, 10, 9}},
		{"limit and filter", console.AuditQuery{Who: "bob", Limit: 2}, []uint64{10, 8}},
	} {
		got, err := s.AuditLog(tc.q)
		if err != nil || !slices.Equal(auditSeqs(got), tc.want) || got == nil {
			t.Errorf("%s: %v %v, want %v", tc.name, auditSeqs(got), err, tc.want)
		}
	}
	s.Close()
	s = openTest(t, path, DefaultConfig())
	mustAudit(t, s.Store, auditEntry(base.Add(11*time.Hour), "ann", console.AuditLogout, ""))
	if got, _ := s.AuditLog(console.AuditQuery{Limit: 2}); !slices.Equal(auditSeqs(got), []uint64{12, 11}) {
		t.Fatalf("after reopen %v", auditSeqs(got))
	}
}

// The limit: 100 by default, at most 1000.
func TestAuditLimit(t *testing.T) {
	s := openTest(t, "", DefaultConfig())
	var wg sync.WaitGroup
	for w := range 4 { // concurrent writers, as concurrent requests are
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				mustAudit(t, s.Store, auditEntry(base.Add(time.Duration(w*300+i)*time.Millisecond), "ann", console.AuditAlertAck, "alert 1"))
			}
		}()
	}
	wg.Wait()
	for limit, want := range map[int]int{0: DefaultAuditLimit, 5: 5, 1000: 1000, 5000: MaxAuditLimit} {
		if got, err := s.AuditLog(console.AuditQuery{Limit: limit}); err != nil || len(got) != want {
			t.Errorf("limit %d: %d %v", limit, len(got), err)
		}
	}
	if got, _ := s.AuditLog(console.AuditQuery{Limit: 1}); got[0].Seq != 1200 {
		t.Errorf("newest seq %d", got[0].Seq)
	}
}

// Invalid entries are refused, long text is cut, never refused.
func TestAuditRecordChecks(t *testing.T) {
	s := openTest(t, "", DefaultConfig())
	for name, e := range map[string]console.AuditEntry{
		"no time":   {Action: console.AuditAlertAck},
		"no action": {Time: base},
		"year":      {Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), Action: "x"},
	} {
		if err := s.RecordAudit(e); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	long := auditEntry(base, strings.Repeat("w", 1000), console.AuditAlertComment, strings.Repeat("t", 1000))
	long.Detail = strings.Repeat("é", 10_000) + "\xff"
	mustAudit(t, s.Store, long)
	got, _ := s.AuditLog(console.AuditQuery{})
	if len(got) != 1 {
		t.Fatalf("%d entries", len(got))
	}
	e := got[0]
	if len(e.Who) > maxAuditWho || len(e.Target) > maxAuditTarget || len(e.Detail) > maxAuditDetail ||
		!strings.HasSuffix(e.Detail, "…") || !utf8.ValidString(e.Detail) || !strings.HasPrefix(e.Who, "www") {
		t.Errorf("cut: who %d target %d detail %d bytes, valid %v", len(e.Who), len(e.Target), len(e.Detail), utf8.ValidString(e.Detail))
	}
	s.Close()
	if err := s.RecordAudit(auditEntry(base, "ann", "x", "")); !errors.Is(err, ErrClosed) {
		t.Errorf("closed: %v", err)
	}
}

func TestAuditRetention(t *testing.T) {
	s := openTest(t, "", DefaultConfig())
	s.chunk = 7
	keep := DefaultConfig().Retention.Audit
	if keep != 9600*time.Hour {
		t.Fatalf("default audit retention %v", keep)
	}
	for i := range 48 { // one an hour over two days
		mustAudit(t, s.Store, auditEntry(base.Add(time.Duration(i)*time.Hour), "ann", console.AuditAlertAck, ""))
	}
	s.clock.Set(base.Add(keep).Add(24 * time.Hour)) // cutoff: base + 1 day
	deleted, err := s.enforceRetention(context.Background())
	if err != nil || deleted["audit"] != 24 {
		t.Fatalf("deleted %v %v", deleted, err)
	}
	if got := metric(t, s.reg, "watchfloor_store_retention_deleted_total", "kind", "audit"); got != 24 {
		t.Errorf("retention metric{audit} %v", got)
	}
	left, _ := s.AuditLog(console.AuditQuery{Limit: 1000})
	if len(left) != 24 || left[len(left)-1].Seq != 25 || !left[len(left)-1].Time.Equal(base.Add(24*time.Hour)) {
		t.Fatalf("%d left, oldest %+v", len(left), left[len(left)-1])
	}
	mustAudit(t, s.Store, auditEntry(base.Add(keep), "ann", console.AuditLogout, ""))
	if got, _ := s.AuditLog(console.AuditQuery{Limit: 1}); got[0].Seq != 49 {
		t.Errorf("seq after retention %d", got[0].Seq)
	}
	if cfg := DefaultConfig(); true {
		cfg.Retention.Audit = 0
		if errs := cfg.Validate(); len(errs) != 1 || errs[0].Field != "retention.audit" {
			t.Errorf("validate %v", errs)
		}
	}
}

func TestAuditCorrupt(t *testing.T) {
	reads := map[string]func(s *Store) error{
		"log":           func(s *Store) error { _, err := s.AuditLog(console.AuditQuery{}); return err },
		"binary search": func(s *Store) error { _, err := s.AuditLog(console.AuditQuery{Until: base}); return err },
		"retention":     func(s *Store) error { _, err := s.enforceRetention(context.Background()); return err },
	}
	for name, read := range reads {
		for _, kv := range [][2][]byte{
			{u64(1), []byte("{not json")}, {u64(1), []byte(`{"time":"yesterday"}`)}, {u64(1), []byte("[]")},
			{[]byte("k"), []byte("{}")}, {u64(1), []byte(`{"detail":"` + strings.Repeat("x", maxAuditValue) + `"}`)},
		} {
			t.Run(fmt.Sprintf("%s %.20s", name, kv[1]), func(t *testing.T) {
				s := openTest(t, "", DefaultConfig())
				if err := s.update(func(tx *bolt.Tx) error { return tx.Bucket(bAudit).Put(kv[0], kv[1]) }); err != nil {
					t.Fatal(err)
				}
				if err := read(s.Store); !errors.Is(err, ErrCorrupt) {
					t.Fatalf("error %v, want ErrCorrupt", err)
				}
			})
		}
	}
}

// FuzzAuditDecode: a stored value decodes or fails, never panics; what decodes encodes and
// decodes again to the same.
func FuzzAuditDecode(f *testing.F) {
	v, _ := prepareAudit(auditEntry(base, "ann", console.AuditAlertAck, "alert 1"))
	for _, s := range [][]byte{v, []byte("{}"), []byte("null"), []byte(`{"time":"2026-03-01T00:00:00Z","ok":1}`), []byte(`{"seq":-1}`)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		e, err := decodeAudit(u64(7), v)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		if e.Seq != 7 {
			t.Fatalf("seq %d", e.Seq)
		}
		b, err := json.Marshal(&e)
		if err != nil {
			return // a time json cannot write (year > 9999): RecordAudit never stores one
		}
		e2, err := decodeAudit(u64(7), b)
		if err != nil || !reflect.DeepEqual(e, e2) {
			t.Fatalf("%+v does not survive a round trip: %+v %v", e, e2, err)
		}
	})
}

// BenchmarkRecordAudit: one durable transaction per entry.
func BenchmarkRecordAudit(b *testing.B) {
	s := openTest(b, "", DefaultConfig())
	e := auditEntry(base, "ann", console.AuditAlertAck, "alert 1")
	b.ReportAllocs()
	for b.Loop() {
		mustAudit(b, s.Store, e)
	}
}
