package packet

import (
	"fmt"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Stats are the collector's running totals, for the wall.
type Stats struct {
	Seen         uint64 // packets read from the rings, files and sources
	Sampled      uint64 // of those, kept by the sampler and handed to the decoder
	Decoded      uint64 // of those, decoded without error
	DecodeErrors uint64 // of those, the decoder returned an error for (its metrics say why)
	Filtered     uint64 // packets of files and sources the filter rejected (live, the kernel drops them unseen)
	Observations uint64 // observations handed to the sink
	KernelDrops  uint64 // packets the kernel dropped because a ring was full (TPACKET_V3 tp_drops)
	Freezes      uint64 // times a ring's queue froze full (tp_freeze_q_cnt)
}

// counters are the atomic totals behind Stats and the metrics. Workers add their batch's
// counts once per batch, not per packet.
type counters struct {
	seen, sampled, decoded, errors, filtered, obs, drops, freezes, kernelPackets, readErrors atomic.Uint64
}

func (c *counters) stats() Stats {
	return Stats{
		Seen: c.seen.Load(), Sampled: c.sampled.Load(), Decoded: c.decoded.Load(), DecodeErrors: c.errors.Load(),
		Filtered: c.filtered.Load(), Observations: c.obs.Load(), KernelDrops: c.drops.Load(), Freezes: c.freezes.Load(),
	}
}

// newMetrics makes the collector's self-metrics over its counters; the decoder's (decode
// errors by reason, tracked connections) are registered beside them.
func newMetrics(c *counters) []prometheus.Collector {
	counter := func(name, help string, v *atomic.Uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "watchfloor_packet_" + name, Help: help},
			func() float64 { return float64(v.Load()) })
	}
	return []prometheus.Collector{
		counter("seen_packets_total", "Packets read from capture rings, replayed files and sources.", &c.seen),
		counter("sampled_packets_total", "Packets kept by the flow-consistent 1-in-N sampler and decoded.", &c.sampled),
		counter("decoded_packets_total", "Sampled packets decoded without error.", &c.decoded),
		counter("decode_failed_packets_total", "Sampled packets the decoder returned an error for (see the decoder's error metrics).", &c.errors),
		counter("filtered_packets_total", "Packets of replayed files and sources the capture filter rejected.", &c.filtered),
		counter("observations_total", "Observations handed to the sink.", &c.obs),
		counter("kernel_packets_total", "Packets the kernel passed the filter and queued for the capture rings (TPACKET_V3 tp_packets).", &c.kernelPackets),
		counter("kernel_drops_total", "Packets the kernel dropped because a capture ring was full (TPACKET_V3 tp_drops).", &c.drops),
		counter("ring_freezes_total", "Times a capture ring's queue froze full (TPACKET_V3 tp_freeze_q_cnt).", &c.freezes),
		counter("read_errors_total", "Capture ring read errors other than timeouts.", &c.readErrors),
	}
}

func register(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	if reg == nil {
		return nil
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("packet: register metrics: %w", err)
		}
	}
	return nil
}

// Log reasons, each limited on its own.
const (
	reasonRead = iota
	reasonDecode
	reasonStats
	numReasons
)
