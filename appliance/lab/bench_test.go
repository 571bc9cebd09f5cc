package lab

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"
)

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds the CPU time per op, which on a shared machine is a steadier figure than
// the wall time ns/op.
func reportCPU(b *testing.B, since time.Duration, per float64, unit string) {
	b.ReportMetric(float64(cpuTime()-since)/float64(b.N)/per, unit)
}

// pollColumns are the 20 IF-MIB columns a poller reads every cycle.
var pollColumns = []string{
	".1.3.6.1.2.1.2.2.1.2", ".1.3.6.1.2.1.2.2.1.3", ".1.3.6.1.2.1.2.2.1.5", ".1.3.6.1.2.1.2.2.1.7",
	".1.3.6.1.2.1.2.2.1.8", ".1.3.6.1.2.1.2.2.1.9", ".1.3.6.1.2.1.2.2.1.13", ".1.3.6.1.2.1.2.2.1.14",
	".1.3.6.1.2.1.2.2.1.19", ".1.3.6.1.2.1.2.2.1.20", ".1.3.6.1.2.1.31.1.1.1.1", ".1.3.6.1.2.1.31.1.1.1.6",
	".1.3.6.1.2.1.31.1.1.1.7", ".1.3.6.1.2.1.31.1.1.1.8", ".1.3.6.1.2.1.31.1.1.1.10", ".1.3.6.1.2.1.31.1.1.1.11",
	".1.3.6.1.2.1.31.1.1.1.12", ".1.3.6.1.2.1.31.1.1.1.15", ".1.3.6.1.2.1.31.1.1.1.18", ".1.3.6.1.2.1.31.1.1.1.19",
}

// farmAgent is one 48-interface farm device, v2c or v3 (authPriv SHA/AES), without a socket.
func farmAgent(b testing.TB, v3 bool) *agent {
	s := farmSite("bench", 1, 48, 1, fuzzNow)
	d := s.devices[0]
	if v3 {
		d.Creds = v3NOC
		d.rebuildView()
	}
	a, err := newAgent(d, testLog(b))
	if err != nil {
		b.Fatal(err)
	}
	return a
}

// recordPoll walks the columns the way gosnmp's BulkWalk does (GETBULK, max-repetitions
// 25, until the column ends) and returns the requests it sent, to be replayed.
func recordPoll(b testing.TB, a *agent, v3 bool) (reqs [][]byte, varbinds int) {
	w := newWorker(a)
	g := &gosnmp.GoSNMP{Version: gosnmp.Version2c, Community: "public"}
	for _, col := range pollColumns {
		oid := col
		for {
			var req []byte
			if v3 {
				req = v3Request(b, a.dev, fuzzNow, gosnmp.GetBulkRequest, 0, 25, oid)
			} else {
				req = v2cRequest(b, gosnmp.GetBulkRequest, 0, 25, oid)
			}
			reqs = append(reqs, req)
			out := a.handle(w, append([]byte(nil), req...), fuzzNow)
			if out == nil {
				b.Fatal("no answer")
			}
			var vars []gosnmp.SnmpPDU
			if v3 {
				vars = decodeV3(b, a, out)
			} else {
				p, err := g.SnmpDecodePacket(out)
				if err != nil {
					b.Fatal(err)
				}
				vars = p.Variables
			}
			done := false
			for _, v := range vars {
				if !strings.HasPrefix(v.Name, col+".") || v.Type == gosnmp.EndOfMibView {
					done = true
					break
				}
				varbinds++
				oid = v.Name
			}
			if done {
				break
			}
		}
	}
	return reqs, varbinds
}

// decodeV3 decodes an authPriv response of a farm agent.
func decodeV3(b testing.TB, a *agent, out []byte) []gosnmp.SnmpPDU {
	usm := &gosnmp.UsmSecurityParameters{
		UserName: "noc", AuthoritativeEngineID: string(a.dev.engineID),
		AuthenticationProtocol: gosnmp.SHA, AuthenticationPassphrase: "authpass123",
		PrivacyProtocol: gosnmp.AES, PrivacyPassphrase: "privpass123",
	}
	if err := usm.InitSecurityKeys(); err != nil {
		b.Fatal(err)
	}
	g := &gosnmp.GoSNMP{Version: gosnmp.Version3, SecurityModel: gosnmp.UserSecurityModel, MsgFlags: gosnmp.AuthPriv, SecurityParameters: usm}
	p, err := g.SnmpDecodePacket(out)
	if err != nil {
		b.Fatal(err)
	}
	return p.Variables
}

// BenchmarkAgentBulk serves one GETBULK for a column of 48 interfaces (ifHCInOctets, max-
// repetitions 48): the unit of work of a poll.
func BenchmarkAgentBulk(b *testing.B) {
	a := farmAgent(b, false)
	w := newWorker(a)
	req := v2cRequest(b, gosnmp.GetBulkRequest, 0, 48, ".1.3.6.1.2.1.31.1.1.1.6")
	out := a.handle(w, req, fuzzNow)
	p, err := (&gosnmp.GoSNMP{Version: gosnmp.Version2c}).SnmpDecodePacket(out)
	if err != nil || len(p.Variables) != 48 || p.Variables[47].Name != ".1.3.6.1.2.1.31.1.1.1.6.48" {
		b.Fatalf("%v %v", p, err)
	}
	b.SetBytes(int64(len(out)))
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		a.handle(w, req, fuzzNow)
	}
	reportCPU(b, cpu0, 1, "cpu-ns/op")
	reportCPU(b, cpu0, 48, "cpu-ns/varbind")
}

// BenchmarkAgentPoll serves a whole interface poll of a 48-port switch: 20 columns × 48
// rows, GETBULK with max-repetitions 25, v2c and v3 authPriv (SHA, AES).
func BenchmarkAgentPoll(b *testing.B) {
	for _, v3 := range []bool{false, true} {
		name := "v2c"
		if v3 {
			name = "v3-authPriv"
		}
		b.Run(name, func(b *testing.B) {
			a := farmAgent(b, v3)
			reqs, varbinds := recordPoll(b, a, v3)
			if varbinds != 20*48 {
				b.Fatalf("%d varbinds, want %d", varbinds, 20*48)
			}
			w := newWorker(a)
			buf := make([]byte, 0, 2048)
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				for _, r := range reqs {
					buf = append(buf[:0], r...) // v3 decrypts in place
					if a.handle(w, buf, fuzzNow) == nil {
						b.Fatal("no answer")
					}
				}
			}
			b.ReportMetric(float64(len(reqs)), "requests/poll")
			reportCPU(b, cpu0, 1, "cpu-ns/poll")
			reportCPU(b, cpu0, float64(varbinds), "cpu-ns/varbind")
		})
	}
}

// BenchmarkAgentUDPPoll is the same poll over a loopback socket with gosnmp as the manager,
// both sides included.
func BenchmarkAgentUDPPoll(b *testing.B) {
	l := startLab(b, Options{Devices: 1, Bind: "127.0.0.1"})
	g := client(b, l.Targets()[0])
	b.ReportAllocs()
	cpu0 := cpuTime()
	defer func() { reportCPU(b, cpu0, 1, "cpu-ns/poll") }()
	for b.Loop() {
		n := 0
		for _, col := range pollColumns {
			pdus, err := g.BulkWalkAll(col)
			if err != nil {
				b.Fatal(err)
			}
			n += len(pdus)
		}
		if n != 20*48 {
			b.Fatalf("%d varbinds", n)
		}
	}
}
