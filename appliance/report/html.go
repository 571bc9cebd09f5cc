package report

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"
	"time"
)

// WriteHTML renders r as one self-contained HTML page: inline CSS, SVG charts, no script and
// nothing fetched. The same report gives the same bytes.
func WriteHTML(w io.Writer, r *Report) error {
	var b bytes.Buffer
	if err := pageTmpl.Execute(&b, r); err != nil {
		return fmt.Errorf("report: html: %w", err)
	}
	_, err := w.Write(b.Bytes())
	return err
}

// Title is the report's title line.
func (r *Report) Title() string {
	site := r.Site
	if site == "" {
		site = "all sites"
	}
	return fmt.Sprintf("Security posture report — %s — %s", site, r.Period.From.Format("January 2006"))
}

var funcs = template.FuncMap{
	"num":   num,
	"delta": delta,
	"dur":   dur,
	"pct":   func(v float64) string { return num(v) + " %" },
	"bps":   bps,
	"ts":    func(t time.Time, loc string) string { return inZone(t, loc).Format("Mon 2 Jan 15:04") },
	"gap": func(g Gap, loc string) string {
		return inZone(g.From, loc).Format("2 Jan 15:04") + " – " + inZone(g.To, loc).Format("2 Jan 15:04") + " (" + dur(g.To.Sub(g.From)) + ")"
	},
	"bars":         barsSVG,
	"heat":         heatSVG,
	"daily":        dailySVG,
	"gauge":        gaugeSVG,
	"utilpct":      func(v float64, speed uint64) string { return utilPct(v, speed) },
	"add":          func(a, b int) int { return a + b },
	"intsToFloats": intsToFloats,
	"u2f":          func(u uint64) float64 { return float64(u) },
	"maxf":         math.Max,
}

func inZone(t time.Time, name string) time.Time {
	if loc, err := time.LoadLocation(name); err == nil {
		return t.In(loc)
	}
	return t.UTC()
}

func utilPct(v float64, speed uint64) string {
	if speed == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f %%", 100*v/float64(speed))
}

// delta is "▲ 3 (was 5)" for a figure with a previous value; "–" without.
func delta(f Figure) string {
	if !f.HasPrev {
		return "no data last month"
	}
	d := f.Value - f.Prev
	switch {
	case d == 0:
		return "= last month"
	case d > 0:
		return "▲ " + num(d) + " (was " + num(f.Prev) + ")"
	}
	return "▼ " + num(-d) + " (was " + num(f.Prev) + ")"
}

func dur(d time.Duration) string {
	switch {
	case d == 0:
		return "–"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
}

func bps(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 1e9:
		return fmt.Sprintf("%.2f Gbit/s", v/1e9)
	case v >= 1e6:
		return fmt.Sprintf("%.2f Mbit/s", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.2f kbit/s", v/1e3)
	}
	return fmt.Sprintf("%.0f bit/s", v)
}

// barsSVG draws counts as horizontal bars, this month's dark over last month's light.
func barsSVG(cs []Count) template.HTML {
	if len(cs) == 0 {
		return ""
	}
	const w, rowH, labelW = 640, 20, 200
	mx := 1
	for _, c := range cs {
		mx = max(mx, c.N, c.Prev)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" width="%d" height="%d" role="img">`, w, rowH*len(cs)+4, w, rowH*len(cs)+4)
	scale := float64(w-labelW-60) / float64(mx)
	for i, c := range cs {
		y := i*rowH + 2
		name := c.Key
		if c.Label != "" && c.Label != c.Key {
			name = c.Key
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`, labelW-6, y+14, template.HTMLEscapeString(trunc(name, 30)))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="6" fill="#c8d3e0"/>`, labelW, y+12, float64(c.Prev)*scale)
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="10" fill="#1f4e79"/>`, labelW, y+2, float64(c.N)*scale)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d">%d</text>`, float64(labelW)+float64(c.N)*scale+4, y+11, c.N)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func trunc(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// heatSVG draws the ATT&CK matrix: tactics down, techniques across, darker for more.
func heatSVG(a Alerts) template.HTML {
	if len(a.Tactics) == 0 {
		return ""
	}
	const cell, top, left = 44, 70, 150
	mx := 1
	for _, row := range a.Matrix {
		for _, v := range row {
			mx = max(mx, v)
		}
	}
	w, h := left+cell*len(a.Techniques)+4, top+cell/2*len(a.Tactics)+4
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" width="%d" height="%d" role="img">`, w, h, w, h)
	for j, te := range a.Techniques {
		x := left + j*cell + cell/2
		fmt.Fprintf(&b, `<text transform="translate(%d,%d) rotate(-45)">%s</text>`, x, top-6, template.HTMLEscapeString(te))
	}
	for i, ta := range a.Tactics {
		y := top + i*cell/2
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`, left-6, y+15, template.HTMLEscapeString(ta))
		for j := range a.Techniques {
			v := a.Matrix[i][j]
			fill := "#f3f5f8"
			if v > 0 {
				fill = heatColor(float64(v) / float64(mx))
			}
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s" stroke="#fff"/>`, left+j*cell, y, cell, cell/2, fill)
			if v > 0 {
				fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" fill="%s">%d</text>`, left+j*cell+cell/2, y+15, textOn(float64(v)/float64(mx)), v)
			}
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// heatRGB is the colour of a share in (0, 1]: pale to deep red.
func heatRGB(f float64) (r, g, b int) {
	f = math.Max(0.15, math.Min(1, f))
	return 255 - int(f*(255-178)), 235 - int(f*(235-24)), 225 - int(f*(225-43))
}

func heatColor(f float64) string {
	r, g, b := heatRGB(f)
	return fmt.Sprintf("#%02x%02x%02x", r, g, b)
}

func textOn(f float64) string {
	if f > 0.55 {
		return "#fff"
	}
	return "#222"
}

// dailySVG draws one value per day as columns.
func dailySVG(vs []float64, unit string) template.HTML {
	if len(vs) == 0 {
		return ""
	}
	const w, h, pad = 640, 120, 30
	mx := 0.0
	for _, v := range vs {
		mx = math.Max(mx, v)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" width="%d" height="%d" role="img">`, w, h, w, h)
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#999"/>`, pad, h-18, w, h-18)
	cw := float64(w-pad) / float64(len(vs))
	for i, v := range vs {
		bh := 0.0
		if mx > 0 {
			bh = v / mx * float64(h-30)
		}
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#1f4e79"/>`, float64(pad)+float64(i)*cw+1, float64(h-18)-bh, cw-2, bh)
		if i%5 == 0 {
			fmt.Fprintf(&b, `<text x="%.1f" y="%d">%d</text>`, float64(pad)+float64(i)*cw+1, h-4, i+1)
		}
	}
	fmt.Fprintf(&b, `<text x="0" y="12">%s</text>`, template.HTMLEscapeString(unit))
	fmt.Fprintf(&b, `<text x="0" y="26">max %s</text>`, template.HTMLEscapeString(num(mx)))
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// gaugeSVG draws the score as a bar of 100 with its four parts.
func gaugeSVG(s Summary) template.HTML {
	const w, h = 640, 46
	colors := []string{"#1f4e79", "#2e75b6", "#5b9bd5", "#9dc3e6"}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" width="%d" height="%d" role="img">`, w, h, w, h)
	fmt.Fprintf(&b, `<rect x="0" y="4" width="%d" height="22" fill="#eee"/>`, w)
	x := 0.0
	for i, c := range s.Components {
		cw := c.Value / 100 * w
		fmt.Fprintf(&b, `<rect x="%.1f" y="4" width="%.1f" height="22" fill="%s"/>`, x, cw, colors[i%len(colors)])
		fmt.Fprintf(&b, `<text x="%.1f" y="42">%s %s</text>`, float64(i)*w/4, template.HTMLEscapeString(c.Name), num(math.Round(c.Value*10)/10))
		x += cw
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

var pageTmpl = template.Must(template.New("page").Funcs(funcs).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{{.Title}}</title>
<style>
body{font-family:"DejaVu Sans",Helvetica,Arial,sans-serif;font-size:13px;color:#222;max-width:980px;margin:24px auto;padding:0 16px}
h1{font-size:22px;color:#1f4e79;margin-bottom:4px}h2{font-size:17px;color:#1f4e79;border-bottom:2px solid #1f4e79;margin-top:32px}
h3{font-size:14px;margin-bottom:4px}
table{border-collapse:collapse;margin:6px 0 12px}th,td{border-bottom:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f0f3f7}td.n,th.n{text-align:right}
.score{font-size:40px;font-weight:bold;color:#1f4e79}.muted{color:#666}.good{color:#2e7d32}.bad{color:#b71c1c}
.chart text{font-size:11px;fill:#333}.note{background:#fff8e1;border-left:4px solid #f0b400;padding:6px 10px}
dl dt{font-weight:bold;margin-top:6px}dl dd{margin-left:16px}
</style></head><body>
<h1>{{.Title}}</h1>
<p class="muted">{{.Period.From.Format "2 January 2006"}} – {{.Period.To.Format "2 January 2006"}} ({{.TimeZone}}), compared with {{.Prev.From.Format "January 2006"}}.{{if not .Generated.IsZero}} Generated {{.Generated.Format "2006-01-02 15:04 MST"}}.{{end}}</p>

<h2 id="summary">1. Executive summary</h2>
<p><span class="score">{{printf "%.0f" .Summary.Score.Value}}</span> / 100 posture score <span class="muted">{{delta .Summary.Score}}</span></p>
{{gauge .Summary}}
<table><tr><th>Figure</th><th class="n">This month</th><th>Change</th></tr>
{{range .Summary.Key}}<tr><td>{{.Name}}</td><td class="n">{{num .Value}}{{if .Unit}} {{.Unit}}{{end}}</td><td>{{delta .}}</td></tr>
{{end}}</table>
<h3>Better</h3><ul>{{range .Summary.Better}}<li class="good">{{.Text}}</li>{{else}}<li>Nothing improved measurably.</li>{{end}}</ul>
<h3>Worse</h3><ul>{{range .Summary.Worse}}<li class="bad">{{.Text}}</li>{{else}}<li>Nothing got measurably worse.</li>{{end}}</ul>
<h3>Data coverage</h3>
<table><tr><th>Collector</th><th class="n">Coverage</th><th>Gaps</th><th>How</th></tr>
{{range .Coverage}}<tr><td>{{.Collector}}</td>{{if .Measured}}<td class="n">{{printf "%.1f" .Percent}} % ({{.Hours}} h)</td><td>{{range .Gaps}}{{gap . $.TimeZone}}<br>{{else}}none{{end}}{{if .MoreGaps}}and {{.MoreGaps}} shorter{{end}}</td>{{else}}<td class="n">–</td><td>–</td>{{end}}<td>{{.Note}}</td></tr>
{{end}}</table>

<h2 id="alerts">2. Alerts</h2>
<p>{{num .Alerts.Total.Value}} alerts ({{delta .Alerts.Total}}); {{.Alerts.Silenced}} silenced, {{.Alerts.Suppressed}} suppressed under a root cause.</p>
<h3>By severity</h3>{{bars .Alerts.BySeverity}}
<h3>By category</h3>{{bars .Alerts.ByCategory}}
<h3>Per day</h3>{{daily (intsToFloats .Alerts.ByDay) "alerts"}}
<h3>ATT&amp;CK tactics and techniques</h3>{{heat .Alerts}}
<h3>Noisiest rules</h3>
<table><tr><th>Rule</th><th class="n">Alerts</th><th class="n">Last month</th><th class="n">Matches</th></tr>
{{range .Alerts.Noisiest}}<tr><td>{{.Key}}<br><span class="muted">{{.Label}}</span></td><td class="n">{{.N}}</td><td class="n">{{.Prev}}</td><td class="n">{{.Extra}}</td></tr>
{{end}}</table>

<h2 id="response">3. Response</h2>
<p>{{num .Response.Incidents.Value}} incidents ({{delta .Response.Incidents}}); {{printf "%.1f" .Response.SLACompliance.Value}} % acknowledged within SLA ({{delta .Response.SLACompliance}}); {{num .Response.Pages.Value}} pages delivered, {{num .Response.AfterHours.Value}} after hours; {{.Response.FailedPages}} failed; {{.Response.EscalationPages}} escalation pages.</p>
<table><tr><th>Severity</th><th class="n">Incidents</th><th class="n">Acked</th><th class="n">MTTA median</th><th class="n">MTTA p90</th><th class="n">MTTR median</th><th class="n">MTTR p90</th><th class="n">SLA</th><th class="n">Within SLA</th><th class="n">Escalated</th><th class="n">MTTA last month</th></tr>
{{range .Response.BySeverity}}<tr><td>{{.Severity}}</td><td class="n">{{.Incidents}}</td><td class="n">{{.Acknowledged}}</td><td class="n">{{dur .MTTAMedian}}</td><td class="n">{{dur .MTTAP90}}</td><td class="n">{{dur .MTTRMedian}}</td><td class="n">{{dur .MTTRP90}}</td><td class="n">{{dur .SLA}}</td><td class="n">{{.WithinSLA}}</td><td class="n">{{.Escalated}}</td><td class="n">{{dur .PrevMTTAMedian}}</td></tr>
{{else}}<tr><td colspan="11">No incidents were paged.</td></tr>{{end}}</table>

<h2 id="threats">4. Threats</h2>
<h3>Top attacking sources</h3>{{bars .Threats.Sources}}
<h3>Targeted hosts</h3>{{bars .Threats.Targets}}
<h3>Targeted ports</h3>{{bars .Threats.Ports}}
{{if .Threats.Approximate}}<p class="note">More distinct keys than the report counts: the rankings are approximate.</p>{{end}}
<h3>Threat-intel list hits</h3>
<table><tr><th>List</th><th class="n">Alerts</th><th class="n">Distinct</th><th class="n">Last month</th></tr>
{{range .Threats.ListHits}}<tr><td>{{.Key}}</td><td class="n">{{.N}}</td><td class="n">{{.Extra}}</td><td class="n">{{.Prev}}</td></tr>{{end}}</table>
<h3>Floods ({{num .Threats.FloodCount.Value}}, {{delta .Threats.FloodCount}})</h3>
<table><tr><th>Start</th><th>Rule</th><th>Target</th><th class="n">Duration</th><th class="n">Peak</th><th class="n">Peak packets/s</th></tr>
{{range .Threats.Floods}}<tr><td>{{ts .Start $.TimeZone}}</td><td>{{.Rule}}</td><td>{{.Target}}</td><td class="n">{{dur .Duration}}</td><td class="n">{{bps .PeakBps}}</td><td class="n">{{num .PeakPps}}</td></tr>
{{else}}<tr><td colspan="6">No floods.</td></tr>{{end}}</table>
<h3>Scans ({{num .Threats.ScanCount.Value}}, {{delta .Threats.ScanCount}})</h3>{{bars .Threats.Scans}}
<h3>Scanners</h3>{{bars .Threats.Scanners}}

<h2 id="availability">5. Availability</h2>
<p>Mean device availability {{printf "%.3f" .Availability.Overall.Value}} % ({{delta .Availability.Overall}}); {{num .Availability.Down.Value}} minutes of device downtime; {{num .Availability.Flaps.Value}} link flaps.</p>
<table><tr><th>Site</th><th class="n">Devices</th><th class="n">SLA</th><th class="n">Downtime</th></tr>
{{range .Availability.Sites}}<tr><td>{{.Site}}</td><td class="n">{{.Devices}}</td><td class="n">{{printf "%.3f" .SLA}} %</td><td class="n">{{num .DownMinutes}} min</td></tr>{{end}}</table>
<table><tr><th>Device</th><th>Site</th><th class="n">SLA</th><th class="n">Downtime</th><th class="n">Outages</th><th class="n">SLA last month</th></tr>
{{range .Availability.Devices}}<tr><td>{{.Device}}</td><td>{{.Site}}</td><td class="n">{{printf "%.3f" .SLA}} %</td><td class="n">{{num .DownMinutes}} min</td><td class="n">{{.Outages}}</td><td class="n">{{printf "%.3f" .PrevSLA}} %</td></tr>
{{end}}</table>
<h3>Uplinks and links that went down</h3>
<table><tr><th>Device</th><th>Interface</th><th>Uplink</th><th class="n">SLA</th><th class="n">Downtime</th><th class="n">Flaps</th></tr>
{{range .Availability.Links}}<tr><td>{{.Device}}</td><td>{{.Interface}}</td><td>{{if .Uplink}}yes{{end}}</td><td class="n">{{printf "%.3f" .SLA}} %</td><td class="n">{{num .DownMinutes}} min</td><td class="n">{{.Flaps}}</td></tr>
{{end}}</table>
<h3>Interface error hot spots</h3>
<table><tr><th>Device</th><th>Interface</th><th class="n">Errors</th><th class="n">Discards</th><th class="n">Peak errors/s</th></tr>
{{range .Availability.Errors}}<tr><td>{{.Device}}</td><td>{{.Interface}}</td><td class="n">{{printf "%.0f" .Errors}}</td><td class="n">{{printf "%.0f" .Discards}}</td><td class="n">{{num .PeakRate}}</td></tr>
{{else}}<tr><td colspan="5">No interface errors.</td></tr>{{end}}</table>

<h2 id="capacity">6. Capacity</h2>
<table><tr><th>Uplink</th><th class="n">Speed</th><th class="n">In p95</th><th class="n">Out p95</th><th class="n">Utilisation</th><th class="n">In p95 last month</th><th class="n">Out p95 last month</th><th class="n">Slots</th></tr>
{{range .Capacity}}<tr><td>{{.Device}} {{.Interface}}</td><td class="n">{{bps (u2f .SpeedBps)}}</td><td class="n">{{bps .InP95}}</td><td class="n">{{bps .OutP95}}</td><td class="n">{{utilpct (maxf .InP95 .OutP95) .SpeedBps}}</td><td class="n">{{bps .PrevInP95}}</td><td class="n">{{bps .PrevOutP95}}</td><td class="n">{{.Slots}} / {{.PrevSlots}}</td></tr>
{{else}}<tr><td colspan="8">No uplinks found (name them in report.policy.uplinks).</td></tr>{{end}}</table>
{{range .Capacity}}<h3>{{.Device}} {{.Interface}}: busiest hour of each day (SNMP)</h3>{{daily .Daily "bit/s"}}{{end}}

<h2 id="hygiene">7. Hygiene seen on the wire</h2>
<table><tr><th>Finding</th><th class="n">Alerts</th><th class="n">Distinct</th><th class="n">Last month</th></tr>
{{range .Hygiene.Cleartext}}<tr><td>{{.Key}}</td><td class="n">{{.N}}</td><td class="n">{{.Extra}}</td><td class="n">{{.Prev}}</td></tr>{{else}}<tr><td colspan="4">No cleartext management seen.</td></tr>{{end}}</table>
{{if .Hygiene.CleartextHosts}}<p>Hosts: {{range $i, $h := .Hygiene.CleartextHosts}}{{if $i}}, {{end}}{{$h}}{{end}}</p>{{end}}
<table><tr><th>Device</th><th>What</th><th class="n">Traps</th><th class="n">Last month</th></tr>
{{range .Hygiene.V1V2cTraps}}<tr><td>{{.Key}}</td><td>SNMPv1/v2c traps</td><td class="n">{{.N}}</td><td class="n">{{.Prev}}</td></tr>{{end}}
{{range .Hygiene.AuthFailures}}<tr><td>{{.Key}}</td><td>authentication failures</td><td class="n">{{.N}}</td><td class="n">{{.Prev}}</td></tr>{{end}}
{{range .Hygiene.ConfigChanges}}<tr><td>{{.Key}}</td><td>configuration changes</td><td class="n">{{.N}}</td><td class="n">{{.Prev}}</td></tr>{{end}}
</table>
<p>Polled with SNMPv1/v2c: {{if .Hygiene.PolledKnown}}{{range $i, $d := .Hygiene.V1V2cPolled}}{{if $i}}, {{end}}{{$d}}{{else}}none{{end}}{{else}}unknown (the report was not given the configuration){{end}}.</p>

<h2 id="timeline">8. Notable incidents</h2>
<table><tr><th>Opened</th><th>Severity</th><th>Incident</th><th class="n">Acknowledged after</th><th class="n">Resolved after</th></tr>
{{range .Timeline}}<tr><td>{{ts .Time $.TimeZone}}</td><td>{{.Severity}}</td><td>{{if .Link}}<a href="{{.Link}}">{{.Title}}</a>{{else}}{{.Title}}{{end}}</td><td class="n">{{if .Acked}}{{dur .Acked}}{{else}}never{{end}}</td><td class="n">{{dur .Resolved}}</td></tr>
{{else}}<tr><td colspan="5">No high or critical incidents.</td></tr>{{end}}</table>

<h2 id="limits">Limitations</h2>
<ul>{{range .Limitations}}<li>{{.}}</li>{{end}}</ul>
<h2 id="definitions">Appendix: definitions</h2>
<dl>{{range .Definitions}}<dt>{{.Term}}</dt><dd>{{.Text}}</dd>{{end}}</dl>
</body></html>
`))

func intsToFloats(xs []int) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = float64(x)
	}
	return out
}
