package receiver

import (
	"net/http"

	"github.com/watchfloor/watchfloor/correlator/notify"
)

// SlackConfig configures a Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat).
type SlackConfig = ChatConfig

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
type Slack struct{ chatWebhook }

var _ notify.Receiver = (*Slack)(nil)

// NewSlack returns a Slack receiver; client nil uses a default client.
func NewSlack(name string, cfg SlackConfig, client *http.Client) (*Slack, error) {
	c, err := newChatWebhook(name, "slack", cfg, client, func(n notify.Notification) any { return SlackPayload(n) })
	return &Slack{c}, err
}

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
