package appliance

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/appliance/report"
	"github.com/watchfloor/watchfloor/appliance/store"
	"github.com/watchfloor/watchfloor/console"
)

// The console's reports over a real store and the real report engine: a report made on
// demand is kept like a scheduled one (listed, both files served), in the report: block's
// time zone; a month not over in that zone and an unknown site are field errors; unknown
// reports and formats are ErrNotFound.
func TestReportsAPI(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), DBFile), store.DefaultConfig(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Write(context.Background(), &store.Batch{Devices: []watchfloor.Device{
		{Name: "r1", Site: "east", Address: "127.0.0.1:161"}, {Name: "w1", Site: "west", Address: "127.0.0.2:161"},
	}}); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Site = "east"
	cfg.Report = &report.Config{TimeZone: "America/Los_Angeles", Sites: []string{"north"}}
	r, err := newReportsAPI(cfg, false, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	// 1 November 05:00 UTC is 31 October 22:00 in Los Angeles: October is not over there.
	now := time.Date(2026, 11, 1, 5, 0, 0, 0, time.UTC)
	r.now, r.sched.Now = func() time.Time { return now }, func() time.Time { return now }
	ctx := context.Background()
	var fe console.FieldError
	if _, err := r.Generate(ctx, "2026-10", ""); !errors.As(err, &fe) || fe.Field != "month" || !strings.Contains(fe.Msg, "America/Los_Angeles") {
		t.Fatalf("October before its end in Los Angeles: %v", err)
	}
	now = now.Add(3 * time.Hour)
	if _, err := r.Generate(ctx, "2026-10", "atlantis"); !errors.As(err, &fe) || fe.Field != "site" || !strings.Contains(fe.Msg, "east, north, west") {
		t.Fatalf("unknown site: %v", err)
	}
	if _, err := r.Generate(ctx, "2026-1", ""); !errors.As(err, &fe) || fe.Field != "month" {
		t.Fatalf("malformed month: %v", err)
	}
	info, err := r.Generate(ctx, "2026-10", "west")
	if err != nil {
		t.Fatal(err)
	}
	if info.ID == 0 || info.Month != "2026-10" || info.Site != "west" || info.TimeZone != "America/Los_Angeles" || info.Trigger != "on-demand" ||
		!info.Generated.Equal(now) || len(info.Files) != 2 || info.Files[0].Format != "pdf" || info.Files[0].Bytes == 0 || len(info.Mailed) != 0 {
		t.Errorf("made %+v", info)
	}
	list, err := r.List()
	if err != nil || len(list) != 1 || list[0].ID != info.ID || list[0].Files[1] != info.Files[1] {
		t.Fatalf("list %+v %v", list, err)
	}
	got, pdf, err := r.File(info.ID, "pdf")
	if err != nil || got.Site != "west" || !bytes.HasPrefix(pdf, []byte("%PDF-")) || len(pdf) != info.Files[0].Bytes {
		t.Errorf("pdf: %v, %d bytes, %+v", err, len(pdf), got)
	}
	if _, html, err := r.File(info.ID, "html"); err != nil || !bytes.Contains(html, []byte("2026")) || len(html) != info.Files[1].Bytes {
		t.Errorf("html: %v, %d bytes", err, len(html))
	}
	for _, c := range []struct {
		id     uint64
		format string
	}{{info.ID + 1, "pdf"}, {info.ID, "docx"}} {
		if _, _, err := r.File(c.id, c.format); !errors.Is(err, console.ErrNotFound) {
			t.Errorf("file %d %s: %v, want ErrNotFound", c.id, c.format, err)
		}
	}
	// The same report asked again is made again (on demand is on demand), newest first.
	again, err := r.Generate(ctx, "2026-10", "west")
	if err != nil {
		t.Fatal(err)
	}
	if list, _ := r.List(); len(list) != 2 || list[0].ID != again.ID {
		t.Errorf("list after a second report: %+v", list)
	}
}

// Without a report: block, reports are on demand in UTC and the configured site is known.
func TestReportsAPIWithoutBlock(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), DBFile), store.DefaultConfig(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cfg := DefaultConfig()
	cfg.Site = "east"
	r, err := newReportsAPI(cfg, false, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	r.now, r.sched.Now = func() time.Time { return now }, func() time.Time { return now }
	info, err := r.Generate(context.Background(), "2026-10", "east")
	if err != nil {
		t.Fatal(err)
	}
	if info.TimeZone != "UTC" || info.Site != "east" {
		t.Errorf("made %+v", info)
	}
}
