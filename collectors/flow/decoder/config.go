package decoder

import (
	"fmt"
	"net/netip"
	"time"
)

// Config bounds the decoder's state. Every limit is per exporter address unless it says
// otherwise; the Max*Total limits bound the sum over all exporters, because exporter
// addresses of UDP datagrams can be spoofed.
type Config struct {
	// TemplateTTL: a template (and the sampling state learnt from options data) not
	// refreshed for this long expires.
	TemplateTTL time.Duration `yaml:"template_ttl" json:"template_ttl"`
	// MaxTemplates per exporter address, over all versions and observation domains; more are
	// refused and counted. The same bound applies to remembered samplers.
	MaxTemplates int `yaml:"max_templates" json:"max_templates"`
	// MaxTemplateFields: templates with more fields (scopes included) are refused.
	MaxTemplateFields int `yaml:"max_template_fields" json:"max_template_fields"`
	// MaxExporters: exporter addresses with template, sampler or pending state.
	MaxExporters int `yaml:"max_exporters" json:"max_exporters"`
	// MaxTemplateFieldsTotal: the fields of all stored templates of all exporters.
	MaxTemplateFieldsTotal int `yaml:"max_template_fields_total" json:"max_template_fields_total"`
	// PendingBytes: data sets held per exporter while their template is unknown; the oldest
	// are evicted (and counted) to make room.
	PendingBytes int `yaml:"pending_bytes" json:"pending_bytes"`
	// PendingBytesTotal: held data sets of all exporters; past it new ones are dropped.
	PendingBytesTotal int `yaml:"pending_bytes_total" json:"pending_bytes_total"`
	// PendingAge: held data older than this is dropped and counted.
	PendingAge time.Duration `yaml:"pending_age" json:"pending_age"`
	// SamplingRate is the configured rate of an exporter that does not state one; nil or 0
	// means 1.
	SamplingRate func(exporter netip.Addr) uint32 `yaml:"-" json:"-"`
}

// DefaultConfig returns the defaults: templates live 30 minutes, 1024 templates of at most
// 512 fields per exporter, 4096 exporters and 4M template fields in all; 256 KiB of data held
// for at most a minute per exporter while its template is unknown, 32 MiB in all.
func DefaultConfig() Config {
	return Config{
		TemplateTTL:            30 * time.Minute,
		MaxTemplates:           1024,
		MaxTemplateFields:      512,
		MaxExporters:           4096,
		MaxTemplateFieldsTotal: 4 << 20,
		PendingBytes:           256 << 10,
		PendingBytesTotal:      32 << 20,
		PendingAge:             time.Minute,
	}
}

// FieldError is one problem of a Config, the field named by its YAML key.
type FieldError struct {
	Field string
	Msg   string
}

func (e FieldError) Error() string { return e.Field + ": " + e.Msg }

// Validate lists every problem of the configuration; prefix is prepended to the field names
// (the YAML path of the block holding it, "flow.decoder." for example).
func (c Config) Validate(prefix string) []FieldError {
	var errs []FieldError
	bad := func(field, format string, args ...any) {
		errs = append(errs, FieldError{prefix + field, fmt.Sprintf(format, args...)})
	}
	if c.TemplateTTL < time.Second {
		bad("template_ttl", "must be at least 1s (is %s)", c.TemplateTTL)
	}
	if c.MaxTemplates < 1 {
		bad("max_templates", "must be at least 1 (is %d)", c.MaxTemplates)
	}
	if c.MaxTemplateFields < 1 || c.MaxTemplateFields > 65535 {
		bad("max_template_fields", "must be between 1 and 65535 (is %d)", c.MaxTemplateFields)
	}
	if c.MaxExporters < 1 {
		bad("max_exporters", "must be at least 1 (is %d)", c.MaxExporters)
	}
	if c.MaxTemplateFieldsTotal < c.MaxTemplateFields {
		bad("max_template_fields_total", "must be at least max_template_fields (is %d)", c.MaxTemplateFieldsTotal)
	}
	if c.PendingBytes < 0 {
		bad("pending_bytes", "must not be negative (is %d)", c.PendingBytes)
	}
	if c.PendingBytesTotal < c.PendingBytes {
		bad("pending_bytes_total", "must be at least pending_bytes (is %d)", c.PendingBytesTotal)
	}
	if c.PendingAge < 0 {
		bad("pending_age", "must not be negative (is %s)", c.PendingAge)
	}
	return errs
}

// withDefaults fills the zero fields of c from DefaultConfig, so that a Config{} with only
// SamplingRate set works.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.TemplateTTL <= 0 {
		c.TemplateTTL = d.TemplateTTL
	}
	if c.MaxTemplates <= 0 {
		c.MaxTemplates = d.MaxTemplates
	}
	if c.MaxTemplateFields <= 0 {
		c.MaxTemplateFields = d.MaxTemplateFields
	}
	if c.MaxExporters <= 0 {
		c.MaxExporters = d.MaxExporters
	}
	if c.MaxTemplateFieldsTotal <= 0 {
		c.MaxTemplateFieldsTotal = d.MaxTemplateFieldsTotal
	}
	if c.PendingBytes <= 0 {
		c.PendingBytes = d.PendingBytes
	}
	if c.PendingBytesTotal <= 0 {
		c.PendingBytesTotal = d.PendingBytesTotal
	}
	if c.PendingAge <= 0 {
		c.PendingAge = d.PendingAge
	}
	return c
}
