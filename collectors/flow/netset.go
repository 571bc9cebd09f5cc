package flow

import (
	"cmp"
	"encoding/binary"
	"net/netip"
	"slices"
)

// netSet answers "is this address in one of our networks?" with a binary search over the
// networks merged into sorted, disjoint address ranges: a few nanoseconds for any number of
// prefixes, without allocating.
type netSet struct {
	v4 []rng[uint32]
	v6 []rng[u128]
}

type u128 struct{ hi, lo uint64 }

func (a u128) cmp(b u128) int {
	if c := cmp.Compare(a.hi, b.hi); c != 0 {
		return c
	}
	return cmp.Compare(a.lo, b.lo)
}

type rng[T any] struct{ lo, hi T }

func newNetSet(prefixes []netip.Prefix) netSet {
	var s netSet
	for _, p := range prefixes {
		p = p.Masked()
		if !p.IsValid() {
			continue
		}
		if p.Addr().Is4() {
			lo := binary.BigEndian.Uint32(p.Addr().AsSlice())
			hi := lo | uint32(uint64(1)<<(32-p.Bits())-1)
			s.v4 = append(s.v4, rng[uint32]{lo, hi})
			continue
		}
		lo := to128(p.Addr())
		hi := lo
		if b := p.Bits(); b < 64 {
			hi.hi |= 1<<(64-b) - 1
			hi.lo = ^uint64(0)
		} else if b < 128 {
			hi.lo |= 1<<(128-b) - 1
		}
		s.v6 = append(s.v6, rng[u128]{lo, hi})
	}
	s.v4 = merge(s.v4, cmp.Compare[uint32], func(a uint32) uint32 { return a + 1 })
	s.v6 = merge(s.v6, u128.cmp, func(a u128) u128 {
		if a.lo == ^uint64(0) {
			return u128{a.hi + 1, 0}
		}
		return u128{a.hi, a.lo + 1}
	})
	return s
}

func to128(a netip.Addr) u128 {
	b := a.As16()
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

// merge sorts ranges and joins those that overlap or touch.
func merge[T any](rs []rng[T], c func(a, b T) int, next func(T) T) []rng[T] {
	slices.SortFunc(rs, func(a, b rng[T]) int { return c(a.lo, b.lo) })
	var out []rng[T]
	for _, r := range rs {
		if n := len(out); n > 0 {
			last := &out[n-1]
			// Overlapping, or adjacent (and last.hi is not the top of the space, where next wraps).
			if c(r.lo, last.hi) <= 0 || (c(next(last.hi), last.hi) > 0 && c(r.lo, next(last.hi)) == 0) {
				if c(r.hi, last.hi) > 0 {
					last.hi = r.hi
				}
				continue
			}
		}
		out = append(out, r)
	}
	return out
}

func (s *netSet) empty() bool { return len(s.v4) == 0 && len(s.v6) == 0 }

// contains reports whether a (IPv4-mapped addresses as IPv4) is in the set.
func (s *netSet) contains(a netip.Addr) bool {
	if a.Is4() || a.Is4In6() {
		b := a.As16()
		x := binary.BigEndian.Uint32(b[12:])
		rs := s.v4
		// The last range starting at or below x.
		i, j := 0, len(rs)
		for i < j {
			h := int(uint(i+j) >> 1)
			if rs[h].lo <= x {
				i = h + 1
			} else {
				j = h
			}
		}
		return i > 0 && x <= rs[i-1].hi
	}
	if !a.Is6() {
		return false
	}
	x := to128(a)
	rs := s.v6
	i, j := 0, len(rs)
	for i < j {
		h := int(uint(i+j) >> 1)
		if rs[h].lo.cmp(x) <= 0 {
			i = h + 1
		} else {
			j = h
		}
	}
	return i > 0 && x.cmp(rs[i-1].hi) <= 0
}
