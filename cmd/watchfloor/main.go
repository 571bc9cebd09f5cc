// Command watchfloor is the Watchfloor command center: one binary with subcommands.
//
//	watchfloor [run] [-config FILE] [-data DIR] [-listen ADDR]   the command center (lab site without -config)
//	watchfloor version                                            the version of this binary
//	watchfloor config check FILE                                  validate a configuration
//	watchfloor backup -data DIR -o FILE                           hot backup of the store
//	watchfloor replay [-config FILE] -data DIR CAPTURE            a capture through the flow and packet collectors
//	watchfloor rules check|test|import-sigma …                    the rule language's tools
//	watchfloor alerting test-route|send-test -config FILE …       the alert routing's tools
//	watchfloor user add|passwd|del|list|token|tokens|revoke …     local users and API tokens
//
// The manual page (appliance/dist/watchfloor.1) is checked against the usage text below by
// cmd/mkdeb's tests: a subcommand or flag added here must be documented there.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/appliance"
)

const usage = `watchfloor — network and security operations command center

usage:
  watchfloor [run] [-config FILE] [-data DIR] [-listen ADDR] [-log-level LEVEL]
        run the command center; without -config, the built-in lab site. Under systemd
        (Type=notify) it reports ready, reloading and stopping
  watchfloor config check FILE
        validate a configuration file and list every problem
  watchfloor backup [-data DIR] -o FILE
        copy the store, consistent even while watchfloor runs
  watchfloor replay [-config FILE] [-site NAME] [-data DIR] [-q] CAPTURE.pcap
        run a capture through the flow and packet collectors: flow rollups into the store,
        packet observations summarised
  watchfloor rules check DIR|FILE | rules test FILE | rules import-sigma FILE|DIR [-o DIR]
        validate rules (FILE:LINE:COL: FIELD: MSG), run rule tests, convert Sigma rules
  watchfloor alerting test-route -config FILE [-v] [label=value …] | alerting send-test -config FILE [-timeout 30s] RECEIVER
        which receivers an example alert reaches; send a test notification through a receiver
  watchfloor report monthly -data DIR [-month YYYY-MM] [-site NAME] [-tz ZONE] [-config FILE] [-console-url URL]
       [-timeout 5s] [-q] -o FILE.pdf|FILE.html
        the monthly security posture report from the store (read-only; see docs/report.md)
  watchfloor user add NAME -role ROLE [-password-stdin] | passwd NAME [-password-stdin] | del NAME
       | disable NAME | enable NAME | list | token NAME [-role display] [-label LABEL] [-expires DURATION]
       | tokens NAME | revoke TOKEN_ID   [-data DIR]
        local users (console logins) and their API tokens; works while watchfloor runs
  watchfloor version
        the version of this binary
  watchfloor help
        this text

Each subcommand lists its flags with -h (watchfloor replay -h); the manual is man watchfloor.

signals (run):
  SIGHUP             re-read the configuration file (alerting routes and on-call) and the rules
  SIGINT, SIGTERM    stop: the collectors first, every queued record into the store, then exit

environment:
  WATCHFLOOR_TOKEN   the admin API token (otherwise generated once into the data dir)
  NOTIFY_SOCKET      set by systemd: where run reports its state (sd_notify)
`

// version is the release, set at build time: go build -ldflags "-X main.version=1.2.3"
// (cmd/mkdeb does).
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cmd := "run"
	if len(args) > 0 && (!strings.HasPrefix(args[0], "-") || isTopFlag(args[0])) {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "run":
		tuneGC()
		return runCmd(args, stdout, stderr)
	case "config":
		if len(args) == 2 && args[0] == "check" {
			return configCheck(args[1], stdout, stderr)
		}
		fmt.Fprint(stderr, "usage: watchfloor config check FILE\n")
		return 2
	case "backup":
		return backupCmd(args, stdout, stderr)
	case "replay":
		tuneGC()
		return replayCmd(args, stdout, stderr)
	case "rules":
		return rulesCmd(args, stdout, stderr)
	case "alerting":
		return alertingCmd(args, stdout, stderr)
	case "report":
		return reportCmd(args, stdout, stderr)
	case "user":
		return userCmd(args, os.Stdin, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	case "version", "-version", "--version":
		fmt.Fprintf(stdout, "watchfloor %s\n", version)
		return 0
	default:
		fmt.Fprintf(stderr, "watchfloor: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
}

// isTopFlag says whether a first argument that looks like a flag of run is the binary's own
// -h/--help or -version/--version instead.
func isTopFlag(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "-version", "--version":
		return true
	}
	return false
}

func runCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configFile := fs.String("config", "", "configuration `FILE` (YAML); without it, the built-in lab site")
	dataDir := fs.String("data", "./watchfloor-data", "data `DIR`: the store and generated secrets")
	listen := fs.String("listen", "", "console listen `ADDR` (default 127.0.0.1:8080, or console.listen from the config)")
	level := fs.String("log-level", "info", "log level: debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintf(stderr, "watchfloor: -log-level: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))

	opts := appliance.Options{
		DataDir: *dataDir,
		Listen:  *listen,
		Token:   watchfloor.Secret(os.Getenv("WATCHFLOOR_TOKEN")),
		Log:     log,
		Version: version,
	}
	if *configFile == "" {
		opts.Config, opts.Lab = appliance.LabConfig(), true
		opts.LabOpts.Timeline = true
	} else {
		cfg, err := appliance.LoadConfig(*configFile)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		opts.Config, opts.ConfigPath = cfg, *configFile
	}

	// systemd (Type=notify) learns from it when we are ready, reloading and stopping.
	sd, err := appliance.NotifierFromEnv()
	if err != nil {
		log.Warn("cannot report to systemd", "err", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	a, err := appliance.New(ctx, opts)
	if err != nil {
		fmt.Fprintf(stderr, "watchfloor: %v\n", err)
		return 1
	}
	go func() {
		<-ctx.Done()
		stop() // a second signal ends the process at once
		if err := sd.Stopping(); err != nil {
			log.Warn("cannot report to systemd", "err", err)
		}
	}()
	if iv := sd.WatchdogInterval(); iv > 0 { // WatchdogSec= in a drop-in: process liveness
		go func() {
			t := time.NewTicker(iv / 2)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					_ = sd.Watchdog()
				}
			}
		}()
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			_ = sd.Reloading()
			a.Reload() // the alerting routes and on-call setup, and the rules directory
			_ = sd.Ready("")
		}
	}()
	err = a.Run(ctx, func(addr net.Addr) {
		tok, generated := a.Token()
		scheme := "http://"
		if a.Config().Console.TLS.Enabled() {
			scheme = "https://"
		}
		base := scheme + addr.String()
		fmt.Fprintf(stdout, "\nWatchfloor is running (site %s, %d devices%s).\n", a.Config().Site, len(a.Config().Devices), labNote(opts.Lab))
		switch {
		case generated:
			fmt.Fprintf(stdout, "  wall:     %s/wall?token=%s\n  console:  %s/console?token=%s\n  token:    %s  (shown once; kept in %s)\n\n",
				base, tok.Reveal(), base, tok.Reveal(), tok.Reveal(), *dataDir+"/"+appliance.TokenFile)
		case opts.Token != "":
			fmt.Fprintf(stdout, "  wall:     %s/wall?token=$WATCHFLOOR_TOKEN\n  console:  %s/console?token=$WATCHFLOOR_TOKEN\n\n", base, base)
		default:
			fmt.Fprintf(stdout, "  wall:     %s/wall     (token in %s)\n  console:  %s/console  (log in, or ?token=)\n\n", base, *dataDir+"/"+appliance.TokenFile, base)
		}
		if err := sd.Ready(fmt.Sprintf("site %s, %d devices, console on %s", a.Config().Site, len(a.Config().Devices), addr)); err != nil {
			log.Warn("cannot report to systemd", "err", err)
		}
	})
	if err != nil {
		fmt.Fprintf(stderr, "watchfloor: %v\n", err)
		return 1
	}
	log.Info("stopped cleanly")
	return 0
}

func labNote(lab bool) string {
	if lab {
		return ", the built-in lab: simulated switches on loopback"
	}
	return ""
}

func configCheck(file string, stdout, stderr io.Writer) int {
	cfg, err := appliance.LoadConfig(file)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok (site %s, %d devices)\n", file, cfg.Site, len(cfg.Devices))
	return 0
}

func backupCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data", "./watchfloor-data", "data `DIR` of the store to copy")
	out := fs.String("o", "", "output `FILE` (required)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *out == "" {
		fmt.Fprint(stderr, "watchfloor backup: -o FILE is required\n")
		return 2
	}
	n, via, err := appliance.Backup(*dataDir, *out, watchfloor.Secret(os.Getenv("WATCHFLOOR_TOKEN")))
	if err != nil {
		fmt.Fprintf(stderr, "watchfloor backup: %v\n", err)
		if errors.Is(err, os.ErrNotExist) {
			return 1
		}
		return 1
	}
	fmt.Fprintf(stdout, "backup: %d bytes to %s (%s); restore by starting with -data on a directory holding it as %s\n", n, *out, via, appliance.DBFile)
	return 0
}
