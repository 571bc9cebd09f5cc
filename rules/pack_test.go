package rules

import (
	"io/fs"
	"path/filepath"
	"testing"
)

// TestPackLoads loads the embedded default pack: no errors, no warnings, at least 30 rules
// that alert, every security rule with an ATT&CK technique and every alerting rule with a
// runbook, and every rule test file of the pack valid.
func TestPackLoads(t *testing.T) {
	set, errs := LoadPack()
	for _, e := range errs {
		t.Error(e)
	}
	if set == nil {
		t.Fatal("no set")
	}
	for _, w := range set.Warnings {
		t.Errorf("warning: %v", w)
	}
	alerting := 0
	for _, r := range set.Rules {
		if !r.Generate {
			continue
		}
		alerting++
		if r.Alert.Runbook == "" {
			t.Errorf("%s: alerting rule without a runbook", r.Name)
		}
		if r.Category == "security" {
			if len(r.Techniques) == 0 {
				t.Errorf("%s: security rule without an ATT&CK technique tag", r.Name)
			}
		}
	}
	if alerting < 30 {
		t.Errorf("%d alerting rules, want at least 30", alerting)
	}

	tests, err := fs.Glob(Pack(), "tests/*_test.yaml")
	if err != nil || len(tests) == 0 {
		t.Fatalf("no rule tests in the pack (%v)", err)
	}
	tested := map[string]bool{}
	for _, p := range tests {
		tf, errs := LoadTestFile(filepath.Join("pack", p))
		for _, e := range errs {
			t.Error(e)
		}
		if tf == nil {
			continue
		}
		for _, tc := range tf.Tests {
			for _, x := range tc.Expect {
				tested[x.Rule.Name] = true
			}
		}
	}
	for _, r := range set.Rules {
		if r.Generate && !tested[r.Name] {
			t.Errorf("%s: no test case expects an alert of it", r.Name)
		}
	}
}

// TestCentralPackLoads loads central's built-in pack: no errors or warnings, every alerting
// rule with a runbook and a test case that expects it.
func TestCentralPackLoads(t *testing.T) {
	set, errs := LoadCentralPack()
	for _, e := range errs {
		t.Error(e)
	}
	if set == nil {
		t.Fatal("no set")
	}
	for _, w := range set.Warnings {
		t.Errorf("warning: %v", w)
	}
	tested := map[string]bool{}
	for _, p := range []string{"central/tests/cross_site_test.yaml"} {
		tf, errs := LoadTestFile(p)
		for _, e := range errs {
			t.Error(e)
		}
		if tf != nil {
			for _, tc := range tf.Tests {
				for _, x := range tc.Expect {
					tested[x.Rule.Name] = true
				}
			}
		}
	}
	alerting := 0
	for _, r := range set.Rules {
		if !r.Generate {
			continue
		}
		alerting++
		if r.Alert.Runbook == "" {
			t.Errorf("%s: alerting rule without a runbook", r.Name)
		}
		if !tested[r.Name] {
			t.Errorf("%s: no test case expects an alert of it", r.Name)
		}
	}
	if alerting < 2 {
		t.Errorf("%d alerting rules, want the cross-site attacker and outage", alerting)
	}
}
