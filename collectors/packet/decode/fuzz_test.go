package decode

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/dns/dnsmessage"

	"github.com/watchfloor/watchfloor"
)

var fuzzLinks = []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeRaw, layers.LinkTypeLinuxSLL, layers.LinkTypeLinuxSLL2, layers.LinkTypeIPv6}

// FuzzPacket feeds any frame to one long-lived Decoder (so that state accumulates across
// inputs), under any of the link types (link picks one): no panic, no unbounded output,
// every error a counted *DecodeError.
func FuzzPacket(f *testing.F) {
	for _, fr := range mix(f) {
		f.Add(fr, uint8(0))
	}
	f.Add(sll(pkt{src: cli4, dst: srv4, proto: udp, sport: 1, dport: 53, payload: dnsQuery(f, "x.y.", dnsmessage.TypeA)}.frame(f), false), uint8(2))
	f.Add(pkt{src: cli6, dst: srv6, proto: tcp, sport: 1, dport: 53, flags: flagACK, payload: tcpDNS(dnsResponse(f, "a.b.c.", 0, 2))}.frame(f)[14:], uint8(1))
	f.Add(pkt{src: cli4, dst: srv4, vlans: []uint16{1, 2}, proto: tcp, sport: 1, dport: 8080, flags: flagACK, payload: []byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n")}.frame(f), uint8(0))
	f.Add(arpRequest(f, "192.0.2.1", "192.0.2.2"), uint8(0))
	cfg := DefaultConfig()
	cfg.MaxTracked, cfg.MaxHosts = 256, 256
	d := New(cfg, NewMetrics(nil))
	var out Output
	ts := t0
	f.Fuzz(func(t *testing.T, frame []byte, link uint8) {
		out.Reset()
		ts = ts.Add(time.Second)
		err := d.Packet(fuzzLinks[int(link)%len(fuzzLinks)], frame, len(frame), ts, 1, &out)
		var de *DecodeError
		if err != nil && (!errors.As(err, &de) || de.Layer >= numLayers || de.Reason >= numReasons) {
			t.Fatalf("error %v not a DecodeError", err)
		}
		for _, o := range out.Obs {
			checkObs(t, o)
		}
		perPacket := 0
		for _, o := range out.Obs {
			if o.Kind != watchfloor.ObsHostTraffic && o.Kind != watchfloor.ObsHalfOpen {
				perPacket++
			}
		}
		if perPacket > 2 {
			t.Fatalf("%d observations of one packet", perPacket)
		}
		if len(out.arena) > 2*255 {
			t.Fatalf("arena grew by %d for one packet", len(out.arena))
		}
		if len(d.track.idx) > cfg.MaxTracked || len(d.hosts.rows) > cfg.MaxHosts {
			t.Fatalf("bounds: %d tracked, %d hosts", len(d.track.idx), len(d.hosts.rows))
		}
		d.Tick(ts, &out)
	})
}

func checkObs(t *testing.T, o watchfloor.Observation) {
	t.Helper()
	if o.Kind == 0 || int(o.Kind) >= numKinds {
		t.Fatalf("kind %d", o.Kind)
	}
	if len(o.Name) > 255 || len(o.Extra) > 255 {
		t.Fatalf("%s: name %d bytes, extra %d", o.Kind, len(o.Name), len(o.Extra))
	}
	if o.SamplingRate == 0 {
		t.Fatalf("%s: rate 0", o.Kind)
	}
	switch o.Kind {
	case watchfloor.ObsHalfOpen:
		if !o.DstAddr.IsValid() || o.HalfOpen == 0 {
			t.Fatalf("half-open row %+v", o)
		}
	case watchfloor.ObsHostTraffic:
		if !o.SrcAddr.IsValid() || o.Packets == 0 {
			t.Fatalf("host row %+v", o)
		}
	default:
		if !o.SrcAddr.IsValid() || !o.DstAddr.IsValid() {
			t.Fatalf("%s without addresses", o.Kind)
		}
	}
	if o.Kind == watchfloor.ObsDNSQuery || o.Kind == watchfloor.ObsDNSResponse {
		if int(o.DNSQueryBytes) != len(o.Name) || o.DNSLongest > 63 || o.DNSEntropy < 0 || o.DNSEntropy > 8 {
			t.Fatalf("dns %+v", o)
		}
	}
}

// FuzzDNS: ParseDNS never panics, never reads beyond msg, and what it returns is
// consistent: the name is within 255 bytes, folded, its label statistics agree with it.
func FuzzDNS(f *testing.F) {
	f.Add(dnsQuery(f, "www.example.com.", dnsmessage.TypeA))
	f.Add(dnsResponse(f, "a8f3k2x9.t.example.com.", dnsmessage.RCodeNameError, 3))
	f.Add(dnsQueryCookie(f))
	f.Add([]byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1})
	f.Fuzz(func(t *testing.T, msg []byte) {
		var buf [maxNameLen]byte
		d, err := ParseDNS(msg, &buf)
		if err != nil {
			return
		}
		if len(d.Name) > 255 || bytes.ContainsFunc(d.Name, func(r rune) bool { return 'A' <= r && r <= 'Z' }) {
			t.Fatalf("name %q", d.Name)
		}
		if d.Longest > 63 || int(d.Longest) > len(d.Name) || (d.Labels == 0) != (len(d.Name) == 0) {
			t.Fatalf("labels %d longest %d of %q", d.Labels, d.Longest, d.Name)
		}
		if d.Entropy < 0 || d.Entropy > 8 || d.Labels <= 2 && d.Entropy != 0 {
			t.Fatalf("entropy %v of %q", d.Entropy, d.Name)
		}
	})
}

// FuzzTLS: ParseClientHello never panics and bounds what it returns.
func FuzzTLS(f *testing.F) {
	hello := clientHello(f, "www.example.com", "h2", "http/1.1")
	f.Add(hello)
	f.Add(hello[:100])
	f.Add(clientHello(f, ""))
	f.Fuzz(func(t *testing.T, p []byte) {
		var sni, alpn [255]byte
		h, err := ParseClientHello(p, &sni, &alpn)
		if err != nil {
			return
		}
		if len(h.SNI) > 255 || len(h.ALPN) > 255 || bytes.ContainsFunc(h.SNI, func(r rune) bool { return 'A' <= r && r <= 'Z' }) {
			t.Fatalf("%+v", h)
		}
	})
}

// FuzzHTTP: ParseHTTPRequest never panics and bounds what it returns.
func FuzzHTTP(f *testing.F) {
	f.Add(httpGet("www.example.com:8080"))
	f.Add([]byte("POST / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n"))
	f.Add([]byte("GET /\r\n"))
	f.Fuzz(func(t *testing.T, p []byte) {
		var host [255]byte
		r, err := ParseHTTPRequest(p, &host)
		if err != nil {
			return
		}
		if len(r.Method) == 0 || len(r.Method) > 16 || len(r.Host) > 255 {
			t.Fatalf("%+v", r)
		}
	})
}
