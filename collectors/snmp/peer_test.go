package snmp

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"
	"golang.org/x/sys/unix"

	"github.com/watchfloor/watchfloor/internal/testpeer"
)

// The real peer: net-snmp's snmpd, started by the test in a directory of its own, on
// loopback or inside a network namespace the test made.

const (
	peerCommunity = "public"
	peerUser      = "noc"
	peerAuthPass  = "authpass123"
	peerPrivPass  = "privpass123"
)

type agent struct {
	snmpd string
	ns    string // network namespace, "" for the root one
	host  string
	port  int
	dir   string
	cmd   *exec.Cmd
}

func (a *agent) addr() string { return net.JoinHostPort(a.host, strconv.Itoa(a.port)) }

// startAgent starts snmpd on host:port (port 0: a free one) in namespace ns (or the root
// namespace), answering community "public" from allowFrom and the v3 user noc (SHA, AES).
func startAgent(t *testing.T, ns, host string, port int, allowFrom string) *agent {
	t.Helper()
	a := &agent{snmpd: testpeer.Program(t, "snmpd"), ns: ns, host: host, port: port, dir: t.TempDir()}
	if a.port == 0 {
		a.port = freeUDPPort(t, host)
	}
	conf := fmt.Sprintf(`agentAddress udp:%s
rocommunity %s %s
createUser %s SHA %s AES %s
rouser %s priv
dontLogTCPWrappersConnects yes
`, a.addr(), peerCommunity, allowFrom, peerUser, peerAuthPass, peerPrivPass, peerUser)
	if err := os.WriteFile(filepath.Join(a.dir, "agent.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(a.dir, "persist"), 0o700); err != nil {
		t.Fatal(err)
	}
	a.start(t)
	t.Cleanup(a.stop)
	return a
}

func (a *agent) start(t *testing.T) {
	t.Helper()
	args := []string{a.snmpd, "-f", "-Lf", filepath.Join(a.dir, "snmpd.log"), "-C",
		"-c", filepath.Join(a.dir, "agent.conf"), "-p", filepath.Join(a.dir, "snmpd.pid")}
	if a.ns != "" {
		args = append([]string{"ip", "netns", "exec", a.ns}, args...)
	}
	a.cmd = exec.Command(args[0], args[1:]...)
	a.cmd.Env = append(os.Environ(), "SNMP_PERSISTENT_DIR="+filepath.Join(a.dir, "persist"), "MIBS=")
	if err := a.cmd.Start(); err != nil {
		t.Fatalf("start snmpd: %v", err)
	}
	// Wait until it answers.
	g := &gosnmp.GoSNMP{Target: a.host, Port: uint16(a.port), Community: peerCommunity,
		Version: gosnmp.Version2c, Timeout: 200 * time.Millisecond, Retries: 0}
	if err := g.Connect(); err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := g.Get([]string{".1.3.6.1.2.1.1.3.0"}); err == nil {
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(a.dir, "snmpd.log"))
			t.Fatalf("snmpd on %s does not answer; its log:\n%s", a.addr(), tail(string(log), 2000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends snmpd the way an init system does (SIGTERM, so it saves its persistent state:
// engine ID and boots), killing it if it lingers.
func (a *agent) stop() {
	if a.cmd == nil || a.cmd.Process == nil {
		return
	}
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = a.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		_ = a.cmd.Process.Kill()
		<-done
	}
	a.cmd = nil
}

// restart stops and starts snmpd again, keeping its persistent state (v3 engine boots).
func (a *agent) restart(t *testing.T) {
	t.Helper()
	a.stop()
	a.start(t)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func freeUDPPort(t *testing.T, host string) int {
	t.Helper()
	c, err := net.ListenPacket("udp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// snmpwalk runs net-snmp's snmpwalk (numeric OIDs, values only) and returns the values.
func snmpwalk(t *testing.T, args ...string) []string {
	t.Helper()
	walk := testpeer.Program(t, "snmpwalk")
	cmd := exec.Command(walk, append([]string{"-On", "-Oqv"}, args...)...)
	cmd.Env = append(os.Environ(), "MIBS=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("snmpwalk %v: %v\n%s", args, err, out)
	}
	var vals []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" {
			vals = append(vals, strings.Trim(l, `"`))
		}
	}
	return vals
}

// netns is a network namespace made by a test: a veth pair joins it to the root namespace
// (host side hostIf/hostAddr, namespace side nsIf/nsAddr, a /30 of 198.51.100.0/24), and a
// second veth pair (pairA, pairB) lies wholly inside it. No default route: nothing leaves.
type netns struct {
	name             string
	hostIf, nsIf     string
	hostAddr, nsAddr string
	pairA, pairB     string
}

func newNetns(t *testing.T) *netns {
	t.Helper()
	testpeer.Root(t)
	testpeer.Program(t, "ip")
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	id := hex.EncodeToString(rnd[:3])
	base := 4 * (1 + int(rnd[3])%62) // a /30 in 198.51.100.4 … 198.51.100.251
	n := &netns{
		name:   "wf-snmp-" + id,
		hostIf: "wfs" + id + "h", nsIf: "wfs" + id + "n",
		pairA: "wfs" + id + "a", pairB: "wfs" + id + "b",
		hostAddr: fmt.Sprintf("198.51.100.%d", base+1),
		nsAddr:   fmt.Sprintf("198.51.100.%d", base+2),
	}
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	ip("netns", "add", n.name)
	t.Cleanup(func() {
		_ = exec.Command("ip", "link", "del", n.hostIf).Run()
		if out, err := exec.Command("ip", "netns", "del", n.name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v\n%s", n.name, err, out)
		}
	})
	ip("link", "add", n.hostIf, "type", "veth", "peer", "name", n.nsIf, "netns", n.name)
	ip("addr", "add", n.hostAddr+"/30", "dev", n.hostIf)
	ip("link", "set", n.hostIf, "up")
	ip("-n", n.name, "addr", "add", n.nsAddr+"/30", "dev", n.nsIf)
	ip("-n", n.name, "link", "set", n.nsIf, "up")
	ip("-n", n.name, "link", "set", "lo", "up")
	ip("-n", n.name, "link", "add", n.pairA, "type", "veth", "peer", "name", n.pairB)
	ip("-n", n.name, "link", "set", n.pairA, "up")
	ip("-n", n.name, "link", "set", n.pairB, "up")
	return n
}

func (n *netns) ip(t *testing.T, args ...string) {
	t.Helper()
	args = append([]string{"-n", n.name}, args...)
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// listen opens a TCP listener inside the namespace. The socket is made on a thread that
// joined the namespace; the thread is never handed back to the runtime (it ends with its
// goroutine), so no other goroutine ever runs in the namespace.
func (n *netns) listen(t *testing.T, addr string) net.Listener {
	t.Helper()
	type result struct {
		ln  net.Listener
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // no Unlock: the thread exits with this goroutine
		f, err := os.Open("/run/netns/" + n.name)
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{err: fmt.Errorf("setns: %w", err)}
			return
		}
		ln, err := net.Listen("tcp", addr)
		ch <- result{ln, err}
	}()
	r := <-ch
	if r.err != nil {
		t.Fatalf("listen in %s: %v", n.name, r.err)
	}
	t.Cleanup(func() { r.ln.Close() })
	return r.ln
}
