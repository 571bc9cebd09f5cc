// Package browser drives a real headless Chromium for tests of the web UI.
package browser

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// Browser drives a headless Chromium over the DevTools protocol on a pipe
// (--remote-debugging-pipe: commands on its fd 3, answers on fd 4, each message JSON ended by
// a NUL byte). It is just enough protocol to open a page, wait in real time until its DOM
// shows something, and take a screenshot — no WebSocket, no extra dependency, and unlike
// --virtual-time-budget it does not race the page's own WebSocket.
type Browser struct {
	t       testing.TB
	cmd     *exec.Cmd
	w       *os.File
	session string

	mu      sync.Mutex
	next    int
	pending map[int]chan cdpAnswer
	stderr  bytes.Buffer
}

type cdpAnswer struct {
	ID     int             `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// Start starts Chromium with the flags the peers notes require and opens url in a
// 1920×1080 page.
func Start(ctx context.Context, t testing.TB, chromium, url string) *Browser {
	t.Helper()
	cmdR, ourW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	ourR, cmdW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	b := &Browser{t: t, w: ourW, pending: make(map[int]chan cdpAnswer)}
	b.cmd = exec.CommandContext(ctx, chromium,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--hide-scrollbars", "--user-data-dir="+t.TempDir(),
		"--window-size=1920,1080", "--remote-debugging-pipe", "about:blank")
	b.cmd.ExtraFiles = []*os.File{cmdR, cmdW} // fd 3 and fd 4 of the child
	b.cmd.Stderr = &b.stderr
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cmdR.Close()
	cmdW.Close()
	go b.read(ourR)
	t.Cleanup(b.Close)

	// Drive the page Chromium opened (a created one stays in the background, where
	// screenshots never come).
	var targets struct {
		TargetInfos []struct{ TargetID, Type string }
	}
	b.call("", "Target.getTargets", map[string]any{}, &targets)
	page := ""
	for _, ti := range targets.TargetInfos {
		if ti.Type == "page" {
			page = ti.TargetID
		}
	}
	if page == "" {
		t.Fatalf("chromium has no page: %+v", targets)
	}
	var attached struct{ SessionID string }
	b.call("", "Target.attachToTarget", map[string]any{"targetId": page, "flatten": true}, &attached)
	b.session = attached.SessionID
	b.call(b.session, "Page.bringToFront", map[string]any{}, nil)
	b.call(b.session, "Emulation.setDeviceMetricsOverride", map[string]any{"width": 1920, "height": 1080, "deviceScaleFactor": 1, "mobile": false}, nil)
	b.call(b.session, "Page.navigate", map[string]any{"url": url}, nil)
	return b
}

func (b *Browser) read(r *os.File) {
	defer r.Close()
	br := bufio.NewReader(r)
	for {
		msg, err := br.ReadBytes(0)
		if err != nil {
			b.mu.Lock()
			for id, ch := range b.pending {
				close(ch)
				delete(b.pending, id)
			}
			b.mu.Unlock()
			return
		}
		var a cdpAnswer
		if json.Unmarshal(msg[:len(msg)-1], &a) != nil || a.ID == 0 {
			continue // an event: not needed here
		}
		b.mu.Lock()
		ch := b.pending[a.ID]
		delete(b.pending, a.ID)
		b.mu.Unlock()
		if ch != nil {
			ch <- a
		}
	}
}

// call sends one command and decodes its result into out (when not nil).
func (b *Browser) call(session, method string, params any, out any) {
	b.t.Helper()
	if err := b.try(session, method, params, out); err != nil {
		b.t.Fatal(err)
	}
}

// try is call answering the error instead of failing the test.
func (b *Browser) try(session, method string, params any, out any) error {
	b.mu.Lock()
	b.next++
	id := b.next
	ch := make(chan cdpAnswer, 1)
	b.pending[id] = ch
	b.mu.Unlock()
	msg := map[string]any{"id": id, "method": method, "params": params}
	if session != "" {
		msg["sessionId"] = session
	}
	data, _ := json.Marshal(msg)
	if _, err := b.w.Write(append(data, 0)); err != nil {
		return fmt.Errorf("cdp %s: %v", method, err)
	}
	select {
	case a, ok := <-ch:
		if !ok {
			return fmt.Errorf("cdp %s: chromium exited\n%s", method, lastLines(b.stderr.String(), 20))
		}
		if a.Error != nil {
			return fmt.Errorf("cdp %s: %s", method, a.Error.Message)
		}
		if out != nil {
			if err := json.Unmarshal(a.Result, out); err != nil {
				return fmt.Errorf("cdp %s: %v", method, err)
			}
		}
	case <-time.After(30 * time.Second):
		return fmt.Errorf("cdp %s: no answer in 30s", method)
	}
	return nil
}

// eval evaluates a JavaScript expression in the page and returns its value as a string.
func (b *Browser) Eval(expr string) string {
	b.t.Helper()
	var r struct {
		Result struct {
			Value any `json:"value"`
		} `json:"result"`
		ExceptionDetails any `json:"exceptionDetails"`
	}
	b.call(b.session, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true}, &r)
	if r.ExceptionDetails != nil {
		b.t.Fatalf("eval %s: %v", expr, r.ExceptionDetails)
	}
	return fmt.Sprint(r.Result.Value)
}

// TryEval is Eval answering an error instead of failing the test: for polling a page that
// may be navigating ("Inspected target navigated or closed").
func (b *Browser) TryEval(expr string) (string, error) {
	var r struct {
		Result struct {
			Value any `json:"value"`
		} `json:"result"`
		ExceptionDetails any `json:"exceptionDetails"`
	}
	if err := b.try(b.session, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true}, &r); err != nil {
		return "", err
	}
	if r.ExceptionDetails != nil {
		return "", fmt.Errorf("eval %s: %v", expr, r.ExceptionDetails)
	}
	return fmt.Sprint(r.Result.Value), nil
}

// waitDOM polls the page's HTML until every want is in it, and returns the HTML.
func (b *Browser) WaitDOM(within time.Duration, want ...string) string {
	b.t.Helper()
	deadline := time.Now().Add(within)
	for {
		dom := b.Eval(`document.documentElement ? document.documentElement.outerHTML : ""`)
		missing := ""
		for _, w := range want {
			if !strings.Contains(dom, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return dom
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("after %v the page still lacks %q\nDOM:\n%s", within, missing, dom)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Viewport resizes the page (a 4K wall: 3840×2160).
func (b *Browser) Viewport(w, h int) {
	b.t.Helper()
	b.call(b.session, "Emulation.setDeviceMetricsOverride", map[string]any{"width": w, "height": h, "deviceScaleFactor": 1, "mobile": false}, nil)
}

// Screenshot saves the page as a PNG.
func (b *Browser) Screenshot(file string) {
	b.t.Helper()
	var r struct{ Data string }
	b.call(b.session, "Page.captureScreenshot", map[string]any{"format": "png"}, &r)
	png, err := base64.StdEncoding.DecodeString(r.Data)
	if err != nil || len(png) < 10_000 {
		b.t.Fatalf("screenshot: %d bytes, %v", len(png), err)
	}
	if err := os.WriteFile(file, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", file)
}

func (b *Browser) Close() {
	b.mu.Lock()
	b.next++
	msg := fmt.Sprintf(`{"id":%d,"method":"Browser.close"}`, b.next)
	b.mu.Unlock()
	b.w.Write(append([]byte(msg), 0))
	b.w.Close()
	done := make(chan struct{})
	go func() { b.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		b.cmd.Process.Kill()
		<-done
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
