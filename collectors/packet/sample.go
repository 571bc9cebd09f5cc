package packet

import (
	"encoding/binary"

	"github.com/gopacket/gopacket/layers"
)

// Flow-consistent sampling: a packet is kept when a hash of its flow falls in 1/rate. The
// hash covers the addresses, the protocol and, for TCP, UDP and SCTP outside fragments, the
// ports; each endpoint (address, port) is hashed on its own and the two are added, so both
// directions of a connection hash alike and a sampled connection is seen whole (its SYN and
// SYN-ACK, a DNS query and its answer). Fragments hash without ports, so all fragments of a
// datagram share a fate (which may differ from the datagram's unfragmented packets). ARP
// hashes its sender and target addresses; other frames hash their Ethernet addresses. The
// hash has no secret: a sender who knows the rate can steer clear of the sample, which an
// interval summary (host.traffic) of the sampled packets cannot tell; run rate 1 where that
// matters.

// keep reports whether a packet of the given link type is in the sample.
func keep(lt layers.LinkType, b []byte, rate uint32) bool {
	if rate <= 1 {
		return true
	}
	return flowHash(lt, b)%uint64(rate) == 0
}

// flowHash returns a hash of a frame's flow that is the same for both directions.
func flowHash(lt layers.LinkType, b []byte) uint64 {
	var ethType uint16
	switch lt {
	case layers.LinkTypeEthernet:
		if len(b) < 14 {
			return 0
		}
		macs := b[:12]
		ethType, b = binary.BigEndian.Uint16(b[12:]), b[14:]
		for (ethType == 0x8100 || ethType == 0x88a8 || ethType == 0x9100) && len(b) >= 4 {
			ethType, b = binary.BigEndian.Uint16(b[2:]), b[4:]
		}
		if ethType != 0x0800 && ethType != 0x86dd && ethType != 0x0806 {
			return mix(endpoint(macs[0:6], 0) + endpoint(macs[6:12], 0) + uint64(ethType))
		}
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6, 12, 14:
		if len(b) < 1 {
			return 0
		}
		ethType = 0x0800
		if b[0]>>4 == 6 {
			ethType = 0x86dd
		}
	case layers.LinkTypeLinuxSLL:
		if len(b) < 16 {
			return 0
		}
		ethType, b = binary.BigEndian.Uint16(b[14:]), b[16:]
	case layers.LinkTypeLinuxSLL2:
		if len(b) < 20 {
			return 0
		}
		ethType, b = binary.BigEndian.Uint16(b[0:]), b[20:]
	default:
		return 0
	}
	switch ethType {
	case 0x0800:
		if len(b) < 20 {
			return 0
		}
		proto := b[9]
		var sp, dp uint16
		ihl := int(b[0]&0x0f) * 4
		if binary.BigEndian.Uint16(b[6:])&0x3fff == 0 && hasPorts(proto) && ihl >= 20 && len(b) >= ihl+4 {
			sp, dp = binary.BigEndian.Uint16(b[ihl:]), binary.BigEndian.Uint16(b[ihl+2:])
		}
		return mix(endpoint(b[12:16], sp) + endpoint(b[16:20], dp) + uint64(proto)<<1)
	case 0x86dd:
		if len(b) < 40 {
			return 0
		}
		proto := b[6]
		var sp, dp uint16
		if hasPorts(proto) && len(b) >= 44 {
			sp, dp = binary.BigEndian.Uint16(b[40:]), binary.BigEndian.Uint16(b[42:])
		}
		return mix(endpoint(b[8:24], sp) + endpoint(b[24:40], dp) + uint64(proto)<<1)
	case 0x0806:
		if len(b) < 28 {
			return 0
		}
		return mix(endpoint(b[14:18], 0) + endpoint(b[24:28], 0) + 1)
	}
	return 0
}

func hasPorts(proto uint8) bool { return proto == 6 || proto == 17 || proto == 132 }

// endpoint hashes an address and a port (FNV-1a over the bytes, then a mix).
func endpoint(addr []byte, port uint16) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range addr {
		h = (h ^ uint64(c)) * 1099511628211
	}
	h = (h ^ uint64(port>>8)) * 1099511628211
	h = (h ^ uint64(port&0xff)) * 1099511628211
	return mix(h)
}

// mix is splitmix64's finaliser.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}
