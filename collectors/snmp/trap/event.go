package trap

import (
	"encoding/hex"
	"fmt"
	"math/big"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gosnmp/gosnmp"

	"github.com/watchfloor/watchfloor"
)

// Limits on what one datagram can put into an event: network input is hostile.
const (
	maxAttrs      = 64  // varbinds kept as attributes; the rest are counted in "varbinds_dropped"
	maxValueLen   = 256 // characters of one rendered value
	maxNameLen    = 64  // characters of an interface name or a trap name in a message
	maxKeyLen     = 128 // characters of an attribute key (a numeric OID)
	sourceTrap    = "snmp.trap"
	redactedValue = "[redacted]"
)

// Well-known OIDs (with gosnmp's leading dot).
const (
	oidSysUpTime      = ".1.3.6.1.2.1.1.3.0"
	oidTrapOID        = ".1.3.6.1.6.3.1.1.4.1.0"
	oidTrapEnterprise = ".1.3.6.1.6.3.1.1.4.3.0"
	oidTrapAddress    = ".1.3.6.1.6.3.18.1.3.0"
	oidTrapCommunity  = ".1.3.6.1.6.3.18.1.4.0"
	oidSnmpTraps      = ".1.3.6.1.6.3.1.1.5" // the generic traps: .1 coldStart … .6 egpNeighborLoss
	oidIfIndex        = ".1.3.6.1.2.1.2.2.1.1."
	oidIfDescr        = ".1.3.6.1.2.1.2.2.1.2."
	oidIfName         = ".1.3.6.1.2.1.31.1.1.1.1."
)

type trapKind struct {
	name     string
	kind     watchfloor.EventKind
	severity watchfloor.Severity
}

// knownTraps are the generic traps of SNMPv2-MIB / IF-MIB (RFC 3418, RFC 2863).
var knownTraps = map[string]trapKind{
	oidSnmpTraps + ".1": {"coldStart", watchfloor.EventTrapColdStart, watchfloor.SeverityMedium},
	oidSnmpTraps + ".2": {"warmStart", watchfloor.EventTrapWarmStart, watchfloor.SeverityLow},
	oidSnmpTraps + ".3": {"linkDown", watchfloor.EventTrapLinkDown, watchfloor.SeverityMedium},
	oidSnmpTraps + ".4": {"linkUp", watchfloor.EventTrapLinkUp, watchfloor.SeverityInfo},
	oidSnmpTraps + ".5": {"authenticationFailure", watchfloor.EventTrapAuthFailure, watchfloor.SeverityMedium},
	oidSnmpTraps + ".6": {"egpNeighborLoss", watchfloor.EventTrap, watchfloor.SeverityInfo},
}

// scalarNames name well-known scalar varbinds.
var scalarNames = map[string]string{
	oidSysUpTime:         "sysUpTime.0",
	oidTrapOID:           "snmpTrapOID.0",
	oidTrapEnterprise:    "snmpTrapEnterprise.0",
	oidTrapAddress:       "snmpTrapAddress.0",
	oidTrapCommunity:     "snmpTrapCommunity.0",
	".1.3.6.1.2.1.1.1.0": "sysDescr.0",
	".1.3.6.1.2.1.1.2.0": "sysObjectID.0",
	".1.3.6.1.2.1.1.5.0": "sysName.0",
	".1.3.6.1.2.1.1.6.0": "sysLocation.0",
}

// columnNames name well-known table columns; the instance follows the column ("ifIndex.3").
var columnNames = []struct{ prefix, name string }{
	{oidIfIndex, "ifIndex"},
	{oidIfDescr, "ifDescr"},
	{".1.3.6.1.2.1.2.2.1.3.", "ifType"},
	{".1.3.6.1.2.1.2.2.1.7.", "ifAdminStatus"},
	{".1.3.6.1.2.1.2.2.1.8.", "ifOperStatus"},
	{oidIfName, "ifName"},
	{".1.3.6.1.2.1.31.1.1.1.18.", "ifAlias"},
}

// varbindName returns the known name of an OID, or the OID itself.
func varbindName(oid string) string {
	if n, ok := scalarNames[oid]; ok {
		return n
	}
	for _, c := range columnNames {
		if inst, ok := strings.CutPrefix(oid, c.prefix); ok && inst != "" {
			return c.name + "." + inst
		}
	}
	return clip(oid, maxKeyLen)
}

// ifInstance returns the instance of oid in the column with the given prefix, as an ifIndex.
func ifInstance(oid, prefix string) (int32, bool) {
	inst, ok := strings.CutPrefix(oid, prefix)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(inst, 10, 32)
	if err != nil || n <= 0 {
		return 0, false
	}
	return int32(n), true
}

// trap is a decoded notification in the v2 form (RFC 3584 turns v1 traps into it).
type trap struct {
	version string // "1", "2c", "3"
	inform  bool
	oid     string // snmpTrapOID.0
	vars    []gosnmp.SnmpPDU
	pre     []watchfloor.Attr // attributes before the varbinds (v1: sysUpTime.0, snmpTrapOID.0)
	post    []watchfloor.Attr // after them (v1: snmpTrapAddress.0, snmpTrapEnterprise.0)
	user    string            // v3
}

// event turns a decoded trap into an event.
func (d *decoder) event(t *trap, from netip.AddrPort, now time.Time) watchfloor.Event {
	sender := from.Addr().Unmap()
	ev := watchfloor.Event{
		Time:     now,
		Kind:     watchfloor.EventTrap,
		Severity: watchfloor.SeverityInfo,
		Site:     d.site,
		Source:   sourceTrap,
	}
	if d.lookup != nil && sender.IsValid() {
		ev.Device = d.lookup(sender)
	}
	name := "trap " + clip(t.oid, maxKeyLen)
	if t.inform {
		name = "inform " + clip(t.oid, maxKeyLen)
	}
	if k, ok := knownTraps[t.oid]; ok {
		ev.Kind, ev.Severity, name = k.kind, k.severity, k.name
	}

	// Attributes: the varbinds, capped, then what the receiver knows of the sender.
	n := len(t.pre) + min(len(t.vars), maxAttrs) + len(t.post) + 4
	ev.Attrs = make([]watchfloor.Attr, 0, n)
	ev.Attrs = append(ev.Attrs, t.pre...)
	var ifIndex int32
	var ifName, ifDescr string
	for i, v := range t.vars {
		if i < maxAttrs {
			val := render(v)
			if v.Name == oidTrapCommunity {
				val = redactedValue // a proxy may forward the community: never show it
			}
			ev.Attrs = append(ev.Attrs, watchfloor.Attr{Key: varbindName(v.Name), Value: val})
		}
		switch {
		case strings.HasPrefix(v.Name, oidIfIndex):
			if x, ok := v.Value.(int); ok && x > 0 && x <= 1<<31-1 {
				ifIndex = int32(x)
			} else if ifIndex == 0 {
				ifIndex, _ = ifInstance(v.Name, oidIfIndex)
			}
		case strings.HasPrefix(v.Name, oidIfName):
			if ifName == "" {
				ifName = printable(v.Value)
			}
			if ifIndex == 0 {
				ifIndex, _ = ifInstance(v.Name, oidIfName)
			}
		case strings.HasPrefix(v.Name, oidIfDescr):
			if ifDescr == "" {
				ifDescr = printable(v.Value)
			}
			if ifIndex == 0 {
				ifIndex, _ = ifInstance(v.Name, oidIfDescr)
			}
		}
	}
	if len(t.vars) > maxAttrs {
		ev.Attrs = append(ev.Attrs, watchfloor.Attr{Key: "varbinds_dropped", Value: strconv.Itoa(len(t.vars) - maxAttrs)})
	}
	ev.Attrs = append(ev.Attrs, t.post...)
	ev.Attrs = append(ev.Attrs, watchfloor.Attr{Key: "version", Value: t.version})
	if t.user != "" {
		ev.Attrs = append(ev.Attrs, watchfloor.Attr{Key: "user", Value: clean(t.user, 32)})
	}

	ev.IfIndex = ifIndex
	ev.Interface = clean(ifName, maxNameLen)
	if ev.Interface == "" {
		ev.Interface = clean(ifDescr, maxNameLen)
	}

	from2 := ev.Device
	if from2 == "" {
		from2 = sender.String()
		ev.Attrs = append(ev.Attrs, watchfloor.Attr{Key: "sender", Value: from.String()})
	}
	var msg strings.Builder
	msg.WriteString(name)
	msg.WriteString(" from ")
	msg.WriteString(from2)
	if ifIndex != 0 {
		fmt.Fprintf(&msg, ": ifIndex %d", ifIndex)
		if ev.Interface != "" {
			fmt.Fprintf(&msg, " (%s)", ev.Interface)
		}
	}
	ev.Message = msg.String()
	return ev
}

// render prints a varbind value: printable strings as they are, other octets in hex, numbers
// in decimal, TimeTicks with their duration. The result is at most maxValueLen characters.
func render(v gosnmp.SnmpPDU) string {
	switch v.Type {
	case gosnmp.OctetString:
		b, _ := v.Value.([]byte)
		if isPrintable(b) {
			return clean(string(b), maxValueLen)
		}
		if len(b) > maxValueLen/2-1 {
			b = b[:maxValueLen/2-2]
			return "0x" + hex.EncodeToString(b) + "…"
		}
		return "0x" + hex.EncodeToString(b)
	case gosnmp.TimeTicks:
		if t, ok := v.Value.(uint32); ok {
			d := time.Duration(t) * 10 * time.Millisecond
			return strconv.FormatUint(uint64(t), 10) + " (" + d.String() + ")"
		}
	case gosnmp.Null, gosnmp.NoSuchObject, gosnmp.NoSuchInstance, gosnmp.EndOfMibView, gosnmp.UnknownType:
		return v.Type.String()
	}
	switch x := v.Value.(type) {
	case nil:
		return v.Type.String()
	case string:
		return clean(x, maxValueLen)
	case []byte:
		return clip("0x"+hex.EncodeToString(x[:min(len(x), maxValueLen/2)]), maxValueLen)
	case int:
		return strconv.Itoa(x)
	case uint:
		return strconv.FormatUint(uint64(x), 10)
	case uint32:
		return strconv.FormatUint(uint64(x), 10)
	case uint64:
		return strconv.FormatUint(x, 10)
	case int64:
		return strconv.FormatInt(x, 10)
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case *big.Int:
		return clip(x.String(), maxValueLen)
	}
	return clip(fmt.Sprintf("%v", v.Value), maxValueLen)
}

// printable returns an OCTET STRING value as text when it is printable, else "".
func printable(v any) string {
	b, ok := v.([]byte)
	if !ok || !isPrintable(b) {
		return ""
	}
	return string(b[:min(len(b), 4*maxNameLen)])
}

// isPrintable reports whether b is UTF-8 text without control characters (tabs and line
// ends allowed; a single trailing NUL, which some agents send, too).
func isPrintable(b []byte) bool {
	if len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0x7f {
			return false
		}
	}
	return true
}

// clean makes s safe for a message or a field: control characters become spaces, invalid
// UTF-8 is replaced, a trailing NUL is removed, and the result is at most max characters.
func clean(s string, max int) string {
	s = strings.TrimRight(s, "\x00")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
	return clip(strings.TrimSpace(s), max)
}

// clip shortens s to at most max characters (runes), marking the cut with an ellipsis.
func clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	n := 0
	for i := range s {
		if n == max-1 {
			return s[:i] + "…"
		}
		n++
	}
	return s
}
