package console

import (
	"cmp"
	"encoding/json"
	"slices"
	"unicode/utf8"

	"github.com/watchfloor/watchfloor"
)

// Bounds of the alerts on the stream.
const (
	maxHubAlerts     = 2000 // open alerts the hub holds for snapshots
	snapshotAlerts   = 500  // open alerts a snapshot carries, the most important
	streamSuppressed = 64   // IDs of suppressed alerts a streamed root cause carries
	streamTitleLen   = 256
	streamDescrLen   = 1024
)

// streamAlert is an alert as the stream carries it: without its evidence (the API has it),
// with title and description cut to a wall's needs, and with at most streamSuppressed IDs
// of the alerts it suppresses, SuppressedCount counting them all.
type streamAlert struct {
	watchfloor.Alert
	SuppressedCount int `json:"suppressed_count"`
}

// alertMsg is the stream's delta of one alert change; a resolved alert is sent too, so that
// walls remove it.
type alertMsg struct {
	Type  string      `json:"type"` // "alert"
	Alert streamAlert `json:"alert"`
}

// toStream copies what the stream shows of a, so that the caller may keep changing its
// slices.
func toStream(a watchfloor.Alert) streamAlert {
	n := len(a.Suppressed)
	a.Evidence = nil
	a.Suppressed = slices.Clone(a.Suppressed[:min(n, streamSuppressed)])
	a.Tags = slices.Clone(a.Tags)
	a.Techniques = slices.Clone(a.Techniques)
	a.Labels = slices.Clone(a.Labels)
	a.Title = clip(a.Title, streamTitleLen)
	a.Description = clip(a.Description, streamDescrLen)
	return streamAlert{Alert: a, SuppressedCount: n}
}

// clip cuts s to at most n bytes at a rune boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// alertOpen reports whether an alert in state s is shown as active.
func alertOpen(s watchfloor.AlertState) bool {
	return s == watchfloor.AlertFiring || s == watchfloor.AlertAcknowledged
}

// compareAlerts orders alerts the most important first: the most severe, then the newest
// (by start), then the highest ID.
func compareAlerts(a, b *watchfloor.Alert) int {
	if c := cmp.Compare(b.Severity, a.Severity); c != 0 {
		return c
	}
	if c := b.StartedAt.Compare(a.StartedAt); c != 0 {
		return c
	}
	return cmp.Compare(b.ID, a.ID)
}

// primeAlerts loads the open alerts without telling anyone.
func (h *hub) primeAlerts(list []watchfloor.Alert) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.correlator = true
	for _, a := range list {
		if a.ID != 0 && alertOpen(a.State) {
			h.keepAlertLocked(toStream(a))
		}
	}
	h.m.alertsOpen.Set(float64(len(h.alerts)))
	h.version++
}

// publishAlert records a change of an alert and streams it. A change older than the last
// one of the same alert is ignored.
func (h *hub) publishAlert(a watchfloor.Alert) {
	h.m.alertDeltas.Inc()
	if a.ID == 0 {
		h.m.alertIgnored.WithLabelValues("invalid").Inc()
		return
	}
	sa := toStream(a)
	msg, err := json.Marshal(alertMsg{Type: "alert", Alert: sa})
	if err != nil {
		h.m.alertIgnored.WithLabelValues("invalid").Inc()
		h.log.Error("encode alert", "id", a.ID, "err", err)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.correlator = true
	if old, ok := h.alerts[a.ID]; ok && a.UpdatedAt.Before(old.UpdatedAt) {
		h.m.alertIgnored.WithLabelValues("old").Inc()
		return
	}
	if alertOpen(a.State) {
		if !h.keepAlertLocked(sa) {
			h.m.alertIgnored.WithLabelValues("over_cap").Inc()
			return
		}
	} else {
		delete(h.alerts, a.ID)
	}
	h.m.alertsOpen.Set(float64(len(h.alerts)))
	h.version++
	h.broadcastLocked(msg)
}

// keepAlertLocked stores an open alert. When the hub holds maxHubAlerts already, the least
// important of them and a goes: it reports false when that is a.
func (h *hub) keepAlertLocked(a streamAlert) bool {
	if _, ok := h.alerts[a.ID]; !ok && len(h.alerts) >= maxHubAlerts {
		var least *streamAlert
		for id := range h.alerts {
			x := h.alerts[id]
			if least == nil || compareAlerts(&x.Alert, &least.Alert) > 0 {
				least = &x
			}
		}
		if compareAlerts(&a.Alert, &least.Alert) > 0 {
			return false
		}
		delete(h.alerts, least.ID)
		h.m.alertEvicted.Inc()
	}
	h.alerts[a.ID] = a
	return true
}

// snapshotAlertsLocked returns the snapshotAlerts most important open alerts, in order;
// nil (null in JSON: the wall hides its alerts panel) when there is no correlator.
func (h *hub) snapshotAlertsLocked() []streamAlert {
	if !h.correlator {
		return nil
	}
	list := make([]streamAlert, 0, len(h.alerts))
	for _, a := range h.alerts {
		list = append(list, a)
	}
	slices.SortFunc(list, func(a, b streamAlert) int { return compareAlerts(&a.Alert, &b.Alert) })
	return list[:min(len(list), snapshotAlerts)]
}
