package snmp

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// DefaultPort is the SNMP agent port added to a target address that has none.
const DefaultPort = 161

// Target is one device to poll.
type Target struct {
	Name        string      `yaml:"name" json:"name"`       // unique in the site; events and samples carry it
	Address     string      `yaml:"address" json:"address"` // host:port; ":161" is added when the port is missing
	Role        string      `yaml:"role" json:"role,omitempty"`
	Credentials Credentials `yaml:"snmp" json:"snmp"`
}

// Config is the poller's configuration. In YAML the targets are the list "devices".
type Config struct {
	Site           string        `yaml:"site" json:"site"`
	Interval       time.Duration `yaml:"interval" json:"interval"`               // between the starts of two poll cycles
	Timeout        time.Duration `yaml:"timeout" json:"timeout"`                 // for one SNMP request
	Retries        int           `yaml:"retries" json:"retries"`                 // resends of a request that timed out
	Workers        int           `yaml:"workers" json:"workers"`                 // devices polled at the same time
	MaxRepetitions uint32        `yaml:"max_repetitions" json:"max_repetitions"` // GETBULK max-repetitions to start with
	DownAfter      int           `yaml:"down_after" json:"down_after"`           // failed polls in a row before a device is down
	Targets        []Target      `yaml:"devices" json:"devices"`
}

// DefaultConfig returns the defaults: a poll every 30 s, 2 s timeout with one retry, 32 devices
// at a time, GETBULK with 25 repetitions, down after two failed polls in a row.
func DefaultConfig() Config {
	return Config{
		Interval:       30 * time.Second,
		Timeout:        2 * time.Second,
		Retries:        1,
		Workers:        32,
		MaxRepetitions: 25,
		DownAfter:      2,
	}
}

// Validate lists every problem with the configuration, naming fields by their YAML path
// ("interval", "devices[1].address", "devices[1].snmp.auth_protocol").
func (c Config) Validate() []FieldError {
	var errs []FieldError
	bad := func(field, format string, args ...any) {
		errs = append(errs, FieldError{field, fmt.Sprintf(format, args...)})
	}
	if c.Interval < time.Second {
		bad("interval", "must be at least 1s (is %s)", c.Interval)
	}
	if c.Timeout <= 0 {
		bad("timeout", "must be positive (is %s)", c.Timeout)
	} else if c.Interval > 0 && c.Timeout > c.Interval {
		bad("timeout", "%s is longer than the interval %s", c.Timeout, c.Interval)
	}
	if c.Retries < 0 || c.Retries > 10 {
		bad("retries", "must be between 0 and 10 (is %d)", c.Retries)
	}
	if c.Workers < 1 {
		bad("workers", "must be at least 1 (is %d)", c.Workers)
	}
	if c.MaxRepetitions < 1 || c.MaxRepetitions > 100 {
		bad("max_repetitions", "must be between 1 and 100 (is %d)", c.MaxRepetitions)
	}
	if c.DownAfter < 1 {
		bad("down_after", "must be at least 1 (is %d)", c.DownAfter)
	}
	names := make(map[string]int, len(c.Targets))
	for i, t := range c.Targets {
		prefix := fmt.Sprintf("devices[%d].", i)
		switch first, dup := names[t.Name]; {
		case t.Name == "":
			bad(prefix+"name", "required")
		case dup:
			bad(prefix+"name", "%q is already the name of devices[%d]", t.Name, first)
		default:
			names[t.Name] = i
		}
		if _, _, err := splitAddress(t.Address); err != nil {
			bad(prefix+"address", "%v", err)
		}
		errs = append(errs, t.Credentials.Validate(prefix+"snmp.")...)
	}
	return errs
}

// splitAddress reads host[:port]; a bare IPv6 address or a name without a port gets
// DefaultPort.
func splitAddress(addr string) (string, uint16, error) {
	if addr == "" {
		return "", 0, fmt.Errorf("required (host:port)")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		if ip, perr := netip.ParseAddr(addr); perr == nil {
			return ip.String(), DefaultPort, nil
		}
		if !strings.ContainsAny(addr, ":[]/ ") {
			return addr, DefaultPort, nil
		}
		return "", 0, fmt.Errorf("%q is not host:port", addr)
	}
	if host == "" {
		return "", 0, fmt.Errorf("%q has no host", addr)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return "", 0, fmt.Errorf("%q has no valid port (1-65535)", addr)
	}
	return host, uint16(p), nil
}

// normalAddress is addr with the default port added when it has none.
func normalAddress(addr string) string {
	host, port, err := splitAddress(addr)
	if err != nil {
		return addr
	}
	return net.JoinHostPort(host, strconv.Itoa(int(port)))
}
