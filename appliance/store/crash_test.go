package store

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The crash tests run this test binary again as a child process that writes to a store as
// fast as it can and reports on stdout, one line each:
//
//	start W K      before writer W calls Write with tagBatch(W, K)
//	ok W K ID      after that Write returned nil (the batch is durable)
//	closed W K     after it returned ErrClosed (the batch was refused, not taken)
//	error …        anything else
//	exit N         after SIGTERM: Close returned, N batches were pending when it began
//
// The parent kills or stops the child mid-ingest, reopens the store and holds it to what
// the child reported.

const (
	helperEnv     = "WATCHFLOOR_STORE_CRASH_HELPER" // path of the child's store
	roundEnv      = "WATCHFLOOR_STORE_CRASH_ROUND"  // the child's batches start at K = round·10⁶
	crashWriters  = 8
	crashReported = 300 // "ok" lines the parent reads before it signals the child
)

func TestHelperProcess(t *testing.T) {
	path := os.Getenv(helperEnv)
	if path == "" {
		t.Skip("the child process of the crash tests")
	}
	var round int
	_, _ = fmt.Sscan(os.Getenv(roundEnv), &round)
	os.Exit(crashChild(path, round*1_000_000))
}

func crashChild(path string, first int) int {
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	s, err := Open(path, DefaultConfig(), nil, nil)
	if err != nil {
		fmt.Println("error", err)
		return 2
	}
	var mu sync.Mutex
	say := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Printf(format+"\n", args...)
	}
	var wg sync.WaitGroup
	for w := range crashWriters {
		wg.Go(func() {
			for k := first; ; k++ {
				b := tagBatch(w, k)
				say("start %d %d", w, k)
				switch err := s.Write(context.Background(), b); {
				case err == nil:
					say("ok %d %d %d", w, k, b.Events[0].ID)
				case errors.Is(err, ErrClosed):
					say("closed %d %d", w, k)
					return
				default:
					say("error %d %d %v", w, k, err)
					return
				}
			}
		})
	}
	<-term
	pending := s.pending.Load()
	if err := s.Close(); err != nil {
		say("error close: %v", err)
		return 1
	}
	wg.Wait()
	say("exit %d", pending)
	return 0
}

// runChild starts the child on the store at path, reads its report, sends sig once it has
// reported crashReported commits, and returns every line.
func runChild(t *testing.T, path string, round int, sig syscall.Signal) ([]string, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+path, fmt.Sprintf("%s=%d", roundEnv, round))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// A child that hangs is killed, and the test fails on what it reported.
	watchdog := time.AfterFunc(45*time.Second, func() { _ = cmd.Process.Kill() })
	defer watchdog.Stop()

	var lines []string
	oks, signalled := 0, false
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		lines = append(lines, line)
		if strings.HasPrefix(line, "ok ") {
			oks++
		}
		if oks >= crashReported && !signalled {
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			signalled = true
		}
	}
	waitErr := cmd.Wait()
	if !signalled {
		t.Fatalf("child stopped after %d commits (%v): %s\n%s", oks, waitErr, strings.Join(lines[max(0, len(lines)-5):], "\n"), stderr.String())
	}
	for _, l := range lines {
		if strings.HasPrefix(l, "error") {
			t.Fatalf("child: %s", l)
		}
	}
	return lines, waitErr
}

// report is what the child said of each batch, by "w-k".
type report struct {
	started, committed, refused map[string]bool
	ids                         map[string]uint64
	exit                        string
}

func parseReport(t *testing.T, lines []string) report {
	r := report{started: map[string]bool{}, committed: map[string]bool{}, refused: map[string]bool{}, ids: map[string]uint64{}}
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue // the test framework's own lines, if any
		}
		switch f[0] {
		case "start":
			r.started[f[1]+"-"+f[2]] = true
		case "ok":
			var id uint64
			if _, err := fmt.Sscan(f[3], &id); err != nil {
				t.Fatalf("line %q", l)
			}
			r.committed[f[1]+"-"+f[2]] = true
			r.ids[f[1]+"-"+f[2]] = id
		case "closed":
			r.refused[f[1]+"-"+f[2]] = true
		case "exit":
			r.exit = l
		}
	}
	return r
}

// reopen opens the child's store as the appliance would after a restart, and checks it.
func reopen(t *testing.T, path string) (*testStore, tagged) {
	t.Helper()
	s := openTest(t, path, DefaultConfig())
	checkConsistent(t, s.Store)
	tg := readTagged(t, s.Store, crashWriters)
	tg.checkWhole(t)
	return s, tg
}

// TestCrashKill kills the child mid-ingest three times over, on the same file: each time
// the store must open cleanly, pass bbolt's check, and hold every batch the child reported
// committed, whole, with the event IDs it was given.
func TestCrashKill(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	committed := map[string]uint64{}
	for round := range 3 {
		lines, err := runChild(t, path, round, syscall.SIGKILL)
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("child ended with %v, want killed", err)
		}
		for tag, id := range parseReport(t, lines).ids {
			committed[tag] = id
		}
		s, tg := reopen(t, path)
		for tag, id := range committed {
			if tg.byTag[tag] != id {
				t.Fatalf("round %d: batch %s reported committed with event ID %d; the store has ID %d", round, tag, id, tg.byTag[tag])
			}
		}
		t.Logf("round %d: killed after %d reported commits in all; the store holds %d batches", round, len(committed), len(tg.events))
		// The store takes writes again, and IDs go on after the last one committed.
		b := tagBatch(0, round*1_000_000+999_999)
		mustWrite(t, s.Store, b)
		if want := uint64(len(tg.events) + 1); b.Events[0].ID != want {
			t.Fatalf("first ID after the crash = %d, want %d", b.Events[0].ID, want)
		}
		committed[b.Events[0].Message] = b.Events[0].ID
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCrashTerm stops the child with SIGTERM: it closes the store, which commits every
// batch still queued, and exits 0. Every Write it started is then in the store, except those
// refused with ErrClosed.
func TestCrashTerm(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	lines, err := runChild(t, path, 0, syscall.SIGTERM)
	if err != nil {
		t.Fatalf("child ended with %v, want exit 0", err)
	}
	r := parseReport(t, lines)
	if r.exit == "" {
		t.Fatal("child did not report its exit")
	}
	_, tg := reopen(t, path)
	lost := 0
	for tag := range r.started {
		switch {
		case r.refused[tag]:
			if _, ok := tg.byTag[tag]; ok {
				t.Errorf("batch %s was refused with ErrClosed but is in the store", tag)
			}
		case !r.committed[tag]:
			t.Errorf("Write of %s started and neither returned nil nor ErrClosed", tag)
		case tg.byTag[tag] != r.ids[tag]:
			lost++
			t.Errorf("batch %s committed with ID %d; the store has %d", tag, r.ids[tag], tg.byTag[tag])
		}
	}
	if lost > 0 || len(tg.events) != len(r.committed) {
		t.Fatalf("%d batches lost; the store holds %d, the child committed %d", lost, len(tg.events), len(r.committed))
	}
	t.Logf("stopped after %d commits (%s, %d refused); nothing lost", len(r.committed), r.exit, len(r.refused))
}
