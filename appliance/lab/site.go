package lab

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/watchfloor/watchfloor/collectors/snmp"
)

// Credentials of the lab's devices: most answer v2c "public"; the distribution switches,
// the firewall and acc-a5 (the one that reboots) SNMPv3 authPriv, so the default run
// exercises both, and a v3 engine's reboot.
var (
	v2cPublic = snmp.Credentials{Version: "2c", Community: "public"}
	v3NOC     = snmp.Credentials{
		Version: "3", Username: "noc", SecurityLevel: "authPriv",
		AuthProtocol: "SHA", AuthPassphrase: "authpass123",
		PrivProtocol: "AES", PrivPassphrase: "privpass123",
	}
)

// profile is what a role's devices say about themselves.
type profile struct {
	descr    string
	objectID string
	oui      [3]byte
	services int32
	hr       bool // implements HOST-RESOURCES-MIB
}

var profiles = map[string]profile{
	"core": {
		descr:    "Juniper Networks, Inc. mx480 internet router, kernel JUNOS 22.4R3-S2.11, Build date: 2024-03-05 18:51:35 UTC Copyright (c) 1996-2024 Juniper Networks, Inc.",
		objectID: ".1.3.6.1.4.1.2636.1.1.1.2.25", oui: [3]byte{0x2c, 0x6b, 0xf5}, services: 4, hr: true,
	},
	"firewall": {
		descr:    "Palo Alto Networks PA-3220 series firewall",
		objectID: ".1.3.6.1.4.1.25461.2.3.38", oui: [3]byte{0xb4, 0x0c, 0x25}, services: 76, hr: true,
	},
	"distribution": {
		descr:    "Arista Networks EOS version 4.30.4M running on an Arista Networks DCS-7050SX3-48YC8",
		objectID: ".1.3.6.1.4.1.30065.1.3011.7050.3741.48", oui: [3]byte{0x44, 0x4c, 0xa8}, services: 14, hr: true,
	},
	"access": {
		descr: "Cisco IOS Software [Cupertino], Catalyst L3 Switch Software (CAT9K_IOSXE), Version 17.9.4a, RELEASE SOFTWARE (fc3)\r\n" +
			"Technical Support: http://www.cisco.com/techsupport\r\nCopyright (c) 1986-2023 by Cisco Systems, Inc.\r\nCompiled Fri 20-Oct-23 10:44 by mcpre",
		objectID: ".1.3.6.1.4.1.9.1.2494", oui: [3]byte{0x70, 0x0f, 0x6a}, services: 6,
	},
}

// site is a set of devices, their links, and the devices and ports the incident timeline
// acts on.
type site struct {
	name    string
	devices []*device
	byName  map[string]*device

	flap    [2]end // the link that flaps; the second end may be empty
	outage  *device
	reboot  *device
	errPort end
	fx      flowIncidents // the flood and the scan (flowgen.go); no edge on a farm
}

// end is one end of a link: a device and one of its interfaces.
type end struct {
	dev *device
	ifc *iface
}

type builder struct {
	rng   *rand.Rand
	now   time.Time
	epoch time.Time
	site  *site
	seq   int
}

func newBuilder(name string, seed int64, now time.Time) *builder {
	return &builder{
		rng:   rand.New(rand.NewPCG(uint64(seed), 0x6c6162)),
		now:   now,
		epoch: now.Truncate(time.Hour),
		site:  &site{name: name, byName: map[string]*device{}},
	}
}

func (b *builder) device(name, role, location string, creds snmp.Credentials) *device {
	p := profiles[role]
	b.seq++
	d := &device{
		Name: name, Role: role, SysDescr: p.descr, SysObjectID: mustOID(p.objectID),
		Contact:  "East Backbone NOC <noc@backbone.example>, +1 555 0100",
		Location: location, Creds: creds, services: p.services, epoch: b.epoch,
	}
	d.sysObjectID = string(oidContent(nil, d.SysObjectID))
	d.engineID = engineID(name)
	d.chassis = string([]byte{p.oui[0], p.oui[1], p.oui[2], byte(b.seq >> 8), byte(b.seq), 0})
	uptime := time.Duration(2*24+b.rng.IntN(58*24)) * time.Hour
	uptime += time.Duration(b.rng.IntN(3600)) * time.Second
	d.bootAt = b.now.Add(-uptime)
	d.countersAt = d.bootAt.Add(time.Duration(30+b.rng.IntN(60)) * time.Second)
	d.boots = int32(1 + b.rng.IntN(20))
	if p.hr {
		d.hr = &hostResources{
			cpus: 1 + b.rng.IntN(4), cpuBase: 8 + 30*b.rng.Float64(), cpuPhase: 6 * b.rng.Float64(),
			memKB: int64(4+4*b.rng.IntN(7)) << 20, memFrac: 0.35 + 0.25*b.rng.Float64(),
			flashKB: 8 << 20, flashFrac: 0.2 + 0.5*b.rng.Float64(),
		}
	}
	b.site.devices = append(b.site.devices, d)
	b.site.byName[name] = d
	return d
}

// port adds an interface, administratively up and operationally down until connected.
func (b *builder) port(d *device, index int32, name, descr string, typ int32, speed uint64) *iface {
	i := &iface{
		Index: index, Name: name, Descr: descr, Type: typ, Speed: speed, AdminUp: true,
		Physical: typ == ifTypeEthernet, MTU: 1500, pktSize: 400 + 900*b.rng.Float64(),
	}
	switch typ {
	case ifTypeLoopback:
		i.MTU = 65535
		i.operUp = true
	case ifTypeVirtual, ifTypeTunnel:
		i.operUp = true
	}
	if typ != ifTypeLoopback {
		m := []byte(d.chassis)
		m[5] = byte(index)
		m[4] += byte(index >> 8)
		i.mac = string(m)
	}
	d.ifaces = append(d.ifaces, i)
	return i
}

// traffic puts a flow in each direction of i, at the given fractions of its speed.
func (b *builder) traffic(i *iface, inUtil, outUtil float64) {
	bps := float64(i.Speed) / 8
	i.in, i.out = newFlow(b.rng, bps*inUtil), newFlow(b.rng, bps*outUtil)
	i.operUp = true
}

// host connects i to something that is not monitored and sends traffic.
func (b *builder) host(i *iface, alias string, inUtil, outUtil float64) {
	i.Alias = alias
	b.traffic(i, inUtil, outUtil)
}

// link cables two simulated interfaces; util is the load from a to b, back is b to a.
func (b *builder) link(ad *device, ai *iface, bd *device, bi *iface, util, back float64) {
	bps := float64(ai.Speed) / 8
	ab, ba := newFlow(b.rng, bps*util), newFlow(b.rng, bps*back)
	ai.out, bi.in = ab, ab
	ai.in, bi.out = ba, ba
	ai.pktSize = bi.pktSize
	ai.peer, ai.peerDev = bi, bd
	bi.peer, bi.peerDev = ai, ad
	ai.operUp, bi.operUp = true, true
	if ai.Alias == "" {
		ai.Alias = fmt.Sprintf("to %s %s", bd.Name, bi.Name)
	}
	if bi.Alias == "" {
		bi.Alias = fmt.Sprintf("to %s %s", ad.Name, ai.Name)
	}
}

// neighbour gives i an LLDP neighbour outside the lab, with traffic.
func (b *builder) neighbour(i *iface, sysName, sysDesc, port, alias string, inUtil, outUtil float64) {
	mac := []byte{0x00, 0x1b, 0x17, byte(b.rng.IntN(256)), byte(b.rng.IntN(256)), byte(b.rng.IntN(256))}
	i.remote = &remoteEnd{sysName: sysName, sysDesc: sysDesc, port: port, portDesc: port, chassis: string(mac)}
	b.host(i, alias, inUtil, outUtil)
}

// util draws a load between lo and hi.
func (b *builder) util(lo, hi float64) float64 { return lo + (hi-lo)*b.rng.Float64() }

// finish sets the initial counters and state-change times and builds the MIB views.
func (b *builder) finish() *site {
	for _, d := range b.site.devices {
		t := d.sec(d.countersAt)
		for _, i := range d.ifaces {
			i.lastChange = d.countersAt.Add(time.Duration(5+b.rng.IntN(40)) * time.Second)
			if b.rng.IntN(5) == 0 { // some links changed state since, like in real life
				i.lastChange = b.now.Add(-time.Duration(1+b.rng.IntN(500)) * time.Hour)
				if i.lastChange.Before(d.countersAt) {
					i.lastChange = d.countersAt
				}
			}
			if i.in != nil {
				i.offIn, i.offOut = i.in.integral(t), i.out.integral(t)
			}
			if i.in != nil && b.rng.IntN(8) == 0 {
				i.errRatio = 1e-11 * b.rng.Float64() // a dirty optic somewhere
				i.errBase = float64(b.rng.IntN(50))
			}
		}
		d.rebuildView()
	}
	return b.site
}

// standardSite builds the east-backbone site: two core routers, a firewall, three
// distribution and six access switches, with uplinks to two ISPs, servers and access points.
func standardSite(name string, seed int64, now time.Time) *site {
	b := newBuilder(name, seed, now)
	const (
		g1  = 1_000_000_000
		g10 = 10_000_000_000
		g40 = 40_000_000_000
	)

	// Core routers (Juniper-style names and sparse ifIndexes).
	var cores [2]*device
	var coreXe [2][8]*iface
	var coreEt [2][2]*iface
	for c := range cores {
		d := b.device(fmt.Sprintf("core-r%d", c+1), "core", fmt.Sprintf("East backbone POP, MMR %d, rack A%d", c+1, c+1), v2cPublic)
		cores[c] = d
		b.port(d, 16, "lo0", "lo0", ifTypeLoopback, 0)
		mgmt := b.port(d, 17, "em0", "em0", ifTypeEthernet, g1)
		b.host(mgmt, "oob-mgmt", 0.0005, 0.0008)
		ae := b.port(d, 500, "ae0", "ae0", ifTypeLAG, 2*g40)
		ae.Physical = false
		ae.Alias = fmt.Sprintf("core interconnect to core-r%d ae0", 2-c)
		ae.MTU = 9192
		for k := range 2 {
			coreEt[c][k] = b.port(d, int32(510+k), fmt.Sprintf("et-0/0/%d", k), fmt.Sprintf("et-0/0/%d", k), ifTypeEthernet, g40)
			coreEt[c][k].MTU = 9192
			ae.members = append(ae.members, len(d.ifaces)-1)
		}
		for k := range 8 {
			coreXe[c][k] = b.port(d, int32(520+k), fmt.Sprintf("xe-0/1/%d", k), fmt.Sprintf("xe-0/1/%d", k), ifTypeEthernet, g10)
			coreXe[c][k].MTU = 9192
		}
		ge0 := b.port(d, 530, "ge-0/2/0", "ge-0/2/0", ifTypeEthernet, g1)
		b.host(ge0, "dns-resolver-"+fmt.Sprint(c+1), b.util(0.02, 0.08), b.util(0.02, 0.08))
		ge1 := b.port(d, 531, "ge-0/2/1", "ge-0/2/1", ifTypeEthernet, g1)
		ge1.AdminUp, ge1.Alias = false, "spare"
		// Transit to the ISPs: LLDP neighbours outside the lab.
		isp := []string{"isp-a-pe1", "isp-b-pe1"}[c]
		b.neighbour(coreXe[c][4], isp, "Cisco IOS XR Software, Version 7.9.2", "TenGigE0/3/0/7",
			"transit "+isp, b.util(0.30, 0.55), b.util(0.15, 0.35))
		coreXe[c][5].AdminUp, coreXe[c][5].Alias = false, "spare"
		coreXe[c][6].Alias = "reserved: dr-site dark fiber" // admin up, no light: oper down
		coreXe[c][7].AdminUp = false
	}
	for k := range 2 {
		u := b.util(0.20, 0.35)
		b.link(cores[0], coreEt[0][k], cores[1], coreEt[1][k], u, u*b.util(0.8, 1.1))
	}

	// Firewall between the cores and the DMZ.
	fw := b.device("fw-1", "firewall", "East backbone POP, MMR 1, rack A3", v3NOC)
	var fwEth [12]*iface
	for k := range fwEth {
		speed := uint64(g1)
		if k < 3 {
			speed = g10
		}
		name := fmt.Sprintf("ethernet1/%d", k+1)
		fwEth[k] = b.port(fw, int32(k+1), name, name, ifTypeEthernet, speed)
	}
	b.link(cores[0], coreXe[0][3], fw, fwEth[0], b.util(0.10, 0.25), b.util(0.10, 0.30))
	b.link(cores[1], coreXe[1][3], fw, fwEth[1], b.util(0.05, 0.20), b.util(0.05, 0.20))
	b.neighbour(fwEth[2], "dmz-sw1", "Cisco IOS Software, C2960X Software (C2960X-UNIVERSALK9-M), Version 15.2(7)E8",
		"Te1/0/1", "dmz", b.util(0.05, 0.15), b.util(0.10, 0.25))
	b.host(fwEth[3], "guest-wifi", b.util(0.05, 0.2), b.util(0.1, 0.3))
	b.host(fwEth[4], "vpn-concentrator", b.util(0.02, 0.1), b.util(0.02, 0.1))
	for k := 5; k < 12; k++ {
		if k >= 8 {
			fwEth[k].AdminUp = false
		}
	}
	b.host(b.port(fw, 13, "mgmt", "mgmt", ifTypeEthernet, g1), "oob-mgmt", 0.0004, 0.0006)
	b.port(fw, 14, "loopback.1", "loopback.1", ifTypeLoopback, 0)
	tun := b.port(fw, 15, "tunnel.1", "tunnel.1", ifTypeTunnel, g1)
	b.host(tun, "ipsec to dr-site", b.util(0.01, 0.05), b.util(0.01, 0.05))

	// Distribution switches (Arista-style), each dual-homed to the cores.
	var dists [3]*device
	var distEth [3][24]*iface
	for s := range dists {
		d := b.device(fmt.Sprintf("dist-s%d", s+1), "distribution", fmt.Sprintf("East backbone, building %c, MDF", 'A'+s), v3NOC)
		dists[s] = d
		for k := range 24 {
			name := fmt.Sprintf("Ethernet%d", k+1)
			distEth[s][k] = b.port(d, int32(k+1), name, name, ifTypeEthernet, g10)
			distEth[s][k].MTU = 9214
		}
		b.link(cores[0], coreXe[0][s], d, distEth[s][0], b.util(0.15, 0.45), b.util(0.10, 0.35))
		b.link(cores[1], coreXe[1][s], d, distEth[s][1], b.util(0.10, 0.40), b.util(0.10, 0.30))
		b.neighbour(distEth[s][4], fmt.Sprintf("esx-%02d", s+1), "VMware ESXi 8.0.2 build-22380479", "vmnic0",
			fmt.Sprintf("esx-%02d vmnic0", s+1), b.util(0.10, 0.40), b.util(0.10, 0.40))
		for k := 5; k < 12; k++ {
			b.host(distEth[s][k], fmt.Sprintf("srv-%c%02d", 'a'+s, k-4), b.util(0.01, 0.20), b.util(0.01, 0.20))
		}
		for k := 12; k < 24; k++ { // spare ports are shut, as a careful operator leaves them
			distEth[s][k].AdminUp, distEth[s][k].Alias = false, "spare"
		}
		b.port(d, 2100, "Vlan100", "Vlan100", ifTypeVirtual, 0)
		b.port(d, 5000, "Loopback0", "Loopback0", ifTypeLoopback, 0)
		b.host(b.port(d, 999001, "Management1", "Management1", ifTypeEthernet, g1), "oob-mgmt", 0.0004, 0.0006)
	}

	// Access switches (Cisco-style), two per distribution switch.
	for a := range 6 {
		ports := 48
		if a >= 3 {
			ports = 24
		}
		creds := v2cPublic
		if a == 4 { // acc-a5, the switch that reboots: v3, so its engine boots count matters
			creds = v3NOC
		}
		d := b.device(fmt.Sprintf("acc-a%d", a+1), "access", fmt.Sprintf("East backbone, building %c, IDF floor %d", 'A'+a/2, 1+a%2), creds)
		b.host(b.port(d, 1, "Gi0/0", "GigabitEthernet0/0", ifTypeEthernet, g1), "oob-mgmt", 0.0004, 0.0006)
		for k := 1; k <= ports; k++ {
			i := b.port(d, int32(8+k), fmt.Sprintf("Gi1/0/%d", k), fmt.Sprintf("GigabitEthernet1/0/%d", k), ifTypeEthernet, g1)
			floor := fmt.Sprintf("%d%c", 1+a%2, 'A'+a/2)
			switch r := b.rng.IntN(100); {
			case k == 1:
				b.neighbour(i, fmt.Sprintf("ap-%s-%02d", floor, k), "Cisco AP Software, C9120AXI-B, 17.9.4a", "GigabitEthernet0",
					fmt.Sprintf("ap-%s-%02d", floor, k), b.util(0.01, 0.10), b.util(0.02, 0.20))
			case a == 1 && k == 7: // the port of the error incident: always up
				b.host(i, fmt.Sprintf("desk-%s-%03d", floor, k), b.util(0.01, 0.05), b.util(0.02, 0.10))
			case k > ports-2 || r < 22:
				i.AdminUp, i.Alias = false, "unused"
			case r < 27: // nothing plugged in (a laptop gone home): admin up, oper down
			case r < 85:
				b.host(i, fmt.Sprintf("desk-%s-%03d", floor, k), b.util(0.002, 0.03), b.util(0.005, 0.08))
			case r < 93:
				b.host(i, fmt.Sprintf("printer-%s-%d", floor, k), 0.001, 0.002)
			default:
				b.host(i, fmt.Sprintf("cam-%s-%d", floor, k), b.util(0.01, 0.02), b.util(0.10, 0.25))
			}
		}
		var te [4]*iface
		for k := range te {
			te[k] = b.port(d, int32(8+ports+k+1), fmt.Sprintf("Te1/1/%d", k+1), fmt.Sprintf("TenGigabitEthernet1/1/%d", k+1), ifTypeEthernet, g10)
			if k > 0 {
				te[k].AdminUp = false
			}
		}
		dist := dists[a/2]
		down := distEth[a/2][2+a%2]
		te[0].Alias = fmt.Sprintf("uplink to %s %s", dist.Name, down.Name)
		b.link(d, te[0], dist, down, b.util(0.03, 0.12), b.util(0.05, 0.25))
		b.port(d, int32(8+ports+20), "Vl1", "Vlan1", ifTypeVirtual, 0)
	}

	s := b.finish()
	// The scripted incidents: acc-a3's uplink flaps, dist-s3 goes dark (and takes acc-a5
	// and acc-a6, which hang off it alone, with it), acc-a5 reboots, a desk port of acc-a2
	// collects errors.
	a3 := s.byName["acc-a3"]
	up := findIf(a3, "Te1/1/1")
	s.flap = [2]end{{a3, up}, {up.peerDev, up.peer}}
	s.outage = s.byName["dist-s3"]
	s.reboot = s.byName["acc-a5"]
	s.errPort = end{s.byName["acc-a2"], findIf(s.byName["acc-a2"], "Gi1/0/7")}
	// The flood and the scan come in from core-r1's transit, toward dist-s1's servers.
	s.fx.edge = end{s.byName["core-r1"], findIf(s.byName["core-r1"], "xe-0/1/4")}
	s.fx.down = findIf(s.byName["core-r1"], "xe-0/1/0")
	return s
}

// farmSite builds n look-alike access switches with ifaces interfaces each, for load tests.
// They are not cabled to each other.
func farmSite(name string, n, ifaces int, seed int64, now time.Time) *site {
	b := newBuilder(name, seed, now)
	ifaces = max(ifaces, 3)
	for k := range n {
		d := b.device(fmt.Sprintf("farm-%04d", k+1), "access", fmt.Sprintf("load-test farm, slot %d", k+1), v2cPublic)
		for p := 1; p <= ifaces; p++ {
			i := b.port(d, int32(p), fmt.Sprintf("Gi1/0/%d", p), fmt.Sprintf("GigabitEthernet1/0/%d", p), ifTypeEthernet, 1_000_000_000)
			switch {
			case p > ifaces-2:
				i.Name, i.Descr, i.Speed = fmt.Sprintf("Te1/1/%d", p-ifaces+2), fmt.Sprintf("TenGigabitEthernet1/1/%d", p-ifaces+2), 10_000_000_000
				b.host(i, "uplink", b.util(0.05, 0.3), b.util(0.05, 0.3))
			case p%10 == 9:
				i.AdminUp = false
			default:
				b.host(i, fmt.Sprintf("desk-%03d", p), b.util(0.002, 0.1), b.util(0.005, 0.2))
			}
		}
	}
	s := b.finish()
	// The devices are built alike, so their views are too: share one (rows are positions,
	// values come from each device). A device whose structure changes later builds its own.
	for _, d := range s.devices[1:] {
		d.view.Store(s.devices[0].view.Load())
	}
	pick := func(k int) *device { return s.devices[k%len(s.devices)] }
	s.flap = [2]end{{pick(0), pick(0).ifaces[ifaces-1]}}
	s.outage, s.reboot = pick(1), pick(2)
	s.errPort = end{pick(3), pick(3).ifaces[2]}
	return s
}

// cutOff returns the devices that lose every path to the site's core devices (role "core")
// when d is down, following the simulated cables: their management traffic, traps and flow
// exports go through d. A site without core devices has nothing behind anything.
func (s *site) cutOff(d *device) []*device {
	reach := func(skip *device) map[*device]bool {
		seen := map[*device]bool{}
		var queue []*device
		for _, c := range s.devices {
			if c.Role == "core" && c != skip {
				seen[c] = true
				queue = append(queue, c)
			}
		}
		for len(queue) > 0 {
			x := queue[0]
			queue = queue[1:]
			for _, i := range x.ifaces {
				if p := i.peerDev; p != nil && p != skip && !seen[p] {
					seen[p] = true
					queue = append(queue, p)
				}
			}
		}
		return seen
	}
	all, without := reach(nil), reach(d)
	var out []*device
	for _, x := range s.devices {
		if x != d && all[x] && !without[x] {
			out = append(out, x)
		}
	}
	return out
}

func findIf(d *device, name string) *iface {
	for _, i := range d.ifaces {
		if i.Name == name {
			return i
		}
	}
	panic("lab: no interface " + name + " on " + d.Name)
}
