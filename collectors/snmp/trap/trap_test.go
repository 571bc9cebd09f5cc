package trap

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/collectors/snmp"
)

// chanSink is the test sink: it never blocks, as the Sink contract demands.
type chanSink chan watchfloor.Event

func (s chanSink) PutEvents(evs []watchfloor.Event) {
	for _, e := range evs {
		select {
		case s <- e:
		default:
		}
	}
}

// syncBuffer collects log output from the receiver's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Test users and communities, shared by the unit tests, the peer tests and the fuzzer.
var (
	testUsers = []snmp.Credentials{
		{Username: "noc", SecurityLevel: "authPriv", AuthProtocol: "SHA", AuthPassphrase: "authpass123",
			PrivProtocol: "AES", PrivPassphrase: "privpass123"},
		{Username: "noc256", SecurityLevel: "authPriv", AuthProtocol: "SHA-256", AuthPassphrase: "authpass256",
			PrivProtocol: "AES", PrivPassphrase: "privpass256"},
		{Username: "mon", SecurityLevel: "authNoPriv", AuthProtocol: "SHA", AuthPassphrase: "monpass123"},
		// pinned only accepts traps from one sender engine.
		{Username: "pinned", SecurityLevel: "authNoPriv", AuthProtocol: "SHA-512", AuthPassphrase: "pinnedpass",
			EngineID: "80001f888011223344556677 88"},
	}
	testConfig = Config{
		Listen:      "127.0.0.1:0",
		Communities: []watchfloor.Secret{"public", "other-community"},
		Users:       testUsers,
	}
	// senderEngine is the engine ID test senders put in their v3 traps.
	senderEngine = "\x80\x00\x1f\x88\x80\x11\x22\x33\x44\x55\x66\x77\x88"
)

func testLookup(a netip.Addr) string {
	if a == netip.MustParseAddr("127.0.0.1") {
		return "core-r1"
	}
	return ""
}

type harness struct {
	r    *Receiver
	sink chanSink
	reg  *prometheus.Registry
	logs *syncBuffer
}

// start runs a receiver on 127.0.0.1:0 until the test ends.
func start(t *testing.T, cfg Config) *harness {
	t.Helper()
	return startLookup(t, cfg, testLookup)
}

func startLookup(t *testing.T, cfg Config, lookup func(netip.Addr) string) *harness {
	t.Helper()
	h := &harness{sink: make(chanSink, 100), reg: prometheus.NewRegistry(), logs: &syncBuffer{}}
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r, err := New(cfg, "lab", lookup, log, h.reg)
	if err != nil {
		t.Fatal(err)
	}
	h.r = r
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, h.sink) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancel")
		}
		if t.Failed() {
			t.Logf("receiver log:\n%s", h.logs.String())
		}
	})
	return h
}

func (h *harness) port() int { return h.r.Addr().(*net.UDPAddr).Port }

// event waits up to d for the next event.
func (h *harness) event(t *testing.T, d time.Duration) watchfloor.Event {
	t.Helper()
	select {
	case ev := <-h.sink:
		return ev
	case <-time.After(d):
		t.Fatalf("no event within %v", d)
	}
	return watchfloor.Event{}
}

// noEvent checks that nothing arrives for a while.
func (h *harness) noEvent(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case ev := <-h.sink:
		t.Fatalf("unexpected event %+v", ev)
	case <-time.After(d):
	}
}

// counter returns the value of a counter of the receiver's registry.
func (h *harness) counter(t *testing.T, name, label, value string) float64 {
	t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := label == ""
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					match = true
				}
			}
			if match {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no metric %s{%s=%q}", name, label, value)
	return 0
}

// waitCounter waits up to a second for a counter to reach want.
func (h *harness) waitCounter(t *testing.T, name, label, value string, want float64) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		got := h.counter(t, name, label, value)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s{%s=%q} = %v, want %v", name, label, value, got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func attr(ev watchfloor.Event, key string) (string, bool) {
	for _, a := range ev.Attrs {
		if a.Key == key {
			return a.Value, true
		}
	}
	return "", false
}

// --- messages encoded with gosnmp -----------------------------------------------------------

var linkDownVars = []gosnmp.SnmpPDU{
	{Name: oidSysUpTime, Type: gosnmp.TimeTicks, Value: uint32(123456)},
	{Name: oidTrapOID, Type: gosnmp.ObjectIdentifier, Value: ".1.3.6.1.6.3.1.1.5.3"},
	{Name: ".1.3.6.1.2.1.2.2.1.1.3", Type: gosnmp.Integer, Value: 3},
	{Name: ".1.3.6.1.2.1.2.2.1.7.3", Type: gosnmp.Integer, Value: 1},
	{Name: ".1.3.6.1.2.1.2.2.1.8.3", Type: gosnmp.Integer, Value: 2},
	{Name: ".1.3.6.1.2.1.31.1.1.1.1.3", Type: gosnmp.OctetString, Value: []byte("Gi0/3")},
}

func encodeV2c(t testing.TB, community string, pdu gosnmp.PDUType, vars []gosnmp.SnmpPDU) []byte {
	t.Helper()
	g := &gosnmp.GoSNMP{Version: gosnmp.Version2c, Community: community}
	b, err := g.SnmpEncodePacket(pdu, vars, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func encodeV1(t testing.TB, community string, generic, specific int, vars []gosnmp.SnmpPDU) []byte {
	t.Helper()
	p := &gosnmp.SnmpPacket{
		Version: gosnmp.Version1, Community: community, PDUType: gosnmp.Trap, Variables: vars,
		SnmpTrap: gosnmp.SnmpTrap{Enterprise: ".1.3.6.1.4.1.8072.2.3", AgentAddress: "192.0.2.9",
			GenericTrap: generic, SpecificTrap: specific, Timestamp: 4242},
	}
	b, err := p.MarshalMsg()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// encodeV3 encodes a v3 trap as an authoritative sender with engine ID senderEngine.
func encodeV3(t testing.TB, c snmp.Credentials, engineID string, vars []gosnmp.SnmpPDU) []byte {
	t.Helper()
	flags, usm := c.USM()
	usm.AuthoritativeEngineID = engineID
	usm.AuthoritativeEngineBoots, usm.AuthoritativeEngineTime = 3, 1000
	if err := usm.InitSecurityKeys(); err != nil {
		t.Fatal(err)
	}
	g := &gosnmp.GoSNMP{Version: gosnmp.Version3, SecurityModel: gosnmp.UserSecurityModel,
		MsgFlags: flags, SecurityParameters: usm, ContextEngineID: engineID}
	b, err := g.SnmpEncodePacket(gosnmp.SNMPv2Trap, vars, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func send(t *testing.T, h *harness, b []byte) *net.UDPConn {
	t.Helper()
	c, err := net.DialUDP("udp", nil, h.r.Addr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestDecodeKinds sends each kind of notification, encoded by gosnmp, through a running
// receiver and checks the event: kind, severity, interface, message and attributes.
func TestDecodeKinds(t *testing.T) {
	h := start(t, testConfig)
	linkUp := append([]gosnmp.SnmpPDU(nil), linkDownVars...)
	linkUp[1].Value = ".1.3.6.1.6.3.1.1.5.4"
	custom := []gosnmp.SnmpPDU{
		{Name: oidSysUpTime, Type: gosnmp.TimeTicks, Value: uint32(1)},
		{Name: oidTrapOID, Type: gosnmp.ObjectIdentifier, Value: ".1.3.6.1.4.1.9.9.41.2.0.1"},
		{Name: ".1.3.6.1.4.1.9.9.41.1.2.3.1.5.7", Type: gosnmp.OctetString, Value: []byte{0xde, 0xad, 0x00, 0xff}},
		{Name: oidTrapCommunity, Type: gosnmp.OctetString, Value: []byte("forwarded-secret")},
		{Name: oidTrapAddress, Type: gosnmp.IPAddress, Value: "192.0.2.77"},
		{Name: ".1.3.6.1.4.1.9.9.41.1.2.3.1.6.7", Type: gosnmp.Counter64, Value: uint64(1) << 40},
	}
	cases := []struct {
		name      string
		msg       []byte
		kind      watchfloor.EventKind
		sev       watchfloor.Severity
		version   string
		ifIndex   int32
		iface     string
		message   string
		wantAttrs map[string]string
	}{
		{"v2c linkDown", encodeV2c(t, "public", gosnmp.SNMPv2Trap, linkDownVars),
			watchfloor.EventTrapLinkDown, watchfloor.SeverityMedium, "2c", 3, "Gi0/3",
			"linkDown from core-r1: ifIndex 3 (Gi0/3)",
			map[string]string{"sysUpTime.0": "123456 (20m34.56s)", "snmpTrapOID.0": ".1.3.6.1.6.3.1.1.5.3",
				"ifIndex.3": "3", "ifOperStatus.3": "2", "ifName.3": "Gi0/3", "version": "2c"}},
		{"v2c linkUp, second community", encodeV2c(t, "other-community", gosnmp.SNMPv2Trap, linkUp),
			watchfloor.EventTrapLinkUp, watchfloor.SeverityInfo, "2c", 3, "Gi0/3",
			"linkUp from core-r1: ifIndex 3 (Gi0/3)", nil},
		{"v2c enterprise trap", encodeV2c(t, "public", gosnmp.SNMPv2Trap, custom),
			watchfloor.EventTrap, watchfloor.SeverityInfo, "2c", 0, "",
			"trap .1.3.6.1.4.1.9.9.41.2.0.1 from core-r1",
			map[string]string{".1.3.6.1.4.1.9.9.41.1.2.3.1.5.7": "0xdead00ff",
				"snmpTrapCommunity.0": "[redacted]", "snmpTrapAddress.0": "192.0.2.77",
				".1.3.6.1.4.1.9.9.41.1.2.3.1.6.7": "1099511627776"}},
		{"v1 coldStart", encodeV1(t, "public", 0, 0, nil),
			watchfloor.EventTrapColdStart, watchfloor.SeverityMedium, "1", 0, "", "coldStart from core-r1",
			map[string]string{"snmpTrapOID.0": ".1.3.6.1.6.3.1.1.5.1", "sysUpTime.0": "4242 (42.42s)",
				"snmpTrapAddress.0": "192.0.2.9", "snmpTrapEnterprise.0": ".1.3.6.1.4.1.8072.2.3"}},
		{"v1 warmStart", encodeV1(t, "public", 1, 0, nil),
			watchfloor.EventTrapWarmStart, watchfloor.SeverityLow, "1", 0, "", "warmStart from core-r1", nil},
		{"v1 linkDown with ifIndex", encodeV1(t, "public", 2, 0, []gosnmp.SnmpPDU{
			{Name: ".1.3.6.1.2.1.2.2.1.1.7", Type: gosnmp.Integer, Value: 7},
			{Name: ".1.3.6.1.2.1.2.2.1.2.7", Type: gosnmp.OctetString, Value: []byte("eth6")}}),
			watchfloor.EventTrapLinkDown, watchfloor.SeverityMedium, "1", 7, "eth6",
			"linkDown from core-r1: ifIndex 7 (eth6)", map[string]string{"ifDescr.7": "eth6"}},
		{"v1 authenticationFailure", encodeV1(t, "public", 4, 0, nil),
			watchfloor.EventTrapAuthFailure, watchfloor.SeverityMedium, "1", 0, "", "authenticationFailure from core-r1", nil},
		{"v1 enterprise specific", encodeV1(t, "public", 6, 17, nil),
			watchfloor.EventTrap, watchfloor.SeverityInfo, "1", 0, "", "trap .1.3.6.1.4.1.8072.2.3.0.17 from core-r1",
			map[string]string{"snmpTrapOID.0": ".1.3.6.1.4.1.8072.2.3.0.17"}},
		{"v3 SHA/AES linkDown", encodeV3(t, testUsers[0], senderEngine, linkDownVars),
			watchfloor.EventTrapLinkDown, watchfloor.SeverityMedium, "3", 3, "Gi0/3",
			"linkDown from core-r1: ifIndex 3 (Gi0/3)", map[string]string{"user": "noc", "version": "3"}},
		{"v3 SHA-256/AES linkUp", encodeV3(t, testUsers[1], senderEngine, linkUp),
			watchfloor.EventTrapLinkUp, watchfloor.SeverityInfo, "3", 3, "Gi0/3",
			"linkUp from core-r1: ifIndex 3 (Gi0/3)", map[string]string{"user": "noc256"}},
		{"v3 authNoPriv, another engine", encodeV3(t, testUsers[2], "\x80\x00\x00\x09\x03\x01\x02\x03\x04\x05\x06", linkDownVars),
			watchfloor.EventTrapLinkDown, watchfloor.SeverityMedium, "3", 3, "Gi0/3",
			"linkDown from core-r1: ifIndex 3 (Gi0/3)", map[string]string{"user": "mon"}},
	}
	cases = append(cases, struct {
		name      string
		msg       []byte
		kind      watchfloor.EventKind
		sev       watchfloor.Severity
		version   string
		ifIndex   int32
		iface     string
		message   string
		wantAttrs map[string]string
	}{"v3 SHA-512, user pinned to the sender's engine", encodeV3(t, testUsers[3], senderEngine, linkDownVars),
		watchfloor.EventTrapLinkDown, watchfloor.SeverityMedium, "3", 3, "Gi0/3",
		"linkDown from core-r1: ifIndex 3 (Gi0/3)", map[string]string{"user": "pinned"}})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := h.counter(t, "watchfloor_trap_received_total", "version", c.version)
			sent := time.Now()
			send(t, h, c.msg)
			ev := h.event(t, time.Second)
			if ev.Kind != c.kind || ev.Severity != c.sev {
				t.Errorf("kind %s severity %s, want %s %s", ev.Kind, ev.Severity, c.kind, c.sev)
			}
			if ev.Device != "core-r1" || ev.Site != "lab" || ev.Source != "snmp.trap" {
				t.Errorf("device %q site %q source %q", ev.Device, ev.Site, ev.Source)
			}
			if ev.IfIndex != c.ifIndex || ev.Interface != c.iface {
				t.Errorf("ifIndex %d interface %q, want %d %q", ev.IfIndex, ev.Interface, c.ifIndex, c.iface)
			}
			if ev.Message != c.message {
				t.Errorf("message %q, want %q", ev.Message, c.message)
			}
			if ev.Time.Before(sent) || ev.Time.Sub(sent) > time.Second {
				t.Errorf("event time %v, sent at %v", ev.Time, sent)
			}
			for k, want := range c.wantAttrs {
				if got, ok := attr(ev, k); got != want {
					t.Errorf("attr %s = %q (present %v), want %q; attrs %v", k, got, ok, want, ev.Attrs)
				}
			}
			if _, ok := attr(ev, "sender"); ok {
				t.Errorf("sender attr on a known device: %v", ev.Attrs)
			}
			h.waitCounter(t, "watchfloor_trap_received_total", "version", c.version, before+1)
		})
	}
	if strings.Contains(h.logs.String(), "forwarded-secret") {
		t.Error("a forwarded community reached the log")
	}
}

// TestInformV2c checks that a v2c inform is answered with a Response of the same request-id
// and varbinds, and becomes an event.
func TestInformV2c(t *testing.T) {
	h := start(t, testConfig)
	g := &gosnmp.GoSNMP{Version: gosnmp.Version2c, Community: "public"}
	g.SetRequestID(0x1234567)
	msg, err := g.SnmpEncodePacket(gosnmp.InformRequest, linkDownVars, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	c := send(t, h, msg)
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 2048)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("no response to the inform: %v", err)
	}
	resp, err := (&gosnmp.GoSNMP{Version: gosnmp.Version2c}).SnmpDecodePacket(buf[:n])
	if err != nil {
		t.Fatal(err)
	}
	if resp.PDUType != gosnmp.GetResponse || resp.RequestID != 0x1234568 || resp.Error != gosnmp.NoError ||
		len(resp.Variables) != len(linkDownVars) || resp.Community != "public" {
		t.Errorf("response %s id %#x error %v vars %d community ok %v", resp.PDUType, resp.RequestID,
			resp.Error, len(resp.Variables), resp.Community == "public")
	}
	if n != len(msg) {
		t.Errorf("response has %d octets, the inform %d: not the same varbinds", n, len(msg))
	}
	for i, v := range resp.Variables {
		if v.Name != linkDownVars[i].Name || v.Type != linkDownVars[i].Type {
			t.Errorf("response varbind %d: %s %v, want %s %v", i, v.Name, v.Type, linkDownVars[i].Name, linkDownVars[i].Type)
		}
	}
	ev := h.event(t, time.Second)
	if ev.Kind != watchfloor.EventTrapLinkDown || ev.IfIndex != 3 {
		t.Errorf("event %+v", ev)
	}
	h.waitCounter(t, "watchfloor_trap_informs_answered_total", "", "", 1)
}

// TestDropped checks that what must not become an event does not, is counted by reason, and
// that the log never shows a community.
func TestDropped(t *testing.T) {
	h := start(t, testConfig)
	wrongPass := testUsers[0]
	wrongPass.AuthPassphrase = "not-the-password"
	wrongPriv := testUsers[0]
	wrongPriv.PrivPassphrase = "not-the-privpass"
	downgraded := testUsers[0] // noc requires authPriv; this one only authenticates
	downgraded.SecurityLevel, downgraded.PrivProtocol, downgraded.PrivPassphrase = "authNoPriv", "", ""
	stranger := testUsers[0]
	stranger.Username = "stranger"
	getRequest := encodeV2c(t, "public", gosnmp.GetRequest, []gosnmp.SnmpPDU{{Name: ".1.3.6.1.2.1.1.1.0", Type: gosnmp.Null}})
	noTrapOID := encodeV2c(t, "public", gosnmp.SNMPv2Trap, linkDownVars[2:])
	cases := []struct {
		name, reason string
		msg          []byte
	}{
		{"wrong community", dropCommunity, encodeV2c(t, "s3cr3t-wrong", gosnmp.SNMPv2Trap, linkDownVars)},
		{"wrong community v1", dropCommunity, encodeV1(t, "s3cr3t-wrong", 0, 0, nil)},
		{"community prefix", dropCommunity, encodeV2c(t, "publi", gosnmp.SNMPv2Trap, linkDownVars)},
		{"garbage", dropDecode, []byte("GET / HTTP/1.0\r\n\r\n")},
		{"truncated", dropDecode, encodeV2c(t, "public", gosnmp.SNMPv2Trap, linkDownVars)[:40]},
		{"get request", dropDecode, getRequest},
		{"no snmpTrapOID", dropDecode, noTrapOID},
		{"unknown user", dropUnknownUser, encodeV3(t, stranger, senderEngine, linkDownVars)},
		{"user pinned to another engine", dropUnknownUser, encodeV3(t, testUsers[3], "\x80\x00\x00\x09\x03\x09\x09\x09", linkDownVars)},
		{"wrong auth passphrase", dropAuth, encodeV3(t, wrongPass, senderEngine, linkDownVars)},
		{"wrong priv passphrase", dropAuth, encodeV3(t, wrongPriv, senderEngine, linkDownVars)},
		{"below the user's security level", dropAuth, encodeV3(t, downgraded, senderEngine, linkDownVars)},
		{"too big", dropDecode, make([]byte, maxDatagram+100)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := h.counter(t, "watchfloor_trap_dropped_total", "reason", c.reason)
			send(t, h, c.msg)
			h.waitCounter(t, "watchfloor_trap_dropped_total", "reason", c.reason, before+1)
			h.noEvent(t, 20*time.Millisecond)
		})
	}
	if logs := h.logs.String(); strings.Contains(logs, "s3cr3t-wrong") || strings.Contains(logs, "publi\"") {
		t.Errorf("a community reached the log:\n%s", logs)
	}
	for _, v := range []string{"1", "2c", "3"} {
		if got := h.counter(t, "watchfloor_trap_received_total", "version", v); got != 0 {
			t.Errorf("received{version=%s} = %v, want 0", v, got)
		}
	}
}

// TestUnknownSender checks the event of a sender the lookup does not know.
func TestUnknownSender(t *testing.T) {
	d, err := newDecoder(testConfig, "lab", testLookup, nil)
	if err != nil {
		t.Fatal(err)
	}
	from := netip.MustParseAddrPort("[::ffff:192.0.2.44]:50123")
	out := d.decode(encodeV2c(t, "public", gosnmp.SNMPv2Trap, linkDownVars), from, time.Now())
	if out.event == nil {
		t.Fatalf("dropped: %s %v", out.drop, out.err)
	}
	ev := out.event
	if ev.Device != "" || ev.Message != "linkDown from 192.0.2.44: ifIndex 3 (Gi0/3)" {
		t.Errorf("device %q message %q", ev.Device, ev.Message)
	}
	if s, _ := attr(*ev, "sender"); s != from.String() {
		t.Errorf("sender attr %q, want %q", s, from)
	}
}

// TestHostileValues checks the caps on attributes and the cleaning of names.
func TestHostileValues(t *testing.T) {
	d, err := newDecoder(testConfig, "lab", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	vars := []gosnmp.SnmpPDU{
		{Name: oidSysUpTime, Type: gosnmp.TimeTicks, Value: uint32(1)},
		{Name: oidTrapOID, Type: gosnmp.ObjectIdentifier, Value: ".1.3.6.1.6.3.1.1.5.3"},
		{Name: ".1.3.6.1.2.1.2.2.1.1.9", Type: gosnmp.Integer, Value: 9},
		{Name: ".1.3.6.1.2.1.31.1.1.1.1.9", Type: gosnmp.OctetString, Value: []byte("Gi0/9\x1b[31m\nEVIL " + strings.Repeat("x", 500))},
		{Name: ".1.3.6.1.4.1.1.1", Type: gosnmp.OctetString, Value: bytes.Repeat([]byte{0xff}, 1000)},
		{Name: ".1.3.6.1.4.1.1.2", Type: gosnmp.OctetString, Value: []byte(strings.Repeat("é", 1000))},
	}
	for i := range 100 {
		vars = append(vars, gosnmp.SnmpPDU{Name: ".1.3.6.1.4.1.1.3." + string(rune('0'+i%10)), Type: gosnmp.Integer, Value: i})
	}
	out := d.decode(encodeV2c(t, "public", gosnmp.SNMPv2Trap, vars), netip.MustParseAddrPort("192.0.2.1:162"), time.Now())
	if out.event == nil {
		t.Fatalf("dropped: %s %v", out.drop, out.err)
	}
	ev := out.event
	if len(ev.Attrs) > maxAttrs+8 {
		t.Errorf("%d attrs", len(ev.Attrs))
	}
	if v, _ := attr(*ev, "varbinds_dropped"); v != "42" {
		t.Errorf("varbinds_dropped %q, want 42", v)
	}
	for _, a := range ev.Attrs {
		if n := len([]rune(a.Value)); n > maxValueLen {
			t.Errorf("attr %s has %d characters", a.Key, n)
		}
		if strings.ContainsAny(a.Value, "\x1b\n") {
			t.Errorf("attr %s has control characters: %q", a.Key, a.Value)
		}
	}
	if strings.ContainsAny(ev.Message, "\x1b\n") || len([]rune(ev.Interface)) > maxNameLen {
		t.Errorf("message %q interface %q", ev.Message, ev.Interface)
	}
}

// TestValidate covers the configuration checks and their field paths.
func TestValidate(t *testing.T) {
	good := testConfig
	cases := []struct {
		name   string
		edit   func(*Config)
		fields []string
	}{
		{"good", func(*Config) {}, nil},
		{"disabled", func(c *Config) { *c = Config{} }, nil},
		{"bad listen", func(c *Config) { c.Listen = "162" }, []string{"listen"}},
		{"bad port", func(c *Config) { c.Listen = ":snmp-trap" }, []string{"listen"}},
		{"nothing accepted", func(c *Config) { c.Communities, c.Users = nil, nil }, []string{"communities"}},
		{"empty community", func(c *Config) { c.Communities = []watchfloor.Secret{""} }, []string{"communities[0]"}},
		{"user version 2c", func(c *Config) { c.Users = []snmp.Credentials{{Version: "2c", Community: "x"}} }, []string{"users[0].version"}},
		{"user bad auth", func(c *Config) {
			c.Users = []snmp.Credentials{testUsers[0], {Username: "x", SecurityLevel: "authNoPriv", AuthProtocol: "SHA-3", AuthPassphrase: "short"}}
		}, []string{"users[1].auth_protocol", "users[1].auth_passphrase"}},
		{"user engine id", func(c *Config) {
			u := testUsers[0]
			u.EngineID = "80:00:1f"
			c.Users = []snmp.Credentials{u}
		}, []string{"users[0].engine_id"}},
		{"duplicate user", func(c *Config) { c.Users = []snmp.Credentials{testUsers[0], testUsers[0]} }, []string{"users[1].username"}},
		{"receiver engine id", func(c *Config) { c.EngineID = "zz" }, []string{"engine_id"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := good
			c.edit(&cfg)
			var got []string
			for _, e := range cfg.Validate() {
				got = append(got, e.Field)
			}
			if strings.Join(got, ",") != strings.Join(c.fields, ",") {
				t.Errorf("fields %v, want %v (%v)", got, c.fields, cfg.Validate())
			}
		})
	}
	if _, err := New(Config{}, "lab", nil, nil, nil); err != ErrDisabled {
		t.Errorf("New with no listen: %v", err)
	}
	bad := good
	bad.Listen = "nonsense"
	if _, err := New(bad, "lab", nil, nil, nil); err == nil || !strings.Contains(err.Error(), "listen") {
		t.Errorf("New with a bad listen: %v", err)
	}
}

// TestTwoReceivers checks that metrics are per registerer (no global registry) and that a nil
// registerer is accepted.
func TestTwoReceivers(t *testing.T) {
	a := start(t, testConfig)
	b := start(t, testConfig)
	r, err := New(testConfig, "lab", nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	send(t, a, encodeV2c(t, "public", gosnmp.SNMPv2Trap, linkDownVars))
	a.event(t, time.Second)
	if got := b.counter(t, "watchfloor_trap_received_total", "version", "2c"); got != 0 {
		t.Errorf("the other receiver counted %v", got)
	}
}

// TestDiscoveryRateLimit checks that engine discovery Reports, which go unauthenticated to
// whatever address a datagram claims, are capped per second.
func TestDiscoveryRateLimit(t *testing.T) {
	d := fuzzDecoder(t)
	probe := fuzzSeeds(t, d)[8]
	now := fuzzEpoch.Add(time.Minute)
	from := netip.MustParseAddrPort("192.0.2.1:161")
	answered := 0
	for range reportsPerSecond + 50 {
		out := d.decode(probe, from, now)
		if out.reply != nil {
			answered++
			r, err := (&gosnmp.GoSNMP{Version: gosnmp.Version3, SecurityModel: gosnmp.UserSecurityModel}).
				UnmarshalTrap(out.reply, false)
			if err != nil || r.PDUType != gosnmp.Report || r.MsgID != 7 || r.RequestID != 8 ||
				r.SecurityParameters.(*gosnmp.UsmSecurityParameters).AuthoritativeEngineID != d.engine.id {
				t.Fatalf("report %+v: %v", r, err)
			}
		} else if out.drop != dropDecode {
			t.Fatalf("unanswered probe not dropped: %+v", out)
		}
	}
	if answered != reportsPerSecond {
		t.Errorf("%d reports in one second, want %d", answered, reportsPerSecond)
	}
	if out := d.decode(probe, from, now.Add(time.Second)); out.reply == nil {
		t.Error("no report in the next second")
	}
}

// TestPanicRecovered checks that a panic while handling one datagram (here in the device
// lookup) drops that datagram, is counted, and does not stop the receiver.
func TestPanicRecovered(t *testing.T) {
	var explode atomic.Bool
	explode.Store(true)
	h := startLookup(t, testConfig, func(netip.Addr) string {
		if explode.Load() {
			panic("lookup exploded")
		}
		return "core-r1"
	})
	send(t, h, encodeV2c(t, "public", gosnmp.SNMPv2Trap, linkDownVars))
	h.waitCounter(t, "watchfloor_trap_decode_panics_total", "", "", 1)
	h.waitCounter(t, "watchfloor_trap_dropped_total", "reason", dropDecode, 1)
	h.noEvent(t, 20*time.Millisecond)
	if !strings.Contains(h.logs.String(), "lookup exploded") {
		t.Error("the panic was not logged")
	}
	explode.Store(false)
	send(t, h, encodeV2c(t, "public", gosnmp.SNMPv2Trap, linkDownVars))
	if ev := h.event(t, time.Second); ev.Kind != watchfloor.EventTrapLinkDown {
		t.Errorf("after the panic: %+v", ev)
	}
}

// BenchmarkDecode measures decoding one trap into an event (go test -bench Decode -benchmem).
func BenchmarkDecode(b *testing.B) {
	d := fuzzDecoder(b)
	from := netip.MustParseAddrPort("127.0.0.1:40000")
	for _, c := range []struct {
		name string
		msg  []byte
	}{
		{"v2c", encodeV2c(b, "public", gosnmp.SNMPv2Trap, linkDownVars)},
		{"v1", encodeV1(b, "public", 2, 0, linkDownVars[2:])},
		{"v3-authPriv", encodeV3(b, testUsers[0], senderEngine, linkDownVars)},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.msg)))
			for b.Loop() {
				if out := d.decode(c.msg, from, fuzzEpoch); out.event == nil {
					b.Fatal(out.drop, out.err)
				}
			}
		})
	}
}
