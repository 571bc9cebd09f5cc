package lab

import (
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"
)

// fuzzNow is the time the fuzz and benchmark agents live at.
var fuzzNow = time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)

// v3Request encodes an authPriv request for the noc user of d as gosnmp would send it at now.
func v3Request(t testing.TB, d *device, now time.Time, pdu gosnmp.PDUType, nonRep uint8, maxRep uint32, oids ...string) []byte {
	t.Helper()
	boots, etime := d.engineTimes(now)
	usm := &gosnmp.UsmSecurityParameters{
		UserName: "noc", AuthoritativeEngineID: string(d.engineID),
		AuthoritativeEngineBoots: boots, AuthoritativeEngineTime: etime,
		AuthenticationProtocol: gosnmp.SHA, AuthenticationPassphrase: "authpass123",
		PrivacyProtocol: gosnmp.AES, PrivacyPassphrase: "privpass123",
	}
	if err := usm.InitSecurityKeys(); err != nil {
		t.Fatal(err)
	}
	g := &gosnmp.GoSNMP{
		Version: gosnmp.Version3, SecurityModel: gosnmp.UserSecurityModel,
		MsgFlags: gosnmp.AuthPriv | gosnmp.Reportable, SecurityParameters: usm,
		ContextEngineID: string(d.engineID),
	}
	vars := make([]gosnmp.SnmpPDU, len(oids))
	for i, o := range oids {
		vars[i] = gosnmp.SnmpPDU{Name: o, Type: gosnmp.Null}
	}
	b, err := g.SnmpEncodePacket(pdu, vars, nonRep, maxRep)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func v2cRequest(t testing.TB, pdu gosnmp.PDUType, nonRep uint8, maxRep uint32, oids ...string) []byte {
	t.Helper()
	g := &gosnmp.GoSNMP{Version: gosnmp.Version2c, Community: "public"}
	vars := make([]gosnmp.SnmpPDU, len(oids))
	for i, o := range oids {
		vars[i] = gosnmp.SnmpPDU{Name: o, Type: gosnmp.Null}
	}
	b, err := g.SnmpEncodePacket(pdu, vars, nonRep, maxRep)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzAgentHandle feeds arbitrary datagrams to a v2c and a v3 agent. The handler must not
// panic (the fuzzer calls it without the recovery the socket loop has), and whatever it
// answers must be one well-formed BER message no larger than the response limit.
func FuzzAgentHandle(f *testing.F) {
	s := standardSite(DefaultSite, 1, fuzzNow)
	v2, err := newAgent(s.byName["acc-a1"], testLog(f))
	if err != nil {
		f.Fatal(err)
	}
	v3, err := newAgent(s.byName["dist-s1"], testLog(f))
	if err != nil {
		f.Fatal(err)
	}
	d3 := s.byName["dist-s1"]
	f.Add(v2cRequest(f, gosnmp.GetRequest, 0, 0, ".1.3.6.1.2.1.1.5.0", ".1.3.6.1.2.1.99.0"))
	f.Add(v2cRequest(f, gosnmp.GetNextRequest, 0, 0, ".1.3.6.1.2.1.2.2.1.2", ".1.9"))
	f.Add(v2cRequest(f, gosnmp.GetBulkRequest, 1, 25, ".1.3.6.1.2.1.1.3", ".1.3.6.1.2.1.31.1.1.1.6", ".1.0.8802.1.1.2.1.4.1.1.9"))
	f.Add(v2cRequest(f, gosnmp.SetRequest, 0, 0, ".1.3.6.1.2.1.1.5.0"))
	f.Add(v3Request(f, d3, fuzzNow, gosnmp.GetBulkRequest, 0, 10, ".1.3.6.1.2.1.2.2.1.10"))
	f.Add(v3Request(f, d3, fuzzNow, gosnmp.GetRequest, 0, 0, ".1.3.6.1.2.1.1.5.0"))
	// An engine discovery request, as net-snmp sends it.
	f.Add([]byte("\x30\x3e\x02\x01\x03\x30\x11\x02\x04\x78\x4d\x65\x70\x02\x03\x00\xff\xff\x04\x01\x04\x02\x01\x03\x04\x10\x30\x0e\x04\x00\x02\x01\x00\x02\x01\x00\x04\x00\x04\x00\x04\x00\x30\x14\x04\x00\x04\x00\xa0\x0e\x02\x04\x78\x4d\x65\x70\x02\x01\x00\x02\x01\x00\x30\x00"))
	f.Add([]byte{0x30, 0x84, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{})

	w2, w3 := newWorker(v2), newWorker(v3)
	f.Fuzz(func(t *testing.T, pkt []byte) {
		for _, c := range []struct {
			a *agent
			w *worker
		}{{v2, w2}, {v3, w3}} {
			in := append([]byte(nil), pkt...) // the agent decrypts and zeroes digests in place
			out := c.a.dispatch(c.w, in, fuzzNow)
			if out == nil {
				continue
			}
			if len(out) > defaultMaxResponse {
				t.Fatalf("%d-byte response", len(out))
			}
			r := berReader{b: out}
			if _, err := r.sub(tagSequence); err != nil || !r.empty() {
				t.Fatalf("malformed response %x", out)
			}
		}
	})
}
