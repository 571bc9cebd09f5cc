package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/watchfloor/watchfloor/console/users"
)

// TestUserCommand runs the user subcommands end to end on a temporary data directory and
// checks the file with the users package, as the console would read it.
func TestUserCommand(t *testing.T) {
	dir := t.TempDir()
	user := func(stdin string, args ...string) (int, string, string) {
		t.Helper()
		var out, errb bytes.Buffer
		code := userCmd(append(args, "-data", dir), strings.NewReader(stdin), &out, &errb)
		return code, out.String(), errb.String()
	}
	const pw = "the first admin's password"
	if code, out, errs := user(pw+"\n", "add", "ann", "-role", "admin", "-password-stdin"); code != 0 || !strings.Contains(out, "ann added (admin)") {
		t.Fatalf("add: %d %s %s", code, out, errs)
	}
	if code, _, errs := user("short\n", "add", "bob", "-role", "analyst"); code != 1 || !strings.Contains(errs, "shorter than 12") {
		t.Errorf("short password: %d %s", code, errs)
	}
	if code, _, _ := user(pw+"\n", "add", "bob", "-role", "root"); code != 2 {
		t.Errorf("bad role: %d", code)
	}
	if code, _, _ := user(pw+"\n", "add", "ann", "-role", "viewer"); code != 1 {
		t.Errorf("second ann: %d", code)
	}
	code, tok, errs := user("", "token", "ann", "-role", "display", "-label", "wall 2", "-expires", "720h")
	tok = strings.TrimSpace(tok)
	if code != 0 || !strings.HasPrefix(tok, "wf_") || !strings.Contains(errs, "shown once") {
		t.Fatalf("token: %d %q %s", code, tok, errs)
	}
	code, list, _ := user("", "list")
	if code != 0 || !strings.Contains(list, "ann") || !strings.Contains(list, "admin") {
		t.Errorf("list: %s", list)
	}
	code, tokens, _ := user("", "tokens", "ann")
	if code != 0 || !strings.Contains(tokens, "wall 2") || !strings.Contains(tokens, "viewer") || strings.Contains(tokens, tok) {
		t.Errorf("tokens: %s", tokens)
	}

	// What the console sees.
	s, err := users.Open(dir, users.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Login("ann", []byte(pw)); err != nil {
		t.Fatal(err)
	}
	u, tk, err := s.Authenticate(tok)
	if err != nil || u.Name != "ann" || tk.Role != users.Viewer || tk.Expires.Before(time.Now().Add(719*time.Hour)) {
		t.Fatalf("token: %v %+v", err, tk)
	}
	b, _ := os.ReadFile(filepath.Join(dir, users.FileName))
	if bytes.Contains(b, []byte(pw)) || bytes.Contains(b, []byte(tok)) {
		t.Fatal("a secret is in users.json")
	}

	if code, _, _ := user("a new password for ann\n", "passwd", "ann", "-password-stdin"); code != 0 {
		t.Errorf("passwd: %d", code)
	}
	// A running console re-reads the file at most once a second.
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, err := s.Login("ann", []byte(pw)); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the old password still works")
		}
	}
	if code, out, _ := user("", "revoke", tk.ID); code != 0 || !strings.Contains(out, "revoked") {
		t.Errorf("revoke: %d %s", code, out)
	}
	if code, _, _ := user("", "revoke", tk.ID); code != 1 {
		t.Errorf("second revoke: %d", code)
	}
	if code, _, _ := user("", "del", "ann"); code != 0 {
		t.Errorf("del: %d", code)
	}
	if code, _, _ := user("", "del", "ann"); code != 1 {
		t.Errorf("second del: %d", code)
	}
	if code, _, _ := user(""); code != 2 {
		t.Errorf("no subcommand: %d", code)
	}
	// Through the binary's dispatch too.
	var out, errb bytes.Buffer
	if code := run([]string{"user", "list", "-data", dir}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "NAME") {
		t.Errorf("run user list: %d %s %s", code, out.String(), errb.String())
	}
}
