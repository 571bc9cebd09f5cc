package snmp

import (
	"context"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/watchfloor/watchfloor"
)

func TestDefaultConfig(t *testing.T) {
	c := DefaultConfig()
	if c.Interval != 30*time.Second || c.Timeout != 2*time.Second || c.Retries != 1 || c.Workers != 32 ||
		c.MaxRepetitions != 25 || c.DownAfter != 2 {
		t.Fatalf("%+v", c)
	}
	if errs := c.Validate(); len(errs) != 0 {
		t.Fatalf("defaults invalid: %v", errs)
	}
}

func TestValidate(t *testing.T) {
	c := DefaultConfig()
	c.Interval = 0
	c.Workers = 0
	c.MaxRepetitions = 0
	c.DownAfter = 0
	c.Retries = -1
	c.Targets = []Target{
		{Name: "core-r1", Address: "192.0.2.1", Credentials: v2c()},
		{Name: "core-r1", Address: "192.0.2.2:99999", Credentials: Credentials{Version: "3", Username: "noc",
			SecurityLevel: "authPriv", AuthProtocol: "SHA-3", AuthPassphrase: "longenough", PrivProtocol: "AES", PrivPassphrase: "short"}},
		{Address: "[2001:db8::1]:161", Credentials: Credentials{Version: "2c"}},
		{Name: "sw", Address: "not an address:x:y", Credentials: v2c()},
	}
	var got []string
	for _, e := range c.Validate() {
		got = append(got, e.Field)
		if e.Msg == "" || !strings.HasPrefix(e.Error(), e.Field+": ") {
			t.Errorf("%+v", e)
		}
	}
	want := []string{"interval", "retries", "workers", "max_repetitions", "down_after",
		"devices[1].name", "devices[1].address", "devices[1].snmp.auth_protocol", "devices[1].snmp.priv_passphrase",
		"devices[2].name", "devices[2].snmp.community",
		"devices[3].address"}
	if !slices.Equal(got, want) {
		t.Fatalf("fields\n got %q\nwant %q", got, want)
	}
	if _, err := New(c, nil, nil); err == nil || !strings.Contains(err.Error(), "devices[1].snmp.auth_protocol") {
		t.Fatalf("New accepted an invalid config: %v", err)
	}
}

func TestAddress(t *testing.T) {
	tests := []struct{ in, want string }{
		{"192.0.2.1", "192.0.2.1:161"},
		{"192.0.2.1:1161", "192.0.2.1:1161"},
		{"sw1.east.example", "sw1.east.example:161"},
		{"2001:db8::1", "[2001:db8::1]:161"},
		{"[2001:db8::1]:16161", "[2001:db8::1]:16161"},
	}
	for _, tt := range tests {
		if got := normalAddress(tt.in); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.in, got, tt.want)
		}
	}
	for _, bad := range []string{"", ":161", "192.0.2.1:0", "192.0.2.1:http", "a b"} {
		if _, _, err := splitAddress(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestPollerUnreachable polls a port where nothing answers: the device goes down after
// DownAfter polls with one event, Run stops promptly on cancel, and a nil registerer is fine.
func TestPollerUnreachable(t *testing.T) {
	// A bound UDP socket that never answers.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	cfg := DefaultConfig()
	cfg.Site = "lab"
	cfg.Interval = time.Second
	cfg.Timeout = 50 * time.Millisecond
	cfg.Retries = 0
	cfg.DownAfter = 2
	cfg.Targets = []Target{{Name: "silent", Address: pc.LocalAddr().String(), Credentials: v2c()}}
	p, err := New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	p.PollAll(context.Background(), rec)
	d, _ := rec.last("silent")
	if d.Status != watchfloor.DeviceUnknown || d.PollError == "" || len(rec.events) != 0 {
		t.Fatalf("after one failure: %+v %v", d, rec.events)
	}
	p.PollAll(context.Background(), rec)
	d, _ = rec.last("silent")
	if d.Status != watchfloor.DeviceDown || len(rec.eventsOf(watchfloor.EventDeviceUnreachable)) != 1 {
		t.Fatalf("after two failures: %+v %v", d, rec.events)
	}

	// Run: first cycle at once, returns nil soon after cancel.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, rec) }()
	<-rec.notify
	<-rec.notify
	<-rec.notify // the Run's first poll
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not return")
	}
}

func TestMetricsRegistration(t *testing.T) {
	reg := prometheus.NewRegistry()
	cfg := DefaultConfig()
	if _, err := New(cfg, nil, reg); err != nil {
		t.Fatal(err)
	}
	// A second poller on the same registry is an error, not a panic.
	if _, err := New(cfg, nil, reg); err == nil {
		t.Fatal("duplicate registration accepted")
	}
	got := gatherValues(t, reg)
	if _, ok := got[`watchfloor_snmp_polls_total{result="error"}`]; !ok {
		t.Fatalf("%v", got)
	}
}
