package appliance

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Notifier tells the service manager about the service's state, as sd_notify(3) does: one
// datagram of NAME=VALUE lines to the AF_UNIX socket named by $NOTIFY_SOCKET (a path, or an
// abstract name written with a leading '@'). The systemd unit (appliance/dist) is
// Type=notify: systemd counts watchfloor as started only once READY=1 arrives, that is once
// the console listens and the collectors run.
//
// A Notifier made without a socket (not started by systemd) is disabled: every call does
// nothing and returns nil. The zero value and a nil *Notifier are disabled too.
type Notifier struct {
	addr     *net.UnixAddr
	watchdog time.Duration
}

// ErrNotifySocket is returned for a $NOTIFY_SOCKET that is neither an absolute path nor an
// abstract ('@') name (systemd 254's vsock: addresses are not supported).
var ErrNotifySocket = errors.New("sdnotify: NOTIFY_SOCKET must be an absolute path or an @abstract name")

// NotifierFromEnv reads $NOTIFY_SOCKET, and $WATCHDOG_USEC with $WATCHDOG_PID (the watchdog
// applies to this process only when WATCHDOG_PID is unset or is its pid). Without
// NOTIFY_SOCKET it returns a disabled Notifier and no error.
func NotifierFromEnv() (*Notifier, error) {
	n, err := NewNotifier(os.Getenv("NOTIFY_SOCKET"))
	if err != nil || !n.Enabled() {
		return n, err
	}
	usec := os.Getenv("WATCHDOG_USEC")
	if usec == "" {
		return n, nil
	}
	if pid := os.Getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return n, nil
	}
	v, err := strconv.ParseUint(usec, 10, 63)
	if err != nil || v == 0 || v > uint64(1<<63-1)/uint64(time.Microsecond) {
		return n, fmt.Errorf("sdnotify: WATCHDOG_USEC=%q: not a positive number of microseconds", usec)
	}
	n.watchdog = time.Duration(v) * time.Microsecond
	return n, nil
}

// NewNotifier makes a Notifier for a socket address as $NOTIFY_SOCKET gives it; an empty
// address gives a disabled Notifier.
func NewNotifier(socket string) (*Notifier, error) {
	switch {
	case socket == "":
		return &Notifier{}, nil
	case strings.HasPrefix(socket, "/"), len(socket) > 1 && socket[0] == '@':
		// Go's net package maps a leading '@' to the abstract namespace on Linux.
		return &Notifier{addr: &net.UnixAddr{Name: socket, Net: "unixgram"}}, nil
	default:
		return &Notifier{}, fmt.Errorf("%w: %q", ErrNotifySocket, socket)
	}
}

// Enabled says whether a service manager listens.
func (n *Notifier) Enabled() bool { return n != nil && n.addr != nil }

// Notify sends the NAME=VALUE lines as one datagram. A value may not hold a newline.
func (n *Notifier) Notify(lines ...string) error {
	if !n.Enabled() {
		return nil
	}
	if len(lines) == 0 {
		return errors.New("sdnotify: nothing to send")
	}
	for _, l := range lines {
		if name, _, ok := strings.Cut(l, "="); !ok || name == "" || strings.ContainsAny(l, "\n\x00") {
			return fmt.Errorf("sdnotify: %q is not one NAME=VALUE line", l)
		}
	}
	conn, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("sdnotify: dial %s: %w", n.addr.Name, err)
	}
	defer conn.Close()
	_ = conn.SetWriteDeadline(time.Now().Add(time.Second)) // a full socket buffer must not hang us
	if _, err := conn.Write([]byte(strings.Join(lines, "\n") + "\n")); err != nil {
		return fmt.Errorf("sdnotify: send: %w", err)
	}
	return nil
}

// Ready says start-up (or a reload) is complete; status, when not empty, is shown by
// `systemctl status`.
func (n *Notifier) Ready(status string) error {
	if status == "" {
		return n.Notify("READY=1")
	}
	return n.Notify("READY=1", "STATUS="+oneLine(status))
}

// Reloading says a reload has begun; Ready ends it. MONOTONIC_USEC is what systemd 253's
// Type=notify-reload requires, and is harmless before.
func (n *Notifier) Reloading() error {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return fmt.Errorf("sdnotify: clock: %w", err)
	}
	usec := uint64(ts.Sec)*1e6 + uint64(ts.Nsec)/1e3
	return n.Notify("RELOADING=1", "MONOTONIC_USEC="+strconv.FormatUint(usec, 10))
}

// Stopping says shutdown has begun.
func (n *Notifier) Stopping() error { return n.Notify("STOPPING=1") }

// Status updates the one-line status `systemctl status` shows.
func (n *Notifier) Status(status string) error { return n.Notify("STATUS=" + oneLine(status)) }

// Watchdog tells the service manager the process is alive (WatchdogSec= in the unit).
func (n *Notifier) Watchdog() error { return n.Notify("WATCHDOG=1") }

// WatchdogInterval is the unit's WatchdogSec= for this process, 0 when none: send Watchdog
// at least this often (half of it is the usual period).
func (n *Notifier) WatchdogInterval() time.Duration {
	if !n.Enabled() {
		return 0
	}
	return n.watchdog
}

func oneLine(s string) string {
	return strings.NewReplacer("\n", " ", "\x00", "").Replace(s)
}
