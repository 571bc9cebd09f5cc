package decode

import (
	"encoding/binary"
	"errors"
	"math"
)

// DNS is what the decoder reads of a DNS message: the header and the first question.
type DNS struct {
	Response bool
	Rcode    uint8  // the header's 4-bit RCODE (the EDNS extension is not read)
	QType    uint16 // the first question's QTYPE
	Answers  uint16 // ANCOUNT
	Labels   uint8  // labels of Name
	Longest  uint8  // the longest label's length
	Entropy  float32
	Name     []byte // the first question's QNAME, A-Z folded to lower case, no trailing dot; a view of the buffer given to ParseDNS
}

// Errors of ParseDNS, ParseClientHello and ParseHTTPRequest. Errors wrapping errShort are
// counted as truncated, the others as malformed.
var (
	errShort       = errors.New("message cut short")
	errDNSShort    = shortError("dns: message cut short")
	errDNSNoQuery  = errors.New("dns: no question")
	errDNSLabel    = errors.New("dns: bad label type")
	errDNSPointer  = errors.New("dns: compression pointer not backwards")
	errDNSNameLong = errors.New("dns: name longer than 255 bytes")
)

// shortError is an error of bytes ending too soon: errors.Is(err, errShort).
type shortError string

func (e shortError) Error() string        { return string(e) }
func (e shortError) Is(target error) bool { return target == errShort }

// maxNameLen is the longest domain name in wire form (RFC 1035 §3.1), less one: the root
// label's length byte is not in the presentation form.
const maxNameLen = 255

// ParseDNS reads the header and the first question of the DNS message msg (without the TCP
// length prefix). The name is written into buf, which Name views. It follows compression
// pointers only backwards (so it cannot loop) and never reads past msg.
func ParseDNS(msg []byte, buf *[maxNameLen]byte) (DNS, error) {
	var d DNS
	if len(msg) < 12 {
		return d, errDNSShort
	}
	d.Response = msg[2]&0x80 != 0
	d.Rcode = msg[3] & 0x0f
	d.Answers = binary.BigEndian.Uint16(msg[6:8])
	if binary.BigEndian.Uint16(msg[4:6]) == 0 {
		return d, errDNSNoQuery
	}
	// Where the last two labels start in buf: what is left of them is what the entropy
	// is computed over.
	n, nl, last, second := 0, 0, 0, 0
	off, end := 12, -1 // end: where the question continues after the name
	limit := 12        // a pointer must point before the first label read so far
	for {
		if off >= len(msg) {
			return d, errDNSShort
		}
		l := int(msg[off])
		switch l & 0xc0 {
		case 0x00:
		case 0xc0:
			if off+1 >= len(msg) {
				return d, errDNSShort
			}
			ptr := (l&0x3f)<<8 | int(msg[off+1])
			if end < 0 {
				end = off + 2
			}
			if ptr >= limit || ptr < 12 {
				return d, errDNSPointer
			}
			off, limit = ptr, ptr
			continue
		default:
			return d, errDNSLabel
		}
		if l == 0 {
			if end < 0 {
				end = off + 1
			}
			break
		}
		if off+1+l > len(msg) {
			return d, errDNSShort
		}
		dot := 0
		if n > 0 {
			dot = 1
		}
		if n+dot+l > maxNameLen {
			return d, errDNSNameLong
		}
		if n > 0 {
			buf[n] = '.'
			n++
		}
		second, last = last, n
		nl++
		for _, c := range msg[off+1 : off+1+l] {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			buf[n] = c
			n++
		}
		d.Longest = max(d.Longest, uint8(l))
		off += 1 + l
	}
	if end+4 > len(msg) {
		return d, errDNSShort
	}
	d.QType = binary.BigEndian.Uint16(msg[end : end+2])
	d.Name = buf[:n:n]
	d.Labels = uint8(nl)
	if nl > 2 {
		d.Entropy = entropy(buf[:second-1])
	}
	return d, nil
}

// xlog2x[i] is i·log₂(i), for the entropy of counts below 256 without a logarithm per symbol.
var xlog2x = func() (t [256]float64) {
	for i := 2; i < len(t); i++ {
		t[i] = float64(i) * math.Log2(float64(i))
	}
	return t
}()

// entropy is the Shannon entropy, in bits per character, of the characters of name other
// than dots: H = log₂(n) − (1/n)·Σ cᵢ·log₂(cᵢ) over the counts cᵢ of its n characters.
func entropy(name []byte) float32 {
	var counts [256]uint8 // name has at most 255 characters
	var distinct [maxNameLen]byte
	nd, total := 0, 0
	for _, c := range name {
		if c == '.' {
			continue
		}
		if counts[c] == 0 {
			distinct[nd] = c
			nd++
		}
		counts[c]++
		total++
	}
	if total < 2 {
		return 0
	}
	var s float64
	for _, c := range distinct[:nd] {
		s += xlog2x[counts[c]]
	}
	h := (xlog2x[total] - s) / float64(total)
	if h < 0 { // rounding, when every character is the same
		h = 0
	}
	return float32(h)
}
