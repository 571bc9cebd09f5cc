package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/watchfloor/watchfloor"
)

// fakeObs remembers the queries it was asked and answers a fixed list, however long.
type fakeObs struct {
	mu     sync.Mutex
	qs     []ObsQuery
	answer []ObsView
}

func (f *fakeObs) Recent(q ObsQuery) []ObsView {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.qs = append(f.qs, q)
	return f.answer
}

func newObsServer(t *testing.T, obs Observations) (*Console, string, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	c, err := newConsole(Config{}, Deps{Store: testStore(), Token: testToken, Site: "lab", Registerer: reg, Gatherer: reg, Observations: obs},
		func() time.Time { return testNow })
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.Handler())
	t.Cleanup(func() { c.hub.close(time.Second); srv.Close() })
	return c, srv.URL, reg
}

func TestObservationsParams(t *testing.T) {
	fake := &fakeObs{}
	_, srv, _ := newObsServer(t, fake)
	pfx := netip.MustParsePrefix
	for _, tc := range []struct {
		query string
		code  int
		want  ObsQuery // asked when code is 200
		msg   string   // in the error otherwise
	}{
		{query: "", code: 200, want: ObsQuery{Limit: 100}},
		{query: "kind=dns.query", code: 200, want: ObsQuery{Kinds: []watchfloor.ObsKind{watchfloor.ObsDNSQuery}, Limit: 100}},
		{query: "kind=tcp.syn,tcp.rst,+tcp.half_open", code: 200,
			want: ObsQuery{Kinds: []watchfloor.ObsKind{watchfloor.ObsTCPSyn, watchfloor.ObsTCPRst, watchfloor.ObsHalfOpen}, Limit: 100}},
		{query: "src=10.20.1.5&dst=203.0.113.0/24", code: 200, want: ObsQuery{Src: pfx("10.20.1.5/32"), Dst: pfx("203.0.113.0/24"), Limit: 100}},
		{query: "src=10.20.1.77/16", code: 200, want: ObsQuery{Src: pfx("10.20.0.0/16"), Limit: 100}},
		{query: "src=::ffff:10.0.0.1&dst=2001:db8::/32", code: 200, want: ObsQuery{Src: pfx("10.0.0.1/32"), Dst: pfx("2001:db8::/32"), Limit: 100}},
		{query: "src=::ffff:10.20.0.0/112&dst=::ffff:0:0/95", code: 200, want: ObsQuery{Src: pfx("10.20.0.0/16"), Dst: pfx("::fffe:0:0/95"), Limit: 100}},
		{query: "name=Tunnel.Example&source=lab+mirror&since=-15m&limit=1000", code: 200,
			want: ObsQuery{Name: "Tunnel.Example", Source: "lab mirror", Since: testNow.Add(-15 * time.Minute), Limit: 1000}},
		{query: "since=2026-05-04T11:00:00Z&limit=1", code: 200, want: ObsQuery{Since: testNow.Add(-time.Hour), Limit: 1}},
		{query: "kind=dns", code: 400, msg: `kind: "dns" is not one of dns.query, dns.response, tls.client_hello, http.request, tcp.syn, tcp.syn_ack, tcp.rst, icmp, arp, host.traffic, tcp.half_open`},
		{query: "kind=dns.query,", code: 400, msg: `kind: "" is not one of`},
		{query: "kind=DNS.QUERY", code: 400, msg: "kind:"},
		{query: "kind=obs_kind(0)", code: 400, msg: "kind:"},
		{query: "kind=" + strings.Repeat("icmp,", 40), code: 400, msg: "kind: more than 32 kinds"},
		{query: "src=10.20.1", code: 400, msg: `src: "10.20.1" is not an address or prefix`},
		{query: "dst=10.0.0.0/33", code: 400, msg: "dst:"},
		{query: "dst=fe80::1%25eth0", code: 400, msg: "dst:"},
		{query: "src=" + strings.Repeat("1", 200), code: 400, msg: "src: longer than 128"},
		{query: "name=" + strings.Repeat("a", 256), code: 400, msg: "name: longer than 255"},
		{query: "source=" + strings.Repeat("s", 257), code: 400, msg: "source: longer than 256"},
		{query: "since=yesterday", code: 400, msg: `since: time "yesterday"`},
		{query: "limit=0", code: 400, msg: `limit: "0": want 1..1000`},
		{query: "limit=1001", code: 400, msg: "limit:"},
		{query: "limit=-1", code: 400, msg: "limit:"},
		{query: "limit=many", code: 400, msg: "limit:"},
	} {
		before := len(fake.qs)
		resp, body := get(t, srv+"/api/v1/observations?"+tc.query, testToken)
		if resp.StatusCode != tc.code {
			t.Errorf("%q: status %d %s, want %d", tc.query, resp.StatusCode, body, tc.code)
			continue
		}
		if tc.code != 200 {
			var e struct{ Error string }
			if json.Unmarshal(body, &e); !strings.Contains(e.Error, tc.msg) {
				t.Errorf("%q: error %q, want %q", tc.query, e.Error, tc.msg)
			}
			if len(fake.qs) != before {
				t.Errorf("%q: the ring was asked despite the error", tc.query)
			}
			continue
		}
		if len(fake.qs) != before+1 {
			t.Errorf("%q: the ring was asked %d times", tc.query, len(fake.qs)-before)
			continue
		}
		if got := fake.qs[len(fake.qs)-1]; !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: asked %+v, want %+v", tc.query, got, tc.want)
		}
		if string(body) != "{\"observations\":[]}\n" {
			t.Errorf("%q: empty answer %s", tc.query, body)
		}
	}
}

// The endpoint needs the token even without a capture; without one it says so; the
// answer never exceeds the limit whatever the source does; a ring's counters are on /metrics.
func TestObservationsEndpoint(t *testing.T) {
	_, noCap, _ := newObsServer(t, nil)
	for _, tc := range []struct {
		name, srv, token, query string
		code                    int
		msg                     string
	}{
		{"no capture", noCap, testToken, "", 404, "no packet capture configured"},
		{"no capture, bad parameter", noCap, testToken, "?limit=0", 404, "no packet capture configured"},
		{"no capture, no token", noCap, "", "", 401, "missing or invalid bearer token"},
		{"no capture, wrong token", noCap, "nope", "", 401, "missing or invalid bearer token"},
	} {
		resp, body := get(t, tc.srv+"/api/v1/observations"+tc.query, tc.token)
		var e struct{ Error string }
		json.Unmarshal(body, &e)
		if resp.StatusCode != tc.code || e.Error != tc.msg {
			t.Errorf("%s: %d %s, want %d %q", tc.name, resp.StatusCode, body, tc.code, tc.msg)
		}
	}
	// A nil *ObsRing is no capture too, not a panic.
	var nilRing *ObsRing
	_, nilSrv, _ := newObsServer(t, nilRing)
	if resp, _ := get(t, nilSrv+"/api/v1/observations", testToken); resp.StatusCode != 404 {
		t.Errorf("nil ring: %d", resp.StatusCode)
	}

	fake := &fakeObs{answer: make([]ObsView, 50)}
	_, srv, _ := newObsServer(t, fake)
	for _, tc := range []struct{ name, token, query string }{
		{"no token", "", ""}, {"token in the query", "", "?token=" + testToken}, {"no token and a bad parameter", "", "?limit=0"},
	} {
		if resp, _ := get(t, srv+"/api/v1/observations"+tc.query, tc.token); resp.StatusCode != 401 {
			t.Errorf("%s: %d", tc.name, resp.StatusCode)
		}
	}
	if len(fake.qs) != 0 {
		t.Errorf("the ring was asked %d times without a token", len(fake.qs))
	}
	_, body := get(t, srv+"/api/v1/observations?limit=7", testToken)
	var a struct{ Observations []json.RawMessage }
	if err := json.Unmarshal(body, &a); err != nil || len(a.Observations) != 7 {
		t.Errorf("limit=7 over a source answering 50: %d (%v)", len(a.Observations), err)
	}

	// A real ring: newest first, filtered, and its counters on /metrics.
	ring := NewObsRing(0)
	_, rsrv, reg := newObsServer(t, ring)
	var batch []watchfloor.Observation
	for _, n := range []string{"a.example", "b.example", "c.other", "d.example"} {
		batch = append(batch, testObs(watchfloor.ObsDNSQuery, n, "10.20.1.5", "10.20.0.53", testNow))
	}
	batch = append(batch, testObs(watchfloor.ObsTCPSyn, "", "198.51.100.66", "10.20.1.5", testNow))
	ring.Add(batch)
	_, body = get(t, rsrv+"/api/v1/observations?kind=dns.query&name=EXAMPLE&limit=2&src=10.20.0.0/16", testToken)
	if n := names(decodeObs(t, body)); !slices.Equal(n, []string{"d.example", "b.example"}) {
		t.Errorf("answer %q", n)
	}
	if v := metricValue(t, reg, "watchfloor_console_observations_kept_total", map[string]string{"kind": "dns.query"}); v != 4 {
		t.Errorf("kept dns.query on the console's registry: %v", v)
	}
	// The ring is registered on the registry of the console it was given to, not globally.
	if _, err := newConsole(Config{}, Deps{Store: testStore(), Token: testToken, Registerer: prometheus.NewRegistry(), Observations: ring}, time.Now); err != nil {
		t.Errorf("a ring on another registry: %v", err)
	}
}

// The example of docs/api.md is what the endpoint answers for its observations.
func TestObservationsDocExample(t *testing.T) {
	doc, err := os.ReadFile("../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)/api/v1/observations\\?([^\\s']+)'\\n```\\n+```json\\n(.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/api.md has no observations example (a curl line, then a json block)")
	}
	query, want := string(m[1]), m[2]
	a := struct{ Observations []ObsView }{decodeObs(t, want)}
	ring := NewObsRing(0)
	// What the ring held: the example's observations, oldest first, and others the query
	// leaves out.
	for i := len(a.Observations) - 1; i >= 0; i-- {
		v := a.Observations[i]
		ring.Add([]watchfloor.Observation{
			{Time: v.Time, Kind: watchfloor.ObsDNSQuery, SrcAddr: v.Src, DstAddr: v.Dst, Name: []byte("www.example.com"), Source: v.Source},
			{Time: v.Time, Kind: v.Kind, SamplingRate: v.SamplingRate, SrcAddr: v.Src, DstAddr: v.Dst, SrcPort: v.SrcPort, DstPort: v.DstPort,
				Proto: v.Proto, Name: []byte(v.Name), Extra: []byte(v.Extra), DNSType: v.DNSType, DNSRcode: v.DNSRcode,
				DNSAnswers: v.DNSAnswers, DNSEntropy: v.DNSEntropy, HalfOpen: v.HalfOpen, Packets: v.Packets, Bytes: v.Bytes,
				ICMPType: v.ICMPType, ICMPCode: v.ICMPCode, Site: v.Site, Source: v.Source},
		})
	}
	_, srv, _ := newObsServer(t, ring)
	_, got := get(t, srv+"/api/v1/observations?"+query, testToken)
	var gotV, wantV any
	json.Unmarshal(got, &gotV)
	json.Unmarshal(want, &wantV)
	gb, _ := json.Marshal(gotV)
	wb, _ := json.Marshal(wantV)
	if !bytes.Equal(gb, wb) {
		t.Errorf("docs example differs from the answer\n got %s\nwant %s", gb, wb)
	}
}

// decodeObs reads an answer of /api/v1/observations (ObsKind is text in JSON, one way).
func decodeObs(t *testing.T, body []byte) []ObsView {
	t.Helper()
	var a struct {
		Observations []struct {
			ObsView
			Kind string `json:"kind"` // shadows ObsView.Kind
		}
	}
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	out := make([]ObsView, len(a.Observations))
	for i, o := range a.Observations {
		kinds, err := parseObsKinds(o.Kind)
		if err != nil || len(kinds) != 1 {
			t.Fatalf("kind %q: %v", o.Kind, err)
		}
		out[i] = o.ObsView
		out[i].Kind = kinds[0]
	}
	return out
}

// FuzzObsQuery: any query string is accepted within bounds or refused as a bad parameter.
func FuzzObsQuery(f *testing.F) {
	for _, s := range []string{
		"kind=dns.query&src=10.0.0.1&dst=10.0.0.0/8&name=example&since=-1h&limit=50",
		"kind=tcp.syn,tcp.rst", "kind=,", "src=::ffff:1.2.3.4/120", "dst=fe80::1%eth0", "limit=1000", "limit=1001",
		"name=%ff%fe", "since=now-1h", "source=lab+mirror", "src=1.2.3.4/-1", "kind=" + strings.Repeat("icmp,", 32),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		oq, err := obsQuery(q, testNow)
		if err != nil {
			if !errors.Is(err, errBadParam) {
				t.Errorf("%q: error %v is not a bad parameter", raw, err)
			}
			if utf8.ValidString(raw) && !utf8.ValidString(err.Error()) {
				t.Errorf("%q: error is not UTF-8", raw)
			}
			if len(err.Error()) > 400 && !strings.Contains(err.Error(), "is not one of") {
				t.Errorf("%q: error of %d bytes", raw, len(err.Error()))
			}
			return
		}
		if oq.Limit < 1 || oq.Limit > MaxObsLimit {
			t.Errorf("%q: accepted limit %d", raw, oq.Limit)
		}
		if len(oq.Kinds) > maxObsKinds {
			t.Errorf("%q: accepted %d kinds", raw, len(oq.Kinds))
		}
		for _, k := range oq.Kinds {
			if k < 1 || int(k) > obsKinds {
				t.Errorf("%q: accepted kind %d", raw, k)
			}
		}
		for _, p := range []netip.Prefix{oq.Src, oq.Dst} {
			if p.IsValid() && (p != p.Masked() || p.Addr().Is4In6() || p.Addr().Zone() != "") {
				t.Errorf("%q: accepted prefix %v", raw, p)
			}
		}
		if len(oq.Name) > maxObsText || len(oq.Source) > maxObsSourceLen {
			t.Errorf("%q: accepted a long filter", raw)
		}
		// The ring answers any accepted query within bounds.
		if got := fuzzRing.Recent(oq); len(got) > oq.Limit {
			t.Errorf("%q: %d answers over limit %d", raw, len(got), oq.Limit)
		}
	})
}

var fuzzRing = func() *ObsRing {
	r := NewObsRing(0)
	r.Add([]watchfloor.Observation{
		testObs(watchfloor.ObsDNSQuery, "a.example", "10.0.0.1", "10.0.0.53", testNow),
		testObs(watchfloor.ObsTCPSyn, "", "2001:db8::1", "2001:db8::2", testNow),
	})
	return r
}()
