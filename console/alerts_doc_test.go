package console

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// docRules are the rules of the docs' /api/v1/rules example.
var docRules = fakeRules{
	{Name: "port_scan_vertical", Title: "Vertical port scan", Level: "high", Category: "security",
		Tags: []string{"attack.discovery", "attack.t1046"}, Kinds: []string{"flow"}, Hits: 3,
		LastHit: testNow.Add(-3 * time.Minute), File: "rules/security/port_scan.yaml"},
	{Name: "device_unreachable", Title: "Device unreachable", Level: "critical", Category: "availability",
		Kinds: []string{"event"}, Hits: 1, LastHit: testNow.Add(-12 * time.Minute), File: "rules/noc/device.yaml"},
}

// curlArgs splits a shell command line of the docs: words, '…' and "…" quoting, and
// backslash-newline continuations.
func curlArgs(cmd string) []string {
	cmd = strings.ReplaceAll(cmd, "\\\n", " ")
	var args []string
	var cur strings.Builder
	in, quote, inWord := false, byte(0), false
	for i := 0; i < len(cmd); i++ {
		ch := cmd[i]
		switch {
		case in && ch == quote:
			in = false
		case in:
			cur.WriteByte(ch)
		case ch == '\'' || ch == '"':
			in, quote, inWord = true, ch, true
		case ch == ' ' || ch == '\n' || ch == '\t':
			if inWord {
				args = append(args, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	if inWord {
		args = append(args, cur.String())
	}
	return args
}

// Every example of the Alerts section of docs/api.md is run, in order, against a console
// over the fake correlator of testAlerts; each answer must be the JSON shown after it (or,
// with none shown, an empty 2xx).
func TestAlertsDocExamples(t *testing.T) {
	doc, err := os.ReadFile("../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	sec := string(doc)
	i := strings.Index(sec, "\n## Alerts")
	if i < 0 {
		t.Fatal("docs/api.md has no Alerts section")
	}
	sec = sec[i+1:]
	if j := strings.Index(sec, "\n## "); j >= 0 {
		sec = sec[:j]
	}
	examples := regexp.MustCompile("(?s)```sh\\n(curl .*?)```\\n+(?:```json\\n(.*?)```)?").FindAllStringSubmatch(sec, -1)
	if len(examples) < 5 {
		t.Fatalf("the Alerts section has %d curl examples, want at least 5", len(examples))
	}
	fa := newFakeAlerts(testAlerts(testNow)...)
	_, srv := newAlertServer(t, fa, docRules)
	for _, ex := range examples {
		args := curlArgs(ex[1])
		method, body, target := "GET", "", ""
		for k := 1; k < len(args); k++ {
			switch args[k] {
			case "-X":
				k++
				method = args[k]
			case "-d":
				k++
				body = args[k]
				if method == "GET" {
					method = "POST"
				}
			case "-H", "-s":
				if args[k] == "-H" {
					k++
				}
			default:
				target = args[k]
			}
		}
		path, ok := strings.CutPrefix(target, "http://127.0.0.1:8080")
		if !ok {
			t.Errorf("example %q: no URL of the console", ex[1])
			continue
		}
		code, got := do(t, method, srv+path, body)
		if ex[2] == "" {
			if code/100 != 2 || len(got) != 0 {
				t.Errorf("%s %s: %d %s, want an empty 2xx", method, path, code, got)
			}
			continue
		}
		if code/100 != 2 {
			t.Errorf("%s %s: %d %s", method, path, code, got)
			continue
		}
		var gotV, wantV any
		if err := json.Unmarshal([]byte(ex[2]), &wantV); err != nil {
			t.Errorf("%s %s: the example is not JSON: %v", method, path, err)
			continue
		}
		json.Unmarshal(got, &gotV)
		gb, _ := json.Marshal(gotV)
		wb, _ := json.Marshal(wantV)
		if !bytes.Equal(gb, wb) {
			var pretty bytes.Buffer
			json.Indent(&pretty, got, "", "  ")
			t.Errorf("%s %s: the docs differ from the answer\n got %s\nwant %s\n%s", method, path, gb, wb, pretty.String())
		}
	}
}
