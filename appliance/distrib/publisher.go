package distrib

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/appliance/uplink"
	"github.com/watchfloor/watchfloor/internal/promreg"
	"github.com/watchfloor/watchfloor/internal/ratelog"
)

// Publisher is central's side: it offers the rules and lists directories' contents and
// central's silences, and answers the appliances' requests.
type Publisher struct {
	cfg      SourceConfig
	dir      string
	silences func() []watchfloor.Silence
	log      *slog.Logger
	rlog     *ratelog.Log
	reg      prometheus.Registerer
	m        *pubMetrics
	now      func() time.Time
	changed  chan struct{}

	mu      sync.RWMutex
	state   map[string]kept      // every kind ever offered: the numbering, persisted
	content map[string][]byte    // rules, lists: the content of the version offered
	active  []watchfloor.Silence // the silences of the silences version offered
	perSite map[string]*siteContent
	sites   map[string]bool // sites that asked: told of new versions

	// The Run goroutine's (and NewPublisher's) own.
	cand   map[string][]file // rules, lists: the latest content that checks alone
	good   map[string]bool   // rules, lists: a content checked alone since the start
	fp     map[string]string // rules, lists: the directory's fingerprint at the last read
	badLog map[string]string // kind (or "combined"): digest of the last invalid content logged
}

// siteContent is a site's silences of a silences version.
type siteContent struct {
	version uint64
	digest  string
	content []byte
}

// maxSites bounds the sites a Publisher remembers (to notify, and their silences).
const maxSites = 4096

// queueGroup lets several centrals subscribe with one answering each request.
const queueGroup = "watchfloor-distrib"

// rate-limited log reasons
const (
	logRequest = iota
	logNotify
	logPubReasons
)

// NewPublisher returns central's side. It keeps its versions under dataDir/distrib/ and
// offers what it offered before at once, before Run reads the directories. silences may be
// nil without cfg.Silences; log and reg may be nil.
func NewPublisher(cfg SourceConfig, dataDir string, silences func() []watchfloor.Silence, log *slog.Logger, reg prometheus.Registerer) (*Publisher, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("distrib: invalid config: %w", joinFieldErrors(errs))
	}
	if cfg.Silences && silences == nil {
		return nil, fmt.Errorf("distrib: silences distributed but no source of silences")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "distrib")
	p := &Publisher{
		cfg: cfg, dir: filepath.Join(dataDir, "distrib"), silences: silences,
		log: log, rlog: ratelog.New(log, logPubReasons), reg: reg, m: newPubMetrics(), now: time.Now,
		changed: make(chan struct{}, 1),
		content: map[string][]byte{}, perSite: map[string]*siteContent{}, sites: map[string]bool{},
		cand: map[string][]file{}, good: map[string]bool{}, fp: map[string]string{}, badLog: map[string]string{},
	}
	st, err := loadState(p.dir)
	if err != nil {
		return nil, fmt.Errorf("distrib: %w", err)
	}
	p.state = st
	for _, k := range []string{KindRules, KindLists} {
		v, ok := st[k]
		if !ok {
			continue
		}
		b, err := readContent(p.dir, k, v.Digest)
		var files []file
		if err == nil {
			files, err = decodeFiles(b)
		}
		if err != nil {
			// The numbering stays; nothing is offered until the directory is read.
			log.Warn("the content offered before is lost; the directory will be read again", "kind", k, "version", v.Version, "err", err)
			continue
		}
		p.content[k], p.cand[k] = b, files
	}
	if _, ok := st[KindSilences]; ok || cfg.Silences {
		p.refreshSilences()
	}
	for k, v := range p.state {
		p.m.version.WithLabelValues(k).Set(float64(v.Version))
	}
	if err := promreg.Register(reg, p.m.collectors()...); err != nil {
		return nil, fmt.Errorf("distrib: %w", err)
	}
	return p, nil
}

// Close unregisters the metrics. Call it after Run returned.
func (p *Publisher) Close() { promreg.Unregister(p.reg, p.m.collectors()...) }

// SilencesChanged says central's silences changed (one added, expired or deleted): Run
// makes a new silences version, and tells the sites.
func (p *Publisher) SilencesChanged() {
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

// Offered is what central offers now, by kind: its version, digest (silences: of all of
// central's active silences; each site's differs) and, in AppliedAt, when it was made.
func (p *Publisher) Offered() []uplink.Applied {
	p.mu.RLock()
	defer p.mu.RUnlock()
	var out []uplink.Applied
	for _, k := range kinds {
		if !p.offeredLocked(k) {
			continue
		}
		v := p.state[k]
		out = append(out, uplink.Applied{Kind: k, Version: v.Version, Digest: v.Digest, AppliedAt: v.At})
	}
	return out
}

// offeredLocked reports whether kind has a version on offer.
func (p *Publisher) offeredLocked(k string) bool {
	if k == KindSilences {
		_, ok := p.state[k]
		return ok
	}
	return p.content[k] != nil
}

// Run answers the appliances' requests on every connection conn returns (nil, or a
// disconnected one, while there is none), reads the directories every Scan, makes new
// versions, and tells the sites that asked before of them. It returns nil when ctx is
// done.
func (p *Publisher) Run(ctx context.Context, conn func() *nats.Conn) error {
	var (
		cur     *nats.Conn
		sub     *nats.Subscription
		dropped int
	)
	check := func() {
		c := conn()
		if c != cur || (cur != nil && cur.IsClosed()) {
			if sub != nil {
				_ = sub.Unsubscribe()
			}
			sub, cur, dropped = nil, c, 0
		}
		if cur == nil || cur.IsClosed() {
			return
		}
		if sub == nil {
			s, err := cur.QueueSubscribe(uplink.DistRequestSubjects(), queueGroup, p.serve)
			if err != nil {
				p.log.Warn("cannot subscribe to the appliances' requests", "err", err)
				return
			}
			// Bound what waits: a flood of requests is dropped (and counted), not queued.
			_ = s.SetPendingLimits(1024, 16<<20)
			sub = s
			p.log.Info("serving distribution requests", "subject", uplink.DistRequestSubjects())
			p.notify(cur) // a central that restarted: sites polling may be told at once
		}
		if n, err := sub.Dropped(); err == nil && n > dropped {
			p.m.requests.WithLabelValues("dropped").Add(float64(n - dropped))
			p.rlog.Warn(logRequest, "distribution requests dropped (queue full)", "dropped", n-dropped)
			dropped = n
		}
	}
	if p.scan() {
		check()
		p.notify(cur)
	}
	check()
	connT := time.NewTicker(connCheck)
	defer connT.Stop()
	scanT := time.NewTicker(p.cfg.Scan)
	defer scanT.Stop()
	for {
		select {
		case <-ctx.Done():
			if sub != nil {
				_ = sub.Unsubscribe()
			}
			return nil
		case <-connT.C:
			check()
		case <-scanT.C:
			if p.scan() {
				p.notify(cur)
			}
		case <-p.changed:
			if p.refreshSilences() {
				p.notify(cur)
			}
		}
	}
}

// notify tells every site that asked before that something changed.
func (p *Publisher) notify(nc *nats.Conn) {
	if nc == nil || !nc.IsConnected() {
		return
	}
	p.mu.RLock()
	sites := make([]string, 0, len(p.sites))
	for s := range p.sites {
		sites = append(sites, s)
	}
	versions := map[string]uint64{}
	for _, k := range kinds {
		if p.offeredLocked(k) {
			versions[k] = p.state[k].Version
		}
	}
	p.mu.RUnlock()
	payload, _ := json.Marshal(versions)
	for _, s := range sites {
		if err := nc.Publish(uplink.DistNotifySubject(s), payload); err != nil {
			p.rlog.Warn(logNotify, "cannot notify a site", "site", s, "err", err)
		}
	}
}

// scan reads the directories and central's silences and makes new versions of what
// changed and checks; it reports whether a version changed.
func (p *Publisher) scan() bool {
	changed := false
	for _, k := range []string{KindRules, KindLists} {
		p.readKind(k)
	}
	p.mu.RLock()
	offerR := p.cfg.Rules != "" || p.state[KindRules].Version != 0
	offerL := p.cfg.Lists != "" || p.state[KindLists].Version != 0
	p.mu.RUnlock()
	r, l := p.cand[KindRules], p.cand[KindLists]
	rb, err1 := encodeFiles(r)
	lb, err2 := encodeFiles(l)
	if err1 != nil || err2 != nil { // cannot be: the candidates were bounded when read
		p.log.Error("cannot encode a bundle", "rules", err1, "lists", err2)
		return p.refreshSilences()
	}
	p.mu.RLock()
	needR := offerR && (p.content[KindRules] == nil || digest(rb) != p.state[KindRules].Digest)
	needL := offerL && (p.content[KindLists] == nil || digest(lb) != p.state[KindLists].Digest)
	p.mu.RUnlock()
	if (needR || needL) && p.readyToOffer() {
		fsys, err := combine(r, l)
		var errs string
		if err != nil {
			errs = err.Error()
		} else if _, _, es := checkFS(fsys, ""); len(es) > 0 {
			errs = errorsText(es)
		}
		if errs != "" {
			key := digest(rb) + digest(lb)
			if p.badLog["combined"] != key {
				p.badLog["combined"] = key
				for k, need := range map[string]bool{KindRules: needR, KindLists: needL} {
					if need {
						p.m.invalid.WithLabelValues(k).Inc()
					}
				}
				p.log.Warn("the rules and lists do not check together; the versions offered stay",
					"rules", p.cfg.Rules, "lists", p.cfg.Lists+" (as lists/)", "errors", errs)
			}
		} else {
			if needR && p.adopt(KindRules, rb) {
				changed = true
			}
			if needL && p.adopt(KindLists, lb) {
				changed = true
			}
		}
	}
	if p.refreshSilences() {
		changed = true
	}
	return changed
}

// readyToOffer is false while a configured directory never checked since the start: rules
// without their lists (or the other way) would not check, or would check wrongly, and an
// empty bundle would stand in for a pack that does not check.
func (p *Publisher) readyToOffer() bool {
	return (p.cfg.Rules == "" || p.good[KindRules]) && (p.cfg.Lists == "" || p.good[KindLists])
}

// readKind reads a directory again when it changed, and makes its content the kind's
// candidate when it checks alone; problems are logged and counted once per content.
func (p *Publisher) readKind(k string) {
	dir := p.cfg.Rules
	if k == KindLists {
		dir = p.cfg.Lists
	}
	if dir == "" {
		p.cand[k] = nil
		return
	}
	fp, err := fingerprint(dir)
	if err == nil && fp == p.fp[k] {
		return
	}
	bad := func(key, msg string, args ...any) {
		if p.badLog[k] == key {
			return
		}
		p.badLog[k] = key
		p.m.invalid.WithLabelValues(k).Inc()
		p.log.Warn(msg, append([]any{"kind", k, "dir", dir}, args...)...)
	}
	if err != nil {
		bad("read:"+err.Error(), "cannot read the directory; the version offered stays", "err", err)
		return
	}
	files, err := readDir(dir)
	if err != nil {
		bad("read:"+err.Error(), "cannot read the directory; the version offered stays", "err", err)
		return
	}
	p.fp[k] = fp
	var fsys fs.FS
	prefix := dir
	if k == KindRules {
		fsys, err = combine(files, nil)
	} else {
		fsys, err = combine(nil, files)
		prefix = "" // the lists are checked as the appliance sees them, under lists/
	}
	var errs string
	if err != nil {
		errs = err.Error()
	} else if _, _, es := checkFS(fsys, prefix); len(es) > 0 {
		errs = errorsText(es)
	}
	if errs != "" {
		b, _ := encodeFiles(files)
		bad(digest(b), "the directory does not check; the version offered stays", "errors", errs)
		return
	}
	p.cand[k], p.good[k] = files, true
}

// adopt makes content the kind's offered version (a new version when its digest differs),
// kept on disk first. It reports whether the version changed.
func (p *Publisher) adopt(k string, content []byte) bool {
	dg := digest(content)
	p.mu.RLock()
	cur := p.state[k]
	p.mu.RUnlock()
	if cur.Version != 0 && cur.Digest == dg {
		p.mu.Lock()
		if content != nil && k != KindSilences {
			p.content[k] = content
		}
		p.mu.Unlock()
		return false
	}
	v := kept{Version: cur.Version + 1, Digest: dg, At: p.now().UTC()}
	p.mu.Lock()
	st := make(map[string]kept, len(p.state)+1)
	for kk, vv := range p.state {
		st[kk] = vv
	}
	st[k] = v
	p.mu.Unlock()
	if k != KindSilences {
		if err := writeContent(p.dir, k, content); err != nil {
			p.log.Error("cannot keep the new content; offered anyway", "kind", k, "err", err)
		}
	}
	if err := saveState(p.dir, st); err != nil {
		p.log.Error("cannot keep the version numbers; a restart may number again", "err", err)
	}
	p.mu.Lock()
	p.state = st
	if k != KindSilences {
		p.content[k] = content
	}
	p.mu.Unlock()
	p.m.version.WithLabelValues(k).Set(float64(v.Version))
	p.log.Info("new version offered", "kind", k, "version", v.Version, "digest", dg[:12], "bytes", len(content))
	return true
}

// refreshSilences makes a new silences version when central's active silences changed.
func (p *Publisher) refreshSilences() bool {
	p.mu.RLock()
	_, had := p.state[KindSilences]
	p.mu.RUnlock()
	if !p.cfg.Silences && !had {
		return false
	}
	var all []watchfloor.Silence
	if p.cfg.Silences {
		all = p.silences()
	}
	active := activeSilences(all, p.now())
	content, err := encodeSilences(active)
	if err != nil {
		p.rlog.Warn(logNotify, "central's silences cannot be distributed; the version offered stays", "err", err)
		return false
	}
	changed := p.adopt(KindSilences, content)
	if changed || !had {
		p.mu.Lock()
		p.active, p.perSite = active, map[string]*siteContent{}
		p.mu.Unlock()
	}
	return changed
}

// siteSilences is a site's silences of the version offered.
func (p *Publisher) siteSilences(site string) (*siteContent, error) {
	p.mu.RLock()
	v := p.state[KindSilences]
	sc := p.perSite[site]
	active := p.active
	p.mu.RUnlock()
	if sc != nil && sc.version == v.Version {
		return sc, nil
	}
	content, err := encodeSilences(forSite(active, site))
	if err != nil {
		return nil, err
	}
	sc = &siteContent{version: v.Version, digest: digest(content), content: content}
	p.mu.Lock()
	if p.state[KindSilences].Version == v.Version && (len(p.perSite) < maxSites || p.perSite[site] != nil) {
		p.perSite[site] = sc
	}
	p.mu.Unlock()
	return sc, nil
}

// siteOf is the site of a request's subject, wf.<site>.dist, which the server's
// permissions vouch for.
func siteOf(subject string) (string, bool) {
	rest, ok := strings.CutPrefix(subject, uplink.SubjectRoot+".")
	if !ok {
		return "", false
	}
	site, tail, ok := strings.Cut(rest, ".")
	if !ok || uplink.CheckSite(site) != "" || uplink.DistRequestSubject(site) != subject || tail == "" {
		return "", false
	}
	return site, true
}

// serve answers one request.
func (p *Publisher) serve(msg *nats.Msg) {
	site, ok := siteOf(msg.Subject)
	if !ok || msg.Reply == "" {
		p.m.requests.WithLabelValues("invalid").Inc()
		p.rlog.Warn(logRequest, "distribution request without a site or a reply subject", "subject", msg.Subject)
		return
	}
	req, err := decodeRequest(msg.Data)
	if err != nil {
		p.m.requests.WithLabelValues("invalid").Inc()
		p.rlog.Warn(logRequest, "invalid distribution request", "site", site, "err", err)
		p.respond(msg, site, reply{Error: "invalid request"}, "")
		return
	}
	p.mu.Lock()
	if !p.sites[site] && len(p.sites) < maxSites {
		p.sites[site] = true
	}
	p.mu.Unlock()
	if f := req.Fetch; f != nil {
		v, content, err := p.current(f.Kind, site)
		switch {
		case err != nil:
			p.respond(msg, site, reply{Error: err.Error()}, "error")
		case content == nil || v.Version != f.Version || v.Digest != f.Digest:
			p.respond(msg, site, reply{Error: errStale}, "stale")
		case f.Offset >= int64(len(content)):
			p.respond(msg, site, reply{Error: "offset past the end"}, "invalid")
		default:
			end := min(f.Offset+ChunkBytes, int64(len(content)))
			data := content[f.Offset:end]
			p.m.sent.Add(float64(len(data)))
			p.respond(msg, site, reply{Chunk: &chunk{Kind: f.Kind, Version: v.Version, Digest: v.Digest, Offset: f.Offset, Data: data}}, "chunk")
		}
		return
	}
	var rep reply
	budget := ChunkBytes
	for _, k := range kinds {
		v, content, err := p.current(k, site)
		if err != nil {
			p.rlog.Warn(logRequest, "cannot make a site's content", "site", site, "kind", k, "err", err)
			continue
		}
		if content == nil {
			continue
		}
		h := req.Have[k]
		if h.Version == v.Version && h.Digest == v.Digest {
			continue
		}
		o := offer{Kind: k, Version: v.Version, Digest: v.Digest, Size: int64(len(content))}
		if h.Digest != v.Digest && h.Refused != v.Version && budget > 0 {
			o.Data = content[:min(len(content), budget)]
			budget -= len(o.Data)
			p.m.sent.Add(float64(len(o.Data)))
		}
		rep.Offers = append(rep.Offers, o)
	}
	p.respond(msg, site, rep, "offer")
}

// current is the version of kind on offer for site, and its content (nil: none offered).
func (p *Publisher) current(k, site string) (kept, []byte, error) {
	p.mu.RLock()
	v, ok := p.state[k]
	content := p.content[k]
	p.mu.RUnlock()
	if !ok {
		return kept{}, nil, nil
	}
	if k != KindSilences {
		return v, content, nil
	}
	sc, err := p.siteSilences(site)
	if err != nil {
		return kept{}, nil, err
	}
	return kept{Version: sc.version, Digest: sc.digest, At: v.At}, sc.content, nil
}

func (p *Publisher) respond(msg *nats.Msg, site string, rep reply, result string) {
	b, err := json.Marshal(rep)
	if err == nil {
		err = msg.Respond(b)
	}
	if err != nil {
		p.m.requests.WithLabelValues("error").Inc()
		p.rlog.Warn(logRequest, "cannot answer a distribution request", "site", site, "err", err)
		return
	}
	if result != "" {
		p.m.requests.WithLabelValues(result).Inc()
	}
}
