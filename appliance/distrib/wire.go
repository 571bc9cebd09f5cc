package distrib

import (
	"encoding/json"
	"errors"
	"fmt"
)

// The messages, JSON. An appliance asks on wf.<site>.dist with what it holds (Have); the
// reply offers every kind whose version differs, with the first bytes of its content when
// they fit in ChunkBytes. The appliance then fetches the rest a chunk at a time (Fetch),
// naming the version and digest it wants: when central has moved on, the reply says stale
// and the appliance asks again from the start.

// request is what an appliance sends.
type request struct {
	Have  map[string]held `json:"have,omitempty"`
	Fetch *fetch          `json:"fetch,omitempty"`
}

// held is what an appliance holds of a kind: the version in force and its digest, and the
// latest version it refused (whose content it does not want again).
type held struct {
	Version uint64 `json:"version"`
	Digest  string `json:"digest,omitempty"`
	Refused uint64 `json:"refused,omitempty"`
}

// fetch asks for the content of a version from Offset on.
type fetch struct {
	Kind    string `json:"kind"`
	Version uint64 `json:"version"`
	Digest  string `json:"digest"`
	Offset  int64  `json:"offset"`
}

// reply is central's answer.
type reply struct {
	// Error is set when the request could not be served: errStale (the version fetched is
	// no longer offered), or why the request is invalid.
	Error  string  `json:"error,omitempty"`
	Offers []offer `json:"offers,omitempty"`
	Chunk  *chunk  `json:"chunk,omitempty"`
}

// offer is a version of a kind that differs from what the appliance holds.
type offer struct {
	Kind    string `json:"kind"`
	Version uint64 `json:"version"`
	Digest  string `json:"digest"`
	Size    int64  `json:"size"`
	Data    []byte `json:"data,omitempty"` // the first len(Data) bytes of the content
}

// chunk is a part of a version's content.
type chunk struct {
	Kind    string `json:"kind"`
	Version uint64 `json:"version"`
	Digest  string `json:"digest"`
	Offset  int64  `json:"offset"`
	Data    []byte `json:"data"`
}

// errStale is the reply's Error when the fetched version is no longer the one offered.
const errStale = "stale"

func checkDigest(d string) error {
	if len(d) != 64 {
		return fmt.Errorf("digest %q: want 64 hex digits", d)
	}
	for i := 0; i < len(d); i++ {
		if c := d[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return fmt.Errorf("digest %q: want 64 hex digits", d)
		}
	}
	return nil
}

// decodeRequest reads and checks an appliance's request.
func decodeRequest(b []byte) (request, error) {
	var r request
	if len(b) > maxRequestBytes {
		return r, fmt.Errorf("request of %d bytes, over %d", len(b), maxRequestBytes)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return request{}, fmt.Errorf("request: %w", err)
	}
	for k, h := range r.Have {
		if !validKind(k) {
			return request{}, fmt.Errorf("request: unknown kind %q", k)
		}
		if h.Digest != "" {
			if err := checkDigest(h.Digest); err != nil {
				return request{}, fmt.Errorf("request: %s: %w", k, err)
			}
		}
	}
	if f := r.Fetch; f != nil {
		if !validKind(f.Kind) {
			return request{}, fmt.Errorf("request: fetch: unknown kind %q", f.Kind)
		}
		if f.Offset < 0 || f.Offset >= MaxBundleBytes {
			return request{}, fmt.Errorf("request: fetch: offset %d out of range", f.Offset)
		}
		if err := checkDigest(f.Digest); err != nil {
			return request{}, fmt.Errorf("request: fetch: %w", err)
		}
	}
	return r, nil
}

// decodeReply reads and checks central's reply: known kinds, well-formed digests, sizes
// and chunks within the bounds.
func decodeReply(b []byte) (reply, error) {
	var r reply
	if len(b) > maxReplyBytes {
		return r, fmt.Errorf("reply of %d bytes, over %d", len(b), maxReplyBytes)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return reply{}, fmt.Errorf("reply: %w", err)
	}
	if len(r.Error) > 1024 {
		r.Error = r.Error[:1024]
	}
	if len(r.Offers) > len(kinds) {
		return reply{}, fmt.Errorf("reply: %d offers", len(r.Offers))
	}
	seen := map[string]bool{}
	inline := 0
	for _, o := range r.Offers {
		if !validKind(o.Kind) || seen[o.Kind] {
			return reply{}, fmt.Errorf("reply: offer of kind %q unknown or twice", o.Kind)
		}
		seen[o.Kind] = true
		if o.Version == 0 {
			return reply{}, fmt.Errorf("reply: %s: version 0", o.Kind)
		}
		if err := checkDigest(o.Digest); err != nil {
			return reply{}, fmt.Errorf("reply: %s: %w", o.Kind, err)
		}
		if o.Size < 0 || o.Size > MaxBundleBytes || int64(len(o.Data)) > o.Size {
			return reply{}, fmt.Errorf("reply: %s: size %d (data %d) out of range", o.Kind, o.Size, len(o.Data))
		}
		inline += len(o.Data)
	}
	if inline > ChunkBytes {
		return reply{}, fmt.Errorf("reply: %d bytes inline, over %d", inline, ChunkBytes)
	}
	if c := r.Chunk; c != nil {
		if !validKind(c.Kind) {
			return reply{}, fmt.Errorf("reply: chunk of unknown kind %q", c.Kind)
		}
		if err := checkDigest(c.Digest); err != nil {
			return reply{}, fmt.Errorf("reply: chunk: %w", err)
		}
		if c.Offset < 0 || c.Offset >= MaxBundleBytes || len(c.Data) == 0 || len(c.Data) > ChunkBytes ||
			c.Offset+int64(len(c.Data)) > MaxBundleBytes {
			return reply{}, errors.New("reply: chunk out of range")
		}
	}
	return r, nil
}
