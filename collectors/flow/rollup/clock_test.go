package rollup

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/watchfloor/watchfloor"
)

// TestRunClosesWithClock runs the aggregator in a synctest bubble, where time is fake: a
// minute closes Grace after its end, late records go to the open minute, the hour closes
// with its last minute, and cancelling flushes the partial minute and hour.
func TestRunClosesWithClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now() // 2000-01-01T00:00:00Z: a minute and an hour boundary
		a, reg := newTest(t, DefaultConfig(), 2)
		out := make(chan watchfloor.FlowRollup, 100)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- a.Run(ctx, func(r watchfloor.FlowRollup) { out <- r }) }()
		expect := func(n int) []watchfloor.FlowRollup {
			t.Helper()
			synctest.Wait()
			var got []watchfloor.FlowRollup
			for len(out) > 0 {
				got = append(got, <-out)
			}
			if len(got) != n {
				t.Fatalf("at %s: %d rollups, want %d", time.Since(start), len(got), n)
			}
			return got
		}

		time.Sleep(10 * time.Second)
		a.Add(0, []watchfloor.Flow{fl(time.Now(), "10.0.0.1", "198.51.100.1", 443, 1000)})
		a.Add(1, []watchfloor.Flow{fl(time.Now(), "10.0.0.2", "198.51.100.1", 443, 2000)})
		time.Sleep(54 * time.Second) // 64 s: the minute ended, the grace has not
		expect(0)
		// a datagram of the last minute arriving in the grace, and one of this minute
		a.Add(1, []watchfloor.Flow{fl(start.Add(59*time.Second), "10.0.0.3", "198.51.100.1", 443, 400)})
		a.Add(0, []watchfloor.Flow{fl(time.Now(), "10.0.0.1", "198.51.100.1", 443, 50)})
		time.Sleep(time.Second + time.Millisecond) // 65 s
		got := expect(1)
		if r := got[0]; !r.Start.Equal(start) || r.Step != time.Minute || r.Totals.Bytes != 3400 || r.Totals.Flows != 3 {
			t.Errorf("first minute %v %v %+v", r.Start, r.Step, r.Totals)
		}

		// late: a record of minute 0 after it closed goes to minute 1
		a.Add(0, []watchfloor.Flow{fl(start.Add(30*time.Second), "10.0.0.9", "198.51.100.1", 443, 7)})
		if v := metricValue(t, reg, "watchfloor_flow_rollup_late_records_total"); v != 1 {
			t.Errorf("late records %v, want 1", v)
		}
		time.Sleep(time.Minute)
		got = expect(1)
		if r := got[0]; !r.Start.Equal(start.Add(time.Minute)) || r.Totals.Bytes != 57 || r.Totals.Flows != 2 {
			t.Errorf("second minute %v %+v", r.Start, r.Totals)
		}

		// an idle hour: the hour closes when its last minute has
		time.Sleep(start.Add(time.Hour + 4*time.Second).Sub(time.Now()))
		expect(0)
		time.Sleep(2 * time.Second)
		got = expect(1)
		if r := got[0]; r.Step != time.Hour || !r.Start.Equal(start) || r.Totals.Bytes != 3457 || r.Totals.Flows != 5 {
			t.Errorf("hour %v %v %+v", r.Step, r.Start, r.Totals)
		}

		// shutdown flushes the open minute and the partial hour
		time.Sleep(20 * time.Second)
		a.Add(1, []watchfloor.Flow{fl(time.Now(), "10.0.0.1", "198.51.100.1", 443, 10)})
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		got = expect(2)
		if got[0].Step != time.Minute || got[1].Step != time.Hour || got[1].Totals.Bytes != 10 ||
			!got[1].Start.Equal(start.Add(time.Hour)) || !got[0].Start.Equal(start.Add(time.Hour)) {
			t.Errorf("flush %+v", got)
		}
		if v := metricValue(t, reg, "watchfloor_flow_rollup_rollups_total", "step", "minute"); v != 3 {
			t.Errorf("minute rollups %v, want 3", v)
		}
		if v := metricValue(t, reg, "watchfloor_flow_rollup_rollups_total", "step", "hour"); v != 2 {
			t.Errorf("hour rollups %v, want 2", v)
		}
		if v := metricValue(t, reg, "watchfloor_flow_rollup_records_total"); v != 6 {
			t.Errorf("records %v, want 6", v)
		}
		if v := metricValue(t, reg, "watchfloor_flow_rollup_close_duration_seconds"); v != 3 {
			t.Errorf("closings %v, want 3", v)
		}
	})
}

// TestAdvanceTo closes minutes by the capture's time, as replay does.
func TestAdvanceTo(t *testing.T) {
	a, reg := newTest(t, DefaultConfig(), 1)
	var c collector
	a.AdvanceTo(t0.Add(5*time.Second), c.emit) // before any record: sets the clock (10:00 open), closes nothing
	a.Add(0, []watchfloor.Flow{
		fl(t0.Add(5*time.Second), "10.0.0.1", "198.51.100.1", 443, 100),
		fl(t0.Add(65*time.Second), "10.0.0.1", "198.51.100.1", 443, 200),
		fl(t0.Add(-time.Hour), "10.0.0.1", "198.51.100.1", 443, 1), // before the clock: late, in minute 0
	})
	a.AdvanceTo(t0.Add(64*time.Second), c.emit)
	if len(c.got) != 0 {
		t.Fatalf("closed %d before minute 0's grace ended", len(c.got))
	}
	a.AdvanceTo(t0.Add(65*time.Second), c.emit)
	if len(c.got) != 1 || c.got[0].Totals.Bytes != 101 {
		t.Fatalf("got %+v", c.got)
	}
	if v := metricValue(t, reg, "watchfloor_flow_rollup_late_records_total"); v != 1 {
		t.Errorf("late %v", v)
	}
	a.AdvanceTo(t0.Add(-time.Hour), c.emit) // backwards: nothing
	a.AdvanceTo(t0.Add(3*time.Hour), c.emit)
	if len(c.got) != 3 || c.got[1].Totals.Bytes != 200 || c.got[2].Step != time.Hour || c.got[2].Totals.Bytes != 301 {
		t.Fatalf("got %+v", c.got)
	}
	a.Flush(c.emit)
	if len(c.got) != 3 {
		t.Errorf("flush of nothing emitted %d", len(c.got)-3)
	}
}

// TestAheadRecords: a record far past the open minutes closes them itself; the rollups wait
// for the next emit, in order, and the queue is bounded with counted drops.
func TestAheadRecords(t *testing.T) {
	a, _ := newTest(t, DefaultConfig(), 2)
	a.Add(0, []watchfloor.Flow{fl(t0, "10.0.0.1", "198.51.100.1", 443, 100)})
	a.Add(1, []watchfloor.Flow{fl(t0.Add(time.Minute), "10.0.0.1", "198.51.100.1", 443, 200)})
	a.Add(0, []watchfloor.Flow{fl(t0.Add(10*time.Minute), "10.0.0.1", "198.51.100.1", 443, 300)})
	a.Add(1, []watchfloor.Flow{fl(t0.Add(3*time.Hour), "10.0.0.1", "198.51.100.1", 443, 400)})
	var c collector
	a.AdvanceTo(t0, c.emit) // the clock is behind: only what Add closed
	var starts []string
	for _, r := range c.got {
		starts = append(starts, r.Start.Format("15:04")+"/"+r.Step.String())
	}
	want := "10:00/1m0s 10:01/1m0s 10:10/1m0s 10:00/1h0m0s"
	if got := join(starts); got != want {
		t.Errorf("emitted %s, want %s", got, want)
	}
	a.Flush(c.emit)
	if n := len(c.got); n != 6 || c.got[5].Totals.Bytes != 400 {
		t.Errorf("after flush %d rollups", n)
	}

	b, reg := newTest(t, DefaultConfig(), 1)
	for i := range 300 {
		b.Add(0, []watchfloor.Flow{fl(t0.Add(time.Duration(i)*10*time.Minute), "10.0.0.1", "198.51.100.1", 443, 1)})
	}
	var d collector
	b.Flush(d.emit)
	dropped := metricValue(t, reg, "watchfloor_flow_rollup_dropped_total")
	if dropped <= 0 || int(dropped)+len(d.got) != 300+50 {
		t.Errorf("dropped %v + emitted %d, want 350 rollups in all", dropped, len(d.got))
	}
}

func join(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out
}

func TestCurrent(t *testing.T) {
	a, _ := newTest(t, DefaultConfig(), 2)
	if r := a.Current(); len(r.Rows) != 0 || r.Step != time.Minute || r.Site != "east" {
		t.Errorf("empty current %+v", r)
	}
	a.Add(0, []watchfloor.Flow{fl(t0, "10.0.0.1", "198.51.100.1", 443, 100)})
	a.Add(0, []watchfloor.Flow{fl(t0.Add(time.Minute), "10.0.0.2", "198.51.100.1", 443, 200)})
	a.Add(1, []watchfloor.Flow{fl(t0.Add(time.Minute), "10.0.0.3", "198.51.100.1", 443, 300)})
	r := a.Current()
	if !r.Start.Equal(t0.Add(time.Minute)) || r.Totals.Bytes != 500 || len(rowsOf(r, watchfloor.FlowBySrc)) != 2 {
		t.Errorf("current %+v", r)
	}
	// Current does not consume: the minutes are still emitted in full
	var c collector
	a.Flush(c.emit)
	if len(c.got) != 3 || c.got[1].Totals.Bytes != 500 || c.got[2].Totals.Bytes != 600 {
		t.Errorf("flush after current %+v", c.got)
	}
}

// TestHostileTimes: zero, ancient and far-future Received times, out-of-range worker numbers
// and interleaved minutes neither panic nor lose a record.
func TestHostileTimes(t *testing.T) {
	a, _ := newTest(t, DefaultConfig(), 2)
	times := []time.Time{{}, t0, time.Unix(1<<40, 0), t0.Add(-100 * 365 * 24 * time.Hour), t0.Add(time.Minute),
		time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), t0.Add(2 * time.Minute), {}}
	var c collector
	var want uint64
	for i, at := range times {
		f := fl(at, "10.0.0.1", "198.51.100.1", 443, uint64(100+i))
		want += f.Bytes
		a.Add([]int{0, 1, -1, 7, 1 << 40}[i%5], []watchfloor.Flow{f, f})
		want += f.Bytes
		if i%3 == 0 {
			a.AdvanceTo(at, c.emit)
		}
	}
	a.Flush(c.emit)
	var mins, hours uint64
	for _, r := range c.got {
		if r.Step == time.Hour {
			hours += r.Totals.Bytes
		} else {
			mins += r.Totals.Bytes
		}
	}
	if mins != want || hours != want {
		t.Errorf("minutes %d, hours %d, want %d bytes", mins, hours, want)
	}
}
