package decode

import (
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

func TestParseDNS(t *testing.T) {
	long := strings.Repeat(strings.Repeat("a", 63)+".", 3) + strings.Repeat("b", 61) + "." // 253 characters
	for _, tc := range []struct {
		name            string
		msg             []byte
		want            string
		labels, longest uint8
		minH, maxH      float32
		err             error
	}{
		{name: "www", msg: dnsQuery(t, "www.example.com.", dnsmessage.TypeA), want: "www.example.com", labels: 3, longest: 7, maxH: 0},
		{name: "two labels", msg: dnsQuery(t, "example.com.", dnsmessage.TypeA), want: "example.com", labels: 2, longest: 7, maxH: 0},
		{name: "root", msg: dnsQuery(t, ".", dnsmessage.TypeNS), want: "", labels: 0},
		// 16 distinct characters in 16: log2(16) = 4 bits each.
		{name: "tunnel", msg: dnsQuery(t, "a8f3k2x9q7z1m4p0.example.com.", dnsmessage.TypeTXT), want: "a8f3k2x9q7z1m4p0.example.com", labels: 3, longest: 16, minH: 3.999, maxH: 4.001},
		// Labels left of the last two are taken together, dots left out: 22 characters.
		{name: "tunnel two labels", msg: dnsQuery(t, "a8f3k2x9q7z1m4p0.tunnel.example.com.", dnsmessage.TypeTXT), want: "a8f3k2x9q7z1m4p0.tunnel.example.com", labels: 4, longest: 16, minH: 4.36, maxH: 4.37},
		// "aab": −(2/3·log2(2/3) + 1/3·log2(1/3)) ≈ 0.918.
		{name: "entropy exact", msg: dnsQuery(t, "a.ab.example.com.", dnsmessage.TypeA), want: "a.ab.example.com", labels: 4, longest: 7, minH: 0.918, maxH: 0.919},
		{name: "upper case folded", msg: dnsQuery(t, "MiXeD.Example.COM.", dnsmessage.TypeA), want: "mixed.example.com", labels: 3, longest: 7, minH: 2.321, maxH: 2.322}, // log2(5)
		{name: "253 characters", msg: dnsQuery(t, long, dnsmessage.TypeA), want: long[:253], labels: 4, longest: 63, minH: 0, maxH: 0.01},
		{name: "compressed question", msg: []byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 'x', 0xc0, 17, 0, 1, 0, 1}, err: errDNSPointer},
		{name: "pointer loop", msg: []byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1}, err: errDNSPointer},
		{name: "pointer into header", msg: []byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 2, 0, 1, 0, 1}, err: errDNSPointer},
		{name: "no question", msg: make([]byte, 12), err: errDNSNoQuery},
		{name: "short header", msg: make([]byte, 11), err: errShort},
		{name: "label past end", msg: []byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 9, 'x'}, err: errShort},
		{name: "no qtype", msg: []byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 'x', 0, 0}, err: errShort},
		{name: "extended label", msg: []byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x41, 'x', 0, 0, 1, 0, 1}, err: errDNSLabel},
		{name: "too long", msg: func() []byte {
			m := []byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0}
			for range 5 {
				m = append(m, 63)
				m = append(m, strings.Repeat("z", 63)...)
			}
			return append(m, 0, 0, 1, 0, 1)
		}(), err: errDNSNameLong},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf [maxNameLen]byte
			d, err := ParseDNS(tc.msg, &buf)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("error %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(d.Name) != tc.want || d.Labels != tc.labels || d.Longest != tc.longest {
				t.Errorf("got %q %d labels longest %d", d.Name, d.Labels, d.Longest)
			}
			if d.Entropy < tc.minH || d.Entropy > tc.maxH {
				t.Errorf("entropy %v, want [%v,%v]", d.Entropy, tc.minH, tc.maxH)
			}
		})
	}
	// A backwards pointer elsewhere in the message is followed.
	msg := []byte{0, 1, 0x81, 0x80, 0, 2, 0, 0, 0, 0, 0, 0,
		7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0, 1, 0, 1}
	var buf [maxNameLen]byte
	if d, err := ParseDNS(msg, &buf); err != nil || string(d.Name) != "example.com" || !d.Response {
		t.Errorf("%+v %v", d, err)
	}
}

// TestEntropyOrders: names tunnels and DGAs make score above the ones people use.
func TestEntropyOrders(t *testing.T) {
	var buf [maxNameLen]byte
	score := func(name string) float32 {
		d, err := ParseDNS(dnsQuery(t, name+".", dnsmessage.TypeA), &buf)
		if err != nil {
			t.Fatal(err)
		}
		return d.Entropy
	}
	low := []string{"www.example.com", "mail.google.com", "login.microsoftonline.com", "cdn.assets.example.org"}
	high := []string{"a8f3k2x9q7z1m4p0v6.tunnel.example.com", "mzxw6ytboi4dcnbvgq3tmnzy.t.example.net", "4f9c2e7a1b8d3f60.c2.example.org"}
	for _, l := range low {
		for _, h := range high {
			if score(l) >= score(h) {
				t.Errorf("%s (%v) scores at least %s (%v)", l, score(l), h, score(h))
			}
		}
	}
	if s := score("a8f3k2x9q7z1m4p0v6.tunnel.example.com"); s < 3.5 {
		t.Errorf("tunnel label scores %v", s)
	}
}

func TestParseClientHello(t *testing.T) {
	full := clientHello(t, "Secure.Example.org.", "h2", "http/1.1")
	var sni, alpn [255]byte
	h, err := ParseClientHello(full, &sni, &alpn)
	if err != nil || string(h.SNI) != "secure.example.org" || string(h.ALPN) != "h2,http/1.1" || h.Partial || h.Version != 0x0303 {
		t.Fatalf("%+v %v", h, err)
	}
	// No SNI (an IP address as server name) and no ALPN.
	h, err = ParseClientHello(clientHello(t, ""), &sni, &alpn)
	if err != nil || h.SNI != nil || h.ALPN != nil {
		t.Fatalf("%+v %v", h, err)
	}
	// Every cut of the segment is partial, never an error, never a panic; once the SNI
	// extension is whole it is found.
	for n := 6; n < len(full); n++ {
		h, err := ParseClientHello(full[:n], &sni, &alpn)
		if err != nil || !h.Partial {
			t.Fatalf("cut at %d: %+v %v", n, h, err)
		}
	}
	h, _ = ParseClientHello(full[:len(full)-1], &sni, &alpn)
	if string(h.SNI) != "secure.example.org" {
		t.Errorf("SNI lost when the last byte is cut: %+v", h)
	}
	// Lengths that run past their container (not the segment) are malformed.
	bad := append([]byte(nil), full...)
	bad[5+4+2+32] = 33 // session id longer than 32
	if _, err := ParseClientHello(bad, &sni, &alpn); !errors.Is(err, errTLSSession) {
		t.Errorf("session id: %v", err)
	}
	bad = append([]byte(nil), full...)
	bad[3], bad[4] = 0xff, 0xff
	if _, err := ParseClientHello(bad, &sni, &alpn); !errors.Is(err, errTLSRecord) {
		t.Errorf("record length: %v", err)
	}
	// A handshake length shorter than what follows it: the cipher suites then run past
	// the message.
	bad = append([]byte(nil), full...)
	bad[6], bad[7], bad[8] = 0, 0, 40
	if _, err := ParseClientHello(bad, &sni, &alpn); err == nil {
		t.Errorf("short handshake length accepted")
	}
	if _, err := ParseClientHello([]byte{0x16, 3, 1, 0, 0, 2}, &sni, &alpn); !errors.Is(err, errTLSNotHello) {
		t.Errorf("server hello: %v", err)
	}
}

func TestParseHTTPRequest(t *testing.T) {
	for _, tc := range []struct {
		in, method, host string
		partial          bool
		err              error
	}{
		{in: string(httpGet("www.example.com")), method: "GET", host: "www.example.com"},
		{in: "HEAD / HTTP/1.0\r\n\r\n", method: "HEAD"},
		{in: "PUT /x HTTP/1.1\nHOST:\tExample.com.:81\n\n", method: "PUT", host: "example.com"},
		{in: "PROPFIND /dav HTTP/1.1\r\nHost: dav\r\n\r\n", method: "PROPFIND", host: "dav"},
		{in: "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", method: "CONNECT", host: "example.com"},
		{in: "GET /" + strings.Repeat("a", 3000) + " HTTP/1.1\r\nHost: x\r\n\r\n", method: "GET", partial: true},
		{in: "GET / HTTP/1.1\r\n" + strings.Repeat("X-Pad: 0123456789\r\n", 120) + "Host: late\r\n\r\n", method: "GET", partial: true},
		{in: "GET / HTTP/1.1\r\nX-Host: no\r\nHost: yes\r\n\r\n", method: "GET", host: "yes"},
		{in: "GET / HTTP/1.1\r\nHost : spaced\r\n\r\n", method: "GET"},
		{in: "GET / HTTP/1.1", method: "GET", partial: true},
		{in: "GET /\r\n\r\n", err: errHTTPLine},
		{in: "GET  HTTP/1.1\r\n", err: errHTTPLine},
		{in: "HELLO world\r\n", err: errHTTPNotRequest},
		{in: "HTTP/1.1 200 OK\r\n", err: errHTTPNotRequest},
		{in: "get / HTTP/1.1\r\n", err: errHTTPNotRequest},
		{in: "ABCDEFGHIJKLMNOPQ / HTTP/1.1\r\n", err: errHTTPNotRequest},
		{in: "", err: errHTTPNotRequest},
	} {
		var buf [255]byte
		r, err := ParseHTTPRequest([]byte(tc.in), &buf)
		name := tc.in[:min(len(tc.in), 30)]
		if !errors.Is(err, tc.err) {
			t.Errorf("%q: error %v, want %v", name, err, tc.err)
			continue
		}
		if string(r.Method) != tc.method || string(r.Host) != tc.host || r.Partial != tc.partial {
			t.Errorf("%q: got %q %q partial %v", name, r.Method, r.Host, r.Partial)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if errs := DefaultConfig().Validate(); len(errs) != 0 {
		t.Fatalf("defaults invalid: %v", errs)
	}
	for _, tc := range []struct {
		name  string
		edit  func(*Config)
		field string
	}{
		{"http port 0", func(c *Config) { c.HTTPPorts = []uint16{80, 0} }, "http_ports[1]"},
		{"tls port 0", func(c *Config) { c.TLSPorts = []uint16{0} }, "tls_ports[0]"},
		{"timeout", func(c *Config) { c.HalfOpenTimeout = time.Millisecond }, "half_open_timeout"},
		{"tracked", func(c *Config) { c.MaxTracked = 0 }, "max_tracked"},
		{"tracked huge", func(c *Config) { c.MaxTracked = 1 << 30 }, "max_tracked"},
		{"hosts", func(c *Config) { c.MaxHosts = -1 }, "max_hosts"},
		{"interval", func(c *Config) { c.Interval = time.Millisecond }, "interval"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.edit(&c)
			errs := c.Validate()
			if len(errs) != 1 || errs[0].Field != tc.field {
				t.Errorf("got %v, want one error on %s", errs, tc.field)
			}
		})
	}
	// Zero fields take the defaults; an empty port list stays empty.
	c, d := (Config{TLSPorts: []uint16{}}).withDefaults(), DefaultConfig()
	if len(c.HTTPPorts) != len(d.HTTPPorts) || len(c.TLSPorts) != 0 || c.HalfOpenTimeout != d.HalfOpenTimeout ||
		c.MaxTracked != d.MaxTracked || c.MaxHosts != d.MaxHosts || c.Interval != d.Interval {
		t.Errorf("withDefaults: %+v", c)
	}
}
