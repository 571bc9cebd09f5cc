package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/appliance"
	"github.com/watchfloor/watchfloor/correlator/notify"
)

const alertingUsage = `usage:
  watchfloor alerting test-route -config FILE [label=value …]
        list the receivers an alert with these labels reaches (rule, severity, category, site,
        device, interface, host, key, tactic, or any label), like amtool config routes test
  watchfloor alerting send-test -config FILE [-timeout 30s] RECEIVER
        send a test notification through one receiver and report the result
`

// alertingCmd is `watchfloor alerting test-route|send-test`.
func alertingCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, alertingUsage)
		return 2
	}
	switch args[0] {
	case "test-route":
		return testRouteCmd(args[1:], stdout, stderr)
	case "send-test":
		return sendTestCmd(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "watchfloor alerting: unknown command %q\n\n%s", args[0], alertingUsage)
	return 2
}

// loadAlerting reads the configuration and checks it has an alerting block.
func loadAlerting(file string, stderr io.Writer) (appliance.Config, bool) {
	if file == "" {
		fmt.Fprint(stderr, "watchfloor alerting: -config FILE is required\n\n"+alertingUsage)
		return appliance.Config{}, false
	}
	cfg, err := appliance.LoadConfig(file)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return appliance.Config{}, false
	}
	if cfg.Alerting.Route.Kind == 0 {
		fmt.Fprintf(stderr, "watchfloor alerting: %s has no alerting.route\n", file)
		return appliance.Config{}, false
	}
	return cfg, true
}

// exampleAlert builds the alert test-route routes from label=value arguments.
func exampleAlert(pairs []string) (watchfloor.Alert, error) {
	a := watchfloor.Alert{State: watchfloor.AlertFiring, Title: "test-route example"}
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return a, fmt.Errorf("%q is not label=value", p)
		}
		switch k {
		case "rule":
			a.Rule = v
		case "severity":
			s, err := watchfloor.ParseSeverity(v)
			if err != nil {
				return a, fmt.Errorf("severity: %v", err)
			}
			a.Severity = s
		case "category":
			a.Category = v
		case "site":
			a.Entity.Site = v
		case "device":
			a.Entity.Device = v
		case "interface":
			a.Entity.Interface = v
		case "host":
			a.Entity.Host = v
		case "key":
			a.Key = v
		case "tactic":
			for t := range strings.SplitSeq(v, ",") {
				if t = strings.TrimSpace(t); t != "" {
					a.Tags = append(a.Tags, "attack."+t)
				}
			}
		default:
			a.Labels = append(a.Labels, watchfloor.Attr{Key: k, Value: v})
		}
	}
	return a, nil
}

func testRouteCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("alerting test-route", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("config", "", "configuration `FILE` (YAML) with an alerting block")
	verbose := fs.Bool("v", false, "also print the matching routes with their grouping")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, ok := loadAlerting(*file, stderr)
	if !ok {
		return 1
	}
	a, err := exampleAlert(fs.Args())
	if err != nil {
		fmt.Fprintf(stderr, "watchfloor alerting test-route: %v\n", err)
		return 2
	}
	tree, err := cfg.Alerting.Routing()
	if err != nil {
		fmt.Fprintf(stderr, "watchfloor alerting test-route: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, strings.Join(notify.TestRoute(tree, a), ","))
	if *verbose {
		for _, r := range tree.Match(a) {
			fmt.Fprintf(stdout, "  route %s → %s  group_by=[%s] group_wait=%s group_interval=%s repeat_interval=%s\n",
				r.ID, r.Receiver, strings.Join(r.GroupBy, ","), r.GroupWait, r.GroupInterval, r.RepeatInterval)
		}
	}
	return 0
}

func sendTestCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("alerting send-test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("config", "", "configuration `FILE` (YAML) with an alerting block")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprint(stderr, alertingUsage)
		return 2
	}
	name := fs.Arg(0)
	cfg, ok := loadAlerting(*file, stderr)
	if !ok {
		return 1
	}
	rc, ok := cfg.Alerting.Receiver(name)
	if !ok {
		fmt.Fprintf(stderr, "watchfloor alerting send-test: unknown receiver %q (have %s)\n", name, strings.Join(cfg.Alerting.ReceiverNames(), ", "))
		return 1
	}
	rcv, err := rc.New(nil, nil)
	if err != nil {
		fmt.Fprintf(stderr, "watchfloor alerting send-test: %v\n", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	n := testNotification(cfg.Site, name, time.Now())
	if err := rcv.Send(ctx, n); err != nil {
		fmt.Fprintf(stderr, "watchfloor alerting send-test: %s (%s): failed: %v\n", name, rc.Type(), err)
		return 1
	}
	fmt.Fprintf(stdout, "%s (%s): test notification %s delivered\n", name, rc.Type(), n.ID)
	return 0
}

// testNotification is what send-test sends: one informational alert, marked as a test.
func testNotification(site, receiverName string, now time.Time) notify.Notification {
	now = now.UTC().Truncate(time.Second)
	a := watchfloor.Alert{
		Rule:      "watchfloor_test_notification",
		RuleTitle: "Watchfloor test notification",
		Key:       "receiver=" + receiverName,
		Severity:  watchfloor.SeverityInfo,
		Category:  "test",
		State:     watchfloor.AlertFiring,
		Title:     "Test notification from watchfloor alerting send-test",
		Entity:    watchfloor.Entity{Site: site},
		StartedAt: now, LastSeen: now, UpdatedAt: now,
		Count: 1,
	}
	return notify.Notification{
		ID:          fmt.Sprintf("send-test-%d", now.Unix()),
		GroupKey:    "send-test/" + receiverName,
		Receiver:    receiverName,
		Status:      notify.StatusFiring,
		Title:       a.Title,
		Summary:     "A test of the " + receiverName + " receiver: nothing is wrong.",
		Severity:    a.Severity,
		Alerts:      []watchfloor.Alert{a},
		GroupLabels: []watchfloor.Attr{{Key: "site", Value: site}},
		Time:        now,
	}
}
