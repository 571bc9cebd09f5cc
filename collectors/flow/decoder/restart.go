package decoder

import (
	"math"
	"sync/atomic"
	"time"
)

// Restart detection. An exporter that reboots may define its template IDs anew, differently;
// until it resends them its data would be decoded with the old ones, and its old sampling
// rates applied. The headers tell a reboot: the NetFlow v9 uptime, the IPFIX sequence number
// (data records sent by the observation domain, RFC 7011 §3.1) go back; IPFIX options data
// may state the boot time itself (systemInitTimeMilliseconds).
const (
	// uptimeReorder: a NetFlow v9 uptime this many milliseconds behind the last one is a
	// datagram reordered on the way, not a reboot.
	uptimeReorder = 10_000
	// uptimeWrapZone: an uptime that goes from the last uptimeWrapZone milliseconds of the
	// 32-bit counter to its first ones is its wrap after 49.7 days, not a reboot. It is wider
	// than uptimeReorder so that an exporter quiet across the wrap is not taken for rebooted.
	uptimeWrapZone = 10 * 60 * 1000
	// seqReorder: an IPFIX sequence number that goes back by more than this many records to
	// below it is a reboot; less is reordering.
	seqReorder = 1 << 20
	// seqWrapZone: from the last seqWrapZone values of the counter, going back to below
	// seqReorder is its wrap, not a reboot.
	seqWrapZone = 1 << 24
	// sysInitSlack: systemInitTimeMilliseconds that moves by more than this is a reboot.
	sysInitSlack = time.Second
)

// domainClock is the restart mark (packetHeader.mark) of the last datagram of one exporter,
// version and observation domain. It is kept for the domains that have state to lose, and
// updated without the exporter's write lock: decoders of the same exporter may race on it,
// which is reordering again.
type domainClock struct {
	mark atomic.Uint32
}

// restarted says whether a datagram whose mark is mark, after one whose mark was last, shows
// that the exporter restarted.
func restarted(version uint16, last, mark uint32) bool {
	if mark >= last {
		return false
	}
	if version == 9 {
		wrap := last > math.MaxUint32-uptimeWrapZone && mark < uptimeWrapZone
		return last-mark > uptimeReorder && !wrap
	}
	return last-mark > seqReorder && mark < seqReorder && last <= math.MaxUint32-seqWrapZone
}

// track starts the clock of a domain that gains state, from the mark of the datagram that
// brought it. st is write-locked.
func (st *exporterState) track(key domainKey, mark uint32) {
	if _, ok := st.clocks[key]; !ok {
		c := &domainClock{}
		c.mark.Store(mark)
		st.clocks[key] = c
	}
}

// observe moves the clock of the domain to the datagram's mark and says whether the
// exporter restarted since the last datagram. A domain without state has no clock: nothing
// to lose, and so nothing to detect. This is the per-datagram cost: a read lock, a map
// lookup, a swap and a comparison.
func (t *Templates) observe(st *exporterState, key domainKey, mark uint32) bool {
	if st == nil {
		return false
	}
	st.mu.RLock()
	c := st.clocks[key]
	st.mu.RUnlock()
	if c == nil {
		return false
	}
	return restarted(key.version, c.mark.Swap(mark), mark)
}

// restart drops what the exporter's domain said before it restarted: templates, samplers,
// its boot time and its held data sets (counted as dropped, reason "restart"). Its clock
// stays, at the mark of the datagram that told the restart.
func (t *Templates) restart(h *packetHeader) {
	st := t.lockState(h.exporter, false)
	if st == nil {
		return
	}
	defer st.mu.Unlock()
	for k, e := range st.templates {
		if k.version == h.version && k.domain == h.domain {
			delete(st.templates, k)
			t.fieldsTotal.Add(-int64(e.fields))
			t.m.templateGauge(k.version, -1)
		}
	}
	for k := range st.samplers {
		if k.version == h.version && k.domain == h.domain {
			delete(st.samplers, k)
		}
	}
	delete(st.domains, domainKey{version: h.version, domain: h.domain})
	kept := st.pending[:0]
	for i := range st.pending {
		p := st.pending[i]
		if p.key.version == h.version && p.key.domain == h.domain {
			t.release(st, &p)
			t.m.droppedBy[DroppedRestart].Inc()
		} else {
			kept = append(kept, p)
		}
	}
	clear(st.pending[len(kept):])
	st.pending = kept
}

// dropClocks forgets the clocks of the domains left without state. st is write-locked, and
// t.mu too (t.live is shared).
func (t *Templates) dropClocks(st *exporterState) {
	if len(st.clocks) == 0 {
		return
	}
	if t.live == nil {
		t.live = map[domainKey]struct{}{}
	}
	live := t.live
	clear(live)
	for k := range st.templates {
		live[domainKey{version: k.version, domain: k.domain}] = struct{}{}
	}
	for k := range st.samplers {
		live[domainKey{version: k.version, domain: k.domain}] = struct{}{}
	}
	for k := range st.domains {
		live[k] = struct{}{}
	}
	for i := range st.pending {
		live[domainKey{version: st.pending[i].key.version, domain: st.pending[i].key.domain}] = struct{}{}
	}
	for k := range st.clocks {
		if _, ok := live[k]; !ok {
			delete(st.clocks, k)
		}
	}
	clear(live)
}
