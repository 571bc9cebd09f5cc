package snmp

import (
	"math"
	"time"
)

// Counter → rate.
//
// dt is the local monotonic time between two polls' table walks (stamped when the walk
// starts, after the system group answered), not the sysUpTime delta:
// sysUpTime is the agent's uptime, which on many agents (net-snmp among them) is not the
// clock the interface counters are sampled with, wraps after 497 days and is sometimes plain
// wrong. Both stamps precede the same request sequence, so request latency cancels out.
//
// What makes a rate trustworthy:
//   - a 32-bit counter that went down wrapped if the wrapped delta is plausible (less than
//     half the counter's range, and within the speed bound below); otherwise it was reset;
//   - a 64-bit counter that went down was reset (it cannot wrap in a human lifetime);
//   - the device rebooted (sysUpTime went back), or the interface's
//     ifCounterDiscontinuityTime changed: re-baseline without a rate;
//   - an implied rate above twice the interface speed (or 4 Tbit/s when the speed is
//     unknown) is a reset we missed: re-baseline.
// When any counter of an interface is not trustworthy, the interface gets no rate for that
// poll — a bogus spike on one counter usually means all of them were cleared.

// The counters of an interface, in the order of counters.v.
const (
	ctrInOctets = iota
	ctrOutOctets
	ctrInUcast
	ctrOutUcast
	ctrInErrors
	ctrOutErrors
	ctrInDiscards
	ctrOutDiscards
	numCounters
)

const (
	// maxSpeedFactor bounds an implied rate by the interface speed.
	maxSpeedFactor = 2
	// unknownSpeedBps bounds an implied rate when the speed is unknown.
	unknownSpeedBps = 4e12
	// minFrameBits turns a bit rate bound into a packet rate bound (64-byte frames).
	minFrameBits = 512
)

// counters is one reading of an interface's counters.
type counters struct {
	v    [numCounters]uint64
	have uint8 // bit i: v[i] was read
	wide uint8 // bit i: v[i] is a 64-bit counter
}

// set records counter i.
func (c *counters) set(i int, v uint64, wide bool) {
	c.v[i] = v
	c.have |= 1 << i
	if wide {
		c.wide |= 1 << i
	} else {
		c.wide &^= 1 << i
	}
}

// rates are per second: octets, packets, errors and discards per second, by counter index.
type rates [numCounters]float64

// rateResult says why a poll has, or has not, a rate.
type rateResult uint8

const (
	rateOK          rateResult = iota
	rateFirst                  // no previous reading
	rateReset                  // reboot, discontinuity, 64-bit decrease, counter width changed, no time elapsed
	rateImplausible            // a wrap or delta beyond what the link can carry
)

var rateResultNames = [...]string{"ok", "first", "reset", "implausible"}

func (r rateResult) String() string { return rateResultNames[r] }

// baseline is the previous reading of an interface's counters.
type baseline struct {
	c     counters
	at    time.Time
	disc  uint32 // ifCounterDiscontinuityTime
	valid bool
}

// advance computes the rates from the baseline to cur, read at time at, and makes cur the
// new baseline. boundBps is the interface speed used as a plausibility bound (0: unknown);
// reset says the device rebooted. have has bit i set for each rate r[i] computed. It does not
// allocate.
func (b *baseline) advance(cur counters, disc uint32, at time.Time, boundBps uint64, reset bool) (r rates, have uint8, res rateResult) {
	prev, prevAt, prevDisc, valid := b.c, b.at, b.disc, b.valid
	b.c, b.at, b.disc, b.valid = cur, at, disc, true
	switch {
	case !valid:
		return r, 0, rateFirst
	case reset || disc != prevDisc:
		return r, 0, rateReset
	}
	dt := at.Sub(prevAt).Seconds()
	if dt <= 0 {
		return r, 0, rateReset
	}
	maxBps := float64(unknownSpeedBps)
	if boundBps > 0 {
		maxBps = maxSpeedFactor * float64(boundBps)
	}
	maxPps := maxBps / minFrameBits
	both := cur.have & prev.have
	if (cur.wide^prev.wide)&both != 0 {
		return rates{}, 0, rateReset
	}
	for i := range numCounters {
		bit := uint8(1) << i
		if both&bit == 0 {
			continue
		}
		d, res := counterDelta(prev.v[i], cur.v[i], cur.wide&bit != 0)
		if res != rateOK {
			return rates{}, 0, res
		}
		v := float64(d) / dt
		if i == ctrInOctets || i == ctrOutOctets {
			if v*8 > maxBps {
				return rates{}, 0, rateImplausible
			}
		} else if v > maxPps {
			return rates{}, 0, rateImplausible
		}
		r[i] = v
		have |= bit
	}
	return r, have, rateOK
}

// counterDelta is how much a counter advanced from old to cur.
func counterDelta(old, cur uint64, wide bool) (uint64, rateResult) {
	if cur >= old {
		return cur - old, rateOK
	}
	if wide {
		return 0, rateReset
	}
	d := (cur + 1<<32 - old) & math.MaxUint32
	if d >= 1<<31 {
		// More than half the range in one interval: a reset (counters cleared), not a wrap.
		return 0, rateReset
	}
	return d, rateOK
}

// rebootedSince says whether a device whose sysUpTime was old (hundredths of a second) is
// now at cur, elapsed later by our clock, has restarted in between. sysUpTime going back
// means a restart unless it is the 497-day wrap; an uptime shorter than the time since the
// last reading also means one, even if the new uptime is larger than the old.
func rebootedSince(old, cur uint32, elapsed time.Duration) bool {
	ticks := elapsed.Milliseconds() / 10
	slack := 100 + ticks/20 // 1 s + 5 %
	if expected := int64(old) + ticks; expected >= 1<<32 {
		if wrapped := expected - 1<<32; abs64(int64(cur)-wrapped) <= slack {
			return false
		}
	}
	if cur < old {
		return true
	}
	return int64(cur)+slack < ticks
}

func abs64(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}
