package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/watchfloor/watchfloor/console/users"
)

// Session cookie and header names.
const (
	SessionCookie = "wf_session"
	CSRFHeader    = "X-CSRF-Token"
	// SessionsFile keeps the sessions across restarts, beside the users file.
	SessionsFile = "sessions.json"
	// sessionIDBytes is the entropy of a session ID and of a CSRF token.
	sessionIDBytes = 32
	// maxSessions bounds the sessions kept; maxSessionsPerUser those of one user (the
	// oldest go first).
	maxSessions        = 10000
	maxSessionsPerUser = 50
	// sessionFlushEvery is how often the last use of sessions is written.
	sessionFlushEvery = time.Minute
)

// session is one login. The ID is not kept: only its SHA-256, in memory and on disk.
type session struct {
	User    string    `json:"user"`
	CSRF    string    `json:"csrf"`
	Created time.Time `json:"created"`
	Seen    time.Time `json:"seen"`
	Expires time.Time `json:"expires"` // absolute: Created + lifetime
}

// sessions is the console's sessions: in memory, and in sessions.json (mode 0600) when it
// has a directory, so that a restart does not log analysts out. The file holds only the
// SHA-256 of each session ID, so reading it does not let anyone in.
type sessions struct {
	path       string // "": memory only
	idle, life time.Duration
	now        func() time.Time
	log        *slog.Logger

	mu    sync.Mutex
	byID  map[string]*session // hex SHA-256 of the ID → session
	dirty bool
}

// sessionFile is sessions.json.
type sessionFile struct {
	Version  int                 `json:"version"`
	Sessions map[string]*session `json:"sessions"` // hex SHA-256 of the ID → session
}

func newSessions(dir string, idle, life time.Duration, now func() time.Time, log *slog.Logger) *sessions {
	s := &sessions{idle: idle, life: life, now: now, log: log, byID: make(map[string]*session)}
	if dir != "" {
		s.path = filepath.Join(dir, SessionsFile)
		s.load()
	}
	return s
}

// load reads the sessions file; one that cannot be read logs everyone out, and says so.
func (s *sessions) load() {
	b, err := os.ReadFile(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	if err == nil {
		var f sessionFile
		if err = json.Unmarshal(b, &f); err == nil && f.Version != 1 {
			err = fmt.Errorf("version %d", f.Version)
		}
		if err == nil {
			now := s.now()
			for h, se := range f.Sessions {
				if len(h) == 2*sha256.Size && se != nil && se.User != "" && len(se.CSRF) > 16 && s.live(se, now) && len(s.byID) < maxSessions {
					s.byID[h] = se
				}
			}
			return
		}
	}
	s.log.Warn("sessions not restored: everyone logs in again", "file", s.path, "err", err)
}

// live says whether a session is within both its idle timeout and its lifetime.
func (s *sessions) live(se *session, now time.Time) bool {
	return now.Before(se.Expires) && now.Sub(se.Seen) < s.idle
}

func hashID(id string) string {
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:])
}

func randomToken() (string, error) {
	var b [sessionIDBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// create starts a session for user and answers its ID (for the cookie).
func (s *sessions) create(user string) (string, session, error) {
	id, err := randomToken()
	if err != nil {
		return "", session{}, fmt.Errorf("console: session: %w", err)
	}
	csrf, err := randomToken()
	if err != nil {
		return "", session{}, fmt.Errorf("console: session: %w", err)
	}
	now := s.now()
	se := &session{User: user, CSRF: csrf, Created: now, Seen: now, Expires: now.Add(s.life)}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.prune(now, user)
	s.byID[hashID(id)] = se
	s.dirty = true
	return id, *se, nil
}

// prune drops dead sessions, and the oldest when there are too many in all or of user.
// Called with mu held.
func (s *sessions) prune(now time.Time, user string) {
	var oldest, oldestOfUser string
	n := 0
	for h, se := range s.byID {
		if !s.live(se, now) {
			delete(s.byID, h)
			s.dirty = true
			continue
		}
		if oldest == "" || se.Created.Before(s.byID[oldest].Created) {
			oldest = h
		}
		if se.User == user {
			n++
			if oldestOfUser == "" || se.Created.Before(s.byID[oldestOfUser].Created) {
				oldestOfUser = h
			}
		}
	}
	if n >= maxSessionsPerUser {
		delete(s.byID, oldestOfUser)
	} else if len(s.byID) >= maxSessions {
		delete(s.byID, oldest)
	}
}

// lookup finds the live session of a cookie's ID and marks it used.
func (s *sessions) lookup(id string) (session, bool) {
	if id == "" || len(id) > 256 {
		return session{}, false
	}
	h := hashID(id)
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	se, ok := s.byID[h]
	if !ok {
		return session{}, false
	}
	if !s.live(se, now) {
		delete(s.byID, h)
		s.dirty = true
		return session{}, false
	}
	if now.Sub(se.Seen) >= time.Second {
		se.Seen = now
		s.dirty = true // written by the next flush, not on every request
	}
	return *se, true
}

// remove ends the session of a cookie's ID.
func (s *sessions) remove(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.byID[hashID(id)]; ok {
		delete(s.byID, hashID(id))
		s.dirty = true
	}
}

// removeUser ends every session of a user (deleted, or a new password).
func (s *sessions) removeUser(user string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for h, se := range s.byID {
		if se.User == user {
			delete(s.byID, h)
			n++
		}
	}
	if n > 0 {
		s.dirty = true
	}
	return n
}

// flush writes the sessions file when something changed since the last write.
func (s *sessions) flush() error {
	if s.path == "" {
		return nil
	}
	s.mu.Lock()
	if !s.dirty {
		s.mu.Unlock()
		return nil
	}
	f := sessionFile{Version: 1, Sessions: make(map[string]*session, len(s.byID))}
	now := s.now()
	for h, se := range s.byID {
		if s.live(se, now) {
			c := *se
			f.Sessions[h] = &c
		}
	}
	s.dirty = false
	s.mu.Unlock()
	b, err := json.Marshal(f)
	if err == nil {
		err = users.WriteFileAtomic(s.path, b)
	}
	if err != nil {
		s.mu.Lock()
		s.dirty = true
		s.mu.Unlock()
		return fmt.Errorf("console: write sessions: %w", err)
	}
	return nil
}

// count is the number of sessions held.
func (s *sessions) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byID)
}

// sessionCookie is the cookie of a session ID; maxAge < 0 deletes it.
func (c *Console) sessionCookie(r *http.Request, id string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: SessionCookie, Value: id, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil || c.auth.secureCookies,
	}
}

// sessionIdentity authenticates a request by its session cookie. For an unsafe method it
// also wants the session's CSRF token in X-CSRF-Token and, when the request has an Origin,
// an allowed one: it answers 403 and false otherwise. A cookie that names no live session,
// or whose user is gone, disabled or has a new password, is 401.
func (c *Console) sessionIdentity(w http.ResponseWriter, r *http.Request, ck *http.Cookie) (Identity, bool) {
	se, ok := c.auth.sessions.lookup(ck.Value)
	var u users.User
	if ok && c.deps.Users != nil {
		u, ok = c.deps.Users.Get(se.User)
		ok = ok && !u.Disabled && !se.Created.Before(u.PasswordSet)
	} else {
		ok = false
	}
	if !ok {
		http.SetCookie(w, c.sessionCookie(r, "", -1))
		writeError(w, http.StatusUnauthorized, "not logged in, or the session has ended")
		return Identity{}, false
	}
	role, err := ParseRole(string(u.Role))
	if err != nil {
		writeError(w, http.StatusUnauthorized, "not logged in, or the session has ended")
		return Identity{}, false
	}
	id := Identity{Name: u.Name, Role: role, Via: "session", CSRF: se.CSRF, Exp: se.Expires}
	if unsafeMethod(r.Method) {
		got := r.Header.Get(CSRFHeader)
		if len(got) != len(se.CSRF) || subtle.ConstantTimeCompare([]byte(got), []byte(se.CSRF)) != 1 {
			c.auth.m.csrfRefused.WithLabelValues("token").Inc()
			writeError(w, http.StatusForbidden, "missing or wrong "+CSRFHeader+" header")
			return Identity{}, false
		}
		if !c.originAllowed(r) {
			c.auth.m.csrfRefused.WithLabelValues("origin").Inc()
			writeError(w, http.StatusForbidden, "origin not allowed")
			return Identity{}, false
		}
	}
	return id, true
}

func unsafeMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return false
	}
	return true
}
