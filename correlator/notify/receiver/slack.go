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

// SlackConfig configures a Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat).
type SlackConfig struct {
	URL     watchfloor.Secret `yaml:"url"` // the webhook URL is the credential
	Timeout time.Duration     `yaml:"timeout"`
}

// Validate reports every problem of c.
func (c SlackConfig) Validate() []FieldError {
	var errs fieldErrors
	errs.checkURL("url", c.URL.Reveal(), true)
	if c.Timeout < 0 {
		errs.add("timeout", "must not be negative")
	}
	return errs
}

// SlackMessage is the body posted to a Slack incoming webhook.
type SlackMessage struct {
	Text   string       `json:"text"` // the fallback shown in notifications
	Blocks []SlackBlock `json:"blocks"`
}

// SlackBlock is one Block Kit block (header, section, context).
type SlackBlock struct {
	Type      string       `json:"type"`
	Text      *SlackText   `json:"text,omitempty"`
	Fields    []SlackText  `json:"fields,omitempty"`
	Elements  []SlackText  `json:"elements,omitempty"`
	Accessory *SlackButton `json:"accessory,omitempty"`
}

// SlackText is a Block Kit text object.
type SlackText struct {
	Type string `json:"type"` // plain_text or mrkdwn
	Text string `json:"text"`
}

// SlackButton is a link button.
type SlackButton struct {
	Type string    `json:"type"` // "button"
	Text SlackText `json:"text"`
	URL  string    `json:"url"`
}

// Slack posts to a Slack-compatible incoming webhook.
type Slack struct {
	name   string
	cfg    SlackConfig
	client *http.Client
}

var _ notify.Receiver = (*Slack)(nil)

// NewSlack returns a Slack receiver; client nil uses a default client.
func NewSlack(name string, cfg SlackConfig, client *http.Client) (*Slack, error) {
	if err := checkNew(name, cfg.Validate()); err != nil {
		return nil, err
	}
	return &Slack{name: name, cfg: cfg, client: defaultClient(client)}, nil
}

// Name returns the receiver's name.
func (s *Slack) Name() string { return s.name }

// slackEscape escapes the three characters Slack's mrkdwn treats as control characters.
func slackEscape(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '&':
			out = append(out, "&amp;"...)
		case '<':
			out = append(out, "&lt;"...)
		case '>':
			out = append(out, "&gt;"...)
		default:
			out = append(out, s[i])
		}
	}
	return string(out)
}

// SlackPayload builds the message for n.
func SlackPayload(n notify.Notification) SlackMessage {
	head := headline(n)
	text := head + " — " + counts(n)
	if n.Link != "" {
		text += " — " + n.Link
	}
	m := SlackMessage{Text: truncate(text, 3000)}
	m.Blocks = append(m.Blocks, SlackBlock{Type: "header", Text: &SlackText{"plain_text", truncate(head, 150)}})
	sec := SlackBlock{Type: "section", Fields: []SlackText{
		{"mrkdwn", "*Severity:* " + n.Severity.String()},
		{"mrkdwn", "*Status:* " + statusWord(n.Status)},
		{"mrkdwn", "*Alerts:* " + slackEscape(counts(n))},
	}}
	if n.Target != nil && n.Target.Name != "" {
		sec.Fields = append(sec.Fields, SlackText{"mrkdwn", "*On call:* " + slackEscape(n.Target.Name)})
	}
	m.Blocks = append(m.Blocks, sec)
	if n.Summary != "" {
		m.Blocks = append(m.Blocks, SlackBlock{Type: "section", Text: &SlackText{"mrkdwn", truncate(slackEscape(n.Summary), 3000)}})
	}
	if n.Link != "" {
		link := SlackBlock{Type: "section", Text: &SlackText{"mrkdwn", "<" + n.Link + "|Open the incident>"},
			Accessory: &SlackButton{Type: "button", Text: SlackText{"plain_text", "Open"}, URL: n.Link}}
		m.Blocks = append(m.Blocks, link)
	}
	if n.AckLink != "" {
		m.Blocks = append(m.Blocks, SlackBlock{Type: "context", Elements: []SlackText{{"mrkdwn", "<" + n.AckLink + "|Acknowledge>"}}})
	}
	return m
}

// Send makes one POST of n.
func (s *Slack) Send(ctx context.Context, n notify.Notification) error {
	body, err := json.Marshal(SlackPayload(n))
	if err != nil {
		return permanent(fmt.Errorf("slack %s: encode: %w", s.name, err))
	}
	if err := post(ctx, s.client, s.cfg.Timeout, s.cfg.URL.Reveal(), body, nil, is2xx); err != nil {
		return fmt.Errorf("slack %s: %w", s.name, err)
	}
	return nil
}
