package decode

import (
	"net/netip"
	"slices"
	"time"

	"github.com/watchfloor/watchfloor"
)

// addrKey is an address as a map key without pointers (netip.Addr holds one), so that the
// garbage collector does not scan tables of a million entries.
type addrKey struct {
	a  [16]byte
	v6 bool
}

func keyOf(a netip.Addr) addrKey { return addrKey{a.As16(), a.Is6()} }

func (k addrKey) addr() netip.Addr {
	if k.v6 {
		return netip.AddrFrom16(k.a)
	}
	return netip.AddrFrom4([4]byte(k.a[12:]))
}

// attemptKey names a connection attempt as its SYN goes: source to destination.
type attemptKey struct {
	src, dst     addrKey
	sport, dport uint16
}

func newAttemptKey(src, dst netip.Addr, sport, dport uint16) attemptKey {
	return attemptKey{keyOf(src), keyOf(dst), sport, dport}
}

type attempt struct {
	key        attemptKey
	seen       int64 // the last SYN, Unix ns
	prev, next int32 // slab indexes, -1 for none; next links the free list too
}

// tracker holds the unanswered connection attempts in a slab, indexed by a map and linked
// in the order of their last SYN, so that expiring the oldest, answering one and refreshing
// a retransmitted SYN are all O(1) and allocate nothing once the slab has grown.
type tracker struct {
	max     int
	timeout int64
	idx     map[attemptKey]int32
	slab    []attempt
	free    int32
	head    int32 // oldest
	tail    int32 // newest
	perDst  map[addrKey]uint32
}

func (t *tracker) init(max int, timeout int64) {
	t.max, t.timeout = max, timeout
	t.idx = map[attemptKey]int32{}
	t.perDst = map[addrKey]uint32{}
	t.free, t.head, t.tail = -1, -1, -1
}

func (t *tracker) unlink(i int32) {
	a := &t.slab[i]
	if a.prev >= 0 {
		t.slab[a.prev].next = a.next
	} else {
		t.head = a.next
	}
	if a.next >= 0 {
		t.slab[a.next].prev = a.prev
	} else {
		t.tail = a.prev
	}
}

func (t *tracker) link(i int32) {
	a := &t.slab[i]
	a.prev, a.next = t.tail, -1
	if t.tail >= 0 {
		t.slab[t.tail].next = i
	} else {
		t.head = i
	}
	t.tail = i
}

// syn records an attempt seen at now (a retransmission refreshes it) and returns its
// destination's half-open count.
func (t *tracker) syn(k attemptKey, now int64, c *counts) uint32 {
	if i, ok := t.idx[k]; ok {
		t.unlink(i)
		t.slab[i].seen = now
		t.link(i)
		return t.perDst[k.dst]
	}
	if len(t.idx) >= t.max {
		c.overflow[tableAttempts]++
		return t.perDst[k.dst]
	}
	var i int32
	if t.free >= 0 {
		i = t.free
		t.free = t.slab[i].next
	} else {
		t.slab = append(t.slab, attempt{})
		i = int32(len(t.slab) - 1)
	}
	t.slab[i] = attempt{key: k, seen: now}
	t.link(i)
	t.idx[k] = i
	n := t.perDst[k.dst] + 1
	t.perDst[k.dst] = n
	c.tracked++
	return n
}

// answer forgets the attempt k, if tracked.
func (t *tracker) answer(k attemptKey, c *counts) {
	if i, ok := t.idx[k]; ok {
		t.remove(i, c)
	}
}

func (t *tracker) remove(i int32, c *counts) {
	k := t.slab[i].key
	t.unlink(i)
	delete(t.idx, k)
	if n := t.perDst[k.dst]; n > 1 {
		t.perDst[k.dst] = n - 1
	} else {
		delete(t.perDst, k.dst)
	}
	t.slab[i] = attempt{next: t.free, prev: -1}
	t.free = i
	c.tracked--
}

// expire forgets the attempts whose last SYN is HalfOpenTimeout or more before now.
func (t *tracker) expire(now int64, c *counts) {
	for t.head >= 0 && t.slab[t.head].seen <= now-t.timeout {
		t.remove(t.head, c)
		c.expired++
	}
}

func (t *tracker) reset(c *counts) {
	c.tracked -= int64(len(t.idx))
	clear(t.idx)
	clear(t.perDst)
	t.slab = t.slab[:0]
	t.free, t.head, t.tail = -1, -1, -1
}

// hostTable counts one interval's packets and bytes per source host, in the order hosts
// first appeared (so that a replay gives the same rows in the same order).
type hostTable struct {
	max  int
	idx  map[addrKey]int32
	rows []hostRow
}

type hostRow struct {
	key            addrKey
	packets, bytes uint64
}

func (h *hostTable) init(max int) {
	h.max = max
	h.idx = map[addrKey]int32{}
}

func (h *hostTable) add(a netip.Addr, bytes uint64, c *counts) {
	k := keyOf(a)
	if i, ok := h.idx[k]; ok {
		h.rows[i].packets++
		h.rows[i].bytes += bytes
		return
	}
	if len(h.rows) >= h.max {
		c.overflow[tableHosts]++
		return
	}
	h.idx[k] = int32(len(h.rows))
	h.rows = append(h.rows, hostRow{k, 1, bytes})
}

func (h *hostTable) reset() {
	clear(h.idx)
	h.rows = h.rows[:0]
}

// alignEnd returns the end of the interval holding t (Unix ns); intervals are multiples of
// the interval length since the Unix epoch.
func (d *Decoder) alignEnd(t int64) int64 {
	m := t % d.ivNano
	if m < 0 {
		m += d.ivNano
	}
	return t - m + d.ivNano
}

// advance moves packet time to now (never backwards) and, when that closes the current
// interval, appends its summaries to out.
func (d *Decoder) advance(now int64, out *Output) {
	d.now = max(d.now, now)
	if d.ivEnd == 0 {
		d.ivEnd = d.alignEnd(d.now)
		return
	}
	if d.now < d.ivEnd {
		return
	}
	d.track.expire(d.ivEnd, &d.c) // the half-open count as the interval ended
	d.summaries(d.ivEnd, out)
	d.ivEnd = d.alignEnd(d.now)
	d.c.flush(d.m)
}

// summaries appends the host.traffic rows of the interval ending at end, and a
// tcp.half_open row per destination with attempts half-open now (by address), and empties
// the host table.
func (d *Decoder) summaries(end int64, out *Output) {
	ts := time.Unix(0, end).UTC()
	for _, r := range d.hosts.rows {
		out.Obs = append(out.Obs, watchfloor.Observation{Time: ts, Kind: watchfloor.ObsHostTraffic,
			SamplingRate: d.rate, SrcAddr: r.key.addr(), Packets: r.packets, Bytes: r.bytes})
	}
	d.c.obs[watchfloor.ObsHostTraffic] += uint64(len(d.hosts.rows))
	d.hosts.reset()
	start := len(out.Obs)
	for k, n := range d.track.perDst {
		out.Obs = append(out.Obs, watchfloor.Observation{Time: ts, Kind: watchfloor.ObsHalfOpen,
			SamplingRate: d.rate, DstAddr: k.addr(), HalfOpen: n})
	}
	slices.SortFunc(out.Obs[start:], func(a, b watchfloor.Observation) int { return a.DstAddr.Compare(b.DstAddr) })
	d.c.obs[watchfloor.ObsHalfOpen] += uint64(len(out.Obs) - start)
}

// Tick emits the per-interval summaries due at packet time now (host.traffic per source
// host, tcp.half_open per destination with half-open > 0), expires unanswered attempts and
// adds the Decoder's counts to Metrics. The collector calls it after each batch with the
// last packet's time, and with the wall clock when idle (live capture only: the wall clock
// would close a replay's intervals early). Before the first packet it only adds the counts.
func (d *Decoder) Tick(now time.Time, out *Output) {
	if d.ivEnd != 0 && !now.IsZero() {
		d.advance(now.UnixNano(), out)
		d.track.expire(d.now, &d.c)
	}
	d.c.flush(d.m)
}

// Flush emits everything pending (the end of a capture file): the summaries due at now as
// Tick does, then those of the interval in progress (with its end as their time) — its host
// traffic and the attempts still half-open — and forgets all state, so that the next packet
// starts afresh (another file may go back in time).
func (d *Decoder) Flush(now time.Time, out *Output) {
	if d.ivEnd != 0 {
		if !now.IsZero() {
			d.advance(now.UnixNano(), out)
		}
		d.track.expire(d.now, &d.c)
		d.summaries(d.ivEnd, out)
	}
	d.track.reset(&d.c)
	d.hosts.reset()
	d.now, d.ivEnd = 0, 0
	d.c.flush(d.m)
}
