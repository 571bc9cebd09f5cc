package receiver

import (
	"net/http"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/correlator/notify"
)

// TeamsConfig configures a Microsoft Teams incoming webhook (or a Workflows "post to a
// channel when a webhook request is received" URL, which takes the same body).
type TeamsConfig = ChatConfig

// TeamsMessage is the body posted to Teams: a message carrying one Adaptive Card.
type TeamsMessage struct {
	Type        string            `json:"type"` // "message"
	Attachments []TeamsAttachment `json:"attachments"`
}

// TeamsAttachment holds the card.
type TeamsAttachment struct {
	ContentType string       `json:"contentType"` // "application/vnd.microsoft.card.adaptive"
	ContentURL  *string      `json:"contentUrl"`  // always null
	Content     AdaptiveCard `json:"content"`
}

// AdaptiveCard is the subset of the Adaptive Card schema Watchfloor uses.
type AdaptiveCard struct {
	Schema  string          `json:"$schema"`
	Type    string          `json:"type"` // "AdaptiveCard"
	Version string          `json:"version"`
	Body    []CardElement   `json:"body"`
	Actions []CardAction    `json:"actions,omitempty"`
	MSTeams *CardTeamsWidth `json:"msteams,omitempty"`
}

// CardTeamsWidth asks Teams for a full-width card.
type CardTeamsWidth struct {
	Width string `json:"width"`
}

// CardElement is a TextBlock or a FactSet.
type CardElement struct {
	Type   string `json:"type"`
	Text   string `json:"text,omitempty"`
	Weight string `json:"weight,omitempty"`
	Size   string `json:"size,omitempty"`
	Color  string `json:"color,omitempty"`
	Wrap   bool   `json:"wrap,omitempty"`
	Facts  []Fact `json:"facts,omitempty"`
}

// Fact is one title/value line of a FactSet.
type Fact struct {
	Title string `json:"title"`
	Value string `json:"value"`
}

// CardAction is an Action.OpenUrl button.
type CardAction struct {
	Type  string `json:"type"`
	Title string `json:"title"`
	URL   string `json:"url"`
}

// TeamsPayload builds the message for n.
func TeamsPayload(n notify.Notification) TeamsMessage {
	color := "Default"
	switch {
	case n.Status == notify.StatusResolved:
		color = "Good"
	case n.Severity >= watchfloor.SeverityHigh:
		color = "Attention"
	case n.Severity == watchfloor.SeverityMedium:
		color = "Warning"
	}
	facts := []Fact{{"Severity", n.Severity.String()}, {"Status", statusWord(n.Status)}, {"Alerts", counts(n)}}
	if n.Target != nil && n.Target.Name != "" {
		facts = append(facts, Fact{"On call", n.Target.Name})
	}
	card := AdaptiveCard{
		Schema:  "http://adaptivecards.io/schemas/adaptive-card.json",
		Type:    "AdaptiveCard",
		Version: "1.4",
		Body: []CardElement{
			{Type: "TextBlock", Text: headline(n), Weight: "Bolder", Size: "Medium", Color: color, Wrap: true},
		},
		MSTeams: &CardTeamsWidth{Width: "Full"},
	}
	if n.Summary != "" {
		card.Body = append(card.Body, CardElement{Type: "TextBlock", Text: n.Summary, Wrap: true})
	}
	card.Body = append(card.Body, CardElement{Type: "FactSet", Facts: facts})
	if n.Link != "" {
		card.Actions = append(card.Actions, CardAction{Type: "Action.OpenUrl", Title: "Open the incident", URL: n.Link})
	}
	if n.AckLink != "" {
		card.Actions = append(card.Actions, CardAction{Type: "Action.OpenUrl", Title: "Acknowledge", URL: n.AckLink})
	}
	return TeamsMessage{Type: "message", Attachments: []TeamsAttachment{{
		ContentType: "application/vnd.microsoft.card.adaptive", Content: card,
	}}}
}

// Teams posts an Adaptive Card to a Teams webhook.
type Teams struct{ chatWebhook }

var _ notify.Receiver = (*Teams)(nil)

// NewTeams returns a Teams receiver; client nil uses a default client.
func NewTeams(name string, cfg TeamsConfig, client *http.Client) (*Teams, error) {
	c, err := newChatWebhook(name, "teams", cfg, client, func(n notify.Notification) any { return TeamsPayload(n) })
	return &Teams{c}, err
}
