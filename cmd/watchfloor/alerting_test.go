package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/watchfloor/watchfloor/correlator/notify"
	"github.com/watchfloor/watchfloor/correlator/notify/receiver"
)

// docExample writes the first YAML example of docs/alerting.md to a file and returns its path.
func docExample(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../docs/alerting.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindSubmatch(b)
	if m == nil {
		t.Fatal("docs/alerting.md has no yaml example")
	}
	p := filepath.Join(t.TempDir(), "alerting.yaml")
	if err := os.WriteFile(p, m[1], 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestAlertingTestRoute runs test-route on the documented example, with the answers the
// documentation shows.
func TestAlertingTestRoute(t *testing.T) {
	cfg := docExample(t)
	for _, tc := range []struct {
		args        []string
		code        int
		out, errOut string
	}{
		{[]string{"test-route", "-config", cfg, "severity=critical", "category=network", "site=east-backbone"}, 0, "oncall-pager,noc-mail\n", ""},
		{[]string{"test-route", "-config", cfg, "tactic=discovery", "category=security"}, 0, "soc-teams,siem\n", ""},
		{[]string{"test-route", "-config", cfg, "severity=low", "category=network", "site=west"}, 0, "noc-slack\n", ""},
		{[]string{"test-route", "-config", cfg}, 0, "noc-slack\n", ""},
		{[]string{"test-route", "-config", cfg, "tactic=exfiltration,command-and-control"}, 0, "soc-teams\n", ""},
		{[]string{"test-route", "-config", cfg, "-v", "severity=high"}, 0, "route 0.0 → oncall-pager  group_by=[rule,site]", ""},
		{[]string{"test-route", "-config", cfg, "severity=huge"}, 2, "", "severity"},
		{[]string{"test-route", "-config", cfg, "nolabel"}, 2, "", `"nolabel" is not label=value`},
		{[]string{"test-route", "severity=high"}, 1, "", "-config FILE is required"},
		{[]string{"test-route", "-config", "../../appliance/testdata/config/bad-alerting/in.yaml"}, 1, "",
			"in.yaml:20: alerting.route.routes[1].receiver: unknown receiver \"noc-mail\""},
		{[]string{"test-route", "-config", "../../appliance/testdata/config/flow/in.yaml"}, 1, "", "has no alerting.route"},
		{[]string{"frob"}, 2, "", "unknown command"},
		{nil, 2, "", "usage:"},
	} {
		var out, errOut bytes.Buffer
		code := alertingCmd(tc.args, &out, &errOut)
		exact := tc.code == 0 && !strings.HasPrefix(tc.out, "route ") // the receivers line, alone
		if code != tc.code || !strings.Contains(out.String(), tc.out) || !strings.Contains(errOut.String(), tc.errOut) ||
			exact && out.String() != tc.out {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", tc.args, code, out.String(), errOut.String())
		}
	}
	// Through the top-level dispatcher too.
	var out, errOut bytes.Buffer
	if code := run([]string{"alerting", "test-route", "-config", cfg, "category=security"}, &out, &errOut); code != 0 || out.String() != "siem\n" {
		t.Errorf("run alerting: exit %d, %q %q", code, out.String(), errOut.String())
	}
}

// TestAlertingSendTest sends the test notification to a webhook receiver on an httptest
// server and checks the body, the signature, and the report of a failing receiver.
func TestAlertingSendTest(t *testing.T) {
	type got struct {
		body []byte
		hdr  http.Header
	}
	reqs := make(chan got, 4)
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		reqs <- got{b, r.Header.Clone()}
		w.WriteHeader(status)
	}))
	defer srv.Close()

	cfg := filepath.Join(t.TempDir(), "w.yaml")
	yml := `site: lab
alerting:
  receivers:
    - name: hook
      webhook: {url: "` + srv.URL + `/hook", secret: s3cr3t-hmac}
    - name: pager
      pagerduty: {routing_key: 0123456789abcdef0123456789abcdef, url: "` + srv.URL + `/pd"}
  route: {receiver: hook}
`
	if err := os.WriteFile(cfg, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}

	var out, errOut bytes.Buffer
	if code := alertingCmd([]string{"send-test", "-config", cfg, "hook"}, &out, &errOut); code != 0 {
		t.Fatalf("send-test: exit %d, %q %q", code, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "hook (webhook): test notification send-test-") {
		t.Errorf("stdout %q", out.String())
	}
	r := <-reqs
	if !receiver.VerifySignature("s3cr3t-hmac", r.hdr.Get(receiver.HeaderTimestamp), r.body, r.hdr.Get(receiver.HeaderSignature), time.Now(), time.Minute) {
		t.Errorf("bad signature %q", r.hdr.Get(receiver.HeaderSignature))
	}
	var n notify.Notification
	if err := json.Unmarshal(r.body, &n); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	if n.Receiver != "hook" || n.Status != notify.StatusFiring || n.GroupKey != "send-test/hook" ||
		len(n.Alerts) != 1 || n.Alerts[0].Entity.Site != "lab" || n.Title == "" {
		t.Errorf("notification %+v", n)
	}

	// PagerDuty succeeds on 202 only: a 200 is reported as a failure, and so is a 500.
	for _, st := range []int{http.StatusOK, http.StatusInternalServerError} {
		status = st
		out.Reset()
		errOut.Reset()
		code := alertingCmd([]string{"send-test", "-config", cfg, "pager"}, &out, &errOut)
		<-reqs
		if code != 1 || !strings.Contains(errOut.String(), "pager (pagerduty): failed:") || strings.Contains(errOut.String(), "0123456789abcdef") {
			t.Errorf("status %d: exit %d, %q %q", st, code, out.String(), errOut.String())
		}
	}
	status = http.StatusAccepted
	out.Reset()
	if code := alertingCmd([]string{"send-test", "-config", cfg, "pager"}, &out, &errOut); code != 0 {
		t.Errorf("pagerduty 202: exit %d, %q", code, errOut.String())
	}
	<-reqs

	for _, tc := range []struct {
		args   []string
		code   int
		errOut string
	}{
		{[]string{"send-test", "-config", cfg, "nobody"}, 1, `unknown receiver "nobody" (have hook, pager)`},
		{[]string{"send-test", "-config", cfg}, 2, "usage:"},
		{[]string{"send-test", "hook"}, 1, "-config FILE is required"},
	} {
		out.Reset()
		errOut.Reset()
		if code := alertingCmd(tc.args, &out, &errOut); code != tc.code || !strings.Contains(errOut.String(), tc.errOut) {
			t.Errorf("%v: exit %d, %q", tc.args, code, errOut.String())
		}
	}
}
