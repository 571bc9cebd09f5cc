package appliance

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/correlator/alerts"
	"github.com/watchfloor/watchfloor/internal/netnstest"
	"github.com/watchfloor/watchfloor/internal/testpeer"
)

// End to end with real traffic: a scanner and a flooder in one network namespace, their
// target in another, both joined by veth pairs to a bridge in the root namespace; the whole
// appliance (packet collector live on the target's bridge port, the correlator with the
// built-in pack, the alert Manager) runs in-process and must raise exactly the alerts the
// traffic deserves. Nothing is routed out: the namespaces have no default route and the
// bridge has no address.

// netnsLab is the attacker and target namespaces and the bridge between them. capture is the
// target's root-side veth end, where the appliance captures.
type netnsLab struct {
	att, tgt         string // namespace names
	bridge           string
	attHost, capture string // root-side veth ends
	attAddr, tgtAddr string
}

// newNetnsLab builds the namespaces, removed again when the test ends, however it ends.
func newNetnsLab(t *testing.T) *netnsLab {
	t.Helper()
	p := netnstest.New(t, "a", "198.51.100.61", "198.51.100.62")
	return &netnsLab{att: p.Att, tgt: p.Tgt, bridge: p.Bridge, attHost: p.AttHost, capture: p.TgtHost, attAddr: p.AttAddr, tgtAddr: p.TgtAddr}
}

// exec runs a program in a namespace to its end and returns its output.
func (l *netnsLab) exec(t *testing.T, ns, name string, args ...string) string {
	t.Helper()
	return netnstest.Exec(t, ns, name, args...)
}

// runFor runs a program in a namespace for d, then interrupts it (SIGINT to its process
// group, so hping3 prints its statistics; SIGKILL 2 s later if it lingers), and returns its
// output. The test's context ending (a timeout) stops it the same way.
func (l *netnsLab) runFor(t *testing.T, d time.Duration, ns, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	var out strings.Builder
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, name}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGINT) }
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s in %s: %v", name, ns, err)
	}
	err := cmd.Wait()
	// WaitDelay kills only the process it started: take whatever else of its group lingers.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	if ctx.Err() == nil {
		// It ended by itself before its time: a flood that stops early proves nothing.
		t.Fatalf("%s in %s ended before %v: %v\n%s", name, ns, d, err, out.String())
	}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("%s in %s: %v\n%s", name, ns, err, out.String())
	}
	return out.String()
}

// inNetns runs f on a thread that joined the namespace; the thread is never handed back to
// the runtime (it ends with its goroutine), so no other goroutine runs in the namespace.
func inNetns(t *testing.T, ns string, f func() error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := os.Open("/run/netns/" + ns)
		if err != nil {
			errc <- err
			return
		}
		defer fd.Close()
		if err := unix.Setns(int(fd.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns: %w", err)
			return
		}
		errc <- f()
	}()
	if err := <-errc; err != nil {
		t.Fatalf("in %s: %v", ns, err)
	}
}

// awaitCapture returns once every capture worker is live. The collector's sockets drop
// everything until Run has read away what queued before it and attached the real filter,
// and the fanout hands each flow to one socket: so rounds of UDP datagrams, each from its
// own source port (its own flow), go to a listener in the target namespace (nothing
// answers them) until a round is seen whole. With a socket still dropping, about half a
// round is seen. Plain UDP to an unremarkable port makes no observation a rule reads.
func awaitCapture(t *testing.T, l *netnsLab, a *Appliance) time.Duration {
	t.Helper()
	const round = 64
	var ln net.PacketConn
	inNetns(t, l.tgt, func() (err error) {
		ln, err = net.ListenPacket("udp4", l.tgtAddr+":9999")
		return err
	})
	defer ln.Close()
	start := time.Now()
	for deadline := start.Add(15 * time.Second); ; {
		before := a.packets.Stats().Seen
		inNetns(t, l.att, func() error {
			for range round {
				c, err := net.Dial("udp4", l.tgtAddr+":9999")
				if err != nil {
					return err
				}
				_, err = c.Write([]byte("watchfloor warm-up"))
				c.Close()
				if err != nil {
					return err
				}
			}
			return nil
		})
		for wait := time.Now().Add(500 * time.Millisecond); time.Now().Before(wait); time.Sleep(20 * time.Millisecond) {
			if a.packets.Stats().Seen-before >= round {
				return time.Since(start)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("capture on %s not live after 15 s: %+v", l.capture, a.packets.Stats())
		}
	}
}

// startNetnsAppliance runs an appliance capturing live on iface: no lab, no devices, the
// built-in rule pack, the console on loopback, a fresh data directory. It is stopped (and
// waited for) before the lab's interfaces go.
func startNetnsAppliance(t *testing.T, iface string) *Appliance {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Site = "netns"
	cfg.Packets.Interfaces = []string{iface}
	cfg.Packets.Workers = 2 // the fanout splits a scan's probes: the engine must add them up
	cfg.Packets.NumBlocks = 8
	cfg.Console.Listen = "127.0.0.1:0"
	if errs := cfg.validate(); len(errs) > 0 {
		t.Fatalf("config: %v", errs)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := New(ctx, Options{Config: cfg, DataDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, func(net.Addr) { close(ready) }) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("appliance Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("appliance did not stop within 30 s")
		}
	})
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("appliance stopped at start: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("appliance not ready within 10 s")
	}
	return a
}

// openAlerts is every open alert, of any category, by rule (several per rule are kept).
func openAlerts(a *Appliance) map[string][]watchfloor.Alert {
	by := map[string][]watchfloor.Alert{}
	for _, x := range a.alerts.List(alerts.Query{Open: true, Limit: alerts.MaxLimit}) {
		by[x.Rule] = append(by[x.Rule], x)
	}
	return by
}

func describeAlerts(by map[string][]watchfloor.Alert) string {
	var lines []string
	for _, list := range by {
		for _, x := range list {
			lines = append(lines, fmt.Sprintf("%s [%s %s %s] key=%q host=%q count=%d %q",
				x.Rule, x.Category, x.Severity, x.State, x.Key, x.Entity.Host, x.Count, x.Title))
		}
	}
	slices.Sort(lines)
	if len(lines) == 0 {
		return "(none)"
	}
	return strings.Join(lines, "\n  ")
}

// awaitAlerts polls until the open alerts are exactly one of each rule in want, and stay so
// for settle (a second alert of the same rule, or one of another, would show by then); it
// returns them by rule, and fails the test at the deadline.
func awaitAlerts(t *testing.T, a *Appliance, want []string, deadline, settle time.Duration) (map[string]watchfloor.Alert, time.Duration) {
	t.Helper()
	start := time.Now()
	exact := func(by map[string][]watchfloor.Alert) bool {
		if len(by) != len(want) {
			return false
		}
		for _, r := range want {
			if len(by[r]) != 1 {
				return false
			}
		}
		return true
	}
	var by map[string][]watchfloor.Alert
	var firstExact time.Duration = -1
	var stable time.Time
	for {
		by = openAlerts(a)
		now := time.Now()
		switch {
		case !exact(by):
			stable = time.Time{}
		case stable.IsZero():
			stable = now
			if firstExact < 0 {
				firstExact = now.Sub(start)
			}
		case now.Sub(stable) >= settle:
			got := map[string]watchfloor.Alert{}
			for r, list := range by {
				got[r] = list[0]
			}
			return got, firstExact
		}
		if now.Sub(start) > deadline {
			t.Fatalf("after %v, open alerts are not exactly one each of %v (stable for %v):\n  %s",
				deadline, want, settle, describeAlerts(by))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestNetnsPortScanAlert: nmap's SYN scan of 1000 ports raises exactly one vertical port
// scan alert naming the scanner and its target, and nothing else: 1000 SYNs stay under the
// SYN flood's 3000 in 10 s, -Pn sends no pings (no host sweep), one ARP exchange is no ARP
// sweep, and no DNS or TLS crosses the wire.
func TestNetnsPortScanAlert(t *testing.T) {
	if testing.Short() {
		t.Skip("real traffic between network namespaces")
	}
	l := newNetnsLab(t)
	nmap := testpeer.Program(t, "nmap")
	a := startNetnsAppliance(t, l.capture)
	t.Logf("capture live after %v", awaitCapture(t, l, a).Round(time.Millisecond))

	began := time.Now()
	out := l.exec(t, l.att, nmap, "-sS", "-p", "1-1000", "-T4", "--max-retries", "0", "-n", "-Pn", l.tgtAddr)
	scanned := time.Since(began)
	if !strings.Contains(out, "1 IP address (1 host up)") || !strings.Contains(out, "1000 closed") {
		t.Fatalf("nmap did not scan 1000 closed ports of %s:\n%s", l.tgtAddr, out)
	}

	got, after := awaitAlerts(t, a, []string{"port_scan_vertical"}, 30*time.Second, 3*time.Second)
	x := got["port_scan_vertical"]
	t.Logf("nmap took %v; alert started %v into it, the only open one %v after nmap ended: %q (count %d)",
		scanned.Round(time.Millisecond), x.StartedAt.Sub(began).Round(time.Millisecond), after.Round(time.Millisecond), x.Title, x.Count)
	wantKey := "src_ip=" + l.attAddr
	if !strings.Contains(x.Title, "from "+l.attAddr+" to "+l.tgtAddr) || !strings.Contains(x.Key, wantKey) ||
		!strings.Contains(x.Key, "dst_ip="+l.tgtAddr) {
		t.Errorf("alert does not name the scanner %s and its target %s: title %q key %q", l.attAddr, l.tgtAddr, x.Title, x.Key)
	}
	if x.Entity.Host != l.attAddr || x.Entity.Site != "netns" {
		t.Errorf("entity %+v, want host %s at site netns", x.Entity, l.attAddr)
	}
	if x.State != watchfloor.AlertFiring || x.Category != "security" || x.Severity != watchfloor.SeverityHigh ||
		!slices.Contains(x.Tags, "attack.t1046") {
		t.Errorf("alert %s %s %s tags %v, want firing security high with attack.t1046", x.State, x.Category, x.Severity, x.Tags)
	}
	if st := a.packets.Stats(); st.KernelDrops != 0 {
		t.Errorf("capture dropped %d packets of a 1000-port scan: %+v", st.KernelDrops, st)
	}
}

// TestNetnsSYNFloodAlert: hping3 --flood -S toward a port the target cannot answer (a
// blackhole route for the attacker in the target namespace keeps the connections half-open)
// raises exactly one SYN flood alert naming the target, and nothing else: one destination
// port is no port scan.
func TestNetnsSYNFloodAlert(t *testing.T) {
	if testing.Short() {
		t.Skip("real traffic between network namespaces")
	}
	l := newNetnsLab(t)
	hping := testpeer.Program(t, "hping3")
	a := startNetnsAppliance(t, l.capture)
	t.Logf("capture live after %v", awaitCapture(t, l, a).Round(time.Millisecond))
	l.exec(t, l.tgt, "ip", "route", "add", "blackhole", l.attAddr+"/32")

	const flood = 5 * time.Second
	began := time.Now()
	out := l.runFor(t, flood, l.att, hping, "--flood", "-S", "-p", "80", l.tgtAddr)
	if !strings.Contains(out, "packets transmitted") {
		t.Fatalf("hping3 printed no statistics:\n%s", out)
	}

	got, after := awaitAlerts(t, a, []string{"syn_flood"}, 30*time.Second, 3*time.Second)
	x := got["syn_flood"]
	st := a.packets.Stats()
	t.Logf("hping3 for %v: %s; capture %+v; alert started %v into the flood, the only open one %v after it ended: %q (count %d)",
		flood, strings.TrimSpace(out[strings.LastIndex(out, "---")+3:]), st, x.StartedAt.Sub(began).Round(time.Millisecond),
		after.Round(time.Millisecond), x.Title, x.Count)
	if !strings.Contains(x.Title, "toward "+l.tgtAddr+" ") || x.Key != "dst_ip="+l.tgtAddr {
		t.Errorf("alert does not name the target %s: title %q key %q", l.tgtAddr, x.Title, x.Key)
	}
	if x.Entity.Host != l.tgtAddr || x.Entity.Site != "netns" {
		t.Errorf("entity %+v, want host %s at site netns", x.Entity, l.tgtAddr)
	}
	if x.State != watchfloor.AlertFiring || x.Category != "security" || x.Severity != watchfloor.SeverityCritical ||
		!slices.Contains(x.Tags, "attack.t1498.001") {
		t.Errorf("alert %s %s %s tags %v, want firing security critical with attack.t1498.001", x.State, x.Category, x.Severity, x.Tags)
	}
}
