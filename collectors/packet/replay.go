package packet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/internal/capfile"
)

// ReplayStats counts what Replay read.
type ReplayStats struct {
	Packets      int64 // capture records read
	Unsupported  int64 // records of a link type other than Ethernet, raw IP, Linux SLL and SLL2
	Filtered     int64 // records the filter rejected
	Sampled      int64 // records kept by the sampler and decoded
	Errors       int64 // of those, records the decoder returned an error for
	Observations int64 // observations handed to the sink
	First, Last  time.Time
	Truncated    bool // the capture ended in the middle of a record
}

// filters holds the filter compiled for each link type met in a file or source.
type filters struct {
	expr  string
	snap  uint32
	progs map[layers.LinkType]*bpf.VM
}

// match runs the filter as the kernel would and returns the frame cut to the snap length,
// or false when the filter rejects it or cannot be compiled for the link type.
func (f *filters) match(lt layers.LinkType, data []byte) ([]byte, bool) {
	vm, ok := f.progs[lt]
	if !ok {
		if link, ok := filterLink(lt, false); ok {
			if prog, err := compileFilter(f.expr, link, f.snap); err == nil {
				vm, _ = bpf.NewVM(prog)
			}
		}
		f.progs[lt] = vm
	}
	if vm == nil {
		return nil, false
	}
	n, err := vm.Run(data)
	if err != nil || n == 0 {
		return nil, false
	}
	return data[:min(n, len(data))], true
}

// Replay reads a pcap or pcapng capture, gzipped or not (pcapgo: Ethernet, raw IP, Linux SLL and SLL2 link
// types) through the same filter, sampling and decoding as live capture, with the capture
// timestamps as time, calling sink with worker 0. Interval summaries come by packet time, and
// whatever is pending is flushed at the end. No privileges are needed. progress, when not
// nil, is called with the bytes read so far and the size of r (capfile.Each: once the
// header is read, every MiB and at the end; the size from a Size() method, or Stat for a
// regular file; -1 when unknown). A capture cut in the middle of a record is not an error:
// ReplayStats.Truncated says so.
//
// Replay must not run while Run, RunSource or another Replay does on the same collector;
// use NewReplayer for a collector that only replays.
func (c *Collector) Replay(ctx context.Context, r io.Reader, sink Sink, progress func(done, total int64)) (ReplayStats, error) {
	var st ReplayStats
	if !c.busy.CompareAndSwap(false, true) {
		return st, errors.New("packet: Replay while Run, RunSource or Replay is running")
	}
	defer c.busy.Store(false)

	name := "replay"
	if f, ok := r.(interface{ Name() string }); ok {
		name = f.Name()
	}
	cs := &countingSink{sink: sink}
	w := c.newWorker(0, name, cs)
	f := &filters{expr: c.cfg.Filter, snap: uint32(c.cfg.SnapLen), progs: map[layers.LinkType]*bpf.VM{}}
	cst, err := capfile.Each(ctx, r, progress, func(data []byte, ci gopacket.CaptureInfo, lt layers.LinkType) {
		if _, ok := filterLink(lt, false); !ok {
			st.Unsupported++
			return
		}
		if st.First.IsZero() {
			st.First = ci.Timestamp
		}
		st.Last = ci.Timestamp
		w.source0(f, lt, data, ci)
		st.Filtered, st.Sampled, st.Errors = int64(w.filtered), int64(w.sampled), int64(w.errs)
	})
	st.Packets, st.Truncated = cst.Records, cst.Truncated
	w.flush(st.Last)
	st.Observations = cs.n
	if err != nil {
		return st, fmt.Errorf("packet: replay: %w", err)
	}
	return st, nil
}

// source0 filters one frame of a file or source and, when it passes, samples and decodes it.
func (w *worker) source0(f *filters, lt layers.LinkType, data []byte, ci gopacket.CaptureInfo) bool {
	data, ok := f.match(lt, data)
	if !ok {
		w.seen++
		w.filtered++
		return false
	}
	w.packet(lt, data, max(ci.Length, len(data)), ci.Timestamp)
	return true
}

// RunSource decodes the frames of src, named name in the observations' Source, through the
// same filter, sampling and decoding as live capture, calling sink with worker 0, until ctx
// is done or src ends (io.EOF, which returns nil, after everything pending is flushed).
// Like Replay, it must not run beside Run, Replay or another RunSource on one collector.
func (c *Collector) RunSource(ctx context.Context, name string, src Source, sink Sink) error {
	if !c.busy.CompareAndSwap(false, true) {
		return errors.New("packet: RunSource while Run, Replay or RunSource is running")
	}
	defer c.busy.Store(false)
	w := c.newWorker(0, name, sink)
	f := &filters{expr: c.cfg.Filter, snap: uint32(c.cfg.SnapLen), progs: map[layers.LinkType]*bpf.VM{}}
	lt := src.LinkType()
	if _, ok := filterLink(lt, false); !ok {
		return fmt.Errorf("packet: source %s: link type %s is not supported (Ethernet, raw IP, Linux SLL, SLL2)", name, lt)
	}
	var last time.Time
	for n := 0; ; n++ {
		if n%64 == 0 && ctx.Err() != nil {
			w.tick(time.Now())
			return nil
		}
		data, ci, err := src.ZeroCopyReadPacketData()
		if err != nil {
			var timeout interface{ Timeout() bool }
			switch {
			case errors.Is(err, io.EOF):
				w.flush(last)
				return nil
			case errors.As(err, &timeout) && timeout.Timeout():
				w.tick(time.Now())
				continue
			}
			w.tick(time.Now())
			return fmt.Errorf("packet: source %s: %w", name, err)
		}
		last = ci.Timestamp
		w.source0(f, lt, data, ci)
	}
}

// countingSink counts what Replay hands to the sink.
type countingSink struct {
	sink Sink
	n    int64
}

func (s *countingSink) HandleObservations(worker int, obs []watchfloor.Observation) {
	s.n += int64(len(obs))
	s.sink.HandleObservations(worker, obs)
}
