package lab

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"sort"
	"time"
)

// packetgen.go makes the frames a SPAN port of core-r1's transit (xe-0/1/4) would see: the
// site's hosts talking to the outside with the flows' application mix and address plan, and
// the incidents of packetinc.go on the lab's timeline. It is a deterministic sequence of
// frames with growing timestamps (a function of the seed, the timeline's origin and where the
// sequence starts); packet.go paces it in real time, WritePcap writes it to a file.
//
// Background traffic is a set of concurrent sessions (TCP connections from SYN to FIN with
// consistent sequence numbers, DNS exchanges, STUN/TURN media, pings); each background frame
// is the next frame of a session picked at random, so sessions interleave as on a link. The
// DMZ, guest and VPN zones (10.20.200/210/220.0/24) ride 802.1Q sub-interfaces of the transit
// tagged with their third octet; the rest is untagged.

// DefaultPacketsPerSecond is the mirror port's background frame rate.
const DefaultPacketsPerSecond = 2000

const packetSessions = 48 // concurrent background sessions

// Background session kinds, with the flows' ports.
const (
	kHTTPS = iota
	kHTTP
	kDNS
	kBackup
	kVideo
	kRTMP
	kSSH
	kICMP
	numKinds
)

type bgKind struct {
	wt    float64 // share of new sessions
	proto uint8
	port  uint16
	v6    float64 // share over IPv6 (hosts that have it)
	segs  [2]int  // data segments, datagrams or echo pairs: min, max
	up    bool    // data goes from the site to the outside
	size  [2]int  // mean payload of a data segment: inbound, outbound
}

var bgKinds = [numKinds]bgKind{
	kHTTPS:  {wt: 40, proto: 6, port: 443, v6: 0.3, segs: [2]int{2, 40}, size: [2]int{1240, 360}},
	kHTTP:   {wt: 7, proto: 6, port: 80, v6: 0.1, segs: [2]int{2, 30}, size: [2]int{1200, 340}},
	kDNS:    {wt: 30, proto: 17, port: 53},
	kBackup: {wt: 1, proto: 6, port: 873, segs: [2]int{40, 160}, up: true, size: [2]int{60, 1400}},
	kVideo:  {wt: 4, proto: 17, port: 3478, v6: 0.2, segs: [2]int{30, 120}, size: [2]int{1100, 1000}},
	kRTMP:   {wt: 2, proto: 6, port: 1935, segs: [2]int{20, 80}, size: [2]int{1200, 860}},
	kSSH:    {wt: 3, proto: 6, port: 22, v6: 0.2, segs: [2]int{4, 30}, size: [2]int{180, 120}},
	kICMP:   {wt: 5, proto: 1, v6: 0.2, segs: [2]int{1, 4}},
}

// Phases of a background session.
const (
	phNew = iota
	phSyn
	phSynAck
	phAck
	phReq
	phResp
	phData
	phFinAck
	phLastAck
	phQuery
	phAnswer
	phDatagram
	phEcho
	phEchoReply
)

// session is one background conversation between a host of the site and the outside.
type session struct {
	kind, phase uint8
	unacked     uint8
	v6          bool
	name        uint16 // template index
	vlan        uint16
	left        int32 // data segments, datagrams or echo pairs still to come
	host, ext   netip.Addr
	hport, port uint16
	hseq, eseq  uint32
	httl, ettl  uint8
}

// cursor walks frame j of every event of one incident, cycle after cycle.
type cursor struct {
	inc  *packetIncident
	j    int
	c, k int
	due  time.Duration // since the origin
}

// packetGen generates the frames.
type packetGen struct {
	origin  time.Time // the timeline's start
	scale   float64
	rate    float64
	seed    uint64
	rng     *rand.Rand
	tm      *packetTemplates
	edgeMAC [6]byte

	bgAt  time.Duration // the first background frame, since origin
	bgN   uint64
	bgDue time.Duration
	curs  []cursor

	pools  []*hostPool
	poolWt float64
	kindWt float64
	extZ   *rand.Zipf
	sess   [packetSessions]session

	ipid    uint16
	p       pkt
	buf     []byte
	scratch [512]byte
	rechdr  [5]byte
}

// newPacketGen starts the sequence at from (since origin); incidents adds the timeline's.
func newPacketGen(tm *packetTemplates, origin time.Time, from time.Duration, rate, scale float64, seed int64, incidents bool, edgeMAC [6]byte) *packetGen {
	g := &packetGen{origin: origin, scale: scale, rate: rate, seed: uint64(seed), tm: tm, edgeMAC: edgeMAC,
		rng: rand.New(rand.NewPCG(uint64(seed), 0x7370616e)), bgAt: from, buf: make([]byte, 0, maxFrame)}
	g.bgDue = from
	g.extZ = rand.NewZipf(g.rng, 1.1, 1, uint64(extHosts-1))
	for _, plan := range standardPlans() {
		if plan.dev != edgeDevice {
			continue
		}
		for _, p := range plan.pools { // the edge's view of the site, as its flows have it
			hp := &hostPool{v4: [3]byte{10, 20, p.net}, v6: p.v6, hosts: p.hosts, wt: p.wt}
			hp.zipf = rand.NewZipf(g.rng, 1.2, 1, uint64(p.hosts-1))
			g.pools = append(g.pools, hp)
			g.poolWt += p.wt
		}
	}
	for _, k := range bgKinds {
		g.kindWt += k.wt
	}
	if incidents {
		for _, inc := range packetIncidents {
			for j := range inc.delays {
				g.curs = append(g.curs, cursor{inc: inc, j: j})
				g.seek(&g.curs[len(g.curs)-1], from)
			}
		}
	}
	return g
}

func (g *packetGen) scaled(d time.Duration) time.Duration {
	return time.Duration(float64(d) * g.scale)
}

// dueOf is when frame j of event k of cycle c is due, since the origin.
func (g *packetGen) dueOf(inc *packetIncident, j, c, k int) time.Duration {
	return g.scaled(time.Duration(c)*cyclePeriod + inc.at + inc.play.offset(c, k) + inc.delays[j])
}

// seek puts cu on its first frame due at or after t.
func (g *packetGen) seek(cu *cursor, t time.Duration) {
	c := 0
	if t > 0 {
		c = int(t / g.scaled(cyclePeriod))
	}
	n := cu.inc.play.events()
	for {
		k := sort.Search(n, func(k int) bool { return g.dueOf(cu.inc, cu.j, c, k) >= t })
		if k < n {
			cu.c, cu.k = c, k
			break
		}
		c++
	}
	g.settle(cu)
}

// settle moves cu past the events that have no frame j, and computes its due time.
func (g *packetGen) settle(cu *cursor) {
	for !cu.inc.play.has(cu.k, cu.j) {
		g.step(cu)
	}
	cu.due = g.dueOf(cu.inc, cu.j, cu.c, cu.k)
}

func (g *packetGen) step(cu *cursor) {
	if cu.k++; cu.k == cu.inc.play.events() {
		cu.c, cu.k = cu.c+1, 0
	}
}

// peek is when the next frame is due, since the origin.
func (g *packetGen) peek() time.Duration {
	due := g.bgDue
	for k := range g.curs {
		due = min(due, g.curs[k].due)
	}
	return due
}

// next writes the next frame into g.buf and returns it (valid until the next call) and
// when it is due, since the origin.
func (g *packetGen) next() ([]byte, time.Duration) {
	best, due := -1, g.bgDue
	for k := range g.curs {
		if g.curs[k].due < due {
			best, due = k, g.curs[k].due
		}
	}
	g.p = pkt{}
	if best < 0 {
		g.background(&g.p)
		g.bgN++
		g.bgDue = g.bgAt + time.Duration(float64(g.bgN)*1e9/g.rate)
	} else {
		cu := &g.curs[best]
		cu.inc.play.frame(g, &g.p, cu.c, cu.k, cu.j)
		g.step(cu)
		g.settle(cu)
	}
	g.buf = writeFrame(g.buf, &g.p, &g.edgeMAC, g.tm.filler)
	return g.buf, due
}

// stamp sets what the frame's addresses decide: the VLAN of the site's end, the IPv4 ID or
// the IPv6 flow label.
func (g *packetGen) stamp(p *pkt) {
	if p.out {
		p.vlan = vlanOf(p.src)
	} else {
		p.vlan = vlanOf(p.dst)
	}
	g.ipid++
	p.ipid = g.ipid
	if p.src.Is6() {
		s, d := p.src.As16(), p.dst.As16()
		p.flow = uint32(splitmix(binary.BigEndian.Uint64(s[8:])^binary.BigEndian.Uint64(d[8:])^uint64(p.sport)<<16^uint64(p.dport))) & 0xfffff
	}
}

// tlsRecord makes p's payload a TLS record of type typ with n bytes of (encrypted-looking)
// content.
func (g *packetGen) tlsRecord(p *pkt, typ byte, n int, h uint64) {
	g.rechdr = [5]byte{typ, 3, 3, byte(n >> 8), byte(n)}
	p.hdr, p.fill, p.fillOff = g.rechdr[:], n, int(h%(fillerLen/2))
}

// vlanOf is the 802.1Q VLAN of a site address: the DMZ, guest and VPN zones have theirs.
func vlanOf(a netip.Addr) uint16 {
	if !a.Is4() {
		return 0
	}
	b := a.As4()
	if b[0] == 10 && b[1] == 20 && (b[2] == 200 || b[2] == 210 || b[2] == 220) {
		return uint16(b[2])
	}
	return 0
}

// edgeExt is outside host j, as the flows number them (flowgen.go extHost), moved away from
// the addresses the scripts use.
func edgeExt(j int, v6 bool) netip.Addr {
	n, h := j%3, j/3+1
	if v6 {
		var a [16]byte
		copy(a[:], []byte{0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, 0, byte(n)})
		a[15] = byte(h)
		return netip.AddrFrom16(a)
	}
	b := extBases4[n]
	a := netip.AddrFrom4([4]byte{b[0], b[1], b[2], byte(h)})
	if reservedExt(a) {
		a = netip.AddrFrom4([4]byte{b[0], b[1], b[2], byte(h + 100)})
	}
	return a
}

// reservedExt says whether an outside address only does what a script says.
func reservedExt(a netip.Addr) bool {
	return a == ScanSource || a == backupHost || a == dnsServers[0] || a == dnsServers[1] ||
		a == PortScanSource || a == SweepSource || a == BeaconServer.Addr()
}

// ---- background ----

func (g *packetGen) background(p *pkt) {
	s := &g.sess[g.rng.IntN(packetSessions)]
	if s.phase == phNew {
		g.newSession(s)
	}
	g.sessionFrame(s, p)
	g.stamp(p)
}

func (g *packetGen) newSession(s *session) {
	r := g.rng.Float64() * g.kindWt
	kind := numKinds - 1
	for k := range bgKinds {
		if r < bgKinds[k].wt {
			kind = k
			break
		}
		r -= bgKinds[k].wt
	}
	kd := &bgKinds[kind]
	*s = session{kind: uint8(kind), port: kd.port}
	v6 := g.rng.Float64() < kd.v6
	s.host, s.v6 = g.pickHost(v6)
	s.vlan = vlanOf(s.host)
	j := int(g.extZ.Uint64())
	s.ext = edgeExt(j, s.v6)
	s.ettl = uint8(50 + j%11)
	s.httl = 63
	if s.host.As16()[15]%4 == 0 { // Windows desks start at 128
		s.httl = 127
	}
	s.hport = uint16(32768 + g.rng.IntN(28000))
	s.hseq, s.eseq = g.rng.Uint32(), g.rng.Uint32()
	if kd.segs[1] > 0 {
		s.left = int32(kd.segs[0] + g.rng.IntN(kd.segs[1]-kd.segs[0]+1))
	}
	s.phase = phSyn
	switch kind {
	case kHTTPS:
		s.name = uint16(j % len(webNames))
	case kHTTP:
		s.name = uint16(j % len(httpReqs))
	case kDNS:
		if s.v6 {
			s.host, _ = g.pickHost(false)
			s.v6, s.vlan = false, vlanOf(s.host)
		}
		s.ext = dnsServers[g.rng.IntN(2)]
		s.name = uint16(g.rng.IntN(len(g.tm.dns)))<<1 | uint16(b2i(g.rng.IntN(10) < 3))
		s.phase = phQuery
	case kBackup:
		s.ext = backupHost
	case kVideo:
		s.phase = phDatagram
	case kICMP:
		s.phase = phEcho
		s.hport, s.port = uint16(g.rng.Uint32()), 1 // echo identifier, sequence number
	}
}

// pickHost draws a host of the site (IPv6 when asked and its subnet has it).
func (g *packetGen) pickHost(v6 bool) (netip.Addr, bool) {
	r := g.rng.Float64() * g.poolWt
	p := g.pools[len(g.pools)-1]
	for _, q := range g.pools {
		if r < q.wt {
			p = q
			break
		}
		r -= q.wt
	}
	v6 = v6 && p.v6
	return p.host(int(p.zipf.Uint64()), v6), v6
}

// dir addresses p from the site's host (out) or to it.
func (s *session) dir(p *pkt, out bool) {
	p.out = out
	if out {
		p.src, p.dst, p.sport, p.dport, p.ttl = s.host, s.ext, s.hport, s.port, s.httl
	} else {
		p.src, p.dst, p.sport, p.dport, p.ttl = s.ext, s.host, s.port, s.hport, s.ettl
	}
}

// tcp sets a TCP segment from the host (out) or to it, with the sequence numbers of that
// direction, and advances them by its length (and SYN and FIN).
func (s *session) tcp(p *pkt, out bool, flags uint8) {
	s.dir(p, out)
	p.proto, p.flags = 6, flags
	if out {
		p.seq, p.ack, p.win = s.hseq, s.eseq, 502
	} else {
		p.seq, p.ack, p.win = s.eseq, s.hseq, 501
	}
	n := uint32(p.payloadLen())
	if flags&(tcpSYN|tcpFIN) != 0 {
		n++
	}
	if flags&tcpSYN != 0 {
		p.synOpts, p.win = true, 64240
		if !out {
			p.win = 65160
		}
	}
	if flags&tcpACK == 0 {
		p.ack = 0
	}
	if out {
		s.hseq += n
	} else {
		s.eseq += n
	}
}

// dataLen is the payload of a data segment in direction out: the kind's mean ± 30 %.
func (g *packetGen) dataLen(s *session, out bool) int {
	mean := bgKinds[s.kind].size[b2i(out)]
	n := mean*7/10 + g.rng.IntN(mean*6/10+1)
	lim := maxSeg4
	if s.v6 {
		lim = maxSeg6
	}
	return max(16, min(n, lim))
}

func (g *packetGen) sessionFrame(s *session, p *pkt) {
	kd := &bgKinds[s.kind]
	tm := g.tm
	switch s.phase {
	case phSyn:
		s.tcp(p, true, tcpSYN)
		s.phase = phSynAck
	case phSynAck:
		s.tcp(p, false, tcpSYN|tcpACK)
		s.phase = phAck
	case phAck:
		s.tcp(p, true, tcpACK)
		s.phase = phReq
	case phReq:
		switch s.kind {
		case kHTTPS:
			p.body = tm.hello[s.name]
		case kHTTP:
			p.body = tm.http[s.name]
		case kSSH:
			p.body = tm.sshClient
		case kBackup:
			p.body = tm.rsync
		case kRTMP:
			g.rechdr[0] = 3 // C0, then a part of C1
			p.hdr, p.fill, p.fillOff = g.rechdr[:1], 1200, g.rng.IntN(fillerLen/2)
		}
		s.tcp(p, true, tcpPSH|tcpACK)
		s.phase = phResp
	case phResp:
		switch s.kind {
		case kHTTPS:
			g.tlsRecord(p, 0x17, g.dataLen(s, false)-5, g.rng.Uint64())
		case kHTTP:
			p.body, p.fill, p.fillOff = tm.httpResp, 900, g.rng.IntN(fillerLen/2)
		case kSSH:
			p.body = tm.sshServer
		case kBackup:
			p.body = tm.rsync[:14]
		case kRTMP:
			g.rechdr[0] = 3
			p.hdr, p.fill, p.fillOff = g.rechdr[:1], 1200, g.rng.IntN(fillerLen/2)
		}
		s.tcp(p, false, tcpPSH|tcpACK)
		s.phase = phData
	case phData:
		switch {
		case s.unacked >= 2: // the receiver acknowledges every second segment
			s.tcp(p, !kd.up, tcpACK)
			s.unacked = 0
		case s.left > 0:
			p.fill, p.fillOff = g.dataLen(s, kd.up), g.rng.IntN(fillerLen/2)
			s.tcp(p, kd.up, tcpPSH|tcpACK)
			s.left--
			s.unacked++
		case g.rng.IntN(16) == 0: // some connections end in a reset
			s.tcp(p, true, tcpRST|tcpACK)
			s.phase = phNew
		default:
			s.tcp(p, true, tcpFIN|tcpACK)
			s.phase = phFinAck
		}
	case phFinAck:
		s.tcp(p, false, tcpFIN|tcpACK)
		s.phase = phLastAck
	case phLastAck:
		s.tcp(p, true, tcpACK)
		s.phase = phNew
	case phQuery, phAnswer:
		t := &tm.dns[s.name>>1][s.name&1]
		msg := t.query
		if s.phase == phAnswer {
			msg = t.resp
		}
		n := copy(g.scratch[:], msg)
		binary.BigEndian.PutUint16(g.scratch[:], uint16(s.hseq))
		p.body = g.scratch[:n]
		s.dir(p, s.phase == phQuery)
		p.proto = 17
		s.phase++
		if s.phase > phAnswer {
			s.phase = phNew
		}
	case phDatagram: // TURN ChannelData: channel, length, media
		out := g.rng.IntN(2) == 0
		n := g.dataLen(s, out) - 4
		g.rechdr = [5]byte{0x40, 0x01, byte(n >> 8), byte(n)}
		p.hdr, p.fill, p.fillOff = g.rechdr[:4], n, g.rng.IntN(fillerLen/2)
		s.dir(p, out)
		p.proto = 17
		if s.left--; s.left <= 0 {
			s.phase = phNew
		}
	case phEcho, phEchoReply:
		out := s.phase == phEcho
		s.dir(p, out)
		p.sport, p.dport, p.body = s.hport, s.port, tm.ping
		p.proto, p.icmpType = 1, 8
		if s.v6 {
			p.proto, p.icmpType = 58, 128
		}
		if !out {
			p.icmpType = 0
			if s.v6 {
				p.icmpType = 129
			}
		}
		s.phase++
		if !out {
			s.port++
			s.phase = phEcho
			if s.left--; s.left <= 0 {
				s.phase = phNew
			}
		}
	}
}
