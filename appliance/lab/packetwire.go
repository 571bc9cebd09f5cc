package lab

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// packetwire.go writes the mirror port's frames byte by byte into a reused buffer:
// Ethernet, an optional 802.1Q tag, IPv4 or IPv6, then TCP, UDP, ICMP or ICMPv6 with their
// checksums. Payloads come from templates built once (packettmpl.go) or from a scratch
// buffer the caller filled; nothing here allocates.

// Sizes of the headers the lab writes.
const (
	ethLen     = 14
	dot1qLen   = 4
	ip4Len     = 20
	ip6Len     = 40
	tcpLen     = 20
	tcpSynOpts = 12 // MSS, NOP, window scale, NOP, NOP, SACK permitted
	maxFrame   = ethLen + dot1qLen + 1500
	minFrame   = 60 // without the FCS
	mss4       = 1460
	mss6       = 1440
	maxSeg4    = 1500 - ip4Len - tcpLen // the largest TCP payload of a segment (no options)
	maxSeg6    = 1500 - ip6Len - tcpLen
)

// TCP flags.
const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpPSH = 0x08
	tcpACK = 0x10
)

// The two ends of the SPAN'd transit link: core-r1's xe-0/1/4 (replaced by the site's
// own MAC in newPacketGen) and the provider's router.
var (
	defaultEdgeMAC = [6]byte{0x2c, 0x6b, 0xf5, 0x00, 0x01, 0x04}
	providerMAC    = [6]byte{0x00, 0x00, 0x5e, 0x00, 0x53, 0x01} // RFC 7042 documentation MAC
)

// pkt is one frame to write: what differs between frames. The zero value of the optional
// fields means "none".
type pkt struct {
	out      bool   // from the site to the outside (decides the MACs)
	vlan     uint16 // 802.1Q VLAN ID, 0: untagged
	src, dst netip.Addr
	proto    uint8 // 6, 17, 1 (ICMP) or 58 (ICMPv6)
	ttl      uint8
	ipid     uint16 // IPv4 identification
	flow     uint32 // IPv6 flow label (20 bits)

	sport, dport uint16 // TCP and UDP ports; ICMP echo: identifier, sequence number
	flags        uint8
	seq, ack     uint32
	win          uint16
	synOpts      bool // TCP: MSS and friends, on SYN and SYN-ACK

	icmpType, icmpCode uint8

	hdr     []byte // payload: hdr, then body, then fill bytes of filler
	body    []byte
	fill    int
	fillOff int // where in the filler the fill starts
}

// payloadLen is the length of p's L4 payload.
func (p *pkt) payloadLen() int { return len(p.hdr) + len(p.body) + p.fill }

// writeFrame writes p into b[:0] (which must have room for maxFrame bytes) and returns the
// frame. filler is the pseudo-random payload fill comes from.
func writeFrame(b []byte, p *pkt, edgeMAC *[6]byte, filler []byte) []byte {
	b = b[:0]
	if p.out {
		b = append(b, providerMAC[:]...)
		b = append(b, edgeMAC[:]...)
	} else {
		b = append(b, edgeMAC[:]...)
		b = append(b, providerMAC[:]...)
	}
	v6 := p.src.Is6()
	if p.vlan != 0 {
		b = binary.BigEndian.AppendUint16(b, 0x8100)
		b = binary.BigEndian.AppendUint16(b, p.vlan&0x0fff)
	}
	if v6 {
		b = binary.BigEndian.AppendUint16(b, 0x86dd)
	} else {
		b = binary.BigEndian.AppendUint16(b, 0x0800)
	}
	l3 := len(b)
	if v6 {
		b = binary.BigEndian.AppendUint32(b, 6<<28|p.flow&0xfffff)
		b = append(b, 0, 0, p.proto, p.ttl) // payload length, next header, hop limit
		s, d := p.src.As16(), p.dst.As16()
		b = append(b, s[:]...)
		b = append(b, d[:]...)
	} else {
		var frag uint16
		if p.proto == 6 {
			frag = 0x4000 // DF
		}
		b = append(b, 0x45, 0, 0, 0)
		b = binary.BigEndian.AppendUint16(b, p.ipid)
		b = binary.BigEndian.AppendUint16(b, frag)
		b = append(b, p.ttl, p.proto, 0, 0)
		s, d := p.src.As4(), p.dst.As4()
		b = append(b, s[:]...)
		b = append(b, d[:]...)
	}
	l4 := len(b)
	switch p.proto {
	case 6:
		off := tcpLen
		if p.synOpts {
			off += tcpSynOpts
		}
		b = binary.BigEndian.AppendUint16(b, p.sport)
		b = binary.BigEndian.AppendUint16(b, p.dport)
		b = binary.BigEndian.AppendUint32(b, p.seq)
		b = binary.BigEndian.AppendUint32(b, p.ack)
		b = append(b, byte(off/4)<<4, p.flags)
		b = binary.BigEndian.AppendUint16(b, p.win)
		b = append(b, 0, 0, 0, 0) // checksum, urgent pointer
		if p.synOpts {
			mss := uint16(mss4)
			if v6 {
				mss = mss6
			}
			b = append(b, 2, 4, byte(mss>>8), byte(mss), 1, 3, 3, 8, 1, 1, 4, 2)
		}
	case 17:
		b = binary.BigEndian.AppendUint16(b, p.sport)
		b = binary.BigEndian.AppendUint16(b, p.dport)
		b = append(b, 0, 0, 0, 0) // length, checksum
	default: // ICMP and ICMPv6: echo identifier and sequence in sport and dport
		b = append(b, p.icmpType, p.icmpCode, 0, 0)
		b = binary.BigEndian.AppendUint16(b, p.sport)
		b = binary.BigEndian.AppendUint16(b, p.dport)
	}
	b = append(b, p.hdr...)
	b = append(b, p.body...)
	if p.fill > 0 {
		off := p.fillOff % (len(filler) - maxFrame)
		b = append(b, filler[off:off+p.fill]...)
	}

	l4len := len(b) - l4
	if v6 {
		binary.BigEndian.PutUint16(b[l3+4:], uint16(l4len))
	} else {
		binary.BigEndian.PutUint16(b[l3+2:], uint16(len(b)-l3))
		binary.BigEndian.PutUint16(b[l3+10:], checksum(b[l3:l4], 0))
	}
	var pseudo uint64
	if p.proto != 1 { // ICMPv4 has no pseudo-header
		if v6 {
			pseudo = sum16(b[l3+8:l3+40], uint64(l4len)+uint64(p.proto))
		} else {
			pseudo = sum16(b[l3+12:l3+20], uint64(l4len)+uint64(p.proto))
		}
	}
	switch p.proto {
	case 6:
		binary.BigEndian.PutUint16(b[l4+16:], checksum(b[l4:], pseudo))
	case 17:
		binary.BigEndian.PutUint16(b[l4+4:], uint16(l4len))
		c := checksum(b[l4:], pseudo)
		if c == 0 {
			c = 0xffff
		}
		binary.BigEndian.PutUint16(b[l4+6:], c)
	default:
		binary.BigEndian.PutUint16(b[l4+2:], checksum(b[l4:], pseudo))
	}
	for len(b) < minFrame { // the padding short frames carry on the wire
		b = append(b, 0)
	}
	return b
}

// sum16 adds b to s as big-endian 16-bit words (an odd last byte padded with zero), in
// ones' complement arithmetic: 64 bits at a time with the carries folded back, which is
// the same sum modulo 0xffff.
func sum16(b []byte, s uint64) uint64 {
	var c uint64
	for len(b) >= 32 {
		s, c = bits.Add64(s, binary.BigEndian.Uint64(b), c)
		s, c = bits.Add64(s, binary.BigEndian.Uint64(b[8:]), c)
		s, c = bits.Add64(s, binary.BigEndian.Uint64(b[16:]), c)
		s, c = bits.Add64(s, binary.BigEndian.Uint64(b[24:]), c)
		b = b[32:]
	}
	for len(b) >= 8 {
		s, c = bits.Add64(s, binary.BigEndian.Uint64(b), c)
		b = b[8:]
	}
	s, c = bits.Add64(s, c, 0)
	s += c
	for len(b) >= 2 {
		s, c = bits.Add64(s, uint64(b[0])<<8|uint64(b[1]), 0)
		s += c
		b = b[2:]
	}
	if len(b) == 1 {
		s, c = bits.Add64(s, uint64(b[0])<<8, 0)
		s += c
	}
	return s
}

// checksum is the Internet checksum of b with s (a pseudo-header's sum) added.
func checksum(b []byte, s uint64) uint16 {
	s = sum16(b, s)
	s = s>>32 + s&0xffffffff
	s = s>>32 + s&0xffffffff
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}
