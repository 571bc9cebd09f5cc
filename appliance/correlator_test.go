package appliance

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/watchfloor/watchfloor/correlator"
	"github.com/watchfloor/watchfloor/correlator/alerts"
)

const goodRule = `title: Telnet
name: telnet
logsource: {category: flow}
detection:
  selection: {dst_port: 23}
  condition: selection
`

// A rules directory that breaks is not loaded: the error names the file, line and field,
// and the running set stays; a fixed one replaces it.
func TestReloadKeepsLastGoodSet(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) {
		if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(goodRule)
	set, err := loadRules(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := alerts.New(alerts.DefaultConfig(), alerts.NewMemStore(), time.Now, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	e, err := correlator.New(correlator.DefaultConfig(), set, m, nil, nil)
	if err != nil {
		t.Fatal(err)
	}

	write(strings.Replace(goodRule, "dst_port: 23", "dst_prot: 23", 1))
	err = reloadRules(e, dir)
	if err == nil || !strings.Contains(err.Error(), "rules.yaml:5:") || !strings.Contains(err.Error(), "dst_prot") {
		t.Fatalf("broken rules: %v, want an error naming rules.yaml:5 and the field", err)
	}
	if got := e.Set(); got != set {
		t.Fatal("a broken set replaced the running one")
	}

	write(goodRule + "---\n" + strings.NewReplacer("Telnet", "FTP", "telnet", "ftp", "23", "21").Replace(goodRule))
	if err := reloadRules(e, dir); err != nil {
		t.Fatal(err)
	}
	if n := len(e.Set().Rules); n != 2 {
		t.Fatalf("after the fix, %d rules running, want 2", n)
	}
	if rulesStamp(dir) == "" {
		t.Fatal("no stamp")
	}
}

// SIGHUP (Reload) reads the rules directory again at once, not at the watcher's next look;
// a broken set is refused and the running one stays.
func TestReloadReadsRules(t *testing.T) {
	dir := t.TempDir()
	rulesDir := filepath.Join(dir, "rules")
	if err := os.MkdirAll(rulesDir, 0o700); err != nil {
		t.Fatal(err)
	}
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(rulesDir, name), []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("rules.yaml", goodRule)
	cfgPath := filepath.Join(dir, "watchfloor.yaml")
	cfg := "site: lab\nconsole: {listen: \"127.0.0.1:0\"}\ncorrelator: {rules: \"" + rulesDir + "\"}\n"
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runAppliance(t, cfgPath, filepath.Join(dir, "data"))
	defer r.stop()
	if n := len(r.a.engine.Set().Rules); n != 1 {
		t.Fatalf("%d rules at start", n)
	}
	write("more.yaml", strings.NewReplacer("Telnet", "FTP", "telnet", "ftp", "23", "21").Replace(goodRule))
	r.a.Reload()
	deadline := time.Now().Add(2 * time.Second) // the directory watcher looks every 5 s
	for len(r.a.engine.Set().Rules) != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("after SIGHUP: %d rules, want 2", len(r.a.engine.Set().Rules))
		}
		time.Sleep(20 * time.Millisecond)
	}
	running := r.a.engine.Set()
	write("broken.yaml", strings.Replace(goodRule, "dst_port: 23", "dst_prot: 23", 1))
	r.a.Reload()
	time.Sleep(300 * time.Millisecond)
	if r.a.engine.Set() != running {
		t.Fatal("a broken rules directory replaced the running set on SIGHUP")
	}
}
