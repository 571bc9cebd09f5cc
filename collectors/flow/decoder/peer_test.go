package decoder

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/internal/testpeer"
)

var updateFixtures = flag.Bool("update", false, "rewrite the golden datagrams in testdata/ from the real exporters")

// capture runs an exporter that sends to the returned port on loopback and collects the
// datagrams it sends until it exits and the socket stays quiet for a moment.
func capture(t *testing.T, start func(port int) *exec.Cmd) [][]byte {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadBuffer(8 << 20)
	cmd := start(conn.LocalAddr().(*net.UDPAddr).Port)
	out, err := os.CreateTemp(t.TempDir(), "peer-*.log")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var got [][]byte
	buf := make([]byte, 65536)
	exited := false
	deadline := time.Now().Add(20 * time.Second)
	for {
		// Once the exporter has exited, a short quiet period ends the capture (what it
		// sent is already in the socket buffer).
		_ = conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, _, err := conn.ReadFromUDP(buf)
		if err == nil {
			got = append(got, append([]byte(nil), buf[:n]...))
			continue
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatal(err)
		}
		if exited {
			break // quiet since the exporter exited
		}
		select {
		case werr := <-done:
			exited = true
			if werr != nil {
				log, _ := os.ReadFile(out.Name())
				t.Logf("%s exited: %v\n%s", cmd.Path, werr, log)
			}
		default:
			if time.Now().After(deadline) {
				_ = cmd.Process.Kill()
				<-done
				log, _ := os.ReadFile(out.Name())
				t.Fatalf("%s %q still running after 20s:\n%s", cmd.Path, cmd.Args, log)
			}
		}
	}
	return got
}

// softflowd exports the capture with softflowd in the given NetFlow version.
func softflowd(t *testing.T, pcap string, version, sampling int) [][]byte {
	bin := testpeer.Program(t, "softflowd")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return capture(t, func(port int) *exec.Cmd {
		// softflowd keeps only the first 15 characters of the -r path (an interface name
		// buffer): run it in the capture's directory with a short relative name.
		args := []string{"-r", filepath.Base(pcap), "-n", "127.0.0.1:" + strconv.Itoa(port), "-v", strconv.Itoa(version), "-d"}
		if sampling > 1 {
			args = append(args, "-s", strconv.Itoa(sampling))
		}
		// No control socket: parallel runs would collide on the default one, and softflowd
		// hangs on a long socket path.
		args = append(args, "-c", "none")
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Dir = filepath.Dir(pcap)
		return cmd
	})
}

// pmacctSFlow exports the capture as sFlow with pmacctd's sfprobe plugin.
func pmacctSFlow(t *testing.T, pcap string, sampling int) [][]byte {
	bin := testpeer.Program(t, "pmacctd")
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return capture(t, func(port int) *exec.Cmd {
		conf := fmt.Sprintf(`daemonize: false
pcap_savefile: %s
pidfile: %s
plugins: sfprobe[s]
sfprobe_receiver[s]: 127.0.0.1:%d
sfprobe_agentip[s]: 127.0.0.1
sfprobe_agentsubid[s]: 7
sampling_rate: %d
`, pcap, filepath.Join(dir, "pid"), port, sampling)
		path := filepath.Join(dir, "pmacctd.conf")
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		return exec.CommandContext(ctx, bin, "-f", path)
	})
}

// sumFlows totals decoded flow records per source address.
func sumFlows(flows []watchfloor.Flow) map[netip.Addr]*hostTotals {
	m := map[netip.Addr]*hostTotals{}
	for _, f := range flows {
		h := m[f.SrcAddr]
		if h == nil {
			h = &hostTotals{}
			m[f.SrcAddr] = h
		}
		h.IPBytes += f.Bytes
		h.Packets += f.Packets
	}
	return m
}

func decodeAll(t *testing.T, datagrams [][]byte, sflow bool) *Output {
	t.Helper()
	m := NewMetrics(nil)
	tm := NewTemplates(DefaultConfig(), m)
	d := New(tm, DefaultConfig(), m)
	out := &Output{}
	recv := time.Date(2025, 3, 1, 12, 0, 5, 0, time.UTC)
	for i, p := range datagrams {
		dg := Datagram{Exporter: netip.MustParseAddrPort("[::ffff:127.0.0.1]:4000"), Received: recv, Payload: p}
		var err error
		if sflow {
			err = d.DecodeSFlow(dg, out)
		} else {
			err = d.DecodeNetFlow(dg, out)
		}
		if err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
	}
	// A real exporter's capture, decoded in order, shows no restart.
	for _, p := range protocols {
		if c := m.restartsBy[p]; c != nil && testutil.ToFloat64(c) != 0 {
			t.Errorf("%v %s restarts detected", testutil.ToFloat64(c), p)
		}
	}
	return out
}

// saveFixtures writes the datagrams of one capture as testdata/NAME.dgrams when -update is
// given (see readFixtures for the format).
func saveFixtures(t *testing.T, name string, datagrams [][]byte) {
	if !*updateFixtures {
		return
	}
	var b []byte
	for _, p := range datagrams {
		b = binary.BigEndian.AppendUint16(b, uint16(len(p)))
		b = append(b, p...)
	}
	if err := os.WriteFile(filepath.Join("testdata", name+".dgrams"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// readFixtures reads testdata/NAME.dgrams: datagrams one after the other, each preceded by
// its length (2 bytes, big-endian).
func readFixtures(t testing.TB, name string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".dgrams"))
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for len(b) >= 2 {
		n := int(binary.BigEndian.Uint16(b))
		if 2+n > len(b) {
			t.Fatalf("%s: truncated fixture", name)
		}
		out = append(out, b[2:2+n])
		b = b[2+n:]
	}
	return out
}

// TestSoftflowd exports a known capture with softflowd as NetFlow v5, v9 and IPFIX, decodes
// what it sends on loopback and compares per-host IP-layer bytes and packets with the
// capture: exact, as the export is unsampled.
func TestSoftflowd(t *testing.T) {
	tr := buildTraffic(t)
	pcap := tr.writePcap(t, t.TempDir())
	starts := map[[2]netip.Addr]time.Time{}
	for _, tc := range []struct {
		name    string
		version int
	}{{"netflow5", 5}, {"netflow9", 9}, {"ipfix", 10}} {
		t.Run(tc.name, func(t *testing.T) {
			datagrams := softflowd(t, pcap, tc.version, 0)
			if len(datagrams) == 0 {
				t.Fatal("softflowd sent nothing")
			}
			saveFixtures(t, "softflowd-"+tc.name, datagrams)
			out := decodeAll(t, datagrams, false)
			got := sumFlows(out.Flows)
			for host, want := range tr.totals {
				if tc.version == 5 && host.Is6() {
					continue // NetFlow v5 has no IPv6
				}
				g := got[host]
				if g == nil {
					t.Errorf("%s: no flows", host)
					continue
				}
				if g.IPBytes != want.IPBytes || g.Packets != want.Packets {
					t.Errorf("%s: got %d bytes %d packets, want %d bytes %d packets", host, g.IPBytes, g.Packets, want.IPBytes, want.Packets)
				}
			}
			for _, f := range out.Flows {
				if f.Exporter != netip.MustParseAddr("127.0.0.1") || f.SamplingRate != 1 {
					t.Errorf("flow %+v: exporter or rate wrong", f)
				}
				// softflowd stamps flows on a clock of its own while it reads a capture, so
				// only their durations can be checked against it (to the millisecond; it
				// keeps both directions of a conversation in one flow), and their starts
				// against the other versions (to the second: the v9 header has no
				// fraction of a second).
				pair := unordered(f.SrcAddr, f.DstAddr)
				if d, want := f.End.Sub(f.Start), tr.spans[pair]; d != want {
					t.Errorf("flow %s→%s: lasts %s (%s … %s), want %s", f.SrcAddr, f.DstAddr, d, f.Start, f.End, want)
				}
				if s, ok := starts[pair]; ok && s.Sub(f.Start).Abs() > time.Second {
					t.Errorf("flow %s→%s: starts %s, %s in another version", f.SrcAddr, f.DstAddr, f.Start, s)
				}
				starts[pair] = f.Start
			}
		})
	}
}

// TestSoftflowdSampled: softflowd -s 4 states its rate (v5 header, v9/IPFIX options), and
// the decoded totals are scaled estimates of the capture's.
func TestSoftflowdSampled(t *testing.T) {
	tr := buildTraffic(t)
	pcap := tr.writePcap(t, t.TempDir())
	var total, totalPkts uint64
	for _, h := range tr.totals {
		total += h.IPBytes
		totalPkts += h.Packets
	}
	for _, tc := range []struct {
		name    string
		version int
	}{{"netflow5", 5}, {"netflow9", 9}, {"ipfix", 10}} {
		t.Run(tc.name, func(t *testing.T) {
			datagrams := softflowd(t, pcap, tc.version, 4)
			saveFixtures(t, "softflowd-sampled-"+tc.name, datagrams)
			out := decodeAll(t, datagrams, false)
			var bytes, pkts uint64
			for _, f := range out.Flows {
				if f.SamplingRate != 4 {
					t.Fatalf("flow %s→%s: rate %d, want 4", f.SrcAddr, f.DstAddr, f.SamplingRate)
				}
				if tc.version == 5 && f.SrcAddr.Is6() {
					continue
				}
				bytes += f.Bytes
				pkts += f.Packets
			}
			if tc.version == 5 {
				t.Logf("v5: %d bytes %d packets decoded (IPv4 only)", bytes, pkts)
				return
			}
			// 1 in 4 packets of 220: the estimate is exact in packets, close in bytes.
			if pkts != totalPkts/4*4 && pkts != (totalPkts+3)/4*4 {
				t.Errorf("packets: got %d, want about %d", pkts, totalPkts)
			}
			if bytes < total*8/10 || bytes > total*12/10 {
				t.Errorf("bytes: got %d, want about %d", bytes, total)
			}
		})
	}
}

// TestPmacctSFlow exports the capture as sFlow with pmacctd's sfprobe (sampling 1) and
// compares per-host frame bytes and packets, addresses and ports included.
func TestPmacctSFlow(t *testing.T) {
	tr := buildTraffic(t)
	pcap := tr.withFiller(t, 12).writePcap(t, t.TempDir())
	datagrams := pmacctSFlow(t, pcap, 1)
	if len(datagrams) == 0 {
		t.Fatal("pmacctd sent nothing")
	}
	saveFixtures(t, "pmacct-sflow", datagrams)
	out := decodeAll(t, datagrams, true)
	got := map[netip.Addr]*hostTotals{}
	for _, f := range out.Flows {
		h := got[f.SrcAddr]
		if h == nil {
			h = &hostTotals{}
			got[f.SrcAddr] = h
		}
		h.FrameBytes += f.Bytes
		h.Packets += f.Packets
		if f.ObsDomain != 7 || f.Protocol != watchfloor.FlowSFlow {
			t.Errorf("flow %+v: sub-agent or protocol wrong", f)
		}
	}
	for _, f := range out.Flows {
		if f.SrcAddr == netip.MustParseAddr("10.1.0.1") && (f.DstPort != 443 || f.SrcPort != 40001 || f.Proto != 6) ||
			f.SrcAddr == netip.MustParseAddr("10.1.0.4") && f.VLAN != 100 ||
			f.SrcAddr == netip.MustParseAddr("10.1.0.3") && f.DstPort != 8<<8 {
			t.Errorf("flow %+v: ports, protocol, VLAN or ICMP type wrong", f)
		}
	}
	t.Logf("%d datagrams, %d flows, %d counter records", len(datagrams), len(out.Flows), len(out.Counters))
	for host, want := range tr.totals {
		g := got[host]
		if g == nil {
			t.Errorf("%s: no flows", host)
			continue
		}
		// sFlow's frame_length counts the 4-byte FCS that the capture does not hold.
		if wantBytes := want.FrameBytes + 4*want.Packets; g.FrameBytes != wantBytes || g.Packets != want.Packets {
			t.Errorf("%s: got %d bytes %d packets, want %d frame bytes %d packets", host, g.FrameBytes, g.Packets, wantBytes, want.Packets)
		}
	}
}
