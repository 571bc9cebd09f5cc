package distrib

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/appliance/uplink"
	"github.com/watchfloor/watchfloor/internal/promreg"
	"github.com/watchfloor/watchfloor/internal/ratelog"
)

// Applier is what the appliance does with what central sends.
type Applier interface {
	// ApplyRules makes central's rules (rule files at the root of fsys) and lists (under
	// lists/) part of the appliance's rule set, only if the whole set then checks; the
	// error says why not (FILE:LINE: ...). fsys is empty when central distributes neither.
	ApplyRules(fsys fs.FS) error
	// ApplySilences replaces the silences central sent before with these.
	ApplySilences(s []watchfloor.Silence) error
}

// Subscriber is the appliance's side: it asks central for what differs from what it
// holds, applies it through its Applier, and keeps it under dataDir/dist/.
type Subscriber struct {
	site string
	dir  string
	a    Applier
	log  *slog.Logger
	rlog *ratelog.Log
	reg  prometheus.Registerer
	m    *subMetrics
	now  func() time.Time
	wake chan struct{}

	mu    sync.Mutex
	kinds map[string]*kindState
}

// kindState is a kind at the appliance.
type kindState struct {
	kept           // in force (Version 0: none)
	content []byte // in force
	offered bool   // central offered it, or it was in force at start
	refused uint64 // the latest version offered and not applied
	refDig  string
	err     string
}

// maxErrorText bounds the error kept for Applied.
const maxErrorText = 4096

// rate-limited log reasons
const (
	logSync = iota
	logSubReasons
)

// retryEvery is how soon a failed exchange is tried again.
const retryEvery = 5 * time.Second

// NewSubscriber returns the appliance's side for site. It loads what was applied before
// from dataDir/dist/ and applies it again, so that a restart without central keeps
// central's rules and silences; what fails to apply again is reported in Applied, not
// returned. log and reg may be nil.
func NewSubscriber(site, dataDir string, a Applier, log *slog.Logger, reg prometheus.Registerer) (*Subscriber, error) {
	if msg := uplink.CheckSite(site); msg != "" {
		return nil, fmt.Errorf("distrib: site: %s", msg)
	}
	if a == nil {
		return nil, errors.New("distrib: no Applier")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "distrib", "site", site)
	s := &Subscriber{
		site: site, dir: filepath.Join(dataDir, "dist"), a: a, log: log, rlog: ratelog.New(log, logSubReasons),
		reg: reg, m: newSubMetrics(), now: time.Now, wake: make(chan struct{}, 1),
		kinds: map[string]*kindState{},
	}
	for _, k := range kinds {
		s.kinds[k] = &kindState{}
	}
	st, err := loadState(s.dir)
	if err != nil {
		return nil, fmt.Errorf("distrib: %w", err)
	}
	loaded := map[string][]byte{}
	for k, v := range st {
		b, err := readContent(s.dir, k, v.Digest)
		if err != nil {
			log.Error("what central sent before cannot be read; it will be asked for again", "kind", k, "version", v.Version, "err", err)
			continue
		}
		loaded[k] = b
	}
	if len(loaded) > 0 {
		s.apply(loaded, st, true)
	}
	if err := promreg.Register(reg, s.m.collectors()...); err != nil {
		return nil, fmt.Errorf("distrib: %w", err)
	}
	return s, nil
}

// Close unregisters the metrics. Call it after Run returned.
func (s *Subscriber) Close() { promreg.Unregister(s.reg, s.m.collectors()...) }

// Applied is the state of every kind central offered (or that was in force at start), in
// the order rules, lists, silences: for the appliance's health record.
func (s *Subscriber) Applied() []uplink.Applied {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []uplink.Applied
	for _, k := range kinds {
		ks := s.kinds[k]
		if !ks.offered && ks.Version == 0 && ks.refused == 0 {
			continue
		}
		out = append(out, uplink.Applied{Kind: k, Version: ks.Version, Digest: ks.Digest, AppliedAt: ks.At,
			Refused: ks.refused, Error: ks.err})
	}
	return out
}

// Run asks central for what differs when a connection is (re)established, when central
// tells of a new version, and every PollEvery, and applies it. conn may return nil or a
// disconnected connection: the uplink owns it. Run returns nil when ctx is done.
func (s *Subscriber) Run(ctx context.Context, conn func() *nats.Conn) error {
	var (
		cur        *nats.Conn
		sub        *nats.Subscription
		connected  bool
		reconnects uint64
		ask        bool
		retryAt    time.Time
	)
	check := func() {
		c := conn()
		if c != cur {
			if sub != nil {
				_ = sub.Unsubscribe()
			}
			cur, sub, connected = c, nil, false
		}
		if cur == nil || cur.IsClosed() {
			return
		}
		if sub == nil {
			ns, err := cur.Subscribe(uplink.DistNotifySubject(s.site), func(*nats.Msg) {
				select {
				case s.wake <- struct{}{}:
				default:
				}
			})
			if err != nil {
				s.rlog.Warn(logSync, "cannot subscribe to central's notifications", "err", err)
			} else {
				_ = ns.SetPendingLimits(16, 64<<10)
				sub = ns
			}
		}
		up, rc := cur.IsConnected(), cur.Stats().Reconnects
		if up && (!connected || rc != reconnects) {
			ask = true
		}
		connected, reconnects = up, rc
		if !retryAt.IsZero() && !s.now().Before(retryAt) {
			ask = true
		}
	}
	connT := time.NewTicker(connCheck)
	defer connT.Stop()
	pollT := time.NewTicker(PollEvery)
	defer pollT.Stop()
	defer func() {
		if sub != nil {
			_ = sub.Unsubscribe()
		}
	}()
	for {
		check()
		if ask && cur != nil && cur.IsConnected() {
			ask = false
			if err := s.sync(ctx, cur); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				s.m.syncs.WithLabelValues("error").Inc()
				s.rlog.Warn(logSync, "exchange with central's distribution failed; retrying", "err", err)
				retryAt = s.now().Add(retryEvery)
				if errors.Is(err, nats.ErrNoResponders) {
					retryAt = s.now().Add(connCheck) // central's side is starting: soon
				}
			} else {
				s.m.syncs.WithLabelValues("ok").Inc()
				retryAt = time.Time{}
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-connT.C:
		case <-pollT.C:
			ask = true
		case <-s.wake:
			ask = true
		}
	}
}

// errStaleFetch: central replaced the version being fetched.
var errStaleFetch = errors.New("distrib: version replaced while fetching")

// have is what the request says the appliance holds.
func (s *Subscriber) have() map[string]held {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := map[string]held{}
	for k, ks := range s.kinds {
		if ks.Version != 0 || ks.refused != 0 {
			h[k] = held{Version: ks.Version, Digest: ks.Digest, Refused: ks.refused}
		}
	}
	return h
}

// sync asks what differs, fetches it, and applies it.
func (s *Subscriber) sync(ctx context.Context, nc *nats.Conn) error {
	for range 3 {
		rep, err := s.request(ctx, nc, request{Have: s.have()})
		if err != nil {
			return err
		}
		if rep.Error != "" {
			return fmt.Errorf("central: %s", rep.Error)
		}
		got := map[string][]byte{}
		offered := map[string]kept{}
		stale := false
		for _, o := range rep.Offers {
			s.mu.Lock()
			ks := s.kinds[o.Kind]
			ks.offered = true
			cur, refused, refDig := ks.kept, ks.refused, ks.refDig
			s.mu.Unlock()
			if cur.Version != 0 && o.Digest == cur.Digest {
				s.renumber(o.Kind, o.Version) // the same content under a new number
				continue
			}
			if o.Version == refused && o.Digest == refDig {
				continue // refused already: not again until a new version
			}
			content, err := s.fetchAll(ctx, nc, o)
			if errors.Is(err, errStaleFetch) {
				stale = true
				break
			}
			if err != nil {
				return err
			}
			got[o.Kind] = content
			offered[o.Kind] = kept{Version: o.Version, Digest: o.Digest}
		}
		if stale {
			continue
		}
		if len(got) > 0 {
			s.apply(got, offered, false)
		}
		return nil
	}
	return errors.New("central's versions kept changing while fetching")
}

// request sends one request and decodes its reply.
func (s *Subscriber) request(ctx context.Context, nc *nats.Conn, req request) (reply, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return reply{}, err
	}
	rctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	msg, err := nc.RequestWithContext(rctx, uplink.DistRequestSubject(s.site), b)
	if err != nil {
		return reply{}, fmt.Errorf("request to central: %w", err)
	}
	return decodeReply(msg.Data)
}

// fetchAll gets the whole content of an offer and checks its digest.
func (s *Subscriber) fetchAll(ctx context.Context, nc *nats.Conn, o offer) ([]byte, error) {
	data := append([]byte(nil), o.Data...)
	for int64(len(data)) < o.Size {
		rep, err := s.request(ctx, nc, request{Fetch: &fetch{Kind: o.Kind, Version: o.Version, Digest: o.Digest, Offset: int64(len(data))}})
		if err != nil {
			return nil, err
		}
		if rep.Error == errStale {
			return nil, errStaleFetch
		}
		if rep.Error != "" {
			return nil, fmt.Errorf("central: %s", rep.Error)
		}
		c := rep.Chunk
		if c == nil || c.Kind != o.Kind || c.Version != o.Version || c.Digest != o.Digest || c.Offset != int64(len(data)) ||
			int64(len(data)+len(c.Data)) > o.Size {
			return nil, fmt.Errorf("%s version %d: central sent a chunk not asked for", o.Kind, o.Version)
		}
		data = append(data, c.Data...)
		s.m.received.Add(float64(len(c.Data)))
	}
	s.m.received.Add(float64(len(o.Data)))
	if got := digest(data); got != o.Digest {
		return nil, fmt.Errorf("%s version %d: digest %s, want %s", o.Kind, o.Version, got, o.Digest)
	}
	return data, nil
}

// renumber records that the content in force of kind is offered as version v.
func (s *Subscriber) renumber(k string, v uint64) {
	s.mu.Lock()
	ks := s.kinds[k]
	if ks.Version == v {
		s.mu.Unlock()
		return
	}
	ks.Version = v
	if ks.refused != 0 && ks.refused <= v {
		ks.refused, ks.refDig, ks.err = 0, "", ""
	}
	st := s.stateLocked()
	s.mu.Unlock()
	s.m.applied.WithLabelValues(k).Set(float64(v))
	if err := saveState(s.dir, st); err != nil {
		s.log.Error("cannot keep what was applied", "err", err)
	}
}

func (s *Subscriber) stateLocked() map[string]kept {
	st := map[string]kept{}
	for k, ks := range s.kinds {
		if ks.Version != 0 {
			st[k] = ks.kept
		}
	}
	return st
}

// apply has the Applier check and apply got (content by kind, versions in offered): the
// silences alone, the rules and lists together (what was not sent stays as in force).
// What applies is kept on disk, then reported; what does not is reported refused.
// restart says the contents are those kept on disk, applied again at start.
func (s *Subscriber) apply(got map[string][]byte, offered map[string]kept, restart bool) {
	applied := map[string][]byte{}
	refuse := func(err error, ks ...string) {
		for _, k := range ks {
			v := offered[k]
			s.mu.Lock()
			st := s.kinds[k]
			st.offered = true
			st.refused, st.refDig = v.Version, v.Digest
			st.err = err.Error()
			if len(st.err) > maxErrorText {
				st.err = st.err[:maxErrorText] + "…"
			}
			if restart {
				st.kept, st.content = kept{}, nil
			}
			s.mu.Unlock()
			s.m.refused.WithLabelValues(k).Inc()
			s.log.Warn("central's version not applied", "kind", k, "version", v.Version, "err", err)
		}
	}
	if b, ok := got[KindSilences]; ok {
		ss, err := decodeSilences(b)
		if err == nil {
			err = s.a.ApplySilences(ss)
		}
		if err != nil {
			refuse(err, KindSilences)
		} else {
			applied[KindSilences] = b
		}
	}
	var rk []string
	for _, k := range []string{KindRules, KindLists} {
		if _, ok := got[k]; ok {
			rk = append(rk, k)
		}
	}
	if len(rk) > 0 {
		if err := s.applyRules(got); err != nil {
			refuse(err, rk...)
		} else {
			for _, k := range rk {
				applied[k] = got[k]
			}
		}
	}
	if len(applied) == 0 {
		return
	}
	now := s.now().UTC()
	for k, b := range applied {
		if restart {
			continue
		}
		if err := writeContent(s.dir, k, b); err != nil {
			s.log.Error("cannot keep what was applied; a restart without central will lack it", "kind", k, "err", err)
		}
	}
	s.mu.Lock()
	for k, b := range applied {
		ks := s.kinds[k]
		v := offered[k]
		if !restart {
			v.At = now
		}
		ks.kept, ks.content, ks.offered = v, b, true
		if ks.refused != 0 && ks.refused <= v.Version {
			ks.refused, ks.refDig, ks.err = 0, "", ""
		}
	}
	st := s.stateLocked()
	s.mu.Unlock()
	for k := range applied {
		s.m.applied.WithLabelValues(k).Set(float64(offered[k].Version))
		s.log.Info("central's version applied", "kind", k, "version", offered[k].Version, "restart", restart)
	}
	if !restart {
		if err := saveState(s.dir, st); err != nil {
			s.log.Error("cannot keep what was applied; a restart without central will lack it", "err", err)
		}
	}
}

// applyRules combines the rules and lists (got's, or those in force) and applies them.
func (s *Subscriber) applyRules(got map[string][]byte) error {
	decode := func(k string) ([]file, error) {
		b, ok := got[k]
		if !ok {
			s.mu.Lock()
			b = s.kinds[k].content
			s.mu.Unlock()
		}
		if b == nil {
			return nil, nil
		}
		fs, err := decodeFiles(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		return fs, nil
	}
	r, err := decode(KindRules)
	if err != nil {
		return err
	}
	l, err := decode(KindLists)
	if err != nil {
		return err
	}
	fsys, err := combine(r, l)
	if err != nil {
		return err
	}
	return s.a.ApplyRules(fsys)
}
