// Package appliance assembles Watchfloor: it loads the configuration, opens the store, builds
// the collectors, the ingest queue and the console, wires them, and runs them under one
// context — starting them in order and stopping them in reverse, so that a shutdown stops
// the collectors first, flushes every queued record to the store, and closes it last.
package appliance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/appliance/central"
	"github.com/watchfloor/watchfloor/appliance/distrib"
	"github.com/watchfloor/watchfloor/appliance/lab"
	"github.com/watchfloor/watchfloor/appliance/report"
	"github.com/watchfloor/watchfloor/appliance/store"
	"github.com/watchfloor/watchfloor/appliance/uplink"
	"github.com/watchfloor/watchfloor/collectors/flow"
	"github.com/watchfloor/watchfloor/collectors/flow/rollup"
	"github.com/watchfloor/watchfloor/collectors/packet"
	"github.com/watchfloor/watchfloor/collectors/snmp"
	"github.com/watchfloor/watchfloor/collectors/snmp/trap"
	"github.com/watchfloor/watchfloor/console"
	"github.com/watchfloor/watchfloor/console/users"
	"github.com/watchfloor/watchfloor/correlator"
	"github.com/watchfloor/watchfloor/correlator/alerts"
	"github.com/watchfloor/watchfloor/correlator/notify/dispatch"
	"github.com/watchfloor/watchfloor/correlator/topology"
)

// Files in the data directory.
const (
	DBFile     = "watchfloor.db" // the bbolt store
	TokenFile  = "token"         // the generated admin token, mode 0600
	listenFile = "listen"        // where the running console listens, for `watchfloor backup`
)

// LabPollInterval is how often the built-in lab site is polled: often enough that its
// incidents show within seconds.
const LabPollInterval = 5 * time.Second

// Options are what the command line gives the appliance besides the config file.
type Options struct {
	Config Config // used as is; LoadConfig or LabConfig make one
	// ConfigPath is the file Config came from: watched, and re-read on Reload, for the
	// alerting changes that apply live. Empty: nothing is reloaded.
	ConfigPath string
	Lab        bool // start the built-in lab site and poll it (Config.Devices is replaced)
	LabOpts    lab.Options
	DataDir    string
	Listen     string // overrides Config.Console.Listen when set
	Token      watchfloor.Secret
	Log        *slog.Logger
	Version    string // the binary's, sent to central in the health record
}

// LabConfig is the configuration of the built-in lab site: the devices come from the lab
// when it starts.
func LabConfig() Config {
	c := DefaultConfig()
	c.Site = "east-backbone"
	c.PollInterval = LabPollInterval
	c.Traps.Listen = "127.0.0.1:0"
	c.Traps.Communities = []watchfloor.Secret{"public"}
	c.Flow.NetFlow = []string{"127.0.0.1:0"}
	c.Flow.SFlow = []string{"127.0.0.1:0"}
	c.Flow.Sockets = 1 // the lab exports a few thousand records a second
	c.Flow.OurNetworks = lab.OurNetworks
	return c
}

// Appliance is the assembled command center.
type Appliance struct {
	opts    Options
	log     *slog.Logger
	reg     *prometheus.Registry
	store   *store.Store
	console *console.Console
	ingest  *ingest
	poller  *snmp.Poller
	traps   *trap.Receiver
	flows   *flow.Collector    // nil without flow listeners
	rollups *rollup.Aggregator // with flows
	packets *packet.Collector  // nil without interfaces (or the lab's mirror port)
	obsRing *console.ObsRing   // recent observations, with packets
	alerts  *alerts.Manager    // the alert lifecycle (rules fire into it)
	// dispatch pages people about alerts (nil without an alerting block); reload asks for the
	// configuration file to be re-read.
	dispatch *dispatch.Dispatcher
	reload   chan struct{}
	engine   *correlator.Engine // the rules, over every record the collectors hand over
	rules    *ruleSources       // where the engine's rules come from
	// Root-cause suppression: the latest polled devices, the graph they make, the suppressor.
	inventory  inventory
	tracker    *topology.Tracker
	suppressor *topology.Suppressor
	// labMirror is the lab's mirror port, which the packet collector reads in lab mode.
	labMirror *lab.PacketSource
	// flowsSince is when the flow collector started, for the wall's rates of the first minute.
	flowsSince time.Time
	lab        *lab.Lab
	token      watchfloor.Secret
	newToken   bool
	started    time.Time
	// uplink sends the appliance's records to central (nil without an uplink block); fwd
	// hands them to its outbox.
	uplink *uplink.Uplink
	fwd    *forwarder
	// central receives the appliances' uplinks (role central only).
	central *centralSide
	// What central distributes (rules, lists, silences): its publisher at central, the
	// subscriber on an appliance with an uplink.
	publisher *distrib.Publisher
	distrib   *distrib.Subscriber
}

// New builds every part; nothing runs until Run. On error, whatever was opened is closed.
func New(ctx context.Context, opts Options) (a *Appliance, err error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	a = &Appliance{opts: opts, log: opts.Log, reg: prometheus.NewRegistry(), reload: make(chan struct{}, 1), started: time.Now().UTC()}
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	cfg := opts.Config
	if opts.Listen != "" {
		cfg.Console.Listen = opts.Listen
	}
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("appliance: data dir: %w", err)
	}
	if a.token, a.newToken, err = loadToken(opts.DataDir, opts.Token); err != nil {
		return nil, err
	}

	cfg.Store.MergeFlows = mergeFlows(cfg.Flow.Rollups.TopN)
	if a.store, err = store.Open(filepath.Join(opts.DataDir, DBFile), cfg.Store, a.log, a.reg); err != nil {
		return nil, err
	}

	// The trap receiver starts before the lab (which sends it traps), and so before the
	// device list is known: it looks senders up through lookup, set below.
	var lookup func(netip.Addr) string
	if cfg.Console.StaleAfter == 0 || cfg.Console.StaleAfter < 2*cfg.PollInterval {
		cfg.Console.StaleAfter = 2*cfg.PollInterval + cfg.SNMP.Timeout
	}
	if cfg.Traps.Listen != "" {
		find := func(ip netip.Addr) string { return lookup(ip) }
		if a.traps, err = trap.New(cfg.Traps, cfg.Site, find, a.log, a.reg); err != nil {
			return nil, err
		}
	}
	// The flow collector binds before the lab starts exporting to it.
	if cfg.Flow.Enabled() {
		if a.flows, err = flow.New(cfg.Flow.Config, cfg.Site, a.log, a.reg); err != nil {
			return nil, err
		}
		if a.rollups, err = rollup.New(cfg.Flow.Rollups, cfg.Site, a.flows.Workers(), a.reg); err != nil {
			return nil, err
		}
	}
	if opts.Lab {
		lo := opts.LabOpts
		lo.Site = cfg.Site
		if a.traps != nil && lo.TrapTarget == "" {
			lo.TrapTarget = a.traps.Addr().String()
		}
		if a.flows != nil && lo.Devices == 0 {
			nf, sf := a.flows.Addrs()
			if lo.FlowTarget == "" && len(nf) > 0 {
				lo.FlowTarget = nf[0].String()
			}
			if lo.SFlowTarget == "" && len(sf) > 0 {
				lo.SFlowTarget = sf[0].String()
			}
		}
		if a.lab, err = lab.Start(ctx, lo, a.log); err != nil {
			return nil, err
		}
		cfg.Devices = a.lab.Targets()
	}
	// Packets: live on the configured interfaces, or the lab's mirror port.
	switch {
	case len(cfg.Packets.Interfaces) > 0:
		a.packets, err = packet.New(cfg.Packets, cfg.Site, a.log, a.reg)
	case a.lab != nil:
		a.labMirror = a.lab.PacketSource()
		a.packets, err = packet.NewReplayer(cfg.Packets, cfg.Site, a.log, a.reg)
	}
	if err != nil {
		return nil, err
	}
	var observations console.Observations
	if a.packets != nil {
		a.obsRing = console.NewObsRing(console.DefaultObsRingSize)
		observations = a.obsRing
	}
	lookup = deviceLookup(cfg.Devices)
	if a.poller, err = snmp.New(cfg.Poller(), a.log, a.reg); err != nil {
		return nil, err
	}

	if a.alerts, err = alerts.New(cfg.Correlator.Alerts, a.store, time.Now, a.log, a.reg); err != nil {
		return nil, err
	}
	a.tracker = topology.NewTracker(cfg.Topology)
	if a.suppressor, err = topology.NewSuppressor(a.tracker.Update(nil, time.Now()), a.alerts, cfg.Topology, a.log, a.reg); err != nil {
		return nil, err
	}
	a.alerts.Subscribe(a.suppressor.OnAlert)
	if err := checkRulesDir(cfg.Correlator.Rules); err != nil {
		return nil, err
	}
	a.rules = &ruleSources{dir: cfg.Correlator.Rules, central: cfg.IsCentral()}
	set, err := a.rules.load()
	if err != nil {
		return nil, err
	}
	cfg.Correlator.Config.Site = cfg.Site
	if a.engine, err = correlator.New(cfg.Correlator.Config, set, a.alerts, a.log, a.reg); err != nil {
		return nil, err
	}
	a.rules.engine = a.engine
	deps := console.Deps{
		Store: a.store, Token: a.token, Site: cfg.Site,
		Log: a.log, Gatherer: a.reg, Registerer: a.reg,
		Health: a.health, Observations: observations, Alerts: alertsAPI{a.alerts}, Rules: rulesAPI{a.engine},
		DataDir: opts.DataDir,
	}
	if cfg.IsCentral() {
		// The appliances' uplinks: their records into this store, their alerts and health
		// on this wall (centralside.go).
		recv, err := central.New(cfg.Central.Config, opts.DataDir, a.log, a.reg)
		if err != nil {
			return nil, err
		}
		var sites []string
		for _, s := range cfg.Central.Server.Sites {
			sites = append(sites, s.Name)
		}
		if a.central, err = newCentralSide(recv, a.store, sites, a.log, a.reg); err != nil {
			recv.Close()
			return nil, err
		}
		a.central.engine = a.engine
		if a.publisher, err = distrib.NewPublisher(cfg.Central.Distribute, opts.DataDir, a.alerts.Silences, a.log, a.reg); err != nil {
			return nil, err
		}
		a.central.offered = a.publisher.Offered
		deps.Alerts = centralAlerts{alertsAPI{a.alerts}, a.central, a.publisher}
		deps.Sites = a.central
	}
	// Local users (watchfloor user add) and their sessions live beside the store.
	if deps.Users, err = users.Open(opts.DataDir, users.Options{Log: a.log}); err != nil {
		return nil, fmt.Errorf("appliance: %w", err)
	}
	deps.Audit = a.store // every analyst and admin action, kept in bbolt (store/audit.go)
	// The reports page: the kept monthly reports, and one made on demand (reports.go).
	if deps.Reports, err = newReportsAPI(cfg, opts.ConfigPath != "", a.store, a.log); err != nil {
		return nil, err
	}
	if cfg.Alerting.Enabled() {
		deps.Notifications = a.store
		if deps.AckKey, err = loadAckKey(opts.DataDir); err != nil {
			return nil, err
		}
	}
	if a.console, err = console.New(cfg.Console, deps); err != nil {
		return nil, err
	}
	a.alerts.Subscribe(a.console.PublishAlert)
	if a.central != nil {
		a.central.console = a.console
	}
	if cfg.Alerting.Enabled() {
		if a.dispatch, err = a.newDispatcher(cfg); err != nil {
			return nil, err
		}
		a.reconcileDispatch()
		a.alerts.Subscribe(a.dispatch.Update)
	}
	a.ingest = newIngest(cfg.IngestQueue, a.store, wallPublisher{a.console, &a.flowsSince}, a.log, a.reg)
	if cfg.UplinkEnabled() {
		if a.uplink, err = uplink.New(cfg.uplinkConfig(), a.store, a.log, a.reg); err != nil {
			return nil, err
		}
		// What central distributes; applied before the engine runs (what was applied
		// before this start comes back from the data directory first).
		if a.distrib, err = distrib.NewSubscriber(cfg.uplinkConfig().Site, opts.DataDir, distApplier{a.rules, distSilences{a.alerts}}, a.log, a.reg); err != nil {
			return nil, err
		}
		a.fwd = newForwarder(a.uplink, a.uplinkHealth, cfg.Uplink.HealthInterval, a.log, a.reg)
		a.ingest.forward = a.fwd.committed
		a.alerts.Subscribe(a.fwd.alert)
	}
	a.opts.Config = cfg
	return a, nil
}

// Token is the admin API token; NewToken says whether it was generated by this start (and
// so must be shown once).
func (a *Appliance) Token() (tok watchfloor.Secret, generated bool) { return a.token, a.newToken }

// Config is the configuration in force (in lab mode, with the lab's devices).
func (a *Appliance) Config() Config { return a.opts.Config }

// Registry holds the appliance's self-metrics.
func (a *Appliance) Registry() *prometheus.Registry { return a.reg }

func (a *Appliance) health() error {
	if a.store == nil {
		return errors.New("store not open")
	}
	return nil
}

// Run starts the parts and blocks until ctx is done; then it stops the collectors, drains
// the ingest queue into the store, stops the console and closes the store. ready, when not
// nil, is called with the console's address once it listens.
func (a *Appliance) Run(ctx context.Context, ready func(addr net.Addr)) error {
	defer a.close()
	var parts sync.WaitGroup
	consoleCtx, stopConsole := context.WithCancel(context.WithoutCancel(ctx))
	defer stopConsole()
	storeCtx, stopStore := context.WithCancel(context.WithoutCancel(ctx))
	defer stopStore()
	consoleErr := make(chan error, 1)

	parts.Go(func() { _ = a.store.Run(storeCtx) })
	// The alert Manager writes until the store closes: it stops with it, after a last write.
	parts.Go(func() { _ = a.alerts.Run(storeCtx) })
	parts.Go(func() { a.tickAlerts(storeCtx) })
	// The uplink sends until everything the appliance made is in its outbox, and stops
	// before the store closes; what central has not acknowledged stays for the next start.
	uplinkCtx, stopUplink := context.WithCancel(context.WithoutCancel(ctx))
	defer stopUplink()
	forwardCtx, stopForward := context.WithCancel(context.WithoutCancel(ctx))
	defer stopForward()
	var uplinkDone, forwardDone chan struct{}
	if a.uplink != nil {
		uplinkDone, forwardDone = make(chan struct{}), make(chan struct{})
		go func() {
			defer close(uplinkDone)
			if err := a.uplink.Run(uplinkCtx); err != nil {
				a.log.Error("uplink stopped", "err", err)
			}
		}()
		go func() { defer close(forwardDone); a.fwd.run(forwardCtx) }()
		parts.Go(func() {
			defer a.distrib.Close()
			if err := a.distrib.Run(uplinkCtx, a.uplink.Conn); err != nil {
				a.log.Error("central's distribution stopped", "err", err)
			}
		})
	}
	if a.publisher != nil {
		parts.Go(func() {
			defer a.publisher.Close()
			if err := a.publisher.Run(storeCtx, a.central.recv.Conn); err != nil {
				a.log.Error("distribution to the appliances stopped", "err", err)
			}
		})
	}
	if rc := a.opts.Config.Report; rc != nil { // the monthly report (docs/report.md)
		ro, _ := a.opts.Config.ReportOptions(a.opts.ConfigPath != "")
		sched, err := report.NewScheduler(*rc, ro, a.store, a.log)
		if err != nil {
			return fmt.Errorf("appliance: %w", err)
		}
		parts.Go(func() { _ = sched.Run(storeCtx) })
	}
	if err := a.console.Listen(); err != nil {
		return fmt.Errorf("appliance: console: %w", err)
	}
	addr := a.console.Addr()
	go func() { consoleErr <- a.console.Run(consoleCtx) }()
	if err := os.WriteFile(filepath.Join(a.opts.DataDir, listenFile), []byte(addr.String()), 0o600); err != nil {
		a.log.Warn("cannot record the listen address", "err", err)
	}
	drained := make(chan struct{})
	go func() {
		a.ingest.run(context.WithoutCancel(ctx))
		close(drained)
	}()
	stopStats := a.startStats(ctx)

	var collectorsWG sync.WaitGroup
	// The engine outlives the collectors (it works off what they queued), and stops before
	// the alert Manager's last write.
	engineCtx, stopEngine := context.WithCancel(context.WithoutCancel(ctx))
	defer stopEngine()
	engineDone := make(chan struct{})
	go func() {
		defer close(engineDone)
		if err := a.engine.Run(engineCtx); err != nil {
			a.log.Error("correlator stopped", "err", err)
		}
	}()
	if dir := a.opts.Config.Correlator.Rules; dir != "" {
		go a.watchRules(engineCtx, dir)
	}
	suppressorDone := a.runSuppressor(engineCtx)
	// The pipeline pages until the alerts stop changing, and saves its state before the store
	// closes.
	dispatchCtx, stopDispatch := context.WithCancel(context.WithoutCancel(ctx))
	defer stopDispatch()
	var dispatchDone <-chan struct{}
	if a.dispatch != nil {
		dispatchDone = a.runDispatch(dispatchCtx)
	}
	if a.opts.ConfigPath != "" {
		go a.watchConfig(engineCtx, a.opts.ConfigPath)
	}
	var flowsDone, rollupsDone <-chan struct{}
	rollupCtx, stopRollups := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRollups()
	if a.flows != nil {
		a.flowsSince = time.Now()
		flowsDone, rollupsDone = a.runFlows(ctx, rollupCtx)
	}
	if a.packets != nil {
		packetsDone := a.runPackets(ctx)
		collectorsWG.Go(func() { <-packetsDone })
	}
	collectorsWG.Go(func() {
		if err := a.poller.Run(ctx, pollerSink{a.ingest, a.flows, a.engine, &a.inventory}); err != nil {
			a.log.Error("snmp poller stopped", "err", err)
		}
	})
	if a.central != nil {
		collectorsWG.Go(func() {
			defer a.central.recv.Close()
			if err := a.central.recv.Run(ctx, a.central); err != nil {
				a.log.Error("central receiver stopped", "err", err)
			}
		})
	}
	if a.traps != nil {
		collectorsWG.Go(func() {
			if err := a.traps.Run(ctx, eventSink{a.ingest, a.engine}); err != nil {
				a.log.Error("trap receiver stopped", "err", err)
			}
		})
	}
	a.log.Info("watchfloor running", "site", a.opts.Config.Site, "devices", len(a.opts.Config.Devices),
		"listen", addr.String(), "lab", a.opts.Lab)
	if ready != nil {
		ready(addr)
	}

	select {
	case <-ctx.Done():
	case err := <-consoleErr:
		a.log.Error("console stopped", "err", err)
		consoleErr <- err
	}
	// Reverse order: collectors, then the lab they watch, then the queue into the store.
	a.log.Info("shutting down: stopping collectors")
	collectorsWG.Wait()
	if a.flows != nil {
		// The collector's last batches are in the aggregator; its flush (the minute and
		// hour in progress) goes into the queue before the queue closes.
		<-flowsDone
		stopRollups()
		<-rollupsDone
	}
	stopEngine()
	<-engineDone
	<-suppressorDone
	if dispatchDone != nil {
		stopDispatch()
		<-dispatchDone
	}
	if a.lab != nil {
		_ = a.lab.Close()
		a.lab = nil
	}
	a.ingest.close()
	<-drained
	stopStats()
	a.log.Info("ingest queue flushed")
	if a.uplink != nil {
		stopForward() // the last alert changes and health record into the outbox
		<-forwardDone
		stopUplink()
		<-uplinkDone
		a.uplink.Close()
	}
	stopConsole()
	select {
	case <-consoleErr:
	case <-time.After(5 * time.Second):
		a.log.Warn("console did not stop in 5s")
	}
	stopStore()
	parts.Wait()
	_ = os.Remove(filepath.Join(a.opts.DataDir, listenFile))
	return nil
}

// startStats publishes ingest counters to the wall every two seconds.
func (a *Appliance) startStats(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				a.console.PublishStats(console.Stats{
					Time:          now,
					RecordsIn:     a.ingest.recordsIn.Load(),
					Dropped:       a.ingest.recordsDropped.Load(),
					QueueDepth:    len(a.ingest.queue),
					QueueCapacity: cap(a.ingest.queue),
					Capture:       a.captureStats(),
					Collectors:    collectorStats(a.reg),
				})
			}
		}
	}()
	return func() { cancel(); <-done }
}

// collectorHealth names, for each collector the wall shows, the metrics (as registered by
// the collectors) that count what it took in, lost and failed; a series is summed over its
// labels, except the label values listed to skip.
var collectorHealth = []struct {
	name, unit              string
	records, drops, errors  []string
	skipLabel, skipLabelVal string
}{
	{name: "snmp", unit: "varbinds", records: []string{"watchfloor_snmp_varbinds_total"},
		errors: []string{"watchfloor_snmp_polls_total", "watchfloor_snmp_short_walks_total"}, skipLabel: "result", skipLabelVal: "ok"},
	{name: "traps", unit: "traps", records: []string{"watchfloor_trap_received_total"}, drops: []string{"watchfloor_trap_dropped_total"}},
	{name: "flows", unit: "records", records: []string{"watchfloor_flow_records_total"},
		drops:  []string{"watchfloor_flow_socket_drops_total", "watchfloor_flow_rollup_dropped_total", "watchfloor_flow_pending_dropped_total"},
		errors: []string{"watchfloor_flow_decode_errors_total", "watchfloor_flow_truncated_datagrams_total"}},
	{name: "packets", unit: "packets", records: []string{"watchfloor_packet_seen_packets_total"},
		drops: []string{"watchfloor_packet_kernel_drops_total"}, errors: []string{"watchfloor_packet_decode_failed_packets_total"}},
	{name: "ingest", unit: "records", records: []string{"watchfloor_ingest_records_total"}, drops: []string{"watchfloor_ingest_dropped_total"}},
}

// collectorStats sums the collectors' counters from the registry for the wall's health
// panel; a collector none of whose metrics is registered is left out.
func collectorStats(g prometheus.Gatherer) []console.CollectorStats {
	mfs, err := g.Gather()
	if err != nil && len(mfs) == 0 {
		return nil
	}
	byName := make(map[string]*dto.MetricFamily, len(mfs))
	for _, mf := range mfs {
		byName[mf.GetName()] = mf
	}
	var out []console.CollectorStats
	for _, c := range collectorHealth {
		found := false
		sum := func(names []string) uint64 {
			var v float64
			for _, n := range names {
				mf := byName[n]
				if mf == nil {
					continue
				}
				found = true
			metrics:
				for _, m := range mf.GetMetric() {
					for _, l := range m.GetLabel() {
						if c.skipLabel != "" && l.GetName() == c.skipLabel && l.GetValue() == c.skipLabelVal {
							continue metrics
						}
					}
					switch {
					case m.GetCounter() != nil:
						v += m.GetCounter().GetValue()
					case m.GetUntyped() != nil:
						v += m.GetUntyped().GetValue()
					}
				}
			}
			return uint64(max(v, 0))
		}
		cs := console.CollectorStats{Name: c.name, Unit: c.unit, Records: sum(c.records), Drops: sum(c.drops), Errors: sum(c.errors)}
		if found {
			out = append(out, cs)
		}
	}
	return out
}

// close releases what New opened; safe to call more than once.
func (a *Appliance) close() {
	if a.lab != nil {
		_ = a.lab.Close()
		a.lab = nil
	}
	if a.traps != nil {
		a.traps.Close()
	}
	if a.flows != nil {
		_ = a.flows.Close()
	}
	if a.packets != nil {
		a.packets.Close()
	}
	if a.store != nil {
		if err := a.store.Close(); err != nil {
			a.log.Error("store close", "err", err)
		}
		a.store = nil
	}
}

// deviceLookup maps a trap sender's address to a configured device name. An address shared
// by several devices (several agents on one host) identifies none of them.
func deviceLookup(targets []snmp.Target) func(netip.Addr) string {
	byAddr := make(map[netip.Addr]string, len(targets))
	shared := make(map[netip.Addr]bool)
	for _, t := range targets {
		host := t.Address
		if h, _, err := net.SplitHostPort(t.Address); err == nil {
			host = h
		}
		ip, err := netip.ParseAddr(host)
		if err != nil {
			continue
		}
		ip = ip.Unmap()
		if _, dup := byAddr[ip]; dup {
			shared[ip] = true
		}
		byAddr[ip] = t.Name
	}
	return func(ip netip.Addr) string {
		ip = ip.Unmap()
		if shared[ip] {
			return ""
		}
		return byAddr[ip]
	}
}

// loadToken returns the admin token: the one given (from WATCHFLOOR_TOKEN), else the one kept
// in the data directory, else a new one written there with mode 0600.
func loadToken(dir string, given watchfloor.Secret) (watchfloor.Secret, bool, error) {
	if given != "" {
		return given, false, nil
	}
	path := filepath.Join(dir, TokenFile)
	if b, err := os.ReadFile(path); err == nil {
		if tok := strings.TrimSpace(string(b)); tok != "" {
			return watchfloor.Secret(tok), false, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", false, fmt.Errorf("appliance: read token: %w", err)
	}
	buf := make([]byte, 24)
	if _, err := rand.Read(buf); err != nil {
		return "", false, fmt.Errorf("appliance: generate token: %w", err)
	}
	tok := hex.EncodeToString(buf)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(tok+"\n"), 0o600); err != nil {
		return "", false, fmt.Errorf("appliance: write token: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", false, fmt.Errorf("appliance: write token: %w", err)
	}
	return watchfloor.Secret(tok), true, nil
}
