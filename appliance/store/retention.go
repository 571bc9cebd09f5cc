package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// retentionKinds label watchfloor_store_retention_deleted_total.
var retentionKinds = []string{"event", "raw", "5m", "1h", "flows_1m", "flows_1h", "alert",
	"notification", "incident", "audit"}

const (
	// retentionEvery is how often Run enforces retention.
	retentionEvery = 5 * time.Minute
	// retentionChunk bounds the work of one retention transaction: records deleted plus
	// series visited. The committer waits for at most one such transaction.
	retentionChunk = 5000
)

// Run enforces retention now and then every few minutes, until ctx is done or the store is
// closed. It returns nil then; failures are logged and retried on the next round.
func (s *Store) Run(ctx context.Context) error {
	t := time.NewTicker(retentionEvery)
	defer t.Stop()
	for {
		if _, err := s.enforceRetention(ctx); err != nil {
			switch {
			case errors.Is(err, ErrClosed):
				return nil
			case ctx.Err() == nil:
				s.log.Error("retention failed", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// enforceRetention deletes every record older than the retention of its kind, as of s.now,
// and returns how many of each kind it deleted.
func (s *Store) enforceRetention(ctx context.Context) (map[string]int, error) {
	start, now, r := time.Now(), s.now(), s.cfg.Retention
	deleted := make(map[string]int, len(retentionKinds))
	n, err := s.pruneEvents(ctx, now.Add(-r.Events))
	deleted["event"] = n
	for _, p := range []struct {
		kind   string
		bucket []byte
		step   int64
		keep   time.Duration
	}{
		{"raw", bRaw, 1, r.Raw},
		{"5m", b5m, step5m, r.Rollup5m},
		{"1h", b1h, step1h, r.Rollup1h},
	} {
		if err != nil {
			break
		}
		// A step is deleted once all of it is older than the retention.
		n, err = s.pruneSeries(ctx, p.kind, p.bucket, now.Add(-p.keep).Unix()-p.step+1)
		deleted[p.kind] = n
	}
	for _, p := range []struct {
		kind   string
		bucket []byte
		step   int64
		keep   time.Duration
	}{
		{"flows_1m", bFlows1m, 60, r.Flows1m},
		{"flows_1h", bFlows1h, step1h, r.Flows1h},
	} {
		if err != nil {
			break
		}
		n, err = s.pruneFlows(ctx, p.kind, p.bucket, now.Add(-p.keep).Unix()-p.step+1)
		deleted[p.kind] = n
	}
	if err == nil {
		n, err = s.pruneAlerts(ctx, now.Add(-r.Alerts))
		deleted["alert"] = n
	}
	if err == nil {
		// The appliances' alerts at central: alerts too, under the same retention.
		n, err = s.pruneSiteAlerts(ctx, now.Add(-r.Alerts))
		deleted["alert"] += n
	}
	if err == nil {
		n, err = s.pruneNotifyLog(ctx, now.Add(-r.Notifications))
		deleted["notification"] = n
	}
	if err == nil {
		n, err = s.pruneIncidents(ctx, now.Add(-r.Notifications))
		deleted["incident"] = n
	}
	if err == nil {
		n, err = s.pruneAudit(ctx, now.Add(-r.Audit))
		deleted["audit"] = n
	}
	total := 0
	for _, n := range deleted {
		total += n
	}
	if total > 0 {
		s.log.Info("retention", "events", deleted["event"], "raw", deleted["raw"],
			"rollups_5m", deleted["5m"], "rollups_1h", deleted["1h"],
			"flows_1m", deleted["flows_1m"], "flows_1h", deleted["flows_1h"], "alerts", deleted["alert"],
			"notifications", deleted["notification"], "incidents", deleted["incident"], "audit", deleted["audit"],
			"seconds", time.Since(start).Seconds())
	}
	if err != nil {
		return deleted, fmt.Errorf("store: retention: %w", err)
	}
	return deleted, nil
}

// pruneEvents deletes the events older than cutoff, oldest first, a chunk per transaction.
// It stops at the first event that is not older (see the package comment on order).
func (s *Store) pruneEvents(ctx context.Context, cutoff time.Time) (int, error) {
	return s.pruneOldest(ctx, "event", bEvents, func(k, v []byte) (old, counts bool, err error) {
		t, _, err := eventHead(v)
		if err != nil {
			return false, false, fmt.Errorf("event %d: %w: %w", bigEndian(k), ErrCorrupt, err)
		}
		return t.Before(cutoff), true, nil
	})
}

// pruneSeries deletes, in every series under parent, the points keyed before before, and
// the series left empty; a chunk per transaction, resuming at the series where the last
// chunk stopped.
func (s *Store) pruneSeries(ctx context.Context, kind string, parent []byte, before int64) (int, error) {
	total := 0
	var resume []byte
	for first := true; first || resume != nil; first = false {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n := 0
		err := s.update(func(tx *bolt.Tx) error {
			var err error
			n, resume, err = pruneSeriesChunk(tx.Bucket(parent), before, resume, s.chunk)
			s.size.Store(tx.Size())
			return err
		})
		if err != nil {
			return total, err
		}
		total += n
		s.m.retentionDeleted.WithLabelValues(kind).Add(float64(n))
	}
	return total, nil
}

// pruneSeriesChunk does one chunk of pruneSeries from the series resume (nil: the first),
// and returns the points deleted and the series to resume from (nil: done).
func pruneSeriesChunk(p *bolt.Bucket, before int64, resume []byte, budget int) (deleted int, next []byte, err error) {
	var empty [][]byte
	pc := p.Cursor()
	k, v := pc.First()
	if resume != nil {
		k, v = pc.Seek(resume)
	}
	for ; k != nil; k, v = pc.Next() {
		if v != nil {
			continue // not a series bucket
		}
		if budget <= 0 {
			next = bytes.Clone(k)
			break
		}
		budget-- // visiting a series costs too
		sub := p.Bucket(k)
		var keys [][]byte
		sc := sub.Cursor()
		sk, _ := sc.First()
		for sk != nil && int64(bigEndian(sk)) < before && len(keys) < budget {
			keys = append(keys, bytes.Clone(sk))
			sk, _ = sc.Next()
		}
		more := sk != nil && int64(bigEndian(sk)) < before
		for _, key := range keys {
			if err := sub.Delete(key); err != nil {
				return deleted, nil, err
			}
		}
		deleted += len(keys)
		budget -= len(keys)
		if more {
			next = bytes.Clone(k)
			break
		}
		if first, _ := sub.Cursor().First(); first == nil {
			empty = append(empty, bytes.Clone(k))
		}
	}
	for _, name := range empty {
		if err := p.DeleteBucket(name); err != nil {
			return deleted, nil, err
		}
	}
	return deleted, next, nil
}

// pruneFlows deletes the flow rollups of bucket whose start is before before, oldest first,
// at most a chunk of keys (parts) per transaction, and returns how many rollups it deleted.
func (s *Store) pruneFlows(ctx context.Context, kind string, bucket []byte, before int64) (int, error) {
	return s.pruneOldest(ctx, kind, bucket, func(k, _ []byte) (old, counts bool, err error) {
		if len(k) >= 8 && int64(bigEndian(k)) >= before {
			return false, false, nil
		}
		_, _, part, ok := parseFlowKey(k)
		return true, ok && part == partTotals, nil
	})
}

// pruneOldest deletes the keys of a time-ordered bucket from its first, a chunk per
// transaction, until old says a key is not old; it returns how many deleted keys counts said
// count (one record can span several keys), and counts them in the retention metric as kind.
func (s *Store) pruneOldest(ctx context.Context, kind string, bucket []byte,
	old func(k, v []byte) (old, counts bool, err error)) (int, error) {
	total := 0
	for more := true; more; {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n := 0
		err := s.update(func(tx *bolt.Tx) error {
			n, more = 0, false
			b := tx.Bucket(bucket)
			var keys [][]byte
			c := b.Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				if len(keys) == s.chunk {
					more = true
					break
				}
				isOld, counts, err := old(k, v)
				if err != nil {
					return err
				}
				if !isOld {
					break
				}
				keys = append(keys, bytes.Clone(k))
				if counts {
					n++
				}
			}
			for _, k := range keys {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			s.size.Store(tx.Size())
			return nil
		})
		if err != nil {
			return total, err
		}
		total += n
		s.m.retentionDeleted.WithLabelValues(kind).Add(float64(n))
	}
	return total, nil
}

// prunePass is one transaction of a resumable prune: visit sees the keys in order from where
// the previous pass stopped and says when the walk is over (a key at or past the cutoff);
// done deletes what visit noted and returns how many records went.
type prunePass struct {
	visit func(k, v []byte) (stop bool, err error)
	done  func() (int, error)
}

// pruneResumable walks bucket from its first key, at most s.chunk keys a transaction, each
// transaction resuming at the key the previous one stopped at, until a visit stops or the
// keys end; pass makes each transaction's visit and done over that transaction's buckets.
// Unlike pruneOldest, it passes over what it keeps (open alerts, open incidents).
func (s *Store) pruneResumable(ctx context.Context, kind string, bucket []byte, pass func(tx *bolt.Tx) prunePass) (int, error) {
	total := 0
	var resume []byte
	for first := true; first || resume != nil; first = false {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n := 0
		err := s.update(func(tx *bolt.Tx) error {
			p := pass(tx)
			c := tx.Bucket(bucket).Cursor()
			k, v := c.First()
			if resume != nil {
				k, v = c.Seek(resume)
			}
			resume = nil
			for budget := s.chunk; k != nil; k, v = c.Next() {
				if budget <= 0 {
					resume = bytes.Clone(k)
					break
				}
				budget--
				stop, err := p.visit(k, v)
				if err != nil {
					return err
				}
				if stop {
					break
				}
			}
			var err error
			if n, err = p.done(); err != nil {
				return err
			}
			s.size.Store(tx.Size())
			return nil
		})
		if err != nil {
			return total, err
		}
		total += n
		s.m.retentionDeleted.WithLabelValues(kind).Add(float64(n))
	}
	return total, nil
}

// deleteKeys deletes keys from b.
func deleteKeys(b *bolt.Bucket, keys [][]byte) error {
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
