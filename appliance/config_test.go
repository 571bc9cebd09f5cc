package appliance

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

var update = flag.Bool("update", false, "rewrite the expected golden files")

// TestConfigGolden loads every testdata/config/<case>/in.yaml and compares the result — the
// configuration in force, or the list of problems — with expected.txt.
func TestConfigGolden(t *testing.T) {
	cases, err := filepath.Glob("testdata/config/*/in.yaml")
	if err != nil || len(cases) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	for _, in := range cases {
		dir := filepath.Dir(in)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			got := describe(LoadConfig(in))
			want := filepath.Join(dir, "expected.txt")
			if *update {
				if err := os.WriteFile(want, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			b, err := os.ReadFile(want)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(b) {
				t.Errorf("config %s:\n--- got\n%s\n--- want\n%s", in, got, b)
			}
		})
	}
}

func describe(cfg Config, err error) string {
	if err != nil {
		return "error:\n" + err.Error() + "\n"
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		return "marshal: " + err.Error()
	}
	return string(out)
}

func TestConfigNeverShowsSecrets(t *testing.T) {
	cfg, err := LoadConfig("testdata/config/issue-example/in.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out := describe(cfg, nil)
	for _, secret := range []string{"authpass123", "privpass123", "public\n"} {
		if strings.Contains(out, secret) {
			t.Errorf("the config dump shows %q:\n%s", secret, out)
		}
	}
	if cfg.Devices[1].Credentials.PrivPassphrase.Reveal() != "privpass123" {
		t.Fatal("the passphrase was not read")
	}

	// The alerting block's secrets: webhook HMAC key, Slack and Teams URLs, the PagerDuty
	// routing key, the SMTP password.
	cfg, err = LoadConfig("testdata/config/alerting/in.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out = describe(cfg, nil)
	for _, secret := range []string{"hmacsecret123", "slacksecret123", "teamssecret123", "0123456789abcdef0123456789abcdef", "mailsecret123"} {
		if strings.Contains(out, secret) {
			t.Errorf("the config dump shows %q:\n%s", secret, out)
		}
	}
	if r, _ := cfg.Alerting.Receiver("oncall-pager"); r.PagerDuty == nil || r.PagerDuty.RoutingKey.Reveal() != "0123456789abcdef0123456789abcdef" {
		t.Fatal("the routing key was not read")
	}
}

func FuzzParseConfig(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/config/*/in.yaml")
	for _, s := range seeds {
		b, _ := os.ReadFile(s)
		f.Add(b)
	}
	f.Add([]byte("devices: [{snmp: {version: 3}}]"))
	f.Add([]byte("a: &a [*a, *a]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig("fuzz.yaml", data)
		if err == nil && cfg.Site == "" {
			t.Fatal("accepted a config without a site")
		}
		if err != nil && !strings.Contains(err.Error(), "fuzz.yaml") {
			t.Fatalf("error does not name the file: %v", err)
		}
	})
}
