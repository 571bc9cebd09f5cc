package uplink

import (
	"strings"
	"testing"
	"time"

	"github.com/watchfloor/watchfloor/appliance/store"
)

func TestSubjects(t *testing.T) {
	for _, tc := range []struct {
		subject string
		site    string
		kind    Kind
		ok      bool
	}{
		{"wf.north.alert", "north", KindAlert, true},
		{"wf.site-07.flows", "site-07", KindFlows, true},
		{"wf.north.alert.x", "", "", false},
		{"wf.North.alert", "", "", false},
		{"wf.*.alert", "", "", false},
		{"wf.>.alert", "", "", false},
		{"wf..alert", "", "", false},
		{"wf.north.pcap", "", "", false},
		{"xx.north.alert", "", "", false},
		{"wf.-north.alert", "", "", false},
	} {
		site, kind, ok := ParseSubject(tc.subject)
		if site != tc.site || kind != tc.kind || ok != tc.ok {
			t.Errorf("%q: %q %q %v, want %q %q %v", tc.subject, site, kind, ok, tc.site, tc.kind, tc.ok)
		}
		if ok && Subject(site, kind) != tc.subject {
			t.Errorf("Subject(%q, %q) = %q", site, kind, Subject(site, kind))
		}
	}
	if got := MsgID("north", KindAlert, 0xabc, 42); got != "north.alert.0000000000000abc.42" {
		t.Errorf("MsgID = %q", got)
	}
	if e, err := ParseEpoch(FormatEpoch(0xfedcba9876543210)); err != nil || e != 0xfedcba9876543210 {
		t.Errorf("epoch round trip: %x %v", e, err)
	}
}

func TestConfigValidate(t *testing.T) {
	good := DefaultConfig()
	good.Site, good.URLs, good.User, good.Password = "north", []string{"tls://central:4222"}, "north", "pw"
	if errs := good.Validate(); len(errs) != 0 {
		t.Fatalf("good config: %v", errs)
	}
	for _, tc := range []struct {
		field string
		edit  func(*Config)
	}{
		{"site", func(c *Config) { c.Site = "North" }},
		{"urls", func(c *Config) { c.URLs = nil }},
		{"urls[0]", func(c *Config) { c.URLs = []string{"http://x"} }},
		{"user", func(c *Config) { c.User, c.Password = "", "" }},
		{"password", func(c *Config) { c.Password = "" }},
		{"tls", func(c *Config) { c.TLS.CertFile = "c.pem" }},
		{"rate", func(c *Config) { c.Rate = 0 }},
		{"window", func(c *Config) { c.Window = 0 }},
		{"ack_timeout", func(c *Config) { c.AckTimeout = time.Millisecond }},
		{"outbox.policy", func(c *Config) { c.Outbox.Policy = "drop_newest" }},
	} {
		c := good
		tc.edit(&c)
		errs := c.Validate()
		found := false
		for _, e := range errs {
			found = found || e.Field == tc.field
		}
		if !found {
			t.Errorf("%s: errors %v do not name it", tc.field, errs)
		}
	}
}

func TestPutCountsDrops(t *testing.T) {
	st, err := store.Open(t.TempDir()+"/w.db", store.DefaultConfig(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cfg := DefaultConfig()
	cfg.Site, cfg.URLs, cfg.User, cfg.Password = "north", []string{"nats://127.0.0.1:1"}, "n", "p"
	cfg.Outbox.MaxEntries, cfg.Outbox.Policy = 5, store.OutboxDropOldest
	u, err := New(cfg, st, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	recs := make([]Record, 8)
	for i := range recs {
		recs[i] = Record{Kind: KindFlows, Time: now, Payload: []byte("x")}
	}
	if err := u.Put(recs); err != nil {
		t.Fatal(err)
	}
	if s := u.Status(); s.OutboxLen != 5 || s.Dropped != 3 {
		t.Errorf("status %+v, want 5 held and 3 dropped", s)
	}
	if err := u.Put([]Record{{Kind: "pcap", Time: now}}); err == nil || !strings.Contains(err.Error(), "unknown kind") {
		t.Errorf("unknown kind: %v", err)
	}
}
