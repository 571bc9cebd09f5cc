package store

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The uplink outbox: records waiting to be published to the central command center
// (appliance/uplink). Every record is written here first, in one transaction per Append;
// the publisher reads them in order and deletes them once central has acknowledged them.
//
//	uplink_outbox  uint64 sequence → entry (see encodeOutboxEntry): the bucket is in the
//	               order of the sequence, which is also the order records were appended
//	uplink_meta    "epoch" → 8 random bytes, drawn when the outbox is first created
//	               "seq"   → the last sequence assigned (it survives deletions)
//	               "count", "bytes" → entries held and the sum of their encoded sizes
//	               "k/" + kind → the last sequence assigned within that kind
//
// Sequences start at 1 and increase by one per appended record, across kinds (the site
// sequence) and within each kind (the kind sequence). The epoch names this numbering: a
// new store (a replaced disk, a restored backup) starts a new epoch, so central can tell a
// restart of the numbering from a replay.
//
// The outbox is bounded by entries, bytes and age. Entries older than MaxAge are deleted
// (expired) whatever the policy; when an append would exceed MaxEntries or MaxBytes the
// policy decides: OutboxBlock refuses the new record, OutboxDropOldest evicts the oldest
// entries until it fits. Every refused, evicted and expired record is returned to the
// caller by kind, for its counters: nothing leaves the outbox silently.
//
// The buckets are created by the first Outbox call, so a store written by an older
// watchfloor gains them without a schema change; Store.Check and backups cover them like
// any other bucket. Retention does not touch them: the bounds above are the outbox's own.

var (
	bUplinkOutbox = []byte("uplink_outbox")
	bUplinkMeta   = []byte("uplink_meta")

	kOutboxEpoch = []byte("epoch")
	kOutboxSeq   = []byte("seq")
	kOutboxCount = []byte("count")
	kOutboxBytes = []byte("bytes")
)

// OutboxPolicy is what the outbox does when an append would exceed its size bounds.
type OutboxPolicy string

// Outbox policies.
const (
	// OutboxBlock refuses new records while the outbox is full; what is held is kept.
	OutboxBlock OutboxPolicy = "block"
	// OutboxDropOldest evicts the oldest records to make room for new ones.
	OutboxDropOldest OutboxPolicy = "drop_oldest"
)

// Bounds of outbox records and configuration.
const (
	MaxOutboxKind    = 32      // bytes of a kind name: [a-z0-9_]
	MaxOutboxID      = 256     // bytes of a record ID
	MaxOutboxPayload = 1 << 20 // bytes of a payload: NATS' default max_payload
	// outboxOverhead is what an entry costs beyond its kind, ID and payload: its key, kind
	// sequence, time and lengths, counted in the byte bound.
	outboxOverhead = 8 + 8 + 8 + 1 + 2
)

// OutboxConfig bounds the uplink outbox (the uplink's "outbox" section).
type OutboxConfig struct {
	MaxEntries int           `yaml:"max_entries"` // records held at most
	MaxBytes   int64         `yaml:"max_bytes"`   // encoded bytes held at most (payloads plus ~30 bytes each)
	MaxAge     time.Duration `yaml:"max_age"`     // records older than this are expired; 0: no age bound
	Policy     OutboxPolicy  `yaml:"policy"`      // block or drop_oldest
}

// DefaultOutboxConfig holds a day of a busy site's rollups and alerts within 1 GiB.
func DefaultOutboxConfig() OutboxConfig {
	return OutboxConfig{
		MaxEntries: 2_000_000,
		MaxBytes:   1 << 30,
		MaxAge:     7 * 24 * time.Hour,
		Policy:     OutboxDropOldest,
	}
}

// Validate returns every problem of c, with field paths relative to the outbox section.
func (c OutboxConfig) Validate() []FieldError {
	var errs []FieldError
	if c.MaxEntries < 1 || c.MaxEntries > 1_000_000_000 {
		errs = append(errs, FieldError{"max_entries", fmt.Sprintf("must be between 1 and 1000000000, got %d", c.MaxEntries)})
	}
	if c.MaxBytes < MaxOutboxPayload+outboxOverhead+MaxOutboxKind+MaxOutboxID {
		errs = append(errs, FieldError{"max_bytes", fmt.Sprintf("must hold at least one record of the largest size (%d bytes), got %d",
			MaxOutboxPayload+outboxOverhead+MaxOutboxKind+MaxOutboxID, c.MaxBytes)})
	}
	if c.MaxAge < 0 {
		errs = append(errs, FieldError{"max_age", fmt.Sprintf("must be 0 (no bound) or positive, got %s", c.MaxAge)})
	}
	if c.Policy != OutboxBlock && c.Policy != OutboxDropOldest {
		errs = append(errs, FieldError{"policy", fmt.Sprintf("must be %q or %q, got %q", OutboxBlock, OutboxDropOldest, c.Policy)})
	}
	return errs
}

// OutboxRecord is a record handed to Append.
type OutboxRecord struct {
	Kind    string    // a short name, [a-z0-9_]{1,32}: the uplink's alert, event, …
	ID      string    // the record's own ID, if it has one (at most 256 bytes); may be empty
	Time    time.Time // when the record was made; the age bound counts from it
	Payload []byte    // the encoded record, at most MaxOutboxPayload bytes; copied
}

// OutboxEntry is a record held by the outbox, as Read returns it.
type OutboxEntry struct {
	Seq     uint64 // site sequence: the key, in append order across kinds
	KindSeq uint64 // sequence within the kind
	Kind    string
	ID      string
	Time    time.Time
	Payload []byte // owned by the caller
}

// KindCount is a number of records of one kind.
type KindCount struct {
	Kind string
	N    int
}

// AppendResult says what became of the records of one Append.
type AppendResult struct {
	Appended int         // records written
	Refused  []KindCount // records refused under OutboxBlock because the outbox was full
	Evicted  []KindCount // held records evicted under OutboxDropOldest to make room
	Expired  []KindCount // held records deleted because they were older than MaxAge
}

// addKind adds n to kind's count in cs.
func addKind(cs []KindCount, kind string, n int) []KindCount {
	for i := range cs {
		if cs[i].Kind == kind {
			cs[i].N += n
			return cs
		}
	}
	return append(cs, KindCount{kind, n})
}

// Outbox is the uplink's durable queue in the store. Its methods are safe for concurrent
// use; Append and Delete each commit a transaction of their own and return once it is
// durable, so callers batch (one Append per batch of records, one Delete per batch of
// acknowledgements).
type Outbox struct {
	s   *Store
	cfg OutboxConfig

	epoch uint64

	mu    sync.Mutex // held across write transactions, so count and bytes follow them
	count int64
	bytes int64
}

// Outbox opens the uplink outbox with the given bounds, creating its buckets on first use.
// Bounds apply from the next Append: lowering them does not delete what is held until then.
// Use one Outbox per store.
func (s *Store) Outbox(cfg OutboxConfig) (*Outbox, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		all := make([]error, len(errs))
		for i, e := range errs {
			all[i] = e
		}
		return nil, fmt.Errorf("store: outbox: invalid config: %w", errors.Join(all...))
	}
	o := &Outbox{s: s, cfg: cfg}
	err := s.writeTx(func(tx *bolt.Tx) error {
		ob, err := tx.CreateBucketIfNotExists(bUplinkOutbox)
		if err != nil {
			return err
		}
		meta, err := tx.CreateBucketIfNotExists(bUplinkMeta)
		if err != nil {
			return err
		}
		if v := meta.Get(kOutboxEpoch); len(v) == 8 {
			o.epoch = bigEndian(v)
		} else {
			var b [8]byte
			_, _ = rand.Read(b[:]) // never fails (crypto/rand)
			o.epoch = binary.BigEndian.Uint64(b[:]) | 1
			if err := meta.Put(kOutboxEpoch, u64(o.epoch)); err != nil {
				return err
			}
			// A fresh outbox: no counters yet (an empty bucket either way).
			if err := putCounters(meta, int64(ob.Stats().KeyN), 0); err != nil {
				return err
			}
		}
		o.count, o.bytes = getCounter(meta, kOutboxCount), getCounter(meta, kOutboxBytes)
		if o.count < 0 || o.bytes < 0 {
			return fmt.Errorf("%w: outbox counters negative", ErrCorrupt)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: outbox: %w", err)
	}
	return o, nil
}

// writeTx runs fn in a write transaction of its own, as PutAlerts does, counting it in the
// store's commit metrics.
func (s *Store) writeTx(fn func(tx *bolt.Tx) error) error {
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	start := time.Now()
	err := s.update(func(tx *bolt.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		s.size.Store(tx.Size())
		return nil
	})
	if err != nil {
		if !errors.Is(err, ErrClosed) {
			s.m.commitErrors.Inc()
		}
		return err
	}
	s.m.writeSeconds.Observe(time.Since(start).Seconds())
	s.m.commits.Inc()
	return nil
}

func getCounter(meta *bolt.Bucket, k []byte) int64 {
	if v := meta.Get(k); len(v) == 8 {
		return int64(bigEndian(v))
	}
	return 0
}

func putCounters(meta *bolt.Bucket, count, bytes int64) error {
	if err := meta.Put(kOutboxCount, u64(uint64(count))); err != nil {
		return err
	}
	return meta.Put(kOutboxBytes, u64(uint64(bytes)))
}

// Epoch is the random number naming this outbox's numbering (never 0).
func (o *Outbox) Epoch() uint64 { return o.epoch }

// Len is the number of records held.
func (o *Outbox) Len() int64 { o.mu.Lock(); defer o.mu.Unlock(); return o.count }

// Bytes is the encoded size of the records held, as counted against MaxBytes.
func (o *Outbox) Bytes() int64 { o.mu.Lock(); defer o.mu.Unlock(); return o.bytes }

// Config is the outbox's bounds.
func (o *Outbox) Config() OutboxConfig { return o.cfg }

// checkKind says what is wrong with a kind name, or "".
func checkKind(k string) string {
	if k == "" || len(k) > MaxOutboxKind {
		return fmt.Sprintf("kind must have 1 to %d bytes", MaxOutboxKind)
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return fmt.Sprintf("kind %q: only a-z, 0-9 and _", k)
		}
	}
	return ""
}

func entrySize(r *OutboxRecord) int64 {
	return int64(outboxOverhead + len(r.Kind) + len(r.ID) + len(r.Payload))
}

// encodeOutboxEntry is the value of an entry: kind sequence (8), time in unix nanoseconds
// (8), kind length (1) and kind, ID length (2) and ID, payload.
func encodeOutboxEntry(b []byte, kseq uint64, r *OutboxRecord) []byte {
	b = binary.BigEndian.AppendUint64(b, kseq)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Time.UnixNano()))
	b = append(b, byte(len(r.Kind)))
	b = append(b, r.Kind...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(r.ID)))
	b = append(b, r.ID...)
	return append(b, r.Payload...)
}

// outboxHead decodes an entry's kind sequence, time, kind and ID, and returns the payload
// (aliasing v).
func outboxHead(v []byte) (kseq uint64, t time.Time, kind, id, payload []byte, err error) {
	if len(v) < 17 {
		return 0, t, nil, nil, nil, errors.New("entry too short")
	}
	kseq = binary.BigEndian.Uint64(v)
	t = time.Unix(0, int64(binary.BigEndian.Uint64(v[8:])))
	kl := int(v[16])
	v = v[17:]
	if len(v) < kl+2 {
		return 0, t, nil, nil, nil, errors.New("entry truncated in kind")
	}
	kind, v = v[:kl], v[kl:]
	il := int(binary.BigEndian.Uint16(v))
	v = v[2:]
	if len(v) < il {
		return 0, t, nil, nil, nil, errors.New("entry truncated in ID")
	}
	return kseq, t, kind, v[:il], v[il:], nil
}

// storedSize is the size an entry of value v counts for.
func storedSize(v []byte) int64 { return int64(len(v)) + 8 }

// Append writes recs in one transaction, in order, and returns once they are durable. now
// is the time the age bound is measured at. Anything invalid fails the whole call with
// ErrInvalid and nothing is written: a kind that is empty, longer than 32 bytes or not
// [a-z0-9_], an ID longer than 256 bytes, a payload larger than MaxOutboxPayload, or a zero
// Time. Records the policy refuses are not an error: the result counts them.
func (o *Outbox) Append(now time.Time, recs []OutboxRecord) (AppendResult, error) {
	var res AppendResult
	if len(recs) == 0 {
		return res, nil
	}
	for i := range recs {
		r := &recs[i]
		msg := checkKind(r.Kind)
		switch {
		case msg != "":
		case len(r.ID) > MaxOutboxID:
			msg = fmt.Sprintf("ID longer than %d bytes", MaxOutboxID)
		case len(r.Payload) > MaxOutboxPayload:
			msg = fmt.Sprintf("payload of %d bytes, more than %d", len(r.Payload), MaxOutboxPayload)
		case r.Time.IsZero():
			msg = "time missing"
		}
		if msg != "" {
			return res, fmt.Errorf("store: outbox append: %w: record %d: %s", ErrInvalid, i, msg)
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	count, bytes := o.count, o.bytes
	err := o.s.writeTx(func(tx *bolt.Tx) error {
		res = AppendResult{}
		count, bytes = o.count, o.bytes
		ob, meta := tx.Bucket(bUplinkOutbox), tx.Bucket(bUplinkMeta)
		if ob == nil || meta == nil {
			return fmt.Errorf("%w: outbox buckets missing", ErrCorrupt)
		}
		c := ob.Cursor()
		// evict deletes the first entry, counting it in *into.
		evict := func(k, v []byte, into *[]KindCount) error {
			_, _, kind, _, _, err := outboxHead(v)
			if err != nil {
				return fmt.Errorf("%w: outbox entry %d: %w", ErrCorrupt, bigEndian(k), err)
			}
			*into = addKind(*into, string(kind), 1)
			count--
			bytes -= storedSize(v)
			return c.Delete()
		}
		if o.cfg.MaxAge > 0 {
			cutoff := now.Add(-o.cfg.MaxAge)
			for k, v := c.First(); k != nil; k, v = c.First() {
				_, t, _, _, _, err := outboxHead(v)
				if err != nil {
					return fmt.Errorf("%w: outbox entry %d: %w", ErrCorrupt, bigEndian(k), err)
				}
				if !t.Before(cutoff) {
					break
				}
				if err := evict(k, v, &res.Expired); err != nil {
					return err
				}
			}
		}
		seq := getCounter(meta, kOutboxSeq)
		// bbolt keeps the keys and values handed to Put until the commit: one arena holds
		// them all.
		need := 0
		for i := range recs {
			need += 8 + int(entrySize(&recs[i]))
		}
		arena := make([]byte, 0, need)
		var kseqs []KindCount // kind → last kind sequence, as N (few kinds: a slice)
		for i := range recs {
			r := &recs[i]
			size := entrySize(r)
			for count+1 > int64(o.cfg.MaxEntries) || bytes+size > o.cfg.MaxBytes {
				if o.cfg.Policy != OutboxDropOldest {
					break
				}
				k, v := c.First()
				if k == nil {
					break
				}
				if err := evict(k, v, &res.Evicted); err != nil {
					return err
				}
			}
			if count+1 > int64(o.cfg.MaxEntries) || bytes+size > o.cfg.MaxBytes {
				res.Refused = addKind(res.Refused, r.Kind, 1)
				continue
			}
			ki := -1
			for j := range kseqs {
				if kseqs[j].Kind == r.Kind {
					ki = j
				}
			}
			if ki < 0 {
				kseqs = append(kseqs, KindCount{r.Kind, int(getCounter(meta, kindSeqKey(r.Kind)))})
				ki = len(kseqs) - 1
			}
			kseqs[ki].N++
			seq++
			start := len(arena)
			arena = binary.BigEndian.AppendUint64(arena, uint64(seq))
			arena = encodeOutboxEntry(arena, uint64(kseqs[ki].N), r)
			key, val := arena[start:start+8:start+8], arena[start+8:]
			arena = arena[len(arena):]
			if err := ob.Put(key, val); err != nil {
				return err
			}
			count++
			bytes += storedSize(val)
			res.Appended++
		}
		for _, k := range kseqs {
			if err := meta.Put(kindSeqKey(k.Kind), u64(uint64(k.N))); err != nil {
				return err
			}
		}
		if err := meta.Put(kOutboxSeq, u64(uint64(seq))); err != nil {
			return err
		}
		return putCounters(meta, count, bytes)
	})
	if err != nil {
		return AppendResult{}, fmt.Errorf("store: outbox append: %w", err)
	}
	o.count, o.bytes = count, bytes
	o.s.m.records.WithLabelValues("uplink").Add(float64(res.Appended))
	return res, nil
}

func kindSeqKey(kind string) []byte { return append([]byte("k/"), kind...) }

// Expire deletes the records older than MaxAge as of now, and returns them counted by kind.
// Append does it too; the publisher calls Expire when nothing is appended for a while.
func (o *Outbox) Expire(now time.Time) ([]KindCount, error) {
	if o.cfg.MaxAge <= 0 {
		return nil, nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	var expired []KindCount
	count, bytes := o.count, o.bytes
	cutoff := now.Add(-o.cfg.MaxAge)
	err := o.s.writeTx(func(tx *bolt.Tx) error {
		expired = nil
		count, bytes = o.count, o.bytes
		ob, meta := tx.Bucket(bUplinkOutbox), tx.Bucket(bUplinkMeta)
		c := ob.Cursor()
		for k, v := c.First(); k != nil; k, v = c.First() {
			_, t, kind, _, _, err := outboxHead(v)
			if err != nil {
				return fmt.Errorf("%w: outbox entry %d: %w", ErrCorrupt, bigEndian(k), err)
			}
			if !t.Before(cutoff) {
				break
			}
			expired = addKind(expired, string(kind), 1)
			count--
			bytes -= storedSize(v)
			if err := c.Delete(); err != nil {
				return err
			}
		}
		if len(expired) == 0 {
			return nil
		}
		return putCounters(meta, count, bytes)
	})
	if err != nil {
		return nil, fmt.Errorf("store: outbox expire: %w", err)
	}
	o.count, o.bytes = count, bytes
	return expired, nil
}

// Read appends to dst up to max entries whose sequence is greater than after, in order,
// and returns it. Payloads are copied.
func (o *Outbox) Read(dst []OutboxEntry, after uint64, max int) ([]OutboxEntry, error) {
	err := o.s.view(func(tx *bolt.Tx) error {
		ob := tx.Bucket(bUplinkOutbox)
		if ob == nil {
			return nil
		}
		c := ob.Cursor()
		n := 0
		for k, v := c.Seek(u64(after + 1)); k != nil && n < max; k, v = c.Next() {
			if len(k) != 8 {
				return fmt.Errorf("%w: outbox key %x: not 8 bytes", ErrCorrupt, k)
			}
			kseq, t, kind, id, payload, err := outboxHead(v)
			if err != nil {
				return fmt.Errorf("%w: outbox entry %d: %w", ErrCorrupt, bigEndian(k), err)
			}
			dst = append(dst, OutboxEntry{
				Seq: bigEndian(k), KindSeq: kseq, Kind: string(kind), ID: string(id), Time: t,
				Payload: append([]byte(nil), payload...),
			})
			n++
		}
		return nil
	})
	if err != nil {
		return dst, fmt.Errorf("store: outbox read: %w", err)
	}
	return dst, nil
}

// Delete deletes the entries of seqs (those central acknowledged) in one transaction, and
// returns once that is durable. Sequences not held (already deleted, evicted) are skipped.
func (o *Outbox) Delete(seqs []uint64) error {
	if len(seqs) == 0 {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	count, bytes := o.count, o.bytes
	err := o.s.writeTx(func(tx *bolt.Tx) error {
		count, bytes = o.count, o.bytes
		ob, meta := tx.Bucket(bUplinkOutbox), tx.Bucket(bUplinkMeta)
		if ob == nil || meta == nil {
			return fmt.Errorf("%w: outbox buckets missing", ErrCorrupt)
		}
		var key [8]byte
		for _, seq := range seqs {
			binary.BigEndian.PutUint64(key[:], seq)
			v := ob.Get(key[:])
			if v == nil {
				continue
			}
			count--
			bytes -= storedSize(v)
			if err := ob.Delete(key[:]); err != nil {
				return err
			}
		}
		return putCounters(meta, count, bytes)
	})
	if err != nil {
		return fmt.Errorf("store: outbox delete: %w", err)
	}
	o.count, o.bytes = count, bytes
	return nil
}
