package decode

import (
	"reflect"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/watchfloor/watchfloor"
)

func secs(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// step is one packet (or a Tick or Flush when frame is nil) at t0+at, and the observations
// of the kinds a test looks at that it must produce.
type step struct {
	at    time.Duration
	frame []byte
	tick  bool
	flush bool
	want  []obsView
}

func run(t *testing.T, d *Decoder, steps []step, kinds ...watchfloor.ObsKind) {
	t.Helper()
	var out Output
	for i, s := range steps {
		out.Reset()
		now := t0.Add(s.at)
		switch {
		case s.tick:
			d.Tick(now, &out)
		case s.flush:
			d.Flush(now, &out)
		default:
			if err := d.Packet(layers.LinkTypeEthernet, s.frame, len(s.frame)+4, now, 1, &out); err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
		}
		var got []obsView
		for _, o := range out.Obs {
			for _, k := range kinds {
				if o.Kind == k {
					got = append(got, view(o))
				}
			}
			if o.Kind == watchfloor.ObsHostTraffic || o.Kind == watchfloor.ObsHalfOpen {
				if o.Time.UnixNano()%int64(d.cfg.Interval) != 0 || o.Time.After(now) && !s.flush {
					t.Errorf("step %d: summary at %v, not an interval end before %v", i, o.Time, now)
				}
			}
		}
		if !reflect.DeepEqual(got, s.want) {
			t.Errorf("step %d (+%v):\ngot  %+v\nwant %+v", i, s.at, got, s.want)
		}
	}
}

func synFrame(t *testing.T, src, dst string, sport, dport uint16, flags uint8) []byte {
	return pkt{src: src, dst: dst, proto: tcp, sport: sport, dport: dport, flags: flags}.frame(t)
}

// TestHalfOpen: a SYN is half-open until a SYN-ACK or a RST answers it or HalfOpenTimeout
// passes since its last retransmission; tcp.syn carries the destination's count, and
// tcp.half_open rows come at interval ends.
func TestHalfOpen(t *testing.T) {
	const a, b, c = "192.0.2.1", "198.51.100.7", "203.0.113.9"
	m := NewMetrics(prometheus.NewRegistry())
	cfg := DefaultConfig()
	d := New(cfg, m)
	syn := func(src string, sport uint16, halfOpen uint32) obsView {
		return obsView{Kind: watchfloor.ObsTCPSyn, Src: src, Dst: b, SrcPort: sport, DstPort: 80, Proto: 6, Flags: flagSYN, HalfOpen: halfOpen}
	}
	half := func(dst string, n uint32) obsView {
		return obsView{Kind: watchfloor.ObsHalfOpen, Dst: dst, HalfOpen: n}
	}
	run(t, d, []step{
		{at: 0, frame: synFrame(t, a, b, 1000, 80, flagSYN), want: []obsView{syn(a, 1000, 1)}},
		{at: secs(1), frame: synFrame(t, a, b, 1001, 80, flagSYN), want: []obsView{syn(a, 1001, 2)}},
		// Answered: 1000 is no longer half-open.
		{at: secs(1.1), frame: synFrame(t, b, a, 80, 1000, flagSYN|flagACK)},
		{at: secs(2), frame: synFrame(t, c, b, 2000, 80, flagSYN), want: []obsView{syn(c, 2000, 2)}},
		// Refused.
		{at: secs(2.1), frame: synFrame(t, b, c, 80, 2000, flagRST|flagACK)},
		// Retransmitted: still one attempt, refreshed.
		{at: secs(5), frame: synFrame(t, a, b, 1001, 80, flagSYN), want: []obsView{syn(a, 1001, 1)}},
		{at: secs(6), frame: synFrame(t, c, b, 2001, 80, flagSYN), want: []obsView{syn(c, 2001, 2)}},
		// Aborted by its own source.
		{at: secs(6.5), frame: synFrame(t, c, b, 2001, 80, flagRST)},
		// The interval [0,10s) ends: one attempt half-open at b.
		{at: secs(10), tick: true, want: []obsView{half(b, 1)}},
		// 1001 was last seen at 5 s: half-open until 15 s.
		{at: secs(14.9), tick: true},
		{at: secs(15), frame: synFrame(t, a, b, 1002, 80, flagSYN), want: []obsView{syn(a, 1002, 1)}},
		// The SYN-ACK of an expired attempt answers nothing.
		{at: secs(16), frame: synFrame(t, b, a, 80, 1001, flagSYN|flagACK)},
		{at: secs(20), tick: true, want: []obsView{half(b, 1)}},
		{at: secs(30), tick: true},
	}, watchfloor.ObsTCPSyn, watchfloor.ObsHalfOpen)
	if n := testutil.ToFloat64(m.expired); n != 2 {
		t.Errorf("expired = %v, want 2 (1001 at 15 s, 1002 at 25 s)", n)
	}
	if n := testutil.ToFloat64(m.tracked); n != 0 {
		t.Errorf("tracked = %v, want 0", n)
	}
}

// TestSummaries: host.traffic per source host per interval (frame bytes on the wire), rows
// emitted by the first packet of the next interval or by Tick, times at interval ends, and
// Flush for what is left.
func TestSummaries(t *testing.T) {
	const a, b = "192.0.2.1", "2001:db8::2"
	cfg := DefaultConfig()
	cfg.Interval = 5 * time.Second
	m := NewMetrics(nil)
	d := New(cfg, m)
	fa := pkt{src: a, dst: "198.51.100.1", proto: udp, sport: 1, dport: 2, payload: make([]byte, 100)}.frame(t)
	fb := pkt{src: b, dst: "2001:db8::9", proto: udp, sport: 1, dport: 2, payload: make([]byte, 10)}.frame(t)
	wa, wb := uint64(len(fa)+4), uint64(len(fb)+4) // run counts 4 bytes of FCS on the wire
	host := func(src string, packets, bytes uint64) obsView {
		return obsView{Kind: watchfloor.ObsHostTraffic, Src: src, Packets: packets, Bytes: bytes}
	}
	run(t, d, []step{
		{at: 0, frame: fa},
		{at: secs(1), frame: fb},
		{at: secs(4.9), frame: fa},
		// The first packet past 5 s closes [0,5s).
		{at: secs(5), frame: fa, want: []obsView{host(a, 2, 2*wa), host(b, 1, wb)}},
		{at: secs(9), tick: true},
		{at: secs(10), tick: true, want: []obsView{host(a, 1, wa)}},
		// Idle intervals have no rows.
		{at: secs(30), tick: true},
		{at: secs(31), frame: fb},
		{at: secs(32), flush: true, want: []obsView{host(b, 1, wb)}},
		// After a flush the next file may start earlier.
		{at: secs(-100), frame: fb},
		{at: secs(-99), flush: true, want: []obsView{host(b, 1, wb)}},
	}, watchfloor.ObsHostTraffic)
	d.Tick(t0, &Output{})
	if n := testutil.ToFloat64(m.obsBy[watchfloor.ObsHostTraffic]); n != 5 {
		t.Errorf("host.traffic counted %v, want 5", n)
	}
}

// TestBounds: beyond MaxHosts and MaxTracked packets are counted, not tracked.
func TestBounds(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxHosts, cfg.MaxTracked = 2, 2
	m := NewMetrics(nil)
	d := New(cfg, m)
	const dst = "198.51.100.7"
	syn := func(src string, sport uint16, n uint32) obsView {
		return obsView{Kind: watchfloor.ObsTCPSyn, Src: src, Dst: dst, SrcPort: sport, DstPort: 80, Proto: 6, Flags: flagSYN, HalfOpen: n}
	}
	host := func(src string) obsView {
		return obsView{Kind: watchfloor.ObsHostTraffic, Src: src, Packets: 1, Bytes: 0}
	}
	var steps []step
	steps = append(steps,
		step{at: 0, frame: synFrame(t, "192.0.2.1", dst, 1, 80, flagSYN), want: []obsView{syn("192.0.2.1", 1, 1)}},
		step{at: 0, frame: synFrame(t, "192.0.2.2", dst, 1, 80, flagSYN), want: []obsView{syn("192.0.2.2", 1, 2)}},
		// Not tracked: the count stays 2.
		step{at: 0, frame: synFrame(t, "192.0.2.3", dst, 1, 80, flagSYN), want: []obsView{syn("192.0.2.3", 1, 2)}},
		step{at: 0, frame: synFrame(t, "192.0.2.3", dst, 2, 80, flagSYN), want: []obsView{syn("192.0.2.3", 2, 2)}},
		// Answering one makes room.
		step{at: 0, frame: synFrame(t, dst, "192.0.2.1", 80, 1, flagRST|flagACK)},
		step{at: 0, frame: synFrame(t, "192.0.2.4", dst, 1, 80, flagSYN), want: []obsView{syn("192.0.2.4", 1, 2)}},
	)
	run(t, d, steps, watchfloor.ObsTCPSyn)
	var out Output
	d.Flush(t0, &out)
	var got []obsView
	for _, o := range out.Obs {
		if o.Kind == watchfloor.ObsHostTraffic {
			v := view(o)
			v.Bytes = 0
			got = append(got, v)
		}
	}
	// 192.0.2.1 and .2 fit; .3 (twice), dst (once) and .4 overflowed.
	if want := []obsView{host("192.0.2.1"), host("192.0.2.2")}; !reflect.DeepEqual(got, want) {
		t.Errorf("hosts %+v", got)
	}
	if n := testutil.ToFloat64(m.overBy[tableHosts]); n != 4 {
		t.Errorf("hosts overflow = %v, want 4", n)
	}
	if n := testutil.ToFloat64(m.overBy[tableAttempts]); n != 2 {
		t.Errorf("attempts overflow = %v, want 2", n)
	}
}

// TestTrackerChurn drives the tracker's slab and lists through many inserts, answers and
// expiries, checking its invariants against a plain map.
func TestTrackerChurn(t *testing.T) {
	var tr tracker
	var c counts
	tr.init(64, 100)
	ref := map[attemptKey]int64{}
	key := func(i int) attemptKey {
		return attemptKey{src: addrKey{a: [16]byte{15: byte(i)}}, dst: addrKey{a: [16]byte{15: byte(i % 3)}}, sport: uint16(i)}
	}
	now := int64(0)
	for step := range 20000 {
		now += int64(step % 7)
		i := (step * 7919) % 97
		switch step % 5 {
		case 0, 1, 2:
			if _, ok := ref[key(i)]; ok || len(ref) < 64 {
				ref[key(i)] = now
			}
			tr.syn(key(i), now, &c)
		case 3:
			delete(ref, key(i))
			tr.answer(key(i), &c)
		case 4:
			for k, seen := range ref {
				if seen <= now-100 {
					delete(ref, k)
				}
			}
			tr.expire(now, &c)
		}
		if len(tr.idx) != len(ref) || int(c.tracked) != len(ref) {
			t.Fatalf("step %d: %d tracked, %d counted, want %d", step, len(tr.idx), c.tracked, len(ref))
		}
		per := map[addrKey]uint32{}
		for k := range ref {
			per[k.dst]++
		}
		if !reflect.DeepEqual(per, tr.perDst) && !(len(per) == 0 && len(tr.perDst) == 0) {
			t.Fatalf("step %d: per destination %v, want %v", step, tr.perDst, per)
		}
		// The list runs oldest to newest over exactly the tracked attempts.
		n, last := 0, int64(-1)
		for j := tr.head; j >= 0; j = tr.slab[j].next {
			if tr.slab[j].seen < last {
				t.Fatalf("step %d: list out of order", step)
			}
			last = tr.slab[j].seen
			n++
		}
		if n != len(ref) {
			t.Fatalf("step %d: list holds %d, want %d", step, n, len(ref))
		}
	}
	if len(tr.slab) > 64 {
		t.Errorf("slab grew to %d beyond max 64", len(tr.slab))
	}
}
