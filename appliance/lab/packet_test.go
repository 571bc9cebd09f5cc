package lab

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// frame is a mirror port frame as gopacket decodes it.
type frame struct {
	ts               time.Time
	vlan             uint16
	src, dst         netip.Addr
	proto            uint8
	sport, dport     uint16
	flags            uint8 // TCP
	seq, ack         uint32
	icmpType         uint8
	payload          []byte // of TCP, UDP or ICMP
	dns              *layers.DNS
	length           int
	hasSynOpts, is6  bool
	icmpID, icmpSeq  uint16
	transportDecoded bool
}

// decodeFrame decodes data with gopacket, fails on any decoding error, and checks the
// lengths, checksums and padding by serialising the decoded layers again with gopacket (which
// computes them itself) and comparing the bytes.
func decodeFrame(t testing.TB, data []byte, ts time.Time) frame {
	t.Helper()
	p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
	if el := p.ErrorLayer(); el != nil {
		t.Fatalf("frame does not decode: %v\n%s", el.Error(), p.Dump())
	}
	f := frame{ts: ts, length: len(data)}
	var ls []gopacket.SerializableLayer
	var nl gopacket.NetworkLayer
	add := func(l gopacket.Layer) { ls = append(ls, l.(gopacket.SerializableLayer)) }
layers:
	for _, l := range p.Layers() {
		switch l := l.(type) {
		case *layers.Ethernet:
			if l.EthernetType != layers.EthernetTypeDot1Q && l.EthernetType != layers.EthernetTypeIPv4 && l.EthernetType != layers.EthernetTypeIPv6 {
				t.Fatalf("ethertype %v", l.EthernetType)
			}
			add(l)
		case *layers.Dot1Q:
			f.vlan = l.VLANIdentifier
			add(l)
		case *layers.IPv4:
			f.src, _ = netip.AddrFromSlice(l.SrcIP)
			f.dst, _ = netip.AddrFromSlice(l.DstIP)
			f.proto = uint8(l.Protocol)
			nl = l
			add(l)
		case *layers.IPv6:
			f.src, _ = netip.AddrFromSlice(l.SrcIP)
			f.dst, _ = netip.AddrFromSlice(l.DstIP)
			f.proto, f.is6 = uint8(l.NextHeader), true
			nl = l
			add(l)
		case *layers.TCP:
			f.sport, f.dport, f.seq, f.ack = uint16(l.SrcPort), uint16(l.DstPort), l.Seq, l.Ack
			for k, b := range []bool{l.FIN, l.SYN, l.RST, l.PSH, l.ACK} {
				if b {
					f.flags |= 1 << k
				}
			}
			f.hasSynOpts = len(l.Options) > 0
			f.payload = l.LayerPayload()
			_ = l.SetNetworkLayerForChecksum(nl)
			add(l)
			break layers
		case *layers.UDP:
			f.sport, f.dport = uint16(l.SrcPort), uint16(l.DstPort)
			f.payload = l.LayerPayload()
			_ = l.SetNetworkLayerForChecksum(nl)
			add(l)
			break layers
		case *layers.ICMPv4:
			f.icmpType, f.icmpID, f.icmpSeq = l.TypeCode.Type(), l.Id, l.Seq
			f.payload = l.LayerPayload()
			add(l)
			break layers
		case *layers.ICMPv6:
			f.icmpType = l.TypeCode.Type()
			f.payload = l.LayerPayload()
			_ = l.SetNetworkLayerForChecksum(nl)
			add(l)
			break layers
		default:
			t.Fatalf("unexpected layer %v", l.LayerType())
		}
	}
	if len(ls) < 3 || !f.src.IsValid() {
		t.Fatalf("not a full frame:\n%s", p.Dump())
	}
	f.transportDecoded = true
	if d, ok := p.Layer(layers.LayerTypeDNS).(*layers.DNS); ok {
		f.dns = d
	}
	ls = append(ls, gopacket.Payload(f.payload))
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), data) {
		t.Fatalf("lengths, checksums or padding differ from gopacket's:\n got %x\nwant %x\n%s", data, buf.Bytes(), p.Dump())
	}
	return f
}

// capture writes a pcap with WritePcap and decodes every frame of it.
func capture(t testing.TB, opts PcapOptions) []frame {
	t.Helper()
	var b bytes.Buffer
	if err := WritePcap(&b, opts); err != nil {
		t.Fatal(err)
	}
	r, err := pcapgo.NewReader(&b)
	if err != nil {
		t.Fatal(err)
	}
	if r.LinkType() != layers.LinkTypeEthernet {
		t.Fatalf("link type %v", r.LinkType())
	}
	var fs []frame
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if ci.CaptureLength != ci.Length {
			t.Fatalf("capture length %d of %d", ci.CaptureLength, ci.Length)
		}
		fs = append(fs, decodeFrame(t, data, ci.Timestamp))
	}
	return fs
}

// helloInfo has crypto/tls's server parse a ClientHello record and reports what it offered.
func helloInfo(t testing.TB, rec []byte) (sni string, alpn []string) {
	t.Helper()
	c1, c2 := net.Pipe()
	defer c1.Close()
	go func() {
		_, _ = c2.Write(rec)
		_, _ = io.Copy(io.Discard, c2) // the server's alert
	}()
	_ = c1.SetDeadline(time.Now().Add(5 * time.Second))
	stop := errors.New("seen")
	var got *tls.ClientHelloInfo
	err := tls.Server(c1, &tls.Config{GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		got = h
		return nil, stop
	}}).Handshake()
	if got == nil {
		t.Fatalf("crypto/tls does not take the ClientHello: %v", err)
	}
	return got.ServerName, got.SupportedProtos
}

func between(ts, from, to time.Time) bool { return !ts.Before(from) && ts.Before(to) }

// TestPacketBackground: the background mix decodes with gopacket (lengths and checksums
// exactly as gopacket computes them) and holds what a transit link carries: IPv4 and IPv6,
// 802.1Q-tagged zones, TCP connections from SYN to FIN with consistent sequence numbers,
// ClientHellos that crypto/tls accepts with SNI and ALPN, DNS queries answered by the
// resolvers, HTTP requests with a Host, pings; and no frame to or from the incidents' hosts.
func TestPacketBackground(t *testing.T) {
	fs := capture(t, PcapOptions{Duration: 20 * time.Second})
	if n := len(fs); n != 20*DefaultPacketsPerSecond {
		t.Fatalf("%d frames in 20 s", n)
	}
	var v6, tagged, icmp, icmp6, syn, synAck, fin, rst, hellos, dnsQ, dnsR, nx, httpReq int
	type conn struct {
		a, b         netip.AddrPort
		synSeq, next uint32
	}
	conns := map[[2]netip.AddrPort]*conn{}
	queries := map[uint16]string{}
	hellosSeen := map[string]bool{}
	outside := func(a netip.Addr) bool { return !OurNetworks[0].Contains(a) && !OurNetworks[1].Contains(a) }
	for k, f := range fs {
		if k > 0 && f.ts.Before(fs[k-1].ts) {
			t.Fatalf("frame %d goes back in time", k)
		}
		if outside(f.src) == outside(f.dst) {
			t.Fatalf("%s → %s does not cross the edge", f.src, f.dst)
		}
		for _, a := range []netip.Addr{PortScanSource, SweepSource, BeaconServer.Addr()} {
			if f.src == a || f.dst == a {
				t.Fatalf("background frame with %s", a)
			}
		}
		if f.dst == SynFloodTarget.Addr() && f.dport == SynFloodTarget.Port() {
			t.Fatal("background traffic to the SYN flood's target")
		}
		if f.is6 {
			v6++
		}
		if f.vlan != 0 {
			tagged++
			in := f.src
			if outside(in) {
				in = f.dst
			}
			if want := vlanOf(in); f.vlan != want || want == 0 {
				t.Fatalf("VLAN %d for %s", f.vlan, in)
			}
		}
		switch f.proto {
		case 1:
			icmp++
		case 58:
			icmp6++
		case 6:
			key := [2]netip.AddrPort{netip.AddrPortFrom(f.src, f.sport), netip.AddrPortFrom(f.dst, f.dport)}
			switch {
			case f.flags == tcpSYN:
				syn++
				if !f.hasSynOpts {
					t.Fatal("SYN without options")
				}
				conns[key] = &conn{a: key[0], b: key[1], next: f.seq + 1}
			case f.flags == tcpSYN|tcpACK:
				synAck++
				if c := conns[[2]netip.AddrPort{key[1], key[0]}]; c != nil && f.ack != c.next {
					t.Fatalf("SYN-ACK acknowledges %d, want %d", f.ack, c.next)
				}
				conns[key] = &conn{a: key[0], b: key[1], next: f.seq + 1}
			case f.flags&tcpFIN != 0:
				fin++
			case f.flags&tcpRST != 0:
				rst++
			}
			if c := conns[key]; c != nil && f.flags&tcpSYN == 0 {
				if f.seq != c.next {
					t.Fatalf("%s→%s: seq %d, want %d", key[0], key[1], f.seq, c.next)
				}
				c.next += uint32(len(f.payload))
				if f.flags&tcpFIN != 0 {
					c.next++
				}
			}
			if len(f.payload) > 5 && f.payload[0] == 0x16 && f.payload[5] == 1 {
				hellos++
				if f.dport != 443 {
					t.Fatalf("ClientHello to port %d", f.dport)
				}
				if !hellosSeen[string(f.payload)] {
					hellosSeen[string(f.payload)] = true
					sni, alpn := helloInfo(t, f.payload)
					i := slices.Index(webNames, sni)
					if i < 0 || !slices.Equal(alpn, alpnOf(i)) {
						t.Fatalf("ClientHello for %q offering %q", sni, alpn)
					}
				}
			}
			if f.dport == 80 && len(f.payload) > 0 {
				req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(f.payload)))
				if err != nil {
					t.Fatalf("HTTP request: %v", err)
				}
				if req.Host == "" || !strings.HasSuffix(req.Host, ".example.com") && !strings.HasSuffix(req.Host, ".example.org") && !strings.HasSuffix(req.Host, ".example.net") {
					t.Fatalf("HTTP Host %q", req.Host)
				}
				httpReq++
			}
		case 17:
			if f.dport != 53 && f.sport != 53 {
				continue
			}
			d := f.dns
			if d == nil || len(d.Questions) != 1 {
				t.Fatalf("DNS message does not decode: %x", f.payload)
			}
			name := string(d.Questions[0].Name)
			if !d.QR {
				dnsQ++
				if f.dport != 53 || (f.dst != dnsServers[0] && f.dst != dnsServers[1]) {
					t.Fatalf("query to %s:%d", f.dst, f.dport)
				}
				queries[d.ID] = name
				continue
			}
			dnsR++
			if queries[d.ID] != name {
				t.Fatalf("response %d for %q, asked %q", d.ID, name, queries[d.ID])
			}
			if d.ResponseCode == layers.DNSResponseCodeNXDomain {
				nx++
				continue
			}
			if len(d.Answers) != 1 || d.Answers[0].Type != d.Questions[0].Type || d.Answers[0].IP == nil {
				t.Fatalf("answer %+v", d.Answers)
			}
		}
	}
	n := len(fs)
	t.Logf("%d frames: %d IPv6, %d tagged, %d ICMP, %d ICMPv6, %d SYN, %d SYN-ACK, %d FIN, %d RST, %d ClientHellos (%d distinct), %d/%d DNS (%d NXDOMAIN), %d HTTP",
		n, v6, tagged, icmp, icmp6, syn, synAck, fin, rst, hellos, len(hellosSeen), dnsQ, dnsR, nx, httpReq)
	checks := []struct {
		what     string
		got, min int
	}{
		{"IPv6", v6, n / 50}, {"tagged", tagged, n / 20}, {"ICMP", icmp, 20}, {"ICMPv6", icmp6, 4},
		{"SYN", syn, 200}, {"SYN-ACK", synAck, 200}, {"FIN", fin, 200}, {"RST", rst, 5},
		{"ClientHello", hellos, 200}, {"distinct ClientHellos", len(hellosSeen), len(webNames)},
		{"DNS queries", dnsQ, 200}, {"DNS responses", dnsR, 200}, {"NXDOMAIN", nx, 3}, {"HTTP requests", httpReq, 20},
	}
	for _, c := range checks {
		if c.got < c.min {
			t.Errorf("%d %s, want at least %d", c.got, c.what, c.min)
		}
	}
	if tagged > n/2 {
		t.Errorf("%d of %d frames tagged", tagged, n)
	}
}

// incidentFrames plays two cycles of the timeline at TimeScale 0.1 (the way TestTimeline and
// TestFlowIncidents compress it) and returns the frames of the incidents' hosts.
func incidentFrames(t *testing.T) (fs []frame, at func(d time.Duration) time.Time) {
	const scale = 0.1
	start := PcapEpoch
	at = func(d time.Duration) time.Time { return start.Add(time.Duration(float64(d) * scale)) }
	fs = capture(t, PcapOptions{Duration: 2 * time.Duration(float64(cyclePeriod)*scale), Rate: 200,
		Incidents: true, TimeScale: scale, Origin: start})
	return fs, at
}

// TestPacketIncidents: each incident shows, with the right shape, in its window of every
// cycle and nowhere else.
func TestPacketIncidents(t *testing.T) {
	fs, at := incidentFrames(t)
	inWin := func(f frame, from, dur time.Duration) bool {
		return between(f.ts, at(from), at(from+dur)) || between(f.ts, at(cyclePeriod+from), at(cyclePeriod+from+dur))
	}
	type count map[bool]int // in the window, outside it
	t.Run("port scan", func(t *testing.T) {
		syns, rsts, synAcks, resets := count{}, count{}, count{}, count{}
		ports := map[uint16]int{}
		for _, f := range fs {
			in := inWin(f, portScanAt, portScanDur)
			switch {
			case f.src == PortScanSource && f.dst == PortScanTarget && f.flags == tcpSYN:
				syns[in]++
				ports[f.dport]++
			case f.src == PortScanTarget && f.dst == PortScanSource && f.flags == tcpRST|tcpACK:
				rsts[in]++
			case f.src == PortScanTarget && f.dst == PortScanSource && f.flags == tcpSYN|tcpACK:
				synAcks[in]++
				if !scanOpen(f.sport) {
					t.Errorf("SYN-ACK from closed port %d", f.sport)
				}
			case f.src == PortScanSource && f.flags == tcpRST:
				resets[in]++
			case f.src == PortScanSource || f.dst == PortScanSource:
				t.Fatalf("unexpected scan frame %+v", f)
			}
		}
		if syns[true] != 2*1024 || len(ports) != 1024 || rsts[true] != 2*1021 || synAcks[true] != 6 || resets[true] != 6 {
			t.Errorf("in two cycles: %d SYNs to %d ports, %d RST-ACKs, %d SYN-ACKs, %d resets", syns[true], len(ports), rsts[true], synAcks[true], resets[true])
		}
		if ports[1] != 2 || ports[1024] != 2 || ports[1025] != 0 {
			t.Errorf("ports 1, 1024, 1025 probed %d, %d, %d times", ports[1], ports[1024], ports[1025])
		}
		if syns[false]+rsts[false]+synAcks[false]+resets[false] != 0 {
			t.Errorf("scan frames outside the window")
		}
	})
	t.Run("host sweep", func(t *testing.T) {
		echo, reply, syn445, refused := map[netip.Addr]bool{}, 0, map[netip.Addr]bool{}, 0
		for _, f := range fs {
			if f.src != SweepSource && f.dst != SweepSource {
				continue
			}
			if !inWin(f, sweepAt, sweepDur) {
				t.Fatalf("sweep frame at +%v", f.ts.Sub(PcapEpoch))
			}
			switch {
			case f.proto == 1 && f.icmpType == 8 && f.src == SweepSource:
				if !SweepNet.Contains(f.dst) {
					t.Fatalf("ping to %s", f.dst)
				}
				echo[f.dst] = true
			case f.proto == 1 && f.icmpType == 0 && f.dst == SweepSource:
				reply++
			case f.proto == 6 && f.flags == tcpSYN && f.dport == 445:
				syn445[f.dst] = true
			case f.proto == 6 && f.flags == tcpRST|tcpACK && f.sport == 445:
				refused++
			default:
				t.Fatalf("unexpected sweep frame %+v", f)
			}
		}
		if len(echo) != 254 || len(syn445) != 254 || reply != 2*60 || refused != 2*60 {
			t.Errorf("%d hosts pinged, %d replies, %d hosts SYNed on 445, %d refusals", len(echo), reply, len(syn445), refused)
		}
	})
	t.Run("syn flood", func(t *testing.T) {
		syns := count{}
		srcs := map[netip.Addr]bool{}
		for _, f := range fs {
			if f.src == SynFloodTarget.Addr() && f.sport == SynFloodTarget.Port() {
				t.Fatal("the flood's target answers")
			}
			if f.dst != SynFloodTarget.Addr() || f.dport != SynFloodTarget.Port() {
				continue
			}
			if f.flags != tcpSYN || f.vlan != 200 {
				t.Fatalf("flood frame %+v", f)
			}
			doc := false
			for _, b := range extBases4 {
				doc = doc || netip.PrefixFrom(netip.AddrFrom4([4]byte{b[0], b[1], b[2], 0}), 24).Contains(f.src)
			}
			if !doc || reservedExt(f.src) {
				t.Fatalf("flood source %s", f.src)
			}
			srcs[f.src] = true
			syns[inWin(f, synFloodAt, synFloodDur)]++
		}
		want := 2 * SynFloodPerSecond * int(synFloodDur/time.Second)
		if syns[true] != want || syns[false] != 0 || len(srcs) < 500 {
			t.Errorf("%d SYNs in the window (want %d), %d outside, from %d sources", syns[true], want, syns[false], len(srcs))
		}
	})
	t.Run("dns tunnel", func(t *testing.T) {
		var qs, rs int
		labels := map[string]bool{}
		perSec := map[int64]int{}
		for _, f := range fs {
			if f.src != TunnelClient && f.dst != TunnelClient || f.dns == nil {
				continue
			}
			name := string(f.dns.Questions[0].Name)
			if !strings.HasSuffix(name, "."+TunnelDomain) {
				continue // the host's ordinary lookups
			}
			if !inWin(f, tunnelAt, tunnelDur) {
				t.Fatalf("tunnel query at +%v", f.ts.Sub(PcapEpoch))
			}
			label := strings.TrimSuffix(name, "."+TunnelDomain)
			if len(label) != tunnelLabelLen || strings.Trim(label, base32Lower) != "" || f.dns.Questions[0].Type != layers.DNSTypeTXT {
				t.Fatalf("tunnel query %q type %v", name, f.dns.Questions[0].Type)
			}
			if !f.dns.QR {
				qs++
				labels[label] = true
				perSec[f.ts.Sub(PcapEpoch).Milliseconds()/100]++ // 100 ms = 1 s of lab time
				continue
			}
			rs++
			if len(f.dns.Answers) != 1 || len(f.dns.Answers[0].TXTs) != 1 || len(f.dns.Answers[0].TXTs[0]) != 48 || f.dns.Answers[0].TTL != 0 {
				t.Fatalf("tunnel answer %+v", f.dns.Answers)
			}
		}
		want := 2 * TunnelQueriesPerSecond * int(tunnelDur/time.Second)
		if qs != want || rs != want || len(labels) != want {
			t.Errorf("%d queries (%d labels), %d answers, want %d", qs, len(labels), rs, want)
		}
		for s, n := range perSec {
			if n != TunnelQueriesPerSecond {
				t.Errorf("%d queries in lab second %d: not steady", n, s)
			}
		}
	})
	t.Run("beacon", func(t *testing.T) {
		var syns []time.Time
		for _, f := range fs {
			if f.src != BeaconServer.Addr() && f.dst != BeaconServer.Addr() {
				continue
			}
			if f.src != BeaconClient && f.dst != BeaconClient || f.proto != 6 {
				t.Fatalf("beacon frame %+v", f)
			}
			if !inWin(f, beaconAt, beaconDur) {
				t.Fatalf("beacon frame at +%v", f.ts.Sub(PcapEpoch))
			}
			if f.flags == tcpSYN {
				syns = append(syns, f.ts)
			}
			if len(f.payload) > 5 && f.payload[0] == 0x16 {
				if sni, alpn := helloInfo(t, f.payload); sni != BeaconSNI || !slices.Equal(alpn, []string{"http/1.1"}) {
					t.Fatalf("beacon ClientHello for %q %q", sni, alpn)
				}
			}
		}
		per := int(beaconDur / BeaconEvery)
		if len(syns) != 2*per {
			t.Fatalf("%d beacon connections in two cycles, want %d", len(syns), 2*per)
		}
		for k := 1; k < len(syns); k++ {
			if k == per {
				continue // the next cycle
			}
			gap := time.Duration(float64(syns[k].Sub(syns[k-1])) / 0.1) // lab time
			if gap < BeaconEvery-BeaconJitter || gap > BeaconEvery+BeaconJitter {
				t.Errorf("beacon interval %v", gap)
			}
		}
	})
}

// TestBeaconConnection: a beacon check-in is one whole TCP connection whose sequence and
// acknowledgement numbers add up, from SYN to the last ACK.
func TestBeaconConnection(t *testing.T) {
	const scale = 0.1
	var b bytes.Buffer
	from := time.Duration(float64(beaconAt) * scale)
	if err := WritePcap(&b, PcapOptions{From: from, Duration: time.Second, Rate: 10, Incidents: true, TimeScale: scale}); err != nil {
		t.Fatal(err)
	}
	r, err := pcapgo.NewReader(&b)
	if err != nil {
		t.Fatal(err)
	}
	var conn []frame
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		if f := decodeFrame(t, data, ci.Timestamp); f.src == BeaconClient && f.dst == BeaconServer.Addr() || f.dst == BeaconClient && f.src == BeaconServer.Addr() {
			conn = append(conn, f)
		}
	}
	if len(conn) < bcFrames {
		t.Fatalf("%d frames of the first check-in", len(conn))
	}
	conn = conn[:bcFrames]
	next := map[bool]uint32{} // by direction (from the client)
	wantFlags := []uint8{tcpSYN, tcpSYN | tcpACK, tcpACK, tcpPSH | tcpACK, tcpPSH | tcpACK, tcpACK, tcpPSH | tcpACK, tcpPSH | tcpACK, tcpFIN | tcpACK, tcpFIN | tcpACK, tcpACK}
	for k, f := range conn {
		out := f.src == BeaconClient
		if f.flags != wantFlags[k] {
			t.Fatalf("frame %d: flags %#x, want %#x", k, f.flags, wantFlags[k])
		}
		if k > 1 && f.seq != next[out] {
			t.Fatalf("frame %d: seq %d, want %d", k, f.seq, next[out])
		}
		if k > 0 && f.ack != next[!out] {
			t.Fatalf("frame %d: ack %d, want %d", k, f.ack, next[!out])
		}
		n := uint32(len(f.payload))
		if f.flags&(tcpSYN|tcpFIN) != 0 {
			n++
		}
		next[out] = f.seq + n
	}
}

// TestPacketIncidentsListed: Lab.Incidents lists the packet incidents among the others, at
// times that do not collide with any other step, each 20–40 s long and inside the cycle.
func TestPacketIncidentsListed(t *testing.T) {
	l := startLab(t, Options{TimeScale: 0.1})
	steps, period := l.Incidents()
	at := map[string]time.Duration{}
	times := map[time.Duration]string{}
	pi := PacketIncidents(0.1)
	isPacket := func(what string) bool {
		return slices.ContainsFunc(pi, func(p Incident) bool { return p.What == what })
	}
	for _, s := range steps {
		// Steps of one incident may share a time (the outage's); a packet step shares
		// its time with no other.
		if o, ok := times[s.At]; ok && (isPacket(o) || isPacket(s.What)) {
			t.Errorf("%q and %q both at %v", o, s.What, s.At)
		}
		times[s.At] = s.What
		at[s.What] = s.At
	}
	if len(pi) != 2*len(packetIncidents) {
		t.Fatalf("%d packet steps", len(pi))
	}
	for _, s := range pi {
		if got, ok := at[s.What]; !ok || got != s.At || s.Device != "core-r1" || s.Interface != "xe-0/1/4" {
			t.Errorf("%+v: listed at %v (%v)", s, got, ok)
		}
	}
	for _, inc := range packetIncidents {
		if inc.dur < 20*time.Second || inc.dur > 40*time.Second || inc.at+inc.dur >= cyclePeriod {
			t.Errorf("%s: %v for %v", inc.what, inc.at, inc.dur)
		}
		// The last frame of the last event is inside the window.
		last := inc.play.offset(0, inc.play.events()-1) + inc.delays[len(inc.delays)-1]
		if last >= inc.dur {
			t.Errorf("%s: last frame at %v of %v", inc.what, last, inc.dur)
		}
		for k := 1; k < inc.play.events(); k++ {
			if inc.play.offset(0, k) < inc.play.offset(0, k-1) {
				t.Fatalf("%s: event %d before %d", inc.what, k, k-1)
			}
		}
	}
	// The security incidents (flows and packets) do not overlap.
	type win struct {
		what     string
		from, to time.Duration
	}
	ws := []win{{"scan", scanAt, scanAt + scanDur}, {"flood", floodAt, floodAt + floodDur}}
	for _, inc := range packetIncidents {
		ws = append(ws, win{inc.what, inc.at, inc.at + inc.dur})
	}
	for i, a := range ws {
		for _, b := range ws[i+1:] {
			if a.from < b.to && b.from < a.to {
				t.Errorf("%s and %s overlap", a.what, b.what)
			}
		}
	}
	if period != 30*time.Second {
		t.Errorf("period %v", period)
	}
}

// TestPacketTimeline plays the timeline and a lab packet source side by side in a synctest
// bubble (fake time that advances when every goroutine waits): the port scan's probes come
// out of the source between the timeline's "port scan start" and "port scan stop" steps,
// when the timeline logs them.
func TestPacketTimeline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const scale = 0.1
		start := time.Now()
		s := standardSite(DefaultSite, 1, start)
		tm, err := templates()
		if err != nil {
			t.Fatal(err)
		}
		tl := newTimeline(s, start, scale, nil, testLog(t))
		var mu sync.Mutex
		applied := map[string]time.Time{}
		for k := range tl.steps {
			st := &tl.steps[k]
			do := st.do
			st.do = func(at time.Time) {
				mu.Lock()
				applied[st.what] = time.Now()
				mu.Unlock()
				do(at)
			}
		}
		src := newPacketSource(tm, PacketOptions{Rate: 100, Origin: start, TimeScale: scale, Seed: 1, Incidents: true}, defaultEdgeMAC)
		defer src.Close()
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			tl.run(ctx)
			close(done)
		}()
		defer func() {
			cancel()
			<-done
		}()
		var first, last time.Time
		for {
			data, ci, err := src.ZeroCopyReadPacketData()
			if err != nil {
				t.Fatal(err)
			}
			if now := time.Now(); now.Before(ci.Timestamp) || now.Sub(ci.Timestamp) > paceTick {
				t.Fatalf("frame due at %v read at %v", ci.Timestamp.Sub(start), now.Sub(start))
			}
			f := decodeFrame(t, data, ci.Timestamp)
			if f.src == PortScanSource && f.flags == tcpSYN {
				if first.IsZero() {
					first = ci.Timestamp
					synctest.Wait() // let the timeline apply the steps due now
					mu.Lock()
					s, ok := applied["port scan start"]
					mu.Unlock()
					if !ok || s.After(first) {
						t.Fatalf("first probe at +%v, before the timeline starts the scan", first.Sub(start))
					}
				}
				last = ci.Timestamp
			}
			if ci.Timestamp.After(start.Add(time.Duration(float64(portScanAt+portScanDur+time.Second) * scale))) {
				break
			}
		}
		mu.Lock()
		defer mu.Unlock()
		stopAt, ok := applied["port scan stop"]
		if first.IsZero() || !ok || !last.Before(stopAt) {
			t.Fatalf("probes from +%v to +%v, the timeline stops the scan at +%v", first.Sub(start), last.Sub(start), stopAt.Sub(start))
		}
		if d := first.Sub(start.Add(time.Duration(float64(portScanAt) * scale))); d < 0 || d > time.Millisecond {
			t.Errorf("first probe %v after the window opens", d)
		}
	})
}

// TestChecksum compares the 64-bit checksum with the textbook 16-bit one, for every length
// up to 300 bytes of random and of all-0xff data, with and without a pseudo-header sum.
func TestChecksum(t *testing.T) {
	naive := func(b []byte, s uint32) uint16 {
		for k := 0; k+1 < len(b); k += 2 {
			s += uint32(b[k])<<8 | uint32(b[k+1])
		}
		if len(b)%2 == 1 {
			s += uint32(b[len(b)-1]) << 8
		}
		for s>>16 != 0 {
			s = s&0xffff + s>>16
		}
		return ^uint16(s)
	}
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 300)
	for _, ones := range []bool{false, true} {
		for k := range buf {
			buf[k] = byte(r.Uint32())
			if ones {
				buf[k] = 0xff
			}
		}
		for n := range len(buf) {
			for _, ps := range []uint32{0, 0x1fffe, uint32(r.IntN(1 << 20))} {
				if got, want := checksum(buf[:n], uint64(ps)), naive(buf[:n], ps); got != want {
					t.Fatalf("%d bytes (ones %v), pseudo %#x: %#04x, want %#04x", n, ones, ps, got, want)
				}
			}
		}
	}
}
