package watchfloor

import (
	"fmt"
	"net/netip"
	"time"
)

// FlowProtocol is the export protocol a flow record arrived in.
type FlowProtocol uint8

// The export protocols.
const (
	FlowNetFlowV5 FlowProtocol = iota + 1
	FlowNetFlowV9
	FlowIPFIX
	FlowSFlow
)

var flowProtocolNames = [...]string{"", "netflow_v5", "netflow_v9", "ipfix", "sflow"}

func (p FlowProtocol) String() string {
	if int(p) < len(flowProtocolNames) && p != 0 {
		return flowProtocolNames[p]
	}
	return fmt.Sprintf("flow_protocol(%d)", uint8(p))
}

// Direction says how a flow crosses the boundary of the networks the config names as ours.
type Direction uint8

// The directions. DirectionUnknown is used when no networks are configured.
const (
	DirectionUnknown  Direction = iota
	DirectionIn                 // from outside to ours
	DirectionOut                // from ours to outside
	DirectionInternal           // ours to ours
	DirectionTransit            // neither end is ours
)

var directionNames = [...]string{"unknown", "in", "out", "internal", "transit"}

func (d Direction) String() string {
	if int(d) < len(directionNames) {
		return directionNames[d]
	}
	return fmt.Sprintf("direction(%d)", uint8(d))
}

// MarshalText makes a Direction its name in JSON and YAML.
func (d Direction) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Flow is one flow record as an exporter described it, scaled by its sampling rate and
// enriched with what the appliance knows. It is the record of the flow hot path: fixed
// fields, no pointers but the interned strings of the enrichment, so that batches of them are
// reused without allocating.
//
// Bytes and Packets are estimates of the real traffic: the exported counts multiplied by
// SamplingRate (1 when the export is unsampled). The exported counts are
// Bytes/SamplingRate and Packets/SamplingRate.
type Flow struct {
	Received time.Time // when the datagram carrying the record arrived (or its pcap timestamp)
	Start    time.Time // first packet, as the exporter says; Received when it does not
	End      time.Time // last packet; Received when the exporter does not say

	Exporter     netip.Addr // the datagram's source address, unmapped
	ObsDomain    uint32     // NetFlow v9 source ID, IPFIX observation domain, sFlow sub-agent
	Protocol     FlowProtocol
	SamplingRate uint32 // 1 in SamplingRate packets was seen; 1 when unsampled

	SrcAddr, DstAddr netip.Addr
	SrcPort, DstPort uint16
	Proto            uint8 // IP protocol number
	TCPFlags         uint8 // OR of the flags seen
	VLAN             uint16
	InIf, OutIf      uint32 // ifIndex; 0 when not exported
	SrcAS, DstAS     uint32 // 0 when not exported

	Bytes   uint64
	Packets uint64

	// Enrichment, set by the collector from the inventory and the config. Strings are
	// interned: assigning them does not allocate.
	Site      string
	Device    string // configured name of the exporter's device; "" when unknown
	InIfName  string
	OutIfName string
	InSpeed   uint64 // bit/s of the input interface, 0 when unknown
	OutSpeed  uint64
	Direction Direction
}

// FlowDim is a dimension that flow rollups rank by.
type FlowDim string

// The rollup dimensions.
const (
	FlowBySrc       FlowDim = "src"       // source host
	FlowByDst       FlowDim = "dst"       // destination host
	FlowByPair      FlowDim = "pair"      // source host → destination host
	FlowByPort      FlowDim = "port"      // destination port and protocol, "tcp/443"
	FlowByProto     FlowDim = "proto"     // IP protocol, "tcp"
	FlowByAS        FlowDim = "as"        // source AS, "AS64500" (only when exported)
	FlowByDstAS     FlowDim = "dst_as"    // destination AS
	FlowByInterface FlowDim = "interface" // device interface, "core-r1/ge-0/0/1"; in and out
)

// FlowDims lists the dimensions in the order the API documents them.
var FlowDims = []FlowDim{FlowBySrc, FlowByDst, FlowByPair, FlowByPort, FlowByProto, FlowByAS, FlowByDstAS, FlowByInterface}

// FlowRow is one ranked key of a rollup: the traffic one source host, destination port, …
// sent through one device in the rollup's interval. Bytes and Packets are scaled estimates;
// Flows counts records.
type FlowRow struct {
	By      FlowDim `json:"by"`
	Device  string  `json:"device"` // the exporting device ("" when the exporter is unknown)
	Key     string  `json:"key"`
	Bytes   uint64  `json:"bytes"`
	Packets uint64  `json:"packets"`
	Flows   uint64  `json:"flows"`
}

// IfTraffic is what flows say crossed one interface in a rollup's interval. In counts flows
// whose input interface it is, Out those whose output interface it is. For hourly rollups
// In5m and Out5m hold the bytes of each 5-minute slot of the hour (12 of them), from which a
// month's 95th percentile is computed the way transit is billed.
type IfTraffic struct {
	Device     string   `json:"device"`
	IfIndex    uint32   `json:"if_index"`
	Interface  string   `json:"interface,omitempty"`
	SpeedBps   uint64   `json:"speed_bps,omitempty"`
	InBytes    uint64   `json:"in_bytes"`
	OutBytes   uint64   `json:"out_bytes"`
	InPackets  uint64   `json:"in_packets"`
	OutPackets uint64   `json:"out_packets"`
	In5m       []uint64 `json:"in_5m,omitempty"`
	Out5m      []uint64 `json:"out_5m,omitempty"`
}

// FlowTotals are the totals of a rollup interval, over all keys, so that what the top-N rows
// leave out is still accounted for.
type FlowTotals struct {
	Bytes   uint64 `json:"bytes"`
	Packets uint64 `json:"packets"`
	Flows   uint64 `json:"flows"`
	// Overflow counts records whose key did not fit in a dimension's bounded table during
	// the interval (a scan or a spoofed flood); they are in the totals but in no row.
	Overflow uint64 `json:"overflow"`
}

// FlowRollup is the traffic of one interval at one site: for each dimension the top N keys by
// bytes and the top N by packets (their union), every interface that carried traffic, and the
// totals. The interval is [Start, Start+Step).
type FlowRollup struct {
	Site       string        `json:"site"`
	Start      time.Time     `json:"start"`
	Step       time.Duration `json:"step"` // time.Minute or time.Hour
	Rows       []FlowRow     `json:"rows"`
	Interfaces []IfTraffic   `json:"interfaces"`
	Totals     FlowTotals    `json:"totals"`
}

// FlowTopQuery asks for the top keys of one dimension over [From, To).
type FlowTopQuery struct {
	By        FlowDim
	From, To  time.Time
	Limit     int    // 0: a default
	OrderBy   string // "bytes" (default) or "packets"
	Site      string // "" for all
	Device    string // "" for all
	Interface string // "" for all; with By=interface, the interface's name or ifIndex
}

// Add adds o, the traffic of the same interface in another part of the interval, to t:
// counters and 5-minute slots are summed; o's name and speed win when it has them.
func (t *IfTraffic) Add(o IfTraffic) {
	if o.Interface != "" {
		t.Interface = o.Interface
	}
	if o.SpeedBps != 0 {
		t.SpeedBps = o.SpeedBps
	}
	t.InBytes += o.InBytes
	t.OutBytes += o.OutBytes
	t.InPackets += o.InPackets
	t.OutPackets += o.OutPackets
	t.In5m = AddSlots(t.In5m, o.In5m)
	t.Out5m = AddSlots(t.Out5m, o.Out5m)
}

// AddSlots adds src to dst slot by slot, growing dst to src's length, and returns dst.
func AddSlots(dst, src []uint64) []uint64 {
	for len(dst) < len(src) {
		dst = append(dst, 0)
	}
	for i, v := range src {
		dst[i] += v
	}
	return dst
}
