package report

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/watchfloor/watchfloor/appliance/store"
	"github.com/watchfloor/watchfloor/correlator/notify/receiver"
)

// Config is the appliance's `report:` block (docs/report.md): when last month's report is
// made, for which sites, and whom it is mailed to.
type Config struct {
	Day        int                   `yaml:"day"`      // day of the month, 1–28 (default 1)
	Hour       int                   `yaml:"hour"`     // hour of that day, 0–23 (default 6)
	TimeZone   string                `yaml:"timezone"` // the months' calendar (default UTC)
	Sites      []string              `yaml:"sites"`    // one report each; empty: one report of all sites
	Recipients []string              `yaml:"recipients"`
	SMTP       *receiver.EmailConfig `yaml:"smtp"` // an e-mail receiver block, as in alerting
	Policy     Policy                `yaml:"policy"`
}

// FieldError is a problem of the block, named by its YAML path under report.
type FieldError struct{ Field, Msg string }

func (e FieldError) Error() string { return e.Field + ": " + e.Msg }

// Validate lists every problem of c.
func (c Config) Validate() []FieldError {
	var errs []FieldError
	bad := func(f, format string, args ...any) { errs = append(errs, FieldError{f, fmt.Sprintf(format, args...)}) }
	if c.Day < 0 || c.Day > 28 {
		bad("day", "must be between 1 and 28 (every month has it), got %d", c.Day)
	}
	if c.Hour < 0 || c.Hour > 23 {
		bad("hour", "must be between 0 and 23, got %d", c.Hour)
	}
	if _, err := time.LoadLocation(c.TimeZone); err != nil {
		bad("timezone", "%v", err)
	}
	if len(c.Recipients) > 0 && c.SMTP == nil {
		bad("smtp", "is required with recipients")
	}
	if c.SMTP != nil {
		for _, e := range c.SMTP.Validate() {
			bad("smtp."+e.Field, "%s", e.Msg)
		}
		if len(c.Recipients) == 0 && len(c.SMTP.To) == 0 {
			bad("recipients", "are required with smtp")
		}
	}
	for _, s := range slices.Sorted(maps.Keys(c.Policy.AckSLA)) { // the problems in a stable order
		d := c.Policy.AckSLA[s]
		if !slices.Contains([]string{"info", "low", "medium", "high", "critical"}, s) {
			bad("policy.ack_sla."+s, "is not a severity (info, low, medium, high, critical)")
		} else if d <= 0 {
			bad("policy.ack_sla."+s, "must be greater than 0")
		}
	}
	if bh := c.Policy.BusinessHours; bh.Start < 0 || bh.End > 24 || bh.Start > bh.End {
		bad("policy.business_hours", "want 0 ≤ start_hour ≤ end_hour ≤ 24")
	}
	for i, u := range c.Policy.Uplinks {
		if !strings.Contains(u, "/") {
			bad(fmt.Sprintf("policy.uplinks[%d]", i), "want DEVICE/INTERFACE, got %q", u)
		}
	}
	return errs
}

// Location is the block's time zone.
func (c Config) Location() *time.Location {
	if loc, err := time.LoadLocation(c.TimeZone); err == nil {
		return loc
	}
	return time.UTC
}

// NextRun is the first scheduled time after now: Day at Hour:00 in the zone.
func (c Config) NextRun(now time.Time) time.Time {
	loc, day := c.Location(), max(c.Day, 1)
	n := now.In(loc)
	t := time.Date(n.Year(), n.Month(), day, c.Hour, 0, 0, 0, loc)
	if !t.After(now) {
		t = time.Date(n.Year(), n.Month()+1, day, c.Hour, 0, 0, 0, loc)
	}
	return t
}

// Store is what the scheduler needs: the report's Source, and where reports are kept.
type Store interface {
	Source
	PutReport(meta store.ReportMeta, files map[string][]byte) (uint64, error)
	SetReportMail(id uint64, mailed []string, mailErr string) error
	Reports() ([]store.ReportMeta, error)
	ReportFile(id uint64, format string) ([]byte, bool, error)
}

// Scheduler makes last month's reports on the configured day and hour, keeps them in the
// store, and mails the PDF. Generate makes one on demand (the console's Reports view
// calls it through appliance/reports.go; Reports and ReportFile list and serve the stored ones).
type Scheduler struct {
	cfg  Config
	base Options
	st   Store
	mail *receiver.Email
	log  *slog.Logger
	// Now and Sleep are the clock; tests replace them.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// NewScheduler checks cfg and builds the mailer. base carries the options every report
// shares (policy, console URL, SNMP versions).
func NewScheduler(cfg Config, base Options, st Store, log *slog.Logger) (*Scheduler, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("report: %s", errs[0])
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Scheduler{cfg: cfg, base: base, st: st, log: log.With("component", "report"), Now: time.Now, Sleep: sleep}
	s.base.Location = cfg.Location()
	if cfg.SMTP != nil {
		m, err := receiver.NewEmail("report", *cfg.SMTP, nil)
		if err != nil {
			return nil, fmt.Errorf("report: smtp: %w", err)
		}
		s.mail = m
	}
	return s, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Run waits for each scheduled time and makes the reports of the month before it, until ctx
// is done. A report already stored for that month and site (the appliance restarted after
// making it) is not made again.
func (s *Scheduler) Run(ctx context.Context) error {
	for {
		now := s.Now()
		next := s.cfg.NextRun(now)
		s.log.Info("next monthly report", "at", next)
		if err := s.Sleep(ctx, next.Sub(now)); err != nil {
			return nil
		}
		s.RunDue(ctx, next)
	}
}

// RunDue makes, stores and mails the reports due at t (those of the month before t).
func (s *Scheduler) RunDue(ctx context.Context, t time.Time) {
	lt := t.In(s.base.Location)
	month := time.Date(lt.Year(), lt.Month()-1, 1, 0, 0, 0, 0, s.base.Location).Format("2006-01")
	sites := s.cfg.Sites
	if len(sites) == 0 {
		sites = []string{""}
	}
	have, err := s.st.Reports()
	if err != nil {
		s.log.Error("monthly report: list stored reports", "err", err)
	}
	for _, site := range sites {
		if slices.ContainsFunc(have, func(m store.ReportMeta) bool {
			return m.Month == month && m.Site == site && m.Trigger == "schedule"
		}) {
			continue
		}
		meta, pdf, err := s.generate(ctx, month, site, "schedule", t)
		if err != nil {
			s.log.Error("monthly report failed", "month", month, "site", site, "err", err)
			continue
		}
		s.log.Info("monthly report made", "month", month, "site", site, "id", meta.ID, "pdf_bytes", len(pdf))
		if s.mail == nil {
			continue
		}
		rcpts := s.cfg.Recipients
		subject := meta.title
		text := fmt.Sprintf("%s\n\nThe report is attached as a PDF. Posture score: %.0f / 100.\n", meta.title, meta.score)
		name := "watchfloor-report-" + month
		if site != "" {
			name += "-" + site
		}
		err = s.mail.SendFile(ctx, rcpts, subject, text, t, receiver.Attachment{Name: name + ".pdf", ContentType: "application/pdf", Data: pdf})
		mailErr := ""
		if err != nil {
			mailErr = err.Error()
			s.log.Error("monthly report: mail failed", "month", month, "site", site, "err", err)
			rcpts = nil
		}
		if err := s.st.SetReportMail(meta.ID, rcpts, mailErr); err != nil {
			s.log.Error("monthly report: record mailing", "err", err)
		}
	}
}

type made struct {
	store.ReportMeta
	title string
	score float64
}

// Generate makes the report of month for site (""; all sites) now, keeps its PDF and HTML
// in the store, and returns its description: the console's "generate" button.
func (s *Scheduler) Generate(ctx context.Context, month, site string) (store.ReportMeta, error) {
	m, _, err := s.generate(ctx, month, site, "on-demand", s.Now())
	return m.ReportMeta, err
}

func (s *Scheduler) generate(ctx context.Context, month, site, trigger string, at time.Time) (made, []byte, error) {
	o := s.base
	o.Month, o.Site, o.Generated = month, site, at.In(s.base.Location)
	r, err := Generate(ctx, s.st, o)
	if err != nil {
		return made{}, nil, err
	}
	var pdf, html bytes.Buffer
	if err := WritePDF(&pdf, r); err != nil {
		return made{}, nil, err
	}
	if err := WriteHTML(&html, r); err != nil {
		return made{}, nil, err
	}
	meta := store.ReportMeta{Site: site, Month: month, TimeZone: s.base.Location.String(), Generated: at, Trigger: trigger}
	id, err := s.st.PutReport(meta, map[string][]byte{"pdf": pdf.Bytes(), "html": html.Bytes()})
	if err != nil {
		return made{}, nil, err
	}
	meta.ID = id
	meta.Formats, meta.Sizes = []string{"pdf", "html"}, []int{pdf.Len(), html.Len()}
	return made{ReportMeta: meta, title: r.Title(), score: r.Summary.Score.Value}, pdf.Bytes(), nil
}
