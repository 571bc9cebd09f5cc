package console

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/watchfloor/watchfloor"
)

// AckSigner makes and checks the signed links that acknowledge an alert from a page (mail,
// chat, pager). A link is
//
//	BaseURL/api/v1/alerts/{id}/ack?by=NAME&exp=UNIX&sig=HEX
//
// where sig is the lower-case hex HMAC-SHA256, under Key, of this byte string:
//
//	"watchfloor-ack" 0x00 | id: 8 bytes big-endian | exp: 8 bytes big-endian (two's complement)
//	| len(by): 4 bytes big-endian | by
//
// Every part has a fixed width or a length prefix, so no two (id, by, exp) share a message.
// Opening a link (GET) shows the alert and a button; only the button's POST acknowledges, on
// behalf of "NAME (link)". A link is valid until exp (exclusive) and never longer than TTL
// ahead of the checking clock.
//
// The key is never printed: String, GoString and LogValue redact it.
type AckSigner struct {
	Key     []byte        // at least MinAckKeyLen bytes
	BaseURL string        // where people reach the console, e.g. Config.BaseURL()
	TTL     time.Duration // how long a link stays valid; 0: DefaultAckLinkTTL
}

// Limits of acknowledgement links.
const (
	MinAckKeyLen = 32 // bytes of AckSigner.Key
	MaxAckByLen  = 64 // bytes of the by parameter
	ackSigLen    = 2 * sha256.Size
	ackDomain    = "watchfloor-ack"
	// ackLinkComment is the comment of an acknowledgement made from a link.
	ackLinkComment = "acknowledged from a notification link"
	// ackLinkDefaultBy is who a link acknowledges as when Link is given no usable name.
	ackLinkDefaultBy = "on-call"
)

// Why Verify refuses a link.
var (
	ErrAckLinkInvalid = errors.New("invalid acknowledgement link")
	ErrAckLinkExpired = errors.New("acknowledgement link expired")
)

func (s AckSigner) ttl() time.Duration {
	if s.TTL <= 0 {
		return DefaultAckLinkTTL
	}
	return s.TTL
}

// sum is the link's HMAC.
func (s AckSigner) sum(alertID uint64, by string, exp int64) []byte {
	m := hmac.New(sha256.New, s.Key)
	var b [len(ackDomain) + 1 + 8 + 8 + 4]byte
	n := copy(b[:], ackDomain) + 1 // b[n-1] stays 0
	binary.BigEndian.PutUint64(b[n:], alertID)
	binary.BigEndian.PutUint64(b[n+8:], uint64(exp))
	binary.BigEndian.PutUint32(b[n+16:], uint32(len(by)))
	m.Write(b[:])
	m.Write([]byte(by))
	return m.Sum(nil)
}

// Link returns the link that acknowledges alertID as by, valid for TTL from now. A by that
// Verify would refuse is cleaned first: control and format characters and invalid UTF-8 are
// dropped, it is cut to MaxAckByLen bytes, and an empty one becomes "on-call". Link returns
// "" when the key is shorter than MinAckKeyLen or alertID is 0: no link is better than one
// that cannot work.
func (s AckSigner) Link(alertID uint64, by string, now time.Time) string {
	if len(s.Key) < MinAckKeyLen || alertID == 0 {
		return ""
	}
	by = cleanAckBy(by)
	exp := now.Add(s.ttl()).Unix()
	q := url.Values{
		"by":  {by},
		"exp": {strconv.FormatInt(exp, 10)},
		"sig": {hex.EncodeToString(s.sum(alertID, by, exp))},
	}
	return strings.TrimRight(s.BaseURL, "/") + "/api/v1/alerts/" + strconv.FormatUint(alertID, 10) + "/ack?" + q.Encode()
}

// Verify checks a link's parameters at now. It answers nil for a link Link made for alertID
// and by that has not expired, an error wrapping ErrAckLinkExpired for one that has, and an
// error wrapping ErrAckLinkInvalid for anything else (a bad or tampered signature, a by
// Link would not make, an expiry further ahead than TTL, no usable key). The signature is
// compared in constant time, and before the expiry is looked at, so a tampered exp is
// invalid, not expired.
func (s AckSigner) Verify(alertID uint64, by string, exp int64, sig string, now time.Time) error {
	if len(s.Key) < MinAckKeyLen {
		return fmt.Errorf("%w: no signing key", ErrAckLinkInvalid)
	}
	if alertID == 0 {
		return fmt.Errorf("%w: no alert", ErrAckLinkInvalid)
	}
	if err := checkAckBy(by); err != nil {
		return fmt.Errorf("%w: by: %v", ErrAckLinkInvalid, err)
	}
	if len(sig) != ackSigLen {
		return fmt.Errorf("%w: bad signature", ErrAckLinkInvalid)
	}
	got, err := hex.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.sum(alertID, by, exp)) {
		return fmt.Errorf("%w: bad signature", ErrAckLinkInvalid)
	}
	if now.Unix() >= exp {
		return fmt.Errorf("%w at %s", ErrAckLinkExpired, time.Unix(exp, 0).UTC().Format(time.RFC3339))
	}
	if exp > now.Add(s.ttl()).Unix() {
		return fmt.Errorf("%w: it expires further ahead than links live (%v)", ErrAckLinkInvalid, s.ttl())
	}
	return nil
}

// String hides the key from fmt.
func (s AckSigner) String() string {
	return fmt.Sprintf("AckSigner{Key: [redacted %d bytes], BaseURL: %q, TTL: %v}", len(s.Key), s.BaseURL, s.ttl())
}

// GoString hides the key from %#v.
func (s AckSigner) GoString() string { return s.String() }

// LogValue hides the key from log/slog.
func (s AckSigner) LogValue() slog.Value {
	return slog.GroupValue(slog.String("base_url", s.BaseURL), slog.Duration("ttl", s.ttl()))
}

// checkAckBy accepts a name of 1..MaxAckByLen bytes of valid UTF-8 without control or
// format characters (which could hide or reorder what a page or log shows).
func checkAckBy(by string) error {
	switch {
	case by == "":
		return errors.New("empty")
	case len(by) > MaxAckByLen:
		return fmt.Errorf("longer than %d bytes", MaxAckByLen)
	case !utf8.ValidString(by):
		return errors.New("not UTF-8")
	case strings.ContainsFunc(by, badAckRune):
		return errors.New("has control or format characters")
	}
	return nil
}

func badAckRune(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }

// cleanAckBy makes by a name checkAckBy accepts.
func cleanAckBy(by string) string {
	var b strings.Builder
	for _, r := range by {
		if r == utf8.RuneError || badAckRune(r) {
			continue
		}
		if b.Len()+utf8.RuneLen(r) > MaxAckByLen {
			break
		}
		b.WriteRune(r)
	}
	if s := strings.TrimSpace(b.String()); s != "" {
		return s
	}
	return ackLinkDefaultBy
}

// parseAckQuery reads by, exp and sig from a link's query: each exactly once, exp a
// positive decimal, sig 64 hex digits. It checks the form only; Verify checks the rest.
func parseAckQuery(q url.Values) (by string, exp int64, sig string, err error) {
	for _, name := range []string{"by", "exp", "sig"} {
		if n := len(q[name]); n != 1 {
			if n == 0 {
				return "", 0, "", fmt.Errorf("%w: no %s", ErrAckLinkInvalid, name)
			}
			return "", 0, "", fmt.Errorf("%w: %s given %d times", ErrAckLinkInvalid, name, n)
		}
	}
	by, sig = q.Get("by"), q.Get("sig")
	if err := checkAckBy(by); err != nil {
		return "", 0, "", fmt.Errorf("%w: by: %v", ErrAckLinkInvalid, err)
	}
	s := q.Get("exp")
	if s == "" || len(s) > 19 || !isDigits(s) {
		return "", 0, "", fmt.Errorf("%w: exp is not a unix time", ErrAckLinkInvalid)
	}
	if exp, err = strconv.ParseInt(s, 10, 64); err != nil || exp <= 0 {
		return "", 0, "", fmt.Errorf("%w: exp is not a unix time", ErrAckLinkInvalid)
	}
	if len(sig) != ackSigLen {
		return "", 0, "", fmt.Errorf("%w: bad signature", ErrAckLinkInvalid)
	}
	return by, exp, sig, nil
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ackLinks is the console's part of acknowledgement links.
type ackLinks struct {
	signer  AckSigner
	enabled bool
	results *prometheus.CounterVec // result
}

// The results of watchfloor_console_ack_links_total.
var ackLinkResults = []string{"shown", "acked", "refused", "invalid", "expired", "disabled"}

// initAckLinks checks Deps.AckKey, builds the signer and registers the link metrics.
func (c *Console) initAckLinks() error {
	key := c.deps.AckKey.Reveal()
	if key != "" && len(key) < MinAckKeyLen {
		return fmt.Errorf("console: the acknowledgement link key has %d bytes, want at least %d", len(key), MinAckKeyLen)
	}
	c.ack = ackLinks{
		signer:  AckSigner{Key: []byte(key), BaseURL: c.cfg.BaseURL(), TTL: c.cfg.AckLinkTTL},
		enabled: key != "",
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchfloor_console_ack_links_total",
			Help: "Requests of signed acknowledgement links, by result (shown, acked, refused: the alert could not be acknowledged, invalid, expired, disabled).",
		}, []string{"result"}),
	}
	for _, r := range ackLinkResults {
		c.ack.results.WithLabelValues(r)
	}
	if err := c.deps.Registerer.Register(c.ack.results); err != nil {
		return fmt.Errorf("console: register ack link metrics: %w", err)
	}
	return nil
}

// AckSigner returns the signer of the console's acknowledgement links, for the appliance to
// put links in notifications. Its Link answers "" when there is no Deps.AckKey.
func (c *Console) AckSigner() AckSigner {
	s := c.ack.signer
	s.Key = append([]byte(nil), s.Key...) // the caller cannot change the console's key
	return s
}

// IncidentLink is Config.IncidentLink of the console's configuration.
func (c *Console) IncidentLink(alertID uint64) string { return c.cfg.IncidentLink(alertID) }

// ackRoutes registers POST and GET /api/v1/alerts/{id}/ack. POST with an Authorization
// header, or with an X-CSRF-Token header (a console page's request in a login session), is
// the authenticated path, whatever the query says (a bad token or session is 401, a wrong
// CSRF token 403, even when the query carries a good signature); POST without either but
// with any of by, exp or sig is a signed link — also when the browser sends a session
// cookie, since the link page's form cannot carry the CSRF header and its signature is
// what authorizes it; POST with neither is the authenticated path (a session cookie
// alone then meets the CSRF check: 403). GET is always a signed link and never
// acknowledges.
func (c *Console) ackRoutes(mux *http.ServeMux) {
	withToken := c.require(RoleAnalyst, false, c.alertAction("ack", Alerts.Ack))
	c.auth.routes = append(c.auth.routes, routeInfo{"POST /api/v1/alerts/{id}/ack", RoleAnalyst, false})
	mux.Handle("POST /api/v1/alerts/{id}/ack", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, hasAuth := r.Header["Authorization"]
		_, hasCSRF := r.Header[http.CanonicalHeaderKey(CSRFHeader)]
		q := r.URL.Query()
		if hasAuth || hasCSRF || !(q.Has("by") || q.Has("exp") || q.Has("sig")) {
			withToken.ServeHTTP(w, r)
			return
		}
		c.signedAck(w, r, true)
	}))
	mux.HandleFunc("GET /api/v1/alerts/{id}/ack", func(w http.ResponseWriter, r *http.Request) {
		c.signedAck(w, r, false)
	})
}

// signedAck serves a signed link: it checks the signature before it looks at the alert, so
// that an invalid link learns nothing, then shows the alert (GET) or acknowledges it
// (POST).
func (c *Console) signedAck(w http.ResponseWriter, r *http.Request, post bool) {
	count := func(result string) { c.ack.results.WithLabelValues(result).Inc() }
	if !c.ack.enabled {
		count("disabled")
		c.ackPage(w, http.StatusForbidden, ackPageData{Heading: "Acknowledgement links are off",
			Message: "This console does not accept acknowledgement links. Open the console to acknowledge."})
		return
	}
	id, idErr := strconv.ParseUint(r.PathValue("id"), 10, 64)
	by, exp, sig, err := parseAckQuery(r.URL.Query())
	if err == nil && idErr != nil {
		err = fmt.Errorf("%w: bad alert ID", ErrAckLinkInvalid)
	}
	if err == nil {
		err = c.ack.signer.Verify(id, by, exp, sig, c.now())
	}
	if errors.Is(err, ErrAckLinkExpired) {
		count("expired")
		c.ackPage(w, http.StatusForbidden, ackPageData{Heading: "This link has expired",
			Message: "It was valid until " + fmtTime(time.Unix(exp, 0)) + ". Open the console to acknowledge."})
		return
	}
	if err != nil {
		count("invalid")
		c.log.Debug("ack link refused", "err", err)
		c.ackPage(w, http.StatusForbidden, ackPageData{Heading: "This link is not valid",
			Message: "It may have been changed or cut short. Open the console to acknowledge."})
		return
	}
	if c.deps.Alerts == nil {
		count("refused")
		c.ackPage(w, http.StatusNotFound, ackPageData{Heading: "No correlator", Message: "This console has no alerts."})
		return
	}
	d := ackPageData{By: by}
	if post {
		who := by + " (link)"
		err := c.deps.Alerts.Ack(id, who, ackLinkComment)
		c.audit(r.WithContext(withIdentity(r.Context(), Identity{Name: who, Via: "link"})), AuditAlertAck,
			"alert "+strconv.FormatUint(id, 10), ackLinkComment, err == nil)
		code := http.StatusOK
		switch {
		case err == nil:
			count("acked")
			c.log.Info("alert ack", "id", id, "who", who, "via", "link")
			d.Heading = fmt.Sprintf("Alert #%d acknowledged", id)
			d.Message = "Acknowledged as " + who + "."
		case errors.Is(err, ErrNotFound):
			count("refused")
			c.ackPage(w, http.StatusNotFound, ackPageData{Heading: "Unknown alert", Message: fmt.Sprintf("There is no alert #%d.", id)})
			return
		case errors.Is(err, ErrState):
			count("refused")
			code = http.StatusConflict
			d.Heading = fmt.Sprintf("Alert #%d was not acknowledged", id)
			d.Message = "It cannot be acknowledged in its state."
		default:
			count("refused")
			c.log.Error("ack from link", "id", id, "who", who, "err", err)
			c.ackPage(w, http.StatusInternalServerError, ackPageData{Heading: "Acknowledgement failed",
				Message: "The console could not acknowledge the alert. Try again, or open the console."})
			return
		}
		if a, ok := c.deps.Alerts.Get(id); ok {
			d.Alert = ackAlertView(a)
		}
		c.ackPage(w, code, d)
		return
	}
	a, ok := c.deps.Alerts.Get(id)
	if !ok {
		count("refused")
		c.ackPage(w, http.StatusNotFound, ackPageData{Heading: "Unknown alert", Message: fmt.Sprintf("There is no alert #%d.", id)})
		return
	}
	count("shown")
	d.Alert = ackAlertView(a)
	if a.State == watchfloor.AlertFiring {
		d.Heading = fmt.Sprintf("Acknowledge alert #%d?", id)
		// Relative, so that it works behind a proxy that adds a path prefix; only the
		// checked parameters, re-encoded.
		d.Action = "ack?" + url.Values{"by": {by}, "exp": {strconv.FormatInt(exp, 10)}, "sig": {sig}}.Encode()
	} else {
		d.Heading = fmt.Sprintf("Alert #%d is %s", id, a.State)
	}
	c.ackPage(w, http.StatusOK, d)
}

// ackPageData fills ackPageTemplate.
type ackPageData struct {
	Heading, Message string
	Alert            *ackAlert
	By               string
	Action           string // the form's action; "": no button
}

// ackAlert is what the page shows of an alert.
type ackAlert struct {
	ID                uint64
	Title, Severity   string
	State, Where      string
	Started           string
	AckedBy, AckedAt  string
	Resolved, Silence string
}

func ackAlertView(a watchfloor.Alert) *ackAlert {
	v := &ackAlert{ID: a.ID, Title: a.Title, Severity: a.Severity.String(), State: a.State.String(), Started: fmtTime(a.StartedAt)}
	var where []string
	for _, s := range []string{a.Entity.Site, a.Entity.Device, a.Entity.Interface, a.Entity.Host} {
		if s != "" {
			where = append(where, s)
		}
	}
	v.Where = strings.Join(where, " / ")
	if a.State != watchfloor.AlertFiring && a.AckedBy != "" {
		v.AckedBy, v.AckedAt = a.AckedBy, fmtTime(a.AckedAt)
	}
	if a.State == watchfloor.AlertResolved {
		v.Resolved = fmtTime(a.ResolvedAt)
	}
	if a.Silenced {
		v.Silence = "silenced"
	}
	return v
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// ackPageTemplate is the page of a link: self-contained, no script, no style, so that the
// console's Content-Security-Policy holds as it is.
var ackPageTemplate = template.Must(template.New("ack").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex, nofollow">
<title>{{.Heading}} · Watchfloor</title>
</head>
<body>
<main>
<h1>{{.Heading}}</h1>
{{with .Message}}<p>{{.}}</p>
{{end}}{{with .Alert}}<dl>
<dt>Alert</dt><dd>#{{.ID}} {{.Title}}</dd>
<dt>Severity</dt><dd>{{.Severity}}</dd>
<dt>State</dt><dd>{{.State}}{{with .Silence}} ({{.}}){{end}}</dd>
{{with .Where}}<dt>Where</dt><dd>{{.}}</dd>
{{end}}{{with .Started}}<dt>Started</dt><dd>{{.}}</dd>
{{end}}{{with .AckedBy}}<dt>Acknowledged by</dt><dd>{{.}}{{with $.Alert.AckedAt}} at {{.}}{{end}}</dd>
{{end}}{{with .Resolved}}<dt>Resolved</dt><dd>{{.}}</dd>
{{end}}</dl>
{{end}}{{with .Action}}<form method="post" action="{{.}}">
<p><button type="submit">Acknowledge as {{$.By}}</button></p>
</form>
{{end}}</main>
</body>
</html>
`))

// ackPage writes the page of a link with the console's security headers.
func (c *Console) ackPage(w http.ResponseWriter, code int, d ackPageData) {
	var b strings.Builder
	if err := ackPageTemplate.Execute(&b, d); err != nil {
		c.log.Error("ack page", "err", err)
		writeError(w, http.StatusInternalServerError, "cannot render the page")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer") // the URL carries the signature
	h.Set("Cache-Control", "no-store")
	h.Set("X-Robots-Tag", "noindex")
	w.WriteHeader(code)
	w.Write([]byte(b.String()))
}
