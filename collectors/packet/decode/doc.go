// Package decode turns captured frames into watchfloor.Observation records: DNS queries and
// responses, TLS ClientHellos, cleartext HTTP requests, TCP SYNs, SYN-ACKs and RSTs, ICMP
// messages, ARP requests, and per-interval summaries of traffic per host and of half-open
// connections per destination. It is the pure part of the packet collector
// (collectors/packet), which captures, samples and fans packets out to one Decoder per
// goroutine; nothing here does I/O or reads a clock.
//
// # Shape
//
// A Decoder is one goroutine's: not safe for concurrent use, every buffer reused. The
// collector calls Packet for each sampled frame with an Output it resets between batches,
// Tick after each batch (and with the wall clock when a live capture is idle), and Flush at
// the end of a capture file. Metrics are shared by all Decoders; each Decoder counts locally
// and adds to them on Tick, Flush and at interval boundaries, so that decoders on several
// cores do not contend on one cache line per packet.
//
// # Decoding
//
// Link, network and transport headers are decoded by gopacket's DecodingLayerParser over
// layers preallocated in the Decoder (IgnoreUnsupported set: a protocol it has no layer for
// ends the decoding, without error): Ethernet; 802.1Q tags, QinQ (0x88a8 then 0x8100)
// included, of which the innermost VLAN ID is recorded (the one Dot1Q layer is decoded once
// per tag, the inner one last); Linux cooked captures (SLL, SLL2); ARP; IPv4; IPv6 with its
// hop-by-hop header, other extension headers skipped (IPv6ExtensionSkipper) and fragments
// recognised (IPv6Fragment); TCP; UDP; ICMPv4; ICMPv6. Link types: Ethernet, Linux SLL and
// SLL2, raw IP (101 and 12, by the version nibble), IPv4 (228) and IPv6 (229). Fragments
// other than atomic ones carry no transport header for the decoder (gopacket stops at
// them): a fragmented datagram is in host.traffic but yields no observation.
//
// DNS, TLS and HTTP are parsed by this package (ParseDNS, ParseClientHello,
// ParseHTTPRequest), bounded and without allocation:
//
//   - gopacket's layers.DNS decodes every record of a message and allocates for EDNS
//     options (dig sends a cookie by default) and for TXT and SVCB records
//     (BenchmarkDNS shows both); a response's answers are not needed here. ParseDNS reads
//     the header and the first question only.
//   - gopacket's layers.TLS allocates per record and does not give the SNI without
//     decoding the whole hello into new slices. ParseClientHello reads the ClientHello's
//     fixed fields and walks its extensions for server_name (0) and ALPN (16).
//
// DNS is read from UDP and TCP packets from or to port 53; over TCP, a segment must start
// with the 2-byte length and hold the whole message (the usual case for queries and small
// responses); otherwise it is counted as partial and skipped: segments are not reassembled.
// A ClientHello is looked for in TCP segments to Config.TLSPorts and in any segment whose
// payload starts 0x16 0x03 (a handshake record); HTTP requests in segments to
// Config.HTTPPorts that start with an upper-case method token and a space. Neither is
// reassembled either: a ClientHello larger than a segment (post-quantum key shares make
// Chrome's about 1.8 KB) is read as far as the segment goes — the SNI extension usually comes
// early — and counted as partial; QUIC's ClientHello (UDP 443, encrypted) is not read.
//
// # Observations
//
// Every observation of a packet has the packet's time, its sampling rate, the addresses,
// ports, IP protocol, TCP flags and innermost VLAN. Name and Extra are copies in the
// Output's arena, at most 255 bytes each, valid until the Output is Reset.
//
//   - dns.query, dns.response (by the QR bit): Name is the first question's QNAME as on the
//     wire with A–Z folded to a–z and no trailing dot ("" for the root), DNSType its QTYPE,
//     DNSQueryBytes its length, DNSLabels its label count, DNSLongest its longest label.
//     Responses add DNSRcode (the header's 4-bit RCODE; EDNS extended codes are not read)
//     and DNSAnswers (ANCOUNT). Compression pointers are followed only backwards; a name
//     longer than 255 characters, a label type other than 0 or 0xC0, or a pointer that does
//     not go back is malformed.
//   - DNSEntropy is the Shannon entropy H = −Σ pᵢ·log₂(pᵢ), in bits per character, of
//     the characters of all labels left of the last two, taken together without the dots;
//     pᵢ is the share of character i among them. With two labels or fewer it is 0. So
//     "www.example.com" scores 0 (one label "www", all one character), while
//     "a8f3k2x9q7z1m4p0.example.com" scores 4.0 (16 characters, all different) and
//     "a8f3k2x9q7z1m4p0.tunnel.example.com" 4.37 (over "a8f3k2x9q7z1m4p0tunnel"). The
//     last two labels stand for the registered domain: under a public suffix of two labels
//     ("example.co.uk") the registered name itself is counted. Entropy is bounded by
//     log₂ of the length, so short names score low whatever they hold: rules should look
//     at DNSEntropy together with DNSQueryBytes or DNSLongest.
//   - tls.client_hello: Name is the SNI (the first host_name of server_name, folded, no
//     trailing dot; empty when absent), Extra the ALPN protocols comma-separated (as many
//     as fit in 255 bytes).
//   - http.request: Name is the Host header's value, folded, without its port (an IPv6
//     literal keeps its brackets; empty without a Host header within the first 2 KiB),
//     Extra the method.
//   - tcp.syn: a SYN without ACK (and without RST); HalfOpen is the destination's
//     half-open count after it. tcp.syn_ack: SYN and ACK. tcp.rst: any segment with RST.
//   - icmp: every ICMPv4 and ICMPv6 message, ICMPType and ICMPCode set (neighbour
//     discovery included).
//   - arp: an ARP request for IPv4; SrcAddr the sender's protocol address, DstAddr the
//     address asked for. Replies are not observed.
//   - host.traffic (a summary): per source IP address, the sampled packets and bytes of
//     one interval; bytes are the frames' lengths on the wire (wireLen). ARP and other
//     non-IP frames are in no row.
//   - tcp.half_open (a summary): per destination with at least one attempt half-open as
//     the interval ends, HalfOpen is that count.
//
// Summaries have Time set to the end of their interval. Intervals are [k·Interval,
// (k+1)·Interval) of packet time since the Unix epoch, so that decoders, and appliances,
// bucket alike. An interval is closed by the first packet, Tick or Flush at or past its end;
// an interval without packets has no host.traffic rows. Flush also emits the interval in
// progress (still timed at its end) and forgets all state. Rows come in a deterministic
// order (hosts as first seen, destinations by address), so a replay gives the same output.
// SamplingRate of a summary is the rate of the latest packet.
//
// # Half-open connections
//
// An attempt is (source, source port, destination, destination port) as its SYN goes. It is
// half-open from its SYN until a SYN-ACK from the destination answers it, a RST in either
// direction ends it, or Config.HalfOpenTimeout passes since its last SYN (a retransmitted SYN
// refreshes it); then it is forgotten and counted in
// watchfloor_packet_decode_half_open_expired_total. At most Config.MaxTracked attempts
// are tracked (about 150 bytes each); SYNs beyond are counted in
// watchfloor_packet_decode_overflow_total{table="attempts"} and only observed. Attempts live
// in a slab, linked in the order of their last SYN, so that expiry, answers and refreshes
// are O(1) and allocate nothing.
//
// With sampling the counts are approximate, in this way. The collector samples by flow
// hash — a connection is kept or dropped with both its directions, flow-consistent
// sampling — so a sampled SYN's answer is sampled too and does not make a false half-open
// attempt; but only about 1 in N attempts is seen, so half-open counts and the SYN rate
// are about 1/N of the real ones (multiply by SamplingRate), and a destination with fewer
// than N attempts may show none. Retransmissions of one attempt are one attempt. With
// packet-by-packet sampling instead (1 in N packets regardless of flow), most SYNs would
// lose their SYN-ACK and the counts would mean nothing; the collector does not do that.
// The collector fans out by flow hash to several Decoders, each with its own tables: a
// destination's attempts, and a host's traffic, are spread over them, and each Decoder
// emits its own rows for the same interval and address. A consumer sums rows of equal
// Time, Kind and address; HalfOpen on a tcp.syn is the count in its own Decoder, a lower
// bound of the destination's.
//
// # Hostile input
//
// Nothing read from a packet sizes an allocation: names are copied into fixed 255-byte
// buffers, lengths are checked against the bytes present before use, and the tables are
// bounded (Config.MaxTracked, Config.MaxHosts; overflow counted). gopacket's decoding runs
// under its parser's recover(), which turns a panic into an error. A frame that fails is
// counted in watchfloor_packet_decode_errors_total{layer, reason} — reason "truncated" when
// the bytes ended first, "malformed" when its fields contradict each other, "unsupported"
// for a link type not read — and Packet returns a *DecodeError naming the layer; what the
// layers before it gave is still used (an IPv4 packet with a broken TCP header counts in
// host.traffic). A segment to an HTTP port that does not start with a method token is a
// continuation, not an error; a known method whose request line is broken is malformed.
// gopacket allocates for rare options (MPTCP TCP options, IPv6 hop-by-hop options) and for
// its error values; the common path allocates nothing.
//
// # Speed
//
// BenchmarkPacket decodes a realistic mix (bulk TCP and ACKs, TLS data and handshakes, DNS,
// HTTP, ICMP, ARP; IPv4 and IPv6; some VLAN-tagged) at several million packets per second on
// one core with 0 allocations per packet, about 5 times gopacket.NewPacket with Lazy and
// NoCopy on the same frames (which does no more than decode the headers). TestZeroAllocs
// holds the 0.
package decode
