package decoder

import (
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	if errs := DefaultConfig().Validate("flow.decoder."); len(errs) != 0 {
		t.Fatalf("defaults invalid: %v", errs)
	}
	for _, tc := range []struct {
		name  string
		edit  func(*Config)
		field string
	}{
		{"ttl", func(c *Config) { c.TemplateTTL = time.Millisecond }, "flow.decoder.template_ttl"},
		{"templates", func(c *Config) { c.MaxTemplates = 0 }, "flow.decoder.max_templates"},
		{"fields", func(c *Config) { c.MaxTemplateFields = 70000 }, "flow.decoder.max_template_fields"},
		{"exporters", func(c *Config) { c.MaxExporters = -1 }, "flow.decoder.max_exporters"},
		{"fields total", func(c *Config) { c.MaxTemplateFieldsTotal = 10 }, "flow.decoder.max_template_fields_total"},
		{"pending", func(c *Config) { c.PendingBytes = -1 }, "flow.decoder.pending_bytes"},
		{"pending total", func(c *Config) { c.PendingBytesTotal = 1 }, "flow.decoder.pending_bytes_total"},
		{"pending age", func(c *Config) { c.PendingAge = -time.Second }, "flow.decoder.pending_age"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.edit(&c)
			errs := c.Validate("flow.decoder.")
			if len(errs) != 1 || errs[0].Field != tc.field {
				t.Errorf("got %v, want one error on %s", errs, tc.field)
			}
		})
	}
	// Zero fields take the defaults.
	c, d := (Config{}).withDefaults(), DefaultConfig()
	if c.TemplateTTL != d.TemplateTTL || c.MaxTemplates != d.MaxTemplates || c.MaxTemplateFields != d.MaxTemplateFields ||
		c.MaxExporters != d.MaxExporters || c.MaxTemplateFieldsTotal != d.MaxTemplateFieldsTotal ||
		c.PendingBytes != d.PendingBytes || c.PendingBytesTotal != d.PendingBytesTotal || c.PendingAge != d.PendingAge {
		t.Errorf("withDefaults: %+v", c)
	}
}
