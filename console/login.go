package console

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/watchfloor/watchfloor/console/users"
)

// Login rate limits: this many failed logins per client address, and per user name,
// within loginWindow; then 429 until the window ends.
const (
	loginMaxFailures = 5
	loginWindow      = 5 * time.Minute
	limiterCap       = 10000 // keys remembered per limiter; the oldest go first
	maxLoginBody     = 4 << 10
	maxAdminBody     = 4 << 10
)

// authState is the console's part of users: sessions, login limits, TLS.
type authState struct {
	sessions      *sessions
	byAddr        *limiter
	byName        *limiter
	m             *authMetrics
	secureCookies bool        // external_url is https: cookies are Secure even behind a proxy
	tls           *tls.Config // nil: plain HTTP
	routes        []routeInfo // the API routes registered through handle, for tests and docs
}

// routeInfo is one API route and the least role it needs.
type routeInfo struct {
	Pattern string
	Min     Role
	Query   bool
}

type authMetrics struct {
	logins      *prometheus.CounterVec // result: ok, failed, limited
	csrfRefused *prometheus.CounterVec // reason: token, origin
	sessions    prometheus.GaugeFunc
}

// initAuth builds the sessions, the limiters, TLS and their metrics.
func (c *Console) initAuth() error {
	cfg := c.cfg
	a := &c.auth
	dir := ""
	if c.deps.Users != nil {
		dir = c.deps.Users.Dir()
	}
	a.sessions = newSessions(dir, cfg.Session.IdleTimeout, cfg.Session.Lifetime, c.now, c.log)
	a.byAddr = newLimiter(loginMaxFailures, loginWindow, limiterCap)
	a.byName = newLimiter(loginMaxFailures, loginWindow, limiterCap)
	a.secureCookies = strings.HasPrefix(strings.ToLower(cfg.ExternalURL), "https://")
	a.m = &authMetrics{
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchfloor_console_logins_total",
			Help: "Login attempts, by result (ok, failed: wrong name or password, limited: refused by the rate limit).",
		}, []string{"result"}),
		csrfRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchfloor_console_csrf_refused_total",
			Help: "Unsafe requests of cookie sessions refused, by reason (token: no or wrong X-CSRF-Token; origin: a foreign Origin).",
		}, []string{"reason"}),
		sessions: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "watchfloor_console_sessions",
			Help: "Login sessions held.",
		}, func() float64 { return float64(a.sessions.count()) }),
	}
	for _, r := range []string{"ok", "failed", "limited"} {
		a.m.logins.WithLabelValues(r)
	}
	for _, r := range []string{"token", "origin"} {
		a.m.csrfRefused.WithLabelValues(r)
	}
	for _, col := range []prometheus.Collector{a.m.logins, a.m.csrfRefused, a.m.sessions} {
		if err := c.deps.Registerer.Register(col); err != nil {
			return fmt.Errorf("console: register auth metrics: %w", err)
		}
	}
	return c.initTLS()
}

// authLoop writes the sessions' and tokens' last use every minute, and once more when ctx
// ends. Run runs it.
func (c *Console) authLoop(ctx context.Context) {
	t := time.NewTicker(sessionFlushEvery)
	defer t.Stop()
	flush := func() {
		if err := c.auth.sessions.flush(); err != nil {
			c.log.Error("sessions not saved", "err", err)
		}
		if c.deps.Users != nil {
			if err := c.deps.Users.FlushLastUsed(); err != nil {
				c.log.Error("token last use not saved", "err", err)
			}
		}
	}
	for {
		select {
		case <-ctx.Done():
			flush()
			return
		case <-t.C:
			flush()
		}
	}
}

// authenticate establishes who made the request, or answers and reports false:
//
//  1. an Authorization: Bearer header: the admin token (Deps.Token, the "admin" identity)
//     or a user's API token (its role, at most its user's);
//  2. for query routes (the stream, kiosk walls), a ?token= parameter, the same way;
//  3. the session cookie wf_session of a login. An unsafe method (POST, PUT, PATCH,
//     DELETE) also needs the session's CSRF token in X-CSRF-Token and, when the request
//     has an Origin, an allowed one (403 otherwise).
//
// No credentials, or bad ones, are 401.
func (c *Console) authenticate(w http.ResponseWriter, r *http.Request, query bool) (Identity, bool) {
	if h, ok := r.Header["Authorization"]; ok {
		var tok string
		if scheme, v, ok := strings.Cut(h[0], " "); ok && strings.EqualFold(scheme, "Bearer") {
			tok = strings.TrimSpace(v)
		}
		return c.tokenIdentity(w, tok)
	}
	if query {
		if tok := r.URL.Query().Get("token"); tok != "" {
			return c.tokenIdentity(w, tok)
		}
	}
	if ck, err := r.Cookie(SessionCookie); err == nil && ck.Value != "" && c.deps.Users != nil {
		return c.sessionIdentity(w, r, ck)
	}
	unauthorized(w, "missing or invalid bearer token") // the words existing clients know; a session is the other way in
	return Identity{}, false
}

func unauthorized(w http.ResponseWriter, msg string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="watchfloor"`)
	writeError(w, http.StatusUnauthorized, msg)
}

// tokenIdentity checks an API token: the admin token, or a user's.
func (c *Console) tokenIdentity(w http.ResponseWriter, tok string) (Identity, bool) {
	if tok != "" {
		// Comparing hashes keeps the comparison constant-time whatever the lengths.
		want := sha256.Sum256([]byte(c.deps.Token.Reveal()))
		got := sha256.Sum256([]byte(tok))
		if subtle.ConstantTimeCompare(got[:], want[:]) == 1 {
			return Identity{Name: adminIdentity, Role: RoleAdmin, Via: "token"}, true
		}
		if c.deps.Users != nil {
			if u, t, err := c.deps.Users.Authenticate(tok); err == nil {
				if role, err := ParseRole(string(t.Role)); err == nil {
					return Identity{Name: u.Name, Role: role, Via: "token", Exp: t.Expires}, true
				}
			}
		}
	}
	unauthorized(w, "missing or invalid bearer token")
	return Identity{}, false
}

// sessionView is what login and GET /api/v1/session answer.
type sessionView struct {
	User    string    `json:"user"`
	Role    Role      `json:"role"`
	Via     string    `json:"via"`
	CSRF    string    `json:"csrf,omitempty"`
	Expires time.Time `json:"expires,omitzero"`
}

func viewOf(id Identity) sessionView {
	return sessionView{User: id.Name, Role: id.Role, Via: id.Via, CSRF: id.CSRF, Expires: id.Exp}
}

// authRoutes registers login, logout, the session, and the users and tokens API.
func (c *Console) authRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/v1/login", c.postLogin)
	c.handle(mux, "GET /api/v1/session", RoleViewer, true, c.getSession)
	c.handle(mux, "POST /api/v1/logout", RoleViewer, false, c.postLogout)
	c.handle(mux, "GET /api/v1/users", RoleAdmin, false, c.getUsers)
	c.handle(mux, "POST /api/v1/users", RoleAdmin, false, c.postUser)
	c.handle(mux, "DELETE /api/v1/users/{name}", RoleAdmin, false, c.deleteUser)
	// Self-service: a user's own password and tokens; admins for anyone (checked inside).
	c.handle(mux, "POST /api/v1/users/{name}/password", RoleViewer, false, c.postPassword)
	c.handle(mux, "GET /api/v1/users/{name}/tokens", RoleViewer, false, c.getTokens)
	c.handle(mux, "POST /api/v1/users/{name}/tokens", RoleViewer, false, c.postToken)
	c.handle(mux, "DELETE /api/v1/tokens/{id}", RoleViewer, false, c.deleteToken)
}

// loginRequest is the body of POST /api/v1/login.
type loginRequest struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

// parseLogin reads a login body: one JSON object with the string fields user and password
// and nothing else. Its errors never quote the password.
func parseLogin(b []byte) (loginRequest, error) {
	var req loginRequest
	if err := decodeStrict(b, &req); err != nil {
		return loginRequest{}, err
	}
	if req.User == "" || req.Password == "" {
		return loginRequest{}, errors.New("want user and password")
	}
	if err := users.CheckName(req.User); err != nil {
		return loginRequest{}, errors.New("invalid user name")
	}
	if len(req.Password) > users.MaxPasswordLen {
		return loginRequest{}, fmt.Errorf("password longer than %d bytes", users.MaxPasswordLen)
	}
	return req, nil
}

// decodeStrict decodes one JSON object into v, refusing unknown fields and trailing data.
// Its errors name fields, never values.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fmt.Errorf("field %q has the wrong type", te.Field)
		}
		if strings.HasPrefix(err.Error(), "json: unknown field") {
			return errors.New(strings.TrimPrefix(err.Error(), "json: "))
		}
		return errors.New("want a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("want one JSON object")
	}
	return nil
}

// readBody reads at most max bytes of the body; false when it answered 413 or 400.
func readBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, bool) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", max))
		} else {
			writeError(w, http.StatusBadRequest, "cannot read the body")
		}
		return nil, false
	}
	return b, true
}

// addrKey is the rate limit key of a client address: the address, or its /64 for IPv6.
func addrKey(r *http.Request) string {
	a, err := netip.ParseAddr(remoteHost(r))
	if err != nil {
		return remoteHost(r)
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

func (c *Console) postLogin(w http.ResponseWriter, r *http.Request) {
	if c.deps.Users == nil {
		writeError(w, http.StatusNotFound, "this console has no local users: use the API token")
		return
	}
	if !c.originAllowed(r) {
		writeError(w, http.StatusForbidden, "origin not allowed")
		return
	}
	b, ok := readBody(w, r, maxLoginBody)
	if !ok {
		return
	}
	req, err := parseLogin(b)
	if err != nil {
		writeError(w, http.StatusBadRequest, "login: "+err.Error())
		return
	}
	clear(b)
	now := c.now()
	akey, nkey := addrKey(r), strings.ToLower(req.User)
	tried := r.WithContext(withIdentity(r.Context(), Identity{Name: req.User, Via: "session"}))
	wait, limited := c.auth.byAddr.blocked(akey, now)
	if w2, l2 := c.auth.byName.blocked(nkey, now); l2 {
		wait, limited = max(wait, w2), true
	}
	if limited {
		c.auth.m.logins.WithLabelValues("limited").Inc()
		c.log.Warn("login refused: too many failures", "user", req.User, "remote", remoteHost(r))
		c.audit(tried, AuditLogin, "user "+req.User, "refused: too many failed logins", false)
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		writeError(w, http.StatusTooManyRequests, "too many failed logins: try again later")
		return
	}
	u, err := c.deps.Users.Login(req.User, []byte(req.Password))
	if err != nil {
		c.auth.byAddr.fail(akey, now)
		c.auth.byName.fail(nkey, now)
		c.auth.m.logins.WithLabelValues("failed").Inc()
		c.log.Warn("login failed", "user", req.User, "remote", remoteHost(r))
		c.audit(tried, AuditLogin, "user "+req.User, "wrong user name or password", false)
		unauthorized(w, "wrong user name or password")
		return
	}
	c.auth.byName.reset(nkey)
	role, err := ParseRole(string(u.Role))
	if err != nil {
		writeError(w, http.StatusInternalServerError, "the user has no usable role")
		return
	}
	c.startSession(w, r, u.Name, role, http.StatusOK)
}

// startSession logs a user in: a new session, its cookie, the audit entry and the answer.
func (c *Console) startSession(w http.ResponseWriter, r *http.Request, name string, role Role, code int) {
	sid, se, err := c.auth.sessions.create(name)
	if err != nil {
		c.log.Error("login", "err", err)
		writeError(w, http.StatusInternalServerError, "cannot start a session")
		return
	}
	id := Identity{Name: name, Role: role, Via: "session", CSRF: se.CSRF, Exp: se.Expires}
	http.SetCookie(w, c.sessionCookie(r, sid, int(c.cfg.Session.Lifetime/time.Second)))
	c.auth.m.logins.WithLabelValues("ok").Inc()
	c.log.Info("login", "user", name, "role", role, "remote", remoteHost(r))
	c.audit(r.WithContext(withIdentity(r.Context(), id)), AuditLogin, "user "+name, "", true)
	writeJSON(w, code, viewOf(id))
}

func (c *Console) getSession(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, viewOf(identityOf(r.Context())))
}

func (c *Console) postLogout(w http.ResponseWriter, r *http.Request) {
	if identityOf(r.Context()).Via != "session" {
		writeError(w, http.StatusBadRequest, "not a login session: there is nothing to log out of")
		return
	}
	if ck, err := r.Cookie(SessionCookie); err == nil {
		c.auth.sessions.remove(ck.Value)
	}
	http.SetCookie(w, c.sessionCookie(r, "", -1))
	c.audit(r, AuditLogout, "user "+identity(r.Context()), "", true)
	w.WriteHeader(http.StatusNoContent)
}

// forbid answers 403 and records the refusal in the audit log.
func (c *Console) forbid(w http.ResponseWriter, r *http.Request, target, msg string) {
	c.audit(r, AuditForbidden, target, r.Method+" "+r.URL.Path, false)
	writeError(w, http.StatusForbidden, msg)
}

// usersOr404 answers 404 when the console has no users store.
func (c *Console) usersOr404(w http.ResponseWriter) *users.Store {
	if c.deps.Users == nil {
		writeError(w, http.StatusNotFound, "this console has no local users")
	}
	return c.deps.Users
}

// usersError answers a users store error with its status.
func (c *Console) usersError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, users.ErrInvalid):
		writeError(w, http.StatusBadRequest, strings.TrimPrefix(err.Error(), "users: "))
	case errors.Is(err, users.ErrExists):
		writeError(w, http.StatusConflict, "a user of that name exists")
	case errors.Is(err, users.ErrNotFound):
		writeError(w, http.StatusNotFound, "no such user")
	case errors.Is(err, users.ErrTokenNotFound):
		writeError(w, http.StatusNotFound, "no such token")
	default:
		c.log.Error("users", "err", err)
		writeError(w, http.StatusInternalServerError, "cannot change the users file")
	}
}

func (c *Console) getUsers(w http.ResponseWriter, r *http.Request) {
	us := c.usersOr404(w)
	if us == nil {
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Users []users.User `json:"users"`
	}{us.List()})
}

func (c *Console) postUser(w http.ResponseWriter, r *http.Request) {
	us := c.usersOr404(w)
	if us == nil {
		return
	}
	b, ok := readBody(w, r, maxAdminBody)
	if !ok {
		return
	}
	var req struct {
		Name     string `json:"name"`
		Role     string `json:"role"`
		Password string `json:"password"`
	}
	if err := decodeStrict(b, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	clear(b)
	role, err := users.ParseRole(req.Role)
	if err != nil {
		writeError(w, http.StatusBadRequest, "role: want viewer, analyst or admin")
		return
	}
	if err := us.Add(req.Name, role, []byte(req.Password)); err != nil {
		c.audit(r, AuditUserAdd, "user "+clipName(req.Name), errDetail(err), false)
		c.usersError(w, err)
		return
	}
	c.audit(r, AuditUserAdd, "user "+req.Name, "role "+string(role), true)
	u, _ := us.Get(req.Name)
	writeJSON(w, http.StatusCreated, u)
}

func (c *Console) deleteUser(w http.ResponseWriter, r *http.Request) {
	us := c.usersOr404(w)
	if us == nil {
		return
	}
	name := r.PathValue("name")
	if err := us.Delete(name); err != nil {
		c.usersError(w, err)
		return
	}
	n := c.auth.sessions.removeUser(name)
	c.audit(r, AuditUserDelete, "user "+name, fmt.Sprintf("%d sessions ended", n), true)
	w.WriteHeader(http.StatusNoContent)
}

// selfOrAdmin says whether the request's identity may manage the named user's password or
// tokens: an admin, or the user.
func selfOrAdmin(id Identity, name string) bool { return id.Role >= RoleAdmin || id.Name == name }

func (c *Console) postPassword(w http.ResponseWriter, r *http.Request) {
	us := c.usersOr404(w)
	if us == nil {
		return
	}
	id, name := identityOf(r.Context()), r.PathValue("name")
	if !selfOrAdmin(id, name) {
		c.forbid(w, r, "user "+clipName(name), "only an admin may set another user's password")
		return
	}
	b, ok := readBody(w, r, maxAdminBody)
	if !ok {
		return
	}
	var req struct {
		Password string `json:"password"`
		Current  string `json:"current"`
	}
	if err := decodeStrict(b, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	clear(b)
	self := id.Name == name
	if self {
		// Whoever holds a session may not take the account over without the password.
		now, nkey := c.now(), strings.ToLower(name)
		if wait, limited := c.auth.byName.blocked(nkey, now); limited {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			writeError(w, http.StatusTooManyRequests, "too many failed attempts: try again later")
			return
		}
		if _, err := us.Login(name, []byte(req.Current)); err != nil {
			c.auth.byName.fail(nkey, now)
			c.audit(r, AuditUserPasswd, "user "+name, "wrong current password", false)
			writeError(w, http.StatusForbidden, "the current password is wrong")
			return
		}
	}
	if err := us.SetPassword(name, []byte(req.Password)); err != nil {
		c.audit(r, AuditUserPasswd, "user "+clipName(name), errDetail(err), false)
		c.usersError(w, err)
		return
	}
	n := c.auth.sessions.removeUser(name)
	c.audit(r, AuditUserPasswd, "user "+name, fmt.Sprintf("%d sessions ended", n), true)
	if self && id.Via == "session" {
		c.startSession(w, r, id.Name, id.Role, http.StatusOK) // the caller stays logged in
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (c *Console) getTokens(w http.ResponseWriter, r *http.Request) {
	us := c.usersOr404(w)
	if us == nil {
		return
	}
	id, name := identityOf(r.Context()), r.PathValue("name")
	if !selfOrAdmin(id, name) {
		c.forbid(w, r, "user "+clipName(name), "only an admin may list another user's tokens")
		return
	}
	ts, err := us.Tokens(name)
	if err != nil {
		c.usersError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Tokens []users.Token `json:"tokens"`
	}{ts})
}

// newTokenAnswer is the answer of POST …/tokens: the only time the secret is shown.
type newTokenAnswer struct {
	Secret string `json:"token"`
	users.Token
}

func (c *Console) postToken(w http.ResponseWriter, r *http.Request) {
	us := c.usersOr404(w)
	if us == nil {
		return
	}
	id, name := identityOf(r.Context()), r.PathValue("name")
	if !selfOrAdmin(id, name) {
		c.forbid(w, r, "user "+clipName(name), "only an admin may make tokens for another user")
		return
	}
	b, ok := readBody(w, r, maxAdminBody)
	if !ok {
		return
	}
	var req struct {
		Label     string `json:"label"`
		Role      string `json:"role"`
		ExpiresIn string `json:"expires_in"` // a Go duration, e.g. "720h"; "": never
	}
	if err := decodeStrict(b, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	u, ok := us.Get(name)
	if !ok {
		writeError(w, http.StatusNotFound, "no such user")
		return
	}
	role := u.Role
	if req.Role != "" {
		var err error
		if role, err = users.ParseRole(req.Role); err != nil {
			writeError(w, http.StatusBadRequest, "role: want viewer (display), analyst or admin")
			return
		}
	}
	// Nobody makes a token stronger than themselves (a display token cannot make an admin
	// token) or than the token's user (the store checks that).
	if tr, err := ParseRole(string(role)); err != nil || tr > id.Role {
		c.forbid(w, r, "user "+name, fmt.Sprintf("a %s may not make a %s token", id.Role, role))
		return
	}
	var exp time.Time
	if req.ExpiresIn != "" {
		d, err := time.ParseDuration(req.ExpiresIn)
		if err != nil || d <= 0 || d > 10*365*24*time.Hour {
			writeError(w, http.StatusBadRequest, "expires_in: want a positive duration such as 720h")
			return
		}
		exp = c.now().Add(d)
	}
	secret, t, err := us.NewToken(name, req.Label, role, exp)
	if err != nil {
		c.usersError(w, err)
		return
	}
	c.audit(r, AuditTokenAdd, "token "+t.ID, fmt.Sprintf("for %s, role %s, label %q", name, t.Role, t.Label), true)
	writeJSON(w, http.StatusCreated, newTokenAnswer{Secret: secret, Token: t})
}

func (c *Console) deleteToken(w http.ResponseWriter, r *http.Request) {
	us := c.usersOr404(w)
	if us == nil {
		return
	}
	id, tid := identityOf(r.Context()), r.PathValue("id")
	owner, ok := us.TokenOwner(tid)
	if !ok || !selfOrAdmin(id, owner) {
		writeError(w, http.StatusNotFound, "no such token") // not yours: as if it did not exist
		return
	}
	t, err := us.Revoke(tid)
	if err != nil {
		c.usersError(w, err)
		return
	}
	c.audit(r, AuditTokenRevoke, "token "+t.ID, fmt.Sprintf("of %s, label %q", t.User, t.Label), true)
	w.WriteHeader(http.StatusNoContent)
}

// clipName keeps a name from a request fit for the audit log.
func clipName(s string) string { return cleanAckBy(s) }

// errDetail is an error for the audit log: the users package never puts a password in one.
func errDetail(err error) string { return strings.TrimPrefix(err.Error(), "users: ") }

// limiter counts failures per key in fixed windows that start at a key's first failure.
type limiter struct {
	max    int
	window time.Duration
	cap    int

	mu sync.Mutex
	m  map[string]*failures
}

type failures struct {
	start time.Time
	n     int
}

func newLimiter(max int, window time.Duration, cap int) *limiter {
	return &limiter{max: max, window: window, cap: cap, m: make(map[string]*failures)}
}

// blocked says whether key has used up its failures, and for how long.
func (l *limiter) blocked(key string, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.m[key]
	if !ok {
		return 0, false
	}
	if now.Sub(f.start) >= l.window {
		delete(l.m, key)
		return 0, false
	}
	if f.n < l.max {
		return 0, false
	}
	return f.start.Add(l.window).Sub(now), true
}

// fail counts a failure of key. When the limiter is full it forgets expired keys, then
// the oldest.
func (l *limiter) fail(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.m[key]
	if ok && now.Sub(f.start) >= l.window {
		ok = false
	}
	if !ok {
		if len(l.m) >= l.cap {
			l.evict(now)
		}
		f = &failures{start: now}
		l.m[key] = f
	}
	f.n++
}

func (l *limiter) evict(now time.Time) {
	var oldest string
	for k, f := range l.m {
		if now.Sub(f.start) >= l.window {
			delete(l.m, k)
		} else if oldest == "" || f.start.Before(l.m[oldest].start) {
			oldest = k
		}
	}
	if len(l.m) >= l.cap {
		delete(l.m, oldest)
	}
}

func (l *limiter) reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.m, key)
}
