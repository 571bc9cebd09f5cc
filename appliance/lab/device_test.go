package lab

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/watchfloor/watchfloor"
)

// get computes the value of one OID of a device's view at now.
func get(t testing.TB, d *device, oid string, now time.Time) value {
	t.Helper()
	v := d.view.Load()
	pos, ok := v.find(mustOID(oid))
	if !ok {
		t.Fatalf("%s has no %s", d.Name, oid)
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.value(&v.entries[pos], now)
}

func ifOID(col string, i *iface) string { return fmt.Sprintf("%s.%d", col, i.Index) }

const (
	colInOctets     = ".1.3.6.1.2.1.2.2.1.10"
	colOutOctets    = ".1.3.6.1.2.1.2.2.1.16"
	colOperStatus   = ".1.3.6.1.2.1.2.2.1.8"
	colLastChange   = ".1.3.6.1.2.1.2.2.1.9"
	colInErrors     = ".1.3.6.1.2.1.2.2.1.14"
	colHCInOctets   = ".1.3.6.1.2.1.31.1.1.1.6"
	colHCOutOctets  = ".1.3.6.1.2.1.31.1.1.1.10"
	colHCInUcast    = ".1.3.6.1.2.1.31.1.1.1.7"
	colDiscontinuty = ".1.3.6.1.2.1.31.1.1.1.19"
	colLldpRemSys   = ".1.0.8802.1.1.2.1.4.1.1.9.0"
)

// TestCountersMonotonicAndWrap reads every counter of the site over half an hour: the 64-bit
// counters never decrease, and each Counter32 is its HC counter modulo 2³², so it wraps
// exactly when it should (several times on the 40G links).
func TestCountersMonotonicAndWrap(t *testing.T) {
	now := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	s := standardSite(DefaultSite, 7, now)
	wraps := 0
	for _, d := range s.devices {
		for _, i := range d.ifaces {
			var prevHC, prevPkts uint64
			var prev32 uint64
			for k := range 1800 {
				at := now.Add(time.Duration(k)*time.Second + time.Duration(k%7)*time.Millisecond)
				hc := get(t, d, ifOID(colHCInOctets, i), at).n
				c32 := get(t, d, ifOID(colInOctets, i), at).n
				pkts := get(t, d, ifOID(colHCInUcast, i), at).n
				if c32 != hc&math.MaxUint32 {
					t.Fatalf("%s %s: ifInOctets %d, ifHCInOctets %d", d.Name, i.Name, c32, hc)
				}
				if k > 0 {
					if hc < prevHC || pkts < prevPkts {
						t.Fatalf("%s %s went backwards at %d s: %d → %d", d.Name, i.Name, k, prevHC, hc)
					}
					if c32 < prev32 {
						wraps++
						if d32 := (c32 - prev32) & math.MaxUint32; d32 != hc-prevHC {
							t.Fatalf("%s %s: wrapped delta %d, HC delta %d", d.Name, i.Name, d32, hc-prevHC)
						}
					}
				}
				prevHC, prev32, prevPkts = hc, c32, pkts
			}
		}
	}
	if wraps < 100 {
		t.Errorf("only %d Counter32 wraps in 30 minutes", wraps)
	}
}

// TestLinkEndsAgree: what one end of a cable sends, the other receives, and the loads are
// what a site looks like: busy uplinks, lighter access ports.
func TestLinkEndsAgree(t *testing.T) {
	now := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	s := standardSite(DefaultSite, 3, now)
	links := 0
	for _, d := range s.devices {
		for _, i := range d.ifaces {
			if i.in == nil {
				continue
			}
			t0, t1 := now, now.Add(10*time.Minute)
			inB := float64(get(t, d, ifOID(colHCInOctets, i), t1).n - get(t, d, ifOID(colHCInOctets, i), t0).n)
			outB := float64(get(t, d, ifOID(colHCOutOctets, i), t1).n - get(t, d, ifOID(colHCOutOctets, i), t0).n)
			util := max(inB, outB) * 8 / 600 / float64(i.Speed)
			if i.peer != nil {
				links++
				p, pd := i.peer, i.peerDev
				pin := float64(get(t, pd, ifOID(colHCInOctets, p), t1).n - get(t, pd, ifOID(colHCInOctets, p), t0).n)
				if math.Abs(pin-outB) > 16 {
					t.Errorf("%s %s sent %.0f bytes, %s %s received %.0f", d.Name, i.Name, outB, pd.Name, p.Name, pin)
				}
				if util < 0.03 || util > 0.75 {
					t.Errorf("%s %s ↔ %s: utilisation %.1f%%", d.Name, i.Name, pd.Name, 100*util)
				}
			} else if i.Speed == 1e9 && util > 0.6 {
				t.Errorf("%s %s: access port at %.1f%%", d.Name, i.Name, 100*util)
			}
		}
	}
	if links != 32 { // 16 cables seen from both ends
		t.Errorf("%d link ends, want 32", links)
	}
}

// TestLLDPConsistent walks every device's LLDP tables over SNMP (v2c and v3) and checks that
// both ends of every cable name each other, and that the topology the root package derives
// from them is the site's.
func TestLLDPConsistent(t *testing.T) {
	l := startLab(t, Options{})
	type port struct{ dev, port string }
	seen := map[port]port{}
	var devs []watchfloor.Device
	for _, tg := range l.Targets() {
		g := client(t, tg)
		names := map[string]string{} // localPortNum → lldpLocPortId
		pdus, err := g.BulkWalkAll(".1.0.8802.1.1.2.1.3.7.1.3")
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pdus {
			names[p.Name[len(".1.0.8802.1.1.2.1.3.7.1.3."):]] = string(p.Value.([]byte))
		}
		ifNames, err := g.BulkWalkAll(".1.3.6.1.2.1.31.1.1.1.1")
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ifNames {
			idx := p.Name[len(".1.3.6.1.2.1.31.1.1.1.1."):]
			if n, ok := names[idx]; ok && n != string(p.Value.([]byte)) {
				t.Errorf("%s: lldpLocPortId.%s %q, ifName %q", tg.Name, idx, n, p.Value)
			}
		}
		d := watchfloor.Device{Name: tg.Name, SysName: tg.Name}
		sys, err := g.BulkWalkAll(".1.0.8802.1.1.2.1.4.1.1.9")
		if err != nil {
			t.Fatal(err)
		}
		ports, err := g.BulkWalkAll(".1.0.8802.1.1.2.1.4.1.1.7")
		if err != nil {
			t.Fatal(err)
		}
		if len(sys) != len(ports) || len(sys) == 0 {
			t.Fatalf("%s: %d sysNames, %d portIds", tg.Name, len(sys), len(ports))
		}
		for k, p := range sys {
			var tm, local, rem int
			if _, err := fmt.Sscanf(p.Name, ".1.0.8802.1.1.2.1.4.1.1.9.%d.%d.%d", &tm, &local, &rem); err != nil {
				t.Fatal(err)
			}
			lp := names[fmt.Sprint(local)]
			if lp == "" {
				t.Errorf("%s: neighbour on port %d without lldpLocPortTable row", tg.Name, local)
			}
			rp := port{string(p.Value.([]byte)), string(ports[k].Value.([]byte))}
			seen[port{tg.Name, lp}] = rp
			d.Neighbors = append(d.Neighbors, watchfloor.Neighbor{LocalIfIndex: int32(local), LocalPort: lp, RemoteSysName: rp.dev, RemotePort: rp.port})
		}
		devs = append(devs, d)
	}
	internal := 0
	for local, remote := range seen {
		if l.agent(remote.dev) == nil {
			continue // an AP, a server or an ISP router
		}
		internal++
		if back := seen[remote]; back != local {
			t.Errorf("%v sees %v, which sees %v", local, remote, back)
		}
	}
	if internal != 32 {
		t.Errorf("%d internal neighbour entries, want 32", internal)
	}
	links := watchfloor.Topology(devs)
	inside := 0
	for _, k := range links {
		if l.agent(k.A) != nil && l.agent(k.B) != nil {
			inside++
		}
	}
	if inside != 16 || len(links) < 16+6+3+2+1 {
		t.Errorf("topology: %d links, %d inside the lab", len(links), inside)
	}
}

// TestFarm builds the load-test farm and checks its shape.
func TestFarm(t *testing.T) {
	l := startLab(t, Options{Devices: 20, Interfaces: 48, Bind: "127.0.0.1"})
	ts := l.Targets()
	if len(ts) != 20 {
		t.Fatalf("%d targets", len(ts))
	}
	g := client(t, ts[19])
	pdus, err := g.BulkWalkAll(".1.3.6.1.2.1.31.1.1.1.6")
	if err != nil {
		t.Fatal(err)
	}
	if len(pdus) != 48 {
		t.Errorf("%d rows", len(pdus))
	}
}

// TestLoopbackAddr: device addresses skip .0 and .255.
func TestLoopbackAddr(t *testing.T) {
	for k, want := range map[int]string{0: "127.0.1.10", 244: "127.0.1.254", 245: "127.0.2.1", 498: "127.0.2.254", 499: "127.0.3.1"} {
		if got := loopbackAddr(k).String(); got != want {
			t.Errorf("loopbackAddr(%d) = %s, want %s", k, got, want)
		}
	}
}
