package appliance

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/console"
	"github.com/watchfloor/watchfloor/correlator/alerts"
)

// alertsAPI adapts the correlator's alert Manager to the console's Alerts: the query's
// terms, and the Manager's errors as the console's (404, 409, 400).
type alertsAPI struct{ m *alerts.Manager }

var _ console.Alerts = alertsAPI{}

func (a alertsAPI) List(q console.AlertQuery) []watchfloor.Alert {
	mq := alerts.Query{MinSeverity: q.Severity, Site: q.Site, Category: q.Category, Rule: q.Rule, Limit: alerts.MaxLimit}
	switch q.State {
	case console.StateOpen:
		mq.Open = true
	case console.StateAny:
	default:
		var st watchfloor.AlertState
		if err := st.UnmarshalText([]byte(q.State)); err == nil {
			mq.State = st
		}
	}
	if q.Tactic != "" {
		mq.Tag = "attack." + strings.TrimPrefix(q.Tactic, "attack.")
	}
	var out []watchfloor.Alert
	for _, al := range a.m.List(mq) { // newest first
		if !q.Match(al) {
			continue
		}
		out = append(out, al)
		if q.Limit > 0 && len(out) >= q.Limit {
			break
		}
	}
	return out
}

func (a alertsAPI) Get(id uint64) (watchfloor.Alert, bool) {
	al, ok, err := a.m.Get(id)
	return al, ok && err == nil
}

func (a alertsAPI) Ack(id uint64, who, comment string) error {
	return consoleErr(a.m.Ack(id, who, comment))
}

func (a alertsAPI) Resolve(id uint64, who, comment string) error {
	return consoleErr(a.m.Resolve(id, who, comment))
}

func (a alertsAPI) Assign(id uint64, who, assignee string) error {
	return consoleErr(a.m.Assign(id, who, assignee))
}

func (a alertsAPI) Comment(id uint64, who, text string) error {
	return consoleErr(a.m.Comment(id, who, text))
}

// History is the Manager's transitions in the console's terms.
func (a alertsAPI) History(id uint64) ([]console.AlertChange, error) {
	h, err := a.m.History(id)
	if err != nil {
		return nil, consoleErr(err)
	}
	out := make([]console.AlertChange, len(h))
	for i, t := range h {
		kind := console.ChangeState
		switch t.Kind {
		case alerts.KindAssign:
			kind = console.ChangeAssign
		case alerts.KindComment:
			kind = console.ChangeComment
		}
		out[i] = console.AlertChange{Time: t.Time, Kind: kind, From: t.From, To: t.To, By: t.By, Comment: t.Comment, Assignee: t.Assignee}
	}
	return out, nil
}

func (a alertsAPI) Silences() []watchfloor.Silence { return a.m.Silences() }

func (a alertsAPI) AddSilence(s watchfloor.Silence) (watchfloor.Silence, error) {
	s, err := a.m.AddSilence(s)
	return s, consoleErr(err)
}

func (a alertsAPI) DeleteSilence(id string) error { return consoleErr(a.m.DeleteSilence(id)) }

// consoleErr wraps the Manager's sentinel errors in the console's.
func consoleErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, alerts.ErrNotFound):
		return fmt.Errorf("%w: %w", console.ErrNotFound, err)
	case errors.Is(err, alerts.ErrState):
		return fmt.Errorf("%w: %w", console.ErrState, err)
	case errors.Is(err, alerts.ErrInvalid), errors.Is(err, alerts.ErrFull):
		return fmt.Errorf("%w: %w", console.ErrInvalid, err)
	}
	return err
}

// alertTickEvery is how often quiet periods and silences are checked by the wall clock.
const alertTickEvery = 5 * time.Second

// tickAlerts resolves quiet alerts and applies silences until ctx is done.
func (a *Appliance) tickAlerts(ctx context.Context) {
	t := time.NewTicker(alertTickEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			a.alerts.Tick(now)
		}
	}
}
