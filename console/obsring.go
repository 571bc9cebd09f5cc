package console

import (
	"math"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/watchfloor/watchfloor"
)

// Observations is where the console reads recent packet observations from, for
// GET /api/v1/observations. The appliance keeps them, usually in an ObsRing.
type Observations interface {
	// Recent returns the observations that match q, newest first, at most q.Limit of them
	// (the default when 0, never more than the maximum).
	Recent(q ObsQuery) []ObsView
}

// Limits of an observation query.
const (
	DefaultObsLimit = 100
	MaxObsLimit     = 1000
)

// ObsQuery selects recent observations. Zero fields match everything.
type ObsQuery struct {
	Kinds  []watchfloor.ObsKind // any of these kinds; empty: all
	Src    netip.Prefix         // the source address is in it; the zero Prefix: any
	Dst    netip.Prefix         // the destination address is in it; the zero Prefix: any
	Name   string               // Name contains it, ASCII case-insensitively
	Source string               // seen by this capture source exactly
	Since  time.Time            // observed at or after it
	Limit  int                  // at most this many; 0: DefaultObsLimit; capped at MaxObsLimit
}

// ObsView is an observation as the API shows it: a copy that owns its strings.
type ObsView struct {
	Time         time.Time          `json:"time"`
	Kind         watchfloor.ObsKind `json:"kind"`
	Src          netip.Addr         `json:"src"` // "" when the observation has none
	Dst          netip.Addr         `json:"dst"`
	SrcPort      uint16             `json:"sport"`
	DstPort      uint16             `json:"dport"`
	Proto        uint8              `json:"proto"`
	Name         string             `json:"name"`  // DNS QNAME, TLS SNI, HTTP Host
	Extra        string             `json:"extra"` // TLS ALPN protocols, HTTP method
	DNSType      uint16             `json:"dns_type"`
	DNSRcode     uint8              `json:"dns_rcode"`
	DNSAnswers   uint16             `json:"dns_answers"`
	DNSEntropy   float32            `json:"dns_entropy"`
	HalfOpen     uint32             `json:"half_open"`
	Packets      uint64             `json:"packets"`
	Bytes        uint64             `json:"bytes"`
	SamplingRate uint32             `json:"sampling_rate"`
	Source       string             `json:"source"`
	ICMPType     uint8              `json:"icmp_type,omitempty"`
	ICMPCode     uint8              `json:"icmp_code,omitempty"`
	Site         string             `json:"site,omitempty"`
	Truncated    bool               `json:"truncated,omitempty"` // Name or Extra was longer than 255 bytes and is cut
}

// Bounds of an ObsRing.
const (
	// DefaultObsRingSize is a ring of about 16k observations: a few MB at most.
	DefaultObsRingSize = 16384
	// DefaultObsRingRate is how many observations of one kind the ring keeps per second.
	DefaultObsRingRate = 50
	// maxObsText is how many bytes of Name and of Extra the ring keeps.
	maxObsText = 255
)

// obsKinds is the number of named observation kinds; kinds 1..obsKinds are valid.
var obsKinds = func() int {
	n := 0
	for k := 1; k < 256 && !strings.HasPrefix(watchfloor.ObsKind(k).String(), "obs_kind("); k++ {
		n = k
	}
	return n
}()

// ObsRing keeps the most recent packet observations for analysts to look at. It is split
// into one ring per kind, so that a flood of one kind (SYNs of a scan) does not push out the
// others (the DNS queries of the same minute). Each second, at most a rate of each kind is
// kept (the first ones); the rest is skipped and counted. Name and Extra are copied into
// buffers the ring owns and reuses, so Add does not allocate once the ring has filled.
//
// ObsRing is safe for concurrent use. It is a prometheus.Collector of its counters
// (watchfloor_console_observations_kept_total and _skipped_total, by kind); the console
// registers it when it is its Deps.Observations.
type ObsRing struct {
	now func() time.Time

	mu      sync.Mutex
	rate    int         // per kind per second; <= 0: no limit
	rings   [][]obsSlot // by kind-1, each of the same capacity
	next    []int       // by kind-1: where the next one goes
	full    []bool      // by kind-1: the ring has wrapped
	second  int64       // the wall-clock second the counts below are of
	inSec   []int       // by kind-1: kept this second
	kept    []uint64    // by kind-1
	skipped []uint64    // by kind-1: over the rate
	invalid uint64      // observations of no known kind
	seq     uint64      // insertion order across kinds
	descs   [3]*prometheus.Desc
}

// obsSlot is one observation in the ring. name and extra are owned by the slot and reused.
type obsSlot struct {
	seq          uint64
	time         time.Time
	src, dst     netip.Addr
	sport, dport uint16
	proto        uint8
	icmpType     uint8
	icmpCode     uint8
	dnsRcode     uint8
	dnsType      uint16
	dnsAnswers   uint16
	dnsEntropy   float32
	halfOpen     uint32
	samplingRate uint32
	truncated    bool
	packets      uint64
	bytes        uint64
	site, source string
	name, extra  []byte
}

var _ Observations = (*ObsRing)(nil)
var _ prometheus.Collector = (*ObsRing)(nil)

// NewObsRing returns a ring of about size observations in all (split evenly between the
// kinds, at least one each; DefaultObsRingSize when size <= 0) keeping at most
// DefaultObsRingRate per kind per second.
func NewObsRing(size int) *ObsRing {
	if size <= 0 {
		size = DefaultObsRingSize
	}
	per := max(1, size/obsKinds)
	r := &ObsRing{
		now:     time.Now,
		rate:    DefaultObsRingRate,
		rings:   make([][]obsSlot, obsKinds),
		next:    make([]int, obsKinds),
		full:    make([]bool, obsKinds),
		inSec:   make([]int, obsKinds),
		kept:    make([]uint64, obsKinds),
		skipped: make([]uint64, obsKinds),
	}
	for i := range r.rings {
		r.rings[i] = make([]obsSlot, per)
	}
	r.descs = [3]*prometheus.Desc{
		prometheus.NewDesc("watchfloor_console_observations_kept_total",
			"Packet observations kept in the console's ring of recent observations, by kind.", []string{"kind"}, nil),
		prometheus.NewDesc("watchfloor_console_observations_skipped_total",
			"Packet observations not kept in the ring of recent observations because their kind was over its rate per second, by kind.", []string{"kind"}, nil),
		prometheus.NewDesc("watchfloor_console_observations_invalid_total",
			"Packet observations of no known kind, not kept.", nil, nil),
	}
	return r
}

// SetRate sets how many observations of each kind the ring keeps per second; n <= 0 keeps
// them all.
func (r *ObsRing) SetRate(n int) {
	r.mu.Lock()
	r.rate = n
	r.mu.Unlock()
}

// Add copies what the ring keeps of obs. It does not keep obs or any of its slices.
func (r *ObsRing) Add(obs []watchfloor.Observation) {
	if len(obs) == 0 {
		return
	}
	sec := r.now().Unix()
	r.mu.Lock()
	defer r.mu.Unlock()
	if sec != r.second {
		r.second = sec
		clear(r.inSec)
	}
	for i := range obs {
		o := &obs[i]
		k := int(o.Kind) - 1
		if k < 0 || k >= obsKinds {
			r.invalid++
			continue
		}
		if r.rate > 0 && r.inSec[k] >= r.rate {
			r.skipped[k]++
			continue
		}
		r.inSec[k]++
		r.kept[k]++
		r.seq++
		ring := r.rings[k]
		s := &ring[r.next[k]]
		if r.next[k]++; r.next[k] == len(ring) {
			r.next[k], r.full[k] = 0, true
		}
		s.seq, s.time = r.seq, o.Time
		s.src, s.dst = o.SrcAddr.Unmap(), o.DstAddr.Unmap()
		s.sport, s.dport, s.proto = o.SrcPort, o.DstPort, o.Proto
		s.icmpType, s.icmpCode = o.ICMPType, o.ICMPCode
		s.dnsType, s.dnsRcode, s.dnsAnswers = o.DNSType, o.DNSRcode, o.DNSAnswers
		s.dnsEntropy = o.DNSEntropy
		if f := float64(s.dnsEntropy); math.IsNaN(f) || math.IsInf(f, 0) {
			s.dnsEntropy = 0 // JSON has no NaN: one bad value must not break every answer
		}
		s.halfOpen, s.samplingRate = o.HalfOpen, o.SamplingRate
		s.packets, s.bytes = o.Packets, o.Bytes
		s.site, s.source = o.Site, o.Source
		s.name = append(s.name[:0], o.Name[:min(len(o.Name), maxObsText)]...)
		s.extra = append(s.extra[:0], o.Extra[:min(len(o.Extra), maxObsText)]...)
		s.truncated = len(o.Name) > maxObsText || len(o.Extra) > maxObsText
	}
}

// Recent returns the observations that match q, newest first (in the order they were
// added), at most q.Limit.
func (r *ObsRing) Recent(q ObsQuery) []ObsView {
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultObsLimit
	}
	limit = min(limit, MaxObsLimit)
	want := make([]bool, obsKinds)
	for _, k := range q.Kinds {
		if i := int(k) - 1; i >= 0 && i < obsKinds {
			want[i] = true
		}
	}
	all := len(q.Kinds) == 0
	name := asciiLower(q.Name)

	r.mu.Lock()
	defer r.mu.Unlock()
	// Merge the rings of the wanted kinds, newest first: a cursor per ring, counting back
	// from its newest slot.
	type cursor struct{ k, left, pos int }
	var curs []cursor
	for k := range obsKinds {
		if !all && !want[k] {
			continue
		}
		n := r.next[k]
		if r.full[k] {
			n = len(r.rings[k])
		}
		if n > 0 {
			size := len(r.rings[k])
			curs = append(curs, cursor{k: k, left: n, pos: (r.next[k] - 1 + size) % size})
		}
	}
	out := []ObsView{}
	for len(out) < limit {
		best := -1
		for i, c := range curs {
			if c.left > 0 && (best < 0 || r.rings[c.k][c.pos].seq > r.rings[curs[best].k][curs[best].pos].seq) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		c := &curs[best]
		ring := r.rings[c.k]
		s := &ring[c.pos]
		c.left--
		if c.pos--; c.pos < 0 {
			c.pos = len(ring) - 1
		}
		if (q.Src.IsValid() && !q.Src.Contains(s.src)) ||
			(q.Dst.IsValid() && !q.Dst.Contains(s.dst)) ||
			(q.Source != "" && s.source != q.Source) ||
			(!q.Since.IsZero() && s.time.Before(q.Since)) ||
			(name != "" && !containsFold(s.name, name)) {
			continue
		}
		out = append(out, ObsView{
			Time: s.time, Kind: watchfloor.ObsKind(c.k + 1), Src: s.src, Dst: s.dst,
			SrcPort: s.sport, DstPort: s.dport, Proto: s.proto,
			Name: string(s.name), Extra: string(s.extra),
			DNSType: s.dnsType, DNSRcode: s.dnsRcode, DNSAnswers: s.dnsAnswers, DNSEntropy: s.dnsEntropy,
			HalfOpen: s.halfOpen, Packets: s.packets, Bytes: s.bytes, SamplingRate: s.samplingRate,
			Source: s.source, ICMPType: s.icmpType, ICMPCode: s.icmpCode, Site: s.site, Truncated: s.truncated,
		})
	}
	return out
}

// asciiLower lower-cases the ASCII letters of s and leaves every other byte alone.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; c >= 'A' && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// containsFold reports whether s contains the lower-case sub, comparing ASCII letters
// without case.
func containsFold(s []byte, sub string) bool {
	n := len(sub)
	if n == 0 {
		return true
	}
outer:
	for i := 0; i+n <= len(s); i++ {
		for j := range n {
			c := s[i+j]
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != sub[j] {
				continue outer
			}
		}
		return true
	}
	return false
}

// Describe sends the descriptions of the ring's counters.
func (r *ObsRing) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range r.descs {
		ch <- d
	}
}

// Collect sends the ring's counters.
func (r *ObsRing) Collect(ch chan<- prometheus.Metric) {
	r.mu.Lock()
	kept, skipped, invalid := append([]uint64(nil), r.kept...), append([]uint64(nil), r.skipped...), r.invalid
	r.mu.Unlock()
	for k := range obsKinds {
		kind := watchfloor.ObsKind(k + 1).String()
		ch <- prometheus.MustNewConstMetric(r.descs[0], prometheus.CounterValue, float64(kept[k]), kind)
		ch <- prometheus.MustNewConstMetric(r.descs[1], prometheus.CounterValue, float64(skipped[k]), kind)
	}
	ch <- prometheus.MustNewConstMetric(r.descs[2], prometheus.CounterValue, float64(invalid))
}
