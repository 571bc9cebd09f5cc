package trap

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/internal/testpeer"
)

// netsnmp runs a net-snmp command line tool with no MIBs, no host configuration and a private
// HOME and persistent directory (net-snmp writes engine state there), and returns when it has
// exited.
func netsnmp(t *testing.T, program string, args ...string) (out string, err error) {
	t.Helper()
	path := testpeer.Program(t, program)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), "MIBS=", "MIBDIRS=", "HOME="+dir, "SNMP_PERSISTENT_DIR="+dir, "SNMPCONFPATH="+dir)
	b, err := cmd.CombinedOutput()
	return string(b), err
}

// peerCase is one net-snmp command and the event it must produce.
type peerCase struct {
	name    string
	program string
	args    func(target string) []string
	kind    watchfloor.EventKind
	sev     watchfloor.Severity
	version string
	ifIndex int32
	message string
	attrs   map[string]string
}

var v3noc = []string{"-v", "3", "-u", "noc", "-l", "authPriv", "-a", "SHA", "-A", "authpass123", "-x", "AES", "-X", "privpass123"}

func (c peerCase) run(t *testing.T, h *harness) {
	t.Helper()
	target := fmt.Sprintf("127.0.0.1:%d", h.port())
	before := h.counter(t, "watchfloor_trap_received_total", "version", c.version)
	sent := time.Now()
	if out, err := netsnmp(t, c.program, c.args(target)...); err != nil {
		t.Fatalf("%s: %v\n%s", c.program, err, out)
	}
	exited := time.Now()
	ev := h.event(t, time.Second) // within a second of the sender having sent it
	if lag := ev.Time.Sub(sent); lag < 0 || lag > time.Second {
		t.Errorf("received %v after the sender started", lag)
	}
	t.Logf("%s ran %v; event %v after start", c.program, exited.Sub(sent).Round(time.Millisecond), time.Since(sent).Round(time.Millisecond))
	if ev.Kind != c.kind || ev.Severity != c.sev || ev.IfIndex != c.ifIndex || ev.Message != c.message {
		t.Errorf("got %s/%s ifIndex %d %q\nwant %s/%s ifIndex %d %q", ev.Kind, ev.Severity, ev.IfIndex, ev.Message,
			c.kind, c.sev, c.ifIndex, c.message)
	}
	if ev.Device != "core-r1" || ev.Source != "snmp.trap" || ev.Site != "lab" {
		t.Errorf("device %q source %q site %q", ev.Device, ev.Source, ev.Site)
	}
	for k, want := range c.attrs {
		if got, _ := attr(ev, k); got != want {
			t.Errorf("attr %s = %q, want %q (attrs %v)", k, got, want, ev.Attrs)
		}
	}
	h.waitCounter(t, "watchfloor_trap_received_total", "version", c.version, before+1)
}

// TestNetSNMPPeers sends traps and informs with net-snmp's snmptrap and snmpinform — v1, v2c,
// v3 with the sender's own engine ID and with one given by -e, v2c and v3 informs — and checks
// each becomes the right event within a second. snmpinform exits 0 only when it got our
// Response; for v3 that takes engine discovery and time synchronisation against the receiver.
func TestNetSNMPPeers(t *testing.T) {
	h := start(t, testConfig)
	linkDown := func(target string, pre ...string) []string {
		return append(pre, target, "", ".1.3.6.1.6.3.1.1.5.3",
			".1.3.6.1.2.1.2.2.1.1.2", "i", "2", ".1.3.6.1.2.1.31.1.1.1.1.2", "s", "Gi0/2")
	}
	linkUp := func(target string, pre ...string) []string {
		return append(pre, target, "", ".1.3.6.1.6.3.1.1.5.4", ".1.3.6.1.2.1.2.2.1.1.5", "i", "5")
	}
	down2 := "linkDown from core-r1: ifIndex 2 (Gi0/2)"
	cases := []peerCase{
		{"v2c trap", "snmptrap", func(tg string) []string { return linkDown(tg, "-v", "2c", "-c", "public") },
			watchfloor.EventTrapLinkDown, watchfloor.SeverityMedium, "2c", 2, down2,
			map[string]string{"ifIndex.2": "2", "ifName.2": "Gi0/2", "snmpTrapOID.0": ".1.3.6.1.6.3.1.1.5.3", "version": "2c"}},
		{"v2c inform", "snmpinform", func(tg string) []string { return linkUp(tg, "-v", "2c", "-c", "public", "-r", "0", "-t", "2") },
			watchfloor.EventTrapLinkUp, watchfloor.SeverityInfo, "2c", 5, "linkUp from core-r1: ifIndex 5", nil},
		{"v1 trap", "snmptrap", func(tg string) []string {
			return []string{"-v", "1", "-c", "public", tg, ".1.3.6.1.4.1.8072", "127.0.0.1", "2", "0", ""}
		}, watchfloor.EventTrapLinkDown, watchfloor.SeverityMedium, "1", 0, "linkDown from core-r1",
			map[string]string{"snmpTrapOID.0": ".1.3.6.1.6.3.1.1.5.3", "snmpTrapEnterprise.0": ".1.3.6.1.4.1.8072",
				"snmpTrapAddress.0": "127.0.0.1", "version": "1"}},
		{"v1 enterprise specific", "snmptrap", func(tg string) []string {
			return []string{"-v", "1", "-c", "public", tg, ".1.3.6.1.4.1.8072.2.3", "127.0.0.1", "6", "17", "",
				".1.3.6.1.4.1.8072.2.3.2.1", "s", "hello"}
		}, watchfloor.EventTrap, watchfloor.SeverityInfo, "1", 0, "trap .1.3.6.1.4.1.8072.2.3.0.17 from core-r1",
			map[string]string{"snmpTrapOID.0": ".1.3.6.1.4.1.8072.2.3.0.17", ".1.3.6.1.4.1.8072.2.3.2.1": "hello"}},
		{"v3 trap, sender's own engine ID", "snmptrap", func(tg string) []string { return linkDown(tg, v3noc...) },
			watchfloor.EventTrapLinkDown, watchfloor.SeverityMedium, "3", 2, down2, map[string]string{"user": "noc"}},
		{"v3 trap, engine ID given with -e", "snmptrap", func(tg string) []string {
			return linkDown(tg, append(v3noc, "-e", "0x8000000001020304050607")...)
		}, watchfloor.EventTrapLinkDown, watchfloor.SeverityMedium, "3", 2, down2, nil},
		{"v3 trap SHA-256", "snmptrap", func(tg string) []string {
			return linkUp(tg, "-v", "3", "-u", "noc256", "-l", "authPriv", "-a", "SHA-256", "-A", "authpass256",
				"-x", "AES", "-X", "privpass256")
		}, watchfloor.EventTrapLinkUp, watchfloor.SeverityInfo, "3", 5, "linkUp from core-r1: ifIndex 5", nil},
		{"v3 trap authNoPriv", "snmptrap", func(tg string) []string {
			return []string{"-v", "3", "-u", "mon", "-l", "authNoPriv", "-a", "SHA", "-A", "monpass123", tg, "",
				".1.3.6.1.6.3.1.1.5.1"}
		}, watchfloor.EventTrapColdStart, watchfloor.SeverityMedium, "3", 0, "coldStart from core-r1", nil},
		{"v3 inform", "snmpinform", func(tg string) []string { return linkDown(tg, append(v3noc, "-r", "0", "-t", "2")...) },
			watchfloor.EventTrapLinkDown, watchfloor.SeverityMedium, "3", 2, down2, map[string]string{"user": "noc"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, h) })
	}
	if t.Failed() {
		return
	}
	// Two v2c informs and one v3 inform answered; the v3 one took engine discovery and time
	// synchronisation reports.
	h.waitCounter(t, "watchfloor_trap_informs_answered_total", "", "", 2)
	discovery := h.counter(t, "watchfloor_trap_v3_reports_total", "kind", reportUnknownEngine)
	timeSync := h.counter(t, "watchfloor_trap_v3_reports_total", "kind", reportNotInTimeWindow)
	t.Logf("v3 reports sent: %v unknown engine ID, %v not in time window", discovery, timeSync)
	if discovery < 1 {
		t.Errorf("no engine discovery report sent (%v)", discovery)
	}
}

// TestNetSNMPRejected checks that a wrong community, an unknown v3 user and a wrong v3
// passphrase from net-snmp become no event, only a dropped count.
func TestNetSNMPRejected(t *testing.T) {
	h := start(t, testConfig)
	cases := []struct {
		name, reason string
		args         []string
	}{
		{"wrong community", dropCommunity, []string{"-v", "2c", "-c", "wrong-secret-community"}},
		{"unknown user", dropUnknownUser, []string{"-v", "3", "-u", "intruder", "-l", "authPriv", "-a", "SHA",
			"-A", "authpass123", "-x", "AES", "-X", "privpass123"}},
		{"wrong auth passphrase", dropAuth, []string{"-v", "3", "-u", "noc", "-l", "authPriv", "-a", "SHA",
			"-A", "wrongpass123", "-x", "AES", "-X", "privpass123"}},
		{"noAuthNoPriv for an authPriv user", dropAuth, []string{"-v", "3", "-u", "noc", "-l", "noAuthNoPriv"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := h.counter(t, "watchfloor_trap_dropped_total", "reason", c.reason)
			args := append(c.args, fmt.Sprintf("127.0.0.1:%d", h.port()), "", ".1.3.6.1.6.3.1.1.5.3",
				".1.3.6.1.2.1.2.2.1.1.2", "i", "2")
			if out, err := netsnmp(t, "snmptrap", args...); err != nil {
				t.Fatalf("snmptrap: %v\n%s", err, out)
			}
			h.waitCounter(t, "watchfloor_trap_dropped_total", "reason", c.reason, before+1)
			h.noEvent(t, 50*time.Millisecond)
		})
	}
	if logs := h.logs.String(); strings.Contains(logs, "wrong-secret-community") {
		t.Errorf("the community reached the log:\n%s", logs)
	}
}

// TestNetSNMPInformTimeSync has snmpinform start with our engine ID (-e) but a wrong idea of
// our boots and time (-Z): the receiver must refuse the inform with an authenticated
// usmStatsNotInTimeWindows Report carrying its clock, after which net-snmp resends and gets
// the Response (RFC 3414 section 3.2.7 and 4).
func TestNetSNMPInformTimeSync(t *testing.T) {
	h := start(t, testConfig)
	engineID := fmt.Sprintf("0x%x", h.r.dec.engine.id)
	target := fmt.Sprintf("127.0.0.1:%d", h.port())
	args := append(append([]string{}, v3noc...), "-e", engineID, "-Z", "1,1", "-r", "1", "-t", "2",
		target, "", ".1.3.6.1.6.3.1.1.5.4", ".1.3.6.1.2.1.2.2.1.1.9", "i", "9")
	sent := time.Now()
	if out, err := netsnmp(t, "snmpinform", args...); err != nil {
		t.Fatalf("snmpinform: %v\n%s", err, out)
	}
	ev := h.event(t, time.Second)
	if ev.Kind != watchfloor.EventTrapLinkUp || ev.IfIndex != 9 || ev.Time.Sub(sent) > time.Second {
		t.Errorf("event %s ifIndex %d after %v", ev.Kind, ev.IfIndex, ev.Time.Sub(sent))
	}
	h.waitCounter(t, "watchfloor_trap_v3_reports_total", "kind", reportNotInTimeWindow, 1)
	h.waitCounter(t, "watchfloor_trap_informs_answered_total", "", "", 1)
	if got := h.counter(t, "watchfloor_trap_dropped_total", "reason", dropAuth); got != 1 {
		t.Errorf("dropped{reason=auth} = %v, want 1 (the inform outside the time window)", got)
	}
}
