package decode

import (
	"bytes"
	"errors"
)

// HTTPRequest is what the decoder reads of the head of a cleartext HTTP/1.x request.
type HTTPRequest struct {
	Method []byte // the request method, as sent (a view of the payload)
	Host   []byte // the Host header's value, A-Z folded, without its port; a view of the buffer given
	// Partial: the head continues past the bytes looked at (the segment, or the first
	// 2 KiB of it) before the request line or the Host header was complete.
	Partial bool
}

// httpWindow is how much of a segment is looked at for a request line and a Host header.
const httpWindow = 2048

var (
	errHTTPNotRequest = errors.New("http: not the start of a request")
	errHTTPLine       = errors.New("http: bad request line")
)

// knownMethod says whether m is a method whose bad request line is worth counting as an
// error; any other upper-case token followed by a space is only taken for a request when
// the rest of the line is one (else it is a body that looks like one, ignored).
func knownMethod(m []byte) bool {
	switch string(m) { // no allocation: the compiler compares in place
	case "GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE":
		return true
	}
	return false
}

// ParseHTTPRequest reads the request line and the Host header at the start of p, looking at
// no more than its first 2 KiB. errHTTPNotRequest means p does not start with a method
// token: a continuation of an earlier request or of a body, not an error.
func ParseHTTPRequest(p []byte, host *[255]byte) (HTTPRequest, error) {
	var r HTTPRequest
	if len(p) > httpWindow {
		p = p[:httpWindow]
	}
	i := 0
	for i < len(p) && i <= 16 && 'A' <= p[i] && p[i] <= 'Z' {
		i++
	}
	if i == 0 || i > 16 || i >= len(p) || p[i] != ' ' {
		return r, errHTTPNotRequest
	}
	method := p[:i]
	known := knownMethod(method)
	eol := bytes.IndexByte(p, '\n')
	if eol < 0 {
		if !known {
			return r, errHTTPNotRequest
		}
		r.Method, r.Partial = method, true
		return r, nil
	}
	line := p[:eol]
	line = bytes.TrimSuffix(line, []byte{'\r'})
	sp := bytes.LastIndexByte(line, ' ')
	if sp <= i+1 || !bytes.HasPrefix(line[sp+1:], []byte("HTTP/")) {
		if !known {
			return r, errHTTPNotRequest
		}
		return r, errHTTPLine
	}
	r.Method = method
	rest := p[eol+1:]
	for {
		nl := bytes.IndexByte(rest, '\n')
		if nl < 0 {
			r.Partial = true // the head goes on past the window
			return r, nil
		}
		h := bytes.TrimSuffix(rest[:nl], []byte{'\r'})
		rest = rest[nl+1:]
		if len(h) == 0 {
			return r, nil // end of the head, no Host
		}
		if len(h) < 5 || h[4] != ':' || !asciiEqualFold(h[:4], "host") {
			continue
		}
		v := bytes.Trim(h[5:], " \t")
		if len(v) > 0 && v[0] == '[' { // an IPv6 literal: keep the brackets, drop the port
			if e := bytes.IndexByte(v, ']'); e > 0 {
				v = v[:e+1]
			}
		} else if c := bytes.IndexByte(v, ':'); c >= 0 {
			v = v[:c]
		}
		n := copy(host[:], v)
		lower(host[:n])
		if n > 0 && host[n-1] == '.' {
			n--
		}
		r.Host = host[:n:n]
		return r, nil
	}
}

// asciiEqualFold compares b with the lower-case ASCII s, ignoring case.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}
