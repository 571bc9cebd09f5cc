package packet

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
)

// This file compiles capture filters in tcpdump's syntax to classic BPF without libpcap (which
// would need cgo). It covers the subset a mirror-port appliance needs:
//
//	ip, ip6, arp, rarp, tcp, udp, sctp, icmp, icmp6     the protocol alone
//	[ip|ip6|arp|rarp] [DIR] host ADDR                    ADDR an IPv4 or IPv6 literal (no name lookups)
//	ether [DIR] host MAC                                 Ethernet captures only
//	[ip|ip6|arp|rarp] [DIR] net PREFIX                   10.0.0.0/8, 2001:db8::/32, or an address
//	[tcp|udp|sctp] [DIR] port N                          N a number (no service names)
//	[tcp|udp|sctp] [DIR] portrange N-M
//	[ip|ip6] proto N|tcp|udp|sctp|icmp|icmp6
//	vlan [ID]
//	less N, greater N                                    frame length on the wire
//	not EXPR, ! EXPR, EXPR and EXPR, EXPR && EXPR, EXPR or EXPR, EXPR || EXPR, ( EXPR )
//
// DIR is src, dst, src or dst (the default) or src and dst. As in tcpdump, "and" and "or"
// have the same precedence and associate left to right ("a or b and c" is "(a or b) and c"),
// "not" binds tightest, and a bare value after and/or repeats the qualifiers before it
// ("host 10.0.0.1 or 10.0.0.2", "port 53 or 853"). The generated code follows libpcap's: ports
// are matched on TCP, UDP and SCTP of unfragmented IPv4 (or the first fragment) and of IPv6
// without extension headers; IPv6 protocols are also found behind one fragment header.
//
// "vlan" differs with where the packets come from. In a capture file the tag is in the frame,
// and, as in tcpdump, every primitive after "vlan" looks 4 bytes further into the frame. A
// live AF_PACKET socket never sees the outer tag in the frame (the kernel moves it into the
// packet's metadata before any tap), so live "vlan" tests that metadata (SKF_AD_VLAN_TAG*)
// and moves no offsets; an inner tag of a double-tagged frame cannot be matched live.
//
// Not supported: byte-offset expressions (tcp[13] & 2 != 0), host names, service names,
// "gateway", "broadcast", "multicast", MPLS, PPPoE, Geneve.

const (
	maxFilterLen   = 4096 // bytes of filter text
	maxFilterDepth = 64   // nesting of parentheses and not
	maxInsns       = 4096 // BPF_MAXINSNS
)

// linkLayer tells the compiler where a capture's headers are.
type linkLayer struct {
	typeOff  int  // offset of the 16-bit EtherType; -1 for raw IP (the version nibble says v4 or v6)
	l3       int  // offset of the network header
	ether    bool // Ethernet addresses at 0 (destination) and 6 (source)
	vlanMeta bool // live capture: the outer 802.1Q tag is metadata, not in the frame
}

// filterLink returns the layout of a link type, or false when filters cannot be compiled for it.
func filterLink(lt layers.LinkType, live bool) (linkLayer, bool) {
	switch lt {
	case layers.LinkTypeEthernet:
		return linkLayer{typeOff: 12, l3: 14, ether: true, vlanMeta: live}, true
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6, 12, 14:
		return linkLayer{typeOff: -1, l3: 0}, true
	case layers.LinkTypeLinuxSLL:
		return linkLayer{typeOff: 14, l3: 16}, true
	case layers.LinkTypeLinuxSLL2:
		return linkLayer{typeOff: 0, l3: 20}, true
	}
	return linkLayer{}, false
}

// compileFilter compiles a filter expression for a link layer. Accepted packets are cut to
// snap bytes (the kernel honours the filter's return value as the capture length); an empty
// expression accepts everything.
func compileFilter(expr string, link linkLayer, snap uint32) ([]bpf.Instruction, error) {
	var root node = constNode(true)
	if strings.TrimSpace(expr) != "" {
		if len(expr) > maxFilterLen {
			return nil, fmt.Errorf("filter longer than %d bytes", maxFilterLen)
		}
		p := &parser{toks: tokenize(expr), link: link}
		n, err := p.parse()
		if err != nil {
			return nil, err
		}
		root = n
	}
	g := &codegen{}
	accept, reject := g.newLabel(), g.newLabel()
	g.gen(root, accept, reject)
	g.place(accept)
	g.emit(bpf.RetConstant{Val: snap})
	g.place(reject)
	g.emit(bpf.RetConstant{Val: 0})
	return g.resolve()
}

// Syntax tree: and/or/not over atoms, the single tests a primitive expands to.

type node interface{ isNode() }

type (
	andNode   struct{ a, b node }
	orNode    struct{ a, b node }
	notNode   struct{ x node }
	constNode bool
	// atom loads a value into A (loads) and compares it: true when test(A, val) holds.
	atom struct {
		loads []bpf.Instruction
		test  bpf.JumpTest
		val   uint32
	}
)

func (andNode) isNode()   {}
func (orNode) isNode()    {}
func (notNode) isNode()   {}
func (constNode) isNode() {}
func (atom) isNode()      {}

func and(ns ...node) node {
	n := ns[0]
	for _, m := range ns[1:] {
		n = andNode{n, m}
	}
	return n
}

func or(ns ...node) node {
	n := ns[0]
	for _, m := range ns[1:] {
		n = orNode{n, m}
	}
	return n
}

func ldb(off int) bpf.Instruction { return bpf.LoadAbsolute{Off: uint32(off), Size: 1} }
func ldh(off int) bpf.Instruction { return bpf.LoadAbsolute{Off: uint32(off), Size: 2} }
func ldw(off int) bpf.Instruction { return bpf.LoadAbsolute{Off: uint32(off), Size: 4} }

func eq(load bpf.Instruction, v uint32) node {
	return atom{loads: []bpf.Instruction{load}, test: bpf.JumpEqual, val: v}
}

func maskedEq(load bpf.Instruction, mask, v uint32) node {
	if mask == 0xffffffff {
		return eq(load, v)
	}
	return atom{loads: []bpf.Instruction{load, bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: mask}}, test: bpf.JumpEqual, val: v & mask}
}

// Code generation: gen(n, t, f) emits code that jumps to t when n holds and to f otherwise.
// Labels are placed after the code that jumps to them, so every jump goes forward, as
// classic BPF requires.

type label int

type insn struct {
	ins      bpf.Instruction // when neither cond nor jump
	cond     bool
	test     bpf.JumpTest
	val      uint32
	jt, jf   label
	jump     bool
	to       label
	resolved bool
}

type codegen struct {
	prog []insn
	pos  []int // label → instruction index, -1 until placed
}

func (g *codegen) newLabel() label { g.pos = append(g.pos, -1); return label(len(g.pos) - 1) }
func (g *codegen) place(l label)   { g.pos[l] = len(g.prog) }
func (g *codegen) emit(i bpf.Instruction) {
	g.prog = append(g.prog, insn{ins: i})
}

func (g *codegen) gen(n node, t, f label) {
	switch n := n.(type) {
	case andNode:
		mid := g.newLabel()
		g.gen(n.a, mid, f)
		g.place(mid)
		g.gen(n.b, t, f)
	case orNode:
		mid := g.newLabel()
		g.gen(n.a, t, mid)
		g.place(mid)
		g.gen(n.b, t, f)
	case notNode:
		g.gen(n.x, f, t)
	case constNode:
		to := f
		if n {
			to = t
		}
		g.prog = append(g.prog, insn{jump: true, to: to})
	case atom:
		for _, l := range n.loads {
			g.emit(l)
		}
		g.prog = append(g.prog, insn{cond: true, test: n.test, val: n.val, jt: t, jf: f})
	}
}

var errFilterTooLong = errors.New("filter too long for classic BPF (more than 4096 instructions or a jump over 255 of them)")

// resolve turns labels into relative skips; unconditional jumps to the next instruction
// are dropped first.
func (g *codegen) resolve() ([]bpf.Instruction, error) {
	// Drop "ja +0": shift labels that point past each removed instruction.
	out := g.prog[:0:0]
	remap := make([]int, len(g.prog)+1)
	for i, in := range g.prog {
		remap[i] = len(out)
		if in.jump && g.pos[in.to] == i+1 {
			continue
		}
		out = append(out, in)
	}
	remap[len(g.prog)] = len(out)
	for l, p := range g.pos {
		if p >= 0 {
			g.pos[l] = remap[p]
		}
	}
	if len(out) > maxInsns {
		return nil, errFilterTooLong
	}
	prog := make([]bpf.Instruction, len(out))
	for pc, in := range out {
		skip := func(l label) (int, error) {
			s := g.pos[l] - pc - 1
			if s < 0 || s > 255 && !in.jump {
				return 0, errFilterTooLong
			}
			return s, nil
		}
		switch {
		case in.cond:
			st, err := skip(in.jt)
			if err != nil {
				return nil, err
			}
			sf, err := skip(in.jf)
			if err != nil {
				return nil, err
			}
			prog[pc] = bpf.JumpIf{Cond: in.test, Val: in.val, SkipTrue: uint8(st), SkipFalse: uint8(sf)}
		case in.jump:
			s, err := skip(in.to)
			if err != nil {
				return nil, err
			}
			prog[pc] = bpf.Jump{Skip: uint32(s)}
		default:
			prog[pc] = in.ins
		}
	}
	return prog, nil
}

// Tokens and parser.

func tokenize(s string) []string {
	var toks []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(' || c == ')':
			toks = append(toks, s[i:i+1])
			i++
		case c == '!':
			toks = append(toks, "!")
			i++
		case (c == '&' || c == '|') && i+1 < len(s) && s[i+1] == c:
			toks = append(toks, s[i:i+2])
			i += 2
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\n\r()!", rune(s[j])) &&
				!((s[j] == '&' || s[j] == '|') && j+1 < len(s) && s[j+1] == s[j]) {
				j++
			}
			if j == i { // a lone & or |
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		}
	}
	return toks
}

// qualifiers of a primitive, remembered for a bare value after and/or.
type quals struct {
	proto string // "", ether, ip, ip6, arp, rarp, tcp, udp, sctp
	dir   string // "", src, dst, "src or dst", "src and dst"
	kind  string // host, net, port, portrange
}

type parser struct {
	toks  []string
	i     int
	depth int
	link  linkLayer
	shift int // bytes added by "vlan" in a capture file: later primitives look further in
	last  quals
	valid bool // last holds qualifiers a bare value may repeat
}

func (p *parser) peek(k int) string {
	if p.i+k < len(p.toks) {
		return p.toks[p.i+k]
	}
	return ""
}

func (p *parser) next() string { t := p.peek(0); p.i++; return t }

func (p *parser) errorf(format string, args ...any) error {
	at := "end of filter"
	if p.i < len(p.toks) {
		at = strconv.Quote(p.toks[p.i])
	}
	return fmt.Errorf("at %s: %s", at, fmt.Sprintf(format, args...))
}

func (p *parser) parse() (node, error) {
	n, err := p.expr()
	if err != nil {
		return nil, err
	}
	if p.i < len(p.toks) {
		return nil, p.errorf("expected and, or or the end")
	}
	return n, nil
}

func (p *parser) expr() (node, error) {
	n, err := p.term()
	if err != nil {
		return nil, err
	}
	for {
		switch p.peek(0) {
		case "and", "&&":
			p.i++
			m, err := p.term()
			if err != nil {
				return nil, err
			}
			n = andNode{n, m}
		case "or", "||":
			p.i++
			m, err := p.term()
			if err != nil {
				return nil, err
			}
			n = orNode{n, m}
		default:
			return n, nil
		}
	}
}

var keywords = map[string]bool{
	"and": true, "or": true, "not": true, "&&": true, "||": true, "!": true, "(": true, ")": true,
	"src": true, "dst": true, "host": true, "net": true, "port": true, "portrange": true,
	"proto": true, "vlan": true, "less": true, "greater": true,
	"ether": true, "ip": true, "ip6": true, "arp": true, "rarp": true, "tcp": true, "udp": true,
	"sctp": true, "icmp": true, "icmp6": true,
}

func (p *parser) term() (node, error) {
	if p.depth++; p.depth > maxFilterDepth {
		return nil, p.errorf("nested deeper than %d", maxFilterDepth)
	}
	defer func() { p.depth-- }()
	switch t := p.peek(0); {
	case t == "":
		return nil, p.errorf("expected a primitive")
	case t == "not" || t == "!":
		p.i++
		x, err := p.term()
		if err != nil {
			return nil, err
		}
		return notNode{x}, nil
	case t == "(":
		p.i++
		n, err := p.expr()
		if err != nil {
			return nil, err
		}
		if p.next() != ")" {
			p.i--
			return nil, p.errorf("expected )")
		}
		return n, nil
	case !keywords[t]:
		if !p.valid {
			return nil, p.errorf("expected a primitive (host, net, port, a protocol, …)")
		}
		p.i++
		return p.qualified(p.last, t)
	}
	return p.primitive()
}

func (p *parser) primitive() (node, error) {
	var q quals
	switch t := p.peek(0); t {
	case "vlan":
		p.i++
		return p.vlan()
	case "less", "greater":
		p.i++
		n, err := p.number(0xffffffff)
		if err != nil {
			return nil, err
		}
		load := bpf.LoadExtension{Num: bpf.ExtLen}
		if t == "less" { // len <= n
			return notNode{atom{loads: []bpf.Instruction{load}, test: bpf.JumpGreaterThan, val: n}}, nil
		}
		return atom{loads: []bpf.Instruction{load}, test: bpf.JumpGreaterOrEqual, val: n}, nil
	case "icmp", "icmp6":
		p.i++
		if t == "icmp" {
			return p.ipProto(4, 1), nil
		}
		return p.ipProto(6, 58), nil
	case "ether", "ip", "ip6", "arp", "rarp", "tcp", "udp", "sctp":
		p.i++
		q.proto = t
	}
	switch p.peek(0) {
	case "src", "dst":
		q.dir = p.next()
		if c := p.peek(0); (c == "or" || c == "and") && (p.peek(1) == "src" || p.peek(1) == "dst") && p.peek(1) != q.dir {
			switch p.peek(2) {
			case "host", "net", "port", "portrange":
				q.dir = "src " + c + " dst"
				p.i += 2
			}
		}
	}
	switch k := p.peek(0); k {
	case "host", "net", "port", "portrange":
		p.i++
		q.kind = k
	case "proto":
		p.i++
		if q.dir != "" || (q.proto != "" && q.proto != "ip" && q.proto != "ip6") {
			return nil, p.errorf("proto takes only ip or ip6 before it")
		}
		return p.protoNum(q.proto)
	default:
		if q.dir != "" {
			q.kind = "host" // "src 10.0.0.1"
		} else if q.proto != "" {
			return p.protoAlone(q.proto)
		} else {
			return nil, p.errorf("expected a primitive (host, net, port, a protocol, …)")
		}
	}
	v := p.next()
	if v == "" || keywords[v] {
		p.i--
		return nil, p.errorf("expected a value after %s", q.kind)
	}
	return p.qualified(q, v)
}

// qualified builds host, net, port and portrange primitives, and remembers their
// qualifiers for a bare value that follows.
func (p *parser) qualified(q quals, v string) (node, error) {
	var (
		n   node
		err error
	)
	switch q.kind {
	case "host":
		n, err = p.host(q, v)
	case "net":
		n, err = p.net(q, v)
	case "port", "portrange":
		n, err = p.port(q, v)
	}
	if err != nil {
		return nil, err
	}
	p.last, p.valid = q, true
	return n, nil
}

func (p *parser) typeOff() int { return p.link.typeOff + p.shift }
func (p *parser) l3() int      { return p.link.l3 + p.shift }

// etherType tests the network protocol: 0x0800, 0x86dd, 0x0806, 0x8035, 0x8100, …
func (p *parser) etherType(v uint32) node {
	if p.link.typeOff < 0 { // raw IP
		switch v {
		case 0x0800:
			return maskedEq(ldb(p.l3()), 0xf0, 0x40)
		case 0x86dd:
			return maskedEq(ldb(p.l3()), 0xf0, 0x60)
		}
		return constNode(false)
	}
	return eq(ldh(p.typeOff()), v)
}

// ipProto: IPv4 protocol or IPv6 next header v (also behind a fragment header, like libpcap);
// family 4, 6 or 0 for both.
func (p *parser) ipProto(family int, v uint32) node {
	v4 := and(p.etherType(0x0800), eq(ldb(p.l3()+9), v))
	v6 := and(p.etherType(0x86dd), or(eq(ldb(p.l3()+6), v),
		and(eq(ldb(p.l3()+6), 44), eq(ldb(p.l3()+40), v))))
	switch family {
	case 4:
		return v4
	case 6:
		return v6
	}
	return or(v6, v4)
}

var protoNumbers = map[string]uint32{"tcp": 6, "udp": 17, "sctp": 132, "icmp": 1, "icmp6": 58}

func (p *parser) protoAlone(proto string) (node, error) {
	switch proto {
	case "ip":
		return p.etherType(0x0800), nil
	case "ip6":
		return p.etherType(0x86dd), nil
	case "arp":
		return p.etherType(0x0806), nil
	case "rarp":
		return p.etherType(0x8035), nil
	case "tcp", "udp", "sctp":
		return p.ipProto(0, protoNumbers[proto]), nil
	}
	return nil, p.errorf("%s needs host after it", proto)
}

func (p *parser) protoNum(family string) (node, error) {
	t := p.next()
	v, ok := protoNumbers[t]
	if !ok {
		n, err := strconv.ParseUint(t, 10, 8)
		if err != nil {
			p.i--
			return nil, p.errorf("expected a protocol number (0-255) or tcp, udp, sctp, icmp, icmp6")
		}
		v = uint32(n)
	}
	switch family {
	case "ip":
		return p.ipProto(4, v), nil
	case "ip6":
		return p.ipProto(6, v), nil
	}
	return p.ipProto(0, v), nil
}

func (p *parser) number(limit uint64) (uint32, error) {
	t := p.next()
	n, err := strconv.ParseUint(t, 0, 32)
	if err != nil || n > limit {
		p.i--
		return 0, p.errorf("expected a number up to %d", limit)
	}
	return uint32(n), nil
}

func (p *parser) vlan() (node, error) {
	var id node
	if t := p.peek(0); t != "" && !keywords[t] {
		v, err := p.number(4095)
		if err != nil {
			return nil, err
		}
		if p.link.vlanMeta {
			id = maskedEq(bpf.LoadExtension{Num: bpf.ExtVLANTag}, 0xfff, v)
		} else {
			id = maskedEq(ldh(p.typeOff()+2), 0xfff, v)
		}
	}
	var tagged node
	switch {
	case p.link.vlanMeta:
		tagged = notNode{eq(bpf.LoadExtension{Num: bpf.ExtVLANTagPresent}, 0)}
	case p.link.typeOff < 0:
		return nil, p.errorf("vlan needs a link layer with an EtherType (not raw IP)")
	default:
		tagged = or(eq(ldh(p.typeOff()), 0x8100), eq(ldh(p.typeOff()), 0x88a8), eq(ldh(p.typeOff()), 0x9100))
		p.shift += 4
	}
	p.valid = false
	if id != nil {
		return and(tagged, id), nil
	}
	return tagged, nil
}

// dir combines a test of the source with one of the destination.
func dir(d string, src, dst node) node {
	switch d {
	case "src":
		return src
	case "dst":
		return dst
	case "src and dst":
		return and(src, dst)
	}
	return or(src, dst)
}

func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func (p *parser) host(q quals, v string) (node, error) {
	if q.proto == "ether" {
		if !p.link.ether {
			return nil, p.errorf("ether host needs an Ethernet capture")
		}
		mac, err := parseMAC(v)
		if err != nil {
			p.i--
			return nil, p.errorf("%v", err)
		}
		m := func(off int) node {
			return and(eq(ldw(off+2), be32(mac[2:])), eq(ldh(off), uint32(mac[0])<<8|uint32(mac[1])))
		}
		return dir(q.dir, m(6), m(0)), nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil || a.Zone() != "" {
		p.i--
		return nil, p.errorf("host takes an IP address (names are not looked up)")
	}
	return p.addrMatch(q, netip.PrefixFrom(a, a.BitLen()))
}

func (p *parser) net(q quals, v string) (node, error) {
	var pfx netip.Prefix
	if strings.Contains(v, "/") {
		x, err := netip.ParsePrefix(v)
		if err != nil {
			p.i--
			return nil, p.errorf("net takes a prefix like 10.0.0.0/8")
		}
		if x.Masked() != x {
			p.i--
			return nil, p.errorf("%s has host bits set (did you mean %s?)", x, x.Masked())
		}
		pfx = x
	} else {
		a, err := netip.ParseAddr(v)
		if err != nil || a.Zone() != "" {
			p.i--
			return nil, p.errorf("net takes a prefix like 10.0.0.0/8")
		}
		pfx = netip.PrefixFrom(a, a.BitLen())
	}
	if q.proto == "ether" {
		return nil, p.errorf("ether net is not a thing")
	}
	return p.addrMatch(q, pfx)
}

// addrMatch tests the addresses of IPv4 (and ARP, RARP) or IPv6 packets against a prefix.
func (p *parser) addrMatch(q quals, pfx netip.Prefix) (node, error) {
	a := pfx.Addr().Unmap()
	if a.Is4() {
		pfx = netip.PrefixFrom(a, min(pfx.Bits(), 32))
		bits := pfx.Bits()
		mask := uint32(0)
		if bits > 0 {
			mask = ^uint32(0) << (32 - bits)
		}
		v := be32(a.AsSlice())
		m := func(off int) node { return maskedEq(ldw(off), mask, v) }
		l3 := p.l3()
		ip := and(p.etherType(0x0800), dir(q.dir, m(l3+12), m(l3+16)))
		arp := func(et uint32) node { return and(p.etherType(et), dir(q.dir, m(l3+14), m(l3+24))) }
		switch q.proto {
		case "":
			return or(ip, arp(0x0806), arp(0x8035)), nil
		case "ip":
			return ip, nil
		case "arp":
			return arp(0x0806), nil
		case "rarp":
			return arp(0x8035), nil
		}
		return nil, p.errorf("%s %s takes ip, arp or rarp before it", q.kind, pfx)
	}
	if q.proto != "" && q.proto != "ip6" {
		return nil, p.errorf("%s %s (IPv6) takes only ip6 before it", q.kind, pfx)
	}
	b := a.As16()
	m := func(off int) node {
		var words []node
		for w := range 4 {
			bits := min(max(pfx.Bits()-32*w, 0), 32)
			if bits == 0 {
				break
			}
			mask := ^uint32(0) << (32 - bits)
			words = append(words, maskedEq(ldw(off+4*w), mask, be32(b[4*w:])))
		}
		if len(words) == 0 {
			return constNode(true)
		}
		return and(words...)
	}
	l3 := p.l3()
	return and(p.etherType(0x86dd), dir(q.dir, m(l3+8), m(l3+24))), nil
}

func (p *parser) port(q quals, v string) (node, error) {
	lo, hi, err := parsePorts(v, q.kind == "portrange")
	if err != nil {
		p.i--
		return nil, p.errorf("%v", err)
	}
	var protos []uint32
	switch q.proto {
	case "":
		protos = []uint32{132, 6, 17}
	case "tcp", "udp", "sctp":
		protos = []uint32{protoNumbers[q.proto]}
	default:
		return nil, p.errorf("%s takes tcp, udp or sctp before it", q.kind)
	}
	l3 := p.l3()
	match := func(load func(off int) []bpf.Instruction) node {
		one := func(off int) node {
			if lo == hi {
				return atom{loads: load(off), test: bpf.JumpEqual, val: lo}
			}
			return and(atom{loads: load(off), test: bpf.JumpGreaterOrEqual, val: lo},
				notNode{atom{loads: load(off), test: bpf.JumpGreaterThan, val: hi}})
		}
		return dir(q.dir, one(0), one(2))
	}
	protoTest := func(off int) node {
		ns := make([]node, len(protos))
		for i, pr := range protos {
			ns[i] = eq(ldb(off), pr)
		}
		return or(ns...)
	}
	v6 := and(p.etherType(0x86dd), protoTest(l3+6),
		match(func(off int) []bpf.Instruction { return []bpf.Instruction{ldh(l3 + 40 + off)} }))
	v4 := and(p.etherType(0x0800), protoTest(l3+9),
		notNode{atom{loads: []bpf.Instruction{ldh(l3 + 6)}, test: bpf.JumpBitsSet, val: 0x1fff}},
		match(func(off int) []bpf.Instruction {
			return []bpf.Instruction{bpf.LoadMemShift{Off: uint32(l3)}, bpf.LoadIndirect{Off: uint32(l3 + off), Size: 2}}
		}))
	return or(v6, v4), nil
}

func parsePorts(v string, isRange bool) (lo, hi uint32, err error) {
	num := func(s string) (uint32, error) {
		n, err := strconv.ParseUint(s, 10, 16)
		if err != nil {
			return 0, fmt.Errorf("%q is not a port number 0-65535 (service names are not looked up)", s)
		}
		return uint32(n), nil
	}
	if !isRange {
		lo, err = num(v)
		return lo, lo, err
	}
	a, b, ok := strings.Cut(v, "-")
	if !ok {
		return 0, 0, fmt.Errorf("portrange takes LOW-HIGH")
	}
	if lo, err = num(a); err != nil {
		return
	}
	if hi, err = num(b); err != nil {
		return
	}
	if lo > hi {
		lo, hi = hi, lo
	}
	return lo, hi, nil
}

func parseMAC(s string) ([6]byte, error) {
	var mac [6]byte
	parts := strings.FieldsFunc(s, func(r rune) bool { return r == ':' || r == '-' || r == '.' })
	if len(parts) != 6 {
		return mac, fmt.Errorf("%q is not a MAC address like 02:00:5e:10:00:01", s)
	}
	for i, x := range parts {
		n, err := strconv.ParseUint(x, 16, 8)
		if err != nil {
			return mac, fmt.Errorf("%q is not a MAC address like 02:00:5e:10:00:01", s)
		}
		mac[i] = byte(n)
	}
	return mac, nil
}
