package appliance

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/appliance/central"
	"github.com/watchfloor/watchfloor/appliance/distrib"
	"github.com/watchfloor/watchfloor/appliance/store"
	"github.com/watchfloor/watchfloor/appliance/uplink"
	"github.com/watchfloor/watchfloor/console"
	"github.com/watchfloor/watchfloor/correlator"
	"github.com/watchfloor/watchfloor/internal/ratelog"
)

// centralSide is what a `role: central` process runs besides an appliance's parts: the
// receiver of the appliances' uplinks (appliance/central), and the sink that writes what
// they send into central's own store — in one transaction per consumer batch, together with
// the sequence marks that make it exactly once — then shows it on the wall and hands it to
// central's rules (the cross-site pack).
//
// At central, device names are qualified by their site (NAME@SITE) in devices, events,
// samples, flow rollups and alerts, so that two sites' "core-r1" stay two devices, and an
// appliance's alert gets a console ID of its own (siteAlertID).
type centralSide struct {
	recv    *central.Central
	store   *store.Store
	console *console.Console
	engine  *correlator.Engine
	sites   []string // configured, shown even before they first send
	log     *slog.Logger
	rlog    *ratelog.Log
	unread  *prometheus.CounterVec

	mu      sync.Mutex
	index   map[string]uint32 // site → its number in console IDs (store.SiteIndexes)
	byIndex map[uint32]string
	health  map[string]uplink.Health
	offered func() []uplink.Applied // what central distributes now; nil without distribution
}

const (
	logUnread = iota
	logCentralReasons
)

func newCentralSide(recv *central.Central, st *store.Store, sites []string, log *slog.Logger, reg prometheus.Registerer) (*centralSide, error) {
	s := &centralSide{
		recv: recv, store: st, sites: sites, log: log.With("component", "central"),
		index: map[string]uint32{}, byIndex: map[uint32]string{}, health: map[string]uplink.Health{},
		unread: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchfloor_central_unreadable_records_total",
			Help: "Records from appliances whose payload did not decode or that the store refused, by kind; acknowledged and dropped.",
		}, []string{"kind"}),
	}
	s.rlog = ratelog.New(s.log, logCentralReasons)
	if reg != nil {
		if err := reg.Register(s.unread); err != nil {
			return nil, fmt.Errorf("central: %w", err)
		}
	}
	if err := s.refreshIndex(); err != nil {
		return nil, err
	}
	hs, err := st.SiteHealth()
	if err != nil {
		return nil, fmt.Errorf("central: %w", err)
	}
	for _, h := range hs {
		var v uplink.Health
		if json.Unmarshal(h.Data, &v) == nil {
			s.health[h.Site] = v
		}
	}
	marks, err := st.UplinkMarks()
	if err != nil {
		return nil, fmt.Errorf("central: %w", err)
	}
	recv.Restore(marks)
	return s, nil
}

func (s *centralSide) refreshIndex() error {
	idx, err := s.store.SiteIndexes()
	if err != nil {
		return fmt.Errorf("central: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for site, i := range idx {
		s.index[site], s.byIndex[i] = i, site
	}
	return nil
}

// qualify names a site's device at central.
func qualify(name, site string) string {
	if name == "" {
		return ""
	}
	return name + "@" + site
}

// siteAlertBit marks a console ID as an appliance's alert: bit 63, the site's number in bits
// 40–62, the appliance's own alert ID below. Central's own alerts count up from 1.
const (
	siteAlertBit   = 1 << 63
	siteAlertShift = 40
	maxSiteAlertID = 1<<siteAlertShift - 1
)

func (s *centralSide) consoleID(site string, id uint64) (uint64, bool) {
	s.mu.Lock()
	i, ok := s.index[site]
	s.mu.Unlock()
	if !ok || id == 0 || id > maxSiteAlertID || i >= 1<<(63-siteAlertShift) {
		return 0, false
	}
	return siteAlertBit | uint64(i)<<siteAlertShift | id, true
}

func (s *centralSide) siteOf(consoleID uint64) (site string, id uint64, ok bool) {
	if consoleID&siteAlertBit == 0 {
		return "", 0, false
	}
	s.mu.Lock()
	site, ok = s.byIndex[uint32(consoleID&^siteAlertBit>>siteAlertShift)]
	s.mu.Unlock()
	return site, consoleID & maxSiteAlertID, ok
}

// Ingest writes a batch of one kind from the appliances, with the sequence marks, in one
// store transaction (central.Sink). A record that does not decode is counted and dropped:
// delivering it again would not make it readable.
func (s *centralSide) Ingest(ds []central.Delivery, marks []central.Mark) error {
	b := store.Batch{Marks: marks}
	var (
		fired  []watchfloor.Event // appliances' alerts seen for the first time, for the cross-site rules
		health []uplink.Health
	)
	for i := range ds {
		d := &ds[i]
		if err := s.decode(d, &b, &fired, &health); err != nil {
			s.unread.WithLabelValues(string(d.Kind)).Inc()
			s.rlog.Warn(logUnread, "unreadable record from a site dropped", "site", d.Site, "kind", d.Kind, "seq", d.Seq, "err", err)
		}
	}
	err := s.store.Write(context.Background(), &b)
	if errors.Is(err, store.ErrInvalid) {
		err = s.writeEach(&b)
	}
	if err != nil {
		return err
	}
	if len(b.SiteAlerts) > 0 || len(b.SiteHealth) > 0 {
		if err := s.refreshIndex(); err != nil {
			s.log.Warn("site numbers not read", "err", err)
		}
	}
	s.mu.Lock()
	for _, h := range health {
		s.health[h.Site] = h
	}
	s.mu.Unlock()
	s.publish(&b, fired)
	return nil
}

// decode adds one delivery to the batch.
func (s *centralSide) decode(d *central.Delivery, b *store.Batch, fired *[]watchfloor.Event, health *[]uplink.Health) error {
	site := d.Site // the subject's, which the site's permissions vouch for
	switch d.Kind {
	case uplink.KindDevice:
		var dev watchfloor.Device
		if err := json.Unmarshal(d.Payload, &dev); err != nil {
			return err
		}
		dev.Site, dev.Name, dev.SysName = site, qualify(dev.Name, site), qualify(dev.SysName, site)
		for i := range dev.Neighbors {
			dev.Neighbors[i].RemoteSysName = qualify(dev.Neighbors[i].RemoteSysName, site)
		}
		b.Devices = append(b.Devices, dev)
	case uplink.KindEvent:
		var e watchfloor.Event
		if err := json.Unmarshal(d.Payload, &e); err != nil {
			return err
		}
		e.ID, e.Site, e.Device = 0, site, qualify(e.Device, site) // central's store numbers its own
		b.Events = append(b.Events, e)
	case uplink.KindMetrics:
		var ss []watchfloor.Sample
		if err := json.Unmarshal(d.Payload, &ss); err != nil {
			return err
		}
		for i := range ss {
			ss[i].Device = qualify(ss[i].Device, site)
		}
		b.Samples = append(b.Samples, ss...)
	case uplink.KindFlows:
		var r watchfloor.FlowRollup
		if err := json.Unmarshal(d.Payload, &r); err != nil {
			return err
		}
		r.Site = site
		for i := range r.Rows {
			r.Rows[i].Device = qualify(r.Rows[i].Device, site)
		}
		for i := range r.Interfaces {
			r.Interfaces[i].Device = qualify(r.Interfaces[i].Device, site)
		}
		b.FlowRollups = append(b.FlowRollups, r)
	case uplink.KindAlert:
		var a watchfloor.Alert
		if err := json.Unmarshal(d.Payload, &a); err != nil {
			return err
		}
		if a.ID == 0 || a.ID > maxSiteAlertID {
			return fmt.Errorf("alert ID %d out of range", a.ID)
		}
		a.Entity.Site, a.Entity.Device = site, qualify(a.Entity.Device, site)
		if _, seen, err := s.store.SiteAlert(site, a.ID); err == nil && !seen && !slices.ContainsFunc(b.SiteAlerts, func(x watchfloor.Alert) bool {
			return x.ID == a.ID && x.Entity.Site == site
		}) {
			*fired = append(*fired, alertEvent(&a))
		}
		b.SiteAlerts = append(b.SiteAlerts, a)
	case uplink.KindHealth:
		var h uplink.Health
		if err := json.Unmarshal(d.Payload, &h); err != nil {
			return err
		}
		h.Site = site
		data, err := json.Marshal(&h)
		if err != nil {
			return err
		}
		b.SiteHealth = append(b.SiteHealth, store.SiteHealth{Site: site, Time: d.Time, Data: data})
		*health = append(*health, h)
	default:
		return fmt.Errorf("unknown kind %q", d.Kind)
	}
	return nil
}

// alertEvent is an appliance's new alert as an event for central's rules (rules/central).
func alertEvent(a *watchfloor.Alert) watchfloor.Event {
	return watchfloor.Event{
		Time: a.StartedAt, Kind: watchfloor.EventAlertFired, Severity: a.Severity,
		Site: a.Entity.Site, Device: a.Entity.Device, Interface: a.Entity.Interface,
		Source: "site.alert", Message: a.Entity.Site + ": " + a.Title,
		Attrs: []watchfloor.Attr{
			{Key: "rule", Value: a.Rule}, {Key: "category", Value: a.Category},
			{Key: "severity", Value: a.Severity.String()}, {Key: "host", Value: a.Entity.Host},
			{Key: "device", Value: a.Entity.Device}, {Key: "alert_id", Value: strconv.FormatUint(a.ID, 10)},
		},
	}
}

// writeEach writes a batch the store refused as a whole one record at a time, so that one
// record it refuses does not hold back the rest forever; the refused ones are counted and
// dropped, and the marks go last. Not one transaction: after a crash in the middle, the
// records already written are written again when the batch is delivered again.
func (s *centralSide) writeEach(b *store.Batch) error {
	ctx := context.Background()
	var kept store.Batch
	try := func(kind uplink.Kind, one store.Batch, keep func()) error {
		err := s.store.Write(ctx, &one)
		switch {
		case errors.Is(err, store.ErrInvalid):
			s.unread.WithLabelValues(string(kind)).Inc()
			s.rlog.Warn(logUnread, "record from a site refused by the store", "kind", kind, "err", err)
			return nil
		case err != nil:
			return err
		}
		keep()
		return nil
	}
	for i := range b.Devices {
		if err := try(uplink.KindDevice, store.Batch{Devices: b.Devices[i : i+1]}, func() { kept.Devices = append(kept.Devices, b.Devices[i]) }); err != nil {
			return err
		}
	}
	for i := range b.Events {
		one := store.Batch{Events: b.Events[i : i+1]}
		if err := try(uplink.KindEvent, one, func() { kept.Events = append(kept.Events, one.Events[0]) }); err != nil {
			return err
		}
	}
	if len(b.Samples) > 0 {
		if err := try(uplink.KindMetrics, store.Batch{Samples: b.Samples}, func() { kept.Samples = b.Samples }); err != nil {
			return err
		}
	}
	for i := range b.FlowRollups {
		if err := try(uplink.KindFlows, store.Batch{FlowRollups: b.FlowRollups[i : i+1]}, func() { kept.FlowRollups = append(kept.FlowRollups, b.FlowRollups[i]) }); err != nil {
			return err
		}
	}
	for i := range b.SiteAlerts {
		if err := try(uplink.KindAlert, store.Batch{SiteAlerts: b.SiteAlerts[i : i+1]}, func() { kept.SiteAlerts = append(kept.SiteAlerts, b.SiteAlerts[i]) }); err != nil {
			return err
		}
	}
	for i := range b.SiteHealth {
		if err := try(uplink.KindHealth, store.Batch{SiteHealth: b.SiteHealth[i : i+1]}, func() { kept.SiteHealth = append(kept.SiteHealth, b.SiteHealth[i]) }); err != nil {
			return err
		}
	}
	if err := s.store.Write(ctx, &store.Batch{Marks: b.Marks}); err != nil {
		return err
	}
	kept.Marks = b.Marks
	*b = kept
	return nil
}

// publish shows what was committed on the wall and hands it to central's rules.
func (s *centralSide) publish(b *store.Batch, fired []watchfloor.Event) {
	for _, d := range b.Devices {
		s.console.PublishDevice(d)
	}
	if len(b.Events) > 0 {
		s.console.PublishEvents(slices.Clone(b.Events))
	}
	for _, r := range b.FlowRollups {
		if r.Step == time.Minute {
			s.console.PublishFlows(r)
		}
	}
	for _, a := range b.SiteAlerts {
		if c, ok := s.siteAlertForConsole(a); ok {
			s.console.PublishAlert(c)
		}
	}
	if s.engine != nil {
		s.engine.HandleEvents(append(slices.Clone(b.Events), fired...))
		s.engine.HandleSamples(b.Samples)
	}
}

// siteAlertForConsole is an appliance's alert with console IDs (its own, and those of the
// alerts it suppresses or is suppressed by).
func (s *centralSide) siteAlertForConsole(a watchfloor.Alert) (watchfloor.Alert, bool) {
	site := a.Entity.Site
	id, ok := s.consoleID(site, a.ID)
	if !ok {
		return a, false
	}
	a.ID = id
	if a.SuppressedBy != 0 {
		a.SuppressedBy, _ = s.consoleID(site, a.SuppressedBy)
	}
	if len(a.Suppressed) > 0 {
		ids := make([]uint64, 0, len(a.Suppressed))
		for _, x := range a.Suppressed {
			if c, ok := s.consoleID(site, x); ok {
				ids = append(ids, c)
			}
		}
		a.Suppressed = ids
	}
	return a, true
}

// Sites is central's view of every appliance, for the wall (console.Sites).
func (s *centralSide) Sites() []console.SiteStatus {
	by := map[string]*console.SiteStatus{}
	get := func(site string) *console.SiteStatus {
		st := by[site]
		if st == nil {
			st = &console.SiteStatus{Site: site}
			by[site] = st
		}
		return st
	}
	for _, site := range s.sites {
		get(site)
	}
	for _, k := range s.recv.Sites() {
		st := get(k.Site)
		st.Received += k.Received
		st.Duplicates += k.Duplicates
		st.Gaps += k.Gaps
		if k.LastSeen.After(st.LastContact) {
			st.LastContact = k.LastSeen
		}
	}
	var offered map[string]uplink.Applied
	s.mu.Lock()
	if s.offered != nil {
		offered = map[string]uplink.Applied{}
		for _, o := range s.offered() {
			offered[o.Kind] = o
		}
	}
	for site, h := range s.health {
		st := get(site)
		st.Version, st.StartedAt = h.Version, h.StartedAt
		st.OutboxEntries, st.OutboxBytes = h.OutboxEntries, h.OutboxBytes
		st.Dropped = h.UplinkDropped + h.IngestDropped + h.CollectorDropped
		st.Devices, st.DevicesDown, st.OpenAlerts = h.Devices, h.DevicesDown, h.OpenAlerts
		if h.Time.After(st.LastContact) && st.LastContact.IsZero() {
			st.LastContact = h.Time // before the first record of this run: the stored health's
		}
		for _, ap := range h.Applied {
			st.Applied = append(st.Applied, console.SiteApplied{Kind: ap.Kind, Version: ap.Version,
				Offered: offered[ap.Kind].Version, AppliedAt: ap.AppliedAt, Error: ap.Error})
		}
	}
	s.mu.Unlock()
	out := make([]console.SiteStatus, 0, len(by))
	for _, st := range by {
		out = append(out, *st)
	}
	slices.SortFunc(out, func(a, b console.SiteStatus) int { return cmp.Compare(a.Site, b.Site) })
	return out
}

// Refusals are the appliances central's server turned away (console.Sites).
func (s *centralSide) Refusals() ([]console.Refusal, map[string]uint64) {
	recent, totals := s.recv.Refusals()
	out := make([]console.Refusal, len(recent))
	for i, r := range recent {
		out[i] = console.Refusal{Time: r.Time, Reason: r.Reason, Who: r.Who, Remote: r.Remote}
	}
	return out, totals
}

// centralAlerts is central's console view of alerts: central's own (its cross-site rules',
// through the alert manager) and every appliance's, kept in the store as they arrive. An
// appliance's alert is worked on at its site — acknowledged, assigned, resolved there — and
// its changes come back over the uplink; central shows it read-only.
type centralAlerts struct {
	alertsAPI
	side *centralSide
	pub  *distrib.Publisher // told when a silence changes, to send it to the sites
}

// AddSilence adds a silence at central; it goes to the sites it matches.
func (c centralAlerts) AddSilence(s watchfloor.Silence) (watchfloor.Silence, error) {
	s, err := c.alertsAPI.AddSilence(s)
	if err == nil {
		c.pub.SilencesChanged()
	}
	return s, err
}

// DeleteSilence expires a silence at central, and at the sites it went to.
func (c centralAlerts) DeleteSilence(id string) error {
	err := c.alertsAPI.DeleteSilence(id)
	if err == nil {
		c.pub.SilencesChanged()
	}
	return err
}

var _ console.Alerts = centralAlerts{}

// errSiteAlert is the answer to an analyst action on an appliance's alert.
func errSiteAlert(site string) error {
	return fmt.Errorf("%w: an alert of site %s is worked on at the site's console; its changes come back here", console.ErrState, site)
}

func (c centralAlerts) List(q console.AlertQuery) []watchfloor.Alert {
	own := c.alertsAPI.List(q)
	sq := store.SiteAlertQuery{Site: q.Site, OpenOnly: q.State == console.StateOpen, Since: q.Since, Limit: q.Limit}
	site, err := c.side.store.SiteAlerts(sq)
	if err != nil {
		c.side.log.Warn("appliances' alerts not read", "err", err)
	}
	out := own
	for _, a := range site {
		ca, ok := c.side.siteAlertForConsole(a)
		if ok && q.Match(ca) {
			out = append(out, ca)
		}
	}
	slices.SortStableFunc(out, func(a, b watchfloor.Alert) int { return b.UpdatedAt.Compare(a.UpdatedAt) })
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out
}

func (c centralAlerts) Get(id uint64) (watchfloor.Alert, bool) {
	site, sid, ok := c.side.siteOf(id)
	if !ok {
		if id&siteAlertBit != 0 {
			return watchfloor.Alert{}, false
		}
		return c.alertsAPI.Get(id)
	}
	a, found, err := c.side.store.SiteAlert(site, sid)
	if err != nil || !found {
		return watchfloor.Alert{}, false
	}
	return c.side.siteAlertForConsole(a)
}

// siteAction refuses an analyst action on an appliance's alert, and passes central's own on.
func (c centralAlerts) siteAction(id uint64, own func() error) error {
	if site, _, ok := c.side.siteOf(id); ok {
		return errSiteAlert(site)
	} else if id&siteAlertBit != 0 {
		return fmt.Errorf("%w: alert %d", console.ErrNotFound, id)
	}
	return own()
}

func (c centralAlerts) Ack(id uint64, who, comment string) error {
	return c.siteAction(id, func() error { return c.alertsAPI.Ack(id, who, comment) })
}

func (c centralAlerts) Resolve(id uint64, who, comment string) error {
	return c.siteAction(id, func() error { return c.alertsAPI.Resolve(id, who, comment) })
}

func (c centralAlerts) Assign(id uint64, who, assignee string) error {
	return c.siteAction(id, func() error { return c.alertsAPI.Assign(id, who, assignee) })
}

func (c centralAlerts) Comment(id uint64, who, text string) error {
	return c.siteAction(id, func() error { return c.alertsAPI.Comment(id, who, text) })
}

// History of an appliance's alert is what its latest state tells: fired, acknowledged,
// resolved (the site keeps the full history).
func (c centralAlerts) History(id uint64) ([]console.AlertChange, error) {
	if id&siteAlertBit == 0 {
		return c.alertsAPI.History(id)
	}
	a, ok := c.Get(id)
	if !ok {
		return nil, fmt.Errorf("%w: alert %d", console.ErrNotFound, id)
	}
	out := []console.AlertChange{{Time: a.StartedAt, Kind: console.ChangeState, To: watchfloor.AlertFiring, Comment: "at site " + a.Entity.Site}}
	if !a.AckedAt.IsZero() {
		out = append(out, console.AlertChange{Time: a.AckedAt, Kind: console.ChangeState, From: watchfloor.AlertFiring, To: watchfloor.AlertAcknowledged, By: a.AckedBy})
	}
	if a.State == watchfloor.AlertResolved {
		from := watchfloor.AlertFiring
		if !a.AckedAt.IsZero() {
			from = watchfloor.AlertAcknowledged
		}
		out = append(out, console.AlertChange{Time: a.ResolvedAt, Kind: console.ChangeState, From: from, To: watchfloor.AlertResolved})
	}
	return out, nil
}
