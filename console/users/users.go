// Package users keeps the console's local users and their API tokens in one file of the
// data directory (users.json, mode 0600).
//
// The file is the only state: the running console and the `watchfloor user` command both
// change it, each under an exclusive flock of users.lock, re-reading the file under the lock
// before they change it, and writing it whole to a temporary file that is renamed over the
// old one. A Store notices changes made by another process on use (it looks at the file's
// identity, size and time at most once a second).
//
// Passwords are never kept: only a bcrypt hash of their SHA-256 (so that passwords longer
// than bcrypt's 72 bytes count whole). API tokens are shown once when made; only their
// SHA-256 is kept.
package users

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

// File names in the directory of a Store.
const (
	FileName = "users.json"
	LockName = "users.lock"
)

// Limits.
const (
	MinPasswordLen  = 12   // characters
	MaxPasswordLen  = 1024 // bytes
	MaxNameLen      = 64
	MaxLabelLen     = 64
	MaxUsers        = 10000
	MaxTokensOfUser = 100
	maxFileSize     = 16 << 20
	DefaultCost     = 12
	TokenPrefix     = "wf_"
	tokenBytes      = 32
	hashPrefix      = "bcrypt-sha256" // then a bcrypt hash ($2a$…) of base64(SHA-256(domain, password))
	passwordDomain  = "watchfloor-password\x00"
	reloadEvery     = time.Second
	// FlushEvery is how often the console should call FlushLastUsed.
	FlushEvery = time.Minute
)

// Errors callers branch on.
var (
	ErrNotFound       = errors.New("no such user")
	ErrExists         = errors.New("user already exists")
	ErrBadCredentials = errors.New("wrong user name or password")
	ErrBadToken       = errors.New("invalid, expired or revoked token")
	ErrTokenNotFound  = errors.New("no such token")
	ErrInvalid        = errors.New("invalid")
)

// Role is what a user or a token may do: viewer < analyst < admin.
type Role string

// The roles.
const (
	Viewer  Role = "viewer"
	Analyst Role = "analyst"
	Admin   Role = "admin"
)

// Rank orders the roles: 1 viewer, 2 analyst, 3 admin; 0 for anything else.
func (r Role) Rank() int {
	switch r {
	case Viewer:
		return 1
	case Analyst:
		return 2
	case Admin:
		return 3
	}
	return 0
}

// ParseRole reads viewer (or display), analyst or admin.
func ParseRole(s string) (Role, error) {
	switch s {
	case "viewer", "display":
		return Viewer, nil
	case "analyst", "admin":
		return Role(s), nil
	}
	return "", fmt.Errorf("%w: role %q (want viewer, display, analyst or admin)", ErrInvalid, clip(s))
}

// MinRole is the lesser of two roles.
func MinRole(a, b Role) Role {
	if a.Rank() <= b.Rank() {
		return a
	}
	return b
}

// User is a user as callers see it: never the hash.
type User struct {
	Name     string    `json:"name"`
	Role     Role      `json:"role"`
	Created  time.Time `json:"created"`
	Disabled bool      `json:"disabled"`
	// PasswordSet is when the password was last set: sessions older than it are void.
	PasswordSet time.Time `json:"password_set"`
	Tokens      int       `json:"tokens"`
}

// Token is an API token as callers see it: never the secret or its hash.
type Token struct {
	ID       string    `json:"id"`
	User     string    `json:"user"`
	Label    string    `json:"label,omitempty"`
	Role     Role      `json:"role"`
	Created  time.Time `json:"created"`
	LastUsed time.Time `json:"last_used,omitzero"`
	Expires  time.Time `json:"expires,omitzero"`
}

// Options tune a Store.
type Options struct {
	Cost int              // bcrypt cost; 0: DefaultCost (tests use bcrypt.MinCost)
	Now  func() time.Time // nil: time.Now
	Log  *slog.Logger     // nil: discard
}

// Store is the users file of a directory.
type Store struct {
	dir, path, lockPath string
	cost                int
	now                 func() time.Time
	log                 *slog.Logger

	mu        sync.Mutex
	st        *state
	stamp     fileStamp
	checked   time.Time
	used      map[string]time.Time // token ID → last use not yet written
	dummy     []byte               // a hash to compare unknown users against
	dummyOnce sync.Once
}

// fileStamp identifies one version of the file.
type fileStamp struct {
	ok        bool
	dev, ino  uint64
	size      int64
	mtimeNano int64
}

func stampOf(fi os.FileInfo) fileStamp {
	s := fileStamp{ok: true, size: fi.Size(), mtimeNano: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.dev, s.ino = uint64(st.Dev), uint64(st.Ino)
	}
	return s
}

// Open reads the users file of dir (a missing file is no users yet). It creates nothing
// until the first change.
func Open(dir string, opts Options) (*Store, error) {
	if opts.Cost == 0 {
		opts.Cost = DefaultCost
	}
	if opts.Cost < bcrypt.MinCost || opts.Cost > bcrypt.MaxCost {
		return nil, fmt.Errorf("users: bcrypt cost %d out of range %d..%d", opts.Cost, bcrypt.MinCost, bcrypt.MaxCost)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	s := &Store{
		dir: dir, path: filepath.Join(dir, FileName), lockPath: filepath.Join(dir, LockName),
		cost: opts.Cost, now: opts.Now, log: opts.Log.With("component", "users"),
		used: make(map[string]time.Time),
	}
	st, stamp, err := s.read()
	if err != nil {
		return nil, err
	}
	s.st, s.stamp, s.checked = st, stamp, s.now()
	return s, nil
}

// Dir is the directory of the users file.
func (s *Store) Dir() string { return s.dir }

// Path is the users file.
func (s *Store) Path() string { return s.path }

// read loads the file; a missing one is an empty state.
func (s *Store) read() (*state, fileStamp, error) {
	f, err := os.Open(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return newState(), fileStamp{}, nil
	}
	if err != nil {
		return nil, fileStamp{}, fmt.Errorf("users: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fileStamp{}, fmt.Errorf("users: %w", err)
	}
	if fi.Size() > maxFileSize {
		return nil, fileStamp{}, fmt.Errorf("users: %s: %d bytes, more than the %d allowed", s.path, fi.Size(), maxFileSize)
	}
	b := make([]byte, fi.Size())
	if _, err := f.ReadAt(b, 0); err != nil && fi.Size() > 0 {
		return nil, fileStamp{}, fmt.Errorf("users: read %s: %w", s.path, err)
	}
	st, err := parse(b)
	if err != nil {
		return nil, fileStamp{}, fmt.Errorf("users: %s: %w", s.path, err)
	}
	return st, stampOf(fi), nil
}

// refresh re-reads the file when it changed, at most once a second. A file that became
// unreadable or corrupt keeps the last good state, and says so in the log.
func (s *Store) refresh() {
	now := s.now()
	if now.Sub(s.checked) < reloadEvery && now.After(s.checked) {
		return
	}
	s.checked = now
	var cur fileStamp
	if fi, err := os.Stat(s.path); err == nil {
		cur = stampOf(fi)
	} else if !errors.Is(err, os.ErrNotExist) {
		s.log.Error("users file unreadable; keeping the users known", "err", err)
		return
	}
	if cur == s.stamp {
		return
	}
	st, stamp, err := s.read()
	if err != nil {
		s.log.Error("users file not reloaded; keeping the users known", "err", err)
		return
	}
	s.st, s.stamp = st, stamp
	s.log.Info("users file reloaded", "users", len(st.Users))
}

// update changes the file under its lock: it re-reads the file, applies fn, and writes the
// result atomically. fn may change st; an error leaves the file as it was.
func (s *Store) update(fn func(st *state) error) error {
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	st, _, err := s.read()
	if err != nil {
		return err
	}
	if err := fn(st); err != nil {
		return err
	}
	b, nst, err := st.marshal()
	if err != nil {
		return fmt.Errorf("users: encode: %w", err)
	}
	if err := writeAtomic(s.path, b); err != nil {
		return err
	}
	fi, err := os.Stat(s.path)
	if err != nil {
		return fmt.Errorf("users: %w", err)
	}
	s.mu.Lock()
	s.st, s.stamp, s.checked = nst, stampOf(fi), s.now()
	s.mu.Unlock()
	return nil
}

// lock takes the exclusive flock of the directory's lock file.
func (s *Store) lock() (func(), error) {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	f, err := os.OpenFile(s.lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("users: lock: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("users: lock %s: %w", s.lockPath, err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// writeAtomic writes b to path through a synced temporary file renamed over it.
func writeAtomic(path string, b []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("users: write: %w", err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("users: write: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		return fmt.Errorf("users: write: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("users: write: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("users: write: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("users: write: %w", err)
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// WriteFileAtomic writes b to path (mode 0600) through a synced temporary file renamed over
// it, for the console's other small files.
func WriteFileAtomic(path string, b []byte) error { return writeAtomic(path, b) }

// CheckName accepts 1..64 letters, digits and - _ . @.
func CheckName(name string) error {
	if name == "" || len(name) > MaxNameLen {
		return fmt.Errorf("%w: user name must have 1 to %d characters", ErrInvalid, MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '@') {
			return fmt.Errorf("%w: user name %q: only letters, digits and - _ . @", ErrInvalid, clip(name))
		}
	}
	return nil
}

// CheckPassword accepts a password of at least 12 characters and at most 1024 bytes of
// valid UTF-8. Its errors never quote the password.
func CheckPassword(pw []byte) error {
	switch {
	case len(pw) > MaxPasswordLen:
		return fmt.Errorf("%w: password longer than %d bytes", ErrInvalid, MaxPasswordLen)
	case !utf8.Valid(pw):
		return fmt.Errorf("%w: password is not valid UTF-8", ErrInvalid)
	case utf8.RuneCount(pw) < MinPasswordLen:
		return fmt.Errorf("%w: password shorter than %d characters", ErrInvalid, MinPasswordLen)
	}
	return nil
}

// checkLabel accepts up to 64 bytes of UTF-8 without control or format characters.
func checkLabel(l string) error {
	if len(l) > MaxLabelLen || !utf8.ValidString(l) ||
		strings.ContainsFunc(l, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }) {
		return fmt.Errorf("%w: token label: at most %d bytes, no control characters", ErrInvalid, MaxLabelLen)
	}
	return nil
}

// clip shortens s for an error message, keeping it printable.
func clip(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}

// preHash is what bcrypt sees of a password: it counts every byte and holds no NUL.
func preHash(pw []byte) []byte {
	h := sha256.New()
	h.Write([]byte(passwordDomain))
	h.Write(pw)
	return []byte(base64.StdEncoding.EncodeToString(h.Sum(nil)))
}

func (s *Store) hash(pw []byte) (string, error) {
	h, err := bcrypt.GenerateFromPassword(preHash(pw), s.cost)
	if err != nil {
		return "", fmt.Errorf("users: hash: %w", err)
	}
	return hashPrefix + string(h), nil
}

// dummyHash is a hash unknown users are compared against, so that they take as long as
// known ones.
func (s *Store) dummyHash() []byte {
	s.dummyOnce.Do(func() {
		var b [16]byte
		rand.Read(b[:])
		h, err := bcrypt.GenerateFromPassword(preHash(b[:]), s.cost)
		if err == nil {
			s.dummy = h
		}
	})
	return s.dummy
}

// Add creates a user.
func (s *Store) Add(name string, role Role, password []byte) error {
	if err := CheckName(name); err != nil {
		return err
	}
	if role.Rank() == 0 {
		return fmt.Errorf("%w: role %q", ErrInvalid, clip(string(role)))
	}
	if err := CheckPassword(password); err != nil {
		return err
	}
	h, err := s.hash(password)
	if err != nil {
		return err
	}
	now := s.now().UTC().Truncate(time.Second)
	return s.update(func(st *state) error {
		if _, ok := st.user(name); ok {
			return fmt.Errorf("users: %q: %w", name, ErrExists)
		}
		if len(st.Users) >= MaxUsers {
			return fmt.Errorf("users: %w: at most %d users", ErrInvalid, MaxUsers)
		}
		st.Users = append(st.Users, &fileUser{Name: name, Role: role, Hash: h, Created: now, PasswordSet: now})
		return nil
	})
}

// SetPassword replaces a user's password; the user's sessions made before end.
func (s *Store) SetPassword(name string, password []byte) error {
	if err := CheckPassword(password); err != nil {
		return err
	}
	h, err := s.hash(password)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	return s.update(func(st *state) error {
		u, ok := st.user(name)
		if !ok {
			return fmt.Errorf("users: %q: %w", clip(name), ErrNotFound)
		}
		u.Hash, u.PasswordSet = h, now
		return nil
	})
}

// SetDisabled disables (or enables again) a user: a disabled user cannot log in, and the
// user's sessions and tokens stop working.
func (s *Store) SetDisabled(name string, disabled bool) error {
	return s.update(func(st *state) error {
		u, ok := st.user(name)
		if !ok {
			return fmt.Errorf("users: %q: %w", clip(name), ErrNotFound)
		}
		u.Disabled = disabled
		return nil
	})
}

// Delete removes a user and the user's tokens.
func (s *Store) Delete(name string) error {
	return s.update(func(st *state) error {
		i := slices.IndexFunc(st.Users, func(u *fileUser) bool { return u.Name == name })
		if i < 0 {
			return fmt.Errorf("users: %q: %w", clip(name), ErrNotFound)
		}
		st.Users = slices.Delete(st.Users, i, i+1)
		return nil
	})
}

// List returns the users, by name.
func (s *Store) List() []User {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refresh()
	out := make([]User, 0, len(s.st.Users))
	for _, u := range s.st.Users {
		out = append(out, u.view())
	}
	slices.SortFunc(out, func(a, b User) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Len is the number of users.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refresh()
	return len(s.st.Users)
}

// Get returns a user.
func (s *Store) Get(name string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refresh()
	u, ok := s.st.user(name)
	if !ok {
		return User{}, false
	}
	return u.view(), true
}

// Login checks a user's password. It answers ErrBadCredentials for an unknown user, a
// wrong password or a disabled user, after about as long in each case.
func (s *Store) Login(name string, password []byte) (User, error) {
	s.mu.Lock()
	s.refresh()
	u, ok := s.st.user(name)
	var view User
	var hash []byte
	if ok {
		view, hash = u.view(), []byte(strings.TrimPrefix(u.Hash, hashPrefix))
	}
	s.mu.Unlock()
	if len(password) > MaxPasswordLen {
		password = password[:MaxPasswordLen] // still compared, still refused below
		ok = false
	}
	if !ok {
		hash = s.dummyHash()
	}
	err := bcrypt.CompareHashAndPassword(hash, preHash(password))
	if !ok || err != nil || view.Disabled {
		return User{}, ErrBadCredentials
	}
	return view, nil
}

// NewToken makes an API token for a user: role at most the user's, label for people,
// expires zero for none. It returns the secret, which is not kept and cannot be shown again.
func (s *Store) NewToken(name, label string, role Role, expires time.Time) (string, Token, error) {
	if err := checkLabel(label); err != nil {
		return "", Token{}, err
	}
	if role.Rank() == 0 {
		return "", Token{}, fmt.Errorf("%w: role %q", ErrInvalid, clip(string(role)))
	}
	now := s.now().UTC().Truncate(time.Second)
	if !expires.IsZero() && !expires.After(now) {
		return "", Token{}, fmt.Errorf("%w: the token would expire at once", ErrInvalid)
	}
	var raw [tokenBytes]byte
	var idb [6]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", Token{}, fmt.Errorf("users: token: %w", err)
	}
	if _, err := rand.Read(idb[:]); err != nil {
		return "", Token{}, fmt.Errorf("users: token: %w", err)
	}
	secret := TokenPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	t := &fileToken{ID: "t-" + hex.EncodeToString(idb[:]), Label: label, Role: role, Hash: tokenHash(secret),
		Created: now, Expires: expires.UTC()}
	err := s.update(func(st *state) error {
		u, ok := st.user(name)
		if !ok {
			return fmt.Errorf("users: %q: %w", clip(name), ErrNotFound)
		}
		if role.Rank() > u.Role.Rank() {
			return fmt.Errorf("%w: a %s token for %s, whose role is %s", ErrInvalid, role, name, u.Role)
		}
		if len(u.Tokens) >= MaxTokensOfUser {
			return fmt.Errorf("%w: %s has %d tokens already; revoke some", ErrInvalid, name, len(u.Tokens))
		}
		if _, _, dup := st.tokenByID(t.ID); dup {
			return errors.New("users: token ID collision; try again")
		}
		u.Tokens = append(u.Tokens, t)
		return nil
	})
	if err != nil {
		return "", Token{}, err
	}
	return secret, t.view(name), nil
}

func tokenHash(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// Tokens lists a user's tokens, oldest first.
func (s *Store) Tokens(name string) ([]Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refresh()
	u, ok := s.st.user(name)
	if !ok {
		return nil, fmt.Errorf("users: %q: %w", clip(name), ErrNotFound)
	}
	out := make([]Token, 0, len(u.Tokens))
	for _, t := range u.Tokens {
		v := t.view(name)
		if lu := s.used[t.ID]; lu.After(v.LastUsed) {
			v.LastUsed = lu
		}
		out = append(out, v)
	}
	return out, nil
}

// TokenOwner is the user a token belongs to.
func (s *Store) TokenOwner(id string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refresh()
	u, _, ok := s.st.tokenByID(id)
	if !ok {
		return "", false
	}
	return u.Name, true
}

// Revoke removes a token; it answers the token as it was.
func (s *Store) Revoke(id string) (Token, error) {
	var out Token
	err := s.update(func(st *state) error {
		u, i, ok := st.tokenByID(id)
		if !ok {
			return fmt.Errorf("users: %q: %w", clip(id), ErrTokenNotFound)
		}
		out = u.Tokens[i].view(u.Name)
		u.Tokens = slices.Delete(u.Tokens, i, i+1)
		return nil
	})
	return out, err
}

// Authenticate finds the token whose secret is given. The token's effective role is the
// lesser of its own and its user's; a disabled user's tokens and expired tokens fail. The
// use is remembered, and written by FlushLastUsed.
func (s *Store) Authenticate(secret string) (User, Token, error) {
	if !strings.HasPrefix(secret, TokenPrefix) || len(secret) > 128 {
		return User{}, Token{}, ErrBadToken
	}
	h := tokenHash(secret)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refresh()
	ref, ok := s.st.byHash[h]
	if !ok {
		return User{}, Token{}, ErrBadToken
	}
	t := ref.user.Tokens[ref.i]
	now := s.now()
	if ref.user.Disabled || (!t.Expires.IsZero() && !now.Before(t.Expires)) {
		return User{}, Token{}, ErrBadToken
	}
	s.used[t.ID] = now.UTC().Truncate(time.Second)
	v := t.view(ref.user.Name)
	v.Role = MinRole(t.Role, ref.user.Role)
	return ref.user.view(), v, nil
}

// FlushLastUsed writes the last use of the tokens used since the previous flush. Call it
// every FlushEvery and at shutdown; it writes nothing when no token was used.
func (s *Store) FlushLastUsed() error {
	s.mu.Lock()
	if len(s.used) == 0 {
		s.mu.Unlock()
		return nil
	}
	used := s.used
	s.used = make(map[string]time.Time)
	s.mu.Unlock()
	err := s.update(func(st *state) error {
		for id, at := range used {
			if u, i, ok := st.tokenByID(id); ok && at.After(u.Tokens[i].LastUsed) {
				u.Tokens[i].LastUsed = at
			}
		}
		return nil
	})
	if err != nil {
		s.mu.Lock()
		for id, at := range used { // try again next time
			if at.After(s.used[id]) {
				s.used[id] = at
			}
		}
		s.mu.Unlock()
	}
	return err
}
