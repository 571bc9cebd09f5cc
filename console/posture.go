package console

import (
	"math"
	"time"

	"github.com/watchfloor/watchfloor"
)

// The security posture score of the wall: one number from 0 (everything is on fire) to 100
// (nothing is wrong that the console knows of), computed on the hub's state. The formula is
// documented in docs/wall.md; its golden values are in posture_test.go.
//
//	score = clamp(100 − alerts − devices − blind, 0, 100)
//
//	alerts  = Σ over severities of min(cap[sev], Σ over the open, unmuted alerts of that
//	          severity of weight[sev] × category[cat] × (½ when acknowledged))
//	devices = 40 × down devices / monitored devices
//	blind   = 10 when, in the last stats, records, trap datagrams, flow datagrams or packets
//	          were dropped anywhere (ingest, a collector, a capture), else 0; the ingest and
//	          collector drop rates span their window (counterSeries in hub.go)
//
// Silenced and suppressed alerts count nothing: a human decided they do not matter, or
// their root cause is counted already.
const (
	postureDevicesMax = 40.0 // penalty when every device is down
	postureBlind      = 10.0 // penalty for losing data anywhere
	postureGood       = 80.0 // score ≥ this: "good"
	postureFair       = 50.0 // score ≥ this: "fair"; below: "poor"

	// The hub evaluates the score at every stats (every 2 s from the appliance) and sends
	// it in the stats message. postureStep is the spacing of the trend's points,
	// postureTrend their number (24 h).
	postureStep  = 5 * time.Minute
	postureTrend = 288
)

// postureWeight is the penalty of one open alert by severity, postureCap the most all the
// alerts of one severity may take. Criticals dominate; many low alerts cannot sink the score.
var (
	postureWeight = [...]float64{watchfloor.SeverityInfo: 0, watchfloor.SeverityLow: 1, watchfloor.SeverityMedium: 4,
		watchfloor.SeverityHigh: 10, watchfloor.SeverityCritical: 25}
	postureCap = [...]float64{watchfloor.SeverityInfo: 0, watchfloor.SeverityLow: 10, watchfloor.SeverityMedium: 20,
		watchfloor.SeverityHigh: 40, watchfloor.SeverityCritical: 60}
)

// postureCategory multiplies an alert's weight by its category: the SOC's findings weigh more
// than the NOC's, since the score is the security posture.
func postureCategory(cat string) float64 {
	switch cat {
	case watchfloor.CategorySecurity:
		return 1.5
	case watchfloor.CategoryAvailability:
		return 1.0
	default:
		return 0.75
	}
}

// postureInput is what the score is computed from.
type postureInput struct {
	Alerts      []watchfloor.Alert // open alerts (firing or acknowledged); others are skipped
	Devices     int                // monitored devices
	DevicesDown int
	Dropping    bool // data was dropped somewhere in the last stats interval
}

// Posture is the score at one time, with what took points off it.
type Posture struct {
	Time  time.Time `json:"time"`
	Score float64   `json:"score"` // 0–100, one decimal
	Word  string    `json:"word"`  // good, fair, poor
	// The penalties, each rounded to one decimal.
	AlertPenalty  float64 `json:"alert_penalty"`
	DevicePenalty float64 `json:"device_penalty"`
	BlindPenalty  float64 `json:"blind_penalty"`
	// What the alert penalty counted: open, unmuted alerts by severity name.
	Alerts      map[string]int `json:"alerts"`
	DevicesDown int            `json:"devices_down"`
	Devices     int            `json:"devices"`
	Dropping    bool           `json:"dropping"`
}

// posturePoint is one point of the trend: [unix ms, score].
type posturePoint [2]float64

// postureMsg is the snapshot's posture: the score now and the trend of the last 24 h, oldest
// first, one point per postureStep (the last score of that step). Each stats message then
// carries the new score; the wall extends the trend the same way (posturePoint.add).
type postureMsg struct {
	Posture Posture        `json:"posture"`
	Trend   []posturePoint `json:"trend"`
}

// computePosture applies the formula.
func computePosture(in postureInput, now time.Time) Posture {
	var bySev [len(postureWeight)]float64
	counts := map[string]int{}
	for i := range in.Alerts {
		a := &in.Alerts[i]
		if !alertOpen(a.State) || a.Silenced || a.SuppressedBy != 0 {
			continue
		}
		sev := min(int(a.Severity), len(postureWeight)-1)
		w := postureWeight[sev] * postureCategory(a.Category)
		if a.State == watchfloor.AlertAcknowledged {
			w /= 2
		}
		bySev[sev] += w
		counts[watchfloor.Severity(sev).String()]++
	}
	alerts := 0.0
	for sev, p := range bySev {
		alerts += min(p, postureCap[sev])
	}
	devices := 0.0
	if in.Devices > 0 {
		devices = postureDevicesMax * float64(min(in.DevicesDown, in.Devices)) / float64(in.Devices)
	}
	blind := 0.0
	if in.Dropping {
		blind = postureBlind
	}
	score := max(0, min(100, 100-alerts-devices-blind))
	p := Posture{
		Time: now, Score: round1(score), Alerts: counts,
		AlertPenalty: round1(alerts), DevicePenalty: round1(devices), BlindPenalty: blind,
		Devices: in.Devices, DevicesDown: in.DevicesDown, Dropping: in.Dropping,
	}
	p.Word = postureWord(p.Score)
	return p
}

func postureWord(score float64) string {
	switch {
	case score >= postureGood:
		return "good"
	case score >= postureFair:
		return "fair"
	default:
		return "poor"
	}
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }

// postureState is the hub's posture: the last evaluation and the trend.
type postureState struct {
	last  Posture
	at    time.Time      // of the last evaluation; zero before the first
	trend []posturePoint // oldest first, at most postureTrend
}

// add records p in the trend: a new point when p starts a new step, else it replaces the
// step's point. Points older than 24 h go.
func (s *postureState) add(p Posture) {
	s.last, s.at = p, p.Time
	step := p.Time.Truncate(postureStep)
	pt := posturePoint{float64(step.UnixMilli()), p.Score}
	if n := len(s.trend); n > 0 && s.trend[n-1][0] == pt[0] {
		s.trend[n-1] = pt
	} else if n == 0 || pt[0] > s.trend[n-1][0] {
		s.trend = append(s.trend, pt)
	}
	cut := float64(step.Add(-postureStep * (postureTrend - 1)).UnixMilli())
	i := 0
	for i < len(s.trend) && s.trend[i][0] < cut {
		i++
	}
	if i > 0 {
		s.trend = append(s.trend[:0], s.trend[i:]...)
	}
}

// postureInputLocked gathers the hub's state for the score.
func (h *hub) postureInputLocked() postureInput {
	in := postureInput{Devices: len(h.devices), Alerts: make([]watchfloor.Alert, 0, len(h.alerts))}
	for _, d := range h.devices {
		if d.Status == watchfloor.DeviceDown {
			in.DevicesDown++
		}
	}
	for _, a := range h.alerts {
		in.Alerts = append(in.Alerts, a.Alert)
	}
	in.Dropping = statsDropping(&h.stats)
	return in
}

// statsDropping reports whether the stats say data was lost in their interval.
func statsDropping(s *Stats) bool {
	if s.DroppedPerS > 0 {
		return true
	}
	for i := range s.Capture {
		if s.Capture[i].KernelDropsPerS > 0 {
			return true
		}
	}
	for i := range s.Collectors {
		if s.Collectors[i].DropsPerS > 0 {
			return true
		}
	}
	return false
}

// postureLocked evaluates the posture on the hub's state now, records it in the trend and
// sets the posture gauges.
func (h *hub) postureLocked() Posture {
	p := computePosture(h.postureInputLocked(), h.now())
	h.posture.add(p)
	h.m.postureScore.Set(p.Score)
	h.m.postureAlerts.Set(p.AlertPenalty)
	h.m.postureDevices.Set(p.DevicePenalty)
	h.m.postureBlind.Set(p.BlindPenalty)
	return p
}

// postureSnapshotLocked is the posture of a snapshot: the last evaluation (one now when
// there was none yet) and the trend.
func (h *hub) postureSnapshotLocked() *postureMsg {
	if h.posture.at.IsZero() {
		h.postureLocked()
	}
	return &postureMsg{Posture: h.posture.last, Trend: append([]posturePoint{}, h.posture.trend...)}
}
