package lab

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	"github.com/watchfloor/watchfloor"
)

// flowexport.go runs the site's flow exporters: each device sends from its own loopback
// address, so a collector maps exporters to devices by source address. core-r1 and core-r2
// export IPFIX (core-r1 announces its sampling rate as samplingInterval, core-r2 as
// samplingPacketInterval/samplingPacketSpace), fw-1 NetFlow v9, the distribution switches
// NetFlow v5, the access switches sFlow v5 with counter samples.

// Defaults of the flow exporters.
const (
	DefaultFlowRecordsPerSecond = 3000
	flowTick                    = 250 * time.Millisecond
	templateEvery               = 10 * time.Second // template and options refresh (v9, IPFIX)
	templateEveryDatagrams      = 200
	counterEvery                = 10 * time.Second // sFlow counter samples
)

// FlowProtoStats counts what the exporters of one protocol sent.
type FlowProtoStats struct {
	Datagrams uint64 // datagrams sent
	Records   uint64 // data records (NetFlow/IPFIX) or flow samples (sFlow) sent
	Templates uint64 // template datagrams (v9, IPFIX) or counter samples (sFlow) sent
	Errors    uint64 // datagrams the socket refused
}

// FlowStats counts the flow exporters' output per protocol.
type FlowStats struct {
	NetFlowV5, NetFlowV9, IPFIX, SFlow FlowProtoStats
}

type protoStats struct{ datagrams, records, templates, errors atomic.Uint64 }

func (p *protoStats) load() FlowProtoStats {
	return FlowProtoStats{p.datagrams.Load(), p.records.Load(), p.templates.Load(), p.errors.Load()}
}

// FlowStats returns what the flow exporters sent so far (zero when flow export is off).
func (l *Lab) FlowStats() FlowStats {
	if l.flows == nil {
		return FlowStats{}
	}
	s := &l.flows.stats
	return FlowStats{
		NetFlowV5: s[watchfloor.FlowNetFlowV5].load(), NetFlowV9: s[watchfloor.FlowNetFlowV9].load(),
		IPFIX: s[watchfloor.FlowIPFIX].load(), SFlow: s[watchfloor.FlowSFlow].load(),
	}
}

// FlowExporter describes one simulated exporter, for tests and the appliance's config.
type FlowExporter struct {
	Device       string
	Address      netip.Addr // the source address of its datagrams
	Protocol     watchfloor.FlowProtocol
	SamplingRate uint32
}

// FlowExporters lists the running exporters (none when flow export is off).
func (l *Lab) FlowExporters() []FlowExporter {
	if l.flows == nil {
		return nil
	}
	var out []FlowExporter
	for _, x := range l.flows.exps {
		out = append(out, FlowExporter{Device: x.gen.dev.Name, Address: x.addr, Protocol: x.gen.proto, SamplingRate: x.gen.rate})
	}
	return out
}

// flowExporter is one device's exporter: its generator, encoder and socket.
type flowExporter struct {
	gen    *flowGen
	site   *site
	addr   netip.Addr
	conn   *net.UDPConn // nil in tests that collect datagrams in process
	target netip.AddrPort
	stats  *protoStats
	log    *slog.Logger

	v5     *v5Encoder
	tmpl   *templateEncoder
	sf     *sflowEncoder
	buf    []byte
	last   time.Time
	nextT  time.Time // next template refresh
	sinceT int
	nextC  time.Time // next counter samples
}

func newFlowExporter(g *flowGen, s *site, addr netip.Addr, domain uint32, st *protoStats, log *slog.Logger) *flowExporter {
	x := &flowExporter{gen: g, site: s, addr: addr, stats: st, log: log, buf: make([]byte, 0, maxFlowDatagram+256)}
	switch g.proto {
	case watchfloor.FlowNetFlowV5:
		x.v5 = &v5Encoder{engineID: uint8(domain), samplingRate: uint16(g.rate)}
	case watchfloor.FlowNetFlowV9:
		x.tmpl = newV9Encoder(domain, g.rate)
	case watchfloor.FlowIPFIX:
		x.tmpl = newIPFIXEncoder(domain, g.rate, g.dev.Name == "core-r2")
	case watchfloor.FlowSFlow:
		x.sf = &sflowEncoder{agent: addr, rate: g.rate}
		if !addr.Is4() {
			x.sf.agent = netip.AddrFrom4([4]byte{127, 0, 0, 1})
		}
	}
	return x
}

// step exports what the device metered since the last step; send gets each datagram
// (valid until it returns).
func (x *flowExporter) step(now time.Time, send func([]byte) error) {
	g := x.gen
	if x.last.IsZero() {
		x.last = now
	}
	g.tick(x.last, now)
	x.last = now
	d := g.dev
	if d.silent.Load() {
		// Powered off, dead, or cut off behind a dead router: nothing it exports arrives.
		return
	}
	d.mu.RLock()
	boot := d.bootAt
	d.mu.RUnlock()
	out := func(b []byte, recs int, tmpl bool) {
		if err := send(b); err != nil {
			if n := x.stats.errors.Add(1); n&(n-1) == 0 {
				x.log.Warn("cannot send flow datagram", "device", d.Name, "target", x.target.String(), "err", err, "failures", n)
			}
			return
		}
		x.stats.datagrams.Add(1)
		x.stats.records.Add(uint64(recs))
		if tmpl {
			x.stats.templates.Add(1)
		}
	}
	switch {
	case x.v5 != nil:
		for recs := g.recs; len(recs) > 0; {
			n := min(len(recs), v5MaxCount)
			x.buf = x.v5.encode(x.buf[:0], now, boot, recs[:n])
			out(x.buf, n, false)
			recs = recs[n:]
		}
	case x.tmpl != nil:
		// One data set per datagram: IPv4 records first, then IPv6.
		slices.SortStableFunc(g.recs, func(a, b flowRecord) int { return cmp.Compare(b2i(a.v6()), b2i(b.v6())) })
		for recs := g.recs; len(recs) > 0; {
			if !now.Before(x.nextT) || x.sinceT >= templateEveryDatagrams {
				x.buf = x.tmpl.encodeTemplates(x.buf[:0], now, boot)
				out(x.buf, 0, true)
				x.nextT, x.sinceT = now.Add(templateEvery), 0
			}
			n := x.tmpl.fit(recs)
			x.buf = x.tmpl.encodeData(x.buf[:0], now, boot, recs[:n])
			out(x.buf, n, false)
			x.sinceT++
			recs = recs[n:]
		}
	case x.sf != nil:
		up := uptimeMs(now, boot)
		for ss := g.samples; len(ss) > 0; {
			var n int
			x.buf, n = x.sf.encodeFlows(x.buf[:0], up, ss)
			out(x.buf, n, false)
			ss = ss[n:]
		}
		if !now.Before(x.nextC) {
			x.nextC = now.Add(counterEvery)
			g.counterSamples(now)
			for cs := g.counters; len(cs) > 0; {
				var n int
				x.buf, n = x.sf.encodeCounters(x.buf[:0], up, cs)
				if err := send(x.buf); err != nil {
					x.stats.errors.Add(1)
				} else {
					x.stats.datagrams.Add(1)
					x.stats.templates.Add(uint64(n))
				}
				cs = cs[n:]
			}
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// flowExporters are the lab's running exporters.
type flowExporters struct {
	exps  []*flowExporter
	stats [5]protoStats
	log   *slog.Logger
}

// startFlows builds the exporters of the standard site, each on a socket bound to its
// device's agent address.
func (l *Lab) startFlows() error {
	if l.opts.Devices > 0 {
		return errors.New("lab: flow export needs the standard site (Devices 0)")
	}
	var targets [2]netip.AddrPort
	for k, t := range []string{l.opts.FlowTarget, l.opts.SFlowTarget} {
		if t == "" {
			continue
		}
		ua, err := net.ResolveUDPAddr("udp", t)
		if err != nil {
			return fmt.Errorf("lab: flow target %q: %w", t, err)
		}
		targets[k] = ua.AddrPort()
	}
	gens, err := newFlowGens(l.site, float64(l.opts.FlowRecordsPerSecond), l.opts.Seed, l.opts.TimeScale)
	if err != nil {
		return err
	}
	fe := &flowExporters{log: l.log}
	l.flows = fe
	for k, g := range gens {
		target := targets[0]
		if g.proto == watchfloor.FlowSFlow {
			target = targets[1]
		}
		if !target.IsValid() {
			continue
		}
		var addr netip.Addr
		for _, a := range l.agents {
			if a.dev == g.dev {
				addr = a.Addr().Addr()
			}
		}
		conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, 0)))
		if err != nil {
			fe.close()
			return fmt.Errorf("lab: device %s: flow socket: %w", g.dev.Name, err)
		}
		_ = conn.SetWriteBuffer(1 << 20)
		x := newFlowExporter(g, l.site, addr, uint32(k+1), &fe.stats[g.proto], l.log)
		x.conn, x.target = conn, target
		fe.exps = append(fe.exps, x)
	}
	return nil
}

// run steps every exporter each flowTick until ctx is done, then closes the sockets.
func (fe *flowExporters) run(ctx context.Context) {
	defer fe.close()
	t := time.NewTicker(flowTick)
	defer t.Stop()
	for {
		now := time.Now()
		for _, x := range fe.exps {
			x.step(now, func(b []byte) error {
				_, err := x.conn.WriteToUDPAddrPort(b, x.target)
				return err
			})
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (fe *flowExporters) close() {
	for _, x := range fe.exps {
		if x.conn != nil {
			x.conn.Close()
		}
	}
}
