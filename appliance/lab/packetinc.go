package lab

import (
	"math/rand/v2"
	"net/netip"
	"time"
)

// packetinc.go scripts the security incidents the mirror port shows (issue #4), on the lab's
// timeline: a vertical port scan, a host sweep, a DNS tunnel, a beacon and a SYN flood, one
// after the other between the flow scan (+30 s) and the flow flood (+238 s). Each incident is
// a sequence of events at closed-form times in its window, each event a few frames at fixed
// delays (a probe and its answer, a connection's handshake): any frame can be built from its
// cycle, event and frame numbers alone, so a capture can start anywhere on the timeline.

// Windows of the packet incidents in each cycle (before TimeScale).
const (
	portScanAt  = 55 * time.Second
	portScanDur = 25 * time.Second
	sweepAt     = 85 * time.Second
	sweepDur    = 25 * time.Second
	tunnelAt    = 115 * time.Second
	tunnelDur   = 30 * time.Second
	beaconAt    = 150 * time.Second
	beaconDur   = 40 * time.Second
	synFloodAt  = 198 * time.Second
	synFloodDur = 30 * time.Second
)

// Rates of the packet incidents, per second of lab time.
const (
	SynFloodPerSecond      = 500 // SYNs toward SynFloodTarget
	TunnelQueriesPerSecond = 10  // TXT queries from TunnelClient
	BeaconEvery            = 4 * time.Second
	BeaconJitter           = 600 * time.Millisecond // each check-in comes up to this much late
	tunnelLabelLen         = 60
)

// The packet incidents' addresses, for tests and the appliance's end-to-end checks. No
// background traffic uses the outside ones.
var (
	PortScanSource = netip.MustParseAddr("198.51.100.190")  // SYNs ports 1–1024 of PortScanTarget, in random order
	PortScanTarget = netip.MustParseAddr("10.20.101.25")    // a server behind dist-s1; 22, 80 and 443 open
	SweepSource    = netip.MustParseAddr("192.0.2.99")      // pings, then SYNs tcp/445, every address of SweepNet
	SweepNet       = netip.MustParsePrefix("10.20.12.0/24") // desks behind acc-a2; .10–.69 answer
	SynFloodTarget = netip.MustParseAddrPort("10.20.200.10:443")
	TunnelClient   = netip.MustParseAddr("10.20.14.23") // queries <60 base32 characters>.TunnelDomain TXT
	TunnelDomain   = "t.example.net"
	BeaconClient   = netip.MustParseAddr("10.20.15.42")
	BeaconServer   = netip.MustParseAddrPort("203.0.113.150:443")
	BeaconSNI      = "cdn-sync.example.org"
)

var portScanOpen = [...]uint16{22, 80, 443}

// packetIncident is one incident: its window in the cycle, the delays of each event's frames
// after the event (lab time), and what builds them.
type packetIncident struct {
	what    string
	at, dur time.Duration
	delays  []time.Duration
	play    incidentPlay
}

// incidentPlay builds an incident's frames. offset must grow with k, and the last event's
// last frame must fall inside the window.
type incidentPlay interface {
	events() int
	offset(c, k int) time.Duration // event k of cycle c, from the start of the window
	has(k, j int) bool             // whether event k has frame j (j 0 always exists)
	frame(g *packetGen, p *pkt, c, k, j int)
}

var packetIncidents = []*packetIncident{
	{what: "port scan", at: portScanAt, dur: portScanDur, play: portScan{},
		delays: []time.Duration{0, 400 * time.Microsecond, 800 * time.Microsecond}},
	{what: "host sweep", at: sweepAt, dur: sweepDur, play: hostSweep{},
		delays: []time.Duration{0, 600 * time.Microsecond, 2 * time.Millisecond, 2600 * time.Microsecond}},
	{what: "dns tunnel", at: tunnelAt, dur: tunnelDur, play: dnsTunnel{},
		delays: []time.Duration{0, 30 * time.Millisecond}},
	{what: "beacon", at: beaconAt, dur: beaconDur, play: beacon{},
		delays: beaconDelays[:]},
	{what: "syn flood", at: synFloodAt, dur: synFloodDur, play: synFlood{},
		delays: []time.Duration{0}},
}

// even spreads n events evenly over a window.
func even(k, n int, dur time.Duration) time.Duration {
	return time.Duration(int64(k) * int64(dur) / int64(n))
}

// ---- port scan ----

// portScan: PortScanSource SYNs each of ports 1–1024 of PortScanTarget once per cycle from one
// source port, as nmap -sS does; closed ports answer RST-ACK, open ones SYN-ACK, which the
// scanner resets.
type portScan struct{}

// scanOrder is the order the scanner probes the ports in.
var scanOrder = func() (o [1024]uint16) {
	for k := range o {
		o[k] = uint16(k + 1)
	}
	r := rand.New(rand.NewPCG(22, 80))
	r.Shuffle(len(o), func(a, b int) { o[a], o[b] = o[b], o[a] })
	return o
}()

func (portScan) events() int                   { return len(scanOrder) }
func (portScan) offset(_, k int) time.Duration { return even(k, len(scanOrder), portScanDur) }
func (portScan) has(k, j int) bool             { return j < 2 || scanOpen(scanOrder[k]) }
func scanOpen(port uint16) bool                { return port == 22 || port == 80 || port == 443 }
func (portScan) frame(g *packetGen, p *pkt, c, k, j int) {
	port := scanOrder[k]
	h := mix(g.seed, 1, uint64(c), 0) // one source port and sequence base per cycle
	seq := uint32(h) + uint32(k)*7919
	p.src, p.dst, p.sport, p.dport = PortScanSource, PortScanTarget, uint16(40000+h>>48%20000), port
	p.proto, p.ttl, p.win, p.out = 6, 41, 1024, false
	switch j {
	case 0:
		p.flags, p.seq, p.synOpts = tcpSYN, seq, true
	case 1:
		p.src, p.dst, p.sport, p.dport, p.ttl, p.out = p.dst, p.src, p.dport, p.sport, 63, true
		if scanOpen(port) {
			p.flags, p.seq, p.ack, p.win, p.synOpts = tcpSYN|tcpACK, uint32(mix(g.seed, 1, uint64(c), uint64(k))), seq+1, 64240, true
		} else {
			p.flags, p.ack, p.win = tcpRST|tcpACK, seq+1, 0
		}
	case 2:
		p.flags, p.seq, p.win = tcpRST, seq+1, 0
	}
	g.stamp(p)
}

// ---- host sweep ----

// hostSweep: SweepSource pings every address of SweepNet, then tries tcp/445 on it; the live
// desks (.10–.69) answer the ping and refuse the connection.
type hostSweep struct{}

func (hostSweep) events() int                   { return 254 }
func (hostSweep) offset(_, k int) time.Duration { return even(k, 254, sweepDur) }
func (hostSweep) has(k, j int) bool             { return j%2 == 0 || sweepLive(k) }
func sweepLive(k int) bool                      { return k+1 >= 10 && k+1 < 70 }

func sweepAddr(k int) netip.Addr {
	b := SweepNet.Addr().As4()
	b[3] = byte(k + 1)
	return netip.AddrFrom4(b)
}

func (hostSweep) frame(g *packetGen, p *pkt, c, k, j int) {
	h := mix(g.seed, 2, uint64(c), uint64(k))
	host := sweepAddr(k)
	p.src, p.dst, p.ttl, p.out = SweepSource, host, 49, false
	switch j {
	case 0, 1: // echo request and reply
		p.proto, p.icmpType, p.sport, p.dport = 1, 8, 0x5eef, uint16(k)
		p.body = g.tm.ping
		if j == 1 {
			p.src, p.dst, p.icmpType, p.ttl, p.out = host, SweepSource, 0, 127, true
		}
	case 2, 3:
		p.proto, p.sport, p.dport = 6, uint16(50000+c%1000), 445
		if j == 2 {
			p.flags, p.seq, p.win, p.synOpts = tcpSYN, uint32(h), 1024, true
		} else {
			p.src, p.dst, p.sport, p.dport, p.ttl, p.out = host, SweepSource, 445, p.sport, 127, true
			p.flags, p.ack = tcpRST|tcpACK, uint32(h)+1
		}
	}
	g.stamp(p)
}

// ---- DNS tunnel ----

// dnsTunnel: TunnelClient asks the first resolver, at a steady rate, for the TXT record of a
// long random label under TunnelDomain; the answer carries more random text, with TTL 0.
type dnsTunnel struct{}

func (dnsTunnel) events() int { return int(TunnelQueriesPerSecond * tunnelDur / time.Second) }
func (t dnsTunnel) offset(_, k int) time.Duration {
	return even(k, t.events(), tunnelDur)
}
func (dnsTunnel) has(int, int) bool { return true }
func (dnsTunnel) frame(g *packetGen, p *pkt, c, k, j int) {
	h := mix(g.seed, 3, uint64(c), uint64(k))
	var label [tunnelLabelLen]byte
	base32Fill(label[:], h)
	var txt []byte
	if j == 1 {
		var a [48]byte
		base32Fill(a[:], ^h)
		txt = a[:]
	}
	p.body = tunnelMsg(g.scratch[:0], uint16(h>>16), label[:], g.tm.tunnelSf, txt)
	p.proto, p.src, p.dst, p.sport, p.dport, p.ttl, p.out = 17, TunnelClient, dnsServers[0], uint16(1024+h>>40%60000), 53, 63, true
	if j == 1 {
		p.src, p.dst, p.sport, p.dport, p.ttl, p.out = p.dst, p.src, p.dport, p.sport, 57, false
	}
	g.stamp(p)
}

// ---- beacon ----

// beacon: BeaconClient opens a TLS connection to BeaconServer (SNI BeaconSNI) every
// BeaconEvery plus up to BeaconJitter, checks in with a short exchange and closes it.
type beacon struct{}

// The frames of one check-in and their delays after its SYN.
const (
	bcSyn = iota
	bcSynAck
	bcAck
	bcHello
	bcServerHello
	bcAck2
	bcCheckIn
	bcReply
	bcFin
	bcFinAck
	bcLastAck
	bcFrames
)

var beaconDelays = [bcFrames]time.Duration{0, 24 * time.Millisecond, 24200 * time.Microsecond,
	24400 * time.Microsecond, 49 * time.Millisecond, 49300 * time.Microsecond, 50 * time.Millisecond,
	75 * time.Millisecond, 76 * time.Millisecond, 100 * time.Millisecond, 100200 * time.Microsecond}

const (
	beaconServerLen  = 1200 // TLS bytes of the server's first flight
	beaconCheckInLen = 180
	beaconReplyLen   = 90
)

func (beacon) events() int { return int(beaconDur / BeaconEvery) }
func (beacon) offset(c, k int) time.Duration {
	return time.Duration(k)*BeaconEvery + time.Duration(mix(0xbeac, uint64(c), uint64(k), 0)%uint64(BeaconJitter))
}
func (beacon) has(int, int) bool { return true }
func (beacon) frame(g *packetGen, p *pkt, c, k, j int) {
	h := mix(g.seed, 4, uint64(c), uint64(k))
	cs, ss := uint32(h), uint32(h>>32) // initial sequence numbers
	hello := uint32(len(g.tm.beacon))
	cport := uint16(49152 + (c*int(beaconDur/BeaconEvery)+k)%16000)
	out := true
	switch j {
	case bcSyn:
		p.flags, p.seq, p.win, p.synOpts = tcpSYN, cs, 64240, true
	case bcSynAck:
		out = false
		p.flags, p.seq, p.ack, p.win, p.synOpts = tcpSYN|tcpACK, ss, cs+1, 65160, true
	case bcAck:
		p.flags, p.seq, p.ack = tcpACK, cs+1, ss+1
	case bcHello:
		p.flags, p.seq, p.ack, p.body = tcpPSH|tcpACK, cs+1, ss+1, g.tm.beacon
	case bcServerHello:
		out = false
		p.flags, p.seq, p.ack = tcpPSH|tcpACK, ss+1, cs+1+hello
		g.tlsRecord(p, 0x17, beaconServerLen-5, h)
	case bcAck2:
		p.flags, p.seq, p.ack = tcpACK, cs+1+hello, ss+1+beaconServerLen
	case bcCheckIn:
		p.flags, p.seq, p.ack = tcpPSH|tcpACK, cs+1+hello, ss+1+beaconServerLen
		g.tlsRecord(p, 0x17, beaconCheckInLen-5, h>>8)
	case bcReply:
		out = false
		p.flags, p.seq, p.ack = tcpPSH|tcpACK, ss+1+beaconServerLen, cs+1+hello+beaconCheckInLen
		g.tlsRecord(p, 0x17, beaconReplyLen-5, h>>16)
	case bcFin:
		p.flags, p.seq, p.ack = tcpFIN|tcpACK, cs+1+hello+beaconCheckInLen, ss+1+beaconServerLen+beaconReplyLen
	case bcFinAck:
		out = false
		p.flags, p.seq, p.ack = tcpFIN|tcpACK, ss+1+beaconServerLen+beaconReplyLen, cs+2+hello+beaconCheckInLen
	case bcLastAck:
		p.flags, p.seq, p.ack = tcpACK, cs+2+hello+beaconCheckInLen, ss+2+beaconServerLen+beaconReplyLen
	}
	p.proto, p.out = 6, out
	if p.win == 0 {
		p.win = 502
	}
	if out {
		p.src, p.dst, p.sport, p.dport, p.ttl = BeaconClient, BeaconServer.Addr(), cport, BeaconServer.Port(), 127
	} else {
		p.src, p.dst, p.sport, p.dport, p.ttl = BeaconServer.Addr(), BeaconClient, BeaconServer.Port(), cport, 52
	}
	g.stamp(p)
}

// ---- SYN flood ----

// synFlood: SYNs to SynFloodTarget from random sources of the documentation ranges (spoofed,
// so nobody answers the SYN-ACKs, which the victim's uplink never carries back here either):
// the target's half-open connections grow for the whole window.
type synFlood struct{}

func (synFlood) events() int { return int(SynFloodPerSecond * synFloodDur / time.Second) }
func (f synFlood) offset(_, k int) time.Duration {
	return even(k, f.events(), synFloodDur)
}
func (synFlood) has(int, int) bool { return true }
func (synFlood) frame(g *packetGen, p *pkt, c, k, _ int) {
	h := mix(g.seed, 5, uint64(c), uint64(k))
	p.src = floodSource(h)
	p.dst, p.dport = SynFloodTarget.Addr(), SynFloodTarget.Port()
	p.proto, p.sport, p.flags, p.seq, p.win = 6, uint16(1024+h>>20%64000), tcpSYN, uint32(h>>32), 512
	p.ttl, p.out = uint8(40+h>>12%60), false
	g.stamp(p)
}

// floodSource is a documentation-range address that none of the lab's named hosts uses.
func floodSource(h uint64) netip.Addr {
	b := extBases4[h%3]
	a := netip.AddrFrom4([4]byte{b[0], b[1], b[2], byte(1 + h>>4%254)})
	for reservedExt(a) {
		x := a.As4()
		x[3] = x[3]%253 + 2
		a = netip.AddrFrom4(x)
	}
	return a
}
