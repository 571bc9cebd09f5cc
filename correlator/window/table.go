package window

import (
	"bytes"
	"hash/maphash"
	"time"
	"unsafe"
)

// kind is what a table needs from the structure built on it: per-slot state
// kept in parallel arrays indexed by slot id.
type kind interface {
	// grow makes the kind's per-slot arrays hold n slots.
	grow(n int)
	// release resets slot id's state before the slot is reused.
	release(id int32)
	// slotBytes is the fixed size of the kind's arrays per slot.
	slotBytes() int64
	// firing reports whether slot id is in an alerting state (for OnEvict).
	firing(id int32) bool
}

// slot is one group's table entry.
type slot struct {
	key   []byte
	hash  uint64
	last  int64 // newest event time of the group (ns)
	head  int64 // bucket index of the group's newest bucket (window kinds)
	chain int32 // next slot with the same hash
	prev  int32 // LRU neighbours, most recent at table.head
	next  int32
	held  bool // the condition held at the previous evaluation
	live  bool
}

const (
	nilSlot = int32(-1)
	// mapEntryBytes estimates a Go map[uint64]int32 entry at its worst load
	// (Swiss table slots, control bytes, power-of-two growth).
	mapEntryBytes = 40
	slotSize      = int64(unsafe.Sizeof(slot{}))
)

// table maps group keys to slots, keeps them in least-recently-updated
// order, and enforces MaxGroups, MaxBytes and lateness.
type table struct {
	cfg       Config
	span      int64 // timespan (ns)
	width     int64 // bucket width (ns)
	nb        int64 // buckets per window
	seed      maphash.Seed
	index     map[uint64]int32
	slots     []slot
	free      []int32
	lru, tail int32
	n, peak   int
	watermark int64
	started   bool
	keyBytes  int64 // capacity of the slots' key buffers
	extra     int64 // variable-size state accounted by the kind
	k         kind
	onEvict   func(key []byte, firing bool)
	c         counters
}

func (t *table) init(cfg Config, span time.Duration, k kind) {
	t.cfg = cfg
	t.span = int64(span)
	t.nb = int64(cfg.Buckets)
	t.width = (t.span + t.nb - 1) / t.nb
	t.seed = maphash.MakeSeed()
	t.index = make(map[uint64]int32)
	t.free = make([]int32, 0, 16)
	t.lru, t.tail = nilSlot, nilSlot
	t.k = k
}

// bytes estimates the memory held: fixed arrays at their capacity, key
// buffers, the index at its peak size, and the kind's variable state.
func (t *table) bytes() int64 {
	return int64(cap(t.slots))*(slotSize+t.k.slotBytes()) + t.keyBytes +
		int64(t.peak)*mapEntryBytes + int64(cap(t.free))*4 + t.extra
}

// admit applies lateness: it advances the watermark and reports whether a
// record at ns still counts. Late records are counted.
func (t *table) admit(ns int64) bool {
	if !t.started {
		t.started, t.watermark = true, ns
		return true
	}
	if ns > t.watermark {
		t.watermark = ns
		return true
	}
	if t.watermark-ns > int64(t.cfg.Lateness) {
		t.c.late.Add(1)
		return false
	}
	return true
}

// advance moves the watermark to now (Tick).
func (t *table) advance(now int64) {
	if !t.started || now > t.watermark {
		t.started, t.watermark = true, now
	}
}

func (t *table) bucket(ns int64) int64 {
	q := ns / t.width
	if ns%t.width < 0 {
		q--
	}
	return q
}

func (t *table) hashOf(key []byte) uint64 { return maphash.Bytes(t.seed, key) }

// find returns the slot of key, or nilSlot.
func (t *table) find(key []byte, h uint64) int32 {
	id, ok := t.index[h]
	if !ok {
		return nilSlot
	}
	for ; id != nilSlot; id = t.slots[id].chain {
		if bytes.Equal(t.slots[id].key, key) {
			return id
		}
	}
	return nilSlot
}

// get returns key's slot, creating it (and evicting to make room) when new.
// The slot becomes the most recently updated and its last time is raised to ns.
func (t *table) get(key []byte, ns int64) (id int32, fresh bool) {
	h := t.hashOf(key)
	if id = t.find(key, h); id != nilSlot {
		t.touch(id)
		if s := &t.slots[id]; ns > s.last {
			s.last = ns
		}
		return id, false
	}
	id = t.alloc(int64(len(key)))
	s := &t.slots[id]
	if cap(s.key) < len(key) {
		t.keyBytes -= int64(cap(s.key))
		s.key = make([]byte, len(key), max(len(key), 16))
		t.keyBytes += int64(cap(s.key))
	}
	s.key = s.key[:len(key)]
	copy(s.key, key)
	s.hash, s.last, s.head, s.held, s.live = h, ns, 0, false, true
	if first, ok := t.index[h]; ok {
		s.chain = first
	} else {
		s.chain = nilSlot
	}
	t.index[h] = id
	s.prev, s.next = nilSlot, t.lru
	if t.lru != nilSlot {
		t.slots[t.lru].prev = id
	} else {
		t.tail = id
	}
	t.lru = id
	t.n++
	t.peak = max(t.peak, t.n)
	t.c.groups.Store(int64(t.n))
	return id, true
}

// alloc finds a slot for a new group: a released one, spare capacity, new
// capacity when MaxGroups and MaxBytes allow, else the least recently
// updated group's. Evicted slots keep their key buffers for reuse.
func (t *table) alloc(keyLen int64) int32 {
	for t.n >= t.cfg.MaxGroups {
		t.evict(t.tail)
	}
	if id, ok := t.pop(); ok {
		return id
	}
	need := max(keyLen, 16)
	if t.n+1 > t.peak {
		need += mapEntryBytes
	}
	if len(t.slots) == cap(t.slots) {
		newCap := min(max(2*cap(t.slots), 64), t.cfg.MaxGroups)
		need += int64(newCap-cap(t.slots)) * (slotSize + t.k.slotBytes())
	}
	if t.n > 0 && t.bytes()+need > t.cfg.MaxBytes {
		t.evict(t.tail)
		id, _ := t.pop()
		return id
	}
	if len(t.slots) == cap(t.slots) {
		newCap := min(max(2*cap(t.slots), 64), t.cfg.MaxGroups)
		s := make([]slot, len(t.slots), newCap)
		copy(s, t.slots)
		t.slots = s
		t.k.grow(newCap)
	}
	t.slots = t.slots[:len(t.slots)+1]
	return int32(len(t.slots) - 1)
}

func (t *table) pop() (int32, bool) {
	l := len(t.free)
	if l == 0 {
		return nilSlot, false
	}
	id := t.free[l-1]
	t.free = t.free[:l-1]
	return id, true
}

// fit evicts least recently updated groups other than keep until the
// structure is under MaxBytes (after a group's state grew).
func (t *table) fit(keep int32) {
	for t.bytes() > t.cfg.MaxBytes && t.tail != keep && t.tail != nilSlot {
		t.evict(t.tail)
	}
}

// room reports whether need more bytes fit after evicting others than keep.
func (t *table) room(keep int32, need int64) bool {
	for t.bytes()+need > t.cfg.MaxBytes && t.tail != keep && t.tail != nilSlot {
		t.evict(t.tail)
	}
	return t.bytes()+need <= t.cfg.MaxBytes
}

func (t *table) evict(id int32) {
	if t.onEvict != nil {
		t.onEvict(t.slots[id].key, t.k.firing(id))
	}
	t.remove(id)
	t.c.evictions.Add(1)
}

func (t *table) touch(id int32) {
	if t.lru == id {
		return
	}
	s := &t.slots[id]
	t.slots[s.prev].next = s.next
	if s.next != nilSlot {
		t.slots[s.next].prev = s.prev
	} else {
		t.tail = s.prev
	}
	s.prev, s.next = nilSlot, t.lru
	t.slots[t.lru].prev = id
	t.lru = id
}

// remove releases slot id.
func (t *table) remove(id int32) {
	t.k.release(id)
	s := &t.slots[id]
	if s.prev != nilSlot {
		t.slots[s.prev].next = s.next
	} else {
		t.lru = s.next
	}
	if s.next != nilSlot {
		t.slots[s.next].prev = s.prev
	} else {
		t.tail = s.prev
	}
	if first := t.index[s.hash]; first == id {
		if s.chain == nilSlot {
			delete(t.index, s.hash)
		} else {
			t.index[s.hash] = s.chain
		}
	} else {
		for p := first; p != nilSlot; p = t.slots[p].chain {
			if t.slots[p].chain == id {
				t.slots[p].chain = s.chain
				break
			}
		}
	}
	s.live, s.held, s.chain, s.prev, s.next = false, false, nilSlot, nilSlot, nilSlot
	t.free = append(t.free, id)
	t.n--
	t.c.groups.Store(int64(t.n))
}

// expireBefore drops groups whose newest record is older than cutoff,
// walking from the least recently updated; emit, when set, sees each first.
func (t *table) expireBefore(cutoff int64, emit func(id int32)) {
	for t.tail != nilSlot && t.slots[t.tail].last < cutoff {
		id := t.tail
		if emit != nil {
			emit(id)
		}
		t.remove(id)
		t.c.expired.Add(1)
	}
}

// windowStart is the start of the window ending in bucket head.
func (t *table) windowStart(head int64) time.Time {
	return time.Unix(0, (head-t.nb+1)*t.width)
}

// slide moves slot id's newest bucket to c and returns the bucket indices
// (from..c) whose ring positions must be cleared; from > c when none. A
// record in a bucket older than the window is late: ok is false.
func (t *table) slide(id int32, c int64, fresh bool) (from int64, ok bool) {
	s := &t.slots[id]
	switch {
	case fresh:
		s.head = c
		return c + 1, true
	case c > s.head:
		from = max(s.head+1, c-t.nb+1)
		s.head = c
		return from, true
	case c <= s.head-t.nb:
		t.c.late.Add(1)
		return c + 1, false
	}
	return c + 1, true
}

func (t *table) ring(id int32, b int64) int {
	p := b % t.nb
	if p < 0 {
		p += t.nb
	}
	return int(id)*int(t.nb) + int(p)
}

// edge records whether the condition holds now and reports a rising edge.
func (t *table) edge(id int32, holds bool) (rising bool) {
	s := &t.slots[id]
	rising = holds && !s.held
	s.held = holds
	return rising
}

func (t *table) Stats() Stats { return t.c.snapshot() }
