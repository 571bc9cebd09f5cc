package decoder

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/netsampler/goflow2/v2/decoders/sflow"

	"github.com/watchfloor/watchfloor"
)

// maxSFlowRecords is the bound goflow2 puts on the records of a flow or counter sample; it
// forgets it for expanded flow samples, where a hostile count makes it allocate up to 4G
// records, so datagrams are checked for it first.
const maxSFlowRecords = 1000

// sFlow sampled header protocols (SFLOW-STRUCTS5 header_protocol).
const (
	headerEthernet = 1
	headerIPv4     = 11
	headerIPv6     = 12
)

// DecodeSFlow decodes an sFlow v5 datagram: flow samples (and expanded ones) become flow
// records, generic interface counter records become Counters. On error, out may still have
// gained what was decoded before the failure.
func (d *Decoder) DecodeSFlow(dg Datagram, out *Output) error {
	const proto = watchfloor.FlowSFlow
	p := dg.Payload
	if len(p) < 28 {
		return d.fail(proto, ReasonShort, ErrShort)
	}
	if v := binary.BigEndian.Uint32(p); v != 5 {
		return d.fail(proto, ReasonVersion, fmt.Errorf("%w %d", ErrVersion, v))
	}
	if err := checkSFlow(p); err != nil {
		return d.fail(proto, ReasonTooMany, err)
	}
	d.beginDatagram()
	d.rd.Reset()
	d.rd.Write(p)
	d.sf = sflow.Packet{}
	err := d.callSFlow()
	var failed error
	switch {
	case err == nil:
	case errors.Is(err, ErrPanic):
		failed = d.fail(proto, ReasonPanic, err)
	default:
		failed = d.fail(proto, ReasonMalformed, fmt.Errorf("%w: %w", ErrMalformed, err))
	}
	exp := dg.Exporter.Addr().Unmap()
	recv := received(dg)
	n, c := len(out.Flows), len(out.Counters)
	for _, s := range d.sf.Samples {
		switch s := s.(type) {
		case sflow.FlowSample:
			d.mapFlowSample(exp, recv, s.SamplingRate, ifIndex(s.Input), ifIndex(s.Output), s.Records, out)
		case sflow.ExpandedFlowSample:
			var in, o uint32
			if s.InputIfFormat == 0 && s.InputIfValue != 0x3fffffff {
				in = s.InputIfValue
			}
			if s.OutputIfFormat == 0 && s.OutputIfValue != 0x3fffffff {
				o = s.OutputIfValue
			}
			d.mapFlowSample(exp, recv, s.SamplingRate, in, o, s.Records, out)
		case sflow.CounterSample:
			for i := range s.Records {
				ic, ok := s.Records[i].Data.(sflow.IfCounters)
				if !ok {
					continue
				}
				out.Counters = append(out.Counters, Counters{
					Exporter:         exp,
					ObsDomain:        d.sf.SubAgentId,
					IfIndex:          ic.IfIndex,
					Time:             recv,
					SpeedBps:         ic.IfSpeed,
					InOctets:         ic.IfInOctets,
					OutOctets:        ic.IfOutOctets,
					InUcastPkts:      uint64(ic.IfInUcastPkts),
					OutUcastPkts:     uint64(ic.IfOutUcastPkts),
					InMulticastPkts:  uint64(ic.IfInMulticastPkts),
					OutMulticastPkts: uint64(ic.IfOutMulticastPkts),
					InBroadcastPkts:  uint64(ic.IfInBroadcastPkts),
					OutBroadcastPkts: uint64(ic.IfOutBroadcastPkts),
					InErrors:         uint64(ic.IfInErrors),
					OutErrors:        uint64(ic.IfOutErrors),
					InDiscards:       uint64(ic.IfInDiscards),
					OutDiscards:      uint64(ic.IfOutDiscards),
					AdminUp:          ic.IfStatus&1 != 0,
					OperUp:           ic.IfStatus&2 != 0,
				})
			}
		}
	}
	d.m.recordsBy[proto].Add(float64(len(out.Flows) - n))
	d.m.counterSamples.Add(float64(len(out.Counters) - c))
	return failed
}

func (d *Decoder) callSFlow() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrPanic, r)
		}
	}()
	return sflow.DecodeMessageVersion(&d.rd, &d.sf)
}

// checkSFlow walks the sample headers of a datagram and refuses one whose expanded flow
// sample announces more records than maxSFlowRecords (see there). It decodes nothing.
func checkSFlow(p []byte) error {
	off := 8
	switch binary.BigEndian.Uint32(p[4:]) {
	case 1:
		off += 4
	case 2:
		off += 16
	default:
		return nil // goflow2 refuses it
	}
	off += 12 // sub-agent, sequence, uptime
	if off+4 > len(p) {
		return nil
	}
	samples := binary.BigEndian.Uint32(p[off:])
	off += 4
	for i := uint32(0); i < samples && i < maxSFlowRecords && off+8 <= len(p); i++ {
		format, length := binary.BigEndian.Uint32(p[off:]), int(binary.BigEndian.Uint32(p[off+4:]))
		off += 8
		if length < 0 || length > len(p)-off {
			return nil
		}
		if format == sflow.SAMPLE_FORMAT_EXPANDED_FLOW && length >= 44 {
			if n := binary.BigEndian.Uint32(p[off+40:]); n > maxSFlowRecords {
				return fmt.Errorf("%w: expanded flow sample with %d records", ErrTooMany, n)
			}
		}
		off += length
	}
	return nil
}

// ifIndex reads a compact-format sFlow interface: the top two bits give its format, and only
// format 0 is an ifIndex (1 is a discard reason, 2 a count of interfaces).
func ifIndex(v uint32) uint32 {
	if v>>30 != 0 || v == 0x3fffffff { // 0x3fffffff: unknown or internal
		return 0
	}
	return v
}

// mapFlowSample turns one flow sample into one flow record.
func (d *Decoder) mapFlowSample(exp netip.Addr, recv time.Time, rate, in, outIf uint32, records []sflow.FlowRecord, out *Output) {
	if rate == 0 {
		rate = d.configuredRate(exp)
	}
	f := watchfloor.Flow{
		Received:     recv,
		Start:        recv,
		End:          recv,
		Exporter:     exp,
		ObsDomain:    d.sf.SubAgentId,
		Protocol:     watchfloor.FlowSFlow,
		SamplingRate: rate,
		InIf:         in,
		OutIf:        outIf,
	}
	var length uint64
	haveHeader, switchVLAN := false, uint16(0)
	for i := range records {
		switch r := records[i].Data.(type) {
		case sflow.SampledHeader:
			if haveHeader {
				continue
			}
			haveHeader = true
			length = uint64(r.FrameLength)
			data := r.HeaderData
			if int(r.OriginalLength) < len(data) { // goflow2's name for header_length
				data = data[:r.OriginalLength]
			}
			d.pkt.parse(r.Protocol, data, &f)
		case sflow.SampledIPv4:
			if !haveHeader {
				length = uint64(r.Length)
				sampledIP(&r.SampledIPBase, &f)
			}
		case sflow.SampledIPv6:
			if !haveHeader {
				length = uint64(r.Length)
				sampledIP(&r.SampledIPBase, &f)
			}
		case sflow.ExtendedSwitch:
			switchVLAN = uint16(r.SrcVlan & 0xfff)
		case sflow.ExtendedGateway:
			// As goflow2's producer: the source AS, else the router's own; the last AS of the
			// path, else the router's own.
			f.SrcAS = r.SrcAS
			if f.SrcAS == 0 {
				f.SrcAS = r.AS
			}
			f.DstAS = r.AS
			if len(r.ASPath) > 0 {
				f.DstAS = r.ASPath[len(r.ASPath)-1]
			}
		}
	}
	if switchVLAN != 0 {
		f.VLAN = switchVLAN
	}
	f.Bytes = length * uint64(rate)
	f.Packets = uint64(rate)
	out.Flows = append(out.Flows, f)
}

func sampledIP(r *sflow.SampledIPBase, f *watchfloor.Flow) {
	f.SrcAddr = addrFrom(r.SrcIP)
	f.DstAddr = addrFrom(r.DstIP)
	f.Proto = uint8(r.Protocol)
	f.SrcPort = uint16(r.SrcPort)
	f.DstPort = uint16(r.DstPort)
	f.TCPFlags = uint8(r.TcpFlags)
}

func addrFrom(b []byte) netip.Addr {
	switch len(b) {
	case 4:
		return netip.AddrFrom4([4]byte(b))
	case 16:
		return netip.AddrFrom16([16]byte(b))
	}
	return netip.Addr{}
}

// vlanTag is an 802.1Q tag layer that remembers the outermost VLAN of a frame: with QinQ the
// parser decodes the same layer twice, the inner tag last.
type vlanTag struct {
	layers.Dot1Q
	outer uint16
	seen  bool
}

func (v *vlanTag) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	if err := v.Dot1Q.DecodeFromBytes(data, df); err != nil {
		return err
	}
	if !v.seen {
		v.outer, v.seen = v.VLANIdentifier, true
	}
	return nil
}

// packetParser decodes sampled packet headers with gopacket, into layers allocated once.
type packetParser struct {
	eth     layers.Ethernet
	vlan    vlanTag
	ip4     layers.IPv4
	ip6     layers.IPv6
	ext     layers.IPv6ExtensionSkipper
	tcp     layers.TCP
	udp     layers.UDP
	icmp4   layers.ICMPv4
	icmp6   layers.ICMPv6
	fromEth *gopacket.DecodingLayerParser
	fromIP4 *gopacket.DecodingLayerParser
	fromIP6 *gopacket.DecodingLayerParser
	decoded []gopacket.LayerType
}

func (p *packetParser) init() {
	ls := []gopacket.DecodingLayer{&p.eth, &p.vlan, &p.ip4, &p.ip6, &p.ext, &p.tcp, &p.udp, &p.icmp4, &p.icmp6}
	p.fromEth = gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, ls...)
	p.fromIP4 = gopacket.NewDecodingLayerParser(layers.LayerTypeIPv4, ls...)
	p.fromIP6 = gopacket.NewDecodingLayerParser(layers.LayerTypeIPv6, ls...)
	for _, dp := range []*gopacket.DecodingLayerParser{p.fromEth, p.fromIP4, p.fromIP6} {
		dp.IgnoreUnsupported = true // payloads, ARP, fragments: keep what was decoded
	}
	p.decoded = make([]gopacket.LayerType, 0, 16)
}

// parse fills the addresses, ports, protocol, TCP flags and VLAN of f from a sampled header.
// A header cut short keeps what its complete layers gave.
func (p *packetParser) parse(protocol uint32, data []byte, f *watchfloor.Flow) {
	var dp *gopacket.DecodingLayerParser
	switch protocol {
	case headerEthernet:
		dp = p.fromEth
	case headerIPv4:
		dp = p.fromIP4
	case headerIPv6:
		dp = p.fromIP6
	default:
		return
	}
	p.vlan.seen = false
	_ = dp.DecodeLayers(data, &p.decoded) // a truncated layer ends the list: use what came before
	for _, t := range p.decoded {
		switch t {
		case layers.LayerTypeDot1Q:
			f.VLAN = p.vlan.outer
		case layers.LayerTypeIPv4:
			f.SrcAddr = netip.AddrFrom4([4]byte(p.ip4.SrcIP.To4()))
			f.DstAddr = netip.AddrFrom4([4]byte(p.ip4.DstIP.To4()))
			f.Proto = uint8(p.ip4.Protocol)
		case layers.LayerTypeIPv6:
			f.SrcAddr = netip.AddrFrom16([16]byte(p.ip6.SrcIP.To16()))
			f.DstAddr = netip.AddrFrom16([16]byte(p.ip6.DstIP.To16()))
			f.Proto = uint8(p.ip6.NextHeader)
			if p.ip6.HopByHop != nil {
				f.Proto = uint8(p.ip6.HopByHop.NextHeader)
			}
		case layers.LayerTypeIPv6HopByHop, layers.LayerTypeIPv6Routing, layers.LayerTypeIPv6Destination:
			f.Proto = uint8(p.ext.NextHeader)
		case layers.LayerTypeIPv6Fragment:
			f.Proto = uint8(p.ext.NextHeader)
			if c := p.ext.Contents; len(c) >= 4 && binary.BigEndian.Uint16(c[2:])>>3 != 0 {
				return // not the first fragment: what follows is not a transport header
			}
		case layers.LayerTypeTCP:
			f.SrcPort, f.DstPort = uint16(p.tcp.SrcPort), uint16(p.tcp.DstPort)
			f.TCPFlags = tcpFlags(&p.tcp)
		case layers.LayerTypeUDP:
			f.SrcPort, f.DstPort = uint16(p.udp.SrcPort), uint16(p.udp.DstPort)
		case layers.LayerTypeICMPv4:
			f.DstPort = uint16(p.icmp4.TypeCode)
		case layers.LayerTypeICMPv6:
			f.DstPort = uint16(p.icmp6.TypeCode)
		}
	}
}

func tcpFlags(t *layers.TCP) uint8 {
	var fl uint8
	for i, set := range [8]bool{t.FIN, t.SYN, t.RST, t.PSH, t.ACK, t.URG, t.ECE, t.CWR} {
		if set {
			fl |= 1 << i
		}
	}
	return fl
}
