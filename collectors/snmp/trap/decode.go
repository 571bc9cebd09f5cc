package trap

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/watchfloor/watchfloor"
)

// outcome is what one datagram comes to: an event or a drop, and maybe a datagram to send
// back (an inform's Response, a v3 Report).
type outcome struct {
	event   *watchfloor.Event
	version string // "1", "2c" or "3" when accepted
	inform  bool   // reply answers an inform
	reply   []byte
	report  string // kind of the v3 Report in reply, if it is one
	drop    string // reason, when dropped
	err     error  // why, for the (rate-limited) log
}

func dropped(reason string, err error) outcome { return outcome{drop: reason, err: err} }

// decoder turns datagrams into events. It is used by one goroutine at a time.
type decoder struct {
	site        string
	lookup      func(netip.Addr) string
	communities [][]byte
	users       map[string][]*v3User
	engine      *engine
	v2          *gosnmp.GoSNMP // decodes v1 and v2c messages
	probe       *gosnmp.GoSNMP // decodes unauthenticated v3 engine discovery requests
	scratch     []byte         // v3 decoding happens in place: one copy per attempt
}

func newDecoder(cfg Config, site string, lookup func(netip.Addr) string, eng *engine) (*decoder, error) {
	d := &decoder{
		site:   site,
		lookup: lookup,
		users:  map[string][]*v3User{},
		engine: eng,
		v2:     &gosnmp.GoSNMP{Version: gosnmp.Version2c},
		probe:  &gosnmp.GoSNMP{Version: gosnmp.Version3, SecurityModel: gosnmp.UserSecurityModel},
	}
	for _, c := range cfg.Communities {
		d.communities = append(d.communities, []byte(c.Reveal()))
	}
	for i, c := range cfg.Users {
		u, err := newV3User(c)
		if err != nil {
			return nil, fmt.Errorf("users[%d]: %w", i, err)
		}
		d.users[c.Username] = append(d.users[c.Username], u)
	}
	return d, nil
}

// decode turns one datagram from a sender into an outcome. It never panics on its own
// account; the receiver still recovers around it, since gosnmp might.
func (d *decoder) decode(msg []byte, from netip.AddrPort, now time.Time) outcome {
	version, community, ok := header(msg)
	if !ok {
		return dropped(dropDecode, errors.New("not an SNMP message"))
	}
	switch version {
	case 0, 1:
		return d.decodeV1V2(msg, version, community, from, now)
	case 3:
		return d.decodeV3(msg, from, now)
	}
	return dropped(dropDecode, fmt.Errorf("unknown SNMP version %d", version))
}

// header reads the version of a message and, for v1/v2c, its community.
func header(msg []byte) (version int64, community []byte, ok bool) {
	tag, body, rest, ok := tlv(msg)
	if !ok || tag != tagSequence || len(rest) != 0 {
		return 0, nil, false
	}
	tag, v, body, ok := tlv(body)
	if !ok || tag != tagInteger {
		return 0, nil, false
	}
	if version, ok = berInt(v); !ok {
		return 0, nil, false
	}
	if version == 3 {
		return version, nil, true
	}
	tag, community, _, ok = tlv(body)
	if !ok || tag != tagOctets {
		return 0, nil, false
	}
	return version, community, true
}

// accepts reports whether community is one of ours, in time that does not depend on which.
func (d *decoder) accepts(community []byte) bool {
	ok := 0
	for _, c := range d.communities {
		ok |= subtle.ConstantTimeCompare(c, community)
	}
	return ok == 1
}

func (d *decoder) decodeV1V2(msg []byte, version int64, community []byte, from netip.AddrPort, now time.Time) outcome {
	if !d.accepts(community) {
		// The error never holds the community: it is someone's secret, maybe one of ours mistyped.
		return dropped(dropCommunity, fmt.Errorf("unknown community (%d octets)", len(community)))
	}
	pkt, err := d.v2.UnmarshalTrap(msg, false)
	if err != nil {
		return dropped(dropDecode, err)
	}
	if pkt.Version != gosnmp.SnmpVersion(version) {
		return dropped(dropDecode, errors.New("version changed while decoding"))
	}
	out := outcome{version: "2c"}
	t := &trap{version: "2c"}
	switch {
	case version == 0 && pkt.PDUType == gosnmp.Trap:
		if pkt.Enterprise != "" && !isOID(pkt.Enterprise) {
			// gosnmp takes whatever type comes first; an enterprise must be an OID.
			return dropped(dropDecode, errors.New("v1 trap: enterprise is not an OBJECT IDENTIFIER"))
		}
		out.version = "1"
		v1ToV2(pkt, t)
	case version == 1 && (pkt.PDUType == gosnmp.SNMPv2Trap || pkt.PDUType == gosnmp.InformRequest):
		if t.oid, err = trapOID(pkt.Variables); err != nil {
			return dropped(dropDecode, err)
		}
		t.vars = pkt.Variables
		if pkt.PDUType == gosnmp.InformRequest {
			t.inform, out.inform = true, true
			if out.reply, err = v2cResponse(msg, pkt); err != nil {
				return dropped(dropDecode, fmt.Errorf("inform: cannot build the response: %w", err))
			}
		}
	default:
		return dropped(dropDecode, fmt.Errorf("SNMP version %s %s PDU is not a notification", versionName(version), pkt.PDUType))
	}
	t.version = out.version
	ev := d.event(t, from, now)
	out.event = &ev
	return out
}

func versionName(v int64) string {
	switch v {
	case 0:
		return "1"
	case 1:
		return "2c"
	case 3:
		return "3"
	}
	return strconv.FormatInt(v, 10)
}

// trapOID finds snmpTrapOID.0, which RFC 3416 puts second, after sysUpTime.0.
func trapOID(vars []gosnmp.SnmpPDU) (string, error) {
	for i, v := range vars {
		if i > 1 {
			break
		}
		if v.Name == oidTrapOID {
			if s, ok := v.Value.(string); ok && v.Type == gosnmp.ObjectIdentifier {
				return s, nil
			}
			return "", errors.New("snmpTrapOID.0 is not an OBJECT IDENTIFIER")
		}
	}
	return "", errors.New("no snmpTrapOID.0 among the first two varbinds")
}

// isOID reports whether s is a numeric OID in gosnmp's form (".1.3.6").
func isOID(s string) bool {
	if len(s) < 2 || s[0] != '.' {
		return false
	}
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.':
			if s[i-1] == '.' || i == len(s)-1 {
				return false
			}
		case c < '0' || c > '9':
			return false
		}
	}
	return true
}

// v1ToV2 translates an SNMPv1 Trap-PDU into the v2 form, RFC 3584 section 3.1.
func v1ToV2(pkt *gosnmp.SnmpPacket, t *trap) {
	enterprise := pkt.Enterprise
	if enterprise == "" {
		enterprise = ".0.0"
	}
	if pkt.GenericTrap >= 0 && pkt.GenericTrap <= 5 {
		t.oid = oidSnmpTraps + "." + strconv.Itoa(pkt.GenericTrap+1)
	} else {
		// enterpriseSpecific (6), and anything out of range treated alike
		t.oid = enterprise + ".0." + strconv.Itoa(pkt.SpecificTrap)
	}
	ticks := gosnmp.SnmpPDU{Name: oidSysUpTime, Type: gosnmp.TimeTicks, Value: uint32(pkt.Timestamp)} //nolint:gosec // TimeTicks wrap
	t.pre = []watchfloor.Attr{
		{Key: "sysUpTime.0", Value: render(ticks)},
		{Key: "snmpTrapOID.0", Value: clip(t.oid, maxValueLen)},
	}
	t.vars = pkt.Variables
	if pkt.AgentAddress != "" {
		t.post = append(t.post, watchfloor.Attr{Key: "snmpTrapAddress.0", Value: clean(pkt.AgentAddress, maxValueLen)})
	}
	t.post = append(t.post, watchfloor.Attr{Key: "snmpTrapEnterprise.0", Value: clip(enterprise, maxValueLen)})
}

// v2cResponse answers a v1/v2c inform: the same message with the PDU tag turned into
// GetResponse and error-status, error-index zero (RFC 3416 section 4.2.7). The request-id
// and the varbinds go back exactly as they came.
func v2cResponse(msg []byte, pkt *gosnmp.SnmpPacket) ([]byte, error) {
	_, body, _, _ := tlv(msg)
	_, _, body, _ = tlv(body) // version
	_, _, body, _ = tlv(body) // community
	pduAt := len(msg) - len(body)
	tag, pdu, _, ok := tlv(body)
	if !ok || tag != byte(gosnmp.InformRequest) {
		return nil, errors.New("no InformRequest PDU")
	}
	_, _, pdu, ok1 := tlv(pdu) // request-id
	_, es, pdu, ok2 := tlv(pdu)
	_, ei, _, ok3 := tlv(pdu)
	if ok1 && ok2 && ok3 && len(es) == 1 && es[0] == 0 && len(ei) == 1 && ei[0] == 0 {
		out := append([]byte(nil), msg...)
		out[pduAt] = byte(gosnmp.GetResponse)
		return out, nil
	}
	// Odd error fields: let gosnmp encode a clean response.
	resp := *pkt
	resp.PDUType = gosnmp.GetResponse
	resp.Error, resp.ErrorIndex = gosnmp.NoError, 0
	return resp.MarshalMsg()
}
