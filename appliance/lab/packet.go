package lab

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// packet.go is the lab's mirror port: a packet source that hands out, in real time, the
// Ethernet frames a SPAN port of core-r1's transit would copy (packetgen.go), with the
// security incidents of packetinc.go when the timeline runs; and WritePcap, which writes
// the same traffic to a pcap file as fast as it can.
//
// Files: packetgen.go the traffic model, packetinc.go the incidents, packettmpl.go the
// payload templates (TLS, DNS, HTTP), packetwire.go the frame encoder.

// Pacing of the source.
const (
	paceTick   = 4 * time.Millisecond // the shortest wait: ≤ 250 wake-ups a second, frames ≤ 4 ms late
	maxLag     = time.Second          // a reader further behind than this loses frames (counted)
	maxPktRate = 10_000_000
)

// PacketOptions configure a packet source made without a Lab.
type PacketOptions struct {
	Rate      int       // background frames per second; 0: DefaultPacketsPerSecond
	Incidents bool      // play the packet incidents of the timeline (on top of Rate)
	Origin    time.Time // the start of the timeline the incidents follow; zero: now
	TimeScale float64   // multiplies the timeline's times, as Options.TimeScale; 0: 1
	Seed      int64     // the traffic's randomness; 0: 1
}

func (o *PacketOptions) defaults() error {
	if o.Rate == 0 {
		o.Rate = DefaultPacketsPerSecond
	}
	if o.Rate < 0 || o.Rate > maxPktRate {
		return fmt.Errorf("lab: packet rate %d out of range 1–%d", o.Rate, maxPktRate)
	}
	if o.TimeScale < 0 || math.IsNaN(o.TimeScale) || math.IsInf(o.TimeScale, 0) {
		return fmt.Errorf("lab: bad time scale %v", o.TimeScale)
	}
	if o.TimeScale == 0 {
		o.TimeScale = 1
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	return nil
}

// PacketStats counts what a packet source handed out and skipped.
type PacketStats struct {
	Packets uint64 // frames read
	Bytes   uint64 // their lengths
	Dropped uint64 // frames skipped because the reader was more than a second behind (about)
}

// PacketSource is the lab's mirror port. ZeroCopyReadPacketData blocks until the next frame
// is due and returns it in a buffer reused by the next call; after Close it returns io.EOF,
// and Close unblocks a waiting reader. Frames are timestamped when they are due; the reader
// gets them at most 4 ms later (the source sleeps at least that long, so that it wakes up
// at most 250 times a second). A reader that falls more than a second behind loses the
// frames in between, counted in Stats. One reader at a time.
type PacketSource struct {
	mu    sync.Mutex
	gen   *packetGen
	timer *time.Timer

	done chan struct{}
	once sync.Once

	packets, bytes, dropped atomic.Uint64
}

// The packet collector's source contract (collectors/packet) and gopacket's.
var (
	_ interface {
		ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error)
		LinkType() layers.LinkType
	} = (*PacketSource)(nil)
	_ gopacket.PacketDataSource = (*PacketSource)(nil)
)

// NewPacketSource starts a mirror port of the standard site on its own: its first frame is
// due now.
func NewPacketSource(opts PacketOptions) (*PacketSource, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	tm, err := templates()
	if err != nil {
		return nil, err
	}
	return newPacketSource(tm, opts, defaultEdgeMAC), nil
}

func newPacketSource(tm *packetTemplates, opts PacketOptions, mac [6]byte) *PacketSource {
	now := time.Now()
	if opts.Origin.IsZero() {
		opts.Origin = now
	}
	from := now.Sub(opts.Origin)
	s := &PacketSource{
		gen:   newPacketGen(tm, opts.Origin, from, float64(opts.Rate), opts.TimeScale, opts.Seed, opts.Incidents, mac),
		timer: time.NewTimer(time.Hour),
		done:  make(chan struct{}),
	}
	s.timer.Stop()
	return s
}

// PacketSource opens a mirror port on the transit of the lab's edge router (core-r1
// xe-0/1/4): Options.PacketsPerSecond frames a second of background traffic, and, when
// the timeline runs, the packet incidents at their times (on top). Every call makes an
// independent source whose first frame is due now; the lab closes them when it closes.
func (l *Lab) PacketSource() *PacketSource {
	opts := PacketOptions{Rate: l.opts.PacketsPerSecond, Origin: l.start, TimeScale: l.opts.TimeScale, Seed: l.opts.Seed,
		Incidents: l.opts.Timeline && l.site.fx.edge.dev != nil}
	mac := defaultEdgeMAC
	if e := l.site.fx.edge; e.dev != nil {
		mac = macOf(e.dev, uint32(e.ifc.Index))
	}
	s := newPacketSource(l.tmpl, opts, mac)
	l.pmu.Lock()
	defer l.pmu.Unlock()
	if l.pclosed {
		s.Close()
		return s
	}
	live := l.psrcs[:0]
	for _, o := range l.psrcs {
		if !o.closed() {
			live = append(live, o)
		}
	}
	l.psrcs = append(live, s)
	return s
}

// closePackets closes the lab's packet sources, and any it makes later.
func (l *Lab) closePackets() {
	l.pmu.Lock()
	defer l.pmu.Unlock()
	l.pclosed = true
	for _, s := range l.psrcs {
		s.Close()
	}
	l.psrcs = nil
}

// ZeroCopyReadPacketData waits for the next frame and returns it; the data is valid until
// the next call.
func (s *PacketSource) ZeroCopyReadPacketData() (data []byte, ci gopacket.CaptureInfo, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.gen
	for {
		if s.closed() {
			return nil, ci, io.EOF
		}
		due := g.peek()
		now := time.Since(g.origin)
		if wait := due - now; wait > 0 {
			s.timer.Reset(max(wait, paceTick))
			select {
			case <-s.done:
				s.timer.Stop()
				return nil, ci, io.EOF
			case <-s.timer.C:
			}
			continue
		}
		if now-due > maxLag {
			s.dropped.Add(g.skipTo(now - maxLag/2))
			continue
		}
		frame, at := g.next()
		n := len(frame)
		s.packets.Add(1)
		s.bytes.Add(uint64(n))
		ci = gopacket.CaptureInfo{Timestamp: g.origin.Add(at), CaptureLength: n, Length: n}
		return frame, ci, nil
	}
}

// ReadPacketData is ZeroCopyReadPacketData with a copy of the frame.
func (s *PacketSource) ReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	data, ci, err := s.ZeroCopyReadPacketData()
	if err != nil {
		return nil, ci, err
	}
	return append([]byte(nil), data...), ci, nil
}

// LinkType is Ethernet.
func (s *PacketSource) LinkType() layers.LinkType { return layers.LinkTypeEthernet }

// Close ends the source: a waiting reader and every later read get io.EOF.
func (s *PacketSource) Close() error {
	s.once.Do(func() { close(s.done) })
	return nil
}

func (s *PacketSource) closed() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// Stats returns what the source handed out so far.
func (s *PacketSource) Stats() PacketStats {
	return PacketStats{Packets: s.packets.Load(), Bytes: s.bytes.Load(), Dropped: s.dropped.Load()}
}

// skipTo moves the sequence to its first frame due at or after t, and returns how many
// frames it skipped.
func (g *packetGen) skipTo(t time.Duration) uint64 {
	var n uint64
	if b := uint64(math.Ceil(float64(t-g.bgAt) * g.rate / 1e9)); b > g.bgN {
		n += b - g.bgN
		g.bgN = b
		g.bgDue = g.bgAt + time.Duration(float64(g.bgN)*1e9/g.rate)
	}
	for k := range g.curs {
		cu := &g.curs[k]
		if cu.due >= t {
			continue
		}
		c, k := cu.c, cu.k
		g.seek(cu, t)
		n += framesBetween(cu, c, k)
	}
	return n
}

// framesBetween counts the frames of cursor cu's kind from event k of cycle c to the event
// it is on now.
func framesBetween(cu *cursor, c, k int) uint64 {
	p, j := cu.inc.play, cu.j
	count := func(from, to int) (n uint64) {
		for e := from; e < to; e++ {
			if p.has(e, j) {
				n++
			}
		}
		return n
	}
	if c == cu.c {
		return count(k, cu.k)
	}
	return count(k, p.events()) + uint64(cu.c-c-1)*count(0, p.events()) + count(0, cu.k)
}

// PcapEpoch is the default start of WritePcap's timeline.
var PcapEpoch = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// PcapOptions say what WritePcap writes.
type PcapOptions struct {
	Duration  time.Duration // how much traffic, in capture time; required
	From      time.Duration // where on the timeline the capture starts, scaled like Incident.At
	Rate      int           // background frames per second; 0: DefaultPacketsPerSecond
	Incidents bool          // include the packet incidents (PacketIncidents lists their windows)
	TimeScale float64       // as Options.TimeScale; 0: 1
	Seed      int64         // 0: 1
	Origin    time.Time     // the timeline's start; zero: PcapEpoch
	SnapLen   int           // cut frames to this many bytes; 0: whole frames
}

// WritePcap writes Duration of the mirror port's traffic, as a pcap file (microsecond
// timestamps, Ethernet), to w: the same frames a PacketSource with these options hands out,
// without waiting for them. The same options write the same bytes.
func WritePcap(w io.Writer, opts PcapOptions) error {
	if opts.Duration <= 0 || opts.From < 0 || opts.SnapLen < 0 {
		return errors.New("lab: pcap: Duration must be > 0, From and SnapLen >= 0")
	}
	po := PacketOptions{Rate: opts.Rate, Incidents: opts.Incidents, Origin: opts.Origin, TimeScale: opts.TimeScale, Seed: opts.Seed}
	if err := po.defaults(); err != nil {
		return err
	}
	if po.Origin.IsZero() {
		po.Origin = PcapEpoch
	}
	tm, err := templates()
	if err != nil {
		return err
	}
	snap := 65535
	if opts.SnapLen > 0 {
		snap = opts.SnapLen
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	pw := pcapgo.NewWriter(bw)
	if err := pw.WriteFileHeader(uint32(snap), layers.LinkTypeEthernet); err != nil {
		return fmt.Errorf("lab: pcap: %w", err)
	}
	g := newPacketGen(tm, po.Origin, opts.From, float64(po.Rate), po.TimeScale, po.Seed, po.Incidents, defaultEdgeMAC)
	end := opts.From + opts.Duration
	for g.peek() < end {
		frame, at := g.next()
		ci := gopacket.CaptureInfo{Timestamp: po.Origin.Add(at), CaptureLength: min(len(frame), snap), Length: len(frame)}
		if err := pw.WritePacket(ci, frame[:ci.CaptureLength]); err != nil {
			return fmt.Errorf("lab: pcap: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("lab: pcap: %w", err)
	}
	return nil
}

// PacketIncidents lists the packet incidents of the first cycle (a start and a stop step
// each, At scaled by timeScale, 0 meaning 1), as Lab.Incidents lists them among the others.
// Each repeats every cycle.
func PacketIncidents(timeScale float64) []Incident {
	if timeScale <= 0 {
		timeScale = 1
	}
	sc := func(d time.Duration) time.Duration { return time.Duration(float64(d) * timeScale) }
	var out []Incident
	for _, inc := range packetIncidents {
		out = append(out,
			Incident{At: sc(inc.at), What: inc.what + " start", Device: edgeDevice, Interface: edgeIfc},
			Incident{At: sc(inc.at + inc.dur), What: inc.what + " stop", Device: edgeDevice, Interface: edgeIfc})
	}
	return out
}

// The SPAN'd link.
const (
	edgeDevice = "core-r1"
	edgeIfc    = "xe-0/1/4"
)

// addPacketSteps puts the packet incidents on the timeline. Their frames come from the
// generators, which compute the windows themselves: the steps only log and list them.
func (tl *timeline) addPacketSteps(x end) {
	for _, inc := range packetIncidents {
		tl.add(inc.at, inc.what+" start", x.dev.Name, x.ifc.Name, func(time.Time) {})
		tl.add(inc.at+inc.dur, inc.what+" stop", x.dev.Name, x.ifc.Name, func(time.Time) {})
	}
}
