package decoder

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/netsampler/goflow2/v2/decoders/netflow"
	"github.com/netsampler/goflow2/v2/decoders/netflowlegacy"
	"github.com/netsampler/goflow2/v2/decoders/sflow"

	"github.com/watchfloor/watchfloor"
)

// Datagram is one UDP payload as received. Payload is only valid during the Decode call
// (buffers are reused).
type Datagram struct {
	Exporter netip.AddrPort
	Received time.Time
	Payload  []byte
}

// Output collects what Decode produces; Decode appends, the caller resets (out.Reset()) and
// reuses it.
type Output struct {
	Flows    []watchfloor.Flow
	Counters []Counters
}

// Reset empties o, keeping its storage.
func (o *Output) Reset() {
	o.Flows = o.Flows[:0]
	o.Counters = o.Counters[:0]
}

// Counters is one sFlow counter sample of one interface (generic interface counters, record
// type 1), raw cumulative values.
type Counters struct {
	Exporter  netip.Addr // the datagram's source address, unmapped
	ObsDomain uint32     // sFlow sub-agent ID
	IfIndex   uint32
	Time      time.Time // when the datagram arrived
	SpeedBps  uint64

	InOctets, OutOctets               uint64
	InUcastPkts, OutUcastPkts         uint64
	InMulticastPkts, OutMulticastPkts uint64
	InBroadcastPkts, OutBroadcastPkts uint64
	InErrors, OutErrors               uint64
	InDiscards, OutDiscards           uint64

	AdminUp, OperUp bool
}

// The errors Decode returns wrap one of these, so that callers can branch on the kind;
// each matches a reason label of watchfloor_flow_decode_errors_total.
var (
	ErrShort     = errors.New("datagram shorter than its header")
	ErrVersion   = errors.New("unknown version")
	ErrMalformed = errors.New("malformed datagram")
	ErrTruncated = errors.New("datagram holds fewer records than its header says")
	ErrTooMany   = errors.New("too many records in a sample")
	ErrPanic     = errors.New("decoder panicked")
)

// DecodeError is the error of one datagram: its protocol (0 when the NetFlow version is
// unknown), the reason label it was counted under, and the cause.
type DecodeError struct {
	Protocol watchfloor.FlowProtocol
	Reason   string
	Err      error
}

func (e *DecodeError) Error() string {
	p := "netflow"
	if e.Protocol != 0 {
		p = e.Protocol.String()
	}
	return fmt.Sprintf("flow decoder: %s: %v", p, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// Decoder is one goroutine's decoder: not safe for concurrent use; reuses all its buffers.
type Decoder struct {
	t   *Templates
	cfg Config
	m   *Metrics

	rd      bytes.Buffer // the datagram, copied: goflow2 reads from a *bytes.Buffer
	pend    bytes.Buffer // a held data set being decoded
	scratch []byte

	ts      exporterTemplates
	v5      netflowlegacy.PacketNetFlowV5
	nf9     netflow.NFv9Packet
	ipfix   netflow.IPFIXPacket
	sf      sflow.Packet
	pending []pendingSet

	// Per datagram: the configured rate of the exporter, looked up once when needed, and
	// the last sampler looked up.
	cfgRate     uint32
	lastSampler samplerKey
	lastRate    uint32
	lastValid   bool

	pkt packetParser
}

// New makes a decoder over the shared templates. Zero fields of cfg take their defaults;
// a nil m gets metrics of its own, registered nowhere.
func New(t *Templates, cfg Config, m *Metrics) *Decoder {
	if m == nil {
		m = t.m
	}
	d := &Decoder{t: t, cfg: cfg.withDefaults(), m: m}
	d.ts.t = t
	d.pkt.init()
	return d
}

// beginDatagram resets the per-datagram state.
func (d *Decoder) beginDatagram() {
	d.cfgRate = 0
	d.lastValid = false
}

// configuredRate is Config.SamplingRate for the exporter, 1 when it gives none.
func (d *Decoder) configuredRate(exp netip.Addr) uint32 {
	if d.cfgRate == 0 {
		d.cfgRate = 1
		if d.cfg.SamplingRate != nil {
			if r := d.cfg.SamplingRate(exp); r > 0 {
				d.cfgRate = r
			}
		}
	}
	return d.cfgRate
}

func (d *Decoder) fail(p watchfloor.FlowProtocol, reason string, err error) error {
	d.m.decodeError(p, reason)
	return &DecodeError{Protocol: p, Reason: reason, Err: err}
}

func received(dg Datagram) time.Time {
	if dg.Received.IsZero() {
		return time.Now()
	}
	return dg.Received
}
