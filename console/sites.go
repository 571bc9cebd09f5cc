package console

import (
	"cmp"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"time"
)

// Sites is central's view of its appliances; nil on an appliance (GET /api/v1/sites answers 404
// and the wall shows no sites panel).
type Sites interface {
	Sites() []SiteStatus
	Refusals() (recent []Refusal, totals map[string]uint64)
}

// SiteStatus is one appliance as central sees it: its last contact, its own health as of
// its last health record, and what central counted of its records.
type SiteStatus struct {
	Site          string        `json:"site"`
	LastContact   time.Time     `json:"last_contact"` // the last record of any kind from the site; zero: never
	Version       string        `json:"version"`      // the appliance binary's
	StartedAt     time.Time     `json:"started_at"`
	OutboxEntries int64         `json:"outbox_entries"` // as of its last health record
	OutboxBytes   int64         `json:"outbox_bytes"`
	Dropped       uint64        `json:"dropped"`    // lost at the site since it started: uplink + ingest + collectors
	Received      uint64        `json:"received"`   // records central took from the site
	Duplicates    uint64        `json:"duplicates"` // copies central dropped
	Gaps          uint64        `json:"gaps"`       // records central found missing
	Devices       int           `json:"devices"`
	DevicesDown   int           `json:"devices_down"`
	OpenAlerts    int           `json:"open_alerts"`
	Applied       []SiteApplied `json:"applied,omitempty"`
}

// SiteApplied is what a site runs of one kind of what central distributes.
type SiteApplied struct {
	Kind      string    `json:"kind"`    // rules, lists, silences
	Version   uint64    `json:"version"` // in force at the site
	Offered   uint64    `json:"offered"` // central's current version
	AppliedAt time.Time `json:"applied_at"`
	Error     string    `json:"error,omitempty"` // why the offered version was refused
}

// Refusal is one connection central refused.
type Refusal struct {
	Time   time.Time `json:"time"`
	Reason string    `json:"reason"` // bad_certificate, unknown_certificate, unknown_user, bad_password, no_credentials, tls_handshake
	Who    string    `json:"who"`    // the certificate (subject, DNS names, serial) or "user NAME"; never a password
	Remote string    `json:"remote"`
}

// A site's state, from the age of its last contact. Appliances send their health every 30 s,
// so a site is up while it was heard from within 3 health intervals.
const (
	SiteUp   = "up"   // last contact within siteUpWithin
	SiteLate = "late" // within siteLateWithin
	SiteDown = "down" // older, or never

	siteUpWithin   = 90 * time.Second
	siteLateWithin = 5 * time.Minute
	sitesEvery     = 5 * time.Second // how often the stream carries the sites
)

// Bounds of what the API and the stream carry of the sites. What the appliances report
// comes from the network: names and errors are cut, lists bounded.
const (
	maxSites       = 1000 // sites carried, the worst first; sites_total counts them all
	maxRefusals    = 50   // recent refusals carried, the newest first
	maxRefusedKind = 32   // reasons counted in refused
	maxApplied     = 8    // kinds of one site's applied
	siteNameLen    = 128
	siteTextLen    = 256 // versions, errors, who
)

// siteView is a SiteStatus as the API and the stream show it: with its state.
type siteView struct {
	SiteStatus
	State string `json:"state"` // up, late, down
}

// sitesMsg is the answer of GET /api/v1/sites and, with its type, the stream's sites
// message (and the snapshot's sites).
type sitesMsg struct {
	Type       string            `json:"type,omitempty"` // "sites" on the stream
	Now        time.Time         `json:"now"`
	Sites      []siteView        `json:"sites"`
	SitesTotal int               `json:"sites_total"`
	Refusals   []Refusal         `json:"refusals"`
	Refused    map[string]uint64 `json:"refused"`
}

// siteState is the state of a site last heard from at last, now.
func siteState(last, now time.Time) string {
	if last.IsZero() {
		return SiteDown
	}
	switch age := now.Sub(last); {
	case age <= siteUpWithin: // a contact "ahead" of now is the clocks' skew: up
		return SiteUp
	case age <= siteLateWithin:
		return SiteLate
	default:
		return SiteDown
	}
}

var stateRank = map[string]int{SiteDown: 0, SiteLate: 1, SiteUp: 2}

// sitesReport asks s for its sites and refusals and makes the bounded report of them at now:
// the sites worst first (down, late, up; then the most open alerts; then by name), the
// newest refusals first.
func sitesReport(s Sites, now time.Time) *sitesMsg {
	list := s.Sites()
	recent, totals := s.Refusals()
	views := make([]siteView, 0, min(len(list), maxSites))
	for _, st := range list {
		st.Site = clip(st.Site, siteNameLen)
		st.Version = clip(st.Version, siteTextLen)
		st.Applied = slices.Clone(st.Applied[:min(len(st.Applied), maxApplied)])
		for i := range st.Applied {
			st.Applied[i].Kind = clip(st.Applied[i].Kind, siteNameLen)
			st.Applied[i].Error = clip(st.Applied[i].Error, siteTextLen)
		}
		views = append(views, siteView{SiteStatus: st, State: siteState(st.LastContact, now)})
	}
	slices.SortStableFunc(views, func(a, b siteView) int {
		return cmp.Or(cmp.Compare(stateRank[a.State], stateRank[b.State]),
			cmp.Compare(b.OpenAlerts, a.OpenAlerts), cmp.Compare(a.Site, b.Site))
	})
	msg := &sitesMsg{Now: now, SitesTotal: len(views), Sites: views[:min(len(views), maxSites)]}
	recent = slices.Clone(recent)
	slices.SortStableFunc(recent, func(a, b Refusal) int { return b.Time.Compare(a.Time) })
	recent = recent[:min(len(recent), maxRefusals)]
	for i := range recent {
		recent[i].Reason = clip(recent[i].Reason, siteNameLen)
		recent[i].Who = clip(recent[i].Who, siteTextLen)
		recent[i].Remote = clip(recent[i].Remote, siteNameLen)
	}
	msg.Refusals = nonNil(recent)
	msg.Refused = make(map[string]uint64, min(len(totals), maxRefusedKind))
	reasons := make([]string, 0, len(totals))
	for r := range totals {
		reasons = append(reasons, r)
	}
	// The most frequent reasons when there are too many; the rest add up under "other".
	slices.SortFunc(reasons, func(a, b string) int { return cmp.Or(cmp.Compare(totals[b], totals[a]), cmp.Compare(a, b)) })
	for i, r := range reasons {
		if i < maxRefusedKind-1 || len(reasons) <= maxRefusedKind {
			msg.Refused[clip(r, siteNameLen)] += totals[r]
		} else {
			msg.Refused["other"] += totals[r]
		}
	}
	return msg
}

// getSites answers GET /api/v1/sites.
func (c *Console) getSites(w http.ResponseWriter, r *http.Request) {
	if c.deps.Sites == nil {
		writeError(w, http.StatusNotFound, "this console is not central: it has no sites")
		return
	}
	writeJSON(w, http.StatusOK, sitesReport(c.deps.Sites, c.now()))
}

// publishSites asks Sites for the sites now and hands them to the hub: for the snapshot of
// new clients, and as a sites message to the clients there are.
func (c *Console) publishSites() {
	if c.deps.Sites == nil {
		return
	}
	c.hub.publishSites(sitesReport(c.deps.Sites, c.now()))
}

// sitesLoop publishes the sites every period (Run: sitesEvery) until ctx is done.
func (c *Console) sitesLoop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.publishSites()
		}
	}
}

// publishSites keeps the sites for snapshots and sends them to every client; it encodes
// them only when there is a client.
func (h *hub) publishSites(m *sitesMsg) {
	h.mu.Lock()
	h.sites = m
	h.version++
	clients := len(h.clients)
	h.mu.Unlock()
	if clients == 0 {
		return
	}
	out := *m
	out.Type = "sites"
	msg, err := json.Marshal(&out)
	if err != nil {
		h.log.Error("encode sites", "err", err)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sites != m {
		return // a newer report came meanwhile and was sent
	}
	h.broadcastLocked(msg)
}
