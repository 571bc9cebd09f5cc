package central

// tracker follows the sequence numbers of one site and kind: it tells a record seen
// before (a duplicate JetStream's window did not catch) from a new one, and counts the
// sequences that never came (gaps: records the appliance's outbox dropped, or lost).
// Records may arrive out of order by up to window sequences (a window the appliance sent
// again after a failure); a sequence missing when one window further has arrived is a gap.
// Memory is bounded by window entries.
type tracker struct {
	epoch  uint64
	next   uint64              // the lowest sequence not yet seen
	ahead  map[uint64]struct{} // sequences seen above next, all < next+window
	window uint64
	// blind is the sequence below which a missing record is not counted as a gap: the
	// first record central sees of an epoch (after its own restart, say) does not say what
	// came before it.
	blind uint64

	received, duplicates, gaps uint64
}

func newTracker(epoch, first, window uint64) *tracker {
	t := &tracker{epoch: epoch, window: window, ahead: map[uint64]struct{}{}}
	t.next = 1
	if first > window {
		t.next = first - window + 1
	}
	t.blind = first
	return t
}

// seen reports whether seq was seen already (a duplicate), without recording it.
func (t *tracker) seen(seq uint64) bool {
	if seq < t.next {
		return true
	}
	_, ok := t.ahead[seq]
	return ok
}

// mark records seq, which seen said is new.
func (t *tracker) mark(seq uint64) {
	t.received++
	if seq == t.next {
		t.next++
	} else {
		t.ahead[seq] = struct{}{}
	}
	// Sequences a window behind the highest are given up on.
	for seq >= t.next && seq-t.next >= t.window {
		if _, ok := t.ahead[t.next]; ok {
			delete(t.ahead, t.next)
		} else if t.next >= t.blind {
			t.gaps++
		}
		t.next++
	}
	for {
		if _, ok := t.ahead[t.next]; !ok {
			break
		}
		delete(t.ahead, t.next)
		t.next++
	}
}

// missing is how many sequences below the highest seen have not arrived yet (they may
// still: they are not gaps until a window has passed them).
func (t *tracker) missing() uint64 {
	if len(t.ahead) == 0 {
		return 0
	}
	var hi uint64
	for s := range t.ahead {
		hi = max(hi, s)
	}
	lo := max(t.next, t.blind)
	if hi < lo {
		return 0
	}
	n := hi - lo + 1
	for s := range t.ahead {
		if s >= lo {
			n--
		}
	}
	return n
}
