package trap

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/watchfloor/watchfloor/collectors/snmp"
)

// SNMPv3 has two directions of authority (RFC 3414 section 1.5.1):
//
//   - a trap is sent by an authoritative engine, the sender: its keys are localized to the
//     engine ID it puts in the message, so the receiver localizes the user's passphrases to
//     that engine ID, whatever it is (gosnmp re-localizes when it parses the header);
//   - an inform is sent to an authoritative engine, the receiver: the sender first discovers
//     our engine ID (a Report of usmStatsUnknownEngineIDs), then our boots and time (a Report
//     of usmStatsNotInTimeWindows), and then sends the inform localized to our engine, which
//     we check against our clock and answer, authenticated and encrypted alike.

// The USM statistics that Reports carry (RFC 3414 section 5).
const (
	oidUnknownEngineIDs   = ".1.3.6.1.6.3.15.1.1.4.0"
	oidNotInTimeWindows   = ".1.3.6.1.6.3.15.1.1.2.0"
	reportUnknownEngine   = "unknown_engine_id"
	reportNotInTimeWindow = "not_in_time_window"
	timeWindow            = 150 // seconds, RFC 3414 section 2.2.3
	maxBoots              = 1<<31 - 1
)

// engine is the receiver's own SNMP engine, authoritative for informs sent to it.
type engine struct {
	id    string
	boots uint32
	start time.Time

	unknownEngineIDs uint32 // usmStatsUnknownEngineIDs
	notInTimeWindows uint32 // usmStatsNotInTimeWindows

	reportSecond int64 // the second reportsSent counts in
	reportsSent  int
}

// reportsPerSecond caps the Reports sent, all senders together.
const reportsPerSecond = 100

// reportBudget reports whether another Report may be sent now.
func (e *engine) reportBudget(now time.Time) bool {
	if s := now.Unix(); s != e.reportSecond {
		e.reportSecond, e.reportsSent = s, 0
	}
	if e.reportsSent >= reportsPerSecond {
		return false
	}
	e.reportsSent++
	return true
}

// bootsEpoch makes engine boots grow across restarts without state on disk: boots are the
// seconds since this moment at start-up (RFC 3414 wants them to grow with every restart, so
// that old messages cannot be replayed into a new time window).
var bootsEpoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func newEngine(cfg Config, site string, now time.Time) (*engine, error) {
	e := &engine{start: now}
	if cfg.EngineID != "" {
		id, err := parseEngineID(cfg.EngineID)
		if err != nil {
			return nil, fmt.Errorf("engine_id: %w", err)
		}
		e.id = id
	} else {
		e.id = defaultEngineID(site, cfg.Listen)
	}
	b := now.Sub(bootsEpoch) / time.Second
	e.boots = uint32(min(max(b, 1), maxBoots-1)) //nolint:gosec // bounded above
	return e, nil
}

// defaultEngineID is stable for one appliance, site and listen address: RFC 3411's format
// with the "octets, administratively assigned" marker (5) and 12 octets of a hash.
func defaultEngineID(site, listen string) string {
	host, _ := os.Hostname()
	sum := sha256.Sum256([]byte("watchfloor trap receiver\x00" + host + "\x00" + site + "\x00" + listen))
	id := []byte{0x80, 0x00, 0x00, 0x00, 0x05}
	return string(append(id, sum[:12]...))
}

// time returns the engine time in seconds.
func (e *engine) time(now time.Time) uint32 {
	return uint32(max(now.Sub(e.start), 0) / time.Second) //nolint:gosec // wraps after 136 years
}

// v3User is one configured USM user, ready to decode messages.
type v3User struct {
	name     string
	engineID string                // the sender engine the user is restricted to, "" for any
	level    gosnmp.SnmpV3MsgFlags // the security level the user requires
	usm      *gosnmp.UsmSecurityParameters
	g        *gosnmp.GoSNMP
}

func newV3User(c snmp.Credentials) (*v3User, error) {
	flags, usm := c.USM()
	u := &v3User{name: c.Username, level: flags & gosnmp.AuthPriv, usm: usm}
	if c.EngineID != "" {
		id, err := parseEngineID(c.EngineID)
		if err != nil {
			return nil, fmt.Errorf("engine_id: %w", err)
		}
		u.engineID = id
		usm.AuthoritativeEngineID = id // localize once, ahead of the first trap
	}
	// The expensive part of localization (a megabyte of hashing per passphrase) is cached by
	// gosnmp; per engine ID only a short hash remains.
	if err := usm.InitSecurityKeys(); err != nil {
		return nil, fmt.Errorf("localizing keys: %w", err)
	}
	u.g = &gosnmp.GoSNMP{
		Version:            gosnmp.Version3,
		SecurityModel:      gosnmp.UserSecurityModel,
		MsgFlags:           flags,
		SecurityParameters: usm,
	}
	return u, nil
}

// level of a message's flags, or false when they are invalid (privacy without authentication).
func msgLevel(flags byte) (gosnmp.SnmpV3MsgFlags, bool) {
	l := gosnmp.SnmpV3MsgFlags(flags) & gosnmp.AuthPriv
	return l, l != 0x2 // privacy without authentication
}

func (d *decoder) decodeV3(msg []byte, from netip.AddrPort, now time.Time) outcome {
	h, ok := peekV3(msg)
	if !ok {
		return dropped(dropDecode, errors.New("malformed SNMPv3 header"))
	}
	if h.secModel != int64(gosnmp.UserSecurityModel) {
		return dropped(dropDecode, fmt.Errorf("SNMPv3 security model %d is not USM", h.secModel))
	}
	level, ok := msgLevel(h.flags)
	if !ok {
		return dropped(dropDecode, errors.New("SNMPv3 message flags: privacy without authentication"))
	}
	if h.engineID == "" {
		return d.discovery(msg, h, now)
	}
	users := d.users[h.user]
	if len(users) == 0 {
		return dropped(dropUnknownUser, fmt.Errorf("unknown user %q", clean(h.user, 32)))
	}
	ours := d.engine != nil && h.engineID == d.engine.id
	var (
		pkt   *gosnmp.SnmpPacket
		user  *v3User
		err   = fmt.Errorf("user %q is not configured for engine %x", clean(h.user, 32), h.engineID)
		tried bool
	)
	for _, u := range users {
		if u.engineID != "" && u.engineID != h.engineID && !ours {
			continue
		}
		tried = true
		if level < u.level {
			err = fmt.Errorf("user %q: message security level %s is below the configured %s", u.name, level, u.level)
			continue
		}
		d.scratch = append(d.scratch[:0], msg...) // gosnmp blanks the MAC in place
		var p *gosnmp.SnmpPacket
		if p, err = u.g.UnmarshalTrap(d.scratch, true); err == nil {
			pkt, user = p, u
			break
		}
		err = fmt.Errorf("user %q: %w", u.name, err)
	}
	if !tried {
		return dropped(dropUnknownUser, err)
	}
	if pkt == nil {
		return dropped(dropAuth, err)
	}
	usm, ok := pkt.SecurityParameters.(*gosnmp.UsmSecurityParameters)
	if !ok || pkt.Version != gosnmp.Version3 {
		return dropped(dropDecode, errors.New("SNMPv3 decoding gave no USM parameters"))
	}

	t := &trap{version: "3", user: h.user}
	out := outcome{version: "3"}
	switch pkt.PDUType {
	case gosnmp.SNMPv2Trap:
	case gosnmp.InformRequest:
		if !ours {
			// An inform goes to us as the authoritative engine: tell the sender who we are.
			return d.report(h, pkt.RequestID, reportUnknownEngine, nil, now,
				dropAuth, fmt.Errorf("inform for engine %x, which is not ours", h.engineID))
		}
		if h.boots != int64(d.engine.boots) || h.boots >= maxBoots || absDiff(h.time, int64(d.engine.time(now))) > timeWindow {
			return d.report(h, pkt.RequestID, reportNotInTimeWindow, user, now,
				dropAuth, fmt.Errorf("inform outside the time window (boots %d time %d)", h.boots, h.time))
		}
		t.inform, out.inform = true, true
	default:
		return dropped(dropDecode, fmt.Errorf("SNMPv3 %s PDU is not a notification", pkt.PDUType))
	}
	var err2 error
	if t.oid, err2 = trapOID(pkt.Variables); err2 != nil {
		return dropped(dropDecode, err2)
	}
	t.vars = pkt.Variables
	if t.inform {
		if out.reply, err2 = d.v3Response(pkt, usm, user, now); err2 != nil {
			return dropped(dropDecode, fmt.Errorf("inform: cannot build the response: %w", err2))
		}
	}
	ev := d.event(t, from, now)
	out.event = &ev
	return out
}

func absDiff(a, b int64) int64 {
	if a > b {
		return a - b
	}
	return b - a
}

// discovery answers an engine discovery request (RFC 3414 section 4): a reportable,
// unauthenticated GetRequest without varbinds, with empty engine ID and user name.
func (d *decoder) discovery(msg []byte, h v3Header, now time.Time) outcome {
	if d.engine == nil || h.flags&byte(gosnmp.Reportable) == 0 || h.user != "" {
		return dropped(dropDecode, errors.New("SNMPv3 message without an engine ID"))
	}
	d.scratch = append(d.scratch[:0], msg...)
	pkt, err := d.probe.UnmarshalTrap(d.scratch, false)
	if err != nil {
		return dropped(dropDecode, fmt.Errorf("engine discovery: %w", err))
	}
	if pkt.PDUType != gosnmp.GetRequest || len(pkt.Variables) != 0 {
		return dropped(dropDecode, errors.New("engine discovery: not an empty GetRequest"))
	}
	return d.report(h, pkt.RequestID, reportUnknownEngine, nil, now, "", nil)
}

// report builds an SNMPv3 Report for the message with header h: unauthenticated for an
// unknown engine ID, authenticated with the user's keys (localized to our engine) for a
// message outside the time window (RFC 3414 sections 3.2.3 and 3.2.7).
//
// Reports go to whatever address the datagram claims to come from, unauthenticated ones
// included, so they are limited to reportsPerSecond: the receiver must not become a reflector.
func (d *decoder) report(h v3Header, requestID uint32, kind string, user *v3User, now time.Time, drop string, why error) outcome {
	out := outcome{drop: drop, err: why}
	if d.engine == nil || h.flags&byte(gosnmp.Reportable) == 0 || !d.engine.reportBudget(now) {
		if drop == "" { // an unanswered discovery request is dropped like any other datagram
			out.drop, out.err = dropDecode, errors.New("engine discovery request not answered (report rate limit)")
		}
		return out
	}
	sp := &gosnmp.UsmSecurityParameters{
		AuthoritativeEngineID:    d.engine.id,
		AuthoritativeEngineBoots: d.engine.boots,
		AuthoritativeEngineTime:  d.engine.time(now),
		UserName:                 h.user,
	}
	flags := gosnmp.NoAuthNoPriv
	var name string
	var value uint32
	switch kind {
	case reportUnknownEngine:
		d.engine.unknownEngineIDs++
		name, value = oidUnknownEngineIDs, d.engine.unknownEngineIDs
	case reportNotInTimeWindow:
		d.engine.notInTimeWindows++
		name, value = oidNotInTimeWindows, d.engine.notInTimeWindows
		if user != nil && user.level != gosnmp.NoAuthNoPriv {
			flags = gosnmp.AuthNoPriv
			sp.AuthenticationProtocol = user.usm.AuthenticationProtocol
			sp.AuthenticationPassphrase = user.usm.AuthenticationPassphrase
			if err := sp.InitSecurityKeys(); err != nil {
				return out
			}
		}
	}
	rep := &gosnmp.SnmpPacket{
		Version:            gosnmp.Version3,
		MsgFlags:           flags,
		SecurityModel:      gosnmp.UserSecurityModel,
		SecurityParameters: sp,
		MsgID:              uint32(h.msgID), //nolint:gosec // msgID is 0..2^31-1
		ContextEngineID:    d.engine.id,
		PDUType:            gosnmp.Report,
		RequestID:          requestID,
		Variables:          []gosnmp.SnmpPDU{{Name: name, Type: gosnmp.Counter32, Value: value}},
	}
	b, err := rep.MarshalMsg()
	if err != nil {
		return out
	}
	out.reply, out.report = b, kind
	return out
}

// v3Response answers an inform sent to our engine with a Response of the same security
// level, request-id and varbinds.
func (d *decoder) v3Response(pkt *gosnmp.SnmpPacket, in *gosnmp.UsmSecurityParameters, user *v3User, now time.Time) ([]byte, error) {
	sp, ok := in.Copy().(*gosnmp.UsmSecurityParameters) // keys localized to our engine
	if !ok {
		return nil, errors.New("no USM parameters")
	}
	sp.AuthoritativeEngineID = d.engine.id
	sp.AuthoritativeEngineBoots = d.engine.boots
	sp.AuthoritativeEngineTime = d.engine.time(now)
	resp := &gosnmp.SnmpPacket{
		Version:            gosnmp.Version3,
		MsgFlags:           pkt.MsgFlags &^ gosnmp.Reportable,
		SecurityModel:      gosnmp.UserSecurityModel,
		SecurityParameters: sp,
		MsgID:              pkt.MsgID,
		MsgMaxSize:         pkt.MsgMaxSize,
		ContextEngineID:    pkt.ContextEngineID,
		ContextName:        pkt.ContextName,
		PDUType:            gosnmp.GetResponse,
		RequestID:          pkt.RequestID,
		Variables:          pkt.Variables,
	}
	// A fresh salt from the user's long-lived parameters, so no two responses share an IV.
	if err := user.usm.InitPacket(resp); err != nil {
		return nil, err
	}
	return resp.MarshalMsg()
}
