package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/watchfloor/watchfloor/appliance"
	"github.com/watchfloor/watchfloor/appliance/report"
	"github.com/watchfloor/watchfloor/appliance/store"
)

const reportUsage = "usage: watchfloor report monthly -data DIR -month YYYY-MM [-site NAME] [-tz ZONE] [-config FILE] [-console-url URL] [-timeout 5s] -o FILE.pdf|FILE.html\n"

// reportCmd is `watchfloor report monthly`: the month's posture report from a store, read
// only. A store a running watchfloor holds is locked: the command waits -timeout and then
// says to stop it or to report on a backup.
func reportCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "monthly" {
		fmt.Fprint(stderr, reportUsage)
		return 2
	}
	fs := flag.NewFlagSet("report monthly", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data", "./watchfloor-data", "data `DIR` holding watchfloor.db")
	month := fs.String("month", "", "the month, `YYYY-MM` (default: last month)")
	site := fs.String("site", "", "only this site (default: all)")
	tz := fs.String("tz", "", "time `ZONE` of the month's calendar, e.g. Europe/Berlin (default: the config's report.timezone, else UTC)")
	configFile := fs.String("config", "", "configuration `FILE`: policy (SLA targets, uplinks), SNMP versions, console URL")
	consoleURL := fs.String("console-url", "", "the console's external `URL`, for links (default: console.external_url)")
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for the store's lock")
	out := fs.String("o", "", "output `FILE`: .pdf or .html")
	quiet := fs.Bool("q", false, "no progress on stderr")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	format := strings.TrimPrefix(strings.ToLower(filepath.Ext(*out)), ".")
	if *out == "" || (format != "pdf" && format != "html") || fs.NArg() != 0 {
		fmt.Fprint(stderr, reportUsage)
		return 2
	}
	cfg := appliance.DefaultConfig()
	if *configFile != "" {
		c, err := appliance.LoadConfig(*configFile)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		cfg = c
	}
	opts, err := cfg.ReportOptions(*configFile != "")
	if err != nil {
		fmt.Fprintf(stderr, "watchfloor report: %v\n", err)
		return 1
	}
	if *tz != "" {
		if opts.Location, err = time.LoadLocation(*tz); err != nil {
			fmt.Fprintf(stderr, "watchfloor report: -tz: %v\n", err)
			return 2
		}
	}
	now := time.Now().In(opts.Location)
	if *month == "" {
		*month = time.Date(now.Year(), now.Month()-1, 1, 0, 0, 0, 0, opts.Location).Format("2006-01")
	}
	p, err := report.MonthPeriod(*month, opts.Location)
	if err != nil {
		fmt.Fprintf(stderr, "watchfloor report: %v\n", err)
		return 2
	}
	if p.To.After(now) {
		fmt.Fprintf(stderr, "watchfloor report: %s is not over yet (it ends %s)\n", *month, p.To.Format(time.RFC3339))
		return 2
	}
	opts.Month, opts.Site, opts.Generated = *month, *site, now.Truncate(time.Minute)
	if *consoleURL != "" {
		opts.ConsoleURL = *consoleURL
	}
	path := filepath.Join(*dataDir, appliance.DBFile)
	st, err := store.OpenReadOnly(path, *timeout, nil)
	if err != nil {
		fmt.Fprintf(stderr, "watchfloor report: %v\n", err)
		if errors.Is(err, store.ErrLocked) {
			fmt.Fprintf(stderr, "a running watchfloor holds %s: stop it, or report on a copy:\n"+
				"  watchfloor backup -data %s -o /tmp/wf.db && mkdir -p /tmp/wf && mv /tmp/wf.db /tmp/wf/%s\n"+
				"  watchfloor report monthly -data /tmp/wf -month %s -o %s\n"+
				"(the running appliance makes this report itself when report: is configured)\n",
				path, *dataDir, appliance.DBFile, *month, *out)
		}
		return 1
	}
	defer st.Close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	prog := newReportProgress(stderr, *quiet)
	opts.Progress = prog.step
	r, err := report.Generate(ctx, st, opts)
	prog.finish()
	if err != nil {
		fmt.Fprintf(stderr, "watchfloor report: %v\n", err)
		return 1
	}
	var b bytes.Buffer
	if format == "pdf" {
		err = report.WritePDF(&b, r)
	} else {
		err = report.WriteHTML(&b, r)
	}
	if err == nil {
		err = writeFileAtomic(*out, b.Bytes())
	}
	if err != nil {
		fmt.Fprintf(stderr, "watchfloor report: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: %s, posture score %.0f, %d bytes\n", *out, r.Title(), r.Summary.Score.Value, b.Len())
	return 0
}

func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// reportProgress draws a bar on a terminal, and plain lines otherwise.
type reportProgress struct {
	w     io.Writer
	quiet bool
	tty   bool
	drawn bool
}

func newReportProgress(w io.Writer, quiet bool) *reportProgress {
	p := &reportProgress{w: w, quiet: quiet}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

func (p *reportProgress) step(name string, done, total int) {
	if p.quiet {
		return
	}
	if !p.tty {
		fmt.Fprintf(p.w, "report: %d/%d %s\n", done+1, total, name)
		return
	}
	const width = 30
	n := width * done / max(total, 1)
	fmt.Fprintf(p.w, "\r[%s%s] %3d%% %-28s", strings.Repeat("#", n), strings.Repeat(" ", width-n), 100*done/max(total, 1), name)
	p.drawn = true
}

func (p *reportProgress) finish() {
	if p.drawn {
		fmt.Fprintf(p.w, "\r[%s] 100%% %-28s\n", strings.Repeat("#", 30), "done")
	}
}
