package store

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/watchfloor/watchfloor"
)

func TestEventCodec(t *testing.T) {
	for _, ev := range []watchfloor.Event{
		{},
		{ID: 7, Time: time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC), Kind: watchfloor.EventTrap, Severity: watchfloor.SeverityCritical,
			Site: "north", Device: "core-1", Interface: "xe-0/0/1", IfIndex: -3, Source: "snmp.trap", Message: "ünïcode ✓",
			Attrs: []watchfloor.Attr{{Key: "1.3.6.1.2.1.1.3.0", Value: "12345"}, {}}},
	} {
		buf := encodeEvent(nil, &ev)
		if len(buf) > eventSize(&ev) {
			t.Fatalf("record of %d bytes, eventSize said at most %d", len(buf), eventSize(&ev))
		}
		got, err := decodeEvent(ev.ID, buf)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, ev) {
			t.Fatalf("decoded %+v, want %+v", got, ev)
		}
		tm, dev, err := eventHead(buf)
		if err != nil || !tm.Equal(ev.Time) || string(dev) != ev.Device {
			t.Fatalf("eventHead = %v %q %v", tm, dev, err)
		}
		// Every truncation is an error, never a panic.
		for n := range len(buf) {
			if _, err := decodeEvent(1, buf[:n]); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("truncated to %d bytes: %v", n, err)
			}
		}
	}
}

// FuzzDecodeEvent feeds the event decoder what a damaged file could hold: it must not
// panic, and what it accepts must decode the same once encoded again.
func FuzzDecodeEvent(f *testing.F) {
	ev := watchfloor.Event{Time: base, Kind: watchfloor.EventInterfaceDown, Device: "d", Message: "m",
		Attrs: []watchfloor.Attr{{Key: "k", Value: "v"}}}
	f.Add(encodeEvent(nil, &ev))
	f.Add(encodeEvent(nil, &watchfloor.Event{}))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := decodeEvent(1, b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		again := encodeEvent(nil, &ev)
		back, err := decodeEvent(1, again)
		if err != nil || !reflect.DeepEqual(back, ev) {
			t.Fatalf("re-encoded event decodes to %+v, %v; want %+v", back, err, ev)
		}
	})
}

func TestRollupFold(t *testing.T) {
	var r rollup
	for _, v := range []float64{5, -1, 3} {
		r.add(v)
	}
	if r != (rollup{count: 3, sum: 7, min: -1, max: 5}) {
		t.Fatalf("%+v", r)
	}
	r.replace(3, 10)
	if r != (rollup{count: 3, sum: 14, min: -1, max: 10}) {
		t.Fatalf("after replace %+v", r)
	}
	buf := make([]byte, rollupSize)
	r.put(buf)
	if back, ok := decodeRollup(buf); !ok || back != r {
		t.Fatalf("round trip %+v %v", back, ok)
	}
	if _, ok := decodeRollup(buf[:31]); ok {
		t.Fatal("short rollup accepted")
	}
}
