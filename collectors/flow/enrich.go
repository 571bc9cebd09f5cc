package flow

import (
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/watchfloor/watchfloor"
)

// Enrichment: what the appliance knows about an exporter, looked up per record without
// allocating. The lookup tables are immutable once built and swapped whole through an
// atomic pointer when the configuration or the inventory changes what they hold; the
// strings in them are the config's and the inventory's own, so assigning them to a record
// copies a string header and allocates nothing.

// ifInfo is what the inventory says about one interface.
type ifInfo struct {
	name  string
	speed uint64
}

// ifTable maps ifIndex to interface: a slice indexed by ifIndex when the indexes are small
// and dense enough, a map otherwise.
type ifTable struct {
	dense  []ifInfo
	sparse map[uint32]ifInfo
}

func newIfTable(ifs []watchfloor.Interface) ifTable {
	var maxIndex int32
	for _, i := range ifs {
		maxIndex = max(maxIndex, i.Index)
	}
	var t ifTable
	if maxIndex < 1<<16 && int(maxIndex) <= 4*len(ifs)+256 {
		t.dense = make([]ifInfo, maxIndex+1)
		for _, i := range ifs {
			if i.Index > 0 {
				t.dense[i.Index] = ifInfo{i.Name, i.SpeedBps}
			}
		}
		return t
	}
	t.sparse = make(map[uint32]ifInfo, len(ifs))
	for _, i := range ifs {
		if i.Index > 0 {
			t.sparse[uint32(i.Index)] = ifInfo{i.Name, i.SpeedBps}
		}
	}
	return t
}

func (t *ifTable) get(index uint32) ifInfo {
	if t.sparse != nil {
		return t.sparse[index]
	}
	if uint64(index) < uint64(len(t.dense)) {
		return t.dense[index]
	}
	return ifInfo{}
}

// devInfo is what is known about one exporter.
type devInfo struct {
	name     string
	sampling uint32 // configured sampling rate, 0 when none
	ifs      ifTable
}

// tables are the immutable lookup tables of one generation.
type tables struct {
	byAddr map[netip.Addr]*devInfo
}

// invDevice is the part of a polled device that enrichment uses.
type invDevice struct {
	name string
	addr netip.Addr // host part of the poller's address, unmapped; invalid when a name
	ifs  []watchfloor.Interface
}

// enricher fills the enrichment fields of flow records.
type enricher struct {
	site      string
	ours      netSet
	exporters []Exporter

	tab atomic.Pointer[tables]

	mu  sync.Mutex // serialises updates of inv and the rebuild of tab
	inv map[string]*invDevice
}

func newEnricher(cfg Config, site string) *enricher {
	e := &enricher{site: site, ours: newNetSet(cfg.OurNetworks), exporters: slices.Clone(cfg.Exporters), inv: map[string]*invDevice{}}
	e.rebuild()
	return e
}

// update takes a device from the inventory. It rebuilds the tables only when something that
// enrichment uses (the name, the address, interface indexes, names and speeds) changed, and
// reports whether it did.
func (e *enricher) update(d watchfloor.Device) bool {
	if d.Name == "" {
		return false
	}
	var addr netip.Addr
	host := d.Address
	if h, _, err := net.SplitHostPort(d.Address); err == nil {
		host = h
	}
	if a, err := netip.ParseAddr(host); err == nil {
		addr = a.Unmap().WithZone("")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	old := e.inv[d.Name]
	if old != nil && old.addr == addr && sameInterfaces(old.ifs, d.Interfaces) {
		return false
	}
	ifs := make([]watchfloor.Interface, 0, len(d.Interfaces))
	for _, i := range d.Interfaces {
		// Keep only what is used, so that the copy does not pin the device's other strings.
		ifs = append(ifs, watchfloor.Interface{Index: i.Index, Name: i.Name, SpeedBps: i.SpeedBps})
	}
	e.inv[d.Name] = &invDevice{name: d.Name, addr: addr, ifs: ifs}
	e.rebuildLocked()
	return true
}

func sameInterfaces(a, b []watchfloor.Interface) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Index != b[i].Index || a[i].Name != b[i].Name || a[i].SpeedBps != b[i].SpeedBps {
			return false
		}
	}
	return true
}

func (e *enricher) rebuild() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.rebuildLocked()
}

// rebuildLocked builds a new generation of tables: configured exporters first (their
// device name wins), with the interfaces of the polled device of that name; then every
// polled device whose address is an IP address no configured exporter has.
func (e *enricher) rebuildLocked() {
	t := &tables{byAddr: make(map[netip.Addr]*devInfo, len(e.exporters)+len(e.inv))}
	for _, x := range e.exporters {
		a := x.Address.Unmap()
		if _, dup := t.byAddr[a]; dup || !a.IsValid() {
			continue
		}
		d := &devInfo{name: x.Device, sampling: x.SamplingRate}
		if inv := e.inv[x.Device]; inv != nil {
			d.name = inv.name
			d.ifs = newIfTable(inv.ifs)
		}
		t.byAddr[a] = d
	}
	for _, inv := range e.inv {
		if !inv.addr.IsValid() {
			continue
		}
		if _, ok := t.byAddr[inv.addr]; ok {
			continue
		}
		t.byAddr[inv.addr] = &devInfo{name: inv.name, ifs: newIfTable(inv.ifs)}
	}
	e.tab.Store(t)
}

// device returns what is known of an exporter, nil when nothing.
func (e *enricher) device(exporter netip.Addr) *devInfo {
	return e.tab.Load().byAddr[exporter.Unmap()]
}

// samplingRate is the configured sampling rate of an exporter, 0 when none: the decoder's
// fallback for exports that do not state theirs.
func (e *enricher) samplingRate(exporter netip.Addr) uint32 {
	if d := e.device(exporter); d != nil {
		return d.sampling
	}
	return 0
}

// enrich fills Site, Device, interface names and speeds and Direction of flows in place,
// and returns how many records came from an exporter no device is known for. It does not
// allocate.
func (e *enricher) enrich(flows []watchfloor.Flow) (unknown int) {
	t := e.tab.Load()
	var (
		last netip.Addr
		dev  *devInfo
	)
	for i := range flows {
		f := &flows[i]
		if i == 0 || f.Exporter != last {
			last = f.Exporter
			dev = t.byAddr[last.Unmap()]
		}
		f.Site = e.site
		if dev != nil {
			in, out := dev.ifs.get(f.InIf), dev.ifs.get(f.OutIf)
			f.Device, f.InIfName, f.InSpeed, f.OutIfName, f.OutSpeed = dev.name, in.name, in.speed, out.name, out.speed
		} else {
			f.Device, f.InIfName, f.InSpeed, f.OutIfName, f.OutSpeed = "", "", 0, "", 0
			unknown++
		}
		f.Direction = e.direction(f.SrcAddr, f.DstAddr)
	}
	return unknown
}

// direction classifies a flow by whether its ends are in our networks.
func (e *enricher) direction(src, dst netip.Addr) watchfloor.Direction {
	if e.ours.empty() {
		return watchfloor.DirectionUnknown
	}
	s, d := e.ours.contains(src), e.ours.contains(dst)
	switch {
	case s && d:
		return watchfloor.DirectionInternal
	case s:
		return watchfloor.DirectionOut
	case d:
		return watchfloor.DirectionIn
	default:
		return watchfloor.DirectionTransit
	}
}
