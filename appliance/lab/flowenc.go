package lab

import (
	"encoding/binary"
	"net/netip"
	"time"
)

// flowenc.go encodes the lab's flow records as NetFlow v5 (Cisco's fixed format), NetFlow v9
// (RFC 3954), IPFIX (RFC 7011) and sFlow v5 (sflow.org's sflow_version_5.txt). These are
// exporters, not decoders: each encoder appends to a buffer the caller reuses, so a steady
// exporter allocates nothing per record. Datagrams stay under maxFlowDatagram bytes.

// maxFlowDatagram bounds every datagram the exporters send (an Ethernet MTU less IP and UDP).
const maxFlowDatagram = 1400

// flowRecord is one flow as an exporter meters it: the counts are the sampled ones (what the
// exporter saw), not scaled by the sampling rate.
type flowRecord struct {
	src, dst         netip.Addr
	nextHop          netip.Addr
	srcPort, dstPort uint16
	proto            uint8
	tcpFlags         uint8
	tos              uint8
	srcMask, dstMask uint8
	inIf, outIf      uint32
	srcAS, dstAS     uint32
	bytes, packets   uint64
	first, last      time.Time
}

func (r *flowRecord) v6() bool { return r.src.Is6() && !r.src.Is4In6() }

var be = binary.BigEndian

func put16(b []byte, v uint16) []byte { return be.AppendUint16(b, v) }
func put32(b []byte, v uint32) []byte { return be.AppendUint32(b, v) }
func put64(b []byte, v uint64) []byte { return be.AppendUint64(b, v) }

func put4(b []byte, a netip.Addr) []byte {
	if !a.Is4() {
		return append(b, 0, 0, 0, 0)
	}
	x := a.As4()
	return append(b, x[:]...)
}

func put16addr(b []byte, a netip.Addr) []byte {
	x := a.As16()
	return append(b, x[:]...)
}

// uptimeMs is t in milliseconds since boot, as the v5/v9 headers and fields count it.
func uptimeMs(t, boot time.Time) uint32 {
	if t.Before(boot) {
		return 0
	}
	return uint32(t.Sub(boot) / time.Millisecond)
}

// clamp32 saturates a count at 2^32-1 for 32-bit fields.
func clamp32(v uint64) uint32 {
	if v > 0xffffffff {
		return 0xffffffff
	}
	return uint32(v)
}

// ---- NetFlow v5 ----

const (
	v5HeaderLen = 24
	v5RecordLen = 48
	v5MaxCount  = 28 // 24 + 28×48 = 1368 bytes
)

// v5Encoder builds NetFlow v5 datagrams. Records must be IPv4.
type v5Encoder struct {
	engineType, engineID uint8
	samplingRate         uint16 // 1 in N, packet-interval mode; 0 or 1: unsampled
	seq                  uint32 // flows exported before this datagram
}

// encode appends one datagram with recs (at most v5MaxCount) to b.
func (e *v5Encoder) encode(b []byte, now, boot time.Time, recs []flowRecord) []byte {
	b = put16(b, 5)
	b = put16(b, uint16(len(recs)))
	b = put32(b, uptimeMs(now, boot))
	b = put32(b, uint32(now.Unix()))
	b = put32(b, uint32(now.Nanosecond()))
	b = put32(b, e.seq)
	b = append(b, e.engineType, e.engineID)
	si := uint16(0)
	if e.samplingRate > 1 {
		si = 1<<14 | e.samplingRate&0x3fff // mode 01: deterministic 1-in-N
	}
	b = put16(b, si)
	for k := range recs {
		r := &recs[k]
		b = put4(b, r.src)
		b = put4(b, r.dst)
		b = put4(b, r.nextHop)
		b = put16(b, uint16(r.inIf))
		b = put16(b, uint16(r.outIf))
		b = put32(b, clamp32(r.packets))
		b = put32(b, clamp32(r.bytes))
		b = put32(b, uptimeMs(r.first, boot))
		b = put32(b, uptimeMs(r.last, boot))
		b = put16(b, r.srcPort)
		b = put16(b, r.dstPort)
		b = append(b, 0, r.tcpFlags, r.proto, r.tos)
		b = put16(b, uint16(r.srcAS))
		b = put16(b, uint16(r.dstAS))
		b = append(b, r.srcMask, r.dstMask, 0, 0)
	}
	e.seq += uint32(len(recs))
	return b
}

// ---- NetFlow v9 and IPFIX ----

// Information elements (the same numbers in NetFlow v9 and IPFIX).
const (
	ieOctetDelta       = 1
	iePacketDelta      = 2
	ieProtocol         = 4
	ieTOS              = 5
	ieTCPFlags         = 6
	ieSrcPort          = 7
	ieSrcIPv4          = 8
	ieSrcMask          = 9
	ieInIf             = 10
	ieDstPort          = 11
	ieDstIPv4          = 12
	ieDstMask          = 13
	ieOutIf            = 14
	ieNextHopIPv4      = 15
	ieSrcAS            = 16
	ieDstAS            = 17
	ieLastSwitched     = 21
	ieFirstSwitched    = 22
	ieSrcIPv6          = 27
	ieDstIPv6          = 28
	ieSrcMask6         = 29
	ieDstMask6         = 30
	ieSamplingInterval = 34
	ieSamplingAlgo     = 35
	ieNextHopIPv6      = 62
	ieObsDomain        = 149
	ieStartMs          = 152
	ieEndMs            = 153
	iePacketInterval   = 305
	iePacketSpace      = 306
	v9ScopeSystem      = 1
)

// Template IDs the lab's exporters use.
const (
	tmplV4      = 256
	tmplV6      = 257
	tmplOptions = 258
)

type ie struct{ id, length uint16 }

// The data templates: v9 and IPFIX share the address, port and count fields and differ in
// the times (uptime milliseconds in v9, absolute milliseconds in IPFIX) and, for IPFIX only,
// the AS numbers.
var (
	v9FieldsV4 = []ie{{ieSrcIPv4, 4}, {ieDstIPv4, 4}, {ieNextHopIPv4, 4}, {ieSrcPort, 2}, {ieDstPort, 2},
		{ieProtocol, 1}, {ieTCPFlags, 1}, {ieTOS, 1}, {ieSrcMask, 1}, {ieDstMask, 1}, {ieInIf, 4}, {ieOutIf, 4},
		{ieOctetDelta, 8}, {iePacketDelta, 8}, {ieFirstSwitched, 4}, {ieLastSwitched, 4}}
	v9FieldsV6 = []ie{{ieSrcIPv6, 16}, {ieDstIPv6, 16}, {ieNextHopIPv6, 16}, {ieSrcPort, 2}, {ieDstPort, 2},
		{ieProtocol, 1}, {ieTCPFlags, 1}, {ieTOS, 1}, {ieSrcMask6, 1}, {ieDstMask6, 1}, {ieInIf, 4}, {ieOutIf, 4},
		{ieOctetDelta, 8}, {iePacketDelta, 8}, {ieFirstSwitched, 4}, {ieLastSwitched, 4}}
	ipfixFieldsV4 = []ie{{ieSrcIPv4, 4}, {ieDstIPv4, 4}, {ieNextHopIPv4, 4}, {ieSrcPort, 2}, {ieDstPort, 2},
		{ieProtocol, 1}, {ieTCPFlags, 1}, {ieTOS, 1}, {ieSrcMask, 1}, {ieDstMask, 1}, {ieInIf, 4}, {ieOutIf, 4},
		{ieSrcAS, 4}, {ieDstAS, 4}, {ieOctetDelta, 8}, {iePacketDelta, 8}, {ieStartMs, 8}, {ieEndMs, 8}}
	ipfixFieldsV6 = []ie{{ieSrcIPv6, 16}, {ieDstIPv6, 16}, {ieNextHopIPv6, 16}, {ieSrcPort, 2}, {ieDstPort, 2},
		{ieProtocol, 1}, {ieTCPFlags, 1}, {ieTOS, 1}, {ieSrcMask6, 1}, {ieDstMask6, 1}, {ieInIf, 4}, {ieOutIf, 4},
		{ieSrcAS, 4}, {ieDstAS, 4}, {ieOctetDelta, 8}, {iePacketDelta, 8}, {ieStartMs, 8}, {ieEndMs, 8}}
)

func recordLen(fields []ie) int {
	n := 0
	for _, f := range fields {
		n += int(f.length)
	}
	return n
}

// appendFields appends r's values in the order of fields. v9 times are uptime milliseconds,
// IPFIX times absolute milliseconds.
func appendFields(b []byte, fields []ie, r *flowRecord, boot time.Time) []byte {
	for _, f := range fields {
		switch f.id {
		case ieSrcIPv4:
			b = put4(b, r.src)
		case ieDstIPv4:
			b = put4(b, r.dst)
		case ieNextHopIPv4:
			b = put4(b, r.nextHop)
		case ieSrcIPv6:
			b = put16addr(b, r.src)
		case ieDstIPv6:
			b = put16addr(b, r.dst)
		case ieNextHopIPv6:
			b = put16addr(b, r.nextHop)
		case ieSrcPort:
			b = put16(b, r.srcPort)
		case ieDstPort:
			b = put16(b, r.dstPort)
		case ieProtocol:
			b = append(b, r.proto)
		case ieTCPFlags:
			b = append(b, r.tcpFlags)
		case ieTOS:
			b = append(b, r.tos)
		case ieSrcMask, ieSrcMask6:
			b = append(b, r.srcMask)
		case ieDstMask, ieDstMask6:
			b = append(b, r.dstMask)
		case ieInIf:
			b = put32(b, r.inIf)
		case ieOutIf:
			b = put32(b, r.outIf)
		case ieSrcAS:
			b = put32(b, r.srcAS)
		case ieDstAS:
			b = put32(b, r.dstAS)
		case ieOctetDelta:
			b = put64(b, r.bytes)
		case iePacketDelta:
			b = put64(b, r.packets)
		case ieFirstSwitched:
			b = put32(b, uptimeMs(r.first, boot))
		case ieLastSwitched:
			b = put32(b, uptimeMs(r.last, boot))
		case ieStartMs:
			b = put64(b, uint64(r.first.UnixMilli()))
		case ieEndMs:
			b = put64(b, uint64(r.last.UnixMilli()))
		}
	}
	return b
}

func appendTemplate(b []byte, id uint16, fields []ie) []byte {
	b = put16(b, id)
	b = put16(b, uint16(len(fields)))
	for _, f := range fields {
		b = put16(b, f.id)
		b = put16(b, f.length)
	}
	return b
}

// setLen writes the length of the set that starts at b[at:] into its header.
func setLen(b []byte, at int) { be.PutUint16(b[at+2:], uint16(len(b)-at)) }

// templateEncoder is what v9 and IPFIX share: two data templates (IPv4, IPv6), an options
// template announcing the sampling rate, and datagrams that carry either the templates and
// the options data, or data records.
type templateEncoder struct {
	ipfix        bool
	domain       uint32 // v9 source ID or IPFIX observation domain
	samplingRate uint32 // 1 in N; 0 or 1: unsampled (no options announcement)
	// interval/space: announce the rate as samplingPacketInterval 1 / samplingPacketSpace N-1
	// (IPFIX, RFC 5477) instead of samplingInterval N.
	intervalSpace bool
	seq           uint32 // v9: datagrams sent; IPFIX: data records sent
	fieldsV4      []ie
	fieldsV6      []ie
}

func newV9Encoder(domain, rate uint32) *templateEncoder {
	return &templateEncoder{domain: domain, samplingRate: rate, fieldsV4: v9FieldsV4, fieldsV6: v9FieldsV6}
}

func newIPFIXEncoder(domain, rate uint32, intervalSpace bool) *templateEncoder {
	return &templateEncoder{ipfix: true, domain: domain, samplingRate: rate, intervalSpace: intervalSpace,
		fieldsV4: ipfixFieldsV4, fieldsV6: ipfixFieldsV6}
}

func (e *templateEncoder) header(b []byte, now, boot time.Time, count int) []byte {
	if e.ipfix {
		b = put16(b, 10)
		b = put16(b, 0) // length, set by finish
		b = put32(b, uint32(now.Unix()))
		b = put32(b, e.seq)
		return put32(b, e.domain)
	}
	b = put16(b, 9)
	b = put16(b, uint16(count))
	b = put32(b, uptimeMs(now, boot))
	b = put32(b, uint32(now.Unix()))
	b = put32(b, e.seq)
	return put32(b, e.domain)
}

func (e *templateEncoder) finish(b []byte, start int) []byte {
	if e.ipfix {
		be.PutUint16(b[start+2:], uint16(len(b)-start))
	} else {
		e.seq++
	}
	return b
}

// encodeTemplates appends a datagram announcing the data templates, the options template
// and the options data record with the sampling rate.
func (e *templateEncoder) encodeTemplates(b []byte, now, boot time.Time) []byte {
	start := len(b)
	count := 2
	if e.samplingRate > 1 {
		count += 2
	}
	b = e.header(b, now, boot, count)
	at := len(b)
	tmplSet := uint16(0)
	if e.ipfix {
		tmplSet = 2
	}
	b = put16(b, tmplSet)
	b = put16(b, 0)
	b = appendTemplate(b, tmplV4, e.fieldsV4)
	b = appendTemplate(b, tmplV6, e.fieldsV6)
	setLen(b, at)
	if e.samplingRate > 1 {
		b = e.appendOptions(b)
	}
	return e.finish(b, start)
}

func (e *templateEncoder) appendOptions(b []byte) []byte {
	at := len(b)
	if e.ipfix {
		// Options template set (3): scope observationDomainId, then the sampling fields.
		b = put16(b, 3)
		b = put16(b, 0)
		b = put16(b, tmplOptions)
		if e.intervalSpace {
			b = put16(b, 3)
			b = put16(b, 1)
			b = put16(b, ieObsDomain)
			b = put16(b, 4)
			b = put16(b, iePacketInterval)
			b = put16(b, 4)
			b = put16(b, iePacketSpace)
			b = put16(b, 4)
		} else {
			b = put16(b, 3)
			b = put16(b, 1)
			b = put16(b, ieObsDomain)
			b = put16(b, 4)
			b = put16(b, ieSamplingInterval)
			b = put16(b, 4)
			b = put16(b, ieSamplingAlgo)
			b = put16(b, 1)
		}
		setLen(b, at)
		at = len(b)
		b = put16(b, tmplOptions)
		b = put16(b, 0)
		b = put32(b, e.domain)
		if e.intervalSpace {
			b = put32(b, 1)
			b = put32(b, e.samplingRate-1)
		} else {
			b = put32(b, e.samplingRate)
			b = append(b, 1) // deterministic
		}
		setLen(b, at)
		return b
	}
	// NetFlow v9 options template flowset (1): scope System, sampling interval and algorithm.
	b = put16(b, 1)
	b = put16(b, 0)
	b = put16(b, tmplOptions)
	b = put16(b, 4) // scope length in bytes
	b = put16(b, 8) // options length in bytes
	b = put16(b, v9ScopeSystem)
	b = put16(b, 4)
	b = put16(b, ieSamplingInterval)
	b = put16(b, 4)
	b = put16(b, ieSamplingAlgo)
	b = put16(b, 1)
	b = append(b, 0, 0) // pad to 4 bytes
	setLen(b, at)
	at = len(b)
	b = put16(b, tmplOptions)
	b = put16(b, 0)
	b = put32(b, e.domain)
	b = put32(b, e.samplingRate)
	b = append(b, 1, 0, 0, 0) // deterministic, then padding
	setLen(b, at)
	return b
}

// fit is how many of recs (from the start) fit in one data datagram; recs of one family
// only are taken, so that a datagram carries one data set.
func (e *templateEncoder) fit(recs []flowRecord) int {
	if len(recs) == 0 {
		return 0
	}
	v6 := recs[0].v6()
	fields := e.fieldsV4
	if v6 {
		fields = e.fieldsV6
	}
	room := (maxFlowDatagram - 20 - 4) / recordLen(fields)
	n := 0
	for n < len(recs) && n < room && recs[n].v6() == v6 {
		n++
	}
	return n
}

// encodeData appends one datagram with recs, which must all be of one family (see fit).
func (e *templateEncoder) encodeData(b []byte, now, boot time.Time, recs []flowRecord) []byte {
	start := len(b)
	b = e.header(b, now, boot, len(recs))
	fields, id := e.fieldsV4, uint16(tmplV4)
	if len(recs) > 0 && recs[0].v6() {
		fields, id = e.fieldsV6, tmplV6
	}
	at := len(b)
	b = put16(b, id)
	b = put16(b, 0)
	for k := range recs {
		b = appendFields(b, fields, &recs[k], boot)
	}
	if !e.ipfix {
		for (len(b)-at)%4 != 0 {
			b = append(b, 0)
		}
	}
	setLen(b, at)
	if e.ipfix {
		e.seq += uint32(len(recs))
	}
	return e.finish(b, start)
}

// ---- sFlow v5 ----

// sflowSample is one sampled packet: the flow it belongs to, the frame length, and the
// interfaces it came in and went out on.
type sflowSample struct {
	rec      *flowRecord
	frameLen uint32
	srcMAC   [6]byte
	dstMAC   [6]byte
	source   uint32 // the sampling data source (ifIndex)
	pool     uint32 // packets seen by the data source's sampler so far
}

// ifCounters are the generic interface counters (sFlow counter record 1).
type ifCounters struct {
	index, ifType                                 uint32
	speed                                         uint64
	direction, status                             uint32
	inOctets                                      uint64
	inUcast, inMcast, inBcast, inDisc, inErr, inU uint32
	outOctets                                     uint64
	outUcast, outMcast, outBcast, outDisc, outErr uint32
	promisc                                       uint32
}

const (
	sflowHeaderLen   = 28
	sflowCounterLen  = 8 + 12 + 8 + 88 // sample header, counters_sample fields, record header, if_counters
	sflowMaxHeader   = 128
	sflowFlowFormat  = 1
	sflowCountFormat = 2
)

// sflowEncoder builds sFlow v5 datagrams of flow samples or counter samples.
type sflowEncoder struct {
	agent     netip.Addr // IPv4
	subAgent  uint32
	seq       uint32 // datagrams
	sampleSeq uint32 // flow samples
	countSeq  uint32 // counter samples
	rate      uint32
	hdr       [sflowMaxHeader]byte
}

func (e *sflowEncoder) header(b []byte, uptime uint32, n int) []byte {
	e.seq++
	b = put32(b, 5)
	b = put32(b, 1) // IPv4 agent address
	b = put4(b, e.agent)
	b = put32(b, e.subAgent)
	b = put32(b, e.seq)
	b = put32(b, uptime)
	return put32(b, uint32(n))
}

// flowSampleLen is the encoded length of a flow sample with one raw-header record.
func flowSampleLen(headerLen int) int {
	return 8 + 32 + 8 + 16 + (headerLen+3)&^3
}

// encodeFlows appends a datagram with as many of samples as fit and returns the datagram
// and how many it took.
func (e *sflowEncoder) encodeFlows(b []byte, uptime uint32, samples []sflowSample) ([]byte, int) {
	start := len(b)
	b = e.header(b, uptime, 0)
	n := 0
	for k := range samples {
		s := &samples[k]
		h := buildFrame(e.hdr[:0], s)
		if len(b)-start+flowSampleLen(len(h)) > maxFlowDatagram && n > 0 {
			break
		}
		e.sampleSeq++
		at := len(b)
		b = put32(b, sflowFlowFormat)
		b = put32(b, 0)
		b = put32(b, e.sampleSeq)
		b = put32(b, s.source) // source id type 0 (ifIndex)
		b = put32(b, e.rate)
		b = put32(b, s.pool)
		b = put32(b, 0) // drops
		b = put32(b, s.rec.inIf)
		b = put32(b, s.rec.outIf)
		b = put32(b, 1) // one record
		b = put32(b, 1) // raw packet header
		b = put32(b, uint32(16+(len(h)+3)&^3))
		b = put32(b, 1) // ethernet
		b = put32(b, s.frameLen)
		b = put32(b, 4) // FCS stripped
		b = put32(b, uint32(len(h)))
		b = append(b, h...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
		be.PutUint32(b[at+4:], uint32(len(b)-at-8))
		n++
	}
	be.PutUint32(b[start+24:], uint32(n))
	return b, n
}

// encodeCounters appends a datagram with as many of cs as fit.
func (e *sflowEncoder) encodeCounters(b []byte, uptime uint32, cs []ifCounters) ([]byte, int) {
	start := len(b)
	b = e.header(b, uptime, 0)
	n := 0
	for k := range cs {
		if len(b)-start+sflowCounterLen > maxFlowDatagram {
			break
		}
		c := &cs[k]
		e.countSeq++
		b = put32(b, sflowCountFormat)
		b = put32(b, sflowCounterLen-8)
		b = put32(b, e.countSeq)
		b = put32(b, c.index)
		b = put32(b, 1)  // one record
		b = put32(b, 1)  // generic interface counters
		b = put32(b, 88) // its length
		b = put32(b, c.index)
		b = put32(b, c.ifType)
		b = put64(b, c.speed)
		b = put32(b, c.direction)
		b = put32(b, c.status)
		b = put64(b, c.inOctets)
		for _, v := range [...]uint32{c.inUcast, c.inMcast, c.inBcast, c.inDisc, c.inErr, c.inU} {
			b = put32(b, v)
		}
		b = put64(b, c.outOctets)
		for _, v := range [...]uint32{c.outUcast, c.outMcast, c.outBcast, c.outDisc, c.outErr, c.promisc} {
			b = put32(b, v)
		}
		n++
	}
	be.PutUint32(b[start+24:], uint32(n))
	return b, n
}

// buildFrame writes the first bytes of the sampled frame: Ethernet, IPv4 or IPv6, and the
// TCP or UDP header, with length fields that describe the whole frame.
func buildFrame(h []byte, s *sflowSample) []byte {
	r := s.rec
	h = append(h, s.dstMAC[:]...)
	h = append(h, s.srcMAC[:]...)
	ipLen := int(s.frameLen) - 18 // less Ethernet header and FCS
	l4 := 20
	if r.proto != 6 {
		l4 = 8
	}
	if r.v6() {
		h = put16(h, 0x86dd)
		h = append(h, 0x60|r.tos>>4, r.tos<<4, 0, 0)
		h = put16(h, uint16(max(ipLen-40, l4)))
		h = append(h, r.proto, 64)
		h = put16addr(h, r.src)
		h = put16addr(h, r.dst)
	} else {
		h = put16(h, 0x0800)
		at := len(h)
		h = append(h, 0x45, r.tos)
		h = put16(h, uint16(max(ipLen, 20+l4)))
		h = append(h, 0, 0, 0x40, 0, 64, r.proto, 0, 0)
		h = put4(h, r.src)
		h = put4(h, r.dst)
		var sum uint32
		for k := at; k < at+20; k += 2 {
			sum += uint32(be.Uint16(h[k:]))
		}
		for sum > 0xffff {
			sum = sum&0xffff + sum>>16
		}
		be.PutUint16(h[at+10:], ^uint16(sum))
	}
	h = put16(h, r.srcPort)
	h = put16(h, r.dstPort)
	if r.proto == 6 {
		h = append(h, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, r.tcpFlags, 0xff, 0xff, 0, 0, 0, 0)
	} else {
		h = put16(h, uint16(max(ipLen-20, 8)))
		h = append(h, 0, 0)
	}
	return h
}
