package decoder

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// hostTotals are the traffic a source host sent: IP-layer bytes (frame minus the 14-byte
// Ethernet header, what NetFlow exporters count), frame bytes (what sFlow agents count) and
// packets.
type hostTotals struct {
	IPBytes, FrameBytes, Packets uint64
}

// testTraffic describes the capture the peer tests feed to the exporters: a few hosts
// talking TCP, UDP and ICMP over IPv4 and IPv6, with known sizes.
type testTraffic struct {
	start  time.Time
	frames [][]byte
	times  []time.Time
	totals map[netip.Addr]*hostTotals
	spans  map[[2]netip.Addr]time.Duration // first to last packet between two hosts, both ways
}

// conversation is one flow of the test capture.
type conversation struct {
	src, dst         string
	proto            layers.IPProtocol
	sport, dport     uint16
	packets, payload int
	vlan             uint16
}

var testConversations = []conversation{
	{"10.1.0.1", "192.0.2.10", layers.IPProtocolTCP, 40001, 443, 40, 1200, 0},
	{"192.0.2.10", "10.1.0.1", layers.IPProtocolTCP, 443, 40001, 60, 1400, 0},
	{"10.1.0.2", "192.0.2.53", layers.IPProtocolUDP, 53000, 53, 25, 60, 0},
	{"10.1.0.3", "198.51.100.7", layers.IPProtocolICMPv4, 0, 0, 10, 56, 0},
	{"10.1.0.4", "203.0.113.9", layers.IPProtocolTCP, 50000, 22, 33, 300, 100},
	{"2001:db8::1", "2001:db8:1::2", layers.IPProtocolTCP, 41000, 80, 30, 900, 0},
	{"2001:db8::3", "2001:db8:1::4", layers.IPProtocolUDP, 41001, 4789, 12, 500, 0},
}

// buildTraffic makes the frames of testConversations, interleaved, one millisecond apart.
func buildTraffic(t testing.TB) *testTraffic {
	t.Helper()
	tr := &testTraffic{start: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC), totals: map[netip.Addr]*hostTotals{}, spans: map[[2]netip.Addr]time.Duration{}}
	first := map[[2]netip.Addr]time.Time{}
	sent := make([]int, len(testConversations))
	now := tr.start
	for more := true; more; {
		more = false
		for i, c := range testConversations {
			if sent[i] >= c.packets {
				continue
			}
			more = true
			frame := buildFrame(t, c, sent[i])
			sent[i]++
			tr.frames = append(tr.frames, frame)
			tr.times = append(tr.times, now)
			now = now.Add(time.Millisecond)
			src := netip.MustParseAddr(c.src)
			pair := unordered(src, netip.MustParseAddr(c.dst))
			if _, ok := first[pair]; !ok {
				first[pair] = now
			}
			tr.spans[pair] = now.Sub(first[pair])
			h := tr.totals[src]
			if h == nil {
				h = &hostTotals{}
				tr.totals[src] = h
			}
			h.Packets++
			h.FrameBytes += uint64(len(frame))
			h.IPBytes += uint64(len(frame) - 14)
			if c.vlan != 0 {
				h.IPBytes -= 4
			}
		}
	}
	return tr
}

func buildFrame(t testing.TB, c conversation, seq int) []byte {
	src, dst := net.ParseIP(c.src), net.ParseIP(c.dst)
	v6 := src.To4() == nil
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}}
	var ls []gopacket.SerializableLayer
	ls = append(ls, eth)
	etype := layers.EthernetTypeIPv4
	if v6 {
		etype = layers.EthernetTypeIPv6
	}
	if c.vlan != 0 {
		eth.EthernetType = layers.EthernetTypeDot1Q
		ls = append(ls, &layers.Dot1Q{VLANIdentifier: c.vlan, Type: etype})
	} else {
		eth.EthernetType = etype
	}
	var netl gopacket.NetworkLayer
	if v6 {
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: c.proto, SrcIP: src, DstIP: dst}
		ls = append(ls, ip)
		netl = ip
	} else {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: c.proto, SrcIP: src.To4(), DstIP: dst.To4(), Id: uint16(seq)}
		ls = append(ls, ip)
		netl = ip
	}
	payload := make([]byte, c.payload+seq%7) // sizes vary a little
	switch c.proto {
	case layers.IPProtocolTCP:
		tcp := &layers.TCP{SrcPort: layers.TCPPort(c.sport), DstPort: layers.TCPPort(c.dport), Seq: uint32(seq * 1000), ACK: seq > 0, SYN: seq == 0, PSH: seq > 0, Window: 65535}
		_ = tcp.SetNetworkLayerForChecksum(netl)
		ls = append(ls, tcp)
	case layers.IPProtocolUDP:
		udp := &layers.UDP{SrcPort: layers.UDPPort(c.sport), DstPort: layers.UDPPort(c.dport)}
		_ = udp.SetNetworkLayerForChecksum(netl)
		ls = append(ls, udp)
	case layers.IPProtocolICMPv4:
		ls = append(ls, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 7, Seq: uint16(seq)})
	}
	ls = append(ls, gopacket.Payload(payload))
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatalf("serialize frame: %v", err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// withFiller returns a copy of the traffic followed by n packets of a filler host that the
// totals leave out: pmacctd's sfprobe keeps its last, partly filled datagram unsent when it
// exits, and the filler pushes the real samples out.
func (tr *testTraffic) withFiller(t testing.TB, n int) *testTraffic {
	c := *tr
	c.frames = append([][]byte(nil), tr.frames...)
	c.times = append([]time.Time(nil), tr.times...)
	now := tr.times[len(tr.times)-1]
	for i := range n {
		now = now.Add(time.Millisecond)
		c.frames = append(c.frames, buildFrame(t, conversation{"10.9.9.9", "10.9.9.10", layers.IPProtocolUDP, 9, 9, n, 100, 0}, i))
		c.times = append(c.times, now)
	}
	return &c
}

// writePcap writes the frames to dir/traffic.pcap and returns its path.
func (tr *testTraffic) writePcap(t testing.TB, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "t.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65536, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for i, fr := range tr.frames {
		ci := gopacket.CaptureInfo{Timestamp: tr.times[i], CaptureLength: len(fr), Length: len(fr)}
		if err := w.WritePacket(ci, fr); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// unordered is the key of a pair of hosts in either direction.
func unordered(a, b netip.Addr) [2]netip.Addr {
	if b.Less(a) {
		a, b = b, a
	}
	return [2]netip.Addr{a, b}
}
