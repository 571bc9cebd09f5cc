package flow

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/collectors/flow/decoder"
	"github.com/watchfloor/watchfloor/internal/capfile"
)

// ReplayStats counts what Replay read and decoded.
type ReplayStats struct {
	Packets   int64 // capture records read
	NetFlow   int64 // datagrams decoded as NetFlow v5/v9 or IPFIX
	SFlow     int64 // datagrams decoded as sFlow
	Skipped   int64 // records that are not whole UDP datagrams of a flow export (other traffic, fragments, cut by the snap length)
	Errors    int64 // datagrams whose decoding failed (the decoder's metrics say why)
	Flows     int64 // flow records handed to the sink
	Samples   int64 // interface rate samples handed to the sink
	Bytes     int64 // UDP payload bytes of the decoded datagrams
	First     time.Time
	Last      time.Time // capture timestamps of the first and last datagram decoded
	Truncated bool      // the capture ended in the middle of a record
}

// Well-known ports, for captures whose destination port no listener of the config has.
var wellKnownPorts = map[uint16]int{2055: protoNetFlow, 4739: protoNetFlow, 9995: protoNetFlow, 9996: protoNetFlow, 6343: protoSFlow}

// replayBatch is how many datagrams are decoded between two flushes to the sink.
const replayBatch = 64

// Replay decodes a pcap or pcapng capture (gzipped or not) of exporter datagrams (UDP to any port, over
// Ethernet, raw IP, Linux cooked or BSD loopback framing) through the same decode and
// enrich path as the sockets, with the capture timestamps as the receive times, calling
// sink with worker 0. NetFlow/IPFIX and sFlow are told apart by the UDP destination port:
// the configured listeners' ports, then 2055, 4739, 9995, 9996 (NetFlow) and 6343 (sFlow),
// then the version field. Templates expire by capture time. progress, when not nil, is
// called with the bytes read so far and the size of r (capfile.Each: once the header is
// read, every MiB and at the end; the size from a Size() int64 method, or Stat for a
// regular file; -1 when unknown). A capture cut in the middle of a record is not an error:
// ReplayStats.Truncated says so.
//
// Replay must not run while Run does on the same collector (the sink's worker 0 would be
// called from two goroutines); use NewReplayer for a collector that only replays.
func (c *Collector) Replay(ctx context.Context, r io.Reader, sink Sink, progress func(done, total int64)) (ReplayStats, error) {
	var st ReplayStats
	if c.running.Load() {
		return st, errors.New("flow: Replay while Run is running")
	}
	if !c.replaying.CompareAndSwap(false, true) {
		return st, errors.New("flow: Replay already running")
	}
	defer c.replaying.Store(false)

	w := c.newWorker(0)
	cs := &countingSink{sink: sink, st: &st}
	pending := 0
	var lastExpire time.Time
	cst, err := capfile.Each(ctx, r, progress, func(data []byte, ci gopacket.CaptureInfo, lt layers.LinkType) {
		src, dstPort, payload, ok := udpPayload(lt, data)
		if !ok || ci.CaptureLength < ci.Length {
			st.Skipped++
			return
		}
		proto, ok := replayProto(c.ports, dstPort, payload)
		if !ok {
			st.Skipped++
			return
		}
		ts := ci.Timestamp
		if st.First.IsZero() {
			st.First = ts
		}
		st.Last = ts
		if lastExpire.IsZero() {
			lastExpire = ts
		} else if ts.Sub(lastExpire) >= expireEvery {
			lastExpire = ts
			c.housekeep(ts)
		}
		if proto == protoSFlow {
			st.SFlow++
		} else {
			st.NetFlow++
		}
		st.Bytes += int64(len(payload))
		c.m.replayed.Inc()
		if err := w.decode(proto, decoder.Datagram{Exporter: src, Received: ts, Payload: payload}); err != nil {
			st.Errors++
		}
		if pending++; pending >= replayBatch {
			w.deliver(w.out, cs)
			pending = 0
		}
	})
	w.deliver(w.out, cs)
	st.Packets, st.Truncated = cst.Records, cst.Truncated
	if err != nil {
		return st, fmt.Errorf("flow: replay: %w", err)
	}
	return st, nil
}

// countingSink counts what Replay hands to the sink.
type countingSink struct {
	sink Sink
	st   *ReplayStats
}

func (s *countingSink) HandleFlows(worker int, flows []watchfloor.Flow) {
	s.st.Flows += int64(len(flows))
	s.sink.HandleFlows(worker, flows)
}

func (s *countingSink) PutSamples(x []watchfloor.Sample) {
	s.st.Samples += int64(len(x))
	s.sink.PutSamples(x)
}

// replayProto tells which decoder a datagram to dstPort goes to.
func replayProto(ports map[uint16]int, dstPort uint16, payload []byte) (int, bool) {
	if p, ok := ports[dstPort]; ok {
		return p, true
	}
	if p, ok := wellKnownPorts[dstPort]; ok {
		return p, true
	}
	if len(payload) >= 4 {
		switch v := binary.BigEndian.Uint16(payload); {
		case v == 5 || v == 9 || v == 10:
			return protoNetFlow, true
		case v == 0 && binary.BigEndian.Uint32(payload) == 5:
			return protoSFlow, true
		}
	}
	return 0, false
}

// udpPayload finds the source and the destination port and the payload of a whole,
// unfragmented UDP datagram in a captured frame.
func udpPayload(lt layers.LinkType, b []byte) (src netip.AddrPort, dstPort uint16, payload []byte, ok bool) {
	var ethType uint16
	switch lt {
	case layers.LinkTypeEthernet:
		if len(b) < 14 {
			return
		}
		ethType, b = binary.BigEndian.Uint16(b[12:]), b[14:]
		for (ethType == 0x8100 || ethType == 0x88a8) && len(b) >= 4 { // VLAN tags
			ethType, b = binary.BigEndian.Uint16(b[2:]), b[4:]
		}
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6, 12, 14: // 12 and 14: raw IP on some systems
		if len(b) < 1 {
			return
		}
		ethType = 0x0800
		if b[0]>>4 == 6 {
			ethType = 0x86dd
		}
	case layers.LinkTypeLinuxSLL:
		if len(b) < 16 {
			return
		}
		ethType, b = binary.BigEndian.Uint16(b[14:]), b[16:]
	case layers.LinkTypeLinuxSLL2:
		if len(b) < 20 {
			return
		}
		ethType, b = binary.BigEndian.Uint16(b[0:]), b[20:]
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		if len(b) < 4 {
			return
		}
		b = b[4:]
		if len(b) < 1 {
			return
		}
		ethType = 0x0800
		if b[0]>>4 == 6 {
			ethType = 0x86dd
		}
	default:
		return
	}
	var addr netip.Addr
	switch ethType {
	case 0x0800:
		if len(b) < 20 || b[0]>>4 != 4 {
			return
		}
		ihl := int(b[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(b[2:]))
		frag := binary.BigEndian.Uint16(b[6:])
		if ihl < 20 || total < ihl || total > len(b) || frag&0x3fff != 0 || b[9] != 17 {
			return // fragments (MF set or an offset) are not reassembled
		}
		addr = netip.AddrFrom4([4]byte(b[12:16]))
		b = b[ihl:total]
	case 0x86dd:
		if len(b) < 40 || b[0]>>4 != 6 || b[6] != 17 {
			return // extension headers (fragments among them) are not followed
		}
		plen := int(binary.BigEndian.Uint16(b[4:]))
		if 40+plen > len(b) {
			return
		}
		addr = netip.AddrFrom16([16]byte(b[8:24])).Unmap()
		b = b[40 : 40+plen]
	default:
		return
	}
	if len(b) < 8 {
		return
	}
	ulen := int(binary.BigEndian.Uint16(b[4:]))
	if ulen < 8 || ulen > len(b) {
		return
	}
	return netip.AddrPortFrom(addr, binary.BigEndian.Uint16(b[0:])), binary.BigEndian.Uint16(b[2:]), b[8:ulen], true
}
