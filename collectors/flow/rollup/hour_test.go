package rollup

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/watchfloor/watchfloor"
)

func TestHourSlots(t *testing.T) {
	a, _ := newTest(t, DefaultConfig(), 1)
	for _, x := range []struct {
		minute int
		bytes  uint64
	}{{0, 100}, {4, 200}, {5, 300}, {17, 400}, {59, 500}} {
		a.Add(0, []watchfloor.Flow{fl(t0.Add(time.Duration(x.minute)*time.Minute+30*time.Second), "10.0.0.1", "198.51.100.1", 443, x.bytes)})
	}
	var c collector
	a.AdvanceTo(t0.Add(time.Hour+5*time.Second), c.emit)
	if len(c.got) != 6 || c.got[5].Step != time.Hour {
		t.Fatalf("got %d rollups, want 5 minutes then the hour", len(c.got))
	}
	for _, m := range c.got[:5] {
		for _, it := range m.Interfaces {
			if it.In5m != nil || it.Out5m != nil {
				t.Errorf("minute rollup with 5-minute slots: %+v", it)
			}
		}
	}
	h := c.got[5]
	want := []watchfloor.IfTraffic{
		{Device: "core-r1", IfIndex: 1, Interface: "ge-0/0/1", SpeedBps: 1e9, InBytes: 1500, InPackets: 15,
			In5m: []uint64{300, 300, 0, 400, 0, 0, 0, 0, 0, 0, 0, 500}, Out5m: make([]uint64, 12)},
		{Device: "core-r1", IfIndex: 2, Interface: "ge-0/0/2", SpeedBps: 1e10, OutBytes: 1500, OutPackets: 15,
			In5m: make([]uint64, 12), Out5m: []uint64{300, 300, 0, 400, 0, 0, 0, 0, 0, 0, 0, 500}},
	}
	if !reflect.DeepEqual(h.Interfaces, want) {
		t.Errorf("hour interfaces\n got %+v\nwant %+v", h.Interfaces, want)
	}
	if !h.Start.Equal(t0) || h.Totals.Bytes != 1500 || h.Totals.Flows != 5 {
		t.Errorf("hour %v %+v", h.Start, h.Totals)
	}
	if rows := rowsOf(h, watchfloor.FlowBySrc); len(rows) != 1 || rows[0].Bytes != 1500 || rows[0].Flows != 5 {
		t.Errorf("hour src rows %+v", rows)
	}
	in, out := Percentile95(h.Interfaces[0].In5m, h.Interfaces[0].Out5m)
	if in != 500*8/300.0 || out != 0 { // 12 slots: rank ⌈11.4⌉ = 12, the highest
		t.Errorf("p95 of the hour %v %v", in, out)
	}
}

// TestHourTopN: an hour's rows are the exact top of the whole hour, not of its minutes.
func TestHourTopN(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	flows := randomFlows(rng, 20000, t0, time.Hour)
	cfg := DefaultConfig()
	cfg.TopN = 5
	a, _ := newTest(t, cfg, 1)
	var c collector
	for b := 0; b < len(flows); b += 200 {
		a.Add(0, flows[b:b+200])
		a.AdvanceTo(flows[b+199].Received, c.emit)
	}
	a.Flush(c.emit)
	hours := c.steps(time.Hour)
	if len(hours) != 1 || len(c.steps(time.Minute)) != 60 {
		t.Fatalf("%d hours, %d minutes", len(hours), len(c.steps(time.Minute)))
	}
	for _, by := range watchfloor.FlowDims[:7] {
		if got, want := rowsOf(hours[0], by), reference(flows, by, 5); !reflect.DeepEqual(got, want) {
			t.Errorf("hour by %s\n got %v\nwant %v", by, got, want)
		}
	}
}

// TestMergePartialHours: merging the partial rollups of an hour gives the whole hour when
// nothing is trimmed, whatever the grouping; and several workers give what one does.
func TestMergePartialHours(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	flows := randomFlows(rng, 6000, t0, time.Hour)
	cfg := DefaultConfig()
	cfg.TopN = 10000 // no trimming
	run := func(workers int, cuts ...int) []watchfloor.FlowRollup {
		a, _ := newTest(t, cfg, workers)
		var c collector
		from := 0
		for _, cut := range append(cuts, len(flows)) {
			for b := from; b < cut; b += 50 {
				a.Add(b/50%workers, flows[b:min(b+50, cut)])
			}
			a.Flush(c.emit)
			from = cut
		}
		return c.steps(time.Hour)
	}
	whole := run(1)
	if len(whole) != 1 {
		t.Fatalf("%d hours", len(whole))
	}
	if got := run(3); !reflect.DeepEqual(got, whole) {
		t.Errorf("3 workers differ from 1")
	}
	parts := run(2, 1000, 3100, 5999)
	if len(parts) != 4 {
		t.Fatalf("%d partial hours", len(parts))
	}
	left := Merge(Merge(Merge(parts[0], parts[1], 0), parts[2], 0), parts[3], 0)
	right := Merge(parts[0], Merge(parts[1], Merge(parts[2], parts[3], 0), 0), 0)
	swapped := Merge(Merge(parts[3], parts[1], 0), Merge(parts[2], parts[0], 0), 0)
	for name, m := range map[string]watchfloor.FlowRollup{"left": left, "right": right, "swapped": swapped} {
		if !reflect.DeepEqual(m, whole[0]) {
			t.Errorf("%s merge of partial hours differs from the whole hour: %s", name, diff(m, whole[0]))
		}
	}
	if !reflect.DeepEqual(Merge(watchfloor.FlowRollup{}, whole[0], 0), whole[0]) {
		t.Errorf("merge into nothing changes the rollup")
	}

	// with trimming: at most 2·topN rows per dimension and device, sums never exceed the truth
	trimmed := Merge(parts[0], parts[1], 3)
	full := Merge(parts[0], parts[1], 0)
	count := map[[2]string]int{}
	truth := map[[3]string]uint64{}
	for _, r := range full.Rows {
		truth[[3]string{string(r.By), r.Device, r.Key}] = r.Bytes
	}
	for _, r := range trimmed.Rows {
		count[[2]string{string(r.By), r.Device}]++
		if truth[[3]string{string(r.By), r.Device, r.Key}] != r.Bytes {
			t.Errorf("trimmed row %+v differs from the full sum", r)
		}
	}
	for k, n := range count {
		if n > 6 {
			t.Errorf("%v: %d rows after trimming to 3", k, n)
		}
	}
	if trimmed.Totals != full.Totals {
		t.Errorf("trimming changed the totals")
	}
}

func TestMergeTrimsByBytesAndPackets(t *testing.T) {
	row := func(key string, b, p uint64) watchfloor.FlowRow {
		return watchfloor.FlowRow{By: watchfloor.FlowBySrc, Device: "r1", Key: key, Bytes: b, Packets: p, Flows: 1}
	}
	a := watchfloor.FlowRollup{Site: "east", Start: t0, Step: time.Minute,
		Rows:       []watchfloor.FlowRow{row("A", 100, 1), row("B", 50, 50), row("C", 10, 100)},
		Interfaces: []watchfloor.IfTraffic{{Device: "r1", IfIndex: 1, InBytes: 5, In5m: []uint64{1, 2}}}}
	b := watchfloor.FlowRollup{Site: "east", Start: t0, Step: time.Minute,
		Rows: []watchfloor.FlowRow{row("B", 60, 1), row("D", 90, 2), row("E", 1, 90)},
		Interfaces: []watchfloor.IfTraffic{{Device: "r1", IfIndex: 1, Interface: "ge-0", InBytes: 7, In5m: []uint64{10, 20, 30}},
			{Device: "r0", IfIndex: 9, OutBytes: 1}}}
	m := Merge(a, b, 1)
	// sums: A 100/1, B 110/51, C 10/100, D 90/2, E 1/90 → top 1 by bytes B, top 1 by packets C
	if got := keysOf(m.Rows); !reflect.DeepEqual(got, []string{"B", "C"}) {
		t.Errorf("rows %v", got)
	}
	want := []watchfloor.IfTraffic{{Device: "r0", IfIndex: 9, OutBytes: 1},
		{Device: "r1", IfIndex: 1, Interface: "ge-0", InBytes: 12, In5m: []uint64{11, 22, 30}}}
	if !reflect.DeepEqual(m.Interfaces, want) {
		t.Errorf("interfaces %+v", m.Interfaces)
	}
	if a.Interfaces[0].In5m[0] != 1 {
		t.Errorf("Merge modified its input")
	}
}

func TestPercentile95(t *testing.T) {
	// v·37500 bytes in 300 s is v·1000 bit/s
	slots := func(vs ...uint64) []uint64 {
		out := make([]uint64, len(vs))
		for i, v := range vs {
			out[i] = v * 37500
		}
		return out
	}
	seq := func(n int) []uint64 {
		out := make([]uint64, n)
		for i := range out {
			out[i] = uint64(n - i) // descending: Percentile95 sorts
		}
		return slots(out...)
	}
	for _, tc := range []struct {
		name    string
		in, out []uint64
		inBps   float64
		outBps  float64
	}{
		{"none", nil, nil, 0, 0},
		{"one", slots(7), slots(3), 7000, 3000},
		{"20 slots: the 19th", seq(20), seq(10), 19000, 10000}, // ⌈0.95·10⌉ = 10: the highest
		{"100 slots: the 95th", seq(100), seq(100), 95000, 95000},
		// a 30-day month, 8640 slots, 432 bursts at 100 Mbit/s over 10 Mbit/s: the bursts are the top 5 %
		{"month with bursts", month(432), month(433), 10e6, 100e6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, out := Percentile95(tc.in, tc.out)
			if in != tc.inBps || out != tc.outBps {
				t.Errorf("got %v/%v, want %v/%v", in, out, tc.inBps, tc.outBps)
			}
		})
	}
}

// month is 8640 slots (30 days) at 10 Mbit/s, the first bursts of them at 100 Mbit/s.
func month(bursts int) []uint64 {
	out := make([]uint64, 8640)
	for i := range out {
		out[i] = 10e6 * 300 / 8
		if i < bursts {
			out[i] = 100e6 * 300 / 8
		}
	}
	return out
}

// TestOverflow: a scan from a million sources keeps the tables at MaxKeys and the totals exact.
func TestOverflow(t *testing.T) {
	cfg := DefaultConfig()
	cfg.TopN, cfg.MaxKeys = 10, 1000
	a, reg := newTest(t, cfg, 1)
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	batch := make([]watchfloor.Flow, 1000)
	proto := fl(t0.Add(time.Second), "10.0.0.1", "198.51.100.1", 443, 60)
	var want watchfloor.FlowTotals
	for i := range 1000 {
		for j := range batch {
			n := i*1000 + j
			f := proto
			f.SrcAddr = netip.AddrFrom4([4]byte{10, byte(n >> 16), byte(n >> 8), byte(n)})
			f.Bytes = uint64(40 + n%100)
			batch[j] = f
			want.Bytes += f.Bytes
			want.Packets += f.Packets
			want.Flows++
		}
		a.Add(0, batch)
	}
	for _, tb := range a.shards[0].ring {
		if len(tb.src.keys) > 1000 || len(tb.pair.keys) > 1000 || len(tb.src.idx) > 1000 {
			t.Errorf("table holds %d sources", len(tb.src.keys))
		}
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 16<<20 {
		t.Errorf("heap grew by %d MiB for a scan of 1M sources", grew>>20)
	}
	var c collector
	a.Flush(c.emit)
	r := c.steps(time.Minute)[0]
	want.Overflow = 1e6 - 1000
	if r.Totals != want {
		t.Errorf("totals %+v, want %+v", r.Totals, want)
	}
	if n := len(rowsOf(r, watchfloor.FlowBySrc)); n > 20 {
		t.Errorf("%d source rows", n)
	}
	if rows := rowsOf(r, watchfloor.FlowByDst); len(rows) != 1 || rows[0].Flows != 1e6 {
		t.Errorf("destination rows %+v: the one destination has every record", rows)
	}
	for dim, n := range map[string]float64{"src": 999000, "pair": 999000, "dst": 0, "port": 0} {
		if v := metricValue(t, reg, "watchfloor_flow_rollup_overflow_total", "dim", dim); v != n {
			t.Errorf("overflow{dim=%s} %v, want %v", dim, v, n)
		}
	}

	// the hour's tables are bounded too: a second minute of 1000 other sources does not fit
	b, _ := newTest(t, cfg, 1)
	for m := range 2 {
		for j := range batch {
			f := proto
			f.Received = t0.Add(time.Duration(m) * time.Minute)
			f.SrcAddr = netip.AddrFrom4([4]byte{10, byte(m), byte(j >> 8), byte(j)})
			batch[j] = f
		}
		b.Add(0, batch)
	}
	var d collector
	b.Flush(d.emit)
	h := d.steps(time.Hour)[0]
	if h.Totals.Flows != 2000 || h.Totals.Overflow != 1000 || len(rowsOf(h, watchfloor.FlowBySrc)) != 10 {
		t.Errorf("hour totals %+v", h.Totals)
	}
}

// TestConcurrentAdd: workers add while the clock advances and the console reads; nothing is
// lost. Run with -race.
func TestConcurrentAdd(t *testing.T) {
	const workers = 4
	a, reg := newTest(t, DefaultConfig(), workers)
	var want watchfloor.FlowTotals
	inputs := make([][]watchfloor.Flow, workers)
	for w := range inputs {
		inputs[w] = randomFlows(rand.New(rand.NewPCG(uint64(w), 9)), 8000, t0, 3*time.Minute)
		for _, f := range inputs[w] {
			want.Bytes += f.Bytes
			want.Packets += f.Packets
			want.Flows++
		}
	}
	var c collector
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for b := 0; b < len(inputs[w]); b += 40 {
				a.Add(w, inputs[w][b:b+40])
			}
		})
	}
	stop := make(chan struct{})
	var clock sync.WaitGroup
	clock.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			a.AdvanceTo(t0.Add(time.Duration(i%200)*time.Second), c.emit)
			_ = a.Current()
		}
	})
	wg.Wait()
	close(stop)
	clock.Wait()
	a.Flush(c.emit)
	var mins, hours watchfloor.FlowTotals
	for _, r := range c.got {
		s := &mins
		if r.Step == time.Hour {
			s = &hours
		}
		s.Bytes += r.Totals.Bytes
		s.Packets += r.Totals.Packets
		s.Flows += r.Totals.Flows
	}
	if mins != want || hours != want {
		t.Errorf("minutes %+v, hours %+v, want %+v", mins, hours, want)
	}
	if v := metricValue(t, reg, "watchfloor_flow_rollup_records_total"); v != float64(want.Flows) {
		t.Errorf("records %v", v)
	}
}

// diff describes the first difference between two rollups.
func diff(a, b watchfloor.FlowRollup) string {
	if a.Site != b.Site || !a.Start.Equal(b.Start) || a.Step != b.Step || a.Totals != b.Totals {
		return fmt.Sprintf("header %v %v %v %+v vs %v %v %v %+v", a.Site, a.Start, a.Step, a.Totals, b.Site, b.Start, b.Step, b.Totals)
	}
	if len(a.Rows) != len(b.Rows) {
		seen := map[watchfloor.FlowRow]int{}
		for _, r := range a.Rows {
			seen[r]++
		}
		for _, r := range b.Rows {
			seen[r]--
		}
		var d []string
		for r, n := range seen {
			if n != 0 {
				d = append(d, fmt.Sprintf("%+v:%d", r, n))
			}
		}
		return fmt.Sprintf("%d rows vs %d: %v", len(a.Rows), len(b.Rows), d)
	}
	for i := range a.Rows {
		if a.Rows[i] != b.Rows[i] {
			return fmt.Sprintf("row %d: %+v vs %+v", i, a.Rows[i], b.Rows[i])
		}
	}
	if len(a.Interfaces) != len(b.Interfaces) {
		return fmt.Sprintf("%d interfaces vs %d", len(a.Interfaces), len(b.Interfaces))
	}
	for i := range a.Interfaces {
		if !reflect.DeepEqual(a.Interfaces[i], b.Interfaces[i]) {
			return fmt.Sprintf("interface %d: %+v vs %+v", i, a.Interfaces[i], b.Interfaces[i])
		}
	}
	return "none found"
}
