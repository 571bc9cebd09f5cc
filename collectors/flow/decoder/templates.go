package decoder

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netsampler/goflow2/v2/decoders/netflow"
)

// pendingOverhead is what one held data set costs beyond its bytes, counted against the
// pending budgets so that a flood of tiny sets is bounded too.
const pendingOverhead = 96

// tmplKey names a template within one exporter.
type tmplKey struct {
	version uint16
	id      uint16
	domain  uint32
}

type tmplEntry struct {
	tmpl   any // netflow.TemplateRecord, NFv9OptionsTemplateRecord or IPFIXOptionsTemplateRecord
	fields int
	seen   time.Time
}

// samplerKey names a sampler learnt from options data: one of a domain (hasID) or the
// domain-wide one.
type samplerKey struct {
	version uint16
	hasID   bool
	domain  uint32
	id      uint64
}

type samplerEntry struct {
	rate uint32
	seen time.Time
}

type domainKey struct {
	version uint16
	domain  uint32
}

// domainEntry is what options data says of a whole observation domain besides sampling:
// the exporter's boot time (IPFIX systemInitTimeMilliseconds), which flowStartSysUpTime and
// flowEndSysUpTime count from.
type domainEntry struct {
	sysInit time.Time
	seen    time.Time
}

// packetHeader is what a data set needs of the datagram that carried it to become flows.
type packetHeader struct {
	received  time.Time
	exporter  netip.Addr
	version   uint16
	domain    uint32
	sysUptime uint32 // NetFlow v9: milliseconds since the exporter booted
	unixSecs  uint32 // NetFlow v9 header time, IPFIX export time
	seq       uint32 // IPFIX: data records the domain sent before this message, mod 2^32
}

// mark is what tells a restart of the exporter: the NetFlow v9 uptime, the IPFIX sequence
// number (see restarted).
func (h *packetHeader) mark() uint32 {
	if h.version == 9 {
		return h.sysUptime
	}
	return h.seq
}

// pendingSet is a data set held until its template arrives: its set header and records,
// copied (the datagram buffer is reused).
type pendingSet struct {
	key  tmplKey
	hdr  packetHeader
	data []byte
}

func (p *pendingSet) cost() int { return len(p.data) + pendingOverhead }

// exporterState is everything kept for one exporter address.
type exporterState struct {
	mu           sync.RWMutex
	removed      atomic.Bool // dropped from Templates.exporters by Expire: look it up again
	templates    map[tmplKey]tmplEntry
	samplers     map[samplerKey]samplerEntry
	domains      map[domainKey]domainEntry
	clocks       map[domainKey]*domainClock // of the domains with state of any kind above
	pending      []pendingSet               // oldest first
	pendingBytes int
}

func (st *exporterState) empty() bool {
	return len(st.templates) == 0 && len(st.samplers) == 0 && len(st.domains) == 0 && len(st.pending) == 0 &&
		len(st.clocks) == 0
}

// Templates holds the NetFlow v9 and IPFIX templates, the sampling rates learnt from options
// data and the data sets waiting for their template, for all exporters. It is shared by all
// Decoders and safe for concurrent use. Templates are keyed by exporter address, NetFlow
// version, observation domain (source ID) and template ID.
type Templates struct {
	cfg Config
	m   *Metrics

	mu        sync.RWMutex
	exporters map[netip.Addr]*exporterState

	fieldsTotal  atomic.Int64
	pendingTotal atomic.Int64

	live map[domainKey]struct{} // Expire's scratch, under mu
}

// NewTemplates makes an empty template store. Zero fields of cfg take their defaults.
func NewTemplates(cfg Config, m *Metrics) *Templates {
	if m == nil {
		m = NewMetrics(nil)
	}
	return &Templates{cfg: cfg.withDefaults(), m: m, exporters: map[netip.Addr]*exporterState{}}
}

// state returns the exporter's state, or nil when it has none.
func (t *Templates) state(exp netip.Addr) *exporterState {
	t.mu.RLock()
	st := t.exporters[exp]
	t.mu.RUnlock()
	return st
}

// lockState returns the exporter's state write-locked, creating it when allowed. It returns
// nil when the exporter has no state and create is false, or when max_exporters is reached.
func (t *Templates) lockState(exp netip.Addr, create bool) *exporterState {
	for {
		st := t.state(exp)
		if st == nil {
			if !create {
				return nil
			}
			t.mu.Lock()
			st = t.exporters[exp]
			if st == nil {
				if len(t.exporters) >= t.cfg.MaxExporters {
					t.mu.Unlock()
					return nil
				}
				st = &exporterState{
					templates: map[tmplKey]tmplEntry{},
					samplers:  map[samplerKey]samplerEntry{},
					domains:   map[domainKey]domainEntry{},
					clocks:    map[domainKey]*domainClock{},
				}
				t.exporters[exp] = st
				t.m.exporters.Set(float64(len(t.exporters)))
			}
			t.mu.Unlock()
		}
		st.mu.Lock()
		if !st.removed.Load() {
			return st
		}
		st.mu.Unlock()
	}
}

// templateShape returns the number of fields of a template, and whether its records have a
// length: goflow2 loops forever over a data set whose template has only zero-length fields.
func templateShape(tmpl any) (fields int, sized bool, ok bool) {
	count := func(fs []netflow.Field) {
		fields += len(fs)
		for _, f := range fs {
			if f.Length != 0 {
				sized = true
			}
		}
	}
	switch tr := tmpl.(type) {
	case netflow.TemplateRecord:
		count(tr.Fields)
	case netflow.NFv9OptionsTemplateRecord:
		count(tr.Scopes)
		count(tr.Options)
	case netflow.IPFIXOptionsTemplateRecord:
		count(tr.Scopes)
		count(tr.Options)
	default:
		return 0, false, false
	}
	return fields, sized, true
}

// add stores a template, from a datagram whose restart mark is mark; false when it was
// refused (and counted).
func (t *Templates) add(exp netip.Addr, key tmplKey, tmpl any, now time.Time, mark uint32) bool {
	fields, sized, ok := templateShape(tmpl)
	if !ok {
		return false
	}
	if tr, isData := tmpl.(netflow.TemplateRecord); isData && key.version == 10 && tr.FieldCount == 0 {
		// An IPFIX template withdrawal (RFC 7011 §8.1).
		t.remove(exp, key)
		return true
	}
	switch {
	case fields > t.cfg.MaxTemplateFields:
		t.m.refusedBy[RefusedFieldLimit].Inc()
		return false
	case !sized:
		t.m.refusedBy[RefusedEmpty].Inc()
		return false
	}
	st := t.lockState(exp, true)
	if st == nil {
		t.m.refusedBy[RefusedExporterLimit].Inc()
		return false
	}
	defer st.mu.Unlock()
	old, had := st.templates[key]
	if !had && len(st.templates) >= t.cfg.MaxTemplates {
		t.m.refusedBy[RefusedTemplateLimit].Inc()
		return false
	}
	delta := int64(fields - old.fields)
	if delta > 0 && t.fieldsTotal.Add(delta) > int64(t.cfg.MaxTemplateFieldsTotal) {
		t.fieldsTotal.Add(-delta)
		t.m.refusedBy[RefusedTotalLimit].Inc()
		return false
	} else if delta <= 0 {
		t.fieldsTotal.Add(delta)
	}
	st.templates[key] = tmplEntry{tmpl: tmpl, fields: fields, seen: now}
	st.track(domainKey{version: key.version, domain: key.domain}, mark)
	if !had {
		t.m.templateGauge(key.version, 1)
	}
	return true
}

func (t *Templates) remove(exp netip.Addr, key tmplKey) (any, bool) {
	st := t.lockState(exp, false)
	if st == nil {
		return nil, false
	}
	defer st.mu.Unlock()
	e, ok := st.templates[key]
	if ok {
		delete(st.templates, key)
		t.fieldsTotal.Add(-int64(e.fields))
		t.m.templateGauge(key.version, -1)
	}
	return e.tmpl, ok
}

// get returns a template that is not older than the TTL at now.
func (t *Templates) get(st *exporterState, key tmplKey, now time.Time) (any, bool) {
	if st == nil {
		return nil, false
	}
	st.mu.RLock()
	e, ok := st.templates[key]
	st.mu.RUnlock()
	if !ok || now.Sub(e.seen) > t.cfg.TemplateTTL {
		return nil, false
	}
	return e.tmpl, true
}

// setSampler remembers a sampling rate learnt from options data of the datagram h.
func (t *Templates) setSampler(h *packetHeader, key samplerKey, rate uint32) {
	st := t.lockState(h.exporter, true)
	if st == nil {
		t.m.refusedBy[RefusedExporterLimit].Inc()
		return
	}
	defer st.mu.Unlock()
	if _, had := st.samplers[key]; !had && len(st.samplers) >= t.cfg.MaxTemplates {
		t.m.refusedBy[RefusedSamplerLimit].Inc()
		return
	}
	st.samplers[key] = samplerEntry{rate: rate, seen: h.received}
	st.track(domainKey{version: key.version, domain: key.domain}, h.mark())
}

// sampler returns a remembered sampling rate that is not older than the TTL at now.
func (t *Templates) sampler(st *exporterState, key samplerKey, now time.Time) (uint32, bool) {
	if st == nil {
		return 0, false
	}
	st.mu.RLock()
	e, ok := st.samplers[key]
	st.mu.RUnlock()
	if !ok || now.Sub(e.seen) > t.cfg.TemplateTTL {
		return 0, false
	}
	return e.rate, true
}

// setSysInit remembers the boot time options data of the datagram h stated.
func (t *Templates) setSysInit(h *packetHeader, key domainKey, init time.Time) {
	st := t.lockState(h.exporter, true)
	if st == nil {
		t.m.refusedBy[RefusedExporterLimit].Inc()
		return
	}
	defer st.mu.Unlock()
	if _, had := st.domains[key]; !had && len(st.domains) >= t.cfg.MaxTemplates {
		t.m.refusedBy[RefusedSamplerLimit].Inc()
		return
	}
	st.domains[key] = domainEntry{sysInit: init, seen: h.received}
	st.track(key, h.mark())
}

func (t *Templates) sysInit(st *exporterState, key domainKey, now time.Time) (time.Time, bool) {
	if st == nil {
		return time.Time{}, false
	}
	st.mu.RLock()
	e, ok := st.domains[key]
	st.mu.RUnlock()
	if !ok || now.Sub(e.seen) > t.cfg.TemplateTTL {
		return time.Time{}, false
	}
	return e.sysInit, true
}

// hold keeps a copy of a data set whose template is unknown, within the exporter's and the
// global budgets; what does not fit is dropped and counted.
func (t *Templates) hold(key tmplKey, hdr packetHeader, set []byte) {
	p := pendingSet{key: key, hdr: hdr}
	size := len(set) + pendingOverhead
	if size > t.cfg.PendingBytes {
		t.m.droppedBy[DroppedTooLarge].Inc()
		return
	}
	st := t.lockState(hdr.exporter, true)
	if st == nil {
		t.m.droppedBy[DroppedLimit].Inc()
		return
	}
	defer st.mu.Unlock()
	t.dropOld(st, hdr.received)
	for len(st.pending) > 0 && st.pendingBytes+size > t.cfg.PendingBytes {
		t.dropFirst(st, DroppedEvicted)
	}
	if t.pendingTotal.Add(int64(size)) > int64(t.cfg.PendingBytesTotal) {
		t.pendingTotal.Add(-int64(size))
		t.m.droppedBy[DroppedLimit].Inc()
		return
	}
	p.data = append([]byte(nil), set...)
	st.pending = append(st.pending, p)
	st.track(domainKey{version: key.version, domain: key.domain}, hdr.mark())
	st.pendingBytes += size
	t.m.pendingHeld.Inc()
	t.m.pendingBytes.Add(float64(size))
}

// dropOld drops the held sets older than pending_age at now. st is locked.
func (t *Templates) dropOld(st *exporterState, now time.Time) {
	for len(st.pending) > 0 && now.Sub(st.pending[0].hdr.received) > t.cfg.PendingAge {
		t.dropFirst(st, DroppedExpired)
	}
}

func (t *Templates) dropFirst(st *exporterState, reason string) {
	t.release(st, &st.pending[0])
	st.pending[0] = pendingSet{}
	st.pending = st.pending[1:]
	t.m.droppedBy[reason].Inc()
}

func (t *Templates) release(st *exporterState, p *pendingSet) {
	size := p.cost()
	st.pendingBytes -= size
	t.pendingTotal.Add(-int64(size))
	t.m.pendingBytes.Sub(float64(size))
}

// take moves the held sets of a template, oldest first, to dst. Sets older than pending_age
// at now are dropped instead.
func (t *Templates) take(exp netip.Addr, key tmplKey, now time.Time, dst []pendingSet) []pendingSet {
	st := t.lockState(exp, false)
	if st == nil {
		return dst
	}
	defer st.mu.Unlock()
	t.dropOld(st, now)
	kept := st.pending[:0]
	for i := range st.pending {
		p := st.pending[i]
		if p.key == key {
			t.release(st, &p)
			dst = append(dst, p)
		} else {
			kept = append(kept, p)
		}
	}
	clear(st.pending[len(kept):])
	st.pending = kept
	return dst
}

// hasPending says whether the exporter holds data sets; a cheap check before take.
func (t *Templates) hasPending(st *exporterState) bool {
	if st == nil {
		return false
	}
	st.mu.RLock()
	n := len(st.pending)
	st.mu.RUnlock()
	return n > 0
}

// Expire drops the templates and the sampling state not refreshed within the TTL at now, and
// the held data sets older than pending_age (counted as dropped), and the restart marks of
// the domains left with nothing. It returns the number of templates dropped. The collector
// calls it periodically.
func (t *Templates) Expire(now time.Time) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for exp, st := range t.exporters {
		st.mu.Lock()
		for k, e := range st.templates {
			if now.Sub(e.seen) > t.cfg.TemplateTTL {
				delete(st.templates, k)
				t.fieldsTotal.Add(-int64(e.fields))
				t.m.templateGauge(k.version, -1)
				t.m.templatesExp.Inc()
				n++
			}
		}
		for k, e := range st.samplers {
			if now.Sub(e.seen) > t.cfg.TemplateTTL {
				delete(st.samplers, k)
			}
		}
		for k, e := range st.domains {
			if now.Sub(e.seen) > t.cfg.TemplateTTL {
				delete(st.domains, k)
			}
		}
		t.dropOld(st, now)
		if len(st.pending) == 0 {
			st.pending = nil // give back a large backing array
		}
		t.dropClocks(st)
		if st.empty() {
			st.removed.Store(true)
			delete(t.exporters, exp)
		}
		st.mu.Unlock()
	}
	t.m.exporters.Set(float64(len(t.exporters)))
	return n
}

// Len returns the number of templates held for all exporters.
func (t *Templates) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	n := 0
	for _, st := range t.exporters {
		st.mu.RLock()
		n += len(st.templates)
		st.mu.RUnlock()
	}
	return n
}

// exporterTemplates is goflow2's netflow.NetFlowTemplateSystem for the exporter of the
// datagram being decoded: goflow2 knows templates by version, domain and ID only, this
// adapter adds the exporter address. It belongs to one Decoder.
type exporterTemplates struct {
	t     *Templates
	exp   netip.Addr
	st    *exporterState // nil until the exporter has state
	now   time.Time
	mark  uint32    // the datagram's restart mark (packetHeader.mark)
	added []tmplKey // templates stored during this datagram
	// refused counts the templates refused during this datagram.
	refused int
}

var _ netflow.NetFlowTemplateSystem = (*exporterTemplates)(nil)

func (a *exporterTemplates) begin(exp netip.Addr, now time.Time, mark uint32) {
	a.exp, a.now, a.mark = exp, now, mark
	a.st = a.t.state(exp)
	a.added = a.added[:0]
	a.refused = 0
}

// AddTemplate stores a template of the exporter. A refused template is counted and not an
// error for goflow2, so that the rest of the datagram is still decoded.
func (a *exporterTemplates) AddTemplate(version uint16, obsDomainID uint32, templateID uint16, template any) error {
	key := tmplKey{version: version, domain: obsDomainID, id: templateID}
	if a.t.add(a.exp, key, template, a.now, a.mark) {
		if len(a.added) < 4096 {
			a.added = append(a.added, key)
		}
	} else {
		a.refused++
	}
	if a.st == nil {
		a.st = a.t.state(a.exp)
	}
	return nil
}

// GetTemplate finds a template of the exporter that has not expired.
func (a *exporterTemplates) GetTemplate(version uint16, obsDomainID uint32, templateID uint16) (any, error) {
	if a.st == nil {
		a.st = a.t.state(a.exp)
	} else if a.st.removed.Load() {
		a.st = a.t.state(a.exp)
	}
	if tmpl, ok := a.t.get(a.st, tmplKey{version: version, domain: obsDomainID, id: templateID}, a.now); ok {
		return tmpl, nil
	}
	return nil, netflow.ErrorTemplateNotFound
}

// RemoveTemplate drops a template of the exporter.
func (a *exporterTemplates) RemoveTemplate(version uint16, obsDomainID uint32, templateID uint16) (any, error) {
	if tmpl, ok := a.t.remove(a.exp, tmplKey{version: version, domain: obsDomainID, id: templateID}); ok {
		return tmpl, nil
	}
	return nil, netflow.ErrorTemplateNotFound
}

// GetTemplates returns a copy of the exporter's templates keyed the way goflow2 keys them.
func (a *exporterTemplates) GetTemplates() netflow.FlowBaseTemplateSet {
	out := netflow.FlowBaseTemplateSet{}
	st := a.t.state(a.exp)
	if st == nil {
		return out
	}
	st.mu.RLock()
	defer st.mu.RUnlock()
	for k, e := range st.templates {
		out[uint64(k.version)<<48|uint64(k.domain)<<16|uint64(k.id)] = e.tmpl
	}
	return out
}
