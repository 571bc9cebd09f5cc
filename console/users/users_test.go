package users

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

const pw = "correct horse battery"

func open(t testing.TB, dir string, now func() time.Time) *Store {
	t.Helper()
	s, err := Open(dir, Options{Cost: bcrypt.MinCost, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAddLoginAndFile(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, nil)
	if err := s.Add("ann", Admin, []byte(pw)); err != nil {
		t.Fatal(err)
	}
	if err := s.Add("ann", Viewer, []byte(pw)); !errors.Is(err, ErrExists) {
		t.Fatalf("second ann: %v", err)
	}
	if _, err := s.Login("ann", []byte(pw)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, pw string }{{"ann", pw + "x"}, {"bob", pw}, {"ann", ""}} {
		if _, err := s.Login(c.name, []byte(c.pw)); !errors.Is(err, ErrBadCredentials) {
			t.Errorf("Login(%q): %v, want ErrBadCredentials", c.name, err)
		}
	}
	fi, err := os.Stat(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(filepath.Join(dir, FileName))
	if bytes.Contains(b, []byte(pw)) || bytes.Contains(b, []byte("horse")) {
		t.Fatal("the password is in the file")
	}
	if !bytes.Contains(b, []byte(`"hash": "bcrypt-sha256$2a$04$`)) {
		t.Fatalf("no bcrypt hash in the file:\n%s", b)
	}
	// Disabled users cannot log in.
	if err := s.SetDisabled("ann", true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Login("ann", []byte(pw)); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("disabled: %v", err)
	}
}

func TestLongPasswordsCountWhole(t *testing.T) {
	s := open(t, t.TempDir(), nil)
	long := strings.Repeat("a", 100) // bcrypt alone would ignore everything after byte 72
	if err := s.Add("ann", Analyst, []byte(long+"1")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Login("ann", []byte(long+"2")); err == nil {
		t.Fatal("a password differing after byte 72 was accepted")
	}
	if _, err := s.Login("ann", []byte(long+"1")); err != nil {
		t.Fatal(err)
	}
}

func TestValidation(t *testing.T) {
	s := open(t, t.TempDir(), nil)
	for _, c := range []struct {
		name, pw string
		role     Role
	}{
		{"", pw, Viewer}, {"a b", pw, Viewer}, {"a/b", pw, Viewer}, {strings.Repeat("a", 65), pw, Viewer},
		{"ann", "tiny1", Viewer}, {"ann", strings.Repeat("x", 1025), Viewer}, {"ann", "\xff\xfe" + pw, Viewer},
		{"ann", pw, "root"},
	} {
		err := s.Add(c.name, c.role, []byte(c.pw))
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("Add(%q, %q): %v, want ErrInvalid", c.name, c.role, err)
		}
		if err != nil && strings.Contains(err.Error(), c.pw) && len(c.pw) > 3 {
			t.Errorf("the error quotes the password: %v", err)
		}
	}
	for _, ok := range []string{"ann", "a.b-c_d@city.example", strings.Repeat("a", 64)} {
		if err := CheckName(ok); err != nil {
			t.Errorf("CheckName(%q): %v", ok, err)
		}
	}
	if err := CheckPassword([]byte("éééééééééééé")); err != nil { // 12 characters, 24 bytes
		t.Error(err)
	}
}

func TestTokens(t *testing.T) {
	now := time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	dir := t.TempDir()
	s := open(t, dir, clock)
	if err := s.Add("ann", Analyst, []byte(pw)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.NewToken("ann", "x", Admin, time.Time{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("an admin token for an analyst: %v", err)
	}
	secret, tok, err := s.NewToken("ann", "wall 3", Viewer, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, TokenPrefix) || len(secret) != len(TokenPrefix)+43 {
		t.Fatalf("secret %q", secret)
	}
	b, _ := os.ReadFile(filepath.Join(dir, FileName))
	if bytes.Contains(b, []byte(secret)) || bytes.Contains(b, []byte(secret[3:])) {
		t.Fatal("the token is in the file")
	}
	u, got, err := s.Authenticate(secret)
	if err != nil || u.Name != "ann" || got.Role != Viewer || got.ID != tok.ID {
		t.Fatalf("Authenticate: %v %+v %+v", err, u, got)
	}
	for _, bad := range []string{"", "wf_", secret + "x", strings.ToUpper(secret), "Bearer " + secret} {
		if _, _, err := s.Authenticate(bad); !errors.Is(err, ErrBadToken) {
			t.Errorf("Authenticate(%q): %v", bad, err)
		}
	}
	// Last use: in memory until flushed.
	ts, _ := s.Tokens("ann")
	if !ts[0].LastUsed.Equal(now) {
		t.Errorf("last used %v in memory, want %v", ts[0].LastUsed, now)
	}
	if bytes.Contains(b, []byte("last_used")) {
		t.Error("last use written before the flush")
	}
	if err := s.FlushLastUsed(); err != nil {
		t.Fatal(err)
	}
	s2 := open(t, dir, clock)
	ts, _ = s2.Tokens("ann")
	if len(ts) != 1 || !ts[0].LastUsed.Equal(now) || ts[0].Label != "wall 3" {
		t.Fatalf("after flush: %+v", ts)
	}
	// Expiry.
	now = now.Add(time.Hour)
	if _, _, err := s.Authenticate(secret); !errors.Is(err, ErrBadToken) {
		t.Fatalf("expired token: %v", err)
	}
	now = now.Add(-time.Minute)
	// Revocation, seen by another Store of the same directory (another process).
	if _, err := s2.Revoke(tok.ID); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Second) // past the reload interval
	if _, _, err := s.Authenticate(secret); !errors.Is(err, ErrBadToken) {
		t.Fatalf("revoked token: %v", err)
	}
	if _, err := s.Revoke(tok.ID); !errors.Is(err, ErrTokenNotFound) {
		t.Fatalf("second revoke: %v", err)
	}
}

// TestConcurrentWriters: two Stores of one directory (the CLI and the appliance) adding
// users at the same time lose none.
func TestConcurrentWriters(t *testing.T) {
	dir := t.TempDir()
	a, b := open(t, dir, nil), open(t, dir, nil)
	var wg sync.WaitGroup
	for i := range 20 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			if err := s.Add("u"+string(rune('a'+i)), Viewer, []byte(pw)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := open(t, dir, nil).Len(); n != 20 {
		t.Fatalf("%d users, want 20", n)
	}
}

func TestCorruptFile(t *testing.T) {
	good := func() string {
		dir := t.TempDir()
		s := open(t, dir, nil)
		s.Add("ann", Admin, []byte(pw))
		s.NewToken("ann", "", Viewer, time.Time{})
		b, _ := os.ReadFile(filepath.Join(dir, FileName))
		return string(b)
	}()
	var d map[string]any
	if err := json.Unmarshal([]byte(good), &d); err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(string) string{
		"not json":      func(string) string { return "{" },
		"trailing":      func(s string) string { return s + "{}" },
		"version":       func(s string) string { return strings.Replace(s, `"version": 1`, `"version": 2`, 1) },
		"unknown field": func(s string) string { return strings.Replace(s, `"version": 1`, `"version": 1, "x": 1`, 1) },
		"bad role":      func(s string) string { return strings.Replace(s, `"role": "admin"`, `"role": "root"`, 1) },
		"token above user": func(s string) string {
			s = strings.Replace(s, `"role": "admin"`, `"role": "placeholder"`, 1)
			s = strings.Replace(s, `"role": "viewer"`, `"role": "admin"`, 1)
			return strings.Replace(s, `"role": "placeholder"`, `"role": "viewer"`, 1)
		},
		"bad hash":  func(s string) string { return strings.Replace(s, `bcrypt-sha256$`, `md5$`, 1) },
		"null user": func(s string) string { return strings.Replace(s, `"users": [`, `"users": [null,`, 1) },
		"bad name":  func(s string) string { return strings.Replace(s, `"name": "ann"`, `"name": "a n"`, 1) },
		"duplicates": func(s string) string {
			return strings.Replace(s, `"users": [`, `"users": [{"name":"ann","role":"viewer","hash":"x"},`, 1)
		},
	} {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, FileName), []byte(mutate(good)), 0o600)
		_, err := Open(dir, Options{Cost: bcrypt.MinCost})
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
}

// TestReloadKeepsLastGood: a file broken by hand under a running console keeps the users
// it had.
func TestReloadKeepsLastGood(t *testing.T) {
	now := time.Unix(1e9, 0)
	dir := t.TempDir()
	s := open(t, dir, func() time.Time { return now })
	s.Add("ann", Viewer, []byte(pw))
	os.WriteFile(filepath.Join(dir, FileName), []byte("garbage"), 0o600)
	now = now.Add(2 * time.Second)
	if _, ok := s.Get("ann"); !ok {
		t.Fatal("ann forgotten after a corrupt rewrite")
	}
	if err := s.Add("bob", Viewer, []byte(pw)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("writing over a corrupt file: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"version":1,"users":[]}`))
	f.Add([]byte(`{"version":1,"users":[{"name":"ann","role":"admin","hash":"bcrypt-sha256$2a$04$0123456789012345678901234567890123456789012345678901a","created":"2026-01-01T00:00:00Z","password_set":"2026-01-01T00:00:00Z","tokens":[{"id":"t-0123456789ab","role":"viewer","sha256":"` + strings.Repeat("a", 64) + `","created":"2026-01-01T00:00:00Z"}]}]}`))
	f.Add([]byte(`{"version":1,"users":[null]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := parse(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error not ErrCorrupt: %v", err)
			}
			return
		}
		// What loads writes and loads again the same.
		out, st2, err := st.marshal()
		if err != nil {
			t.Fatalf("a loaded file does not write: %v", err)
		}
		if len(st2.Users) != len(st.Users) {
			t.Fatalf("users %d → %d", len(st.Users), len(st2.Users))
		}
		if _, err := parse(out); err != nil {
			t.Fatal(err)
		}
	})
}
