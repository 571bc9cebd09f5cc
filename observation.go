package watchfloor

import (
	"fmt"
	"net/netip"
	"time"
)

// ObsKind says what a packet observation is.
type ObsKind uint8

// The observation kinds the packet collector produces.
const (
	ObsDNSQuery       ObsKind = iota + 1 // a DNS query: Name, DNSType, label statistics
	ObsDNSResponse                       // a DNS response: Name, DNSType, DNSRcode, DNSAnswers
	ObsTLSClientHello                    // a TLS ClientHello: Name (SNI, may be empty), Extra (ALPN protocols, comma-separated)
	ObsHTTPRequest                       // a cleartext HTTP request: Name (Host), Extra (method)
	ObsTCPSyn                            // a connection attempt (SYN without ACK): HalfOpen after it
	ObsTCPSynAck                         // a SYN-ACK: the attempt was answered
	ObsTCPRst                            // a RST: refused or torn down
	ObsICMP                              // an ICMP or ICMPv6 message: ICMPType, ICMPCode
	ObsARP                               // an ARP request (who-has DstAddr from SrcAddr)
	ObsHostTraffic                       // per interval: what one source host sent (Packets, Bytes)
	ObsHalfOpen                          // per interval: a destination's half-open connections (HalfOpen)
)

var obsKindNames = [...]string{"", "dns.query", "dns.response", "tls.client_hello", "http.request",
	"tcp.syn", "tcp.syn_ack", "tcp.rst", "icmp", "arp", "host.traffic", "tcp.half_open"}

func (k ObsKind) String() string {
	if k != 0 && int(k) < len(obsKindNames) {
		return obsKindNames[k]
	}
	return fmt.Sprintf("obs_kind(%d)", uint8(k))
}

// MarshalText makes an ObsKind its dotted name in JSON and YAML.
func (k ObsKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Observation is one thing the packet collector saw on the wire: a DNS query, a TLS
// ClientHello, a SYN, or a per-interval summary. It is the record of the packet hot path, the
// way Flow is of the flow path: fixed fields, reused in batches, never allocated per packet.
//
// Name and Extra are views into the collector's buffers, valid only during the sink call that
// delivers the observation: a consumer that keeps them copies them (string(o.Name)).
//
// Counts are of the sampled packets; SamplingRate (1 in N packets was looked at) scales them
// to estimates of the real traffic.
type Observation struct {
	Time         time.Time // the packet's capture timestamp; the interval's end for summaries
	Kind         ObsKind
	SamplingRate uint32

	SrcAddr, DstAddr netip.Addr
	SrcPort, DstPort uint16
	Proto            uint8 // IP protocol number
	TCPFlags         uint8
	VLAN             uint16 // the innermost 802.1Q tag, 0 when untagged
	ICMPType         uint8
	ICMPCode         uint8

	// DNS: the first question.
	DNSType       uint16  // QTYPE
	DNSRcode      uint8   // responses
	DNSAnswers    uint16  // responses: ANCOUNT
	DNSLabels     uint8   // labels in Name
	DNSLongest    uint8   // length of the longest label
	DNSEntropy    float32 // Shannon entropy in bits per character of Name's labels left of the registered domain's last two labels (what tunnels and DGAs fill)
	DNSQueryBytes uint16  // length of Name

	Name  []byte // DNS QNAME (lower case, no trailing dot), TLS SNI, HTTP Host
	Extra []byte // TLS ALPN protocols, comma-separated; HTTP method

	HalfOpen uint32 // tcp.syn and tcp.half_open: the destination's half-open connections now
	Packets  uint64 // host.traffic: sampled packets in the interval
	Bytes    uint64 // host.traffic: sampled bytes (frame lengths on the wire)

	// Enrichment: where it was seen.
	Site   string
	Source string // the capture interface, or the file replayed
}
