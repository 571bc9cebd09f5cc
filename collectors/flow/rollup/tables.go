package rollup

import (
	"net/netip"

	"github.com/watchfloor/watchfloor"
)

// The typed tables of one interval. A receive goroutine's shard fills them on the hot path;
// the closer merges shards' tables into one and folds minutes into the hour. Keys stay typed
// (addresses as 16 bytes, ports and protocols packed in integers, devices as small integers)
// until the interval is closed and its top keys are rendered as strings.

// counters are the traffic of one key.
type counters struct{ bytes, packets, flows uint64 }

// keyOf is what a table key is: comparable, and carrying the interval-local device number
// so that merging tables can renumber devices.
type keyOf[K any] interface {
	comparable
	device() uint16
	withDevice(uint16) K
}

// hostKey is one host of one device. fam is 4 or 6; a holds the address as 16 bytes
// (IPv4 as ::ffff:a.b.c.d). No padding, so maps hash it as plain memory.
type hostKey struct {
	a   [16]byte
	dev uint16
	fam uint16
}

func (k hostKey) device() uint16                { return k.dev }
func (k hostKey) withDevice(d uint16) hostKey   { k.dev = d; return k }
func (k hostKey) addr() netip.Addr              { return addrOf(k.a, uint8(k.fam)) }
func (k pairKey) device() uint16                { return k.dev }
func (k pairKey) withDevice(d uint16) pairKey   { k.dev = d; return k }
func (k numKey) device() uint16                 { return uint16(k >> 32) }
func (k numKey) withDevice(d uint16) numKey     { return numKey(d)<<32 | k&0xffffffff }
func (k numKey) value() uint32                  { return uint32(k) }
func makeNumKey(dev uint16, v uint32) numKey    { return numKey(dev)<<32 | numKey(v) }
func portValue(proto uint8, port uint16) uint32 { return uint32(proto)<<16 | uint32(port) }

// pairKey is one source→destination pair of one device; fam is srcFam<<8 | dstFam.
type pairKey struct {
	s, d [16]byte
	dev  uint16
	fam  uint16
}

// numKey is a device number in bits 32–47 and a 32-bit value: a packed protocol and port,
// a protocol, an AS number or an ifIndex.
type numKey uint64

// addrKey is a's 16 bytes and family (0 for the zero Addr, which is in no host row).
func addrKey(a netip.Addr) ([16]byte, uint16) {
	if !a.IsValid() {
		return [16]byte{}, 0
	}
	a = a.Unmap()
	if a.Is4() {
		return a.As16(), 4
	}
	return a.As16(), 6
}

func addrOf(b [16]byte, fam uint8) netip.Addr {
	if fam == 4 {
		return netip.AddrFrom4([4]byte(b[12:]))
	}
	return netip.AddrFrom16(b)
}

// dimTable counts traffic per key of one dimension: an index into dense slices, so that
// adding to an existing key is one map lookup, and clearing keeps every allocation.
type dimTable[K keyOf[K]] struct {
	idx  map[K]int32
	keys []K
	cnt  []counters
}

func (d *dimTable[K]) init() { d.idx = make(map[K]int32) }

// add adds to key k. It returns false when k is new and the table holds max keys already.
func (d *dimTable[K]) add(k K, bytes, packets, flows uint64, max int) bool {
	i, ok := d.idx[k]
	if !ok {
		if len(d.keys) >= max {
			return false
		}
		i = int32(len(d.keys))
		d.idx[k] = i
		d.keys = append(d.keys, k)
		d.cnt = append(d.cnt, counters{})
	}
	c := &d.cnt[i]
	c.bytes += bytes
	c.packets += packets
	c.flows += flows
	return true
}

func (d *dimTable[K]) reset() {
	clear(d.idx)
	d.keys = d.keys[:0]
	d.cnt = d.cnt[:0]
}

// mergeDim adds src into dst, renumbering devices with remap (-1: the device did not fit).
// It returns the flows of the keys that did not fit.
func mergeDim[K keyOf[K]](dst, src *dimTable[K], remap []int32, max int) (dropped uint64) {
	for i, k := range src.keys {
		c := src.cnt[i]
		r := remap[k.device()]
		if r < 0 || !dst.add(k.withDevice(uint16(r)), c.bytes, c.packets, c.flows, max) {
			dropped += c.flows
		}
	}
	return dropped
}

// ifEntry is the traffic of one interface. flows counts records that crossed it (once
// even when it is both the input and the output). in5m/out5m are used by hour tables.
type ifEntry struct {
	in, out     counters
	flows       uint64
	name        string
	speed       uint64
	in5m, out5m [12]uint64
}

type ifTable struct {
	idx  map[numKey]int32
	keys []numKey
	ent  []ifEntry
}

func (t *ifTable) get(k numKey, max int) *ifEntry {
	i, ok := t.idx[k]
	if !ok {
		if len(t.keys) >= max {
			return nil
		}
		i = int32(len(t.keys))
		t.idx[k] = i
		t.keys = append(t.keys, k)
		t.ent = append(t.ent, ifEntry{})
	}
	return &t.ent[i]
}

func (t *ifTable) reset() {
	clear(t.idx)
	t.keys = t.keys[:0]
	clear(t.ent) // drop the interface names
	t.ent = t.ent[:0]
}

// devKey names a device: its configured name, or the exporter's address when it has none.
type devKey struct {
	name string
	addr netip.Addr
}

// maxDevices bounds the devices of one interval's table (the device number is 16 bits).
const maxDevices = 1<<16 - 1

// tables are the typed tables of one interval.
type tables struct {
	unit    int64 // the minute (or, for hour tables, the hour) since the Unix epoch
	records uint64
	totals  watchfloor.FlowTotals
	// overflow counts, per dimension, records that did not fit (for the metric).
	overflow [numDims]uint64

	devIdx map[devKey]uint16
	devs   []devKey
	// the device of the last record, which is most often the device of the next one
	lastName string
	lastAddr netip.Addr
	lastDev  uint16
	lastOK   bool

	src, dst               dimTable[hostKey]
	pair                   dimTable[pairKey]
	port, proto, as, dstAS dimTable[numKey]
	ifs                    ifTable
}

func newTables() *tables {
	t := &tables{devIdx: make(map[devKey]uint16)}
	t.src.init()
	t.dst.init()
	t.pair.init()
	t.port.init()
	t.proto.init()
	t.as.init()
	t.dstAS.init()
	t.ifs.idx = make(map[numKey]int32)
	return t
}

func (t *tables) reset() {
	t.unit, t.records, t.totals, t.overflow = 0, 0, watchfloor.FlowTotals{}, [numDims]uint64{}
	clear(t.devIdx)
	clear(t.devs)
	t.devs = t.devs[:0]
	t.lastName, t.lastAddr, t.lastDev, t.lastOK = "", netip.Addr{}, 0, false
	t.src.reset()
	t.dst.reset()
	t.pair.reset()
	t.port.reset()
	t.proto.reset()
	t.as.reset()
	t.dstAS.reset()
	t.ifs.reset()
}

// deviceOf returns the interval-local number of a device, false when the table is full.
func (t *tables) deviceOf(k devKey) (uint16, bool) {
	if k.name != "" {
		k.addr = netip.Addr{}
	}
	if d, ok := t.devIdx[k]; ok {
		return d, true
	}
	if len(t.devs) >= maxDevices {
		return 0, false
	}
	d := uint16(len(t.devs))
	t.devIdx[k] = d
	t.devs = append(t.devs, k)
	return d, true
}

// portless protocols are ranked by name alone: their "ports" are ICMP types or nothing.
func portless(proto uint8) bool {
	switch proto {
	case 1, 47, 50, 58:
		return true
	}
	return false
}

// addFlow adds one record. This is the hot path: no allocation once the tables have grown.
func (t *tables) addFlow(f *watchfloor.Flow, max int) {
	t.records++
	t.totals.Bytes += f.Bytes
	t.totals.Packets += f.Packets
	t.totals.Flows++

	dev, ok := t.lastDev, t.lastOK
	if !ok || f.Device != t.lastName || (f.Device == "" && f.Exporter != t.lastAddr) {
		dev, ok = t.deviceOf(devKey{f.Device, f.Exporter})
		t.lastName, t.lastAddr, t.lastDev, t.lastOK = f.Device, f.Exporter, dev, ok
	}
	if !ok {
		t.overflow[dimDevice]++
		t.totals.Overflow++
		return
	}
	b, p := f.Bytes, f.Packets
	over := false
	sa, sf := addrKey(f.SrcAddr)
	da, df := addrKey(f.DstAddr)
	if sf != 0 && !t.src.add(hostKey{sa, dev, sf}, b, p, 1, max) {
		t.overflow[dimSrc]++
		over = true
	}
	if df != 0 && !t.dst.add(hostKey{da, dev, df}, b, p, 1, max) {
		t.overflow[dimDst]++
		over = true
	}
	if sf != 0 && df != 0 && !t.pair.add(pairKey{sa, da, dev, sf<<8 | df}, b, p, 1, max) {
		t.overflow[dimPair]++
		over = true
	}
	port := f.DstPort
	if portless(f.Proto) {
		port = 0
	}
	if !t.port.add(makeNumKey(dev, portValue(f.Proto, port)), b, p, 1, max) {
		t.overflow[dimPort]++
		over = true
	}
	if !t.proto.add(makeNumKey(dev, uint32(f.Proto)), b, p, 1, max) {
		t.overflow[dimProto]++
		over = true
	}
	if f.SrcAS != 0 && !t.as.add(makeNumKey(dev, f.SrcAS), b, p, 1, max) {
		t.overflow[dimAS]++
		over = true
	}
	if f.DstAS != 0 && !t.dstAS.add(makeNumKey(dev, f.DstAS), b, p, 1, max) {
		t.overflow[dimDstAS]++
		over = true
	}
	ifOver := false
	if f.InIf != 0 {
		if e := t.ifs.get(makeNumKey(dev, f.InIf), max); e != nil {
			e.in.bytes += b
			e.in.packets += p
			e.in.flows++
			e.flows++
			if f.InIfName != "" {
				e.name = f.InIfName
			}
			if f.InSpeed != 0 {
				e.speed = f.InSpeed
			}
		} else {
			ifOver = true
		}
	}
	if f.OutIf != 0 {
		if e := t.ifs.get(makeNumKey(dev, f.OutIf), max); e != nil {
			e.out.bytes += b
			e.out.packets += p
			e.out.flows++
			if f.OutIf != f.InIf {
				e.flows++
			}
			if f.OutIfName != "" {
				e.name = f.OutIfName
			}
			if f.OutSpeed != 0 {
				e.speed = f.OutSpeed
			}
		} else {
			ifOver = true
		}
	}
	if ifOver {
		t.overflow[dimInterface]++
		over = true
	}
	if over {
		t.totals.Overflow++
	}
}

// merge adds src into dst with at most max keys per dimension in dst. slot ≥ 0 adds src's
// interface bytes to that 5-minute slot of dst (folding a minute into its hour). It returns
// per dimension the flows of src's keys that did not fit; remap is scratch space.
func (dst *tables) merge(src *tables, max, slot int, remap []int32) (dropped [numDims]uint64, _ []int32) {
	dst.records += src.records
	dst.totals.Bytes += src.totals.Bytes
	dst.totals.Packets += src.totals.Packets
	dst.totals.Flows += src.totals.Flows
	dst.totals.Overflow += src.totals.Overflow
	remap = remap[:0]
	for _, k := range src.devs {
		d, ok := dst.deviceOf(k)
		if !ok {
			remap = append(remap, -1)
			continue
		}
		remap = append(remap, int32(d))
	}
	dropped[dimSrc] = mergeDim(&dst.src, &src.src, remap, max)
	dropped[dimDst] = mergeDim(&dst.dst, &src.dst, remap, max)
	dropped[dimPair] = mergeDim(&dst.pair, &src.pair, remap, max)
	dropped[dimPort] = mergeDim(&dst.port, &src.port, remap, max)
	dropped[dimProto] = mergeDim(&dst.proto, &src.proto, remap, max)
	dropped[dimAS] = mergeDim(&dst.as, &src.as, remap, max)
	dropped[dimDstAS] = mergeDim(&dst.dstAS, &src.dstAS, remap, max)
	for i, k := range src.ifs.keys {
		s := &src.ifs.ent[i]
		r := remap[k.device()]
		var e *ifEntry
		if r >= 0 {
			e = dst.ifs.get(k.withDevice(uint16(r)), max)
		}
		if e == nil {
			dropped[dimInterface] += s.flows
			continue
		}
		addCounters(&e.in, s.in)
		addCounters(&e.out, s.out)
		e.flows += s.flows
		if s.name != "" {
			e.name = s.name
		}
		if s.speed != 0 {
			e.speed = s.speed
		}
		for j := range e.in5m {
			e.in5m[j] += s.in5m[j]
			e.out5m[j] += s.out5m[j]
		}
		if slot >= 0 && slot < len(e.in5m) {
			e.in5m[slot] += s.in.bytes
			e.out5m[slot] += s.out.bytes
		}
	}
	return dropped, remap
}

func addCounters(c *counters, o counters) {
	c.bytes += o.bytes
	c.packets += o.packets
	c.flows += o.flows
}
