package store

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/correlator/alerts"
	"github.com/watchfloor/watchfloor/correlator/notify/dispatch"
	bolt "go.etcd.io/bbolt"
)

// Read-only access and streaming reads, for tools that read a whole period (the monthly
// report): OpenReadOnly opens a store without writing to it, and the Scan* methods call a
// function per record instead of returning slices, so a month of alerts never has to be in
// memory at once.

// OpenReadOnly opens the store at path for reading only. bbolt takes a shared lock, which a
// running appliance (holding the exclusive one) refuses: after waiting timeout, it fails
// with ErrLocked — stop the appliance, or read a copy made with `watchfloor backup`.
// Writes to the returned store fail. log may be nil.
func OpenReadOnly(path string, timeout time.Duration, log *slog.Logger) (*Store, error) {
	switch fi, err := os.Stat(path); {
	case err != nil:
		return nil, fmt.Errorf("store: open %s read-only: %w", path, err)
	case fi.Size() == 0:
		return nil, fmt.Errorf("store: open %s read-only: %w: empty file", path, ErrCorrupt)
	}
	if timeout <= 0 {
		timeout = lockTimeout
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	db, err := openDB("open read-only", path, &bolt.Options{ReadOnly: true, Timeout: timeout})
	if err != nil {
		return nil, err
	}
	s := &Store{
		path: path, cfg: DefaultConfig(), db: db, log: log.With("component", "store"),
		now: time.Now, queue: make(chan *request), chunk: retentionChunk, committed: make(chan struct{}),
	}
	err = s.view(func(tx *bolt.Tx) error {
		fresh, err := checkSchema(tx)
		switch {
		case err != nil:
			return err
		case fresh:
			return fmt.Errorf("%w: empty database", ErrSchema)
		}
		s.size.Store(tx.Size())
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: open %s read-only: %w", path, err)
	}
	s.m = newMetrics(func() float64 { return 0 }, func() float64 { return float64(s.size.Load()) }, func() float64 { return 0 })
	go s.commitLoop() // so that Close works as for any store; writes fail (read-only file)
	return s, nil
}

// alertSlack is how much earlier than an alert with a lower ID an alert may have started
// for ScanAlerts to find it: the manager numbers alerts as they start, from event time,
// which may run a little behind between rules.
const alertSlack = time.Hour

// ScanAlerts calls fn with every alert that started in [from, to), in ID order, decoded
// one at a time; fn's alert is valid during the call only. It finds the first by a binary
// search over IDs (IDs follow start times, within alertSlack) and stops at the first alert
// that started after to + alertSlack. An error from fn ends the scan and is returned.
func (s *Store) ScanAlerts(from, to time.Time, fn func(a *watchfloor.Alert) error) error {
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bAlerts).Cursor()
		first, _ := c.First()
		last, _ := c.Last()
		if first == nil {
			return nil
		}
		// Binary search for the first ID whose alert started at or after from − slack.
		target := from.Add(-alertSlack)
		lo, hi := bigEndian(first), bigEndian(last)+1
		for lo < hi {
			mid := lo + (hi-lo)/2
			k, v := c.Seek(u64(mid))
			t, err := alertStart(k, v)
			if err != nil {
				return err
			}
			if !t.Before(target) {
				hi = mid
			} else {
				lo = bigEndian(k) + 1
			}
		}
		stop := to.Add(alertSlack)
		var r alerts.Record
		for k, v := c.Seek(u64(lo)); k != nil; k, v = c.Next() {
			r = alerts.Record{}
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("alert %d: %w: %w", bigEndian(k), ErrCorrupt, err)
			}
			if !r.StartedAt.Before(stop) {
				break
			}
			if r.StartedAt.Before(from) || !r.StartedAt.Before(to) {
				continue
			}
			if err := fn(&r.Alert); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: scan alerts: %w", err)
	}
	return nil
}

// alertStart reads only the start time of an encoded alert.
func alertStart(k, v []byte) (time.Time, error) {
	var h struct {
		StartedAt time.Time `json:"started_at"`
	}
	if err := json.Unmarshal(v, &h); err != nil {
		return time.Time{}, fmt.Errorf("alert %d: %w: %w", bigEndian(k), ErrCorrupt, err)
	}
	return h.StartedAt, nil
}

// ScanIncidents calls fn with every incident opened in [since, until), newest first, one at
// a time, until fn returns false. Unlike Incidents it has no limit.
func (s *Store) ScanIncidents(since, until time.Time, fn func(in *dispatch.Incident) bool) error {
	err := s.view(func(tx *bolt.Tx) error {
		_, err := scanIncidents(tx, since, until, -1, fn)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: scan incidents: %w", err)
	}
	return nil
}

// ScanNotifications calls fn with every notification log entry whose time is in [since,
// until), in Seq order (oldest first, within the log's slack), one at a time. An error from
// fn ends the scan and is returned.
func (s *Store) ScanNotifications(since, until time.Time, fn func(e *dispatch.LogEntry) error) error {
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bNotifyLog).Cursor()
		seq, err := logFirstAtOrAfter(c, since.Add(-logSlack), decodeLogEntry, logEntryTime)
		if err != nil {
			return err
		}
		stop := until.Add(logSlack)
		for k, v := c.Seek(u64(seq)); k != nil; k, v = c.Next() {
			e, err := decodeLogEntry(k, v)
			if err != nil {
				return err
			}
			if !e.Time.Before(stop) {
				break
			}
			if e.Time.Before(since) || !e.Time.Before(until) {
				continue
			}
			if err := fn(&e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: scan notifications: %w", err)
	}
	return nil
}

// ScanEvents calls fn with every event whose time is in [since, until), oldest (lowest ID)
// first, one at a time. An error from fn ends the scan and is returned.
func (s *Store) ScanEvents(since, until time.Time, fn func(ev *watchfloor.Event) error) error {
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bEvents).Cursor()
		id, err := firstIDSince(c, since.Add(-sinceSlack))
		if err != nil {
			return err
		}
		stop := until.Add(sinceSlack)
		for k, v := c.Seek(u64(id)); k != nil; k, v = c.Next() {
			t, _, err := eventHead(v)
			if err != nil {
				return fmt.Errorf("event %d: %w: %w", bigEndian(k), ErrCorrupt, err)
			}
			if !t.Before(stop) {
				break
			}
			if t.Before(since) || !t.Before(until) {
				continue
			}
			ev, err := decodeEvent(bigEndian(k), v)
			if err != nil {
				return err
			}
			if err := fn(&ev); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: scan events: %w", err)
	}
	return nil
}
