package console

import (
	"net"
	"net/http"
	"time"
)

// AuditEntry is one action of an analyst or admin — or an attempt — as the audit log keeps
// it.
type AuditEntry struct {
	Seq    uint64    `json:"seq"` // assigned by the log: increasing
	Time   time.Time `json:"time"`
	Who    string    `json:"who"`  // the user or token owner; the name tried, for a failed login
	Role   string    `json:"role"` // viewer, analyst, admin; empty when not authenticated
	Via    string    `json:"via"`  // token, session, link
	Action string    `json:"action"`
	Target string    `json:"target,omitempty"` // "alert 42", "silence 9f…", "user ann", "token t-3"
	Detail string    `json:"detail,omitempty"` // a comment, a silence's matchers: never a secret
	Remote string    `json:"remote,omitempty"` // the client's address
	OK     bool      `json:"ok"`               // false: refused (a failed login, a forbidden action)
}

// Audit actions.
const (
	AuditAlertAck      = "alert.ack"
	AuditAlertResolve  = "alert.resolve"
	AuditAlertAssign   = "alert.assign"
	AuditAlertComment  = "alert.comment"
	AuditSilenceAdd    = "silence.add"
	AuditSilenceDelete = "silence.delete"
	AuditLogin         = "login"
	AuditLogout        = "logout"
	AuditUserAdd       = "user.add"
	AuditUserPasswd    = "user.passwd"
	AuditUserDelete    = "user.delete"
	AuditTokenAdd      = "token.add"
	AuditTokenRevoke   = "token.revoke"
	AuditBackup        = "backup"
	AuditReport        = "report.generate"
	AuditForbidden     = "forbidden" // a request refused for its role (403)
)

// AuditQuery selects audit entries, newest first. Zero fields do not filter.
type AuditQuery struct {
	Since, Until time.Time
	Who, Action  string
	Limit        int // 0: 100, at most 1000
}

// Audit is the audit log (the store keeps it).
type Audit interface {
	RecordAudit(e AuditEntry) error
	AuditLog(q AuditQuery) ([]AuditEntry, error)
}

// audit records an action of the request's identity; a failure to record is logged, and
// counted in watchfloor_console_audit_errors_total, never silently dropped.
func (c *Console) audit(r *http.Request, action, target, detail string, ok bool) {
	if c.deps.Audit == nil {
		return
	}
	id := identityOf(r.Context())
	e := AuditEntry{Time: c.now(), Who: id.Name, Via: id.Via, Action: action, Target: target, Detail: detail, OK: ok,
		Remote: remoteHost(r)}
	if id.Role != RoleNone {
		e.Role = id.Role.String()
	}
	if err := c.deps.Audit.RecordAudit(e); err != nil {
		c.m.auditErrors.Inc()
		c.log.Error("audit entry not recorded", "action", action, "who", e.Who, "target", target, "err", err)
	}
}

// remoteHost is the client's address without the port.
func remoteHost(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}
