package receiver

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/correlator/notify"
)

// ChatConfig configures a chat tool's incoming webhook (Slack and its kin, Teams): the URL
// is the credential.
type ChatConfig struct {
	URL     watchfloor.Secret `yaml:"url"` // the webhook URL is the credential
	Timeout time.Duration     `yaml:"timeout"`
}

// Validate reports every problem of c.
func (c ChatConfig) Validate() []FieldError {
	var errs fieldErrors
	errs.checkURL("url", c.URL.Reveal(), true)
	if c.Timeout < 0 {
		errs.add("timeout", "must not be negative")
	}
	return errs
}

// chatWebhook posts a chat tool's rendering of a notification to its incoming webhook.
type chatWebhook struct {
	name    string
	kind    string // "slack", "teams": in errors
	cfg     ChatConfig
	client  *http.Client
	payload func(notify.Notification) any
}

func newChatWebhook(name, kind string, cfg ChatConfig, client *http.Client, payload func(notify.Notification) any) (chatWebhook, error) {
	if err := checkNew(name, cfg.Validate()); err != nil {
		return chatWebhook{}, err
	}
	return chatWebhook{name: name, kind: kind, cfg: cfg, client: defaultClient(client), payload: payload}, nil
}

// Name returns the receiver's name.
func (c *chatWebhook) Name() string { return c.name }

// Send makes one POST of n.
func (c *chatWebhook) Send(ctx context.Context, n notify.Notification) error {
	body, err := json.Marshal(c.payload(n))
	if err != nil {
		return permanent(fmt.Errorf("%s %s: encode: %w", c.kind, c.name, err))
	}
	if err := post(ctx, c.client, c.cfg.Timeout, c.cfg.URL.Reveal(), body, nil, is2xx); err != nil {
		return fmt.Errorf("%s %s: %w", c.kind, c.name, err)
	}
	return nil
}
