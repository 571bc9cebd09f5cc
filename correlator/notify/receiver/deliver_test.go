package receiver

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/watchfloor/watchfloor/correlator/notify"
)

type recorder struct {
	mu sync.Mutex
	ds []Delivery
	ch chan Delivery
}

func (r *recorder) record(d Delivery) {
	r.mu.Lock()
	r.ds = append(r.ds, d)
	r.mu.Unlock()
	r.ch <- d
}

func (r *recorder) next(t *testing.T) Delivery {
	t.Helper()
	select {
	case d := <-r.ch:
		return d
	case <-time.After(5 * time.Second):
		t.Fatal("no delivery recorded")
		return Delivery{}
	}
}

// TestDelivererIsolation: one receiver hangs, another returns 500; a third gets its
// notification at once, the 500 one is retried MaxAttempts times then recorded failed.
func TestDelivererIsolation(t *testing.T) {
	hang := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer hung.Close()
	defer close(hang)
	broken, _ := server(t, 500)
	good, goodCh := server(t, 200)

	mk := func(name, url string) notify.Receiver {
		w, err := NewWebhook(name, WebhookConfig{URL: url, Timeout: time.Hour}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	rec := &recorder{ch: make(chan Delivery, 100)}
	var sleepMu sync.Mutex
	var sleeps []time.Duration
	cfg := DefaultDelivererConfig()
	cfg.MaxAttempts = 4
	cfg.AttemptTimeout = time.Hour // the hung receiver never times out during the test
	d, err := NewDeliverer(cfg, []notify.Receiver{mk("hung", hung.URL), mk("broken", broken.URL), mk("good", good.URL)}, DelivererDeps{
		Record: rec.record,
		Sleep: func(ctx context.Context, d time.Duration) error {
			sleepMu.Lock()
			sleeps = append(sleeps, d)
			sleepMu.Unlock()
			return nil
		},
		Jitter: func() float64 { return 0 },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()

	n := testNotification()
	for _, r := range []string{"hung", "broken", "good"} {
		n.Receiver, n.ID = r, "id-"+r
		if err := d.Enqueue(n); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-goodCh:
	case <-time.After(5 * time.Second):
		t.Fatal("the good receiver was held up")
	}
	var brokenAttempts []Delivery
	var goodDone bool
	for !goodDone || len(brokenAttempts) == 0 || !brokenAttempts[len(brokenAttempts)-1].Done {
		dl := rec.next(t)
		switch dl.Receiver {
		case "good":
			if dl.Err != "" || !dl.Done || dl.Attempt != 1 || dl.NotificationID != "id-good" {
				t.Fatalf("good: %+v", dl)
			}
			goodDone = true
		case "broken":
			brokenAttempts = append(brokenAttempts, dl)
		case "hung":
			t.Fatalf("hung receiver recorded %+v", dl)
		}
	}
	if len(brokenAttempts) != 4 {
		t.Fatalf("broken: %d attempts, want 4: %+v", len(brokenAttempts), brokenAttempts)
	}
	for i, a := range brokenAttempts {
		if a.Attempt != i+1 || a.Err == "" || a.Done != (i == 3) {
			t.Errorf("attempt %d: %+v", i+1, a)
		}
	}
	sleepMu.Lock()
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} // 2s·2^k with jitter factor 0.5
	if len(sleeps) != 3 || sleeps[0] != want[0] || sleeps[1] != want[1] || sleeps[2] != want[2] {
		t.Errorf("backoffs %v, want %v", sleeps, want)
	}
	sleepMu.Unlock()

	// Stopping: the hung send is cancelled and recorded as not done.
	cancel()
	<-done
	dl := rec.next(t)
	if dl.Receiver != "hung" || dl.Done || dl.Err == "" {
		t.Fatalf("hung after stop: %+v", dl)
	}
}

func TestDelivererPermanentAndQueueFull(t *testing.T) {
	refused, _ := server(t, 404)
	w, _ := NewWebhook("refused", WebhookConfig{URL: refused.URL}, nil)
	rec := &recorder{ch: make(chan Delivery, 100)}
	cfg := DefaultDelivererConfig()
	cfg.QueueSize = 1
	d, err := NewDeliverer(cfg, []notify.Receiver{w}, DelivererDeps{Record: rec.record,
		Sleep: func(context.Context, time.Duration) error { t.Error("slept after a permanent error"); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	n := testNotification()
	n.Receiver = "refused"
	if err := d.Enqueue(n); err != nil {
		t.Fatal(err)
	}
	if err := d.Enqueue(n); !errors.Is(err, ErrQueueFull) { // not running: the queue of 1 is full
		t.Fatalf("second enqueue: %v", err)
	}
	if dl := rec.next(t); !dl.Done || dl.Attempt != 0 || dl.Err != ErrQueueFull.Error() {
		t.Fatalf("drop record %+v", dl)
	}
	n.Receiver = "nobody"
	if err := d.Enqueue(n); !errors.Is(err, ErrUnknownReceiver) {
		t.Fatalf("unknown: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go d.Run(ctx)
	if dl := rec.next(t); !dl.Done || dl.Attempt != 1 || dl.Err == "" {
		t.Fatalf("permanent: %+v", dl)
	}
}
