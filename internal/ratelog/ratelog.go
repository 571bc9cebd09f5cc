// Package ratelog is a logger whose warnings are limited per reason, so that hostile input
// (a broken exporter, a flood of malformed frames) cannot flood the log: at most Burst lines of
// one reason per Window, and the first line after a quiet window says how many were
// suppressed. It is lock-free: it sits on receive paths.
package ratelog

import (
	"log/slog"
	"sync/atomic"
	"time"
)

// The limits: Burst lines of one reason per Window.
const (
	Burst  = 5
	Window = time.Minute
)

// limiter counts the lines of one reason.
type limiter struct {
	window     atomic.Int64 // start of the current window, Unix nanoseconds
	n          atomic.Int32
	suppressed atomic.Int64
}

// allow reports whether a line may be logged now, and how many were suppressed since the
// last window in which one was.
func (l *limiter) allow(now time.Time) (ok bool, suppressed int64) {
	start := l.window.Load()
	if t := now.UnixNano(); t-start >= int64(Window) && l.window.CompareAndSwap(start, t) {
		l.n.Store(0)
		suppressed = l.suppressed.Swap(0)
	}
	if l.n.Add(1) > Burst {
		l.suppressed.Add(1)
		return false, 0
	}
	return true, suppressed
}

// Log limits the warnings of reasons 0 to n-1 (small integers the caller defines).
type Log struct {
	log *slog.Logger
	lim []limiter
	now func() time.Time
}

// New returns a Log over log for n reasons.
func New(log *slog.Logger, n int) *Log {
	return &Log{log: log, lim: make([]limiter, n), now: time.Now}
}

// Warn logs msg at warning level unless reason has used up its lines in this window.
func (r *Log) Warn(reason int, msg string, args ...any) {
	ok, suppressed := r.lim[reason].allow(r.now())
	if !ok {
		return
	}
	if suppressed > 0 {
		args = append(args, "suppressed", suppressed)
	}
	r.log.Warn(msg, args...)
}

// Allow reports whether a line of reason may be logged at now (for callers that log at
// another level, or on another clock such as a capture's), and how many were suppressed
// since the last window in which one was.
func (r *Log) Allow(reason int, now time.Time) (ok bool, suppressed int64) {
	return r.lim[reason].allow(now)
}
