package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/watchfloor/watchfloor"
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
	fl, pk := res.Flows, res.Packets
	span := ""
	if !pk.First.IsZero() {
		span = fmt.Sprintf(", %s to %s", pk.First.UTC().Format(time.RFC3339), pk.Last.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(stdout, "capture: %d packets%s\n", pk.Packets, span)
	fmt.Fprintf(stdout, "flows:   %d NetFlow/IPFIX and %d sFlow datagrams (%d undecodable) → %d flow records → %d rollups and %d interface samples in %s (site %s)\n",
		fl.NetFlow, fl.SFlow, fl.Errors, fl.Flows, res.Rollups, res.Samples, *dataDir, cfg.Site)
	fmt.Fprintf(stdout, "packets: %d sampled, %d undecodable, %d filtered, %d unsupported links → %d observations\n",
		pk.Sampled, pk.Errors, pk.Filtered, pk.Unsupported, pk.Observations)
	printObservations(stdout, res.Observations)
	if fl.Truncated || pk.Truncated {
		fmt.Fprintln(stdout, "the capture ends in the middle of a record; what came before it was read")
	}
	return 0
}

// printObservations lists what the packet pass saw, by kind, and what stands out.
func printObservations(w io.Writer, s appliance.ObsSummary) {
	kinds := make([]watchfloor.ObsKind, 0, len(s.ByKind))
	for k := range s.ByKind {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	for _, k := range kinds {
		fmt.Fprintf(w, "  %-18s %d\n", k, s.ByKind[k])
	}
	for _, l := range []struct {
		title string
		rows  []appliance.Count
	}{
		{"most half-open connections (destination @ interval end)", s.HalfOpen},
		{"DNS names of high label entropy (tunnels, DGAs), by parent and queries", s.Entropic},
		{"TLS server names, by ClientHellos", s.SNI},
	} {
		if len(l.rows) == 0 {
			continue
		}
		fmt.Fprintf(w, "%s:\n", l.title)
		for _, r := range l.rows {
			fmt.Fprintf(w, "  %8d  %s\n", r.N, r.Key)
		}
	}
}

// progressBar draws "flows   [#####     ]  45%  12.3/27.1 MB" on one terminal line per
// pass, at most ten times a second.
type progressBar struct {
	w     io.Writer
	quiet bool
	pass  string
	last  time.Time
	drawn bool
}

func (p *progressBar) update(pass string, done, total int64) {
	if p.quiet {
		return
	}
	if pass != p.pass {
		if p.drawn {
			fmt.Fprintln(p.w)
		}
		p.pass, p.last = pass, time.Time{}
	}
	if time.Since(p.last) < 100*time.Millisecond && done != total {
		return
	}
	p.last, p.drawn = time.Now(), true
	const width = 30
	if total <= 0 {
		fmt.Fprintf(p.w, "\r%-8s %.1f MB read", p.pass, float64(done)/1e6)
		return
	}
	n := int(min(done, total) * width / total)
	fmt.Fprintf(p.w, "\r%-8s [%s%s] %3d%%  %.1f/%.1f MB", p.pass, strings.Repeat("#", n), strings.Repeat(" ", width-n),
		min(done, total)*100/total, float64(done)/1e6, float64(total)/1e6)
}

func (p *progressBar) done() {
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}
