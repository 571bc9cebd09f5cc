package lab

import (
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/watchfloor/watchfloor/collectors/snmp"
)

// OIDs of the object types the devices implement.
var (
	oidSystem      = mustOID(".1.3.6.1.2.1.1")
	oidIfNumber    = mustOID(".1.3.6.1.2.1.2.1")
	oidIfEntry     = mustOID(".1.3.6.1.2.1.2.2.1")
	oidIfXEntry    = mustOID(".1.3.6.1.2.1.31.1.1.1")
	oidHrUptime    = mustOID(".1.3.6.1.2.1.25.1.1")
	oidHrMemSize   = mustOID(".1.3.6.1.2.1.25.2.2")
	oidHrStorEntry = mustOID(".1.3.6.1.2.1.25.2.3.1")
	oidHrProcEntry = mustOID(".1.3.6.1.2.1.25.3.3.1")
	oidLldpLocal   = mustOID(".1.0.8802.1.1.2.1.3")
	oidLldpLocPort = mustOID(".1.0.8802.1.1.2.1.3.7.1")
	oidLldpRem     = mustOID(".1.0.8802.1.1.2.1.4.1.1")
	oidSnmpEngine  = mustOID(".1.3.6.1.6.3.10.2.1")

	oidHrStorageRAM       = oidContent(nil, mustOID(".1.3.6.1.2.1.25.2.1.2"))
	oidHrStorageFixedDisk = oidContent(nil, mustOID(".1.3.6.1.2.1.25.2.1.4"))
	oidZeroDotZero        = oidContent(nil, []uint32{0, 0})
)

// IF-MIB ifType values used by the lab.
const (
	ifTypeEthernet = 6
	ifTypeLoopback = 24
	ifTypeVirtual  = 53 // propVirtual: VLAN interfaces
	ifTypeTunnel   = 131
	ifTypeLAG      = 161
)

// flow is the traffic of one direction of a link: a mean rate shaped by a slow "diurnal" sine
// and three faster ones, so graphs move within minutes. Counters are its integral, computed
// in closed form, so any two reads are consistent and monotonic whatever the read times.
type flow struct {
	base float64 // mean rate, bytes per second
	amp  [4]float64
	w    [4]float64 // angular frequencies, rad/s
	ph   [4]float64

	surge surge // a scripted flood on top of the curve (flowgen.go); guarded by the owning device's mu
}

func newFlow(rng *rand.Rand, bytesPerSec float64) *flow {
	f := &flow{base: bytesPerSec}
	periods := [4][2]float64{{86400, 86400}, {360, 840}, {60, 180}, {15, 40}}
	amps := [4]float64{0.25, 0.15, 0.08, 0.05} // sum < 1: the rate never reaches 0
	for k := range f.amp {
		p := periods[k][0] + rng.Float64()*(periods[k][1]-periods[k][0])
		f.w[k] = 2 * math.Pi / p
		f.amp[k] = amps[k] * (0.6 + 0.4*rng.Float64())
		f.ph[k] = rng.Float64() * 2 * math.Pi
	}
	return f
}

// rate is bytes per second at t (seconds since the site's epoch).
func (f *flow) rate(t float64) float64 {
	r := 1.0
	for k := range f.amp {
		r += f.amp[k] * math.Sin(f.w[k]*t+f.ph[k])
	}
	return f.base*r + f.surge.rate(t)
}

// integral is the number of bytes sent from an arbitrary origin to t; differences count bytes.
func (f *flow) integral(t float64) float64 {
	s := t
	for k := range f.amp {
		s -= f.amp[k] / f.w[k] * math.Cos(f.w[k]*t+f.ph[k])
	}
	return f.base*s + f.surge.integral(t)
}

// iface is one row of a device's ifTable and ifXTable.
type iface struct {
	Index    int32
	Name     string // ifName
	Descr    string // ifDescr
	Alias    string // ifAlias, the operator's description
	Type     int32
	MTU      int32
	Speed    uint64 // bits per second
	AdminUp  bool
	Physical bool // a port with a connector; LLDP runs on it

	mac      string // ifPhysAddress, 6 bytes or empty
	in, out  *flow  // nil: no traffic
	pktSize  float64
	errRatio float64 // background input errors per byte
	members  []int   // LAG members, by position in the device's interfaces

	peer    *iface // the other end of the cable, when that device is simulated too
	peerDev *device
	remote  *remoteEnd // an LLDP neighbour that is not simulated (an AP, an ISP router)

	// state, guarded by the device's mu
	operUp          bool
	lastChange      time.Time
	offIn, offOut   float64 // integral value at which the counters read 0, while up
	frzIn, frzOut   float64 // counter values while down
	errRate         float64 // incident input errors per second, 0 when none
	errSince        float64
	errAccum        float64
	errBase, discIn float64 // background error and discard counts folded in at reset
}

// remoteEnd describes an LLDP neighbour outside the lab.
type remoteEnd struct {
	sysName, sysDesc, port, portDesc string
	chassis                          string // 6-byte MAC
}

// hostResources are the HOST-RESOURCES-MIB figures of a device that implements it.
type hostResources struct {
	cpus      int
	cpuBase   float64 // percent
	cpuPhase  float64
	memKB     int64
	memFrac   float64
	flashKB   int64
	flashFrac float64
}

// device is one simulated switch, router or firewall: its identity, interfaces, counters and
// SNMP configuration. Its MIB view is computed from this model at request time.
type device struct {
	Name        string
	Role        string
	SysDescr    string
	SysObjectID []uint32
	Contact     string
	Location    string
	Creds       snmp.Credentials

	sysObjectID string // BER content of SysObjectID
	engineID    []byte
	chassis     string // LLDP chassis ID, a MAC
	ifaces      []*iface
	hr          *hostResources
	services    int32
	epoch       time.Time // the site's time origin, for the traffic functions

	silent atomic.Bool // not answering SNMP (an outage or a reboot in progress)
	view   atomic.Pointer[view]

	mu         sync.RWMutex
	bootAt     time.Time // sysUpTime 0
	countersAt time.Time // counters last (re)initialised: ifCounterDiscontinuityTime
	boots      int32     // snmpEngineBoots
}

// sec converts a time to seconds since the site's epoch, the traffic functions' origin.
func (d *device) sec(t time.Time) float64 { return float64(t.Sub(d.epoch)) / 1e9 }

// octets returns the input and output byte counters of i at t; the caller holds d.mu.
func (d *device) octets(i *iface, t float64) (in, out float64) {
	if i.members != nil {
		for _, m := range i.members {
			a, b := d.octets(d.ifaces[m], t)
			in += a
			out += b
		}
		return in, out
	}
	if i.in == nil {
		return 0, 0
	}
	if !i.operUp {
		return i.frzIn, i.frzOut
	}
	return max(0, i.in.integral(t)-i.offIn), max(0, i.out.integral(t)-i.offOut)
}

// resetCounters sets the counters of every interface to 0 at t; the caller holds d.mu.
func (d *device) resetCounters(t float64) {
	for _, i := range d.ifaces {
		i.frzIn, i.frzOut = 0, 0
		i.errAccum, i.errBase, i.discIn = 0, 0, 0
		if i.errRate > 0 {
			i.errSince = t
		}
		if i.in != nil && i.operUp {
			i.offIn, i.offOut = i.in.integral(t), i.out.integral(t)
		}
	}
}

// setOper changes the operational state of i at now; the caller holds d.mu. It reports
// whether the state changed.
func (d *device) setOper(i *iface, up bool, now time.Time) bool {
	if i.operUp == up || !i.AdminUp {
		return false
	}
	t := d.sec(now)
	if i.in != nil {
		if up {
			i.offIn, i.offOut = i.in.integral(t)-i.frzIn, i.out.integral(t)-i.frzOut
		} else {
			i.frzIn, i.frzOut = d.octets(i, t)
		}
	}
	i.operUp = up
	i.lastChange = now
	return true
}

func (i *iface) lagUp(d *device) bool {
	for _, m := range i.members {
		if d.ifaces[m].operUp {
			return true
		}
	}
	return false
}

// inErrors is the input error counter of i at t; the caller holds d.mu.
func (i *iface) inErrors(inBytes, t float64) float64 {
	e := i.errBase + inBytes*i.errRatio + i.errAccum
	if i.errRate > 0 {
		e += (t - i.errSince) * i.errRate
	}
	return e
}

// setErrors starts (rate > 0) or stops an error burst on i at t; the caller holds d.mu.
func (i *iface) setErrors(rate, t float64) {
	if i.errRate > 0 {
		i.errAccum += (t - i.errSince) * i.errRate
	}
	i.errRate, i.errSince = rate, t
}

// ticks converts a duration to TimeTicks (hundredths of a second), wrapping like the MIB type.
func ticks(d time.Duration) uint64 {
	if d < 0 {
		return 0
	}
	return uint64(uint32(d / (10 * time.Millisecond)))
}

// value is one computed varbind value.
type value struct {
	tag byte
	n   uint64 // integers (as int64 bits) and unsigned types
	s   string // octet strings; for OIDs, the BER content
}

func (v *value) tlvLen() int {
	switch v.tag {
	case tagInteger:
		return 2 + intLen(int64(v.n))
	case tagCounter32, tagGauge32, tagTimeTicks, tagCounter64:
		return 2 + uintLen(v.n)
	default:
		return tlvLen(len(v.s))
	}
}

func (v *value) append(b []byte) []byte {
	switch v.tag {
	case tagInteger:
		return appendInt(b, tagInteger, int64(v.n))
	case tagCounter32, tagGauge32, tagTimeTicks, tagCounter64:
		return appendUint(b, v.tag, v.n)
	default:
		return appendString(b, v.tag, v.s)
	}
}

func str(s string) value    { return value{tag: tagOctetString, s: s} }
func integer(n int64) value { return value{tag: tagInteger, n: uint64(n)} }
func gauge(n uint64) value  { return value{tag: tagGauge32, n: min(n, math.MaxUint32)} }
func c32(f float64) value   { return value{tag: tagCounter32, n: uint64(uint32(uint64(f)))} }
func c64(f float64) value   { return value{tag: tagCounter64, n: uint64(f)} }
func tt(n uint64) value     { return value{tag: tagTimeTicks, n: n} }
func oidv(c []byte) value   { return value{tag: tagOID, s: string(c)} }

func status(up bool) value {
	if up {
		return integer(1)
	}
	return integer(2)
}

// value computes the value of e at now; the caller holds d.mu for reading.
func (d *device) value(e *entry, now time.Time) value {
	up := now.Sub(d.bootAt)
	switch e.kind {
	case kSysDescr:
		return str(d.SysDescr)
	case kSysObjectID:
		return value{tag: tagOID, s: d.sysObjectID}
	case kSysUpTime, kHrSystemUptime:
		return tt(ticks(up))
	case kSysContact:
		return str(d.Contact)
	case kSysName, kLldpLocSysName:
		return str(d.Name)
	case kSysLocation:
		return str(d.Location)
	case kSysServices:
		return integer(int64(d.services))
	case kIfNumber:
		return integer(int64(len(d.ifaces)))
	case kEngineID:
		return str(string(d.engineID))
	case kEngineBoots:
		return integer(int64(d.boots))
	case kEngineTime:
		return integer(int64(max(0, up/time.Second)))
	case kEngineMaxMessageSize:
		return integer(maxDatagram)
	case kLldpLocChassisIDSubtype, kLldpRemChassisIDSubtype:
		return integer(4) // macAddress
	case kLldpLocChassisID:
		return str(d.chassis)
	case kLldpLocSysDesc:
		return str(d.SysDescr)
	case kHrMemorySize:
		return integer(d.hr.memKB)
	}
	if e.kind >= kHrStorageIndex && e.kind <= kHrProcessorLoad {
		return d.hrValue(e, now)
	}
	i := d.ifaces[e.row]
	switch e.kind {
	case kIfIndex:
		return integer(int64(i.Index))
	case kIfDescr:
		return str(i.Descr)
	case kIfType:
		return integer(int64(i.Type))
	case kIfMtu:
		return integer(int64(i.MTU))
	case kIfSpeed:
		return gauge(i.Speed)
	case kIfPhysAddress:
		return str(i.mac)
	case kIfAdminStatus:
		return status(i.AdminUp)
	case kIfOperStatus:
		if i.members != nil {
			if !i.AdminUp {
				return integer(2)
			}
			if i.lagUp(d) {
				return integer(1)
			}
			return integer(7) // lowerLayerDown
		}
		return status(i.operUp)
	case kIfLastChange:
		if i.lastChange.Before(d.bootAt) {
			return tt(0)
		}
		return tt(ticks(i.lastChange.Sub(d.bootAt)))
	case kIfName, kLldpLocPortID:
		return str(i.Name)
	case kIfAlias:
		return str(i.Alias)
	case kIfHighSpeed:
		return gauge(i.Speed / 1e6)
	case kIfLinkUpDownTrapEnable:
		return integer(1)
	case kIfPromiscuousMode:
		return integer(2)
	case kIfConnectorPresent:
		if i.Physical {
			return integer(1)
		}
		return integer(2)
	case kIfCounterDiscontinuityTime:
		return tt(ticks(d.countersAt.Sub(d.bootAt)))
	case kLldpLocPortIDSubtype, kLldpRemPortIDSubtype:
		return integer(5) // interfaceName
	case kLldpLocPortDesc:
		return str(i.Descr)
	}
	if e.kind >= kLldpRemChassisIDSubtype && e.kind <= kLldpRemSysDesc {
		return remoteValue(i, e.kind)
	}
	// Counters.
	t := d.sec(now)
	in, out := d.octets(i, t)
	ps := i.pktSize
	if ps == 0 {
		ps = 1000
	}
	switch e.kind {
	case kIfInOctets:
		return c32(in)
	case kIfOutOctets:
		return c32(out)
	case kIfHCInOctets:
		return c64(in)
	case kIfHCOutOctets:
		return c64(out)
	case kIfInUcastPkts:
		return c32(in / ps)
	case kIfOutUcastPkts:
		return c32(out / ps)
	case kIfHCInUcastPkts:
		return c64(in / ps)
	case kIfHCOutUcastPkts:
		return c64(out / ps)
	case kIfInMulticastPkts:
		return c32(in / ps / 90)
	case kIfOutMulticastPkts:
		return c32(out / ps / 110)
	case kIfHCInMulticastPkts:
		return c64(in / ps / 90)
	case kIfHCOutMulticastPkts:
		return c64(out / ps / 110)
	case kIfInBroadcastPkts:
		return c32(in / ps / 400)
	case kIfOutBroadcastPkts:
		return c32(out / ps / 500)
	case kIfHCInBroadcastPkts:
		return c64(in / ps / 400)
	case kIfHCOutBroadcastPkts:
		return c64(out / ps / 500)
	case kIfInDiscards:
		return c32(i.discIn + in/4e9)
	case kIfOutDiscards:
		return c32(out / 2.5e9)
	case kIfInErrors:
		if i.members != nil {
			var e float64
			for _, m := range i.members {
				mi := d.ifaces[m]
				mIn, _ := d.octets(mi, t)
				e += mi.inErrors(mIn, t)
			}
			return c32(e)
		}
		return c32(i.inErrors(in, t))
	case kIfOutErrors:
		return c32(0)
	case kIfInUnknownProtos:
		return c32(in / ps / 20000)
	}
	return value{tag: tagNull}
}

func remoteValue(i *iface, k kind) value {
	var r remoteEnd
	switch {
	case i.peer != nil:
		r = remoteEnd{
			sysName: i.peerDev.Name, sysDesc: i.peerDev.SysDescr, chassis: i.peerDev.chassis,
			port: i.peer.Name, portDesc: i.peer.Descr,
		}
		if i.peer.Alias != "" {
			r.portDesc = i.peer.Alias
		}
	case i.remote != nil:
		r = *i.remote
	}
	switch k {
	case kLldpRemChassisID:
		return str(r.chassis)
	case kLldpRemPortID:
		return str(r.port)
	case kLldpRemPortDesc:
		return str(r.portDesc)
	case kLldpRemSysName:
		return str(r.sysName)
	case kLldpRemSysDesc:
		return str(r.sysDesc)
	}
	return value{tag: tagNull}
}

func (d *device) hrValue(e *entry, now time.Time) value {
	h := d.hr
	t := d.sec(now)
	switch e.kind {
	case kHrProcessorFrwID:
		return oidv(oidZeroDotZero)
	case kHrProcessorLoad:
		// A load that drifts with time, each CPU a little differently.
		l := h.cpuBase * (1 + 0.35*math.Sin(t/97+h.cpuPhase+float64(e.row)) + 0.15*math.Sin(t/13+float64(e.row)*1.7))
		return integer(int64(math.Round(max(1, min(100, l)))))
	}
	ram := e.row == 0
	switch e.kind {
	case kHrStorageIndex:
		return integer(int64(e.row) + 1)
	case kHrStorageType:
		if ram {
			return oidv(oidHrStorageRAM)
		}
		return oidv(oidHrStorageFixedDisk)
	case kHrStorageDescr:
		if ram {
			return str("RAM")
		}
		return str("/flash")
	case kHrStorageAllocationUnits:
		return integer(1024)
	case kHrStorageSize:
		if ram {
			return integer(h.memKB)
		}
		return integer(h.flashKB)
	case kHrStorageUsed:
		if ram {
			// Memory creeps up with uptime and breathes a little.
			up := now.Sub(d.bootAt).Hours()
			f := h.memFrac + 0.08*(1-math.Exp(-up/48)) + 0.02*math.Sin(t/300+h.cpuPhase)
			return integer(int64(float64(h.memKB) * min(0.97, f)))
		}
		return integer(int64(float64(h.flashKB) * h.flashFrac))
	}
	return value{tag: tagNull}
}

// hasRemote reports whether i has an LLDP neighbour now; the caller holds d.mu.
func (i *iface) hasRemote() bool {
	return (i.peer != nil || i.remote != nil) && i.AdminUp && i.operUp
}

// rebuildView recomputes the device's MIB view from its structure and state. It takes
// d.mu for reading.
func (d *device) rebuildView() {
	d.mu.RLock()
	defer d.mu.RUnlock()
	var vb viewBuilder
	for k, c := range []kind{kSysDescr, kSysObjectID, kSysUpTime, kSysContact, kSysName, kSysLocation, kSysServices} {
		vb.add(c, typeOf(c), 0, append(oidSystem[:len(oidSystem):len(oidSystem)], uint32(k+1)), 0)
	}
	vb.add(kIfNumber, tagInteger, 0, oidIfNumber, 0)
	for r, i := range d.ifaces {
		for col, k := range ifColumns {
			if k != kNone {
				vb.add(k, typeOf(k), int32(r), column(oidIfEntry, col), uint32(i.Index))
			}
		}
		for col, k := range ifXColumns {
			if k != kNone {
				vb.add(k, typeOf(k), int32(r), column(oidIfXEntry, col), uint32(i.Index))
			}
		}
	}
	if d.hr != nil {
		vb.add(kHrSystemUptime, tagTimeTicks, 0, oidHrUptime, 0)
		vb.add(kHrMemorySize, tagInteger, 0, oidHrMemSize, 0)
		for r := range 2 {
			for col, k := range []kind{kHrStorageIndex, kHrStorageType, kHrStorageDescr, kHrStorageAllocationUnits, kHrStorageSize, kHrStorageUsed} {
				vb.add(k, typeOf(k), int32(r), column(oidHrStorEntry, col+1), uint32(r+1))
			}
		}
		for r := range d.hr.cpus {
			vb.add(kHrProcessorFrwID, tagOID, int32(r), column(oidHrProcEntry, 1), uint32(196608+r))
			vb.add(kHrProcessorLoad, tagInteger, int32(r), column(oidHrProcEntry, 2), uint32(196608+r))
		}
	}
	for col, k := range []kind{kLldpLocChassisIDSubtype, kLldpLocChassisID, kLldpLocSysName, kLldpLocSysDesc} {
		vb.add(k, typeOf(k), 0, column(oidLldpLocal, col+1), 0)
	}
	for r, i := range d.ifaces {
		if !i.Physical {
			continue
		}
		for col, k := range []kind{kLldpLocPortIDSubtype, kLldpLocPortID, kLldpLocPortDesc} {
			vb.add(k, typeOf(k), int32(r), column(oidLldpLocPort, col+2), uint32(i.Index))
		}
		if i.hasRemote() {
			for col, k := range []kind{kLldpRemChassisIDSubtype, kLldpRemChassisID, kLldpRemPortIDSubtype,
				kLldpRemPortID, kLldpRemPortDesc, kLldpRemSysName, kLldpRemSysDesc} {
				vb.add(k, typeOf(k), int32(r), column(oidLldpRem, col+4), 0, uint32(i.Index), 1)
			}
		}
	}
	if d.Creds.Version == "3" {
		for col, k := range []kind{kEngineID, kEngineBoots, kEngineTime, kEngineMaxMessageSize} {
			vb.add(k, typeOf(k), 0, column(oidSnmpEngine, col+1), 0)
		}
	}
	d.view.Store(vb.build())
}

func column(entry []uint32, col int) []uint32 {
	return append(entry[:len(entry):len(entry)], uint32(col))
}

// ifColumns and ifXColumns map column numbers to kinds (kNone: a column the lab does not simulate; agents answer it as absent).
var (
	ifColumns = [...]kind{
		1: kIfIndex, 2: kIfDescr, 3: kIfType, 4: kIfMtu, 5: kIfSpeed, 6: kIfPhysAddress,
		7: kIfAdminStatus, 8: kIfOperStatus, 9: kIfLastChange, 10: kIfInOctets, 11: kIfInUcastPkts,
		13: kIfInDiscards, 14: kIfInErrors, 15: kIfInUnknownProtos, 16: kIfOutOctets,
		17: kIfOutUcastPkts, 19: kIfOutDiscards, 20: kIfOutErrors,
	}
	ifXColumns = [...]kind{
		1: kIfName, 2: kIfInMulticastPkts, 3: kIfInBroadcastPkts, 4: kIfOutMulticastPkts,
		5: kIfOutBroadcastPkts, 6: kIfHCInOctets, 7: kIfHCInUcastPkts, 8: kIfHCInMulticastPkts,
		9: kIfHCInBroadcastPkts, 10: kIfHCOutOctets, 11: kIfHCOutUcastPkts, 12: kIfHCOutMulticastPkts,
		13: kIfHCOutBroadcastPkts, 14: kIfLinkUpDownTrapEnable, 15: kIfHighSpeed,
		16: kIfPromiscuousMode, 17: kIfConnectorPresent, 18: kIfAlias, 19: kIfCounterDiscontinuityTime,
	}
)

// typeOf is the BER tag of a kind's values.
func typeOf(k kind) byte {
	switch k {
	case kSysObjectID, kHrStorageType, kHrProcessorFrwID:
		return tagOID
	case kSysUpTime, kHrSystemUptime, kIfLastChange, kIfCounterDiscontinuityTime:
		return tagTimeTicks
	case kSysDescr, kSysContact, kSysName, kSysLocation, kIfDescr, kIfPhysAddress, kIfName, kIfAlias,
		kHrStorageDescr, kLldpLocChassisID, kLldpLocSysName, kLldpLocSysDesc, kLldpLocPortID,
		kLldpLocPortDesc, kLldpRemChassisID, kLldpRemPortID, kLldpRemPortDesc, kLldpRemSysName,
		kLldpRemSysDesc, kEngineID:
		return tagOctetString
	case kIfSpeed, kIfHighSpeed:
		return tagGauge32
	case kIfInOctets, kIfInUcastPkts, kIfInDiscards, kIfInErrors, kIfInUnknownProtos, kIfOutOctets,
		kIfOutUcastPkts, kIfOutDiscards, kIfOutErrors, kIfInMulticastPkts, kIfInBroadcastPkts,
		kIfOutMulticastPkts, kIfOutBroadcastPkts:
		return tagCounter32
	case kIfHCInOctets, kIfHCInUcastPkts, kIfHCInMulticastPkts, kIfHCInBroadcastPkts, kIfHCOutOctets,
		kIfHCOutUcastPkts, kIfHCOutMulticastPkts, kIfHCOutBroadcastPkts:
		return tagCounter64
	}
	return tagInteger
}
