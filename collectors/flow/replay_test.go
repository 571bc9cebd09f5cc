package flow

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// exportFrame wraps a datagram from src to dst:dport in Ethernet/IPv4/UDP (or IPv6 when src
// is).
func exportFrame(t testing.TB, src netip.AddrPort, dport uint16, payload []byte) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	udp := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dport)}
	var err error
	if src.Addr().Is4() {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: src.Addr().AsSlice(), DstIP: net.IPv4(192, 0, 2, 250)}
		_ = udp.SetNetworkLayerForChecksum(ip)
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		err = gopacket.SerializeLayers(buf, opts, eth, ip, udp, gopacket.Payload(payload))
	} else {
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP, SrcIP: src.Addr().AsSlice(), DstIP: net.ParseIP("2001:db8::250")}
		_ = udp.SetNetworkLayerForChecksum(ip)
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv6}
		err = gopacket.SerializeLayers(buf, opts, eth, ip, udp, gopacket.Payload(payload))
	}
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(buf.Bytes())
}

// TestReplay replays a pcapng of NetFlow v5 datagrams: to the configured port, to a
// well-known one, to an unknown one (found by the version field), from IPv6, with other
// traffic, a fragment and a cut record in between.
func TestReplay(t *testing.T) {
	exp4 := netip.MustParseAddrPort("192.0.2.1:5000")
	exp6 := netip.MustParseAddrPort("[2001:db8::1]:5000")
	recs := func(src string, n int) []v5Record {
		r := make([]v5Record, n)
		for i := range r {
			r[i] = v5Record{src: netip.MustParseAddr(src), dst: netip.MustParseAddr("198.51.100.1"), proto: 17, packets: 2, octets: 300, in: 1}
		}
		return r
	}
	frames := []struct {
		frame []byte
		cut   bool
	}{
		{frame: exportFrame(t, exp4, 12345, v5Datagram(0, 0, recs("10.0.0.1", 30)))}, // configured port
		{frame: exportFrame(t, exp4, 2055, v5Datagram(30, 0, recs("10.0.0.2", 10)))}, // well-known
		{frame: exportFrame(t, exp6, 40000, v5Datagram(40, 0, recs("10.0.0.3", 5)))}, // sniffed
		{frame: exportFrame(t, exp4, 53, []byte("not a flow export at all"))},        // other traffic
		{frame: exportFrame(t, exp4, 2055, v5Datagram(45, 0, recs("10.0.0.4", 1))), cut: true},
		{frame: func() []byte { // a first fragment
			f := exportFrame(t, exp4, 2055, v5Datagram(46, 0, recs("10.0.0.5", 1)))
			f[14+6] |= 0x20 // MF
			return f
		}()},
		{frame: []byte{1, 2, 3}}, // too short for Ethernet
	}
	var file bytes.Buffer
	w, err := pcapgo.NewNgWriter(&file, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for i, f := range frames {
		ci := gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(i) * time.Second), CaptureLength: len(f.frame), Length: len(f.frame)}
		if f.cut {
			ci.CaptureLength = 60
			f.frame = f.frame[:60]
		}
		if err := w.WritePacket(ci, f.frame); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.NetFlow = []string{"0.0.0.0:12345"}
	cfg.Exporters = []Exporter{{Address: exp4.Addr(), Device: "r1"}}
	r, err := NewReplayer(cfg, "lab", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder(true)
	calls := 0
	var lastDone int64
	st, err := r.Replay(context.Background(), bytes.NewReader(file.Bytes()), rec, func(done, total int64) {
		calls++
		lastDone = done
		if total != int64(file.Len()) {
			t.Errorf("total %d, want the reader's size %d", total, file.Len())
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	want := ReplayStats{Packets: 7, NetFlow: 3, Skipped: 4, Flows: 45, Bytes: int64(3*24 + 45*48),
		First: t0, Last: t0.Add(2 * time.Second)}
	if st != want {
		t.Errorf("stats\n %+v, want\n %+v", st, want)
	}
	if calls < 2 || lastDone != int64(file.Len()) {
		t.Errorf("progress called %d times, last with %d of %d", calls, lastDone, file.Len())
	}
	tot := rec.totals()
	for src, n := range map[string]uint64{"10.0.0.1": 30, "10.0.0.2": 10, "10.0.0.3": 5} {
		if g := tot[netip.MustParseAddr(src)]; g.records != n || g.bytes != 300*n || g.packets != 2*n {
			t.Errorf("%s: %+v, want %d records", src, g, n)
		}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if f := rec.flows[0]; f.Device != "r1" || !f.Received.Equal(t0) || f.Exporter != exp4.Addr() {
		t.Errorf("first flow: device %q received %s exporter %s", f.Device, f.Received, f.Exporter)
	}
	if f := rec.flows[44]; f.Device != "" || f.Exporter != exp6.Addr() || !f.Received.Equal(t0.Add(2*time.Second)) {
		t.Errorf("last flow: device %q received %s exporter %s", f.Device, f.Received, f.Exporter)
	}
}

func TestReplayErrors(t *testing.T) {
	r, err := NewReplayer(DefaultConfig(), "lab", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Replay(context.Background(), bytes.NewReader([]byte("GIF89a not a capture")), newRecorder(false), nil); err == nil {
		t.Error("a GIF replayed")
	}
	if _, err := r.Replay(context.Background(), bytes.NewReader(nil), newRecorder(false), nil); err == nil {
		t.Error("an empty file replayed")
	}
	// A capture cut in the middle of a record ends the replay with Truncated.
	var file bytes.Buffer
	w := pcapgo.NewWriter(&file)
	_ = w.WriteFileHeader(65535, layers.LinkTypeEthernet)
	f := exportFrame(t, netip.MustParseAddrPort("192.0.2.1:1"), 2055, fullV5(0))
	_ = w.WritePacket(gopacket.CaptureInfo{Timestamp: time.Unix(1, 0), CaptureLength: len(f), Length: len(f)}, f)
	_ = w.WritePacket(gopacket.CaptureInfo{Timestamp: time.Unix(2, 0), CaptureLength: len(f), Length: len(f)}, f)
	rec := newRecorder(false)
	st, err := r.Replay(context.Background(), bytes.NewReader(file.Bytes()[:file.Len()-10]), rec, nil)
	if err != nil || !st.Truncated || st.NetFlow != 1 || rec.records.Load() != 30 {
		t.Errorf("cut capture: %+v, %v, %d records", st, err, rec.records.Load())
	}
	// A cancelled context stops it.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.Replay(ctx, bytes.NewReader(file.Bytes()), rec, nil); err == nil {
		t.Error("replay with a cancelled context succeeded")
	}
}

// FuzzReplay: capture files come from users; no input may panic or hang the replay.
func FuzzReplay(f *testing.F) {
	var file bytes.Buffer
	w := pcapgo.NewWriter(&file)
	_ = w.WriteFileHeader(65535, layers.LinkTypeEthernet)
	fr := exportFrame(f, netip.MustParseAddrPort("192.0.2.1:1"), 2055, fullV5(0))
	_ = w.WritePacket(gopacket.CaptureInfo{Timestamp: time.Unix(1, 0), CaptureLength: len(fr), Length: len(fr)}, fr)
	f.Add(file.Bytes())
	var ng bytes.Buffer
	nw, _ := pcapgo.NewNgWriter(&ng, layers.LinkTypeRaw)
	raw := fr[14:]
	_ = nw.WritePacket(gopacket.CaptureInfo{Timestamp: time.Unix(1, 0), CaptureLength: len(raw), Length: len(raw)}, raw)
	_ = nw.Flush()
	f.Add(ng.Bytes())
	r, err := NewReplayer(DefaultConfig(), "lab", nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = r.Replay(context.Background(), bytes.NewReader(b), newRecorder(false), nil)
	})
}

func TestUDPPayload(t *testing.T) {
	f := exportFrame(t, netip.MustParseAddrPort("192.0.2.1:7"), 2055, []byte("abcd"))
	ip := f[14:]
	tests := []struct {
		name string
		lt   layers.LinkType
		b    []byte
		ok   bool
	}{
		{"ethernet", layers.LinkTypeEthernet, f, true},
		{"vlan", layers.LinkTypeEthernet, append(append(append([]byte{}, f[:12]...), 0x81, 0x00, 0, 5), f[12:]...), true},
		{"raw", layers.LinkTypeRaw, ip, true},
		{"sll", layers.LinkTypeLinuxSLL, append(append(make([]byte, 14), 0x08, 0x00), ip...), true},
		{"sll2", layers.LinkTypeLinuxSLL2, append(append([]byte{0x08, 0x00}, make([]byte, 18)...), ip...), true},
		{"null", layers.LinkTypeNull, append([]byte{2, 0, 0, 0}, ip...), true},
		{"short ip", layers.LinkTypeRaw, ip[:27], false},
		{"unknown link", layers.LinkType(200), f, false},
	}
	for _, tc := range tests {
		src, dport, payload, ok := udpPayload(tc.lt, tc.b)
		if ok != tc.ok || (ok && (src != netip.MustParseAddrPort("192.0.2.1:7") || dport != 2055 || string(payload) != "abcd")) {
			t.Errorf("%s: %s %d %q %v", tc.name, src, dport, payload, ok)
		}
	}
}
