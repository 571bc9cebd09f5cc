package appliance

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// listenNotify is a service manager's end: a unixgram socket at addr.
func listenNotify(t *testing.T, addr string) *net.UnixConn {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func readNotify(t *testing.T, conn *net.UnixConn) string {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

func TestNotifierSendsDatagrams(t *testing.T) {
	for _, tc := range []struct{ name, addr string }{
		{"path", filepath.Join(t.TempDir(), "notify")},
		{"abstract", fmt.Sprintf("@watchfloor-sdnotify-test-%d-%d", os.Getpid(), time.Now().UnixNano())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn := listenNotify(t, tc.addr)
			t.Setenv("NOTIFY_SOCKET", tc.addr)
			t.Setenv("WATCHDOG_USEC", "")
			n, err := NotifierFromEnv()
			if err != nil || !n.Enabled() {
				t.Fatalf("NotifierFromEnv: %v, enabled %v", err, n.Enabled())
			}
			for _, step := range []struct {
				send func() error
				want string
			}{
				{func() error { return n.Ready("") }, "READY=1\n"},
				{func() error { return n.Ready("site east\nrunning") }, "READY=1\nSTATUS=site east running\n"},
				{func() error { return n.Status("draining the outbox") }, "STATUS=draining the outbox\n"},
				{n.Stopping, "STOPPING=1\n"},
				{n.Watchdog, "WATCHDOG=1\n"},
			} {
				if err := step.send(); err != nil {
					t.Fatal(err)
				}
				if got := readNotify(t, conn); got != step.want {
					t.Errorf("got %q, want %q", got, step.want)
				}
			}

			var before, after unix.Timespec
			_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &before)
			if err := n.Reloading(); err != nil {
				t.Fatal(err)
			}
			_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &after)
			got := readNotify(t, conn)
			usec, ok := strings.CutPrefix(got, "RELOADING=1\nMONOTONIC_USEC=")
			if !ok || !strings.HasSuffix(usec, "\n") {
				t.Fatalf("reloading: got %q", got)
			}
			v, err := strconv.ParseInt(strings.TrimSuffix(usec, "\n"), 10, 64)
			if err != nil || v < before.Nano()/1e3 || v > after.Nano()/1e3 {
				t.Errorf("MONOTONIC_USEC=%s not within [%d, %d]", usec, before.Nano()/1e3, after.Nano()/1e3)
			}
		})
	}
}

func TestNotifierDisabled(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	for _, n := range []*Notifier{nil, {}, mustNotifier(NotifierFromEnv())} {
		if n.Enabled() {
			t.Fatal("enabled without a socket")
		}
		if err := n.Ready("x"); err != nil {
			t.Error(err)
		}
		if err := n.Reloading(); err != nil {
			t.Error(err)
		}
		if n.WatchdogInterval() != 0 {
			t.Error("watchdog without a socket")
		}
	}
}

func mustNotifier(n *Notifier, err error) *Notifier {
	if err != nil {
		panic(err)
	}
	return n
}

func TestNotifierErrors(t *testing.T) {
	for _, bad := range []string{"relative/sock", "@", "vsock:2:1234"} {
		if _, err := NewNotifier(bad); !errors.Is(err, ErrNotifySocket) {
			t.Errorf("NewNotifier(%q): %v, want ErrNotifySocket", bad, err)
		}
	}
	// Nobody listens: the error says so, nothing hangs.
	n := mustNotifier(NewNotifier(filepath.Join(t.TempDir(), "gone")))
	if err := n.Ready(""); err == nil {
		t.Error("no error without a listener")
	}
	conn := listenNotify(t, filepath.Join(t.TempDir(), "notify"))
	n = mustNotifier(NewNotifier(conn.LocalAddr().String()))
	for _, lines := range [][]string{nil, {"READY"}, {"=1"}, {"STATUS=a\nREADY=1"}, {"STATUS=a\x00"}} {
		if err := n.Notify(lines...); err == nil {
			t.Errorf("Notify(%q): no error", lines)
		}
	}
}

func TestNotifierWatchdogEnv(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	listenNotify(t, sock)
	pid := strconv.Itoa(os.Getpid())
	for _, tc := range []struct {
		usec, pid string
		want      time.Duration
		err       bool
	}{
		{"", "", 0, false},
		{"30000000", "", 30 * time.Second, false},
		{"30000000", pid, 30 * time.Second, false},
		{"30000000", "1", 0, false}, // meant for another process
		{"0", "", 0, true},
		{"-5", "", 0, true},
		{"soon", "", 0, true},
		{"99999999999999999999", "", 0, true},
	} {
		t.Setenv("NOTIFY_SOCKET", sock)
		t.Setenv("WATCHDOG_USEC", tc.usec)
		t.Setenv("WATCHDOG_PID", tc.pid)
		n, err := NotifierFromEnv()
		if (err != nil) != tc.err {
			t.Errorf("WATCHDOG_USEC=%q WATCHDOG_PID=%q: err %v", tc.usec, tc.pid, err)
		}
		if got := n.WatchdogInterval(); got != tc.want {
			t.Errorf("WATCHDOG_USEC=%q WATCHDOG_PID=%q: interval %v, want %v", tc.usec, tc.pid, got, tc.want)
		}
	}
}
