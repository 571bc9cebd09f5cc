package alerts

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/watchfloor/watchfloor"
)

// silenceLocked marks the open alert e silenced by the active silence that matches it (the
// lowest ID of those that do), or not silenced, as of now.
func (m *Manager) silenceLocked(e *entry, now time.Time) {
	if e.a.State == watchfloor.AlertResolved {
		return
	}
	id := ""
	for _, s := range m.silences {
		if (id == "" || s.s.ID < id) && s.active(now) && s.matches(&e.a) {
			id = s.s.ID
		}
	}
	if e.a.Silenced == (id != "") && e.a.SilenceID == id {
		return
	}
	e.a.Silenced, e.a.SilenceID = id != "", id
	e.a.UpdatedAt = now
	if e.a.ID != 0 && m.byID[e.a.ID] == e {
		m.markLocked(e, true)
	}
}

// refreshSilencesLocked deletes silences that ended more than SilenceRetention ago and,
// when a silence started or ended since the last call (or force), applies the silences to
// every open alert again.
func (m *Manager) refreshSilencesLocked(now time.Time, force bool) {
	if !force && (m.silEdge.IsZero() || now.Before(m.silEdge)) {
		return
	}
	var edge time.Time
	later := func(t time.Time) {
		if t.After(now) && (edge.IsZero() || t.Before(edge)) {
			edge = t
		}
	}
	for id, s := range m.silences {
		gone := s.s.EndsAt.Add(m.cfg.SilenceRetention)
		if !gone.After(now) {
			delete(m.silences, id)
			m.silDirty[id] = true
			m.urgent = true
			continue
		}
		later(s.s.StartsAt)
		later(s.s.EndsAt)
		later(gone)
	}
	m.silEdge = edge
	for _, e := range m.open {
		m.silenceLocked(e, now)
	}
	m.m.silences.Set(float64(len(m.silences)))
}

// AddSilence adds s, or replaces the silence of its ID, applies it to the open alerts, and
// writes it before returning. An empty ID gets a random one; a zero StartsAt or CreatedAt
// is now. It fails with ErrInvalid (bad matchers, EndsAt not after StartsAt or already
// past), ErrFull, or the store's error (the silence holds then, and is written with the
// next write).
func (m *Manager) AddSilence(s watchfloor.Silence) (watchfloor.Silence, error) {
	now := m.clock()
	if s.StartsAt.IsZero() {
		s.StartsAt = now
	}
	if s.CreatedAt.IsZero() {
		s.CreatedAt = now
	}
	if s.ID == "" {
		s.ID = newSilenceID()
	}
	s.Matchers = slices.Clone(s.Matchers)
	c, err := compileSilence(s)
	if err != nil {
		return s, fmt.Errorf("alerts: silence: %w", err)
	}
	if !s.EndsAt.After(now) {
		return s, fmt.Errorf("alerts: silence: %w: ends_at %s is past", ErrInvalid, s.EndsAt.Format(time.RFC3339))
	}
	m.mu.Lock()
	if m.silences[s.ID] == nil && len(m.silences) >= m.cfg.MaxSilences {
		m.mu.Unlock()
		return s, fmt.Errorf("alerts: silence: %w (%d kept, expired ones until %s after they end)", ErrFull, len(m.silences), m.cfg.SilenceRetention)
	}
	m.silences[s.ID] = c
	m.silDirty[s.ID] = true
	m.refreshSilencesLocked(now, true)
	m.urgent = true
	m.mu.Unlock()
	return s, m.Flush(context.Background())
}

// DeleteSilence expires the silence id now, as Alertmanager does: the alerts it muted are
// no longer silenced, and it is kept, expired, for SilenceRetention. Expiring an expired
// silence does nothing. It fails with ErrNotFound, or the store's error as AddSilence.
func (m *Manager) DeleteSilence(id string) error {
	now := m.clock()
	m.mu.Lock()
	s := m.silences[id]
	if s == nil {
		m.mu.Unlock()
		return fmt.Errorf("alerts: silence %q: %w", id, ErrNotFound)
	}
	if !s.s.EndsAt.After(now) {
		m.mu.Unlock()
		return nil
	}
	c := *s
	c.s.EndsAt = now
	if c.s.StartsAt.After(now) {
		c.s.StartsAt = now
	}
	m.silences[id] = &c
	m.silDirty[id] = true
	m.refreshSilencesLocked(now, true)
	m.urgent = true
	m.mu.Unlock()
	return m.Flush(context.Background())
}

// Silences returns every silence kept, expired ones included, the latest to end first.
func (m *Manager) Silences() []watchfloor.Silence {
	m.mu.Lock()
	out := make([]watchfloor.Silence, 0, len(m.silences))
	for _, s := range m.silences {
		out = append(out, s.s)
	}
	m.mu.Unlock()
	slices.SortFunc(out, func(a, b watchfloor.Silence) int {
		if c := b.EndsAt.Compare(a.EndsAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}
