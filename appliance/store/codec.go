package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/watchfloor/watchfloor"
)

// Keys and values on disk. All integers are big-endian so that bbolt's byte order is numeric
// order.
//
//	meta     "schema" → uint64 version
//	devices  name → JSON of watchfloor.Device
//	events   uint64 ID → event record (below)
//	raw      series name → bucket { uint64 unix second → float64 bits }
//	5m, 1h   series name → bucket { uint64 unix second of the step's start → rollup (below) }
//	flows1m, flows1h  uint64 unix second, site, NUL, part → flow record (flows_codec.go)
//
// A series name is device NUL decimal-ifIndex NUL metric.

// eventVersion is the first byte of every event record.
const eventVersion = 1

// Event record, version 1:
//
//	[0]      version (1)
//	[1:9]    Time, unix seconds (int64)
//	[9:13]   Time, nanoseconds (uint32)
//	[13]     Severity
//	[14:18]  IfIndex (int32)
//	then uvarint-length-prefixed strings: Device, Kind, Site, Interface, Source, Message,
//	then a uvarint count of Attrs and each Attr as two such strings, Key and Value.
//
// Device comes first so that a query by device reads it without decoding the rest.
const eventHeader = 18

var errShort = errors.New("truncated record")

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// encodeEvent appends the record of ev, without its ID (the key), to b.
func encodeEvent(b []byte, ev *watchfloor.Event) []byte {
	b = append(b, eventVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(ev.Time.Unix()))
	b = binary.BigEndian.AppendUint32(b, uint32(ev.Time.Nanosecond()))
	b = append(b, byte(ev.Severity))
	b = binary.BigEndian.AppendUint32(b, uint32(ev.IfIndex))
	for _, s := range [...]string{ev.Device, string(ev.Kind), ev.Site, ev.Interface, ev.Source, ev.Message} {
		b = appendString(b, s)
	}
	b = binary.AppendUvarint(b, uint64(len(ev.Attrs)))
	for _, a := range ev.Attrs {
		b = appendString(b, a.Key)
		b = appendString(b, a.Value)
	}
	return b
}

// eventSize is an upper bound of the length of ev's record.
func eventSize(ev *watchfloor.Event) int {
	n := eventHeader + 6*binary.MaxVarintLen64 + binary.MaxVarintLen64 +
		len(ev.Device) + len(ev.Kind) + len(ev.Site) + len(ev.Interface) + len(ev.Source) + len(ev.Message)
	for _, a := range ev.Attrs {
		n += 2*binary.MaxVarintLen64 + len(a.Key) + len(a.Value)
	}
	return n
}

// reader decodes a record; the first error sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) bytes() []byte {
	if r.err != nil {
		return nil
	}
	n, k := binary.Uvarint(r.b)
	if k <= 0 || n > uint64(len(r.b)-k) {
		r.err = errShort
		return nil
	}
	s := r.b[k : k+int(n)]
	r.b = r.b[k+int(n):]
	return s
}

func (r *reader) string() string { return string(r.bytes()) }

// eventHead returns an event record's time and the bytes of its device name, which alias v.
func eventHead(v []byte) (time.Time, []byte, error) {
	if len(v) < eventHeader {
		return time.Time{}, nil, errShort
	}
	if v[0] != eventVersion {
		return time.Time{}, nil, fmt.Errorf("unknown event record version %d", v[0])
	}
	sec := int64(binary.BigEndian.Uint64(v[1:]))
	nsec := binary.BigEndian.Uint32(v[9:])
	if nsec >= 1e9 {
		return time.Time{}, nil, fmt.Errorf("bad nanoseconds %d", nsec)
	}
	r := reader{b: v[eventHeader:]}
	dev := r.bytes()
	return time.Unix(sec, int64(nsec)).UTC(), dev, r.err
}

// decodeEvent decodes the record v of the event with the given ID.
func decodeEvent(id uint64, v []byte) (watchfloor.Event, error) {
	t, _, err := eventHead(v)
	if err != nil {
		return watchfloor.Event{}, fmt.Errorf("event %d: %w: %w", id, ErrCorrupt, err)
	}
	ev := watchfloor.Event{
		ID:       id,
		Time:     t,
		Severity: watchfloor.Severity(v[13]),
		IfIndex:  int32(binary.BigEndian.Uint32(v[14:])),
	}
	r := reader{b: v[eventHeader:]}
	ev.Device = r.string()
	ev.Kind = watchfloor.EventKind(r.string())
	ev.Site = r.string()
	ev.Interface = r.string()
	ev.Source = r.string()
	ev.Message = r.string()
	if r.err == nil {
		n, k := binary.Uvarint(r.b)
		switch {
		case k <= 0:
			r.err = errShort
		case n > uint64(len(r.b)-k)/2: // every attribute takes at least two bytes
			r.err = fmt.Errorf("bad attribute count %d", n)
		case n > 0:
			r.b = r.b[k:]
			ev.Attrs = make([]watchfloor.Attr, n)
			for i := range ev.Attrs {
				ev.Attrs[i] = watchfloor.Attr{Key: r.string(), Value: r.string()}
			}
		default:
			r.b = r.b[k:]
		}
	}
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%d trailing bytes", len(r.b))
	}
	if r.err != nil {
		return watchfloor.Event{}, fmt.Errorf("event %d: %w: %w", id, ErrCorrupt, r.err)
	}
	return ev, nil
}

// bigEndian decodes an 8-byte key or value.
func bigEndian(b []byte) uint64 { return binary.BigEndian.Uint64(b) }

// u64 is the 8-byte big-endian key of v.
func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), v) }

// seriesName appends the bucket name of a series to b.
func seriesName(b []byte, device string, ifIndex int32, metric string) []byte {
	b = append(b, device...)
	b = append(b, 0)
	b = strconv.AppendInt(b, int64(ifIndex), 10)
	b = append(b, 0)
	return append(b, metric...)
}

// rollup is the aggregate of the raw samples of one series over one step.
type rollup struct {
	count    uint64
	sum      float64
	min, max float64
}

const rollupSize = 32

func (r rollup) put(b []byte) {
	binary.BigEndian.PutUint64(b[0:], r.count)
	binary.BigEndian.PutUint64(b[8:], math.Float64bits(r.sum))
	binary.BigEndian.PutUint64(b[16:], math.Float64bits(r.min))
	binary.BigEndian.PutUint64(b[24:], math.Float64bits(r.max))
}

func decodeRollup(b []byte) (rollup, bool) {
	if len(b) != rollupSize {
		return rollup{}, false
	}
	return rollup{
		count: binary.BigEndian.Uint64(b[0:]),
		sum:   math.Float64frombits(binary.BigEndian.Uint64(b[8:])),
		min:   math.Float64frombits(binary.BigEndian.Uint64(b[16:])),
		max:   math.Float64frombits(binary.BigEndian.Uint64(b[24:])),
	}, true
}

// add folds one new sample into r.
func (r *rollup) add(v float64) {
	if r.count == 0 {
		r.min, r.max = v, v
	}
	r.count++
	r.sum += v
	r.min = min(r.min, v)
	r.max = max(r.max, v)
}

// replace accounts for a sample rewritten from old to v. The sum stays exact; an extreme
// that only old held is kept, since a rollup does not know its samples.
func (r *rollup) replace(old, v float64) {
	r.sum += v - old
	r.min = min(r.min, v)
	r.max = max(r.max, v)
}

// arena hands out byte slices that stay valid for the life of a write transaction, as bbolt
// requires of values, without one allocation each.
type arena struct{ buf []byte }

func (a *arena) alloc(n int) []byte {
	if cap(a.buf)-len(a.buf) < n {
		a.buf = make([]byte, 0, max(n, 64<<10))
	}
	s := a.buf[len(a.buf) : len(a.buf)+n : len(a.buf)+n]
	a.buf = a.buf[:len(a.buf)+n]
	return s
}
