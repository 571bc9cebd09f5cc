package lab

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// packettmpl.go builds, once per process, the payloads the mirror port's frames carry: real
// TLS ClientHellos written by crypto/tls (one per server name, with the random, session ID
// and key share replaced by seeded bytes so that captures are the same in every run), DNS
// queries and responses serialised by gopacket, HTTP requests, and a block of pseudo-random
// filler for encrypted and bulk payloads.

// The names the site's hosts visit over TLS; ext host j serves webNames[j % len].
var webNames = []string{
	"www.example.com", "api.example.com", "cdn.example.net", "static.example.net",
	"login.example.org", "mail.example.org", "docs.example.com", "video.example.net",
	"updates.example.org", "news.example.com", "shop.example.net", "files.example.org",
	"img.example.com", "chat.example.net", "maps.example.org", "status.example.com",
}

// alpnOf is what the client offers to webNames[i]: HTTP/2 and 1.1, or 1.1 only.
func alpnOf(i int) []string {
	if i%4 == 3 {
		return []string{"http/1.1"}
	}
	return []string{"h2", "http/1.1"}
}

// Names resolved besides webNames; the last one does not exist (NXDOMAIN).
var dnsExtra = []string{"time.example.com", "vpn.example.net", "ntp.example.org", "wpad.example.com"}

// Cleartext HTTP: ext host j serves httpReqs[j % len].
var httpReqs = []struct{ method, host, path, body string }{
	{"GET", "www.example.com", "/", ""},
	{"GET", "repo.example.org", "/debian/dists/bookworm/InRelease", ""},
	{"GET", "download.example.com", "/files/agent-2.4.1.tar.gz", ""},
	{"POST", "telemetry.example.net", "/api/v1/report", `{"host":"desk","status":"ok","uptime":86400}`},
	{"GET", "news.example.com", "/index.html", ""},
}

const (
	httpResponse = "HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Sat, 01 Mar 2025 12:00:00 GMT\r\n" +
		"Content-Type: application/octet-stream\r\nContent-Length: 1048576\r\nConnection: keep-alive\r\n\r\n"
	sshClient   = "SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13.5\r\n"
	sshServer   = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"
	rsyncBanner = "@RSYNCD: 31.0 sha512 sha256 sha1 md5 md4\n"
	fillerLen   = 64 << 10
	base32Lower = "abcdefghijklmnopqrstuvwxyz234567"
)

// dnsTemplate is a query and its response, with ID 0.
type dnsTemplate struct {
	name        string
	query, resp []byte
}

type packetTemplates struct {
	hello    [][]byte         // TLS ClientHello records, one per webNames entry
	beacon   []byte           // the beacon's ClientHello (BeaconSNI)
	dns      [][2]dnsTemplate // per name (webNames, then dnsExtra): A and AAAA
	http     [][]byte         // requests, one per httpReqs entry
	ping     []byte           // the payload of an echo request (Linux ping's 56 bytes)
	filler   []byte
	tunnelSf []byte // TunnelDomain in DNS wire format

	httpResp, sshClient, sshServer, rsync []byte
}

// templates are built on first use and shared by every generator of the process.
var templates = sync.OnceValues(buildTemplates)

func buildTemplates() (*packetTemplates, error) {
	t := &packetTemplates{}
	rng := rand.New(rand.NewPCG(0x7061636b, 0x6574))
	for k, n := range webNames {
		h, err := clientHello(n, alpnOf(k), uint64(k))
		if err != nil {
			return nil, err
		}
		t.hello = append(t.hello, h)
	}
	h, err := clientHello(BeaconSNI, []string{"http/1.1"}, 0xbeac)
	if err != nil {
		return nil, err
	}
	t.beacon = h
	names := append(append([]string(nil), webNames...), dnsExtra...)
	for k, n := range names {
		var pair [2]dnsTemplate
		for v, qt := range []layers.DNSType{layers.DNSTypeA, layers.DNSTypeAAAA} {
			var ans netip.Addr
			if k < len(names)-1 { // the last name does not exist
				ans = edgeExt(k, v == 1)
			}
			q, r, err := dnsPair(n, qt, ans)
			if err != nil {
				return nil, err
			}
			pair[v] = dnsTemplate{name: n, query: q, resp: r}
		}
		t.dns = append(t.dns, pair)
	}
	for _, r := range httpReqs {
		var b strings.Builder
		fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", r.method, r.path, r.host)
		b.WriteString("User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n")
		b.WriteString("Accept: */*\r\nAccept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n")
		if r.body != "" {
			fmt.Fprintf(&b, "Content-Type: application/json\r\nContent-Length: %d\r\n", len(r.body))
		}
		b.WriteString("\r\n")
		b.WriteString(r.body)
		t.http = append(t.http, []byte(b.String()))
	}
	t.httpResp, t.sshClient, t.sshServer, t.rsync = []byte(httpResponse), []byte(sshClient), []byte(sshServer), []byte(rsyncBanner)
	t.ping = make([]byte, 56)
	binary.BigEndian.PutUint64(t.ping, 0x67c2f2e000000000)
	for k := 8; k < 56; k++ {
		t.ping[k] = byte(k + 8)
	}
	t.filler = make([]byte, fillerLen)
	for k := 0; k < fillerLen; k += 8 {
		binary.LittleEndian.PutUint64(t.filler[k:], rng.Uint64())
	}
	t.tunnelSf, err = dnsName(TunnelDomain)
	if err != nil {
		return nil, err
	}
	return t, nil
}

// clientHello has crypto/tls write the ClientHello it sends to name (over a pipe whose other
// end reads the record and hangs up), then makes its random fields deterministic.
func clientHello(name string, alpn []string, seed uint64) ([]byte, error) {
	c1, c2 := net.Pipe()
	defer c1.Close()
	cfg := &tls.Config{
		ServerName: name, NextProtos: alpn, MinVersion: tls.VersionTLS12,
		// Without the post-quantum key share the hello fits one segment, as most do today.
		CurvePreferences: []tls.CurveID{tls.X25519, tls.CurveP256},
	}
	errc := make(chan error, 1)
	go func() { errc <- tls.Client(c1, cfg).Handshake() }()
	_ = c2.SetReadDeadline(time.Now().Add(10 * time.Second))
	rec := make([]byte, 5, 512)
	_, err := io.ReadFull(c2, rec)
	if err == nil {
		n := int(binary.BigEndian.Uint16(rec[3:]))
		rec = append(rec, make([]byte, n)...)
		_, err = io.ReadFull(c2, rec[5:])
	}
	c2.Close()
	<-errc
	if err != nil {
		return nil, fmt.Errorf("lab: ClientHello for %s: %w", name, err)
	}
	if err := seedHello(rec, seed); err != nil {
		return nil, fmt.Errorf("lab: ClientHello for %s: %w", name, err)
	}
	return rec, nil
}

// seedHello overwrites a ClientHello record's random, legacy session ID and key shares with
// bytes drawn from seed.
func seedHello(rec []byte, seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, 0x68656c6c6f))
	fill := func(b []byte) {
		for k := range b {
			b[k] = byte(rng.Uint32())
		}
	}
	bad := errors.New("malformed ClientHello")
	if len(rec) < 5+4+2+32+1 || rec[0] != 0x16 || rec[5] != 1 {
		return bad
	}
	b := rec[9:]
	fill(b[2:34]) // random
	b = b[34:]
	sid := int(b[0])
	if len(b) < 1+sid+2 {
		return bad
	}
	fill(b[1 : 1+sid])
	b = b[1+sid:]
	cs := int(binary.BigEndian.Uint16(b))
	if len(b) < 2+cs+1 {
		return bad
	}
	b = b[2+cs:]
	cm := int(b[0])
	if len(b) < 1+cm+2 {
		return bad
	}
	b = b[1+cm+2:]
	for len(b) >= 4 {
		typ, n := binary.BigEndian.Uint16(b), int(binary.BigEndian.Uint16(b[2:]))
		if len(b) < 4+n {
			return bad
		}
		if typ == 51 { // key_share: a list of (group, key)
			ks := b[4 : 4+n]
			if len(ks) < 2 {
				return bad
			}
			for ks = ks[2:]; len(ks) >= 4; {
				kl := int(binary.BigEndian.Uint16(ks[2:]))
				if len(ks) < 4+kl {
					return bad
				}
				fill(ks[4 : 4+kl])
				ks = ks[4+kl:]
			}
		}
		b = b[4+n:]
	}
	if len(b) != 0 {
		return bad
	}
	return nil
}

// dnsPair serialises a query for name and its response (ans; none: NXDOMAIN) with gopacket.
func dnsPair(name string, qt layers.DNSType, ans netip.Addr) (q, r []byte, err error) {
	ser := func(d *layers.DNS) ([]byte, error) {
		buf := gopacket.NewSerializeBuffer()
		if err := d.SerializeTo(buf, gopacket.SerializeOptions{FixLengths: true}); err != nil {
			return nil, fmt.Errorf("lab: DNS %s: %w", name, err)
		}
		return append([]byte(nil), buf.Bytes()...), nil
	}
	question := []layers.DNSQuestion{{Name: []byte(name), Type: qt, Class: layers.DNSClassIN}}
	if q, err = ser(&layers.DNS{RD: true, OpCode: layers.DNSOpCodeQuery, Questions: question}); err != nil {
		return nil, nil, err
	}
	resp := &layers.DNS{QR: true, RD: true, RA: true, OpCode: layers.DNSOpCodeQuery, Questions: question}
	if ans.IsValid() {
		ip := ans.AsSlice()
		resp.Answers = []layers.DNSResourceRecord{{Name: []byte(name), Type: qt, Class: layers.DNSClassIN, TTL: 300, IP: ip}}
	} else {
		resp.ResponseCode = layers.DNSResponseCodeNXDomain
	}
	r, err = ser(resp)
	return q, r, err
}

// dnsName is name in DNS wire format (labels, then the root).
func dnsName(name string) ([]byte, error) {
	var b []byte
	for l := range strings.SplitSeq(name, ".") {
		if l == "" || len(l) > 63 {
			return nil, fmt.Errorf("lab: bad DNS name %q", name)
		}
		b = append(b, byte(len(l)))
		b = append(b, l...)
	}
	return append(b, 0), nil
}

// tunnelMsg writes into b[:0] a DNS TXT query for label.TunnelDomain, or, with txt, its
// response carrying txt (a character string) with TTL 0, as tunnels answer.
func tunnelMsg(b []byte, id uint16, label, suffix, txt []byte) []byte {
	b = binary.BigEndian.AppendUint16(b[:0], id)
	if txt == nil {
		b = append(b, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0) // RD; one question
	} else {
		b = append(b, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0) // QR RD RA; one question, one answer
	}
	b = append(b, byte(len(label)))
	b = append(b, label...)
	b = append(b, suffix...)
	b = append(b, 0, 16, 0, 1) // TXT IN
	if txt != nil {
		b = append(b, 0xc0, 12, 0, 16, 0, 1, 0, 0, 0, 0) // the question's name, TXT IN, TTL 0
		b = binary.BigEndian.AppendUint16(b, uint16(1+len(txt)))
		b = append(b, byte(len(txt)))
		b = append(b, txt...)
	}
	return b
}

// base32Fill fills b with lower-case base32 characters drawn from seed.
func base32Fill(b []byte, seed uint64) {
	x := seed
	for k := range b {
		if k%12 == 0 {
			x = splitmix(x + uint64(k))
		}
		b[k] = base32Lower[x&31]
		x >>= 5
	}
}

// splitmix is SplitMix64's finaliser: a well-mixed function of x.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// mix hashes its arguments: the randomness of an incident's event, so that any event can be
// built without the ones before it.
func mix(a, b, c, d uint64) uint64 {
	return splitmix(splitmix(splitmix(splitmix(a)^b)^c) ^ d)
}
