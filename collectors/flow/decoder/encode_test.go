package decoder

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// Encoders of test datagrams, built by hand to exercise what real exporters in the peer
// tests do not send (options-based sampling, template abuse, sFlow counters and QinQ).

type field struct{ typ, length uint16 }

// be appends values big-endian: uint8/16/32/64, netip.Addr, []byte.
func be(vals ...any) []byte {
	var b []byte
	for _, v := range vals {
		switch v := v.(type) {
		case uint8:
			b = append(b, v)
		case uint16:
			b = binary.BigEndian.AppendUint16(b, v)
		case uint32:
			b = binary.BigEndian.AppendUint32(b, v)
		case uint64:
			b = binary.BigEndian.AppendUint64(b, v)
		case int:
			b = binary.BigEndian.AppendUint32(b, uint32(v))
		case netip.Addr:
			b = append(b, v.AsSlice()...)
		case []byte:
			b = append(b, v...)
		default:
			panic(fmt.Sprintf("be: %T", v))
		}
	}
	return b
}

// set is a v9/IPFIX set: ID, length, body.
func set(id uint16, body ...[]byte) []byte {
	n := 4
	for _, b := range body {
		n += len(b)
	}
	out := be(id, uint16(n))
	for _, b := range body {
		out = append(out, b...)
	}
	return out
}

func templateRecord(id uint16, fields ...field) []byte {
	b := be(id, uint16(len(fields)))
	for _, f := range fields {
		b = append(b, be(f.typ, f.length)...)
	}
	return b
}

// ipfixOptionsTemplate is an IPFIX options template record: the first scopes fields are
// scope fields.
func ipfixOptionsTemplate(id uint16, scopes int, fields ...field) []byte {
	b := be(id, uint16(len(fields)), uint16(scopes))
	for _, f := range fields {
		b = append(b, be(f.typ, f.length)...)
	}
	return b
}

// v9OptionsTemplate is a NetFlow v9 options template record.
func v9OptionsTemplate(id uint16, scopes, options []field) []byte {
	b := be(id, uint16(4*len(scopes)), uint16(4*len(options)))
	for _, f := range append(scopes, options...) {
		b = append(b, be(f.typ, f.length)...)
	}
	return b
}

func ipfixMessage(domain, exportSecs uint32, sets ...[]byte) []byte {
	return ipfixMessageSeq(domain, exportSecs, 1, sets...)
}

// ipfixMessageSeq is an IPFIX message with the sequence number seq.
func ipfixMessageSeq(domain, exportSecs, seq uint32, sets ...[]byte) []byte {
	n := 16
	for _, s := range sets {
		n += len(s)
	}
	b := be(uint16(10), uint16(n), exportSecs, seq, domain)
	for _, s := range sets {
		b = append(b, s...)
	}
	return b
}

func v9Message(domain, uptimeMs, unixSecs uint32, sets ...[]byte) []byte {
	b := be(uint16(9), uint16(len(sets)), uptimeMs, unixSecs, uint32(1), domain)
	for _, s := range sets {
		b = append(b, s...)
	}
	return b
}

// v5Record is one NetFlow v5 record.
type v5Record struct {
	src, dst     netip.Addr
	in, out      uint16
	pkts, octets uint32
	first, last  uint32
	sport, dport uint16
	flags, proto uint8
	srcAS, dstAS uint16
}

func v5Message(uptimeMs, unixSecs, nsecs uint32, sampling uint16, recs ...v5Record) []byte {
	b := be(uint16(5), uint16(len(recs)), uptimeMs, unixSecs, nsecs, uint32(0), uint8(1), uint8(2), sampling)
	for _, r := range recs {
		b = append(b, be(r.src, r.dst, netip.MustParseAddr("0.0.0.0"), r.in, r.out, r.pkts, r.octets, r.first, r.last,
			r.sport, r.dport, uint8(0), r.flags, r.proto, uint8(0), r.srcAS, r.dstAS, uint8(24), uint8(24), uint16(0))...)
	}
	return b
}

// sFlow v5.

func sflowDatagram(subAgent uint32, samples ...[]byte) []byte {
	b := be(5, 1, netip.MustParseAddr("192.0.2.1"), subAgent, 1, 1000, len(samples))
	for _, s := range samples {
		b = append(b, s...)
	}
	return b
}

// xdrPad pads to a multiple of 4 bytes.
func xdrPad(b []byte) []byte {
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func sflowRecord(format int, body []byte) []byte {
	body = xdrPad(body)
	return append(be(format, len(body)), body...)
}

func sflowFlowSample(rate, input, output uint32, records ...[]byte) []byte {
	body := be(1, 3, rate, 100, 0, input, output, len(records))
	for _, r := range records {
		body = append(body, r...)
	}
	return append(be(1, len(body)), body...)
}

func sflowExpandedFlowSample(rate, input, output uint32, count int, records ...[]byte) []byte {
	body := be(1, 0, 3, rate, 100, 0, 0, input, 0, output, count)
	for _, r := range records {
		body = append(body, r...)
	}
	return append(be(3, len(body)), body...)
}

func sflowSampledHeader(frameLen int, frame []byte) []byte {
	return sflowRecord(1, append(be(1, frameLen, 4, len(frame)), frame...))
}

func sflowCounterSample(records ...[]byte) []byte {
	body := be(1, 5, len(records))
	for _, r := range records {
		body = append(body, r...)
	}
	return append(be(2, len(body)), body...)
}

type ifCounters struct {
	index, status                       uint32
	speed, inOctets, outOctets          uint64
	inUcast, inMcast, inBcast, inDisc   uint32
	inErr, outUcast, outMcast, outBcast uint32
	outDisc, outErr                     uint32
}

func sflowIfCounters(c ifCounters) []byte {
	return sflowRecord(1, be(c.index, uint32(6), c.speed, uint32(1), c.status, c.inOctets, c.inUcast, c.inMcast, c.inBcast,
		c.inDisc, c.inErr, uint32(0), c.outOctets, c.outUcast, c.outMcast, c.outBcast, c.outDisc, c.outErr, uint32(0)))
}
