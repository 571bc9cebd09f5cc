// Package decoder turns flow export datagrams — NetFlow v5, NetFlow v9, IPFIX and sFlow v5 —
// into typed watchfloor.Flow records and sFlow interface counters.
//
// The wire formats are read by goflow2's decoders (decoders/netflowlegacy, decoders/netflow,
// decoders/sflow); this package is the "producer" that maps what they decode onto
// watchfloor.Flow. goflow2's own producer is not used: it does not scale counts by the
// sampling rate, ignores samplingPacketSpace and drops sFlow counter samples.
//
// # Shape
//
// One Templates store is shared by all receive goroutines; each goroutine has its own
// Decoder, which reuses every buffer it has. The collector calls DecodeNetFlow or
// DecodeSFlow per datagram with an Output it resets and reuses, and Templates.Expire
// periodically.
//
// # Templates and held data
//
// NetFlow v9 and IPFIX templates are kept per exporter address, version, observation domain
// and template ID (an adapter gives goflow2 the netflow.NetFlowTemplateSystem of one
// exporter). A template not refreshed within Config.TemplateTTL expires. Memory is bounded:
// templates per exporter, fields per template, fields over all exporters, exporters with
// state; what does not fit is refused and counted (watchfloor_flow_templates_refused_total).
// Templates whose records would have no length are refused: goflow2 loops forever on them.
//
// A data set whose template is not known yet is copied and held, within a per-exporter and a
// global byte budget, for at most Config.PendingAge, and decoded with its original Received
// time when the template arrives; what is evicted or too old is counted
// (watchfloor_flow_pending_dropped_total).
//
// # Exporter restarts
//
// A rebooted exporter may define its template IDs anew, differently, and state other sampling
// rates; until it resends them its data would be decoded with what it said before. So each
// exporter address, version and observation domain that has state keeps the restart mark of
// its last datagram, and a datagram whose mark went back drops that domain's templates,
// samplers, boot time and held data sets (reason "restart") before it is decoded; its data
// is then held until the new templates arrive. Counted in
// watchfloor_flow_exporter_restarts_total{protocol}; nothing is logged or returned.
//
//   - NetFlow v9: the header's uptime is more than 10 s behind the last one (less is UDP
//     reordering), unless it went from the last 10 minutes of the 32-bit millisecond counter
//     to its first 10 minutes: that is its wrap after 49.7 days.
//   - IPFIX: the header's sequence number (data records sent, RFC 7011 §3.1) went back by
//     more than 2^20 to below 2^20, unless it was within 2^24 of 2^32 (its wrap). Options data
//     stating a systemInitTimeMilliseconds (160) more than a second away from the known one is
//     a restart too: the domain's state is dropped and the whole datagram decoded again, so
//     that its data is read with the templates it brings.
//   - NetFlow v5 has no templates, and its sampling interval comes with every header.
//
// The per-datagram cost is a map lookup under the exporter's read lock, an atomic swap and a
// comparison. A restart the marks cannot tell (a v9 exporter that had been up only briefly,
// so that its uptime after the reboot is not 10 s below the last one; an IPFIX exporter that
// had sent fewer than 2^20 records and states no boot time) goes unseen until its templates
// are resent or expire.
//
// # Sampling
//
// Bytes and Packets are multiplied by the sampling rate, found in this order: the NetFlow v5
// header's sampling interval (low 14 bits); in v9 and IPFIX the record's own fields 34, 50,
// 305+306 (rate (interval+space)/interval) or 309+310; the rate options data stated for the
// record's sampler ID (48 or 302), else for the whole domain; for sFlow the flow sample's
// rate. When none is known, Config.SamplingRate of the exporter, else 1. A rate of 0 is 1.
//
// # Times
//
// NetFlow v5 and v9 first/last switched are exporter uptime milliseconds, placed with the
// header's export time and uptime (modulo 2^32). IPFIX gives absolute times (150–157),
// deltas before the export time (158/159), or uptimes (21/22) counted from
// systemInitTimeMilliseconds (160) learnt from options data. Otherwise, and for sFlow,
// Start and End are the datagram's Received time.
//
// # sFlow
//
// A flow sample becomes one record: the sampled header (record type 1) is parsed with
// gopacket (Ethernet, 802.1Q and QinQ — the outer VLAN —, IPv4, IPv6 and its extension
// headers, TCP, UDP, ICMP; ICMP type and code go in DstPort as type<<8|code, as NetFlow
// exporters do). Bytes are the sampled frame length (as the agent reports it: layer 2,
// FCS included when the agent counts it) times the rate, Packets the rate. Extended switch
// data gives the VLAN, extended gateway data the ASes. Generic interface counter records
// become Counters. Exporter is the datagram's source address, ObsDomain the sub-agent ID.
//
// # Hostile input
//
// Each goflow2 call runs under recover(): a panic is counted with reason "panic". Before
// calling goflow2, NetFlow v5 datagrams get their record count cut to what the datagram
// holds, and sFlow datagrams whose expanded flow samples announce more than 1000 records are
// refused (goflow2 would allocate them all). Every failure is counted in
// watchfloor_flow_decode_errors_total{protocol,reason} and returned as a *DecodeError.
package decoder
