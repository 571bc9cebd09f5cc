package snmp

import (
	"sync"

	"github.com/watchfloor/watchfloor"
)

// recorder is a Sink that keeps everything, and signals each PutDevice on notify.
type recorder struct {
	mu      sync.Mutex
	devices []watchfloor.Device
	samples []watchfloor.Sample
	events  []watchfloor.Event
	notify  chan watchfloor.Device
}

func newRecorder() *recorder { return &recorder{notify: make(chan watchfloor.Device, 1024)} }

func (r *recorder) PutDevice(d watchfloor.Device) {
	r.mu.Lock()
	r.devices = append(r.devices, d)
	r.mu.Unlock()
	select {
	case r.notify <- d:
	default:
	}
}

func (r *recorder) PutSamples(s []watchfloor.Sample) {
	r.mu.Lock()
	r.samples = append(r.samples, s...)
	r.mu.Unlock()
}

func (r *recorder) PutEvents(e []watchfloor.Event) {
	r.mu.Lock()
	r.events = append(r.events, e...)
	r.mu.Unlock()
}

// last is the last state put of the named device.
func (r *recorder) last(name string) (watchfloor.Device, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.devices) - 1; i >= 0; i-- {
		if r.devices[i].Name == name {
			return r.devices[i], true
		}
	}
	return watchfloor.Device{}, false
}

// take returns and forgets what was recorded.
func (r *recorder) take() ([]watchfloor.Device, []watchfloor.Sample, []watchfloor.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d, s, e := r.devices, r.samples, r.events
	r.devices, r.samples, r.events = nil, nil, nil
	return d, s, e
}

func (r *recorder) eventsOf(kind watchfloor.EventKind) []watchfloor.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []watchfloor.Event
	for _, e := range r.events {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}
