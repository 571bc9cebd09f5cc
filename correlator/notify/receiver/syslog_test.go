package receiver

import (
	"bufio"
	"context"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestCEFEscape(t *testing.T) {
	for _, tc := range []struct{ in, header, value string }{
		{"plain", "plain", "plain"},
		{`a|b`, `a\|b`, `a|b`},
		{`a\b`, `a\\b`, `a\\b`},
		{`k=v`, `k=v`, `k\=v`},
		{"l1\nl2\r", "l1 l2 ", `l1\nl2\r`},
		{`\|=`, `\\\|=`, `\\|\=`},
	} {
		if got := CEFHeaderEscape(tc.in); got != tc.header {
			t.Errorf("header %q: %q, want %q", tc.in, got, tc.header)
		}
		if got := CEFValueEscape(tc.in); got != tc.value {
			t.Errorf("value %q: %q, want %q", tc.in, got, tc.value)
		}
	}
	n := testNotification()
	n.Title = "a|b"
	n.Summary = "x=1\ny"
	got := CEF(n)
	want := `CEF:0|Watchfloor|Watchfloor|1|device_down|a\|b|10|rt=1741057200000 act=firing cnt=2 cat=availability dvchost=lab-r1 externalId=n-1 request=https://wf.example/incidents/42 cs1Label=groupKey cs1=route\=core/site\=lab msg=x\=1\ny`
	if got != want {
		t.Fatalf("CEF\n got %s\nwant %s", got, want)
	}
}

// rfc5424 parses the header: PRI, VERSION, TIMESTAMP, HOSTNAME, APP-NAME, PROCID, MSGID, SD, MSG.
var rfc5424 = regexp.MustCompile(`^<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) (\[.*?[^\\]\]|-) (.*)$`)

func checkLine(t *testing.T, line string, wantMsgPrefix string) {
	t.Helper()
	m := rfc5424.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("not RFC 5424: %q", line)
	}
	if pri, _ := strconv.Atoi(m[1]); pri != 16*8+2 {
		t.Errorf("PRI %s, want local0.crit %d", m[1], 16*8+2)
	}
	if ts, err := time.Parse(time.RFC3339Nano, m[2]); err != nil || !ts.Equal(testNotification().Time) {
		t.Errorf("timestamp %s: %v", m[2], err)
	}
	if m[3] != "wf-test" || m[4] != "watchfloor" || m[6] != "FIRING" {
		t.Errorf("host %q app %q msgid %q", m[3], m[4], m[6])
	}
	if !strings.Contains(m[7], `group_key="route=core/site=lab"`) || !strings.Contains(m[7], `alerts="2"`) {
		t.Errorf("SD %q", m[7])
	}
	if !strings.HasPrefix(m[8], wantMsgPrefix) {
		t.Errorf("MSG %q, want prefix %q", m[8], wantMsgPrefix)
	}
}

func TestSyslogUDP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	s, err := NewSyslog("siem", SyslogConfig{Network: "udp", Address: pc.LocalAddr().String(), Hostname: "wf-test", Format: "cef"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), testNotification()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65536)
	pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	k, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	checkLine(t, string(buf[:k]), "CEF:0|Watchfloor|Watchfloor|1|device_down|Router lab-r1 down|10|")
}

func TestSyslogTCPOctetCounting(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	lines := make(chan string, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					l, err := r.ReadString(' ')
					if err != nil {
						return
					}
					size, err := strconv.Atoi(strings.TrimSpace(l))
					if err != nil || size > 65536 {
						return
					}
					b := make([]byte, size)
					if _, err := io.ReadFull(r, b); err != nil {
						return
					}
					lines <- string(b)
				}
			}()
		}
	}()
	s, err := NewSyslog("siem", SyslogConfig{Network: "tcp", Address: ln.Addr().String(), Hostname: "wf-test"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for range 2 { // the second send reuses the connection
		if err := s.Send(context.Background(), testNotification()); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		select {
		case l := <-lines:
			checkLine(t, l, "[FIRING] critical: Router lab-r1 down — 2 alerts: 1 critical, 1 high")
		case <-time.After(5 * time.Second):
			t.Fatal("no message")
		}
	}
}
