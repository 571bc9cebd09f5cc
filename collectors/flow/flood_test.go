package flow

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// readDgrams reads a decoder fixture: datagrams, each after its 2-byte big-endian length.
func readDgrams(t *testing.T, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for len(b) >= 2 {
		n := int(binary.BigEndian.Uint16(b))
		if len(b) < 2+n {
			break
		}
		out = append(out, b[2:2+n])
		b = b[2+n:]
	}
	return out
}

// ipfixHeader starts an IPFIX message of observation domain dom; fix sets its length.
func ipfixHeader(dom uint32) []byte {
	b := make([]byte, 16, 1500)
	binary.BigEndian.PutUint16(b, 10)
	binary.BigEndian.PutUint32(b[4:], uint32(time.Now().Unix()))
	binary.BigEndian.PutUint32(b[12:], dom)
	return b
}

func fix(b []byte) []byte {
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	return b
}

// templateFlood is an IPFIX message defining n templates (IDs from first), one field each.
func templateFlood(dom uint32, first uint16, n int) []byte {
	b := ipfixHeader(dom)
	set := len(b)
	b = append(b, 0, 2, 0, 0)
	for i := range n {
		b = binary.BigEndian.AppendUint16(b, first+uint16(i))
		b = append(b, 0, 1, 0, 8, 0, 4) // one field: sourceIPv4Address, 4 bytes
	}
	binary.BigEndian.PutUint16(b[set+2:], uint16(len(b)-set))
	return fix(b)
}

// hugeTemplate is an IPFIX template that claims count fields and carries few.
func hugeTemplate(dom uint32, count uint16) []byte {
	b := ipfixHeader(dom)
	b = append(b, 0, 2, 0, 16, 1, 0)
	b = binary.BigEndian.AppendUint16(b, count)
	b = append(b, 0, 8, 0, 4, 0, 12, 0, 4)
	return fix(b)
}

// TestMalformedFlood sends the collector a flood of hostile datagrams — the real exporters'
// datagrams cut short and bit-flipped, unknown versions, a template-ID flood, templates that
// claim 65535 fields, sFlow with absurd counts, random bytes — and checks that it neither
// panics nor grows without bound, that every datagram is accounted for (decoded, counted as
// an error, or dropped by the kernel and counted), and that a good datagram still decodes
// after it.
func TestMalformedFlood(t *testing.T) {
	var good [][]byte
	for _, f := range []string{"softflowd-ipfix", "softflowd-netflow9", "softflowd-netflow5", "pmacct-sflow"} {
		good = append(good, readDgrams(t, filepath.Join("decoder", "testdata", f+".dgrams"))...)
	}
	if len(good) == 0 {
		t.Fatal("no fixtures")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var hostile [][]byte
	for range 4000 {
		d := good[rng.IntN(len(good))]
		switch rng.IntN(5) {
		case 0: // cut short
			hostile = append(hostile, append([]byte(nil), d[:rng.IntN(len(d))]...))
		case 1: // bits flipped
			c := append([]byte(nil), d...)
			for range 1 + rng.IntN(8) {
				c[rng.IntN(len(c))] ^= byte(1 << rng.IntN(8))
			}
			hostile = append(hostile, c)
		case 2: // a version nobody speaks
			c := append([]byte(nil), d...)
			binary.BigEndian.PutUint16(c, []uint16{0, 1, 7, 8, 11, 0xffff}[rng.IntN(6)])
			hostile = append(hostile, c)
		case 3: // random bytes
			c := make([]byte, rng.IntN(1400))
			for i := range c {
				c[i] = byte(rng.Uint32())
			}
			hostile = append(hostile, c)
		case 4: // a field count of 65535, or an sFlow sample count of 2³²−1
			if rng.IntN(2) == 0 {
				hostile = append(hostile, hugeTemplate(uint32(rng.IntN(4)), 0xffff))
			} else {
				c := []byte{0, 0, 0, 5, 0, 0, 0, 1, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff}
				hostile = append(hostile, c)
			}
		}
	}
	// Template-ID abuse: 200 messages of 100 new templates each, over 20 domains.
	for i := range 200 {
		hostile = append(hostile, templateFlood(uint32(i%20), uint16(256+100*(i/20)), 100))
	}

	reg := prometheus.NewPedanticRegistry()
	c, err := New(testConfig(), "lab", nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder(false)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, rec) }()
	defer func() { cancel(); <-done }()
	nf, sf := c.Addrs()
	nconn, sconn := dial(t, nf[0]), dial(t, sf[0])

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	sent := map[string]int{}
	for round := range 5 {
		for i, d := range hostile {
			conn, proto := nconn, "netflow"
			if i%3 == 0 {
				conn, proto = sconn, "sflow"
			}
			if _, err := conn.Write(d); err != nil {
				t.Fatal(err)
			}
			sent[proto]++
			if i%200 == 0 {
				time.Sleep(time.Millisecond) // a flood, not a test of the kernel's buffer
			}
		}
		t.Logf("round %d sent", round)
	}
	accounted := func() bool {
		for proto, n := range sent {
			got := metricValue(t, reg, "watchfloor_flow_datagrams_total", "protocol", proto) +
				metricValue(t, reg, "watchfloor_flow_socket_drops_total", "protocol", proto)
			if int(got) < n {
				return false
			}
		}
		return true
	}
	if !eventually(10*time.Second, accounted) {
		t.Errorf("datagrams not accounted for: sent %v, received netflow %v sflow %v, socket drops netflow %v sflow %v", sent,
			metricValue(t, reg, "watchfloor_flow_datagrams_total", "protocol", "netflow"),
			metricValue(t, reg, "watchfloor_flow_datagrams_total", "protocol", "sflow"),
			metricValue(t, reg, "watchfloor_flow_socket_drops_total", "protocol", "netflow"),
			metricValue(t, reg, "watchfloor_flow_socket_drops_total", "protocol", "sflow"))
	}
	errs := 0.0
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "watchfloor_flow_decode_errors_total" || mf.GetName() == "watchfloor_flow_templates_refused_total" {
			for _, m := range mf.GetMetric() {
				errs += m.GetCounter().GetValue()
			}
		}
	}
	if errs < 1000 {
		t.Errorf("only %v decode errors and refused templates counted for %d hostile datagrams", errs, len(hostile)*5)
	}
	if n := metricValue(t, reg, "watchfloor_flow_templates", "protocol", "ipfix"); n > 1024 {
		t.Errorf("%v IPFIX templates kept from one exporter, bound is 1024", n)
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 64<<20 {
		t.Errorf("heap grew by %d MiB", grew>>20)
	}
	t.Logf("%d hostile datagrams: %v errors and refusals counted; heap %d → %d KiB", len(hostile)*5, errs, before.HeapAlloc>>10, after.HeapAlloc>>10)

	// Still working: a good NetFlow v5 datagram decodes.
	flows := int(rec.records.Load())
	if _, err := nconn.Write(fullV5(1)); err != nil {
		t.Fatal(err)
	}
	if !eventually(5*time.Second, func() bool { return int(rec.records.Load()) >= flows+30 }) {
		t.Errorf("a good datagram after the flood gave %d flows", int(rec.records.Load())-flows)
	}
}
