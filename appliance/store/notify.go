package store

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/correlator/notify"
	"github.com/watchfloor/watchfloor/correlator/notify/dispatch"
	bolt "go.etcd.io/bbolt"
)

// Notifications: the on-call dispatcher (correlator/notify/dispatch) keeps its state, its
// outbox, its incidents and the notification log here, written with SaveDispatch and
// RecordDelivery, each in a transaction of its own that is durable when the call returns.
//
//	notify_state      "state" → the dispatcher's state, opaque bytes
//	notify_outbox     notification ID, 0x00, receiver → JSON of notify.Notification: handed
//	                  to delivery and not yet done (delivered, failed or dropped)
//	notify_incidents  incident ID → JSON of dispatch.Incident. The ID starts with the 16
//	                  lower-case hex digits of uint64(Opened.UnixNano()) and a '-' (the store
//	                  refuses others), so byte order is the order of Opened, and a time
//	                  range is one seek and a scan
//	notify_log        uint64 sequence → JSON of dispatch.LogEntry; the key is the entry's Seq
//	                  (the value's "seq" is 0), from the bucket's sequence, so Seqs keep
//	                  increasing after retention deletes entries
//
// The log is appended in roughly time order: entries of concurrent workers may be a little
// out of order, by much less than logSlack. Queries and retention rely on it.
//
// Retention deletes log entries older than Retention.Notifications (by Time, from the
// lowest Seq up to the first recent one), and incidents resolved longer ago than that (by
// Resolved; open incidents are kept however old). The outbox is never pruned: an entry
// goes when its delivery is recorded done.

var _ dispatch.Store = (*Store)(nil)

// Bounds of what SaveDispatch and RecordDelivery accept.
const (
	maxDispatchState = 64 << 20 // the dispatcher's state
	maxNotifyID      = 256      // a notification or incident ID
	maxReceiver      = 64       // a receiver name
	maxOutboxValue   = 16 << 20 // one encoded notification, its alerts included
	maxNotifyValue   = 1 << 20  // one encoded log entry or incident
)

// Limits of notification queries.
const (
	DefaultNotifyLimit   = 100
	MaxNotifyLimit       = 1000
	DefaultIncidentLimit = 100
	MaxIncidentLimit     = 10_000
)

const (
	// maxNotifyScan bounds the log entries or incidents one query decodes; a query whose
	// filter selects fewer than its limit in them returns what it found.
	maxNotifyScan = 200_000
	// maxStatsIncidents bounds the incidents ResponseStats reads: a period with more fails
	// rather than give figures over part of it.
	maxStatsIncidents = 1_000_000
	// logSlack is how much earlier than an entry appended before it a log entry's time
	// may be for LogQuery.Since and Until to find it.
	logSlack = time.Minute
)

var kDispatchState = []byte("state")

// preparedDispatch is a SaveDispatch call encoded and checked before its transaction.
type preparedDispatch struct {
	outboxKeys, outbox [][]byte
	incidentKeys       [][]byte
	incidents, log     [][]byte
}

// outboxKey is the key of a notification in notify_outbox.
func outboxKey(id, receiver string) []byte {
	k := make([]byte, 0, len(id)+1+len(receiver))
	k = append(k, id...)
	k = append(k, 0)
	return append(k, receiver...)
}

// checkDelivery checks a notification ID and a receiver that make an outbox key.
func checkDelivery(id, receiver string) string {
	switch {
	case id == "" || len(id) > maxNotifyID || strings.IndexByte(id, 0) >= 0:
		return fmt.Sprintf("notification ID must have 1 to %d bytes and no NUL", maxNotifyID)
	case receiver == "" || len(receiver) > maxReceiver || strings.IndexByte(receiver, 0) >= 0:
		return fmt.Sprintf("receiver must have 1 to %d bytes and no NUL", maxReceiver)
	}
	return ""
}

// incidentPrefix is the start of the IDs of the incidents opened at t: 16 lower-case hex
// digits of t.UnixNano(). ok is false when t is before 1970 or after 2262, where UnixNano
// does not give a key in order.
func incidentPrefix(t time.Time) (p []byte, ok bool) {
	if t.Before(time.Unix(0, 0)) || t.After(time.Unix(0, 1<<63-1)) {
		return nil, false
	}
	return fmt.Appendf(make([]byte, 0, 16), "%016x", uint64(t.UnixNano())), true
}

// checkIncident says what is wrong with an incident, or "".
func checkIncident(in *dispatch.Incident) string {
	p, ok := incidentPrefix(in.Opened)
	switch {
	case len(in.ID) > maxNotifyID:
		return fmt.Sprintf("ID longer than %d bytes", maxNotifyID)
	case !ok:
		return fmt.Sprintf("opened %s: must be between 1970 and 2262", in.Opened.Format(time.RFC3339Nano))
	case len(in.ID) < 17 || !strings.HasPrefix(in.ID, string(p)) || in.ID[16] != '-':
		return fmt.Sprintf("ID %q must start with %s- (the hex of Opened.UnixNano())", in.ID, p)
	case len(in.Alerts) > dispatch.MaxLoggedAlerts:
		return fmt.Sprintf("%d alerts, at most %d", len(in.Alerts), dispatch.MaxLoggedAlerts)
	}
	return ""
}

// checkLogEntry says what is wrong with a log entry, or "".
func checkLogEntry(e *dispatch.LogEntry) string {
	switch {
	case e.Time.IsZero():
		return "time missing"
	case len(e.NotificationID) > maxNotifyID || strings.IndexByte(e.NotificationID, 0) >= 0:
		return fmt.Sprintf("notification ID must have at most %d bytes and no NUL", maxNotifyID)
	case len(e.Receiver) > maxReceiver || strings.IndexByte(e.Receiver, 0) >= 0:
		return fmt.Sprintf("receiver must have at most %d bytes and no NUL", maxReceiver)
	case len(e.Incident) > maxNotifyID:
		return fmt.Sprintf("incident ID longer than %d bytes", maxNotifyID)
	case len(e.Alerts) > dispatch.MaxLoggedAlerts:
		return fmt.Sprintf("%d alerts, at most %d", len(e.Alerts), dispatch.MaxLoggedAlerts)
	}
	return ""
}

// encodeLogEntry encodes e for notify_log: its Seq is the key, so the value says 0.
func encodeLogEntry(e dispatch.LogEntry) ([]byte, error) {
	e.Seq = 0
	v, err := json.Marshal(&e)
	if err == nil && len(v) > maxNotifyValue {
		err = fmt.Errorf("encoded in %d bytes, more than %d", len(v), maxNotifyValue)
	}
	return v, err
}

func prepareDispatch(state []byte, outbox []notify.Notification, incidents []dispatch.Incident, log []dispatch.LogEntry) (*preparedDispatch, error) {
	if len(state) > maxDispatchState {
		return nil, fmt.Errorf("%w: state of %d bytes, more than %d", ErrInvalid, len(state), maxDispatchState)
	}
	p := &preparedDispatch{
		outboxKeys:   make([][]byte, len(outbox)),
		outbox:       make([][]byte, len(outbox)),
		incidentKeys: make([][]byte, len(incidents)),
		incidents:    make([][]byte, len(incidents)),
		log:          make([][]byte, len(log)),
	}
	var err error
	for i := range outbox {
		n := &outbox[i]
		if msg := checkDelivery(n.ID, n.Receiver); msg != "" {
			return nil, fmt.Errorf("%w: outbox notification %d: %s", ErrInvalid, i, msg)
		}
		p.outboxKeys[i] = outboxKey(n.ID, n.Receiver)
		if p.outbox[i], err = json.Marshal(n); err == nil && len(p.outbox[i]) > maxOutboxValue {
			err = fmt.Errorf("encoded in %d bytes, more than %d", len(p.outbox[i]), maxOutboxValue)
		}
		if err == nil {
			// LoadDispatch must be able to read it back: an alert state out of range, for
			// one, encodes but does not decode, and would fail every load after.
			if err = json.Unmarshal(p.outbox[i], new(notify.Notification)); err != nil {
				err = fmt.Errorf("does not decode: %w", err)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%w: outbox notification %q to %q: %w", ErrInvalid, n.ID, n.Receiver, err)
		}
	}
	for i := range incidents {
		in := &incidents[i]
		if msg := checkIncident(in); msg != "" {
			return nil, fmt.Errorf("%w: incident %d: %s", ErrInvalid, i, msg)
		}
		p.incidentKeys[i] = []byte(in.ID)
		if p.incidents[i], err = json.Marshal(in); err == nil && len(p.incidents[i]) > maxNotifyValue {
			err = fmt.Errorf("encoded in %d bytes, more than %d", len(p.incidents[i]), maxNotifyValue)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: incident %q: %w", ErrInvalid, in.ID, err)
		}
	}
	for i := range log {
		if msg := checkLogEntry(&log[i]); msg != "" {
			return nil, fmt.Errorf("%w: log entry %d: %s", ErrInvalid, i, msg)
		}
		if p.log[i], err = encodeLogEntry(log[i]); err != nil {
			return nil, fmt.Errorf("%w: log entry %d: %w", ErrInvalid, i, err)
		}
	}
	return p, nil
}

// appendLog appends encoded log entries to notify_log, each under the bucket's next sequence.
func appendLog(tx *bolt.Tx, values [][]byte) error {
	lb := tx.Bucket(bNotifyLog)
	for _, v := range values {
		seq, err := lb.NextSequence()
		if err != nil {
			return fmt.Errorf("log sequence: %w", err)
		}
		if err := lb.Put(u64(seq), v); err != nil {
			return fmt.Errorf("log entry %d: %w", seq, err)
		}
	}
	return nil
}

// dispatchUpdate runs fn in a write transaction of its own, as PutAlerts does, counting
// records as notifications and adding outboxDelta, which fn sets, to the outbox gauge once
// the transaction is committed.
func (s *Store) dispatchUpdate(records int, fn func(tx *bolt.Tx, outboxDelta *int64) error) error {
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	start := time.Now()
	var delta int64
	err := s.update(func(tx *bolt.Tx) error {
		delta = 0
		if err := fn(tx, &delta); err != nil {
			return err
		}
		s.size.Store(tx.Size())
		return nil
	})
	if err != nil {
		s.m.commitErrors.Inc()
		return err
	}
	s.outboxLen.Add(delta)
	s.m.writeSeconds.Observe(time.Since(start).Seconds())
	s.m.commits.Inc()
	s.m.notification.Add(float64(records))
	return nil
}

// SaveDispatch writes, in one transaction, the dispatcher's state (nil: the saved state is
// kept), the notifications to add to the outbox (replacing any of the same ID and
// receiver), the incidents (replacing those of the same ID) and the log entries (appended,
// Seqs assigned; the Seq of the arguments is ignored). It returns once they are durable.
// Anything invalid fails the whole call with ErrInvalid, and nothing is written: a state
// larger than 64 MiB, an empty or longer than 256-byte ID, an empty or longer than 64-byte
// receiver, a NUL in either, an incident ID that does not start with the hex of its Opened
// (see the layout above), more than MaxLoggedAlerts alerts, a log entry without a time, or
// a value that does not encode (a severity out of range, a year past 9999), or a
// notification that does not decode once encoded (an alert state out of range).
func (s *Store) SaveDispatch(state []byte, outbox []notify.Notification, incidents []dispatch.Incident, log []dispatch.LogEntry) error {
	if state == nil && len(outbox) == 0 && len(incidents) == 0 && len(log) == 0 {
		return nil
	}
	p, err := prepareDispatch(state, outbox, incidents, log)
	if err != nil {
		return fmt.Errorf("store: save dispatch: %w", err)
	}
	err = s.dispatchUpdate(len(outbox)+len(incidents)+len(log), func(tx *bolt.Tx, delta *int64) error {
		if state != nil {
			if err := tx.Bucket(bNotifyState).Put(kDispatchState, state); err != nil {
				return fmt.Errorf("state: %w", err)
			}
		}
		ob := tx.Bucket(bNotifyOutbox)
		for i, k := range p.outboxKeys {
			if ob.Get(k) == nil {
				*delta++
			}
			if err := ob.Put(k, p.outbox[i]); err != nil {
				return fmt.Errorf("outbox notification %q to %q: %w", outbox[i].ID, outbox[i].Receiver, err)
			}
		}
		ib := tx.Bucket(bNotifyIncidents)
		for i, k := range p.incidentKeys {
			if err := ib.Put(k, p.incidents[i]); err != nil {
				return fmt.Errorf("incident %q: %w", k, err)
			}
		}
		return appendLog(tx, p.log)
	})
	if err != nil {
		return fmt.Errorf("store: save dispatch: %w", err)
	}
	return nil
}

// RecordDelivery appends e to the log (its Seq assigned) and, when done, deletes the outbox
// entry (e.NotificationID, e.Receiver), in one transaction; it returns once that is durable.
// Deleting an entry that is not in the outbox is not an error. e is checked as SaveDispatch
// checks log entries; when done, its notification ID and receiver must not be empty.
func (s *Store) RecordDelivery(e dispatch.LogEntry, done bool) error {
	if msg := checkLogEntry(&e); msg != "" {
		return fmt.Errorf("store: record delivery: %w: %s", ErrInvalid, msg)
	}
	var key []byte
	if done {
		if msg := checkDelivery(e.NotificationID, e.Receiver); msg != "" {
			return fmt.Errorf("store: record delivery: %w: %s", ErrInvalid, msg)
		}
		key = outboxKey(e.NotificationID, e.Receiver)
	}
	v, err := encodeLogEntry(e)
	if err != nil {
		return fmt.Errorf("store: record delivery: %w: %w", ErrInvalid, err)
	}
	err = s.dispatchUpdate(1, func(tx *bolt.Tx, delta *int64) error {
		if err := appendLog(tx, [][]byte{v}); err != nil {
			return err
		}
		if key == nil {
			return nil
		}
		ob := tx.Bucket(bNotifyOutbox)
		if ob.Get(key) == nil {
			return nil
		}
		*delta = -1
		return ob.Delete(key)
	})
	if err != nil {
		return fmt.Errorf("store: record delivery: %w", err)
	}
	return nil
}

// LoadDispatch returns the last saved state (nil when none was saved) and the outbox,
// oldest first: by Time, then ID, then receiver.
func (s *Store) LoadDispatch() (state []byte, outbox []notify.Notification, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		if k, v := tx.Bucket(bNotifyState).Cursor().Seek(kDispatchState); bytes.Equal(k, kDispatchState) {
			state = append([]byte{}, v...) // not nil, even when empty
		}
		return tx.Bucket(bNotifyOutbox).ForEach(func(k, v []byte) error {
			n, err := decodeOutbox(k, v)
			if err != nil {
				return err
			}
			outbox = append(outbox, n)
			return nil
		})
	})
	if err != nil {
		return nil, nil, fmt.Errorf("store: load dispatch: %w", err)
	}
	slices.SortFunc(outbox, func(a, b notify.Notification) int {
		return cmp.Or(a.Time.Compare(b.Time), strings.Compare(a.ID, b.ID), strings.Compare(a.Receiver, b.Receiver))
	})
	return state, outbox, nil
}

// countOutbox counts the outbox entries, for the gauge; init calls it at open.
func countOutbox(tx *bolt.Tx) int64 {
	return int64(tx.Bucket(bNotifyOutbox).Stats().KeyN)
}

func decodeOutbox(k, v []byte) (notify.Notification, error) {
	var n notify.Notification
	if err := json.Unmarshal(v, &n); err != nil {
		return n, fmt.Errorf("outbox entry %q: %w: %w", k, ErrCorrupt, err)
	}
	return n, nil
}

func decodeIncident(k, v []byte) (dispatch.Incident, error) {
	var in dispatch.Incident
	if err := json.Unmarshal(v, &in); err != nil {
		return in, fmt.Errorf("incident %q: %w: %w", k, ErrCorrupt, err)
	}
	return in, nil
}

func decodeLogEntry(k, v []byte) (dispatch.LogEntry, error) {
	var e dispatch.LogEntry
	if len(k) != 8 {
		return e, fmt.Errorf("log entry key %x: %w: not 8 bytes", k, ErrCorrupt)
	}
	if err := json.Unmarshal(v, &e); err != nil {
		return e, fmt.Errorf("log entry %d: %w: %w", bigEndian(k), ErrCorrupt, err)
	}
	e.Seq = bigEndian(k)
	return e, nil
}

func logEntryTime(e *dispatch.LogEntry) time.Time { return e.Time }

// matches reports whether e passes the filters of q other than time.
func logMatches(q *dispatch.LogQuery, e *dispatch.LogEntry) bool {
	return (q.Receiver == "" || e.Receiver == q.Receiver) &&
		(q.Incident == "" || e.Incident == q.Incident) &&
		(q.Result == "" || e.Result == q.Result) &&
		(q.Alert == 0 || slices.Contains(e.Alerts, q.Alert))
}

// Notifications returns the log entries q selects, newest (highest Seq) first: Time in
// [Since, Until), and the receiver, incident, alert and result when given. Limit 0 is 100;
// at most 1000 are returned. It decodes at most 200000 entries to find them, and stops at
// the first entry older than Since by more than a minute.
func (s *Store) Notifications(q dispatch.LogQuery) ([]dispatch.LogEntry, error) {
	limit := q.Limit
	switch {
	case limit <= 0:
		limit = DefaultNotifyLimit
	case limit > MaxNotifyLimit:
		limit = MaxNotifyLimit
	}
	var out []dispatch.LogEntry
	err := s.view(func(tx *bolt.Tx) (err error) {
		out, err = scanLog(tx.Bucket(bNotifyLog).Cursor(), q.Since, q.Until, limit, decodeLogEntry,
			logEntryTime, func(e *dispatch.LogEntry) bool { return logMatches(&q, e) })
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: notifications: %w", err)
	}
	return out, nil
}

// scanIncidents calls fn with the incidents opened in [since, until) (zero: unbounded),
// newest first, until fn returns false; it decodes at most bound of them and reports whether
// it stopped because of that bound with incidents left.
func scanIncidents(tx *bolt.Tx, since, until time.Time, bound int, fn func(*dispatch.Incident) bool) (truncated bool, err error) {
	c := tx.Bucket(bNotifyIncidents).Cursor()
	var k, v []byte
	if p, ok := incidentPrefix(until); ok && !until.IsZero() {
		c.Seek(p) // the first key of an incident opened at until or later
		k, v = c.Prev()
		if k == nil { // every key is before p, or none is
			if k, v = c.Last(); k != nil && bytes.Compare(k, p) >= 0 {
				return false, nil
			}
		}
	} else if until.IsZero() || until.After(time.Unix(0, 0)) {
		k, v = c.Last()
	} // else until is before 1970: nothing was opened before it
	for n := 0; k != nil; k, v = c.Prev() {
		if n == bound {
			return true, nil
		}
		n++
		in, err := decodeIncident(k, v)
		if err != nil {
			return false, err
		}
		if !since.IsZero() && in.Opened.Before(since) {
			return false, nil
		}
		if !until.IsZero() && !in.Opened.Before(until) {
			continue // not in ID order: cannot happen with checked IDs
		}
		if !fn(&in) {
			return false, nil
		}
	}
	return false, nil
}

// Incidents returns the incidents opened in [q.Since, q.Until) (zero: unbounded), of
// q.Severity when given, newest first. Limit 0 is 100; at most 10000 are returned. It
// decodes at most 200000 incidents to find them.
func (s *Store) Incidents(q dispatch.IncidentQuery) ([]dispatch.Incident, error) {
	limit := q.Limit
	switch {
	case limit <= 0:
		limit = DefaultIncidentLimit
	case limit > MaxIncidentLimit:
		limit = MaxIncidentLimit
	}
	out := []dispatch.Incident{}
	err := s.view(func(tx *bolt.Tx) error {
		_, err := scanIncidents(tx, q.Since, q.Until, maxNotifyScan, func(in *dispatch.Incident) bool {
			if q.Severity == nil || in.Severity == *q.Severity {
				out = append(out, *in)
			}
			return len(out) < limit
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: incidents: %w", err)
	}
	return out, nil
}

// nearestRank is the p-quantile of sorted, p = num/den, by the nearest-rank method: the
// value at rank ceil(p·n), 1-based (0 when sorted is empty).
func nearestRank(sorted []time.Duration, num, den int) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := (num*n + den - 1) / den // ceil(num·n/den), in integers
	return sorted[max(rank, 1)-1]
}

// ResponseStats returns the response times of the incidents opened in [since, until)
// (zero: unbounded), one entry per severity that has incidents, most severe first.
// Acknowledged counts the incidents with Acked set, Resolved those with Resolved set,
// Escalated those with Escalations > 0. MTTA is taken over the acknowledged incidents as
// Acked − Opened, MTTR over the resolved ones as Resolved − Opened (a negative difference,
// from clocks that disagree, counts as 0); both are 0 when no incident was.
//
// The percentiles are nearest-rank: with the n durations sorted ascending, the
// p-percentile is the one at rank ceil(p·n), counting from 1. The median is p = 0.5 (for
// n = 2, the smaller of the two), p90 p = 0.9 (for n = 10, the 9th). A period with more than
// 1,000,000 incidents fails rather than give figures over part of it.
func (s *Store) ResponseStats(since, until time.Time) ([]dispatch.ResponseStats, error) {
	type acc struct {
		stats     dispatch.ResponseStats
		tta, ttr  []time.Duration
		populated bool
	}
	var bySev [256]acc
	err := s.view(func(tx *bolt.Tx) error {
		truncated, err := scanIncidents(tx, since, until, maxStatsIncidents, func(in *dispatch.Incident) bool {
			a := &bySev[in.Severity]
			a.populated = true
			a.stats.Incidents++
			if !in.Acked.IsZero() {
				a.stats.Acknowledged++
				a.tta = append(a.tta, max(in.Acked.Sub(in.Opened), 0))
			}
			if !in.Resolved.IsZero() {
				a.stats.Resolved++
				a.ttr = append(a.ttr, max(in.Resolved.Sub(in.Opened), 0))
			}
			if in.Escalations > 0 {
				a.stats.Escalated++
			}
			return true
		})
		if truncated {
			return fmt.Errorf("more than %d incidents in the period: ask for a shorter one", maxStatsIncidents)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: response stats: %w", err)
	}
	out := []dispatch.ResponseStats{}
	for sev := len(bySev) - 1; sev >= 0; sev-- {
		a := &bySev[sev]
		if !a.populated {
			continue
		}
		slices.Sort(a.tta)
		slices.Sort(a.ttr)
		st := a.stats
		st.Severity = watchfloor.Severity(sev)
		st.MTTAMedian, st.MTTAP90 = nearestRank(a.tta, 1, 2), nearestRank(a.tta, 9, 10)
		st.MTTRMedian, st.MTTRP90 = nearestRank(a.ttr, 1, 2), nearestRank(a.ttr, 9, 10)
		out = append(out, st)
	}
	return out, nil
}

// pruneNotifyLog deletes the log entries older than cutoff, from the lowest Seq, a chunk
// per transaction; it stops at the first entry that is not older.
func (s *Store) pruneNotifyLog(ctx context.Context, cutoff time.Time) (int, error) {
	return s.pruneOldest(ctx, "notification", bNotifyLog, func(k, v []byte) (old, counts bool, err error) {
		e, err := decodeLogEntry(k, v)
		if err != nil {
			return false, false, err
		}
		return e.Time.Before(cutoff), true, nil
	})
}

// pruneIncidents deletes the incidents resolved before cutoff, from the oldest opened, a
// chunk per transaction; it passes over open ones, and stops at the first incident opened
// at or after cutoff.
func (s *Store) pruneIncidents(ctx context.Context, cutoff time.Time) (int, error) {
	return s.pruneResumable(ctx, "incident", bNotifyIncidents, func(tx *bolt.Tx) prunePass {
		ib := tx.Bucket(bNotifyIncidents)
		var del [][]byte
		return prunePass{
			visit: func(k, v []byte) (bool, error) {
				in, err := decodeIncident(k, v)
				if err != nil {
					return false, err
				}
				if !in.Opened.Before(cutoff) {
					return true, nil
				}
				if !in.Open() && in.Resolved.Before(cutoff) {
					del = append(del, bytes.Clone(k))
				}
				return false, nil
			},
			done: func() (int, error) { return len(del), deleteKeys(ib, del) },
		}
	})
}
