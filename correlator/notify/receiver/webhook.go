package receiver

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/correlator/notify"
)

// The generic webhook's headers.
const (
	HeaderSignature = "X-Watchfloor-Signature" // "sha256=" + hex HMAC-SHA256 of "TIMESTAMP." + body
	HeaderTimestamp = "X-Watchfloor-Timestamp" // Unix seconds of the attempt
)

// WebhookConfig configures a generic webhook receiver.
type WebhookConfig struct {
	URL     string            `yaml:"url"`
	Secret  watchfloor.Secret `yaml:"secret"`  // HMAC key; empty: requests are not signed
	Timeout time.Duration     `yaml:"timeout"` // per attempt; 0: DefaultTimeout
}

// Validate reports every problem of c.
func (c WebhookConfig) Validate() []FieldError {
	var errs fieldErrors
	errs.checkURL("url", c.URL, false)
	if c.Timeout < 0 {
		errs.add("timeout", "must not be negative")
	}
	return errs
}

// Webhook posts the Notification as JSON, signed with HMAC-SHA256.
type Webhook struct {
	name   string
	cfg    WebhookConfig
	client *http.Client
	now    func() time.Time
}

var _ notify.Receiver = (*Webhook)(nil)

// NewWebhook returns a webhook receiver; client nil uses a default client.
func NewWebhook(name string, cfg WebhookConfig, client *http.Client) (*Webhook, error) {
	if err := checkNew(name, cfg.Validate()); err != nil {
		return nil, err
	}
	return &Webhook{name: name, cfg: cfg, client: defaultClient(client), now: time.Now}, nil
}

// Name returns the receiver's name.
func (w *Webhook) Name() string { return w.name }

// Send makes one POST of n.
func (w *Webhook) Send(ctx context.Context, n notify.Notification) error {
	body, err := json.Marshal(n)
	if err != nil {
		return permanent(fmt.Errorf("webhook %s: encode: %w", w.name, err))
	}
	hdr := http.Header{}
	ts := strconv.FormatInt(w.now().Unix(), 10)
	hdr.Set(HeaderTimestamp, ts)
	if w.cfg.Secret != "" {
		hdr.Set(HeaderSignature, Sign(w.cfg.Secret, ts, body))
	}
	if err := post(ctx, w.client, w.cfg.Timeout, w.cfg.URL, body, hdr, is2xx); err != nil {
		return fmt.Errorf("webhook %s: %w", w.name, err)
	}
	return nil
}

// Sign returns the X-Watchfloor-Signature value of a request: "sha256=" and the hex
// HMAC-SHA256 of the X-Watchfloor-Timestamp value, a dot, and the body. Signing the time
// with the body lets a receiver refuse a captured request replayed later.
func Sign(secret watchfloor.Secret, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret.Reveal()))
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// VerifySignature checks a X-Watchfloor-Signature value in constant time, and that its
// timestamp is within maxAge of now (0: any age); receivers of the webhook (and tests) use it.
func VerifySignature(secret watchfloor.Secret, timestamp string, body []byte, header string, now time.Time, maxAge time.Duration) bool {
	if maxAge > 0 {
		ts, err := strconv.ParseInt(timestamp, 10, 64)
		if err != nil {
			return false
		}
		if d := now.Sub(time.Unix(ts, 0)); d > maxAge || d < -maxAge {
			return false
		}
	}
	return hmac.Equal([]byte(Sign(secret, timestamp, body)), []byte(header))
}

// checkNew turns validation errors into one constructor error.
func checkNew(name string, errs []FieldError) error {
	if !validName(name) {
		return fmt.Errorf("receiver: invalid name %q (letters, digits, '-', '_', '.', at most 64)", name)
	}
	if len(errs) == 0 {
		return nil
	}
	msg := ""
	for i, e := range errs {
		if i > 0 {
			msg += "; "
		}
		msg += e.Error()
	}
	return fmt.Errorf("receiver %s: %s", name, msg)
}
