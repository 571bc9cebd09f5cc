//go:build flowload

// The flow load test: the highest rate of IPFIX records each collector takes over loopback
// UDP without losing one, side by side in one run on the same generated load — Watchfloor's
// whole pipeline (the real binary: decode, enrich, rollups, store), goflow2's own collector,
// and nfdump's nfcapd. It is not part of `go test ./...`; run it with
//
//	go test -tags flowload -run TestFlowLoad -v -timeout 60m ./cmd/watchfloor
//
// WATCHFLOOR_FLOWLOAD_RATES (records/s, comma-separated) and WATCHFLOOR_FLOWLOAD_SECONDS
// change the steps; WATCHFLOOR_FLOWLOAD_COLLECTORS (e.g. "goflow2,nfcapd") picks collectors. goflow2 is built from the module proxy with `go install`; nfcapd comes
// from Debian's nfdump package. A collector that is missing is skipped.
package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/watchfloor/watchfloor/appliance/lab"
)

// loadCollector is one collector under test: start listens on a UDP port and returns a
// function that reports how many data records it decoded so far.
type loadCollector struct {
	name  string
	start func(t *testing.T, port int) (count func() uint64, stop func())
}

func TestFlowLoad(t *testing.T) {
	rates := []int{100_000, 200_000, 400_000, 600_000, 800_000, 1_000_000, 1_100_000, 1_200_000, 1_300_000, 1_400_000, 1_500_000, 2_000_000, 2_500_000, 3_200_000}
	if s := os.Getenv("WATCHFLOOR_FLOWLOAD_RATES"); s != "" {
		rates = nil
		for f := range strings.SplitSeq(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				t.Fatalf("WATCHFLOOR_FLOWLOAD_RATES: %v", err)
			}
			rates = append(rates, n)
		}
	}
	seconds := 5
	if s := os.Getenv("WATCHFLOOR_FLOWLOAD_SECONDS"); s != "" {
		seconds, _ = strconv.Atoi(s)
	}
	load := newLoad(20)
	t.Logf("load: %d datagrams of %d IPFIX records (+ templates), %d cores", len(load.data), load.per, runtime.NumCPU())

	collectors := []loadCollector{
		{"watchfloor", startWatchfloor},
		{"goflow2", startGoflow2},
		{"nfcapd", startNfcapd},
	}
	type result struct {
		rate           int
		sent, got      uint64
		kernelDrops    uint64
		sendRate, loss float64
	}
	results := map[string][]result{}
	best := map[string]int{}
	if only := os.Getenv("WATCHFLOOR_FLOWLOAD_COLLECTORS"); only != "" {
		var keep []loadCollector
		for _, c := range collectors {
			if strings.Contains(","+only+",", ","+c.name+",") {
				keep = append(keep, c)
			}
		}
		collectors = keep
	}
	for _, c := range collectors {
		lost := false
		for _, rate := range rates {
			if lost {
				break // one lossy step is enough; higher rates only lose more
			}
			port := freeUDPPort(t)
			count, stop := c.start(t, port)
			if count == nil {
				t.Logf("%s: skipped", c.name)
				break
			}
			sent, elapsed := load.send(t, port, rate, time.Duration(seconds)*time.Second)
			time.Sleep(time.Second) // the kernel counts a drop when the datagram arrives
			drops := udpDrops(port)
			got := settle(count, 15*time.Second)
			stop()
			r := result{rate: rate, sent: sent, got: got, kernelDrops: drops,
				sendRate: float64(sent) / elapsed.Seconds()}
			if sent > 0 {
				r.loss = 100 * (1 - float64(got)/float64(sent))
			}
			results[c.name] = append(results[c.name], r)
			t.Logf("%-10s target %8d rec/s  sent %9d at %9.0f rec/s  decoded %9d  loss %6.2f%%  kernel drops %d datagrams",
				c.name, rate, sent, r.sendRate, got, r.loss, drops)
			if got >= sent && drops == 0 && r.sendRate >= 0.95*float64(rate) {
				best[c.name] = rate
			} else {
				lost = true
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nhighest zero-loss rate (%d s per step, %d cores):\n", seconds, runtime.NumCPU())
	for _, c := range collectors {
		fmt.Fprintf(&b, "  %-10s %9d records/s\n", c.name, best[c.name])
	}
	if g := best["goflow2"]; g > 0 {
		fmt.Fprintf(&b, "  watchfloor / goflow2 = %.2f\n", float64(best["watchfloor"])/float64(g))
	}
	if n := best["nfcapd"]; n > 0 {
		fmt.Fprintf(&b, "  watchfloor / nfcapd  = %.2f\n", float64(best["watchfloor"])/float64(n))
	}
	t.Log(b.String())
}

// load is a ring of pre-encoded IPFIX datagrams, so that sending costs only the syscalls.
type load struct {
	template []byte
	data     [][]byte
	per      int
}

func newLoad(per int) *load {
	gen := lab.NewIPFIXLoad(1, per)
	l := &load{per: gen.PerDatagram()}
	l.template = gen.Next(make([]byte, 0, 1500))
	for len(l.data) < 4096 {
		before := gen.Records()
		d := gen.Next(make([]byte, 0, 1500))
		if gen.Records() == before {
			continue // a template refresh
		}
		l.data = append(l.data, d)
	}
	return l
}

// send sends the template, then data datagrams paced to rate records/s for d, in batches
// with sendmmsg. It returns the data records sent and how long it took.
func (l *load) send(t *testing.T, port, rate int, d time.Duration) (uint64, time.Duration) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	conn, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetWriteBuffer(8 << 20)
	pc := ipv4.NewPacketConn(conn)
	for range 3 { // the template, and time for the collector to learn it
		if _, err := conn.Write(l.template); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	const batch = 32
	msgs := make([]ipv4.Message, batch)
	perSec := float64(rate) / float64(l.per) // datagrams per second
	var sent uint64
	next := 0
	start := time.Now()
	for {
		elapsed := time.Since(start)
		if elapsed >= d {
			break
		}
		due := uint64(perSec*elapsed.Seconds()) - sent
		if due == 0 {
			time.Sleep(200 * time.Microsecond)
			continue
		}
		n := int(min(due, batch))
		for i := range n {
			msgs[i].Buffers = [][]byte{l.data[next]}
			msgs[i].Addr = nil
			next = (next + 1) % len(l.data)
		}
		w, err := pc.WriteBatch(msgs[:n], 0)
		if err != nil && !isTemporary(err) {
			t.Fatalf("send: %v", err)
		}
		sent += uint64(w)
	}
	return sent * uint64(l.per), time.Since(start)
}

func isTemporary(err error) bool {
	return strings.Contains(err.Error(), "no buffer space") || strings.Contains(err.Error(), "resource temporarily unavailable")
}

// settle waits until count stops moving (or limit passes) and returns its last value.
func settle(count func() uint64, limit time.Duration) uint64 {
	deadline := time.Now().Add(limit)
	last, still := count(), 0
	for time.Now().Before(deadline) && still < 4 {
		time.Sleep(250 * time.Millisecond)
		n := count()
		if n == last {
			still++
		} else {
			last, still = n, 0
		}
	}
	return last
}

func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// udpDrops sums the kernel's drop counter of every UDP socket bound to port (from
// /proc/net/udp: the last column), whichever process owns it.
func udpDrops(port int) uint64 {
	f, err := os.Open("/proc/net/udp")
	if err != nil {
		return 0
	}
	defer f.Close()
	want := fmt.Sprintf(":%04X", port)
	var total uint64
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 13 || !strings.HasSuffix(fields[1], want) {
			continue
		}
		n, _ := strconv.ParseUint(fields[len(fields)-1], 10, 64)
		total += n
	}
	return total
}

// metricSum reads a Prometheus text exposition and sums the samples of the named metric
// whose labels match filter (a substring of the label set; "" for all).
func metricSum(url, token, name, filter string) uint64 {
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var total float64
	s := bufio.NewScanner(resp.Body)
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for s.Scan() {
		line := s.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		if rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		if filter != "" && !strings.Contains(rest, filter) {
			continue
		}
		i := strings.LastIndexByte(rest, ' ')
		v, err := strconv.ParseFloat(rest[i+1:], 64)
		if err == nil {
			total += v
		}
	}
	return uint64(total)
}

// runProc starts a collector process and returns a stop function that ends it with SIGTERM.
func runProc(t *testing.T, name string, args []string, env []string) func() {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	logf, _ := os.Create(filepath.Join(t.TempDir(), filepath.Base(name)+".log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		logf.Close()
	}
}

func waitHTTP(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s did not answer in 20s", url)
}

func startWatchfloor(t *testing.T, port int) (func() uint64, func()) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "watchfloor.yaml")
	conf := fmt.Sprintf("site: load\nflow:\n  netflow: [\"127.0.0.1:%d\"]\n", port)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	stop := runProc(t, binary(t), []string{"run", "-config", cfg, "-data", filepath.Join(dir, "data"), "-listen", addr, "-log-level", "warn"},
		[]string{"WATCHFLOOR_TOKEN=load"})
	waitHTTP(t, "http://"+addr+"/healthz")
	url := "http://" + addr + "/metrics"
	// Records count once they are through decode, enrichment and the rollup aggregator.
	return func() uint64 { return metricSum(url, "load", "watchfloor_flow_rollup_records_total", "") }, stop
}

var goflow2Version = "v2.2.6"

func startGoflow2(t *testing.T, port int) (func() uint64, func()) {
	bin := filepath.Join(os.TempDir(), "watchfloor-goflow2-"+goflow2Version, "goflow2")
	if _, err := os.Stat(bin); err != nil {
		cmd := exec.Command("go", "install", "github.com/netsampler/goflow2/v2/cmd/goflow2@"+goflow2Version)
		cmd.Env = append(os.Environ(), "GOBIN="+filepath.Dir(bin), "GOFLAGS=")
		cmd.Dir = os.TempDir()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Logf("goflow2: cannot build it: %v\n%s", err, out)
			return nil, nil
		}
	}
	addr := freeAddr(t)
	stop := runProc(t, bin, []string{"-listen", fmt.Sprintf("netflow://127.0.0.1:%d", port),
		"-addr", addr, "-format", "bin", "-transport.file", os.DevNull, "-loglevel", "warn"}, nil)
	waitHTTP(t, "http://"+addr+"/metrics")
	url := "http://" + addr + "/metrics"
	return func() uint64 {
		return metricSum(url, "", "goflow2_flow_process_nf_flowset_records_total", `type="DataFlowSet"`)
	}, stop
}

var nfdumpFlows = regexp.MustCompile(`(?m)^Flows:\s*(\d+)`)

func startNfcapd(t *testing.T, port int) (func() uint64, func()) {
	nfcapd, err := exec.LookPath("nfcapd")
	if err != nil {
		t.Logf("nfcapd: not installed (Debian package nfdump)")
		return nil, nil
	}
	dir := t.TempDir()
	stop := runProc(t, nfcapd, []string{"-B", "4194304", "-b", "127.0.0.1", "-p", strconv.Itoa(port), "-w", dir, "-t", "3600"}, nil)
	time.Sleep(300 * time.Millisecond)
	// nfcapd counts into files it writes when it rotates or stops: the count is read after
	// stopping it, so the "count" here stops it once the test calls it after sending.
	var final uint64
	stopped := false
	count := func() uint64 {
		if !stopped {
			stopped = true
			stop()
			out, _ := exec.CommandContext(context.Background(), "nfdump", "-R", dir, "-q", "-I").CombinedOutput()
			if m := nfdumpFlows.FindSubmatch(out); m != nil {
				final, _ = strconv.ParseUint(string(m[1]), 10, 64)
			} else {
				t.Logf("nfdump: %s", out)
			}
		}
		return final
	}
	return count, func() {
		if !stopped {
			stopped = true
			stop()
		}
	}
}
