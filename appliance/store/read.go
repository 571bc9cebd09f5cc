package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/watchfloor/watchfloor"
	bolt "go.etcd.io/bbolt"
)

// Limits of event queries.
const (
	DefaultEventLimit = 500
	MaxEventLimit     = 10_000
)

// sinceSlack is how much earlier than an event committed before it an event's time may be
// for EventQuery.Since to find it (see the package comment).
const sinceSlack = 10 * time.Minute

// How StepAuto picks the resolution of a series query.
const (
	autoRawSpan = 6 * time.Hour
	auto5mSpan  = 14 * 24 * time.Hour
)

// Devices returns the last written state of every device, sorted by name.
func (s *Store) Devices() ([]watchfloor.Device, error) {
	out := []watchfloor.Device{}
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bDevices).ForEach(func(k, v []byte) error {
			var d watchfloor.Device
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("device %q: %w: %w", k, ErrCorrupt, err)
			}
			out = append(out, d)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: read devices: %w", err)
	}
	return out, nil
}

func clampLimit(n int) int {
	switch {
	case n <= 0:
		return DefaultEventLimit
	case n > MaxEventLimit:
		return MaxEventLimit
	}
	return n
}

// Events returns the events that q selects, oldest (lowest ID) first.
func (s *Store) Events(q watchfloor.EventQuery) ([]watchfloor.Event, error) {
	limit := clampLimit(q.Limit)
	out := []watchfloor.Event{}
	if q.AfterID == math.MaxUint64 {
		return out, nil
	}
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bEvents).Cursor()
		from := q.AfterID + 1
		if !q.Since.IsZero() {
			id, err := firstIDSince(c, q.Since.Add(-sinceSlack))
			if err != nil {
				return err
			}
			from = max(from, id)
		}
		for k, v := c.Seek(u64(from)); k != nil && len(out) < limit; k, v = c.Next() {
			t, dev, err := eventHead(v)
			if err != nil {
				return fmt.Errorf("event %d: %w: %w", bigEndian(k), ErrCorrupt, err)
			}
			if (q.Device != "" && string(dev) != q.Device) || t.Before(q.Since) {
				continue
			}
			ev, err := decodeEvent(bigEndian(k), v)
			if err != nil {
				return err
			}
			out = append(out, ev)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: read events: %w", err)
	}
	return out, nil
}

// firstIDSince finds, by binary search over IDs, the first event whose time is at or after
// t, assuming times do not decrease with IDs. It returns one past the last ID when none is.
func firstIDSince(c *bolt.Cursor, t time.Time) (uint64, error) {
	head := func(k, v []byte) (time.Time, error) { // only the time: no full decode
		et, _, err := eventHead(v)
		if err != nil {
			return et, fmt.Errorf("event %d: %w: %w", bigEndian(k), ErrCorrupt, err)
		}
		return et, nil
	}
	return logFirstAtOrAfter(c, t, head, func(t *time.Time) time.Time { return *t })
}

// Recent returns the last n events (n ≤ 0: DefaultEventLimit, at most MaxEventLimit),
// oldest first.
func (s *Store) Recent(n int) ([]watchfloor.Event, error) {
	n = clampLimit(n)
	out := []watchfloor.Event{}
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bEvents).Cursor()
		for k, v := c.Last(); k != nil && len(out) < n; k, v = c.Prev() {
			ev, err := decodeEvent(bigEndian(k), v)
			if err != nil {
				return err
			}
			out = append(out, ev)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: read recent events: %w", err)
	}
	slices.Reverse(out)
	return out, nil
}

// Series returns the points of one series in [q.From, q.To]: raw samples, or the rollups
// whose step starts in that range or contains q.From. A zero To means now, a zero From one
// hour before To. Raw points have second precision. StepAuto reads raw samples for ranges of
// up to 6 hours that raw retention still covers, 5-minute rollups up to 14 days (within
// their retention), and 1-hour rollups beyond.
func (s *Store) Series(q watchfloor.SeriesQuery) (watchfloor.Series, error) {
	out := watchfloor.Series{Device: q.Device, IfIndex: q.IfIndex, Metric: q.Metric, Points: []watchfloor.Point{}}
	if q.Device == "" || q.Metric == "" {
		return out, fmt.Errorf("store: read series: %w: device and metric are required", ErrInvalid)
	}
	to, from := q.To, q.From
	if to.IsZero() {
		to = s.now()
	}
	if from.IsZero() {
		from = to.Add(-time.Hour)
	}
	if to.Before(from) {
		return out, fmt.Errorf("store: read series: %w: to (%s) is before from (%s)", ErrInvalid, to, from)
	}
	step := q.Step
	if step == watchfloor.StepAuto {
		step = s.autoStep(from, to)
	}
	var (
		parent []byte
		size   int64
	)
	switch step {
	case watchfloor.StepRaw:
		parent, size = bRaw, 1
	case watchfloor.Step5m:
		parent, size = b5m, step5m
	case watchfloor.Step1h:
		parent, size = b1h, step1h
	default:
		return out, fmt.Errorf("store: read series: %w: unknown step %q (want %q, %q, %q or empty)",
			ErrInvalid, step, watchfloor.StepRaw, watchfloor.Step5m, watchfloor.Step1h)
	}
	out.Step = step
	start, end := from.Unix(), to.Unix()
	if size == 1 && from.Nanosecond() > 0 {
		start++ // the range is inclusive and raw points sit on whole seconds
	}
	start -= floorMod(start, size) // the step that contains From
	if start < 0 {
		start = 0
	}
	name := seriesName(nil, q.Device, q.IfIndex, q.Metric)
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(parent).Bucket(name)
		if b == nil || end < start {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek(u64(uint64(start))); k != nil; k, v = c.Next() {
			ts := int64(bigEndian(k))
			if ts > end {
				break
			}
			p := watchfloor.Point{Time: time.Unix(ts, 0).UTC()}
			if size == 1 {
				if len(v) != 8 {
					return fmt.Errorf("sample at %d: %w: %d-byte value", ts, ErrCorrupt, len(v))
				}
				p.Value = math.Float64frombits(binary.BigEndian.Uint64(v))
				p.Min, p.Max = p.Value, p.Value
			} else {
				r, ok := decodeRollup(v)
				if !ok || r.count == 0 {
					return fmt.Errorf("rollup at %d: %w", ts, ErrCorrupt)
				}
				p.Value, p.Min, p.Max = r.sum/float64(r.count), r.min, r.max
			}
			out.Points = append(out.Points, p)
		}
		return nil
	})
	if err != nil {
		return out, fmt.Errorf("store: read series: %w", err)
	}
	return out, nil
}

// autoStep is the resolution StepAuto reads for [from, to].
func (s *Store) autoStep(from, to time.Time) string {
	span, now, r := to.Sub(from), s.now(), s.cfg.Retention
	switch {
	case span <= autoRawSpan && !from.Before(now.Add(-r.Raw)):
		return watchfloor.StepRaw
	case span <= auto5mSpan && !from.Before(now.Add(-r.Rollup5m)):
		return watchfloor.Step5m
	}
	return watchfloor.Step1h
}

func floorMod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}
