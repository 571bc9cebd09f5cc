package console

import (
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/watchfloor/watchfloor"
)

// testObs builds an observation of kind named name.
func testObs(kind watchfloor.ObsKind, name string, src, dst string, at time.Time) watchfloor.Observation {
	o := watchfloor.Observation{Time: at, Kind: kind, SamplingRate: 1, Proto: 17, SrcPort: 53000, DstPort: 53,
		Name: []byte(name), Source: "span0", Site: "lab"}
	if src != "" {
		o.SrcAddr = netip.MustParseAddr(src)
	}
	if dst != "" {
		o.DstAddr = netip.MustParseAddr(dst)
	}
	return o
}

func names(obs []ObsView) []string {
	out := make([]string, len(obs))
	for i, o := range obs {
		out[i] = o.Name
	}
	return out
}

// fixedRing is a ring whose clock stands still unless the test moves it.
func fixedRing(size int, now *time.Time) *ObsRing {
	r := NewObsRing(size)
	r.now = func() time.Time { return *now }
	return r
}

// Each kind has its own bounded ring: the newest stay, the oldest go, and a flood of one
// kind does not push out another.
func TestObsRingBounds(t *testing.T) {
	now := testNow
	r := fixedRing(3*obsKinds, &now) // 3 per kind
	r.SetRate(0)
	r.Add([]watchfloor.Observation{testObs(watchfloor.ObsDNSQuery, "keep.example", "10.0.0.1", "10.0.0.53", now)})
	for i := range 1000 {
		r.Add([]watchfloor.Observation{testObs(watchfloor.ObsTCPSyn, fmt.Sprintf("syn%d", i), "198.51.100.7", "10.0.0.9", now)})
	}
	got := r.Recent(ObsQuery{Limit: MaxObsLimit})
	if want := []string{"syn999", "syn998", "syn997", "keep.example"}; !slices.Equal(names(got), want) {
		t.Errorf("after a SYN flood: %q, want %q", names(got), want)
	}
	for i := range 5 {
		r.Add([]watchfloor.Observation{testObs(watchfloor.ObsDNSQuery, fmt.Sprintf("q%d.example", i), "10.0.0.1", "10.0.0.53", now)})
	}
	got = r.Recent(ObsQuery{Kinds: []watchfloor.ObsKind{watchfloor.ObsDNSQuery}})
	if want := []string{"q4.example", "q3.example", "q2.example"}; !slices.Equal(names(got), want) {
		t.Errorf("dns ring: %q, want %q", names(got), want)
	}
	// Newest first across kinds, in the order they were added.
	got = r.Recent(ObsQuery{Limit: 4})
	if want := []string{"q4.example", "q3.example", "q2.example", "syn999"}; !slices.Equal(names(got), want) {
		t.Errorf("merged: %q, want %q", names(got), want)
	}
	// An empty ring and a size below one per kind.
	if got := NewObsRing(1).Recent(ObsQuery{}); got == nil || len(got) != 0 {
		t.Errorf("empty ring: %#v", got)
	}
	small := NewObsRing(1)
	small.Add([]watchfloor.Observation{testObs(watchfloor.ObsARP, "", "10.0.0.1", "10.0.0.2", now), testObs(watchfloor.ObsARP, "", "10.0.0.3", "10.0.0.4", now)})
	if got := small.Recent(ObsQuery{}); len(got) != 1 || got[0].Src != netip.MustParseAddr("10.0.0.3") {
		t.Errorf("ring of one per kind: %+v", got)
	}
	// Limits: default and maximum.
	r.SetRate(0)
	big := fixedRing(2000*obsKinds, &now)
	big.SetRate(0)
	batch := make([]watchfloor.Observation, 1500)
	for i := range batch {
		batch[i] = testObs(watchfloor.ObsICMP, "", "10.0.0.1", "10.0.0.2", now)
	}
	big.Add(batch)
	if n := len(big.Recent(ObsQuery{})); n != DefaultObsLimit {
		t.Errorf("default limit: %d", n)
	}
	if n := len(big.Recent(ObsQuery{Limit: 5000})); n != MaxObsLimit {
		t.Errorf("limit above the maximum: %d", n)
	}
}

// At most the rate of each kind is kept per second; the rest is counted as skipped.
func TestObsRingRate(t *testing.T) {
	now := testNow
	r := fixedRing(100*obsKinds, &now)
	r.SetRate(2)
	reg := prometheus.NewRegistry()
	reg.MustRegister(r)
	batch := func(kind watchfloor.ObsKind, n int, prefix string) []watchfloor.Observation {
		var b []watchfloor.Observation
		for i := range n {
			b = append(b, testObs(kind, fmt.Sprintf("%s%d", prefix, i), "10.0.0.1", "10.0.0.2", now))
		}
		return b
	}
	r.Add(batch(watchfloor.ObsDNSQuery, 5, "a"))
	r.Add(batch(watchfloor.ObsDNSQuery, 1, "b"))
	r.Add(batch(watchfloor.ObsTLSClientHello, 3, "t"))
	now = now.Add(time.Second)
	r.Add(batch(watchfloor.ObsDNSQuery, 3, "c"))
	r.Add([]watchfloor.Observation{{Kind: 0}, {Kind: watchfloor.ObsKind(200)}})
	got := r.Recent(ObsQuery{Kinds: []watchfloor.ObsKind{watchfloor.ObsDNSQuery}})
	if want := []string{"c1", "c0", "a1", "a0"}; !slices.Equal(names(got), want) {
		t.Errorf("kept %q, want %q", names(got), want)
	}
	for _, tc := range []struct {
		name, kind string
		want       float64
	}{
		{"watchfloor_console_observations_kept_total", "dns.query", 4},
		{"watchfloor_console_observations_skipped_total", "dns.query", 5},
		{"watchfloor_console_observations_kept_total", "tls.client_hello", 2},
		{"watchfloor_console_observations_skipped_total", "tls.client_hello", 1},
		{"watchfloor_console_observations_kept_total", "tcp.syn", 0},
	} {
		if got := metricValue(t, reg, tc.name, map[string]string{"kind": tc.kind}); got != tc.want {
			t.Errorf("%s{kind=%q} = %v, want %v", tc.name, tc.kind, got, tc.want)
		}
	}
	if got := metricValue(t, reg, "watchfloor_console_observations_invalid_total", nil); got != 2 {
		t.Errorf("invalid = %v", got)
	}
}

// The ring copies Name and Extra: the collector reuses its buffers after Add returns.
func TestObsRingCopies(t *testing.T) {
	r := NewObsRing(0)
	buf := []byte("tunnel.example.orgh2,http/1.1")
	o := watchfloor.Observation{Time: testNow, Kind: watchfloor.ObsTLSClientHello, SrcAddr: netip.MustParseAddr("::ffff:10.0.0.5"),
		DstAddr: netip.MustParseAddr("2001:db8::443"), Name: buf[:18], Extra: buf[18:], DNSEntropy: float32(math.NaN())}
	r.Add([]watchfloor.Observation{o})
	copy(buf, "XXXXXXXXXXXXXXXXXXXXXXXXXXXXX")
	// A second observation reuses nothing of the first one's slot.
	long := strings.Repeat("a", 300)
	r.Add([]watchfloor.Observation{{Time: testNow, Kind: watchfloor.ObsHTTPRequest, Name: []byte(long), Extra: []byte("GET")}})
	got := r.Recent(ObsQuery{})
	if len(got) != 2 {
		t.Fatalf("%d observations", len(got))
	}
	h, tls := got[0], got[1]
	if tls.Name != "tunnel.example.org" || tls.Extra != "h2,http/1.1" || tls.Truncated {
		t.Errorf("the ring kept views of the buffer: %+v", tls)
	}
	if tls.Src != netip.MustParseAddr("10.0.0.5") || tls.DNSEntropy != 0 {
		t.Errorf("src %v (want unmapped), entropy %v (want NaN as 0)", tls.Src, tls.DNSEntropy)
	}
	if h.Name != long[:maxObsText] || h.Extra != "GET" || !h.Truncated {
		t.Errorf("long name: %d bytes, extra %q, truncated %v", len(h.Name), h.Extra, h.Truncated)
	}
	// Once the ring wraps, slots are reused without leaking the old contents.
	small := NewObsRing(obsKinds)
	small.Add([]watchfloor.Observation{{Kind: watchfloor.ObsDNSQuery, Name: []byte("a-much-longer-name.example")}})
	small.Add([]watchfloor.Observation{{Kind: watchfloor.ObsDNSQuery, Name: []byte("short.ex")}})
	if got := small.Recent(ObsQuery{}); len(got) != 1 || got[0].Name != "short.ex" {
		t.Errorf("reused slot: %+v", got)
	}
	// The answer is the caller's: changing it changes nothing in the ring.
	got[0].Name = "changed"
	if again := r.Recent(ObsQuery{}); again[0].Name != long[:maxObsText] {
		t.Error("the answer shares memory with the ring")
	}
}

func TestObsRingFilters(t *testing.T) {
	now := testNow
	r := fixedRing(0, &now)
	r.SetRate(0)
	add := func(kind watchfloor.ObsKind, name, src, dst, source string, at time.Time) {
		o := testObs(kind, name, src, dst, at)
		o.Source = source
		r.Add([]watchfloor.Observation{o})
	}
	add(watchfloor.ObsDNSQuery, "www.example.com", "10.20.1.5", "10.20.0.53", "span0", now.Add(-10*time.Minute))         // 1
	add(watchfloor.ObsDNSResponse, "www.example.com", "10.20.0.53", "10.20.1.5", "span0", now.Add(-10*time.Minute))      // 2
	add(watchfloor.ObsTLSClientHello, "Login.Example.NET", "10.20.1.5", "203.0.113.9", "span1", now.Add(-5*time.Minute)) // 3
	add(watchfloor.ObsTCPSyn, "", "198.51.100.66", "10.20.1.5", "span1", now.Add(-time.Minute))                          // 4
	add(watchfloor.ObsTCPSyn, "", "2001:db8::66", "2001:db8:1::5", "span1", now)                                         // 5
	add(watchfloor.ObsHostTraffic, "", "10.20.1.5", "", "span0", now)                                                    // 6
	pfx := netip.MustParsePrefix
	all := []string{"6", "5", "4", "3", "2", "1"}
	ids := func(obs []ObsView) []string {
		// Identify by what differs: kind, src and time.
		var out []string
		for _, o := range obs {
			switch {
			case o.Kind == watchfloor.ObsHostTraffic:
				out = append(out, "6")
			case o.Kind == watchfloor.ObsTCPSyn && o.Src.Is6():
				out = append(out, "5")
			case o.Kind == watchfloor.ObsTCPSyn:
				out = append(out, "4")
			case o.Kind == watchfloor.ObsTLSClientHello:
				out = append(out, "3")
			case o.Kind == watchfloor.ObsDNSResponse:
				out = append(out, "2")
			default:
				out = append(out, "1")
			}
		}
		return out
	}
	for _, tc := range []struct {
		name string
		q    ObsQuery
		want []string
	}{
		{"all", ObsQuery{}, all},
		{"kind", ObsQuery{Kinds: []watchfloor.ObsKind{watchfloor.ObsTCPSyn}}, []string{"5", "4"}},
		{"kinds", ObsQuery{Kinds: []watchfloor.ObsKind{watchfloor.ObsDNSQuery, watchfloor.ObsDNSResponse}}, []string{"2", "1"}},
		{"src address", ObsQuery{Src: pfx("10.20.1.5/32")}, []string{"6", "3", "1"}},
		{"src prefix", ObsQuery{Src: pfx("10.20.0.0/16")}, []string{"6", "3", "2", "1"}},
		{"src v6 prefix", ObsQuery{Src: pfx("2001:db8::/32")}, []string{"5"}},
		{"dst", ObsQuery{Dst: pfx("10.20.1.5/32")}, []string{"4", "2"}},
		{"src and dst", ObsQuery{Src: pfx("10.20.1.5/32"), Dst: pfx("203.0.113.0/24")}, []string{"3"}},
		{"name substring", ObsQuery{Name: "example"}, []string{"3", "2", "1"}},
		{"name any case", ObsQuery{Name: "LOGIN.example"}, []string{"3"}},
		{"name no match", ObsQuery{Name: "nothing"}, nil},
		{"source", ObsQuery{Source: "span0"}, []string{"6", "2", "1"}},
		{"since", ObsQuery{Since: now.Add(-5 * time.Minute)}, []string{"6", "5", "4", "3"}},
		{"limit", ObsQuery{Limit: 2}, []string{"6", "5"}},
		{"kind and name", ObsQuery{Kinds: []watchfloor.ObsKind{watchfloor.ObsDNSQuery}, Name: "www"}, []string{"1"}},
		{"everything", ObsQuery{Kinds: []watchfloor.ObsKind{watchfloor.ObsTCPSyn}, Src: pfx("198.51.100.0/24"), Dst: pfx("10.20.1.5/32"),
			Source: "span1", Since: now.Add(-2 * time.Minute), Limit: 10}, []string{"4"}},
	} {
		if got := ids(r.Recent(tc.q)); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// The JSON of an observation has the documented fields.
func TestObsViewJSON(t *testing.T) {
	r := NewObsRing(0)
	o := testObs(watchfloor.ObsDNSResponse, "xj3k9.tunnel.example", "10.20.0.53", "10.20.1.5", testNow)
	o.DNSType, o.DNSRcode, o.DNSAnswers, o.DNSEntropy, o.SamplingRate = 16, 3, 0, 3.25, 64
	r.Add([]watchfloor.Observation{o, {Time: testNow, Kind: watchfloor.ObsHostTraffic, SrcAddr: netip.MustParseAddr("10.20.1.5"), Packets: 12, Bytes: 9000}})
	b, err := json.Marshal(r.Recent(ObsQuery{}))
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"time":"2026-05-04T12:00:00Z","kind":"host.traffic","src":"10.20.1.5","dst":"","sport":0,"dport":0,"proto":0,"name":"","extra":"",` +
		`"dns_type":0,"dns_rcode":0,"dns_answers":0,"dns_entropy":0,"half_open":0,"packets":12,"bytes":9000,"sampling_rate":0,"source":""},` +
		`{"time":"2026-05-04T12:00:00Z","kind":"dns.response","src":"10.20.0.53","dst":"10.20.1.5","sport":53000,"dport":53,"proto":17,` +
		`"name":"xj3k9.tunnel.example","extra":"","dns_type":16,"dns_rcode":3,"dns_answers":0,"dns_entropy":3.25,"half_open":0,` +
		`"packets":0,"bytes":0,"sampling_rate":64,"source":"span0","site":"lab"}]`
	if string(b) != want {
		t.Errorf("JSON\n got %s\nwant %s", b, want)
	}
}

// Writers and readers at once (run with -race): every answer is whole, newest first per
// writer, and within the bounds.
func TestObsRingConcurrent(t *testing.T) {
	r := NewObsRing(64 * obsKinds)
	r.SetRate(0)
	const writers, batches, per = 4, 200, 16
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			buf := make([]byte, 0, 64)
			batch := make([]watchfloor.Observation, per)
			for b := range batches {
				buf = buf[:0]
				for i := range batch {
					n := b*per + i
					start := len(buf)
					buf = fmt.Appendf(buf, "w%d-%d", w, n)
					// The collector's way: views into one buffer, reused for the next batch.
					batch[i] = watchfloor.Observation{Kind: watchfloor.ObsKind(1 + n%obsKinds), SrcPort: uint16(w), DstPort: uint16(n),
						Name: buf[start:len(buf):len(buf)]}
				}
				r.Add(batch)
			}
		})
	}
	for range 2 {
		wg.Go(func() {
			for range 200 {
				got := r.Recent(ObsQuery{Limit: MaxObsLimit})
				if len(got) > MaxObsLimit {
					t.Errorf("%d observations", len(got))
					return
				}
				last := map[uint16]int{}
				for _, o := range got {
					if want := fmt.Sprintf("w%d-%d", o.SrcPort, o.DstPort); o.Name != want || o.Kind != watchfloor.ObsKind(1+int(o.DstPort)%obsKinds) {
						t.Errorf("torn observation %+v, want name %s", o, want)
						return
					}
					if l, ok := last[o.SrcPort]; ok && int(o.DstPort) >= l {
						t.Errorf("writer %d: %d after %d, not newest first", o.SrcPort, o.DstPort, l)
						return
					}
					last[o.SrcPort] = int(o.DstPort)
				}
			}
		})
	}
	wg.Wait()
	got := r.Recent(ObsQuery{Limit: MaxObsLimit})
	if len(got) != 64*obsKinds {
		t.Errorf("a full ring answers %d, want %d", len(got), 64*obsKinds)
	}
}

// BenchmarkObsRingAdd adds batches of 64 DNS, TLS and SYN observations: "all" keeps every
// one, "rate" keeps the default rate per kind per second and skips the rest.
func BenchmarkObsRingAdd(b *testing.B) {
	batch := make([]watchfloor.Observation, 64)
	for i := range batch {
		kinds := []watchfloor.ObsKind{watchfloor.ObsDNSQuery, watchfloor.ObsTLSClientHello, watchfloor.ObsTCPSyn, watchfloor.ObsDNSResponse}
		batch[i] = testObs(kinds[i%4], "host-"+strconv.Itoa(i)+".cdn.example.com", "10.20.1.5", "203.0.113.9", testNow)
		batch[i].Extra = []byte("h2,http/1.1")
	}
	for _, bc := range []struct {
		name string
		rate int
	}{{"all", 0}, {"rate", DefaultObsRingRate}} {
		b.Run(bc.name, func(b *testing.B) {
			r := NewObsRing(DefaultObsRingSize)
			r.SetRate(bc.rate)
			b.ReportAllocs()
			for b.Loop() {
				r.Add(batch)
			}
			b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "obs/s")
		})
	}
}
