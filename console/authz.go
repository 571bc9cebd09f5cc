package console

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// Role is what a request may do. Each role may do what the ones below it may.
type Role uint8

// The roles.
const (
	RoleNone    Role = iota
	RoleViewer       // read everything, stream: the wall's display tokens, leadership
	RoleAnalyst      // also acknowledge, assign, comment, silence, resolve
	RoleAdmin        // also users, tokens, backups, the audit log
)

var roleNames = [...]string{"none", "viewer", "analyst", "admin"}

func (r Role) String() string {
	if int(r) < len(roleNames) {
		return roleNames[r]
	}
	return fmt.Sprintf("role(%d)", uint8(r))
}

// MarshalText makes a Role its name in JSON.
func (r Role) MarshalText() ([]byte, error) {
	if r == RoleNone || int(r) >= len(roleNames) {
		return nil, fmt.Errorf("invalid role %d", uint8(r))
	}
	return []byte(r.String()), nil
}

// UnmarshalText reads a role's name; "display" is the viewer.
func (r *Role) UnmarshalText(b []byte) error {
	v, err := ParseRole(string(b))
	if err == nil {
		*r = v
	}
	return err
}

// ParseRole reads "viewer" (or "display"), "analyst" or "admin".
func ParseRole(s string) (Role, error) {
	switch s {
	case "viewer", "display":
		return RoleViewer, nil
	case "analyst":
		return RoleAnalyst, nil
	case "admin":
		return RoleAdmin, nil
	}
	return RoleNone, fmt.Errorf("unknown role %q (want viewer, display, analyst or admin)", s)
}

// Identity is who made a request and how they proved it.
type Identity struct {
	Name string    `json:"name"` // the user, or the token's owner
	Role Role      `json:"role"`
	Via  string    `json:"via"`            // "token" (Authorization or ?token=), "session" (cookie), "link" (a signed ack link)
	CSRF string    `json:"csrf,omitempty"` // the session's CSRF token (Via "session")
	Exp  time.Time `json:"expires,omitzero"`
}

// identityKey is the context key of the Identity a request was authenticated as.
type identityKey struct{}

func withIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// identityOf is who made the request, as authentication established it.
func identityOf(ctx context.Context) Identity {
	id, _ := ctx.Value(identityKey{}).(Identity)
	return id
}

// identity is the name of who made the request, for logs and alert histories.
func identity(ctx context.Context) string {
	if id := identityOf(ctx); id.Name != "" {
		return id.Name
	}
	return "unknown"
}

// handle registers an API route that needs at least role min: authenticated by authenticate
// (401 when it fails, 403 below min), CSRF-checked for cookie sessions on unsafe methods.
// query allows the token in ?token= (WebSocket and kiosk clients cannot set headers).
func (c *Console) handle(mux *http.ServeMux, pattern string, min Role, query bool, h http.HandlerFunc) {
	c.auth.routes = append(c.auth.routes, routeInfo{pattern, min, query})
	mux.Handle(pattern, c.require(min, query, h))
}

func (c *Console) require(min Role, query bool, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := c.authenticate(w, r, query)
		if !ok {
			return // authenticate answered
		}
		if id.Role < min {
			c.forbid(w, r.WithContext(withIdentity(r.Context(), id)), "", fmt.Sprintf("%s may not do this: it needs the %s role", id.Role, min))
			return
		}
		h(w, r.WithContext(withIdentity(r.Context(), id)))
	})
}
