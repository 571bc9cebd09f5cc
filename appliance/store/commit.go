package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/watchfloor/watchfloor"
	bolt "go.etcd.io/bbolt"
)

// errLogEvery spaces the log lines of failed commits (a full disk fails every one); the
// commit_errors counter counts them all.
const errLogEvery = 10 * time.Second

// Rollup steps, in seconds.
const (
	step5m = 300
	step1h = 3600
)

// commitLoop is the one goroutine that writes. It takes the first waiting request, gathers
// more until the queue is empty and the first request has waited CommitInterval, or MaxBatch
// records are reached, commits them in one transaction, and answers every writer. It returns
// once Close has closed the queue and everything queued is committed.
func (s *Store) commitLoop() {
	defer close(s.committed)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var (
		carry *request // did not fit in the last transaction
		group []*request
	)
	for {
		first := carry
		carry = nil
		if first == nil {
			r, ok := <-s.queue
			if !ok {
				return
			}
			first = r
		}
		group = append(group[:0], first)
		n := first.n
		deadline := first.since.Add(s.cfg.CommitInterval)
	gather:
		for n < s.cfg.MaxBatch {
			var (
				r  *request
				ok bool
			)
			select {
			case r, ok = <-s.queue:
			default:
				wait := time.Until(deadline)
				if wait <= 0 {
					break gather
				}
				timer.Reset(wait)
				select {
				case r, ok = <-s.queue:
					timer.Stop()
				case <-timer.C:
					break gather
				}
			}
			if !ok {
				break gather // closing: commit what we have, then return
			}
			if n+r.n > s.cfg.MaxBatch {
				carry = r
				break gather
			}
			group = append(group, r)
			n += r.n
		}
		s.commit(group)
		clear(group)
	}
}

// commit writes group in one transaction and answers its writers. When that fails and the
// group has several batches, each is retried alone, so that one batch bbolt refuses does not
// fail the others.
func (s *Store) commit(group []*request) {
	err := s.commitTx(group)
	if err != nil && len(group) > 1 {
		s.log.Warn("group commit failed, committing each batch alone", "batches", len(group), "err", err)
		for i, r := range group {
			err := s.commitTx(group[i : i+1])
			s.pending.Add(-1)
			r.done <- err
		}
		return
	}
	s.pending.Add(-int64(len(group)))
	for _, r := range group {
		r.done <- err
	}
}

func (s *Store) commitTx(group []*request) error {
	start := time.Now()
	err := s.update(func(tx *bolt.Tx) error { return s.apply(tx, group) })
	if err != nil {
		s.m.commitErrors.Inc()
		for _, r := range group {
			for i := range r.b.Events {
				r.b.Events[i].ID = 0
			}
		}
		if now := time.Now(); now.Sub(s.lastErrLog) >= errLogEvery {
			s.log.Error("commit failed", "batches", len(group), "err", err, "failures_not_logged", s.errNotLogged)
			s.lastErrLog, s.errNotLogged = now, 0
		} else {
			s.errNotLogged++
		}
		return fmt.Errorf("store: write: %w", err)
	}
	s.m.writeSeconds.Observe(time.Since(start).Seconds())
	s.m.commits.Inc()
	var devices, samples, events, flows, siteAlerts, siteHealth, marks int
	for _, r := range group {
		devices += len(r.b.Devices)
		samples += len(r.b.Samples)
		events += len(r.b.Events)
		flows += len(r.b.FlowRollups)
		siteAlerts += len(r.b.SiteAlerts)
		siteHealth += len(r.b.SiteHealth)
		marks += len(r.b.Marks)
	}
	if siteAlerts+siteHealth+marks > 0 {
		s.m.records.WithLabelValues("site_alert").Add(float64(siteAlerts))
		s.m.records.WithLabelValues("site_health").Add(float64(siteHealth))
		s.m.records.WithLabelValues("uplink_mark").Add(float64(marks))
	}
	s.m.device.Add(float64(devices))
	s.m.sample.Add(float64(samples))
	s.m.event.Add(float64(events))
	s.m.flowRollup.Add(float64(flows))
	return nil
}

// apply writes the requests of group, in order, in tx.
func (s *Store) apply(tx *bolt.Tx, group []*request) error {
	devices, events := tx.Bucket(bDevices), tx.Bucket(bEvents)
	w := seriesWriter{
		raw: tx.Bucket(bRaw), r5m: tx.Bucket(b5m), r1h: tx.Bucket(b1h),
		cache: make(map[string]*seriesBuckets),
	}
	var key [8]byte
	for _, r := range group {
		for i, v := range r.devices {
			if err := devices.Put([]byte(r.b.Devices[i].Name), v); err != nil {
				return fmt.Errorf("device %q: %w", r.b.Devices[i].Name, err)
			}
		}
		for i, v := range r.events {
			id, err := events.NextSequence()
			if err != nil {
				return fmt.Errorf("event ID: %w", err)
			}
			binary.BigEndian.PutUint64(key[:], id)
			if err := events.Put(key[:], v); err != nil {
				return fmt.Errorf("event %d: %w", id, err)
			}
			r.b.Events[i].ID = id
		}
		for i := range r.b.Samples {
			if err := w.put(r.series[i], &r.b.Samples[i]); err != nil {
				return fmt.Errorf("sample %s/%d/%s: %w", r.b.Samples[i].Device, r.b.Samples[i].IfIndex, r.b.Samples[i].Metric, err)
			}
		}
		for i := range r.flows {
			if err := s.putRollup(tx, &r.flows[i], &r.b.FlowRollups[i]); err != nil {
				fr := &r.b.FlowRollups[i]
				return fmt.Errorf("flow rollup %s %s %s: %w", fr.Site, fr.Step, fr.Start, err)
			}
		}
		if err := putSites(tx, r.b, r.sites); err != nil {
			return err
		}
	}
	s.size.Store(tx.Size())
	return nil
}

// seriesBuckets are the three buckets of one series.
type seriesBuckets struct{ raw, r5m, r1h *bolt.Bucket }

// seriesWriter writes samples and their rollups in one transaction.
type seriesWriter struct {
	raw, r5m, r1h *bolt.Bucket
	cache         map[string]*seriesBuckets
	arena         arena
}

func (w *seriesWriter) buckets(name []byte) (*seriesBuckets, error) {
	if sb := w.cache[string(name)]; sb != nil {
		return sb, nil
	}
	sb := new(seriesBuckets)
	for _, p := range [...]struct {
		parent *bolt.Bucket
		b      **bolt.Bucket
	}{{w.raw, &sb.raw}, {w.r5m, &sb.r5m}, {w.r1h, &sb.r1h}} {
		b := p.parent.Bucket(name)
		if b == nil {
			var err error
			if b, err = p.parent.CreateBucket(name); err != nil {
				return nil, err
			}
		}
		*p.b = b
	}
	w.cache[string(name)] = sb
	return sb, nil
}

// put writes one raw sample and folds it into its 5m and 1h rollups. Writing a sample again
// with the same value changes nothing; with another value it replaces the raw point and
// corrects the rollups' sums.
func (w *seriesWriter) put(name []byte, sm *watchfloor.Sample) error {
	sb, err := w.buckets(name)
	if err != nil {
		return err
	}
	ts := sm.Time.Unix()
	var key [8]byte
	binary.BigEndian.PutUint64(key[:], uint64(ts))
	val := w.arena.alloc(8)
	binary.BigEndian.PutUint64(val, math.Float64bits(sm.Value))
	old, replaced := 0.0, false
	if prev := sb.raw.Get(key[:]); prev != nil {
		if bytes.Equal(prev, val) {
			return nil
		}
		if len(prev) == 8 {
			old, replaced = math.Float64frombits(binary.BigEndian.Uint64(prev)), true
		}
	}
	if err := sb.raw.Put(key[:], val); err != nil {
		return err
	}
	if err := w.fold(sb.r5m, ts-ts%step5m, old, replaced, sm.Value); err != nil {
		return err
	}
	return w.fold(sb.r1h, ts-ts%step1h, old, replaced, sm.Value)
}

func (w *seriesWriter) fold(b *bolt.Bucket, start int64, old float64, replaced bool, v float64) error {
	var key [8]byte
	binary.BigEndian.PutUint64(key[:], uint64(start))
	r, _ := decodeRollup(b.Get(key[:])) // absent (or damaged): start afresh
	if replaced && r.count > 0 {
		r.replace(old, v)
	} else {
		r.add(v)
	}
	val := w.arena.alloc(rollupSize)
	r.put(val)
	return b.Put(key[:], val)
}
