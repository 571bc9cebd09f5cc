//go:build streamload

package console

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/internal/browser"
	"github.com/watchfloor/watchfloor/internal/testpeer"
)

// TestStreamLoad measures the wall stream under load: N WebSocket clients while the console
// publishes 1,000 updates a second (one event each), for the server's CPU and memory per
// client and the latency from publishing to a client having read the message. It runs the
// same load with one client first, as the baseline, so the per-client figures are the
// difference (this machine is noisy: read the ratios, not the absolutes).
//
//	go test -tags streamload -run TestStreamLoad -v -timeout 10m ./console/
func TestStreamLoad(t *testing.T) {
	const (
		rate     = 1000
		duration = 10 * time.Second
	)
	base := streamLoad(t, 1, rate, duration, false)
	full := streamLoad(t, 50, rate, duration, true)
	t.Logf("baseline, 1 client: %s", base)
	t.Logf("50 clients:         %s", full)
	perCPU := (full.cpu - base.cpu).Seconds() / duration.Seconds() / 49 * 100
	perMem := float64(int64(full.heap)-int64(base.heap)) / 49 / 1024
	t.Logf("per extra client: %.2f%% of a core, %.0f KiB heap; p99 latency %.1f ms (baseline %.1f ms)",
		perCPU, perMem, ms(full.p99), ms(base.p99))
	if full.lost > 0 {
		t.Errorf("%d messages lost", full.lost)
	}
	if full.p99 > 250*time.Millisecond {
		t.Errorf("p99 latency %v over 250 ms", full.p99)
	}
	if len(full.frames) > 0 {
		t.Logf("a wall in Chromium among the 50 clients: %d frames measured, publish to frame p50 %.0f ms, p99 %.0f ms, max %.0f ms",
			len(full.frames), full.frames[len(full.frames)/2], full.frames[len(full.frames)*99/100], full.frames[len(full.frames)-1])
		if p99 := full.frames[len(full.frames)*99/100]; p99 > 250 {
			t.Errorf("frame latency p99 %.0f ms over 250 ms", p99)
		}
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

type loadResult struct {
	clients         int
	sent, got, lost int
	cpu             time.Duration // user+system of the server's process during the run
	heap            uint64        // heap in use with the clients connected
	p50, p99, max   time.Duration
	frames          []float64 // a Chromium wall's publish-to-frame latencies, ms, sorted
}

func (r loadResult) String() string {
	return fmt.Sprintf("%d clients: sent %d, read %d (lost %d), CPU %.2f cores, heap %.1f MiB, latency p50 %.1f ms p99 %.1f ms max %.1f ms",
		r.clients, r.sent, r.got, r.lost, r.cpu.Seconds()/10, float64(r.heap)/(1<<20), ms(r.p50), ms(r.p99), ms(r.max))
}

func rusage() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func streamLoad(t *testing.T, clients, rate int, duration time.Duration, withBrowser bool) loadResult {
	reg := prometheus.NewRegistry()
	c, err := newConsole(Config{SendQueue: 1024}, Deps{Store: testStore(), Token: testToken, Site: "lab", Registerer: reg, Gatherer: reg}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()

	// The clients run in a child process, so that this process's CPU is the server's.
	cmd := exec.Command(os.Args[0], "-test.run=^TestStreamLoadClients$", "-test.v")
	cmd.Env = append(os.Environ(), "WF_LOAD_URL="+srv.URL, fmt.Sprintf("WF_LOAD_CLIENTS=%d", clients))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(out)
	var result string
	ready := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for lines.Scan() {
			switch l := lines.Text(); {
			case l == "READY":
				close(ready)
			case strings.HasPrefix(l, "RESULT "):
				result = strings.TrimPrefix(l, "RESULT ")
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatal("the clients did not connect")
	}
	var wall *browser.Browser
	if withBrowser {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		wall = browser.Start(ctx, t, testpeer.Program(t, "chromium"), srv.URL+"/wall?token="+testToken)
		wall.WaitDOM(20*time.Second, `class="conn live"`)
		wall.Eval(`wfWall.latencies.length = 0, 1`)
	}
	runtime.GC()
	var ms0 runtime.MemStats
	runtime.ReadMemStats(&ms0)

	cpu0 := rusage()
	// One update a millisecond on average: a ticker drops ticks under load, so each tick
	// publishes what is owed since the start, one message per update.
	tick := time.NewTicker(time.Millisecond)
	start := time.Now()
	sent := 0
	for now := range tick.C {
		if now.Sub(start) > duration {
			break
		}
		for owed := int(now.Sub(start).Seconds() * float64(rate)); sent < owed; {
			sent++
			c.PublishEvents([]watchfloor.Event{{ID: uint64(sent), Time: time.Now(), Kind: watchfloor.EventInterfaceDown,
				Severity: watchfloor.SeverityMedium, Device: "access1", Source: "load", Message: "load test event"}})
		}
	}
	tick.Stop()
	cpu := rusage() - cpu0
	var ms1 runtime.MemStats
	runtime.ReadMemStats(&ms1)
	time.Sleep(300 * time.Millisecond) // the last messages arrive
	var frames []float64
	if wall != nil {
		if err := json.Unmarshal([]byte(wall.Eval(`JSON.stringify(wfWall.latencies)`)), &frames); err != nil {
			t.Fatal(err)
		}
		slices.Sort(frames)
		wall.Close()
	}
	c.hub.close(time.Second) // the clients see the end and report
	<-done
	if err := cmd.Wait(); err != nil {
		t.Fatalf("clients: %v", err)
	}
	var cr clientResult
	if err := json.Unmarshal([]byte(result), &cr); err != nil {
		t.Fatalf("clients' result %q: %v", result, err)
	}
	return loadResult{clients: clients, sent: sent, got: cr.Got, lost: sent*clients - cr.Got, cpu: cpu, heap: ms1.HeapInuse,
		p50: cr.P50, p99: cr.P99, max: cr.Max, frames: frames}
}

type clientResult struct {
	Got           int
	P50, P99, Max time.Duration
}

// TestStreamLoadClients is the child process of TestStreamLoad: WF_LOAD_CLIENTS clients of
// the stream at WF_LOAD_URL, reading until it closes, then the latencies.
func TestStreamLoadClients(t *testing.T) {
	url := os.Getenv("WF_LOAD_URL")
	if url == "" {
		t.Skip("the child of TestStreamLoad")
	}
	n, _ := strconv.Atoi(os.Getenv("WF_LOAD_CLIENTS"))
	var (
		mu  sync.Mutex
		lat []time.Duration
		wg  sync.WaitGroup
	)
	for range n {
		conn, _, err := dial(t, url, "", authHeader())
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			var mine []time.Duration
			for {
				_, b, err := conn.ReadMessage()
				if err != nil {
					break
				}
				now := time.Now()
				var m struct {
					Type   string             `json:"type"`
					Events []watchfloor.Event `json:"events"`
				}
				if json.Unmarshal(b, &m) != nil || m.Type != "events" {
					continue
				}
				for _, e := range m.Events {
					if e.Source == "load" {
						mine = append(mine, now.Sub(e.Time))
					}
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	fmt.Println("READY")
	wg.Wait()
	slices.Sort(lat)
	r := clientResult{Got: len(lat)}
	if len(lat) > 0 {
		r.P50, r.P99, r.Max = lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1]
	}
	b, _ := json.Marshal(r)
	fmt.Println("RESULT " + string(b))
}
