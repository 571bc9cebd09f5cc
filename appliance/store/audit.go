package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/watchfloor/watchfloor/console"
	bolt "go.etcd.io/bbolt"
)

// Audit: every action of an analyst or an admin in the console (acknowledgements, silences,
// logins, users, tokens, backups — and refusals), written with RecordAudit, each in a
// transaction of its own that is durable when the call returns.
//
//	audit  uint64 sequence → JSON of console.AuditEntry; the key is the entry's Seq (the
//	       value's "seq" is 0), from the bucket's sequence, so Seqs keep increasing after
//	       retention deletes entries
//
// The log is appended in time order, give or take concurrent requests (much less than
// logSlack apart): queries and retention rely on it, as the notification log's do.
// Retention deletes entries older than Retention.Audit, from the lowest Seq up to the first
// recent one.

var _ console.Audit = (*Store)(nil)

// Bounds of an audit entry. Longer text is cut (marked with "…"), not refused: an action
// is recorded whatever its comment.
const (
	maxAuditWho    = 256
	maxAuditShort  = 64 // role, via, action
	maxAuditTarget = 512
	maxAuditDetail = 8 << 10
	maxAuditRemote = 128
	// maxAuditValue bounds one encoded entry that AuditLog accepts (the decoder's input).
	maxAuditValue = 64 << 10
)

// Limits of audit queries.
const (
	DefaultAuditLimit = 100
	MaxAuditLimit     = 1000
)

// cut clips s to at most n bytes at a rune boundary, marking the cut, and makes it valid
// UTF-8.
func cut(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	n -= len("…")
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// prepareAudit checks e and encodes it for the audit bucket.
func prepareAudit(e console.AuditEntry) ([]byte, error) {
	switch {
	case e.Time.IsZero():
		return nil, fmt.Errorf("%w: audit entry without a time", ErrInvalid)
	case e.Action == "":
		return nil, fmt.Errorf("%w: audit entry without an action", ErrInvalid)
	case e.Time.Year() < 1 || e.Time.Year() > 9999:
		return nil, fmt.Errorf("%w: audit entry time %s out of range", ErrInvalid, e.Time)
	}
	e.Seq = 0
	e.Who, e.Role, e.Via = cut(e.Who, maxAuditWho), cut(e.Role, maxAuditShort), cut(e.Via, maxAuditShort)
	e.Action, e.Target, e.Detail = cut(e.Action, maxAuditShort), cut(e.Target, maxAuditTarget), cut(e.Detail, maxAuditDetail)
	e.Remote = cut(e.Remote, maxAuditRemote)
	v, err := json.Marshal(&e)
	if err != nil {
		return nil, fmt.Errorf("%w: audit entry: %w", ErrInvalid, err)
	}
	return v, nil
}

// decodeAudit decodes one stored audit entry; its Seq is the key.
func decodeAudit(k, v []byte) (console.AuditEntry, error) {
	var e console.AuditEntry
	if len(k) != 8 {
		return e, fmt.Errorf("audit key %x: %w: not 8 bytes", k, ErrCorrupt)
	}
	if len(v) > maxAuditValue {
		return e, fmt.Errorf("audit entry %d: %w: %d bytes", bigEndian(k), ErrCorrupt, len(v))
	}
	if err := json.Unmarshal(v, &e); err != nil {
		return e, fmt.Errorf("audit entry %d: %w: %w", bigEndian(k), ErrCorrupt, err)
	}
	e.Seq = bigEndian(k)
	return e, nil
}

// RecordAudit appends e to the audit log (its Seq assigned; the Seq of e is ignored) and
// returns once it is durable. An entry without a time or an action is ErrInvalid; text
// fields longer than their bounds (who 256 bytes, target 512, detail 8 KiB) are cut.
func (s *Store) RecordAudit(e console.AuditEntry) error {
	v, err := prepareAudit(e)
	if err != nil {
		return fmt.Errorf("store: record audit: %w", err)
	}
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return fmt.Errorf("store: record audit: %w", ErrClosed)
	}
	start := time.Now()
	err = s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bAudit)
		seq, err := b.NextSequence()
		if err != nil {
			return fmt.Errorf("sequence: %w", err)
		}
		if err := b.Put(u64(seq), v); err != nil {
			return fmt.Errorf("entry %d: %w", seq, err)
		}
		s.size.Store(tx.Size())
		return nil
	})
	if err != nil {
		s.m.commitErrors.Inc()
		return fmt.Errorf("store: record audit: %w", err)
	}
	s.m.writeSeconds.Observe(time.Since(start).Seconds())
	s.m.commits.Inc()
	return nil
}

// AuditLog returns the entries q selects, newest (highest Seq) first: Time in [Since,
// Until), and Who and Action when given (exact). Limit 0 is 100; at most 1000 are returned.
// It decodes at most 200000 entries to find them, and stops at the first entry older than
// Since by more than a minute.
func (s *Store) AuditLog(q console.AuditQuery) ([]console.AuditEntry, error) {
	limit := q.Limit
	switch {
	case limit <= 0:
		limit = DefaultAuditLimit
	case limit > MaxAuditLimit:
		limit = MaxAuditLimit
	}
	var out []console.AuditEntry
	err := s.view(func(tx *bolt.Tx) (err error) {
		out, err = scanLog(tx.Bucket(bAudit).Cursor(), q.Since, q.Until, limit, decodeAudit,
			func(e *console.AuditEntry) time.Time { return e.Time },
			func(e *console.AuditEntry) bool {
				return (q.Who == "" || e.Who == q.Who) && (q.Action == "" || e.Action == q.Action)
			})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: audit log: %w", err)
	}
	return out, nil
}

// pruneAudit deletes the audit entries older than cutoff, oldest first, a chunk per
// transaction.
func (s *Store) pruneAudit(ctx context.Context, cutoff time.Time) (int, error) {
	return s.pruneOldest(ctx, "audit", bAudit, func(k, v []byte) (old, counts bool, err error) {
		e, err := decodeAudit(k, v)
		if err != nil {
			return false, false, err
		}
		return e.Time.Before(cutoff), true, nil
	})
}
