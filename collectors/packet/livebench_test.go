//go:build livebench

package packet

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/watchfloor/watchfloor/internal/testpeer"
)

// TestLiveThroughput replays a capture with tcpreplay --topspeed into one end of a veth pair
// inside a namespace of its own and captures on the other end with SampleRate 1 and 10,
// reporting packets/s captured and kernel drops:
//
//	go test -tags livebench -run TestLiveThroughput -v ./collectors/packet/
func TestLiveThroughput(t *testing.T) {
	testpeer.Root(t)
	tcpreplay := testpeer.Program(t, "tcpreplay")
	ns := "wf-pkt-bench"
	_ = exec.Command("ip", "netns", "del", ns).Run()
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	for _, args := range [][]string{{"link", "add", "wfbA", "type", "veth", "peer", "name", "wfbB"},
		{"link", "set", "wfbA", "up"}, {"link", "set", "wfbB", "up"}} {
		if out, err := exec.Command("ip", append([]string{"-n", ns}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v %s", args, err, out)
		}
	}
	const n = 200000
	var frames [][]byte
	for i := range n {
		src := fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
		switch i % 4 {
		case 0, 1:
			frames = append(frames, frame(t, eth(layers.EthernetTypeIPv4), ip4(src, "192.0.2.1", layers.IPProtocolTCP), tcpSeg(uint16(1024+i%60000), 443, i%4 == 0, i%4 == 1, false)))
		case 2:
			frames = append(frames, frame(t, eth(layers.EthernetTypeIPv4), ip4(src, "192.0.2.53", layers.IPProtocolUDP), udpDgram(uint16(1024+i%60000), 53), dnsQuery(uint16(i), fmt.Sprintf("h%d.example.org", i))))
		default:
			frames = append(frames, frame(t, eth(layers.EthernetTypeIPv4), ip4(src, "192.0.2.80", layers.IPProtocolUDP), udpDgram(1000, 2000)))
		}
	}
	file := filepath.Join(t.TempDir(), "bench.pcap")
	if err := os.WriteFile(file, writePcap(t, t0, frames...), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, rate := range []uint32{1, 10} {
		cfg := DefaultConfig()
		cfg.Interfaces, cfg.SampleRate, cfg.Workers = []string{"wfbB"}, rate, 1
		var c *Collector
		inNetns(t, ns, func() (err error) {
			c, err = New(cfg, "bench", nil, prometheus.NewRegistry())
			return err
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx, discard{}) }()
		time.Sleep(300 * time.Millisecond)
		start := time.Now()
		out, err := exec.Command("ip", "netns", "exec", ns, tcpreplay, "--topspeed", "-q", "-i", "wfbA", file).CombinedOutput()
		if err != nil {
			t.Fatalf("tcpreplay: %v %s", err, out)
		}
		sent := time.Since(start)
		time.Sleep(1500 * time.Millisecond)
		cancel()
		<-done
		st := c.Stats()
		t.Logf("rate %d: tcpreplay sent %d in %s (%.0f pkt/s); captured %d (%.0f pkt/s over the send time), sampled %d, kernel drops %d, freezes %d\n%s",
			rate, n, sent.Round(time.Millisecond), n/sent.Seconds(), st.Seen, float64(st.Seen)/sent.Seconds(), st.Sampled, st.KernelDrops, st.Freezes,
			strings.TrimSpace(string(out)))
		if st.Seen+st.KernelDrops < n*9/10 {
			t.Errorf("seen %d + dropped %d of %d sent", st.Seen, st.KernelDrops, n)
		}
	}
}
