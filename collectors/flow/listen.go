package flow

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// Sockets: several per listen address bound with SO_REUSEPORT (the kernel spreads exporters
// over them by a hash of the 4-tuple, so one exporter's datagrams stay in order on one
// socket), large receive buffers, and batched reads with recvmmsg.

// batchReader is ipv4.PacketConn or ipv6.PacketConn; their Message types are the same.
type batchReader interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
}

type socket struct {
	conn   *net.UDPConn
	reader batchReader
	proto  int
	inode  uint64
	rcvbuf int // granted, bytes

	lastDrops uint32 // the drops column when last read (guarded by dropTracker.mu)
	seen      bool
}

// listen binds n sockets to addr with SO_REUSEPORT and the given receive buffer. When addr
// has port 0, the first socket picks the port and the others join it.
func listen(addr string, n, rcvbuf, proto int) ([]*socket, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); serr != nil {
				serr = fmt.Errorf("SO_REUSEPORT: %w", serr)
				return
			}
			if rcvbuf > 0 {
				// SO_RCVBUFFORCE passes net.core.rmem_max with CAP_NET_ADMIN; without it,
				// SO_RCVBUF gives what rmem_max allows.
				if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvbuf) != nil {
					_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf)
				}
			}
		}); err != nil {
			return err
		}
		return serr
	}}
	var socks []*socket
	fail := func(err error) ([]*socket, error) {
		for _, s := range socks {
			_ = s.conn.Close()
		}
		return nil, fmt.Errorf("flow: listen on %s: %w", addr, err)
	}
	for i := range n {
		pc, err := lc.ListenPacket(context.Background(), "udp", addr)
		if err != nil {
			return fail(err)
		}
		conn := pc.(*net.UDPConn)
		s := &socket{conn: conn, proto: proto}
		socks = append(socks, s)
		la := conn.LocalAddr().(*net.UDPAddr)
		if i == 0 {
			addr = net.JoinHostPort(hostOf(addr), strconv.Itoa(la.Port))
		}
		if la.IP.To4() != nil {
			s.reader = ipv4.NewPacketConn(conn)
		} else {
			s.reader = ipv6.NewPacketConn(conn)
		}
		raw, err := conn.SyscallConn()
		if err != nil {
			return fail(err)
		}
		var serr error
		if err := raw.Control(func(fd uintptr) {
			var st unix.Stat_t
			if serr = unix.Fstat(int(fd), &st); serr != nil {
				return
			}
			s.inode = st.Ino
			var v int
			if v, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF); serr == nil {
				s.rcvbuf = v / 2 // the kernel doubles what it grants, for its bookkeeping
			}
		}); err != nil {
			return fail(err)
		}
		if serr != nil {
			return fail(serr)
		}
	}
	return socks, nil
}

func hostOf(addr string) string {
	h, _, _ := net.SplitHostPort(addr)
	return h
}

// dropTracker sums the kernel's per-socket drop counters (the drops column of
// /proc/net/udp and /proc/net/udp6) into monotonic totals per protocol, which survive the
// sockets' close.
type dropTracker struct {
	mu     sync.Mutex
	socks  []*socket
	open   bool
	total  [numProtos]uint64
	procFS string // "/proc/net" (tests may point it elsewhere)
}

// refresh reads the drop counters of the sockets while they are open.
func (d *dropTracker) refresh() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.open || len(d.socks) == 0 {
		return nil
	}
	byInode := make(map[uint64]*socket, len(d.socks))
	for _, s := range d.socks {
		byInode[s.inode] = s
	}
	var errs []error
	for _, name := range []string{"udp", "udp6"} {
		if err := d.read(d.procFS+"/"+name, byInode); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (d *dropTracker) read(path string, byInode map[uint64]*socket) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	first := true
	for sc.Scan() {
		if first { // the header
			first = false
			continue
		}
		// sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
		fields := bytes.Fields(sc.Bytes())
		if len(fields) < 13 {
			continue
		}
		inode, err := strconv.ParseUint(string(fields[9]), 10, 64)
		if err != nil {
			continue
		}
		s := byInode[inode]
		if s == nil {
			continue
		}
		drops, err := strconv.ParseUint(string(fields[12]), 10, 32)
		if err != nil {
			continue
		}
		cur := uint32(drops)
		if s.seen {
			d.total[s.proto] += uint64(cur - s.lastDrops) // the kernel's counter is 32-bit
		} else {
			d.total[s.proto] += uint64(cur)
		}
		s.lastDrops, s.seen = cur, true
	}
	return sc.Err()
}

// drops returns the total for a protocol, reading the counters first.
func (d *dropTracker) drops(proto int) float64 {
	_ = d.refresh()
	d.mu.Lock()
	defer d.mu.Unlock()
	return float64(d.total[proto])
}

// closeAll takes a last reading and closes the sockets.
func (d *dropTracker) closeAll() error {
	_ = d.refresh()
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.open {
		return nil
	}
	d.open = false
	var errs []error
	for _, s := range d.socks {
		if err := s.conn.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
