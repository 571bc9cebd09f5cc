package window

import (
	"time"
	"unsafe"
)

var sizeofSketch = unsafe.Sizeof(sketch{})

// dent is one distinct value of a group: its (mixed) hash and the newest
// bucket it was seen in. h == 0 marks an empty entry.
type dent struct {
	h uint64
	b int64
}

const dentSize = int64(unsafe.Sizeof(dent{}))

// dset is a group's distinct values: an open-addressing set (linear
// probing) whose entries die when their bucket leaves the window and are
// reused in place; or, past MaxDistinct, a sketch.
type dset struct {
	ents []dent
	used int32 // non-empty entries, dead ones included
	sat  bool  // neither exact growth nor a sketch fitted MaxBytes
	sk   *sketch
}

// ValueCount counts the distinct values of a field per group over a sliding
// window (Sigma value_count): exactly up to Config.MaxDistinct values, then
// with a HyperLogLog sketch.
type ValueCount struct {
	t      table
	cond   Cond
	cnt    []uint32 // per ring position: live values whose newest bucket it is
	totals []uint32 // live distinct values (exact mode)
	sets   []dset
	// scratch is reused by rehash; bounded by the largest set (MaxDistinct).
	scratch []dent
}

// NewValueCount returns a value_count window.
func NewValueCount(cfg Config, timespan time.Duration, cond Cond) (*ValueCount, error) {
	if err := cfg.check(timespan); err != nil {
		return nil, err
	}
	if err := cond.check(); err != nil {
		return nil, err
	}
	if sketchBytes(int64(cfg.Buckets)) > cfg.MaxBytes/4 {
		return nil, errorf("max_bytes %d leaves no room for a sketch of %d bytes", cfg.MaxBytes, sketchBytes(int64(cfg.Buckets)))
	}
	w := &ValueCount{cond: cond}
	w.t.init(cfg, timespan, w)
	return w, nil
}

func (w *ValueCount) grow(n int) {
	w.cnt = growTo(w.cnt, n*int(w.t.nb))
	w.totals = growTo(w.totals, n)
	w.sets = growTo(w.sets, n)
}

func (w *ValueCount) release(id int32) {
	a := w.t.ring(id, 0)
	clear(w.cnt[a : a+int(w.t.nb)])
	w.totals[id] = 0
	s := &w.sets[id]
	if s.sk != nil {
		w.t.extra -= sketchBytes(w.t.nb)
	}
	if len(s.ents) == 8 { // the smallest set stays for the next group
		clear(s.ents)
		*s = dset{ents: s.ents}
		return
	}
	w.t.extra -= int64(len(s.ents)) * dentSize
	*s = dset{}
}

func (w *ValueCount) slotBytes() int64 {
	return 4*w.t.nb + 4 + int64(unsafe.Sizeof(dset{}))
}
func (w *ValueCount) firing(id int32) bool { return w.t.slots[id].held }

// Add records value v (any uint64 identity of the field's value: the port
// itself, or a 64-bit hash of a string; distinct v are distinct values) for
// group key at event time t.
func (w *ValueCount) Add(key []byte, t time.Time, v uint64) (Match, bool) {
	ns := t.UnixNano()
	if !w.t.admit(ns) {
		return Match{}, false
	}
	id, fresh := w.t.get(key, ns)
	c := w.t.bucket(ns)
	from, in := w.t.slide(id, c, fresh)
	s := &w.sets[id]
	if s.sk != nil {
		if from <= c {
			for b := from; b <= c; b++ {
				s.sk.clearRow(w.t.ring(id, b) - w.t.ring(id, 0))
			}
			s.sk.rebuild()
		}
		if in {
			s.sk.add(mix64(v), w.t.ring(id, c)-w.t.ring(id, 0))
		}
	} else {
		for b := from; b <= c; b++ {
			p := w.t.ring(id, b)
			w.totals[id] -= w.cnt[p]
			w.cnt[p] = 0
		}
		if in {
			w.insert(id, mix64(v), c)
		}
	}
	if !in {
		return Match{}, false
	}
	s = &w.sets[id]
	val, approx := float64(w.totals[id]), s.sat
	if s.sk != nil {
		val, approx = s.sk.estimate(), true
	}
	holds := w.cond.Holds(val)
	rising := w.t.edge(id, holds)
	if !holds {
		return Match{}, false
	}
	sl := &w.t.slots[id]
	return Match{Key: sl.key, State: Holds, Rising: rising, Start: w.t.windowStart(sl.head), End: time.Unix(0, sl.last), Value: val, Approximate: approx}, true
}

func (w *ValueCount) insert(id int32, h uint64, c int64) {
	if h == 0 {
		h = 1 // 0 marks empty entries; mix64 maps exactly one value here
	}
	s := &w.sets[id]
	if s.ents == nil {
		if !w.t.room(id, 8*dentSize) {
			w.saturate(s)
			return
		}
		s.ents = make([]dent, 8)
		w.t.extra += 8 * dentSize
	}
	head := w.t.slots[id].head
	dead := head - w.t.nb // entries with b <= dead are out of the window
	mask := uint64(len(s.ents) - 1)
	reuse := -1
	i := h & mask
	for ; s.ents[i].h != 0; i = (i + 1) & mask {
		e := &s.ents[i]
		if e.h == h {
			if e.b <= dead {
				e.b = c
				w.cnt[w.t.ring(id, c)]++
				w.totals[id]++
			} else if e.b < c {
				w.cnt[w.t.ring(id, e.b)]--
				w.cnt[w.t.ring(id, c)]++
				e.b = c
			}
			return
		}
		if reuse < 0 && e.b <= dead {
			reuse = int(i)
		}
	}
	if s.sat {
		return
	}
	if int(w.totals[id]) >= w.t.cfg.MaxDistinct {
		w.toSketch(id, h, c)
		return
	}
	if reuse >= 0 {
		s.ents[reuse] = dent{h, c}
	} else {
		s.ents[i] = dent{h, c}
		s.used++
	}
	w.cnt[w.t.ring(id, c)]++
	w.totals[id]++
	if int(s.used)*4 > len(s.ents)*3 {
		w.rehash(id, dead)
	}
}

// rehash rebuilds the set with its live entries at a load of at most 1/2.
func (w *ValueCount) rehash(id int32, dead int64) {
	s := &w.sets[id]
	size := 8
	for size < 2*int(w.totals[id])+2 {
		size *= 2
	}
	if delta := int64(size-len(s.ents)) * dentSize; delta > 0 && !w.t.room(id, delta) {
		if !w.toSketch(id, 0, 0) {
			w.saturate(s)
		}
		return
	}
	old := s.ents
	if size == len(old) { // same size: compact in place through a reused scratch copy
		w.scratch = append(w.scratch[:0], old...)
		clear(s.ents)
		old = w.scratch
	} else {
		s.ents = make([]dent, size)
		w.t.extra += int64(size-len(old)) * dentSize
	}
	s.used = 0
	mask := uint64(size - 1)
	for _, e := range old {
		if e.h == 0 || e.b <= dead {
			continue
		}
		i := e.h & mask
		for s.ents[i].h != 0 {
			i = (i + 1) & mask
		}
		s.ents[i] = e
		s.used++
	}
}

// toSketch moves group id to a sketch, then adds h at bucket c (h != 0).
func (w *ValueCount) toSketch(id int32, h uint64, c int64) bool {
	s := &w.sets[id]
	need := sketchBytes(w.t.nb) - int64(len(s.ents))*dentSize
	if !w.t.room(id, need) {
		w.saturate(s)
		return false
	}
	sk := newSketch(w.t.nb)
	dead := w.t.slots[id].head - w.t.nb
	base := w.t.ring(id, 0)
	for _, e := range s.ents {
		if e.h != 0 && e.b > dead {
			sk.add(e.h, w.t.ring(id, e.b)-base)
		}
	}
	if h != 0 {
		sk.add(h, w.t.ring(id, c)-base)
	}
	w.t.extra += need
	s.ents, s.used, s.sk = nil, 0, sk
	w.t.c.approximations.Add(1)
	return true
}

func (w *ValueCount) saturate(s *dset) {
	if !s.sat {
		s.sat = true
		w.t.c.saturated.Add(1)
	}
}

// Tick advances event time and drops groups whose window emptied.
func (w *ValueCount) Tick(now time.Time) {
	ns := now.UnixNano()
	w.t.advance(ns)
	w.t.expireBefore(ns-w.t.span-int64(w.t.cfg.Lateness), nil)
}

// Bytes estimates the memory the structure holds.
func (w *ValueCount) Bytes() int64 { return w.t.bytes() + int64(cap(w.scratch))*dentSize }

// Stats returns the structure's counters.
func (w *ValueCount) Stats() Stats { return w.t.Stats() }

// OnEvict sets the eviction hook (see EventCount.OnEvict).
func (w *ValueCount) OnEvict(f func(key []byte, firing bool)) { w.t.onEvict = f }
