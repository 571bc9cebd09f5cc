package lab

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/watchfloor/watchfloor/collectors/snmp"
)

// TestAgentGet covers Get: values of every type, and noSuchObject / noSuchInstance.
func TestAgentGet(t *testing.T) {
	l := startLab(t, Options{})
	g := client(t, target(t, l, "core-r1"))
	r, err := g.Get([]string{
		".1.3.6.1.2.1.1.5.0",           // sysName
		".1.3.6.1.2.1.1.2.0",           // sysObjectID
		".1.3.6.1.2.1.1.3.0",           // sysUpTime
		".1.3.6.1.2.1.2.2.1.5.510",     // ifSpeed of a 40G port: capped
		".1.3.6.1.2.1.31.1.1.1.15.500", // ifHighSpeed of the 80G LAG
		".1.3.6.1.2.1.31.1.1.1.6.510",  // ifHCInOctets
		".1.3.6.1.2.1.2.2.1.6.17",      // ifPhysAddress
		".1.3.6.1.2.1.1.5.1",           // noSuchInstance
		".1.3.6.1.2.1.99.1.0",          // noSuchObject
		".1.3.6.1.2.1.2.2.1.8.500",     // ifOperStatus of the LAG
	})
	if err != nil {
		t.Fatal(err)
	}
	v := r.Variables
	if len(v) != 10 {
		t.Fatalf("%d varbinds", len(v))
	}
	if string(v[0].Value.([]byte)) != "core-r1" {
		t.Errorf("sysName %v", v[0].Value)
	}
	if v[1].Type != gosnmp.ObjectIdentifier || v[1].Value != ".1.3.6.1.4.1.2636.1.1.1.2.25" {
		t.Errorf("sysObjectID %v %v", v[1].Type, v[1].Value)
	}
	if up := v[2].Value.(uint32); v[2].Type != gosnmp.TimeTicks || up < 2*24*3600*100 {
		t.Errorf("sysUpTime %v %v", v[2].Type, v[2].Value)
	}
	if v[3].Type != gosnmp.Gauge32 || v[3].Value.(uint) != 4294967295 {
		t.Errorf("ifSpeed of 40G: %v %v", v[3].Type, v[3].Value)
	}
	if v[4].Value.(uint) != 80000 {
		t.Errorf("ifHighSpeed of ae0: %v", v[4].Value)
	}
	if v[5].Type != gosnmp.Counter64 || uintValue(t, v[5]) == 0 {
		t.Errorf("ifHCInOctets %v %v", v[5].Type, v[5].Value)
	}
	if mac := v[6].Value.([]byte); len(mac) != 6 || mac[0] != 0x2c {
		t.Errorf("ifPhysAddress %x", mac)
	}
	if v[7].Type != gosnmp.NoSuchInstance || v[8].Type != gosnmp.NoSuchObject {
		t.Errorf("exceptions: %v %v", v[7].Type, v[8].Type)
	}
	if v[9].Value.(int) != 1 {
		t.Errorf("LAG oper status %v", v[9].Value)
	}
}

// TestAgentGetNextAndEnd covers GetNext, across tables and past the end of the view.
func TestAgentGetNextAndEnd(t *testing.T) {
	l := startLab(t, Options{})
	a := l.agent("acc-a1")
	g := client(t, target(t, l, "acc-a1"))
	last := oidString(a.dev.view.Load().entries[len(a.dev.view.Load().entries)-1].oid)
	r, err := g.GetNext([]string{".1.3.6.1.2.1.1.5.0", ".1.0", ".1.3.6.1.2.1.2.2.1.2", last, ".2.0"})
	if err != nil {
		t.Fatal(err)
	}
	v := r.Variables
	want := []struct {
		name string
		typ  gosnmp.Asn1BER
	}{
		{".1.3.6.1.2.1.1.6.0", gosnmp.OctetString},     // sysLocation
		{".1.0.8802.1.1.2.1.3.1.0", gosnmp.Integer},    // LLDP sorts first, numerically
		{".1.3.6.1.2.1.2.2.1.2.1", gosnmp.OctetString}, // first ifDescr
		{last, gosnmp.EndOfMibView},
		{".2.0", gosnmp.EndOfMibView},
	}
	for i, w := range want {
		if v[i].Name != w.name || v[i].Type != w.typ {
			t.Errorf("GetNext %d: %s %v, want %s %v", i, v[i].Name, v[i].Type, w.name, w.typ)
		}
	}
}

// TestAgentGetBulk covers non-repeaters, repetitions across columns, endOfMibView rows and
// truncation to the response size.
func TestAgentGetBulk(t *testing.T) {
	l := startLab(t, Options{})
	a := l.agent("acc-a4") // 24 + 4 + 2 interfaces
	g := client(t, target(t, l, "acc-a4"))
	r, err := g.GetBulk([]string{".1.3.6.1.2.1.1.3", ".1.3.6.1.2.1.2.2.1.8", ".1.3.6.1.2.1.31.1.1.1.6"}, 1, 5)
	if err != nil {
		t.Fatal(err)
	}
	v := r.Variables
	if len(v) != 1+2*5 {
		t.Fatalf("%d varbinds, want 11", len(v))
	}
	if v[0].Name != ".1.3.6.1.2.1.1.3.0" {
		t.Errorf("non-repeater: %s", v[0].Name)
	}
	if v[1].Name != ".1.3.6.1.2.1.2.2.1.8.1" || v[2].Name != ".1.3.6.1.2.1.31.1.1.1.6.1" || v[10].Name != ".1.3.6.1.2.1.31.1.1.1.6.12" {
		t.Errorf("repetitions: %s %s … %s", v[1].Name, v[2].Name, v[10].Name)
	}

	// Near the end of the view, the repetitions run into endOfMibView and stop.
	ents := a.dev.view.Load().entries
	r, err = g.GetBulk([]string{oidString(ents[len(ents)-3].oid)}, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(r.Variables); n != 3 || r.Variables[2].Type != gosnmp.EndOfMibView {
		t.Errorf("bulk at the end: %d varbinds %v", n, r.Variables)
	}

	// endOfMibView carries the previous repetition's name: the request's while a column has
	// produced nothing, the view's last OID once it has.
	lastOID, prevOID := oidString(ents[len(ents)-1].oid), oidString(ents[len(ents)-2].oid)
	r, err = g.GetBulk([]string{".2.0", oidString(ents[len(ents)-3].oid)}, 0, 5)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range r.Variables {
		got = append(got, fmt.Sprintf("%s %v", p.Name, p.Type == gosnmp.EndOfMibView))
	}
	want := []string{".2.0 true", prevOID + " false", ".2.0 true", lastOID + " false", ".2.0 true", lastOID + " true"}
	if !slices.Equal(got, want) {
		t.Errorf("bulk past the end:\n%v\nwant\n%v", got, want)
	}

	// A huge max-repetitions is cut to the response size, never more.
	r, err = g.GetBulk([]string{".1.3.6.1.2.1.2.2.1.2"}, 0, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(r.Variables); n < 20 || n > 60 {
		t.Errorf("truncated bulk: %d varbinds", n)
	}
	b, _ := r.MarshalMsg()
	if len(b) > defaultMaxResponse {
		t.Errorf("response of %d bytes", len(b))
	}

	// gosnmp's BulkWalkAll sees every ifTable row once.
	pdus, err := g.BulkWalkAll(".1.3.6.1.2.1.2.2.1.2")
	if err != nil {
		t.Fatal(err)
	}
	if len(pdus) != len(a.dev.ifaces) {
		t.Errorf("ifDescr walk: %d rows, want %d", len(pdus), len(a.dev.ifaces))
	}
}

// TestAgentTooBig: a Get whose answer cannot fit gets tooBig with no varbinds.
func TestAgentTooBig(t *testing.T) {
	l := startLab(t, Options{})
	g := client(t, target(t, l, "acc-a1"))
	oids := make([]string, 60)
	for i := range oids {
		oids[i] = ".1.3.6.1.2.1.1.1.0" // sysDescr, ~250 bytes each
	}
	g.MaxOids = 100
	r, err := g.Get(oids)
	if err != nil {
		t.Fatal(err)
	}
	if r.Error != gosnmp.TooBig || len(r.Variables) != 0 {
		t.Errorf("error %v, %d varbinds", r.Error, len(r.Variables))
	}
}

// TestAgentWrongCommunity: a wrong community gets no answer at all and is counted.
func TestAgentWrongCommunity(t *testing.T) {
	l := startLab(t, Options{})
	tg := target(t, l, "acc-a2")
	tg.Credentials.Community = "private"
	g := client(t, tg)
	g.Timeout, g.Retries = 200*time.Millisecond, 0
	if _, err := g.Get([]string{".1.3.6.1.2.1.1.5.0"}); err == nil {
		t.Fatal("answered a wrong community")
	}
	// v2c to a v3-only device is dropped too.
	tg = target(t, l, "dist-s2")
	tg.Credentials = snmp.Credentials{Version: "2c", Community: "public"}
	g = client(t, tg)
	g.Timeout, g.Retries = 200*time.Millisecond, 0
	if _, err := g.Get([]string{".1.3.6.1.2.1.1.5.0"}); err == nil {
		t.Fatal("a v3 device answered v2c")
	}
	if st := l.Stats(); st.BadCommunity != 1 || st.BadVersion != 1 || st.Responses != 0 {
		t.Errorf("stats %+v", st)
	}
}

// customAgent serves a device of a fresh standard site with other credentials.
func customAgent(t *testing.T, name string, creds snmp.Credentials) (snmp.Target, *agent) {
	t.Helper()
	s := standardSite(DefaultSite, 1, time.Now())
	d := s.byName[name]
	d.Creds = creds
	d.rebuildView()
	a, err := newAgent(d, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	return snmp.Target{Name: name, Address: a.Addr().String(), Credentials: creds}, a
}

// TestAgentV3 proves the USM engine with gosnmp for every offered combination of
// authentication and privacy, with a walk and a bulk walk.
func TestAgentV3(t *testing.T) {
	for _, c := range []struct{ auth, priv, level string }{
		{"SHA", "AES", "authPriv"},
		{"SHA-256", "AES", "authPriv"},
		{"SHA-512", "AES", "authPriv"},
		{"MD5", "DES", "authPriv"},
		{"SHA-224", "DES", "authPriv"},
		{"SHA", "", "authNoPriv"},
		{"", "", "noAuthNoPriv"},
	} {
		t.Run(c.auth+"/"+c.priv, func(t *testing.T) {
			creds := snmp.Credentials{Version: "3", Username: "noc", SecurityLevel: c.level, AuthProtocol: c.auth, PrivProtocol: c.priv}
			if c.auth != "" {
				creds.AuthPassphrase = "authpass123"
			}
			if c.priv != "" {
				creds.PrivPassphrase = "privpass123"
			}
			tg, a := customAgent(t, "dist-s2", creds)
			g := client(t, tg)
			r, err := g.Get([]string{".1.3.6.1.2.1.1.5.0", ".1.3.6.1.6.3.10.2.1.2.0"})
			if err != nil {
				t.Fatal(err)
			}
			if string(r.Variables[0].Value.([]byte)) != "dist-s2" || r.Variables[1].Value.(int) != int(a.dev.boots) {
				t.Errorf("v3 get: %v", r.Variables)
			}
			pdus, err := g.BulkWalkAll(".1.3.6.1.2.1.31.1.1.1.1")
			if err != nil {
				t.Fatal(err)
			}
			if len(pdus) != len(a.dev.ifaces) {
				t.Errorf("ifName bulk walk: %d rows", len(pdus))
			}
			pdus, err = g.WalkAll(".1.0.8802.1.1.2.1.4.1.1.9")
			if err != nil {
				t.Fatal(err)
			}
			if len(pdus) != 5 { // two cores, two access switches, one ESXi server
				t.Errorf("LLDP neighbours: %d, want 5", len(pdus))
			}
			var st Stats
			a.stats.addTo(&st)
			if st.UnknownEngineIDs != 1 || st.WrongDigests+st.DecryptionErrors+st.Malformed != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// TestAgentV3Reports: unknown users, wrong passphrases, a lower security level and a stale
// engine time are answered with the right usmStats reports. After discovery gosnmp rejects
// the unauthenticated reports (RFC 3414 sends them noAuthNoPriv) as "not authentic", so the
// test reads the agent's counters; TestNetSNMPv3Reports reads the reports themselves.
func TestAgentV3Reports(t *testing.T) {
	l := startLab(t, Options{})
	tg := target(t, l, "fw-1")
	a := l.agent("fw-1")
	counter := func(s Stats, name string) uint64 {
		return map[string]uint64{
			"UnknownUserNames": s.UnknownUserNames, "WrongDigests": s.WrongDigests,
			"DecryptionErrors": s.DecryptionErrors, "UnsupportedSecLevels": s.UnsupportedSecLevels,
		}[name]
	}
	for _, c := range []struct {
		name, counter string
		mod           func(c *snmp.Credentials)
	}{
		{"unknown user", "UnknownUserNames", func(c *snmp.Credentials) { c.Username = "intruder" }},
		{"wrong auth passphrase", "WrongDigests", func(c *snmp.Credentials) { c.AuthPassphrase = "wrongpass123" }},
		{"wrong priv passphrase", "DecryptionErrors", func(c *snmp.Credentials) { c.PrivPassphrase = "wrongpass123" }},
		{"auth without priv", "UnsupportedSecLevels", func(c *snmp.Credentials) { c.SecurityLevel, c.PrivPassphrase = "authNoPriv", "" }},
	} {
		c2 := tg
		c.mod(&c2.Credentials)
		g := client(t, c2)
		g.Retries = 0
		before := l.Stats()
		if _, err := g.Get([]string{".1.3.6.1.2.1.1.5.0"}); err == nil {
			t.Errorf("%s: answered", c.name)
		}
		if n := counter(l.Stats(), c.counter) - counter(before, c.counter); n != 1 {
			t.Errorf("%s: %s went up by %d", c.name, c.counter, n)
		}
	}

	// A manager with a stale engine time gets notInTimeWindow, authenticated, and recovers.
	g := client(t, tg)
	usm := g.SecurityParameters.(*gosnmp.UsmSecurityParameters)
	usm.AuthoritativeEngineID = string(a.dev.engineID)
	usm.AuthoritativeEngineBoots = uint32(a.dev.boots) - 1
	usm.AuthoritativeEngineTime = 5
	r, err := g.Get([]string{".1.3.6.1.2.1.1.5.0"})
	if err != nil || string(r.Variables[0].Value.([]byte)) != "fw-1" {
		t.Fatalf("after notInTimeWindow: %v %v", r, err)
	}
	if st := l.Stats(); st.NotInTimeWindows != 1 || st.Panics != 0 || st.Malformed != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestAgentSet: the lab is read-only.
func TestAgentSet(t *testing.T) {
	l := startLab(t, Options{})
	g := client(t, target(t, l, "acc-a1"))
	r, err := g.Set([]gosnmp.SnmpPDU{{Name: ".1.3.6.1.2.1.1.5.0", Type: gosnmp.OctetString, Value: "pwned"}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Error != gosnmp.NotWritable || r.ErrorIndex != 1 {
		t.Errorf("set: %v %d", r.Error, r.ErrorIndex)
	}
}

// TestTargets: every device is reachable at the address Targets reports, with its
// credentials, and distinct loopback addresses are used where they can be bound.
func TestTargets(t *testing.T) {
	l := startLab(t, Options{})
	ts := l.Targets()
	if len(ts) < 12 {
		t.Fatalf("%d targets", len(ts))
	}
	roles := map[string]int{}
	v3 := 0
	hosts := map[string]bool{}
	for _, tg := range ts {
		roles[tg.Role]++
		if errs := tg.Credentials.Validate(""); len(errs) > 0 {
			t.Errorf("%s: %v", tg.Name, errs)
		}
		if tg.Credentials.Version == "3" {
			v3++
		}
		hosts[strings.Split(tg.Address, ":")[0]] = true
		g := client(t, tg)
		r, err := g.Get([]string{".1.3.6.1.2.1.1.5.0"})
		if err != nil || string(r.Variables[0].Value.([]byte)) != tg.Name {
			t.Errorf("%s at %s: %v %v", tg.Name, tg.Address, r, err)
		}
	}
	if roles["core"] != 2 || roles["firewall"] != 1 || roles["distribution"] != 3 || roles["access"] < 6 || v3 < 3 {
		t.Errorf("roles %v, %d v3", roles, v3)
	}
	if len(hosts) != len(ts) && len(hosts) != 1 {
		t.Errorf("addresses: %v", hosts)
	}
	t.Logf("%d devices on %d addresses", len(ts), len(hosts))
	if tg := ts[0]; len(hosts) > 1 {
		if name := l.Device(mustAddr(t, tg.Address)); name != tg.Name {
			t.Errorf("Device(%s) = %q", tg.Address, name)
		}
	}
}
