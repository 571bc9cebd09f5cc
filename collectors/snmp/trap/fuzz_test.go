package trap

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gosnmp/gosnmp"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/collectors/snmp"
)

// fuzzEpoch fixes the clock of the fuzzed decoder, so that its engine's boots and time — and
// with them which informs fall inside the time window — are the same on every run.
var fuzzEpoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// fuzzUser has no authentication, so that mutated v3 messages get past USM into the PDU
// decoding (an authenticated user's MAC stops nearly every mutation at the door).
var fuzzUser = snmp.Credentials{Username: "open", SecurityLevel: "noAuthNoPriv"}

func fuzzDecoder(t testing.TB) *decoder {
	cfg := testConfig
	cfg.Users = append(slices.Clone(testUsers), fuzzUser)
	cfg.EngineID = "0x80000000050102030405060708090a0b0c"
	eng, err := newEngine(cfg, "lab", fuzzEpoch)
	if err != nil {
		t.Fatal(err)
	}
	d, err := newDecoder(cfg, "lab", testLookup, eng)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// fuzzSeeds are messages of every kind, encoded by gosnmp; testdata/fuzz/FuzzDecode holds
// datagrams captured from net-snmp's snmptrap and snmpinform.
func fuzzSeeds(t testing.TB, d *decoder) [][]byte {
	seeds := [][]byte{
		encodeV2c(t, "public", gosnmp.SNMPv2Trap, linkDownVars),
		encodeV2c(t, "public", gosnmp.InformRequest, linkDownVars),
		encodeV1(t, "public", 2, 0, linkDownVars[2:]),
		encodeV1(t, "public", 6, 1, nil),
		encodeV3(t, testUsers[0], senderEngine, linkDownVars),
		encodeV3(t, testUsers[2], senderEngine, linkDownVars),
		encodeV3(t, fuzzUser, senderEngine, linkDownVars),
	}
	// An unauthenticated inform to the decoder's own engine, inside its time window.
	flags, usm := fuzzUser.USM()
	usm.AuthoritativeEngineID = d.engine.id
	usm.AuthoritativeEngineBoots = d.engine.boots
	g := &gosnmp.GoSNMP{Version: gosnmp.Version3, SecurityModel: gosnmp.UserSecurityModel,
		MsgFlags: flags, SecurityParameters: usm, ContextEngineID: d.engine.id}
	inform, err := g.SnmpEncodePacket(gosnmp.InformRequest, linkDownVars, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	// An engine discovery request.
	probe := &gosnmp.SnmpPacket{Version: gosnmp.Version3, MsgFlags: gosnmp.Reportable,
		SecurityModel: gosnmp.UserSecurityModel, SecurityParameters: &gosnmp.UsmSecurityParameters{},
		PDUType: gosnmp.GetRequest, MsgID: 7, RequestID: 8}
	discovery, err := probe.MarshalMsg()
	if err != nil {
		t.Fatal(err)
	}
	return append(seeds, inform, discovery)
}

// FuzzDecode feeds arbitrary datagrams to the decoder: it must not panic, and whatever it
// makes of them must respect the caps on events.
func FuzzDecode(f *testing.F) {
	d := fuzzDecoder(f)
	for _, s := range fuzzSeeds(f, d) {
		f.Add(s)
	}
	from := netip.MustParseAddrPort("127.0.0.1:40000")
	f.Fuzz(func(t *testing.T, msg []byte) {
		out := d.decode(msg, from, fuzzEpoch.Add(30*time.Second))
		checkOutcome(t, out)
	})
}

func checkOutcome(t *testing.T, out outcome) {
	t.Helper()
	if out.event != nil && out.drop != "" {
		t.Fatalf("both an event and a drop (%s)", out.drop)
	}
	if out.drop != "" && !slices.Contains(dropReasons, out.drop) {
		t.Fatalf("drop reason %q", out.drop)
	}
	if out.event == nil {
		if out.drop == "" && out.report == "" {
			t.Fatal("neither event, drop nor report")
		}
		return
	}
	ev := out.event
	if !slices.Contains([]string{"1", "2c", "3"}, out.version) {
		t.Fatalf("version %q", out.version)
	}
	if len(ev.Attrs) > maxAttrs+8 {
		t.Fatalf("%d attrs", len(ev.Attrs))
	}
	for _, a := range ev.Attrs {
		if utf8.RuneCountInString(a.Value) > maxValueLen || utf8.RuneCountInString(a.Key) > maxKeyLen+16 {
			t.Fatalf("attr too long: %q = %q", a.Key, a.Value)
		}
		if !utf8.ValidString(a.Value) || strings.ContainsFunc(a.Value, isControl) {
			t.Fatalf("attr %q value not clean text: %q", a.Key, a.Value)
		}
	}
	for _, s := range []string{ev.Message, ev.Interface} {
		if !utf8.ValidString(s) || strings.ContainsFunc(s, isControl) {
			t.Fatalf("not clean text: %q", s)
		}
	}
	if utf8.RuneCountInString(ev.Message) > 2*maxKeyLen+maxNameLen+64 {
		t.Fatalf("message too long: %q", ev.Message)
	}
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// TestFuzzSeeds runs the seeds through the checks in a plain test run, and checks that each
// one decodes into an event or an answer.
func TestFuzzSeeds(t *testing.T) {
	d := fuzzDecoder(t)
	for i, s := range fuzzSeeds(t, d) {
		out := d.decode(s, netip.MustParseAddrPort("127.0.0.1:40000"), fuzzEpoch.Add(30*time.Second))
		checkOutcome(t, out)
		if out.drop != "" {
			t.Errorf("seed %d dropped: %s %v", i, out.drop, out.err)
		}
	}
}

// TestCaptures decodes the datagrams captured from net-snmp (testdata/fuzz/FuzzDecode/netsnmp-*,
// also the fuzzer's seed corpus) into the events they stand for.
func TestCaptures(t *testing.T) {
	d := fuzzDecoder(t)
	want := map[string]watchfloor.EventKind{
		"netsnmp-v1-enterprise":   watchfloor.EventTrap,
		"netsnmp-v1-linkdown":     watchfloor.EventTrapLinkDown,
		"netsnmp-v2c-inform":      watchfloor.EventTrapLinkDown,
		"netsnmp-v2c-linkdown":    watchfloor.EventTrapLinkDown,
		"netsnmp-v3-authnopriv":   watchfloor.EventTrapLinkDown,
		"netsnmp-v3-authpriv":     watchfloor.EventTrapLinkDown,
		"netsnmp-v3-authpriv-e":   watchfloor.EventTrapLinkDown,
		"netsnmp-v3-noauth":       watchfloor.EventTrapLinkDown,
		"netsnmp-v3-inform-probe": "", // engine discovery: answered with a Report, no event
	}
	for name, kind := range want {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzDecode", name))
			if err != nil {
				t.Fatal(err)
			}
			lit, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "go test fuzz v1\n[]byte(")
			if !ok {
				t.Fatal("not a fuzz corpus file")
			}
			msg, err := strconv.Unquote(strings.TrimSuffix(lit, ")"))
			if err != nil {
				t.Fatal(err)
			}
			out := d.decode([]byte(msg), netip.MustParseAddrPort("127.0.0.1:40000"), fuzzEpoch)
			checkOutcome(t, out)
			switch {
			case kind == "":
				if out.report != reportUnknownEngine || out.reply == nil {
					t.Errorf("no discovery report: %+v", out)
				}
			case out.event == nil:
				t.Errorf("dropped: %s %v", out.drop, out.err)
			case out.event.Kind != kind:
				t.Errorf("kind %s, want %s", out.event.Kind, kind)
			case kind == watchfloor.EventTrapLinkDown && out.event.IfIndex != 2:
				t.Errorf("ifIndex %d", out.event.IfIndex)
			}
		})
	}
}
