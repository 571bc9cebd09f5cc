package flow

import (
	"bytes"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestValidate(t *testing.T) {
	ok := DefaultConfig()
	ok.NetFlow = []string{"0.0.0.0:2055", "[::1]:9995"}
	ok.SFlow = []string{":6343"}
	ok.OurNetworks = []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}
	ok.Exporters = []Exporter{{Address: netip.MustParseAddr("192.0.2.1"), Device: "r1", SamplingRate: 10}}
	tests := []struct {
		name   string
		mutate func(*Config)
		fields []string
	}{
		{"ok", func(*Config) {}, nil},
		{"bad listen", func(c *Config) { c.NetFlow = []string{"2055", "host.example:2055", "1.2.3.4:99999"} },
			[]string{"netflow[0]", "netflow[1]", "netflow[2]"}},
		{"same address twice", func(c *Config) { c.SFlow = []string{"0.0.0.0:2055"} }, []string{"sflow[0]"}},
		{"port 0 twice is fine", func(c *Config) { c.NetFlow = []string{"127.0.0.1:0"}; c.SFlow = []string{"127.0.0.1:0"} }, nil},
		{"sockets", func(c *Config) { c.Sockets = 0 }, []string{"sockets"}},
		{"receive buffer", func(c *Config) { c.ReceiveBuffer = -1 }, []string{"receive_buffer"}},
		{"template ttl", func(c *Config) { c.TemplateTTL = time.Millisecond }, []string{"template_ttl"}},
		{"networks", func(c *Config) {
			c.OurNetworks = []netip.Prefix{{}, netip.MustParsePrefix("10.1.2.3/8"), netip.MustParsePrefix("::ffff:10.0.0.0/104")}
		}, []string{"our_networks[0]", "our_networks[1]", "our_networks[2]"}},
		{"exporters", func(c *Config) {
			c.Exporters = []Exporter{{Device: "a"}, {Address: netip.MustParseAddr("192.0.2.1")},
				{Address: netip.MustParseAddr("192.0.2.2"), Device: "b"}, {Address: netip.MustParseAddr("::ffff:192.0.2.2"), Device: "c"}}
		}, []string{"exporters[0].address", "exporters[1].device", "exporters[3].address"}},
	}
	for _, tc := range tests {
		c := ok
		tc.mutate(&c)
		var got []string
		for _, e := range c.Validate() {
			got = append(got, e.Field)
		}
		if !reflect.DeepEqual(got, tc.fields) {
			t.Errorf("%s: errors on %v, want %v (%v)", tc.name, got, tc.fields, c.Validate())
		}
	}
}

// TestConfigYAML decodes the example of doc.go strictly, over the defaults.
func TestConfigYAML(t *testing.T) {
	in := `
netflow: ["0.0.0.0:2055"]
sflow: ["0.0.0.0:6343"]
sockets: 2
receive_buffer: 33554432
template_ttl: 30m
our_networks: [198.51.100.0/24, 2001:db8::/32]
exporters:
  - address: 192.0.2.1
    device: core-r1
    sampling_rate: 1000
`
	c := DefaultConfig()
	dec := yaml.NewDecoder(bytes.NewBufferString(in))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	if errs := c.Validate(); len(errs) > 0 {
		t.Fatal(errs)
	}
	want := Config{NetFlow: []string{"0.0.0.0:2055"}, SFlow: []string{"0.0.0.0:6343"}, Sockets: 2, ReceiveBuffer: 32 << 20,
		TemplateTTL: 30 * time.Minute, OurNetworks: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("2001:db8::/32")},
		Exporters: []Exporter{{Address: netip.MustParseAddr("192.0.2.1"), Device: "core-r1", SamplingRate: 1000}}}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got %+v\nwant %+v", c, want)
	}
}
