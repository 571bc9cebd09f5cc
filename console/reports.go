package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// The reports page's endpoints: the monthly posture reports the appliance keeps (made on
// schedule or on demand), their files, and making one now.
//
//	GET  /api/v1/reports                                  viewer
//	GET  /api/v1/reports/{id}/pdf, /api/v1/reports/{id}/html   viewer (an attachment)
//	POST /api/v1/reports  {"month": "2026-10", "site": ""}     analyst

// ReportInfo describes one kept report.
type ReportInfo struct {
	ID        uint64       `json:"id"`
	Site      string       `json:"site"`  // "" for all sites
	Month     string       `json:"month"` // "2026-10"
	TimeZone  string       `json:"time_zone"`
	Generated time.Time    `json:"generated"`
	Trigger   string       `json:"trigger"` // "schedule", "on-demand"
	Files     []ReportFile `json:"files"`
	Mailed    []string     `json:"mailed"` // whom the PDF was mailed to; empty: not mailed
	MailError string       `json:"mail_error,omitempty"`
}

// ReportFile is one file of a report.
type ReportFile struct {
	Format string `json:"format"` // "pdf", "html"
	Bytes  int    `json:"bytes"`
}

// Reports are the monthly reports (the appliance's store and report engine).
type Reports interface {
	// List answers the kept reports, newest first.
	List() ([]ReportInfo, error)
	// File answers a report's description and one of its files ("pdf", "html"); an error
	// wrapping ErrNotFound when there is no such report or file.
	File(id uint64, format string) (ReportInfo, []byte, error)
	// Generate makes the report of month for site ("": all sites), keeps it like a
	// scheduled one, and answers its description. A month not over yet in the reports'
	// time zone, or an unknown site, is a FieldError naming "month" or "site".
	Generate(ctx context.Context, month, site string) (ReportInfo, error)
}

// Limits of report generation.
const (
	// ReportTimeout bounds one generation asked through the API.
	ReportTimeout   = 2 * time.Minute
	maxReportBody   = 4 << 10
	maxReportSite   = 128
	reportFirstYear = 2000
)

// errReportBusy answers a generation asked while another runs.
var errReportBusy = errors.New("a report is being generated; try again when it is done")

var reportMonth = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}$`)

// reportGen lets one report be made at a time; the routes of a console share one.
type reportGen struct{ busy atomic.Bool }

func noReports(w http.ResponseWriter) { writeError(w, http.StatusNotFound, "no reports configured") }

// getReports serves GET /api/v1/reports; generating says whether g is making one.
func (c *Console) getReports(g *reportGen) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { c.listReports(w, g) }
}

func (c *Console) listReports(w http.ResponseWriter, g *reportGen) {
	if c.deps.Reports == nil {
		noReports(w)
		return
	}
	list, err := c.deps.Reports.List()
	if err != nil {
		c.apiError(w, "list reports", err)
		return
	}
	for i := range list {
		list[i].Files, list[i].Mailed = nonNil(list[i].Files), nonNil(list[i].Mailed)
	}
	writeJSON(w, http.StatusOK, struct {
		Reports    []ReportInfo `json:"reports"`
		Generating bool         `json:"generating"`
	}{nonNil(list), g.busy.Load()})
}

// reportFileTypes are the files' content types.
var reportFileTypes = map[string]string{"pdf": "application/pdf", "html": "text/html; charset=utf-8"}

// reportFileCSP is the policy of a report's file: a download, and if a client showed it
// anyway, a sandboxed document that may run and fetch nothing.
const reportFileCSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; sandbox"

// getReportFile serves GET /api/v1/reports/{id}/{pdf,html} as an attachment.
func (c *Console) getReportFile(format string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if c.deps.Reports == nil {
			noReports(w)
			return
		}
		s := r.PathValue("id")
		id, err := strconv.ParseUint(s, 10, 64)
		if err != nil || id == 0 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("id: %q is not a report ID", truncate(s)))
			return
		}
		info, b, err := c.deps.Reports.File(id, format)
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				writeError(w, http.StatusNotFound, fmt.Sprintf("report %d has no %s file", id, format))
				return
			}
			c.apiError(w, "read report", err)
			return
		}
		h := w.Header()
		h.Set("Content-Type", reportFileTypes[format])
		h.Set("Content-Disposition", `attachment; filename="`+ReportFileName(info.Site, info.Month, format)+`"`)
		h.Set("Content-Length", strconv.Itoa(len(b)))
		h.Set("Content-Security-Policy", reportFileCSP)
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		w.Write(b)
	}
}

// ReportFileName is a report's download name: watchfloor-<site>-<YYYY-MM>.<format>, the
// site "all" for a report of all sites; only letters, digits, '-' and '_' are kept.
func ReportFileName(site, month, format string) string {
	s := "all"
	if site != "" {
		s = safeName(site)
	}
	m := "month"
	if reportMonth.MatchString(month) {
		m = month
	}
	return "watchfloor-" + s + "-" + m + "." + safeName(format)
}

// checkReportMonth reads "YYYY-MM" and refuses a month that is not over anywhere yet: it
// ends, at the earliest, at the start of the next month in UTC+14. The reports' own time
// zone is the Reports' to apply (a month over in Kiribati may not be over in Berlin).
func checkReportMonth(month string, now time.Time) error {
	if !reportMonth.MatchString(month) {
		return FieldError{"month", fmt.Sprintf("%q: want YYYY-MM, such as 2026-10", truncate(month))}
	}
	t, err := time.Parse("2006-01", month)
	if err != nil || t.Year() < reportFirstYear {
		return FieldError{"month", fmt.Sprintf("%q: want a month YYYY-MM from %d on", month, reportFirstYear)}
	}
	earliestEnd := t.AddDate(0, 1, 0).Add(-14 * time.Hour)
	if now.Before(earliestEnd) {
		return FieldError{"month", fmt.Sprintf("%s is not over yet: a report covers a whole month", month)}
	}
	return nil
}

// postReport serves POST /api/v1/reports: it makes the report now, one at a time (g),
// within ReportTimeout, and answers its description (201).
func (c *Console) postReport(g *reportGen) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { c.generateReport(w, r, g) }
}

func (c *Console) generateReport(w http.ResponseWriter, r *http.Request, g *reportGen) {
	if c.deps.Reports == nil {
		noReports(w)
		return
	}
	var body struct {
		Month *string `json:"month"`
		Site  string  `json:"site"`
	}
	if err := decodeBody(w, r, maxReportBody, &body); err != nil {
		c.apiError(w, "generate report", err)
		return
	}
	if body.Month == nil {
		writeFieldError(w, FieldError{"month", "missing: give the month to report on, YYYY-MM"})
		return
	}
	if err := checkReportMonth(*body.Month, c.now()); err != nil {
		c.apiError(w, "generate report", err)
		return
	}
	if len(body.Site) > maxReportSite || !utf8.ValidString(body.Site) {
		writeFieldError(w, FieldError{"site", fmt.Sprintf("want a site name of at most %d bytes of UTF-8", maxReportSite)})
		return
	}
	target := "report " + *body.Month
	if body.Site != "" {
		target += " " + body.Site
	}
	if !g.busy.CompareAndSwap(false, true) {
		c.audit(r, AuditReport, target, errReportBusy.Error(), false)
		writeError(w, http.StatusConflict, errReportBusy.Error())
		return
	}
	defer g.busy.Store(false)
	// The server's write timeout is shorter than a generation may take.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(ReportTimeout + 30*time.Second))
	ctx, cancel := context.WithTimeout(r.Context(), ReportTimeout)
	defer cancel()
	start := time.Now()
	info, err := c.deps.Reports.Generate(ctx, *body.Month, body.Site)
	if err != nil {
		c.audit(r, AuditReport, target, clip(err.Error(), 512), false)
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("the report took longer than %v and was abandoned", ReportTimeout))
			return
		}
		c.apiError(w, "generate report", err)
		return
	}
	took := time.Since(start).Round(time.Millisecond)
	c.audit(r, AuditReport, fmt.Sprintf("report %d", info.ID), fmt.Sprintf("%s, made in %v", target, took), true)
	c.log.Info("report generated", "id", info.ID, "month", info.Month, "site", info.Site, "who", identity(r.Context()), "took", took)
	info.Files, info.Mailed = nonNil(info.Files), nonNil(info.Mailed)
	writeJSON(w, http.StatusCreated, info)
}
