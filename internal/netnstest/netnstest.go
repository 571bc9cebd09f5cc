// Package netnstest builds, for tests that need real traffic, an attacker and a target
// network namespace, each joined by a veth pair to a bridge in the root namespace; a
// collector captures on the target's bridge port. Nothing is routed out: the namespaces
// have no default route and the bridge no address. IPv6 is off everywhere, so neighbour
// discovery and MLD chatter cannot come and go at random times. Everything is removed when
// the test ends, however it ends.
package netnstest

import (
	"crypto/rand"
	"encoding/hex"
	"os/exec"
	"strings"
	"testing"

	"github.com/watchfloor/watchfloor/internal/testpeer"
)

// Pair is the two namespaces and the bridge between them.
type Pair struct {
	ID               string // random, in every name, so tests can run side by side
	Att, Tgt         string // namespace names
	Bridge           string
	AttHost, TgtHost string // root-side veth ends; capture on TgtHost
	AttAddr, TgtAddr string // the namespaces' addresses, in one /24
}

// New builds a Pair; tag is one letter that tells tests' interfaces apart ("p", "a"), and
// the addresses must be documentation addresses of one /24. It skips without root or ip
// (and fails when WATCHFLOOR_REQUIRE_PEERS=1).
func New(t *testing.T, tag, attAddr, tgtAddr string) *Pair {
	t.Helper()
	testpeer.Root(t)
	testpeer.Program(t, "ip")
	var rnd [3]byte
	_, _ = rand.Read(rnd[:])
	id := hex.EncodeToString(rnd[:])
	p := &Pair{ID: id, Att: "wf-" + tag + "-a-" + id, Tgt: "wf-" + tag + "-t-" + id, Bridge: "wf" + tag + "b" + id,
		AttHost: "wf" + tag + "a" + id, TgtHost: "wf" + tag + "t" + id, AttAddr: attAddr, TgtAddr: tgtAddr}
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	t.Cleanup(func() {
		for _, args := range [][]string{{"link", "del", p.AttHost}, {"link", "del", p.TgtHost}, {"link", "del", p.Bridge},
			{"netns", "del", p.Att}, {"netns", "del", p.Tgt}} {
			_ = exec.Command("ip", args...).Run()
		}
	})
	run("netns", "add", p.Att)
	run("netns", "add", p.Tgt)
	noV6 := func(ns, dev string) {
		t.Helper()
		args := []string{"sysctl", "-qw", "net.ipv6.conf." + dev + ".disable_ipv6=1"}
		if ns != "" {
			args = append([]string{"ip", "netns", "exec", ns}, args...)
		}
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("link", "add", p.Bridge, "type", "bridge")
	noV6("", p.Bridge)
	run("link", "set", p.Bridge, "up")
	for _, e := range []struct{ ns, host, addr string }{{p.Att, p.AttHost, p.AttAddr}, {p.Tgt, p.TgtHost, p.TgtAddr}} {
		noV6(e.ns, "all")
		noV6(e.ns, "default")
		run("link", "add", e.host, "type", "veth", "peer", "name", "eth0", "netns", e.ns)
		noV6("", e.host)
		run("link", "set", e.host, "master", p.Bridge)
		run("link", "set", e.host, "up")
		run("-n", e.ns, "addr", "add", e.addr+"/24", "dev", "eth0")
		run("-n", e.ns, "link", "set", "eth0", "up")
		run("-n", e.ns, "link", "set", "lo", "up")
	}
	return p
}

// Exec runs a program in a namespace to its end and returns its output; failing fails t.
func Exec(t *testing.T, ns, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s in %s: %v\n%s", name, strings.Join(args, " "), ns, err, out)
	}
	return string(out)
}
