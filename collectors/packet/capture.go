package packet

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket/afpacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// ring is one AF_PACKET socket with its TPACKET_V3 ring, one of an interface's fanout group.
type ring struct {
	iface string
	tp    *afpacket.TPacket
}

const (
	pollTimeout  = 100 * time.Millisecond // a read returns ErrTimeout after this long without a block
	blockTimeout = 50 * time.Millisecond  // the kernel hands over a partly filled block after this long
)

// dropAll is the filter a ring holds from New until Run: nothing enters it.
var dropAll = []bpf.RawInstruction{{Op: unix.BPF_RET | unix.BPF_K, K: 0}}

var fanoutGroups atomic.Uint32

// openRings opens cfg.Workers rings on iface, joined in one fanout group when more than one.
func openRings(iface string, cfg Config) ([]*ring, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, fmt.Errorf("packet: interface %s: %w", iface, err)
	}
	if t, err := os.ReadFile("/sys/class/net/" + iface + "/type"); err == nil {
		// 1: Ethernet; 772: loopback, which carries Ethernet headers too.
		if typ := strings.TrimSpace(string(t)); typ != "1" && typ != "772" {
			return nil, fmt.Errorf("packet: interface %s is not Ethernet (ARPHRD %s): only Ethernet interfaces can be captured", iface, typ)
		}
	}
	group := uint16(os.Getpid()) ^ uint16(fanoutGroups.Add(1)<<11) ^ uint16(ifi.Index)
	var rings []*ring
	fail := func(err error) ([]*ring, error) {
		for _, r := range rings {
			r.tp.Close()
		}
		return nil, err
	}
	for range cfg.Workers {
		tp, err := afpacket.NewTPacket(
			afpacket.OptInterface(iface),
			afpacket.TPacketVersion3,
			afpacket.SocketRaw,
			afpacket.OptFrameSize(frameSize),
			afpacket.OptBlockSize(cfg.BlockSize),
			afpacket.OptNumBlocks(cfg.NumBlocks),
			afpacket.OptBlockTimeout(blockTimeout),
			afpacket.OptPollTimeout(pollTimeout),
		)
		if err != nil {
			return fail(openError(iface, err))
		}
		rings = append(rings, &ring{iface: iface, tp: tp})
		if err := tp.SetBPF(dropAll); err != nil {
			return fail(fmt.Errorf("packet: attaching a filter on %s: %w", iface, err))
		}
		if cfg.Promiscuous {
			if err := tp.SetPromiscuous(true); err != nil {
				return fail(fmt.Errorf("packet: promiscuous mode on %s: %w", iface, err))
			}
		}
		if cfg.Workers > 1 {
			if err := tp.SetFanout(afpacket.FanoutHash, group); err != nil {
				return fail(fmt.Errorf("packet: joining fanout group %d on %s: %w", group, iface, err))
			}
		}
	}
	return rings, nil
}

// openError says what a failure to open a capture socket means for the operator.
func openError(iface string, err error) error {
	switch {
	case errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES):
		return fmt.Errorf("packet: live capture on %s needs CAP_NET_RAW (run as root or setcap cap_net_raw+ep on the binary): %w", iface, err)
	case strings.Contains(err.Error(), "packet_rx_ring") || errors.Is(err, unix.ENOMEM):
		return fmt.Errorf("packet: the kernel would not allocate a capture ring on %s (block_size × num_blocks; lower num_blocks): %w", iface, err)
	}
	return fmt.Errorf("packet: opening a capture socket on %s: %w", iface, err)
}

// capture reads one ring until stop: first it reads away the packets that entered the ring
// before the filter (between socket creation and the drop-all filter), then attaches the
// filter and decodes. Frames are read in place (zero copy), valid until the next read.
func (c *Collector) capture(r *ring, w *worker, stop *atomic.Bool) error {
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
		if _, _, err := r.tp.ZeroCopyReadPacketData(); err != nil {
			break // the first timeout: nothing older is left
		}
	}
	if err := r.tp.SetBPF(c.live); err != nil {
		return fmt.Errorf("packet: attaching the filter on %s: %w", r.iface, err)
	}
	defer func() { w.tick(time.Now()) }()
	for !stop.Load() {
		data, ci, err := r.tp.ZeroCopyReadPacketData()
		if err != nil {
			if errors.Is(err, afpacket.ErrTimeout) {
				w.tick(time.Now()) // idle: summaries due by the wall clock
				continue
			}
			c.cnt.readErrors.Add(1)
			c.rlog.Warn(reasonRead, "reading a capture ring", "interface", r.iface, "err", err)
			if stop.Load() {
				break
			}
			time.Sleep(10 * time.Millisecond) // not a hot loop on a persistent error
			continue
		}
		for _, a := range ci.AncillaryData {
			if v, ok := a.(afpacket.AncillaryVLAN); ok {
				data = w.withVLAN(data, v.VLAN)
				ci.Length += 4
			}
		}
		w.packet(layers.LinkTypeEthernet, data, ci.Length, ci.Timestamp)
	}
	return nil
}

// readStats adds the kernel's ring statistics since the last reading to the totals (the
// kernel resets them on each read).
func (c *Collector) readStats() {
	var packets, drops, freezes uint64
	for _, r := range c.rings {
		_, v3, err := r.tp.SocketStats()
		if err != nil {
			c.rlog.Warn(reasonStats, "reading ring statistics", "interface", r.iface, "err", err)
			continue
		}
		packets += uint64(v3.Packets())
		drops += uint64(v3.Drops())
		freezes += uint64(v3.QueueFreezes())
	}
	// afpacket keeps running sums: store the sum over the rings.
	c.cnt.kernelPackets.Store(packets)
	c.cnt.drops.Store(drops)
	c.cnt.freezes.Store(freezes)
}
