// Package capfile reads the records of a pcap or pcapng capture file (plain or gzipped), with
// the link type of each record and the bytes read so far, for the replays of flow-export and
// mirror-port captures. Capture files come from users: no input makes it panic, hang or
// allocate more than the file holds.
package capfile

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

const (
	// MaxRecord is the longest pcap record read (libpcap's MAXIMUM_SNAPLEN), whatever snap
	// length the file header declares; a longer one is an error, as it is for tcpdump.
	// pcapng records carry no such limit, but pcapgo allocates them as their bytes arrive.
	MaxRecord = 1 << 18
	// ProgressEvery is how many bytes Each reads between two progress calls.
	ProgressEvery = 1 << 20
	// CheckEvery is how many records Each reads between two looks at its context.
	CheckEvery = 1024
)

var (
	// ErrFormat is returned by Open for a file that is neither pcap nor pcapng.
	ErrFormat = errors.New("not a pcap or pcapng capture")
	// ErrTruncated is returned by Next when the capture ends in the middle of a record, as a
	// capture copied while it was being written does. It wraps io.ErrUnexpectedEOF.
	ErrTruncated = fmt.Errorf("the capture ends in the middle of a record: %w", io.ErrUnexpectedEOF)
)

const (
	magicNg        = 0x0A0D0D0A // pcapng section header block, the same in both byte orders
	magicMicros    = 0xA1B2C3D4
	magicNanos     = 0xA1B23C4D
	magicMicrosSwp = 0xD4C3B2A1
	magicNanosSwp  = 0x4D3CB2A1
)

// Reader reads the records of one capture. It is not safe for concurrent use.
type Reader struct {
	count countingReader
	total int64
	src   interface {
		ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	}
	ng      *pcapgo.NgReader // nil for pcap
	link    layers.LinkType  // pcap's, or pcapng's first interface's
	records int64
	err     error // sticky once Next failed
}

// Open reads the file header of a pcap or pcapng capture (either possibly gzipped) from r,
// sniffing which it is; anything else is an ErrFormat. The size of the capture, for
// Total, comes from a Size() int64 method of r (bytes.Reader, strings.Reader,
// io.SectionReader) or Stat of a regular file; it is -1 when r has neither.
func Open(r io.Reader) (*Reader, error) {
	rd := &Reader{count: countingReader{r: r}, total: Size(r)}
	br := bufio.NewReaderSize(&rd.count, 1<<16)
	magic, err := peek4(br)
	if err != nil {
		return nil, err
	}
	if magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("reading the gzip header: %w", err)
		}
		br = bufio.NewReaderSize(zr, 1<<16)
		if magic, err = peek4(br); err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
	}
	switch binary.LittleEndian.Uint32(magic) {
	case magicNg:
		ng, err := pcapgo.NewNgReader(br, pcapgo.NgReaderOptions{WantMixedLinkType: true, SkipUnknownVersion: true})
		if err != nil {
			return nil, fmt.Errorf("pcapng: %w", err)
		}
		rd.src, rd.ng, rd.link = ng, ng, ng.LinkType()
	case magicMicros, magicNanos, magicMicrosSwp, magicNanosSwp:
		pr, err := pcapgo.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("pcap: %w", err)
		}
		pr.SetSnaplen(MaxRecord)
		rd.src, rd.link = pr, pr.LinkType()
	default:
		return nil, fmt.Errorf("%w (it starts with % x)", ErrFormat, magic)
	}
	return rd, nil
}

// peek4 returns the first 4 bytes of br without reading them.
func peek4(br *bufio.Reader) ([]byte, error) {
	magic, err := br.Peek(4)
	switch {
	case err == nil:
		return magic, nil
	case errors.Is(err, io.EOF) && len(magic) == 0:
		return nil, fmt.Errorf("reading the capture header: %w (an empty file)", err)
	case errors.Is(err, io.EOF):
		err = io.ErrUnexpectedEOF
	}
	return nil, fmt.Errorf("reading the capture header: %w", err)
}

// Next returns the next record: its bytes (valid until the following call: they are read
// into a buffer of the Reader, which is allocated once for records up to the largest yet),
// its capture info and its link type (per interface in pcapng). At the end of the capture it
// returns io.EOF; when the capture ends in the middle of a record, ErrTruncated; any other
// failure comes as "record N: …". Every error is returned again by later calls.
func (r *Reader) Next() (data []byte, ci gopacket.CaptureInfo, lt layers.LinkType, err error) {
	if r.err != nil {
		return nil, ci, 0, r.err
	}
	data, ci, err = r.src.ZeroCopyReadPacketData()
	if err != nil {
		switch {
		case errors.Is(err, io.ErrUnexpectedEOF):
			err = ErrTruncated
		case errors.Is(err, io.EOF) && ci.CaptureLength > 0:
			err = ErrTruncated // pcapgo read a pcap record header, then not one byte of its data
		case errors.Is(err, io.EOF):
			err = io.EOF
		default:
			err = fmt.Errorf("record %d: %w", r.records+1, err)
		}
		r.err = err
		return nil, gopacket.CaptureInfo{}, 0, err
	}
	r.records++
	lt = r.link
	if r.ng != nil && len(ci.AncillaryData) > 0 {
		if l, ok := ci.AncillaryData[0].(layers.LinkType); ok { // the record's interface's
			lt = l
		}
	}
	return data, ci, lt, nil
}

// Records is how many records Next has returned.
func (r *Reader) Records() int64 { return r.records }

// Done is how many bytes of the file have been read (for a gzipped file, compressed
// bytes, like Total). Reading is buffered, so it runs a little ahead of the records.
func (r *Reader) Done() int64 { return r.count.n }

// Total is the size of the file, -1 when unknown.
func (r *Reader) Total() int64 { return r.total }

// Size returns the size of what r reads, from a Size() int64 method or Stat of a regular
// file, or -1.
func Size(r io.Reader) int64 {
	switch f := r.(type) {
	case interface{ Size() int64 }: // bytes.Reader, strings.Reader, io.SectionReader, wrappers
		return f.Size()
	case interface{ Stat() (os.FileInfo, error) }: // os.File
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			return fi.Size()
		}
	}
	return -1
}

// Stats says how a capture read by Each ended.
type Stats struct {
	Records   int64 // records handed to fn
	Truncated bool  // the capture ended in the middle of a record (not an error)
}

// Each opens the capture in r and calls fn with every record, in order; data is valid only
// during the call. It returns nil at the end of the capture, a truncated one included (see
// Stats), ctx.Err() when ctx is done (looked at before the first record and then every
// CheckEvery records), and the error of Open or Next otherwise. progress, when not nil, is
// called with (Done, Total) once the header is read, then every ProgressEvery bytes, and
// once more when reading ends, whatever the reason. Nothing is allocated per record.
func Each(ctx context.Context, r io.Reader, progress func(done, total int64), fn func(data []byte, ci gopacket.CaptureInfo, lt layers.LinkType)) (Stats, error) {
	var st Stats
	rd, err := Open(r)
	if err != nil {
		return st, err
	}
	if progress != nil {
		progress(0, rd.total)
	}
	next := int64(ProgressEvery)
	for {
		if rd.records%CheckEvery == 0 && ctx.Err() != nil {
			err = ctx.Err()
			break
		}
		var (
			data []byte
			ci   gopacket.CaptureInfo
			lt   layers.LinkType
		)
		if data, ci, lt, err = rd.Next(); err != nil {
			break
		}
		st.Records = rd.records
		if progress != nil && rd.count.n >= next {
			progress(rd.count.n, rd.total)
			next = rd.count.n + ProgressEvery
		}
		fn(data, ci, lt)
	}
	if progress != nil {
		progress(rd.count.n, rd.total)
	}
	switch {
	case errors.Is(err, io.EOF):
		return st, nil
	case errors.Is(err, ErrTruncated):
		st.Truncated = true
		return st, nil
	}
	return st, err
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
