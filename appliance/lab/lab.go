// Package lab is the built-in lab site that `watchfloor run` starts when it has no
// configuration: simulated routers, switches and a firewall answering real SNMP (v1/v2c
// and v3 USM) on loopback UDP, with IF-MIB, HOST-RESOURCES and LLDP tables, traffic counters
// that follow smooth deterministic curves, and a scripted incident timeline (a link flap, a
// distribution switch that goes dark and takes the access switches behind it along, a
// reboot, a port collecting errors) announced by real traps.
//
// Everything the lab does goes through the wire protocols, so the real collectors, the
// correlator and the console see it exactly as they would see a site.
//
// Files: agent.go speaks SNMP, usm.go is SNMPv3 security, ber.go the encoding, mib.go the
// OID table and its lookup, device.go the device model, site.go the standard site and the
// load-test farm, timeline.go the incidents, traps.go the notifications, flow*.go the flow
// exporters, packet*.go the mirror port (a packet source, and pcap files of its traffic).
package lab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/watchfloor/watchfloor/collectors/snmp"
)

// Options configure the lab. The zero value is the standard site without incidents.
type Options struct {
	Site       string  // site name, default "east-backbone"
	Devices    int     // 0: the standard site (12 devices); > 0: a farm of that many look-alike switches
	Interfaces int     // interfaces per farm device, default 48 (farm only)
	Timeline   bool    // run the scripted incidents
	TimeScale  float64 // multiplies the timeline's times: 1 (or 0) real time, < 1 faster
	TrapTarget string  // host:port the devices send SNMPv2c traps to; "" for none
	Bind       string  // host to bind the agents to; "": distinct 127.0.1.x addresses, or 127.0.0.1
	Seed       int64   // the site's randomness (loads, uptimes, port usage); same seed, same site

	// Flow export (flowexport.go; standard site only). Each device sends from its own
	// address: the cores IPFIX, fw-1 NetFlow v9, the distribution switches NetFlow v5 (all to
	// FlowTarget), the access switches sFlow v5 (to SFlowTarget). "" turns that part off.
	FlowTarget           string // host:port of the NetFlow/IPFIX listener
	SFlowTarget          string // host:port of the sFlow listener
	FlowRecordsPerSecond int    // records (and sFlow samples) per second over the site; default 3000

	// The mirror port (packet.go): background frames per second of each PacketSource; the
	// packet incidents come on top when Timeline is set. Default 2000.
	PacketsPerSecond int
}

// DefaultSite is the name of the standard lab site.
const DefaultSite = "east-backbone"

func (o *Options) defaults() {
	if o.Site == "" {
		o.Site = DefaultSite
	}
	if o.Interfaces <= 0 {
		o.Interfaces = 48
	}
	if o.TimeScale <= 0 {
		o.TimeScale = 1
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.FlowRecordsPerSecond <= 0 {
		o.FlowRecordsPerSecond = DefaultFlowRecordsPerSecond
	}
	if o.PacketsPerSecond <= 0 {
		o.PacketsPerSecond = DefaultPacketsPerSecond
	}
}

// Lab is a running lab site.
type Lab struct {
	opts   Options
	log    *slog.Logger
	site   *site
	agents []*agent
	tl     *timeline
	traps  *trapSender
	flows  *flowExporters // nil: no flow export
	start  time.Time      // the timeline's origin

	tmpl    *packetTemplates
	pmu     sync.Mutex
	psrcs   []*PacketSource
	pclosed bool

	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

// Start builds the site, opens one agent per device and, when asked, starts the incident
// timeline. The lab runs until ctx is done or Close is called.
func Start(ctx context.Context, opts Options, log *slog.Logger) (*Lab, error) {
	opts.defaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "lab")
	now := time.Now()
	var s *site
	if opts.Devices > 0 {
		s = farmSite(opts.Site, opts.Devices, opts.Interfaces, opts.Seed, now)
	} else {
		s = standardSite(opts.Site, opts.Seed, now)
	}
	if opts.PacketsPerSecond > maxPktRate {
		return nil, fmt.Errorf("lab: PacketsPerSecond %d over %d", opts.PacketsPerSecond, maxPktRate)
	}
	tmpl, err := templates()
	if err != nil {
		return nil, err
	}
	l := &Lab{opts: opts, log: log, site: s, start: now, tmpl: tmpl}
	if err := l.listen(); err != nil {
		l.closeAgents()
		return nil, err
	}
	if opts.TrapTarget != "" {
		ts, err := newTrapSender(opts.TrapTarget, l, log)
		if err != nil {
			l.closeAgents()
			return nil, err
		}
		l.traps = ts
	}
	if opts.FlowTarget != "" || opts.SFlowTarget != "" {
		if err := l.startFlows(); err != nil {
			l.closeAgents()
			return nil, err
		}
	}
	ctx, l.cancel = context.WithCancel(ctx)
	if opts.Timeline {
		l.tl = newTimeline(s, now, opts.TimeScale, l.traps, log)
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.tl.run(ctx)
		}()
	}
	if l.flows != nil {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.flows.run(ctx)
		}()
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		<-ctx.Done()
		l.closeAgents()
	}()
	first := l.agents[0].Addr()
	log.Info("lab site started", "site", opts.Site, "devices", len(s.devices), "first", first.String(),
		"timeline", opts.Timeline, "traps", opts.TrapTarget, "flows", opts.FlowTarget, "sflow", opts.SFlowTarget)
	return l, nil
}

// listen opens the agents' sockets. In auto mode each device gets its own 127.0.1.x
// address (Linux routes all of 127/8 to lo), so traps tell devices apart by source
// address; where that cannot bind, every device shares 127.0.0.1 with its own port.
func (l *Lab) listen() error {
	host := l.opts.Bind
	distinct := host == ""
	for k, d := range l.site.devices {
		a, err := newAgent(d, l.log)
		if err != nil {
			return err
		}
		l.agents = append(l.agents, a)
		addr := net.JoinHostPort(host, "0")
		if distinct {
			addr = net.JoinHostPort(loopbackAddr(k).String(), "0")
		}
		err = a.listen(addr)
		if err != nil && distinct && k == 0 && errors.Is(err, syscall.EADDRNOTAVAIL) {
			l.log.Info("cannot bind 127.0.1.x addresses; all lab devices share 127.0.0.1", "err", err)
			distinct, host = false, "127.0.0.1"
			err = a.listen(net.JoinHostPort(host, "0"))
		}
		if err != nil {
			return fmt.Errorf("lab: device %s: listen: %w", d.Name, err)
		}
	}
	return nil
}

// loopbackAddr is device k's address in auto mode: 127.0.1.10, 127.0.1.11, … skipping the
// .0 and .255 of every /24.
func loopbackAddr(k int) netip.Addr {
	n := uint32(127<<24 | 1<<8 | 10)
	for i := 0; ; n++ {
		if b := n & 0xff; b == 0 || b == 255 {
			continue
		}
		if i == k {
			break
		}
		i++
	}
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}

func (l *Lab) closeAgents() {
	for _, a := range l.agents {
		a.close()
	}
}

// Close stops the timeline, the flow exporters, the packet sources and the agents and waits
// for their goroutines.
func (l *Lab) Close() error {
	l.once.Do(func() {
		l.closePackets()
		l.cancel()
		l.wg.Wait()
	})
	return nil
}

// Targets returns the name, address, role and credentials of every device, ready for the
// SNMP poller.
func (l *Lab) Targets() []snmp.Target {
	ts := make([]snmp.Target, len(l.agents))
	for k, a := range l.agents {
		ts[k] = snmp.Target{Name: a.dev.Name, Address: a.Addr().String(), Role: a.dev.Role, Credentials: a.dev.Creds}
	}
	return ts
}

// Device returns the name of the device that answers at addr (an agent address or, for
// traps, its source address), or "" when none does.
func (l *Lab) Device(addr netip.Addr) string {
	for _, a := range l.agents {
		if a.Addr().Addr() == addr.Unmap() {
			return a.dev.Name
		}
	}
	return ""
}

// Stats sums the agents' counters.
func (l *Lab) Stats() Stats {
	var s Stats
	for _, a := range l.agents {
		a.stats.addTo(&s)
	}
	return s
}

// Incident is one step of the scripted timeline, for tests and documentation.
type Incident struct {
	At        time.Duration // after Start, already scaled by TimeScale (first cycle)
	What      string        // "link down", "link up", "unreachable", "reachable", "reboot", "rebooted", "errors start", "errors stop", "scan start", "scan stop", "flood start", "flood stop" (flows); "port scan", "host sweep", "dns tunnel", "beacon", "syn flood" + " start"/" stop" (the mirror port)
	Device    string
	Interface string // for link and error steps
}

// Incidents lists the first cycle of the timeline; it repeats every Period.
func (l *Lab) Incidents() (steps []Incident, period time.Duration) {
	tl := l.tl
	if tl == nil {
		tl = newTimeline(l.site, time.Time{}, l.opts.TimeScale, nil, l.log)
	}
	for _, s := range tl.steps {
		steps = append(steps, Incident{At: tl.scaled(s.at), What: s.what, Device: s.dev, Interface: s.ifc})
	}
	return steps, tl.scaled(cyclePeriod)
}
