package packet

import (
	"fmt"
	"os"
	"runtime"

	"github.com/gopacket/gopacket/layers"

	"github.com/watchfloor/watchfloor/collectors/packet/decode"
)

// Config is the packet collector's configuration, the "packet" block of the appliance's file.
type Config struct {
	// Interfaces to capture on live (AF_PACKET, TPACKET_V3 rings), typically the ports a
	// switch mirrors to (SPAN). Empty: no live capture; Replay and RunSource still work.
	Interfaces []string `yaml:"interfaces" json:"interfaces"`
	// Filter is a capture filter in tcpdump's syntax (the subset filter.go documents),
	// compiled to classic BPF without libpcap and run in the kernel; empty keeps everything.
	Filter string `yaml:"filter" json:"filter"`
	// SampleRate keeps 1 in N flows' packets: a packet is kept when a hash of its 5-tuple,
	// the same in both directions, falls in 1/N. Every observation carries the rate.
	SampleRate uint32 `yaml:"sample_rate" json:"sample_rate"`
	// SnapLen is how many bytes of each packet are captured and decoded.
	SnapLen int `yaml:"snap_len" json:"snap_len"`
	// Promiscuous puts the interfaces in promiscuous mode, as a mirror port needs.
	Promiscuous bool `yaml:"promiscuous" json:"promiscuous"`
	// Workers is the number of sockets per interface, joined in one AF_PACKET fanout group
	// (PACKET_FANOUT_HASH: both directions of a connection go to the same worker), each read
	// and decoded by one goroutine.
	Workers int `yaml:"workers" json:"workers"`
	// BlockSize and NumBlocks size each socket's TPACKET_V3 ring (BlockSize × NumBlocks bytes
	// of kernel memory per worker). BlockSize is a multiple of the page size.
	BlockSize int `yaml:"block_size" json:"block_size"`
	NumBlocks int `yaml:"num_blocks" json:"num_blocks"`
	// Decode configures what the decoder looks at and summarises.
	Decode decode.Config `yaml:"decode" json:"decode"`
}

// FieldError is one problem in a configuration, with the path of the field in YAML terms
// relative to the packet block ("interfaces[1]").
type FieldError struct {
	Field string
	Msg   string
}

func (e FieldError) Error() string { return e.Field + ": " + e.Msg }

const (
	maxWorkers     = 8
	minSnapLen     = 64
	maxSnapLen     = 65535
	frameSize      = 4096 // TPACKET_V3 frames are nominal: a block holds packets back to back
	maxRingBytes   = 1 << 30
	maxIfNameBytes = 15 // IFNAMSIZ - 1

	// DefaultSnapLen holds DNS messages, the start of a TLS ClientHello and HTTP request lines.
	DefaultSnapLen   = 512
	DefaultBlockSize = 1 << 20
	DefaultNumBlocks = 64
)

// DefaultConfig returns the defaults: no live interface, no filter, every packet, 512-byte
// snaps, promiscuous, one worker per core up to 8 per interface, 64 MiB rings (1 MiB × 64).
func DefaultConfig() Config {
	return Config{
		SampleRate:  1,
		SnapLen:     DefaultSnapLen,
		Promiscuous: true,
		Workers:     min(runtime.GOMAXPROCS(0), maxWorkers),
		BlockSize:   DefaultBlockSize,
		NumBlocks:   DefaultNumBlocks,
		Decode:      decode.DefaultConfig(),
	}
}

// Validate lists every problem with the configuration, naming fields by their YAML path.
func (c Config) Validate() []FieldError {
	var errs []FieldError
	bad := func(field, format string, args ...any) {
		errs = append(errs, FieldError{field, fmt.Sprintf(format, args...)})
	}
	seen := map[string]int{}
	for i, name := range c.Interfaces {
		field := fmt.Sprintf("interfaces[%d]", i)
		switch first, dup := seen[name]; {
		case name == "":
			bad(field, "empty interface name")
		case len(name) > maxIfNameBytes:
			bad(field, "%q is longer than %d bytes, the kernel's limit for interface names", name, maxIfNameBytes)
		case dup:
			bad(field, "%q is already interfaces[%d]", name, first)
		default:
			seen[name] = i
		}
	}
	if c.SampleRate < 1 {
		bad("sample_rate", "must be at least 1 (1 = every packet)")
	}
	if c.SnapLen < minSnapLen || c.SnapLen > maxSnapLen {
		bad("snap_len", "must be between %d and %d bytes (is %d)", minSnapLen, maxSnapLen, c.SnapLen)
	}
	if c.Workers < 1 || c.Workers > maxWorkers {
		bad("workers", "must be between 1 and %d (is %d)", maxWorkers, c.Workers)
	}
	page := os.Getpagesize()
	switch {
	case c.BlockSize < frameSize || c.BlockSize%page != 0 || c.BlockSize%frameSize != 0:
		bad("block_size", "must be a positive multiple of the page size (%d) and of %d (is %d)", page, frameSize, c.BlockSize)
	case c.BlockSize < c.SnapLen+128:
		bad("block_size", "must hold a packet of snap_len (%d) with its headers (is %d)", c.SnapLen, c.BlockSize)
	}
	if c.NumBlocks < 1 {
		bad("num_blocks", "must be at least 1 (is %d)", c.NumBlocks)
	} else if c.BlockSize > 0 && c.NumBlocks > maxRingBytes/c.BlockSize {
		bad("num_blocks", "block_size × num_blocks must be at most %d MiB per worker", maxRingBytes>>20)
	}
	if c.Filter != "" {
		link, _ := filterLink(layers.LinkTypeEthernet, true)
		if _, err := compileFilter(c.Filter, link, uint32(max(c.SnapLen, 0))); err != nil {
			bad("filter", "%v", err)
		}
	}
	for _, e := range c.Decode.Validate() {
		bad("decode."+e.Field, "%s", e.Msg)
	}
	return errs
}
