package correlator

import (
	"testing"
	"time"
)

func TestPortScanVertical(t *testing.T) {
	h := newHarness(t, loadPack(t), DefaultConfig())
	for p := 1; p <= 150; p++ {
		h.obs(syn(t0.Add(time.Duration(p)*10*time.Millisecond), "198.51.100.7", "10.20.1.5", uint16(p)))
	}
	as := h.alerts("port_scan_vertical")
	if len(as) != 1 {
		t.Fatalf("alerts: %+v", as)
	}
	a := as[0]
	if a.Key != "src_ip=198.51.100.7,dst_ip=10.20.1.5" || a.Title != "Vertical port scan from 198.51.100.7 to 10.20.1.5 (100 ports)" ||
		a.Entity.Host != "198.51.100.7" || !a.StartedAt.Equal(t0.Add(time.Second)) || len(a.Techniques) != 1 || a.Techniques[0] != "T1046" {
		t.Fatalf("alert: %+v", a)
	}
	if got := h.alerts("tcp_syn"); len(got) != 0 {
		t.Fatalf("tcp_syn feeds a correlation and must not alert: %+v", got)
	}
	// The condition keeps holding: the alert is refreshed, then resolves after its quiet period.
	h.tick(t0.Add(5 * time.Minute))
	if len(h.open("port_scan_vertical")) != 1 {
		t.Fatal("resolved too early")
	}
	h.tick(t0.Add(12 * time.Minute))
	if len(h.open("port_scan_vertical")) != 0 {
		t.Fatal("not resolved after the quiet period")
	}
}
