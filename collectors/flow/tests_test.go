package flow

import (
	"encoding/binary"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/watchfloor/watchfloor"
)

// hostTotals are the bytes, packets and records seen per source address.
type hostTotals struct {
	bytes, packets, records uint64
}

// recorder is a Sink that sums what it gets per source host (all workers under one lock)
// and keeps the samples; keep, when set, also keeps every flow.
type recorder struct {
	mu      sync.Mutex
	bySrc   map[netip.Addr]hostTotals
	flows   []watchfloor.Flow
	samples []watchfloor.Sample
	keep    bool
	records atomic.Uint64
	delay   time.Duration // a deliberately slow sink
}

func newRecorder(keep bool) *recorder {
	return &recorder{bySrc: map[netip.Addr]hostTotals{}, keep: keep}
}

func (r *recorder) HandleFlows(worker int, flows []watchfloor.Flow) {
	if r.delay > 0 {
		time.Sleep(r.delay)
	}
	r.mu.Lock()
	for _, f := range flows {
		t := r.bySrc[f.SrcAddr]
		t.bytes += f.Bytes
		t.packets += f.Packets
		t.records++
		r.bySrc[f.SrcAddr] = t
	}
	if r.keep {
		r.flows = append(r.flows, flows...)
	}
	r.mu.Unlock()
	r.records.Add(uint64(len(flows)))
}

func (r *recorder) PutSamples(s []watchfloor.Sample) {
	r.mu.Lock()
	r.samples = append(r.samples, s...)
	r.mu.Unlock()
}

func (r *recorder) totals() map[netip.Addr]hostTotals {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := make(map[netip.Addr]hostTotals, len(r.bySrc))
	for k, v := range r.bySrc {
		m[k] = v
	}
	return m
}

// countSink counts records per worker without locks, for benchmarks.
type countSink struct {
	perWorker []paddedCount
	delay     time.Duration
}

type paddedCount struct {
	n atomic.Uint64
	_ [56]byte
}

func (s *countSink) HandleFlows(worker int, flows []watchfloor.Flow) {
	if s.delay > 0 {
		time.Sleep(s.delay)
	}
	s.perWorker[worker].n.Add(uint64(len(flows)))
}
func (s *countSink) PutSamples([]watchfloor.Sample) {}
func (s *countSink) total() uint64 {
	var n uint64
	for i := range s.perWorker {
		n += s.perWorker[i].n.Load()
	}
	return n
}

// v5Record is one NetFlow v5 record to encode.
type v5Record struct {
	src, dst        netip.Addr
	sport, dport    uint16
	proto           uint8
	in, out         uint16
	packets, octets uint32
}

// v5Datagram encodes a NetFlow v5 export (at most 30 records).
func v5Datagram(seq uint32, sampling uint16, recs []v5Record) []byte {
	b := make([]byte, 24+48*len(recs))
	binary.BigEndian.PutUint16(b[0:], 5)
	binary.BigEndian.PutUint16(b[2:], uint16(len(recs)))
	binary.BigEndian.PutUint32(b[4:], 100000) // sysUptime ms
	binary.BigEndian.PutUint32(b[8:], uint32(time.Now().Unix()))
	binary.BigEndian.PutUint32(b[16:], seq)
	binary.BigEndian.PutUint16(b[22:], sampling)
	for i, r := range recs {
		p := b[24+48*i:]
		copy(p[0:4], r.src.AsSlice())
		copy(p[4:8], r.dst.AsSlice())
		binary.BigEndian.PutUint16(p[12:], r.in)
		binary.BigEndian.PutUint16(p[14:], r.out)
		binary.BigEndian.PutUint32(p[16:], r.packets)
		binary.BigEndian.PutUint32(p[20:], r.octets)
		binary.BigEndian.PutUint32(p[24:], 90000)
		binary.BigEndian.PutUint32(p[28:], 99000)
		binary.BigEndian.PutUint16(p[32:], r.sport)
		binary.BigEndian.PutUint16(p[34:], r.dport)
		p[38] = r.proto
	}
	return b
}

// fullV5 is a datagram of 30 records from 10.0.0.1 → 10.0.1.1, 1 packet of 100 bytes each.
func fullV5(seq uint32) []byte {
	recs := make([]v5Record, 30)
	for i := range recs {
		recs[i] = v5Record{src: netip.MustParseAddr("10.0.0.1"), dst: netip.MustParseAddr("10.0.1.1"),
			sport: uint16(1000 + i), dport: 80, proto: 6, packets: 1, octets: 100}
	}
	return v5Datagram(seq, 0, recs)
}

// metricValue reads a counter or gauge from a registry; labels select one series.
func metricValue(t testing.TB, g prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				if labelValue(m, labels[i]) != labels[i+1] {
					continue next
				}
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("metric %s%v not found", name, labels)
	return 0
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// eventually polls cond every 10 ms until it holds or d has passed.
func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func isRoot() bool { return os.Geteuid() == 0 }

// testDevice is a polled device with two interfaces; variant changes the second one's speed.
func testDevice(name, addr string, variant int64) watchfloor.Device {
	return watchfloor.Device{Name: name, Address: addr, Interfaces: []watchfloor.Interface{
		{Index: 1, Name: "ge-0/0/1", SpeedBps: 1e9},
		{Index: 2, Name: "ge-0/0/2", SpeedBps: uint64(10e9 + variant)},
	}}
}
