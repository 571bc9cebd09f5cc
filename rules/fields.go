package rules

// The records rules read, by kind, and their fields. A rule's logsource category names the
// kinds it reads (a kind, or a group of kinds); its field conditions, group-by fields and
// templates use these names. The correlator compiles each name once into an accessor of the
// typed record; an unknown field is an error of `rules check`, naming the file, line, column.
//
// Field types: Str (compared as text; case-insensitive like Sigma unless |cased), Num (an
// integer or a float; gt/gte/lt/lte), Addr (an IP address; |cidr, lists of addresses and
// networks), Time.

// FieldType is how a field's values compare.
type FieldType uint8

// The field types.
const (
	Str FieldType = iota + 1
	Num
	Addr
)

// Kind is a kind of record the correlator sees.
type Kind string

// The record kinds. Packet observations are named by their watchfloor.ObsKind name.
const (
	KindFlow           Kind = "flow"             // watchfloor.Flow
	KindDNSQuery       Kind = "dns.query"        // watchfloor.Observation, ObsDNSQuery
	KindDNSResponse    Kind = "dns.response"     // ObsDNSResponse
	KindTLSClientHello Kind = "tls.client_hello" // ObsTLSClientHello
	KindHTTPRequest    Kind = "http.request"     // ObsHTTPRequest
	KindTCPSyn         Kind = "tcp.syn"          // ObsTCPSyn
	KindTCPSynAck      Kind = "tcp.syn_ack"      // ObsTCPSynAck
	KindTCPRst         Kind = "tcp.rst"          // ObsTCPRst
	KindICMP           Kind = "icmp"             // ObsICMP
	KindARP            Kind = "arp"              // ObsARP
	KindHostTraffic    Kind = "host.traffic"     // ObsHostTraffic
	KindHalfOpen       Kind = "tcp.half_open"    // ObsHalfOpen
	KindEvent          Kind = "event"            // watchfloor.Event (SNMP poll state changes, traps)
	KindMetric         Kind = "metric"           // watchfloor.Sample (interface and device metrics)
)

// Categories are the logsource categories a rule may name: each is a set of kinds.
var Categories = map[string][]Kind{
	"flow":         {KindFlow},
	"dns":          {KindDNSQuery, KindDNSResponse},
	"dns_query":    {KindDNSQuery},
	"dns_response": {KindDNSResponse},
	"tls":          {KindTLSClientHello},
	"http":         {KindHTTPRequest},
	"tcp":          {KindTCPSyn, KindTCPSynAck, KindTCPRst},
	"icmp":         {KindICMP},
	"arp":          {KindARP},
	"host_traffic": {KindHostTraffic},
	"half_open":    {KindHalfOpen},
	"packet":       {KindDNSQuery, KindDNSResponse, KindTLSClientHello, KindHTTPRequest, KindTCPSyn, KindTCPSynAck, KindTCPRst, KindICMP, KindARP, KindHostTraffic, KindHalfOpen},
	"event":        {KindEvent},
	"metric":       {KindMetric},
}

// Field is one field of some kinds.
type Field struct {
	Name  string
	Type  FieldType
	Kinds []Kind // the kinds that have it
	Doc   string
}

var (
	obsKinds  = Categories["packet"]
	netKinds  = append([]Kind{KindFlow}, obsKinds...)
	allKinds  = append(append([]Kind(nil), netKinds...), KindEvent, KindMetric)
	dnsKinds  = Categories["dns"]
	flowOnly  = []Kind{KindFlow}
	eventOnly = []Kind{KindEvent}
)

// Fields lists every field rules may use. Sigma's field names for network log sources map
// onto these (docs/rules.md has the table).
var Fields = []Field{
	// Every record.
	{"kind", Str, allKinds, "the record kind: flow, dns.query, …, event, metric"},
	{"site", Str, allKinds, "the site that saw it"},
	{"device", Str, append(append([]Kind{KindFlow}, KindEvent), KindMetric), "flow: the exporting device; event and metric: the device"},

	// Flows and packet observations.
	{"src_ip", Addr, netKinds, "source address"},
	{"dst_ip", Addr, netKinds, "destination address"},
	{"src_port", Num, netKinds, "source port"},
	{"dst_port", Num, netKinds, "destination port (ICMP: type<<8 | code in flows)"},
	{"proto", Num, netKinds, "IP protocol number (6 tcp, 17 udp, 1 icmp, 58 ipv6-icmp)"},
	{"tcp_flags", Num, netKinds, "TCP flags (flows: OR of the flags seen)"},
	{"vlan", Num, netKinds, "802.1Q VLAN ID"},
	{"bytes", Num, []Kind{KindFlow, KindHostTraffic}, "flow: bytes (scaled by the sampling rate); host.traffic: sampled bytes"},
	{"packets", Num, []Kind{KindFlow, KindHostTraffic}, "flow: packets (scaled); host.traffic: sampled packets"},
	{"sampling_rate", Num, netKinds, "1 in N packets seen"},

	// Flows.
	{"exporter", Addr, flowOnly, "the exporter's address"},
	{"in_if", Num, flowOnly, "input ifIndex"},
	{"out_if", Num, flowOnly, "output ifIndex"},
	{"in_if_name", Str, flowOnly, "input interface name"},
	{"out_if_name", Str, flowOnly, "output interface name"},
	{"src_as", Num, flowOnly, "source AS"},
	{"dst_as", Num, flowOnly, "destination AS"},
	{"direction", Str, flowOnly, "in, out, internal, transit or unknown (relative to flow.our_networks)"},
	{"duration", Num, flowOnly, "seconds from the flow's start to its end"},

	// Packet observations.
	{"dns.query", Str, dnsKinds, "the question's name, lower case, no trailing dot"},
	{"dns.type", Num, dnsKinds, "the question's type (1 A, 28 AAAA, 16 TXT, …)"},
	{"dns.rcode", Num, []Kind{KindDNSResponse}, "the response code (3 NXDOMAIN)"},
	{"dns.answers", Num, []Kind{KindDNSResponse}, "answer count"},
	{"dns.labels", Num, dnsKinds, "labels in the name"},
	{"dns.longest_label", Num, dnsKinds, "the longest label's length"},
	{"dns.entropy", Num, dnsKinds, "Shannon entropy, bits a character, of the labels left of the last two"},
	{"dns.length", Num, dnsKinds, "the name's length"},
	{"tls.sni", Str, []Kind{KindTLSClientHello}, "the ClientHello's server name"},
	{"tls.alpn", Str, []Kind{KindTLSClientHello}, "ALPN protocols, comma-separated"},
	{"http.host", Str, []Kind{KindHTTPRequest}, "the Host header"},
	{"http.method", Str, []Kind{KindHTTPRequest}, "the request method"},
	{"icmp.type", Num, []Kind{KindICMP}, "ICMP type"},
	{"icmp.code", Num, []Kind{KindICMP}, "ICMP code"},
	{"half_open", Num, []Kind{KindTCPSyn, KindHalfOpen}, "the destination's half-open connections"},

	// Events.
	{"event.kind", Str, eventOnly, "device.unreachable, interface.down, trap.link_down, …"},
	{"severity", Str, eventOnly, "the event's severity: info, low, medium, high, critical"},
	{"interface", Str, append([]Kind{KindEvent}, KindMetric), "the interface's name"},
	{"if_index", Num, append([]Kind{KindEvent}, KindMetric), "the interface's ifIndex"},
	{"source", Str, eventOnly, "snmp.poll, snmp.trap, …"},
	{"message", Str, eventOnly, "the event's text"},
	// "attr.<key>" (Str) reads an event attribute, such as a trap varbind by OID.

	// Metric samples.
	{"metric", Str, []Kind{KindMetric}, "in_bps, out_bps, utilization, cpu_percent, …"},
	{"value", Num, []Kind{KindMetric}, "the sample's value"},
}

// AttrPrefix is the prefix of event attribute fields: "attr.1.3.6.1.2.1.2.2.1.1".
const AttrPrefix = "attr."
