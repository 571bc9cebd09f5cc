// Package rollup rolls flow records up per minute and per hour: for each dimension (source
// host, destination host, pair, destination port, protocol, source and destination AS,
// interface) and each exporting device, the top N keys by bytes and the top N by packets
// (their union), the traffic of every interface, and the totals — as watchfloor.FlowRollup
// values that the store keeps and the console ranks.
//
// # Time
//
// A record belongs to the minute (and hour) of its Received time, truncated, so that a replayed
// capture gives the same rollups every time. A minute is closed Grace after its end; Run does
// it as the clock passes, AdvanceTo(t) as a replay's capture time passes, Flush at once.
// Hour rollups are the sum of their minutes, with the interfaces' bytes per 5-minute slot
// (In5m/Out5m, 12 slots) from which Percentile95 computes a transit bill; an hour is closed
// with its last minute.
//
// Late records — whose minute is already closed — are never dropped: they are added to the
// oldest open minute and counted in watchfloor_flow_rollup_late_records_total. A record
// too far ahead of the open minutes (a clock step, a replay that does not call AdvanceTo)
// closes the oldest open minutes itself; their rollups wait in a bounded queue (256) for the
// next Run wake-up, AdvanceTo or Flush, and beyond it the oldest is dropped and counted in
// watchfloor_flow_rollup_dropped_total. A replay should therefore call AdvanceTo after each
// batch (it is cheap when nothing closes).
//
// Flush does not move the clock: a record that still arrives for a flushed minute makes a
// second rollup of the same minute. The store adds up rollups of the same (site, step,
// start) with Merge, which is also how a partial hour flushed at shutdown and the rest
// written after a restart become one.
//
// # Keys
//
// Devices are the flows' Device, or the exporter's address when the device is unknown.
// Keys are rendered as strings only when an interval closes:
//
//	src, dst    netip.Addr.String(): "192.0.2.1", "2001:db8::1" (IPv4-mapped addresses unmapped)
//	pair        "SRC → DST" (PairSeparator, U+2192 between spaces)
//	port        "tcp/443", "udp/53", "sctp/2905"; "icmp", "ipv6-icmp", "gre", "esp" alone;
//	            "proto/N/PORT" for other protocols (PortName); the destination port
//	proto       "tcp", "udp", "icmp", "ipv6-icmp", "gre", "esp", "sctp", else the number (ProtoName)
//	as, dst_as  "AS64500"; AS 0 (not exported) is in no row (ASName)
//	interface   "DEVICE/IFNAME", or "DEVICE/ifIndex N" without a name (InterfaceName)
//
// Records without a valid address are in no host or pair row. A flow adds to the In counters
// of its device's input interface and to the Out counters of its output interface (ifIndex
// 0 is skipped); an interface row's bytes are In+Out, its flows the records that crossed it.
// Rows of a rollup are ordered by dimension (watchfloor.FlowDims order), device, bytes and
// packets descending, key; interfaces by device and ifIndex.
//
// # Speed and memory
//
// Each receive goroutine ("worker") has its own shard: a small ring of minute tables with
// typed keys (16-byte addresses, packed integers, devices interned to 16-bit numbers per
// interval) indexing dense counter slices. Add takes only its own shard's lock, which the
// closer takes briefly to swap a minute's tables for cleared spares; tables are reused with
// clear(), so the steady state does not allocate. At close the shards' tables are merged,
// each device's top keys picked with two bounded heaps (bytes, packets), rendered, and the
// minute folded into the hour's typed tables.
//
// Memory is bounded: at most MaxKeys keys per dimension per shard per minute (and
// MaxKeys×workers per dimension for the hour). A record whose key does not fit is in the
// totals and in Totals.Overflow, counted per dimension in
// watchfloor_flow_rollup_overflow_total{dim}, and in no row. For an hour, Totals.Overflow adds
// the minutes' overflow and, for keys that did not fit the hour's tables, the largest number
// of flows left out of one dimension.
//
// Configuration, as the appliance reads it from YAML:
//
//	top_n: 100        # per dimension and device: top 100 by bytes ∪ top 100 by packets
//	max_keys: 100000  # per dimension, receive goroutine and minute
//	grace: 5s         # a minute closes 5 s after its end
//
// Metrics: watchfloor_flow_rollup_records_total, _late_records_total, _overflow_total{dim},
// _rollups_total{step}, _dropped_total, _close_duration_seconds.
package rollup
