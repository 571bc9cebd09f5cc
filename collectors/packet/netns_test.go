package packet

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/afpacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/internal/netnstest"
	"github.com/watchfloor/watchfloor/internal/testpeer"
)

// lab is an attacker and a target namespace, each joined by a veth pair to a bridge in the
// root namespace; the collector captures on the target's bridge port (tgtHost). Nothing is
// routed out: the namespaces have no default route and the bridge no address.
type lab struct {
	id               string
	att, tgt         string // namespace names
	bridge           string
	attHost, tgtHost string // root-side veth ends
	attAddr, tgtAddr string
}

func newLab(t *testing.T) *lab {
	t.Helper()
	p := netnstest.New(t, "p", "198.51.100.1", "198.51.100.2")
	return &lab{id: p.ID, att: p.Att, tgt: p.Tgt, bridge: p.Bridge, attHost: p.AttHost, tgtHost: p.TgtHost, attAddr: p.AttAddr, tgtAddr: p.TgtAddr}
}

// exec runs a program in a namespace and returns its output.
func (l *lab) exec(t *testing.T, ns string, name string, args ...string) string {
	t.Helper()
	return netnstest.Exec(t, ns, name, args...)
}

// inNetns runs f on a thread that joined the namespace; the thread is never handed back to
// the runtime (it ends with its goroutine), so no other goroutine runs in the namespace.
func inNetns(t *testing.T, ns string, f func() error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := os.Open("/run/netns/" + ns)
		if err != nil {
			errc <- err
			return
		}
		defer fd.Close()
		if err := unix.Setns(int(fd.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns: %w", err)
			return
		}
		errc <- f()
	}()
	if err := <-errc; err != nil {
		t.Fatalf("in %s: %v", ns, err)
	}
}

// dnsServer answers every A query on conn with one address (and NXDOMAIN for names under
// t.example.com, like a tunnel's server would not).
func dnsServer(conn net.PacketConn) {
	buf := make([]byte, 1500)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			return
		}
		var q layers.DNS
		if q.DecodeFromBytes(buf[:n], gopacket.NilDecodeFeedback) != nil || len(q.Questions) == 0 {
			continue
		}
		r := q
		r.QR, r.RA, r.ANCount = true, true, 0
		r.Answers = nil
		if strings.HasSuffix(string(q.Questions[0].Name), "t.example.com") {
			r.ResponseCode = layers.DNSResponseCodeNXDomain
		} else {
			r.ANCount = 1
			r.Answers = []layers.DNSResourceRecord{{Name: q.Questions[0].Name, Type: layers.DNSTypeA, Class: layers.DNSClassIN, TTL: 60, IP: net.IPv4(192, 0, 2, 80)}}
		}
		sb := gopacket.NewSerializeBuffer()
		if r.SerializeTo(sb, gopacket.SerializeOptions{FixLengths: true}) == nil {
			_, _ = conn.WriteTo(sb.Bytes(), from)
		}
	}
}

// frameRecorder captures every frame on an interface into a pcap (the test's own socket,
// beside the collector's), for the replay comparison.
type frameRecorder struct {
	tp   *afpacket.TPacket
	mu   sync.Mutex
	w    *pcapgo.Writer
	buf  strings.Builder
	done chan struct{}
	stop chan struct{}
}

func recordFrames(t *testing.T, iface string) *frameRecorder {
	tp, err := afpacket.NewTPacket(afpacket.OptInterface(iface), afpacket.OptPollTimeout(50*time.Millisecond),
		afpacket.OptBlockSize(1<<20), afpacket.OptNumBlocks(16), afpacket.OptBlockTimeout(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	r := &frameRecorder{tp: tp, done: make(chan struct{}), stop: make(chan struct{})}
	r.w = pcapgo.NewWriter(&r.buf)
	if err := r.w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(r.done)
		for {
			select {
			case <-r.stop:
				return
			default:
			}
			data, ci, err := tp.ReadPacketData()
			if err != nil {
				continue
			}
			ci.AncillaryData = nil
			_ = r.w.WritePacket(ci, data)
		}
	}()
	t.Cleanup(func() { r.close() })
	return r
}

func (r *frameRecorder) close() string {
	select {
	case <-r.stop:
	default:
		close(r.stop)
		<-r.done
		r.tp.Close()
	}
	return r.buf.String()
}

// TestLiveCapture drives real scanners and resolvers between two namespaces and checks what
// the collector saw on the target's bridge port, then that the same frames replayed give the
// same observations.
func TestLiveCapture(t *testing.T) {
	l := newLab(t)
	nmap, hping, dig := testpeer.Program(t, "nmap"), testpeer.Program(t, "hping3"), testpeer.Program(t, "dig")

	// A TCP listener on 22 (SYN-ACKs) and a DNS server on 53 in the target namespace.
	var ln net.Listener
	var dns net.PacketConn
	inNetns(t, l.tgt, func() (err error) {
		if ln, err = net.Listen("tcp4", l.tgtAddr+":22"); err != nil {
			return err
		}
		dns, err = net.ListenPacket("udp4", l.tgtAddr+":53")
		return err
	})
	defer ln.Close()
	defer dns.Close()
	go dnsServer(dns)

	cfg := DefaultConfig()
	cfg.Interfaces = []string{l.tgtHost}
	cfg.Workers = 2
	cfg.NumBlocks = 8
	cfg.Decode.Interval = time.Second
	cfg.Decode.HalfOpenTimeout = time.Minute
	reg := prometheus.NewRegistry()
	c, err := New(cfg, "lab", nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	if c.Workers() != 2 {
		t.Errorf("Workers %d", c.Workers())
	}
	rec := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, rec) }()
	time.Sleep(300 * time.Millisecond) // the rings drained and filtered
	frames := recordFrames(t, l.tgtHost)

	l.exec(t, l.att, nmap, "-n", "-Pn", "-sS", "-p", "1-200", "--max-retries", "0", "-T4", l.tgtAddr)
	l.exec(t, l.att, nmap, "-n", "-sn", "198.51.100.1-6")
	var names []string
	names = append(names, "www.example.org", "mail.example.org")
	for i := range 20 {
		// Base32 like a real tunnel: 32 symbols, so 56 random ones score about 4.6 bits a
		// character, far from the 3.5 the test asks (hex, 16 symbols, sometimes fell under).
		var b [35]byte
		_, _ = rand.Read(b[:])
		label := strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
		names = append(names, fmt.Sprintf("%s%d.t.example.com", label, i))
	}
	l.exec(t, l.att, dig, append([]string{"@" + l.tgtAddr, "+tries=1", "+time=1", "+short"}, names...)...)
	// Half-open: the target's answers go nowhere while a blackhole route is in place.
	l.exec(t, l.tgt, "ip", "route", "add", "blackhole", l.attAddr+"/32")
	// hping3 exits 1 when nothing answers, which is the point here.
	out, _ := exec.Command("ip", "netns", "exec", l.att, hping, "-S", "-p", "80", "-c", "200", "--faster", "-q", l.tgtAddr).CombinedOutput()
	if !strings.Contains(string(out), "200 packets transmitted") {
		t.Fatalf("hping3: %s", out)
	}
	time.Sleep(1500 * time.Millisecond) // an interval boundary passes on the idle ring
	l.exec(t, l.tgt, "ip", "route", "del", "blackhole", l.attAddr+"/32")
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	capture := frames.close()

	obs := rec.all()
	st := c.Stats()
	t.Logf("stats %+v, %d observations", st, len(obs))
	if st.Seen == 0 || st.Sampled != st.Seen || st.KernelDrops != 0 {
		t.Errorf("stats %+v", st)
	}
	synPorts := map[uint16]bool{}
	var rsts, synAcks int
	for _, o := range obs {
		if o.Site != "lab" || o.Source != l.tgtHost || o.SamplingRate != 1 {
			t.Fatalf("enrichment %+v", o)
		}
		switch {
		case o.Kind == watchfloor.ObsTCPSyn && o.SrcAddr.String() == l.attAddr && o.DstPort <= 200:
			synPorts[o.DstPort] = true
		case o.Kind == watchfloor.ObsTCPRst && o.SrcAddr.String() == l.tgtAddr:
			rsts++
		case o.Kind == watchfloor.ObsTCPSynAck && o.SrcAddr.String() == l.tgtAddr && o.SrcPort == 22:
			synAcks++
		}
	}
	if len(synPorts) != 200 || rsts < 199 || synAcks < 1 {
		t.Errorf("nmap -sS: SYNs to %d of 200 ports, %d RSTs, %d SYN-ACKs from 22", len(synPorts), rsts, synAcks)
	}
	arps := map[string]bool{}
	for _, o := range rec.kind(watchfloor.ObsARP) {
		arps[o.DstAddr.String()] = true
	}
	for i := 3; i <= 6; i++ {
		if a := fmt.Sprintf("198.51.100.%d", i); !arps[a] {
			t.Errorf("nmap -sn: no ARP for %s (%v)", a, arps)
		}
	}
	queries := map[string]watchfloor.Observation{}
	for _, o := range rec.kind(watchfloor.ObsDNSQuery) {
		queries[string(o.Name)] = o
	}
	for _, n := range names {
		q, ok := queries[n]
		if !ok {
			t.Errorf("dig: no dns.query for %s", n)
			continue
		}
		if tunnel := strings.HasSuffix(n, "t.example.com"); tunnel && q.DNSEntropy < 3.5 || !tunnel && q.DNSEntropy > 2.5 {
			t.Errorf("dns.query %s: entropy %.2f", n, q.DNSEntropy)
		}
	}
	if len(rec.kind(watchfloor.ObsDNSResponse)) < len(names) {
		t.Errorf("%d dns.response for %d queries", len(rec.kind(watchfloor.ObsDNSResponse)), len(names))
	}
	// Each worker's decoder counts the attempts it saw (the fanout spreads a destination's
	// connections over the workers): the interval's figure is the sum over the workers.
	halfOpen := map[time.Time]uint32{}
	var maxHalfOpen uint32
	for _, o := range rec.kind(watchfloor.ObsHalfOpen) {
		if o.DstAddr.String() == l.tgtAddr {
			halfOpen[o.Time] += o.HalfOpen
			maxHalfOpen = max(maxHalfOpen, halfOpen[o.Time])
		}
	}
	if maxHalfOpen < 190 {
		t.Errorf("hping3 -S -c 200 unanswered: tcp.half_open at most %d", maxHalfOpen)
	}
	t.Logf("SYN ports %d, RSTs %d, SYN-ACKs %d, ARPs %d, DNS queries %d, half-open %d", len(synPorts), rsts, synAcks, len(arps), len(queries), maxHalfOpen)

	// The same frames, recorded by the test's own socket and replayed, give the same
	// per-packet observations.
	r2 := &recorder{}
	rp, err := NewReplayer(cfg, "lab", nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rp.Replay(context.Background(), strings.NewReader(capture), r2, nil); err != nil {
		t.Fatal(err)
	}
	live, replayed := multiset(obs), multiset(r2.all())
	for k, n := range live {
		if replayed[k] != n {
			t.Errorf("live %d × %q, replayed %d", n, k, replayed[k])
		}
	}
	for k, n := range replayed {
		if _, ok := live[k]; !ok {
			t.Errorf("replayed %d × %q, not live", n, k)
		}
	}
}

// TestLiveNeedsCapNetRaw: without CAP_NET_RAW, New fails with the error that says so. The
// capability is dropped on one locked thread only, the one New runs on.
func TestLiveNeedsCapNetRaw(t *testing.T) {
	testpeer.Root(t)
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			errc <- err
			return
		}
		data[unix.CAP_NET_RAW/32].Effective &^= 1 << (unix.CAP_NET_RAW % 32)
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			errc <- err
			return
		}
		cfg := DefaultConfig()
		cfg.Interfaces = []string{"lo"}
		cfg.Workers, cfg.NumBlocks = 1, 1
		c, err := New(cfg, "lab", nil, nil)
		if err == nil {
			c.Close()
			err = errors.New("no error")
		}
		errc <- err
	}()
	err := <-errc
	want := "packet: live capture on lo needs CAP_NET_RAW (run as root or setcap cap_net_raw+ep on the binary)"
	if err == nil || !strings.HasPrefix(err.Error(), want) || !errors.Is(err, unix.EPERM) {
		t.Errorf("New without CAP_NET_RAW: %v", err)
	}
}

func TestOpenError(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{unix.EPERM, "live capture on eth1 needs CAP_NET_RAW (run as root or setcap cap_net_raw+ep on the binary)"},
		{unix.EACCES, "needs CAP_NET_RAW"},
		{errors.New("setsockopt packet_rx_ring v3: cannot allocate memory"), "would not allocate a capture ring"},
		{unix.EINVAL, "opening a capture socket on eth1"},
	} {
		if err := openError("eth1", tc.err); !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v → %v", tc.err, err)
		}
	}
	cfg := DefaultConfig()
	cfg.Interfaces = []string{"wfnosuch0"}
	if _, err := New(cfg, "", nil, nil); err == nil || !strings.Contains(err.Error(), "wfnosuch0") {
		t.Errorf("missing interface: %v", err)
	}
	if _, err := New(DefaultConfig(), "", nil, nil); !errors.Is(err, ErrDisabled) {
		t.Errorf("no interface: %v", err)
	}
}
