package alerts

import (
	"context"
	"slices"
	"sync"

	"github.com/watchfloor/watchfloor"
)

// MemStore is a Store in memory: for `rules test`, replays that keep nothing, and tests. Its
// methods are safe for concurrent use.
type MemStore struct {
	mu       sync.Mutex
	last     uint64
	alerts   map[uint64]Record
	history  map[uint64][]Transition
	silences map[string]watchfloor.Silence
	writes   int
	fail     error
}

var _ Store = (*MemStore)(nil)

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore {
	return &MemStore{
		alerts:   make(map[uint64]Record),
		history:  make(map[uint64][]Transition),
		silences: make(map[string]watchfloor.Silence),
	}
}

// Writes is the number of PutAlerts calls that succeeded.
func (s *MemStore) Writes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes
}

// FailWith makes PutAlerts fail with err from now on (nil: succeed again).
func (s *MemStore) FailWith(err error) {
	s.mu.Lock()
	s.fail = err
	s.mu.Unlock()
}

// PutAlerts implements Store.
func (s *MemStore) PutAlerts(ctx context.Context, c *Changes) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	s.writes++
	for _, r := range c.Alerts {
		r.Alert = clone(&r.Alert)
		s.alerts[r.ID] = r
		s.last = max(s.last, r.ID)
	}
	for _, t := range c.History {
		s.history[t.Alert] = append(s.history[t.Alert], t)
	}
	for _, sl := range c.Silences {
		sl.Matchers = slices.Clone(sl.Matchers)
		s.silences[sl.ID] = sl
	}
	for _, id := range c.DeletedSilences {
		delete(s.silences, id)
	}
	return nil
}

// LastAlertID implements Store.
func (s *MemStore) LastAlertID() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last, nil
}

// OpenAlerts implements Store.
func (s *MemStore) OpenAlerts() ([]Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Record
	for _, r := range s.alerts {
		if r.State != watchfloor.AlertResolved {
			r.Alert = clone(&r.Alert)
			out = append(out, r)
		}
	}
	return out, nil
}

// Silences implements Store.
func (s *MemStore) Silences() ([]watchfloor.Silence, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]watchfloor.Silence, 0, len(s.silences))
	for _, sl := range s.silences {
		out = append(out, sl)
	}
	return out, nil
}

// Alerts implements Store.
func (s *MemStore) Alerts(q Query) ([]watchfloor.Alert, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []watchfloor.Alert
	for id, r := range s.alerts {
		if (q.Before == 0 || id < q.Before) && q.Matches(&r.Alert) {
			out = append(out, clone(&r.Alert))
		}
	}
	slices.SortFunc(out, func(a, b watchfloor.Alert) int { return cmpID(b.ID, a.ID) })
	if n := q.Max(); len(out) > n {
		out = out[:n]
	}
	return out, nil
}

// Alert implements Store.
func (s *MemStore) Alert(id uint64) (watchfloor.Alert, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.alerts[id]
	return clone(&r.Alert), ok, nil
}

// AlertHistory implements Store.
func (s *MemStore) AlertHistory(id uint64) ([]Transition, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.history[id]), nil
}
