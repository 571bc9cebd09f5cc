package report

import (
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/go-pdf/fpdf"
)

// WritePDF renders r as an A4 PDF with the HTML's sections, vector charts (rectangles and
// lines) and the appendix. Text uses the standard Helvetica in cp1252 (Western European);
// characters outside it print as '?'. The file's dates are r.Generated (or the month's end),
// not the clock, so the same report gives the same bytes.
func WritePDF(w io.Writer, r *Report) error {
	p := &pdfDoc{f: fpdf.New("P", "mm", "A4", ""), r: r}
	f := p.f
	f.SetCompression(true)
	f.SetCatalogSort(true)
	when := r.Generated
	if when.IsZero() {
		when = r.Period.To
	}
	f.SetCreationDate(when)
	f.SetModificationDate(when)
	f.SetProducer("Watchfloor", false)
	f.SetCreator("watchfloor report", false)
	f.SetTitle(r.Title(), true)
	f.SetMargins(15, 15, 15)
	f.SetAutoPageBreak(true, 15)
	cp := f.UnicodeTranslatorFromDescriptor("cp1252")
	p.tr = func(s string) string { return cp(pdfSafe.Replace(s)) }
	f.SetFooterFunc(func() {
		f.SetY(-12)
		f.SetFont("Helvetica", "", 8)
		f.SetTextColor(120, 120, 120)
		f.CellFormat(0, 5, p.tr(fmt.Sprintf("%s — page %d", r.Title(), f.PageNo())), "", 0, "C", false, 0, "")
	})
	p.render()
	if err := f.Output(w); err != nil {
		return fmt.Errorf("report: pdf: %w", err)
	}
	return nil
}

// pdfSafe spells the characters the report uses that cp1252 lacks.
var pdfSafe = strings.NewReplacer("▲", "+", "▼", "-", "→", "->", "⌈", "ceil(", "⌉", ")", "≤", "<=", "−", "-")

type pdfDoc struct {
	f  *fpdf.Fpdf
	r  *Report
	tr func(string) string
}

const pageW = 180.0 // A4 width less the margins

func (p *pdfDoc) text(size float64, style, s string) {
	p.f.SetFont("Helvetica", style, size)
	p.f.SetTextColor(34, 34, 34)
	p.f.MultiCell(0, size*0.5, p.tr(s), "", "L", false)
}

func (p *pdfDoc) h1(s string) {
	p.f.SetFont("Helvetica", "B", 16)
	p.f.SetTextColor(31, 78, 121)
	p.f.MultiCell(0, 8, p.tr(s), "", "L", false)
}

func (p *pdfDoc) h2(s string) {
	f := p.f
	if f.GetY() > 240 {
		f.AddPage()
	}
	f.Ln(4)
	f.SetFont("Helvetica", "B", 13)
	f.SetTextColor(31, 78, 121)
	f.CellFormat(0, 7, p.tr(s), "B", 1, "L", false, 0, "")
	f.Bookmark(p.tr(s), 0, -1)
	f.Ln(2)
}

func (p *pdfDoc) h3(s string) {
	if p.f.GetY() > 260 {
		p.f.AddPage()
	}
	p.f.Ln(1)
	p.text(10, "B", s)
}

// table prints rows with the given column widths; numeric columns (right-aligned) are
// those whose align is "R".
func (p *pdfDoc) table(head []string, widths []float64, align string, rows [][]string) {
	f := p.f
	row := func(cells []string, bold bool) {
		if f.GetY() > 272 {
			f.AddPage()
		}
		style := ""
		if bold {
			style = "B"
			f.SetFillColor(240, 243, 247)
		}
		f.SetFont("Helvetica", style, 8)
		f.SetTextColor(34, 34, 34)
		for i, c := range cells {
			a := "L"
			if i < len(align) && align[i] == 'R' {
				a = "R"
			}
			f.CellFormat(widths[i], 5, p.tr(truncWidth(f, p.tr, c, widths[i]-1)), "B", 0, a, bold, 0, "")
		}
		f.Ln(-1)
	}
	f.SetDrawColor(220, 220, 220)
	row(head, true)
	for _, r := range rows {
		row(r, false)
	}
	f.Ln(2)
}

// truncWidth shortens s until it fits w millimetres in the current font.
func truncWidth(f *fpdf.Fpdf, tr func(string) string, s string, w float64) string {
	if f.GetStringWidth(tr(s)) <= w {
		return s
	}
	r := []rune(s)
	for len(r) > 1 && f.GetStringWidth(tr(string(r)+"...")) > w {
		r = r[:len(r)-1]
	}
	return string(r) + "..."
}

// bars draws counts as horizontal bars: this month dark, last month a thin light bar.
func (p *pdfDoc) bars(cs []Count) {
	if len(cs) == 0 {
		p.text(9, "", "None.")
		return
	}
	f := p.f
	const rowH, labelW = 5.0, 55.0
	if f.GetY()+rowH*float64(len(cs)) > 275 {
		f.AddPage()
	}
	mx := 1
	for _, c := range cs {
		mx = max(mx, c.N, c.Prev)
	}
	scale := (pageW - labelW - 20) / float64(mx)
	x0, y := f.GetX(), f.GetY()
	f.SetFont("Helvetica", "", 8)
	for i, c := range cs {
		yy := y + float64(i)*rowH
		f.SetTextColor(51, 51, 51)
		f.SetXY(x0, yy)
		f.CellFormat(labelW-2, rowH, p.tr(truncWidth(f, p.tr, c.Key, labelW-3)), "", 0, "R", false, 0, "")
		f.SetFillColor(200, 211, 224)
		f.Rect(x0+labelW, yy+3.2, float64(c.Prev)*scale, 1.2, "F")
		f.SetFillColor(31, 78, 121)
		f.Rect(x0+labelW, yy+0.6, float64(c.N)*scale, 2.6, "F")
		f.SetXY(x0+labelW+float64(c.N)*scale+1, yy)
		f.CellFormat(15, rowH, fmt.Sprint(c.N), "", 0, "L", false, 0, "")
	}
	f.SetXY(x0, y+float64(len(cs))*rowH+2)
}

// columns draws one value per day.
func (p *pdfDoc) columns(vs []float64, unit string) {
	if len(vs) == 0 {
		return
	}
	f := p.f
	const h = 28.0
	if f.GetY()+h+8 > 275 {
		f.AddPage()
	}
	mx := 0.0
	for _, v := range vs {
		mx = math.Max(mx, v)
	}
	x0, y := f.GetX()+12, f.GetY()+4 // the label line above the bars
	cw := (pageW - 12) / float64(len(vs))
	f.SetDrawColor(150, 150, 150)
	f.Line(x0, y+h, x0+pageW-12, y+h)
	f.SetFillColor(31, 78, 121)
	f.SetFont("Helvetica", "", 7)
	f.SetTextColor(80, 80, 80)
	for i, v := range vs {
		bh := 0.0
		if mx > 0 {
			bh = v / mx * (h - 2)
		}
		f.Rect(x0+float64(i)*cw+0.3, y+h-bh, cw-0.6, bh, "F")
		if i%5 == 0 {
			f.Text(x0+float64(i)*cw, y+h+3, fmt.Sprint(i+1))
		}
	}
	top := num(mx)
	if unit == "bit/s" {
		top = bps(mx)
	}
	f.Text(x0, y-1, p.tr(unit+", highest "+top))
	f.SetXY(x0-12, y+h+6)
}

// heat draws the ATT&CK matrix.
func (p *pdfDoc) heat(a Alerts) {
	if len(a.Tactics) == 0 {
		p.text(9, "", "No alerts carried ATT&CK tags.")
		return
	}
	f := p.f
	const left, top, ch = 38.0, 14.0, 5.0
	cw := math.Min(14, (pageW-left)/float64(len(a.Techniques)))
	if f.GetY()+top+ch*float64(len(a.Tactics)) > 275 {
		f.AddPage()
	}
	mx := 1
	for _, row := range a.Matrix {
		for _, v := range row {
			mx = max(mx, v)
		}
	}
	x0, y0 := f.GetX(), f.GetY()
	f.SetFont("Helvetica", "", 6)
	f.SetTextColor(51, 51, 51)
	for j, te := range a.Techniques {
		f.TransformBegin()
		x, y := x0+left+float64(j)*cw+cw/2, y0+top-1
		f.TransformRotate(45, x, y)
		f.Text(x, y, p.tr(te))
		f.TransformEnd()
	}
	for i, ta := range a.Tactics {
		y := y0 + top + float64(i)*ch
		f.SetXY(x0, y)
		f.CellFormat(left-1, ch, p.tr(ta), "", 0, "R", false, 0, "")
		for j := range a.Techniques {
			v := a.Matrix[i][j]
			r, g, b := 243, 245, 248
			if v > 0 {
				r, g, b = heatRGB(float64(v) / float64(mx))
			}
			f.SetFillColor(r, g, b)
			f.SetDrawColor(255, 255, 255)
			f.Rect(x0+left+float64(j)*cw, y, cw, ch, "FD")
			if v > 0 {
				if float64(v)/float64(mx) > 0.55 {
					f.SetTextColor(255, 255, 255)
				} else {
					f.SetTextColor(34, 34, 34)
				}
				f.SetXY(x0+left+float64(j)*cw, y)
				f.CellFormat(cw, ch, fmt.Sprint(v), "", 0, "C", false, 0, "")
				f.SetTextColor(51, 51, 51)
			}
		}
	}
	f.SetXY(x0, y0+top+float64(len(a.Tactics))*ch+3)
}

// gauge draws the score's four parts on a bar of 100.
func (p *pdfDoc) gauge(s Summary) {
	f := p.f
	x0, y := f.GetX(), f.GetY()
	f.SetFillColor(238, 238, 238)
	f.Rect(x0, y, pageW, 6, "F")
	colors := [][3]int{{31, 78, 121}, {46, 117, 182}, {91, 155, 213}, {157, 195, 230}}
	x := x0
	f.SetFont("Helvetica", "", 8)
	f.SetTextColor(51, 51, 51)
	for i, c := range s.Components {
		w := c.Value / 100 * pageW
		col := colors[i%len(colors)]
		f.SetFillColor(col[0], col[1], col[2])
		f.Rect(x, y, w, 6, "F")
		x += w
		f.Text(x0+float64(i)*pageW/4, y+10, p.tr(fmt.Sprintf("%s %.1f/25", c.Name, c.Value)))
	}
	f.SetXY(x0, y+13)
}

func (p *pdfDoc) render() {
	r, f := p.r, p.f
	tz := r.TimeZone
	f.AddPage()
	p.h1(r.Title())
	gen := ""
	if !r.Generated.IsZero() {
		gen = " Generated " + r.Generated.Format("2006-01-02 15:04 MST") + "."
	}
	p.text(9, "", fmt.Sprintf("%s – %s (%s), compared with %s.%s", r.Period.From.Format("2 January 2006"),
		r.Period.To.Format("2 January 2006"), tz, r.Prev.From.Format("January 2006"), gen))

	p.h2("1. Executive summary")
	y := f.GetY()
	f.SetFont("Helvetica", "B", 28)
	f.SetTextColor(31, 78, 121)
	f.CellFormat(25, 12, fmt.Sprintf("%.0f", r.Summary.Score.Value), "", 0, "L", false, 0, "")
	f.SetXY(40, y+4)
	p.text(10, "", "/ 100 posture score — "+delta(r.Summary.Score))
	f.SetXY(15, y+14)
	p.gauge(r.Summary)
	var rows [][]string
	for _, k := range r.Summary.Key {
		v := num(k.Value)
		if k.Unit != "" {
			v += " " + k.Unit
		}
		rows = append(rows, []string{k.Name, v, delta(k)})
	}
	p.table([]string{"Figure", "This month", "Change"}, []float64{80, 35, 65}, "LRL", rows)
	p.h3("Better")
	for _, c := range r.Summary.Better {
		p.text(9, "", "+ "+c.Text)
	}
	if len(r.Summary.Better) == 0 {
		p.text(9, "", "Nothing improved measurably.")
	}
	p.h3("Worse")
	for _, c := range r.Summary.Worse {
		p.text(9, "", "- "+c.Text)
	}
	if len(r.Summary.Worse) == 0 {
		p.text(9, "", "Nothing got measurably worse.")
	}
	p.h3("Data coverage")
	rows = nil
	for _, c := range r.Coverage {
		cov, gaps := "-", "-"
		if c.Measured {
			cov = fmt.Sprintf("%.1f %% (%d h)", c.Percent, c.Hours)
			gaps = "none"
			if len(c.Gaps) > 0 {
				g := c.Gaps[0]
				gaps = inZone(g.From, tz).Format("2 Jan 15:04") + " - " + inZone(g.To, tz).Format("2 Jan 15:04")
				if n := len(c.Gaps) - 1 + c.MoreGaps; n > 0 {
					gaps += fmt.Sprintf(" +%d more", n)
				}
			}
		}
		rows = append(rows, []string{c.Collector, cov, gaps, c.Note})
	}
	p.table([]string{"Collector", "Coverage", "Gaps", "How"}, []float64{28, 25, 52, 75}, "LRLL", rows)
	for _, c := range r.Coverage {
		if c.Measured && len(c.Gaps) > 1 {
			var s string
			for _, g := range c.Gaps {
				s += inZone(g.From, tz).Format("2 Jan 15:04") + " - " + inZone(g.To, tz).Format("2 Jan 15:04") + " (" + dur(g.To.Sub(g.From)) + "); "
			}
			p.text(8, "", c.Collector+" gaps: "+s)
		}
	}

	p.h2("2. Alerts")
	p.text(9, "", fmt.Sprintf("%s alerts (%s); %d silenced, %d suppressed under a root cause.",
		num(r.Alerts.Total.Value), delta(r.Alerts.Total), r.Alerts.Silenced, r.Alerts.Suppressed))
	p.h3("By severity")
	p.bars(r.Alerts.BySeverity)
	p.h3("By category")
	p.bars(r.Alerts.ByCategory)
	p.h3("Per day")
	p.columns(intsToFloats(r.Alerts.ByDay), "alerts")
	p.h3("ATT&CK tactics and techniques")
	p.heat(r.Alerts)
	p.h3("Noisiest rules")
	rows = nil
	for _, c := range r.Alerts.Noisiest {
		rows = append(rows, []string{c.Key, c.Label, fmt.Sprint(c.N), fmt.Sprint(c.Prev), fmt.Sprint(c.Extra)})
	}
	p.table([]string{"Rule", "Title", "Alerts", "Last month", "Matches"}, []float64{45, 75, 20, 20, 20}, "LLRRR", rows)

	p.h2("3. Response")
	R := r.Response
	p.text(9, "", fmt.Sprintf("%s incidents (%s); %.1f %% acknowledged within SLA (%s); %s pages delivered, %s after hours; %d failed; %d escalation pages.",
		num(R.Incidents.Value), delta(R.Incidents), R.SLACompliance.Value, delta(R.SLACompliance), num(R.Pages.Value), num(R.AfterHours.Value), R.FailedPages, R.EscalationPages))
	rows = nil
	for _, s := range R.BySeverity {
		rows = append(rows, []string{s.Severity, fmt.Sprint(s.Incidents), fmt.Sprint(s.Acknowledged), dur(s.MTTAMedian), dur(s.MTTAP90),
			dur(s.MTTRMedian), dur(s.MTTRP90), dur(s.SLA), fmt.Sprint(s.WithinSLA), fmt.Sprint(s.Escalated), dur(s.PrevMTTAMedian)})
	}
	p.table([]string{"Severity", "Incid.", "Acked", "MTTA med", "MTTA p90", "MTTR med", "MTTR p90", "SLA", "In SLA", "Escal.", "MTTA prev"},
		[]float64{18, 14, 13, 17, 17, 17, 17, 15, 14, 13, 19}, "LRRRRRRRRRR", rows)

	p.h2("4. Threats")
	T := r.Threats
	p.h3("Top attacking sources")
	p.bars(T.Sources)
	p.h3("Targeted hosts")
	p.bars(T.Targets)
	p.h3("Targeted ports")
	p.bars(T.Ports)
	if T.Approximate {
		p.text(8, "I", "More distinct keys than the report counts: the rankings are approximate.")
	}
	p.h3("Threat-intel list hits")
	rows = nil
	for _, c := range T.ListHits {
		rows = append(rows, []string{c.Key, fmt.Sprint(c.N), fmt.Sprint(c.Extra), fmt.Sprint(c.Prev)})
	}
	p.table([]string{"List", "Alerts", "Distinct", "Last month"}, []float64{70, 30, 30, 30}, "LRRR", rows)
	p.h3(fmt.Sprintf("Floods (%s, %s)", num(T.FloodCount.Value), delta(T.FloodCount)))
	rows = nil
	for _, fl := range T.Floods {
		rows = append(rows, []string{inZone(fl.Start, tz).Format("Mon 2 Jan 15:04"), fl.Rule, fl.Target, dur(fl.Duration), bps(fl.PeakBps), num(fl.PeakPps)})
	}
	p.table([]string{"Start", "Rule", "Target", "Duration", "Peak", "Peak pps"}, []float64{30, 42, 34, 20, 28, 26}, "LLLRRR", rows)
	p.h3(fmt.Sprintf("Scans (%s, %s)", num(T.ScanCount.Value), delta(T.ScanCount)))
	p.bars(T.Scans)
	p.h3("Scanners")
	p.bars(T.Scanners)

	p.h2("5. Availability")
	V := r.Availability
	p.text(9, "", fmt.Sprintf("Mean device availability %.3f %% (%s); %s minutes of device downtime; %s link flaps.",
		V.Overall.Value, delta(V.Overall), num(V.Down.Value), num(V.Flaps.Value)))
	rows = nil
	for _, s := range V.Sites {
		rows = append(rows, []string{s.Site, fmt.Sprint(s.Devices), fmt.Sprintf("%.3f %%", s.SLA), num(s.DownMinutes) + " min"})
	}
	p.table([]string{"Site", "Devices", "SLA", "Downtime"}, []float64{60, 30, 40, 40}, "LRRR", rows)
	rows = nil
	for _, d := range V.Devices {
		rows = append(rows, []string{d.Device, d.Site, fmt.Sprintf("%.3f %%", d.SLA), num(d.DownMinutes) + " min", fmt.Sprint(d.Outages), fmt.Sprintf("%.3f %%", d.PrevSLA)})
	}
	p.table([]string{"Device", "Site", "SLA", "Downtime", "Outages", "SLA last month"}, []float64{35, 35, 27, 28, 20, 35}, "LLRRRR", rows)
	p.h3("Uplinks and links that went down")
	rows = nil
	for _, l := range V.Links {
		up := ""
		if l.Uplink {
			up = "yes"
		}
		rows = append(rows, []string{l.Device, l.Interface, up, fmt.Sprintf("%.3f %%", l.SLA), num(l.DownMinutes) + " min", fmt.Sprint(l.Flaps)})
	}
	p.table([]string{"Device", "Interface", "Uplink", "SLA", "Downtime", "Flaps"}, []float64{35, 40, 15, 30, 30, 30}, "LLLRRR", rows)
	p.h3("Interface error hot spots")
	rows = nil
	for _, e := range V.Errors {
		rows = append(rows, []string{e.Device, e.Interface, fmt.Sprintf("%.0f", e.Errors), fmt.Sprintf("%.0f", e.Discards), num(e.PeakRate)})
	}
	p.table([]string{"Device", "Interface", "Errors", "Discards", "Peak errors/s"}, []float64{35, 45, 35, 35, 30}, "LLRRR", rows)

	p.h2("6. Capacity")
	rows = nil
	for _, c := range r.Capacity {
		rows = append(rows, []string{c.Device + " " + c.Interface, bps(float64(c.SpeedBps)), bps(c.InP95), bps(c.OutP95),
			utilPct(math.Max(c.InP95, c.OutP95), c.SpeedBps), bps(c.PrevInP95), bps(c.PrevOutP95), fmt.Sprintf("%d/%d", c.Slots, c.PrevSlots)})
	}
	p.table([]string{"Uplink", "Speed", "In p95", "Out p95", "Util.", "In p95 prev", "Out p95 prev", "Slots"},
		[]float64{34, 20, 22, 22, 16, 23, 23, 20}, "LRRRRRRR", rows)
	for _, c := range r.Capacity {
		p.h3(c.Device + " " + c.Interface + ": busiest hour of each day (SNMP)")
		p.columns(c.Daily, "bit/s")
	}

	p.h2("7. Hygiene seen on the wire")
	H := r.Hygiene
	rows = nil
	for _, c := range H.Cleartext {
		rows = append(rows, []string{c.Key, fmt.Sprint(c.N), fmt.Sprint(c.Extra), fmt.Sprint(c.Prev)})
	}
	p.table([]string{"Cleartext management", "Alerts", "Distinct", "Last month"}, []float64{70, 30, 30, 30}, "LRRR", rows)
	rows = nil
	for _, x := range []struct {
		what string
		cs   []Count
	}{{"SNMPv1/v2c traps", H.V1V2cTraps}, {"authentication failures", H.AuthFailures}, {"configuration changes", H.ConfigChanges}} {
		for _, c := range x.cs {
			rows = append(rows, []string{c.Key, x.what, fmt.Sprint(c.N), fmt.Sprint(c.Prev)})
		}
	}
	p.table([]string{"Device", "What", "Traps", "Last month"}, []float64{50, 60, 30, 30}, "LLRR", rows)
	polled := "unknown (the report was not given the configuration)"
	if H.PolledKnown {
		polled = "none"
		if len(H.V1V2cPolled) > 0 {
			polled = fmt.Sprint(H.V1V2cPolled)
		}
	}
	p.text(9, "", "Polled with SNMPv1/v2c: "+polled+".")

	p.h2("8. Notable incidents")
	f.SetFont("Helvetica", "", 8)
	for _, n := range r.Timeline {
		if f.GetY() > 272 {
			f.AddPage()
		}
		acked := "never acknowledged"
		if n.Acked > 0 {
			acked = "acked after " + dur(n.Acked)
		}
		f.SetTextColor(34, 34, 34)
		f.SetFont("Helvetica", "", 8)
		f.CellFormat(30, 5, p.tr(inZone(n.Time, tz).Format("Mon 2 Jan 15:04")), "B", 0, "L", false, 0, "")
		f.CellFormat(16, 5, n.Severity, "B", 0, "L", false, 0, "")
		if n.Link != "" {
			f.SetTextColor(31, 78, 121)
		}
		f.CellFormat(84, 5, p.tr(truncWidth(f, p.tr, n.Title, 83)), "B", 0, "L", false, 0, n.Link)
		f.SetTextColor(34, 34, 34)
		f.CellFormat(50, 5, p.tr(acked+", resolved "+dur(n.Resolved)), "B", 1, "L", false, 0, "")
	}
	if len(r.Timeline) == 0 {
		p.text(9, "", "No high or critical incidents.")
	}

	p.h2("Limitations")
	for _, l := range r.Limitations {
		p.text(8, "", "- "+l)
	}
	p.h2("Appendix: definitions")
	for _, d := range r.Definitions {
		if f.GetY() > 265 {
			f.AddPage()
		}
		p.text(9, "B", d.Term)
		p.text(8, "", d.Text)
		f.Ln(1)
	}
}
