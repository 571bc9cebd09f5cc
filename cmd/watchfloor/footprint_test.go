//go:build flowload

// The appliance footprint (issue #9): the size of the binary as shipped, and the memory and
// CPU of `watchfloor run` idle and under 100k flow records/s. It is not part of
// `go test ./...`; run it with
//
//	go test -tags flowload -run TestFootprint -v -timeout 30m ./cmd/watchfloor
//
// WATCHFLOOR_FOOTPRINT_SECONDS (default 60) is how long each phase is measured, after a 10 s
// warm-up; WATCHFLOOR_FOOTPRINT_RATE (default 100000) the flow records/s of the load. The
// load is flowload_test.go's: pre-encoded IPFIX datagrams of 20 records, sent over loopback
// by this process. Figures are reported, never asserted (the machine may be shared); the
// test fails only when the appliance dies or loses more than 0.1% of the records.
package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	footprintWarmup = 10 * time.Second
	clockTicks      = 100 // USER_HZ: the unit of utime and stime in /proc/PID/stat on Linux
	mib             = 1 << 20
)

func TestFootprint(t *testing.T) {
	seconds := envInt(t, "WATCHFLOOR_FOOTPRINT_SECONDS", 60)
	rate := envInt(t, "WATCHFLOOR_FOOTPRINT_RATE", 100_000)
	window := time.Duration(seconds) * time.Second

	// 1. The binary as cmd/mkdeb ships it, for both architectures of the package.
	dir := t.TempDir()
	sizes := map[string]int64{}
	bins := map[string]string{}
	for _, arch := range []string{"amd64", "arm64"} {
		bin := filepath.Join(dir, "watchfloor-"+arch)
		buildShipped(t, arch, bin)
		fi, err := os.Stat(bin)
		if err != nil {
			t.Fatal(err)
		}
		sizes[arch], bins[arch] = fi.Size(), bin
		t.Logf("binary linux/%s: %d bytes (%.1f MiB)", arch, fi.Size(), float64(fi.Size())/mib)
	}
	bin, ok := bins[runtime.GOARCH]
	if !ok || runtime.GOOS != "linux" {
		t.Skipf("idle and load figures need linux/amd64 or linux/arm64, not %s/%s", runtime.GOOS, runtime.GOARCH)
	}

	// 2. Idle: no devices, no lab, no listeners: the console, the store, the correlator with
	// the built-in rules.
	idleApp := startApp(t, bin, "site: idle\n")
	time.Sleep(footprintWarmup)
	idle := idleApp.measure(t, window)
	idleApp.scrapeRuntime(&idle)
	idleApp.stop(t)
	t.Logf("idle: RSS %.1f MiB (peak %.1f), CPU %.2f%% of a core; Go heap in use %.1f MiB, Go runtime holds %.1f MiB",
		idle.rssMedian/mib, idle.hwm/mib, 100*idle.cores, idle.heapInuse/mib, idle.goSys/mib)

	// 3. Under load: one IPFIX listener on loopback, the flowload configuration.
	port := freeUDPPort(t)
	loadApp := startApp(t, bin, fmt.Sprintf("site: load\nflow:\n  netflow: [\"127.0.0.1:%d\"]\n", port))
	ld := newLoad(20)
	type measured struct {
		f   figures
		err error
	}
	done := make(chan measured, 1)
	stopSampling := make(chan struct{})
	go func() {
		select {
		case <-time.After(footprintWarmup):
		case <-stopSampling:
			done <- measured{err: fmt.Errorf("the load ended before the warm-up did")}
			return
		}
		var f figures
		err := loadApp.sample(window, &f, stopSampling)
		done <- measured{f, err}
	}()
	// The generator runs on its own locked thread (load.send locks it too; locks nest), so
	// RUSAGE_THREAD is its CPU alone; RUSAGE_SELF adds the sampler and the rest of the test.
	runtime.LockOSThread()
	genBefore, selfBefore := rusage(t, rusageThread), rusage(t, syscall.RUSAGE_SELF)
	sent, elapsed := ld.send(t, port, rate, footprintWarmup+window+2*time.Second)
	genCPU, selfCPU := rusage(t, rusageThread)-genBefore, rusage(t, syscall.RUSAGE_SELF)-selfBefore
	runtime.UnlockOSThread()
	close(stopSampling)
	m := <-done
	if m.err != nil {
		t.Fatalf("load: %v\n%s", m.err, loadApp.logTail())
	}
	busy := m.f
	sendRate := float64(sent) / elapsed.Seconds()

	// Loss: every record sent must be decoded; any drop counter says where the rest went.
	time.Sleep(time.Second) // the kernel counts a drop when the datagram arrives
	metrics := loadApp.url + "/metrics"
	decoded := settle(func() uint64 { return metricSum(metrics, loadApp.token, "watchfloor_flow_records_total", "") }, 15*time.Second)
	rolled := metricSum(metrics, loadApp.token, "watchfloor_flow_rollup_records_total", "")
	drops := map[string]uint64{"kernel (/proc/net/udp)": udpDrops(port)}
	for _, name := range []string{"watchfloor_flow_socket_drops_total", "watchfloor_flow_pending_dropped_total",
		"watchfloor_flow_rollup_dropped_total", "watchfloor_ingest_dropped_total", "watchfloor_correlator_dropped_matches_total",
		"watchfloor_flow_decode_errors_total", "watchfloor_flow_truncated_datagrams_total"} {
		drops[name] = metricSum(metrics, loadApp.token, name, "")
	}
	loadApp.scrapeRuntime(&busy)
	if !loadApp.alive() {
		t.Fatalf("watchfloor died under load\n%s", loadApp.logTail())
	}
	if resp, err := http.Get(loadApp.url + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("watchfloor does not answer /healthz after the load: %v %v", err, resp)
	} else {
		resp.Body.Close()
	}
	loadApp.stop(t)
	lost := int64(sent) - int64(decoded)
	lossPct := 0.0
	if sent > 0 {
		lossPct = 100 * float64(max(lost, 0)) / float64(sent)
	}

	// 4. The report.
	var b strings.Builder
	fmt.Fprintf(&b, "\nappliance footprint (%d cores, GOMAXPROCS %d, load average %s, %s measured after %s warm-up)\n",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), loadavg(), window, footprintWarmup)
	fmt.Fprintf(&b, "  binary linux/amd64    %d bytes (%.1f MiB)\n", sizes["amd64"], float64(sizes["amd64"])/mib)
	fmt.Fprintf(&b, "  binary linux/arm64    %d bytes (%.1f MiB)\n", sizes["arm64"], float64(sizes["arm64"])/mib)
	phase := func(name string, f figures) {
		fmt.Fprintf(&b, "  %-21s RSS %.1f MiB steady (median; min %.1f, max %.1f), peak VmHWM %.1f MiB; CPU %.2f%% of a core = %.3f cores\n",
			name, f.rssMedian/mib, f.rssMin/mib, f.rssMax/mib, f.hwm/mib, 100*f.cores, f.cores)
		fmt.Fprintf(&b, "  %-21s RssAnon %.1f MiB, RssFile %.1f MiB; Go heap in use %.1f MiB, Go sys %.1f MiB; %d goroutines; GOMAXPROCS %d, GOGC %d, GOMEMLIMIT %.0f MiB; store file %.1f MiB\n",
			"", f.rssAnon/mib, f.rssFile/mib, f.heapInuse/mib, f.goSys/mib, f.goroutines, f.gomaxprocs, f.gogc, f.gomemlimit/mib, f.dbSize/mib)
	}
	phase("idle", idle)
	fmt.Fprintf(&b, "  load                  target %d rec/s, sent %d records at %.0f rec/s over %s\n", rate, sent, sendRate, elapsed.Round(time.Millisecond))
	phase("at load", busy)
	per100k := (busy.cores - idle.cores) / (sendRate / 100_000)
	fmt.Fprintf(&b, "  load − idle           %.3f cores = %.3f cores per 100k rec/s; RSS +%.1f MiB\n",
		busy.cores-idle.cores, per100k, (busy.rssMedian-idle.rssMedian)/mib)
	fmt.Fprintf(&b, "  generator (this test) %.3f cores sending (%.3f per 100k rec/s); whole test process %.3f cores\n",
		genCPU.Seconds()/elapsed.Seconds(), genCPU.Seconds()/elapsed.Seconds()/(sendRate/100_000), selfCPU.Seconds()/elapsed.Seconds())
	fmt.Fprintf(&b, "  records               sent %d, decoded %d, into rollups %d, lost %d (%.4f%%)\n", sent, decoded, rolled, max(lost, 0), lossPct)
	names := make([]string, 0, len(drops))
	for n := range drops {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Fprintf(&b, "    %-45s %d\n", n, drops[n])
	}
	t.Log(b.String())

	if sendRate < 0.9*float64(rate) {
		t.Logf("warning: the generator reached only %.0f of %d records/s: the machine is busy, the figures are for that rate", sendRate, rate)
	}
	if sent == 0 || lossPct > 0.1 {
		t.Errorf("lost %d of %d records (%.3f%%), more than 0.1%%", max(lost, 0), sent, lossPct)
	}
}

// buildShipped compiles cmd/watchfloor for linux/arch the way cmd/mkdeb's BuildBinary does:
// no cgo, -trimpath, stripped (-s -w), a version stamped.
func buildShipped(t *testing.T, arch, out string) {
	t.Helper()
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false",
		"-ldflags", "-s -w -X main.version=0.0.0-footprint", "-o", out, "./cmd/watchfloor")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build linux/%s: %v\n%s", arch, err, msg)
	}
}

// app is one `watchfloor run` in its own process group and data directory.
type app struct {
	cmd    *exec.Cmd
	url    string
	token  string
	data   string
	log    string
	exited chan struct{}
}

func startApp(t *testing.T, bin, conf string) *app {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "watchfloor.yaml")
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	a := &app{url: "http://" + addr, token: "footprint", data: filepath.Join(dir, "data"), log: filepath.Join(dir, "watchfloor.log"), exited: make(chan struct{})}
	logf, err := os.Create(a.log)
	if err != nil {
		t.Fatal(err)
	}
	a.cmd = exec.Command(bin, "run", "-config", cfg, "-data", a.data, "-listen", addr, "-log-level", "warn")
	a.cmd.Env = append(os.Environ(), "WATCHFLOOR_TOKEN="+a.token)
	a.cmd.Stdout, a.cmd.Stderr = logf, logf
	a.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := a.cmd.Start(); err != nil {
		logf.Close()
		t.Fatal(err)
	}
	go func() { _ = a.cmd.Wait(); logf.Close(); close(a.exited) }()
	t.Cleanup(func() { // on any failure: the whole process group, at once
		if a.alive() {
			_ = syscall.Kill(-a.cmd.Process.Pid, syscall.SIGKILL)
			<-a.exited
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(a.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return a
			}
		}
		if !a.alive() {
			t.Fatalf("watchfloor exited at start\n%s", a.logTail())
		}
		if time.Now().After(deadline) {
			t.Fatalf("watchfloor did not answer /healthz in 30s\n%s", a.logTail())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (a *app) alive() bool {
	select {
	case <-a.exited:
		return false
	default:
		return true
	}
}

// stop ends the process with SIGTERM (a clean shutdown), SIGKILL after 20 s.
func (a *app) stop(t *testing.T) {
	t.Helper()
	if !a.alive() {
		return
	}
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.exited:
	case <-time.After(20 * time.Second):
		t.Errorf("watchfloor did not stop in 20s after SIGTERM\n%s", a.logTail())
		_ = syscall.Kill(-a.cmd.Process.Pid, syscall.SIGKILL)
		<-a.exited
	}
}

func (a *app) logTail() string {
	data, _ := os.ReadFile(a.log)
	if len(data) > 4000 {
		data = data[len(data)-4000:]
	}
	return string(data)
}

// figures are one phase's measurements of the process.
type figures struct {
	rssMedian, rssMin, rssMax, hwm float64 // bytes
	rssAnon, rssFile               float64 // bytes, at the end of the window: heap and stacks; mapped files (bbolt, the binary)
	cores                          float64 // CPU time / wall time over the window
	// From the binary's /metrics, read after the window.
	heapInuse, goSys float64 // bytes
	goroutines       uint64
	gomaxprocs, gogc uint64
	gomemlimit       float64 // bytes
	dbSize           float64 // bytes of the store's file
}

// measure samples the process for d and fails the test if it dies.
func (a *app) measure(t *testing.T, d time.Duration) figures {
	t.Helper()
	var f figures
	if err := a.sample(d, &f, nil); err != nil {
		t.Fatalf("%v\n%s", err, a.logTail())
	}
	return f
}

// sample reads /proc/PID/status (VmRSS, VmHWM) every second and /proc/PID/stat's utime and
// stime at both ends of d. It touches nothing else of the process: no HTTP during the window.
func (a *app) sample(d time.Duration, f *figures, stop <-chan struct{}) error {
	pid := a.cmd.Process.Pid
	cpu0, err := procCPU(pid)
	if err != nil {
		return err
	}
	start := time.Now()
	var rss []float64
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for time.Since(start) < d {
		select {
		case <-tick.C:
		case <-stop:
			return fmt.Errorf("the load ended %s into a %s window", time.Since(start).Round(time.Second), d)
		case <-a.exited:
			return fmt.Errorf("watchfloor exited during the measurement")
		}
		mem, err := procMem(pid)
		if err != nil {
			return err
		}
		rss = append(rss, mem["VmRSS"])
	}
	cpu1, err := procCPU(pid)
	if err != nil {
		return err
	}
	wall := time.Since(start)
	mem, err := procMem(pid)
	if err != nil {
		return err
	}
	slices.Sort(rss)
	f.rssMedian, f.rssMin, f.rssMax = rss[len(rss)/2], rss[0], rss[len(rss)-1]
	f.hwm, f.rssAnon, f.rssFile = mem["VmHWM"], mem["RssAnon"], mem["RssFile"]
	f.cores = (cpu1 - cpu0).Seconds() / wall.Seconds()
	return nil
}

// scrapeRuntime adds the Go runtime's own view from /metrics, read after the window.
func (a *app) scrapeRuntime(f *figures) {
	u := a.url + "/metrics"
	f.heapInuse = float64(metricSum(u, a.token, "go_memstats_heap_inuse_bytes", ""))
	f.goSys = float64(metricSum(u, a.token, "go_memstats_sys_bytes", ""))
	f.goroutines = metricSum(u, a.token, "go_goroutines", "")
	f.gomaxprocs = metricSum(u, a.token, "go_sched_gomaxprocs_threads", "")
	f.gogc = metricSum(u, a.token, "go_gc_gogc_percent", "")
	f.gomemlimit = float64(metricSum(u, a.token, "go_gc_gomemlimit_bytes", ""))
	if fi, err := os.Stat(filepath.Join(a.data, "watchfloor.db")); err == nil {
		f.dbSize = float64(fi.Size())
	}
}

// procMem is the memory lines of /proc/PID/status (VmRSS, VmHWM, RssAnon, RssFile…) in bytes.
func procMem(pid int) (map[string]float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	mem := map[string]float64{}
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		k, v, ok := strings.Cut(string(line), ":")
		v, kB := strings.CutSuffix(strings.TrimSpace(v), " kB")
		if !ok || !kB {
			continue
		}
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return nil, fmt.Errorf("/proc/%d/status %s: %v", pid, k, err)
		}
		mem[k] = n * 1024
	}
	if mem["VmRSS"] == 0 {
		return nil, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
	}
	return mem, nil
}

// procCPU is utime+stime of pid (all its threads) from /proc/PID/stat.
func procCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: fields are counted after its ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no ')'", pid)
	}
	fields := strings.Fields(string(data[i+1:]))
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(fields))
	}
	utime, err1 := strconv.ParseUint(fields[11], 10, 64) // field 14
	stime, err2 := strconv.ParseUint(fields[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: utime %v, stime %v", pid, err1, err2)
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

const rusageThread = 1 // RUSAGE_THREAD: the calling thread only

func rusage(t *testing.T, who int) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		t.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func loadavg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return n
}
