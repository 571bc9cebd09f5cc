package distrib

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// The decoders of what the other side sends: none may panic or allocate beyond its bounds
// on any input, and what they accept must be within the bounds.

func FuzzDecodeRequest(f *testing.F) {
	d := strings.Repeat("0f", 32)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"have":{"rules":{"version":3,"digest":"` + d + `","refused":4},"silences":{"version":1}}}`))
	f.Add([]byte(`{"fetch":{"kind":"lists","version":1,"digest":"` + d + `","offset":524288}}`))
	f.Add([]byte(`{"have":null,"fetch":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRequest(b)
		if err != nil {
			return
		}
		for k := range r.Have {
			if !validKind(k) {
				t.Fatalf("accepted kind %q", k)
			}
		}
		if r.Fetch != nil && (r.Fetch.Offset < 0 || !validKind(r.Fetch.Kind)) {
			t.Fatalf("accepted fetch %+v", r.Fetch)
		}
	})
}

func FuzzDecodeReply(f *testing.F) {
	d := strings.Repeat("0f", 32)
	f.Add([]byte(`{"offers":[{"kind":"rules","version":1,"digest":"` + d + `","size":4,"data":"V0ZEMQ=="}]}`))
	f.Add([]byte(`{"chunk":{"kind":"lists","version":2,"digest":"` + d + `","offset":524288,"data":"AAAA"}}`))
	f.Add([]byte(`{"error":"stale"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeReply(b)
		if err != nil {
			return
		}
		for _, o := range r.Offers {
			if !validKind(o.Kind) || o.Size > MaxBundleBytes || int64(len(o.Data)) > o.Size || o.Version == 0 {
				t.Fatalf("accepted offer %+v", o)
			}
		}
		if c := r.Chunk; c != nil && (len(c.Data) > ChunkBytes || c.Offset < 0 || len(c.Data) == 0) {
			t.Fatalf("accepted chunk at %d of %d bytes", c.Offset, len(c.Data))
		}
	})
}

func FuzzDecodeFiles(f *testing.F) {
	b, _ := encodeFiles([]file{{"scan.yaml", []byte("title: x\n")}, {"lists/a.txt", []byte("1.2.3.4\n")}})
	f.Add(b)
	f.Add([]byte(bundleMagic + "\x00"))
	f.Add([]byte(bundleMagic + "\x01\x02..\x01x"))
	f.Fuzz(func(t *testing.T, b []byte) {
		files, err := decodeFiles(b)
		if err != nil {
			return
		}
		// What decodes is canonical: it encodes to the same bytes, and combines.
		again, err := encodeFiles(files)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("decoded %d files that encode differently (%v)", len(files), err)
		}
		for _, fl := range files {
			if checkPath(fl.Path) != "" {
				t.Fatalf("accepted path %q", fl.Path)
			}
		}
		_, _ = combine(files, files)
	})
}

func FuzzDecodeSilences(f *testing.F) {
	f.Add([]byte(`[{"id":"central-a","matchers":[{"name":"site","op":"=~","value":"n.*"}],"starts_at":"2026-01-01T00:00:00Z","ends_at":"2026-01-02T00:00:00Z"}]`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ss, err := decodeSilences(b)
		if err != nil {
			return
		}
		if len(ss) > MaxSilences {
			t.Fatalf("%d silences", len(ss))
		}
		if _, err := json.Marshal(ss); err != nil {
			t.Fatal(err)
		}
		_ = forSite(ss, "north")
	})
}
