package central

import (
	"slices"
	"time"

	"github.com/watchfloor/watchfloor/appliance/store"
)

// tracker follows the sequence numbers of one site and kind: it tells a record seen
// before (a duplicate JetStream's window did not catch) from a new one, and counts the
// sequences that never came (gaps: records the appliance's outbox dropped, or lost).
// Records may arrive out of order by up to window sequences (a window the appliance sent
// again after a failure); a sequence missing when one window further has arrived is a gap.
// Memory is bounded by window entries. Its state is what a Mark holds, so that it survives
// central's restarts (Central.Restore).
type tracker struct {
	epoch  uint64
	next   uint64   // the lowest sequence not yet seen
	ahead  []uint64 // sequences seen above next, ascending, all < next+window
	window uint64
	// blind is the sequence below which a missing record is not counted as a gap: the
	// first record central sees of an epoch does not say what came before it when it did
	// not see the epoch begin.
	blind uint64

	received, duplicates, gaps uint64
	lastSeq                    uint64    // the highest sequence taken
	lastSeen                   time.Time // when the last record was taken
}

func newTracker(epoch, first, window uint64) *tracker {
	t := &tracker{epoch: epoch, window: window}
	t.next = 1
	if first > window {
		t.next = first - window + 1
	}
	t.blind = first
	return t
}

// restoreTracker is the tracker a mark saved, within window (a smaller window than the
// mark's gives up on what is now too far behind).
func restoreTracker(m *store.UplinkMark, window uint64) *tracker {
	t := &tracker{epoch: m.Epoch, next: max(m.Next, 1), window: window, blind: m.Blind,
		received: m.Received, duplicates: m.Duplicates, gaps: m.Gaps, lastSeen: m.LastSeen}
	for _, s := range m.Seen { // ascending above Next when the store accepted it; checked anyway
		if s > t.next && (len(t.ahead) == 0 || s > t.ahead[len(t.ahead)-1]) {
			t.ahead = append(t.ahead, s)
		}
	}
	t.lastSeq = t.next - 1
	if n := len(t.ahead); n > 0 {
		t.lastSeq = t.ahead[n-1]
		t.advance(t.ahead[n-1])
	}
	return t
}

// mark is t's state as a store mark.
func (t *tracker) mark(site, kind string) store.UplinkMark {
	return store.UplinkMark{Site: site, Kind: kind, Epoch: t.epoch, Next: t.next, Seen: slices.Clone(t.ahead),
		Blind: t.blind, Received: t.received, Duplicates: t.duplicates, Gaps: t.gaps, LastSeen: t.lastSeen}
}

func (t *tracker) clone() *tracker {
	c := *t
	c.ahead = slices.Clone(t.ahead)
	return &c
}

// seen reports whether seq was seen already (a duplicate), without recording it.
func (t *tracker) seen(seq uint64) bool {
	if seq < t.next {
		return true
	}
	_, ok := slices.BinarySearch(t.ahead, seq)
	return ok
}

// take records seq, which seen said is new.
func (t *tracker) take(seq uint64) {
	t.received++
	t.lastSeq = max(t.lastSeq, seq)
	if seq == t.next {
		t.next++
	} else if i, ok := slices.BinarySearch(t.ahead, seq); !ok {
		t.ahead = slices.Insert(t.ahead, i, seq)
	}
	t.advance(seq)
}

// advance gives up on the sequences a window behind seq, counting the ones that never
// came as gaps, and moves next past what has come. It does not loop over the sequences
// skipped: a site may jump far ahead.
func (t *tracker) advance(seq uint64) {
	drop := 0
	if seq >= t.next && seq-t.next >= t.window {
		target := seq - t.window + 1
		drop, _ = slices.BinarySearch(t.ahead, target) // ahead[:drop] < target
		if from := max(t.next, t.blind); target > from {
			came, _ := slices.BinarySearch(t.ahead, from)
			t.gaps += target - from - uint64(drop-min(came, drop))
		}
		t.next = target
	}
	for drop < len(t.ahead) && t.ahead[drop] == t.next {
		drop++
		t.next++
	}
	if drop > 0 {
		t.ahead = append(t.ahead[:0], t.ahead[drop:]...)
	}
}

// missing is how many sequences below the highest seen have not arrived yet (they may
// still: they are not gaps until a window has passed them).
func (t *tracker) missing() uint64 {
	if len(t.ahead) == 0 {
		return 0
	}
	hi := t.ahead[len(t.ahead)-1]
	lo := max(t.next, t.blind)
	if hi < lo {
		return 0
	}
	came, _ := slices.BinarySearch(t.ahead, lo)
	return hi - lo + 1 - uint64(len(t.ahead)-came)
}
