package console

import "slices"

// CaptureStats are the counters of one packet capture source (a SPAN interface, or the lab's
// mirror port) as the appliance publishes them in Stats.Capture. The appliance fills the
// cumulative counters; the console derives the per-second rates from the previous Stats that
// had the same Source.
type CaptureStats struct {
	Source       string `json:"source"`        // the interface, or "lab mirror"
	Seen         uint64 `json:"seen"`          // packets the capture saw, since start
	Sampled      uint64 `json:"sampled"`       // packets picked by 1-in-SampleRate sampling
	Decoded      uint64 `json:"decoded"`       // sampled packets decoded
	KernelDrops  uint64 `json:"kernel_drops"`  // packets the kernel dropped before the capture read them
	DecodeErrors uint64 `json:"decode_errors"` // sampled packets that could not be decoded
	SampleRate   uint32 `json:"sample_rate"`   // 1 in SampleRate packets is looked at; 0 or 1: all
	Observations uint64 `json:"observations"`  // observations produced, since start

	// IntervalS is how many seconds the rates below cover; 0 when there are no rates yet
	// (the source is new, or the stats before had no time). Set by the console.
	IntervalS        float64 `json:"interval_s"`
	SeenPerS         float64 `json:"seen_per_s"`          // set by the console
	SampledPerS      float64 `json:"sampled_per_s"`       // set by the console
	DecodedPerS      float64 `json:"decoded_per_s"`       // set by the console
	KernelDropsPerS  float64 `json:"kernel_drops_per_s"`  // set by the console
	DecodeErrorsPerS float64 `json:"decode_errors_per_s"` // set by the console
	ObservationsPerS float64 `json:"observations_per_s"`  // set by the console
}

// maxCaptureSources bounds the capture sources a stats message carries.
const maxCaptureSources = 64

// captureRates copies cur (the caller may reuse it), at most maxCaptureSources of it, and
// sets the rates of each source from its entry in prev, dt seconds earlier. A source that is
// new, or whose counter went backwards (the capture restarted), gets rate 0 for that counter.
func captureRates(cur, prev []CaptureStats, dt float64) []CaptureStats {
	out := slices.Clone(cur[:min(len(cur), maxCaptureSources)])
	if out == nil {
		out = []CaptureStats{}
	}
	for i := range out {
		c := &out[i]
		c.IntervalS, c.SeenPerS, c.SampledPerS, c.DecodedPerS = 0, 0, 0, 0
		c.KernelDropsPerS, c.DecodeErrorsPerS, c.ObservationsPerS = 0, 0, 0
		if !(dt > 0) {
			continue
		}
		j := slices.IndexFunc(prev, func(p CaptureStats) bool { return p.Source == c.Source })
		if j < 0 {
			continue
		}
		p := &prev[j]
		c.IntervalS = dt
		c.SeenPerS = counterRate(c.Seen, p.Seen, dt)
		c.SampledPerS = counterRate(c.Sampled, p.Sampled, dt)
		c.DecodedPerS = counterRate(c.Decoded, p.Decoded, dt)
		c.KernelDropsPerS = counterRate(c.KernelDrops, p.KernelDrops, dt)
		c.DecodeErrorsPerS = counterRate(c.DecodeErrors, p.DecodeErrors, dt)
		c.ObservationsPerS = counterRate(c.Observations, p.Observations, dt)
	}
	return out
}

// counterRate is the increase of a cumulative counter per second, 0 when it went backwards.
func counterRate(cur, prev uint64, dt float64) float64 {
	if cur < prev || !(dt > 0) {
		return 0
	}
	return float64(cur-prev) / dt
}

// CollectorStats are the counters of one collector (the SNMP poller, the trap receiver, the
// flow collector, the packet capture, the ingest queue) as the appliance publishes them in
// Stats.Collectors: what it took in and what it lost. The appliance fills the cumulative
// counters; the hub derives the rates over a window that spans the collector's cadence
// (hub.go), so a poller that reports every 5 s does not read idle between its polls.
type CollectorStats struct {
	Name    string `json:"name"`    // snmp, traps, flows, packets, ingest
	Unit    string `json:"unit"`    // what Records counts: varbinds, traps, records, packets
	Records uint64 `json:"records"` // taken in since start
	Drops   uint64 `json:"drops"`   // lost since start (socket and queue drops)
	Errors  uint64 `json:"errors"`  // failed since start (failed polls, undecodable input)

	// IntervalS is how many seconds the rates cover; 0 when there are none yet. Set by the
	// console, like the rates.
	IntervalS   float64 `json:"interval_s"`
	RecordsPerS float64 `json:"records_per_s"`
	DropsPerS   float64 `json:"drops_per_s"`
	ErrorsPerS  float64 `json:"errors_per_s"`
}

// maxCollectors bounds the collectors a stats message carries.
const maxCollectors = 32
