package console

import (
	"cmp"
	"encoding/json"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/watchfloor/watchfloor"
)

// WebSocket timing and limits.
const (
	writeWait      = 10 * time.Second // one message must be written within this
	pongWait       = 60 * time.Second // a client that answers no ping for this long is gone
	pingPeriod     = 20 * time.Second // must be shorter than pongWait
	closeGrace     = time.Second      // a dropped client gets this long for a close frame
	maxInbound     = 4096             // bytes of one client message; the wall sends none
	maxEvents      = 200              // events the hub remembers
	snapshotEvents = 100              // events a snapshot carries
)

// Stats are the ingest counters of the appliance that the wall shows. The appliance fills
// Time and the counters; the console derives the per-second rates: those of the capture
// sources from the previous Stats, those of the totals and the collectors over a window
// that spans each one's cadence (counterSeries).
type Stats struct {
	Time          time.Time `json:"time"`
	RecordsIn     uint64    `json:"records_in"`     // records accepted since start
	Dropped       uint64    `json:"dropped"`        // records dropped at the edge since start
	QueueDepth    int       `json:"queue_depth"`    // records waiting for the store
	QueueCapacity int       `json:"queue_capacity"` // bound of that queue
	RecordsPerS   float64   `json:"records_per_s"`  // set by the console
	DroppedPerS   float64   `json:"dropped_per_s"`  // set by the console
	// Capture has one entry per packet capture source, empty when there is none. The
	// console copies it and sets the rates of each entry.
	Capture []CaptureStats `json:"capture"`
	// Collectors has one entry per collector (snmp, traps, flows, packets, ingest), empty
	// when the appliance gives none. The console copies it and sets the rates of each entry.
	Collectors []CollectorStats `json:"collectors"`
}

// The messages of the stream. Each has a type; the snapshot comes first, then deltas.
type (
	snapshotMsg struct {
		Type         string              `json:"type"` // "snapshot"
		Site         string              `json:"site"`
		ServerTime   time.Time           `json:"server_time"`
		StaleAfterMS int64               `json:"stale_after_ms"`
		Devices      []watchfloor.Device `json:"devices"`
		Events       []watchfloor.Event  `json:"events"`
		Topology     []watchfloor.Link   `json:"topology"`
		Stats        Stats               `json:"stats"`
		Flows        *flowSummary        `json:"flows"` // null until a flow rollup arrives
		// The open alerts, the most severe and newest first, at most snapshotAlerts of the
		// AlertsOpen the hub holds; null when there is no correlator.
		Alerts     []streamAlert `json:"alerts"`
		AlertsOpen int           `json:"alerts_open"`
		// The security posture now and its trend (see posture.go).
		Posture *postureMsg `json:"posture"`
		// Central's sites (sites.go); absent on an appliance.
		Sites *sitesMsg `json:"sites,omitempty"`
		// TS is when the snapshot was encoded, in Unix milliseconds (every message has it).
		TS int64 `json:"ts"`
	}
	deviceMsg struct {
		Type   string            `json:"type"` // "device"
		Device watchfloor.Device `json:"device"`
	}
	eventsMsg struct {
		Type   string             `json:"type"` // "events"
		Events []watchfloor.Event `json:"events"`
	}
	topologyMsg struct {
		Type  string            `json:"type"` // "topology"
		Links []watchfloor.Link `json:"links"`
	}
	statsMsg struct {
		Type  string `json:"type"` // "stats"
		Stats Stats  `json:"stats"`
		// The security posture evaluated with these stats (see posture.go).
		Posture *Posture `json:"posture"`
	}
)

// hub holds the current state the wall shows and fans each change out to the WebSocket
// clients. Every delta is encoded once; clients share the bytes. Publishing never waits for
// a client: a client whose queue is full is dropped.
type hub struct {
	log        *slog.Logger
	m          *metrics
	queue      int
	site       string
	staleAfter time.Duration
	now        func() time.Time

	mu      sync.Mutex
	devices map[string]watchfloor.Device // values are never mutated once stored
	alerts  map[uint64]streamAlert       // the open alerts, at most maxHubAlerts
	// correlator is set once alerts are primed or published: the snapshot's alerts are
	// then a list, not null.
	correlator bool
	events     []watchfloor.Event // the last maxEvents, oldest first
	links      []watchfloor.Link
	stats      Stats
	// The recent counters of the ingest totals (key totalSeries) and of each collector, by
	// name, that the rates of the stats are computed from; seriesGen counts the stats.
	series    map[string]*counterSeries
	seriesGen uint64
	posture   postureState
	// The latest closed and live flow rollups, and the one of them the walls show.
	flowClosed, flowLive, flowShown *flowSummary
	sites                           *sitesMsg // central's latest sites report; never mutated
	version                         uint64    // counts changes, keys the snapshot cache
	clients                         map[*client]struct{}
	closed                          bool
	writers                         sync.WaitGroup
	snapMu                          sync.Mutex
	snapVer                         uint64
	snapshot                        []byte
}

// client is one WebSocket connection.
type client struct {
	conn *websocket.Conn
	send chan []byte   // encoded messages, shared with other clients: never modify
	kick chan struct{} // closed when the hub lets go of the client
	code int           // close code sent when kicked; set before kick is closed
}

func newHub(site string, queue int, staleAfter time.Duration, m *metrics, log *slog.Logger) *hub {
	return &hub{
		log: log, m: m, queue: queue, site: site, staleAfter: staleAfter, now: time.Now,
		devices: make(map[string]watchfloor.Device),
		alerts:  make(map[uint64]streamAlert),
		clients: make(map[*client]struct{}),
		stats:   Stats{Capture: []CaptureStats{}, Collectors: []CollectorStats{}},
	}
}

// prime loads the initial state without telling anyone.
func (h *hub) prime(devices []watchfloor.Device, events []watchfloor.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, d := range devices {
		h.devices[d.Name] = cloneDevice(d)
	}
	h.events = append(h.events, events...)
	h.events = trimEvents(h.events)
	h.links = watchfloor.Topology(h.deviceListLocked())
	h.version++
}

// publishDevice records the new state of a device and sends it, and the topology when the
// device's neighbours changed it, to every client.
func (h *hub) publishDevice(d watchfloor.Device) {
	if d.Name == "" {
		return
	}
	d = cloneDevice(d)
	msg, err := json.Marshal(deviceMsg{Type: "device", Device: d})
	if err != nil {
		h.log.Error("encode device", "device", d.Name, "err", err)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	old, known := h.devices[d.Name]
	h.devices[d.Name] = d
	h.version++
	h.broadcastLocked(msg)
	if known && old.SysName == d.SysName && slices.Equal(old.Neighbors, d.Neighbors) {
		return
	}
	links := watchfloor.Topology(h.deviceListLocked())
	if slices.Equal(links, h.links) {
		return
	}
	h.links = links
	if msg, err := json.Marshal(topologyMsg{Type: "topology", Links: nonNil(links)}); err == nil {
		h.broadcastLocked(msg)
	}
}

// publishEvents appends committed events and sends them to every client.
func (h *hub) publishEvents(evs []watchfloor.Event) {
	if len(evs) == 0 {
		return
	}
	evs = slices.Clone(evs)
	msg, err := json.Marshal(eventsMsg{Type: "events", Events: evs})
	if err != nil {
		h.log.Error("encode events", "err", err)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = trimEvents(append(h.events, evs...))
	h.version++
	h.broadcastLocked(msg)
}

// publishStats derives rates from the previous stats and sends the new ones.
func (h *hub) publishStats(s Stats) {
	if s.Time.IsZero() {
		s.Time = h.now()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	prev := h.stats
	dt := s.Time.Sub(prev.Time).Seconds()
	if prev.Time.IsZero() {
		dt = 0
	}
	s.Capture = captureRates(s.Capture, prev.Capture, dt)
	// The ingest totals and the collectors: rates over a window that spans each one's
	// cadence (counterSeries), not over the last 2 s, so a collector
	// that works in bursts (an SNMP poll every 5 s, a store batch) does not flicker idle.
	s.Collectors = slices.Clone(s.Collectors[:min(len(s.Collectors), maxCollectors)])
	if s.Collectors == nil {
		s.Collectors = []CollectorStats{}
	}
	if h.series == nil {
		h.series = make(map[string]*counterSeries)
	}
	h.seriesGen++
	total := h.seriesLocked(totalSeries)
	r, _ := total.add(s.Time, [3]uint64{s.RecordsIn, s.Dropped, 0})
	s.RecordsPerS, s.DroppedPerS = r[0], r[1]
	for i := range s.Collectors {
		c := &s.Collectors[i]
		r, interval := h.seriesLocked(c.Name).add(s.Time, [3]uint64{c.Records, c.Drops, c.Errors})
		c.RecordsPerS, c.DropsPerS, c.ErrorsPerS, c.IntervalS = r[0], r[1], r[2], interval
	}
	for name, sr := range h.series { // collectors that went away
		if sr.gen != h.seriesGen {
			delete(h.series, name)
		}
	}
	h.stats = s
	h.version++
	p := h.postureLocked()
	msg, err := json.Marshal(statsMsg{Type: "stats", Stats: s, Posture: &p})
	if err != nil {
		h.log.Error("encode stats", "err", err)
		return
	}
	h.broadcastLocked(msg)
}

// broadcastLocked stamps msg with the time it is sent (a "ts" member, Unix milliseconds:
// the wall measures its latency from it) and queues it for every client without waiting; a
// client whose queue is full is dropped. msg is a JSON object, encoded once for all clients.
func (h *hub) broadcastLocked(msg []byte) {
	if len(h.clients) == 0 {
		return
	}
	msg = stamp(msg, h.now())
	for c := range h.clients {
		select {
		case c.send <- msg:
		default:
			h.removeLocked(c, websocket.ClosePolicyViolation)
			h.m.wsDropped.Inc()
			h.log.Warn("websocket client too slow, dropped", "remote", c.conn.RemoteAddr().String(), "queue", h.queue)
			// The writer may be stuck in a write to a full socket: close under it after a
			// grace period for the close frame.
			time.AfterFunc(closeGrace, func() { c.conn.Close() })
		}
	}
}

// stamp returns a copy of the JSON object msg with "ts" (t in Unix milliseconds) as its first
// member.
func stamp(msg []byte, t time.Time) []byte {
	if len(msg) < 2 || msg[0] != '{' {
		return msg
	}
	out := make([]byte, 0, len(msg)+24)
	out = append(out, `{"ts":`...)
	out = strconv.AppendInt(out, t.UnixMilli(), 10)
	if msg[1] != '}' {
		out = append(out, ',')
	}
	return append(out, msg[1:]...)
}

// removeLocked forgets c and tells its writer to close with code.
func (h *hub) removeLocked(c *client, code int) {
	if _, ok := h.clients[c]; !ok {
		return
	}
	delete(h.clients, c)
	h.m.wsClients.Dec()
	c.code = code
	close(c.kick)
}

func (h *hub) remove(c *client) {
	h.mu.Lock()
	h.removeLocked(c, websocket.CloseNormalClosure)
	h.mu.Unlock()
}

// serve runs one WebSocket connection until it ends: it registers the client, starts its
// writer with the snapshot, and reads (and discards) what the client sends.
func (h *hub) serve(conn *websocket.Conn) {
	c := &client{conn: conn, send: make(chan []byte, h.queue), kick: make(chan struct{})}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "shutting down"), time.Now().Add(closeGrace))
		conn.Close()
		return
	}
	// Take the state and register in one step: every later change is queued to the client,
	// and the writer sends the snapshot of this state before the queue.
	ver := h.version
	snap := snapshotMsg{
		Type: "snapshot", Site: h.site, StaleAfterMS: h.staleAfter.Milliseconds(),
		Devices: h.deviceListLocked(), Topology: nonNil(h.links), Stats: h.stats, Flows: h.flowShown,
		Events: slices.Clone(h.events[max(0, len(h.events)-snapshotEvents):]),
		Alerts: h.snapshotAlertsLocked(), AlertsOpen: len(h.alerts), Posture: h.postureSnapshotLocked(),
		Sites: h.sites,
	}
	h.clients[c] = struct{}{}
	h.m.wsClients.Inc()
	h.writers.Add(1)
	h.mu.Unlock()

	go h.write(c, func() []byte { return h.encodeSnapshot(ver, &snap) })

	conn.SetReadLimit(maxInbound)
	conn.SetReadDeadline(time.Now().Add(pongWait))
	conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(pongWait)) })
	for {
		// The wall sends nothing we act on; NextReader discards what a previous message
		// left unread, answers pings and notices the close handshake.
		if _, _, err := conn.NextReader(); err != nil {
			break
		}
	}
	h.remove(c)
}

// encodeSnapshot encodes the snapshot of state version ver, reusing the bytes of the last
// client that connected at the same version.
func (h *hub) encodeSnapshot(ver uint64, snap *snapshotMsg) []byte {
	h.snapMu.Lock()
	defer h.snapMu.Unlock()
	if h.snapshot != nil && h.snapVer == ver {
		return h.snapshot
	}
	snap.ServerTime = h.now()
	snap.TS = snap.ServerTime.UnixMilli()
	b, err := json.Marshal(snap)
	if err != nil {
		h.log.Error("encode snapshot", "err", err)
		return nil
	}
	h.snapVer, h.snapshot = ver, b
	return b
}

// write sends the snapshot, then the queued messages, and pings, until the hub kicks the
// client or a write fails. It closes the connection when it returns.
func (h *hub) write(c *client, snapshot func() []byte) {
	defer h.writers.Done()
	defer c.conn.Close()
	ping := time.NewTicker(pingPeriod)
	defer ping.Stop()
	send := func(msg []byte) bool {
		c.conn.SetWriteDeadline(time.Now().Add(writeWait))
		if err := c.conn.WriteMessage(websocket.TextMessage, msg); err != nil {
			h.remove(c)
			return false
		}
		h.m.wsMessages.Inc()
		return true
	}
	if msg := snapshot(); msg == nil || !send(msg) {
		h.remove(c)
		return
	}
	for {
		select {
		case <-c.kick:
			reason := "bye"
			switch c.code {
			case websocket.ClosePolicyViolation:
				reason = "send queue full"
			case websocket.CloseGoingAway:
				reason = "server shutting down"
			}
			c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(c.code, reason), time.Now().Add(closeGrace))
			return
		case msg := <-c.send:
			if !send(msg) {
				return
			}
		case <-ping.C:
			if err := c.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait)); err != nil {
				h.remove(c)
				return
			}
		}
	}
}

// close sends every client a close frame and waits (up to wait) for the writers to finish.
// Connections that arrive later are refused.
func (h *hub) close(wait time.Duration) {
	h.mu.Lock()
	h.closed = true
	for c := range h.clients {
		h.removeLocked(c, websocket.CloseGoingAway)
	}
	h.mu.Unlock()
	done := make(chan struct{})
	go func() { h.writers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(wait):
		h.log.Warn("websocket writers did not finish in time")
	}
}

// deviceList returns the current devices sorted by name.
func (h *hub) deviceList() []watchfloor.Device {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.deviceListLocked()
}

func (h *hub) deviceListLocked() []watchfloor.Device {
	list := make([]watchfloor.Device, 0, len(h.devices))
	for _, d := range h.devices {
		list = append(list, d)
	}
	slices.SortFunc(list, func(a, b watchfloor.Device) int { return cmp.Compare(a.Name, b.Name) })
	return list
}

func (h *hub) device(name string) (watchfloor.Device, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	d, ok := h.devices[name]
	return d, ok
}

func (h *hub) topology() ([]watchfloor.Link, []watchfloor.Device) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.links, h.deviceListLocked()
}

func (h *hub) clientCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients)
}

// cloneDevice copies the slices of d, so the caller may reuse them, and makes empty ones
// non-nil, so JSON shows [] rather than null.
func cloneDevice(d watchfloor.Device) watchfloor.Device {
	d.Interfaces = nonNil(slices.Clone(d.Interfaces))
	d.Neighbors = slices.Clone(d.Neighbors)
	return d
}

func trimEvents(evs []watchfloor.Event) []watchfloor.Event {
	if len(evs) > maxEvents {
		return slices.Clone(evs[len(evs)-maxEvents:])
	}
	return evs
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// Rates over a window that spans a collector's cadence. The appliance sends its counters every
// 2 s, but a collector may work in bursts: the SNMP poller adds its varbinds once per poll
// cycle (5 s in the lab, 30 s by default), the store takes batches. A rate over the last 2 s
// then alternates between a burst and 0, and the wall between "ok" and "idle". So the hub
// keeps each series' recent samples and learns its cadence — the longest gap between two
// samples in which a counter of it went up, over the history — and:
//
//   - measures the rates between two such changes at least max(rateWindowMin, cadence)
//     apart (the latest change and the latest one at least that long before it, else the
//     oldest sample), so every burst in the window is counted whole and the rate does not
//     saw with the phase of the ticks;
//   - calls the series idle (rates 0) only when nothing went up for idleCadences of its
//     cadences (idleUnknown while it has changed fewer than twice).
const (
	totalSeries    = "\x00total"      // the key of the ingest totals (RecordsIn, Dropped)
	rateWindowMin  = 15 * time.Second // a rate covers at least this long when the history has it
	rateHistory    = 5 * time.Minute  // samples kept per series, at most maxRateSamples
	maxRateSamples = 256              // bounds a series however fast stats come
	maxCadence     = 2 * time.Minute  // longer gaps are pauses, not a cadence
	idleCadences   = 3                // silent this many cadences: idle
	idleUnknown    = time.Minute      // silent this long with no cadence known yet: idle
)

// counterSample is one stats' cumulative counters of a series: records, drops, errors.
type counterSample struct {
	t time.Time
	v [3]uint64
}

// counterSeries is the recent history of one series of counters.
type counterSeries struct {
	samples []counterSample // oldest first
	gen     uint64          // the hub's seriesGen when last added to
}

func (h *hub) seriesLocked(name string) *counterSeries {
	sr := h.series[name]
	if sr == nil {
		sr = &counterSeries{}
		h.series[name] = sr
	}
	sr.gen = h.seriesGen
	return sr
}

// add records the counters v at t and returns their rates per second and the seconds the
// rates cover (0: no rates yet — the first sample, or a counter went back and the history
// starts again).
func (sr *counterSeries) add(t time.Time, v [3]uint64) (rates [3]float64, interval float64) {
	if n := len(sr.samples); n > 0 {
		last := sr.samples[n-1]
		switch {
		case last.v[0] > v[0] || last.v[1] > v[1] || last.v[2] > v[2] || t.Before(last.t):
			sr.samples = sr.samples[:0] // the source restarted, or the clock went back
		case t.Equal(last.t):
			sr.samples = sr.samples[:n-1]
		}
	}
	sr.samples = append(sr.samples, counterSample{t: t, v: v})
	cut := 0
	for cut < len(sr.samples)-1 && (t.Sub(sr.samples[cut].t) > rateHistory || len(sr.samples)-cut > maxRateSamples) {
		cut++
	}
	if cut > 0 {
		sr.samples = append(sr.samples[:0], sr.samples[cut:]...)
	}
	ss := sr.samples
	if len(ss) < 2 {
		return rates, 0
	}
	// The changes (samples in which a counter went up), the cadence, the latest change.
	var cadence time.Duration
	changes, latest, before := 0, -1, time.Time{}
	for i := 1; i < len(ss); i++ {
		if ss[i].v == ss[i-1].v {
			continue
		}
		if changes > 0 {
			if gap := ss[i].t.Sub(before); gap <= maxCadence {
				cadence = max(cadence, gap)
			}
		}
		changes++
		latest, before = i, ss[i].t
	}
	idleAfter := idleUnknown
	if changes >= 2 {
		// At least the spacing of the stats: a series that changes at every one of them.
		cadence = max(cadence, ss[len(ss)-1].t.Sub(ss[len(ss)-2].t))
		idleAfter = idleCadences * cadence
	}
	if latest < 0 || t.Sub(ss[latest].t) > idleAfter {
		// Idle: nothing went up lately. The rates are 0 over the window (or the history).
		from := 0
		for i := len(ss) - 2; i >= 0; i-- {
			if t.Sub(ss[i].t) >= rateWindowMin {
				from = i
				break
			}
		}
		return rates, t.Sub(ss[from].t).Seconds()
	}
	window := max(rateWindowMin, cadence)
	end, from := ss[latest], 0
	for i := latest - 1; i > 0; i-- {
		if ss[i].v != ss[i-1].v && end.t.Sub(ss[i].t) >= window {
			from = i
			break
		}
	}
	start := ss[from]
	dt := end.t.Sub(start.t).Seconds()
	if !(dt > 0) {
		return rates, 0
	}
	for k := range rates {
		rates[k] = float64(end.v[k]-start.v[k]) / dt
	}
	return rates, dt
}
