package lab

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/gosnmp/gosnmp"
)

// Notification OIDs (SNMPv2-MIB, IF-MIB).
const (
	oidSysUpTime0   = ".1.3.6.1.2.1.1.3.0"
	oidSnmpTrapOID0 = ".1.3.6.1.6.3.1.1.4.1.0"
	oidColdStart    = ".1.3.6.1.6.3.1.1.5.1"
	oidLinkDown     = ".1.3.6.1.6.3.1.1.5.3"
	oidLinkUp       = ".1.3.6.1.6.3.1.1.5.4"
	trapCommunity   = "public"
)

// trapSender sends SNMPv2c traps from the devices' own agent sockets, so a trap's source
// address and port are those of the device that sends it.
type trapSender struct {
	target netip.AddrPort
	agents map[*device]*agent
	reqID  atomic.Uint32
	sent   atomic.Uint64
	failed atomic.Uint64
	log    *slog.Logger
}

func newTrapSender(target string, l *Lab, log *slog.Logger) (*trapSender, error) {
	ua, err := net.ResolveUDPAddr("udp4", target)
	if err != nil {
		return nil, fmt.Errorf("lab: trap target %q: %w", target, err)
	}
	t := &trapSender{target: ua.AddrPort(), agents: make(map[*device]*agent, len(l.agents)), log: log}
	for _, a := range l.agents {
		t.agents[a.dev] = a
	}
	return t, nil
}

// send marshals a v2c trap with gosnmp and sends it from d's socket.
func (t *trapSender) send(d *device, trapOID string, at time.Time, vars ...gosnmp.SnmpPDU) {
	d.mu.RLock()
	up := uint32(ticks(at.Sub(d.bootAt)))
	d.mu.RUnlock()
	pkt := &gosnmp.SnmpPacket{
		Version: gosnmp.Version2c, Community: trapCommunity, PDUType: gosnmp.SNMPv2Trap,
		RequestID: t.reqID.Add(1) & 0x7fffffff,
		Variables: append([]gosnmp.SnmpPDU{
			{Name: oidSysUpTime0, Type: gosnmp.TimeTicks, Value: up},
			{Name: oidSnmpTrapOID0, Type: gosnmp.ObjectIdentifier, Value: trapOID},
		}, vars...),
	}
	b, err := pkt.MarshalMsg()
	if err == nil {
		_, err = t.agents[d].conn.WriteToUDPAddrPort(b, t.target)
	}
	if err != nil {
		if n := t.failed.Add(1); n&(n-1) == 0 {
			t.log.Warn("cannot send trap", "device", d.Name, "target", t.target.String(), "err", err, "failures", n)
		}
		return
	}
	t.sent.Add(1)
}

// link sends linkDown or linkUp for i with ifIndex, ifAdminStatus, ifOperStatus (the
// IF-MIB objects of the notification) and ifName.
func (t *trapSender) link(d *device, i *iface, up bool, at time.Time) {
	oid, oper := oidLinkDown, 2
	if up {
		oid, oper = oidLinkUp, 1
	}
	admin := 2
	if i.AdminUp {
		admin = 1
	}
	x := fmt.Sprint(i.Index)
	t.send(d, oid, at,
		gosnmp.SnmpPDU{Name: ".1.3.6.1.2.1.2.2.1.1." + x, Type: gosnmp.Integer, Value: int(i.Index)},
		gosnmp.SnmpPDU{Name: ".1.3.6.1.2.1.2.2.1.7." + x, Type: gosnmp.Integer, Value: admin},
		gosnmp.SnmpPDU{Name: ".1.3.6.1.2.1.2.2.1.8." + x, Type: gosnmp.Integer, Value: oper},
		gosnmp.SnmpPDU{Name: ".1.3.6.1.2.1.31.1.1.1.1." + x, Type: gosnmp.OctetString, Value: i.Name},
	)
}

// coldStart announces that d restarted.
func (t *trapSender) coldStart(d *device, at time.Time) {
	t.send(d, oidColdStart, at)
}
