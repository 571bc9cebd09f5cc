package users

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// FileVersion is the version of users.json this package writes and reads.
const FileVersion = 1

// fileData is users.json:
//
//	{"version": 1, "users": [{"name": "ann", "role": "admin",
//	  "hash": "bcrypt-sha256$2a$12$…", "created": "…", "password_set": "…", "disabled": false,
//	  "tokens": [{"id": "t-0a1b2c3d4e5f", "label": "wall", "role": "viewer",
//	    "sha256": "<64 hex>", "created": "…", "last_used": "…", "expires": "…"}]}]}
type fileData struct {
	Version int         `json:"version"`
	Users   []*fileUser `json:"users"`
}

type fileUser struct {
	Name        string       `json:"name"`
	Role        Role         `json:"role"`
	Hash        string       `json:"hash"`
	Created     time.Time    `json:"created"`
	PasswordSet time.Time    `json:"password_set"`
	Disabled    bool         `json:"disabled,omitempty"`
	Tokens      []*fileToken `json:"tokens,omitempty"`
}

type fileToken struct {
	ID       string    `json:"id"`
	Label    string    `json:"label,omitempty"`
	Role     Role      `json:"role"`
	Hash     string    `json:"sha256"`
	Created  time.Time `json:"created"`
	LastUsed time.Time `json:"last_used,omitzero"`
	Expires  time.Time `json:"expires,omitzero"`
}

func (u *fileUser) view() User {
	return User{Name: u.Name, Role: u.Role, Created: u.Created, Disabled: u.Disabled, PasswordSet: u.PasswordSet, Tokens: len(u.Tokens)}
}

func (t *fileToken) view(owner string) Token {
	return Token{ID: t.ID, User: owner, Label: t.Label, Role: t.Role, Created: t.Created, LastUsed: t.LastUsed, Expires: t.Expires}
}

// state is the file in memory, indexed.
type state struct {
	fileData
	byName map[string]*fileUser
	byHash map[string]tokenRef
}

type tokenRef struct {
	user *fileUser
	i    int
}

func newState() *state {
	return &state{fileData: fileData{Version: FileVersion}, byName: map[string]*fileUser{}, byHash: map[string]tokenRef{}}
}

func (st *state) user(name string) (*fileUser, bool) {
	for _, u := range st.Users { // not byName: fn of update may have changed Users
		if u.Name == name {
			return u, true
		}
	}
	return nil, false
}

func (st *state) tokenByID(id string) (*fileUser, int, bool) {
	for _, u := range st.Users {
		for i, t := range u.Tokens {
			if t.ID == id {
				return u, i, true
			}
		}
	}
	return nil, 0, false
}

// marshal encodes the state; it checks it first, so that a bug cannot write a file that
// will not load.
// It answers the bytes and the state they load as (indexed afresh).
func (st *state) marshal() ([]byte, *state, error) {
	st.Version = FileVersion
	if st.Users == nil {
		st.Users = []*fileUser{}
	}
	b, err := json.MarshalIndent(&st.fileData, "", "  ")
	if err != nil {
		return nil, nil, err
	}
	nst, err := parse(b)
	if err != nil {
		return nil, nil, fmt.Errorf("refusing to write a file that would not load: %w", err)
	}
	return append(b, '\n'), nst, nil
}

// ErrCorrupt wraps every reason a users file is refused.
var ErrCorrupt = errors.New("corrupt users file")

// parse decodes and checks a users file: strict JSON (unknown fields are errors), known
// version, valid and unique names, known roles, well-formed hashes, tokens no stronger
// than their users, unique token IDs and hashes, bounded counts.
func parse(b []byte) (*state, error) {
	if len(b) > maxFileSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrCorrupt, maxFileSize)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var d fileData
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the object", ErrCorrupt)
	}
	if d.Version != FileVersion {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrCorrupt, d.Version, FileVersion)
	}
	if len(d.Users) > MaxUsers {
		return nil, fmt.Errorf("%w: %d users, at most %d", ErrCorrupt, len(d.Users), MaxUsers)
	}
	st := newState()
	st.fileData = d
	ids := map[string]bool{}
	for i, u := range d.Users {
		where := fmt.Sprintf("users[%d]", i)
		if u == nil {
			return nil, fmt.Errorf("%w: %s: null", ErrCorrupt, where)
		}
		if err := CheckName(u.Name); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, where, err)
		}
		where = fmt.Sprintf("users[%d] (%s)", i, u.Name)
		if st.byName[u.Name] != nil {
			return nil, fmt.Errorf("%w: %s: a second user of that name", ErrCorrupt, where)
		}
		if u.Role.Rank() == 0 {
			return nil, fmt.Errorf("%w: %s: role %q", ErrCorrupt, where, clip(string(u.Role)))
		}
		if err := checkHash(u.Hash); err != nil {
			return nil, fmt.Errorf("%w: %s: hash: %v", ErrCorrupt, where, err)
		}
		if len(u.Tokens) > MaxTokensOfUser {
			return nil, fmt.Errorf("%w: %s: %d tokens, at most %d", ErrCorrupt, where, len(u.Tokens), MaxTokensOfUser)
		}
		for j, t := range u.Tokens {
			tw := fmt.Sprintf("%s: tokens[%d]", where, j)
			if t == nil {
				return nil, fmt.Errorf("%w: %s: null", ErrCorrupt, tw)
			}
			if !validTokenID(t.ID) || ids[t.ID] {
				return nil, fmt.Errorf("%w: %s: bad or repeated id %q", ErrCorrupt, tw, clip(t.ID))
			}
			ids[t.ID] = true
			if t.Role.Rank() == 0 || t.Role.Rank() > u.Role.Rank() {
				return nil, fmt.Errorf("%w: %s: role %q (the user is %s)", ErrCorrupt, tw, clip(string(t.Role)), u.Role)
			}
			if len(t.Hash) != 64 || strings.ToLower(t.Hash) != t.Hash {
				return nil, fmt.Errorf("%w: %s: sha256 is not 64 lower-case hex digits", ErrCorrupt, tw)
			}
			if _, err := hex.DecodeString(t.Hash); err != nil {
				return nil, fmt.Errorf("%w: %s: sha256 is not 64 lower-case hex digits", ErrCorrupt, tw)
			}
			if _, dup := st.byHash[t.Hash]; dup {
				return nil, fmt.Errorf("%w: %s: the same token twice", ErrCorrupt, tw)
			}
			if err := checkLabel(t.Label); err != nil {
				return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, tw, err)
			}
			st.byHash[t.Hash] = tokenRef{u, j}
		}
		st.byName[u.Name] = u
	}
	return st, nil
}

// checkHash accepts "bcrypt-sha256" and a bcrypt hash ("$2a$…").
func checkHash(h string) error {
	rest, ok := strings.CutPrefix(h, hashPrefix)
	if !ok {
		return fmt.Errorf("not a %q hash", hashPrefix)
	}
	if len(rest) != 60 {
		return errors.New("not a bcrypt hash")
	}
	cost, err := bcrypt.Cost([]byte(rest))
	if err != nil {
		return err
	}
	if cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
		return fmt.Errorf("cost %d", cost)
	}
	return nil
}

func validTokenID(id string) bool {
	rest, ok := strings.CutPrefix(id, "t-")
	if !ok || len(rest) != 12 {
		return false
	}
	_, err := hex.DecodeString(rest)
	return err == nil && strings.ToLower(rest) == rest
}
