package packet

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/watchfloor/watchfloor"
)

// recorder is a Sink that keeps copies of what it is given.
type recorder struct {
	mu  sync.Mutex
	obs []watchfloor.Observation
}

func (r *recorder) HandleObservations(worker int, obs []watchfloor.Observation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, o := range obs {
		o.Name = append([]byte(nil), o.Name...)
		o.Extra = append([]byte(nil), o.Extra...)
		r.obs = append(r.obs, o)
	}
}

func (r *recorder) all() []watchfloor.Observation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.obs)
}

func (r *recorder) kind(k watchfloor.ObsKind) []watchfloor.Observation {
	var out []watchfloor.Observation
	for _, o := range r.all() {
		if o.Kind == k {
			out = append(out, o)
		}
	}
	return out
}

// obsKey is what the live and replayed observations are compared on.
func obsKey(o watchfloor.Observation) string {
	return fmt.Sprintf("%s %s:%d>%s:%d %s", o.Kind, o.SrcAddr, o.SrcPort, o.DstAddr, o.DstPort, o.Name)
}

// multiset counts observations by key (per-packet kinds only: summaries depend on timing).
func multiset(obs []watchfloor.Observation) map[string]int {
	m := map[string]int{}
	for _, o := range obs {
		if o.Kind == watchfloor.ObsHostTraffic || o.Kind == watchfloor.ObsHalfOpen {
			continue
		}
		m[obsKey(o)]++
	}
	return m
}

// writePcap writes frames as an Ethernet pcap, one per millisecond from start.
func writePcap(t testing.TB, start time.Time, frames ...[]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for i, f := range frames {
		ci := gopacket.CaptureInfo{Timestamp: start.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(f), Length: len(f)}
		if err := w.WritePacket(ci, f); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func testTraffic(t testing.TB) [][]byte {
	return [][]byte{
		frame(t, eth(layers.EthernetTypeIPv4), ip4("192.0.2.10", "192.0.2.20", layers.IPProtocolTCP), tcpSeg(40000, 22, true, false, false)),
		frame(t, eth(layers.EthernetTypeIPv4), ip4("192.0.2.20", "192.0.2.10", layers.IPProtocolTCP), tcpSeg(22, 40000, true, true, false)),
		frame(t, eth(layers.EthernetTypeIPv4), ip4("192.0.2.10", "192.0.2.20", layers.IPProtocolTCP), tcpSeg(40001, 23, true, false, false)),
		frame(t, eth(layers.EthernetTypeIPv4), ip4("192.0.2.20", "192.0.2.10", layers.IPProtocolTCP), tcpSeg(23, 40001, false, true, true)),
		frame(t, eth(layers.EthernetTypeIPv4), ip4("192.0.2.10", "192.0.2.53", layers.IPProtocolUDP), udpDgram(5353, 53), dnsQuery(7, "www.example.org")),
		frame(t, eth(layers.EthernetTypeARP), arpRequest("192.0.2.10", "192.0.2.1")),
		frame(t, eth(layers.EthernetTypeIPv4), ip4("192.0.2.10", "192.0.2.20", layers.IPProtocolICMPv4), &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 1, Seq: 1}),
	}
}

func newTestReplayer(t testing.TB, mod func(*Config)) *Collector {
	t.Helper()
	cfg := DefaultConfig()
	if mod != nil {
		mod(&cfg)
	}
	c, err := NewReplayer(cfg, "lab", nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestReplay(t *testing.T) {
	capture := writePcap(t, t0, testTraffic(t)...)
	c := newTestReplayer(t, nil)
	rec := &recorder{}
	var progress [][2]int64
	st, err := c.Replay(context.Background(), bytes.NewReader(capture), rec, func(done, total int64) {
		progress = append(progress, [2]int64{done, total})
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.Packets != 7 || st.Sampled != 7 || st.Errors != 0 || st.Truncated || !st.First.Equal(t0) || st.Observations != int64(len(rec.all())) {
		t.Errorf("stats %+v, %d observations", st, len(rec.all()))
	}
	if len(progress) < 2 || progress[len(progress)-1] != [2]int64{int64(len(capture)), int64(len(capture))} {
		t.Errorf("progress %v", progress)
	}
	got := multiset(rec.all())
	for _, want := range []string{
		"tcp.syn 192.0.2.10:40000>192.0.2.20:22 ", "tcp.syn_ack 192.0.2.20:22>192.0.2.10:40000 ",
		"tcp.syn 192.0.2.10:40001>192.0.2.20:23 ", "tcp.rst 192.0.2.20:23>192.0.2.10:40001 ",
		"dns.query 192.0.2.10:5353>192.0.2.53:53 www.example.org",
	} {
		if got[want] != 1 {
			t.Errorf("no %q in %v", want, got)
		}
	}
	if len(rec.kind(watchfloor.ObsARP)) != 1 || len(rec.kind(watchfloor.ObsICMP)) != 1 || len(rec.kind(watchfloor.ObsHostTraffic)) == 0 {
		t.Errorf("arp, icmp or host.traffic missing: %v", got)
	}
	for _, o := range rec.all() {
		if o.Site != "lab" || o.Source != "replay" || o.SamplingRate != 1 {
			t.Errorf("enrichment: %+v", o)
		}
	}
	if s := c.Stats(); s.Seen != 7 || s.Sampled != 7 || s.Decoded != 7 || s.Observations != uint64(st.Observations) {
		t.Errorf("Stats %+v", s)
	}
}

// TestReplayFilter: the filter applies to files as to live capture, snap length included.
func TestReplayFilter(t *testing.T) {
	capture := writePcap(t, t0, testTraffic(t)...)
	c := newTestReplayer(t, func(c *Config) { c.Filter = "udp port 53 or arp" })
	rec := &recorder{}
	st, err := c.Replay(context.Background(), bytes.NewReader(capture), rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Filtered != 5 || st.Sampled != 2 {
		t.Errorf("stats %+v", st)
	}
	for _, o := range rec.all() {
		if o.Kind != watchfloor.ObsDNSQuery && o.Kind != watchfloor.ObsARP && o.Kind != watchfloor.ObsHostTraffic {
			t.Errorf("filtered observation %v", obsKey(o))
		}
	}
}

// TestReplayLinkTypes: the same traffic as raw IP, Linux SLL and pcapng gives the same
// observations.
func TestReplayLinkTypes(t *testing.T) {
	frames := testTraffic(t)
	ref := replayAll(t, writePcap(t, t0, frames...))
	for _, tc := range []struct {
		name string
		lt   layers.LinkType
		conv func([]byte) []byte
		ng   bool
	}{
		{"pcapng ethernet", layers.LinkTypeEthernet, func(b []byte) []byte { return b }, true},
		{"raw", layers.LinkTypeRaw, func(b []byte) []byte { return b[14:] }, false},
		{"sll", layers.LinkTypeLinuxSLL, func(b []byte) []byte {
			h := []byte{0, 4, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, b[12], b[13]}
			return append(h, b[14:]...)
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			var (
				write func(gopacket.CaptureInfo, []byte) error
				flush = func() error { return nil }
			)
			if tc.ng {
				w, err := pcapgo.NewNgWriter(&buf, tc.lt)
				if err != nil {
					t.Fatal(err)
				}
				write, flush = w.WritePacket, w.Flush
			} else {
				w := pcapgo.NewWriter(&buf)
				if err := w.WriteFileHeader(65535, tc.lt); err != nil {
					t.Fatal(err)
				}
				write = w.WritePacket
			}
			for i, f := range frames {
				if tc.lt == layers.LinkTypeRaw && f[12] == 0x08 && f[13] == 0x06 {
					continue // no ARP without a link layer
				}
				d := tc.conv(f)
				if err := write(gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(d), Length: len(d)}, d); err != nil {
					t.Fatal(err)
				}
			}
			if err := flush(); err != nil {
				t.Fatal(err)
			}
			got := replayAll(t, buf.Bytes())
			want := maps.Clone(ref)
			if tc.lt == layers.LinkTypeRaw {
				for k := range want {
					if strings.HasPrefix(k, "arp") {
						delete(want, k)
					}
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("got %v\nwant %v", got, want)
			}
		})
	}
}

func replayAll(t testing.TB, capture []byte) map[string]int {
	t.Helper()
	rec := &recorder{}
	if _, err := newTestReplayer(t, nil).Replay(context.Background(), bytes.NewReader(capture), rec, nil); err != nil {
		t.Fatal(err)
	}
	return multiset(rec.all())
}

// TestReplaySampling: 1 in 10 of 2,000 connections is kept whole (SYN and SYN-ACK), and the
// rate is on every observation.
func TestReplaySampling(t *testing.T) {
	var frames [][]byte
	for i := range 2000 {
		src := fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
		frames = append(frames,
			frame(t, eth(layers.EthernetTypeIPv4), ip4(src, "192.0.2.1", layers.IPProtocolTCP), tcpSeg(uint16(1024+i), 443, true, false, false)),
			frame(t, eth(layers.EthernetTypeIPv4), ip4("192.0.2.1", src, layers.IPProtocolTCP), tcpSeg(443, uint16(1024+i), true, true, false)))
	}
	c := newTestReplayer(t, func(c *Config) { c.SampleRate = 10 })
	rec := &recorder{}
	st, err := c.Replay(context.Background(), bytes.NewReader(writePcap(t, t0, frames...)), rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	syns, acks := rec.kind(watchfloor.ObsTCPSyn), rec.kind(watchfloor.ObsTCPSynAck)
	t.Logf("%d of %d packets sampled, %d SYNs, %d SYN-ACKs", st.Sampled, st.Packets, len(syns), len(acks))
	if len(syns) < 140 || len(syns) > 260 || st.Sampled != int64(2*len(syns)) {
		t.Errorf("%d SYNs sampled of 2000 at 1 in 10; %d packets", len(syns), st.Sampled)
	}
	answered := map[netip.Addr]bool{}
	for _, o := range acks {
		answered[o.DstAddr] = true
	}
	for _, o := range append(syns, acks...) {
		if o.SamplingRate != 10 {
			t.Fatalf("sampling rate %d on %v", o.SamplingRate, obsKey(o))
		}
	}
	for _, o := range syns {
		if !answered[o.SrcAddr] {
			t.Errorf("SYN from %s kept but not its SYN-ACK", o.SrcAddr)
		}
	}
}

func TestFlowHashSymmetric(t *testing.T) {
	for _, f := range sampleFrames(t) {
		h := flowHash(layers.LinkTypeEthernet, f.data)
		// swap the addresses and ports where present: the hash must not change
		g := append([]byte(nil), f.data...)
		if len(g) >= 38 && g[12] == 0x08 && g[13] == 0x00 && g[14] == 0x45 {
			for i := range 4 {
				g[26+i], g[30+i] = g[30+i], g[26+i]
			}
			g[34], g[35], g[36], g[37] = g[36], g[37], g[34], g[35]
			if flowHash(layers.LinkTypeEthernet, g) != h {
				t.Errorf("%s: hash differs by direction", f.name)
			}
		}
	}
}

// TestReplayGarbage: random bytes, cut files and corrupt records end in an error or a short
// read, never a panic.
func TestReplayGarbage(t *testing.T) {
	good := writePcap(t, t0, testTraffic(t)...)
	rng := rand.New(rand.NewPCG(1, 2))
	cases := map[string][]byte{"empty": nil, "short": good[:10], "header only": good[:24]}
	for i := range 20 {
		b := make([]byte, rng.IntN(4096))
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		cases[fmt.Sprintf("random %d", i)] = b
		cut := good[:24+rng.IntN(len(good)-24)]
		cases[fmt.Sprintf("cut %d", i)] = cut
		flipped := slices.Clone(good)
		for range 10 {
			flipped[24+rng.IntN(len(good)-24)] ^= byte(1 << rng.IntN(8))
		}
		cases[fmt.Sprintf("flipped %d", i)] = flipped
	}
	huge := slices.Clone(good)
	huge[24+8], huge[24+9], huge[24+10], huge[24+11] = 0xff, 0xff, 0xff, 0x7f // caplen of the first record
	cases["huge record"] = huge
	c := newTestReplayer(t, nil)
	for name, b := range cases {
		st, err := c.Replay(context.Background(), bytes.NewReader(b), &recorder{}, nil)
		if strings.HasPrefix(name, "cut") && err == nil && !st.Truncated && len(b) != len(good) && st.Packets == 7 {
			t.Errorf("%s: %+v", name, st)
		}
		if (name == "empty" || name == "short" || name == "huge record" || strings.HasPrefix(name, "random")) && err == nil && st.Packets > 0 && name != "huge record" {
			t.Logf("%s: no error, %+v", name, st)
		}
		if name == "empty" && err == nil {
			t.Error("empty capture: no error")
		}
		if name == "huge record" && err == nil {
			t.Error("a record of 2 GiB: no error")
		}
	}
}

func FuzzReplay(f *testing.F) {
	good := writePcap(f, t0, testTraffic(f)...)
	f.Add(good)
	f.Add(good[:60])
	var ng bytes.Buffer
	w, _ := pcapgo.NewNgWriter(&ng, layers.LinkTypeEthernet)
	for i, fr := range testTraffic(f) {
		_ = w.WritePacket(gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(i)), CaptureLength: len(fr), Length: len(fr)}, fr)
	}
	_ = w.Flush()
	f.Add(ng.Bytes())
	c := newTestReplayer(f, func(c *Config) { c.Filter = "tcp or udp or arp or icmp"; c.SampleRate = 2 })
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = c.Replay(context.Background(), bytes.NewReader(b), &recorder{}, nil)
	})
}

// BenchmarkReplay measures packets per second through filter, sampling and decoding from an
// in-memory capture of mixed traffic.
func BenchmarkReplay(b *testing.B) {
	var frames [][]byte
	base := testTraffic(b)
	for i := range 4096 {
		frames = append(frames, base[i%len(base)])
	}
	capture := writePcap(b, t0, frames...)
	for _, rate := range []uint32{1, 10} {
		b.Run(fmt.Sprintf("rate=%d", rate), func(b *testing.B) {
			c := newTestReplayer(b, func(c *Config) { c.SampleRate = rate })
			sink := discard{}
			b.ReportAllocs()
			b.SetBytes(int64(len(capture)))
			for b.Loop() {
				if _, err := c.Replay(context.Background(), bytes.NewReader(capture), sink, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(frames))/b.Elapsed().Seconds(), "packets/s")
		})
	}
}

// BenchmarkPacket measures the per-packet path alone (sampling and decoding a frame in
// place), which must not allocate.
func BenchmarkPacket(b *testing.B) {
	c := newTestReplayer(b, nil)
	w := c.newWorker(0, "bench", discard{})
	frames := testTraffic(b)
	b.ReportAllocs()
	i := 0
	ts := t0
	for b.Loop() {
		ts = ts.Add(time.Microsecond)
		w.packet(layers.LinkTypeEthernet, frames[i%len(frames)], len(frames[i%len(frames)]), ts)
		i++
	}
}

type discard struct{}

func (discard) HandleObservations(int, []watchfloor.Observation) {}
