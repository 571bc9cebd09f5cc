package appliance

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/watchfloor/watchfloor/appliance/report"
	"github.com/watchfloor/watchfloor/appliance/store"
)

// logBuffer collects an appliance's JSON log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// records returns the log lines with the given message.
func (b *logBuffer) records(t *testing.T, msg string) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for line := range bytes.Lines(b.buf.Bytes()) {
		var r map[string]any
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if r["msg"] == msg {
			out = append(out, r)
		}
	}
	return out
}

// An appliance with a report: block starts the monthly report's scheduler, which says when
// it will next run (the configured day and hour, in the configured zone); one without the
// block starts none. The appliance takes its clock from the machine, so the run itself is
// never due within a test: the scheduled run is covered by report.Scheduler's tests with a
// fake clock (appliance/report/schedule_test.go); what is checked here is the wiring — the
// scheduler runs, with the block's schedule, over the appliance's store, and nothing is
// made before it is due.
func TestApplianceStartsReportScheduler(t *testing.T) {
	for _, tc := range []struct {
		name  string
		block *report.Config
	}{
		{"with report block", &report.Config{Day: 3, Hour: 7, TimeZone: "Asia/Kathmandu", Sites: []string{"east"}}},
		{"without report block", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Site = "east"
			cfg.Console.Listen = "127.0.0.1:0"
			cfg.Report = tc.block
			logs := &logBuffer{}
			log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
			dir := t.TempDir()
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			a, err := New(ctx, Options{Config: cfg, DataDir: dir, Log: log})
			if err != nil {
				t.Fatal(err)
			}
			before := time.Now()
			done := make(chan error, 1)
			up := make(chan struct{})
			go func() { done <- a.Run(ctx, func(net.Addr) { close(up) }) }()
			select {
			case <-up:
			case err := <-done:
				t.Fatalf("appliance stopped: %v", err)
			case <-time.After(10 * time.Second):
				t.Fatal("the appliance did not start within 10 s")
			}
			// Run returns once every part it started has stopped, so the scheduler, if it was
			// started, has logged its next run by then.
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("run: %v", err)
			}
			after := time.Now()

			lines := logs.records(t, "next monthly report")
			if tc.block == nil {
				if len(lines) != 0 {
					t.Fatalf("a scheduler ran without a report block: %v", lines)
				}
				return
			}
			if len(lines) != 1 {
				t.Fatalf("%d \"next monthly report\" lines, want 1 (the scheduler did not start?)", len(lines))
			}
			if c := lines[0]["component"]; c != "report" {
				t.Errorf("component = %v, want report", c)
			}
			got, err := time.Parse(time.RFC3339Nano, lines[0]["at"].(string))
			if err != nil {
				t.Fatalf("at = %v: %v", lines[0]["at"], err)
			}
			// The schedule is the block's: 3rd of a month, 07:00 in Kathmandu (UTC+05:45).
			lo, hi := tc.block.NextRun(before), tc.block.NextRun(after)
			if got.Before(lo) || got.After(hi) {
				t.Errorf("next run %v, want %v (the block's schedule)", got, lo)
			}
			if k := got.In(tc.block.Location()); k.Day() != 3 || k.Hour() != 7 || k.Minute() != 0 || got.UTC().Minute() != 15 {
				t.Errorf("next run %v is not the 3rd at 07:00 Kathmandu", k)
			}
			// Not due: nothing was made, and the store the scheduler was given is the
			// appliance's.
			st, err := store.OpenReadOnly(dir+"/"+DBFile, 5*time.Second, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if rs, err := st.Reports(); err != nil || len(rs) != 0 {
				t.Errorf("reports before the first due time: %v, %v", rs, err)
			}
		})
	}
}
