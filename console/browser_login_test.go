package console

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/console/users"
	"github.com/watchfloor/watchfloor/internal/browser"
	"github.com/watchfloor/watchfloor/internal/testpeer"
)

// The walk through the two screens: a kiosk wall with a display token shows the
// site and its alerts; an analyst logs in to the console, acknowledges an alert, and the
// wall shows it acknowledged within a second; a viewer logged in cannot acknowledge (the
// button is off, and the API answers 403). Screenshots of both, at 1080p and the wall at 4K.
func TestLoginAckWallInChromium(t *testing.T) {
	chromium := testpeer.Program(t, "chromium")
	e := newAuthEnv(t, Config{})
	display, _, err := e.users.NewToken("vic", "lobby wall", users.Viewer, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	shots := screenshotDir(t)

	wall := browser.Start(ctx, t, chromium, e.url+"/wall?token="+display)
	wall.WaitDOM(20*time.Second, "access-2 is unreachable", `class="conn live"`)
	if u := wall.Eval(`location.search`); u != "" {
		t.Errorf("the display token stays in the wall's address: %q", u)
	}

	login := func(user, password string) *browser.Browser {
		t.Helper()
		b := browser.Start(ctx, t, chromium, e.url+"/login?next=/console")
		b.WaitDOM(20*time.Second, `id="login"`)
		for b.Eval(`document.readyState`) != "complete" { // login.js has its handler on the form
			time.Sleep(20 * time.Millisecond)
		}
		b.Eval(fmt.Sprintf(`document.getElementById("user").value = %q, document.getElementById("password").value = %q,
			document.getElementById("login").requestSubmit(), 1`, user, password))
		deadline := time.Now().Add(20 * time.Second)
		ready := func() bool { // the page navigates: an evaluation may meet it in between
			v, err := b.TryEval(`location.pathname === "/console" && !!document.querySelector(".conn.live") && !!document.querySelector('[data-id="41"]')`)
			return err == nil && v == "true"
		}
		for !ready() {
			if time.Now().After(deadline) {
				t.Fatalf("after logging in as %s: at %s, %q", user, b.Eval(`location.href`), b.Eval(`document.body.innerText.slice(0, 400)`))
			}
			time.Sleep(50 * time.Millisecond)
		}
		return b
	}
	wait := func(b *browser.Browser, what, expr string, within time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		for b.Eval(expr) != "true" {
			if time.Since(start) > within {
				t.Fatalf("waiting %v for %s: %s is not true", within, what, expr)
			}
			time.Sleep(20 * time.Millisecond)
		}
		return time.Since(start)
	}

	// The analyst.
	con := login("bob", bobPassword)
	if who := con.Eval(`document.querySelector(".who .role").textContent`); who != "analyst" {
		t.Errorf("console shows role %q", who)
	}
	con.Eval(`document.querySelector('#queue-body [data-id="41"]').click(), 1`)
	wait(con, "alert 41 in the detail", `document.getElementById("d-title")?.textContent === "access-2 is unreachable"`, 5*time.Second)
	con.Eval(`document.getElementById("act-ack").click(), 1`)
	wait(con, "the acknowledgement", `document.getElementById("d-state")?.textContent === "acknowledged"`, 5*time.Second)
	if a, _ := e.alert.Get(41); a.State != watchfloor.AlertAcknowledged || a.AckedBy != "bob" {
		t.Fatalf("the API has alert 41 %s by %q", a.State, a.AckedBy)
	}
	took := wait(wall, "the wall to show the acknowledgement", `document.body.innerText.includes("ACK BOB") || document.body.innerText.includes("ACK bob")`, time.Second)
	t.Logf("the wall showed the acknowledgement %v after the console did", took.Round(time.Millisecond))
	con.Screenshot(filepath.Join(shots, "console-login-ack-1920x1080.png"))
	wall.Screenshot(filepath.Join(shots, "wall-acked-1920x1080.png"))
	wall.Viewport(3840, 2160)
	time.Sleep(500 * time.Millisecond) // the layout follows the new size
	wall.Screenshot(filepath.Join(shots, "wall-acked-3840x2160.png"))
	acks := 0
	for _, a := range e.audit.entries() {
		if a.Action == AuditAlertAck && a.Who == "bob" && a.OK {
			acks++
		}
	}
	if acks != 1 {
		t.Errorf("%d acknowledgements by bob in the audit log, want 1", acks)
	}

	// The viewer.
	vc := login("vic", vicPassword)
	vc.Eval(`document.querySelector('#queue-body [data-id="45"]').click(), 1`)
	wait(vc, "alert 45 in the detail", `!!document.getElementById("d-title")?.textContent.startsWith("DNS tunneling")`, 5*time.Second)
	if off := vc.Eval(`(b => !b || b.disabled || b.offsetParent === null)(document.getElementById("act-ack"))`); off != "true" {
		t.Error("a viewer is offered Acknowledge")
	}
	status := vc.Eval(`(async () => {
		const s = await (await fetch("/api/v1/session", {credentials: "same-origin"})).json();
		const r = await fetch("/api/v1/alerts/45/ack", {method: "POST", credentials: "same-origin",
			headers: {"X-CSRF-Token": s.csrf, "Content-Type": "application/json"}, body: "{}"});
		return String(r.status);
	})()`)
	if status != "403" {
		t.Errorf("a viewer's acknowledgement: %s, want 403", status)
	}
	if a, _ := e.alert.Get(45); a.State == watchfloor.AlertAcknowledged {
		t.Error("the viewer acknowledged alert 45")
	}
	forbidden := false
	for _, a := range e.audit.entries() {
		forbidden = forbidden || a.Action == AuditForbidden && a.Who == "vic" && !a.OK
	}
	if !forbidden {
		t.Error("the viewer's refused acknowledgement is not in the audit log")
	}
}
