package decode

import (
	"fmt"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/dns/dnsmessage"
)

// mix is a realistic sample of a campus uplink, by packet count: bulk TCP data and its ACKs
// (about half), TLS application data, web TLS connections (SYN, SYN-ACK, ClientHello, FIN,
// RST), DNS queries and responses, cleartext HTTP, ICMP, ARP; IPv4 and IPv6, some frames
// VLAN-tagged. Each frame appears as often as it would in the traffic.
func mix(tb testing.TB) [][]byte {
	tb.Helper()
	hello := clientHello(tb, "www.example.com", "h2", "http/1.1")
	var frames [][]byte
	add := func(n int, f []byte) {
		for range n {
			frames = append(frames, f)
		}
	}
	for i, fam := range []struct{ c, s string }{{cli4, srv4}, {cli6, srv6}} {
		n := 3 - 2*i // IPv4 three times as common as IPv6
		vl := []uint16(nil)
		if i == 0 {
			vl = []uint16{10}
		}
		add(20*n, pkt{src: fam.s, dst: fam.c, vlans: vl, proto: tcp, sport: 5001, dport: 40100, flags: flagACK, payload: make([]byte, 1448)}.frame(tb))
		add(10*n, pkt{src: fam.c, dst: fam.s, vlans: vl, proto: tcp, sport: 40100, dport: 5001, flags: flagACK}.frame(tb))
		add(8*n, pkt{src: fam.s, dst: fam.c, proto: tcp, sport: 443, dport: 40200, flags: flagACK | flagPSH, payload: append([]byte{0x17, 3, 3, 5, 0x60}, make([]byte, 1376)...)}.frame(tb))
		add(4*n, pkt{src: fam.c, dst: fam.s, proto: tcp, sport: 40200, dport: 443, flags: flagACK}.frame(tb))
		add(n, pkt{src: fam.c, dst: fam.s, proto: tcp, sport: 40300, dport: 443, flags: flagSYN}.frame(tb))
		add(n, pkt{src: fam.s, dst: fam.c, proto: tcp, sport: 443, dport: 40300, flags: flagSYN | flagACK}.frame(tb))
		add(n, pkt{src: fam.c, dst: fam.s, proto: tcp, sport: 40300, dport: 443, flags: flagACK | flagPSH, payload: hello}.frame(tb))
		add(n, pkt{src: fam.c, dst: fam.s, proto: tcp, sport: 40300, dport: 443, flags: flagACK | flagFIN}.frame(tb))
		add(2*n, pkt{src: fam.c, dst: fam.s, proto: udp, sport: 53001, dport: 53, payload: dnsQuery(tb, "www.example.com.", dnsmessage.TypeA)}.frame(tb))
		add(2*n, pkt{src: fam.s, dst: fam.c, proto: udp, sport: 53, dport: 53001, payload: dnsResponse(tb, "www.example.com.", dnsmessage.RCodeSuccess, 3)}.frame(tb))
		add(n, pkt{src: fam.c, dst: fam.s, proto: tcp, sport: 40400, dport: 80, flags: flagACK | flagPSH, payload: httpGet("www.example.com")}.frame(tb))
		add(n, pkt{src: fam.s, dst: fam.c, proto: tcp, sport: 80, dport: 40400, flags: flagACK, payload: append([]byte("HTTP/1.1 200 OK\r\n\r\n"), make([]byte, 1000)...)}.frame(tb))
		add(n, pkt{src: fam.s, dst: fam.c, proto: tcp, sport: 23, dport: 40500, flags: flagRST | flagACK}.frame(tb))
	}
	add(2, pkt{src: cli4, dst: srv4, proto: layers.IPProtocolICMPv4, icmpType: 8, payload: make([]byte, 56)}.frame(tb))
	add(1, pkt{src: cli6, dst: srv6, proto: layers.IPProtocolICMPv6, icmpType: 128, payload: make([]byte, 56)}.frame(tb))
	add(1, arpRequest(tb, "192.0.2.1", "192.0.2.77"))
	// Interleave deterministically so that kinds are spread as in real traffic.
	out := make([][]byte, len(frames))
	for i := range frames {
		out[(i*37)%len(frames)] = frames[i]
	}
	return out
}

// feed runs the frames through d as a collector would: batches of 64, Tick after each,
// packets 10 µs apart (so that intervals close now and then).
func feed(d *Decoder, frames [][]byte, start time.Time, out *Output) time.Time {
	ts := start
	for i, f := range frames {
		ts = ts.Add(10 * time.Microsecond)
		_ = d.Packet(layers.LinkTypeEthernet, f, len(f), ts, 1, out)
		if i%64 == 63 {
			d.Tick(ts, out)
			out.Reset()
		}
	}
	return ts
}

// TestZeroAllocs: once warm, the realistic mix decodes without allocating.
func TestZeroAllocs(t *testing.T) {
	frames := mix(t)
	d := New(DefaultConfig(), NewMetrics(nil))
	var out Output
	ts := t0
	for range 3 {
		ts = feed(d, frames, ts, &out)
	}
	allocs := testing.AllocsPerRun(20, func() { ts = feed(d, frames, ts, &out) })
	if allocs != 0 {
		t.Errorf("%v allocations per pass over %d frames", allocs, len(frames))
	}
}

// BenchmarkPacket: one op is one packet of the mix. packets/s is per core (one Decoder on
// one goroutine); allocs/op is allocations per packet. The baseline decodes the same frames
// with gopacket.NewPacket (Lazy, NoCopy), touching every layer, and does nothing else.
func BenchmarkPacket(b *testing.B) {
	frames := mix(b)
	b.Run("decode", func(b *testing.B) {
		d := New(DefaultConfig(), NewMetrics(nil))
		var out Output
		feed(d, frames, t0, &out)
		ts := t0.Add(time.Hour)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			f := frames[i%len(frames)]
			ts = ts.Add(10 * time.Microsecond)
			_ = d.Packet(layers.LinkTypeEthernet, f, len(f), ts, 1, &out)
			if i%64 == 63 {
				d.Tick(ts, &out)
				out.Reset()
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
	})
	b.Run("gopacket-NewPacket-lazy-nocopy", func(b *testing.B) {
		b.ReportAllocs()
		n := 0
		for i := range b.N {
			p := gopacket.NewPacket(frames[i%len(frames)], layers.LayerTypeEthernet, gopacket.DecodeOptions{Lazy: true, NoCopy: true})
			n += len(p.Layers())
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
		if n == 0 {
			b.Fatal("nothing decoded")
		}
	})
}

// BenchmarkDNS compares ParseDNS with gopacket's layers.DNS, reused: on a query with EDNS0,
// one with an EDNS cookie option (as dig sends by default), a response with three A records
// and one with a TXT record. layers.DNS decodes every record, and allocates for EDNS options
// and TXT strings.
func BenchmarkDNS(b *testing.B) {
	for _, tc := range []struct {
		name string
		msg  []byte
	}{
		{"query-edns", dnsQuery(b, "www.example.com.", dnsmessage.TypeA)},
		{"response-3", dnsResponse(b, "www.example.com.", dnsmessage.RCodeSuccess, 3)},
		{"query-edns-cookie", dnsQueryCookie(b)},
		{"response-txt", dnsTXTResponse(b)},
	} {
		b.Run(tc.name+"/ParseDNS", func(b *testing.B) {
			var buf [maxNameLen]byte
			b.ReportAllocs()
			for range b.N {
				if _, err := ParseDNS(tc.msg, &buf); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tc.name+"/layers.DNS", func(b *testing.B) {
			var d layers.DNS
			b.ReportAllocs()
			for range b.N {
				if err := d.DecodeFromBytes(tc.msg, gopacket.NilDecodeFeedback); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkClientHello parses a crypto/tls ClientHello.
func BenchmarkClientHello(b *testing.B) {
	hello := clientHello(b, "www.example.com", "h2", "http/1.1")
	var sni, alpn [255]byte
	b.ReportAllocs()
	b.SetBytes(int64(len(hello)))
	for range b.N {
		if _, err := ParseClientHello(hello, &sni, &alpn); err != nil {
			b.Fatal(err)
		}
	}
}

func ExampleDecoder() {
	d := New(DefaultConfig(), NewMetrics(nil))
	var out Output
	frame := []byte{ // an Ethernet frame: 192.0.2.1 → 198.51.100.7, TCP SYN to port 22
		2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00,
		0x45, 0, 0, 40, 0, 1, 0, 0, 64, 6, 0, 0, 192, 0, 2, 1, 198, 51, 100, 7,
		0x9c, 0x40, 0, 22, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0,
	}
	ts := time.Date(2025, 3, 1, 12, 0, 3, 0, time.UTC)
	if err := d.Packet(layers.LinkTypeEthernet, frame, len(frame), ts, 1, &out); err != nil {
		fmt.Println(err)
	}
	d.Flush(ts, &out)
	for _, o := range out.Obs {
		fmt.Println(o.Time.Format(time.TimeOnly), o.Kind, o.SrcAddr, o.DstAddr, o.DstPort, o.HalfOpen, o.Packets)
	}
	// Output:
	// 12:00:03 tcp.syn 192.0.2.1 198.51.100.7 22 1 0
	// 12:00:10 host.traffic 192.0.2.1 invalid IP 0 0 1
	// 12:00:10 tcp.half_open invalid IP 198.51.100.7 0 1 0
}

func dnsQueryCookie(tb testing.TB) []byte {
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 7, RecursionDesired: true})
	must(tb, b.StartQuestions())
	must(tb, b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName("www.example.com."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}))
	must(tb, b.StartAdditionals())
	var opt dnsmessage.ResourceHeader
	must(tb, opt.SetEDNS0(1232, dnsmessage.RCodeSuccess, false))
	must(tb, b.OPTResource(opt, dnsmessage.OPTResource{Options: []dnsmessage.Option{{Code: 10, Data: []byte{1, 2, 3, 4, 5, 6, 7, 8}}}}))
	msg, err := b.Finish()
	must(tb, err)
	return msg
}

func dnsTXTResponse(tb testing.TB) []byte {
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 7, Response: true})
	b.EnableCompression()
	nm := dnsmessage.MustNewName("x.example.com.")
	must(tb, b.StartQuestions())
	must(tb, b.Question(dnsmessage.Question{Name: nm, Type: dnsmessage.TypeTXT, Class: dnsmessage.ClassINET}))
	must(tb, b.StartAnswers())
	must(tb, b.TXTResource(dnsmessage.ResourceHeader{Name: nm, Class: dnsmessage.ClassINET, TTL: 60}, dnsmessage.TXTResource{TXT: []string{"v=spf1 -all"}}))
	msg, err := b.Finish()
	must(tb, err)
	return msg
}
