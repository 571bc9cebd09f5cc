package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/watchfloor/watchfloor"
)

// Flow rollups on disk. Two buckets hold them, time-major, one per step:
//
//	flows1m, flows1h   uint64 unix second of the start, site name, NUL, part → flow record
//
// so that a time range is one seek and a sequential scan whatever the site, and retention
// deletes a prefix. A rollup is split into parts, each under its own key, so that a query
// decodes only what it needs: part 0 holds the totals (always written), parts 1 to 8 the rows
// of one dimension each (in watchfloor.FlowDims order; written only when there are rows),
// part 9 the interfaces (only when there are some). The parts of one rollup are adjacent in
// key order. A site name holds no NUL byte.
//
// Flow record, version 1 (integers are uvarints, strings uvarint-length-prefixed):
//
//	[0]   version (1)
//	      Totals: Bytes, Packets, Flows, Overflow
//	      count of symbols, each a string: the device names and dimensions that rows and
//	      interfaces refer to by index, so that each is stored once per record
//	      count of rows, byte length of the rows, then each row:
//	        dimension symbol, device symbol, Key, Bytes, Packets, Flows
//	      count of interfaces, byte length of the interfaces, then each interface:
//	        device symbol, IfIndex, Interface, SpeedBps, InBytes, OutBytes, InPackets,
//	        OutPackets, count of In5m and each, count of Out5m and each
//
// The byte lengths let a reader skip a section without decoding it.
//
// The buckets came with the flow rollups and need no schema change: Open creates them in an
// older store, and an older binary ignores them.

// flowVersion is the first byte of every flow record.
const flowVersion = 1

// Part numbers: partTotals, then 1+i for watchfloor.FlowDims[i], then partIfaces.
const (
	partTotals = 0
	partIfaces = 9
)

// Bounds of what a rollup may hold; Write refuses more with ErrInvalid.
const (
	maxFlowRows   = 1 << 20
	maxFlowIfaces = 1 << 16
	maxFlowSlots  = 12 // 5-minute slots of an hour
)

// Smallest encodings, used to bound counts read from a damaged record before allocating.
const (
	minRowSize   = 6  // two symbols, an empty key, three counters
	minIfaceSize = 10 // two indexes, an empty name, five counters, two slot counts
)

// dimPart is the part that holds the rows of d, or 0 when d is not a known dimension.
func dimPart(d watchfloor.FlowDim) byte {
	for i, x := range watchfloor.FlowDims {
		if x == d {
			return byte(i + 1)
		}
	}
	return 0
}

// flowKeyPrefix appends the key of a rollup, without its part, to b: start, site, NUL.
func flowKeyPrefix(b []byte, start int64, site string) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(start))
	b = append(b, site...)
	return append(b, 0)
}

// parseFlowKey splits a key of a flow bucket. ok is false when it is not one.
func parseFlowKey(k []byte) (start int64, site []byte, part byte, ok bool) {
	if len(k) < 10 || k[len(k)-2] != 0 {
		return 0, nil, 0, false
	}
	return int64(binary.BigEndian.Uint64(k)), k[8 : len(k)-2], k[len(k)-1], true
}

// flowPart is the record of one part of a rollup.
type flowPart struct {
	part byte
	rec  []byte
}

// encodeFlowParts splits r into its parts and encodes each.
func encodeFlowParts(r *watchfloor.FlowRollup) []flowPart {
	var e flowEncoder
	parts := make([]flowPart, 0, 4)
	parts = append(parts, flowPart{partTotals, e.encode(nil, r.Totals, nil, nil)})
	for i, d := range watchfloor.FlowDims {
		rows := e.scratch[:0]
		for j := range r.Rows {
			if r.Rows[j].By == d {
				rows = append(rows, r.Rows[j])
			}
		}
		e.scratch = rows
		if len(rows) > 0 {
			parts = append(parts, flowPart{byte(i + 1), e.encode(nil, watchfloor.FlowTotals{}, rows, nil)})
		}
	}
	if len(r.Interfaces) > 0 {
		parts = append(parts, flowPart{partIfaces, e.encode(nil, watchfloor.FlowTotals{}, nil, r.Interfaces)})
	}
	return parts
}

// flowEncoder encodes flow records, reusing its tables between them.
type flowEncoder struct {
	syms    map[string]uint64
	list    []string
	scratch []watchfloor.FlowRow
}

func (e *flowEncoder) sym(s string) uint64 {
	if i, ok := e.syms[s]; ok {
		return i
	}
	i := uint64(len(e.list))
	e.syms[s] = i
	e.list = append(e.list, s)
	return i
}

// encode appends the record of totals, rows and interfaces to b.
func (e *flowEncoder) encode(b []byte, t watchfloor.FlowTotals, rows []watchfloor.FlowRow, ifs []watchfloor.IfTraffic) []byte {
	if e.syms == nil {
		e.syms = make(map[string]uint64)
	}
	clear(e.syms)
	e.list = e.list[:0]
	rowsLen, ifsLen := 0, 0
	for i := range rows {
		r := &rows[i]
		rowsLen += uvarintLen(e.sym(string(r.By))) + uvarintLen(e.sym(r.Device)) +
			uvarintLen(uint64(len(r.Key))) + len(r.Key) +
			uvarintLen(r.Bytes) + uvarintLen(r.Packets) + uvarintLen(r.Flows)
	}
	for i := range ifs {
		f := &ifs[i]
		ifsLen += uvarintLen(e.sym(f.Device)) + uvarintLen(uint64(f.IfIndex)) +
			uvarintLen(uint64(len(f.Interface))) + len(f.Interface) +
			uvarintLen(f.SpeedBps) + uvarintLen(f.InBytes) + uvarintLen(f.OutBytes) +
			uvarintLen(f.InPackets) + uvarintLen(f.OutPackets) +
			uvarintLen(uint64(len(f.In5m))) + uvarintLen(uint64(len(f.Out5m)))
		for _, v := range f.In5m {
			ifsLen += uvarintLen(v)
		}
		for _, v := range f.Out5m {
			ifsLen += uvarintLen(v)
		}
	}
	size := 1 + 4*binary.MaxVarintLen64 + binary.MaxVarintLen64 + 4*binary.MaxVarintLen64 + rowsLen + ifsLen
	for _, s := range e.list {
		size += binary.MaxVarintLen64 + len(s)
	}
	if b == nil {
		b = make([]byte, 0, size)
	}
	b = append(b, flowVersion)
	b = binary.AppendUvarint(b, t.Bytes)
	b = binary.AppendUvarint(b, t.Packets)
	b = binary.AppendUvarint(b, t.Flows)
	b = binary.AppendUvarint(b, t.Overflow)
	b = binary.AppendUvarint(b, uint64(len(e.list)))
	for _, s := range e.list {
		b = appendString(b, s)
	}
	b = binary.AppendUvarint(b, uint64(len(rows)))
	b = binary.AppendUvarint(b, uint64(rowsLen))
	for i := range rows {
		r := &rows[i]
		b = binary.AppendUvarint(b, e.syms[string(r.By)])
		b = binary.AppendUvarint(b, e.syms[r.Device])
		b = appendString(b, r.Key)
		b = binary.AppendUvarint(b, r.Bytes)
		b = binary.AppendUvarint(b, r.Packets)
		b = binary.AppendUvarint(b, r.Flows)
	}
	b = binary.AppendUvarint(b, uint64(len(ifs)))
	b = binary.AppendUvarint(b, uint64(ifsLen))
	for i := range ifs {
		f := &ifs[i]
		b = binary.AppendUvarint(b, e.syms[f.Device])
		b = binary.AppendUvarint(b, uint64(f.IfIndex))
		b = appendString(b, f.Interface)
		for _, v := range [...]uint64{f.SpeedBps, f.InBytes, f.OutBytes, f.InPackets, f.OutPackets} {
			b = binary.AppendUvarint(b, v)
		}
		b = binary.AppendUvarint(b, uint64(len(f.In5m)))
		for _, v := range f.In5m {
			b = binary.AppendUvarint(b, v)
		}
		b = binary.AppendUvarint(b, uint64(len(f.Out5m)))
		for _, v := range f.Out5m {
			b = binary.AppendUvarint(b, v)
		}
	}
	return b
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, k := binary.Uvarint(r.b)
	if k <= 0 {
		r.err = errShort
		return 0
	}
	r.b = r.b[k:]
	return v
}

// section reads a count, a byte length and that many bytes; each item takes at least min
// bytes.
func (r *reader) section(min int) (n int, body []byte) {
	c := r.uvarint()
	body = r.bytes()
	if r.err == nil && c > uint64(len(body)/min) {
		r.err = fmt.Errorf("count %d does not fit in %d bytes", c, len(body))
	}
	if r.err != nil {
		return 0, nil
	}
	return int(c), body
}

// flowRecord is a parsed flow record; its slices alias the bytes it was parsed from.
type flowRecord struct {
	totals watchfloor.FlowTotals
	syms   [][]byte
	nrows  int
	rows   []byte
	nifs   int
	ifs    []byte
}

var errTrailing = errors.New("trailing bytes")

// parse reads the header of v and locates its sections, reusing fr's symbol table. Rows and
// interfaces are checked as they are read.
func (fr *flowRecord) parse(v []byte) error {
	if len(v) == 0 {
		return errShort
	}
	if v[0] != flowVersion {
		return fmt.Errorf("unknown flow record version %d", v[0])
	}
	r := reader{b: v[1:]}
	fr.totals = watchfloor.FlowTotals{Bytes: r.uvarint(), Packets: r.uvarint(), Flows: r.uvarint(), Overflow: r.uvarint()}
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.b)) { // a symbol takes at least a byte
		return fmt.Errorf("bad symbol count %d", n)
	}
	fr.syms = fr.syms[:0]
	for range n {
		fr.syms = append(fr.syms, r.bytes())
	}
	fr.nrows, fr.rows = r.section(minRowSize)
	fr.nifs, fr.ifs = r.section(minIfaceSize)
	if r.err == nil && len(r.b) != 0 {
		r.err = errTrailing
	}
	return r.err
}

// rowIter reads the rows of a record without allocating.
type rowIter struct {
	syms                  [][]byte
	r                     reader
	size, left            int
	dim, dev              int
	key                   []byte
	keyOff                int // of key in the rows section
	bytes, packets, flows uint64
}

func (fr *flowRecord) rowIter() rowIter {
	return rowIter{syms: fr.syms, r: reader{b: fr.rows}, size: len(fr.rows), left: fr.nrows}
}

func (it *rowIter) next() bool {
	if it.left == 0 || it.r.err != nil {
		return false
	}
	it.left--
	r := &it.r
	dim, dev := r.uvarint(), r.uvarint()
	it.key = r.bytes()
	it.keyOff = it.size - len(r.b) - len(it.key)
	it.bytes, it.packets, it.flows = r.uvarint(), r.uvarint(), r.uvarint()
	if r.err == nil && (dim >= uint64(len(it.syms)) || dev >= uint64(len(it.syms))) {
		r.err = fmt.Errorf("row symbol %d or %d out of %d", dim, dev, len(it.syms))
	}
	it.dim, it.dev = int(dim), int(dev)
	return r.err == nil
}

// err is the error that stopped the iteration, or nil when every row was read.
func (it *rowIter) err() error {
	if it.r.err == nil && len(it.r.b) != 0 {
		return fmt.Errorf("rows: %w", errTrailing)
	}
	return it.r.err
}

// ifIter reads the interfaces of a record; its slot slices are reused between calls.
type ifIter struct {
	syms                                            [][]byte
	r                                               reader
	left                                            int
	dev                                             int
	ifIndex                                         uint32
	name                                            []byte
	speed, inBytes, outBytes, inPackets, outPackets uint64
	in5m, out5m                                     []uint64
}

func (fr *flowRecord) ifIter() ifIter {
	return ifIter{syms: fr.syms, r: reader{b: fr.ifs}, left: fr.nifs}
}

func (it *ifIter) next() bool {
	if it.left == 0 || it.r.err != nil {
		return false
	}
	it.left--
	r := &it.r
	dev, ifIndex := r.uvarint(), r.uvarint()
	it.name = r.bytes()
	it.speed, it.inBytes, it.outBytes = r.uvarint(), r.uvarint(), r.uvarint()
	it.inPackets, it.outPackets = r.uvarint(), r.uvarint()
	it.in5m = it.slots(it.in5m[:0])
	it.out5m = it.slots(it.out5m[:0])
	switch {
	case r.err != nil:
	case dev >= uint64(len(it.syms)):
		r.err = fmt.Errorf("interface device symbol %d out of %d", dev, len(it.syms))
	case ifIndex > math.MaxUint32:
		r.err = fmt.Errorf("bad ifIndex %d", ifIndex)
	}
	it.dev, it.ifIndex = int(dev), uint32(ifIndex)
	return r.err == nil
}

func (it *ifIter) slots(s []uint64) []uint64 {
	n := it.r.uvarint()
	if it.r.err == nil && n > uint64(len(it.r.b)) {
		it.r.err = fmt.Errorf("bad slot count %d", n)
	}
	if it.r.err != nil {
		return s
	}
	for range n {
		s = append(s, it.r.uvarint())
	}
	return s
}

func (it *ifIter) err() error {
	if it.r.err == nil && len(it.r.b) != 0 {
		return fmt.Errorf("interfaces: %w", errTrailing)
	}
	return it.r.err
}

// decodeFlowRecord decodes v into the totals, rows and interfaces it holds, appending them
// to those of into. Errors wrap ErrCorrupt.
func decodeFlowRecord(v []byte, into *watchfloor.FlowRollup) error {
	var fr flowRecord
	if err := fr.parse(v); err != nil {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	t := &into.Totals
	t.Bytes += fr.totals.Bytes
	t.Packets += fr.totals.Packets
	t.Flows += fr.totals.Flows
	t.Overflow += fr.totals.Overflow
	syms := make([]string, len(fr.syms))
	for i, s := range fr.syms {
		syms[i] = string(s)
	}
	if fr.nrows > 0 {
		keys := string(fr.rows) // one allocation; keys are substrings of it
		into.Rows = slices.Grow(into.Rows, fr.nrows)
		it := fr.rowIter()
		for it.next() {
			into.Rows = append(into.Rows, watchfloor.FlowRow{
				By: watchfloor.FlowDim(syms[it.dim]), Device: syms[it.dev], Key: keys[it.keyOff : it.keyOff+len(it.key)],
				Bytes: it.bytes, Packets: it.packets, Flows: it.flows,
			})
		}
		if err := it.err(); err != nil {
			return fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
	}
	if fr.nifs > 0 {
		it := fr.ifIter()
		for it.next() {
			f := watchfloor.IfTraffic{
				Device: syms[it.dev], IfIndex: it.ifIndex, Interface: string(it.name), SpeedBps: it.speed,
				InBytes: it.inBytes, OutBytes: it.outBytes, InPackets: it.inPackets, OutPackets: it.outPackets,
			}
			if len(it.in5m) > 0 {
				f.In5m = append([]uint64(nil), it.in5m...)
			}
			if len(it.out5m) > 0 {
				f.Out5m = append([]uint64(nil), it.out5m...)
			}
			into.Interfaces = append(into.Interfaces, f)
		}
		if err := it.err(); err != nil {
			return fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
	}
	return nil
}

// rollupProblem says what makes r unstorable, or "" when nothing does.
func rollupProblem(r *watchfloor.FlowRollup) string {
	switch {
	case len(r.Site) > maxName || strings.IndexByte(r.Site, 0) >= 0:
		return fmt.Sprintf("site must have at most %d bytes and no NUL", maxName)
	case r.Step != time.Minute && r.Step != time.Hour:
		return fmt.Sprintf("step %s is neither 1m nor 1h", r.Step)
	case r.Start.Unix() <= 0 || r.Start.Nanosecond() != 0 || r.Start.Unix()%int64(r.Step/time.Second) != 0:
		return fmt.Sprintf("start %s is not a positive multiple of the step", r.Start)
	case len(r.Rows) > maxFlowRows:
		return fmt.Sprintf("%d rows, more than %d", len(r.Rows), maxFlowRows)
	case len(r.Interfaces) > maxFlowIfaces:
		return fmt.Sprintf("%d interfaces, more than %d", len(r.Interfaces), maxFlowIfaces)
	}
	for i := range r.Rows {
		row := &r.Rows[i]
		switch {
		case dimPart(row.By) == 0:
			return fmt.Sprintf("row %d: unknown dimension %q", i, row.By)
		case len(row.Device) > maxName || len(row.Key) > maxName:
			return fmt.Sprintf("row %d: device or key longer than %d bytes", i, maxName)
		}
	}
	for i := range r.Interfaces {
		f := &r.Interfaces[i]
		switch {
		case len(f.Device) > maxName || len(f.Interface) > maxName:
			return fmt.Sprintf("interface %d: device or name longer than %d bytes", i, maxName)
		case len(f.In5m) > maxFlowSlots || len(f.Out5m) > maxFlowSlots:
			return fmt.Sprintf("interface %d: more than %d 5-minute slots", i, maxFlowSlots)
		}
	}
	return ""
}
