package lab

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netsampler/goflow2/v2/decoders/netflow"
	"github.com/netsampler/goflow2/v2/decoders/netflowlegacy"
	"github.com/netsampler/goflow2/v2/decoders/sflow"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/internal/testpeer"
)

func listenUDP(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadBuffer(8 << 20)
	t.Cleanup(func() { c.Close() })
	return c
}

type rx struct {
	from netip.Addr
	b    []byte
}

// receive reads datagrams until d passes without one.
func receive(c *net.UDPConn, d time.Duration, out chan<- rx) {
	buf := make([]byte, 65536)
	for {
		c.SetReadDeadline(time.Now().Add(d))
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		out <- rx{from.Addr().Unmap(), bytes.Clone(buf[:n])}
	}
}

// TestFlowExportLive runs the lab with both targets for a second and decodes everything
// with goflow2: every exporter sends from its device's address in its protocol, templates
// come before data, sFlow counter samples arrive, and Close stops it all.
func TestFlowExportLive(t *testing.T) {
	nf, sf := listenUDP(t), listenUDP(t)
	before := runtime.NumGoroutine()
	l, err := Start(t.Context(), Options{FlowTarget: nf.LocalAddr().String(), SFlowTarget: sf.LocalAddr().String(),
		FlowRecordsPerSecond: 4000}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	exps := l.FlowExporters()
	if len(exps) != 12 {
		t.Fatalf("%d exporters", len(exps))
	}
	byAddr := map[netip.Addr]FlowExporter{}
	for _, x := range exps {
		byAddr[x.Address] = x
		if l.Device(x.Address) != x.Device {
			t.Errorf("exporter %s at %s, which is %q", x.Device, x.Address, l.Device(x.Address))
		}
	}
	time.Sleep(1200 * time.Millisecond)

	ch := make(chan rx, 1<<16)
	var wg sync.WaitGroup
	for _, c := range []*net.UDPConn{nf, sf} {
		wg.Add(1)
		go func() { defer wg.Done(); receive(c, 300*time.Millisecond, ch) }()
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	st := l.FlowStats()
	wg.Wait()
	close(ch)

	ts := netflow.CreateTemplateSystem()
	type got struct{ datagrams, records, counters, raw int }
	per := map[string]*got{}
	n := 0
	{
		for m := range ch {
			x, ok := byAddr[m.from]
			if !ok {
				t.Fatalf("datagram from %s, not an exporter", m.from)
			}
			g := per[x.Device]
			if g == nil {
				g = &got{}
				per[x.Device] = g
			}
			g.datagrams++
			n++
			switch x.Protocol {
			case watchfloor.FlowNetFlowV5:
				var p netflowlegacy.PacketNetFlowV5
				if err := netflowlegacy.DecodeMessageVersion(bytes.NewBuffer(m.b), &p); err != nil {
					t.Fatal(err)
				}
				if p.SamplingInterval&0x3fff != uint16(x.SamplingRate) {
					t.Errorf("%s: sampling interval %x", x.Device, p.SamplingInterval)
				}
				g.records += len(p.Records)
			case watchfloor.FlowNetFlowV9, watchfloor.FlowIPFIX:
				var v9 netflow.NFv9Packet
				var ipfix netflow.IPFIXPacket
				err := netflow.DecodeMessageVersion(bytes.NewBuffer(m.b), ts, &v9, &ipfix)
				if errors.Is(err, netflow.ErrorTemplateNotFound) {
					g.raw++
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				if (x.Protocol == watchfloor.FlowIPFIX) != (ipfix.Version == 10) {
					t.Fatalf("%s sends the wrong protocol", x.Device)
				}
				for _, s := range append(v9.FlowSets, ipfix.FlowSets...) {
					if d, ok := s.(netflow.DataFlowSet); ok {
						g.records += len(d.Records)
					}
				}
			case watchfloor.FlowSFlow:
				var p sflow.Packet
				if err := sflow.DecodeMessageVersion(bytes.NewBuffer(m.b), &p); err != nil {
					t.Fatal(err)
				}
				if netip.AddrFrom4([4]byte(p.AgentIP)) != x.Address {
					t.Errorf("%s: agent address %v", x.Device, p.AgentIP)
				}
				for _, s := range p.Samples {
					switch s := s.(type) {
					case sflow.FlowSample:
						g.records++
						if s.SamplingRate != x.SamplingRate {
							t.Errorf("%s: rate %d", x.Device, s.SamplingRate)
						}
					case sflow.CounterSample:
						g.counters++
					}
				}
			}
		}
	}
	for _, x := range exps {
		g := per[x.Device]
		if g == nil || g.records == 0 || g.raw > 0 {
			t.Errorf("%s (%v): %+v", x.Device, x.Protocol, g)
			continue
		}
		if x.Protocol == watchfloor.FlowSFlow && g.counters == 0 {
			t.Errorf("%s: no counter samples", x.Device)
		}
	}
	sum := st.NetFlowV5.Datagrams + st.NetFlowV9.Datagrams + st.IPFIX.Datagrams + st.SFlow.Datagrams
	if int(sum) != n || st.IPFIX.Templates == 0 || st.NetFlowV9.Templates == 0 || st.SFlow.Templates == 0 {
		t.Errorf("stats %+v, %d datagrams received", st, n)
	}
	t.Logf("%d datagrams; stats %+v", n, st)
	waitGoroutines(t, before)
}

// waitGoroutines fails unless the goroutine count comes back to n (Close has returned, so
// only the runtime's own bookkeeping may lag).
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	for range 100 {
		if runtime.NumGoroutine() <= n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	buf := make([]byte, 1<<16)
	t.Fatalf("%d goroutines after Close, %d before:\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
}

// TestFlowStartCloseRace starts labs with flow export and closes them from several
// goroutines at once, and by cancelling their context, under the race detector.
func TestFlowStartCloseRace(t *testing.T) {
	nf := listenUDP(t)
	before := runtime.NumGoroutine()
	for range 3 {
		ctx, cancel := context.WithCancel(t.Context())
		l, err := Start(ctx, Options{FlowTarget: nf.LocalAddr().String(), SFlowTarget: nf.LocalAddr().String(),
			Timeline: true, TimeScale: 0.01}, testLog(t))
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for k := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				time.Sleep(time.Duration(k) * 30 * time.Millisecond)
				_ = l.FlowStats()
				if k == 3 {
					cancel()
				}
				l.Close()
			}()
		}
		wg.Wait()
		cancel()
	}
	waitGoroutines(t, before)
}

// TestFlowExportFarm: the farm has no flow plan, and says so.
func TestFlowExportFarm(t *testing.T) {
	if _, err := Start(t.Context(), Options{Devices: 3, FlowTarget: "127.0.0.1:9"}, testLog(t)); err == nil {
		t.Fatal("a farm with flow export started")
	}
}

// TestFlowNfcapd sends the lab's NetFlow v5, v9 and IPFIX to nfdump's nfcapd and reads
// them back with nfdump: every exporter's records arrive, with its sampling rate applied.
func TestFlowNfcapd(t *testing.T) {
	nfcapd := testpeer.Program(t, "nfcapd")
	nfdump := testpeer.Program(t, "nfdump")
	// Find a free port for nfcapd.
	pc := listenUDP(t)
	port := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	dir := t.TempDir()
	cmd := exec.Command(nfcapd, "-w", dir, "-b", "127.0.0.1", "-p", strconv.Itoa(port), "-t", "60")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	time.Sleep(300 * time.Millisecond)
	l, err := Start(t.Context(), Options{FlowTarget: "127.0.0.1:" + strconv.Itoa(port), FlowRecordsPerSecond: 2000}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	l.Close()
	st := l.FlowStats()
	time.Sleep(200 * time.Millisecond)
	cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("nfcapd does not stop:\n%s", out.String())
	}
	files, _ := filepath.Glob(filepath.Join(dir, "nfcapd.*"))
	if len(files) == 0 {
		t.Fatalf("nfcapd wrote no file:\n%s", out.String())
	}
	res, err := exec.Command(nfdump, "-R", dir, "-q", "-N", "-o", "fmt:%ra %pr %pkt %byt").CombinedOutput()
	if err != nil {
		t.Fatalf("nfdump: %v\n%s", err, res)
	}
	type agg struct{ flows, pkts, bytes uint64 }
	by := map[string]*agg{}
	var total uint64
	for _, line := range strings.Split(strings.TrimSpace(string(res)), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		a := by[f[0]]
		if a == nil {
			a = &agg{}
			by[f[0]] = a
		}
		p, _ := strconv.ParseUint(f[len(f)-2], 10, 64)
		b, _ := strconv.ParseUint(f[len(f)-1], 10, 64)
		a.flows++
		a.pkts += p
		a.bytes += b
		total++
	}
	for r, a := range by {
		t.Logf("nfdump: exporter %-12s %5d flows %12d packets %14d bytes", r, a.flows, a.pkts, a.bytes)
	}
	want := st.NetFlowV5.Records + st.NetFlowV9.Records + st.IPFIX.Records
	if total != want {
		t.Errorf("nfcapd stored %d flows, the lab sent %d (%+v)", total, want, st)
	}
	for _, x := range l.FlowExporters() {
		if x.Protocol == watchfloor.FlowSFlow {
			continue
		}
		if by[x.Address.String()] == nil {
			t.Errorf("nfdump shows nothing from %s (%s)", x.Address, x.Device)
		}
	}
}
