package lab

import (
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/watchfloor/watchfloor/collectors/snmp"
)

// startLab starts a lab for the test and closes it at the end.
func startLab(t testing.TB, opts Options) *Lab {
	t.Helper()
	l, err := Start(t.Context(), opts, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func testLog(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func target(t testing.TB, l *Lab, name string) snmp.Target {
	t.Helper()
	for _, tg := range l.Targets() {
		if tg.Name == name {
			return tg
		}
	}
	t.Fatalf("no device %s", name)
	return snmp.Target{}
}

func (l *Lab) agent(name string) *agent {
	for _, a := range l.agents {
		if a.dev.Name == name {
			return a
		}
	}
	return nil
}

// client connects a gosnmp session to a target.
func client(t testing.TB, tg snmp.Target) *gosnmp.GoSNMP {
	t.Helper()
	host, port, err := net.SplitHostPort(tg.Address)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	g := &gosnmp.GoSNMP{Target: host, Port: uint16(p), Timeout: 2 * time.Second, Retries: 1, MaxRepetitions: 25}
	tg.Credentials.Apply(g)
	if err := g.Connect(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Conn.Close() })
	return g
}

// parseDotted parses ".1.3.6" or "1.3.6".
func parseDotted(t testing.TB, s string) []uint32 {
	t.Helper()
	return mustOID(s)
}

// query sends one request to an agent in process (no socket) and decodes the answer.
// It returns nil when the agent stays silent.
func query(t testing.TB, a *agent, now time.Time, pdu gosnmp.PDUType, nonRep uint8, maxRep uint32, oids ...string) *gosnmp.SnmpPacket {
	t.Helper()
	g := &gosnmp.GoSNMP{Version: gosnmp.Version2c, Community: "public"}
	vars := make([]gosnmp.SnmpPDU, len(oids))
	for i, o := range oids {
		vars[i] = gosnmp.SnmpPDU{Name: o, Type: gosnmp.Null}
	}
	req, err := g.SnmpEncodePacket(pdu, vars, nonRep, maxRep)
	if err != nil {
		t.Fatal(err)
	}
	out := a.handle(newWorker(a), req, now)
	if out == nil {
		return nil
	}
	resp, err := g.SnmpDecodePacket(out)
	if err != nil {
		t.Fatalf("cannot decode the agent's answer: %v", err)
	}
	return resp
}

// v2cAgent returns an agent answering v2c "public" for a device, without a socket.
func v2cAgent(t testing.TB, d *device) *agent {
	t.Helper()
	c := d.Creds
	d.Creds = v2cPublic
	defer func() { d.Creds = c }()
	a, err := newAgent(d, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func uintValue(t testing.TB, p gosnmp.SnmpPDU) uint64 {
	t.Helper()
	return gosnmp.ToBigInt(p.Value).Uint64()
}

func mustAddr(t testing.TB, hostport string) netip.Addr {
	t.Helper()
	ap, err := netip.ParseAddrPort(hostport)
	if err != nil {
		t.Fatal(err)
	}
	return ap.Addr()
}
