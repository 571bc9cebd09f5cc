package flow

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.NetFlow = []string{"127.0.0.1:0"}
	cfg.SFlow = []string{"127.0.0.1:0"}
	cfg.Sockets = 2
	return cfg
}

func dial(t testing.TB, a net.Addr) *net.UDPConn {
	t.Helper()
	conn, err := net.DialUDP("udp", nil, a.(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func TestNewErrors(t *testing.T) {
	if _, err := New(DefaultConfig(), "lab", nil, nil); !errors.Is(err, ErrDisabled) {
		t.Errorf("New without listeners: %v, want ErrDisabled", err)
	}
	bad := testConfig()
	bad.NetFlow = []string{"nonsense"}
	if _, err := New(bad, "lab", nil, nil); err == nil || !strings.Contains(err.Error(), "netflow[0]") {
		t.Errorf("New with a bad address: %v", err)
	}
	// A busy port fails in New, not in Run: a plain socket without SO_REUSEPORT holds it.
	busy, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := testConfig()
	cfg.NetFlow = []string{busy.LocalAddr().String()}
	if _, err := New(cfg, "lab", nil, nil); err == nil {
		t.Error("New on a busy port succeeded")
	}
	// The replayer needs no listener, and cannot Run.
	r, err := NewReplayer(DefaultConfig(), "lab", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Run(context.Background(), newRecorder(false)); err == nil {
		t.Error("Run on a replayer succeeded")
	}
	if r.Workers() != 1 {
		t.Errorf("replayer Workers = %d", r.Workers())
	}
}

// TestRunShutdown receives over both listeners on two sockets each, then stops; -race checks
// that the receive goroutines, UpdateDevice and the metrics do not race.
func TestRunShutdown(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	cfg := testConfig()
	cfg.Exporters = []Exporter{{Address: netip.MustParseAddr("127.0.0.1"), Device: "edge-1"}}
	c, err := New(cfg, "lab", nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	nf, sf := c.Addrs()
	if len(nf) != 1 || len(sf) != 1 || c.Workers() != 4 {
		t.Fatalf("Addrs %v %v, Workers %d", nf, sf, c.Workers())
	}
	rec := newRecorder(true)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx, rec) }()

	conn := dial(t, nf[0])
	const datagrams = 50
	go func() {
		for i := range 20 {
			c.UpdateDevice(testDevice("edge-1", "127.0.0.1:161", int64(i%2)))
		}
	}()
	for i := range datagrams {
		if _, err := conn.Write(fullV5(uint32(i * 30))); err != nil {
			t.Fatal(err)
		}
	}
	if !eventually(5*time.Second, func() bool { return rec.records.Load() == datagrams*30 }) {
		t.Fatalf("got %d records, want %d", rec.records.Load(), datagrams*30)
	}
	if err := c.Run(ctx, rec); err == nil {
		t.Error("a second Run succeeded")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close after Run: %v", err)
	}
	rec.mu.Lock()
	f := rec.flows[0]
	rec.mu.Unlock()
	if f.Site != "lab" || f.Device != "edge-1" || f.Exporter != netip.MustParseAddr("127.0.0.1") || f.Protocol.String() != "netflow_v5" {
		t.Errorf("first flow: site %q device %q exporter %s protocol %s", f.Site, f.Device, f.Exporter, f.Protocol)
	}
	if got := metricValue(t, reg, "watchfloor_flow_datagrams_total", "protocol", "netflow"); got != datagrams {
		t.Errorf("datagrams_total = %v, want %d", got, datagrams)
	}
	if got := metricValue(t, reg, "watchfloor_flow_received_bytes_total", "protocol", "netflow"); got != float64(datagrams*len(fullV5(0))) {
		t.Errorf("received_bytes_total = %v", got)
	}
	if got := metricValue(t, reg, "watchfloor_flow_socket_drops_total", "protocol", "netflow"); got != 0 {
		t.Errorf("socket_drops_total = %v, want 0", got)
	}
	if got := metricValue(t, reg, "watchfloor_flow_records_total", "protocol", "netflow_v5"); got != datagrams*30 {
		t.Errorf("records_total = %v (the decoder's)", got)
	}
	if got := metricValue(t, reg, "watchfloor_flow_socket_receive_buffer_bytes"); got < DefaultReceiveBuffer && isRoot() {
		t.Errorf("receive buffer granted to root = %v, want ≥ %d", got, DefaultReceiveBuffer)
	}
}

// TestCloseWithoutRun: a collector that never runs releases its port.
func TestCloseWithoutRun(t *testing.T) {
	cfg := testConfig()
	c, err := New(cfg, "lab", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	nf, _ := c.Addrs()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	cfg.NetFlow = []string{nf[0].String()}
	cfg.SFlow = nil
	c2, err := New(cfg, "lab", nil, nil)
	if err != nil {
		t.Fatalf("port not released: %v", err)
	}
	c2.Close()
}

// TestLoss blasts datagrams at a collector whose sink is deliberately slow and whose receive
// buffer is small: what is not received must show up as socket drops, datagram for datagram.
func TestLoss(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	cfg := testConfig()
	cfg.SFlow = nil
	cfg.Sockets = 1
	cfg.ReceiveBuffer = 64 << 10
	c, err := New(cfg, "lab", nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	sink := &countSink{perWorker: make([]paddedCount, c.Workers()), delay: 2 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx, sink) }()
	nf, _ := c.Addrs()
	conn := dial(t, nf[0])
	const sent = 5000
	for i := range sent {
		if _, err := conn.Write(fullV5(uint32(i))); err != nil {
			t.Fatal(err)
		}
	}
	received := func() float64 { return metricValue(t, reg, "watchfloor_flow_datagrams_total", "protocol", "netflow") }
	dropped := func() float64 {
		return metricValue(t, reg, "watchfloor_flow_socket_drops_total", "protocol", "netflow")
	}
	ok := eventually(20*time.Second, func() bool { return received()+dropped() == sent })
	r, d := received(), dropped()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !ok {
		t.Fatalf("received %v + dropped %v ≠ sent %d", r, d, sent)
	}
	if d == 0 {
		t.Fatalf("no drops with a slow sink and a 64 KiB buffer (received %v): the test proves nothing", r)
	}
	if got := sink.total(); got != uint64(r)*30 {
		t.Errorf("sink got %d records, want %v", got, r*30)
	}
	// The total survives the close of the sockets.
	if got := dropped(); got != d {
		t.Errorf("drops after close %v, want %v", got, d)
	}
	t.Logf("sent %d, received %v, dropped %v", sent, r, d)
}

// BenchmarkReceive measures the whole path over loopback: a sender goroutine writes NetFlow v5
// datagrams of 30 records to a running collector; records/s counts what reached the sink.
func BenchmarkReceive(b *testing.B) {
	reg := prometheus.NewRegistry()
	cfg := testConfig()
	cfg.SFlow = nil
	c, err := New(cfg, "lab", nil, reg)
	if err != nil {
		b.Fatal(err)
	}
	sink := &countSink{perWorker: make([]paddedCount, c.Workers())}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx, sink) }()
	nf, _ := c.Addrs()
	// Several source ports, so that SO_REUSEPORT spreads them over the sockets.
	var conns []*net.UDPConn
	for range 4 {
		conns = append(conns, dial(b, nf[0]))
	}
	dgs := make([][]byte, 64)
	for i := range dgs {
		dgs[i] = fullV5(uint32(i))
	}
	datagrams := (b.N + 29) / 30
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := range datagrams {
		if _, err := conns[i%len(conns)].Write(dgs[i%len(dgs)]); err != nil {
			b.Fatal(err)
		}
	}
	dropped := func() float64 {
		return metricValue(b, reg, "watchfloor_flow_socket_drops_total", "protocol", "netflow")
	}
	eventually(30*time.Second, func() bool { return sink.total()+uint64(dropped())*30 >= uint64(datagrams)*30 })
	elapsed := time.Since(start)
	b.StopTimer()
	cancel()
	<-done
	b.ReportMetric(float64(sink.total())/elapsed.Seconds(), "records/s")
	b.ReportMetric(dropped(), "dropped_datagrams")
}
