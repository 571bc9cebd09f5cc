package packet

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"golang.org/x/net/bpf"

	"github.com/watchfloor/watchfloor/internal/testpeer"
)

var filterCases = []string{
	"tcp", "udp", "icmp", "icmp6", "ip", "ip6", "arp", "sctp",
	"host 10.0.0.1", "src host 10.0.0.1", "dst host 10.0.0.2", "ip host 10.0.0.2", "arp host 10.0.0.2",
	"host 2001:db8::1", "ip6 dst host 2001:db8::2", "net 10.0.0.0/24", "net 192.168.0.0/16", "src net 2001:db8::/32",
	"dst net 10.0.0.0/8", "net 10.0.0.1",
	"port 80", "tcp port 80", "udp port 53", "src port 53", "dst port 80 or dst port 443", "portrange 50-100",
	"tcp portrange 400-500", "sctp port 80", "udp dst port 53",
	"not tcp", "tcp and not port 80", "host 10.0.0.1 or 10.0.0.3", "port 53 or 443",
	"vlan", "vlan 5", "vlan 5 and host 10.0.0.1", "vlan 7 and udp port 53", "icmp6 or vlan 5 and host 10.0.0.1",
	"ip proto 17", "proto 1", "ip6 proto 58", "ether host 02:00:00:00:00:01", "ether src 02:00:00:00:00:01",
	"ether dst 02:00:00:00:00:01", "less 60", "greater 100", "(tcp or udp) and src host 10.0.0.2",
	"src or dst port 53", "src and dst net 10.0.0.0/8", "ip6 and tcp", "!tcp && !udp", "not (arp or icmp)",
	"tcp or udp and not host 10.0.0.1", "src 10.0.0.1", "tcp src port 22 or dst port 53",
}

// TestFilterAgainstTcpdump runs each filter compiled by tcpdump (libpcap, `tcpdump -ddd`
// for an Ethernet capture file) and by compileFilter over the same frames and requires the
// same verdicts.
func TestFilterAgainstTcpdump(t *testing.T) {
	tcpdump := testpeer.Program(t, "tcpdump")
	empty := filepath.Join(t.TempDir(), "eth.pcap")
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(empty, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	frames := sampleFrames(t)
	link, _ := filterLink(layers.LinkTypeEthernet, false)
	for _, expr := range filterCases {
		t.Run(expr, func(t *testing.T) {
			out, err := exec.Command(tcpdump, "-ddd", "-r", empty, expr).Output()
			if err != nil {
				t.Fatalf("tcpdump -ddd %q: %v", expr, err)
			}
			theirs := vmFromDDD(t, string(out))
			prog, err := compileFilter(expr, link, 65535)
			if err != nil {
				t.Fatal(err)
			}
			ours, err := bpf.NewVM(prog)
			if err != nil {
				t.Fatalf("%v\n%s", err, disasm(prog))
			}
			matched := 0
			for _, f := range frames {
				want, _ := theirs.Run(f.data)
				got, _ := ours.Run(f.data)
				if (want != 0) != (got != 0) {
					t.Errorf("%s: tcpdump %v, ours %v\nours:\n%s", f.name, want != 0, got != 0, disasm(prog))
				}
				if got != 0 {
					matched++
				}
			}
			t.Logf("%d of %d frames match, %d instructions", matched, len(frames), len(prog))
		})
	}
}

func vmFromDDD(t *testing.T, s string) *bpf.VM {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(s), "\n")
	var raw []bpf.RawInstruction
	for _, l := range lines[1:] {
		var op, jt, jf, k uint64
		if _, err := fmt.Sscan(l, &op, &jt, &jf, &k); err != nil {
			t.Fatalf("tcpdump -ddd line %q: %v", l, err)
		}
		raw = append(raw, bpf.RawInstruction{Op: uint16(op), Jt: uint8(jt), Jf: uint8(jf), K: uint32(k)})
	}
	if n, _ := strconv.Atoi(lines[0]); n != len(raw) {
		t.Fatalf("tcpdump -ddd: %d instructions announced, %d read", n, len(raw))
	}
	ins, ok := bpf.Disassemble(raw)
	if !ok {
		t.Fatal("tcpdump program does not disassemble")
	}
	vm, err := bpf.NewVM(ins)
	if err != nil {
		t.Fatal(err)
	}
	return vm
}

func disasm(prog []bpf.Instruction) string {
	var b strings.Builder
	for i, in := range prog {
		fmt.Fprintf(&b, "(%03d) %v\n", i, in)
	}
	return b.String()
}

// TestFilterVerdicts checks compiled filters on frames without tcpdump.
func TestFilterVerdicts(t *testing.T) {
	frames := sampleFrames(t)
	byName := map[string][]byte{}
	for _, f := range frames {
		byName[f.name] = f.data
	}
	link, _ := filterLink(layers.LinkTypeEthernet, false)
	for _, tc := range []struct {
		expr  string
		match []string // the frames that must match; all others must not
	}{
		{"tcp port 80", []string{"v4 tcp syn 10.0.0.1:1234>10.0.0.2:80", "v4 tcp synack 10.0.0.2:80>10.0.0.1:1234"}},
		{"udp dst port 53", []string{"v4 options udp 10.0.0.3:99>10.0.0.1:53"}},
		{"host 10.0.0.2", []string{"v4 tcp syn 10.0.0.1:1234>10.0.0.2:80", "v4 tcp synack 10.0.0.2:80>10.0.0.1:1234",
			"v4 udp 10.0.0.2:53>10.0.0.1:5353", "v4 fragment tcp", "arp 10.0.0.1 who-has 10.0.0.2"}},
		{"vlan 7 and udp port 53", []string{"vlan7 v4 udp 10.0.0.9>10.0.0.1:53"}},
		{"icmp or icmp6", []string{"v4 icmp 10.0.0.1>192.168.1.1", "v6 icmp6 fe80::1>ff02::1"}},
		{"src net 2001:db8::/32", []string{"v6 tcp 2001:db8::1:5000>2001:db8::2:443"}},
		{"ether src 02:00:00:00:00:02", []string{"reverse ether v4 tcp", "runt"}},
	} {
		prog, err := compileFilter(tc.expr, link, 96)
		if err != nil {
			t.Fatalf("%s: %v", tc.expr, err)
		}
		vm, err := bpf.NewVM(prog)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]bool{}
		for _, n := range tc.match {
			if byName[n] == nil {
				t.Fatalf("no frame %q", n)
			}
			want[n] = true
		}
		for _, f := range frames {
			n, _ := vm.Run(f.data)
			if (n != 0) != want[f.name] {
				t.Errorf("%s on %s: %d, want match %v", tc.expr, f.name, n, want[f.name])
			}
			if n != 0 && n != 96 {
				t.Errorf("%s: accepted with snap %d, want 96", tc.expr, n)
			}
		}
	}
}

// TestFilterLive: live programs test the VLAN tag in the packet's metadata, not the frame.
func TestFilterLive(t *testing.T) {
	link, _ := filterLink(layers.LinkTypeEthernet, true)
	prog, err := compileFilter("vlan 5 and tcp", link, 512)
	if err != nil {
		t.Fatal(err)
	}
	if len(prog) < 6 || prog[0] != (bpf.LoadExtension{Num: bpf.ExtVLANTagPresent}) ||
		prog[2] != (bpf.LoadExtension{Num: bpf.ExtVLANTag}) ||
		prog[5] != (bpf.LoadAbsolute{Off: 12, Size: 2}) { // no shift: the tag is not in the frame
		t.Errorf("live vlan program:\n%s", disasm(prog))
	}
	if _, err := bpf.Assemble(prog); err != nil {
		t.Error(err)
	}
	empty, err := compileFilter("", link, 512)
	if err != nil || empty[0] != (bpf.RetConstant{Val: 512}) {
		t.Errorf("empty filter: %v %v", empty, err)
	}
}

func TestFilterErrors(t *testing.T) {
	link, _ := filterLink(layers.LinkTypeEthernet, false)
	raw, _ := filterLink(layers.LinkTypeRaw, false)
	for _, tc := range []struct {
		expr string
		link linkLayer
		want string
	}{
		{"host", link, "expected a value after host"},
		{"host example.com", link, "names are not looked up"},
		{"port http", link, "service names are not looked up"},
		{"port 70000", link, "not a port number"},
		{"net 10.0.0.1/8", link, "host bits set"},
		{"tcp and", link, "expected a primitive"},
		{"(tcp", link, "expected )"},
		{"tcp)", link, "expected and, or or the end"},
		{"foo", link, "expected a primitive"},
		{"icmp port 3", link, "expected and, or"},
		{"arp port 3", link, "takes tcp, udp or sctp"},
		{"ip port 53", link, "takes tcp, udp or sctp"},
		{"ip6 host 10.0.0.1", link, "takes ip, arp or rarp"},
		{"vlan 5000", link, "number up to 4095"},
		{"vlan", raw, "not raw IP"},
		{"ether host 02:00:00:00:00:01", raw, "Ethernet capture"},
		{strings.Repeat("(", 100) + "tcp" + strings.Repeat(")", 100), link, "nested deeper"},
		{strings.Repeat("host 2001:db8::1 or ", 200) + "tcp", link, "too long"},
		{"tcp[13] & 2 != 0", link, ""},
	} {
		_, err := compileFilter(tc.expr, tc.link, 512)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%.60q: error %v, want one containing %q", tc.expr, err, tc.want)
		}
	}
}

// FuzzFilter: any text compiles to a valid program or fails with an error, never a panic.
func FuzzFilter(f *testing.F) {
	for _, c := range filterCases {
		f.Add(c)
	}
	frames := sampleFrames(f)
	f.Fuzz(func(t *testing.T, expr string) {
		for _, live := range []bool{false, true} {
			link, _ := filterLink(layers.LinkTypeEthernet, live)
			prog, err := compileFilter(expr, link, 512)
			if err != nil {
				continue
			}
			if _, err := bpf.Assemble(prog); err != nil {
				t.Fatalf("%q: %v", expr, err)
			}
			if live {
				continue // the VM has no VLAN extensions
			}
			vm, err := bpf.NewVM(prog)
			if err != nil {
				t.Fatalf("%q: %v\n%s", expr, err, disasm(prog))
			}
			for _, fr := range frames {
				_, _ = vm.Run(fr.data)
			}
		}
	})
}
