// Package report makes the monthly security posture report of a site (or of all sites) from
// the appliance's store: the figures (KPIs) of one calendar month in one time zone, each
// with its definition and the previous month's value, rendered as self-contained HTML with
// SVG charts (html.go) and as a PDF with vector charts (pdf.go). Generation only reads the
// store, one record at a time (Source's Scan methods), so memory does not grow with the
// number of alerts in the month; the same store and month give the same bytes.
//
// Files: report.go the model and options, compute.go the figures, posture.go the score and
// the comparison, html.go and pdf.go the renderings, schedule.go the monthly scheduler and
// mailing, lab.go the synthetic lab month (tests, docs and benchmarks).
package report

import (
	"fmt"
	"time"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/correlator/notify/dispatch"
)

// Source is what the report reads: appliance/store implements it.
type Source interface {
	Devices() ([]watchfloor.Device, error)
	Alert(id uint64) (watchfloor.Alert, bool, error)
	ScanAlerts(from, to time.Time, fn func(a *watchfloor.Alert) error) error
	ScanEvents(since, until time.Time, fn func(ev *watchfloor.Event) error) error
	ScanIncidents(since, until time.Time, fn func(in *dispatch.Incident) bool) error
	ScanNotifications(since, until time.Time, fn func(e *dispatch.LogEntry) error) error
	Series(q watchfloor.SeriesQuery) (watchfloor.Series, error)
	FlowRollups(step time.Duration, from, to time.Time, site string) ([]watchfloor.FlowRollup, error)
	InterfacePercentile95(device string, ifIndex uint32, from, to time.Time) (inBps, outBps float64, slots int, err error)
}

// Options say which report to make and how to judge it.
type Options struct {
	Month    string         // "2026-10"
	Site     string         // "" for all sites
	Location *time.Location // the month's calendar; nil: UTC
	// Generated is printed as the report's date. It is an input, not the clock, so that the
	// same store and month give the same bytes; zero prints none.
	Generated time.Time
	// ConsoleURL is the console's external URL; the timeline links into it. "": no links.
	ConsoleURL string
	// Policy holds the targets and rule groupings (Config.Policy, with its defaults).
	Policy Policy
	// PolledV1V2c names the devices the configuration polls with SNMPv1 or v2c (communities
	// in clear text). nil: unknown (the report says it was not given a configuration).
	PolledV1V2c []string
	// Progress, when not nil, is told each step: its name, and done of total steps.
	Progress func(step string, done, total int)
}

// Policy is what the report measures against: SLA targets, business hours, and which of the
// rules mean floods, scans, list hits and cleartext management. Defaults: DefaultPolicy.
type Policy struct {
	AckSLA        map[string]time.Duration `yaml:"ack_sla"`        // severity name → time to acknowledge
	BusinessHours BusinessHours            `yaml:"business_hours"` // pages outside are after-hours
	Uplinks       []string                 `yaml:"uplinks"`        // "device/interface"; empty: by description
	FloodRules    []string                 `yaml:"flood_rules"`
	ScanRules     []string                 `yaml:"scan_rules"`
	ListRules     map[string]string        `yaml:"list_rules"`      // rule → the threat-intel list it matches
	CleartextMgmt []string                 `yaml:"cleartext_rules"` // rules that see cleartext management on the wire
	ConfigRules   []string                 `yaml:"config_rules"`    // rules about configuration changes
	ErrorHotSpots int                      `yaml:"error_hot_spots"` // interfaces listed, by errors
	TopN          int                      `yaml:"top_n"`           // rows of the top tables
}

// BusinessHours are the weekdays and hours the NOC is staffed, in the report's time zone.
type BusinessHours struct {
	Weekdays []time.Weekday `yaml:"-"`
	Start    int            `yaml:"start_hour"` // 8: from 08:00
	End      int            `yaml:"end_hour"`   // 18: until 18:00
}

// DefaultPolicy matches the default rule pack (rules/pack/README.md).
func DefaultPolicy() Policy {
	return Policy{
		AckSLA: map[string]time.Duration{
			"critical": 15 * time.Minute, "high": 30 * time.Minute, "medium": 4 * time.Hour,
			"low": 24 * time.Hour, "info": 72 * time.Hour,
		},
		BusinessHours: BusinessHours{
			Weekdays: []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday},
			Start:    8, End: 18,
		},
		FloodRules: []string{"volumetric_flood_bps", "volumetric_flood_pps", "syn_flood"},
		ScanRules: []string{"port_scan_vertical", "host_sweep", "arp_sweep", "horizontal_scan",
			"port_scan_vertical_flow", "host_sweep_flow"},
		ListRules: map[string]string{
			"bad_address_in": "bad_addresses", "bad_address_out": "bad_addresses",
			"tls_newly_registered": "newly_registered_domains",
		},
		CleartextMgmt: []string{"telnet_crossing", "ftp_crossing", "snmp_from_outside"},
		ConfigRules:   []string{"config_changed"},
		ErrorHotSpots: 10,
		TopN:          10,
	}
}

// Period is one calendar month in a time zone: [From, To).
type Period struct {
	Month    string    `json:"month"`
	From, To time.Time `json:"-"`
}

// MonthPeriod is the month "YYYY-MM" in loc.
func MonthPeriod(month string, loc *time.Location) (Period, error) {
	if loc == nil {
		loc = time.UTC
	}
	t, err := time.ParseInLocation("2006-01", month, loc)
	if err != nil {
		return Period{}, fmt.Errorf("report: month %q: want YYYY-MM", month)
	}
	return Period{Month: t.Format("2006-01"), From: t, To: t.AddDate(0, 1, 0)}, nil
}

// Prev is the month before p.
func (p Period) Prev() Period {
	f := p.From.AddDate(0, -1, 0)
	return Period{Month: f.Format("2006-01"), From: f, To: p.From}
}

// Minutes is the length of the period in minutes (a DST month is an hour off 31 × 1440).
func (p Period) Minutes() float64 { return p.To.Sub(p.From).Minutes() }

// Report is the monthly report: every figure of the month, with the previous month's where
// the report compares, and the definitions the appendix prints.
type Report struct {
	Site       string    `json:"site"` // "" for all sites
	Period     Period    `json:"period"`
	Prev       Period    `json:"prev"`
	TimeZone   string    `json:"time_zone"`
	Generated  time.Time `json:"generated"`
	ConsoleURL string    `json:"console_url,omitempty"`

	Summary      Summary      `json:"summary"`
	Coverage     []Coverage   `json:"coverage"`
	Alerts       Alerts       `json:"alerts"`
	Response     Response     `json:"response"`
	Threats      Threats      `json:"threats"`
	Availability Availability `json:"availability"`
	Capacity     []Capacity   `json:"capacity"`
	Hygiene      Hygiene      `json:"hygiene"`
	Timeline     []Notable    `json:"timeline"`

	// Limitations are what the store could not tell, stated in the report.
	Limitations []string `json:"limitations"`
	// Definitions are every figure's definition, for the appendix, in the order of the report.
	Definitions []Definition `json:"definitions"`
}

// Definition says what a figure is and how it is computed.
type Definition struct {
	Term string `json:"term"`
	Text string `json:"text"`
}

// Figure is one number with the previous month's value.
type Figure struct {
	Name    string  `json:"name"`
	Value   float64 `json:"value"`
	Prev    float64 `json:"prev"`
	HasPrev bool    `json:"has_prev"` // false: the previous month had no data for it
	Unit    string  `json:"unit"`     // "", "%", "min", …
	Lower   bool    `json:"lower"`    // lower is better
}

// Summary is the executive summary.
type Summary struct {
	Score      Figure   `json:"score"`
	Components []Figure `json:"components"` // the score's four parts, 0–25 each
	Key        []Figure `json:"key"`        // the headline figures
	Better     []Change `json:"better"`     // at most three
	Worse      []Change `json:"worse"`      // at most three
}

// Change is a figure that moved since last month.
type Change struct {
	Figure Figure `json:"figure"`
	Text   string `json:"text"`
}

// Coverage is how much of the month one collector saw.
type Coverage struct {
	Collector string  `json:"collector"`
	Measured  bool    `json:"measured"` // false: the store cannot tell (Note says why)
	Percent   float64 `json:"percent"`  // of the month's hours with data
	Hours     int     `json:"hours"`    // hours with data
	Gaps      []Gap   `json:"gaps"`     // runs of hours without data, longest first (at most 10)
	MoreGaps  int     `json:"more_gaps"`
	Note      string  `json:"note,omitempty"`
}

// Gap is a run of hours without data.
type Gap struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// Count is a labelled count with last month's.
type Count struct {
	Key   string `json:"key"`
	Label string `json:"label,omitempty"`
	N     int    `json:"n"`
	Prev  int    `json:"prev"`
	Extra uint64 `json:"extra,omitempty"` // e.g. matches folded into the alerts
}

// Alerts is the alerts section.
type Alerts struct {
	Total      Figure   `json:"total"`
	Silenced   int      `json:"silenced"`
	Suppressed int      `json:"suppressed"`
	BySeverity []Count  `json:"by_severity"` // critical first
	ByCategory []Count  `json:"by_category"`
	Noisiest   []Count  `json:"noisiest"` // rules by alerts; Extra: matches
	Tactics    []string `json:"tactics"`  // rows of the matrix, by alerts
	Techniques []string `json:"techniques"`
	Matrix     [][]int  `json:"matrix"` // [tactic][technique] alerts
	ByDay      []int    `json:"by_day"` // alerts started each day of the month
}

// SevResponse is the response figures of one severity.
type SevResponse struct {
	Severity       string        `json:"severity"`
	Incidents      int           `json:"incidents"`
	Acknowledged   int           `json:"acknowledged"`
	Resolved       int           `json:"resolved"`
	Escalated      int           `json:"escalated"`
	MTTAMedian     time.Duration `json:"mtta_median"`
	MTTAP90        time.Duration `json:"mtta_p90"`
	MTTRMedian     time.Duration `json:"mttr_median"`
	MTTRP90        time.Duration `json:"mttr_p90"`
	SLA            time.Duration `json:"sla"`
	WithinSLA      int           `json:"within_sla"`
	PrevMTTAMedian time.Duration `json:"prev_mtta_median"`
	PrevIncidents  int           `json:"prev_incidents"`
}

// Response is the response section.
type Response struct {
	BySeverity      []SevResponse `json:"by_severity"` // critical first, severities with incidents
	SLACompliance   Figure        `json:"sla_compliance"`
	Incidents       Figure        `json:"incidents"`
	EscalationPages int           `json:"escalation_pages"`
	Pages           Figure        `json:"pages"`       // firing notifications delivered
	AfterHours      Figure        `json:"after_hours"` // of those, outside business hours
	FailedPages     int           `json:"failed_pages"`
}

// Flood is one flood alert.
type Flood struct {
	AlertID  uint64        `json:"alert_id"`
	Rule     string        `json:"rule"`
	Target   string        `json:"target"`
	Start    time.Time     `json:"start"`
	Duration time.Duration `json:"duration"`
	PeakBps  float64       `json:"peak_bps"` // 0: not measured
	PeakPps  float64       `json:"peak_pps"`
}

// Threats is the threats section.
type Threats struct {
	Sources     []Count `json:"sources"` // attacking addresses, by security alerts
	Targets     []Count `json:"targets"` // targeted hosts
	Ports       []Count `json:"ports"`   // targeted ports
	Approximate bool    `json:"approximate"`
	ListHits    []Count `json:"list_hits"` // per threat-intel list; Extra: distinct addresses
	Floods      []Flood `json:"floods"`    // the largest, at most TopN
	FloodCount  Figure  `json:"flood_count"`
	Scans       []Count `json:"scans"` // per scan rule
	ScanCount   Figure  `json:"scan_count"`
	Scanners    []Count `json:"scanners"`
}

// DeviceAvail is one device's availability.
type DeviceAvail struct {
	Device      string  `json:"device"`
	Site        string  `json:"site"`
	SLA         float64 `json:"sla"` // percent of the month reachable
	DownMinutes float64 `json:"down_minutes"`
	Outages     int     `json:"outages"`
	PrevSLA     float64 `json:"prev_sla"`
}

// LinkAvail is one interface's availability: uplinks always, others when they went down.
type LinkAvail struct {
	Device      string  `json:"device"`
	Interface   string  `json:"interface"`
	Uplink      bool    `json:"uplink"`
	SLA         float64 `json:"sla"`
	DownMinutes float64 `json:"down_minutes"`
	Flaps       int     `json:"flaps"`
}

// ErrorSpot is an interface with input or output errors.
type ErrorSpot struct {
	Device    string  `json:"device"`
	Interface string  `json:"interface"`
	Errors    float64 `json:"errors"` // estimated count over the month
	Discards  float64 `json:"discards"`
	PeakRate  float64 `json:"peak_rate"` // errors/s, the highest hourly mean
}

// Availability is the availability section.
type Availability struct {
	Sites   []SiteAvail   `json:"sites"`
	Overall Figure        `json:"overall"` // mean device SLA
	Down    Figure        `json:"down"`    // device downtime minutes, all devices
	Devices []DeviceAvail `json:"devices"`
	Links   []LinkAvail   `json:"links"`
	Flaps   Figure        `json:"flaps"`
	Errors  []ErrorSpot   `json:"errors"`
}

// SiteAvail is one site's availability: the mean of its devices'.
type SiteAvail struct {
	Site        string  `json:"site"`
	Devices     int     `json:"devices"`
	SLA         float64 `json:"sla"`
	DownMinutes float64 `json:"down_minutes"`
}

// Capacity is one uplink's 95th percentile, this month and last.
type Capacity struct {
	Device     string    `json:"device"`
	Interface  string    `json:"interface"`
	IfIndex    int32     `json:"if_index"`
	SpeedBps   uint64    `json:"speed_bps"`
	InP95      float64   `json:"in_p95"` // bit/s
	OutP95     float64   `json:"out_p95"`
	Slots      int       `json:"slots"`
	PrevInP95  float64   `json:"prev_in_p95"`
	PrevOutP95 float64   `json:"prev_out_p95"`
	PrevSlots  int       `json:"prev_slots"`
	Daily      []float64 `json:"daily"` // the day's largest hourly mean of max(in, out) bit/s from SNMP
}

// Hygiene is what the wire says about management practice.
type Hygiene struct {
	Cleartext      []Count  `json:"cleartext"`       // per rule: alerts; Extra: distinct hosts
	CleartextHosts []string `json:"cleartext_hosts"` // the first hosts seen
	V1V2cTraps     []Count  `json:"v1v2c_traps"`     // devices that sent SNMPv1/v2c traps
	V1V2cPolled    []string `json:"v1v2c_polled"`    // devices polled with v1/v2c (from the config)
	PolledKnown    bool     `json:"polled_known"`
	AuthFailures   []Count  `json:"auth_failures"`  // devices, authenticationFailure traps
	ConfigChanges  []Count  `json:"config_changes"` // devices, configuration-change traps
	Findings       Figure   `json:"findings"`
}

// Notable is one incident of the timeline.
type Notable struct {
	Time     time.Time     `json:"time"`
	Severity string        `json:"severity"`
	Title    string        `json:"title"`
	Acked    time.Duration `json:"acked"` // 0: never
	Resolved time.Duration `json:"resolved"`
	Link     string        `json:"link,omitempty"`
	AlertID  uint64        `json:"alert_id"`
}
