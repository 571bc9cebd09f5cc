package lab

import (
	"errors"
	"strconv"
	"strings"
)

// The subset of BER that SNMP uses: definite lengths, single-byte tags. The reader never
// allocates and bounds-checks every step, because it parses datagrams from the network.

// ASN.1 and SNMP tags.
const (
	tagInteger     = 0x02
	tagOctetString = 0x04
	tagNull        = 0x05
	tagOID         = 0x06
	tagSequence    = 0x30
	tagIPAddress   = 0x40
	tagCounter32   = 0x41
	tagGauge32     = 0x42
	tagTimeTicks   = 0x43
	tagCounter64   = 0x46

	tagNoSuchObject   = 0x80
	tagNoSuchInstance = 0x81
	tagEndOfMibView   = 0x82

	pduGet      = 0xa0
	pduGetNext  = 0xa1
	pduResponse = 0xa2
	pduSet      = 0xa3
	pduGetBulk  = 0xa5
	pduReport   = 0xa8
)

// maxOIDLen is the largest number of sub-identifiers an OID may have (RFC 2578 §3.5).
const maxOIDLen = 128

var errBER = errors.New("malformed BER")

// berReader walks a sequence of TLVs.
type berReader struct {
	b   []byte
	off int // offset of b[0] in the whole datagram, for callers that need positions
}

func (r *berReader) empty() bool { return len(r.b) == 0 }

// next reads one TLV and returns its tag, its value and the value's offset in the datagram.
func (r *berReader) next() (tag byte, val []byte, pos int, err error) {
	b := r.b
	if len(b) < 2 {
		return 0, nil, 0, errBER
	}
	tag = b[0]
	if tag&0x1f == 0x1f { // high tag numbers are not used by SNMP
		return 0, nil, 0, errBER
	}
	n := int(b[1])
	hdr := 2
	if n&0x80 != 0 {
		k := n & 0x7f
		if k == 0 || k > 3 || len(b) < 2+k { // indefinite or absurd lengths
			return 0, nil, 0, errBER
		}
		n = 0
		for _, c := range b[2 : 2+k] {
			n = n<<8 | int(c)
		}
		hdr += k
	}
	if n > len(b)-hdr {
		return 0, nil, 0, errBER
	}
	val = b[hdr : hdr+n]
	pos = r.off + hdr
	r.b = b[hdr+n:]
	r.off += hdr + n
	return tag, val, pos, nil
}

// expect reads one TLV that must carry tag.
func (r *berReader) expect(tag byte) ([]byte, int, error) {
	t, v, pos, err := r.next()
	if err != nil {
		return nil, 0, err
	}
	if t != tag {
		return nil, 0, errBER
	}
	return v, pos, nil
}

// sub returns a reader over the value of the next TLV, which must carry tag.
func (r *berReader) sub(tag byte) (berReader, error) {
	v, pos, err := r.expect(tag)
	return berReader{b: v, off: pos}, err
}

func (r *berReader) integer() (int64, error) {
	v, _, err := r.expect(tagInteger)
	if err != nil {
		return 0, err
	}
	return parseInt(v)
}

func parseInt(v []byte) (int64, error) {
	if len(v) == 0 || len(v) > 8 {
		return 0, errBER
	}
	n := int64(int8(v[0])) // sign-extend
	for _, c := range v[1:] {
		n = n<<8 | int64(c)
	}
	return n, nil
}

// parseOID appends the sub-identifiers of a BER-encoded OID to dst.
func parseOID(dst []uint32, v []byte) ([]uint32, error) {
	if len(v) == 0 {
		return dst, errBER
	}
	start := len(dst)
	var acc uint64
	first := true
	for i, c := range v {
		if acc == 0 && c == 0x80 && (i == 0 || v[i-1]&0x80 == 0) {
			return dst, errBER // non-minimal encoding
		}
		acc = acc<<7 | uint64(c&0x7f)
		if acc > 0xffffffff+80 {
			return dst, errBER
		}
		if c&0x80 != 0 {
			continue
		}
		if first {
			first = false
			switch {
			case acc < 40:
				dst = append(dst, 0, uint32(acc))
			case acc < 80:
				dst = append(dst, 1, uint32(acc-40))
			default:
				dst = append(dst, 2, uint32(acc-80))
			}
		} else {
			if acc > 0xffffffff {
				return dst, errBER
			}
			dst = append(dst, uint32(acc))
		}
		acc = 0
		if len(dst)-start > maxOIDLen {
			return dst, errBER
		}
	}
	if v[len(v)-1]&0x80 != 0 {
		return dst, errBER // truncated sub-identifier
	}
	return dst, nil
}

// compareOID orders OIDs numerically, sub-identifier by sub-identifier, a prefix first.
func compareOID(a, b []uint32) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return len(a) - len(b)
}

func hasPrefix(oid, prefix []uint32) bool {
	return len(oid) >= len(prefix) && compareOID(oid[:len(prefix)], prefix) == 0
}

// mustOID parses a dotted OID; it panics on a malformed one, so it is for constants only.
func mustOID(s string) []uint32 {
	parts := strings.Split(strings.TrimPrefix(s, "."), ".")
	oid := make([]uint32, len(parts))
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			panic("lab: bad OID " + s)
		}
		oid[i] = uint32(n)
	}
	return oid
}

func oidString(oid []uint32) string {
	var b strings.Builder
	for _, n := range oid {
		b.WriteByte('.')
		b.WriteString(strconv.FormatUint(uint64(n), 10))
	}
	return b.String()
}

// --- writing ---

func lenLen(n int) int {
	switch {
	case n < 0x80:
		return 1
	case n < 0x100:
		return 2
	case n < 0x10000:
		return 3
	default:
		return 4
	}
}

// tlvLen is the size of a TLV whose value is n bytes long.
func tlvLen(n int) int { return 1 + lenLen(n) + n }

func appendHeader(b []byte, tag byte, n int) []byte {
	switch {
	case n < 0x80:
		return append(b, tag, byte(n))
	case n < 0x100:
		return append(b, tag, 0x81, byte(n))
	case n < 0x10000:
		return append(b, tag, 0x82, byte(n>>8), byte(n))
	default:
		return append(b, tag, 0x83, byte(n>>16), byte(n>>8), byte(n))
	}
}

func intLen(v int64) int {
	n := 1
	for v > 127 || v < -128 {
		v >>= 8
		n++
	}
	return n
}

func appendInt(b []byte, tag byte, v int64) []byte {
	n := intLen(v)
	b = append(b, tag, byte(n))
	for i := n - 1; i >= 0; i-- {
		b = append(b, byte(v>>(8*i)))
	}
	return b
}

func uintLen(v uint64) int {
	n := 1
	for v > 127 {
		v >>= 8
		n++
	}
	return n
}

func appendUint(b []byte, tag byte, v uint64) []byte {
	n := uintLen(v)
	b = append(b, tag, byte(n))
	for i := n - 1; i >= 0; i-- {
		if i >= 8 {
			b = append(b, 0)
			continue
		}
		b = append(b, byte(v>>(8*i)))
	}
	return b
}

func appendBytes(b []byte, tag byte, v []byte) []byte {
	return append(appendHeader(b, tag, len(v)), v...)
}

func appendString(b []byte, tag byte, v string) []byte {
	return append(appendHeader(b, tag, len(v)), v...)
}

// oidContent BER-encodes the sub-identifiers of an OID (without tag and length).
func oidContent(b []byte, oid []uint32) []byte {
	if len(oid) < 2 {
		if len(oid) == 1 {
			return appendBase128(b, uint64(oid[0])*40)
		}
		return append(b, 0)
	}
	b = appendBase128(b, uint64(oid[0])*40+uint64(oid[1]))
	for _, n := range oid[2:] {
		b = appendBase128(b, uint64(n))
	}
	return b
}

func appendBase128(b []byte, n uint64) []byte {
	var tmp [10]byte
	i := len(tmp) - 1
	tmp[i] = byte(n & 0x7f)
	for n >>= 7; n > 0; n >>= 7 {
		i--
		tmp[i] = byte(n&0x7f) | 0x80
	}
	return append(b, tmp[i:]...)
}

// oidTLV returns the complete BER encoding (tag, length, value) of an OID.
func oidTLV(oid []uint32) []byte {
	c := oidContent(nil, oid)
	return appendBytes(make([]byte, 0, tlvLen(len(c))), tagOID, c)
}
