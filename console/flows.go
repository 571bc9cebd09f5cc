package console

import (
	"cmp"
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/watchfloor/watchfloor"
)

// Flow query limits and what the wall is sent of a rollup.
const (
	defaultFlowRange = 15 * time.Minute
	defaultFlowLimit = 10
	maxFlowLimit     = 1000
	maxFlowFilterLen = 256
	wallFlowTop      = 10  // keys per dimension in a flows message
	wallFlowIfs      = 256 // interfaces in a flows message, the busiest first
	// minLiveWindow is how much of the current minute a live rollup must cover before the
	// wall shows it rather than the last closed minute: rates over a few seconds jump about.
	minLiveWindow = 15 * time.Second
)

// wallFlowDims are the dimensions the wall ranks.
var wallFlowDims = [...]watchfloor.FlowDim{watchfloor.FlowBySrc, watchfloor.FlowByDst, watchfloor.FlowByPort}

// flowDimNames lists the valid dimensions for error messages.
var flowDimNames = func() string {
	s := make([]string, len(watchfloor.FlowDims))
	for i, d := range watchfloor.FlowDims {
		s[i] = string(d)
	}
	return strings.Join(s, ", ")
}()

// parseFlowDim checks a dimension name.
func parseFlowDim(s string) (watchfloor.FlowDim, error) {
	if s == "" {
		return "", badParam("by", "missing; want one of %s", flowDimNames)
	}
	for _, d := range watchfloor.FlowDims {
		if string(d) == s {
			return d, nil
		}
	}
	return "", badParam("by", "%q is not one of %s", truncate(s), flowDimNames)
}

// flowTopQuery reads the parameters of /api/v1/flows/top.
func flowTopQuery(q url.Values, now time.Time) (watchfloor.FlowTopQuery, error) {
	var fq watchfloor.FlowTopQuery
	var err error
	if fq.By, err = parseFlowDim(q.Get("by")); err != nil {
		return fq, err
	}
	if fq.From, fq.To, err = timeRangeOr(q, now, defaultFlowRange); err != nil {
		return fq, err
	}
	fq.Limit = defaultFlowLimit
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxFlowLimit {
			return fq, badParam("limit", "%q: want 1..%d", truncate(s), maxFlowLimit)
		}
		fq.Limit = n
	}
	switch s := q.Get("order"); s {
	case "", "bytes":
		fq.OrderBy = "bytes"
	case "packets":
		fq.OrderBy = "packets"
	default:
		return fq, badParam("order", "%q is not one of bytes, packets", truncate(s))
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"site", &fq.Site}, {"device", &fq.Device}, {"interface", &fq.Interface}} {
		s := q.Get(f.name)
		if len(s) > maxFlowFilterLen {
			return fq, badParam(f.name, "longer than %d characters", maxFlowFilterLen)
		}
		*f.dst = s
	}
	if fq.Interface != "" && fq.By != watchfloor.FlowByInterface {
		return fq, badParam("interface", "only with by=interface (the other dimensions do not record interfaces)")
	}
	return fq, nil
}

// flowTopRow is one row of /api/v1/flows/top: the counts of a key over the range and the
// rates they average to.
type flowTopRow struct {
	Key     string  `json:"key"`
	Device  string  `json:"device"`
	Bytes   uint64  `json:"bytes"`
	Packets uint64  `json:"packets"`
	Flows   uint64  `json:"flows"`
	Bps     float64 `json:"bps"`
	Pps     float64 `json:"pps"`
}

func (c *Console) getFlowsTop(w http.ResponseWriter, r *http.Request) {
	fq, err := flowTopQuery(r.URL.Query(), c.now())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	rows, err := c.deps.Store.FlowTop(fq)
	if err != nil {
		c.log.Error("read flows", "by", fq.By, "err", err)
		writeError(w, http.StatusInternalServerError, "cannot read flows")
		return
	}
	// The store ranks already; ranking again is cheap and makes the documented order and
	// limit hold whatever the store does.
	rows = slices.Clone(rows)
	byPackets := fq.OrderBy == "packets"
	slices.SortStableFunc(rows, func(a, b watchfloor.FlowRow) int {
		x, y := a.Bytes, b.Bytes
		if byPackets {
			x, y = a.Packets, b.Packets
		}
		return cmp.Or(cmp.Compare(y, x), cmp.Compare(a.Key, b.Key), cmp.Compare(a.Device, b.Device))
	})
	rows = rows[:min(len(rows), fq.Limit)]
	secs := fq.To.Sub(fq.From).Seconds()
	out := make([]flowTopRow, len(rows))
	for i, row := range rows {
		out[i] = flowTopRow{
			Key: row.Key, Device: row.Device, Bytes: row.Bytes, Packets: row.Packets, Flows: row.Flows,
			Bps: bitRate(row.Bytes, secs), Pps: pktRate(row.Packets, secs),
		}
	}
	writeJSON(w, http.StatusOK, struct {
		By      watchfloor.FlowDim `json:"by"`
		From    time.Time          `json:"from"`
		To      time.Time          `json:"to"`
		Seconds float64            `json:"seconds"`
		Order   string             `json:"order"`
		Rows    []flowTopRow       `json:"rows"`
	}{fq.By, fq.From, fq.To, secs, fq.OrderBy, out})
}

// bitRate is bytes over secs in bit/s, to the whole bit.
func bitRate(bytes uint64, secs float64) float64 {
	if secs <= 0 {
		return 0
	}
	return math.Round(float64(bytes) * 8 / secs)
}

// pktRate is packets over secs per second, to the thousandth.
func pktRate(packets uint64, secs float64) float64 {
	if secs <= 0 {
		return 0
	}
	return math.Round(float64(packets)/secs*1000) / 1000
}

// flowSummary is what the wall is sent of a rollup: the rates of the top sources,
// destinations and services, and of the busiest interfaces. It is small whatever the size
// of the rollup.
type flowSummary struct {
	Site    string     `json:"site"`
	Start   time.Time  `json:"start"`
	Seconds float64    `json:"seconds"` // the rates average the traffic of [start, start+seconds)
	Live    bool       `json:"live"`    // the current interval, still being counted
	Src     []flowRate `json:"src"`
	Dst     []flowRate `json:"dst"`
	Port    []flowRate `json:"port"`
	// Interfaces are those with traffic, the busiest first, at most wallFlowIfs of them;
	// MoreInterfaces counts those left out.
	Interfaces     []ifRate      `json:"interfaces"`
	MoreInterfaces int           `json:"more_interfaces"`
	Totals         flowTotalRate `json:"totals"`

	step time.Duration
	msg  []byte // the encoded flows message
}

// flowRate is a key of the wall's top lists. A key seen by several exporters counts once, at
// the exporter that saw most of it: the same traffic crossing two exporters would otherwise
// count twice.
type flowRate struct {
	Key     string  `json:"key"`
	Device  string  `json:"device"`
	Devices int     `json:"devices"` // exporters that saw the key
	Bps     float64 `json:"bps"`
	Pps     float64 `json:"pps"`
}

// ifRate is what flows say crossed an interface.
type ifRate struct {
	Device    string  `json:"device"`
	IfIndex   uint32  `json:"if_index"`
	Interface string  `json:"interface,omitempty"`
	SpeedBps  uint64  `json:"speed_bps,omitempty"`
	InBps     float64 `json:"in_bps"`
	OutBps    float64 `json:"out_bps"`
}

// flowTotalRate are the rollup's totals, over all exporters.
type flowTotalRate struct {
	Bps      float64 `json:"bps"`
	Pps      float64 `json:"pps"`
	Flows    uint64  `json:"flows"`
	Overflow uint64  `json:"overflow"`
}

type flowsMsg struct {
	Type  string       `json:"type"` // "flows"
	Flows *flowSummary `json:"flows"`
}

// summarizeFlows ranks what the wall shows of r, whose traffic took secs seconds.
func summarizeFlows(r watchfloor.FlowRollup, secs float64, live bool) *flowSummary {
	s := &flowSummary{
		Site: r.Site, Start: r.Start, Seconds: secs, Live: live, step: r.Step,
		Totals: flowTotalRate{
			Bps: bitRate(r.Totals.Bytes, secs), Pps: pktRate(r.Totals.Packets, secs),
			Flows: r.Totals.Flows, Overflow: r.Totals.Overflow,
		},
	}
	type best struct {
		row     watchfloor.FlowRow
		devices int
	}
	lists := [len(wallFlowDims)]*[]flowRate{&s.Src, &s.Dst, &s.Port}
	for k, dim := range wallFlowDims {
		keys := make(map[string]int)
		var cands []best
		for _, row := range r.Rows {
			if row.By != dim {
				continue
			}
			i, ok := keys[row.Key]
			if !ok {
				keys[row.Key] = len(cands)
				cands = append(cands, best{row, 1})
				continue
			}
			c := &cands[i]
			c.devices++
			if row.Bytes > c.row.Bytes || row.Bytes == c.row.Bytes && row.Device < c.row.Device {
				c.row = row
			}
		}
		slices.SortFunc(cands, func(a, b best) int {
			return cmp.Or(cmp.Compare(b.row.Bytes, a.row.Bytes), cmp.Compare(a.row.Key, b.row.Key))
		})
		out := make([]flowRate, 0, min(len(cands), wallFlowTop))
		for _, c := range cands[:min(len(cands), wallFlowTop)] {
			out = append(out, flowRate{Key: c.row.Key, Device: c.row.Device, Devices: c.devices,
				Bps: bitRate(c.row.Bytes, secs), Pps: pktRate(c.row.Packets, secs)})
		}
		*lists[k] = out
	}
	ifs := make([]ifRate, 0, len(r.Interfaces))
	for _, it := range r.Interfaces {
		if it.InBytes == 0 && it.OutBytes == 0 {
			continue
		}
		ifs = append(ifs, ifRate{Device: it.Device, IfIndex: it.IfIndex, Interface: it.Interface, SpeedBps: it.SpeedBps,
			InBps: bitRate(it.InBytes, secs), OutBps: bitRate(it.OutBytes, secs)})
	}
	slices.SortFunc(ifs, func(a, b ifRate) int {
		return cmp.Or(cmp.Compare(max(b.InBps, b.OutBps), max(a.InBps, a.OutBps)),
			cmp.Compare(a.Device, b.Device), cmp.Compare(a.IfIndex, b.IfIndex))
	})
	if len(ifs) > wallFlowIfs {
		s.MoreInterfaces = len(ifs) - wallFlowIfs
		ifs = slices.Clip(ifs[:wallFlowIfs])
	}
	s.Interfaces = ifs
	return s
}

// pickFlows chooses what the wall shows: the newest complete interval, unless the current
// one has run long enough to give steady rates, or the interval before it never closed.
func pickFlows(closed, live *flowSummary) *flowSummary {
	switch {
	case live == nil:
		return closed
	case closed == nil:
		return live
	case !live.Start.After(closed.Start):
		return closed
	case live.Seconds >= minLiveWindow.Seconds(), live.Start.Sub(closed.Start) > closed.step:
		return live
	}
	return closed
}

// publishFlows ranks a rollup, keeps it as the latest closed or live one, and sends it to
// every client when it is what the wall should now show. secs is how long the rollup's
// traffic took. It never waits for a client.
func (h *hub) publishFlows(r watchfloor.FlowRollup, live bool, secs float64) {
	kind := "closed"
	if live {
		kind = "live"
	}
	if r.Step <= 0 || r.Start.IsZero() || !(secs > 0) {
		h.m.flowIgnored.WithLabelValues("invalid").Inc()
		h.log.Warn("flow rollup without start or step ignored", "kind", kind, "start", r.Start, "step", r.Step)
		return
	}
	h.m.flowRollups.WithLabelValues(kind).Inc()
	s := summarizeFlows(r, secs, live)
	msg, err := json.Marshal(flowsMsg{Type: "flows", Flows: s})
	if err != nil {
		h.log.Error("encode flows", "err", err)
		return
	}
	s.msg = msg
	h.mu.Lock()
	defer h.mu.Unlock()
	slot := &h.flowClosed
	if live {
		slot = &h.flowLive
	}
	if *slot != nil && s.Start.Before((*slot).Start) {
		h.m.flowIgnored.WithLabelValues("old").Inc()
		h.log.Debug("flow rollup older than the last one ignored", "kind", kind, "start", r.Start, "last", (*slot).Start)
		return
	}
	*slot = s
	shown := pickFlows(h.flowClosed, h.flowLive)
	if shown == h.flowShown {
		return
	}
	h.flowShown = shown
	h.version++
	h.broadcastLocked(shown.msg)
}

// PublishFlows streams the rollup of a closed interval (every minute, Step time.Minute) to
// the walls: the top 10 sources, destinations and services by bit/s, and the bit/s of every
// interface that carried traffic (the busiest 256). The rates average over r.Step. It never
// blocks on a client; r is not kept.
func (c *Console) PublishFlows(r watchfloor.FlowRollup) {
	c.hub.publishFlows(r, false, r.Step.Seconds())
}

// PublishFlowsLive streams the current interval so far: r counts the traffic of
// [r.Start, asOf) (a zero asOf means now). Call it every few seconds between closed
// rollups. The wall shows it instead of the last closed interval once it covers 15 s, so
// that rates over a few seconds do not jump about. It never blocks on a client.
func (c *Console) PublishFlowsLive(r watchfloor.FlowRollup, asOf time.Time) {
	if asOf.IsZero() {
		asOf = c.now()
	}
	d := min(max(asOf.Sub(r.Start), time.Second), max(r.Step, time.Second))
	c.hub.publishFlows(r, true, d.Seconds())
}

// flows returns what the wall shows of the flows, nil when no rollup arrived yet.
func (h *hub) flows() *flowSummary {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.flowShown
}
