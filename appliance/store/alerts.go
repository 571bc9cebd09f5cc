package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/correlator/alerts"
	bolt "go.etcd.io/bbolt"
)

// Alerts: the correlator's alert manager (correlator/alerts) keeps its alerts, their
// histories and the silences here, written with PutAlerts.
//
//	alerts         uint64 ID → JSON of alerts.Record; the bucket's sequence is the highest
//	               ID ever written, so IDs keep increasing after retention deletes alerts
//	alerts_open    uint64 ID → empty: the alerts not resolved
//	alert_history  uint64 alert ID, uint64 sequence → JSON of alerts.Transition
//	silences       ID → JSON of watchfloor.Silence
//
// Retention deletes resolved alerts, with their histories, once they have been resolved
// longer than Retention.Alerts. It walks the alerts from the lowest ID and stops at the
// first one that started after the cutoff: IDs follow start times (the manager numbers
// alerts as they start).

var _ alerts.Store = (*Store)(nil)

// maxAlertScan bounds the alerts one Alerts query decodes; a query whose filter selects
// fewer than its limit in them returns what it found.
const maxAlertScan = 200_000

// preparedAlerts is a Batch's alert changes encoded by the writer.
type preparedAlerts struct {
	alerts   [][]byte // JSON, one per Changes.Alerts
	history  [][]byte // JSON, one per Changes.History
	silences [][]byte // JSON, one per Changes.Silences
}

func prepareAlerts(c *alerts.Changes) (*preparedAlerts, error) {
	p := &preparedAlerts{
		alerts:   make([][]byte, len(c.Alerts)),
		history:  make([][]byte, len(c.History)),
		silences: make([][]byte, len(c.Silences)),
	}
	var err error
	for i := range c.Alerts {
		if c.Alerts[i].ID == 0 {
			return nil, fmt.Errorf("%w: alert %d: ID 0", ErrInvalid, i)
		}
		if p.alerts[i], err = json.Marshal(&c.Alerts[i]); err != nil {
			return nil, fmt.Errorf("%w: alert %d: %w", ErrInvalid, c.Alerts[i].ID, err)
		}
	}
	for i := range c.History {
		if c.History[i].Alert == 0 {
			return nil, fmt.Errorf("%w: history %d: alert ID 0", ErrInvalid, i)
		}
		if p.history[i], err = json.Marshal(&c.History[i]); err != nil {
			return nil, fmt.Errorf("%w: history of alert %d: %w", ErrInvalid, c.History[i].Alert, err)
		}
	}
	for i := range c.Silences {
		if id := c.Silences[i].ID; id == "" || len(id) > maxName {
			return nil, fmt.Errorf("%w: silence %d: ID must have 1 to %d bytes", ErrInvalid, i, maxName)
		}
		if p.silences[i], err = json.Marshal(&c.Silences[i]); err != nil {
			return nil, fmt.Errorf("%w: silence %q: %w", ErrInvalid, c.Silences[i].ID, err)
		}
	}
	for i, id := range c.DeletedSilences {
		if id == "" || len(id) > maxName {
			return nil, fmt.Errorf("%w: deleted silence %d: ID must have 1 to %d bytes", ErrInvalid, i, maxName)
		}
	}
	return p, nil
}

// putAlerts writes c in tx.
func putAlerts(tx *bolt.Tx, c *alerts.Changes, p *preparedAlerts) error {
	ab, ob, hb, sb := tx.Bucket(bAlerts), tx.Bucket(bAlertsOpen), tx.Bucket(bAlertHistory), tx.Bucket(bSilences)
	var key [16]byte
	for i := range c.Alerts {
		a := &c.Alerts[i]
		binary.BigEndian.PutUint64(key[:8], a.ID)
		if err := ab.Put(key[:8], p.alerts[i]); err != nil {
			return fmt.Errorf("alert %d: %w", a.ID, err)
		}
		var err error
		if a.State == watchfloor.AlertResolved {
			err = ob.Delete(key[:8])
		} else {
			err = ob.Put(key[:8], nil)
		}
		if err != nil {
			return fmt.Errorf("alert %d: open index: %w", a.ID, err)
		}
		if a.ID > ab.Sequence() {
			if err := ab.SetSequence(a.ID); err != nil {
				return fmt.Errorf("alert %d: sequence: %w", a.ID, err)
			}
		}
	}
	for i := range c.History {
		seq, err := hb.NextSequence()
		if err != nil {
			return fmt.Errorf("alert history: %w", err)
		}
		binary.BigEndian.PutUint64(key[:8], c.History[i].Alert)
		binary.BigEndian.PutUint64(key[8:], seq)
		if err := hb.Put(key[:], p.history[i]); err != nil {
			return fmt.Errorf("history of alert %d: %w", c.History[i].Alert, err)
		}
	}
	for i := range c.Silences {
		if err := sb.Put([]byte(c.Silences[i].ID), p.silences[i]); err != nil {
			return fmt.Errorf("silence %q: %w", c.Silences[i].ID, err)
		}
	}
	for _, id := range c.DeletedSilences {
		if err := sb.Delete([]byte(id)); err != nil {
			return fmt.Errorf("silence %q: %w", id, err)
		}
	}
	return nil
}

// PutAlerts commits c in a transaction of its own, and returns once it is durable. The
// manager batches its changes itself (a few writes a second), so they do not queue behind
// the group commits of ingest; bbolt runs one write transaction at a time either way.
func (s *Store) PutAlerts(ctx context.Context, c *alerts.Changes) error {
	if c == nil || c.Len() == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: put alerts: %w", err)
	}
	p, err := prepareAlerts(c)
	if err != nil {
		return fmt.Errorf("store: put alerts: %w", err)
	}
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return fmt.Errorf("store: put alerts: %w", ErrClosed)
	}
	start := time.Now()
	err = s.update(func(tx *bolt.Tx) error {
		if err := putAlerts(tx, c, p); err != nil {
			return err
		}
		s.size.Store(tx.Size())
		return nil
	})
	if err != nil {
		s.m.commitErrors.Inc()
		return fmt.Errorf("store: put alerts: %w", err)
	}
	s.m.writeSeconds.Observe(time.Since(start).Seconds())
	s.m.commits.Inc()
	s.m.alert.Add(float64(c.Len()))
	return nil
}

// LastAlertID is the highest alert ID ever written.
func (s *Store) LastAlertID() (uint64, error) {
	var id uint64
	err := s.view(func(tx *bolt.Tx) error {
		id = tx.Bucket(bAlerts).Sequence()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: last alert ID: %w", err)
	}
	return id, nil
}

func decodeAlert(k, v []byte) (alerts.Record, error) {
	var r alerts.Record
	if err := json.Unmarshal(v, &r); err != nil {
		return r, fmt.Errorf("alert %d: %w: %w", bigEndian(k), ErrCorrupt, err)
	}
	return r, nil
}

// OpenAlerts returns the alerts not resolved, by ID.
func (s *Store) OpenAlerts() ([]alerts.Record, error) {
	var out []alerts.Record
	err := s.view(func(tx *bolt.Tx) error {
		ab := tx.Bucket(bAlerts)
		return tx.Bucket(bAlertsOpen).ForEach(func(k, _ []byte) error {
			v := ab.Get(k)
			if v == nil {
				return fmt.Errorf("alert %d: %w: in the open index but not stored", bigEndian(k), ErrCorrupt)
			}
			r, err := decodeAlert(k, v)
			if err != nil {
				return err
			}
			out = append(out, r)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: open alerts: %w", err)
	}
	return out, nil
}

// Alerts returns the alerts q selects, newest first. It decodes at most 200000 alerts (from
// the newest) to find them; open alerts come from their index.
func (s *Store) Alerts(q alerts.Query) ([]watchfloor.Alert, error) {
	limit := q.Max()
	var out []watchfloor.Alert
	err := s.view(func(tx *bolt.Tx) error {
		ab := tx.Bucket(bAlerts)
		if q.Open || q.State == watchfloor.AlertFiring || q.State == watchfloor.AlertAcknowledged {
			var ids [][]byte
			_ = tx.Bucket(bAlertsOpen).ForEach(func(k, _ []byte) error { ids = append(ids, k); return nil })
			for i := len(ids) - 1; i >= 0 && len(out) < limit; i-- {
				if q.Before != 0 && bigEndian(ids[i]) >= q.Before {
					continue
				}
				v := ab.Get(ids[i])
				if v == nil {
					continue
				}
				r, err := decodeAlert(ids[i], v)
				if err != nil {
					return err
				}
				if q.Matches(&r.Alert) {
					out = append(out, r.Alert)
				}
			}
			return nil
		}
		c := ab.Cursor()
		var k, v []byte
		if q.Before != 0 {
			var key [8]byte
			binary.BigEndian.PutUint64(key[:], q.Before)
			c.Seek(key[:])
			k, v = c.Prev()
			if k == nil { // Before is past the last key
				k, v = c.Last()
				for k != nil && bigEndian(k) >= q.Before {
					k, v = c.Prev()
				}
			}
		} else {
			k, v = c.Last()
		}
		for scanned := 0; k != nil && len(out) < limit && scanned < maxAlertScan; k, v = c.Prev() {
			scanned++
			r, err := decodeAlert(k, v)
			if err != nil {
				return err
			}
			if q.Matches(&r.Alert) {
				out = append(out, r.Alert)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: alerts: %w", err)
	}
	return out, nil
}

// Alert returns one alert.
func (s *Store) Alert(id uint64) (watchfloor.Alert, bool, error) {
	var (
		r  alerts.Record
		ok bool
	)
	err := s.view(func(tx *bolt.Tx) error {
		k := u64(id)
		v := tx.Bucket(bAlerts).Get(k)
		if v == nil {
			return nil
		}
		var err error
		r, err = decodeAlert(k, v)
		ok = err == nil
		return err
	})
	if err != nil {
		return watchfloor.Alert{}, false, fmt.Errorf("store: alert %d: %w", id, err)
	}
	return r.Alert, ok, nil
}

// AlertHistory returns the state changes of one alert, oldest first.
func (s *Store) AlertHistory(id uint64) ([]alerts.Transition, error) {
	var out []alerts.Transition
	err := s.view(func(tx *bolt.Tx) error {
		prefix := u64(id)
		c := tx.Bucket(bAlertHistory).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var t alerts.Transition
			if err := json.Unmarshal(v, &t); err != nil {
				return fmt.Errorf("history of alert %d: %w: %w", id, ErrCorrupt, err)
			}
			out = append(out, t)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: alert history %d: %w", id, err)
	}
	return out, nil
}

// Silences returns every silence stored.
func (s *Store) Silences() ([]watchfloor.Silence, error) {
	var out []watchfloor.Silence
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bSilences).ForEach(func(k, v []byte) error {
			var sl watchfloor.Silence
			if err := json.Unmarshal(v, &sl); err != nil {
				return fmt.Errorf("silence %q: %w: %w", k, ErrCorrupt, err)
			}
			out = append(out, sl)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: silences: %w", err)
	}
	return out, nil
}

// pruneAlerts deletes the alerts resolved before cutoff, with their histories, from the
// lowest ID, a chunk per transaction; it stops at the first alert that started at or after
// cutoff, and passes over open ones.
func (s *Store) pruneAlerts(ctx context.Context, cutoff time.Time) (int, error) {
	return s.pruneResumable(ctx, "alert", bAlerts, func(tx *bolt.Tx) prunePass {
		ab, ob, hb := tx.Bucket(bAlerts), tx.Bucket(bAlertsOpen), tx.Bucket(bAlertHistory)
		var del [][]byte
		return prunePass{
			visit: func(k, v []byte) (bool, error) {
				if ob.Get(k) != nil {
					return false, nil // open
				}
				r, err := decodeAlert(k, v)
				if err != nil {
					return false, err
				}
				if !r.StartedAt.Before(cutoff) {
					return true, nil
				}
				if r.State == watchfloor.AlertResolved && r.ResolvedAt.Before(cutoff) {
					del = append(del, bytes.Clone(k))
				}
				return false, nil
			},
			done: func() (int, error) {
				for _, k := range del {
					if err := ab.Delete(k); err != nil {
						return 0, err
					}
					hc := hb.Cursor()
					var hk [][]byte
					for k2, _ := hc.Seek(k); k2 != nil && bytes.HasPrefix(k2, k); k2, _ = hc.Next() {
						hk = append(hk, bytes.Clone(k2))
					}
					for _, k2 := range hk {
						if err := hb.Delete(k2); err != nil {
							return 0, err
						}
					}
				}
				return len(del), nil
			},
		}
	})
}
