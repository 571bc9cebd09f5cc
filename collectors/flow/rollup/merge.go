package rollup

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	"github.com/watchfloor/watchfloor"
)

// Merge adds b into a, two rollups of the same site, step and start (a zero a takes b's): rows
// are summed per (dimension, device, key) and trimmed again to the top topN by bytes ∪ the
// top topN by packets per (dimension, device) (topN ≤ 0 keeps every row); interfaces are
// summed per (device, ifIndex), 5-minute slots included; totals are summed. The result is
// ordered as the aggregator orders rollups. Neither input is modified.
//
// Without trimming Merge is associative and commutative, and merging the partial rollups of
// an interval gives the rollup of the whole interval. With trimming, a key that was cut from
// a part is missing from the sum: rows are a lower bound, the totals stay exact.
func Merge(a, b watchfloor.FlowRollup, topN int) watchfloor.FlowRollup {
	out := watchfloor.FlowRollup{Site: a.Site, Start: a.Start, Step: a.Step}
	if out.Site == "" {
		out.Site = b.Site
	}
	if out.Start.IsZero() {
		out.Start = b.Start
	}
	if out.Step == 0 {
		out.Step = b.Step
	}
	out.Totals = watchfloor.FlowTotals{
		Bytes:    a.Totals.Bytes + b.Totals.Bytes,
		Packets:  a.Totals.Packets + b.Totals.Packets,
		Flows:    a.Totals.Flows + b.Totals.Flows,
		Overflow: a.Totals.Overflow + b.Totals.Overflow,
	}

	ifIdx := make(map[ifKey]int, len(a.Interfaces)+len(b.Interfaces))
	ifs := make([]watchfloor.IfTraffic, 0, len(a.Interfaces)+len(b.Interfaces))
	for _, part := range [][]watchfloor.IfTraffic{a.Interfaces, b.Interfaces} {
		for _, it := range part {
			k := ifKey{it.Device, it.IfIndex}
			i, ok := ifIdx[k]
			if !ok {
				ifIdx[k] = len(ifs)
				it.In5m, it.Out5m = slices.Clone(it.In5m), slices.Clone(it.Out5m)
				ifs = append(ifs, it)
				continue
			}
			ifs[i].Add(it)
		}
	}

	type rowKey struct {
		by          watchfloor.FlowDim
		device, key string
	}
	idx := make(map[rowKey]int, len(a.Rows)+len(b.Rows))
	rows := make([]watchfloor.FlowRow, 0, len(a.Rows)+len(b.Rows))
	for _, part := range [][]watchfloor.FlowRow{a.Rows, b.Rows} {
		for _, r := range part {
			if r.By == watchfloor.FlowByInterface {
				r.Key = interfaceKey(r, ifs, ifIdx)
			}
			k := rowKey{r.By, r.Device, r.Key}
			if i, ok := idx[k]; ok {
				rows[i].Bytes += r.Bytes
				rows[i].Packets += r.Packets
				rows[i].Flows += r.Flows
				continue
			}
			idx[k] = len(rows)
			rows = append(rows, r)
		}
	}
	// group by dimension (in FlowDims order) and device, then rank within each group
	dimRank := func(d watchfloor.FlowDim) int {
		if i := slices.Index(watchfloor.FlowDims, d); i >= 0 {
			return i
		}
		return len(watchfloor.FlowDims)
	}
	slices.SortFunc(rows, func(x, y watchfloor.FlowRow) int {
		if c := cmp.Compare(dimRank(x.By), dimRank(y.By)); c != 0 {
			return c
		}
		if c := cmp.Compare(x.By, y.By); c != 0 {
			return c
		}
		if c := cmp.Compare(x.Device, y.Device); c != 0 {
			return c
		}
		if c := cmp.Compare(y.Bytes, x.Bytes); c != 0 {
			return c
		}
		if c := cmp.Compare(y.Packets, x.Packets); c != 0 {
			return c
		}
		return cmp.Compare(x.Key, y.Key)
	})
	if topN > 0 {
		kept := rows[:0:0]
		for len(rows) > 0 {
			n := 1
			for n < len(rows) && rows[n].By == rows[0].By && rows[n].Device == rows[0].Device {
				n++
			}
			kept = append(kept, trimRows(rows[:n], topN)...)
			rows = rows[n:]
		}
		rows = kept
	}
	out.Rows = rows
	sortInterfaces(ifs) // after the rows: ifIdx indexes ifs as it was built
	out.Interfaces = ifs

	return out
}

type ifKey struct {
	device  string
	ifIndex uint32
}

// interfaceKey is the key of an interface row named "DEVICE/ifIndex N" in a part whose
// records did not name the interface, renamed when the merged interfaces know its name, so
// that it adds up with the rows of parts that did.
func interfaceKey(r watchfloor.FlowRow, ifs []watchfloor.IfTraffic, idx map[ifKey]int) string {
	n, ok := strings.CutPrefix(r.Key, r.Device+"/ifIndex ")
	if !ok {
		return r.Key
	}
	ifIndex, err := strconv.ParseUint(n, 10, 32)
	if err != nil {
		return r.Key
	}
	if i, ok := idx[ifKey{r.Device, uint32(ifIndex)}]; ok && ifs[i].Interface != "" {
		return InterfaceName(r.Device, ifs[i].Interface, uint32(ifIndex))
	}
	return r.Key
}

// trimRows keeps, of rows sorted by bytes, the top n by bytes and the top n by packets.
func trimRows(rows []watchfloor.FlowRow, n int) []watchfloor.FlowRow {
	if len(rows) <= n {
		return rows
	}
	keep := make([]bool, len(rows))
	for i := range n {
		keep[i] = true
	}
	byPackets := make([]int, len(rows))
	for i := range byPackets {
		byPackets[i] = i
	}
	slices.SortStableFunc(byPackets, func(x, y int) int {
		if c := cmp.Compare(rows[y].Packets, rows[x].Packets); c != 0 {
			return c
		}
		return cmp.Compare(x, y) // then by bytes, as rows are
	})
	for _, i := range byPackets[:n] {
		keep[i] = true
	}
	out := rows[:0:0]
	for i, r := range rows {
		if keep[i] {
			out = append(out, r)
		}
	}
	return out
}

// SlotSeconds is the length of one IfTraffic.In5m/Out5m slot.
const SlotSeconds = 300

// Percentile95 is the 95th percentile, in bit/s, of 5-minute slots of bytes (the In5m/Out5m
// of hourly rollups laid end to end), the way transit is billed: the slots are sorted, the
// top 5 % are discarded and the highest remaining one is the result (the value of rank
// ⌈0.95·n⌉). The caller decides what a slot without data is: pass it as a zero when the
// interface was known to be idle (covered), leave it out when nothing was collected then.
// No slots give 0.
func Percentile95(slotsIn, slotsOut []uint64) (inBps, outBps float64) {
	return p95(slotsIn), p95(slotsOut)
}

func p95(slots []uint64) float64 {
	if len(slots) == 0 {
		return 0
	}
	s := slices.Clone(slots)
	slices.Sort(s)
	rank := (95*len(s) + 99) / 100 // ⌈0.95·n⌉, 1-based, without floating-point rounding
	return float64(s[rank-1]) * 8 / SlotSeconds
}
