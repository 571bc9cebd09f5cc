package packet

import (
	"strings"
	"testing"
	"time"
)

func TestDefaultConfigValid(t *testing.T) {
	if errs := DefaultConfig().Validate(); len(errs) != 0 {
		t.Fatal(errs)
	}
	c := DefaultConfig()
	if c.SampleRate != 1 || c.SnapLen != 512 || !c.Promiscuous || c.Workers < 1 || c.Workers > 8 || c.BlockSize != 1<<20 || c.NumBlocks != 64 {
		t.Errorf("defaults %+v", c)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want []string // "field: part of the message"
	}{
		{"bad filter", func(c *Config) { c.Filter = "tcp port http" }, []string{"filter: at \"http\""}},
		{"interfaces", func(c *Config) { c.Interfaces = []string{"eth1", "", "eth1", "averyveryverylongname"} },
			[]string{"interfaces[1]: empty", "interfaces[2]: \"eth1\" is already interfaces[0]", "interfaces[3]: \"averyveryverylongname\" is longer"}},
		{"numbers", func(c *Config) { c.SampleRate, c.SnapLen, c.Workers = 0, 10, 9 },
			[]string{"sample_rate: must be at least 1", "snap_len: must be between 64", "workers: must be between 1 and 8"}},
		{"ring", func(c *Config) { c.BlockSize, c.NumBlocks = 5000, 0 }, []string{"block_size: must be a positive multiple", "num_blocks: must be at least 1"}},
		{"ring too big", func(c *Config) { c.NumBlocks = 2048 }, []string{"num_blocks: block_size × num_blocks"}},
		{"decode", func(c *Config) { c.Decode.Interval = -time.Second }, []string{"decode.interval"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mod(&c)
			errs := c.Validate()
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			for _, w := range tc.want {
				found := false
				for _, g := range got {
					found = found || strings.HasPrefix(g, w) || strings.Contains(g, w)
				}
				if !found {
					t.Errorf("no %q in %q", w, got)
				}
			}
			if len(got) != len(tc.want) {
				t.Errorf("%d errors %q, want %d", len(got), got, len(tc.want))
			}
		})
	}
}
