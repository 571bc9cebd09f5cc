package appliance

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/watchfloor/watchfloor/appliance/report"
	"github.com/watchfloor/watchfloor/appliance/store"
	"github.com/watchfloor/watchfloor/console"
)

// reportsAPI is the console's Reports over the store and the report engine: the kept
// reports, their files, and one made on demand with the configured policy and time zone
// (those of the report: block, UTC without one), kept like a scheduled one.
type reportsAPI struct {
	st    *store.Store
	sched *report.Scheduler
	loc   *time.Location
	sites []string // the sites named by the configuration
	now   func() time.Time
}

var _ console.Reports = (*reportsAPI)(nil)

// newReportsAPI builds the console's reports over st. The on-demand generator never mails:
// the report: block's recipients get the scheduled reports only.
func newReportsAPI(cfg Config, fromFile bool, st *store.Store, log *slog.Logger) (*reportsAPI, error) {
	var rc report.Config
	if cfg.Report != nil {
		rc = *cfg.Report
		rc.SMTP, rc.Recipients = nil, nil
	}
	ro, err := cfg.ReportOptions(fromFile)
	if err != nil {
		return nil, fmt.Errorf("appliance: reports: %w", err)
	}
	sched, err := report.NewScheduler(rc, ro, st, log)
	if err != nil {
		return nil, fmt.Errorf("appliance: reports: %w", err)
	}
	r := &reportsAPI{st: st, sched: sched, loc: rc.Location(), now: time.Now}
	if cfg.Site != "" {
		r.sites = append(r.sites, cfg.Site)
	}
	r.sites = append(r.sites, rc.Sites...)
	return r, nil
}

func reportInfo(m store.ReportMeta) console.ReportInfo {
	info := console.ReportInfo{ID: m.ID, Site: m.Site, Month: m.Month, TimeZone: m.TimeZone, Generated: m.Generated,
		Trigger: m.Trigger, Mailed: m.Mailed, MailError: m.MailError}
	for i, f := range m.Formats {
		n := 0
		if i < len(m.Sizes) {
			n = m.Sizes[i]
		}
		info.Files = append(info.Files, console.ReportFile{Format: f, Bytes: n})
	}
	return info
}

// List answers the kept reports, newest first.
func (r *reportsAPI) List() ([]console.ReportInfo, error) {
	ms, err := r.st.Reports()
	if err != nil {
		return nil, err
	}
	out := make([]console.ReportInfo, len(ms))
	for i, m := range ms {
		out[i] = reportInfo(m)
	}
	return out, nil
}

// File answers one kept file of a report.
func (r *reportsAPI) File(id uint64, format string) (console.ReportInfo, []byte, error) {
	ms, err := r.st.Reports()
	if err != nil {
		return console.ReportInfo{}, nil, err
	}
	i := slices.IndexFunc(ms, func(m store.ReportMeta) bool { return m.ID == id })
	if i < 0 {
		return console.ReportInfo{}, nil, fmt.Errorf("report %d: %w", id, console.ErrNotFound)
	}
	b, ok, err := r.st.ReportFile(id, format)
	if err != nil {
		return console.ReportInfo{}, nil, err
	}
	if !ok {
		return console.ReportInfo{}, nil, fmt.Errorf("report %d %s: %w", id, format, console.ErrNotFound)
	}
	return reportInfo(ms[i]), b, nil
}

// Generate makes the report of month (over in the reports' time zone) for site (a site the
// configuration names or a device is in; "": all) and keeps it.
func (r *reportsAPI) Generate(ctx context.Context, month, site string) (console.ReportInfo, error) {
	p, err := report.MonthPeriod(month, r.loc)
	if err != nil {
		return console.ReportInfo{}, console.FieldError{Field: "month", Msg: fmt.Sprintf("%q: want YYYY-MM", month)}
	}
	if now := r.now(); now.Before(p.To) {
		return console.ReportInfo{}, console.FieldError{Field: "month", Msg: fmt.Sprintf("%s is not over yet in %s (it ends %s)",
			month, r.loc, p.To.Format("2006-01-02 15:04 MST"))}
	}
	if site != "" {
		known, err := r.knownSites()
		if err != nil {
			return console.ReportInfo{}, err
		}
		if !slices.Contains(known, site) {
			return console.ReportInfo{}, console.FieldError{Field: "site", Msg: fmt.Sprintf("unknown site %q (known: %s; \"\" for all sites)",
				site, strings.Join(known, ", "))}
		}
	}
	m, err := r.sched.Generate(ctx, p.Month, site)
	if err != nil {
		return console.ReportInfo{}, err
	}
	return reportInfo(m), nil
}

// knownSites are the configured sites and those of the devices in the store, sorted.
func (r *reportsAPI) knownSites() ([]string, error) {
	devs, err := r.st.Devices()
	if err != nil {
		return nil, fmt.Errorf("appliance: reports: devices: %w", err)
	}
	sites := slices.Clone(r.sites)
	for _, d := range devs {
		if d.Site != "" {
			sites = append(sites, d.Site)
		}
	}
	slices.Sort(sites)
	return slices.Compact(sites), nil
}
