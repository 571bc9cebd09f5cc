package lab

import (
	"math/rand/v2"
	"time"
)

// IPFIXLoad generates a high-rate IPFIX stream for collector benchmarks: the lab's record
// mix (site hosts by Zipf rank, the outside, AS numbers, ifIndexes of core-r1) without the
// traffic model, so it costs little more than encoding. It is not safe for concurrent use.
type IPFIXLoad struct {
	enc     *templateEncoder
	rng     *rand.Rand
	gen     *flowGen
	per     int
	recs    []flowRecord
	boot    time.Time
	now     time.Time
	since   int
	records int
	sent    bool
}

// ipfixLoadTemplateEvery is how many data datagrams go between two template datagrams.
const ipfixLoadTemplateEvery = 1000

// NewIPFIXLoad returns a generator of IPFIX datagrams with recordsPerDatagram data records
// each (at most what fits in 1400 bytes: 20 IPv4 records; IPv6 records are not mixed in, so
// every data datagram carries exactly that many). Same seed, same stream.
func NewIPFIXLoad(seed int64, recordsPerDatagram int) *IPFIXLoad {
	room := (maxFlowDatagram - 20) / recordLen(ipfixFieldsV4)
	per := min(max(recordsPerDatagram, 1), room)
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6c6f6164))
	s := standardSite(DefaultSite, seed, time.Unix(1_700_000_000, 0))
	gens, err := newFlowGens(s, 1, seed, 1)
	if err != nil {
		panic(err) // the standard site always has core-r1
	}
	g := gens[0]
	g.v4only = true
	boot := time.Unix(1_700_000_000, 0).Add(-72 * time.Hour)
	return &IPFIXLoad{enc: newIPFIXEncoder(1, 1000, false), rng: rng, gen: g, per: per,
		recs: make([]flowRecord, per), boot: boot, now: time.Unix(1_700_000_000, 0)}
}

// Next appends one datagram to buf[:0] and returns it: the template datagram first and again
// after every 1000 data datagrams, data datagrams otherwise.
func (l *IPFIXLoad) Next(buf []byte) []byte {
	l.now = l.now.Add(time.Millisecond)
	if !l.sent || l.since >= ipfixLoadTemplateEvery {
		l.sent, l.since = true, 0
		return l.enc.encodeTemplates(buf[:0], l.now, l.boot)
	}
	l.since++
	m := l.gen.meters[0]
	for k := range l.recs {
		r := &l.recs[k]
		dir := k & 1
		a := l.gen.pickApp(dir)
		l.gen.fill(r, a, m, dir)
		r.bytes = uint64(64 + l.rng.IntN(1400*8))
		r.packets = 1 + r.bytes/1400
		r.last = l.now
		r.first = l.now.Add(-time.Duration(l.rng.IntN(10000)) * time.Millisecond)
	}
	l.records += len(l.recs)
	return l.enc.encodeData(buf[:0], l.now, l.boot, l.recs)
}

// Records is the number of data records in all the datagrams Next returned so far.
func (l *IPFIXLoad) Records() int { return l.records }

// PerDatagram is the number of data records in each data datagram.
func (l *IPFIXLoad) PerDatagram() int { return l.per }
