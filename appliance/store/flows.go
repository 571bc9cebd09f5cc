package store

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/watchfloor/watchfloor"
	bolt "go.etcd.io/bbolt"
)

// Flow rollups: the flow collector's 1-minute and 1-hour summaries of each site's traffic,
// written with Batch.FlowRollups and read with FlowTop, FlowRollups, InterfaceTraffic and
// InterfacePercentile95. The layout is in flows_codec.go.
//
// Reads select the rollups whose interval overlaps the range asked for: [From, To) is widened
// to whole steps, and the results say which steps they cover.

// Limits of flow queries.
const (
	DefaultFlowTopLimit = 10
	MaxFlowTopLimit     = 1000
	// MaxFlowRollups bounds what one FlowRollups call returns (a realistic minute rollup
	// decodes to about a megabyte); see FlowRollups for reading on.
	MaxFlowRollups = 60
	// flowTopMinuteSpan is the longest range FlowTop and InterfaceTraffic read from 1-minute
	// rollups.
	flowTopMinuteSpan = 24 * time.Hour
	// maxTopKeys bounds the distinct keys FlowTop holds while it sums; beyond it, the
	// smaller half is dropped and the result is marked approximate.
	maxTopKeys = 1 << 18
)

// FlowTopResult is the answer to a FlowTop query.
type FlowTopResult struct {
	// Step is the resolution read: time.Minute or time.Hour.
	Step time.Duration `json:"step"`
	// From and To are the range the rows cover: the query's, widened to whole steps.
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Rollups is how many rollups (sites × steps) were read.
	Rollups int `json:"rollups"`
	// Rows are the top keys, largest first.
	Rows []watchfloor.FlowRow `json:"rows"`
	// Interfaces holds, for By=interface, the traffic of each row's interface in and out,
	// in the order of Rows; nil otherwise.
	Interfaces []watchfloor.IfTraffic `json:"interfaces,omitempty"`
	// Totals are the totals of the rollups read: every device of the selected sites,
	// whatever the Device and Interface filters.
	Totals watchfloor.FlowTotals `json:"totals"`
	// Approximate is set when more distinct keys were seen than FlowTop holds at once
	// (2^18); the smallest were dropped along the way, so the tail of the ranking may be off.
	Approximate bool `json:"approximate,omitempty"`
}

// IfPoint is the traffic of one interface over one step, as flows saw it.
type IfPoint struct {
	Time   time.Time `json:"time"` // start of the step
	InBps  float64   `json:"in_bps"`
	OutBps float64   `json:"out_bps"`
	InPps  float64   `json:"in_pps"`
	OutPps float64   `json:"out_pps"`
}

// IfSeries is the flow traffic of one interface over time.
type IfSeries struct {
	Device    string        `json:"device"`
	IfIndex   uint32        `json:"if_index"`
	Interface string        `json:"interface,omitempty"` // the last name seen
	SpeedBps  uint64        `json:"speed_bps,omitempty"` // the last speed seen
	Step      time.Duration `json:"step"`
	Points    []IfPoint     `json:"points"`
}

// preparedRollup is a rollup encoded by its writer, ready for the committer.
type preparedRollup struct {
	bucket []byte
	prefix []byte // start, site, NUL
	parts  []flowPart
}

func prepareRollup(r *watchfloor.FlowRollup) preparedRollup {
	return preparedRollup{
		bucket: flowBucket(r.Step),
		prefix: flowKeyPrefix(nil, r.Start.Unix(), r.Site),
		parts:  encodeFlowParts(r),
	}
}

func flowBucket(step time.Duration) []byte {
	if step == time.Hour {
		return bFlows1h
	}
	return bFlows1m
}

// putRollup writes r, merged into the rollup of the same key when there is one.
func (s *Store) putRollup(tx *bolt.Tx, p *preparedRollup, r *watchfloor.FlowRollup) error {
	b := tx.Bucket(p.bucket)
	var (
		old    [][]byte
		stored = watchfloor.FlowRollup{Site: r.Site, Start: r.Start, Step: r.Step}
		bad    error
	)
	c := b.Cursor()
	for k, v := c.Seek(p.prefix); k != nil && len(k) == len(p.prefix)+1 && bytes.HasPrefix(k, p.prefix); k, v = c.Next() {
		old = append(old, bytes.Clone(k))
		if bad == nil {
			bad = decodeFlowRecord(v, &stored)
		}
	}
	parts := p.parts
	switch {
	case len(old) == 0:
	case bad != nil:
		// What is stored cannot be read back: keep what we have, say so.
		s.log.Warn("flow rollup unreadable, replaced by the new one", "site", r.Site, "step", r.Step,
			"start", r.Start, "err", bad)
	default:
		merge := s.cfg.MergeFlows
		if merge == nil {
			merge = sumFlows
		}
		m := merge(stored, cloneRollup(r))
		m.Site, m.Start, m.Step = r.Site, r.Start, r.Step
		if p := rollupProblem(&m); p != "" {
			return fmt.Errorf("%w: merged rollup: %s", ErrInvalid, p)
		}
		parts = encodeFlowParts(&m)
	}
	for _, k := range old {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	key := make([]byte, len(p.prefix)+1)
	copy(key, p.prefix)
	for _, part := range parts {
		key[len(p.prefix)] = part.part
		if err := b.Put(key, part.rec); err != nil {
			return err
		}
	}
	return nil
}

// cloneRollup copies r's slices, so that a merge function cannot touch the caller's batch.
func cloneRollup(r *watchfloor.FlowRollup) watchfloor.FlowRollup {
	c := *r
	c.Rows = slices.Clone(r.Rows)
	c.Interfaces = slices.Clone(r.Interfaces)
	for i := range c.Interfaces {
		c.Interfaces[i].In5m = slices.Clone(c.Interfaces[i].In5m)
		c.Interfaces[i].Out5m = slices.Clone(c.Interfaces[i].Out5m)
	}
	return c
}

// sumFlows is the merge used without Config.MergeFlows: rows summed per dimension, device
// and key, interfaces per device and ifIndex (5-minute slots slot by slot; the name and
// speed of b when it has them), totals summed. Nothing is trimmed. It keeps neither
// argument's slices.
func sumFlows(a, b watchfloor.FlowRollup) watchfloor.FlowRollup {
	type rowKey struct {
		by          watchfloor.FlowDim
		device, key string
	}
	type ifKey struct {
		device  string
		ifIndex uint32
	}
	out := watchfloor.FlowRollup{Site: a.Site, Start: a.Start, Step: a.Step, Totals: watchfloor.FlowTotals{
		Bytes:    a.Totals.Bytes + b.Totals.Bytes,
		Packets:  a.Totals.Packets + b.Totals.Packets,
		Flows:    a.Totals.Flows + b.Totals.Flows,
		Overflow: a.Totals.Overflow + b.Totals.Overflow,
	}}
	rows := make(map[rowKey]int, len(a.Rows)+len(b.Rows))
	out.Rows = make([]watchfloor.FlowRow, 0, len(a.Rows)+len(b.Rows))
	for _, src := range [2][]watchfloor.FlowRow{a.Rows, b.Rows} {
		for _, r := range src {
			k := rowKey{r.By, r.Device, r.Key}
			if i, ok := rows[k]; ok {
				o := &out.Rows[i]
				o.Bytes += r.Bytes
				o.Packets += r.Packets
				o.Flows += r.Flows
				continue
			}
			rows[k] = len(out.Rows)
			out.Rows = append(out.Rows, r)
		}
	}
	ifs := make(map[ifKey]int, len(a.Interfaces)+len(b.Interfaces))
	out.Interfaces = make([]watchfloor.IfTraffic, 0, len(a.Interfaces)+len(b.Interfaces))
	for _, src := range [2][]watchfloor.IfTraffic{a.Interfaces, b.Interfaces} {
		for _, f := range src {
			k := ifKey{f.Device, f.IfIndex}
			i, ok := ifs[k]
			if !ok {
				f.In5m, f.Out5m = slices.Clone(f.In5m), slices.Clone(f.Out5m)
				ifs[k] = len(out.Interfaces)
				out.Interfaces = append(out.Interfaces, f)
				continue
			}
			out.Interfaces[i].Add(f)
		}
	}
	return out
}

// flowStep is the resolution FlowTop and InterfaceTraffic read for [from, to): 1-minute
// rollups when the range is at most 24 hours and within their retention, hourly otherwise.
func (s *Store) flowStep(from, to time.Time) time.Duration {
	if to.Sub(from) <= flowTopMinuteSpan && !from.Before(s.now().Add(-s.cfg.Retention.Flows1m)) {
		return time.Minute
	}
	return time.Hour
}

// flowBounds are the starts, in unix seconds, of the rollups of the given step that overlap
// [from, to): lo ≤ start < hi. end is where the last of them ends.
func flowBounds(step time.Duration, from, to time.Time) (lo, hi, end int64) {
	st := int64(step / time.Second)
	lo = from.Unix()
	lo = max(0, lo-floorMod(lo, st))
	hi = to.Unix()
	if to.Nanosecond() > 0 {
		hi++
	}
	end = hi
	if m := floorMod(end, st); m != 0 {
		end += st - m
	}
	return lo, max(lo, hi), max(lo, end)
}

// scanFlows calls fn for every key of bucket whose rollup starts in [lo, hi), in key order
// (start, site, part), skipping other sites when site is not "". fn's slices are valid
// during the transaction only.
func scanFlows(tx *bolt.Tx, bucket []byte, lo, hi int64, site string,
	fn func(start int64, site []byte, part byte, v []byte) error) error {
	c := tx.Bucket(bucket).Cursor()
	for k, v := c.Seek(u64(uint64(lo))); k != nil; k, v = c.Next() {
		start, ksite, part, ok := parseFlowKey(k)
		if !ok {
			return fmt.Errorf("flow key %x: %w", k, ErrCorrupt)
		}
		if start >= hi {
			break
		}
		if site != "" && string(ksite) != site {
			continue
		}
		if err := fn(start, ksite, part, v); err != nil {
			return err
		}
	}
	return nil
}

// flowRange applies the defaults of flow queries: to is now when zero, from an hour before
// to when zero.
func (s *Store) flowRange(from, to time.Time) (time.Time, time.Time, error) {
	if to.IsZero() {
		to = s.now()
	}
	if from.IsZero() {
		from = to.Add(-time.Hour)
	}
	if !from.Before(to) {
		return from, to, fmt.Errorf("%w: from (%s) is not before to (%s)", ErrInvalid, from, to)
	}
	return from, to, nil
}

// FlowTop returns the rows of FlowTopResult(q).
func (s *Store) FlowTop(q watchfloor.FlowTopQuery) ([]watchfloor.FlowRow, error) {
	res, err := s.FlowTopResult(q)
	return res.Rows, err
}

// FlowTopResult sums the rows of dimension q.By over the rollups that overlap [q.From, q.To)
// (a zero To is now, a zero From an hour before To) and returns the largest, by bytes or,
// with OrderBy "packets", by packets; at most q.Limit of them (0: DefaultFlowTopLimit, at
// most MaxFlowTopLimit), with the step, range and totals they come from.
//
// It reads 1-minute rollups when the range is at most 24 hours long and starts within their
// retention, hourly ones otherwise (Step); hourly rollups exist only for hours the collector
// has closed, so the current hour is missing from a long range.
//
// Site and Device filter rows. With a Device, rows are that device's; without one, the rows
// of one key from every device are summed into a row with Device "" (a flow that crosses
// two exporters counts twice). For By=interface, rows come from the rollups' interfaces:
// Key is "DEVICE/NAME" ("DEVICE/ifIndex N" when the name is unknown), Device is set, Bytes and
// Packets are in plus out, Flows is 0, and Interfaces has in and out apart; q.Interface, an
// interface name or ifIndex, selects interfaces. It is an error with other dimensions,
// which do not record interfaces.
func (s *Store) FlowTopResult(q watchfloor.FlowTopQuery) (FlowTopResult, error) {
	res := FlowTopResult{Rows: []watchfloor.FlowRow{}}
	fail := func(err error) (FlowTopResult, error) {
		return FlowTopResult{Rows: []watchfloor.FlowRow{}}, fmt.Errorf("store: flow top: %w", err)
	}
	part := dimPart(q.By)
	switch {
	case part == 0:
		return fail(fmt.Errorf("%w: unknown dimension %q", ErrInvalid, q.By))
	case q.OrderBy != "" && q.OrderBy != "bytes" && q.OrderBy != "packets":
		return fail(fmt.Errorf("%w: order by %q (want bytes or packets)", ErrInvalid, q.OrderBy))
	case q.Interface != "" && q.By != watchfloor.FlowByInterface:
		return fail(fmt.Errorf("%w: an interface filter needs by=interface", ErrInvalid))
	}
	limit := q.Limit
	switch {
	case limit <= 0:
		limit = DefaultFlowTopLimit
	case limit > MaxFlowTopLimit:
		limit = MaxFlowTopLimit
	}
	byPackets := q.OrderBy == "packets"
	from, to, err := s.flowRange(q.From, q.To)
	if err != nil {
		return fail(err)
	}
	res.Step = s.flowStep(from, to)
	lo, hi, end := flowBounds(res.Step, from, to)
	res.From, res.To = time.Unix(lo, 0).UTC(), time.Unix(end, 0).UTC()

	if q.By == watchfloor.FlowByInterface {
		part = partIfaces
	}
	agg := topAgg{byPackets: byPackets, device: q.Device, rows: map[string]int{}, ifs: map[ifAggKey]int{},
		names: map[string]string{}, rowList: []watchfloor.FlowRow{}, ifList: []watchfloor.IfTraffic{}}
	if q.Interface != "" {
		agg.ifName = q.Interface
		if n, err := strconv.ParseUint(q.Interface, 10, 32); err == nil {
			agg.ifIndex, agg.byIndex = uint32(n), true
		}
	}
	var fr flowRecord
	err = s.view(func(tx *bolt.Tx) error {
		return scanFlows(tx, flowBucket(res.Step), lo, hi, q.Site, func(start int64, site []byte, p byte, v []byte) error {
			if p != partTotals && p != part {
				return nil
			}
			if err := fr.parse(v); err != nil {
				return fmt.Errorf("flow rollup %d %q part %d: %w: %w", start, site, p, ErrCorrupt, err)
			}
			var err error
			switch p {
			case partTotals:
				res.Rollups++
				t := &res.Totals
				t.Bytes += fr.totals.Bytes
				t.Packets += fr.totals.Packets
				t.Flows += fr.totals.Flows
				t.Overflow += fr.totals.Overflow
			case partIfaces:
				err = agg.addIfaces(&fr)
			default:
				err = agg.addRows(&fr, q.By)
			}
			if err != nil {
				return fmt.Errorf("flow rollup %d %q part %d: %w: %w", start, site, p, ErrCorrupt, err)
			}
			return nil
		})
	})
	if err != nil {
		return fail(err)
	}
	res.Approximate = agg.trimmed
	if q.By == watchfloor.FlowByInterface {
		sortTop(agg.ifList, byPackets, func(f *watchfloor.IfTraffic) (uint64, uint64, string, string) {
			return f.InBytes + f.OutBytes, f.InPackets + f.OutPackets, f.Device, ifLabel(f)
		})
		res.Interfaces = slices.Clip(agg.ifList[:min(limit, len(agg.ifList))])
		for i := range res.Interfaces {
			f := &res.Interfaces[i]
			res.Rows = append(res.Rows, watchfloor.FlowRow{By: q.By, Device: f.Device, Key: f.Device + "/" + ifLabel(f),
				Bytes: f.InBytes + f.OutBytes, Packets: f.InPackets + f.OutPackets})
		}
		return res, nil
	}
	sortTop(agg.rowList, byPackets, func(r *watchfloor.FlowRow) (uint64, uint64, string, string) {
		return r.Bytes, r.Packets, r.Key, r.Device
	})
	res.Rows = slices.Clip(agg.rowList[:min(limit, len(agg.rowList))])
	return res, nil
}

// ifLabel names an interface in a row key as the flow collector does (rollup.InterfaceName):
// its name, or "ifIndex N".
func ifLabel(f *watchfloor.IfTraffic) string {
	if f.Interface != "" {
		return f.Interface
	}
	return "ifIndex " + strconv.FormatUint(uint64(f.IfIndex), 10)
}

type ifAggKey struct {
	device  string
	ifIndex uint32
}

// topAgg sums the rows or interfaces of FlowTop.
type topAgg struct {
	byPackets bool
	device    string // filter; "" for all
	ifName    string // filter; "" for all
	ifIndex   uint32
	byIndex   bool

	rows    map[string]int // key → index in rowList
	rowList []watchfloor.FlowRow
	ifs     map[ifAggKey]int
	ifList  []watchfloor.IfTraffic
	names   map[string]string // interned device names
	devs    []string          // of the record being read, by symbol
	trimmed bool
}

// symIndex is the index of s in syms, or -1.
func symIndex(syms [][]byte, s string) int {
	for i, x := range syms {
		if string(x) == s {
			return i
		}
	}
	return -1
}

func (a *topAgg) addRows(fr *flowRecord, by watchfloor.FlowDim) error {
	dim, dev := symIndex(fr.syms, string(by)), -1
	if a.device != "" {
		if dev = symIndex(fr.syms, a.device); dev < 0 {
			return nil
		}
	}
	if dim < 0 {
		return nil
	}
	it := fr.rowIter()
	for it.next() {
		if it.dim != dim || (dev >= 0 && it.dev != dev) {
			continue
		}
		i, ok := a.rows[string(it.key)]
		if !ok {
			i = len(a.rowList)
			k := string(it.key)
			a.rows[k] = i
			a.rowList = append(a.rowList, watchfloor.FlowRow{By: by, Device: a.device, Key: k})
		}
		r := &a.rowList[i]
		r.Bytes += it.bytes
		r.Packets += it.packets
		r.Flows += it.flows
	}
	if err := it.err(); err != nil {
		return err
	}
	if len(a.rowList) > maxTopKeys {
		a.trimmed = true
		a.rowList = trimTop(a.rowList, a.byPackets, func(r *watchfloor.FlowRow) (uint64, uint64) { return r.Bytes, r.Packets })
		clear(a.rows)
		for i := range a.rowList {
			a.rows[a.rowList[i].Key] = i
		}
	}
	return nil
}

func (a *topAgg) addIfaces(fr *flowRecord) error {
	dev := -1
	if a.device != "" {
		if dev = symIndex(fr.syms, a.device); dev < 0 {
			return nil
		}
	}
	a.devs = a.devs[:0]
	for _, s := range fr.syms {
		name, ok := a.names[string(s)]
		if !ok {
			name = string(s)
			a.names[name] = name
		}
		a.devs = append(a.devs, name)
	}
	it := fr.ifIter()
	for it.next() {
		if dev >= 0 && it.dev != dev {
			continue
		}
		if a.ifName != "" && string(it.name) != a.ifName && (!a.byIndex || it.ifIndex != a.ifIndex) {
			continue
		}
		k := ifAggKey{a.devs[it.dev], it.ifIndex}
		i, ok := a.ifs[k]
		if !ok {
			i = len(a.ifList)
			a.ifs[k] = i
			a.ifList = append(a.ifList, watchfloor.IfTraffic{Device: k.device, IfIndex: k.ifIndex})
		}
		f := &a.ifList[i]
		if len(it.name) > 0 && string(it.name) != f.Interface {
			f.Interface = string(it.name)
		}
		if it.speed != 0 {
			f.SpeedBps = it.speed
		}
		f.InBytes += it.inBytes
		f.OutBytes += it.outBytes
		f.InPackets += it.inPackets
		f.OutPackets += it.outPackets
	}
	if err := it.err(); err != nil {
		return err
	}
	if len(a.ifList) > maxTopKeys {
		a.trimmed = true
		a.ifList = trimTop(a.ifList, a.byPackets, func(f *watchfloor.IfTraffic) (uint64, uint64) {
			return f.InBytes + f.OutBytes, f.InPackets + f.OutPackets
		})
		clear(a.ifs)
		for i := range a.ifList {
			a.ifs[ifAggKey{a.ifList[i].Device, a.ifList[i].IfIndex}] = i
		}
	}
	return nil
}

// trimTop keeps the larger half of items by the ordering metric.
func trimTop[T any](items []T, byPackets bool, metric func(*T) (bytes, packets uint64)) []T {
	slices.SortFunc(items, func(a, b T) int {
		ab, ap := metric(&a)
		bb, bp := metric(&b)
		if byPackets {
			ab, bb = ap, bp
		}
		return cmp.Compare(bb, ab)
	})
	return slices.Clip(items[:maxTopKeys/2])
}

// sortTop orders items by bytes (or packets) descending, then by the other, then by the
// two names ascending, so that equal traffic ranks the same every time.
func sortTop[T any](items []T, byPackets bool, key func(*T) (bytes, packets uint64, a, b string)) {
	slices.SortFunc(items, func(x, y T) int {
		xb, xp, xa, xn := key(&x)
		yb, yp, ya, yn := key(&y)
		if byPackets {
			xb, xp, yb, yp = xp, xb, yp, yb
		}
		if c := cmp.Compare(yb, xb); c != 0 {
			return c
		}
		if c := cmp.Compare(yp, xp); c != 0 {
			return c
		}
		if c := cmp.Compare(xa, ya); c != 0 {
			return c
		}
		return cmp.Compare(xn, yn)
	})
}

// FlowRollups returns the rollups of the given step (time.Minute or time.Hour) that overlap
// [from, to), of one site or of all when site is "", oldest first, as stored (rows grouped
// by dimension). It stops at the first start at which MaxFlowRollups are already read, so a
// call returns at most MaxFlowRollups plus the number of sites less one; to read on, call
// again from the last one's Start+Step.
func (s *Store) FlowRollups(step time.Duration, from, to time.Time, site string) ([]watchfloor.FlowRollup, error) {
	out := []watchfloor.FlowRollup{}
	if step != time.Minute && step != time.Hour {
		return out, fmt.Errorf("store: read flow rollups: %w: step %s (want 1m or 1h)", ErrInvalid, step)
	}
	if !from.Before(to) {
		return out, fmt.Errorf("store: read flow rollups: %w: from (%s) is not before to (%s)", ErrInvalid, from, to)
	}
	lo, hi, _ := flowBounds(step, from, to)
	err := s.view(func(tx *bolt.Tx) error {
		var cur *watchfloor.FlowRollup
		lastStart := int64(-1)
		return scanFlows(tx, flowBucket(step), lo, hi, site, func(start int64, ksite []byte, part byte, v []byte) error {
			if cur == nil || start != cur.Start.Unix() || string(ksite) != cur.Site {
				if start != lastStart && len(out) >= MaxFlowRollups {
					return errStop
				}
				lastStart = start
				out = append(out, watchfloor.FlowRollup{Site: string(ksite), Start: time.Unix(start, 0).UTC(), Step: step})
				cur = &out[len(out)-1]
			}
			if err := decodeFlowRecord(v, cur); err != nil {
				return fmt.Errorf("flow rollup %d %q part %d: %w", start, ksite, part, err)
			}
			return nil
		})
	})
	if err != nil && !errors.Is(err, errStop) {
		return []watchfloor.FlowRollup{}, fmt.Errorf("store: read flow rollups: %w", err)
	}
	return out, nil
}

// errStop ends a scan early.
var errStop = errors.New("stop")

// ifScan calls fn with the traffic of one interface in each step of [from, to) at which the
// device has interface traffic in some rollup of the given step, summed over sites; f is the
// zero IfTraffic (with no slots) where the device's other interfaces carried traffic and
// this one did not. slots is the largest number of 5-minute slots among the device's
// interfaces in that step.
func (s *Store) ifScan(step time.Duration, device string, ifIndex uint32, from, to time.Time,
	fn func(start int64, f *watchfloor.IfTraffic, slots int)) error {
	lo, hi, _ := flowBounds(step, from, to)
	var (
		fr      flowRecord
		cur     watchfloor.IfTraffic
		curAt   = int64(-1)
		slots   int
		present bool
	)
	flush := func() {
		if present {
			fn(curAt, &cur, slots)
		}
		cur = watchfloor.IfTraffic{Device: device, IfIndex: ifIndex, In5m: cur.In5m[:0], Out5m: cur.Out5m[:0]}
		slots, present = 0, false
	}
	err := s.view(func(tx *bolt.Tx) error {
		return scanFlows(tx, flowBucket(step), lo, hi, "", func(start int64, site []byte, part byte, v []byte) error {
			if part != partIfaces {
				return nil
			}
			if start != curAt {
				flush()
				curAt = start
			}
			if err := fr.parse(v); err != nil {
				return fmt.Errorf("flow rollup %d %q: %w: %w", start, site, ErrCorrupt, err)
			}
			dev := symIndex(fr.syms, device)
			if dev < 0 {
				return nil
			}
			it := fr.ifIter()
			for it.next() {
				if it.dev != dev {
					continue
				}
				present = true
				slots = max(slots, len(it.in5m), len(it.out5m))
				if it.ifIndex != ifIndex {
					continue
				}
				if len(it.name) > 0 {
					cur.Interface = string(it.name)
				}
				if it.speed != 0 {
					cur.SpeedBps = it.speed
				}
				cur.InBytes += it.inBytes
				cur.OutBytes += it.outBytes
				cur.InPackets += it.inPackets
				cur.OutPackets += it.outPackets
				cur.In5m = watchfloor.AddSlots(cur.In5m, it.in5m)
				cur.Out5m = watchfloor.AddSlots(cur.Out5m, it.out5m)
			}
			if err := it.err(); err != nil {
				return fmt.Errorf("flow rollup %d %q: %w: %w", start, site, ErrCorrupt, err)
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	flush()
	return nil
}

// InterfaceTraffic returns the traffic flows saw on one interface in each step that overlaps
// [from, to) (a zero to is now, a zero from an hour before to), at the resolution FlowTop
// would read (IfSeries.Step). A step has a point when the device has interface traffic in
// a rollup of that step; the point is zero when the interface carried none then. Steps
// without rollups from the device have no point.
func (s *Store) InterfaceTraffic(device string, ifIndex uint32, from, to time.Time) (IfSeries, error) {
	out := IfSeries{Device: device, IfIndex: ifIndex, Points: []IfPoint{}}
	from, to, err := s.flowRange(from, to)
	if err != nil {
		return out, fmt.Errorf("store: read interface traffic: %w", err)
	}
	if device == "" {
		return out, fmt.Errorf("store: read interface traffic: %w: device is required", ErrInvalid)
	}
	out.Step = s.flowStep(from, to)
	secs := out.Step.Seconds()
	err = s.ifScan(out.Step, device, ifIndex, from, to, func(start int64, f *watchfloor.IfTraffic, _ int) {
		if f.Interface != "" {
			out.Interface = f.Interface
		}
		if f.SpeedBps != 0 {
			out.SpeedBps = f.SpeedBps
		}
		out.Points = append(out.Points, IfPoint{
			Time:   time.Unix(start, 0).UTC(),
			InBps:  float64(f.InBytes) * 8 / secs,
			OutBps: float64(f.OutBytes) * 8 / secs,
			InPps:  float64(f.InPackets) / secs,
			OutPps: float64(f.OutPackets) / secs,
		})
	})
	if err != nil {
		return IfSeries{Device: device, IfIndex: ifIndex, Points: []IfPoint{}}, fmt.Errorf("store: read interface traffic: %w", err)
	}
	return out, nil
}

// InterfacePercentile95 is the 95th percentile of one interface's traffic in and out, in
// bit/s, the way transit is billed: from the 5-minute slots of the hourly rollups (bytes of
// a slot × 8 / 300), the slots that overlap [from, to), sorted, the value at index
// ceil(0.95 × slots) − 1. Only hours with an hourly rollup in which the device has
// interface traffic count, with as many slots as the device's interfaces have then (an
// interface without traffic in such an hour counts zeros); hours without one, such as the
// current hour or time the collector was down, are left out, and slots says how many
// counted (a full 30-day month has 8640).
func (s *Store) InterfacePercentile95(device string, ifIndex uint32, from, to time.Time) (inBps, outBps float64, slots int, err error) {
	if device == "" || from.IsZero() || to.IsZero() || !from.Before(to) {
		return 0, 0, 0, fmt.Errorf("store: interface percentile: %w: device and a range from before to are required", ErrInvalid)
	}
	const slotSecs = 300
	var ins, outs []float64
	err = s.ifScan(time.Hour, device, ifIndex, from, to, func(start int64, f *watchfloor.IfTraffic, n int) {
		for i := range min(n, maxFlowSlots) {
			at := start + int64(i)*slotSecs
			if at+slotSecs <= from.Unix() || !time.Unix(at, 0).Before(to) {
				continue
			}
			var in, out uint64
			if i < len(f.In5m) {
				in = f.In5m[i]
			}
			if i < len(f.Out5m) {
				out = f.Out5m[i]
			}
			ins = append(ins, float64(in)*8/slotSecs)
			outs = append(outs, float64(out)*8/slotSecs)
		}
	})
	if err != nil {
		return 0, 0, 0, fmt.Errorf("store: interface percentile: %w", err)
	}
	return percentile95(ins), percentile95(outs), len(ins), nil
}

// percentile95 is the value at index ceil(0.95 n) − 1 of v sorted; 0 for no values. It
// sorts v.
func percentile95(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	return v[(95*len(v)+99)/100-1]
}
