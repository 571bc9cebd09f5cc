package flow

import (
	"math"
	"net/netip"
	"sync"
	"time"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/collectors/flow/decoder"
)

// sFlow counter samples → interface rates, the way the SNMP poller turns IF-MIB counters
// into rates (collectors/snmp/rate.go), with sFlow's counter widths: the octet counters are
// 64-bit, the packet, error and discard counters 32-bit.
//
//   - a 32-bit counter that went down wrapped if the wrapped delta is under half its range,
//     otherwise it was reset; a 64-bit counter that went down was reset;
//   - a rate above twice the interface speed (4 Tbit/s when unknown; packet rates bounded by
//     64-byte frames at that speed) is a reset we missed;
//   - a counter the agent does not support is all ones (sFlow's "unknown"): no rate for it;
//   - readings that are not later than the previous one (reordered datagrams, a restarted
//     agent's clock) re-baseline.
// When any counter of an interface is not trustworthy, the interface gets no rates for that
// reading — a bogus spike on one counter usually means all were cleared.

type rateResult uint8

const (
	rateOK          rateResult = iota
	rateFirst                  // no previous reading
	rateReset                  // counter reset, time not advancing
	rateImplausible            // beyond what the link can carry
	rateLimit                  // too many interfaces tracked: reading ignored
	numRateResults
)

var rateResultNames = [numRateResults]string{"ok", "first", "reset", "implausible", "limit"}

func (r rateResult) String() string { return rateResultNames[r] }

const (
	maxSpeedFactor  = 2
	unknownSpeedBps = 4e12
	minFrameBits    = 512
	// maxRateEntries bounds the interfaces tracked: exporter addresses can be spoofed.
	maxRateEntries = 1 << 16
	// rateEntryTTL: an interface not reported for this long is forgotten.
	rateEntryTTL = 30 * time.Minute
)

type ifKey struct {
	exporter netip.Addr
	ifIndex  uint32
}

type reading struct {
	c        decoder.Counters
	addrName string // the exporter's address as text, the device name when none is known
}

// counterRates keeps the last counter reading of each (exporter, ifIndex).
type counterRates struct {
	mu   sync.Mutex
	last map[ifKey]*reading
}

func newCounterRates() *counterRates { return &counterRates{last: map[ifKey]*reading{}} }

// samples turns counter readings into rate samples, appended to out. dev names an
// exporter's device and gives its interfaces' speeds (nil when unknown). count is told the
// outcome of each reading.
func (r *counterRates) samples(out []watchfloor.Sample, cs []decoder.Counters, dev func(netip.Addr) *devInfo, count func(rateResult)) []watchfloor.Sample {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range cs {
		c := &cs[i]
		k := ifKey{c.Exporter.Unmap(), c.IfIndex}
		prev := r.last[k]
		if prev == nil {
			if len(r.last) >= maxRateEntries {
				count(rateLimit)
				continue
			}
			r.last[k] = &reading{c: *c, addrName: k.exporter.String()}
			count(rateFirst)
			continue
		}
		old := prev.c
		prev.c = *c
		d := dev(k.exporter)
		speed := c.SpeedBps
		name := prev.addrName
		if d != nil {
			name = d.name
			if speed == 0 {
				speed = d.ifs.get(c.IfIndex).speed
			}
		}
		var res rateResult
		out, res = appendRates(out, &old, c, speed, name)
		count(res)
	}
	return out
}

// expire forgets interfaces not reported since before now−rateEntryTTL and returns how many
// are kept.
func (r *counterRates) expire(now time.Time) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, v := range r.last {
		if now.Sub(v.c.Time) > rateEntryTTL {
			delete(r.last, k)
		}
	}
	return len(r.last)
}

// delta is how much a counter of the given width advanced; ok is false for a reset.
// unsupported says the agent does not count it.
func delta(old, cur uint64, wide bool) (d uint64, ok, unsupported bool) {
	ones := uint64(math.MaxUint32)
	if wide {
		ones = math.MaxUint64
	}
	if cur == ones && old == ones {
		return 0, true, true
	}
	if old == ones || cur == ones {
		return 0, false, false // the counter appeared or vanished
	}
	if cur >= old {
		return cur - old, true, false
	}
	if wide {
		return 0, false, false
	}
	d = (cur + 1<<32 - old) & math.MaxUint32
	if d >= 1<<31 {
		return 0, false, false
	}
	return d, true, false
}

// appendRates appends the rates from reading a to reading b of one interface.
func appendRates(out []watchfloor.Sample, a, b *decoder.Counters, speed uint64, device string) ([]watchfloor.Sample, rateResult) {
	dt := b.Time.Sub(a.Time).Seconds()
	if dt <= 0 {
		return out, rateReset
	}
	maxBps := float64(unknownSpeedBps)
	if speed > 0 {
		maxBps = maxSpeedFactor * float64(speed)
	}
	maxPps := maxBps / minFrameBits

	type ctr struct {
		old, cur uint64
		wide     bool
		metric   string   // "" for a part of a packet sum
		sum      *float64 // the packet sum this counter adds to
	}
	var inPkts, outPkts float64
	var inPktsOK, outPktsOK bool
	ctrs := [...]ctr{
		{a.InOctets, b.InOctets, true, watchfloor.MetricInBps, nil},
		{a.OutOctets, b.OutOctets, true, watchfloor.MetricOutBps, nil},
		{a.InUcastPkts, b.InUcastPkts, false, "", &inPkts},
		{a.InMulticastPkts, b.InMulticastPkts, false, "", &inPkts},
		{a.InBroadcastPkts, b.InBroadcastPkts, false, "", &inPkts},
		{a.OutUcastPkts, b.OutUcastPkts, false, "", &outPkts},
		{a.OutMulticastPkts, b.OutMulticastPkts, false, "", &outPkts},
		{a.OutBroadcastPkts, b.OutBroadcastPkts, false, "", &outPkts},
		{a.InErrors, b.InErrors, false, watchfloor.MetricInErrorsPS, nil},
		{a.OutErrors, b.OutErrors, false, watchfloor.MetricOutErrorsPS, nil},
		{a.InDiscards, b.InDiscards, false, watchfloor.MetricInDiscardsPS, nil},
		{a.OutDiscards, b.OutDiscards, false, watchfloor.MetricOutDiscardsPS, nil},
	}
	var vals [len(ctrs)]float64
	var have [len(ctrs)]bool
	for i, c := range ctrs {
		d, ok, unsupported := delta(c.old, c.cur, c.wide)
		if !ok {
			return out, rateReset
		}
		if unsupported {
			continue
		}
		v := float64(d) / dt
		if c.wide {
			v *= 8
			if v > maxBps {
				return out, rateImplausible
			}
		} else if v > maxPps {
			return out, rateImplausible
		}
		vals[i], have[i] = v, true
		if c.sum != nil {
			*c.sum += v
			if c.sum == &inPkts {
				inPktsOK = true
			} else {
				outPktsOK = true
			}
		}
	}
	if inPkts > maxPps || outPkts > maxPps {
		return out, rateImplausible
	}
	add := func(metric string, v float64) {
		out = append(out, watchfloor.Sample{Device: device, IfIndex: int32(b.IfIndex), Metric: metric, Time: b.Time, Value: v})
	}
	for i, c := range ctrs {
		if have[i] && c.metric != "" {
			add(c.metric, vals[i])
		}
	}
	if inPktsOK {
		add(watchfloor.MetricInPps, inPkts)
	}
	if outPktsOK {
		add(watchfloor.MetricOutPps, outPkts)
	}
	if speed > 0 && (have[0] || have[1]) {
		add(watchfloor.MetricUtilization, max(vals[0], vals[1])/float64(speed)*100)
	}
	return out, rateOK
}
