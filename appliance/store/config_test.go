package store

import (
	"reflect"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	if errs := DefaultConfig().Validate(); len(errs) != 0 {
		t.Fatalf("DefaultConfig is invalid: %v", errs)
	}
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   []string // fields
	}{
		{"zero retention", func(c *Config) { c.Retention = Retention{} },
			[]string{"retention.events", "retention.raw", "retention.rollup_5m", "retention.rollup_1h",
				"retention.flows_1m", "retention.flows_1h", "retention.alerts", "retention.notifications", "retention.audit"}},
		{"negative flows_1h", func(c *Config) { c.Retention.Flows1h = -time.Hour }, []string{"retention.flows_1h"}},
		{"negative raw", func(c *Config) { c.Retention.Raw = -time.Hour }, []string{"retention.raw"}},
		{"a commit interval is fine", func(c *Config) { c.CommitInterval = 5 * time.Millisecond }, nil},
		{"negative commit interval", func(c *Config) { c.CommitInterval = -1 }, []string{"commit_interval"}},
		{"long commit interval", func(c *Config) { c.CommitInterval = time.Minute }, []string{"commit_interval"}},
		{"max batch 0", func(c *Config) { c.MaxBatch = 0 }, []string{"max_batch"}},
		{"max batch 1 is fine", func(c *Config) { c.MaxBatch = 1 }, nil},
		{"huge max batch", func(c *Config) { c.MaxBatch = 1 << 30 }, []string{"max_batch"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.change(&c)
			var got []string
			for _, e := range c.Validate() {
				got = append(got, e.Field)
				if e.Msg == "" || e.Error() != e.Field+": "+e.Msg {
					t.Errorf("FieldError %#v prints %q", e, e.Error())
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("fields %v, want %v", got, tc.want)
			}
		})
	}
}
