package capfile

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// record is one record of a test capture: its interface (pcapng) and bytes.
type record struct {
	iface int
	data  []byte
}

// frame returns n bytes that tell records apart.
func frame(i, n int) []byte {
	b := make([]byte, n)
	for j := range b {
		b[j] = byte(i + j)
	}
	return b
}

// frames returns n records of 60 to 1500 bytes on interface 0.
func frames(n int) []record {
	recs := make([]record, n)
	for i := range recs {
		recs[i] = record{data: frame(i, 60+i*37%1441)}
	}
	return recs
}

func ci(i, n int) gopacket.CaptureInfo {
	return gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(i) * time.Millisecond), CaptureLength: n, Length: n}
}

// writePcap writes recs as a pcap of link type lt; ends holds the offset after each record.
func writePcap(t testing.TB, lt layers.LinkType, snap uint32, recs []record) (file []byte, ends []int) {
	t.Helper()
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if err := w.WriteFileHeader(snap, lt); err != nil {
		t.Fatal(err)
	}
	ends = append(ends, buf.Len())
	for i, r := range recs {
		if err := w.WritePacket(ci(i, len(r.data)), r.data); err != nil {
			t.Fatal(err)
		}
		ends = append(ends, buf.Len())
	}
	return buf.Bytes(), ends
}

// writeNg writes recs as a pcapng with one interface per link type of lts; ends holds the
// offset after the headers and after each record.
func writeNg(t testing.TB, lts []layers.LinkType, recs []record) (file []byte, ends []int) {
	t.Helper()
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriterInterface(&buf, pcapgo.NgInterface{Name: "if0", LinkType: lts[0], SnapLength: 65535}, pcapgo.DefaultNgWriterOptions)
	if err != nil {
		t.Fatal(err)
	}
	for i, lt := range lts[1:] {
		if _, err := w.AddInterface(pcapgo.NgInterface{Name: fmt.Sprintf("if%d", i+1), LinkType: lt, SnapLength: 65535}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	ends = append(ends, buf.Len())
	for i, r := range recs {
		c := ci(i, len(r.data))
		c.InterfaceIndex = r.iface
		if err := w.WritePacket(c, r.data); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		ends = append(ends, buf.Len())
	}
	return buf.Bytes(), ends
}

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readAll reads r to its end, checking each record against want.
func readAll(t *testing.T, r *Reader, want []record, lts []layers.LinkType) error {
	t.Helper()
	for i := 0; ; i++ {
		data, c, lt, err := r.Next()
		if err != nil {
			if r.Records() != int64(i) {
				t.Errorf("Records() %d after %d records", r.Records(), i)
			}
			if _, _, _, again := r.Next(); again != err {
				t.Errorf("Next after %v: %v", err, again)
			}
			return err
		}
		if i >= len(want) {
			t.Fatalf("record %d of %d", i+1, len(want))
		}
		if !bytes.Equal(data, want[i].data) || c.CaptureLength != len(data) || !c.Timestamp.Equal(t0.Add(time.Duration(i)*time.Millisecond)) {
			t.Errorf("record %d: %d bytes at %s, want %d", i+1, len(data), c.Timestamp, len(want[i].data))
		}
		if lt != lts[want[i].iface] {
			t.Errorf("record %d: link type %s, want %s", i+1, lt, lts[want[i].iface])
		}
	}
}

// TestOpen: pcap in its four magics, pcapng and both gzipped read back every record with
// its link type; anything else is a clear error.
func TestOpen(t *testing.T) {
	recs := frames(20)
	pcap, _ := writePcap(t, layers.LinkTypeEthernet, 65535, recs)
	var nanos bytes.Buffer
	nw := pcapgo.NewWriterNanos(&nanos)
	_ = nw.WriteFileHeader(65535, layers.LinkTypeEthernet)
	for i, r := range recs {
		_ = nw.WritePacket(ci(i, len(r.data)), r.data)
	}
	// The same captures written big-endian: swap the 32-bit header fields.
	bigEndian := func(le []byte) []byte {
		b := slices.Clone(le)
		swap := func(off int, n int) {
			for i := off; i < off+n; i += 4 {
				binary.BigEndian.PutUint32(b[i:], binary.LittleEndian.Uint32(b[i:]))
			}
		}
		swap(0, 4)
		binary.BigEndian.PutUint16(b[4:], binary.LittleEndian.Uint16(b[4:]))
		binary.BigEndian.PutUint16(b[6:], binary.LittleEndian.Uint16(b[6:]))
		swap(8, 16)
		for off := 24; off < len(b); {
			n := int(binary.LittleEndian.Uint32(b[off+8:]))
			swap(off, 16)
			off += 16 + n
		}
		return b
	}
	ng, _ := writeNg(t, []layers.LinkType{layers.LinkTypeEthernet}, recs)
	eth := []layers.LinkType{layers.LinkTypeEthernet}
	for name, b := range map[string][]byte{
		"pcap": pcap, "pcap nanoseconds": nanos.Bytes(), "pcap big-endian": bigEndian(pcap),
		"pcap nanoseconds big-endian": bigEndian(nanos.Bytes()), "pcapng": ng,
		"pcap gzipped": gzipped(t, pcap), "pcapng gzipped": gzipped(t, ng),
	} {
		t.Run(name, func(t *testing.T) {
			r, err := Open(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if err := readAll(t, r, recs, eth); err != io.EOF {
				t.Errorf("end: %v, want io.EOF", err)
			}
			if r.Done() != int64(len(b)) || r.Total() != int64(len(b)) {
				t.Errorf("done %d of %d, want %d", r.Done(), r.Total(), len(b))
			}
		})
	}

	for _, tc := range []struct {
		name string
		b    []byte
		want string
		is   error
	}{
		{"empty", nil, "an empty file", io.EOF},
		{"short", pcap[:3], "reading the capture header: unexpected EOF", io.ErrUnexpectedEOF},
		{"pcap header cut", pcap[:20], "pcap: unexpected EOF", io.ErrUnexpectedEOF},
		{"pcapng header cut", ng[:20], "pcapng: unexpected EOF", io.ErrUnexpectedEOF},
		{"gif", []byte("GIF89a not a capture"), "not a pcap or pcapng capture (it starts with 47 49 46 38)", ErrFormat},
		{"gzipped gif", gzipped(t, []byte("GIF89a")), "not a pcap or pcapng capture", ErrFormat},
		{"gzipped nothing", gzipped(t, nil), "gzip: reading the capture header", io.EOF},
		{"gzip header cut", gzipped(t, pcap)[:6], "reading the gzip header", io.ErrUnexpectedEOF},
		{"pcap version 3", func() []byte { b := slices.Clone(pcap); b[4] = 3; return b }(), "pcap: Unknown major version 3", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Open(bytes.NewReader(tc.b))
			if err == nil {
				t.Fatalf("opened: %+v", r)
			}
			if !strings.Contains(err.Error(), tc.want) || (tc.is != nil && !errors.Is(err, tc.is)) {
				t.Errorf("error %q, want %q (%v)", err, tc.want, tc.is)
			}
		})
	}
}

// TestLinkTypes: each pcapng record comes with the link type of its own interface.
func TestLinkTypes(t *testing.T) {
	lts := []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeRaw, layers.LinkTypeLinuxSLL2}
	recs := frames(30)
	for i := range recs {
		recs[i].iface = i * 7 % len(lts)
	}
	ng, _ := writeNg(t, lts, recs)
	r, err := Open(bytes.NewReader(ng))
	if err != nil {
		t.Fatal(err)
	}
	if err := readAll(t, r, recs, lts); err != io.EOF {
		t.Errorf("end: %v", err)
	}
	// pcap has one link type for the whole file.
	pcap, _ := writePcap(t, layers.LinkTypeLinuxSLL, 65535, recs)
	if r, err = Open(bytes.NewReader(pcap)); err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		recs[i].iface = 0
	}
	if err := readAll(t, r, recs, []layers.LinkType{layers.LinkTypeLinuxSLL}); err != io.EOF {
		t.Errorf("end: %v", err)
	}
}

// TestCut: a capture cut at any byte gives every whole record before the cut, then io.EOF
// when the cut falls between records and ErrTruncated when it falls inside one.
func TestCut(t *testing.T) {
	recs := frames(6)
	recs[2].data = recs[2].data[:0] // an empty record
	lts := []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeRaw}
	recs[3].iface = 1
	pcap, pcapEnds := writePcap(t, layers.LinkTypeEthernet, 65535, recs)
	ng, ngEnds := writeNg(t, lts, recs)
	for _, tc := range []struct {
		name string
		file []byte
		ends []int
		lts  []layers.LinkType
	}{
		{"pcap", pcap, pcapEnds, []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeEthernet}},
		{"pcapng", ng, ngEnds, lts},
	} {
		for n := tc.ends[0]; n <= len(tc.file); n++ {
			r, err := Open(bytes.NewReader(tc.file[:n]))
			if err != nil {
				t.Fatalf("%s cut at %d: %v", tc.name, n, err)
			}
			whole := 0 // records wholly before the cut
			for whole+1 < len(tc.ends) && tc.ends[whole+1] <= n {
				whole++
			}
			end := readAll(t, r, recs[:whole], tc.lts)
			want := ErrTruncated
			if slices.Contains(tc.ends, n) {
				want = io.EOF
			}
			if end != want || r.Records() != int64(whole) {
				t.Errorf("%s cut at %d of %d: %d records, %v; want %d, %v", tc.name, n, len(tc.file), r.Records(), end, whole, want)
			}
		}
	}
	// Gzipped, the cut stream is truncated too.
	z := gzipped(t, pcap)
	r, err := Open(bytes.NewReader(z[:len(z)*3/4]))
	if err != nil {
		t.Fatal(err)
	}
	for err == nil {
		_, _, _, err = r.Next()
	}
	if err != ErrTruncated || r.Records() >= int64(len(recs)) {
		t.Errorf("gzip cut: %d records, %v", r.Records(), err)
	}
}

// TestHugeRecords: a pcap record longer than MaxRecord is an error whatever the file's snap
// length says; one of MaxRecord bytes is read; a length claimed by a small file allocates
// no more than the file holds.
func TestHugeRecords(t *testing.T) {
	big := []record{{data: frame(1, 100)}, {data: frame(2, MaxRecord)}, {data: frame(3, MaxRecord+1)}}
	for _, snap := range []uint32{65535, MaxRecord, 0xffffffff} {
		file, _ := writePcap(t, layers.LinkTypeEthernet, snap, big)
		r, err := Open(bytes.NewReader(file))
		if err != nil {
			t.Fatal(err)
		}
		err = readAll(t, r, big[:2], []layers.LinkType{layers.LinkTypeEthernet})
		if err == nil || errors.Is(err, ErrTruncated) || !strings.HasPrefix(err.Error(), "record 3: capture length exceeds snap length") {
			t.Errorf("snap %d: %v", snap, err)
		}
	}
	// pcapng takes a long record when its bytes are there.
	ng, _ := writeNg(t, []layers.LinkType{layers.LinkTypeEthernet}, big)
	r, err := Open(bytes.NewReader(ng))
	if err != nil {
		t.Fatal(err)
	}
	if err := readAll(t, r, big, []layers.LinkType{layers.LinkTypeEthernet}); err != io.EOF {
		t.Errorf("pcapng: %v", err)
	}

	// Lengths of 2 GiB and 4 GiB in files of a few hundred bytes.
	small := frames(3)
	pcap, pcapEnds := writePcap(t, layers.LinkTypeEthernet, 0xffffffff, small)
	ngs, ngEnds := writeNg(t, []layers.LinkType{layers.LinkTypeEthernet}, small)
	for _, tc := range []struct {
		name  string
		file  []byte
		field int // offset of the length to corrupt
		value uint32
		want  error
	}{
		{"pcap caplen 2 GiB", pcap, pcapEnds[1] + 8, 0x7fffffff, nil},
		{"pcap caplen 4 GiB", pcap, pcapEnds[1] + 8, 0xffffffff, nil},
		{"pcapng caplen 2 GiB", ngs, ngEnds[1] + 20, 0x7fffffff, ErrTruncated},
		{"pcapng caplen 4 GiB", ngs, ngEnds[1] + 20, 0xfffffff0, ErrTruncated},
		{"pcapng block 4 GiB", ngs, ngEnds[1] + 4, 0xfffffff0, ErrTruncated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := slices.Clone(tc.file)
			binary.LittleEndian.PutUint32(b[tc.field:], tc.value)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			r, err := Open(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			var end error
			for end == nil {
				_, _, _, end = r.Next()
			}
			runtime.ReadMemStats(&after)
			if end == io.EOF || (tc.want != nil && end != tc.want) || r.Records() != 1 {
				t.Errorf("%d records, then %v; want 1 then %v", r.Records(), end, tc.want)
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > 4<<20 {
				t.Errorf("%d bytes allocated for a file of %d", n, len(b))
			}
		})
	}
}

// TestSize: the total comes from Size() or Stat of a regular file, else -1.
func TestSize(t *testing.T) {
	file, _ := writePcap(t, layers.LinkTypeEthernet, 65535, frames(3))
	path := filepath.Join(t.TempDir(), "c.pcap")
	if err := os.WriteFile(path, file, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	for _, tc := range []struct {
		name string
		r    io.Reader
		want int64
	}{
		{"bytes.Reader", bytes.NewReader(file), int64(len(file))},
		{"strings.Reader", strings.NewReader("abc"), 3},
		{"io.SectionReader", io.NewSectionReader(bytes.NewReader(file), 10, 20), 20},
		{"regular file", f, int64(len(file))},
		{"directory", dir, -1},
		{"plain reader", io.MultiReader(bytes.NewReader(file)), -1},
	} {
		if got := Size(tc.r); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
	st, err := Each(context.Background(), f, func(done, total int64) {
		if total != int64(len(file)) {
			t.Errorf("total %d, want %d", total, len(file))
		}
	}, func([]byte, gopacket.CaptureInfo, layers.LinkType) {})
	if err != nil || st.Records != 3 {
		t.Errorf("file: %+v, %v", st, err)
	}
}

// progressRec records progress calls.
type progressRec struct{ calls [][2]int64 }

func (p *progressRec) f(done, total int64) { p.calls = append(p.calls, [2]int64{done, total}) }

// TestEach: every record in order, progress at 0, every ProgressEvery bytes and at the end,
// truncation not an error, the context looked at every CheckEvery records.
func TestEach(t *testing.T) {
	recs := make([]record, 3000)
	for i := range recs {
		recs[i] = record{iface: i % 2, data: frame(i, 1400)}
	}
	lts := []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeIPv4}
	ng, ngEnds := writeNg(t, lts, recs) // about 4.3 MB
	size := int64(len(ng))

	var p progressRec
	i := 0
	st, err := Each(context.Background(), bytes.NewReader(ng), p.f, func(data []byte, c gopacket.CaptureInfo, lt layers.LinkType) {
		if !bytes.Equal(data, recs[i].data) || lt != lts[recs[i].iface] || c.InterfaceIndex != recs[i].iface {
			t.Errorf("record %d: %d bytes, link type %s", i+1, len(data), lt)
		}
		i++
	})
	if err != nil || st != (Stats{Records: 3000}) || i != 3000 {
		t.Fatalf("%+v, %v, %d calls", st, err, i)
	}
	if len(p.calls) != 2+int(size/ProgressEvery) || p.calls[0] != [2]int64{0, size} || p.calls[len(p.calls)-1] != [2]int64{size, size} {
		t.Errorf("progress %v for %d bytes", p.calls, size)
	}
	for k := 1; k < len(p.calls)-1; k++ {
		if d := p.calls[k][0]; d < int64(k)*ProgressEvery || d > p.calls[k-1][0]+ProgressEvery+1<<16 {
			t.Errorf("progress call %d at %d bytes: %v", k, d, p.calls)
		}
	}

	// Cut inside record 1001: 1000 records, Truncated, no error, progress at the end.
	p = progressRec{}
	cut := ng[:ngEnds[1000]+30]
	st, err = Each(context.Background(), io.MultiReader(bytes.NewReader(cut)), p.f, func([]byte, gopacket.CaptureInfo, layers.LinkType) {})
	if err != nil || st != (Stats{Records: 1000, Truncated: true}) {
		t.Errorf("cut: %+v, %v", st, err)
	}
	if last := p.calls[len(p.calls)-1]; last != [2]int64{int64(len(cut)), -1} || p.calls[0] != [2]int64{0, -1} {
		t.Errorf("cut: progress %v", p.calls)
	}

	// Cancelled in record 10, Each stops before record 1025.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p = progressRec{}
	st, err = Each(ctx, bytes.NewReader(ng), p.f, func(_ []byte, c gopacket.CaptureInfo, _ layers.LinkType) {
		if c.Timestamp.Equal(t0.Add(9 * time.Millisecond)) {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) || st.Records != CheckEvery || st.Truncated {
		t.Errorf("cancelled: %+v, %v", st, err)
	}
	if len(p.calls) != 3 || p.calls[2][0] < p.calls[1][0] {
		t.Errorf("cancelled: progress %v", p.calls)
	}
	// Cancelled before: no record.
	st, err = Each(ctx, bytes.NewReader(ng), nil, func([]byte, gopacket.CaptureInfo, layers.LinkType) { t.Error("a record after cancel") })
	if !errors.Is(err, context.Canceled) || st.Records != 0 {
		t.Errorf("cancelled before: %+v, %v", st, err)
	}

	// A bad header: no progress, the error. A bad record: its number.
	p = progressRec{}
	if _, err := Each(context.Background(), strings.NewReader("GIF89a"), p.f, nil); !errors.Is(err, ErrFormat) || len(p.calls) != 0 {
		t.Errorf("gif: %v, progress %v", err, p.calls)
	}
	bad := slices.Clone(ng)
	binary.LittleEndian.PutUint32(bad[ngEnds[5]+8:], 7) // record 6 on interface 7
	st, err = Each(context.Background(), bytes.NewReader(bad), nil, func([]byte, gopacket.CaptureInfo, layers.LinkType) {})
	if err == nil || !strings.HasPrefix(err.Error(), "record 6: ") || st.Records != 5 {
		t.Errorf("bad record: %+v, %v", st, err)
	}
}

// TestEachAllocs: reading twice as many records allocates nothing more.
func TestEachAllocs(t *testing.T) {
	for _, kind := range []string{"pcap", "pcapng"} {
		allocs := func(n int) float64 {
			var file []byte
			if kind == "pcap" {
				file, _ = writePcap(t, layers.LinkTypeEthernet, 65535, frames(n))
			} else {
				file, _ = writeNg(t, []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeRaw}, frames(n))
			}
			r := bytes.NewReader(file)
			sum := 0
			return testing.AllocsPerRun(10, func() {
				r.Reset(file)
				if _, err := Each(context.Background(), r, func(int64, int64) {}, func(data []byte, _ gopacket.CaptureInfo, _ layers.LinkType) { sum += len(data) }); err != nil {
					t.Fatal(err)
				}
			})
		}
		if a, b := allocs(500), allocs(1000); b > a {
			t.Errorf("%s: %.0f allocations for 500 records, %.0f for 1000", kind, a, b)
		}
	}
}

// BenchmarkEach measures records per second through Each from memory.
func BenchmarkEach(b *testing.B) {
	recs := make([]record, 4096)
	for i := range recs {
		recs[i] = record{data: frame(i, 60+i*97%1441)}
	}
	pcap, _ := writePcap(b, layers.LinkTypeEthernet, 65535, recs)
	ng, _ := writeNg(b, []layers.LinkType{layers.LinkTypeEthernet}, recs)
	for name, file := range map[string][]byte{"pcap": pcap, "pcapng": ng} {
		b.Run(name, func(b *testing.B) {
			r := bytes.NewReader(file)
			b.ReportAllocs()
			b.SetBytes(int64(len(file)))
			for b.Loop() {
				r.Reset(file)
				if _, err := Each(context.Background(), r, nil, func([]byte, gopacket.CaptureInfo, layers.LinkType) {}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// FuzzNext: capture files come from users; no input may panic, hang or make Next return
// more than the file holds.
func FuzzNext(f *testing.F) {
	recs := frames(4)
	recs[1].iface = 1
	pcap, _ := writePcap(f, layers.LinkTypeEthernet, 65535, recs)
	ng, _ := writeNg(f, []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeRaw}, recs)
	f.Add(pcap)
	f.Add(pcap[:100])
	f.Add(ng)
	f.Add(ng[:200])
	f.Add(gzipped(f, pcap))
	f.Add(gzipped(f, ng))
	f.Add([]byte("GIF89a"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Open(bytes.NewReader(b))
		if err != nil {
			if r != nil {
				t.Error("a Reader with an error")
			}
			return
		}
		if r.Total() != int64(len(b)) {
			t.Errorf("total %d of %d bytes", r.Total(), len(b))
		}
		var read int64
		for {
			data, c, _, err := r.Next()
			if err != nil {
				if data != nil || r.Records() != read {
					t.Errorf("%v with %d bytes after %d records (%d counted)", err, len(data), read, r.Records())
				}
				break
			}
			read++
			if len(data) != c.CaptureLength || len(data) > max(MaxRecord, len(b)) && !isGzip(b) {
				t.Errorf("record %d: %d bytes, capture length %d, file %d", read, len(data), c.CaptureLength, len(b))
			}
			if r.Done() > int64(len(b)) {
				t.Errorf("%d bytes read of %d", r.Done(), len(b))
			}
		}
	})
}

func isGzip(b []byte) bool { return len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b }

// FuzzEach: Each ends on every input, with no more records than the file could hold.
func FuzzEach(f *testing.F) {
	pcap, _ := writePcap(f, layers.LinkTypeEthernet, 65535, frames(3))
	ng, _ := writeNg(f, []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL}, frames(3))
	f.Add(pcap)
	f.Add(ng)
	f.Fuzz(func(t *testing.T, b []byte) {
		var last int64
		st, err := Each(context.Background(), bytes.NewReader(b), func(done, total int64) {
			if done < last || total != int64(len(b)) {
				t.Errorf("progress %d of %d after %d", done, total, last)
			}
			last = done
		}, func([]byte, gopacket.CaptureInfo, layers.LinkType) {})
		if err == nil && st.Records > int64(len(b)) && !isGzip(b) {
			t.Errorf("%d records from %d bytes", st.Records, len(b))
		}
	})
}
