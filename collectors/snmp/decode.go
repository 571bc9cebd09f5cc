package snmp

import (
	"cmp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gosnmp/gosnmp"

	"github.com/watchfloor/watchfloor"
)

// The scalars read with one GET at the start of every poll.
var systemOIDs = []string{
	".1.3.6.1.2.1.1.5.0", // sysName
	".1.3.6.1.2.1.1.1.0", // sysDescr
	".1.3.6.1.2.1.1.3.0", // sysUpTime
	".1.3.6.1.2.1.1.2.0", // sysObjectID
}

// column is a table column the poller walks.
type column uint8

// The walked columns. Interface columns come first so their bits fit ifRow.have.
const (
	colIfDescr column = iota
	colIfSpeed
	colIfAdmin
	colIfOper
	colIfInOctets
	colIfInUcast
	colIfInDiscards
	colIfInErrors
	colIfOutOctets
	colIfOutUcast
	colIfOutDiscards
	colIfOutErrors
	colIfName
	colIfHCInOctets
	colIfHCInUcast
	colIfHCOutOctets
	colIfHCOutUcast
	colIfHighSpeed
	colIfAlias
	colIfDiscontinuity
	colHrProcessorLoad
	colHrStorageType
	colHrStorageSize
	colHrStorageUsed
	colLldpLocPortID
	colLldpLocPortDesc
	colLldpRemChassisID
	colLldpRemPortID
	colLldpRemPortDesc
	colLldpRemSysName
	numColumns
)

// columnOIDs are the columns' OIDs, without a trailing dot.
var columnOIDs = [numColumns]string{
	colIfDescr:          ".1.3.6.1.2.1.2.2.1.2",
	colIfSpeed:          ".1.3.6.1.2.1.2.2.1.5",
	colIfAdmin:          ".1.3.6.1.2.1.2.2.1.7",
	colIfOper:           ".1.3.6.1.2.1.2.2.1.8",
	colIfInOctets:       ".1.3.6.1.2.1.2.2.1.10",
	colIfInUcast:        ".1.3.6.1.2.1.2.2.1.11",
	colIfInDiscards:     ".1.3.6.1.2.1.2.2.1.13",
	colIfInErrors:       ".1.3.6.1.2.1.2.2.1.14",
	colIfOutOctets:      ".1.3.6.1.2.1.2.2.1.16",
	colIfOutUcast:       ".1.3.6.1.2.1.2.2.1.17",
	colIfOutDiscards:    ".1.3.6.1.2.1.2.2.1.19",
	colIfOutErrors:      ".1.3.6.1.2.1.2.2.1.20",
	colIfName:           ".1.3.6.1.2.1.31.1.1.1.1",
	colIfHCInOctets:     ".1.3.6.1.2.1.31.1.1.1.6",
	colIfHCInUcast:      ".1.3.6.1.2.1.31.1.1.1.7",
	colIfHCOutOctets:    ".1.3.6.1.2.1.31.1.1.1.10",
	colIfHCOutUcast:     ".1.3.6.1.2.1.31.1.1.1.11",
	colIfHighSpeed:      ".1.3.6.1.2.1.31.1.1.1.15",
	colIfAlias:          ".1.3.6.1.2.1.31.1.1.1.18",
	colIfDiscontinuity:  ".1.3.6.1.2.1.31.1.1.1.19",
	colHrProcessorLoad:  ".1.3.6.1.2.1.25.3.3.1.2",
	colHrStorageType:    ".1.3.6.1.2.1.25.2.3.1.2",
	colHrStorageSize:    ".1.3.6.1.2.1.25.2.3.1.5",
	colHrStorageUsed:    ".1.3.6.1.2.1.25.2.3.1.6",
	colLldpLocPortID:    ".1.0.8802.1.1.2.1.3.7.1.3",
	colLldpLocPortDesc:  ".1.0.8802.1.1.2.1.3.7.1.4",
	colLldpRemChassisID: ".1.0.8802.1.1.2.1.4.1.1.5",
	colLldpRemPortID:    ".1.0.8802.1.1.2.1.4.1.1.7",
	colLldpRemPortDesc:  ".1.0.8802.1.1.2.1.4.1.1.8",
	colLldpRemSysName:   ".1.0.8802.1.1.2.1.4.1.1.9",
}

var columnNames = [numColumns]string{
	"ifDescr", "ifSpeed", "ifAdminStatus", "ifOperStatus", "ifInOctets", "ifInUcastPkts",
	"ifInDiscards", "ifInErrors", "ifOutOctets", "ifOutUcastPkts", "ifOutDiscards", "ifOutErrors",
	"ifName", "ifHCInOctets", "ifHCInUcastPkts", "ifHCOutOctets", "ifHCOutUcastPkts", "ifHighSpeed",
	"ifAlias", "ifCounterDiscontinuityTime", "hrProcessorLoad", "hrStorageType", "hrStorageSize",
	"hrStorageUsed", "lldpLocPortId", "lldpLocPortDesc", "lldpRemChassisId", "lldpRemPortId",
	"lldpRemPortDesc", "lldpRemSysName",
}

func (c column) String() string { return columnNames[c] }

// allColumns is every column, in walk order.
var allColumns = func() []column {
	cs := make([]column, numColumns)
	for i := range cs {
		cs[i] = column(i)
	}
	return cs
}()

// hrStorageRam is hrStorageType's value for RAM.
const hrStorageRam = ".1.3.6.1.2.1.25.2.1.2"

// ifRow is one interface as read from ifTable and ifXTable.
type ifRow struct {
	index     int32
	descr     string
	name      string
	alias     string
	speed     uint64 // ifSpeed, bit/s
	highSpeed uint64 // ifHighSpeed, Mbit/s
	admin     watchfloor.IfStatus
	oper      watchfloor.IfStatus
	disc      uint32
	c32       [numCounters]uint64 // ifTable counters by counter index
	hc        [4]uint64           // ifXTable HC octets and unicast packets, in and out
	have      uint32              // bit c: column c was read
}

func (r *ifRow) has(c column) bool { return r.have&(1<<c) != 0 }

// counters picks, counter by counter, the 64-bit value when the agent has it.
func (r *ifRow) counters() counters {
	var c counters
	hcCols := [4]column{colIfHCInOctets, colIfHCOutOctets, colIfHCInUcast, colIfHCOutUcast}
	cols32 := [numCounters]column{colIfInOctets, colIfOutOctets, colIfInUcast, colIfOutUcast,
		colIfInErrors, colIfOutErrors, colIfInDiscards, colIfOutDiscards}
	for i := range numCounters {
		if i < 4 && r.has(hcCols[i]) {
			c.set(i, r.hc[i], true)
		} else if r.has(cols32[i]) {
			c.set(i, r.c32[i], false)
		}
	}
	return c
}

// speedBps is ifHighSpeed×10⁶ when the agent gives it, else ifSpeed.
func (r *ifRow) speedBps() uint64 {
	if r.highSpeed > 0 {
		return r.highSpeed * 1_000_000
	}
	return r.speed
}

// boundBps is the speed to bound rates with: 0 when unknown, including a saturated ifSpeed
// (4294967295 means "faster than that" when the agent has no ifHighSpeed).
func (r *ifRow) boundBps() uint64 {
	if r.highSpeed > 0 {
		return r.highSpeed * 1_000_000
	}
	if r.speed >= 1<<32-1 {
		return 0
	}
	return r.speed
}

// displayName is ifName, or ifDescr when the agent has no ifName.
func (r *ifRow) displayName() string {
	if r.name != "" {
		return r.name
	}
	return r.descr
}

type hrRow struct {
	index      int32
	ram        bool
	size, used uint64
	have       uint8
}

type locRow struct {
	num      int32
	id, desc string
}

type remKey struct{ timeMark, port, index uint32 }

type remRow struct {
	key                        remKey
	chassis, port, desc, sysNm string
}

// reading is what one poll read from a device. It is reused from poll to poll (the device's
// mutex guards it), so decoding allocates only for strings that changed.
type reading struct {
	at          time.Time
	sysName     string
	sysDescr    string
	sysObjectID string
	uptime      uint32 // sysUpTime, hundredths of a second

	ifs    []ifRow
	ifPos  map[int32]int
	cpuSum float64
	cpuN   int
	stor   []hrRow
	storAt map[int32]int
	loc    []locRow
	locAt  map[int32]int
	rem    []remRow
	remAt  map[remKey]int

	short   uint64 // bit c: the walk of column c ended early
	walkErr string // the walk failed; the system group was read

	strs map[string]string // interned strings of previous polls
}

// reset empties the reading for a new poll, keeping its memory.
func (r *reading) reset(at time.Time) {
	if r.ifPos == nil {
		r.ifPos = make(map[int32]int, 64)
		r.storAt = make(map[int32]int, 16)
		r.locAt = make(map[int32]int, 64)
		r.remAt = make(map[remKey]int, 16)
		r.strs = make(map[string]string, 256)
	}
	// The intern table keeps the strings of the last polls; it is emptied when it outgrows
	// the device, so changing values (an ifAlias edited every day) cannot grow it forever.
	if len(r.strs) > 4*(len(r.ifs)+len(r.rem)+len(r.loc))+64 {
		clear(r.strs)
	}
	*r = reading{
		at:     at,
		ifs:    r.ifs[:0],
		ifPos:  r.ifPos,
		stor:   r.stor[:0],
		storAt: r.storAt,
		loc:    r.loc[:0],
		locAt:  r.locAt,
		rem:    r.rem[:0],
		remAt:  r.remAt,
		strs:   r.strs,
	}
	clear(r.ifPos)
	clear(r.storAt)
	clear(r.locAt)
	clear(r.remAt)
}

// str turns an OCTET STRING into a string, reusing an equal string of an earlier poll.
func (r *reading) str(b []byte) string {
	if s, ok := r.strs[string(b)]; ok { // no allocation for the lookup
		return s
	}
	s := string(b)
	r.strs[s] = s
	return s
}

// text renders an OCTET STRING that should be text: as is when it is printable UTF-8 (line
// breaks and tabs included: Cisco's sysDescr has "\r\n" in it), as colon-separated hex
// otherwise (MAC addresses in LLDP chassis and port IDs).
func (r *reading) text(v any) string {
	b, ok := v.([]byte)
	if !ok {
		if s, ok := v.(string); ok {
			return s
		}
		return ""
	}
	if printable(b) {
		return r.str(b)
	}
	var buf [256 * 3]byte
	n := 0
	for i, c := range b {
		if n+3 > len(buf) {
			break
		}
		if i > 0 {
			buf[n] = ':'
			n++
		}
		buf[n], buf[n+1] = hexDigits[c>>4], hexDigits[c&15]
		n += 2
	}
	return r.str(buf[:n])
}

const hexDigits = "0123456789abcdef"

func printable(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, c := range string(b) {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' || c == 0x7f {
			return false
		}
	}
	return true
}

// setSystem reads the GET of systemOIDs.
func (r *reading) setSystem(vars []gosnmp.SnmpPDU) {
	for _, v := range vars {
		switch v.Name {
		case systemOIDs[0]:
			r.sysName = r.text(v.Value)
		case systemOIDs[1]:
			r.sysDescr = r.text(v.Value)
		case systemOIDs[2]:
			if u, ok := unsigned(v.Value); ok {
				r.uptime = uint32(u)
			}
		case systemOIDs[3]:
			if s, ok := v.Value.(string); ok {
				r.sysObjectID = s
			}
		}
	}
}

// put decodes one varbind of column c whose index (the OID after the column) is idx.
func (r *reading) put(c column, idx string, v *gosnmp.SnmpPDU) {
	switch {
	case c <= colIfDiscontinuity:
		n, ok := parseIndex(idx)
		if !ok {
			return
		}
		r.putIf(c, n, v)
	case c == colHrProcessorLoad:
		if u, ok := unsigned(v.Value); ok {
			r.cpuSum += float64(u)
			r.cpuN++
		}
	case c <= colHrStorageUsed:
		n, ok := parseIndex(idx)
		if !ok {
			return
		}
		i, ok := r.storAt[n]
		if !ok {
			i = len(r.stor)
			r.storAt[n] = i
			r.stor = append(r.stor, hrRow{index: n})
		}
		row := &r.stor[i]
		switch c {
		case colHrStorageType:
			s, _ := v.Value.(string)
			row.ram = s == hrStorageRam
			row.have |= 1
		case colHrStorageSize:
			row.size, _ = unsigned(v.Value)
			row.have |= 2
		case colHrStorageUsed:
			row.used, _ = unsigned(v.Value)
			row.have |= 4
		}
	case c <= colLldpLocPortDesc:
		n, ok := parseIndex(idx)
		if !ok {
			return
		}
		i, ok := r.locAt[n]
		if !ok {
			i = len(r.loc)
			r.locAt[n] = i
			r.loc = append(r.loc, locRow{num: n})
		}
		if c == colLldpLocPortID {
			r.loc[i].id = r.text(v.Value)
		} else {
			r.loc[i].desc = r.text(v.Value)
		}
	default:
		k, ok := parseRemIndex(idx)
		if !ok {
			return
		}
		i, ok := r.remAt[k]
		if !ok {
			i = len(r.rem)
			r.remAt[k] = i
			r.rem = append(r.rem, remRow{key: k})
		}
		row := &r.rem[i]
		switch c {
		case colLldpRemChassisID:
			row.chassis = r.text(v.Value)
		case colLldpRemPortID:
			row.port = r.text(v.Value)
		case colLldpRemPortDesc:
			row.desc = r.text(v.Value)
		case colLldpRemSysName:
			row.sysNm = r.text(v.Value)
		}
	}
}

func (r *reading) putIf(c column, n int32, v *gosnmp.SnmpPDU) {
	i, ok := r.ifPos[n]
	if !ok {
		i = len(r.ifs)
		r.ifPos[n] = i
		r.ifs = append(r.ifs, ifRow{index: n})
	}
	row := &r.ifs[i]
	u, isNum := unsigned(v.Value)
	switch c {
	case colIfDescr:
		row.descr = r.text(v.Value)
	case colIfName:
		row.name = r.text(v.Value)
	case colIfAlias:
		row.alias = r.text(v.Value)
	case colIfSpeed:
		row.speed = u
	case colIfHighSpeed:
		row.highSpeed = u
	case colIfAdmin:
		row.admin = ifStatus(u)
	case colIfOper:
		row.oper = ifStatus(u)
	case colIfDiscontinuity:
		row.disc = uint32(u)
	case colIfInOctets:
		row.c32[ctrInOctets] = u
	case colIfOutOctets:
		row.c32[ctrOutOctets] = u
	case colIfInUcast:
		row.c32[ctrInUcast] = u
	case colIfOutUcast:
		row.c32[ctrOutUcast] = u
	case colIfInErrors:
		row.c32[ctrInErrors] = u
	case colIfOutErrors:
		row.c32[ctrOutErrors] = u
	case colIfInDiscards:
		row.c32[ctrInDiscards] = u
	case colIfOutDiscards:
		row.c32[ctrOutDiscards] = u
	case colIfHCInOctets:
		row.hc[ctrInOctets] = u
	case colIfHCOutOctets:
		row.hc[ctrOutOctets] = u
	case colIfHCInUcast:
		row.hc[ctrInUcast] = u
	case colIfHCOutUcast:
		row.hc[ctrOutUcast] = u
	}
	switch c {
	case colIfDescr, colIfName, colIfAlias:
		row.have |= 1 << c
	default:
		if isNum {
			row.have |= 1 << c
		}
	}
}

// finish sorts the rows read in walk order.
func (r *reading) finish() {
	sorted := slices.IsSortedFunc(r.ifs, func(a, b ifRow) int { return cmp.Compare(a.index, b.index) })
	if !sorted {
		slices.SortFunc(r.ifs, func(a, b ifRow) int { return cmp.Compare(a.index, b.index) })
		for i := range r.ifs {
			r.ifPos[r.ifs[i].index] = i
		}
	}
}

// cpu is the average hrProcessorLoad, nil when the agent has none.
func (r *reading) cpu() *float64 {
	if r.cpuN == 0 {
		return nil
	}
	v := r.cpuSum / float64(r.cpuN)
	return &v
}

// mem is the share of RAM in use (hrStorageRam rows), nil when the agent has none.
func (r *reading) mem() *float64 {
	var size, used uint64
	for _, s := range r.stor {
		if s.ram && s.have == 7 {
			size += s.size
			used += s.used
		}
	}
	if size == 0 {
		return nil
	}
	v := float64(used) / float64(size) * 100
	return &v
}

// neighbors turns the LLDP remote table into neighbours, naming the local port from the
// LLDP local port table, or from the interface whose ifIndex is the LLDP port number.
func (r *reading) neighbors() []watchfloor.Neighbor {
	if len(r.rem) == 0 {
		return nil
	}
	byName := make(map[string]int32, len(r.ifs))
	for _, f := range r.ifs {
		if f.name != "" {
			byName[f.name] = f.index
		}
		if f.descr != "" {
			if _, ok := byName[f.descr]; !ok {
				byName[f.descr] = f.index
			}
		}
	}
	out := make([]watchfloor.Neighbor, 0, len(r.rem))
	for _, rm := range r.rem {
		n := watchfloor.Neighbor{
			ChassisID:     rm.chassis,
			RemoteSysName: rm.sysNm,
			RemotePort:    portName(rm.port, rm.desc),
		}
		num := int32(rm.key.port)
		n.LocalPort, n.LocalIfIndex = r.localPort(num, byName)
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b watchfloor.Neighbor) int {
		return cmp.Or(cmp.Compare(a.LocalIfIndex, b.LocalIfIndex), cmp.Compare(a.LocalPort, b.LocalPort),
			cmp.Compare(a.RemoteSysName, b.RemoteSysName), cmp.Compare(a.RemotePort, b.RemotePort))
	})
	return out
}

// localPort names LLDP local port num: by its lldpLocPortId or lldpLocPortDesc when one is
// the name of an interface; else by its port ID when that reads as a name; else by the ifName
// of the interface whose ifIndex is num; else by whatever the local port table has.
func (r *reading) localPort(num int32, byName map[string]int32) (string, int32) {
	var loc locRow
	if i, ok := r.locAt[num]; ok {
		loc = r.loc[i]
	}
	for _, s := range []string{loc.id, loc.desc} {
		if idx, ok := byName[s]; ok && s != "" {
			return s, idx
		}
	}
	if loc.id != "" && !allDigits(loc.id) && !looksMAC(loc.id) {
		return loc.id, 0
	}
	if i, ok := r.ifPos[num]; ok {
		return r.ifs[i].displayName(), num
	}
	return portName(loc.id, loc.desc), 0
}

// portName chooses between an LLDP port ID and description: the ID when it reads as a
// name, the description when the ID is a number (an ifIndex) or a MAC address.
func portName(id, desc string) string {
	if desc == "" {
		return id
	}
	if id == "" || allDigits(id) || looksMAC(id) {
		return desc
	}
	return id
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func looksMAC(s string) bool {
	return len(s) == 17 && strings.Count(s, ":") == 5
}

func ifStatus(u uint64) watchfloor.IfStatus {
	if u >= 1 && u <= 7 {
		return watchfloor.IfStatus(u)
	}
	return watchfloor.IfUnknown
}

// unsigned reads an INTEGER, Counter32, Gauge32, TimeTicks or Counter64 value as gosnmp
// decodes them.
func unsigned(v any) (uint64, bool) {
	switch x := v.(type) {
	case uint:
		return uint64(x), true
	case uint64:
		return x, true
	case uint32:
		return uint64(x), true
	case int:
		if x >= 0 {
			return uint64(x), true
		}
	case int64:
		if x >= 0 {
			return uint64(x), true
		}
	}
	return 0, false
}

// parseIndex reads a one-component table index (".5" or "5").
func parseIndex(s string) (int32, bool) {
	n, ok := parseUint32(strings.TrimPrefix(s, "."))
	if !ok || n > 1<<31-1 {
		return 0, false
	}
	return int32(n), true
}

// parseRemIndex reads lldpRemTable's index timeMark.localPortNum.remIndex.
func parseRemIndex(s string) (remKey, bool) {
	var parts [3]uint32
	s = strings.TrimPrefix(s, ".")
	for p := range 3 {
		end := strings.IndexByte(s, '.')
		if p == 2 {
			if end >= 0 {
				return remKey{}, false
			}
			end = len(s)
		} else if end < 0 {
			return remKey{}, false
		}
		v, ok := parseUint32(s[:end])
		if !ok {
			return remKey{}, false
		}
		parts[p] = v
		if p < 2 {
			s = s[end+1:]
		}
	}
	return remKey{parts[0], parts[1], parts[2]}, true
}

func parseUint32(s string) (uint32, bool) {
	if s == "" || len(s) > 10 {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	if n > 1<<32-1 {
		return 0, false
	}
	return uint32(n), true
}
