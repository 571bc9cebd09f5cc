package decode

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/net/dns/dnsmessage"

	"github.com/watchfloor/watchfloor"
)

// obsView is the part of an observation a test compares; Time and SamplingRate are checked
// on their own.
type obsView struct {
	Kind             watchfloor.ObsKind
	Src, Dst         string
	SrcPort, DstPort uint16
	Proto, Flags     uint8
	VLAN             uint16
	ICMPType         uint8
	ICMPCode         uint8
	DNSType          uint16
	Rcode            uint8
	Answers          uint16
	Labels, Longest  uint8
	QueryBytes       uint16
	Name, Extra      string
	HalfOpen         uint32
	Packets, Bytes   uint64
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func view(o watchfloor.Observation) obsView {
	return obsView{Kind: o.Kind, Src: addrString(o.SrcAddr), Dst: addrString(o.DstAddr), SrcPort: o.SrcPort, DstPort: o.DstPort,
		Proto: o.Proto, Flags: o.TCPFlags, VLAN: o.VLAN, ICMPType: o.ICMPType, ICMPCode: o.ICMPCode,
		DNSType: o.DNSType, Rcode: o.DNSRcode, Answers: o.DNSAnswers, Labels: o.DNSLabels, Longest: o.DNSLongest,
		QueryBytes: o.DNSQueryBytes, Name: string(o.Name), Extra: string(o.Extra), HalfOpen: o.HalfOpen,
		Packets: o.Packets, Bytes: o.Bytes}
}

const (
	cli4, srv4 = "192.0.2.10", "198.51.100.20"
	cli6, srv6 = "2001:db8::10", "2001:db8:1::20"
	tcp, udp   = layers.IPProtocolTCP, layers.IPProtocolUDP
)

// sll wraps the IP packet of an Ethernet frame in a Linux cooked header (v1 or v2).
func sll(frame []byte, v2 bool) []byte {
	ip := frame[14:]
	proto := frame[12:14]
	if v2 {
		h := []byte{proto[0], proto[1], 0, 0, 0, 0, 0, 3, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0}
		return append(h, ip...)
	}
	h := []byte{0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, proto[0], proto[1]}
	return append(h, ip...)
}

func TestPacket(t *testing.T) {
	hello := clientHello(t, "WWW.Example.com", "h2", "http/1.1")
	syn := pkt{src: cli4, dst: srv4, proto: tcp, sport: 40000, dport: 443, flags: flagSYN}
	for _, tc := range []struct {
		name    string
		link    layers.LinkType
		frame   []byte
		want    []obsView
		wantErr string // layer/reason
	}{
		{name: "syn", frame: syn.frame(t), want: []obsView{{Kind: watchfloor.ObsTCPSyn, Src: cli4, Dst: srv4, SrcPort: 40000, DstPort: 443, Proto: 6, Flags: flagSYN, HalfOpen: 1}}},
		{name: "syn-ack", frame: pkt{src: srv4, dst: cli4, proto: tcp, sport: 443, dport: 40000, flags: flagSYN | flagACK}.frame(t),
			want: []obsView{{Kind: watchfloor.ObsTCPSynAck, Src: srv4, Dst: cli4, SrcPort: 443, DstPort: 40000, Proto: 6, Flags: flagSYN | flagACK}}},
		{name: "rst-ack", frame: pkt{src: srv4, dst: cli4, proto: tcp, sport: 23, dport: 40000, flags: flagRST | flagACK}.frame(t),
			want: []obsView{{Kind: watchfloor.ObsTCPRst, Src: srv4, Dst: cli4, SrcPort: 23, DstPort: 40000, Proto: 6, Flags: flagRST | flagACK}}},
		{name: "bulk ack carries nothing", frame: pkt{src: cli4, dst: srv4, proto: tcp, sport: 40000, dport: 5001, flags: flagACK, payload: make([]byte, 1400)}.frame(t)},
		{name: "syn ipv6", frame: pkt{src: cli6, dst: srv6, proto: tcp, sport: 40000, dport: 22, flags: flagSYN}.frame(t),
			want: []obsView{{Kind: watchfloor.ObsTCPSyn, Src: cli6, Dst: srv6, SrcPort: 40000, DstPort: 22, Proto: 6, Flags: flagSYN, HalfOpen: 1}}},
		{name: "syn qinq inner vlan", frame: pkt{src: cli4, dst: srv4, vlans: []uint16{100, 200}, proto: tcp, sport: 40000, dport: 80, flags: flagSYN}.frame(t),
			want: []obsView{{Kind: watchfloor.ObsTCPSyn, Src: cli4, Dst: srv4, SrcPort: 40000, DstPort: 80, Proto: 6, Flags: flagSYN, VLAN: 200, HalfOpen: 1}}},
		{name: "dns query vlan", frame: pkt{src: cli4, dst: srv4, vlans: []uint16{42}, proto: udp, sport: 53000, dport: 53, payload: dnsQuery(t, "WWW.Example.com.", dnsmessage.TypeA)}.frame(t),
			want: []obsView{{Kind: watchfloor.ObsDNSQuery, Src: cli4, Dst: srv4, SrcPort: 53000, DstPort: 53, Proto: 17, VLAN: 42, DNSType: 1, Labels: 3, Longest: 7, QueryBytes: 15, Name: "www.example.com"}}},
		{name: "dns response", frame: pkt{src: srv4, dst: cli4, proto: udp, sport: 53, dport: 53000, payload: dnsResponse(t, "mail.example.org.", dnsmessage.RCodeSuccess, 2)}.frame(t),
			want: []obsView{{Kind: watchfloor.ObsDNSResponse, Src: srv4, Dst: cli4, SrcPort: 53, DstPort: 53000, Proto: 17, DNSType: 1, Answers: 2, Labels: 3, Longest: 7, QueryBytes: 16, Name: "mail.example.org"}}},
		{name: "dns nxdomain ipv6", frame: pkt{src: srv6, dst: cli6, proto: udp, sport: 53, dport: 53000, payload: dnsResponse(t, "nope.example.", dnsmessage.RCodeNameError, 0)}.frame(t),
			want: []obsView{{Kind: watchfloor.ObsDNSResponse, Src: srv6, Dst: cli6, SrcPort: 53, DstPort: 53000, Proto: 17, DNSType: 1, Rcode: 3, Labels: 2, Longest: 7, QueryBytes: 12, Name: "nope.example"}}},
		{name: "dns over tcp ipv6", frame: pkt{src: cli6, dst: srv6, proto: tcp, sport: 40001, dport: 53, flags: flagACK | flagPSH, payload: tcpDNS(dnsQuery(t, "example.net.", dnsmessage.TypeAAAA))}.frame(t),
			want: []obsView{{Kind: watchfloor.ObsDNSQuery, Src: cli6, Dst: srv6, SrcPort: 40001, DstPort: 53, Proto: 6, Flags: flagACK | flagPSH, DNSType: 28, Labels: 2, Longest: 7, QueryBytes: 11, Name: "example.net"}}},
		{name: "dns over tcp in two segments", frame: pkt{src: cli4, dst: srv4, proto: tcp, sport: 40001, dport: 53, flags: flagACK, payload: tcpDNS(dnsQuery(t, "example.net.", dnsmessage.TypeA))[:20]}.frame(t)},
		{name: "tls client hello", frame: pkt{src: cli4, dst: srv4, proto: tcp, sport: 40000, dport: 443, flags: flagACK | flagPSH, payload: hello}.frame(t),
			want: []obsView{{Kind: watchfloor.ObsTLSClientHello, Src: cli4, Dst: srv4, SrcPort: 40000, DstPort: 443, Proto: 6, Flags: flagACK | flagPSH, Name: "www.example.com", Extra: "h2,http/1.1"}}},
		{name: "tls on another port ipv6", frame: pkt{src: cli6, dst: srv6, proto: tcp, sport: 40000, dport: 4433, flags: flagACK, payload: hello}.frame(t),
			want: []obsView{{Kind: watchfloor.ObsTLSClientHello, Src: cli6, Dst: srv6, SrcPort: 40000, DstPort: 4433, Proto: 6, Flags: flagACK, Name: "www.example.com", Extra: "h2,http/1.1"}}},
		{name: "tls application data", frame: pkt{src: cli4, dst: srv4, proto: tcp, sport: 40000, dport: 443, flags: flagACK, payload: []byte{0x17, 3, 3, 0, 4, 1, 2, 3, 4}}.frame(t)},
		{name: "http get", frame: pkt{src: cli4, dst: srv4, proto: tcp, sport: 40002, dport: 8080, flags: flagACK | flagPSH, payload: httpGet("Intranet.Example.COM:8080")}.frame(t),
			want: []obsView{{Kind: watchfloor.ObsHTTPRequest, Src: cli4, Dst: srv4, SrcPort: 40002, DstPort: 8080, Proto: 6, Flags: flagACK | flagPSH, Name: "intranet.example.com", Extra: "GET"}}},
		{name: "http post ipv6", frame: pkt{src: cli6, dst: srv6, proto: tcp, sport: 40002, dport: 80, flags: flagACK, payload: []byte("POST /api HTTP/1.1\r\nhost: [2001:db8:1::20]:80\r\nContent-Length: 2\r\n\r\n{}")}.frame(t),
			want: []obsView{{Kind: watchfloor.ObsHTTPRequest, Src: cli6, Dst: srv6, SrcPort: 40002, DstPort: 80, Proto: 6, Flags: flagACK, Name: "[2001:db8:1::20]", Extra: "POST"}}},
		{name: "http response is no request", frame: pkt{src: srv4, dst: cli4, proto: tcp, sport: 80, dport: 40002, flags: flagACK, payload: []byte("HTTP/1.1 200 OK\r\n\r\n")}.frame(t)},
		{name: "http body is no request", frame: pkt{src: cli4, dst: srv4, proto: tcp, sport: 40002, dport: 80, flags: flagACK, payload: []byte("name=value&x=1")}.frame(t)},
		{name: "icmp echo", frame: pkt{src: cli4, dst: srv4, proto: layers.IPProtocolICMPv4, icmpType: 8, payload: []byte("ping")}.frame(t),
			want: []obsView{{Kind: watchfloor.ObsICMP, Src: cli4, Dst: srv4, Proto: 1, ICMPType: 8}}},
		{name: "icmp port unreachable", frame: pkt{src: srv4, dst: cli4, proto: layers.IPProtocolICMPv4, icmpType: 3, icmpCode: 3, payload: make([]byte, 28)}.frame(t),
			want: []obsView{{Kind: watchfloor.ObsICMP, Src: srv4, Dst: cli4, Proto: 1, ICMPType: 3, ICMPCode: 3}}},
		{name: "icmpv6 echo", frame: pkt{src: cli6, dst: srv6, proto: layers.IPProtocolICMPv6, icmpType: 128, payload: []byte{0, 1, 0, 1}}.frame(t),
			want: []obsView{{Kind: watchfloor.ObsICMP, Src: cli6, Dst: srv6, Proto: 58, ICMPType: 128}}},
		{name: "icmpv6 neighbour solicitation", frame: pkt{src: cli6, dst: "ff02::1:ff00:20", proto: layers.IPProtocolICMPv6, icmpType: 135, payload: make([]byte, 20)}.frame(t),
			want: []obsView{{Kind: watchfloor.ObsICMP, Src: cli6, Dst: "ff02::1:ff00:20", Proto: 58, ICMPType: 135}}},
		{name: "arp request", frame: arpRequest(t, "192.0.2.1", "192.0.2.77"),
			want: []obsView{{Kind: watchfloor.ObsARP, Src: "192.0.2.1", Dst: "192.0.2.77"}}},
		{name: "raw ipv4", link: layers.LinkTypeRaw, frame: syn.frame(t)[14:],
			want: []obsView{{Kind: watchfloor.ObsTCPSyn, Src: cli4, Dst: srv4, SrcPort: 40000, DstPort: 443, Proto: 6, Flags: flagSYN, HalfOpen: 1}}},
		{name: "linktype ipv6", link: layers.LinkTypeIPv6, frame: pkt{src: cli6, dst: srv6, proto: tcp, sport: 1, dport: 2, flags: flagRST}.frame(t)[14:],
			want: []obsView{{Kind: watchfloor.ObsTCPRst, Src: cli6, Dst: srv6, SrcPort: 1, DstPort: 2, Proto: 6, Flags: flagRST}}},
		{name: "linux sll", link: layers.LinkTypeLinuxSLL, frame: sll(syn.frame(t), false),
			want: []obsView{{Kind: watchfloor.ObsTCPSyn, Src: cli4, Dst: srv4, SrcPort: 40000, DstPort: 443, Proto: 6, Flags: flagSYN, HalfOpen: 1}}},
		{name: "linux sll2", link: layers.LinkTypeLinuxSLL2, frame: sll(pkt{src: cli6, dst: srv6, proto: udp, sport: 5353, dport: 53, payload: dnsQuery(t, "a.b.c.d.", dnsmessage.TypeTXT)}.frame(t), true),
			want: []obsView{{Kind: watchfloor.ObsDNSQuery, Src: cli6, Dst: srv6, SrcPort: 5353, DstPort: 53, Proto: 17, DNSType: 16, Labels: 4, Longest: 1, QueryBytes: 7, Name: "a.b.c.d"}}},

		// Errors.
		{name: "short ethernet", frame: syn.frame(t)[:10], wantErr: "ethernet/truncated"},
		{name: "cut ipv4 header", frame: syn.frame(t)[:14+12], wantErr: "ipv4/truncated"},
		{name: "cut tcp header", frame: syn.frame(t)[:14+20+8], wantErr: "tcp/truncated"},
		{name: "bad tcp offset", frame: func() []byte { f := syn.frame(t); f[14+20+12] = 0x30; return f }(), wantErr: "tcp/malformed"},
		{name: "cut ipv6 header", frame: pkt{src: cli6, dst: srv6, proto: tcp, flags: flagSYN}.frame(t)[:14+30], wantErr: "ipv6/truncated"},
		{name: "dns bad label", frame: pkt{src: cli4, dst: srv4, proto: udp, sport: 1, dport: 53, payload: append(dnsQuery(t, "x.", 1)[:12], 0x40, 'x', 0, 0, 1, 0, 1)}.frame(t), wantErr: "dns/malformed"},
		{name: "dns cut", frame: pkt{src: cli4, dst: srv4, proto: udp, sport: 1, dport: 53, payload: dnsQuery(t, "example.com.", 1)[:20]}.frame(t), wantErr: "dns/truncated"},
		{name: "tls bad session id", frame: pkt{src: cli4, dst: srv4, proto: tcp, sport: 1, dport: 443, flags: flagACK, payload: func() []byte {
			h := append([]byte(nil), hello...)
			h[5+4+2+32] = 40
			return h
		}()}.frame(t), wantErr: "tls/malformed"},
		{name: "http bad request line", frame: pkt{src: cli4, dst: srv4, proto: tcp, sport: 1, dport: 80, flags: flagACK, payload: []byte("GET /\r\nHost: x\r\n\r\n")}.frame(t), wantErr: "http/malformed"},
		{name: "unsupported link", link: layers.LinkTypeIEEE802_11, frame: syn.frame(t), wantErr: "link/unsupported"},
		{name: "raw ip version 5", link: layers.LinkTypeRaw, frame: []byte{0x50, 0, 0, 0}, wantErr: "link/malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMetrics(prometheus.NewRegistry())
			d := New(DefaultConfig(), m)
			var out Output
			link := tc.link
			if link == 0 {
				link = layers.LinkTypeEthernet
			}
			err := d.Packet(link, tc.frame, 0, t0, 100, &out)
			var de *DecodeError
			switch {
			case tc.wantErr != "":
				if !errors.As(err, &de) || de.Layer.String()+"/"+de.Reason.String() != tc.wantErr {
					t.Fatalf("error %v, want %s", err, tc.wantErr)
				}
				d.Tick(t0, &out)
				if n := testutil.ToFloat64(m.errorsBy[de.Layer][de.Reason]); n != 1 {
					t.Errorf("errors{%s} = %v, want 1", tc.wantErr, n)
				}
			case err != nil:
				t.Fatalf("error %v", err)
			}
			var got []obsView
			for _, o := range out.Obs {
				if !o.Time.Equal(t0) || o.SamplingRate != 100 {
					t.Errorf("time %v rate %d", o.Time, o.SamplingRate)
				}
				got = append(got, view(o))
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got\n%+v\nwant\n%+v", got, tc.want)
			}
			if n := testutil.ToFloat64(m.packets); tc.wantErr == "" && n != 0 {
				t.Errorf("counted before Tick: %v", n)
			}
			d.Tick(t0, &out)
			if n := testutil.ToFloat64(m.packets); n != 1 {
				t.Errorf("packets = %v, want 1", n)
			}
			for _, w := range tc.want {
				if n := testutil.ToFloat64(m.obsBy[w.Kind]); n != 1 {
					t.Errorf("observations{%s} = %v", w.Kind, n)
				}
			}
		})
	}
}

// TestPartial: a ClientHello and a request head that continue past their segment are
// observed with what the segment holds, and counted as partial.
func TestPartial(t *testing.T) {
	hello := clientHello(t, "partial.example.com", "h2")
	for _, tc := range []struct {
		name    string
		payload []byte
		dport   uint16
		want    obsView
		layer   Layer
	}{
		{"tls", hello[:len(hello)-10], 443, obsView{Kind: watchfloor.ObsTLSClientHello, Name: "partial.example.com", Extra: "h2"}, LayerTLS},
		{"http", []byte("GET / HTTP/1.1\r\nAccept: */*\r\n"), 80, obsView{Kind: watchfloor.ObsHTTPRequest, Extra: "GET"}, LayerHTTP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMetrics(nil)
			d := New(DefaultConfig(), m)
			var out Output
			f := pkt{src: cli4, dst: srv4, proto: tcp, sport: 1, dport: tc.dport, flags: flagACK, payload: tc.payload}.frame(t)
			if err := d.Packet(layers.LinkTypeEthernet, f, 0, t0, 1, &out); err != nil {
				t.Fatal(err)
			}
			if len(out.Obs) != 1 {
				t.Fatalf("got %d observations", len(out.Obs))
			}
			o := view(out.Obs[0])
			if o.Kind != tc.want.Kind || o.Name != tc.want.Name || o.Extra != tc.want.Extra {
				t.Errorf("got %+v", o)
			}
			d.Tick(t0, &out)
			if n := testutil.ToFloat64(m.partialBy[tc.layer]); n != 1 {
				t.Errorf("partial = %v", n)
			}
		})
	}
}

// TestArena: names stay valid (and distinct) across many observations in one Output, and
// Reset keeps the storage.
func TestArena(t *testing.T) {
	d := New(DefaultConfig(), nil)
	var out Output
	var names []string
	for i := range 200 {
		n := strings.Repeat(string(rune('a'+i%26)), 1+i%60) + ".example.com"
		names = append(names, n)
		f := pkt{src: cli4, dst: srv4, proto: udp, sport: 5000, dport: 53, payload: dnsQuery(t, n+".", dnsmessage.TypeA)}.frame(t)
		if err := d.Packet(layers.LinkTypeEthernet, f, 0, t0, 1, &out); err != nil {
			t.Fatal(err)
		}
	}
	for i, o := range out.Obs {
		if string(o.Name) != names[i] {
			t.Fatalf("obs %d: %q, want %q", i, o.Name, names[i])
		}
		if cap(o.Name) != len(o.Name) {
			t.Fatalf("obs %d: name has spare capacity: appending to it would overwrite the next", i)
		}
	}
	c := cap(out.arena)
	out.Reset()
	if len(out.Obs) != 0 || len(out.arena) != 0 || cap(out.arena) != c {
		t.Errorf("Reset: %d obs, arena %d/%d (was cap %d)", len(out.Obs), len(out.arena), cap(out.arena), c)
	}
}
