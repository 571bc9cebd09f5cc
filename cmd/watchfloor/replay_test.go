package main

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/appliance"
	"github.com/watchfloor/watchfloor/appliance/lab"
	"github.com/watchfloor/watchfloor/appliance/store"
)

// writeCapture writes n IPFIX datagrams of the lab's load generator as a pcap of UDP packets
// from exporter to port 4739, one every 10 ms of capture time from start. It returns the
// data records written.
func writeCapture(t *testing.T, path string, n int, start time.Time) int {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	gen := lab.NewIPFIXLoad(7, 20)
	buf := make([]byte, 0, 1500)
	for i := range n {
		payload := gen.Next(buf)
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.IPv4(192, 0, 2, 1), DstIP: net.IPv4(192, 0, 2, 9)}
		udp := &layers.UDP{SrcPort: 50000, DstPort: 4739}
		_ = udp.SetNetworkLayerForChecksum(ip)
		sb := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, udp, gopacket.Payload(payload)); err != nil {
			t.Fatal(err)
		}
		data := sb.Bytes()
		ci := gopacket.CaptureInfo{Timestamp: start.Add(time.Duration(i) * 10 * time.Millisecond), CaptureLength: len(data), Length: len(data)}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	return gen.Records()
}

// `watchfloor replay` puts a capture's flows into the store's rollups: every record counted
// once, in the minutes of the capture's timestamps.
func TestReplay(t *testing.T) {
	dir := t.TempDir()
	capture := filepath.Join(dir, "export.pcap")
	start := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Hour).Add(30 * time.Second)
	records := writeCapture(t, capture, 12_000, start) // 120 s of capture, over three minutes
	data := filepath.Join(dir, "data")
	var out, errb bytes.Buffer
	if code := run([]string{"replay", "-site", "lab", "-data", data, capture}, &out, &errb); code != 0 {
		t.Fatalf("replay exit %d\n%s%s", code, out.String(), errb.String())
	}
	t.Logf("%s%s", out.String(), errb.String())
	if !strings.Contains(errb.String(), "100%") {
		t.Errorf("no progress bar reaching 100%%:\n%s", errb.String())
	}
	st, err := store.Open(filepath.Join(data, appliance.DBFile), store.DefaultConfig(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	res, err := st.FlowTopResult(watchfloor.FlowTopQuery{By: watchfloor.FlowByProto, From: start.Truncate(time.Minute), To: start.Add(3 * time.Minute), Site: "lab"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Totals.Flows != uint64(records) {
		t.Errorf("rollups count %d flows, the capture holds %d records", res.Totals.Flows, records)
	}
	if res.Rollups != 3 {
		t.Errorf("%d minute rollups, want 3", res.Rollups)
	}
	var sum uint64
	for _, r := range res.Rows {
		sum += r.Flows
	}
	if sum != uint64(records) {
		t.Errorf("proto rows hold %d flows, want %d", sum, records)
	}
	hours, err := st.FlowRollups(time.Hour, start.Truncate(time.Hour), start.Add(time.Hour), "lab")
	if err != nil || len(hours) != 1 || hours[0].Totals.Flows != uint64(records) {
		t.Errorf("hour rollups %v (err %v), want one of %d flows", len(hours), err, records)
	}
}

// `watchfloor replay` on a mirror-port capture (the lab's, incidents included) lists what
// the packet collector observed: the SYN flood's victim with the most half-open connections,
// the DNS tunnel's names as the most entropic, the beacon's server name.
func TestReplayPackets(t *testing.T) {
	dir := t.TempDir()
	capture := filepath.Join(dir, "mirror.pcap")
	f, err := os.Create(capture)
	if err != nil {
		t.Fatal(err)
	}
	// The timeline at a tenth of its pace: the five incidents in 23 s of capture.
	if err := lab.WritePcap(f, lab.PcapOptions{Duration: 24 * time.Second, Rate: 200, Incidents: true, TimeScale: 0.1, SnapLen: 512}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var out, errb bytes.Buffer
	if code := run([]string{"replay", "-q", "-site", "lab", "-data", filepath.Join(dir, "data"), capture}, &out, &errb); code != 0 {
		t.Fatalf("replay exit %d\n%s%s", code, out.String(), errb.String())
	}
	text := out.String()
	t.Logf("\n%s", text)
	for _, want := range []string{
		"tcp.syn", "tcp.syn_ack", "tcp.rst", "dns.query", "dns.response", "tls.client_hello", "http.request", "icmp", "tcp.half_open",
		lab.SynFloodTarget.Addr().String() + " @",
		"*." + lab.TunnelDomain,
		lab.BeaconSNI,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("replay output lacks %q", want)
		}
	}
	// The flood's victim leads the half-open list, and a tunnel name the entropic one.
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "most half-open") && (i+1 >= len(lines) || !strings.Contains(lines[i+1], lab.SynFloodTarget.Addr().String())) {
			t.Errorf("the SYN flood's target is not first for half-open connections")
		}
		if strings.HasPrefix(l, "DNS names of high") && (i+1 >= len(lines) || !strings.Contains(lines[i+1], lab.TunnelDomain)) {
			t.Errorf("a tunnel name is not first by entropy")
		}
	}
}
