package decode

import (
	"errors"
)

// ClientHello is what the decoder reads of a TLS ClientHello.
type ClientHello struct {
	Version uint16 // the legacy client_version (0x0303 for TLS 1.2 and 1.3)
	SNI     []byte // server_name (extension 0), host_name type; A-Z folded, no trailing dot; nil when absent
	ALPN    []byte // application_layer_protocol_negotiation (extension 16), protocols comma-separated; nil when absent
	// Partial: the record continues past the bytes given (a ClientHello over several TCP
	// segments, or cut by a snap length): what is here was read, the rest is unknown.
	Partial bool
}

// Limits of what a ClientHello yields, so that a hostile one cannot make the arena grow
// beyond a bounded size per packet.
const (
	maxSNI  = 255
	maxALPN = 255
)

var (
	errTLSNotHello = errors.New("tls: not a ClientHello")
	errTLSRecord   = errors.New("tls: record length beyond 2^14+2048")
	errTLSLength   = errors.New("tls: a length runs past its container")
	errTLSSession  = errors.New("tls: session id longer than 32 bytes")
	errTLSSNI      = errors.New("tls: bad server_name extension")
	errTLSALPN     = errors.New("tls: bad ALPN extension")
)

// reader reads big-endian fields from b; a read past the end sets short and returns zeros.
type reader struct {
	b     []byte
	short bool
}

func (r *reader) u8() int {
	if len(r.b) < 1 {
		r.short, r.b = true, nil
		return 0
	}
	v := int(r.b[0])
	r.b = r.b[1:]
	return v
}

func (r *reader) u16() int {
	if len(r.b) < 2 {
		r.short, r.b = true, nil
		return 0
	}
	v := int(r.b[0])<<8 | int(r.b[1])
	r.b = r.b[2:]
	return v
}

func (r *reader) u24() int {
	if len(r.b) < 3 {
		r.short, r.b = true, nil
		return 0
	}
	v := int(r.b[0])<<16 | int(r.b[1])<<8 | int(r.b[2])
	r.b = r.b[3:]
	return v
}

// bytes returns the next n bytes, or what there is with short set.
func (r *reader) bytes(n int) []byte {
	if n > len(r.b) {
		v := r.b
		r.short, r.b = true, nil
		return v
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

// LooksLikeClientHello says whether p starts a TLS handshake record holding a ClientHello.
func LooksLikeClientHello(p []byte) bool {
	return len(p) >= 6 && p[0] == 0x16 && p[1] == 0x03 && p[5] == 0x01
}

// ParseClientHello reads the ClientHello at the start of p, a TCP segment's payload. The
// SNI and ALPN are written into sni and alpn (up to their lengths, 255 bytes each), which the
// result views. When the segment ends before the ClientHello does, what it holds is returned
// with Partial set and no error: reading a length that runs past the segment is not
// malformed, reading one that runs past its own container is.
func ParseClientHello(p []byte, sni, alpn *[255]byte) (ClientHello, error) {
	var h ClientHello
	if !LooksLikeClientHello(p) {
		return h, errTLSNotHello
	}
	rec := reader{b: p[3:]}
	recLen := rec.u16()
	if recLen > 1<<14+2048 {
		return h, errTLSRecord
	}
	if recLen < 4 {
		return h, errTLSLength
	}
	body := rec.bytes(recLen) // at least p[5], the handshake type (1, checked)
	h.Partial = rec.short
	r := reader{b: body[1:]}
	hsLen := r.u24()
	msg := r.bytes(hsLen)
	// A handshake message longer than its record continues in the next record, which is
	// as good as the next segment here.
	h.Partial = h.Partial || r.short
	m := reader{b: msg}
	h.Version = uint16(m.u16())
	m.bytes(32) // random
	sid := m.u8()
	if sid > 32 {
		return h, errTLSSession
	}
	m.bytes(sid)
	m.bytes(m.u16()) // cipher_suites
	m.bytes(m.u8())  // compression_methods
	if m.short {
		return h, short(h)
	}
	if len(m.b) == 0 { // no extensions (TLS 1.0 style)
		return h, nil
	}
	extLen := m.u16()
	exts := reader{b: m.bytes(extLen)}
	if m.short && !h.Partial {
		return h, errTLSLength
	}
	for len(exts.b) > 0 {
		typ := exts.u16()
		data := exts.bytes(exts.u16())
		if exts.short {
			if h.Partial {
				break
			}
			return h, errTLSLength
		}
		switch typ {
		case 0: // server_name
			if err := readSNI(data, sni, &h); err != nil {
				return h, err
			}
		case 16: // application_layer_protocol_negotiation
			if err := readALPN(data, alpn, &h); err != nil {
				return h, err
			}
		}
	}
	return h, nil
}

func short(h ClientHello) error {
	if h.Partial {
		return nil
	}
	return errTLSLength
}

// readSNI takes the first host_name of a server_name extension.
func readSNI(data []byte, buf *[255]byte, h *ClientHello) error {
	r := reader{b: data}
	list := reader{b: r.bytes(r.u16())}
	if r.short || len(r.b) != 0 {
		return errTLSSNI
	}
	for len(list.b) > 0 {
		typ := list.u8()
		name := list.bytes(list.u16())
		if list.short {
			return errTLSSNI
		}
		if typ != 0 || h.SNI != nil {
			continue
		}
		if len(name) == 0 || len(name) > maxSNI {
			return errTLSSNI
		}
		n := copy(buf[:], name)
		lower(buf[:n])
		if n > 0 && buf[n-1] == '.' {
			n--
		}
		h.SNI = buf[:n:n]
	}
	return nil
}

// readALPN joins the protocol names of an ALPN extension with commas, as many as fit in buf.
func readALPN(data []byte, buf *[255]byte, h *ClientHello) error {
	r := reader{b: data}
	list := reader{b: r.bytes(r.u16())}
	if r.short || len(r.b) != 0 {
		return errTLSALPN
	}
	n := 0
	for len(list.b) > 0 {
		proto := list.bytes(list.u8())
		if list.short || len(proto) == 0 {
			return errTLSALPN
		}
		if n > 0 {
			if n+1+len(proto) > len(buf) {
				break
			}
			buf[n] = ','
			n++
		}
		n += copy(buf[n:], proto)
	}
	h.ALPN = buf[:n:n]
	return nil
}

// lower folds A-Z to a-z in place.
func lower(b []byte) {
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
}
