package lab

import (
	"bytes"
	"errors"
	"io"
	"math"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// TestPacketPacing reads a source for a few seconds of fake time (synctest): the rate is
// the configured one, no frame comes before it is due or more than paceTick after.
func TestPacketPacing(t *testing.T) {
	for _, rate := range []int{0, 500, 20000} {
		synctest.Test(t, func(t *testing.T) {
			src, err := NewPacketSource(PacketOptions{Rate: rate})
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			want := rate
			if want == 0 {
				want = DefaultPacketsPerSecond
			}
			start := time.Now()
			const secs = 3
			n := 0
			var prev time.Time
			for {
				data, ci, err := src.ZeroCopyReadPacketData()
				if err != nil {
					t.Fatal(err)
				}
				now := time.Now()
				if now.Before(ci.Timestamp) || now.Sub(ci.Timestamp) > paceTick {
					t.Fatalf("frame due at +%v read at +%v", ci.Timestamp.Sub(start), now.Sub(start))
				}
				if ci.Timestamp.Before(prev) || ci.CaptureLength != len(data) || ci.Length != len(data) || len(data) < minFrame {
					t.Fatalf("capture info %+v for %d bytes after %v", ci, len(data), prev)
				}
				prev = ci.Timestamp
				if !ci.Timestamp.Before(start.Add(secs * time.Second)) {
					break
				}
				n++
			}
			if got := float64(n) / secs; math.Abs(got/float64(want)-1) > 0.1 {
				t.Errorf("rate %v, %.0f frames/s", rate, got)
			}
			if st := src.Stats(); st.Packets != uint64(n+1) || st.Bytes == 0 || st.Dropped != 0 {
				t.Errorf("stats %+v after %d frames", st, n+1)
			}
		})
	}
}

// TestPacketSourceClose: Close unblocks a reader waiting for its next frame, every later
// read is io.EOF, and nothing is left running (synctest fails on a goroutine left behind).
func TestPacketSourceClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src, err := NewPacketSource(PacketOptions{Rate: 1})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := src.ZeroCopyReadPacketData(); err != nil {
			t.Fatal(err)
		}
		errc := make(chan error)
		go func() {
			_, _, err := src.ZeroCopyReadPacketData() // the next frame is a second away
			errc <- err
		}()
		synctest.Wait() // the reader waits
		select {
		case err := <-errc:
			t.Fatalf("read returned %v before its frame was due", err)
		default:
		}
		src.Close()
		if err := <-errc; err != io.EOF {
			t.Fatalf("blocked read after Close: %v", err)
		}
		if _, _, err := src.ReadPacketData(); err != io.EOF {
			t.Fatalf("read after Close: %v", err)
		}
		src.Close() // twice is fine
	})
}

// TestPacketSourceBehind: a reader that stops for five seconds loses the frames it missed
// but the last second's worth, and counts them.
func TestPacketSourceBehind(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src, err := NewPacketSource(PacketOptions{Rate: 1000})
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		start := time.Now()
		if _, _, err := src.ZeroCopyReadPacketData(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Second)
		_, ci, err := src.ZeroCopyReadPacketData()
		if err != nil {
			t.Fatal(err)
		}
		if lag := time.Since(ci.Timestamp); lag > maxLag {
			t.Errorf("frame %v behind after the pause", lag)
		}
		st := src.Stats()
		if want := 1000 * (5*time.Second - maxLag/2).Seconds(); math.Abs(float64(st.Dropped)/want-1) > 0.01 {
			t.Errorf("%d dropped, want about %.0f", st.Dropped, want)
		}
		// It catches up with real time, at full speed, then goes on at its rate.
		n := 0
		for {
			_, ci, err := src.ZeroCopyReadPacketData()
			if err != nil {
				t.Fatal(err)
			}
			n++
			if !ci.Timestamp.Before(start.Add(6 * time.Second)) {
				break
			}
		}
		if d := time.Since(start); d < 6*time.Second || d > 6*time.Second+paceTick {
			t.Errorf("caught up at +%v", d)
		}
		if n < 1400 || n > 1600 {
			t.Errorf("%d frames between the pause and +6 s", n)
		}
	})
}

// TestPacketSourceRace reads in one goroutine while others look at the stats and close it
// (run with -race).
func TestPacketSourceRace(t *testing.T) {
	src, err := NewPacketSource(PacketOptions{Rate: 50000, Incidents: true, TimeScale: 0.001})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var frames int
	wg.Go(func() {
		for {
			data, _, err := src.ReadPacketData()
			if err != nil {
				return
			}
			if len(data) < minFrame {
				t.Errorf("frame of %d bytes", len(data))
			}
			frames++
		}
	})
	wg.Go(func() {
		for range 100 {
			_ = src.Stats()
			time.Sleep(time.Millisecond)
		}
		src.Close()
	})
	wg.Wait()
	if frames == 0 || src.Stats().Packets != uint64(frames) {
		t.Errorf("%d frames read, stats %+v", frames, src.Stats())
	}
}

// TestLabPacketSource: a running lab's mirror port carries its timeline's incidents (at
// TimeScale 0.01 the port scan runs from +0.55 s to +0.8 s), from core-r1's MAC; Close on
// the lab ends its sources' reads.
func TestLabPacketSource(t *testing.T) {
	l := startLab(t, Options{Timeline: true, TimeScale: 0.01, PacketsPerSecond: 500})
	src := l.PacketSource()
	var win [2]time.Duration
	steps, _ := l.Incidents()
	for _, s := range steps {
		switch s.What {
		case "port scan start":
			win[0] = s.At
		case "port scan stop":
			win[1] = s.At
		}
	}
	edge := l.site.fx.edge
	mac := macOf(edge.dev, uint32(edge.ifc.Index))
	probes := 0
	for {
		data, ci, err := src.ZeroCopyReadPacketData()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(data[0:6], mac[:]) && !bytes.Equal(data[6:12], mac[:]) {
			t.Fatalf("frame not from or to core-r1's transit: %x", data[:12])
		}
		f := decodeFrame(t, data, ci.Timestamp)
		at := ci.Timestamp.Sub(l.start)
		if f.src == PortScanSource && f.flags == tcpSYN {
			if at < win[0] || at >= win[1] {
				t.Fatalf("probe at +%v, outside %v", at, win)
			}
			probes++
		}
		if at > win[1]+10*time.Millisecond {
			break
		}
	}
	if st := src.Stats(); probes != 1024 && (st.Dropped == 0 || probes > 1024) {
		t.Errorf("%d probes, %d frames dropped", probes, st.Dropped)
	} else if st.Dropped > 0 {
		t.Logf("the machine is slow: %d frames dropped, %d probes seen", st.Dropped, probes)
	}
	errc := make(chan error)
	go func() {
		for {
			if _, _, err := src.ZeroCopyReadPacketData(); err != nil {
				errc <- err
				return
			}
		}
	}()
	l.Close()
	if err := <-errc; err != io.EOF {
		t.Fatalf("read after the lab closed: %v", err)
	}
	if _, _, err := l.PacketSource().ZeroCopyReadPacketData(); err != io.EOF {
		t.Fatalf("a source of a closed lab reads %v", err)
	}
}

// TestWritePcap: the same options write the same bytes (another seed other bytes); From
// starts the capture on the timeline, SnapLen cuts frames; bad options are refused.
func TestWritePcap(t *testing.T) {
	write := func(o PcapOptions) []byte {
		t.Helper()
		var b bytes.Buffer
		if err := WritePcap(&b, o); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	o := PcapOptions{Duration: 2 * time.Second, Incidents: true, TimeScale: 0.1, From: 19 * time.Second}
	a, b := write(o), write(o)
	if !bytes.Equal(a, b) {
		t.Error("two runs differ")
	}
	o.Seed = 2
	if bytes.Equal(a, write(o)) {
		t.Error("the seed changes nothing")
	}
	o.Seed, o.SnapLen = 0, 96
	r, err := pcapgo.NewReader(bytes.NewReader(write(o)))
	if err != nil {
		t.Fatal(err)
	}
	if r.Snaplen() != 96 || r.LinkType() != layers.LinkTypeEthernet {
		t.Errorf("snaplen %d, link type %v", r.Snaplen(), r.LinkType())
	}
	n, cut, flood := 0, 0, 0
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		at := ci.Timestamp.Sub(PcapEpoch)
		if at < o.From || at >= o.From+o.Duration || len(data) > 96 || ci.CaptureLength != len(data) {
			t.Fatalf("frame at +%v, %d of %d bytes", at, len(data), ci.Length)
		}
		if ci.Length > 96 {
			cut++
		}
		// The SYN flood runs from 19.8 s to 22.8 s at this scale.
		if len(data) >= 18+20+14 && data[12] == 0x81 && [4]byte(data[18+16:18+20]) == SynFloodTarget.Addr().As4() &&
			data[18+20+3] == byte(SynFloodTarget.Port()) && data[18+20+13] == tcpSYN {
			flood++
		}
		n++
	}
	if cut == 0 || n < 2*DefaultPacketsPerSecond {
		t.Errorf("%d frames, %d cut", n, cut)
	}
	if want := int(SynFloodPerSecond * 1.2 / 0.1); flood != want {
		t.Errorf("%d flood SYNs in 1.2 s of capture, want %d", flood, want)
	}
	for _, bad := range []PcapOptions{{}, {Duration: time.Second, From: -1}, {Duration: time.Second, Rate: -1},
		{Duration: time.Second, TimeScale: math.NaN()}, {Duration: time.Second, SnapLen: -1}} {
		if err := WritePcap(io.Discard, bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// TestPacketGenAllocs: in steady state, generating a frame allocates nothing, with and
// without incidents.
func TestPacketGenAllocs(t *testing.T) {
	tm, err := templates()
	if err != nil {
		t.Fatal(err)
	}
	for _, inc := range []bool{false, true} {
		g := newPacketGen(tm, PcapEpoch, 0, 2000, 0.01, 1, inc, defaultEdgeMAC)
		for range 10000 {
			g.next()
		}
		if a := testing.AllocsPerRun(20000, func() { g.next() }); a != 0 {
			t.Errorf("incidents %v: %v allocations per frame", inc, a)
		}
	}
}

// TestSkipTo: skipping ahead lands on the same frames as generating up to there.
func TestSkipTo(t *testing.T) {
	tm, err := templates()
	if err != nil {
		t.Fatal(err)
	}
	const scale = 0.1
	to := time.Duration(float64(portScanAt+10*time.Second) * scale)
	a := newPacketGen(tm, PcapEpoch, 0, 1000, scale, 1, true, defaultEdgeMAC)
	var n uint64
	for a.peek() < to {
		a.next()
		n++
	}
	b := newPacketGen(tm, PcapEpoch, 0, 1000, scale, 1, true, defaultEdgeMAC)
	skipped := b.skipTo(to)
	if b.peek() != a.peek() {
		t.Fatalf("next frame at %v, want %v", b.peek(), a.peek())
	}
	if skipped != n {
		t.Errorf("skipped %d, generated %d", skipped, n)
	}
	for range 1000 { // the incidents' frames are the same (the background's sessions are not)
		fa, ta := a.next()
		fb, tb := b.next()
		if ta != tb {
			t.Fatalf("frames at %v and %v", ta, tb)
		}
		if ia, ib := decodeFrame(t, fa, PcapEpoch.Add(ta)), decodeFrame(t, fb, PcapEpoch.Add(tb)); ia.src == PortScanSource && (ib.src != ia.src || ib.dport != ia.dport) {
			t.Fatalf("probe to %d, want %d", ib.dport, ia.dport)
		}
	}
}
