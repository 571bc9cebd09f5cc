package console

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// Config is the console's part of the configuration file.
type Config struct {
	// Listen is the host:port the HTTP server binds.
	Listen string `yaml:"listen"`
	// AllowedOrigins are Origins, besides the request's own host, that may open the WebSocket
	// (scheme://host[:port], e.g. "https://wall.noc.example").
	AllowedOrigins []string `yaml:"allowed_origins"`
	// SendQueue is how many messages may wait for one WebSocket client before it is dropped.
	SendQueue int `yaml:"send_queue"`
	// StaleAfter is how long the wall waits without any message, or without a new poll of a
	// device, before it marks the data stale. Set it to about twice the SNMP poll interval.
	StaleAfter time.Duration `yaml:"stale_after"`
}

// Defaults.
const (
	DefaultListen     = "127.0.0.1:8080"
	DefaultSendQueue  = 64
	DefaultStaleAfter = time.Minute
)

// DefaultConfig returns the configuration used when the file says nothing.
func DefaultConfig() Config {
	return Config{Listen: DefaultListen, SendQueue: DefaultSendQueue, StaleAfter: DefaultStaleAfter}
}

// withDefaults fills the zero fields of c with their defaults.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Listen == "" {
		c.Listen = d.Listen
	}
	if c.SendQueue == 0 {
		c.SendQueue = d.SendQueue
	}
	if c.StaleAfter == 0 {
		c.StaleAfter = d.StaleAfter
	}
	return c
}

// FieldError is one problem of a Config, named by its YAML field path.
type FieldError struct {
	Field string
	Msg   string
}

func (e FieldError) Error() string { return e.Field + ": " + e.Msg }

// Validate returns every problem of c (after defaults are applied to zero fields), each
// naming its YAML field.
func (c Config) Validate() []FieldError {
	c = c.withDefaults()
	var errs []FieldError
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, FieldError{"listen", fmt.Sprintf("want host:port: %v", err)})
	}
	for i, o := range c.AllowedOrigins {
		if _, err := normalizeOrigin(o); err != nil {
			errs = append(errs, FieldError{fmt.Sprintf("allowed_origins[%d]", i), err.Error()})
		}
	}
	if c.SendQueue < 1 || c.SendQueue > 1<<16 {
		errs = append(errs, FieldError{"send_queue", fmt.Sprintf("%d is out of range 1..65536", c.SendQueue)})
	}
	if c.StaleAfter < time.Second {
		errs = append(errs, FieldError{"stale_after", fmt.Sprintf("%v is shorter than 1s", c.StaleAfter)})
	}
	return errs
}

// normalizeOrigin reduces an Origin to lower-case scheme://host[:port] so that two spellings
// of one origin compare equal.
func normalizeOrigin(o string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(o))
	if err != nil {
		return "", fmt.Errorf("origin %q: %w", o, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return "", fmt.Errorf("origin %q: want scheme://host[:port] with scheme http or https", o)
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), nil
}
