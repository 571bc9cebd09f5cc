package trap

import (
	"encoding/hex"
	"fmt"
	"net"
	"strconv"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/collectors/snmp"
)

// Config says where the receiver listens and whom it believes.
type Config struct {
	// Listen is the UDP host:port to receive on, e.g. "0.0.0.0:162". Empty disables the receiver.
	Listen string `yaml:"listen"`
	// Communities are the SNMPv1/v2c communities accepted; anything else is dropped and counted.
	Communities []watchfloor.Secret `yaml:"communities"`
	// Users are the SNMPv3 USM users accepted. Version may be omitted (it is "3"). EngineID,
	// when given (hex), restricts the user to traps from that sender engine.
	Users []snmp.Credentials `yaml:"users"`
	// EngineID is the receiver's own SNMPv3 engine ID in hex, which senders of v3 informs
	// localize their keys to (routers are often configured with it). Optional: by default it
	// is derived from the site name and Listen, so it stays the same across restarts.
	EngineID string `yaml:"engine_id"`
}

// Validate lists every problem with the configuration. Field paths are relative to the
// receiver's section ("listen", "users[0].auth_protocol"); the caller prefixes its own.
func (c Config) Validate() []snmp.FieldError {
	var errs []snmp.FieldError
	bad := func(field, format string, args ...any) {
		errs = append(errs, snmp.FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if c.Listen == "" {
		return nil // disabled: nothing else matters
	}
	if _, port, err := net.SplitHostPort(c.Listen); err != nil {
		bad("listen", "%q is not host:port: %v", c.Listen, err)
	} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		bad("listen", "port %q is not a number from 0 to 65535", port)
	}
	if len(c.Communities) == 0 && len(c.Users) == 0 {
		bad("communities", "the receiver accepts nothing: give v1/v2c communities or v3 users")
	}
	for i, s := range c.Communities {
		switch {
		case s == "":
			bad(fmt.Sprintf("communities[%d]", i), "empty community")
		case len(s) > 255:
			bad(fmt.Sprintf("communities[%d]", i), "longer than 255 characters")
		}
	}
	type key struct{ user, engine string }
	seen := map[key]int{}
	for i, u := range c.Users {
		prefix := fmt.Sprintf("users[%d].", i)
		if u.Version == "" {
			u.Version = "3"
		}
		if u.Version != "3" {
			bad(prefix+"version", "trap users are SNMPv3; put v1/v2c communities under communities")
			continue
		}
		errs = append(errs, u.Validate(prefix)...)
		if len(u.Username) > 32 {
			bad(prefix+"username", "longer than 32 characters (RFC 3414)")
		}
		if u.EngineID != "" {
			if _, err := parseEngineID(u.EngineID); err != nil {
				bad(prefix+"engine_id", "%v", err)
			}
		}
		k := key{u.Username, u.EngineID}
		if j, dup := seen[k]; dup {
			bad(prefix+"username", "user %q with engine_id %q is already users[%d]", u.Username, u.EngineID, j)
		} else {
			seen[k] = i
		}
	}
	if c.EngineID != "" {
		if _, err := parseEngineID(c.EngineID); err != nil {
			bad("engine_id", "%v", err)
		}
	}
	return errs
}

// parseEngineID decodes a hex engine ID ("80001f8803…", optionally with a 0x prefix or
// colons) and checks its length (5 to 32 octets, RFC 3411).
func parseEngineID(s string) (string, error) {
	clean := make([]byte, 0, len(s))
	if len(s) > 2 && (s[:2] == "0x" || s[:2] == "0X") {
		s = s[2:]
	}
	for i := 0; i < len(s); i++ {
		if s[i] != ':' && s[i] != ' ' {
			clean = append(clean, s[i])
		}
	}
	b, err := hex.DecodeString(string(clean))
	if err != nil {
		return "", fmt.Errorf("not hex: %v", err)
	}
	if len(b) < 5 || len(b) > 32 {
		return "", fmt.Errorf("%d octets; an engine ID has 5 to 32 (RFC 3411)", len(b))
	}
	return string(b), nil
}
