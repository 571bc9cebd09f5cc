package store

import (
	"time"

	bolt "go.etcd.io/bbolt"
)

// Time-ordered logs (the notification log, the audit log) are keyed by a big-endian
// sequence and appended in roughly time order: concurrent writers may be a little out of
// order, which logSlack allows for.

// logFirstAtOrAfter is the lowest key whose entry's time is t or later, by a binary search
// that takes the log to be in time order; the key after the last when none is.
func logFirstAtOrAfter[E any](c *bolt.Cursor, t time.Time, decode func(k, v []byte) (E, error), at func(*E) time.Time) (uint64, error) {
	first, _ := c.First()
	last, _ := c.Last()
	if first == nil {
		return 0, nil
	}
	lo, hi := bigEndian(first), bigEndian(last)+1
	for lo < hi {
		mid := lo + (hi-lo)/2
		k, v := c.Seek(u64(mid)) // never nil: mid ≤ last
		e, err := decode(k, v)
		if err != nil {
			return 0, err
		}
		if !at(&e).Before(t) {
			hi = mid
		} else {
			lo = bigEndian(k) + 1
		}
	}
	return lo, nil
}

// scanLog returns the entries of a time-ordered log with a time in [since, until) (zero:
// unbounded) that keep accepts, newest first, at most limit of them. It decodes at most
// maxNotifyScan entries, and stops at the first entry older than since by more than
// logSlack.
func scanLog[E any](c *bolt.Cursor, since, until time.Time, limit int, decode func(k, v []byte) (E, error), at func(*E) time.Time, keep func(*E) bool) ([]E, error) {
	out := []E{}
	if !until.IsZero() && !since.IsZero() && !since.Before(until) {
		return out, nil
	}
	k, v := c.Last()
	if !until.IsZero() {
		// Entries from this one on are later than until, give or take the slack.
		seq, err := logFirstAtOrAfter(c, until.Add(logSlack), decode, at)
		if err != nil {
			return nil, err
		}
		if k, v = c.Seek(u64(seq)); k == nil {
			k, v = c.Last()
		}
	}
	stop := since.Add(-logSlack)
	for scanned := 0; k != nil && len(out) < limit && scanned < maxNotifyScan; k, v = c.Prev() {
		scanned++
		e, err := decode(k, v)
		if err != nil {
			return nil, err
		}
		t := at(&e)
		if !since.IsZero() && t.Before(stop) {
			break
		}
		if (!since.IsZero() && t.Before(since)) || (!until.IsZero() && !t.Before(until)) {
			continue
		}
		if keep(&e) {
			out = append(out, e)
		}
	}
	return out, nil
}
