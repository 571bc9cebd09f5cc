package store

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/watchfloor/watchfloor"
)

// Batch is what one Write commits: records of any kind, all or nothing.
type Batch struct {
	Devices []watchfloor.Device
	Samples []watchfloor.Sample
	Events  []watchfloor.Event
	// FlowRollups are merged into the stored rollup of the same step, start and site, if
	// any (Config.MergeFlows).
	FlowRollups []watchfloor.FlowRollup

	// Central only: the appliances' alerts (upserted by Entity.Site and ID), each site's
	// latest health record (the last one written wins), and the uplink's sequence marks
	// (one per site and kind; the last one written wins). See sites.go.
	SiteAlerts []watchfloor.Alert
	SiteHealth []SiteHealth
	Marks      []UplinkMark
}

// Len is the number of records in b; a flow rollup, a health record and a mark count as one.
func (b *Batch) Len() int {
	return len(b.Devices) + len(b.Samples) + len(b.Events) + len(b.FlowRollups) +
		len(b.SiteAlerts) + len(b.SiteHealth) + len(b.Marks)
}

// maxName bounds device and metric names, which become bbolt keys.
const maxName = 1024

// request is one Write waiting for the committer. Everything that does not need the
// transaction is prepared by the writer, in its own goroutine.
type request struct {
	b     *Batch
	n     int
	since time.Time // when Write was called; CommitInterval counts from here

	devices [][]byte         // JSON, one per b.Devices
	events  [][]byte         // records, one per b.Events
	series  [][]byte         // series names, one per b.Samples
	flows   []preparedRollup // one per b.FlowRollups
	sites   *preparedSites   // b.SiteAlerts, b.SiteHealth and b.Marks; nil without any
	done    chan error
}

// Write commits b and returns once it is durable (the transaction is fsynced), or with the
// error that prevented it. It sets b.Events[i].ID, and b.Events[i].Time to now when it is
// zero. Concurrent writes share transactions. ctx bounds only the wait for room in the
// queue: once queued, a batch is committed and Write waits for it, so the caller may reuse
// b as soon as Write returns. A batch with an invalid record fails whole with ErrInvalid.
func (s *Store) Write(ctx context.Context, b *Batch) error {
	if b == nil || b.Len() == 0 {
		return nil
	}
	r, err := s.prepare(b)
	if err != nil {
		return fmt.Errorf("store: write: %w", err)
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return fmt.Errorf("store: write: %w", ErrClosed)
	}
	s.senders.Add(1)
	s.mu.RUnlock()
	s.pending.Add(1)
	select {
	case s.queue <- r:
		s.senders.Done()
	case <-ctx.Done():
		s.senders.Done()
		s.pending.Add(-1)
		return fmt.Errorf("store: write: %w", ctx.Err())
	}
	return <-r.done
}

// prepare validates b and encodes what can be encoded outside the transaction.
func (s *Store) prepare(b *Batch) (*request, error) {
	r := &request{b: b, n: b.Len(), since: time.Now(), done: make(chan error, 1)}
	if len(b.Devices) > 0 {
		r.devices = make([][]byte, len(b.Devices))
		for i := range b.Devices {
			d := &b.Devices[i]
			if d.Name == "" || len(d.Name) > maxName {
				return nil, fmt.Errorf("%w: device %d: name must have 1 to %d bytes", ErrInvalid, i, maxName)
			}
			v, err := json.Marshal(d)
			if err != nil {
				return nil, fmt.Errorf("%w: device %q: %w", ErrInvalid, d.Name, err)
			}
			r.devices[i] = v
		}
	}
	if len(b.Events) > 0 {
		size := 0
		for i := range b.Events {
			size += eventSize(&b.Events[i])
		}
		buf := make([]byte, 0, size)
		r.events = make([][]byte, len(b.Events))
		now := s.now()
		for i := range b.Events {
			ev := &b.Events[i]
			if ev.Time.IsZero() {
				ev.Time = now
			}
			start := len(buf)
			buf = encodeEvent(buf, ev)
			r.events[i] = buf[start:len(buf):len(buf)]
		}
	}
	if len(b.Samples) > 0 {
		buf := make([]byte, 0, len(b.Samples)*32)
		r.series = make([][]byte, len(b.Samples))
		for i := range b.Samples {
			sm := &b.Samples[i]
			if p := sampleProblem(sm); p != "" {
				return nil, fmt.Errorf("%w: sample %d (%s/%d/%s): %s", ErrInvalid, i, sm.Device, sm.IfIndex, sm.Metric, p)
			}
			start := len(buf)
			buf = seriesName(buf, sm.Device, sm.IfIndex, sm.Metric)
			r.series[i] = buf[start:len(buf):len(buf)]
		}
	}
	if len(b.FlowRollups) > 0 {
		r.flows = make([]preparedRollup, len(b.FlowRollups))
		for i := range b.FlowRollups {
			fr := &b.FlowRollups[i]
			if p := rollupProblem(fr); p != "" {
				return nil, fmt.Errorf("%w: flow rollup %d (%s %s %s): %s", ErrInvalid, i, fr.Site, fr.Step, fr.Start, p)
			}
			r.flows[i] = prepareRollup(fr)
		}
	}
	var err error
	if r.sites, err = prepareSites(b); err != nil {
		return nil, err
	}
	return r, nil
}

// sampleProblem says what makes sm unstorable, or "" when nothing does.
func sampleProblem(sm *watchfloor.Sample) string {
	switch {
	case sm.Device == "" || sm.Metric == "":
		return "device and metric must not be empty"
	case len(sm.Device)+len(sm.Metric) > maxName:
		return fmt.Sprintf("device and metric names longer than %d bytes", maxName)
	case strings.IndexByte(sm.Device, 0) >= 0 || strings.IndexByte(sm.Metric, 0) >= 0:
		return "NUL byte in device or metric"
	case sm.Time.Unix() <= 0:
		return "time missing or before 1970"
	case math.IsNaN(sm.Value) || math.IsInf(sm.Value, 0):
		return "value is not finite"
	}
	return ""
}
