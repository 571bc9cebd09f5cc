package lab

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"github.com/watchfloor/watchfloor"
)

// flowgen.go turns the traffic model into flow records. Each exporting device meters its
// uplinks: every tick it reads how many bytes crossed each uplink in each direction (the same
// closed-form integrals the SNMP counters read), divides them by its sampling rate, and splits
// them into records of a realistic application mix between the site's hosts and the outside.
// So the bytes of an uplink's records × the sampling rate equal its SNMP octets (to the byte
// for NetFlow and IPFIX, to one packet for sFlow). The other interfaces of a record (the
// downlink toward the internal host) carry a share of the uplink's traffic, not their own
// SNMP rate: the model does not conserve traffic across a device.
//
// The lab's address plan, for an appliance config's our_networks:
//
//	10.20.0.0/16, 2001:db8:20::/48   the site ("ours")
//	  10.20.11–16.0/24, 2001:db8:20:11–16::/64   desks behind acc-a1…acc-a6
//	  10.20.101–103.0/24                          servers behind dist-s1…dist-s3
//	  10.20.200.0/24 DMZ, 10.20.210.0/24 guest Wi-Fi, 10.20.220.0/24 VPN (behind fw-1)
//	198.51.100.0/24, 203.0.113.0/24, 192.0.2.0/24, 2001:db8:ffff::/48   the outside
//	  AS 64601, 64602, 64603 (and 64601–64603 for the matching IPv6 /64s); the site is AS 64512

// OurNetworks are the lab site's own prefixes.
var OurNetworks = []netip.Prefix{netip.MustParsePrefix("10.20.0.0/16"), netip.MustParsePrefix("2001:db8:20::/48")}

// The site's AS and the incidents' addresses.
const (
	SiteAS = 64512
)

// Incident addresses, for tests and the appliance's e2e checks.
var (
	FloodVictim = netip.MustParseAddr("10.20.101.80") // a server behind dist-s1
	ScanSource  = netip.MustParseAddr("203.0.113.66") // probes tcp/22 across the site
	dnsServers  = [2]netip.Addr{netip.MustParseAddr("192.0.2.53"), netip.MustParseAddr("192.0.2.54")}
	backupHost  = netip.MustParseAddr("203.0.113.200")
	extBases4   = [3][3]byte{{198, 51, 100}, {203, 0, 113}, {192, 0, 2}}
	extHosts    = 250 // distinct external hosts per family
	scanPort    = uint16(22)
	scanPerSec  = 60.0  // probes per second of lab time
	floodRate   = 150e6 // bytes per second on top of the transit's curve (1.2 Gbit/s)
	floodPkt    = 468.0 // bytes per flood packet (NTP-reflection sized)
	floodSrcs   = 400   // distinct flood sources
	floodDur    = time.Minute
	scanDur     = 20 * time.Second
	floodAt     = 238 * time.Second
	scanAt      = 30 * time.Second
	floodOnPort = uint16(123)
)

// surge is extra traffic on a flow curve during a window, for the flood: its integral
// keeps the counters monotonic across cycles (before holds the surges already over). Like
// the counters, it is read forward in time: after set, integral(t) for t before the
// previous window's end includes that window.
type surge struct {
	from, to, bps, before float64
}

func (s *surge) rate(t float64) float64 {
	if s.bps == 0 || t < s.from || t >= s.to {
		return 0
	}
	return s.bps
}

func (s *surge) integral(t float64) float64 {
	if s.bps == 0 {
		return s.before
	}
	return s.before + s.bps*min(max(t-s.from, 0), s.to-s.from)
}

func (s *surge) set(from, to, bps float64) {
	s.before = s.integral(math.Inf(1))
	s.from, s.to, s.bps = from, to, bps
}

// flowIncidents is the flood and scan state that the timeline sets and the generators read.
type flowIncidents struct {
	edge end // where the flood and the scan enter: core-r1's transit
	down *iface

	mu                 sync.Mutex
	floodFrom, floodTo time.Time
	scanFrom, scanTo   time.Time
	scanSeq            uint32
	floodCycle         int
}

func (fx *flowIncidents) windows() (ff, ft, sf, st time.Time) {
	fx.mu.Lock()
	defer fx.mu.Unlock()
	return fx.floodFrom, fx.floodTo, fx.scanFrom, fx.scanTo
}

// overlap is the part of [a, b) inside [from, to).
func overlap(a, b, from, to time.Time) time.Duration {
	if from.IsZero() {
		return 0
	}
	lo, hi := max64t(a, from), min64t(b, to)
	if !hi.After(lo) {
		return 0
	}
	return hi.Sub(lo)
}

func max64t(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func min64t(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// hostPool is a subnet of the site and the interfaces its hosts sit behind, from the point
// of view of one exporter.
type hostPool struct {
	v4    [3]byte // 10.20.X
	v6    bool    // has IPv6 (2001:db8:20:X::/64)
	hosts int
	downs []*iface // host k is behind downs[k % len]
	zipf  *rand.Zipf
	wt    float64
	up    bool // one of downs is up: the pool is reachable (set by each tick)
}

func (p *hostPool) host(k int, v6 bool) netip.Addr {
	if v6 && p.v6 {
		var a [16]byte
		copy(a[:], []byte{0x20, 0x01, 0x0d, 0xb8, 0, 0x20, 0, p.v4[2]})
		a[14], a[15] = byte((k+10)>>8), byte(k+10)
		return netip.AddrFrom16(a)
	}
	return netip.AddrFrom4([4]byte{p.v4[0], p.v4[1], p.v4[2], byte(k + 10)})
}

// app is one kind of traffic between a site host and the outside.
type app struct {
	name     string
	proto    uint8
	port     uint16
	wt       [2]float64 // share of the bytes, inbound and outbound
	pkt      [2]float64 // bytes per packet, inbound and outbound
	v6       float64    // share of records over IPv6
	heavy    float64    // size multiplier of a record (backups and video are long flows)
	fixedExt netip.Addr // the only external end, when there is one
}

var apps = []app{
	{name: "https", proto: 6, port: 443, wt: [2]float64{0.45, 0.30}, pkt: [2]float64{1300, 420}, v6: 0.3, heavy: 1},
	{name: "http", proto: 6, port: 80, wt: [2]float64{0.08, 0.05}, pkt: [2]float64{1200, 380}, v6: 0.1, heavy: 1},
	{name: "dns", proto: 17, port: 53, wt: [2]float64{0.01, 0.01}, pkt: [2]float64{180, 80}, heavy: 0.05},
	{name: "backup", proto: 6, port: 873, wt: [2]float64{0.04, 0.35}, pkt: [2]float64{90, 1450}, heavy: 8, fixedExt: backupHost},
	{name: "video", proto: 17, port: 3478, wt: [2]float64{0.30, 0.20}, pkt: [2]float64{1150, 1050}, v6: 0.2, heavy: 4},
	{name: "rtmp", proto: 6, port: 1935, wt: [2]float64{0.08, 0.06}, pkt: [2]float64{1250, 900}, heavy: 4},
	{name: "ssh", proto: 6, port: 22, wt: [2]float64{0.04, 0.03}, pkt: [2]float64{200, 150}, v6: 0.2, heavy: 0.5},
}

// meter is one uplink an exporter meters, and what it remembers between ticks.
type meter struct {
	ifc            *iface
	prevIn, prevOu float64
	primed         bool
	owed           [2]float64 // sampled bytes not yet exported (in, out)
	pool           uint64     // sFlow sample pool of this data source
}

// flowGen generates the records (or sFlow samples) of one device.
type flowGen struct {
	dev    *device
	proto  watchfloor.FlowProtocol
	rate   uint32  // 1 in rate packets
	perSec float64 // record budget
	v4only bool
	meters []*meter
	pools  []*hostPool
	poolWt float64
	rng    *rand.Rand
	extZ   *rand.Zipf
	fx     *flowIncidents // set on the device that sees the flood and the scan
	scale  float64        // the timeline's TimeScale, for the scan's probe rate

	upWt     float64 // the weight of the reachable pools
	owedRecs float64
	scanDone float64
	recs     []flowRecord
	samples  []sflowSample
	counters []ifCounters
}

// tick appends to g.recs the records of [t0, t1) (or, for sFlow, to g.samples). It reads
// the device under its lock.
func (g *flowGen) tick(t0, t1 time.Time) {
	g.recs = g.recs[:0]
	g.samples = g.samples[:0]
	dt := t1.Sub(t0).Seconds()
	d := g.dev
	type dirBytes struct {
		m     *meter
		dir   int // 0 in, 1 out
		bytes float64
	}
	var dirs [8]dirBytes
	nd := 0
	var total float64
	d.mu.RLock()
	t := d.sec(t1)
	for _, m := range g.meters {
		in, out := d.octets(m.ifc, t)
		if !m.primed {
			m.prevIn, m.prevOu, m.primed = in, out, true
			continue
		}
		// A counter that went back — a reboot's reset, or a port frozen at a down time the
		// timeline applied later than this tick read it (a loaded machine) — gives nothing
		// this tick. Counting the whole counter instead would replay days of traffic.
		bi, bo := max(0, in-m.prevIn), max(0, out-m.prevOu)
		m.prevIn, m.prevOu = in, out
		dirs[nd] = dirBytes{m, 0, bi}
		dirs[nd+1] = dirBytes{m, 1, bo}
		nd += 2
		total += bi + bo
	}
	// Hosts behind ports that are down (a dead router downstream) get no traffic.
	g.upWt = 0
	for _, p := range g.pools {
		p.up = false
		for _, i := range p.downs {
			if i.operUp {
				p.up = true
				break
			}
		}
		if p.up {
			g.upWt += p.wt
		}
	}
	d.mu.RUnlock()
	if dt <= 0 {
		return
	}

	// The incidents on the edge uplink: their bytes come out of the curve's (the flood is
	// part of the transit's SNMP counters; the scan is small enough to hide in them).
	var floodB float64
	var probes int
	if g.fx != nil {
		ff, ft, sf, st := g.fx.windows()
		floodB = floodRate * overlap(t0, t1, ff, ft).Seconds()
		g.scanDone += scanPerSec * overlap(t0, t1, sf, st).Seconds() / g.scale
		probes = int(g.scanDone)
		g.scanDone -= float64(probes)
	}

	if g.proto == watchfloor.FlowSFlow {
		for k := range nd {
			g.sample(dirs[k].m, dirs[k].dir, dirs[k].bytes, t0, t1)
		}
		return
	}
	g.owedRecs += g.perSec * dt
	n := int(g.owedRecs)
	g.owedRecs -= float64(n)
	n = min(n, 8192)
	for k := range nd {
		x := dirs[k]
		b := x.bytes
		if g.fx != nil && x.m.ifc == g.fx.edge.ifc && x.dir == 0 {
			fb := min(floodB, b)
			b -= fb
			g.flood(x.m, fb, t0, t1)
			sb := min(float64(probes)*44*float64(g.rate), b)
			b -= sb
			g.scan(x.m, probes, t0, t1)
		}
		share := 0
		if total > 0 {
			share = int(math.Round(float64(n) * x.bytes / total))
		}
		g.split(x.m, x.dir, b, max(share, 1), t0, t1)
	}
}

// pickHost draws a site host: a reachable pool by weight (any pool when none is), a host by
// Zipf rank.
func (g *flowGen) pickHost(v6 bool) (netip.Addr, *iface, uint8) {
	all := g.upWt == 0
	r := g.rng.Float64() * g.poolWt
	if !all {
		r = g.rng.Float64() * g.upWt
	}
	p := g.pools[len(g.pools)-1]
	for _, q := range g.pools {
		if !all && !q.up {
			continue
		}
		p = q
		if r < q.wt {
			p = q
			break
		}
		r -= q.wt
	}
	k := int(p.zipf.Uint64())
	mask := uint8(24)
	if v6 && p.v6 {
		mask = 64
	}
	return p.host(k, v6), p.downs[k%len(p.downs)], mask
}

// extHost draws an external host by Zipf rank, and its AS.
func (g *flowGen) extHost(v6 bool) (netip.Addr, uint32) {
	j := int(g.extZ.Uint64())
	net := j % 3
	h := j/3 + 1
	if v6 {
		var a [16]byte
		copy(a[:], []byte{0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, 0, byte(net)})
		a[15] = byte(h)
		return netip.AddrFrom16(a), uint32(64601 + net)
	}
	b := extBases4[net]
	a := netip.AddrFrom4([4]byte{b[0], b[1], b[2], byte(h)})
	if a == ScanSource || a == backupHost { // these only do what the script says
		a = netip.AddrFrom4([4]byte{b[0], b[1], b[2], byte(h + 100)})
	}
	return a, uint32(64601 + net)
}

func extAS(a netip.Addr) uint32 {
	if a.Is4() {
		b := a.As4()
		for k, base := range extBases4 {
			if b[0] == base[0] && b[1] == base[1] && b[2] == base[2] {
				return uint32(64601 + k)
			}
		}
		return 0
	}
	return 64601 + uint32(a.As16()[7]%3)
}

// pickApp draws an application for a direction by byte share, weighted down by how heavy
// its records are so that byte shares come out as wt says.
func (g *flowGen) pickApp(dir int) *app {
	var sum float64
	for k := range apps {
		sum += apps[k].wt[dir] / apps[k].heavy
	}
	r := g.rng.Float64() * sum
	for k := range apps {
		w := apps[k].wt[dir] / apps[k].heavy
		if r < w {
			return &apps[k]
		}
		r -= w
	}
	return &apps[0]
}

// fill makes rec a flow of a between a site host and the outside; dir 0 is inbound.
func (g *flowGen) fill(rec *flowRecord, a *app, m *meter, dir int) {
	v6 := !g.v4only && g.rng.Float64() < a.v6
	ours, down, mask := g.pickHost(v6)
	// A pool without IPv6 hands out an IPv4 host even when v6 was drawn: both ends of a
	// flow are of one family (a v4 template cannot carry a v6 address).
	ext, as := g.extHost(ours.Unmap().Is6())
	switch {
	case a.name == "dns":
		ext, as = dnsServers[g.rng.IntN(2)], extAS(dnsServers[0])
		ours = ours.Unmap()
		if ours.Is6() {
			ours, _, mask = g.pickHost(false)
		}
	case a.fixedExt.IsValid():
		ext, as = a.fixedExt, extAS(a.fixedExt)
		if ours.Is6() {
			ours, _, mask = g.pickHost(false)
		}
	}
	eph := uint16(32768 + g.rng.IntN(28000))
	*rec = flowRecord{proto: a.proto, srcMask: mask, dstMask: mask}
	if a.proto == 6 {
		rec.tcpFlags = 0x18 | 0x10 // PSH ACK
		if g.rng.IntN(8) == 0 {
			rec.tcpFlags |= 0x02 | 0x01 // a flow seen from SYN to FIN
		}
	}
	if a.name == "video" {
		rec.tos = 0xb8 // EF
	}
	if dir == 0 {
		rec.src, rec.dst, rec.srcPort, rec.dstPort = ext, ours, a.port, eph
		rec.inIf, rec.outIf = uint32(m.ifc.Index), uint32(down.Index)
		rec.srcAS, rec.dstAS = as, SiteAS
		if ext.Is4() {
			rec.srcMask = 24
		} else {
			rec.srcMask = 48
		}
	} else {
		rec.src, rec.dst, rec.srcPort, rec.dstPort = ours, ext, eph, a.port
		rec.inIf, rec.outIf = uint32(down.Index), uint32(m.ifc.Index)
		rec.srcAS, rec.dstAS = SiteAS, as
		if ext.Is4() {
			rec.dstMask = 24
		} else {
			rec.dstMask = 48
		}
	}
	rec.nextHop = nextHop(rec.dst)
}

func nextHop(dst netip.Addr) netip.Addr {
	if dst.Is4() {
		return netip.AddrFrom4([4]byte{10, 20, 0, 1})
	}
	return netip.MustParseAddr("2001:db8:20::1")
}

// times sets a record's first and last packet within [t0, t1), longer for more packets.
func (g *flowGen) times(rec *flowRecord, t0, t1 time.Time) {
	span := t1.Sub(t0)
	rec.last = t0.Add(time.Duration(g.rng.Float64() * float64(span)))
	rec.first = rec.last
	if rec.packets > 1 {
		rec.first = rec.last.Add(-time.Duration(g.rng.Float64() * float64(10*time.Second)))
	}
}

// split exports b bytes of one direction of m (unsampled bytes) as about n records.
func (g *flowGen) split(m *meter, dir int, b float64, n int, t0, t1 time.Time) {
	owed := m.owed[dir] + b/float64(g.rate)
	whole := math.Floor(owed)
	m.owed[dir] = owed - whole
	if whole < 1 {
		return
	}
	start := len(g.recs)
	var sum float64
	for range n {
		a := g.pickApp(dir)
		g.recs = append(g.recs, flowRecord{})
		rec := &g.recs[len(g.recs)-1]
		g.fill(rec, a, m, dir)
		w := a.heavy * (0.2 + g.rng.ExpFloat64())
		rec.bytes = math.Float64bits(w) // the weight, until the bytes are known
		sum += w
	}
	// Bytes by weight, rounded so that they add up to exactly whole.
	var cum, done float64
	out := start
	for k := start; k < len(g.recs); k++ {
		rec := g.recs[k]
		cum += math.Float64frombits(rec.bytes) / sum * whole
		by := math.Round(cum) - done
		if k == len(g.recs)-1 {
			by = whole - done
		}
		done += by
		if by < 1 {
			m.owed[dir] += by
			continue
		}
		rec.bytes = uint64(by)
		a := appFor(rec.proto, rec.srcPort, rec.dstPort)
		rec.packets = max(1, uint64(by/a.pkt[dir]+0.5))
		if rec.packets > rec.bytes/28 { // at least a 28-byte IP+UDP header per packet
			rec.packets = max(1, rec.bytes/28)
		}
		g.times(&rec, t0, t1)
		g.recs[out] = rec
		out++
	}
	g.recs = g.recs[:out]
}

func appFor(proto uint8, sp, dp uint16) *app {
	for k := range apps {
		if apps[k].proto == proto && (apps[k].port == sp || apps[k].port == dp) {
			return &apps[k]
		}
	}
	return &apps[0]
}

// flood exports fb bytes of the flood toward FloodVictim: UDP from port 123 of many sources.
func (g *flowGen) flood(m *meter, fb float64, t0, t1 time.Time) {
	if fb <= 0 {
		return
	}
	sampled := fb / float64(g.rate)
	n := max(1, min(floodSrcs/4, int(sampled/(floodPkt*4))))
	per := math.Floor(sampled / float64(n))
	for range n {
		b := extBases4[g.rng.IntN(2)]
		src := netip.AddrFrom4([4]byte{b[0], b[1], b[2], byte(1 + g.rng.IntN(250))})
		if src == ScanSource || src == backupHost {
			src = src.Next()
		}
		rec := flowRecord{src: src, dst: FloodVictim, srcPort: floodOnPort, dstPort: uint16(1024 + g.rng.IntN(60000)),
			proto: 17, srcMask: 24, dstMask: 24, inIf: uint32(m.ifc.Index), outIf: uint32(g.fx.down.Index),
			srcAS: extAS(src), dstAS: SiteAS, nextHop: nextHop(FloodVictim),
			bytes: uint64(per), packets: max(1, uint64(per/floodPkt))}
		g.times(&rec, t0, t1)
		g.recs = append(g.recs, rec)
	}
}

// scan exports n SYN probes from ScanSource to successive site hosts.
func (g *flowGen) scan(m *meter, n int, t0, t1 time.Time) {
	for range n {
		g.fx.mu.Lock()
		s := g.fx.scanSeq
		g.fx.scanSeq++
		g.fx.mu.Unlock()
		dst := netip.AddrFrom4([4]byte{10, 20, byte(11 + s/200%6), byte(10 + s%200)})
		rec := flowRecord{src: ScanSource, dst: dst, srcPort: uint16(40000 + s%20000), dstPort: scanPort,
			proto: 6, tcpFlags: 0x02, srcMask: 24, dstMask: 24, inIf: uint32(m.ifc.Index),
			outIf: uint32(g.fx.down.Index), srcAS: extAS(ScanSource), dstAS: SiteAS, nextHop: nextHop(dst),
			bytes: 44, packets: 1}
		g.times(&rec, t0, t1)
		g.recs = append(g.recs, rec)
	}
}

// sample turns b unsampled bytes of one direction of m into sFlow packet samples, each
// standing for rate packets.
func (g *flowGen) sample(m *meter, dir int, b float64, t0, t1 time.Time) {
	owed := m.owed[dir] + b/float64(g.rate)
	for len(g.samples) < 8192 {
		a := g.pickApp(dir)
		size := math.Round(a.pkt[dir]*(0.7+0.6*g.rng.Float64())) + 18
		if owed < size {
			break
		}
		owed -= size
		g.recs = append(g.recs, flowRecord{})
		rec := &g.recs[len(g.recs)-1]
		g.fill(rec, a, m, dir)
		rec.bytes, rec.packets = uint64(size), 1
		rec.first, rec.last = t1, t1
		m.pool += uint64(g.rate)
		src := uint32(m.ifc.Index)
		if dir == 1 { // ingress sampling: outbound packets are sampled on the desk port
			src = rec.inIf
		}
		g.samples = append(g.samples, sflowSample{frameLen: uint32(size), source: src, pool: uint32(m.pool)})
	}
	m.owed[dir] = owed
	// g.recs may have grown (and moved): point the samples at their records.
	for k := range g.samples {
		g.samples[k].rec = &g.recs[len(g.recs)-len(g.samples)+k]
		s := &g.samples[k]
		s.srcMAC = macOf(g.dev, s.rec.inIf)
		s.dstMAC = macOf(g.dev, s.rec.outIf)
	}
}

func macOf(d *device, index uint32) [6]byte {
	var m [6]byte
	copy(m[:], d.chassis)
	m[4] += byte(index >> 8)
	m[5] = byte(index)
	return m
}

// counterSamples fills g.counters with the generic interface counters of every interface of
// the device that carries traffic, computed exactly as the SNMP agent computes them at now.
func (g *flowGen) counterSamples(now time.Time) {
	g.counters = g.counters[:0]
	d := g.dev
	d.mu.RLock()
	defer d.mu.RUnlock()
	for r, i := range d.ifaces {
		if i.in == nil {
			continue
		}
		v := func(k kind) uint64 { e := entry{kind: k, row: int32(r)}; return d.value(&e, now).n }
		st := uint32(0)
		if i.AdminUp {
			st |= 1
		}
		if i.operUp {
			st |= 2
		}
		g.counters = append(g.counters, ifCounters{
			index: uint32(i.Index), ifType: uint32(i.Type), speed: i.Speed, direction: 1, status: st,
			inOctets: v(kIfHCInOctets), inUcast: uint32(v(kIfInUcastPkts)), inMcast: uint32(v(kIfInMulticastPkts)),
			inBcast: uint32(v(kIfInBroadcastPkts)), inDisc: uint32(v(kIfInDiscards)), inErr: uint32(v(kIfInErrors)),
			inU: uint32(v(kIfInUnknownProtos)), outOctets: v(kIfHCOutOctets), outUcast: uint32(v(kIfOutUcastPkts)),
			outMcast: uint32(v(kIfOutMulticastPkts)), outBcast: uint32(v(kIfOutBroadcastPkts)),
			outDisc: uint32(v(kIfOutDiscards)), outErr: uint32(v(kIfOutErrors)), promisc: 2,
		})
	}
}

// ---- the site's exporters ----

// flowPlan is how one device of the standard site exports flows.
type flowPlan struct {
	dev    string
	proto  watchfloor.FlowProtocol
	rate   uint32
	share  float64 // of the record budget
	meters []string
	pools  []poolPlan
}

type poolPlan struct {
	net   byte // 10.20.net.0/24
	v6    bool
	hosts int
	wt    float64
	downs []string // interface names; "*desks" for the access ports in use
}

func standardPlans() []flowPlan {
	desk := func(a int) poolPlan {
		return poolPlan{net: byte(11 + a), v6: true, hosts: 60, wt: 1, downs: []string{"*desks"}}
	}
	servers := func(s int, downs ...string) poolPlan {
		return poolPlan{net: byte(101 + s), hosts: 40, wt: 1.5, downs: downs}
	}
	srvPorts := []string{"Ethernet5", "Ethernet6", "Ethernet7", "Ethernet8", "Ethernet9", "Ethernet10", "Ethernet11", "Ethernet12"}
	var ps []flowPlan
	for c := range 2 {
		p := flowPlan{dev: fmt.Sprintf("core-r%d", c+1), proto: watchfloor.FlowIPFIX, rate: 1000, share: 0.22,
			meters: []string{"xe-0/1/4"}}
		for a := range 6 {
			pp := desk(a)
			pp.downs = []string{fmt.Sprintf("xe-0/1/%d", a/2)}
			p.pools = append(p.pools, pp)
		}
		for s := range 3 {
			p.pools = append(p.pools, servers(s, fmt.Sprintf("xe-0/1/%d", s)))
		}
		for _, n := range []byte{200, 210, 220} {
			p.pools = append(p.pools, poolPlan{net: n, hosts: 50, wt: 1, downs: []string{"xe-0/1/3"}})
		}
		ps = append(ps, p)
	}
	ps = append(ps, flowPlan{dev: "fw-1", proto: watchfloor.FlowNetFlowV9, rate: 100, share: 0.14,
		meters: []string{"ethernet1/1", "ethernet1/2"},
		pools: []poolPlan{
			{net: 200, hosts: 30, wt: 2, downs: []string{"ethernet1/3"}},
			{net: 210, hosts: 120, wt: 1, downs: []string{"ethernet1/4"}},
			{net: 220, hosts: 60, wt: 1, downs: []string{"ethernet1/5"}},
		}})
	for s := range 3 {
		p := flowPlan{dev: fmt.Sprintf("dist-s%d", s+1), proto: watchfloor.FlowNetFlowV5, rate: 512, share: 0.08,
			meters: []string{"Ethernet1", "Ethernet2"}}
		for k := range 2 {
			pp := desk(2*s + k)
			pp.downs = []string{fmt.Sprintf("Ethernet%d", 3+k)}
			p.pools = append(p.pools, pp)
		}
		p.pools = append(p.pools, servers(s, srvPorts...))
		ps = append(ps, p)
	}
	for a := range 6 {
		ps = append(ps, flowPlan{dev: fmt.Sprintf("acc-a%d", a+1), proto: watchfloor.FlowSFlow, share: 0.02,
			meters: []string{"Te1/1/1"}, pools: []poolPlan{desk(a)}})
	}
	return ps
}

// newFlowGens builds the generators of the standard site with a total budget of perSec
// records (or samples) per second.
func newFlowGens(s *site, perSec float64, seed int64, scale float64) ([]*flowGen, error) {
	var gens []*flowGen
	for k, p := range standardPlans() {
		d := s.byName[p.dev]
		if d == nil {
			return nil, fmt.Errorf("lab: flows: no device %s", p.dev)
		}
		g := &flowGen{dev: d, proto: p.proto, rate: p.rate, perSec: perSec * p.share,
			v4only: p.proto == watchfloor.FlowNetFlowV5, scale: scale,
			rng: rand.New(rand.NewPCG(uint64(seed), uint64(k)+0x666c6f77))}
		g.extZ = rand.NewZipf(g.rng, 1.1, 1, uint64(extHosts-1))
		for _, n := range p.meters {
			i := ifByName(d, n)
			if i == nil {
				return nil, fmt.Errorf("lab: flows: no interface %s on %s", n, d.Name)
			}
			g.meters = append(g.meters, &meter{ifc: i})
		}
		for _, pp := range p.pools {
			hp := &hostPool{v4: [3]byte{10, 20, pp.net}, v6: pp.v6, hosts: pp.hosts, wt: pp.wt}
			hp.zipf = rand.NewZipf(g.rng, 1.2, 1, uint64(pp.hosts-1))
			for _, n := range pp.downs {
				if n == "*desks" {
					for _, i := range d.ifaces {
						if i.in != nil && i.peer == nil && i.Physical && i.Index > 8 && i.Speed == 1_000_000_000 {
							hp.downs = append(hp.downs, i)
						}
					}
					continue
				}
				i := ifByName(d, n)
				if i == nil {
					return nil, fmt.Errorf("lab: flows: no interface %s on %s", n, d.Name)
				}
				hp.downs = append(hp.downs, i)
			}
			if len(hp.downs) == 0 {
				return nil, fmt.Errorf("lab: flows: no host ports on %s", d.Name)
			}
			g.pools = append(g.pools, hp)
			g.poolWt += hp.wt
		}
		if p.proto == watchfloor.FlowSFlow {
			// A power-of-two rate that keeps the samples near the budget at the uplink's mean.
			m := g.meters[0].ifc
			pps := (m.in.base + m.out.base) / 900
			want := max(1, g.perSec)
			g.rate = 256
			for float64(g.rate) < pps/want && g.rate < 1<<20 {
				g.rate *= 2
			}
		}
		if d == s.fx.edge.dev {
			g.fx = &s.fx
		}
		gens = append(gens, g)
	}
	return gens, nil
}

func ifByName(d *device, name string) *iface {
	for _, i := range d.ifaces {
		if i.Name == name {
			return i
		}
	}
	return nil
}
