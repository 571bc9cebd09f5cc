package rules

import (
	"strings"
	"testing"
	"time"
)

func TestLoadTestFile(t *testing.T) {
	tf, errs := LoadTestFile("testdata/good/scan_test.yaml")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if len(tf.Set.Rules) != 16 || len(tf.Tests) != 2 {
		t.Fatalf("%d rules, %d tests", len(tf.Set.Rules), len(tf.Tests))
	}
	// The inline list replaces the directory's.
	if l := tf.Set.Lists.Get("spamhaus_drop"); l.Len != 1 || l.File != "testdata/good/scan_test.yaml" {
		t.Errorf("inline list %+v", l)
	}
	tc := tf.Tests[0]
	if tc.Records() != 121 || len(tc.Expect) != 1 || tc.ExpectNone[0].Name != "bad_address_out" {
		t.Errorf("case %+v", tc)
	}
	in := tc.Input[1]
	at, vals := in.Instance(119, nil)
	if at != 500*time.Millisecond+119*10*time.Millisecond {
		t.Errorf("time of the last repetition %v", at)
	}
	for _, v := range vals {
		if v.Field.Name == "dst_port" && v.Num != 121 {
			t.Errorf("dst_port of the last repetition %v", v.Num)
		}
		if v.Field.Name == "src_ip" && v.Addr.String() != "198.51.100.7" {
			t.Errorf("src_ip %v", v.Addr)
		}
	}
	e := tc.Expect[0]
	if e.Rule.Name != "port_scan_vertical" || e.At != 2*time.Second || e.Severity.String() != "high" || len(e.Key) != 2 || e.Key[1].Value != "10.20.1.5" || *e.Title == "" {
		t.Errorf("expectation %+v", e)
	}
	if addAddr(mustAddr("10.0.0.255"), 1).String() != "10.0.1.0" || addAddr(mustAddr("2001:db8::ffff"), 1).String() != "2001:db8::1:0" {
		t.Error("addAddr")
	}
}

func TestLoadTestFileErrors(t *testing.T) {
	_, errs := LoadTestFile("testdata/testfile_bad/bad_test.yaml")
	var got []string
	for _, e := range errs {
		got = append(got, strings.TrimPrefix(e.Error(), "testdata/testfile_bad/"))
	}
	want := []string{
		`bad_test.yaml:5:57: tests[0].input[0].dns.query: tcp.syn records have no field dns.query`,
		`bad_test.yaml:6:26: tests[0].input[1].kind: unknown kind "tcp.synn"`,
		`bad_test.yaml:7:9: tests[0].input[2].step: missing: repeat needs the step between records`,
		`bad_test.yaml:7:42: tests[0].input[2].dst_port: dst_port is a number, not "http"`,
		`bad_test.yaml:8:57: tests[0].input[3].vary.direction: vary steps a field of the record: direction is not set`,
		`bad_test.yaml:10:16: tests[0].expect[0].rule: unknown rule "port_scan_vertikal"`,
		`bad_test.yaml:11:49: tests[0].expect[1].key: rule port_scan_vertical's identity is [src_ip, dst_ip]`,
		`bad_test.yaml:11:92: tests[0].expect[1].severity: unknown severity "urgent"`,
		`bad_test.yaml:12:19: tests[0].expect_none[0]: unknown rule "nope"`,
		`bad_test.yaml:13:5: tests[1].name: missing: every test case has a name`,
	}
	if len(got) != len(want) {
		t.Errorf("got %d errors:\n%s", len(got), strings.Join(got, "\n"))
	}
	for i := range min(len(got), len(want)) {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("error %d:\n got %s\nwant %s…", i, got[i], want[i])
		}
	}
}
