package decode

import (
	"fmt"
	"time"
)

// Config says which ports carry which protocol and bounds the decoder's state. The bounds
// are per Decoder: a collector running N decoders holds up to N times as much.
type Config struct {
	// HTTPPorts: destination ports whose segments are looked at for the start of a
	// cleartext HTTP request. nil takes the defaults; an empty list turns HTTP off.
	HTTPPorts []uint16 `yaml:"http_ports" json:"http_ports"`
	// TLSPorts: destination ports whose segments are looked at for a TLS ClientHello. A
	// segment to any port is looked at too when its payload starts like a TLS handshake
	// record (0x16 0x03). nil takes the defaults; an empty list leaves only that test.
	TLSPorts []uint16 `yaml:"tls_ports" json:"tls_ports"`
	// HalfOpenTimeout: a SYN not answered by a SYN-ACK or a RST counts as half-open for
	// this long after it was last seen, then is forgotten (and counted as expired).
	HalfOpenTimeout time.Duration `yaml:"half_open_timeout" json:"half_open_timeout"`
	// MaxTracked bounds the connection attempts tracked for half-open accounting (about
	// 150 bytes each); SYNs beyond it are not tracked and are counted.
	MaxTracked int `yaml:"max_tracked" json:"max_tracked"`
	// MaxHosts bounds the source hosts of one interval's traffic table; packets of hosts
	// beyond it are in no host.traffic row and are counted.
	MaxHosts int `yaml:"max_hosts" json:"max_hosts"`
	// Interval: host.traffic and tcp.half_open are emitted for every Interval of packet
	// time, aligned to multiples of Interval since the zero time (so that decoders and
	// appliances agree on the buckets).
	Interval time.Duration `yaml:"interval" json:"interval"`
}

// DefaultConfig returns the defaults: HTTP on 80, 8080 and 8000; TLS on 443, 8443, 853, 993,
// 995, 465 and 636; attempts half-open for up to 10 s, 1<<18 of them tracked per worker
// (about 40 MB under a SYN flood); 100,000 hosts per 10 s interval.
func DefaultConfig() Config {
	return Config{
		HTTPPorts:       []uint16{80, 8080, 8000},
		TLSPorts:        []uint16{443, 8443, 853, 993, 995, 465, 636},
		HalfOpenTimeout: 10 * time.Second,
		MaxTracked:      1 << 18,
		MaxHosts:        100000,
		Interval:        10 * time.Second,
	}
}

// Limits beyond which a configuration is refused: they keep one Decoder's memory within a
// few gigabytes whatever the config says.
const (
	maxTrackedLimit = 1 << 24
	maxHostsLimit   = 1 << 22
)

// FieldError is one problem of a Config, the field named by its YAML key.
type FieldError struct {
	Field string
	Msg   string
}

func (e FieldError) Error() string { return e.Field + ": " + e.Msg }

// Validate lists every problem of the configuration, fields named by their YAML keys (the
// caller prefixes the path of the block holding them).
func (c Config) Validate() []FieldError {
	var errs []FieldError
	bad := func(field, format string, args ...any) {
		errs = append(errs, FieldError{field, fmt.Sprintf(format, args...)})
	}
	for i, p := range c.HTTPPorts {
		if p == 0 {
			bad(fmt.Sprintf("http_ports[%d]", i), "port 0 is not a port")
		}
	}
	for i, p := range c.TLSPorts {
		if p == 0 {
			bad(fmt.Sprintf("tls_ports[%d]", i), "port 0 is not a port")
		}
	}
	if c.HalfOpenTimeout < 100*time.Millisecond || c.HalfOpenTimeout > 10*time.Minute {
		bad("half_open_timeout", "must be between 100ms and 10m (is %s)", c.HalfOpenTimeout)
	}
	if c.MaxTracked < 1 || c.MaxTracked > maxTrackedLimit {
		bad("max_tracked", "must be between 1 and %d (is %d)", maxTrackedLimit, c.MaxTracked)
	}
	if c.MaxHosts < 1 || c.MaxHosts > maxHostsLimit {
		bad("max_hosts", "must be between 1 and %d (is %d)", maxHostsLimit, c.MaxHosts)
	}
	if c.Interval < time.Second || c.Interval > time.Hour {
		bad("interval", "must be between 1s and 1h (is %s)", c.Interval)
	}
	return errs
}

// withDefaults fills the zero (or out of range) fields of c from DefaultConfig, so that New
// never runs with a broken bound; nil port lists take the default ports.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.HTTPPorts == nil {
		c.HTTPPorts = d.HTTPPorts
	}
	if c.TLSPorts == nil {
		c.TLSPorts = d.TLSPorts
	}
	if c.HalfOpenTimeout <= 0 {
		c.HalfOpenTimeout = d.HalfOpenTimeout
	}
	if c.MaxTracked <= 0 {
		c.MaxTracked = d.MaxTracked
	}
	c.MaxTracked = min(c.MaxTracked, maxTrackedLimit)
	if c.MaxHosts <= 0 {
		c.MaxHosts = d.MaxHosts
	}
	c.MaxHosts = min(c.MaxHosts, maxHostsLimit)
	if c.Interval <= 0 {
		c.Interval = d.Interval
	}
	return c
}

// portSet is a bitmap of the 65536 ports.
type portSet [1024]uint64

func newPortSet(ports []uint16) *portSet {
	var s portSet
	for _, p := range ports {
		if p != 0 {
			s[p>>6] |= 1 << (p & 63)
		}
	}
	return &s
}

func (s *portSet) has(p uint16) bool { return s[p>>6]&(1<<(p&63)) != 0 }
