package lab

import (
	"slices"
)

// kind names what an OID of the view holds; the device computes its value at request time.
type kind uint8

const (
	kNone kind = iota
	kSysDescr
	kSysObjectID
	kSysUpTime
	kSysContact
	kSysName
	kSysLocation
	kSysServices
	kIfNumber

	// ifTable (.1.3.6.1.2.1.2.2.1.<col>.<ifIndex>)
	kIfIndex
	kIfDescr
	kIfType
	kIfMtu
	kIfSpeed
	kIfPhysAddress
	kIfAdminStatus
	kIfOperStatus
	kIfLastChange
	kIfInOctets
	kIfInUcastPkts
	kIfInDiscards
	kIfInErrors
	kIfInUnknownProtos
	kIfOutOctets
	kIfOutUcastPkts
	kIfOutDiscards
	kIfOutErrors

	// ifXTable (.1.3.6.1.2.1.31.1.1.1.<col>.<ifIndex>)
	kIfName
	kIfInMulticastPkts
	kIfInBroadcastPkts
	kIfOutMulticastPkts
	kIfOutBroadcastPkts
	kIfHCInOctets
	kIfHCInUcastPkts
	kIfHCInMulticastPkts
	kIfHCInBroadcastPkts
	kIfHCOutOctets
	kIfHCOutUcastPkts
	kIfHCOutMulticastPkts
	kIfHCOutBroadcastPkts
	kIfLinkUpDownTrapEnable
	kIfHighSpeed
	kIfPromiscuousMode
	kIfConnectorPresent
	kIfAlias
	kIfCounterDiscontinuityTime

	// HOST-RESOURCES-MIB
	kHrSystemUptime
	kHrMemorySize
	kHrStorageIndex
	kHrStorageType
	kHrStorageDescr
	kHrStorageAllocationUnits
	kHrStorageSize
	kHrStorageUsed
	kHrProcessorFrwID
	kHrProcessorLoad

	// LLDP-MIB
	kLldpLocChassisIDSubtype
	kLldpLocChassisID
	kLldpLocSysName
	kLldpLocSysDesc
	kLldpLocPortIDSubtype
	kLldpLocPortID
	kLldpLocPortDesc
	kLldpRemChassisIDSubtype
	kLldpRemChassisID
	kLldpRemPortIDSubtype
	kLldpRemPortID
	kLldpRemPortDesc
	kLldpRemSysName
	kLldpRemSysDesc

	// SNMP-FRAMEWORK-MIB snmpEngine group
	kEngineID
	kEngineBoots
	kEngineTime
	kEngineMaxMessageSize
)

// entry is one OID of a device's view. The OID and its BER encoding are computed once when
// the view is built; the value is computed from the device model when a request asks.
type entry struct {
	oid    []uint32
	enc    []byte // tag, length and content of the OID, ready to copy into a varbind
	kind   kind
	typ    byte  // the BER tag of the value, so v1 can skip Counter64 without computing it
	objLen uint8 // sub-identifiers naming the object type (the OID without its instance)
	row    int32 // interface, storage, processor or LLDP row, by position in the device
}

// view is a device's MIB: entries sorted by OID. It is immutable; a device swaps in a new
// one when its structure changes (an LLDP neighbour appears or disappears).
type view struct {
	entries []entry
}

// viewBuilder collects entries; build sorts them and encodes their OIDs into two arenas.
type viewBuilder struct {
	entries []entry
	oids    []uint32
}

// add appends the entry prefix.instance…; prefix is the object type's OID.
func (vb *viewBuilder) add(k kind, typ byte, row int32, prefix []uint32, instance ...uint32) {
	start := len(vb.oids)
	vb.oids = append(vb.oids, prefix...)
	vb.oids = append(vb.oids, instance...)
	vb.entries = append(vb.entries, entry{
		kind: k, typ: typ, row: row, objLen: uint8(len(prefix)),
		// the arena may move as it grows; build copies every OID into the final one
		oid: vb.oids[start:len(vb.oids):len(vb.oids)],
	})
}

func (vb *viewBuilder) build() *view {
	// Re-slice OIDs into one final arena, so entries do not pin the builder's old arrays.
	n := 0
	for i := range vb.entries {
		n += len(vb.entries[i].oid)
	}
	arena := make([]uint32, 0, n)
	for i := range vb.entries {
		e := &vb.entries[i]
		s := len(arena)
		arena = append(arena, e.oid...)
		e.oid = arena[s:len(arena):len(arena)]
	}
	slices.SortFunc(vb.entries, func(a, b entry) int { return compareOID(a.oid, b.oid) })
	// Duplicates would break GetNext; keep the first.
	vb.entries = slices.CompactFunc(vb.entries, func(a, b entry) bool { return compareOID(a.oid, b.oid) == 0 })
	size := 0
	for i := range vb.entries {
		size += tlvLen(len(oidContent(nil, vb.entries[i].oid)))
	}
	encs := make([]byte, 0, size)
	for i := range vb.entries {
		e := &vb.entries[i]
		s := len(encs)
		c := len(oidContent(nil, e.oid))
		encs = appendHeader(encs, tagOID, c)
		encs = oidContent(encs, e.oid)
		e.enc = encs[s:len(encs):len(encs)]
	}
	return &view{entries: slices.Clip(vb.entries)}
}

// find returns the position of oid in the view, or where it would be inserted.
func (v *view) find(oid []uint32) (int, bool) {
	return slices.BinarySearchFunc(v.entries, oid, func(e entry, o []uint32) int { return compareOID(e.oid, o) })
}

// next returns the position of the first entry after oid, len(entries) at the end.
func (v *view) next(oid []uint32) int {
	i, found := v.find(oid)
	if found {
		i++
	}
	return i
}

// exists reports whether oid names an instance of an object type the view has (so a Get
// of it is noSuchInstance rather than noSuchObject). Entries of one object type are
// contiguous, so the neighbours of the insertion point tell.
func (v *view) exists(oid []uint32, at int) bool {
	for _, i := range [2]int{at - 1, at} {
		if i >= 0 && i < len(v.entries) {
			e := &v.entries[i]
			if hasPrefix(oid, e.oid[:e.objLen]) {
				return true
			}
		}
	}
	return false
}
