package snmp

import (
	"fmt"
	"strings"

	"github.com/gosnmp/gosnmp"

	"github.com/watchfloor/watchfloor"
)

// Credentials say how to talk SNMP to one device (or, for traps, how a sender talks to us):
// the version and either a community (v1, v2c) or a USM user (v3). The secret fields are
// watchfloor.Secret, so they never reach a log line or an API answer.
type Credentials struct {
	Version        string            `yaml:"version" json:"version"`                         // "1", "2c" or "3"
	Community      watchfloor.Secret `yaml:"community" json:"-"`                             // v1, v2c
	Username       string            `yaml:"username" json:"username,omitempty"`             // v3
	SecurityLevel  string            `yaml:"security_level" json:"security_level,omitempty"` // noAuthNoPriv, authNoPriv, authPriv
	AuthProtocol   string            `yaml:"auth_protocol" json:"auth_protocol,omitempty"`   // MD5, SHA, SHA-224, SHA-256, SHA-384, SHA-512
	AuthPassphrase watchfloor.Secret `yaml:"auth_passphrase" json:"-"`                       //
	PrivProtocol   string            `yaml:"priv_protocol" json:"priv_protocol,omitempty"`   // DES, AES (AES-128), AES-192, AES-256, AES-192C, AES-256C
	PrivPassphrase watchfloor.Secret `yaml:"priv_passphrase" json:"-"`                       //
	ContextName    string            `yaml:"context_name" json:"context_name,omitempty"`     // v3 context, rarely needed
	EngineID       string            `yaml:"engine_id" json:"engine_id,omitempty"`           // traps: the sender's engine ID in hex, when known
}

// FieldError is one problem in a configuration, with the path of the field in YAML terms
// (relative to the struct that was validated, for example "snmp.auth_protocol").
type FieldError struct {
	Field string
	Msg   string
}

func (e FieldError) Error() string { return e.Field + ": " + e.Msg }

var authProtocols = map[string]gosnmp.SnmpV3AuthProtocol{
	"MD5": gosnmp.MD5, "SHA": gosnmp.SHA, "SHA1": gosnmp.SHA, "SHA-1": gosnmp.SHA,
	"SHA-224": gosnmp.SHA224, "SHA224": gosnmp.SHA224,
	"SHA-256": gosnmp.SHA256, "SHA256": gosnmp.SHA256,
	"SHA-384": gosnmp.SHA384, "SHA384": gosnmp.SHA384,
	"SHA-512": gosnmp.SHA512, "SHA512": gosnmp.SHA512,
}

var privProtocols = map[string]gosnmp.SnmpV3PrivProtocol{
	"DES": gosnmp.DES, "AES": gosnmp.AES, "AES-128": gosnmp.AES, "AES128": gosnmp.AES,
	"AES-192": gosnmp.AES192, "AES192": gosnmp.AES192,
	"AES-256": gosnmp.AES256, "AES256": gosnmp.AES256,
	"AES-192C": gosnmp.AES192C, "AES192C": gosnmp.AES192C,
	"AES-256C": gosnmp.AES256C, "AES256C": gosnmp.AES256C,
}

// Validate lists every problem with the credentials. prefix is prepended to field names.
func (c Credentials) Validate(prefix string) []FieldError {
	var errs []FieldError
	bad := func(field, format string, args ...any) {
		errs = append(errs, FieldError{prefix + field, fmt.Sprintf(format, args...)})
	}
	switch c.Version {
	case "1", "2c":
		if c.Community == "" {
			bad("community", "required for SNMP v%s", c.Version)
		}
		if c.Username != "" {
			bad("username", "only for SNMP v3 (version is %s)", c.Version)
		}
	case "3":
		if c.Community != "" {
			bad("community", "not used by SNMP v3: give a username and passphrases")
		}
		if c.Username == "" {
			bad("username", "required for SNMP v3")
		}
		level := c.level()
		if level == "" {
			bad("security_level", "%q is not one of noAuthNoPriv, authNoPriv, authPriv", c.SecurityLevel)
			break
		}
		if level != "noAuthNoPriv" {
			if _, ok := authProtocols[strings.ToUpper(c.AuthProtocol)]; !ok {
				bad("auth_protocol", "%q is not one of MD5, SHA, SHA-224, SHA-256, SHA-384, SHA-512", c.AuthProtocol)
			}
			if len(c.AuthPassphrase) < 8 {
				bad("auth_passphrase", "must be at least 8 characters (RFC 3414)")
			}
		}
		if level == "authPriv" {
			if _, ok := privProtocols[strings.ToUpper(c.PrivProtocol)]; !ok {
				bad("priv_protocol", "%q is not one of DES, AES, AES-192, AES-256, AES-192C, AES-256C", c.PrivProtocol)
			}
			if len(c.PrivPassphrase) < 8 {
				bad("priv_passphrase", "must be at least 8 characters (RFC 3414)")
			}
		}
	case "":
		bad("version", "required (1, 2c or 3)")
	default:
		bad("version", "%q is not one of 1, 2c, 3", c.Version)
	}
	return errs
}

// level normalises the security level; it defaults to authPriv when passphrases say so.
func (c Credentials) level() string {
	switch strings.ToLower(c.SecurityLevel) {
	case "noauthnopriv":
		return "noAuthNoPriv"
	case "authnopriv":
		return "authNoPriv"
	case "authpriv":
		return "authPriv"
	case "":
		switch {
		case c.PrivPassphrase != "":
			return "authPriv"
		case c.AuthPassphrase != "":
			return "authNoPriv"
		default:
			return "noAuthNoPriv"
		}
	}
	return ""
}

// Apply sets version and security on a gosnmp session. The credentials must be valid.
func (c Credentials) Apply(g *gosnmp.GoSNMP) {
	switch c.Version {
	case "1":
		g.Version = gosnmp.Version1
		g.Community = c.Community.Reveal()
	case "2c":
		g.Version = gosnmp.Version2c
		g.Community = c.Community.Reveal()
	case "3":
		g.Version = gosnmp.Version3
		g.SecurityModel = gosnmp.UserSecurityModel
		g.ContextName = c.ContextName
		g.MsgFlags, g.SecurityParameters = c.USM()
	}
}

// USM returns the v3 message flags and security parameters of the credentials.
func (c Credentials) USM() (gosnmp.SnmpV3MsgFlags, *gosnmp.UsmSecurityParameters) {
	usm := &gosnmp.UsmSecurityParameters{
		UserName:               c.Username,
		AuthenticationProtocol: gosnmp.NoAuth,
		PrivacyProtocol:        gosnmp.NoPriv,
	}
	flags := gosnmp.NoAuthNoPriv
	switch c.level() {
	case "authNoPriv":
		flags = gosnmp.AuthNoPriv
	case "authPriv":
		flags = gosnmp.AuthPriv
	}
	if flags != gosnmp.NoAuthNoPriv {
		usm.AuthenticationProtocol = authProtocols[strings.ToUpper(c.AuthProtocol)]
		usm.AuthenticationPassphrase = c.AuthPassphrase.Reveal()
	}
	if flags == gosnmp.AuthPriv {
		usm.PrivacyProtocol = privProtocols[strings.ToUpper(c.PrivProtocol)]
		usm.PrivacyPassphrase = c.PrivPassphrase.Reveal()
	}
	return flags, usm
}
