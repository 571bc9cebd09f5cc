package lab

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/netsampler/goflow2/v2/decoders/netflow"
	"github.com/netsampler/goflow2/v2/decoders/netflowlegacy"
	"github.com/netsampler/goflow2/v2/decoders/sflow"
)

// decoded is a flow record as a decoder hands it back, for comparison with what was encoded.
type decoded struct {
	src, dst, nextHop netip.Addr
	srcPort, dstPort  uint16
	proto, flags, tos uint8
	srcMask, dstMask  uint8
	inIf, outIf       uint32
	srcAS, dstAS      uint32
	bytes, packets    uint64
	firstMs, lastMs   int64 // Unix milliseconds
}

func expect(r *flowRecord, v5, as bool) decoded {
	d := decoded{src: r.src, dst: r.dst, nextHop: r.nextHop, srcPort: r.srcPort, dstPort: r.dstPort,
		proto: r.proto, flags: r.tcpFlags, tos: r.tos, srcMask: r.srcMask, dstMask: r.dstMask,
		inIf: r.inIf, outIf: r.outIf, bytes: r.bytes, packets: r.packets,
		firstMs: r.first.UnixMilli(), lastMs: r.last.UnixMilli()}
	if as || v5 {
		d.srcAS, d.dstAS = r.srcAS, r.dstAS
	}
	if v5 {
		d.srcAS, d.dstAS = d.srcAS&0xffff, d.dstAS&0xffff
	}
	return d
}

var (
	testBoot = time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	testNow  = testBoot.Add(50 * time.Hour)
)

func testRecords() []flowRecord {
	at := func(ms int) time.Time { return testNow.Add(-time.Duration(ms) * time.Millisecond) }
	return []flowRecord{
		{src: netip.MustParseAddr("198.51.100.7"), dst: netip.MustParseAddr("10.20.11.12"), nextHop: netip.MustParseAddr("10.20.0.1"),
			srcPort: 443, dstPort: 51234, proto: 6, tcpFlags: 0x18, srcMask: 24, dstMask: 24, inIf: 524, outIf: 520,
			srcAS: 64601, dstAS: SiteAS, bytes: 1_234_567, packets: 950, first: at(9000), last: at(120)},
		{src: netip.MustParseAddr("10.20.101.80"), dst: netip.MustParseAddr("192.0.2.53"), nextHop: netip.MustParseAddr("10.20.0.1"),
			srcPort: 40000, dstPort: 53, proto: 17, srcMask: 24, dstMask: 24, inIf: 5, outIf: 1,
			srcAS: SiteAS, dstAS: 64603, bytes: 80, packets: 1, first: at(3), last: at(3)},
		{src: netip.MustParseAddr("203.0.113.66"), dst: netip.MustParseAddr("10.20.12.40"), nextHop: netip.MustParseAddr("10.20.0.1"),
			srcPort: 41000, dstPort: 22, proto: 6, tcpFlags: 0x02, tos: 0xb8, srcMask: 24, dstMask: 24, inIf: 2, outIf: 3,
			srcAS: 64602, dstAS: SiteAS, bytes: 44, packets: 1, first: at(500), last: at(500)},
	}
}

func testRecords6() []flowRecord {
	return []flowRecord{
		{src: netip.MustParseAddr("2001:db8:ffff:1::9"), dst: netip.MustParseAddr("2001:db8:20:11::1a"), nextHop: netip.MustParseAddr("2001:db8:20::1"),
			srcPort: 443, dstPort: 60001, proto: 6, tcpFlags: 0x1b, srcMask: 48, dstMask: 64, inIf: 524, outIf: 520,
			srcAS: 64602, dstAS: SiteAS, bytes: 9_000_000_000, packets: 6_500_000, first: testNow.Add(-time.Second), last: testNow},
	}
}

func addrOf(t *testing.T, b any) netip.Addr {
	t.Helper()
	a, ok := netip.AddrFromSlice(b.([]byte))
	if !ok {
		t.Fatalf("bad address %x", b)
	}
	return a
}

func uintOf(b any) uint64 {
	var v uint64
	for _, c := range b.([]byte) {
		v = v<<8 | uint64(c)
	}
	return v
}

// fromFields converts a goflow2 data record to decoded; uptime fields count from boot.
func fromFields(t *testing.T, vals []netflow.DataField, boot time.Time) decoded {
	t.Helper()
	var d decoded
	for _, f := range vals {
		switch f.Type {
		case ieSrcIPv4, ieSrcIPv6:
			d.src = addrOf(t, f.Value)
		case ieDstIPv4, ieDstIPv6:
			d.dst = addrOf(t, f.Value)
		case ieNextHopIPv4, ieNextHopIPv6:
			d.nextHop = addrOf(t, f.Value)
		case ieSrcPort:
			d.srcPort = uint16(uintOf(f.Value))
		case ieDstPort:
			d.dstPort = uint16(uintOf(f.Value))
		case ieProtocol:
			d.proto = uint8(uintOf(f.Value))
		case ieTCPFlags:
			d.flags = uint8(uintOf(f.Value))
		case ieTOS:
			d.tos = uint8(uintOf(f.Value))
		case ieSrcMask, ieSrcMask6:
			d.srcMask = uint8(uintOf(f.Value))
		case ieDstMask, ieDstMask6:
			d.dstMask = uint8(uintOf(f.Value))
		case ieInIf:
			d.inIf = uint32(uintOf(f.Value))
		case ieOutIf:
			d.outIf = uint32(uintOf(f.Value))
		case ieSrcAS:
			d.srcAS = uint32(uintOf(f.Value))
		case ieDstAS:
			d.dstAS = uint32(uintOf(f.Value))
		case ieOctetDelta:
			d.bytes = uintOf(f.Value)
		case iePacketDelta:
			d.packets = uintOf(f.Value)
		case ieFirstSwitched:
			d.firstMs = boot.Add(time.Duration(uintOf(f.Value)) * time.Millisecond).UnixMilli()
		case ieLastSwitched:
			d.lastMs = boot.Add(time.Duration(uintOf(f.Value)) * time.Millisecond).UnixMilli()
		case ieStartMs:
			d.firstMs = int64(uintOf(f.Value))
		case ieEndMs:
			d.lastMs = int64(uintOf(f.Value))
		default:
			t.Errorf("unexpected field %d", f.Type)
		}
	}
	return d
}

// nfResult is what one v9/IPFIX datagram decoded to.
type nfResult struct {
	recs     []decoded
	rate     uint64 // from the options data; 0 when none
	interval uint64 // samplingPacketInterval, when announced that way
	raw      int    // sets that could not be decoded for lack of a template
	tmpls    int
}

func decodeNF(t *testing.T, ts netflow.NetFlowTemplateSystem, b []byte, boot time.Time) nfResult {
	t.Helper()
	var v9 netflow.NFv9Packet
	var ipfix netflow.IPFIXPacket
	var r nfResult
	if err := netflow.DecodeMessageVersion(bytes.NewBuffer(b), ts, &v9, &ipfix); err != nil {
		if !errors.Is(err, netflow.ErrorTemplateNotFound) {
			t.Fatalf("goflow2 cannot decode: %v", err)
		}
		r.raw++
	}
	sets := v9.FlowSets
	if ipfix.Version == 10 {
		sets = ipfix.FlowSets
		if int(ipfix.Length) != len(b) {
			t.Errorf("IPFIX length %d, datagram %d", ipfix.Length, len(b))
		}
	}
	for _, s := range sets {
		switch s := s.(type) {
		case netflow.DataFlowSet:
			for _, rec := range s.Records {
				r.recs = append(r.recs, fromFields(t, rec.Values, boot))
			}
		case netflow.OptionsDataFlowSet:
			for _, rec := range s.Records {
				for _, f := range rec.OptionsValues {
					switch f.Type {
					case ieSamplingInterval:
						r.rate = uintOf(f.Value)
					case iePacketInterval:
						r.interval = uintOf(f.Value)
					case iePacketSpace:
						r.rate = r.interval + uintOf(f.Value)
					}
				}
			}
		case netflow.RawFlowSet:
			r.raw++
		case netflow.TemplateFlowSet, netflow.NFv9OptionsTemplateFlowSet, netflow.IPFIXOptionsTemplateFlowSet:
			r.tmpls++
		}
	}
	return r
}

// TestTemplateEncoders: v9 and IPFIX datagrams decode with goflow2 to exactly the records
// encoded, after a template datagram that announces both templates and the sampling rate.
func TestTemplateEncoders(t *testing.T) {
	for _, tc := range []struct {
		name string
		enc  *templateEncoder
		as   bool
	}{
		{"netflow v9", newV9Encoder(7, 100), false},
		{"ipfix samplingInterval", newIPFIXEncoder(7, 1000, false), true},
		{"ipfix packet interval/space", newIPFIXEncoder(7, 1000, true), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := netflow.CreateTemplateSystem()
			// Data before templates cannot be decoded: the collector must wait for them.
			b := tc.enc.encodeData(nil, testNow, testBoot, testRecords())
			if r := decodeNF(t, ts, b, testBoot); r.raw == 0 || len(r.recs) != 0 {
				t.Fatalf("data before templates: %+v", r)
			}
			b = tc.enc.encodeTemplates(nil, testNow, testBoot)
			r := decodeNF(t, ts, b, testBoot)
			if r.tmpls != 2 || r.rate != uint64(tc.enc.samplingRate) {
				t.Fatalf("template datagram: %d template sets, sampling rate %d", r.tmpls, r.rate)
			}
			for _, recs := range [][]flowRecord{testRecords(), testRecords6()} {
				if n := tc.enc.fit(recs); n != len(recs) {
					t.Fatalf("fit %d of %d", n, len(recs))
				}
				b := tc.enc.encodeData(nil, testNow, testBoot, recs)
				if len(b) > maxFlowDatagram {
					t.Errorf("datagram of %d bytes", len(b))
				}
				r := decodeNF(t, ts, b, testBoot)
				if len(r.recs) != len(recs) || r.raw != 0 {
					t.Fatalf("%d records decoded, %d raw sets; want %d", len(r.recs), r.raw, len(recs))
				}
				for k := range recs {
					if want := expect(&recs[k], false, tc.as); r.recs[k] != want {
						t.Errorf("record %d:\n got %+v\nwant %+v", k, r.recs[k], want)
					}
				}
			}
		})
	}
}

// TestTemplateFit: a batch of both families splits at the family change and at the
// datagram size.
func TestTemplateFit(t *testing.T) {
	e := newIPFIXEncoder(1, 1, false)
	recs := append(testRecords(), testRecords6()...)
	if n := e.fit(recs); n != 3 {
		t.Errorf("fit %d, want 3", n)
	}
	many := make([]flowRecord, 100)
	for k := range many {
		many[k] = testRecords()[0]
	}
	n := e.fit(many)
	if b := e.encodeData(nil, testNow, testBoot, many[:n]); len(b) > maxFlowDatagram || n < 15 {
		t.Errorf("%d records make %d bytes", n, len(b))
	}
}

// TestV5Encoder: NetFlow v5 datagrams decode with goflow2 to the records encoded, with the
// sampling interval in the header.
func TestV5Encoder(t *testing.T) {
	e := &v5Encoder{engineID: 3, samplingRate: 512}
	recs := testRecords()
	for round := range 2 {
		b := e.encode(nil, testNow, testBoot, recs)
		if len(b) != v5HeaderLen+len(recs)*v5RecordLen {
			t.Fatalf("length %d", len(b))
		}
		var p netflowlegacy.PacketNetFlowV5
		if err := netflowlegacy.DecodeMessageVersion(bytes.NewBuffer(b), &p); err != nil {
			t.Fatal(err)
		}
		if p.SamplingInterval != 1<<14|512 || p.FlowSequence != uint32(round*len(recs)) || p.EngineId != 3 ||
			int(p.Count) != len(recs) || p.SysUptime != uptimeMs(testNow, testBoot) || p.UnixSecs != uint32(testNow.Unix()) {
			t.Fatalf("header %+v", p)
		}
		for k, g := range p.Records {
			ip := func(v netflowlegacy.IPAddress) netip.Addr {
				return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
			}
			up := func(ms uint32) int64 { return testBoot.Add(time.Duration(ms) * time.Millisecond).UnixMilli() }
			got := decoded{src: ip(g.SrcAddr), dst: ip(g.DstAddr), nextHop: ip(g.NextHop), srcPort: g.SrcPort, dstPort: g.DstPort,
				proto: g.Proto, flags: g.TCPFlags, tos: g.Tos, srcMask: g.SrcMask, dstMask: g.DstMask,
				inIf: uint32(g.Input), outIf: uint32(g.Output), srcAS: uint32(g.SrcAS), dstAS: uint32(g.DstAS),
				bytes: uint64(g.DOctets), packets: uint64(g.DPkts), firstMs: up(g.First), lastMs: up(g.Last)}
			if want := expect(&recs[k], true, false); got != want {
				t.Errorf("record %d:\n got %+v\nwant %+v", k, got, want)
			}
		}
	}
}

// TestSFlowEncoder: flow samples decode with goflow2 (rate, pool, interfaces, frame length)
// and their raw headers parse with gopacket to the sampled flow; counter samples carry the
// generic interface counters.
func TestSFlowEncoder(t *testing.T) {
	recs := append(testRecords(), testRecords6()...)
	e := &sflowEncoder{agent: netip.MustParseAddr("127.0.1.20"), subAgent: 0, rate: 2048}
	var ss []sflowSample
	for k := range recs {
		ss = append(ss, sflowSample{rec: &recs[k], frameLen: uint32(100 + 300*k), source: recs[k].inIf, pool: uint32(2048 * (k + 1)),
			srcMAC: [6]byte{0, 1, 2, 3, 4, byte(k)}, dstMAC: [6]byte{0, 5, 6, 7, 8, byte(k)}})
	}
	b, n := e.encodeFlows(nil, 12345, ss)
	if n != len(ss) {
		t.Fatalf("%d samples encoded", n)
	}
	var p sflow.Packet
	if err := sflow.DecodeMessageVersion(bytes.NewBuffer(b), &p); err != nil {
		t.Fatal(err)
	}
	if p.Version != 5 || netip.AddrFrom4([4]byte(p.AgentIP)) != e.agent || p.Uptime != 12345 || len(p.Samples) != len(ss) {
		t.Fatalf("header %+v", p)
	}
	for k, s := range p.Samples {
		fs, ok := s.(sflow.FlowSample)
		if !ok {
			t.Fatalf("sample %d is %T", k, s)
		}
		want := ss[k]
		if fs.SamplingRate != 2048 || fs.SamplePool != want.pool || fs.Input != want.rec.inIf || fs.Output != want.rec.outIf ||
			fs.Header.SourceIdValue != want.source || fs.Header.SampleSequenceNumber != uint32(k+1) || len(fs.Records) != 1 {
			t.Fatalf("sample %d: %+v", k, fs)
		}
		h := fs.Records[0].Data.(sflow.SampledHeader)
		if h.Protocol != 1 || h.FrameLength != want.frameLen || h.Stripped != 4 {
			t.Fatalf("sample %d header %+v", k, h)
		}
		pkt := gopacket.NewPacket(h.HeaderData, layers.LayerTypeEthernet, gopacket.Default)
		eth := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		if [6]byte(eth.SrcMAC) != want.srcMAC || [6]byte(eth.DstMAC) != want.dstMAC {
			t.Errorf("sample %d MACs %s %s", k, eth.SrcMAC, eth.DstMAC)
		}
		var src, dst netip.Addr
		var ipLen int
		if l := pkt.Layer(layers.LayerTypeIPv4); l != nil {
			ip := l.(*layers.IPv4)
			src, dst, ipLen = netip.AddrFrom4([4]byte(ip.SrcIP)), netip.AddrFrom4([4]byte(ip.DstIP)), int(ip.Length)
			if ip.Checksum != ipChecksum(h.HeaderData[14:34]) || ip.TOS != want.rec.tos {
				t.Errorf("sample %d: IPv4 checksum %x or TOS %x", k, ip.Checksum, ip.TOS)
			}
		} else if l := pkt.Layer(layers.LayerTypeIPv6); l != nil {
			ip := l.(*layers.IPv6)
			src, dst, ipLen = netip.AddrFrom16([16]byte(ip.SrcIP)), netip.AddrFrom16([16]byte(ip.DstIP)), int(ip.Length)+40
		}
		if src != want.rec.src || dst != want.rec.dst || ipLen != int(want.frameLen)-18 {
			t.Errorf("sample %d: %s → %s, IP length %d", k, src, dst, ipLen)
		}
		var sp, dp uint16
		var flags uint8
		if l := pkt.Layer(layers.LayerTypeTCP); l != nil {
			tcp := l.(*layers.TCP)
			sp, dp = uint16(tcp.SrcPort), uint16(tcp.DstPort)
			for bit, on := range []bool{tcp.FIN, tcp.SYN, tcp.RST, tcp.PSH, tcp.ACK, tcp.URG} {
				if on {
					flags |= 1 << bit
				}
			}
		} else if l := pkt.Layer(layers.LayerTypeUDP); l != nil {
			udp := l.(*layers.UDP)
			sp, dp = uint16(udp.SrcPort), uint16(udp.DstPort)
		}
		if sp != want.rec.srcPort || dp != want.rec.dstPort || flags != want.rec.tcpFlags {
			t.Errorf("sample %d: ports %d→%d flags %x", k, sp, dp, flags)
		}
	}

	cs := []ifCounters{{index: 57, ifType: 6, speed: 10e9, direction: 1, status: 3, inOctets: 1 << 40, inUcast: 7,
		inErr: 3, outOctets: 1<<41 + 5, outUcast: 9, outBcast: 1, promisc: 2}}
	for range 20 {
		cs = append(cs, cs[0])
	}
	b, n = e.encodeCounters(nil, 99, cs)
	if n < 9 || len(b) > maxFlowDatagram {
		t.Fatalf("%d counter samples in %d bytes", n, len(b))
	}
	p = sflow.Packet{}
	if err := sflow.DecodeMessageVersion(bytes.NewBuffer(b), &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Samples) != n {
		t.Fatalf("%d samples decoded, %d encoded", len(p.Samples), n)
	}
	c := p.Samples[0].(sflow.CounterSample)
	ic := c.Records[0].Data.(sflow.IfCounters)
	if c.Header.SourceIdValue != 57 || ic.IfIndex != 57 || ic.IfSpeed != 10e9 || ic.IfStatus != 3 || ic.IfInOctets != 1<<40 ||
		ic.IfOutOctets != 1<<41+5 || ic.IfInUcastPkts != 7 || ic.IfInErrors != 3 || ic.IfOutUcastPkts != 9 ||
		ic.IfOutBroadcastPkts != 1 || ic.IfPromiscuousMode != 2 {
		t.Errorf("counters %+v", ic)
	}
}

func ipChecksum(h []byte) uint16 {
	var sum uint32
	for k := 0; k < len(h); k += 2 {
		if k == 10 {
			continue
		}
		sum += uint32(binary.BigEndian.Uint16(h[k:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
