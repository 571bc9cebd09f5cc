package decoder

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"time"

	"github.com/netsampler/goflow2/v2/decoders/netflow"
	"github.com/netsampler/goflow2/v2/decoders/netflowlegacy"

	"github.com/watchfloor/watchfloor"
)

const (
	v5HeaderLen   = 24
	v5RecordLen   = 48
	v9HeaderLen   = 20
	ipfixHeaderLn = 16
)

// DecodeNetFlow decodes a NetFlow v5, v9 or IPFIX datagram, told apart by the version
// field, and appends its flow records to out. Data sets whose template is not known yet are
// held and decoded when it arrives (from a later call, with their own Received time). On
// error, out may still have gained the records decoded before the failure.
func (d *Decoder) DecodeNetFlow(dg Datagram, out *Output) error {
	p := dg.Payload
	if len(p) < 2 {
		return d.fail(0, ReasonShort, ErrShort)
	}
	d.beginDatagram()
	switch v := binary.BigEndian.Uint16(p); v {
	case 5:
		return d.decodeV5(dg, out)
	case 9, 10:
		return d.decodeTemplated(dg, v, out)
	default:
		return d.fail(0, ReasonVersion, fmt.Errorf("%w %d", ErrVersion, v))
	}
}

// decodeV5 decodes NetFlow v5 with goflow2's netflowlegacy.
func (d *Decoder) decodeV5(dg Datagram, out *Output) error {
	const proto = watchfloor.FlowNetFlowV5
	p := dg.Payload
	if len(p) < v5HeaderLen {
		return d.fail(proto, ReasonShort, ErrShort)
	}
	// goflow2 allocates as many records as the header counts (up to 65535) and leaves the
	// ones missing from the datagram zero: give it the count that is really there.
	count := int(binary.BigEndian.Uint16(p[2:]))
	have := (len(p) - v5HeaderLen) / v5RecordLen
	var truncated error
	if count > have {
		truncated = d.fail(proto, ReasonTruncated, fmt.Errorf("%w: %d records announced, %d present", ErrTruncated, count, have))
		d.scratch = append(d.scratch[:0], p[:v5HeaderLen+have*v5RecordLen]...)
		binary.BigEndian.PutUint16(d.scratch[2:], uint16(have))
		p = d.scratch
		count = have
	}
	d.rd.Reset()
	d.rd.Write(p)
	d.v5 = netflowlegacy.PacketNetFlowV5{}
	if err := d.callV5(); err != nil {
		if errors.Is(err, ErrPanic) {
			return d.fail(proto, ReasonPanic, err)
		}
		return d.fail(proto, ReasonMalformed, fmt.Errorf("%w: %w", ErrMalformed, err))
	}
	pk := &d.v5
	exp := dg.Exporter.Addr().Unmap()
	recv := received(dg)
	rate := uint32(pk.SamplingInterval & 0x3fff)
	if rate == 0 {
		rate = d.configuredRate(exp)
	}
	export := time.Unix(int64(pk.UnixSecs), int64(pk.UnixNSecs))
	for i := range min(count, len(pk.Records)) {
		r := &pk.Records[i]
		out.Flows = append(out.Flows, watchfloor.Flow{
			Received:     recv,
			Start:        uptimeTime(export, pk.SysUptime, r.First),
			End:          uptimeTime(export, pk.SysUptime, r.Last),
			Exporter:     exp,
			ObsDomain:    uint32(pk.EngineType)<<8 | uint32(pk.EngineId),
			Protocol:     proto,
			SamplingRate: rate,
			SrcAddr:      v4(uint32(r.SrcAddr)),
			DstAddr:      v4(uint32(r.DstAddr)),
			SrcPort:      r.SrcPort,
			DstPort:      r.DstPort,
			Proto:        r.Proto,
			TCPFlags:     r.TCPFlags,
			InIf:         uint32(r.Input),
			OutIf:        uint32(r.Output),
			SrcAS:        uint32(r.SrcAS),
			DstAS:        uint32(r.DstAS),
			Bytes:        uint64(r.DOctets) * uint64(rate),
			Packets:      uint64(r.DPkts) * uint64(rate),
		})
	}
	d.m.recordsBy[proto].Add(float64(min(count, len(pk.Records))))
	return truncated
}

func (d *Decoder) callV5() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrPanic, r)
		}
	}()
	return netflowlegacy.DecodeMessageVersion(&d.rd, &d.v5)
}

func (d *Decoder) callTemplated() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrPanic, r)
		}
	}()
	return netflow.DecodeMessageVersion(&d.rd, &d.ts, &d.nf9, &d.ipfix)
}

func (d *Decoder) callFlowSet(version uint16, domain uint32) (fs any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrPanic, r)
		}
	}()
	return netflow.DecodeMessageCommonFlowSet(&d.pend, &d.ts, domain, version)
}

// uptimeTime is the time of an event stamped in exporter uptime milliseconds, from a header
// that gives both the export time and the uptime then. Both wrap after 49.7 days: the
// difference is taken modulo 2^32, as a signed offset.
func uptimeTime(export time.Time, sysUptime, at uint32) time.Time {
	return export.Add(-time.Duration(int32(sysUptime-at)) * time.Millisecond)
}

func v4(a uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)})
}

// decodeTemplated decodes NetFlow v9 or IPFIX with goflow2's netflow decoder and our
// per-exporter template store.
func (d *Decoder) decodeTemplated(dg Datagram, version uint16, out *Output) error {
	proto := watchfloor.FlowNetFlowV9
	hlen := v9HeaderLen
	if version == 10 {
		proto, hlen = watchfloor.FlowIPFIX, ipfixHeaderLn
	}
	p := dg.Payload
	if len(p) < hlen {
		return d.fail(proto, ReasonShort, ErrShort)
	}
	hdr := packetHeader{received: received(dg), exporter: dg.Exporter.Addr().Unmap(), version: version}
	if version == 9 {
		hdr.sysUptime = binary.BigEndian.Uint32(p[4:])
		hdr.unixSecs = binary.BigEndian.Uint32(p[8:])
		hdr.domain = binary.BigEndian.Uint32(p[16:])
	} else {
		hdr.unixSecs = binary.BigEndian.Uint32(p[4:])
		hdr.seq = binary.BigEndian.Uint32(p[8:])
		hdr.domain = binary.BigEndian.Uint32(p[12:])
	}
	d.ts.begin(hdr.exporter, hdr.received, hdr.mark())
	if d.t.observe(d.ts.st, domainKey{version: version, domain: hdr.domain}, hdr.mark()) {
		d.restart(proto, &hdr)
	}
	return d.decodeSets(p, &hdr, proto, out, true)
}

// restart forgets what the exporter's domain of hdr said before it restarted, and counts it.
func (d *Decoder) restart(proto watchfloor.FlowProtocol, hdr *packetHeader) {
	d.t.restart(hdr)
	d.m.restartsBy[proto].Inc()
	d.lastValid = false
}

// decodeSets decodes the sets of a NetFlow v9 or IPFIX datagram p, d.ts begun for it. When
// detect is set, options data stating a boot time other than the one known is a restart: the
// domain's state is dropped and the datagram decoded again, its data with the templates it
// brings (the first pass read them with the templates of before, and has not mapped them yet).
func (d *Decoder) decodeSets(p []byte, hdr *packetHeader, proto watchfloor.FlowProtocol, out *Output, detect bool) error {
	version := hdr.version
	d.rd.Reset()
	d.rd.Write(p)
	if version == 9 {
		// The v9 header counts records (RFC 3954 §5.1), but goflow2 stops after that many
		// sets, and exporters count differently (softflowd counts data records only): let
		// it read every set of the datagram.
		binary.BigEndian.PutUint16(d.rd.Bytes()[2:], 0xffff)
	}
	d.nf9 = netflow.NFv9Packet{}
	d.ipfix = netflow.IPFIXPacket{}
	err := d.callTemplated()
	sets := d.nf9.FlowSets
	if version == 10 {
		sets = d.ipfix.FlowSets
	}
	// Options first, so that a sampling rate sent in the same datagram applies to its data.
	for _, s := range sets {
		if o, ok := s.(netflow.OptionsDataFlowSet); ok {
			if d.learnOptions(hdr, o.Records, detect) {
				d.restart(proto, hdr)
				d.ts.begin(hdr.exporter, hdr.received, hdr.mark())
				return d.decodeSets(p, hdr, proto, out, false)
			}
		}
	}
	var failed error
	switch {
	case err == nil, errors.Is(err, netflow.ErrorTemplateNotFound):
		// Data sets for unknown templates are RawFlowSets below: held, not errors.
	case errors.Is(err, ErrPanic):
		failed = d.fail(proto, ReasonPanic, err)
	default:
		failed = d.fail(proto, ReasonMalformed, fmt.Errorf("%w: %w", ErrMalformed, err))
	}
	if d.ts.refused > 0 {
		d.m.decodeError(proto, ReasonTemplateLimit)
	}
	n := len(out.Flows)
	for _, s := range sets {
		switch s := s.(type) {
		case netflow.DataFlowSet:
			d.mapDataSet(hdr, proto, s.Records, out)
		case netflow.RawFlowSet:
			// Its template is unknown: keep the set (header included) for when it comes.
			if int(s.Length) == len(s.Records)+4 {
				d.scratch = binary.BigEndian.AppendUint16(d.scratch[:0], s.Id)
				d.scratch = binary.BigEndian.AppendUint16(d.scratch, s.Length)
				d.scratch = append(d.scratch, s.Records...)
				d.t.hold(tmplKey{version: version, domain: hdr.domain, id: s.Id}, *hdr, d.scratch)
			} else {
				d.m.decodeError(proto, ReasonTruncated)
			}
		}
	}
	d.m.recordsBy[proto].Add(float64(len(out.Flows) - n))
	if len(d.ts.added) > 0 && d.t.hasPending(d.t.state(hdr.exporter)) {
		d.decodePending(hdr.exporter, proto, hdr.received, out)
	}
	return failed
}

// decodePending decodes the held data sets of the templates the last datagram brought.
func (d *Decoder) decodePending(exp netip.Addr, proto watchfloor.FlowProtocol, now time.Time, out *Output) {
	d.pending = d.pending[:0]
	for _, k := range d.ts.added {
		d.pending = d.t.take(exp, k, now, d.pending)
	}
	n := len(out.Flows)
	for i := range d.pending {
		p := &d.pending[i]
		d.pend.Reset()
		d.pend.Write(p.data)
		fs, err := d.callFlowSet(p.key.version, p.key.domain)
		switch s := fs.(type) {
		case netflow.DataFlowSet:
			d.mapDataSet(&p.hdr, proto, s.Records, out)
			d.m.pendingDecoded.Inc()
		case netflow.OptionsDataFlowSet:
			d.learnOptions(&p.hdr, s.Records, false)
			d.m.pendingDecoded.Inc()
		default:
			_ = err
			d.m.droppedBy[DroppedBroken].Inc()
		}
		*p = pendingSet{}
	}
	d.m.recordsBy[proto].Add(float64(len(out.Flows) - n))
}

// uintValue reads a big-endian unsigned field of any length; longer than 8 bytes keeps the
// low-order 8.
func uintValue(b []byte) uint64 {
	if len(b) > 8 {
		b = b[len(b)-8:]
	}
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v
}

// Information elements used (IANA IPFIX numbering, which NetFlow v9 shares for these).
const (
	ieOctetDelta        = 1
	iePacketDelta       = 2
	ieProtocol          = 4
	ieTCPFlags          = 6
	ieSrcPort           = 7
	ieSrcIPv4           = 8
	ieInIf              = 10
	ieDstPort           = 11
	ieDstIPv4           = 12
	ieOutIf             = 14
	ieSrcAS             = 16
	ieDstAS             = 17
	ieLastSwitched      = 21 // v9 LAST_SWITCHED, IPFIX flowEndSysUpTime
	ieFirstSwitched     = 22 // v9 FIRST_SWITCHED, IPFIX flowStartSysUpTime
	iePostOctetDelta    = 23
	iePostPacketDelta   = 24
	ieSrcIPv6           = 27
	ieDstIPv6           = 28
	ieICMPTypeCodeV4    = 32
	ieSamplingInterval  = 34
	ieSamplerID         = 48
	ieSamplerRandom     = 50
	ieVLAN              = 58
	iePostVLAN          = 59
	ieOctetTotal        = 85
	iePacketTotal       = 86
	ieICMPTypeCodeV6    = 139
	ieStartSeconds      = 150
	ieEndSeconds        = 151
	ieStartMillis       = 152
	ieEndMillis         = 153
	ieStartMicros       = 154
	ieEndMicros         = 155
	ieStartNanos        = 156
	ieEndNanos          = 157
	ieStartDeltaMicros  = 158
	ieEndDeltaMicros    = 159
	ieSystemInitMillis  = 160
	ieDot1qVLAN         = 243
	ieInPhysIf          = 252
	ieOutPhysIf         = 253
	ieSelectorID        = 302
	iePacketInterval    = 305
	iePacketSpace       = 306
	ieSamplingSize      = 309
	ieSamplingPopulated = 310
)

// sampling gathers the fields that state a sampling rate, in a data or an options record.
type sampling struct {
	interval, random, pktInterval, pktSpace, size, population uint64
	samplerID                                                 uint64
	hasID                                                     bool
}

func (s *sampling) field(t uint16, b []byte) bool {
	switch t {
	case ieSamplingInterval:
		s.interval = uintValue(b)
	case ieSamplerRandom:
		s.random = uintValue(b)
	case iePacketInterval:
		s.pktInterval = uintValue(b)
	case iePacketSpace:
		s.pktSpace = uintValue(b)
	case ieSamplingSize:
		s.size = uintValue(b)
	case ieSamplingPopulated:
		s.population = uintValue(b)
	case ieSamplerID, ieSelectorID:
		s.samplerID, s.hasID = uintValue(b), true
	default:
		return false
	}
	return true
}

// rate is the 1-in-N rate the fields state, 0 when they state none.
func (s *sampling) rate() uint32 {
	r := uint64(0)
	switch {
	case s.interval > 0:
		r = s.interval
	case s.random > 0:
		r = s.random
	case s.pktInterval > 0:
		// n packets selected, then m skipped: 1 in (n+m)/n.
		r = (s.pktInterval + s.pktSpace) / s.pktInterval
	case s.size > 0 && s.population >= s.size:
		r = s.population / s.size
	}
	return uint32(min(r, 1<<32-1))
}

// learnOptions remembers the sampling rates and the system init time stated by options
// data records, scoped by sampler ID or domain-wide. When detect is set, it stops and says so
// at a system init time more than sysInitSlack away from the one known: the exporter
// restarted.
func (d *Decoder) learnOptions(h *packetHeader, records []netflow.OptionsDataRecord, detect bool) bool {
	for i := range records {
		var s sampling
		var init uint64
		for _, vals := range [2][]netflow.DataField{records[i].ScopesValues, records[i].OptionsValues} {
			for j := range vals {
				v := &vals[j]
				b, ok := v.Value.([]byte)
				if !ok || v.PenProvided {
					continue
				}
				if !s.field(v.Type, b) && v.Type == ieSystemInitMillis {
					init = uintValue(b)
				}
			}
		}
		if r := s.rate(); r > 0 {
			key := samplerKey{version: h.version, domain: h.domain, id: s.samplerID, hasID: s.hasID}
			d.t.setSampler(h, key, r)
			d.lastValid = false
		}
		if init > 0 {
			key := domainKey{version: h.version, domain: h.domain}
			boot := time.UnixMilli(int64(min(init, math.MaxInt64)))
			if detect {
				if known, ok := d.t.sysInit(d.t.state(h.exporter), key, h.received); ok {
					if delta := boot.Sub(known); delta > sysInitSlack || delta < -sysInitSlack {
						return true
					}
				}
			}
			d.t.setSysInit(h, key, boot)
		}
	}
	return false
}

// rateFor is the sampling rate of a data record that states none itself: the rate learnt
// from options for its sampler, else the domain-wide one, else the configured one.
func (d *Decoder) rateFor(h *packetHeader, st *exporterState, s *sampling) uint32 {
	key := samplerKey{version: h.version, domain: h.domain, id: s.samplerID, hasID: s.hasID}
	if d.lastValid && d.lastSampler == key {
		return d.lastRate
	}
	r, ok := d.t.sampler(st, key, h.received)
	if !ok && key.hasID {
		r, ok = d.t.sampler(st, samplerKey{version: h.version, domain: h.domain}, h.received)
	}
	if !ok || r == 0 {
		r = d.configuredRate(h.exporter)
	}
	d.lastSampler, d.lastRate, d.lastValid = key, r, true
	return r
}

// times gathers the time fields of a record.
type times struct {
	startUp, endUp         uint32 // uptime milliseconds (v9) or since system init (IPFIX)
	hasStartUp, hasEndUp   bool
	start, end             time.Time // absolute
	startDelta, endDelta   uint32    // microseconds before the export time
	hasStartDel, hasEndDel bool
	sysInit                uint64
}

func ntpTime(v uint64) time.Time {
	const ntpToUnix = 2208988800
	secs := int64(v>>32) - ntpToUnix
	nanos := (v & 0xffffffff) * 1e9 >> 32
	return time.Unix(secs, int64(nanos))
}

func (t *times) field(typ uint16, b []byte) bool {
	switch typ {
	case ieFirstSwitched:
		t.startUp, t.hasStartUp = uint32(uintValue(b)), true
	case ieLastSwitched:
		t.endUp, t.hasEndUp = uint32(uintValue(b)), true
	case ieStartSeconds:
		t.start = time.Unix(int64(uintValue(b)), 0)
	case ieEndSeconds:
		t.end = time.Unix(int64(uintValue(b)), 0)
	case ieStartMillis:
		t.start = time.UnixMilli(int64(uintValue(b)))
	case ieEndMillis:
		t.end = time.UnixMilli(int64(uintValue(b)))
	case ieStartMicros, ieStartNanos:
		t.start = ntpTime(uintValue(b))
	case ieEndMicros, ieEndNanos:
		t.end = ntpTime(uintValue(b))
	case ieStartDeltaMicros:
		t.startDelta, t.hasStartDel = uint32(uintValue(b)), true
	case ieEndDeltaMicros:
		t.endDelta, t.hasEndDel = uint32(uintValue(b)), true
	case ieSystemInitMillis:
		t.sysInit = uintValue(b)
	default:
		return false
	}
	return true
}

// resolve sets f.Start and f.End from the fields, the header and what options said; what is
// not stated stays f.Received.
func (d *Decoder) resolve(t *times, h *packetHeader, st *exporterState, f *watchfloor.Flow) {
	f.Start, f.End = f.Received, f.Received
	export := time.Unix(int64(h.unixSecs), 0)
	if t.hasStartUp || t.hasEndUp {
		if h.version == 9 {
			if t.hasStartUp {
				f.Start = uptimeTime(export, h.sysUptime, t.startUp)
			}
			if t.hasEndUp {
				f.End = uptimeTime(export, h.sysUptime, t.endUp)
			}
		} else {
			init, ok := time.UnixMilli(int64(t.sysInit)), t.sysInit > 0
			if !ok {
				init, ok = d.t.sysInit(st, domainKey{version: h.version, domain: h.domain}, h.received)
			}
			if ok {
				if t.hasStartUp {
					f.Start = init.Add(time.Duration(t.startUp) * time.Millisecond)
				}
				if t.hasEndUp {
					f.End = init.Add(time.Duration(t.endUp) * time.Millisecond)
				}
			}
		}
	}
	if t.hasStartDel {
		f.Start = export.Add(-time.Duration(t.startDelta) * time.Microsecond)
	}
	if t.hasEndDel {
		f.End = export.Add(-time.Duration(t.endDelta) * time.Microsecond)
	}
	if !t.start.IsZero() {
		f.Start = t.start
	}
	if !t.end.IsZero() {
		f.End = t.end
	}
}

// mapDataSet turns the data records of one set into flows.
func (d *Decoder) mapDataSet(h *packetHeader, proto watchfloor.FlowProtocol, records []netflow.DataRecord, out *Output) {
	st := d.ts.st
	if st == nil || st.removed.Load() {
		st = d.t.state(h.exporter)
	}
	for i := range records {
		vals := records[i].Values
		if len(vals) == 0 {
			continue
		}
		f := watchfloor.Flow{
			Received:  h.received,
			Exporter:  h.exporter,
			ObsDomain: h.domain,
			Protocol:  proto,
		}
		var (
			s                                  sampling
			t                                  times
			octets, pkts                       uint64
			octetsTot, pktsTot, postOct, postP uint64
			hasOct, hasPkts, hasOctTot         bool
			hasPktsTot                         bool
			vlan, dot1q, postVLAN              uint16
			physIn, physOut                    uint32
			icmp                               uint16
		)
		for j := range vals {
			v := &vals[j]
			b, ok := v.Value.([]byte)
			if !ok || v.PenProvided {
				continue
			}
			switch v.Type {
			case ieOctetDelta:
				octets, hasOct = uintValue(b), true
			case iePacketDelta:
				pkts, hasPkts = uintValue(b), true
			case ieOctetTotal:
				octetsTot, hasOctTot = uintValue(b), true
			case iePacketTotal:
				pktsTot, hasPktsTot = uintValue(b), true
			case iePostOctetDelta:
				postOct = uintValue(b)
			case iePostPacketDelta:
				postP = uintValue(b)
			case ieProtocol:
				f.Proto = uint8(uintValue(b))
			case ieTCPFlags:
				f.TCPFlags = uint8(uintValue(b))
			case ieSrcPort:
				f.SrcPort = uint16(uintValue(b))
			case ieDstPort:
				f.DstPort = uint16(uintValue(b))
			case ieSrcIPv4:
				if len(b) == 4 {
					f.SrcAddr = netip.AddrFrom4([4]byte(b))
				}
			case ieDstIPv4:
				if len(b) == 4 {
					f.DstAddr = netip.AddrFrom4([4]byte(b))
				}
			case ieSrcIPv6:
				if len(b) == 16 {
					f.SrcAddr = netip.AddrFrom16([16]byte(b))
				}
			case ieDstIPv6:
				if len(b) == 16 {
					f.DstAddr = netip.AddrFrom16([16]byte(b))
				}
			case ieInIf:
				f.InIf = uint32(uintValue(b))
			case ieOutIf:
				f.OutIf = uint32(uintValue(b))
			case ieInPhysIf:
				physIn = uint32(uintValue(b))
			case ieOutPhysIf:
				physOut = uint32(uintValue(b))
			case ieSrcAS:
				f.SrcAS = uint32(uintValue(b))
			case ieDstAS:
				f.DstAS = uint32(uintValue(b))
			case ieVLAN:
				vlan = uint16(uintValue(b)) & 0xfff
			case iePostVLAN:
				postVLAN = uint16(uintValue(b)) & 0xfff
			case ieDot1qVLAN:
				dot1q = uint16(uintValue(b)) & 0xfff
			case ieICMPTypeCodeV4, ieICMPTypeCodeV6:
				icmp = uint16(uintValue(b))
			default:
				if !s.field(v.Type, b) {
					t.field(v.Type, b)
				}
			}
		}
		switch {
		case hasOct:
		case hasOctTot:
			octets = octetsTot
		default:
			octets = postOct
		}
		switch {
		case hasPkts:
		case hasPktsTot:
			pkts = pktsTot
		default:
			pkts = postP
		}
		switch {
		case vlan != 0:
			f.VLAN = vlan
		case dot1q != 0:
			f.VLAN = dot1q
		default:
			f.VLAN = postVLAN
		}
		if f.InIf == 0 {
			f.InIf = physIn
		}
		if f.OutIf == 0 {
			f.OutIf = physOut
		}
		if f.DstPort == 0 && icmp != 0 && (f.Proto == 1 || f.Proto == 58) {
			f.DstPort = icmp // type<<8 | code, where NetFlow v5 and v9 exporters put it
		}
		rate := s.rate()
		if rate == 0 {
			rate = d.rateFor(h, st, &s)
		}
		f.SamplingRate = rate
		f.Bytes = octets * uint64(rate)
		f.Packets = pkts * uint64(rate)
		d.resolve(&t, h, st, &f)
		out.Flows = append(out.Flows, f)
	}
}
