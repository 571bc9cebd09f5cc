package central_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"github.com/watchfloor/watchfloor/appliance/central"
	"github.com/watchfloor/watchfloor/appliance/uplink"
)

// t0 is when the simulated records start: a few hours ago, so that an hour of them is
// within the outbox's age bound (7 days) by the real clock.
var t0 = time.Now().Add(-3 * time.Hour).Truncate(time.Second)

// embeddedConfig is a central with its own server on a fixed loopback port (so that it
// can be restarted where the appliances look for it), TLS with client certificates.
func embeddedConfig(t testing.TB, p *pki, port int, sites ...central.Site) central.Config {
	cfg := central.DefaultConfig()
	cfg.Server.Listen = fmt.Sprintf("127.0.0.1:%d", port)
	cfg.Server.Sites = sites
	if p != nil {
		cfg.Server.TLS = p.serverTLS(t)
	}
	return cfg
}

// TestOutageHourAndRestart cuts an appliance off central for a simulated hour (central
// down), restarts the appliance in the middle of it (its store closed and reopened), and
// restores central: the outbox drains fully, in order, and nothing arrives twice.
func TestOutageHourAndRestart(t *testing.T) {
	p := newPKI(t)
	port := freePort(t)
	dataDir := t.TempDir()
	cfg := embeddedConfig(t, p, port, central.Site{Name: "north"})
	sink := newSink(t)
	c, err := central.New(cfg, dataDir, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	stopCentral := startCentral(t, c, sink)

	url := fmt.Sprintf("tls://127.0.0.1:%d", port)
	a := newAppliance(t, "north", applianceConfig("north", []string{url}, p.applianceTLS(t, "north")))
	kinds := []uplink.Kind{uplink.KindMetrics, uplink.KindAlert, uplink.KindFlows, uplink.KindHealth}
	a.put(100, kinds, t0, time.Second)
	waitFor(t, 10*time.Second, "the first 100 records", func() bool { return sink.count("north") == 100 })

	// The uplink goes down: an hour of records, one a second, 1800 before the appliance
	// restarts and 1800 after, all kept in the outbox.
	stopCentral()
	waitFor(t, 10*time.Second, "the uplink to notice", func() bool { return !a.up.Status().Connected })
	start := t0.Add(100 * time.Second)
	a.put(1800, kinds, start, time.Second)
	t.Logf("before restart: %+v", a.up.Status())
	a.close()
	a.open()
	if got := a.up.Status().OutboxLen; got != 1800 {
		t.Fatalf("after restart, outbox holds %d records, want 1800", got)
	}
	a.put(1800, kinds, start.Add(1800*time.Second), time.Second)
	if got := a.up.Status().OutboxLen; got != 3600 {
		t.Fatalf("outbox holds %d records, want 3600", got)
	}

	// Central returns, on the same port and JetStream files.
	c2, err := central.New(cfg, dataDir, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	marks, err := sink.st.UplinkMarks()
	if err != nil {
		t.Fatal(err)
	}
	c2.Restore(marks)
	startCentral(t, c2, sink)
	waitFor(t, 30*time.Second, "the outbox to drain", func() bool { return sink.count("north") == 3700 })
	waitFor(t, 5*time.Second, "the outbox to be empty", func() bool { return a.up.Status().OutboxLen == 0 })

	sink.mu.Lock()
	defer sink.mu.Unlock()
	if sink.dups != 0 {
		t.Errorf("%d records reached the sink twice", sink.dups)
	}
	for _, k := range kinds {
		sk := "north/" + string(k)
		seqs, times := sink.order[sk], sink.times[sk]
		if len(seqs) != 925 {
			t.Errorf("%s: %d records, want 925", sk, len(seqs))
		}
		for i := range seqs {
			if seqs[i] != uint64(i+1) {
				t.Fatalf("%s: record %d has sequence %d: not in order (%v…)", sk, i, seqs[i], seqs[max(0, i-3):min(len(seqs), i+3)])
			}
			if i > 0 && !times[i].After(times[i-1]) {
				t.Fatalf("%s: record %d made at %s, not after %s", sk, i, times[i], times[i-1])
			}
		}
	}
	for _, s := range c2.Sites() {
		if s.Gaps != 0 || s.Duplicates != 0 || s.Missing != 0 {
			t.Errorf("central's view of %s/%s: %+v", s.Site, s.Kind, s)
		}
	}
}

// TestRefused: appliances without a valid certificate or credential are refused, the
// refusal is counted and logged at central naming the certificate or user, and a known
// site can publish only under its own subjects.
func TestRefused(t *testing.T) {
	p := newPKI(t)
	other := newPKI(t) // a CA central does not trust
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret-south"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	cfg := embeddedConfig(t, p, port, central.Site{Name: "north"}, central.Site{Name: "south", User: "south", PasswordHash: string(hash)})
	var logs logBuffer
	sink := newSink(t)
	c, err := central.New(cfg, t.TempDir(), logs.logger(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	startCentral(t, c, sink)
	url := fmt.Sprintf("tls://127.0.0.1:%d", port)
	auth := c.Server().Auth()

	rogueCert, rogueKey := other.cert(t, "north") // the right name, the wrong CA
	unknownCert, unknownKey := p.cert(t, "atlantis")
	for _, tc := range []struct {
		name   string
		tls    uplink.TLSConfig
		user   string
		pass   string
		reason string
		who    string
	}{
		{"certificate from another CA", uplink.TLSConfig{CAFile: p.CAFile, CertFile: rogueCert, KeyFile: rogueKey}, "", "", "bad_certificate", "CN=north"},
		{"certificate of an unknown site", uplink.TLSConfig{CAFile: p.CAFile, CertFile: unknownCert, KeyFile: unknownKey}, "", "", "unknown_certificate", "CN=atlantis"},
		{"wrong password", uplink.TLSConfig{CAFile: p.CAFile}, "south", "guess", "bad_password", "user south"},
		{"unknown user", uplink.TLSConfig{CAFile: p.CAFile}, "mallory", "x", "unknown_user", "user mallory"},
		{"nothing", uplink.TLSConfig{CAFile: p.CAFile}, "", "", "no_credentials", "remote="},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := auth.Refused(tc.reason)
			opts := []nats.Option{nats.Secure(), nats.RootCAs(p.CAFile), nats.Timeout(2 * time.Second)}
			if tc.tls.CertFile != "" {
				opts = append(opts, nats.ClientCert(tc.tls.CertFile, tc.tls.KeyFile))
			}
			if tc.user != "" {
				opts = append(opts, nats.UserInfo(tc.user, tc.pass))
			}
			nc, err := nats.Connect(url, opts...)
			if err == nil {
				nc.Close()
				t.Fatal("connected")
			}
			waitFor(t, 5*time.Second, "the refusal to be counted", func() bool { return auth.Refused(tc.reason) == before+1 })
			if !strings.Contains(logs.String(), tc.who) || !strings.Contains(logs.String(), "reason="+tc.reason) {
				t.Errorf("no log line naming %q for %s:\n%s", tc.who, tc.reason, logs.String())
			}
			// The wall's view: the last refusal names the reason, who and from where.
			recent, totals := c.Refusals()
			if len(recent) == 0 {
				t.Fatal("no recent refusal")
			}
			r := recent[len(recent)-1]
			who := strings.TrimSuffix(tc.who, "remote=") // no credentials: nobody to name
			if r.Reason != tc.reason || !strings.Contains(r.Who, who) || (who == "") != (r.Who == "") ||
				!strings.HasPrefix(r.Remote, "127.0.0.1:") || time.Since(r.Time) > time.Minute {
				t.Errorf("last refusal %+v, want reason %s naming %q from 127.0.0.1", r, tc.reason, who)
			}
			if totals[tc.reason] != uint64(auth.Refused(tc.reason)) {
				t.Errorf("totals %v, metric %v", totals, auth.Refused(tc.reason))
			}
		})
	}
	recent, _ := c.Refusals()
	for _, r := range recent {
		if strings.Contains(fmt.Sprint(r), "guess") {
			t.Errorf("a refusal shows the password: %+v", r)
		}
	}
	if strings.Contains(logs.String(), "guess") {
		t.Error("the log shows a password")
	}

	// A refused appliance keeps its records; a good one gets through; a site cannot
	// publish as another.
	bad := newAppliance(t, "north", applianceConfig("north", []string{url}, uplink.TLSConfig{CAFile: p.CAFile, CertFile: rogueCert, KeyFile: rogueKey}))
	bad.put(10, []uplink.Kind{uplink.KindAlert}, t0, time.Second)
	southCfg := applianceConfig("south", []string{url}, uplink.TLSConfig{CAFile: p.CAFile})
	southCfg.User, southCfg.Password = "south", "s3cret-south"
	good := newAppliance(t, "south", southCfg)
	good.put(10, []uplink.Kind{uplink.KindAlert}, t0, time.Second)
	waitFor(t, 10*time.Second, "south's records", func() bool { return sink.count("south") == 10 })

	nc, err := nats.Connect(url, nats.Secure(), nats.RootCAs(p.CAFile), nats.UserInfo("south", "s3cret-south"),
		nats.CustomInboxPrefix(uplink.InboxPrefix("south")))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_, err = nc.RequestMsg(&nats.Msg{Subject: uplink.Subject("north", uplink.KindAlert), Data: []byte("forged"),
		Header: nats.Header{uplink.HeaderEpoch: {"0000000000000001"}, uplink.HeaderSeq: {"1"}}}, time.Second)
	if err == nil {
		t.Error("south published as north")
	}
	if got := bad.up.Status(); got.OutboxLen != 10 || got.Connected {
		t.Errorf("refused appliance: %+v, want 10 records kept, not connected", got)
	}
	if sink.count("north") != 0 {
		t.Errorf("central received %d records for north", sink.count("north"))
	}
}

// TestClusterNodeKilled: 20 appliances publish concurrently to a 3-node JetStream cluster
// (R3 streams); one node is killed mid-stream. Every record reaches the sink exactly once,
// counted per site.
func TestClusterNodeKilled(t *testing.T) {
	const sites, perSite = 20, 400
	p := newPKI(t)
	internal := central.Credentials{User: "central", Password: "internal-secret"}
	var siteCfg []central.Site
	for i := range sites {
		siteCfg = append(siteCfg, central.Site{Name: fmt.Sprintf("site-%02d", i)})
	}
	srvTLS := p.serverTLS(t)
	clusterPorts := []int{freePort(t), freePort(t), freePort(t)}
	var nodes []*central.Server
	var urls []string
	for i := range 3 {
		sc := central.DefaultConfig().Server
		sc.Name = fmt.Sprintf("n%d", i)
		sc.Listen = "127.0.0.1:-1"
		sc.TLS = srvTLS
		sc.Sites = siteCfg
		sc.Internal = internal
		sc.Cluster = central.ClusterConfig{Name: "wf", Listen: fmt.Sprintf("127.0.0.1:%d", clusterPorts[i])}
		for j, cp := range clusterPorts {
			if j != i {
				sc.Cluster.Routes = append(sc.Cluster.Routes, fmt.Sprintf("nats-route://127.0.0.1:%d", cp))
			}
		}
		s, err := central.NewServer(sc, t.TempDir(), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Shutdown)
		nodes = append(nodes, s)
		urls = append(urls, strings.Replace(s.ClientURL(), "nats://", "tls://", 1))
	}
	cfg := central.DefaultConfig()
	cfg.URLs = urls
	cfg.User, cfg.Password = internal.User, internal.Password
	cfg.TLS = central.TLSFiles{CAFile: p.CAFile}
	cfg.Streams.Replicas = 3
	cfg.AckWait = 2 * time.Second
	sink := newSink(t)
	c, err := central.New(cfg, "", nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	startCentral(t, c, sink)

	var apps []*appliance
	for _, s := range siteCfg {
		apps = append(apps, newAppliance(t, s.Name, applianceConfig(s.Name, urls, p.applianceTLS(t, s.Name))))
	}
	// Each site puts its records in 20 batches over about two seconds; the first node
	// dies after half of them.
	var wg sync.WaitGroup
	half := make(chan struct{})
	var halfOnce sync.WaitGroup
	halfOnce.Add(len(apps))
	for _, a := range apps {
		wg.Go(func() {
			for b := range 20 {
				if b == 10 {
					halfOnce.Done()
					<-half
				}
				a.put(perSite/20, uplink.Kinds, t0.Add(time.Duration(b)*time.Minute), time.Second)
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
	halfOnce.Wait()
	waitFor(t, 20*time.Second, "records to flow", func() bool { return sink.total() > sites*perSite/4 })
	nodes[0].Shutdown()
	close(half)
	wg.Wait()

	waitFor(t, 45*time.Second, "every record at the sink", func() bool { return sink.total() == sites*perSite })
	for _, a := range apps {
		waitFor(t, 10*time.Second, a.site+"'s outbox to empty", func() bool { return a.up.Status().OutboxLen == 0 })
		if n := sink.count(a.site); n != perSite {
			t.Errorf("%s: %d records at the sink, want %d", a.site, n, perSite)
		}
	}
	sink.mu.Lock()
	if sink.dups != 0 {
		t.Errorf("%d records reached the sink twice", sink.dups)
	}
	for sk, seqs := range sink.order {
		s := slices.Clone(seqs)
		slices.Sort(s)
		for i := range s {
			if s[i] != uint64(i+1) {
				t.Errorf("%s: sequences %v… not 1..%d", sk, s[:min(len(s), 10)], len(s))
				break
			}
		}
	}
	sink.mu.Unlock()
	var dups uint64
	for _, s := range c.Sites() {
		dups += s.Duplicates
		if s.Gaps != 0 {
			t.Errorf("central counted gaps for %s/%s: %+v", s.Site, s.Kind, s)
		}
	}
	t.Logf("duplicates beyond JetStream's window caught by the sequence check: %d", dups)
}

// TestSinkErrorRedelivers: a record the sink refuses is delivered again, not lost.
func TestSinkErrorRedelivers(t *testing.T) {
	port := freePort(t)
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	cfg := embeddedConfig(t, nil, port, central.Site{Name: "east", User: "east", PasswordHash: string(hash)})
	cfg.AckWait = time.Second
	sink := newSink(t)
	sink.failN = 3
	c, err := central.New(cfg, t.TempDir(), nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	startCentral(t, c, sink)
	ac := applianceConfig("east", []string{fmt.Sprintf("nats://127.0.0.1:%d", port)}, uplink.TLSConfig{})
	ac.User, ac.Password = "east", "pw"
	a := newAppliance(t, "east", ac)
	a.put(20, []uplink.Kind{uplink.KindEvent}, t0, time.Second)
	waitFor(t, 15*time.Second, "all records despite the sink's errors", func() bool { return sink.count("east") == 20 })
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if sink.dups != 0 {
		t.Errorf("%d duplicates", sink.dups)
	}
}

var _ = context.Background

// TestCentralRestartExactlyOnce: central stops between storing a batch and acknowledging
// it, and restarts from the marks in its store; the batch is delivered again, and later a
// record already taken is sent again by hand after JetStream's duplicate window. Every
// record is in the store exactly once, per site, and Sites' totals continue across the
// restart.
func TestCentralRestartExactlyOnce(t *testing.T) {
	port := freePort(t)
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	cfg := embeddedConfig(t, nil, port, central.Site{Name: "north", User: "north", PasswordHash: string(hash)},
		central.Site{Name: "south", User: "south", PasswordHash: string(hash)})
	cfg.Streams.Duplicates = time.Second
	cfg.AckWait = time.Second
	dataDir := t.TempDir()
	sink := newSink(t)
	c1, err := central.New(cfg, dataDir, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	marks, err := sink.st.UplinkMarks()
	if err != nil || len(marks) != 0 {
		t.Fatalf("marks of a new store: %v %v", marks, err)
	}
	c1.Restore(marks)
	stop1 := startCentral(t, c1, sink)
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	kinds := []uplink.Kind{uplink.KindEvent, uplink.KindAlert, uplink.KindMetrics}
	var apps []*appliance
	for _, site := range []string{"north", "south"} {
		ac := applianceConfig(site, []string{url}, uplink.TLSConfig{})
		ac.User, ac.Password = site, "pw"
		a := newAppliance(t, site, ac)
		a.put(150, kinds, t0, time.Second)
		apps = append(apps, a)
	}
	waitFor(t, 15*time.Second, "the first records", func() bool { return sink.total() == 300 })

	// The next batch of events is stored, and central stops before acknowledging it.
	committed, release := make(chan int, 1), make(chan struct{})
	sink.mu.Lock()
	sink.hold = func(ds []central.Delivery) error {
		if len(ds) == 0 || ds[0].Kind != uplink.KindEvent {
			return nil
		}
		sink.mu.Lock()
		sink.hold = nil
		sink.mu.Unlock()
		committed <- len(ds)
		<-release
		return fmt.Errorf("central stopping")
	}
	sink.mu.Unlock()
	for _, a := range apps {
		a.put(150, kinds, t0.Add(time.Hour), time.Second)
	}
	var held int
	select {
	case held = <-committed:
	case <-time.After(15 * time.Second):
		t.Fatal("no batch of events held")
	}
	stopped := make(chan struct{})
	go func() { stop1(); close(stopped) }()
	time.Sleep(50 * time.Millisecond) // Run's context is cancelled
	close(release)
	<-stopped
	t.Logf("held %d events stored and not acknowledged", held)

	// Central restarts from its store's marks.
	marks, err = sink.st.UplinkMarks()
	if err != nil {
		t.Fatal(err)
	}
	c2, err := central.New(cfg, dataDir, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	c2.Restore(marks)
	received := func(c *central.Central) (n uint64) {
		for _, s := range c.Sites() {
			n += s.Received
		}
		return n
	}
	stored := sink.stored(t)
	if got := received(c2); got != uint64(len(stored)) {
		t.Errorf("restored totals: %d received, %d stored", got, len(stored))
	}
	startCentral(t, c2, sink)
	waitFor(t, 20*time.Second, "every record", func() bool { return sink.total() == 600 })
	for _, a := range apps {
		waitFor(t, 10*time.Second, a.site+"'s outbox to empty", func() bool { return a.up.Status().OutboxLen == 0 })
	}
	dups := func() (n uint64) {
		for _, s := range c2.Sites() {
			n += s.Duplicates
		}
		return n
	}
	waitFor(t, 10*time.Second, "the held batch dropped as duplicates", func() bool { return dups() >= uint64(held) })

	// A copy of north's first event, sent again after the duplicate window (an appliance
	// that lost its PubAck and came back late).
	var epoch uint64
	for _, m := range marks {
		if m.Site == "north" && m.Kind == string(uplink.KindEvent) {
			epoch = m.Epoch
		}
	}
	time.Sleep(2 * cfg.Streams.Duplicates)
	before := dups()
	nc, err := nats.Connect(url, nats.UserInfo("north", "pw"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	err = nc.PublishMsg(&nats.Msg{Subject: uplink.Subject("north", uplink.KindEvent), Data: []byte("north/event/0"),
		Header: nats.Header{
			uplink.HeaderMsgID: {uplink.MsgID("north", uplink.KindEvent, epoch, 1)}, uplink.HeaderEpoch: {uplink.FormatEpoch(epoch)},
			uplink.HeaderSeq: {"1"}, uplink.HeaderSiteSeq: {"1"}, uplink.HeaderTime: {t0.Format(time.RFC3339Nano)},
			uplink.HeaderRecordID: {"0"}}})
	if err != nil || nc.Flush() != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the late copy dropped as a duplicate", func() bool { return dups() == before+1 })

	stored = sink.stored(t)
	if len(stored) != 600 {
		t.Errorf("%d records stored, want 600", len(stored))
	}
	perSite := map[string]int{}
	for k, n := range stored {
		if n != 1 {
			t.Errorf("%s/%s/%d stored %d times", k.site, k.kind, k.seq, n)
		}
		perSite[k.site]++
	}
	if perSite["north"] != 300 || perSite["south"] != 300 {
		t.Errorf("per site: %v", perSite)
	}
	if got := received(c2); got != 600 {
		t.Errorf("Sites counts %d received across the restart, want 600", got)
	}
	for _, s := range c2.Sites() {
		if s.Gaps != 0 || s.Missing != 0 || s.Received != 100 {
			t.Errorf("%s/%s: %+v", s.Site, s.Kind, s)
		}
	}
	// The store's marks agree with central's view.
	marks, _ = sink.st.UplinkMarks()
	for _, m := range marks {
		if m.Next != 101 || len(m.Seen) != 0 || m.Received != 100 {
			t.Errorf("stored mark %+v", m)
		}
	}
}
