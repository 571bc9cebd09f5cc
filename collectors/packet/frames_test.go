package packet

import (
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

var (
	macA = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	macB = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x02}
)

// frame serialises layers into an Ethernet frame (lengths and checksums computed).
func frame(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	for _, l := range ls {
		if nl, ok := l.(interface {
			SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
		}); ok {
			for _, m := range ls {
				if n, ok := m.(gopacket.NetworkLayer); ok {
					_ = nl.SetNetworkLayerForChecksum(n)
				}
			}
		}
	}
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func eth(t layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: t}
}

func ip4(src, dst string, proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
}

func ip6(src, dst string, next layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: next, SrcIP: net.ParseIP(src), DstIP: net.ParseIP(dst)}
}

func tcpSeg(sp, dp uint16, syn, ack, rst bool) *layers.TCP {
	return &layers.TCP{SrcPort: layers.TCPPort(sp), DstPort: layers.TCPPort(dp), SYN: syn, ACK: ack, RST: rst, Window: 1024, Seq: 1000}
}

func udpDgram(sp, dp uint16) *layers.UDP {
	return &layers.UDP{SrcPort: layers.UDPPort(sp), DstPort: layers.UDPPort(dp)}
}

// dnsQuery is a DNS query message for name.
func dnsQuery(id uint16, name string) *layers.DNS {
	return &layers.DNS{ID: id, RD: true, QDCount: 1,
		Questions: []layers.DNSQuestion{{Name: []byte(name), Type: layers.DNSTypeA, Class: layers.DNSClassIN}}}
}

func arpRequest(src, dst string) *layers.ARP {
	return &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: layers.ARPRequest, SourceHwAddress: macA, SourceProtAddress: net.ParseIP(src).To4(),
		DstHwAddress: make([]byte, 6), DstProtAddress: net.ParseIP(dst).To4()}
}

// sampleFrames are frames of many kinds, named, for filter and sampling tests.
func sampleFrames(t testing.TB) []struct {
	name string
	data []byte
} {
	v4opts := ip4("10.0.0.3", "10.0.0.1", layers.IPProtocolUDP)
	v4opts.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}
	frag := ip4("10.0.0.1", "10.0.0.2", layers.IPProtocolTCP)
	frag.FragOffset = 100
	vlan := func(id uint16, next layers.EthernetType) []gopacket.SerializableLayer {
		return []gopacket.SerializableLayer{eth(layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: id, Type: next}}
	}
	type f = struct {
		name string
		data []byte
	}
	return []f{
		{"v4 tcp syn 10.0.0.1:1234>10.0.0.2:80", frame(t, eth(layers.EthernetTypeIPv4), ip4("10.0.0.1", "10.0.0.2", layers.IPProtocolTCP), tcpSeg(1234, 80, true, false, false))},
		{"v4 tcp synack 10.0.0.2:80>10.0.0.1:1234", frame(t, eth(layers.EthernetTypeIPv4), ip4("10.0.0.2", "10.0.0.1", layers.IPProtocolTCP), tcpSeg(80, 1234, true, true, false))},
		{"v4 udp 10.0.0.2:53>10.0.0.1:5353", frame(t, eth(layers.EthernetTypeIPv4), ip4("10.0.0.2", "10.0.0.1", layers.IPProtocolUDP), udpDgram(53, 5353), gopacket.Payload("xxxxxxxxxxxx"))},
		{"v4 icmp 10.0.0.1>192.168.1.1", frame(t, eth(layers.EthernetTypeIPv4), ip4("10.0.0.1", "192.168.1.1", layers.IPProtocolICMPv4), &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0)})},
		{"v4 options udp 10.0.0.3:99>10.0.0.1:53", frame(t, eth(layers.EthernetTypeIPv4), v4opts, udpDgram(99, 53))},
		{"v4 fragment tcp", frame(t, eth(layers.EthernetTypeIPv4), frag, gopacket.Payload("\x00\x50\x00\x50xxxxxxxxxxxxxxxxxxxx"))},
		{"v6 tcp 2001:db8::1:5000>2001:db8::2:443", frame(t, eth(layers.EthernetTypeIPv6), ip6("2001:db8::1", "2001:db8::2", layers.IPProtocolTCP), tcpSeg(5000, 443, true, false, false))},
		{"v6 icmp6 fe80::1>ff02::1", frame(t, eth(layers.EthernetTypeIPv6), ip6("fe80::1", "ff02::1", layers.IPProtocolICMPv6), &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(135, 0)}, gopacket.Payload("xxxxxxxxxxxxxxxxxxxx"))},
		{"v6 udp 2001:db9::7:53>2001:db8::1:9999", frame(t, eth(layers.EthernetTypeIPv6), ip6("2001:db9::7", "2001:db8::1", layers.IPProtocolUDP), udpDgram(53, 9999))},
		{"arp 10.0.0.1 who-has 10.0.0.2", frame(t, eth(layers.EthernetTypeARP), arpRequest("10.0.0.1", "10.0.0.2"))},
		{"vlan5 v4 tcp 10.0.0.1>10.0.0.2:80", frame(t, append(vlan(5, layers.EthernetTypeIPv4), ip4("10.0.0.1", "10.0.0.2", layers.IPProtocolTCP), tcpSeg(1234, 80, true, false, false))...)},
		{"vlan7 v4 udp 10.0.0.9>10.0.0.1:53", frame(t, append(vlan(7, layers.EthernetTypeIPv4), ip4("10.0.0.9", "10.0.0.1", layers.IPProtocolUDP), udpDgram(4000, 53))...)},
		{"big v4 udp 172.16.0.1>172.16.0.2:2000", frame(t, eth(layers.EthernetTypeIPv4), ip4("172.16.0.1", "172.16.0.2", layers.IPProtocolUDP), udpDgram(1000, 2000), gopacket.Payload(make([]byte, 200)))},
		{"reverse ether v4 tcp", frame(t, &layers.Ethernet{SrcMAC: macB, DstMAC: macA, EthernetType: layers.EthernetTypeIPv4}, ip4("10.1.0.1", "10.1.0.2", layers.IPProtocolTCP), tcpSeg(22, 40000, false, true, false))},
		{"runt", []byte{0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08}},
	}
}
