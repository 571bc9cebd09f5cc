package alerts

import (
	"context"
	"slices"
	"time"

	"github.com/watchfloor/watchfloor"
)

// finalFlushTimeout bounds the last write when Run stops.
const finalFlushTimeout = 10 * time.Second

// Run writes the changes: urgent ones (new alerts, state changes, silences) within a tenth
// of FlushInterval, all of them at least every FlushInterval; it also applies silences that
// start or end. It returns nil once ctx is done, after a last write.
func (m *Manager) Run(ctx context.Context) error {
	gap := m.cfg.FlushInterval / 10
	t := time.NewTicker(gap)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), finalFlushTimeout)
			err := m.Flush(fctx)
			cancel()
			if err != nil {
				m.log.Error("last write failed: changes lost", "err", err)
			}
			return nil
		case now := <-t.C:
			m.mu.Lock()
			m.refreshSilencesLocked(m.clock(), false)
			due := m.urgent || now.Sub(last) >= m.cfg.FlushInterval-gap/2
			m.mu.Unlock()
			if !due {
				continue
			}
			last = now
			if err := m.Flush(ctx); err != nil && ctx.Err() == nil {
				m.log.Error("write failed, retrying with the next", "err", err)
			}
		}
	}
}

// Flush writes every change not yet written and then tells the subscribers. On failure the
// changes stay, to be written with the next Flush.
func (m *Manager) Flush(ctx context.Context) error {
	m.flushMu.Lock()
	defer m.flushMu.Unlock()

	m.mu.Lock()
	c := &Changes{}
	if len(m.dirty) > 0 {
		c.Alerts = make([]Record, len(m.dirty))
		for i, e := range m.dirty {
			e.dirty = false
			c.Alerts[i] = Record{Alert: clone(&e.a), ResolveAfter: e.resolveAfter}
		}
		clear(m.dirty)
		m.dirty = m.dirty[:0]
	}
	c.History, m.history = m.history, nil
	for id := range m.silDirty {
		if s := m.silences[id]; s != nil {
			c.Silences = append(c.Silences, s.s)
		} else {
			c.DeletedSilences = append(c.DeletedSilences, id)
		}
	}
	clear(m.silDirty)
	m.urgent = false
	m.mu.Unlock()
	if c.Len() == 0 {
		return nil
	}

	start := time.Now()
	err := m.st.PutAlerts(ctx, c)
	m.m.writeSeconds.Observe(time.Since(start).Seconds())
	m.m.writes.Inc()
	m.mu.Lock()
	if err != nil {
		m.m.writeErrors.Inc()
		// Keep it all for the next write; what changed meanwhile is newer and stays.
		for i := range c.Alerts {
			if e := m.byID[c.Alerts[i].ID]; e != nil {
				m.markLocked(e, true)
			}
		}
		h := append(c.History, m.history...)
		if over := len(h) - maxPendingHistory; over > 0 {
			m.m.dropped.WithLabelValues("history").Add(float64(over))
			h = h[over:]
		}
		m.history = h
		for _, s := range c.Silences {
			m.silDirty[s.ID] = true
		}
		for _, id := range c.DeletedSilences {
			m.silDirty[id] = true
		}
		m.urgent = true
		m.mu.Unlock()
		return err
	}
	for i := range c.Alerts {
		a := &c.Alerts[i]
		if e := m.byID[a.ID]; e != nil && !e.dirty && e.a.State == watchfloor.AlertResolved {
			delete(m.byID, a.ID)
		}
	}
	m.mu.Unlock()

	m.subMu.RLock()
	subs := slices.Clone(m.subs)
	m.subMu.RUnlock()
	for _, fn := range subs {
		for i := range c.Alerts {
			fn(c.Alerts[i].Alert)
		}
	}
	return nil
}
