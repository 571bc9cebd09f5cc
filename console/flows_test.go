package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/watchfloor/watchfloor"
)

// flowRows is what the fake store holds: 30 sources (unsorted, so that the console's own
// ranking shows), a few ports.
func flowRows() []watchfloor.FlowRow {
	var rows []watchfloor.FlowRow
	for i := range 30 {
		n := uint64((i*7)%30 + 1) // 1..30, shuffled
		rows = append(rows, watchfloor.FlowRow{By: watchfloor.FlowBySrc, Device: "core1",
			Key: fmt.Sprintf("192.0.2.%d", n), Bytes: n * 1_125_000, Packets: (31 - n) * 900, Flows: n})
	}
	rows = append(rows,
		watchfloor.FlowRow{By: watchfloor.FlowByPort, Device: "core1", Key: "tcp/443", Bytes: 9e9, Packets: 7e6, Flows: 1200},
		watchfloor.FlowRow{By: watchfloor.FlowByPort, Device: "dist1", Key: "udp/53", Bytes: 2e6, Packets: 2e4, Flows: 800},
	)
	return rows
}

type flowTopAnswer struct {
	By      string       `json:"by"`
	From    time.Time    `json:"from"`
	To      time.Time    `json:"to"`
	Seconds float64      `json:"seconds"`
	Order   string       `json:"order"`
	Rows    []flowTopRow `json:"rows"`
}

func TestFlowTopParams(t *testing.T) {
	store := testStore()
	store.flowRows = flowRows()
	_, srv, _ := newTestServer(t, Config{}, store)
	q15 := watchfloor.FlowTopQuery{By: "src", From: testNow.Add(-15 * time.Minute), To: testNow, Limit: 10, OrderBy: "bytes"}
	for _, tc := range []struct {
		query string
		code  int
		want  watchfloor.FlowTopQuery // asked of the store when code is 200
		msg   string                  // in the error otherwise
	}{
		{query: "by=src", code: 200, want: q15},
		{query: "by=src&order=bytes&limit=10&from=-15m&to=now", code: 200, want: q15},
		{query: "by=interface&from=-1h&to=now-5m&limit=2&order=packets&site=north&device=core1&interface=ge-0/0/1", code: 200,
			want: watchfloor.FlowTopQuery{By: "interface", From: testNow.Add(-time.Hour), To: testNow.Add(-5 * time.Minute), Limit: 2,
				OrderBy: "packets", Site: "north", Device: "core1", Interface: "ge-0/0/1"}},
		{query: "by=interface&from=2026-05-04T11:00:00Z&to=2026-05-04T11:30:00%2B00:00&limit=1000", code: 200,
			want: watchfloor.FlowTopQuery{By: "interface", From: testNow.Add(-time.Hour), To: testNow.Add(-30 * time.Minute), Limit: 1000, OrderBy: "bytes"}},
		{query: "by=pair&from=1777895100", code: 200,
			want: watchfloor.FlowTopQuery{By: "pair", From: testNow.Add(-15 * time.Minute), To: testNow, Limit: 10, OrderBy: "bytes"}},
		{query: "by=dst_as&to=-1h", code: 200,
			want: watchfloor.FlowTopQuery{By: "dst_as", From: testNow.Add(-75 * time.Minute), To: testNow.Add(-time.Hour), Limit: 10, OrderBy: "bytes"}},
		{query: "", code: 400, msg: "by: missing; want one of src, dst, pair, port, proto, as, dst_as, interface"},
		{query: "by=host", code: 400, msg: `by: "host" is not one of src, dst, pair, port, proto, as, dst_as, interface`},
		{query: "by=SRC", code: 400, msg: "by:"},
		{query: "by=src&limit=0", code: 400, msg: "limit: \"0\": want 1..1000"},
		{query: "by=src&limit=1001", code: 400, msg: "limit"},
		{query: "by=src&limit=ten", code: 400, msg: "limit"},
		{query: "by=src&limit=-5", code: 400, msg: "limit"},
		{query: "by=src&order=flows", code: 400, msg: `order: "flows" is not one of bytes, packets`},
		{query: "by=src&from=yesterday", code: 400, msg: `from: time "yesterday"`},
		{query: "by=src&to=-1x", code: 400, msg: "to: relative time"},
		{query: "by=src&from=now&to=-1h", code: 400, msg: "from: must be before to"},
		{query: "by=src&from=0", code: 400, msg: "range longer than"},
		{query: "by=src&device=" + strings.Repeat("d", 257), code: 400, msg: "device: longer than 256"},
		{query: "by=src&site=" + strings.Repeat("s", 257), code: 400, msg: "site: longer than 256"},
		{query: "by=interface&interface=" + strings.Repeat("i", 257), code: 400, msg: "interface: longer than 256"},
		{query: "by=src&interface=7", code: 400, msg: "interface: only with by=interface"},
		{query: "by=" + strings.Repeat("x", 100), code: 400, msg: "…\" is not one of"},
	} {
		resp, body := get(t, srv.URL+"/api/v1/flows/top?"+tc.query, testToken)
		if resp.StatusCode != tc.code {
			t.Errorf("%q: status %d, want %d: %s", tc.query, resp.StatusCode, tc.code, body)
			continue
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%q: content type %q", tc.query, ct)
		}
		if tc.code != 200 {
			var e struct{ Error string }
			if json.Unmarshal(body, &e); !strings.Contains(e.Error, tc.msg) {
				t.Errorf("%q: error %q lacks %q", tc.query, e.Error, tc.msg)
			}
			continue
		}
		got := store.lastFlowQuery()
		if got.By != tc.want.By || !got.From.Equal(tc.want.From) || !got.To.Equal(tc.want.To) || got.Limit != tc.want.Limit ||
			got.OrderBy != tc.want.OrderBy || got.Site != tc.want.Site || got.Device != tc.want.Device || got.Interface != tc.want.Interface {
			t.Errorf("%q: store asked %+v\nwant %+v", tc.query, got, tc.want)
		}
		var a flowTopAnswer
		if err := json.Unmarshal(body, &a); err != nil {
			t.Fatalf("%q: %v: %s", tc.query, err, body)
		}
		if a.By != string(tc.want.By) || !a.From.Equal(tc.want.From) || !a.To.Equal(tc.want.To) || a.Order != tc.want.OrderBy ||
			a.Seconds != tc.want.To.Sub(tc.want.From).Seconds() {
			t.Errorf("%q: answer header %+v", tc.query, a)
		}
		if a.Rows == nil || len(a.Rows) > tc.want.Limit {
			t.Errorf("%q: %d rows for limit %d", tc.query, len(a.Rows), tc.want.Limit)
		}
	}
	if n := len(store.flowQs); n != 6 {
		t.Errorf("the store was asked %d times, want 6 (never for a bad request)", n)
	}
}

// The rows are ranked by the order asked, cut at the limit, with rates averaged over the
// range; none is [] and a store error is a 500 that does not leak the cause.
func TestFlowTopRows(t *testing.T) {
	store := testStore()
	store.flowRows = flowRows()
	_, srv, _ := newTestServer(t, Config{}, store)
	top := func(query string) flowTopAnswer {
		t.Helper()
		resp, body := get(t, srv.URL+"/api/v1/flows/top?"+query, testToken)
		if resp.StatusCode != 200 {
			t.Fatalf("%q: %d %s", query, resp.StatusCode, body)
		}
		var a flowTopAnswer
		if err := json.Unmarshal(body, &a); err != nil {
			t.Fatal(err)
		}
		return a
	}
	a := top("by=src")
	if len(a.Rows) != 10 {
		t.Fatalf("%d rows, want the default 10", len(a.Rows))
	}
	// 192.0.2.30 sent 33,750,000 bytes in 15 minutes: 300,000 bit/s; 900 packets: 1 packet/s.
	if r := a.Rows[0]; r != (flowTopRow{Key: "192.0.2.30", Device: "core1", Bytes: 33_750_000, Packets: 900, Flows: 30, Bps: 300_000, Pps: 1}) {
		t.Errorf("first row %+v", r)
	}
	for i := 1; i < len(a.Rows); i++ {
		if a.Rows[i].Bytes > a.Rows[i-1].Bytes {
			t.Errorf("row %d has more bytes than row %d", i, i-1)
		}
	}
	a = top("by=src&order=packets&limit=3&from=-1m")
	if keys := []string{a.Rows[0].Key, a.Rows[1].Key, a.Rows[2].Key}; !slices.Equal(keys, []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"}) {
		t.Errorf("by packets: %v", keys)
	}
	if r := a.Rows[0]; r.Packets != 27000 || r.Pps != 450 || r.Bps != 150_000 {
		t.Errorf("over a minute: %+v", r)
	}
	if a = top("by=src&limit=1000"); len(a.Rows) != 30 {
		t.Errorf("%d rows with limit 1000, want all 30", len(a.Rows))
	}
	_, body := get(t, srv.URL+"/api/v1/flows/top?by=proto", testToken)
	if !bytes.Contains(body, []byte(`"rows":[]`)) {
		t.Errorf("no rows: %s", body)
	}
	store.flowErr = errors.New("bolt: database not open")
	resp, body := get(t, srv.URL+"/api/v1/flows/top?by=src", testToken)
	if resp.StatusCode != 500 || bytes.Contains(body, []byte("bolt")) {
		t.Errorf("store error: %d %s", resp.StatusCode, body)
	}
}

// The flow endpoint needs the token like every other.
func TestFlowTopAuth(t *testing.T) {
	store := testStore()
	_, srv, _ := newTestServer(t, Config{}, store)
	for _, tc := range []struct {
		name, token, query string
		code               int
	}{
		{"no token", "", "", 401},
		{"wrong token", "nope", "", 401},
		{"token in the query", "", "&token=" + testToken, 401},
		{"no token and a bad parameter", "", "&limit=0", 401},
		{"token", testToken, "", 200},
	} {
		resp, body := get(t, srv.URL+"/api/v1/flows/top?by=src"+tc.query, tc.token)
		if resp.StatusCode != tc.code {
			t.Errorf("%s: %d %s", tc.name, resp.StatusCode, body)
		}
	}
	if len(store.flowQs) != 1 {
		t.Errorf("the store was asked %d times", len(store.flowQs))
	}
}

// The example answer of docs/api.md is what the endpoint answers for its rows.
func TestFlowTopDocExample(t *testing.T) {
	doc, err := os.ReadFile("../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)/api/v1/flows/top\\?([^\\s']+)'\\n```\\n+```json\\n(.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/api.md has no flows/top example (a curl line, then a json block)")
	}
	query, want := string(m[1]), m[2]
	var a flowTopAnswer
	if err := json.Unmarshal(want, &a); err != nil {
		t.Fatalf("the example is not JSON: %v", err)
	}
	store := testStore()
	for _, r := range a.Rows {
		store.flowRows = append(store.flowRows, watchfloor.FlowRow{By: watchfloor.FlowDim(a.By), Device: r.Device, Key: r.Key,
			Bytes: r.Bytes, Packets: r.Packets, Flows: r.Flows})
	}
	c, _ := newTestConsole(t, Config{}, store)
	c.now = func() time.Time { return a.To }
	srv := newServer(t, c.Handler())
	_, got := get(t, srv+"/api/v1/flows/top?"+query, testToken)
	var gotV, wantV any
	json.Unmarshal(got, &gotV)
	json.Unmarshal(want, &wantV)
	gb, _ := json.Marshal(gotV)
	wb, _ := json.Marshal(wantV)
	if !bytes.Equal(gb, wb) {
		t.Errorf("docs example differs from the answer\n got %s\nwant %s", gb, wb)
	}
}

func FuzzFlowTopQuery(f *testing.F) {
	for _, s := range []string{
		"by=src", "by=interface&from=-1h&to=now&limit=20&order=packets&site=a&device=b&interface=7", "by=port&interface=ae0",
		"by=interface&limit=1000", "by=nope", "by=src&limit=99999999999999999999", "by=src&order=", "by=%ff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		fq, err := flowTopQuery(q, testNow)
		if err != nil {
			if !errors.Is(err, errBadParam) {
				t.Errorf("%q: error %v is not a bad parameter", raw, err)
			}
			if utf8.ValidString(raw) && !utf8.ValidString(err.Error()) {
				t.Errorf("%q: error is not UTF-8", raw)
			}
			return
		}
		if !slices.Contains(watchfloor.FlowDims, fq.By) {
			t.Errorf("%q: accepted by %q", raw, fq.By)
		}
		if fq.Limit < 1 || fq.Limit > maxFlowLimit {
			t.Errorf("%q: accepted limit %d", raw, fq.Limit)
		}
		if fq.OrderBy != "bytes" && fq.OrderBy != "packets" {
			t.Errorf("%q: accepted order %q", raw, fq.OrderBy)
		}
		if !fq.From.Before(fq.To) || fq.To.Sub(fq.From) > maxRange {
			t.Errorf("%q: accepted range %v..%v", raw, fq.From, fq.To)
		}
		if fq.Interface != "" && fq.By != watchfloor.FlowByInterface {
			t.Errorf("%q: accepted an interface filter with by=%s", raw, fq.By)
		}
		if len(fq.Site) > maxFlowFilterLen || len(fq.Device) > maxFlowFilterLen || len(fq.Interface) > maxFlowFilterLen {
			t.Errorf("%q: accepted a long filter", raw)
		}
	})
}

// testRollup is a minute of traffic seen by two exporters.
func testRollup(start time.Time) watchfloor.FlowRollup {
	r := watchfloor.FlowRollup{Site: "lab", Start: start, Step: time.Minute,
		Totals: watchfloor.FlowTotals{Bytes: 1_500_000_000, Packets: 1_200_000, Flows: 4000, Overflow: 12}}
	for i := range 14 {
		b := uint64(14-i) * 7_500_000 // 14 MB … 1 MB a minute: 14 … 1 Mbit/s
		r.Rows = append(r.Rows,
			watchfloor.FlowRow{By: watchfloor.FlowBySrc, Device: "core1", Key: fmt.Sprintf("10.0.0.%d", i+1), Bytes: b, Packets: b / 1000, Flows: 3},
			watchfloor.FlowRow{By: watchfloor.FlowByDst, Device: "core1", Key: fmt.Sprintf("198.51.100.%d", i+1), Bytes: b / 2, Packets: b / 2000, Flows: 2},
		)
	}
	// The same source seen by a second exporter, less of it: counted once, at core1.
	r.Rows = append(r.Rows, watchfloor.FlowRow{By: watchfloor.FlowBySrc, Device: "dist1", Key: "10.0.0.1", Bytes: 1_000, Packets: 1, Flows: 1})
	// A source only dist1 saw, busier there than anything core1 saw.
	r.Rows = append(r.Rows, watchfloor.FlowRow{By: watchfloor.FlowBySrc, Device: "dist1", Key: "10.9.9.9", Bytes: 750_000_000, Packets: 500_000, Flows: 1})
	r.Rows = append(r.Rows,
		watchfloor.FlowRow{By: watchfloor.FlowByPort, Device: "core1", Key: "tcp/443", Bytes: 600_000_000, Packets: 450_000, Flows: 900},
		watchfloor.FlowRow{By: watchfloor.FlowByPort, Device: "core1", Key: "udp/53", Bytes: 3_000_000, Packets: 30_000, Flows: 2000},
		watchfloor.FlowRow{By: watchfloor.FlowByPair, Device: "core1", Key: "10.0.0.1 → 198.51.100.1", Bytes: 1},
	)
	r.Interfaces = []watchfloor.IfTraffic{
		{Device: "core1", IfIndex: 1, Interface: "Gi0/1", SpeedBps: 1e9, InBytes: 4_500_000_000, OutBytes: 1_500_000_000},
		{Device: "core1", IfIndex: 2, Interface: "Gi0/2", InBytes: 0, OutBytes: 0}, // no traffic: not sent
		{Device: "dist1", IfIndex: 3, Interface: "Gi0/3", InBytes: 75_000, OutBytes: 150_000},
	}
	return r
}

// flowsMessage is a flows message or the flows of a snapshot.
type flowsMessage struct {
	Type  string       `json:"type"`
	Flows *flowSummary `json:"flows"`
}

func readFlows(t *testing.T, conn *websocket.Conn) flowsMessage {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, b, err := conn.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var m flowsMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return m
}

// A rollup becomes a small flows message: the top 10 of sources, destinations and ports
// with their rates, and the interfaces that carried traffic.
func TestSummarizeFlows(t *testing.T) {
	s := summarizeFlows(testRollup(testNow), 60, false)
	if len(s.Src) != 10 || len(s.Dst) != 10 || len(s.Port) != 2 {
		t.Fatalf("%d sources, %d destinations, %d ports", len(s.Src), len(s.Dst), len(s.Port))
	}
	if s.Src[0] != (flowRate{Key: "10.9.9.9", Device: "dist1", Devices: 1, Bps: 100e6, Pps: 8333.333}) {
		t.Errorf("first source %+v", s.Src[0])
	}
	if s.Src[1] != (flowRate{Key: "10.0.0.1", Device: "core1", Devices: 2, Bps: 14e6, Pps: 1750}) {
		t.Errorf("second source %+v (seen by two exporters, counted once)", s.Src[1])
	}
	if s.Src[9].Key != "10.0.0.9" || s.Dst[0].Bps != 7e6 || s.Port[0].Key != "tcp/443" || s.Port[0].Bps != 80e6 {
		t.Errorf("ranking: %+v %+v %+v", s.Src[9], s.Dst[0], s.Port[0])
	}
	want := []ifRate{
		{Device: "core1", IfIndex: 1, Interface: "Gi0/1", SpeedBps: 1e9, InBps: 600e6, OutBps: 200e6},
		{Device: "dist1", IfIndex: 3, Interface: "Gi0/3", InBps: 10_000, OutBps: 20_000},
	}
	if !slices.Equal(s.Interfaces, want) {
		t.Errorf("interfaces %+v", s.Interfaces)
	}
	if s.Totals != (flowTotalRate{Bps: 200e6, Pps: 20_000, Flows: 4000, Overflow: 12}) {
		t.Errorf("totals %+v", s.Totals)
	}
	// A minute with nothing in it.
	e := summarizeFlows(watchfloor.FlowRollup{Start: testNow, Step: time.Minute}, 60, false)
	b, _ := json.Marshal(e)
	if !bytes.Contains(b, []byte(`"src":[],"dst":[],"port":[],"interfaces":[]`)) {
		t.Errorf("empty summary %s", b)
	}
}

// However large the rollup, the message stays small.
func TestFlowsMessageBounded(t *testing.T) {
	r := watchfloor.FlowRollup{Site: "lab", Start: testNow, Step: time.Minute}
	for i := range 20000 {
		dim := watchfloor.FlowDims[i%len(watchfloor.FlowDims)]
		r.Rows = append(r.Rows, watchfloor.FlowRow{By: dim, Device: fmt.Sprintf("edge-%d", i%4),
			Key: fmt.Sprintf("2001:db8::%x", i), Bytes: uint64(i) * 1000, Packets: uint64(i), Flows: 1})
	}
	for i := range 5000 {
		r.Interfaces = append(r.Interfaces, watchfloor.IfTraffic{Device: fmt.Sprintf("access-%03d", i/48),
			IfIndex: uint32(i%48 + 1), Interface: fmt.Sprintf("GigabitEthernet1/0/%d", i%48+1), InBytes: uint64(i) * 1e4, OutBytes: 1})
	}
	s := summarizeFlows(r, 60, false)
	b, _ := json.Marshal(flowsMsg{Type: "flows", Flows: s})
	t.Logf("a rollup of %d rows and %d interfaces: a %d-byte message", len(r.Rows), len(r.Interfaces), len(b))
	if len(b) > 48<<10 {
		t.Errorf("message of %d bytes", len(b))
	}
	if len(s.Interfaces) != wallFlowIfs || s.MoreInterfaces != 5000-wallFlowIfs || s.Interfaces[0].InBps < s.Interfaces[1].InBps {
		t.Errorf("%d interfaces, %d more, first %+v", len(s.Interfaces), s.MoreInterfaces, s.Interfaces[0])
	}
	if len(s.Src) != wallFlowTop || s.Src[0].Key != "2001:db8::4e18" {
		t.Errorf("sources %+v", s.Src[:1])
	}
}

func TestPickFlows(t *testing.T) {
	at := func(min int, secs float64) *flowSummary {
		return &flowSummary{Start: testNow.Add(time.Duration(min) * time.Minute), Seconds: secs, step: time.Minute}
	}
	closed0 := at(0, 60)
	for _, tc := range []struct {
		name         string
		closed, live *flowSummary
		want         *flowSummary
	}{
		{"nothing", nil, nil, nil},
		{"closed only", closed0, nil, closed0},
		{"live only", nil, at(1, 3), nil}, // want is the live one: set below
		{"live of the next minute, young", closed0, at(1, 5), closed0},
		{"live of the next minute, 15 s", closed0, at(1, 15), nil},
		{"live of the same minute", closed0, at(0, 45), closed0},
		{"live older than closed", closed0, at(-1, 59), closed0},
		{"closed minute missing", closed0, at(2, 3), nil},
	} {
		want := tc.want
		if want == nil && tc.live != nil {
			want = tc.live
		}
		if got := pickFlows(tc.closed, tc.live); got != want {
			t.Errorf("%s: picked %+v, want %+v", tc.name, got, want)
		}
	}
}

// The stream carries flows: the snapshot the latest shown, then a delta each time what the
// wall should show changes.
func TestStreamFlows(t *testing.T) {
	c, srv, reg := newTestServer(t, Config{}, testStore())
	conn, _, err := dial(t, srv.URL, "", authHeader())
	if err != nil {
		t.Fatal(err)
	}
	if m := readFlows(t, conn); m.Type != "snapshot" || m.Flows != nil {
		t.Fatalf("first snapshot flows %+v", m.Flows)
	}
	minute := testNow.Truncate(time.Minute).Add(-time.Minute)
	c.PublishFlows(testRollup(minute))
	m := readFlows(t, conn)
	if m.Type != "flows" || m.Flows.Live || m.Flows.Seconds != 60 || !m.Flows.Start.Equal(minute) || len(m.Flows.Src) != 10 ||
		m.Flows.Src[0].Key != "10.9.9.9" || m.Flows.Src[0].Bps != 100e6 || len(m.Flows.Interfaces) != 2 {
		t.Fatalf("flows delta %+v", m.Flows)
	}
	// The next minute, 5 s in: too short to show; 20 s in: shown, with rates over 20 s.
	next := testRollup(minute.Add(time.Minute))
	c.PublishFlowsLive(next, minute.Add(time.Minute+5*time.Second))
	c.PublishStats(Stats{Time: testNow})
	if m := readFlows(t, conn); m.Type != "stats" {
		t.Fatalf("a young live rollup was sent: %+v", m)
	}
	c.PublishFlowsLive(next, minute.Add(time.Minute+20*time.Second))
	m = readFlows(t, conn)
	if m.Type != "flows" || !m.Flows.Live || m.Flows.Seconds != 20 || m.Flows.Src[0].Bps != 300e6 {
		t.Fatalf("live delta %+v", m.Flows)
	}
	// A new client gets it in its snapshot.
	conn2, _, err := dial(t, srv.URL, "", authHeader())
	if err != nil {
		t.Fatal(err)
	}
	if s := readFlows(t, conn2); s.Type != "snapshot" || s.Flows == nil || !s.Flows.Live || s.Flows.Seconds != 20 || len(s.Flows.Port) != 2 {
		t.Fatalf("snapshot flows %+v", s.Flows)
	}
	// An old minute arriving late changes nothing; the closed next minute replaces the live.
	c.PublishFlows(testRollup(minute.Add(-time.Minute)))
	c.PublishFlows(next)
	for _, cl := range []*websocket.Conn{conn, conn2} {
		if m := readFlows(t, cl); m.Type != "flows" || m.Flows.Live || !m.Flows.Start.Equal(next.Start) || m.Flows.Seconds != 60 {
			t.Fatalf("closed delta %+v", m.Flows)
		}
	}
	// A rollup without a step is refused and counted.
	c.PublishFlows(watchfloor.FlowRollup{Start: testNow})
	if got := metricValue(t, reg, "watchfloor_console_flow_rollups_ignored_total", map[string]string{"reason": "invalid"}); got != 1 {
		t.Errorf("ignored invalid = %v", got)
	}
	if got := metricValue(t, reg, "watchfloor_console_flow_rollups_ignored_total", map[string]string{"reason": "old"}); got != 1 {
		t.Errorf("ignored old = %v", got)
	}
	if got := metricValue(t, reg, "watchfloor_console_flow_rollups_total", map[string]string{"kind": "live"}); got != 2 {
		t.Errorf("live rollups = %v", got)
	}
	if got := metricValue(t, reg, "watchfloor_console_flow_rollups_total", map[string]string{"kind": "closed"}); got != 3 {
		t.Errorf("closed rollups = %v", got)
	}
}

// A client that does not read is dropped while flows keep coming; publishing never waits and
// a reading client gets every flows delta.
func TestSlowClientFlows(t *testing.T) {
	c, srv, reg := newTestServer(t, Config{SendQueue: 4}, testStore())
	slow, _, err := dial(t, srv.URL, "?token="+testToken, nil)
	if err != nil {
		t.Fatal(err)
	}
	fast, _, err := dial(t, srv.URL, "", authHeader())
	if err != nil {
		t.Fatal(err)
	}
	readFlows(t, fast) // snapshot
	eventually(t, 5*time.Second, "two clients", func() bool { return c.hub.clientCount() == 2 })
	// Rollups with many busy interfaces make messages of about 30 KB.
	r := testRollup(testNow)
	for i := range 300 {
		r.Interfaces = append(r.Interfaces, watchfloor.IfTraffic{Device: fmt.Sprintf("access-%02d", i/48), IfIndex: uint32(i%48 + 1),
			Interface: fmt.Sprintf("GigabitEthernet1/0/%d", i%48+1), InBytes: uint64(i+1) * 1e6, OutBytes: 1e6})
	}
	var worst, slowest time.Duration
	dropped := false
	i := 0
	for ; i < 2000 && !dropped; i++ {
		r.Start = testNow.Add(time.Duration(i) * time.Minute)
		start := time.Now()
		c.PublishFlows(r)
		worst = max(worst, time.Since(start))
		m := readFlows(t, fast)
		if m.Type != "flows" || !m.Flows.Start.Equal(r.Start) {
			t.Fatalf("fast client got %s of %v, want the minute %v", m.Type, m.Flows.Start, r.Start)
		}
		slowest = max(slowest, time.Since(start))
		dropped = metricValue(t, reg, "watchfloor_console_ws_dropped_total", nil) == 1
	}
	if !dropped {
		t.Fatal("the slow client was never dropped")
	}
	t.Logf("dropped after %d rollups; slowest PublishFlows %v, slowest delivery %v", i, worst, slowest)
	if worst > 100*time.Millisecond || slowest > 200*time.Millisecond {
		t.Errorf("PublishFlows took %v, delivery %v", worst, slowest)
	}
	// The slow client finds its connection closed once it reads what was buffered.
	slow.SetReadDeadline(time.Now().Add(10 * time.Second))
	var rerr error
	for rerr == nil {
		_, _, rerr = slow.ReadMessage()
	}
	var ne net.Error
	if errors.As(rerr, &ne) && ne.Timeout() {
		t.Errorf("slow client was not disconnected: %v", rerr)
	}
}

// BenchmarkPublishFlows ranks and encodes a large rollup (20,000 rows, 5,000 interfaces)
// and queues it for one client, as the appliance does every 5 s.
func BenchmarkPublishFlows(b *testing.B) {
	r := watchfloor.FlowRollup{Site: "lab", Start: testNow, Step: time.Minute}
	for i := range 20000 {
		r.Rows = append(r.Rows, watchfloor.FlowRow{By: watchfloor.FlowDims[i%len(watchfloor.FlowDims)], Device: fmt.Sprintf("edge-%d", i%4),
			Key: fmt.Sprintf("2001:db8::%x", i), Bytes: uint64(i) * 1000, Packets: uint64(i), Flows: 1})
	}
	for i := range 5000 {
		r.Interfaces = append(r.Interfaces, watchfloor.IfTraffic{Device: fmt.Sprintf("access-%03d", i/48), IfIndex: uint32(i%48 + 1), InBytes: uint64(i) * 1e4})
	}
	c, _ := newTestConsole(b, Config{}, testStore())
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r.Start = testNow.Add(time.Duration(i) * time.Minute)
		c.PublishFlows(r)
	}
}
