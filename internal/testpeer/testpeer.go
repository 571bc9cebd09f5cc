// Package testpeer gates tests on real external programs (snmpd, snmptrap, chromium, …), the
// way Akvorado's CheckExternalService does: a test that needs a program skips when it is
// missing, and fails instead when WATCHFLOOR_REQUIRE_PEERS=1 (CI installs them and sets it).
package testpeer

import (
	"os"
	"os/exec"
	"testing"
)

// Required reports whether missing peers must fail tests rather than skip them.
func Required() bool { return os.Getenv("WATCHFLOOR_REQUIRE_PEERS") == "1" }

// Program returns the path of an external program, or ends the test: skipped when the
// program is absent, failed when peers are required.
func Program(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	Missing(t, name+" is not installed")
	return ""
}

// Root ends the test unless it runs as root (network namespaces need it).
func Root(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Missing(t, "needs root for network namespaces")
	}
}

// Missing skips the test, or fails it when peers are required.
func Missing(t testing.TB, why string) {
	t.Helper()
	if Required() {
		t.Fatalf("required peer missing: %s (WATCHFLOOR_REQUIRE_PEERS=1)", why)
	}
	t.Skip(why)
}
