package rollup

import (
	"cmp"
	"slices"
	"strconv"
	"time"

	"github.com/watchfloor/watchfloor"
)

// selector holds the closer's scratch space for ranking, reused from close to close.
type selector struct {
	offsets []int32 // per device, where its keys start in order
	order   []int32 // key indices grouped by device
	heap    []int32
	out     []int32
	mark    []bool
	cnt     []counters // interface totals (in+out) for ranking interfaces
}

// group sorts the indices 0..n-1 by device (a counting sort) into s.order; the keys of
// device d are s.order[s.offsets[d]:s.offsets[d+1]].
func (s *selector) group(ndev, n int, devOf func(int) uint16) {
	s.offsets = slices.Grow(s.offsets[:0], ndev+1)[:ndev+1]
	clear(s.offsets)
	for i := range n {
		s.offsets[devOf(i)+1]++
	}
	for d := 1; d <= ndev; d++ {
		s.offsets[d] += s.offsets[d-1]
	}
	s.order = slices.Grow(s.order[:0], n)[:n]
	// fill with a moving cursor per device, then shift the offsets back
	for i := range n {
		d := devOf(i)
		s.order[s.offsets[d]] = int32(i)
		s.offsets[d]++
	}
	copy(s.offsets[1:], s.offsets[:ndev])
	s.offsets[0] = 0
}

// top returns the union of the top n of g by bytes and the top n by packets. Ties rank by
// the other counter, then flows, then the earlier key. The result is valid until the next call.
func (s *selector) top(g []int32, cnt []counters, n int) []int32 {
	if len(g) <= n {
		return g
	}
	if len(s.mark) < len(cnt) {
		s.mark = make([]bool, len(cnt))
	}
	s.out = s.out[:0]
	byBytes := func(a, b int32) bool { // a ranks below b
		x, y := &cnt[a], &cnt[b]
		if x.bytes != y.bytes {
			return x.bytes < y.bytes
		}
		if x.packets != y.packets {
			return x.packets < y.packets
		}
		if x.flows != y.flows {
			return x.flows < y.flows
		}
		return a > b
	}
	byPackets := func(a, b int32) bool {
		x, y := &cnt[a], &cnt[b]
		if x.packets != y.packets {
			return x.packets < y.packets
		}
		if x.bytes != y.bytes {
			return x.bytes < y.bytes
		}
		if x.flows != y.flows {
			return x.flows < y.flows
		}
		return a > b
	}
	for _, below := range []func(a, b int32) bool{byBytes, byPackets} {
		h := s.heap[:0]
		for _, i := range g {
			if len(h) < n {
				h = append(h, i)
				siftUp(h, len(h)-1, below)
			} else if below(h[0], i) {
				h[0] = i
				siftDown(h, 0, below)
			}
		}
		for _, i := range h {
			if !s.mark[i] {
				s.mark[i] = true
				s.out = append(s.out, i)
			}
		}
		s.heap = h
	}
	for _, i := range s.out {
		s.mark[i] = false
	}
	return s.out
}

// siftUp and siftDown keep h a min-heap under below (the root ranks lowest).
func siftUp(h []int32, i int, below func(a, b int32) bool) {
	for i > 0 {
		p := (i - 1) / 2
		if !below(h[i], h[p]) {
			return
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func siftDown(h []int32, i int, below func(a, b int32) bool) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		m := l
		if r := l + 1; r < len(h) && below(h[r], h[l]) {
			m = r
		}
		if !below(h[m], h[i]) {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

// render turns closed tables into a rollup: the ranked rows of every dimension, every
// interface, the totals. Keys become strings here and only here.
func (a *Aggregator) render(t *tables, start time.Time, step time.Duration) watchfloor.FlowRollup {
	r := watchfloor.FlowRollup{Site: a.site, Start: start, Step: step, Totals: t.totals}
	names := make([]string, len(t.devs))
	for i, d := range t.devs {
		names[i] = d.name
		if d.name == "" && d.addr.IsValid() {
			names[i] = d.addr.String()
		}
	}
	// devices in name order, so that rows come out the same way every time
	devOrder := make([]int, len(names))
	for i := range devOrder {
		devOrder[i] = i
	}
	slices.SortFunc(devOrder, func(x, y int) int { return cmp.Compare(names[x], names[y]) })

	s, n := &a.sel, a.cfg.TopN
	rows := make([]watchfloor.FlowRow, 0, 64)
	rows = topRows(s, &t.src, watchfloor.FlowBySrc, names, devOrder, n, rows, func(k hostKey) string { return k.addr().String() })
	rows = topRows(s, &t.dst, watchfloor.FlowByDst, names, devOrder, n, rows, func(k hostKey) string { return k.addr().String() })
	rows = topRows(s, &t.pair, watchfloor.FlowByPair, names, devOrder, n, rows, func(k pairKey) string {
		return addrOf(k.s, uint8(k.fam>>8)).String() + PairSeparator + addrOf(k.d, uint8(k.fam)).String()
	})
	rows = topRows(s, &t.port, watchfloor.FlowByPort, names, devOrder, n, rows, func(k numKey) string {
		v := k.value()
		return PortName(uint8(v>>16), uint16(v))
	})
	rows = topRows(s, &t.proto, watchfloor.FlowByProto, names, devOrder, n, rows, func(k numKey) string { return ProtoName(uint8(k.value())) })
	rows = topRows(s, &t.as, watchfloor.FlowByAS, names, devOrder, n, rows, func(k numKey) string { return ASName(k.value()) })
	rows = topRows(s, &t.dstAS, watchfloor.FlowByDstAS, names, devOrder, n, rows, func(k numKey) string { return ASName(k.value()) })

	// interfaces: all of them, and the top of them as rows
	ifs := &t.ifs
	hour := step == time.Hour
	r.Interfaces = make([]watchfloor.IfTraffic, 0, len(ifs.keys))
	s.cnt = s.cnt[:0]
	for i, k := range ifs.keys {
		e := &ifs.ent[i]
		it := watchfloor.IfTraffic{
			Device: names[k.device()], IfIndex: k.value(), Interface: e.name, SpeedBps: e.speed,
			InBytes: e.in.bytes, OutBytes: e.out.bytes, InPackets: e.in.packets, OutPackets: e.out.packets,
		}
		if hour {
			it.In5m = slices.Clone(e.in5m[:])
			it.Out5m = slices.Clone(e.out5m[:])
		}
		r.Interfaces = append(r.Interfaces, it)
		s.cnt = append(s.cnt, counters{e.in.bytes + e.out.bytes, e.in.packets + e.out.packets, e.flows})
	}
	s.group(len(names), len(ifs.keys), func(i int) uint16 { return ifs.keys[i].device() })
	for _, d := range devOrder {
		from := len(rows)
		for _, i := range s.top(s.order[s.offsets[d]:s.offsets[d+1]], s.cnt, n) {
			c, k := s.cnt[i], ifs.keys[i]
			rows = append(rows, watchfloor.FlowRow{
				By: watchfloor.FlowByInterface, Device: names[d], Key: InterfaceName(names[d], ifs.ent[i].name, k.value()),
				Bytes: c.bytes, Packets: c.packets, Flows: c.flows,
			})
		}
		sortRows(rows[from:])
	}
	sortInterfaces(r.Interfaces)
	r.Rows = rows
	return r
}

// topRows appends the top rows of one dimension, device by device in devOrder.
func topRows[K keyOf[K]](s *selector, d *dimTable[K], by watchfloor.FlowDim, names []string, devOrder []int, n int,
	rows []watchfloor.FlowRow, key func(K) string) []watchfloor.FlowRow {
	s.group(len(names), len(d.keys), func(i int) uint16 { return d.keys[i].device() })
	for _, dev := range devOrder {
		from := len(rows)
		for _, i := range s.top(s.order[s.offsets[dev]:s.offsets[dev+1]], d.cnt, n) {
			c := d.cnt[i]
			rows = append(rows, watchfloor.FlowRow{
				By: by, Device: names[dev], Key: key(d.keys[i]), Bytes: c.bytes, Packets: c.packets, Flows: c.flows,
			})
		}
		sortRows(rows[from:])
	}
	return rows
}

// sortRows orders the rows of one dimension and device: bytes, then packets, descending,
// then key.
func sortRows(rows []watchfloor.FlowRow) {
	slices.SortFunc(rows, func(x, y watchfloor.FlowRow) int {
		if c := cmp.Compare(y.Bytes, x.Bytes); c != 0 {
			return c
		}
		if c := cmp.Compare(y.Packets, x.Packets); c != 0 {
			return c
		}
		return cmp.Compare(x.Key, y.Key)
	})
}

func sortInterfaces(ifs []watchfloor.IfTraffic) {
	slices.SortFunc(ifs, func(x, y watchfloor.IfTraffic) int {
		if c := cmp.Compare(x.Device, y.Device); c != 0 {
			return c
		}
		return cmp.Compare(x.IfIndex, y.IfIndex)
	})
}

// PairSeparator joins the source and destination of a FlowByPair key: "192.0.2.1 → 198.51.100.7"
// (U+2192 between spaces).
const PairSeparator = " → "

var protoNames = map[uint8]string{1: "icmp", 6: "tcp", 17: "udp", 47: "gre", 50: "esp", 58: "ipv6-icmp", 132: "sctp"}

// ProtoName is the FlowByProto key of an IP protocol: its name for icmp, tcp, udp, gre, esp,
// ipv6-icmp and sctp, its number otherwise.
func ProtoName(proto uint8) string {
	if n, ok := protoNames[proto]; ok {
		return n
	}
	return strconv.Itoa(int(proto))
}

// PortName is the FlowByPort key of a protocol and destination port: "tcp/443", "udp/53",
// "sctp/2905"; the name alone for icmp, ipv6-icmp, gre and esp (whose ports are ICMP types or
// nothing); "proto/N/PORT" for other protocols.
func PortName(proto uint8, port uint16) string {
	if portless(proto) {
		return protoNames[proto]
	}
	if n, ok := protoNames[proto]; ok {
		return n + "/" + strconv.Itoa(int(port))
	}
	return "proto/" + strconv.Itoa(int(proto)) + "/" + strconv.Itoa(int(port))
}

// ASName is the FlowByAS and FlowByDstAS key of an AS number: "AS64500".
func ASName(as uint32) string { return "AS" + strconv.FormatUint(uint64(as), 10) }

// InterfaceName is the FlowByInterface key of an interface: "DEVICE/IFNAME", or
// "DEVICE/ifIndex N" when its name is not known.
func InterfaceName(device, name string, ifIndex uint32) string {
	if name == "" {
		return device + "/ifIndex " + strconv.FormatUint(uint64(ifIndex), 10)
	}
	return device + "/" + name
}
