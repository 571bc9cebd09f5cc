package alerts

import (
	"context"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/watchfloor/watchfloor"
)

// Limits of what analysts write on an alert.
const (
	MaxCommentLen  = 4096 // bytes of a comment (Comment)
	MaxAssigneeLen = 64   // bytes of an assignee's name (Assign)
)

// CheckAssignee says what is wrong with an assignee's name, or nil: "" (no one) or a
// user-like name of at most MaxAssigneeLen bytes that starts with a letter or a digit and
// goes on with letters, digits and . _ - @ +.
func CheckAssignee(name string) error {
	if name == "" {
		return nil
	}
	if len(name) > MaxAssigneeLen {
		return fmt.Errorf("%w: assignee longer than %d bytes", ErrInvalid, MaxAssigneeLen)
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("%w: assignee is not UTF-8", ErrInvalid)
	}
	for i, r := range name {
		ok := unicode.IsLetter(r) || unicode.IsDigit(r)
		if i > 0 {
			ok = ok || strings.ContainsRune("._-@+", r)
		}
		if !ok {
			return fmt.Errorf("%w: assignee %q: want a user name (letters, digits and . _ - @ +, starting with a letter or digit)", ErrInvalid, name)
		}
	}
	return nil
}

// checkComment says what is wrong with an analyst's comment, or nil.
func checkComment(text string) error {
	switch {
	case strings.TrimSpace(text) == "":
		return fmt.Errorf("%w: empty comment", ErrInvalid)
	case len(text) > MaxCommentLen:
		return fmt.Errorf("%w: comment longer than %d bytes", ErrInvalid, MaxCommentLen)
	case !utf8.ValidString(text):
		return fmt.Errorf("%w: comment is not UTF-8", ErrInvalid)
	}
	return nil
}

// checkWho says what is wrong with the name of who acts, or nil.
func checkWho(who string) error {
	if who == "" || len(who) > maxSilenceText || !utf8.ValidString(who) {
		return fmt.Errorf("%w: who must be 1 to %d bytes of UTF-8", ErrInvalid, maxSilenceText)
	}
	return nil
}

// Assign gives the open alert id to assignee ("" takes it back from whoever had it) on
// behalf of who, records it in the alert's history (KindAssign) and writes both before it
// returns, as Ack does. Assigning it to whoever has it already changes nothing. A resolved
// alert cannot be assigned (ErrState); an invalid name is ErrInvalid (CheckAssignee).
func (m *Manager) Assign(id uint64, who, assignee string) error {
	if err := checkWho(who); err != nil {
		return fmt.Errorf("alerts: assign %d: %w", id, err)
	}
	if err := CheckAssignee(assignee); err != nil {
		return fmt.Errorf("alerts: assign %d: %w", id, err)
	}
	e, err := m.lockEntry(id, false)
	if err != nil {
		return err
	}
	if e.a.State == watchfloor.AlertResolved {
		m.mu.Unlock()
		return fmt.Errorf("alerts: alert %d is resolved: %w", id, ErrState)
	}
	if e.a.Assignee == assignee {
		m.mu.Unlock()
		return nil
	}
	now := m.clock()
	m.noteLocked(e, Transition{Kind: KindAssign, Time: now, By: who, Assignee: assignee})
	e.a.Assignee, e.a.UpdatedAt = assignee, now
	m.markLocked(e, true)
	m.mu.Unlock()
	return m.Flush(context.Background())
}

// Comment adds an analyst's comment (at most MaxCommentLen bytes of UTF-8, not blank) to
// the history of alert id (KindComment), open or resolved, and writes it before it returns,
// as Ack does. The alert's UpdatedAt moves to now, so that subscribers (the consoles) hear
// of it.
func (m *Manager) Comment(id uint64, who, text string) error {
	if err := checkWho(who); err != nil {
		return fmt.Errorf("alerts: comment on %d: %w", id, err)
	}
	if err := checkComment(text); err != nil {
		return fmt.Errorf("alerts: comment on %d: %w", id, err)
	}
	e, err := m.lockEntry(id, true)
	if err != nil {
		return err
	}
	now := m.clock()
	m.noteLocked(e, Transition{Kind: KindComment, Time: now, By: who, Comment: text})
	e.a.UpdatedAt = now
	m.markLocked(e, true)
	m.mu.Unlock()
	return m.Flush(context.Background())
}

// lockEntry returns the entry of alert id with m.mu held; the caller unlocks it. The
// Manager holds the open alerts (and resolved ones not yet written); with loadResolved, a
// resolved alert is read from the store and held until its next write, which writes it
// again (Flush lets go of resolved alerts once written). Without it a stored alert is
// ErrState. On error m.mu is not held.
func (m *Manager) lockEntry(id uint64, loadResolved bool) (*entry, error) {
	m.mu.Lock()
	if e := m.byID[id]; e != nil {
		return e, nil
	}
	m.mu.Unlock()
	a, ok, err := m.st.Alert(id)
	switch {
	case err != nil:
		return nil, fmt.Errorf("alerts: alert %d: %w", id, err)
	case !ok:
		return nil, fmt.Errorf("alerts: alert %d: %w", id, ErrNotFound)
	case !loadResolved || a.State != watchfloor.AlertResolved:
		// Every alert not resolved is held; a stored one that says otherwise is an older
		// copy of one this Manager resolved (a duplicate at start).
		return nil, fmt.Errorf("alerts: alert %d is resolved: %w", id, ErrState)
	}
	m.mu.Lock()
	if e := m.byID[id]; e != nil { // someone else loaded it meanwhile
		return e, nil
	}
	e := &entry{a: a}
	m.byID[id] = e
	return e, nil
}

// noteLocked appends t, an entry that is not a change of state, to e's history: From and To
// are e's state.
func (m *Manager) noteLocked(e *entry, t Transition) {
	if len(m.history) >= maxPendingHistory {
		m.m.dropped.WithLabelValues("history").Inc()
		return
	}
	t.Alert, t.From, t.To = e.a.ID, e.a.State, e.a.State
	m.history = append(m.history, t)
}
