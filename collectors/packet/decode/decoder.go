package decode

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/watchfloor/watchfloor"
)

// Output is what a Decoder appends to: observations, and the bytes their Name and Extra
// view. Reset it between batches; it keeps its storage.
type Output struct {
	Obs   []watchfloor.Observation
	arena []byte
}

// Reset empties o, keeping its storage. Name and Extra of the observations it held are no
// longer valid.
func (o *Output) Reset() {
	clear(o.Obs) // drop the views into the arena, Site and Source
	o.Obs = o.Obs[:0]
	o.arena = o.arena[:0]
}

// keep copies b into the arena and returns the copy (nil for nil).
func (o *Output) keep(b []byte) []byte {
	if b == nil {
		return nil
	}
	start := len(o.arena)
	o.arena = append(o.arena, b...)
	return o.arena[start:len(o.arena):len(o.arena)]
}

// DecodeError is the error of one packet: the layer that failed and why. The *DecodeError
// that Packet returns belongs to the Decoder and is overwritten by its next call: a caller
// that keeps it copies it.
type DecodeError struct {
	Layer  Layer
	Reason Reason
	Err    error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("packet decode: %s: %s: %v", e.Layer, e.Reason, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// ErrUnsupportedLink is the cause of a DecodeError for a link type the decoder does not read.
var ErrUnsupportedLink = errors.New("unsupported link type")

// The first layers of the parsers, one parser per link type family.
const (
	firstEthernet = iota
	firstSLL
	firstSLL2
	firstIPv4
	firstIPv6
	numFirst
)

// Decoder is one goroutine's decoder: not safe for concurrent use; all buffers reused. One
// Decoder sees one capture's packets in time order (the collector fans out by flow hash, so
// both directions of a TCP connection reach the same Decoder).
type Decoder struct {
	cfg       Config
	m         *Metrics
	httpPorts *portSet
	tlsPorts  *portSet

	// The layers, decoded in place by the parsers, which share them.
	eth    layers.Ethernet
	dot1q  layers.Dot1Q
	sll    layers.LinuxSLL
	sll2   layers.LinuxSLL2
	arp    layers.ARP
	ip4    layers.IPv4
	ip6    layers.IPv6
	ip6ext layers.IPv6ExtensionSkipper
	ip6fr  layers.IPv6Fragment
	tcp    layers.TCP
	udp    layers.UDP
	icmp4  layers.ICMPv4
	icmp6  layers.ICMPv6

	parsers [numFirst]*gopacket.DecodingLayerParser
	decoded []gopacket.LayerType
	err     DecodeError

	// Scratch for the application layers' names.
	name [maxNameLen]byte
	alpn [255]byte

	c      counts
	track  tracker
	hosts  hostTable
	now    int64 // the latest packet (or Tick) time seen, Unix ns
	ivEnd  int64 // the end of the current interval, Unix ns; 0 before the first packet
	ivNano int64
	rate   uint32 // the latest packet's sampling rate, for the summaries
}

// New returns a Decoder. Zero fields of cfg take their defaults (nil port lists too). m may
// be nil: nothing is counted then.
func New(cfg Config, m *Metrics) *Decoder {
	cfg = cfg.withDefaults()
	d := &Decoder{
		cfg:       cfg,
		m:         m,
		httpPorts: newPortSet(cfg.HTTPPorts),
		tlsPorts:  newPortSet(cfg.TLSPorts),
		decoded:   make([]gopacket.LayerType, 0, 16),
		ivNano:    int64(cfg.Interval),
	}
	d.track.init(cfg.MaxTracked, int64(cfg.HalfOpenTimeout))
	d.hosts.init(cfg.MaxHosts)
	var dlc gopacket.DecodingLayerContainer = gopacket.DecodingLayerSparse(nil)
	// The skipper first: the fragment layer then takes LayerTypeIPv6Fragment over from it,
	// so that non-first fragments are not read as TCP or UDP.
	for _, l := range []gopacket.DecodingLayer{&d.eth, &d.dot1q, &d.sll, &d.sll2, &d.arp, &d.ip4, &d.ip6,
		&d.ip6ext, &d.ip6fr, &d.tcp, &d.udp, &d.icmp4, &d.icmp6} {
		dlc = dlc.Put(l)
	}
	for i, first := range [numFirst]gopacket.LayerType{layers.LayerTypeEthernet, layers.LayerTypeLinuxSLL,
		layers.LayerTypeLinuxSLL2, layers.LayerTypeIPv4, layers.LayerTypeIPv6} {
		p := gopacket.NewDecodingLayerParser(first)
		p.SetDecodingLayerContainer(dlc)
		p.IgnoreUnsupported = true
		d.parsers[i] = p
	}
	return d
}

// layerOf maps a gopacket layer type to the label its errors are counted under.
func layerOf(t gopacket.LayerType) Layer {
	switch t {
	case layers.LayerTypeEthernet:
		return LayerEthernet
	case layers.LayerTypeDot1Q:
		return LayerDot1Q
	case layers.LayerTypeARP:
		return LayerARP
	case layers.LayerTypeIPv4:
		return LayerIPv4
	case layers.LayerTypeIPv6, layers.LayerTypeIPv6Fragment, layers.LayerTypeIPv6Destination,
		layers.LayerTypeIPv6Routing, layers.LayerTypeIPv6HopByHop:
		return LayerIPv6
	case layers.LayerTypeTCP:
		return LayerTCP
	case layers.LayerTypeUDP:
		return LayerUDP
	case layers.LayerTypeICMPv4, layers.LayerTypeICMPv6:
		return LayerICMP
	}
	return LayerLink
}

// fail counts an error of layer and returns it.
func (d *Decoder) fail(l Layer, r Reason, err error) error {
	d.c.errors[l][r]++
	d.err = DecodeError{Layer: l, Reason: r, Err: err}
	return &d.err
}

// failApp counts an error of an application layer parser: truncated when the parser ran
// out of bytes, malformed otherwise.
func (d *Decoder) failApp(l Layer, err error) error {
	if errors.Is(err, errShort) {
		return d.fail(l, ReasonTruncated, err)
	}
	return d.fail(l, ReasonMalformed, err)
}

// packet is what the link, network and transport layers of one packet said.
type packet struct {
	vlan             uint16
	src, dst         netip.Addr
	sport, dport     uint16
	proto            uint8
	flags            uint8
	icmpType, icmpCd uint8
	payload          []byte
	l4               gopacket.LayerType // TCP, UDP, ICMPv4, ICMPv6, ARP or zero
}

// Packet decodes one frame of link type linkType (Ethernet; also raw IP, IPv4, IPv6, Linux
// SLL and SLL2), captured at ts, that was 1 of samplingRate packets, appending what it
// observes to out. data is only valid during the call; Name/Extra of the observations point
// into out's arena, valid until the next Reset of out. wireLen is the original frame length
// (CaptureInfo.Length) for byte counts; 0 means len(data).
//
// Packet may append observations and still return an error: a frame whose IP header was
// read counts in host.traffic even when its TCP header is broken. The error is a
// *DecodeError (owned by the Decoder, valid until the next call) and was already counted in
// Metrics; summaries due at ts are appended first, as Tick would.
func (d *Decoder) Packet(linkType layers.LinkType, data []byte, wireLen int, ts time.Time, samplingRate uint32, out *Output) error {
	if samplingRate == 0 {
		samplingRate = 1
	}
	d.rate = samplingRate
	if wireLen <= 0 {
		wireLen = len(data)
	}
	now := d.now
	if !ts.IsZero() {
		now = ts.UnixNano()
	}
	d.advance(now, out)
	d.track.expire(d.now, &d.c)
	d.c.packets++

	var first int
	switch linkType {
	case layers.LinkTypeEthernet:
		first = firstEthernet
	case layers.LinkTypeLinuxSLL:
		first = firstSLL
	case layers.LinkTypeLinuxSLL2:
		first = firstSLL2
	case layers.LinkTypeIPv4:
		first = firstIPv4
	case layers.LinkTypeIPv6:
		first = firstIPv6
	case layers.LinkTypeRaw, 12: // 12: LINKTYPE_RAW as OpenBSD numbers it
		if len(data) == 0 {
			return d.fail(LayerLink, ReasonTruncated, errors.New("empty raw IP packet"))
		}
		switch data[0] >> 4 {
		case 4:
			first = firstIPv4
		case 6:
			first = firstIPv6
		default:
			return d.fail(LayerLink, ReasonMalformed, fmt.Errorf("raw IP packet of version %d", data[0]>>4))
		}
	default:
		return d.fail(LayerLink, ReasonUnsupported, ErrUnsupportedLink)
	}
	parser := d.parsers[first]
	perr := parser.DecodeLayers(data, &d.decoded)

	var p packet
	for _, t := range d.decoded {
		switch t {
		case layers.LayerTypeDot1Q:
			p.vlan = d.dot1q.VLANIdentifier // QinQ: the inner tag is decoded last
		case layers.LayerTypeIPv4:
			if len(d.ip4.SrcIP) != 4 || len(d.ip4.DstIP) != 4 {
				return d.fail(LayerIPv4, ReasonMalformed, errors.New("bad address length"))
			}
			p.src = netip.AddrFrom4([4]byte(d.ip4.SrcIP))
			p.dst = netip.AddrFrom4([4]byte(d.ip4.DstIP))
			p.proto = uint8(d.ip4.Protocol)
		case layers.LayerTypeIPv6:
			if len(d.ip6.SrcIP) != 16 || len(d.ip6.DstIP) != 16 {
				return d.fail(LayerIPv6, ReasonMalformed, errors.New("bad address length"))
			}
			p.src = netip.AddrFrom16([16]byte(d.ip6.SrcIP))
			p.dst = netip.AddrFrom16([16]byte(d.ip6.DstIP))
			p.proto = uint8(d.ip6.NextHeader)
			if d.ip6.HopByHop != nil { // decoded by the IPv6 layer itself
				p.proto = uint8(d.ip6.HopByHop.NextHeader)
			}
		case layers.LayerTypeIPv6Fragment:
			p.proto = uint8(d.ip6fr.NextHeader)
		case layers.LayerTypeIPv6Destination, layers.LayerTypeIPv6Routing, layers.LayerTypeIPv6HopByHop:
			p.proto = uint8(d.ip6ext.NextHeader)
		case layers.LayerTypeTCP:
			p.l4, p.sport, p.dport, p.payload = t, uint16(d.tcp.SrcPort), uint16(d.tcp.DstPort), d.tcp.Payload
			p.flags = tcpFlags(&d.tcp)
		case layers.LayerTypeUDP:
			p.l4, p.sport, p.dport, p.payload = t, uint16(d.udp.SrcPort), uint16(d.udp.DstPort), d.udp.Payload
		case layers.LayerTypeICMPv4:
			p.l4, p.icmpType, p.icmpCd = t, d.icmp4.TypeCode.Type(), d.icmp4.TypeCode.Code()
		case layers.LayerTypeICMPv6:
			p.l4, p.icmpType, p.icmpCd = t, d.icmp6.TypeCode.Type(), d.icmp6.TypeCode.Code()
		case layers.LayerTypeARP:
			p.l4 = t
		}
	}
	if p.src.IsValid() {
		d.hosts.add(p.src, uint64(wireLen), &d.c)
	}
	if perr != nil {
		var failed gopacket.LayerType
		if n := len(d.decoded); n == 0 {
			failed = [numFirst]gopacket.LayerType{layers.LayerTypeEthernet, layers.LayerTypeLinuxSLL,
				layers.LayerTypeLinuxSLL2, layers.LayerTypeIPv4, layers.LayerTypeIPv6}[first]
		} else if dl, ok := d.layer(d.decoded[n-1]); ok {
			failed = dl.NextLayerType()
		}
		l, r := layerOf(failed), ReasonMalformed
		if parser.Truncated || l == LayerEthernet { // Ethernet fails only when short
			r = ReasonTruncated
		}
		return d.fail(l, r, perr)
	}

	switch p.l4 {
	case layers.LayerTypeTCP:
		return d.tcpPacket(&p, ts, samplingRate, out)
	case layers.LayerTypeUDP:
		if p.sport == 53 || p.dport == 53 {
			return d.dns(&p, p.payload, ts, samplingRate, out)
		}
	case layers.LayerTypeICMPv4, layers.LayerTypeICMPv6:
		d.obs(out, watchfloor.ObsICMP, &p, ts, samplingRate)
	case layers.LayerTypeARP:
		return d.arpPacket(&p, ts, samplingRate, out)
	}
	return nil
}

// layer returns the decoding layer of type t.
func (d *Decoder) layer(t gopacket.LayerType) (gopacket.DecodingLayer, bool) {
	switch t {
	case layers.LayerTypeEthernet:
		return &d.eth, true
	case layers.LayerTypeDot1Q:
		return &d.dot1q, true
	case layers.LayerTypeLinuxSLL:
		return &d.sll, true
	case layers.LayerTypeLinuxSLL2:
		return &d.sll2, true
	case layers.LayerTypeIPv4:
		return &d.ip4, true
	case layers.LayerTypeIPv6:
		return &d.ip6, true
	case layers.LayerTypeIPv6Fragment:
		return &d.ip6fr, true
	case layers.LayerTypeIPv6Destination, layers.LayerTypeIPv6Routing, layers.LayerTypeIPv6HopByHop:
		return &d.ip6ext, true
	}
	return nil, false
}

// TCP flag bits as watchfloor.Observation.TCPFlags holds them (the header's 13th byte).
const (
	flagFIN = 0x01
	flagSYN = 0x02
	flagRST = 0x04
	flagPSH = 0x08
	flagACK = 0x10
	flagURG = 0x20
	flagECE = 0x40
	flagCWR = 0x80
)

func tcpFlags(t *layers.TCP) uint8 {
	var f uint8
	for _, b := range [...]struct {
		set  bool
		flag uint8
	}{{t.FIN, flagFIN}, {t.SYN, flagSYN}, {t.RST, flagRST}, {t.PSH, flagPSH}, {t.ACK, flagACK},
		{t.URG, flagURG}, {t.ECE, flagECE}, {t.CWR, flagCWR}} {
		if b.set {
			f |= b.flag
		}
	}
	return f
}

// obs appends an observation of kind about p and returns it for the caller to complete.
func (d *Decoder) obs(out *Output, kind watchfloor.ObsKind, p *packet, ts time.Time, rate uint32) *watchfloor.Observation {
	d.c.obs[kind]++
	out.Obs = append(out.Obs, watchfloor.Observation{
		Time: ts, Kind: kind, SamplingRate: rate,
		SrcAddr: p.src, DstAddr: p.dst, SrcPort: p.sport, DstPort: p.dport,
		Proto: p.proto, TCPFlags: p.flags, VLAN: p.vlan,
		ICMPType: p.icmpType, ICMPCode: p.icmpCd,
	})
	return &out.Obs[len(out.Obs)-1]
}

func (d *Decoder) tcpPacket(p *packet, ts time.Time, rate uint32, out *Output) error {
	switch {
	case p.flags&(flagSYN|flagACK|flagRST) == flagSYN:
		n := d.track.syn(newAttemptKey(p.src, p.dst, p.sport, p.dport), d.now, &d.c)
		d.obs(out, watchfloor.ObsTCPSyn, p, ts, rate).HalfOpen = n
	case p.flags&(flagSYN|flagACK|flagRST) == flagSYN|flagACK:
		d.track.answer(newAttemptKey(p.dst, p.src, p.dport, p.sport), &d.c)
		d.obs(out, watchfloor.ObsTCPSynAck, p, ts, rate)
	case p.flags&flagRST != 0:
		// A RST from the destination refuses the attempt; one from the source aborts it.
		d.track.answer(newAttemptKey(p.dst, p.src, p.dport, p.sport), &d.c)
		d.track.answer(newAttemptKey(p.src, p.dst, p.sport, p.dport), &d.c)
		d.obs(out, watchfloor.ObsTCPRst, p, ts, rate)
	}
	pl := p.payload
	if len(pl) == 0 {
		return nil
	}
	if p.sport == 53 || p.dport == 53 {
		if len(pl) < 2 {
			return d.fail(LayerDNS, ReasonTruncated, errDNSShort)
		}
		n := int(binary.BigEndian.Uint16(pl))
		if 2+n > len(pl) {
			d.c.partial[LayerDNS]++ // the message continues in later segments
			return nil
		}
		return d.dns(p, pl[2:2+n], ts, rate, out)
	}
	if d.tlsPorts.has(p.dport) || len(pl) >= 2 && pl[0] == 0x16 && pl[1] == 0x03 {
		if LooksLikeClientHello(pl) {
			h, err := ParseClientHello(pl, &d.name, &d.alpn)
			if err != nil {
				return d.failApp(LayerTLS, err)
			}
			if h.Partial {
				d.c.partial[LayerTLS]++
			}
			o := d.obs(out, watchfloor.ObsTLSClientHello, p, ts, rate)
			o.Name, o.Extra = out.keep(h.SNI), out.keep(h.ALPN)
			return nil
		}
	}
	if d.httpPorts.has(p.dport) {
		r, err := ParseHTTPRequest(pl, &d.name)
		switch {
		case err == errHTTPNotRequest:
			return nil
		case err != nil:
			return d.failApp(LayerHTTP, err)
		}
		if r.Partial {
			d.c.partial[LayerHTTP]++
		}
		o := d.obs(out, watchfloor.ObsHTTPRequest, p, ts, rate)
		o.Name, o.Extra = out.keep(r.Host), out.keep(r.Method)
	}
	return nil
}

func (d *Decoder) dns(p *packet, msg []byte, ts time.Time, rate uint32, out *Output) error {
	m, err := ParseDNS(msg, &d.name)
	if err != nil {
		return d.failApp(LayerDNS, err)
	}
	kind := watchfloor.ObsDNSQuery
	if m.Response {
		kind = watchfloor.ObsDNSResponse
	}
	o := d.obs(out, kind, p, ts, rate)
	o.Name = out.keep(m.Name)
	o.DNSType, o.DNSLabels, o.DNSLongest, o.DNSEntropy, o.DNSQueryBytes = m.QType, m.Labels, m.Longest, m.Entropy, uint16(len(m.Name))
	if m.Response {
		o.DNSRcode, o.DNSAnswers = m.Rcode, m.Answers
	}
	return nil
}

func (d *Decoder) arpPacket(p *packet, ts time.Time, rate uint32, out *Output) error {
	a := &d.arp
	if a.Operation != layers.ARPRequest || a.Protocol != layers.EthernetTypeIPv4 {
		return nil
	}
	if len(a.SourceProtAddress) != 4 || len(a.DstProtAddress) != 4 {
		return d.fail(LayerARP, ReasonMalformed, errors.New("IPv4 ARP with addresses not 4 bytes long"))
	}
	p.src = netip.AddrFrom4([4]byte(a.SourceProtAddress))
	p.dst = netip.AddrFrom4([4]byte(a.DstProtAddress))
	d.obs(out, watchfloor.ObsARP, p, ts, rate)
	return nil
}
