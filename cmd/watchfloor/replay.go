package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/watchfloor/watchfloor/appliance"
)

func replayCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configFile := fs.String("config", "", "configuration `FILE`: site, flow exporters, networks, rollups (optional)")
	site := fs.String("site", "", "site `NAME` of the rollups (default: the config's, else \"replay\")")
	dataDir := fs.String("data", "./watchfloor-data", "data `DIR` of the store to write into (not in use by a running watchfloor)")
	quiet := fs.Bool("q", false, "no progress bar")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprint(stderr, "usage: watchfloor replay [-config FILE] [-site NAME] [-data DIR] CAPTURE.pcap\n")
		return 2
	}
	cfg := appliance.DefaultConfig()
	cfg.Site = "replay"
	if *configFile != "" {
		c, err := appliance.LoadConfig(*configFile)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		cfg = c
	}
	if *site != "" {
		cfg.Site = *site
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	bar := &progressBar{w: stderr, quiet: *quiet}
	res, err := appliance.Replay(ctx, cfg, *dataDir, fs.Arg(0), log, bar.update)
	bar.done()
	if err != nil {
		fmt.Fprintf(stderr, "watchfloor replay: %v\n", err)
		return 1
	}
	span := ""
	if !res.First.IsZero() {
		span = fmt.Sprintf(", %s to %s", res.First.UTC().Format(time.RFC3339), res.Last.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(stdout, "replay: %d packets (%d NetFlow/IPFIX, %d sFlow datagrams, %d skipped, %d undecodable)%s\n",
		res.Packets, res.NetFlow, res.SFlow, res.Skipped, res.Errors, span)
	fmt.Fprintf(stdout, "replay: %d flow records → %d rollups and %d interface samples in %s (site %s)\n",
		res.Flows, res.Rollups, res.Samples, *dataDir, cfg.Site)
	if res.Truncated {
		fmt.Fprintln(stdout, "replay: the capture ends in the middle of a record; what came before it was read")
	}
	return 0
}

// progressBar draws "[#####     ]  45%  12.3/27.1 MB" on one terminal line, at most ten
// times a second.
type progressBar struct {
	w     io.Writer
	quiet bool
	last  time.Time
	drawn bool
}

func (p *progressBar) update(done, total int64) {
	if p.quiet || time.Since(p.last) < 100*time.Millisecond && done != total {
		return
	}
	p.last, p.drawn = time.Now(), true
	const width = 30
	if total <= 0 {
		fmt.Fprintf(p.w, "\rreplay: %.1f MB read", float64(done)/1e6)
		return
	}
	n := int(min(done, total) * width / total)
	fmt.Fprintf(p.w, "\rreplay: [%s%s] %3d%%  %.1f/%.1f MB", strings.Repeat("#", n), strings.Repeat(" ", width-n),
		min(done, total)*100/total, float64(done)/1e6, float64(total)/1e6)
}

func (p *progressBar) done() {
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}
