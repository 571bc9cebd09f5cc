package report

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/watchfloor/watchfloor/appliance/report/labmonth"
	"github.com/watchfloor/watchfloor/appliance/store"
)

// The lab site run for a simulated month (labmonth: the lab's devices as the real poller
// reads them, its incidents on a fast-forwarded clock through the real alerts.Manager)
// makes a report whose PDF pages pdftoppm renders with ink on every one (kept as
// artifacts, with the PDF and the HTML), and whose headline figures follow from the
// script: dist-s3 (which goes dark) is the least available device, floods and scans are
// counted, MTTA is measured, and the collector gaps are stated.
func TestLabMonthReport(t *testing.T) {
	ctx := context.Background()
	start := time.Now()
	devs, err := labmonth.Inventory(ctx, "east-backbone")
	if err != nil {
		t.Fatal(err)
	}
	inv := time.Since(start)
	st, err := store.Open(filepath.Join(t.TempDir(), "watchfloor.db"), store.DefaultConfig(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	start = time.Now()
	stats, err := labmonth.Write(ctx, st, devs, labmonth.Options{Month: "2026-10", Location: berlin, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	tot := stats.Total()
	t.Logf("inventory %v (%d devices); two months written in %v: %+v", inv.Round(time.Millisecond), len(devs), time.Since(start).Round(time.Millisecond), tot)
	for _, d := range stats.Days {
		t.Logf("%s %+v", d.Date, d)
	}

	o := Options{Month: "2026-10", Site: "east-backbone", Location: berlin, ConsoleURL: "https://noc.city.example",
		Generated: time.Date(2026, 11, 1, 6, 0, 0, 0, berlin)}
	r, err := Generate(ctx, st, o)
	if err != nil {
		t.Fatal(err)
	}
	var pdf, html bytes.Buffer
	if err := WritePDF(&pdf, r); err != nil {
		t.Fatal(err)
	}
	if err := WriteHTML(&html, r); err != nil {
		t.Fatal(err)
	}
	dir := artifactDir(t)
	os.WriteFile(filepath.Join(dir, "lab-month.pdf"), pdf.Bytes(), 0o644)
	os.WriteFile(filepath.Join(dir, "lab-month.html"), html.Bytes(), 0o644)

	// Headline figures.
	dev := map[string]DeviceAvail{}
	for _, d := range r.Availability.Devices {
		dev[d.Device] = d
	}
	if len(devs) != 12 {
		t.Errorf("%d lab devices, want 12", len(devs))
	}
	s3 := dev["dist-s3"]
	if s3.Outages == 0 || s3.DownMinutes <= 0 {
		t.Errorf("dist-s3 = %+v, want outages", s3)
	}
	for _, n := range []string{"core-r1", "core-r2", "fw-1", "dist-s1", "dist-s2", "acc-a1", "acc-a2", "acc-a3", "acc-a4"} {
		if d, ok := dev[n]; ok && d.SLA <= s3.SLA {
			t.Errorf("%s SLA %.4f not above dist-s3's %.4f", n, d.SLA, s3.SLA)
		}
	}
	if r.Threats.FloodCount.Value == 0 || len(r.Threats.Floods) == 0 || r.Threats.Floods[0].PeakBps < 1e9 {
		t.Errorf("floods = %v, %+v", r.Threats.FloodCount.Value, r.Threats.Floods)
	}
	if r.Threats.ScanCount.Value == 0 {
		t.Error("no scans counted")
	}
	mtta := false
	for _, s := range r.Response.BySeverity {
		if s.Acknowledged > 0 && s.MTTAMedian > 0 {
			mtta = true
		}
	}
	if !mtta || r.Response.Pages.Value == 0 || r.Response.Incidents.Value == 0 {
		t.Errorf("response = %+v", r.Response)
	}
	if len(r.Capacity) != 8 {
		t.Errorf("%d uplinks in capacity, want the 2 transits and the 6 access uplinks", len(r.Capacity))
	}
	for _, c := range r.Capacity {
		if c.Slots == 0 || c.InP95 <= 0 || c.PrevSlots == 0 {
			t.Errorf("capacity of %s %s: %.0f bit/s over %d slots (last month %d)", c.Device, c.Interface, c.InP95, c.Slots, c.PrevSlots)
		}
	}
	if len(r.Availability.Errors) == 0 || r.Availability.Errors[0].Device != "acc-a2" {
		t.Errorf("error hot spots = %+v", r.Availability.Errors)
	}
	if cov := r.Coverage; len(cov) < 2 || cov[0].Hours >= int(r.Period.To.Sub(r.Period.From).Hours()) || cov[1].Hours >= cov[0].Hours {
		t.Errorf("coverage = %+v, want the poll gap and the longer flow gap", cov)
	}
	if !strings.Contains(html.String(), "dist-s3") || len(r.Timeline) == 0 {
		t.Errorf("the HTML lacks dist-s3 or the timeline is empty (%d)", len(r.Timeline))
	}

	pages := renderPages(t, pdf.Bytes(), dir, "lab-month")
	if len(pages) < 4 {
		t.Errorf("%d pages", len(pages))
	}
	if os.Getenv("WATCHFLOOR_UPDATE_SAMPLE") != "" { // refresh the sample linked from the README
		os.WriteFile("../../docs/report-sample.pdf", pdf.Bytes(), 0o644)
		os.WriteFile("../../docs/report-sample.html", html.Bytes(), 0o644)
	}
}
