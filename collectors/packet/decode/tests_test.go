package decode

import (
	"crypto/tls"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/dns/dnsmessage"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// pkt describes a frame to build: IPv4 or IPv6 by the addresses' family.
type pkt struct {
	src, dst     string
	vlans        []uint16 // outermost first; two make QinQ (0x88a8 outer)
	proto        layers.IPProtocol
	sport, dport uint16
	flags        uint8 // TCP flags, flag* constants
	icmpType     uint8
	icmpCode     uint8
	payload      []byte
}

func (p pkt) frame(tb testing.TB) []byte {
	tb.Helper()
	src, dst := netip.MustParseAddr(p.src), netip.MustParseAddr(p.dst)
	var ls []gopacket.SerializableLayer
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}}
	ls = append(ls, eth)
	ipType := layers.EthernetTypeIPv4
	if src.Is6() {
		ipType = layers.EthernetTypeIPv6
	}
	next := &eth.EthernetType
	for i, v := range p.vlans {
		*next = layers.EthernetTypeDot1Q
		if i == 0 && len(p.vlans) > 1 {
			*next = layers.EthernetTypeQinQ
		}
		q := &layers.Dot1Q{VLANIdentifier: v}
		ls = append(ls, q)
		next = &q.Type
	}
	*next = ipType
	var nl gopacket.NetworkLayer
	if src.Is4() {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: p.proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		ls, nl = append(ls, ip), ip
	} else {
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: p.proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		ls, nl = append(ls, ip), ip
	}
	switch p.proto {
	case layers.IPProtocolTCP:
		tcp := &layers.TCP{SrcPort: layers.TCPPort(p.sport), DstPort: layers.TCPPort(p.dport), Seq: 1000, Window: 65535,
			FIN: p.flags&flagFIN != 0, SYN: p.flags&flagSYN != 0, RST: p.flags&flagRST != 0, PSH: p.flags&flagPSH != 0,
			ACK: p.flags&flagACK != 0, URG: p.flags&flagURG != 0, ECE: p.flags&flagECE != 0, CWR: p.flags&flagCWR != 0}
		if p.flags&flagSYN != 0 {
			tcp.Options = []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{5, 0xb4}},
				{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2}}
		}
		if err := tcp.SetNetworkLayerForChecksum(nl); err != nil {
			tb.Fatal(err)
		}
		ls = append(ls, tcp)
	case layers.IPProtocolUDP:
		udp := &layers.UDP{SrcPort: layers.UDPPort(p.sport), DstPort: layers.UDPPort(p.dport)}
		if err := udp.SetNetworkLayerForChecksum(nl); err != nil {
			tb.Fatal(err)
		}
		ls = append(ls, udp)
	case layers.IPProtocolICMPv4:
		ls = append(ls, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(p.icmpType, p.icmpCode), Id: 7, Seq: 1})
	case layers.IPProtocolICMPv6:
		ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(p.icmpType, p.icmpCode)}
		if err := ic.SetNetworkLayerForChecksum(nl); err != nil {
			tb.Fatal(err)
		}
		ls = append(ls, ic)
	}
	ls = append(ls, gopacket.Payload(p.payload))
	return serialize(tb, ls...)
}

func serialize(tb testing.TB, ls ...gopacket.SerializableLayer) []byte {
	tb.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		tb.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// arpRequest is who-has target tell sender.
func arpRequest(tb testing.TB, sender, target string) []byte {
	s, t := netip.MustParseAddr(sender).As4(), netip.MustParseAddr(target).As4()
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	return serialize(tb,
		&layers.Ethernet{SrcMAC: mac, DstMAC: net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: layers.ARPRequest, SourceHwAddress: mac, SourceProtAddress: s[:], DstHwAddress: make([]byte, 6), DstProtAddress: t[:]})
}

// dnsQuery builds a query for name with EDNS0, as resolvers send them.
func dnsQuery(tb testing.TB, name string, typ dnsmessage.Type) []byte {
	tb.Helper()
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 0x1234, RecursionDesired: true})
	b.EnableCompression()
	must(tb, b.StartQuestions())
	must(tb, b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(name), Type: typ, Class: dnsmessage.ClassINET}))
	must(tb, b.StartAdditionals())
	var opt dnsmessage.ResourceHeader
	must(tb, opt.SetEDNS0(1232, dnsmessage.RCodeSuccess, false))
	must(tb, b.OPTResource(opt, dnsmessage.OPTResource{}))
	msg, err := b.Finish()
	must(tb, err)
	return msg
}

// dnsResponse answers name with n A records (compressed names) and rcode.
func dnsResponse(tb testing.TB, name string, rcode dnsmessage.RCode, n int) []byte {
	tb.Helper()
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 0x1234, Response: true, RecursionDesired: true, RecursionAvailable: true, RCode: rcode})
	b.EnableCompression()
	must(tb, b.StartQuestions())
	nm := dnsmessage.MustNewName(name)
	must(tb, b.Question(dnsmessage.Question{Name: nm, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}))
	must(tb, b.StartAnswers())
	for i := range n {
		must(tb, b.AResource(dnsmessage.ResourceHeader{Name: nm, Class: dnsmessage.ClassINET, TTL: 300}, dnsmessage.AResource{A: [4]byte{192, 0, 2, byte(i + 1)}}))
	}
	msg, err := b.Finish()
	must(tb, err)
	return msg
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// tcpDNS prefixes msg with its 2-byte length, as DNS over TCP sends it.
func tcpDNS(msg []byte) []byte {
	return append([]byte{byte(len(msg) >> 8), byte(len(msg))}, msg...)
}

// clientHello returns the first TLS record a crypto/tls client writes: its ClientHello.
func clientHello(tb testing.TB, serverName string, alpn ...string) []byte {
	tb.Helper()
	c, s := net.Pipe()
	defer s.Close()
	go func() {
		cl := tls.Client(c, &tls.Config{ServerName: serverName, NextProtos: alpn, InsecureSkipVerify: serverName == ""})
		_ = cl.Handshake() // fails when s closes
		c.Close()
	}()
	hdr := make([]byte, 5)
	if _, err := io.ReadFull(s, hdr); err != nil {
		tb.Fatal(err)
	}
	body := make([]byte, int(hdr[3])<<8|int(hdr[4]))
	if _, err := io.ReadFull(s, body); err != nil {
		tb.Fatal(err)
	}
	return append(hdr, body...)
}

// httpGet is a browser-like request head.
func httpGet(host string) []byte {
	return []byte("GET /index.html?q=1 HTTP/1.1\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\nAccept: */*\r\nHost: " + host +
		"\r\nAccept-Encoding: gzip\r\nConnection: keep-alive\r\n\r\n")
}
