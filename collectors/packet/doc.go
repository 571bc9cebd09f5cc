// Package packet samples packets from a mirror port and turns them into observations: DNS
// queries and answers, TLS ClientHellos (SNI), HTTP request lines, TCP connection attempts
// and their answers, ICMP, ARP, and per-interval summaries (host traffic, half-open
// connections). Decoding is the decode subpackage's; this package captures, filters and
// samples, and hands the decoder's output to a Sink.
//
// Three inputs share one path (filter, sampling, decoding, delivery):
//
//   - live capture (New, Run): AF_PACKET sockets with TPACKET_V3 rings, Workers per
//     interface joined in a PACKET_FANOUT_HASH group (the kernel's flow hash is symmetric,
//     so both directions of a connection meet in one worker), the filter run in the kernel
//     and packets read in place from the ring (zero copy);
//   - capture files (NewReplayer, Replay): pcap and pcapng through pcapgo, packet timestamps
//     as time, no privileges;
//   - sources (RunSource): frames from anything with ZeroCopyReadPacketData and a link type,
//     such as the lab's generated traffic.
//
// # Why github.com/gopacket/gopacket
//
// google/gopacket's last release (v1.1.19) is from 2020, and its afpacket package needs cgo.
// github.com/gopacket/gopacket is its maintained continuation; its afpacket is pure Go, so
// the binary stays static and cross-compiles: `CGO_ENABLED=0 GOARCH=arm64 go build
// ./collectors/packet/...` builds (checked). gopacket/pcap (libpcap, cgo) is never imported.
//
// # Filters
//
// Filters are written in tcpdump's syntax and compiled to classic BPF by this package
// (filter.go documents the subset), because libpcap's compiler needs cgo and the pure-Go
// alternatives looked at (github.com/packetcap/go-pcap/filter: untagged, hand-counted jump
// offsets with open TODOs, host names resolved over DNS at compile time, no VLAN) were not
// good enough. The compiler's programs are tested against tcpdump's own (`tcpdump -ddd`) on
// sample frames. The program's accept value is the snap length, so the kernel copies only
// snap_len bytes of each packet into the ring. Until Run attaches the filter a ring holds a
// drop-all program, and Run reads away what entered before it, so no unfiltered packet is
// ever decoded. Files and sources are filtered by the same program in x/net/bpf's VM.
//
// # Sampling
//
// SampleRate N keeps the packets of 1 in N flows, chosen by a hash of the 5-tuple that is the
// same in both directions (sample.go), so a kept connection is seen whole. Every observation
// carries the rate; counts in summaries are of the sampled packets.
//
// # Workers and summaries
//
// Each worker has its own decoder. Per-packet observations are complete per worker, but the
// per-interval summaries (host.traffic, tcp.half_open) are per worker: the fanout spreads
// one host's or one destination's connections over the workers, so a consumer adds the
// summaries of one interval (the same Time) and key over the workers. With workers: 1 there
// is one summary per key and interval.
//
// # Costs and limits
//
// Sampling and decoding a packet allocates nothing (BenchmarkPacket). afpacket itself
// allocates for a packet that carried a VLAN tag (it reports the tag as ancillary data);
// the worker puts the tag back into the frame in its own buffer. Live "vlan" filters match
// the outer tag from the packet's metadata only. Kernel drops (ring full) and ring freezes
// are read from the sockets every second (watchfloor_packet_kernel_drops_total).
//
// A live benchmark (tcpreplay --topspeed over a veth pair into the collector) is behind the
// livebench build tag:
//
//	go test -tags livebench -run TestLiveThroughput -v ./collectors/packet/
package packet
