package appliance

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/watchfloor/watchfloor/correlator/notify"
	"github.com/watchfloor/watchfloor/correlator/notify/oncall"
	"github.com/watchfloor/watchfloor/correlator/notify/receiver"
)

// AlertingConfig is the `alerting:` block: where alerts are sent (receivers), how they are
// routed and grouped (route, time_windows: correlator/notify's routing file), and who is on
// call (people, schedules, policies: correlator/notify/oncall's). Documented in
// docs/alerting.md.
type AlertingConfig struct {
	Receivers []ReceiverConfig `yaml:"receivers,omitempty"`
	// Route and TimeWindows are kept as written and read by notify.ParseConfig, which knows
	// their finer points (durations such as "1d", a group_by set to [] on purpose).
	Route         yaml.Node `yaml:"route,omitempty"`
	TimeWindows   yaml.Node `yaml:"time_windows,omitempty"`
	oncall.Config `yaml:",inline"`
	// Delivery tunes retries and queues; unset fields keep receiver.DefaultDelivererConfig's.
	Delivery *receiver.DelivererConfig `yaml:"delivery,omitempty"`
}

// ReceiverConfig is one receiver: its name and exactly one block saying its type and
// settings (`{name: noc-slack, slack: {url: …}}`).
type ReceiverConfig struct {
	Name      string                    `yaml:"name"`
	Webhook   *receiver.WebhookConfig   `yaml:"webhook,omitempty"`
	Slack     *receiver.SlackConfig     `yaml:"slack,omitempty"`
	Teams     *receiver.TeamsConfig     `yaml:"teams,omitempty"`
	PagerDuty *receiver.PagerDutyConfig `yaml:"pagerduty,omitempty"`
	Email     *receiver.EmailConfig     `yaml:"email,omitempty"`
	Syslog    *receiver.SyslogConfig    `yaml:"syslog,omitempty"`
}

// ReceiverTypes are the type blocks a receiver may have, one of them.
var ReceiverTypes = []string{"webhook", "slack", "teams", "pagerduty", "email", "syslog"}

// Types lists the type blocks set on r, in ReceiverTypes order (valid: exactly one).
func (r ReceiverConfig) Types() []string {
	var out []string
	for i, set := range []bool{r.Webhook != nil, r.Slack != nil, r.Teams != nil, r.PagerDuty != nil, r.Email != nil, r.Syslog != nil} {
		if set {
			out = append(out, ReceiverTypes[i])
		}
	}
	return out
}

// Type is the receiver's type ("slack"), or "" when it does not have exactly one.
func (r ReceiverConfig) Type() string {
	if t := r.Types(); len(t) == 1 {
		return t[0]
	}
	return ""
}

// validate reports the receiver's problems, fields relative to the receiver.
func (r ReceiverConfig) validate() []fieldError {
	var errs []fieldError
	add := func(prefix string, fes []receiver.FieldError) {
		for _, e := range fes {
			errs = append(errs, fieldError{prefix + "." + e.Field, e.Msg})
		}
	}
	switch {
	case r.Webhook != nil:
		add("webhook", r.Webhook.Validate())
	case r.Slack != nil:
		add("slack", r.Slack.Validate())
	case r.Teams != nil:
		add("teams", r.Teams.Validate())
	case r.PagerDuty != nil:
		add("pagerduty", r.PagerDuty.Validate())
	case r.Email != nil:
		add("email", r.Email.Validate())
	case r.Syslog != nil:
		add("syslog", r.Syslog.Validate())
	}
	return errs
}

// New builds the receiver. client (nil: a default one) carries the HTTP receivers' requests;
// tlsConf (nil: the system roots) is the base of e-mail STARTTLS and syslog over TLS.
func (r ReceiverConfig) New(client *http.Client, tlsConf *tls.Config) (notify.Receiver, error) {
	switch r.Type() {
	case "webhook":
		return receiver.NewWebhook(r.Name, *r.Webhook, client)
	case "slack":
		return receiver.NewSlack(r.Name, *r.Slack, client)
	case "teams":
		return receiver.NewTeams(r.Name, *r.Teams, client)
	case "pagerduty":
		return receiver.NewPagerDuty(r.Name, *r.PagerDuty, client)
	case "email":
		return receiver.NewEmail(r.Name, *r.Email, tlsConf)
	case "syslog":
		return receiver.NewSyslog(r.Name, *r.Syslog, tlsConf)
	}
	return nil, fmt.Errorf("receiver %q: want exactly one of %s", r.Name, strings.Join(ReceiverTypes, ", "))
}

// Enabled says whether the block configures anything.
func (a AlertingConfig) Enabled() bool {
	return len(a.Receivers) > 0 || a.Route.Kind != 0 || a.TimeWindows.Kind != 0 ||
		len(a.People)+len(a.Schedules)+len(a.Policies) > 0
}

// ReceiverNames are the configured receivers' names, in order, each once.
func (a AlertingConfig) ReceiverNames() []string {
	out := make([]string, 0, len(a.Receivers))
	for _, r := range a.Receivers {
		if !slices.Contains(out, r.Name) {
			out = append(out, r.Name)
		}
	}
	return out
}

// Receiver returns the receiver of a name.
func (a AlertingConfig) Receiver(name string) (ReceiverConfig, bool) {
	for _, r := range a.Receivers {
		if r.Name == name {
			return r, true
		}
	}
	return ReceiverConfig{}, false
}

// routingYAML is the route and time_windows as a routing file of their own.
func (a AlertingConfig) routingYAML() ([]byte, error) {
	doc := &yaml.Node{Kind: yaml.MappingNode}
	if a.Route.Kind != 0 {
		route := a.Route
		doc.Content = append(doc.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "route"}, &route)
	}
	if a.TimeWindows.Kind != 0 {
		tw := a.TimeWindows
		doc.Content = append(doc.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "time_windows"}, &tw)
	}
	return yaml.Marshal(doc)
}

// routing parses the route and time windows; the errors' fields are relative to alerting.
func (a AlertingConfig) routing() (*notify.Config, []notify.Error) {
	data, err := a.routingYAML()
	if err != nil {
		return nil, []notify.Error{{Msg: "cannot read the route: " + err.Error()}}
	}
	return notify.ParseRouting("alerting", data, a.ReceiverNames(), a.policyNames())
}

// Routing compiles the routing tree of a valid configuration.
func (a AlertingConfig) Routing() (*notify.Tree, error) {
	if a.Route.Kind == 0 {
		return nil, errors.New("alerting.route: not configured")
	}
	c, errs := a.routing()
	if len(errs) > 0 {
		return nil, fmt.Errorf("alerting.%s: %s", errs[0].Field, errs[0].Msg)
	}
	return notify.NewTree(c)
}

// validate lists every problem of the block, each named by its full YAML path.
func (a AlertingConfig) validate() []fieldError {
	if !a.Enabled() {
		return nil
	}
	var errs []fieldError
	bad := func(field, format string, args ...any) {
		errs = append(errs, fieldError{"alerting." + field, fmt.Sprintf(format, args...)})
	}
	names := map[string]bool{}
	for i, r := range a.Receivers {
		f := fmt.Sprintf("receivers[%d]", i)
		switch {
		case r.Name == "":
			bad(f+".name", "required")
		case !validReceiverName(r.Name):
			bad(f+".name", "invalid name %q (letters, digits, '-', '_', '.', at most 64)", r.Name)
		case names[r.Name]:
			bad(f+".name", "duplicate receiver %q", r.Name)
		}
		names[r.Name] = true
		switch t := r.Types(); len(t) {
		case 0:
			bad(f, "want one of %s with its settings", strings.Join(ReceiverTypes, ", "))
		case 1:
			for _, e := range r.validate() {
				bad(f+"."+e.field, "%s", e.msg)
			}
		default:
			bad(f+"."+t[1], "a receiver has one type, and this one is already %s", t[0])
		}
	}
	if a.Route.Kind == 0 {
		bad("route", "required: the routing tree (at least a root route with a receiver)")
	} else {
		_, rerrs := a.routing()
		for _, e := range rerrs {
			field := "alerting"
			if e.Field != "" {
				field += "." + e.Field
			}
			errs = append(errs, fieldError{field, e.Msg})
		}
	}
	for _, e := range a.Config.Validate() {
		bad(e.Field, "%s", e.Msg)
	}
	if a.Delivery != nil {
		for _, e := range a.delivery().Validate() {
			bad("delivery."+e.Field, "%s", e.Msg)
		}
	}
	for i, p := range a.People {
		for j, r := range p.Receivers {
			if !names[r] {
				bad(fmt.Sprintf("people[%d].receivers[%d]", i, j), "unknown receiver %q (have %s)", r, strings.Join(a.ReceiverNames(), ", "))
			}
		}
		if len(p.Receivers) == 0 && len(a.Policies) > 0 {
			bad(fmt.Sprintf("people[%d].receivers", i), "required: the receivers that page %s when an escalation reaches them (e.g. an e-mail or PagerDuty receiver)", p.Name)
		}
	}
	for i, p := range a.Policies {
		for j, l := range p.Levels {
			for k, t := range l.Targets {
				kind, name, err := oncall.ParseTarget(t)
				if err == nil && kind == oncall.KindReceiver && !names[name] {
					bad(fmt.Sprintf("policies[%d].levels[%d].targets[%d]", i, j, k),
						"unknown receiver %q (have %s)", name, strings.Join(a.ReceiverNames(), ", "))
				}
			}
		}
	}
	return errs
}

// policyNames are the escalation policies' names, in order.
func (a AlertingConfig) policyNames() []string {
	out := make([]string, len(a.Policies))
	for i, p := range a.Policies {
		out[i] = p.Name
	}
	return out
}

// validReceiverName is receiver's rule for names (they become metric labels and log fields).
func validReceiverName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool {
		return !(r == '-' || r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	})
}
