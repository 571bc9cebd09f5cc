package flow

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// TestNetSet compares the range search with netip.Prefix.Contains over random prefixes and
// addresses, IPv4 and IPv6, overlapping and adjacent ones included.
func TestNetSet(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	addr := func(v6 bool) netip.Addr {
		if v6 {
			var b [16]byte
			b[0], b[1], b[15] = 0x20, 0x01, byte(r.IntN(4))
			b[2] = byte(r.IntN(4))
			return netip.AddrFrom16(b)
		}
		return netip.AddrFrom4([4]byte{10, byte(r.IntN(4)), byte(r.IntN(4)), byte(r.IntN(256))})
	}
	for round := range 200 {
		var ps []netip.Prefix
		for range r.IntN(8) {
			v6 := r.IntN(2) == 0
			bits := 8 + r.IntN(25)
			if v6 {
				bits = 16 + r.IntN(113)
			}
			ps = append(ps, netip.PrefixFrom(addr(v6), bits).Masked())
		}
		if round == 0 {
			ps = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}
		}
		s := newNetSet(ps)
		for range 200 {
			a := addr(r.IntN(2) == 0)
			want := false
			for _, p := range ps {
				want = want || p.Contains(a)
			}
			if got := s.contains(a); got != want {
				t.Fatalf("prefixes %v: contains(%s) = %v, want %v", ps, a, got, want)
			}
			if a.Is4() {
				if got := s.contains(netip.AddrFrom16(a.As16())); got != want {
					t.Fatalf("prefixes %v: contains(mapped %s) = %v, want %v", ps, a, got, want)
				}
			}
		}
	}
	if (&netSet{}).contains(netip.Addr{}) {
		t.Error("the zero address is in the empty set")
	}
}
