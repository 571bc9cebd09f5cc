package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/internal/browser"
	"github.com/watchfloor/watchfloor/internal/testpeer"
)

func lookChromium(t *testing.T) (string, bool) {
	if _, err := exec.LookPath("chromium"); err != nil && !testpeer.Required() {
		t.Log("chromium is not installed: the wall is not looked at in a browser")
		return "", false
	}
	return testpeer.Program(t, "chromium"), true
}

// The end-to-end tests run the real binary as a newcomer would: built from this tree,
// started with no configuration (the built-in lab site), probed over its API and WebSocket,
// looked at in a browser, backed up, killed and restarted.

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "watchfloor-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "watchfloor")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// proc is a running watchfloor.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	url    string
	token  string
	stdout *lineBuffer
	stderr *lineBuffer
	done   chan error
}

type lineBuffer struct {
	mu    sync.Mutex
	lines []string
}

func (b *lineBuffer) collect(r io.Reader) {
	s := bufio.NewScanner(r)
	for s.Scan() {
		b.mu.Lock()
		b.lines = append(b.lines, s.Text())
		b.mu.Unlock()
	}
}

func (b *lineBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.lines, "\n")
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// start runs `watchfloor run` on dataDir and waits for /healthz.
func start(t *testing.T, dataDir string, env ...string) *proc {
	t.Helper()
	addr := freeAddr(t)
	p := &proc{t: t, url: "http://" + addr, stdout: &lineBuffer{}, stderr: &lineBuffer{}, done: make(chan error, 1)}
	p.cmd = exec.Command(binary(t), "run", "-data", dataDir, "-listen", addr)
	p.cmd.Env = append(os.Environ(), env...)
	outR, _ := p.cmd.StdoutPipe()
	errR, _ := p.cmd.StderrPipe()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pipes sync.WaitGroup
	pipes.Go(func() { p.stdout.collect(outR) })
	pipes.Go(func() { p.stderr.collect(errR) })
	go func() { pipes.Wait(); p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("watchfloor stdout:\n%s\nstderr (tail):\n%s", p.stdout, tail(p.stderr.String(), 40))
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if resp, err := http.Get(p.url + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no /healthz after 20s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	return p
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// get fetches an API path with the token into v.
func (p *proc) get(path string, v any) int {
	p.t.Helper()
	req, _ := http.NewRequest("GET", p.url+path, nil)
	if p.token != "" {
		req.Header.Set("Authorization", "Bearer "+p.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	if v != nil && resp.StatusCode != 200 {
		p.t.Fatalf("GET %s: %s", path, resp.Status)
	}
	if v != nil {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			p.t.Fatalf("GET %s: %v", path, err)
		}
	}
	return resp.StatusCode
}

// text fetches a path with the token and returns the body.
func (p *proc) text(path string) string {
	p.t.Helper()
	req, _ := http.NewRequest("GET", p.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+p.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func (p *proc) signal(sig syscall.Signal, within time.Duration) error {
	p.t.Helper()
	_ = p.cmd.Process.Signal(sig)
	select {
	case err := <-p.done:
		return err
	case <-time.After(within):
		p.t.Fatalf("watchfloor did not exit %v after %v", within, sig)
		return nil
	}
}

type devicesAnswer struct {
	Site    string              `json:"site"`
	Devices []watchfloor.Device `json:"devices"`
}

type eventsAnswer struct {
	Events []watchfloor.Event `json:"events"`
}

var tokenLine = regexp.MustCompile(`(?m)^\s*token:\s+([0-9a-f]+)`)

// TestNewcomer is the first acceptance item of the foundation: a fresh start with no config
// shows the lab's devices with live rates within 15 s, and the lab's incidents become events.
// It then checks the token is printed only once, the backup of a running server, SIGKILL and
// SIGTERM durability, and that a backup can be started on.
func TestNewcomer(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	data := t.TempDir()
	t0 := time.Now()
	p := start(t, data)

	// The generated token is printed once, and kept 0600 in the data dir.
	var m []string
	for up := time.Now(); time.Since(up) < 5*time.Second; {
		if m = tokenLine.FindStringSubmatch(p.stdout.String()); m != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if m == nil {
		t.Fatalf("no token printed:\n%s", p.stdout)
	}
	p.token = m[1]
	if fi, err := os.Stat(filepath.Join(data, "token")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v", fi, err)
	}
	if strings.Contains(p.stderr.String(), p.token) {
		t.Fatal("the token appears in the log")
	}
	if code := (&proc{t: t, url: p.url}).get("/api/v1/devices", nil); code != 401 {
		t.Fatalf("devices without a token: %d, want 401", code)
	}

	// Within 15 s: 12+ devices up, with traffic rates.
	var devs devicesAnswer
	for {
		p.get("/api/v1/devices", &devs)
		up, withRates := 0, 0
		for _, d := range devs.Devices {
			if d.Status == watchfloor.DeviceUp {
				up++
			}
			for _, i := range d.Interfaces {
				if i.InBps > 0 {
					withRates++
					break
				}
			}
		}
		if len(devs.Devices) >= 12 && up >= 12 && withRates >= 12 {
			t.Logf("%d devices, %d up, %d with live rates after %v", len(devs.Devices), up, withRates, time.Since(t0).Round(time.Millisecond))
			break
		}
		if time.Since(t0) > 15*time.Second {
			t.Fatalf("after 15s: %d devices, %d up, %d with rates", len(devs.Devices), up, withRates)
		}
		time.Sleep(250 * time.Millisecond)
	}

	// The lab's incidents become events: the flapping link, seen by the poller and by traps.
	want := map[watchfloor.EventKind]bool{watchfloor.EventInterfaceDown: false, watchfloor.EventTrapLinkDown: false}
	var evs eventsAnswer
	for deadline := time.Now().Add(45 * time.Second); ; {
		p.get("/api/v1/events?limit=1000", &evs)
		for _, e := range evs.Events {
			if _, ok := want[e.Kind]; ok {
				want[e.Kind] = true
			}
		}
		if want[watchfloor.EventInterfaceDown] && want[watchfloor.EventTrapLinkDown] {
			t.Logf("incident events after %v: %d events", time.Since(t0).Round(time.Millisecond), len(evs.Events))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("incident events missing: %v (events: %d)", want, len(evs.Events))
		}
		time.Sleep(500 * time.Millisecond)
	}

	// The lab's exporters: NetFlow v5, v9, IPFIX and sFlow all decoded, and nothing dropped.
	for deadline := time.Now().Add(15 * time.Second); ; {
		text := p.text("/metrics")
		missing := []string{}
		for _, proto := range []string{"netflow_v5", "netflow_v9", "ipfix", "sflow"} {
			if !regexp.MustCompile(`(?m)^watchfloor_flow_records_total\{protocol="` + proto + `"\} [1-9]`).MatchString(text) {
				missing = append(missing, proto)
			}
		}
		if len(missing) == 0 {
			if m := regexp.MustCompile(`(?m)^watchfloor_flow_socket_drops_total\S* ([0-9.e+]+)`).FindStringSubmatch(text); m != nil && m[1] != "0" {
				t.Errorf("socket drops in the lab: %s", m[1])
			}
			t.Logf("flow records of every protocol after %v", time.Since(t0).Round(time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no flow records of %v after 15s", missing)
		}
		time.Sleep(500 * time.Millisecond)
	}

	// The lab's mirror port: the packet collector's observations, DNS and TLS among them.
	for deadline := time.Now().Add(10 * time.Second); ; {
		var obs struct {
			Observations []struct {
				Kind string `json:"kind"`
				Name string `json:"name"`
			} `json:"observations"`
		}
		p.get("/api/v1/observations?kind=dns.query,tls.client_hello&limit=50", &obs)
		kinds := map[string]bool{}
		for _, o := range obs.Observations {
			if o.Name != "" {
				kinds[o.Kind] = true
			}
		}
		if kinds["dns.query"] && kinds["tls.client_hello"] {
			t.Logf("packet observations after %v", time.Since(t0).Round(time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no DNS and TLS observations with names: %+v", obs)
		}
		time.Sleep(250 * time.Millisecond)
	}

	// The flap is also an alert of the default pack, through the correlator and the alert
	// lifecycle: one interface_down for the flapping uplink.
	for deadline := time.Now().Add(10 * time.Second); ; {
		var al struct {
			Alerts []watchfloor.Alert `json:"alerts"`
		}
		p.get("/api/v1/alerts?state=open", &al)
		found := false
		for _, a := range al.Alerts {
			if a.Rule == "interface_down" && a.Entity.Device == "acc-a3" && a.Category == watchfloor.CategoryAvailability {
				found = true
			}
		}
		if found {
			t.Logf("the flap's alert after %v (%d open alerts)", time.Since(t0).Round(time.Millisecond), len(al.Alerts))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no interface_down alert for acc-a3: %+v", al.Alerts)
		}
		time.Sleep(250 * time.Millisecond)
	}

	// The wall, in a real browser: every lab device as a tile, live, and the incident's events.
	if chromium, ok := lookChromium(t); ok {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		b := browser.Start(ctx, t, chromium, p.url+"/wall?token="+p.token)
		want := []string{`class="conn live"`, "oper down", `id="fl-lists">`, "lab mirror", "packet capture", "Interface Te1/1/1 of acc-a3 is down"} // top talkers, capture health, the alert
		for _, d := range devs.Devices {
			want = append(want, `data-device="`+d.Name+`"`)
		}
		b.WaitDOM(20*time.Second, want...)
		shot := filepath.Join(t.TempDir(), "wall.png")
		if dir := os.Getenv("WATCHFLOOR_SCREENSHOT_DIR"); dir != "" {
			shot = filepath.Join(dir, "wall.png")
		}
		b.Screenshot(shot)
		b.Close()
		cancel()
		t.Logf("the wall shows all %d devices live; screenshot %s", len(devs.Devices), shot)
	}

	// A hot backup through the running server.
	backup := filepath.Join(t.TempDir(), "backup.db")
	out, err := exec.Command(binary(t), "backup", "-data", data, "-o", backup).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "running server") {
		t.Fatalf("backup while running: %v\n%s", err, out)
	}

	// SIGKILL during ingest: every event the API showed (committed before it was published)
	// is there after a restart, and the store opens cleanly.
	p.get("/api/v1/events?limit=1000", &evs)
	seen := evs.Events
	var alertsBefore struct {
		Alerts []watchfloor.Alert `json:"alerts"`
	}
	p.get("/api/v1/alerts?limit=1000", &alertsBefore)
	_ = p.signal(syscall.SIGKILL, 5*time.Second)
	p2 := start(t, data)
	if tokenLine.MatchString(p2.stdout.String()) {
		t.Fatal("the token was printed again on the second start")
	}
	p2.token = p.token
	var after eventsAnswer
	p2.get("/api/v1/events?limit=1000", &after)
	have := make(map[uint64]bool, len(after.Events))
	for _, e := range after.Events {
		have[e.ID] = true
	}
	for _, e := range seen {
		if !have[e.ID] {
			t.Fatalf("event %d (%s) was committed before SIGKILL and is gone", e.ID, e.Kind)
		}
	}
	t.Logf("after SIGKILL and restart: all %d committed events present", len(seen))
	// Alerts too: the ones seen seconds before the kill are there, under the same IDs.
	var alertsAfter struct {
		Alerts []watchfloor.Alert `json:"alerts"`
	}
	p2.get("/api/v1/alerts?limit=1000", &alertsAfter)
	ids := map[uint64]string{}
	for _, a := range alertsAfter.Alerts {
		ids[a.ID] = a.Rule
	}
	for _, a := range alertsBefore.Alerts {
		if ids[a.ID] != a.Rule {
			t.Errorf("alert %d (%s) was gone or changed after SIGKILL and restart", a.ID, a.Rule)
		}
	}
	t.Logf("after SIGKILL and restart: all %d alerts present", len(alertsBefore.Alerts))

	// SIGTERM: a clean exit 0 that flushes.
	if err := p2.signal(syscall.SIGTERM, 15*time.Second); err != nil {
		t.Fatalf("SIGTERM: exit %v", err)
	}
	if !strings.Contains(p2.stderr.String(), "stopped cleanly") {
		t.Fatalf("no clean stop in the log")
	}

	// The backup is a store one can start on.
	restored := t.TempDir()
	b, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(restored, "watchfloor.db"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	p3 := start(t, restored, "WATCHFLOOR_TOKEN=restore-token")
	p3.token = "restore-token"
	var restoredEvs eventsAnswer
	p3.get("/api/v1/events?limit=1000", &restoredEvs)
	if len(restoredEvs.Events) == 0 {
		t.Fatal("the restored store has no events")
	}
	if err := p3.signal(syscall.SIGTERM, 15*time.Second); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
}

func TestConfigCheck(t *testing.T) {
	var out, errOut strings.Builder
	if code := run([]string{"config", "check", "../../appliance/testdata/config/issue-example/in.yaml"}, &out, &errOut); code != 0 {
		t.Fatalf("the issue's example config: exit %d: %s", code, errOut.String())
	}
	out.Reset()
	errOut.Reset()
	code := run([]string{"config", "check", "../../appliance/testdata/config/bad-v3/in.yaml"}, &out, &errOut)
	if code == 0 {
		t.Fatal("a bad config passed the check")
	}
	for _, want := range []string{"bad-v3/in.yaml:5:", "bad-v3/in.yaml:12:", "auth_protocol"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("the check's errors lack %q:\n%s", want, errOut.String())
		}
	}
}
