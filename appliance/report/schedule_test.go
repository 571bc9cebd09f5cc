package report

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/watchfloor/watchfloor/correlator/notify/receiver"
)

type mailBackend struct{ got chan []byte }

func (b *mailBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return &mailSession{b: b}, nil }

type mailSession struct{ b *mailBackend }

func (s *mailSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *mailSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err == nil {
		s.b.got <- b
	}
	return err
}
func (s *mailSession) Reset()        {}
func (s *mailSession) Logout() error { return nil }

func startMail(t *testing.T) (string, chan []byte) {
	be := &mailBackend{got: make(chan []byte, 4)}
	srv := smtp.NewServer(be)
	srv.Domain = "127.0.0.1"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.MaxMessageBytes = 32 << 20
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), be.got
}

func TestNextRun(t *testing.T) {
	c := Config{Day: 1, Hour: 6, TimeZone: "Europe/Berlin"}
	for _, x := range []struct{ now, want time.Time }{
		{at(10, 31, 12, 0), at(11, 1, 6, 0)},
		{at(11, 1, 5, 59), at(11, 1, 6, 0)},
		{at(11, 1, 6, 0), time.Date(2026, 12, 1, 6, 0, 0, 0, berlin)},
		{time.Date(2026, 12, 15, 0, 0, 0, 0, berlin), time.Date(2027, 1, 1, 6, 0, 0, 0, berlin)},
	} {
		if got := c.NextRun(x.now); !got.Equal(x.want) {
			t.Errorf("NextRun(%s) = %s, want %s", x.now, got, x.want)
		}
	}
	if errs := (Config{Day: 31, Hour: 24, TimeZone: "Mars/Olympus", Recipients: []string{"a@b.example"}}).Validate(); len(errs) != 4 {
		t.Errorf("errors = %v", errs)
	}
}

// On 1 November at 06:00 (a fake clock), the scheduler makes October's report, keeps its PDF
// and HTML in the store and mails the PDF over SMTP; after a restart it does not make it
// again.
func TestSchedulerMailsAndKeeps(t *testing.T) {
	st := openGolden(t)
	addr, got := startMail(t)
	cfg := Config{Day: 1, Hour: 6, TimeZone: "Europe/Berlin", Sites: []string{"east"}, Recipients: []string{"ciso@city.example"},
		SMTP: &receiver.EmailConfig{Smarthost: addr, From: "watchfloor@city.example", StartTLS: receiver.StartTLSNone}}
	s, err := NewScheduler(cfg, Options{ConsoleURL: "https://noc.example"}, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := at(10, 31, 23, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var slept []time.Duration
	s.Now = func() time.Time { return now }
	s.Sleep = func(_ context.Context, d time.Duration) error {
		slept = append(slept, d)
		if len(slept) > 1 {
			return context.Canceled // the second wait: stop
		}
		now = now.Add(d)
		return nil
	}
	if err := s.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if slept[0] != 7*time.Hour { // 23:00 to 06:00 CET
		t.Errorf("first wait %s", slept[0])
	}
	var raw []byte
	select {
	case raw = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("no mail")
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if subj, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); subj != "Security posture report — east — October 2026" {
		t.Errorf("subject %q", subj)
	}
	_, params, _ := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var pdf []byte
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		if p.FileName() == "watchfloor-report-2026-10-east.pdf" {
			b, _ := io.ReadAll(p)
			pdf, _ = base64.StdEncoding.DecodeString(strings.ReplaceAll(string(b), "\r\n", ""))
		}
	}
	if !bytes.HasPrefix(pdf, []byte("%PDF-")) {
		t.Fatalf("no PDF attached (%d bytes)", len(pdf))
	}
	reps, err := st.Reports()
	if err != nil || len(reps) != 1 {
		t.Fatalf("stored %v (%v)", reps, err)
	}
	m := reps[0]
	if m.Month != "2026-10" || m.Site != "east" || m.Trigger != "schedule" || len(m.Mailed) != 1 || m.MailError != "" {
		t.Errorf("stored %+v", m)
	}
	stored, ok, err := st.ReportFile(m.ID, "pdf")
	if err != nil || !ok || !bytes.Equal(stored, pdf) {
		t.Errorf("stored PDF differs from the mailed one (%v %v)", ok, err)
	}
	if h, ok, _ := st.ReportFile(m.ID, "html"); !ok || !bytes.Contains(h, []byte("<svg")) {
		t.Error("no HTML stored")
	}

	// A restart at 06:00:30 on the same day: the month is already done.
	s.RunDue(ctx, at(11, 1, 6, 0))
	if reps, _ := st.Reports(); len(reps) != 1 {
		t.Errorf("made again: %d reports", len(reps))
	}
	// On demand: another one, kept.
	if m, err := s.Generate(ctx, "2026-10", ""); err != nil || m.ID != 2 || m.Trigger != "on-demand" {
		t.Errorf("on demand: %+v %v", m, err)
	}
}
