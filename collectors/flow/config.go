package flow

import (
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"time"

	"github.com/watchfloor/watchfloor/collectors/flow/decoder"
)

// Config is the flow collector's configuration, the "flow" block of the appliance's file.
type Config struct {
	// NetFlow lists listen addresses (host:port) for NetFlow v5/v9 and IPFIX, e.g. "0.0.0.0:2055".
	NetFlow []string `yaml:"netflow" json:"netflow"`
	// SFlow lists listen addresses (host:port) for sFlow v5, e.g. "0.0.0.0:6343".
	SFlow []string `yaml:"sflow" json:"sflow"`
	// Sockets per listen address, bound with SO_REUSEPORT, each read by one goroutine.
	Sockets int `yaml:"sockets" json:"sockets"`
	// ReceiveBuffer is the SO_RCVBUF of each socket in bytes (SO_RCVBUFFORCE when the process
	// may, so that net.core.rmem_max does not cap it); 0 leaves the kernel default.
	ReceiveBuffer int `yaml:"receive_buffer" json:"receive_buffer"`
	// TemplateTTL: a NetFlow v9/IPFIX template not refreshed for this long expires.
	TemplateTTL time.Duration `yaml:"template_ttl" json:"template_ttl"`
	// OurNetworks are the site's own prefixes; they give each flow its Direction.
	OurNetworks []netip.Prefix `yaml:"our_networks" json:"our_networks"`
	// Exporters name the devices that export and set their sampling rate.
	Exporters []Exporter `yaml:"exporters" json:"exporters"`
}

// Exporter maps an exporter's source address to a device.
type Exporter struct {
	Address netip.Addr `yaml:"address" json:"address"` // the datagrams' source address
	Device  string     `yaml:"device" json:"device"`   // the device's name, as the SNMP poller knows it
	// SamplingRate is used when the export does not state one (NetFlow v5 with a zero
	// sampling field, v9/IPFIX without sampler options); 0 means 1, unsampled.
	SamplingRate uint32 `yaml:"sampling_rate" json:"sampling_rate"`
}

// FieldError is one problem in a configuration, with the path of the field in YAML terms
// relative to the flow block ("exporters[1].address").
type FieldError struct {
	Field string
	Msg   string
}

func (e FieldError) Error() string { return e.Field + ": " + e.Msg }

const (
	maxSockets       = 64
	defaultMaxSocket = 8
	// DefaultReceiveBuffer is the default SO_RCVBUF: about 0.25 s of 1M records/s.
	DefaultReceiveBuffer = 32 << 20
	maxReceiveBuffer     = 1 << 30
)

// DefaultConfig returns the defaults: no listeners (the collector is off until an address is
// configured), one socket per core up to 8 per address, 32 MiB receive buffers and the
// decoder's template TTL (30 minutes).
func DefaultConfig() Config {
	return Config{
		Sockets:       min(runtime.GOMAXPROCS(0), defaultMaxSocket),
		ReceiveBuffer: DefaultReceiveBuffer,
		TemplateTTL:   decoder.DefaultConfig().TemplateTTL,
	}
}

// Validate lists every problem with the configuration, naming fields by their YAML path.
func (c Config) Validate() []FieldError {
	var errs []FieldError
	bad := func(field, format string, args ...any) {
		errs = append(errs, FieldError{field, fmt.Sprintf(format, args...)})
	}
	seen := map[string]string{}
	for _, l := range []struct {
		key   string
		addrs []string
	}{{"netflow", c.NetFlow}, {"sflow", c.SFlow}} {
		for i, a := range l.addrs {
			field := fmt.Sprintf("%s[%d]", l.key, i)
			norm, err := listenAddress(a)
			if err != nil {
				bad(field, "%v", err)
				continue
			}
			if prev, dup := seen[norm]; dup && norm[len(norm)-2:] != ":0" {
				bad(field, "%q is already %s", a, prev)
				continue
			}
			seen[norm] = field
		}
	}
	if c.Sockets < 1 || c.Sockets > maxSockets {
		bad("sockets", "must be between 1 and %d (is %d)", maxSockets, c.Sockets)
	}
	if c.ReceiveBuffer < 0 || c.ReceiveBuffer > maxReceiveBuffer {
		bad("receive_buffer", "must be between 0 (kernel default) and %d bytes (is %d)", maxReceiveBuffer, c.ReceiveBuffer)
	}
	if c.TemplateTTL < time.Second {
		bad("template_ttl", "must be at least 1s (is %s)", c.TemplateTTL)
	}
	for i, p := range c.OurNetworks {
		field := fmt.Sprintf("our_networks[%d]", i)
		switch {
		case !p.IsValid():
			bad(field, "not a prefix (address/bits)")
		case p.Addr().Is4In6():
			bad(field, "%s is IPv4-mapped: write it as an IPv4 prefix", p)
		case p.Masked() != p:
			bad(field, "%s has host bits set (did you mean %s?)", p, p.Masked())
		}
	}
	addrs := map[netip.Addr]int{}
	for i, e := range c.Exporters {
		prefix := fmt.Sprintf("exporters[%d].", i)
		if !e.Address.IsValid() {
			bad(prefix+"address", "required (an IP address)")
		} else if first, dup := addrs[e.Address.Unmap()]; dup {
			bad(prefix+"address", "%s is already exporters[%d]", e.Address, first)
		} else {
			addrs[e.Address.Unmap()] = i
		}
		if e.Device == "" {
			bad(prefix+"device", "required")
		}
	}
	return errs
}

// listenAddress checks a listen address and returns it normalised as host:port.
func listenAddress(a string) (string, error) {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return "", fmt.Errorf("%q is not host:port", a)
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil {
			return "", fmt.Errorf("%q: the host must be an IP address", a)
		}
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return "", fmt.Errorf("%q has no valid port (0-65535)", a)
	}
	return net.JoinHostPort(host, strconv.FormatUint(p, 10)), nil
}
