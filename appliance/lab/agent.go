package lab

import (
	"bytes"
	"crypto/hmac"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync/atomic"
	"time"
)

const (
	// maxDatagram is the largest UDP payload over IPv4, our msgMaxSize.
	maxDatagram = 65507
	// defaultMaxResponse bounds responses the way a real device's packet size does (Cisco's
	// "snmp-server packetsize" defaults to 1500): a GetBulk is truncated to fit, a Get that
	// does not fit answers tooBig. 1472 is an Ethernet MTU minus the IP and UDP headers.
	defaultMaxResponse = 1472
	// maxVarbinds bounds the varbinds of one request we are willing to parse.
	maxVarbinds = 512
)

// Error statuses (RFC 3416).
const (
	errTooBig      = 1
	errNoSuchName  = 2
	errNotWritable = 17
)

var (
	errUnsupportedPDU = errors.New("unsupported PDU")
	errTooMany        = errors.New("too many varbinds")
)

// agentStats are an agent's counters; Stats sums them over the lab.
type agentStats struct {
	packets, responses, badVersion, badCommunity, malformed, panics, silenced, unsupported atomic.Uint64
	unknownEngineIDs, unknownUserNames, wrongDigests, notInTimeWindows,
	decryptionErrors, unsupportedSecLevels, unknownContexts atomic.Uint64
}

// Stats counts what the lab's agents received and how they dealt with it.
type Stats struct {
	Packets      uint64 // datagrams received
	Responses    uint64 // responses and reports sent
	BadVersion   uint64 // an SNMP version the device is not configured for: dropped
	BadCommunity uint64 // wrong community: dropped, like a real agent
	Malformed    uint64 // undecodable datagrams: dropped
	Unsupported  uint64 // PDUs an agent does not answer (responses, traps, informs): dropped
	Panics       uint64 // datagrams whose handling panicked (recovered): dropped
	Silenced     uint64 // requests to a device in a scripted outage or reboot: dropped

	// SNMPv3 USM reports (RFC 3414 usmStats).
	UnknownEngineIDs     uint64
	UnknownUserNames     uint64
	WrongDigests         uint64
	NotInTimeWindows     uint64
	DecryptionErrors     uint64
	UnsupportedSecLevels uint64
	UnknownContexts      uint64 // a context name other than the default ""
}

func (s *agentStats) addTo(t *Stats) {
	t.Packets += s.packets.Load()
	t.Responses += s.responses.Load()
	t.BadVersion += s.badVersion.Load()
	t.BadCommunity += s.badCommunity.Load()
	t.Malformed += s.malformed.Load()
	t.Unsupported += s.unsupported.Load()
	t.Panics += s.panics.Load()
	t.Silenced += s.silenced.Load()
	t.UnknownEngineIDs += s.unknownEngineIDs.Load()
	t.UnknownUserNames += s.unknownUserNames.Load()
	t.WrongDigests += s.wrongDigests.Load()
	t.NotInTimeWindows += s.notInTimeWindows.Load()
	t.DecryptionErrors += s.decryptionErrors.Load()
	t.UnsupportedSecLevels += s.unsupportedSecLevels.Load()
	t.UnknownContexts += s.unknownContexts.Load()
}

// agent answers SNMP for one device on one UDP socket: v1 and v2c with a community, or v3
// with USM as the authoritative engine. Datagrams are handled one at a time by one
// goroutine, with buffers reused from one request to the next.
type agent struct {
	dev       *device
	community string     // "": v1 and v2c disabled
	users     []*usmUser // empty: v3 disabled
	maxResp   int
	salt      atomic.Uint64
	stats     agentStats
	log       *slog.Logger

	conn *net.UDPConn
	done chan struct{}
}

// newAgent prepares an agent for d from its credentials; it does not open a socket.
func newAgent(d *device, log *slog.Logger) (*agent, error) {
	a := &agent{dev: d, maxResp: defaultMaxResponse, log: log}
	a.salt.Store(rand.Uint64())
	switch d.Creds.Version {
	case "1", "2c":
		a.community = d.Creds.Community.Reveal()
	case "3":
		u, err := newUser(d.Creds, d.engineID)
		if err != nil {
			return nil, err
		}
		a.users = []*usmUser{u}
	default:
		return nil, fmt.Errorf("lab: device %s: SNMP version %q", d.Name, d.Creds.Version)
	}
	return a, nil
}

// listen opens the agent's socket and serves it until close.
func (a *agent) listen(addr string) error {
	ua, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		return err
	}
	a.conn, err = net.ListenUDP("udp4", ua)
	if err != nil {
		return err
	}
	_ = a.conn.SetReadBuffer(1 << 20)
	a.done = make(chan struct{})
	go a.serve()
	return nil
}

// Addr is the agent's UDP address.
func (a *agent) Addr() netip.AddrPort {
	return a.conn.LocalAddr().(*net.UDPAddr).AddrPort()
}

func (a *agent) close() {
	if a.conn != nil {
		a.conn.Close()
		<-a.done
	}
}

func (a *agent) serve() {
	defer close(a.done)
	buf := make([]byte, maxDatagram+1)
	w := newWorker(a)
	for {
		n, from, err := a.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if resp := a.handle(w, buf[:n], time.Now()); resp != nil {
			_, _ = a.conn.WriteToUDPAddrPort(resp, from)
		}
	}
}

// worker holds one goroutine's reusable buffers.
type worker struct {
	req    request
	arena  []uint32 // the request's OIDs
	vbs    []reqVB
	cur    []int // GetBulk cursors
	vb     []byte
	pdu    []byte
	out    []byte
	macs   []hash.Hash // one HMAC per user
	digest [64]byte
	sc     scratch
}

type reqVB struct {
	start, end int32 // the OID in the arena
	raw        []byte
}

func newWorker(a *agent) *worker {
	w := &worker{
		arena: make([]uint32, 0, 256),
		vbs:   make([]reqVB, 0, 32),
		vb:    make([]byte, 0, 2048),
		pdu:   make([]byte, 0, 2048),
		out:   make([]byte, 0, 2048),
	}
	for _, u := range a.users {
		if u.level&flagAuth != 0 {
			w.macs = append(w.macs, hmac.New(u.auth.hash, u.authKey))
		} else {
			w.macs = append(w.macs, nil)
		}
	}
	return w
}

func (w *worker) oid(q reqVB) []uint32 { return w.arena[q.start:q.end] }

// request is a decoded request; its slices point into the datagram.
type request struct {
	version     int64
	pduTag      byte
	reqID, a, b int64 // a, b: error status and index, or non-repeaters and max-repetitions
	vblRaw      []byte
	parsed      bool // the PDU was decoded (for v3, it may be encrypted and unread)

	msgID, maxSize int64
	flags          byte
	engineID, user []byte
	authParams     []byte
	authPos        int
	privParams     []byte
	boots, etime   int64
	ctxName        []byte
}

// handle answers one datagram; it returns the response, or nil to stay silent. It never
// panics: a panic is recovered, counted and the datagram dropped.
func (a *agent) handle(w *worker, pkt []byte, now time.Time) (out []byte) {
	a.stats.packets.Add(1)
	defer func() {
		if r := recover(); r != nil {
			out = nil
			if n := a.stats.panics.Add(1); n&(n-1) == 0 { // log the 1st, 2nd, 4th, 8th, …
				a.log.Error("recovered from a panic handling a datagram", "device", a.dev.Name, "panic", fmt.Sprint(r), "count", n)
			}
		}
		if out != nil {
			a.stats.responses.Add(1)
		}
	}()
	return a.dispatch(w, pkt, now)
}

// dispatch is handle without the recovery, so that the fuzz test sees panics.
func (a *agent) dispatch(w *worker, pkt []byte, now time.Time) []byte {
	if a.dev.silent.Load() {
		a.stats.silenced.Add(1)
		return nil
	}
	r := &w.req
	*r = request{}
	top := berReader{b: pkt}
	msg, err := top.sub(tagSequence)
	if err != nil {
		a.stats.malformed.Add(1)
		return nil
	}
	r.version, err = msg.integer()
	if err != nil {
		a.stats.malformed.Add(1)
		return nil
	}
	switch r.version {
	case 0, 1:
		return a.handleCommunity(w, r, &msg, now)
	case 3:
		return a.handleV3(w, r, pkt, &msg, now)
	}
	a.stats.badVersion.Add(1)
	return nil
}

func (a *agent) handleCommunity(w *worker, r *request, msg *berReader, now time.Time) []byte {
	if a.community == "" {
		a.stats.badVersion.Add(1)
		return nil
	}
	comm, _, err := msg.expect(tagOctetString)
	if err != nil {
		a.stats.malformed.Add(1)
		return nil
	}
	if string(comm) != a.community {
		a.stats.badCommunity.Add(1)
		return nil
	}
	if err := w.parsePDU(r, msg); err != nil {
		a.count(err)
		return nil
	}
	v1 := r.version == 0
	if v1 && r.pduTag == pduGetBulk {
		a.stats.unsupported.Add(1)
		return nil
	}
	budget := min(a.maxResp, maxDatagram) - 32 - len(comm)
	es, ei, vbl := a.process(w, r, v1, budget, now)
	pduContent := pduLen(r.reqID, es, ei, len(vbl))
	total := 3 + tlvLen(len(comm)) + tlvLen(pduContent)
	out := appendHeader(w.out[:0], tagSequence, total)
	out = appendInt(out, tagInteger, r.version)
	out = appendBytes(out, tagOctetString, comm)
	out = appendPDU(out, pduResponse, r.reqID, es, ei, vbl)
	w.out = out
	return out
}

func (a *agent) count(err error) {
	if errors.Is(err, errUnsupportedPDU) {
		a.stats.unsupported.Add(1)
	} else {
		a.stats.malformed.Add(1)
	}
}

// parsePDU decodes a PDU whose varbind OIDs go to the worker's arena.
func (w *worker) parsePDU(r *request, msg *berReader) error {
	tag, body, pos, err := msg.next()
	if err != nil {
		return err
	}
	switch tag {
	case pduGet, pduGetNext, pduGetBulk, pduSet:
	default:
		return errUnsupportedPDU
	}
	r.pduTag = tag
	p := berReader{b: body, off: pos}
	if r.reqID, err = p.integer(); err != nil {
		return err
	}
	if r.a, err = p.integer(); err != nil {
		return err
	}
	if r.b, err = p.integer(); err != nil {
		return err
	}
	vbl, err := p.sub(tagSequence)
	if err != nil {
		return err
	}
	r.vblRaw = vbl.b
	w.arena, w.vbs = w.arena[:0], w.vbs[:0]
	for !vbl.empty() {
		if len(w.vbs) == maxVarbinds {
			return errTooMany
		}
		vb, err := vbl.sub(tagSequence)
		if err != nil {
			return err
		}
		raw, _, err := vb.expect(tagOID)
		if err != nil {
			return err
		}
		if _, _, _, err := vb.next(); err != nil { // the value, ignored
			return err
		}
		start := len(w.arena)
		if w.arena, err = parseOID(w.arena, raw); err != nil {
			return err
		}
		w.vbs = append(w.vbs, reqVB{int32(start), int32(len(w.arena)), raw})
	}
	r.parsed = true
	return nil
}

func pduLen(reqID, es, ei int64, vblLen int) int {
	return 6 + intLen(reqID) + intLen(es) + intLen(ei) + tlvLen(vblLen)
}

func appendPDU(b []byte, tag byte, reqID, es, ei int64, vbl []byte) []byte {
	b = appendHeader(b, tag, pduLen(reqID, es, ei, len(vbl)))
	b = appendInt(b, tagInteger, reqID)
	b = appendInt(b, tagInteger, es)
	b = appendInt(b, tagInteger, ei)
	return appendBytes(b, tagSequence, vbl)
}

func appendVarbind(b []byte, oidEnc []byte, v *value) []byte {
	b = appendHeader(b, tagSequence, len(oidEnc)+v.tlvLen())
	b = append(b, oidEnc...)
	return v.append(b)
}

// appendException appends a varbind of a request's OID (raw BER content) and an exception.
func appendException(b []byte, raw []byte, tag byte) []byte {
	b = appendHeader(b, tagSequence, tlvLen(len(raw))+2)
	b = appendBytes(b, tagOID, raw)
	return append(b, tag, 0)
}

// process computes the answer to a Get, GetNext, GetBulk or Set: the error status and index,
// and the varbind list, at most budget bytes of it.
func (a *agent) process(w *worker, r *request, v1 bool, budget int, now time.Time) (es, ei int64, vbl []byte) {
	d := a.dev
	v := d.view.Load()
	d.mu.RLock()
	defer d.mu.RUnlock()
	out := w.vb[:0]
	defer func() { w.vb = out[:0] }()
	echo := func(status int64, index int) (int64, int64, []byte) {
		if len(r.vblRaw) > budget {
			return errTooBig, 0, nil
		}
		return status, int64(index), r.vblRaw
	}
	// next returns the position of the entry after pos, skipping what v1 cannot carry.
	next := func(pos int) int {
		for v1 && pos < len(v.entries) && v.entries[pos].typ == tagCounter64 {
			pos++
		}
		return pos
	}
	switch r.pduTag {
	case pduSet:
		if v1 {
			return echo(errNoSuchName, 1)
		}
		return echo(errNotWritable, 1)

	case pduGet:
		for i, q := range w.vbs {
			oid := w.oid(q)
			pos, found := v.find(oid)
			switch {
			case found && !(v1 && v.entries[pos].typ == tagCounter64):
				val := d.value(&v.entries[pos], now)
				out = appendVarbind(out, v.entries[pos].enc, &val)
			case v1:
				return echo(errNoSuchName, i+1)
			case v.exists(oid, pos):
				out = appendException(out, q.raw, tagNoSuchInstance)
			default:
				out = appendException(out, q.raw, tagNoSuchObject)
			}
			if len(out) > budget {
				return errTooBig, 0, nil
			}
		}

	case pduGetNext:
		for i, q := range w.vbs {
			pos := next(v.next(w.oid(q)))
			switch {
			case pos < len(v.entries):
				val := d.value(&v.entries[pos], now)
				out = appendVarbind(out, v.entries[pos].enc, &val)
			case v1:
				return echo(errNoSuchName, i+1)
			default:
				out = appendException(out, q.raw, tagEndOfMibView)
			}
			if len(out) > budget {
				return errTooBig, 0, nil
			}
		}

	case pduGetBulk:
		n := int(max(0, min(r.a, int64(len(w.vbs)))))
		m := max(0, r.b)
		// add appends one varbind; it reports false when the budget would be exceeded, and
		// the response is then truncated to what was already there (RFC 3416 §4.2.3).
		add := func(pos int, raw []byte) bool {
			mark := len(out)
			if pos < len(v.entries) {
				val := d.value(&v.entries[pos], now)
				out = appendVarbind(out, v.entries[pos].enc, &val)
			} else if raw != nil {
				out = appendException(out, raw, tagEndOfMibView)
			} else {
				out = append(appendHeader(out, tagSequence, len(v.entries[len(v.entries)-1].enc)+2),
					v.entries[len(v.entries)-1].enc...)
				out = append(out, tagEndOfMibView, 0)
			}
			if len(out) > budget {
				out = out[:mark]
				return false
			}
			return true
		}
		full := false
		for _, q := range w.vbs[:n] {
			if !add(v.next(w.oid(q)), q.raw) {
				full = true
				break
			}
		}
		reps := w.vbs[n:]
		w.cur = w.cur[:0]
		for _, q := range reps {
			w.cur = append(w.cur, v.next(w.oid(q)))
		}
		for rep := int64(0); !full && rep < m && len(reps) > 0; rep++ {
			ended := true
			for j, q := range reps {
				pos := w.cur[j]
				// Past the end, the name is the previous repetition's: the request's own OID
				// while the column has produced nothing, else the view's last OID.
				var raw []byte
				if pos >= len(v.entries) && (rep == 0 || v.next(w.oid(q)) >= len(v.entries)) {
					raw = q.raw
				}
				if !add(pos, raw) {
					full = true
					break
				}
				if pos < len(v.entries) {
					w.cur[j] = pos + 1
					ended = false
				}
			}
			if ended {
				break
			}
		}
		if full && len(out) == 0 {
			return errTooBig, 0, nil
		}
	}
	return 0, 0, out
}

// --- SNMPv3 ---

func (a *agent) handleV3(w *worker, r *request, pkt []byte, msg *berReader, now time.Time) []byte {
	if len(a.users) == 0 {
		a.stats.badVersion.Add(1)
		return nil
	}
	dataTag, data, err := r.parseV3Header(msg)
	if err != nil {
		a.stats.malformed.Add(1)
		return nil
	}
	if dataTag == tagSequence { // plaintext: read it now, reports need the request ID
		if err := w.parseScoped(r, berReader{b: data}); err != nil {
			a.count(err)
			return nil
		}
	}
	d := a.dev
	boots, etime := d.engineTimes(now)
	level := r.flags & (flagAuth | flagPriv)

	if !bytes.Equal(r.engineID, d.engineID) {
		return a.report(w, r, oidUnknownEngineIDs, &a.stats.unknownEngineIDs, nil, -1, now)
	}
	ui := -1
	for i, u := range a.users {
		if string(r.user) == u.name {
			ui = i
		}
	}
	if ui < 0 {
		return a.report(w, r, oidUnknownUserNames, &a.stats.unknownUserNames, nil, -1, now)
	}
	u := a.users[ui]
	if level != u.level {
		return a.report(w, r, oidUnsupportedSecLevels, &a.stats.unsupportedSecLevels, nil, -1, now)
	}
	if level&flagAuth != 0 {
		if len(r.authParams) != u.auth.macLen {
			return a.report(w, r, oidWrongDigests, &a.stats.wrongDigests, nil, -1, now)
		}
		got := w.sc.got[:u.auth.macLen]
		copy(got, r.authParams)
		clear(pkt[r.authPos : r.authPos+u.auth.macLen])
		digest(w.macs[ui], pkt, w.digest[:u.auth.macLen], &w.sc)
		if !hmac.Equal(got, w.digest[:u.auth.macLen]) {
			return a.report(w, r, oidWrongDigests, &a.stats.wrongDigests, nil, -1, now)
		}
		dt := r.etime - int64(etime)
		if r.boots != int64(boots) || dt > timeWindow || dt < -timeWindow || boots == 1<<31-1 {
			return a.report(w, r, oidNotInTimeWindows, &a.stats.notInTimeWindows, u, ui, now)
		}
	}
	if level&flagPriv != 0 {
		if dataTag != tagOctetString || len(r.privParams) != 8 || !u.decrypt(data, r, &w.sc) {
			return a.report(w, r, oidDecryptionErrors, &a.stats.decryptionErrors, nil, -1, now)
		}
		rd := berReader{b: data}
		scoped, err := rd.sub(tagSequence) // DES padding may follow
		if err == nil {
			err = w.parseScoped(r, scoped)
		}
		if err != nil {
			if errors.Is(err, errUnsupportedPDU) {
				a.stats.unsupported.Add(1)
				return nil
			}
			return a.report(w, r, oidDecryptionErrors, &a.stats.decryptionErrors, nil, -1, now)
		}
	} else if dataTag != tagSequence {
		a.stats.malformed.Add(1)
		return nil
	}
	if len(r.ctxName) != 0 { // only the default context exists
		return a.report(w, r, oidUnknownContexts, &a.stats.unknownContexts, u, ui, now)
	}
	budget := min(a.maxResp, int(min(r.maxSize, maxDatagram))) - 128 - 2*len(d.engineID) - len(u.name) - u.auth.macLen
	es, ei, vbl := a.process(w, r, false, budget, now)
	return a.marshalV3(w, r, level, u.nameBytes, ui, pduResponse, r.reqID, es, ei, vbl, r.ctxName, now)
}

// parseV3Header reads msgGlobalData and the USM security parameters; it returns the tag and
// value of msgData, a scoped PDU in plaintext or encrypted.
func (r *request) parseV3Header(msg *berReader) (byte, []byte, error) {
	g, err := msg.sub(tagSequence)
	if err != nil {
		return 0, nil, err
	}
	if r.msgID, err = g.integer(); err != nil {
		return 0, nil, err
	}
	if r.maxSize, err = g.integer(); err != nil {
		return 0, nil, err
	}
	flags, _, err := g.expect(tagOctetString)
	if err != nil || len(flags) != 1 {
		return 0, nil, errBER
	}
	r.flags = flags[0]
	model, err := g.integer()
	if err != nil || model != 3 || r.msgID < 0 || r.maxSize < 484 || r.flags&(flagAuth|flagPriv) == flagPriv {
		return 0, nil, errBER
	}
	sp, err := msg.sub(tagOctetString)
	if err != nil {
		return 0, nil, err
	}
	usm, err := sp.sub(tagSequence)
	if err != nil {
		return 0, nil, err
	}
	if r.engineID, _, err = usm.expect(tagOctetString); err != nil || len(r.engineID) > 32 {
		return 0, nil, errBER
	}
	if r.boots, err = usm.integer(); err != nil {
		return 0, nil, err
	}
	if r.etime, err = usm.integer(); err != nil {
		return 0, nil, err
	}
	if r.user, _, err = usm.expect(tagOctetString); err != nil || len(r.user) > 32 {
		return 0, nil, errBER
	}
	if r.authParams, r.authPos, err = usm.expect(tagOctetString); err != nil {
		return 0, nil, err
	}
	if r.privParams, _, err = usm.expect(tagOctetString); err != nil {
		return 0, nil, err
	}
	tag, data, _, err := msg.next()
	if err != nil || (tag != tagSequence && tag != tagOctetString) {
		return 0, nil, errBER
	}
	return tag, data, nil
}

// parseScoped reads the content of a scoped PDU: contextEngineID, contextName, PDU.
func (w *worker) parseScoped(r *request, s berReader) error {
	var err error
	if _, _, err := s.expect(tagOctetString); err != nil { // contextEngineID
		return err
	}
	if r.ctxName, _, err = s.expect(tagOctetString); err != nil {
		return err
	}
	return w.parsePDU(r, &s)
}

// decrypt deciphers a scoped PDU in place.
func (u *usmUser) decrypt(data []byte, r *request, sc *scratch) bool {
	switch u.priv {
	case privAES:
		sc.aesIV(uint32(r.boots), uint32(r.etime), r.privParams)
		cfb128(u.aes, sc, data, true)
		return true
	case privDES:
		if len(data)%8 != 0 {
			return false
		}
		sc.desIV(&u.desIV, r.privParams)
		cbcDES(u.des, sc, data, true)
		return true
	}
	return false
}

// engineTimes returns snmpEngineBoots and snmpEngineTime at now.
func (d *device) engineTimes(now time.Time) (boots, etime uint32) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return uint32(d.boots), uint32(max(0, now.Sub(d.bootAt)/time.Second))
}

// report answers a v3 request with a Report PDU carrying one usmStats (or
// snmpUnknownContexts) counter. With a user (notInTimeWindow, unknown context) it is
// authenticated, otherwise noAuthNoPriv. Non-reportable requests
// get nothing.
func (a *agent) report(w *worker, r *request, oid []uint32, counter *atomic.Uint64, u *usmUser, ui int, now time.Time) []byte {
	n := counter.Add(1)
	if r.flags&flagReportable == 0 {
		return nil
	}
	val := value{tag: tagCounter32, n: uint64(uint32(n))}
	vbl := appendVarbind(w.vb[:0], oidTLV(oid), &val)
	w.vb = vbl
	var level byte
	user := r.user
	if u != nil {
		level, user = flagAuth, u.nameBytes
	}
	reqID := int64(0)
	if r.parsed {
		reqID = r.reqID
	}
	return a.marshalV3(w, r, level, user, ui, pduReport, reqID, 0, 0, vbl, nil, now)
}

// marshalV3 encodes a v3 message at level (flagAuth|flagPriv bits) for the user at position
// ui (-1: none, noAuthNoPriv).
func (a *agent) marshalV3(w *worker, r *request, level byte, user []byte, ui int, tag byte,
	reqID, es, ei int64, vbl, ctxName []byte, now time.Time) []byte {
	d := a.dev
	boots, etime := d.engineTimes(now)
	pduContent := pduLen(reqID, es, ei, len(vbl))
	sp := appendHeader(w.pdu[:0], tagSequence, tlvLen(len(d.engineID))+tlvLen(len(ctxName))+tlvLen(pduContent))
	sp = appendBytes(sp, tagOctetString, d.engineID)
	sp = appendBytes(sp, tagOctetString, ctxName)
	sp = appendPDU(sp, tag, reqID, es, ei, vbl)

	var u *usmUser
	if ui >= 0 {
		u = a.users[ui]
	}
	var salt [8]byte
	privLen, macLen := 0, 0
	if level&flagAuth != 0 {
		macLen = u.auth.macLen
	}
	if level&flagPriv != 0 {
		privLen = 8
		switch u.priv {
		case privAES:
			binary.BigEndian.PutUint64(salt[:], a.salt.Add(1))
			w.sc.aesIV(boots, etime, salt[:])
			cfb128(u.aes, &w.sc, sp, false)
		case privDES:
			for len(sp)%8 != 0 {
				sp = append(sp, 0)
			}
			binary.BigEndian.PutUint32(salt[:4], boots)
			binary.BigEndian.PutUint32(salt[4:], uint32(a.salt.Add(1)))
			w.sc.desIV(&u.desIV, salt[:])
			cbcDES(u.des, &w.sc, sp, false)
		}
	}
	w.pdu = sp
	dataLen := len(sp)
	if privLen > 0 {
		dataLen = tlvLen(len(sp))
	}
	usmContent := tlvLen(len(d.engineID)) + 4 + intLen(int64(boots)) + intLen(int64(etime)) +
		tlvLen(len(user)) + tlvLen(macLen) + tlvLen(privLen)
	globalContent := 4 + intLen(r.msgID) + intLen(maxDatagram) + 3 + 3
	total := 3 + tlvLen(globalContent) + tlvLen(tlvLen(usmContent)) + dataLen

	out := appendHeader(w.out[:0], tagSequence, total)
	out = appendInt(out, tagInteger, 3)
	out = appendHeader(out, tagSequence, globalContent)
	out = appendInt(out, tagInteger, r.msgID)
	out = appendInt(out, tagInteger, maxDatagram)
	out = append(out, tagOctetString, 1, level)
	out = appendInt(out, tagInteger, 3)
	out = appendHeader(out, tagOctetString, tlvLen(usmContent))
	out = appendHeader(out, tagSequence, usmContent)
	out = appendBytes(out, tagOctetString, d.engineID)
	out = appendInt(out, tagInteger, int64(boots))
	out = appendInt(out, tagInteger, int64(etime))
	out = appendBytes(out, tagOctetString, user)
	out = appendHeader(out, tagOctetString, macLen)
	authPos := len(out)
	var zeros [64]byte
	out = append(out, zeros[:macLen]...)
	out = appendBytes(out, tagOctetString, salt[:privLen])
	if privLen > 0 {
		out = appendBytes(out, tagOctetString, sp)
	} else {
		out = append(out, sp...)
	}
	if macLen > 0 {
		digest(w.macs[ui], out, out[authPos:authPos+macLen], &w.sc)
	}
	w.out = out
	return out
}

// engineID builds an RFC 3411 engine ID: enterprise 8072 (net-snmp's, the usual choice of
// simulators), format 4 (text), then the device's name.
func engineID(name string) []byte {
	id := []byte{0x80, 0x00, 0x1f, 0x88, 0x04}
	id = append(id, "wf-lab:"...)
	id = append(id, name...)
	if len(id) > 32 {
		id = id[:32]
	}
	return id
}
