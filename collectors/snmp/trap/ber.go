package trap

// A minimal BER reader for the SNMPv3 message header. gosnmp parses the whole message, but it
// only tells "which user, which engine, which security level" after it has tried the keys; the
// receiver needs those first, to pick the user's credentials, to count an unknown user apart
// from a failed authentication, and to answer engine discovery. Everything here is bounds
// checked: the input is whatever arrived on the socket.

// tlv splits one BER element off the front of b: its tag, its contents and what follows.
// Only definite lengths of up to four octets are accepted.
func tlv(b []byte) (tag byte, val, rest []byte, ok bool) {
	if len(b) < 2 {
		return 0, nil, nil, false
	}
	tag = b[0]
	n := int(b[1])
	hdr := 2
	if n&0x80 != 0 {
		octets := n & 0x7f
		if octets == 0 || octets > 4 || len(b) < 2+octets {
			return 0, nil, nil, false
		}
		n = 0
		for _, c := range b[2 : 2+octets] {
			n = n<<8 | int(c)
		}
		hdr += octets
	}
	if n < 0 || n > len(b)-hdr {
		return 0, nil, nil, false
	}
	return tag, b[hdr : hdr+n], b[hdr+n:], true
}

// berInt decodes the contents of an INTEGER of at most 5 octets (a uint32 with a sign octet).
func berInt(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 5 {
		return 0, false
	}
	n := int64(int8(v[0])) // sign extension
	for _, c := range v[1:] {
		n = n<<8 | int64(c)
	}
	return n, true
}

const (
	tagInteger  = 0x02
	tagOctets   = 0x04
	tagSequence = 0x30
)

// v3Header is what the receiver needs to know about an SNMPv3 message before decoding it.
type v3Header struct {
	msgID     int64
	flags     byte
	secModel  int64
	engineID  string
	boots     int64
	time      int64
	user      string
	encrypted bool // msgData is an OCTET STRING (encryptedPDU), not a plain scopedPDU
}

// peekV3 reads the header of an SNMPv3 message (RFC 3412 section 6, RFC 3414 section 2.4).
func peekV3(msg []byte) (h v3Header, ok bool) {
	tag, body, rest, ok := tlv(msg)
	if !ok || tag != tagSequence || len(rest) != 0 {
		return h, false
	}
	tag, ver, body, ok := tlv(body)
	if !ok || tag != tagInteger {
		return h, false
	}
	if v, ok := berInt(ver); !ok || v != 3 {
		return h, false
	}
	tag, global, body, ok := tlv(body)
	if !ok || tag != tagSequence {
		return h, false
	}
	var v []byte
	if tag, v, global, ok = tlv(global); !ok || tag != tagInteger {
		return h, false
	}
	if h.msgID, ok = berInt(v); !ok {
		return h, false
	}
	if tag, _, global, ok = tlv(global); !ok || tag != tagInteger { // msgMaxSize
		return h, false
	}
	if tag, v, global, ok = tlv(global); !ok || tag != tagOctets || len(v) != 1 {
		return h, false
	}
	h.flags = v[0]
	if tag, v, _, ok = tlv(global); !ok || tag != tagInteger {
		return h, false
	}
	if h.secModel, ok = berInt(v); !ok {
		return h, false
	}
	tag, sp, body, ok := tlv(body)
	if !ok || tag != tagOctets {
		return h, false
	}
	if len(body) > 0 {
		h.encrypted = body[0] == tagOctets
	}
	if h.secModel != 3 { // not USM: the caller drops it, the rest means nothing to us
		return h, true
	}
	if tag, sp, _, ok = tlv(sp); !ok || tag != tagSequence {
		return h, false
	}
	if tag, v, sp, ok = tlv(sp); !ok || tag != tagOctets {
		return h, false
	}
	h.engineID = string(v)
	if tag, v, sp, ok = tlv(sp); !ok || tag != tagInteger {
		return h, false
	}
	if h.boots, ok = berInt(v); !ok {
		return h, false
	}
	if tag, v, sp, ok = tlv(sp); !ok || tag != tagInteger {
		return h, false
	}
	if h.time, ok = berInt(v); !ok {
		return h, false
	}
	if tag, v, _, ok = tlv(sp); !ok || tag != tagOctets {
		return h, false
	}
	h.user = string(v)
	return h, true
}
