package lab

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/watchfloor/watchfloor/internal/testpeer"
)

// netsnmp runs a net-snmp command with a private configuration directory and no MIBs, and
// returns its standard output.
func netsnmp(t *testing.T, prog string, args ...string) string {
	t.Helper()
	out, stderr, err := netsnmpRun(t, prog, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s\n%s", prog, strings.Join(args, " "), err, out, stderr)
	}
	if stderr = strings.TrimSpace(stderr); stderr != "" && !strings.HasPrefix(stderr, "Created directory") {
		t.Logf("%s stderr: %s", prog, stderr)
	}
	return out
}

func netsnmpRun(t *testing.T, prog string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	path := testpeer.Program(t, prog)
	dir := t.TempDir()
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), "MIBS=", "MIBDIRS=", "SNMP_PERSISTENT_DIR="+dir, "HOME="+dir, "SNMPCONFPATH="+dir)
	var errb strings.Builder
	cmd.Stderr = &errb
	out, err := cmd.Output()
	return string(out), errb.String(), err
}

// walkOIDs parses the OIDs of `snmpwalk -On` output lines.
func walkOIDs(t *testing.T, out string) [][]uint32 {
	var oids [][]uint32
	for line := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		name, _, ok := strings.Cut(line, " = ")
		if !ok || strings.Contains(line, "No more variables left") {
			continue // the continuation of a multi-line string, or endOfMibView
		}
		oids = append(oids, parseDotted(t, name))
	}
	return oids
}

// TestNetSNMPv3 proves the v3 engine against net-snmp's own client: discovery, then
// authPriv with SHA and AES, for a walk and a get.
func TestNetSNMPv3(t *testing.T) {
	l := startLab(t, Options{})
	tg := target(t, l, "dist-s1")
	v3 := []string{"-v3", "-l", "authPriv", "-u", "noc", "-a", "SHA", "-A", "authpass123", "-x", "AES", "-X", "privpass123", "-On", "-t", "2", "-r", "1"}
	out := netsnmp(t, "snmpwalk", append(v3, tg.Address, ".1.3.6.1.2.1.1")...)
	for _, want := range []string{`.1.3.6.1.2.1.1.5.0 = STRING: "dist-s1"`, "Arista Networks EOS", ".1.3.6.1.2.1.1.3.0 = Timeticks:"} {
		if !strings.Contains(out, want) {
			t.Errorf("snmpwalk v3 output lacks %q:\n%s", want, out)
		}
	}
	if n := len(walkOIDs(t, out)); n != 7 {
		t.Errorf("system group: %d objects, want 7:\n%s", n, out)
	}
	out = netsnmp(t, "snmpget", append(v3, tg.Address, ".1.3.6.1.2.1.31.1.1.1.1.1", ".1.0.8802.1.1.2.1.3.3.0")...)
	if !strings.Contains(out, `"Ethernet1"`) || !strings.Contains(out, `= STRING: "dist-s1"`) {
		t.Errorf("snmpget v3: %s", out)
	}
	st := l.Stats()
	if st.UnknownEngineIDs == 0 {
		t.Error("net-snmp's discovery did not go through usmStatsUnknownEngineIDs")
	}
	if st.WrongDigests+st.DecryptionErrors+st.Malformed+st.Panics != 0 {
		t.Errorf("errors: %+v", st)
	}
}

// TestNetSNMPWalkWholeTree walks every device of the standard site with snmpwalk (v2c and
// v3) and snmpbulkwalk; net-snmp itself fails on an OID that does not increase, and the
// test checks the order and the count again.
func TestNetSNMPWalkWholeTree(t *testing.T) {
	l := startLab(t, Options{})
	for _, tg := range l.Targets() {
		var auth []string
		if tg.Credentials.Version == "3" {
			auth = []string{"-v3", "-l", "authPriv", "-u", "noc", "-a", "SHA", "-A", "authpass123", "-x", "AES", "-X", "privpass123"}
		} else {
			auth = []string{"-v2c", "-c", "public"}
		}
		want := len(l.agent(tg.Name).dev.view.Load().entries)
		progs := []string{"snmpbulkwalk"}
		if tg.Name == "acc-a1" || tg.Name == "fw-1" {
			progs = append(progs, "snmpwalk") // one GETNEXT per OID: two devices are enough
		}
		for _, prog := range progs {
			out := netsnmp(t, prog, append(auth, "-On", "-t", "2", "-r", "1", tg.Address, ".1")...)
			oids := walkOIDs(t, out)
			if len(oids) != want {
				t.Errorf("%s %s: %d OIDs, want %d", prog, tg.Name, len(oids), want)
			}
			for i := 1; i < len(oids); i++ {
				if compareOID(oids[i-1], oids[i]) >= 0 {
					t.Fatalf("%s %s: %s then %s", prog, tg.Name, oidString(oids[i-1]), oidString(oids[i]))
				}
			}
		}
	}
}

// TestNetSNMPv1 checks that a v1 manager never sees Counter64 and ends its walk.
func TestNetSNMPv1(t *testing.T) {
	l := startLab(t, Options{})
	tg := target(t, l, "acc-a4")
	out := netsnmp(t, "snmpwalk", "-v1", "-c", "public", "-On", tg.Address, ".1.3.6.1.2.1.31.1.1.1")
	if strings.Contains(out, "Counter64") {
		t.Error("v1 walk returned Counter64 values")
	}
	if !strings.Contains(out, `.1.3.6.1.2.1.31.1.1.1.1.9 = STRING: "Gi1/0/1"`) {
		t.Errorf("v1 walk: %s", out)
	}
}

// TestNetSNMPv3Reports reads the usmStats reports as net-snmp understands them.
func TestNetSNMPv3Reports(t *testing.T) {
	l := startLab(t, Options{})
	addr := target(t, l, "dist-s3").Address
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-l", "authPriv", "-u", "intruder", "-a", "SHA", "-A", "authpass123", "-x", "AES", "-X", "privpass123"}, "Unknown user name"},
		{[]string{"-l", "authPriv", "-u", "noc", "-a", "SHA", "-A", "wrongpass123", "-x", "AES", "-X", "privpass123"}, "Authentication failure"},
		{[]string{"-l", "authPriv", "-u", "noc", "-a", "SHA", "-A", "authpass123", "-x", "AES", "-X", "wrongpass123"}, "Decryption error"},
		{[]string{"-l", "authNoPriv", "-u", "noc", "-a", "SHA", "-A", "authpass123"}, "Unsupported security level"},
	} {
		args := append([]string{"-v3", "-t", "1", "-r", "0"}, c.args...)
		_, stderr, err := netsnmpRun(t, "snmpget", append(args, addr, ".1.3.6.1.2.1.1.5.0")...)
		if err == nil || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: %v %q, want %q", c.args, err, stderr, c.want)
		}
	}
}
