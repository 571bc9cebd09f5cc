package appliance

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"
	"testing/fstest"
	"time"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/correlator"
	"github.com/watchfloor/watchfloor/correlator/alerts"
	"github.com/watchfloor/watchfloor/rules"
)

// ruleSources is where the engine's rules come from: the local ones (the configured
// directory, else the built-in pack — central's cross-site pack at central) and, on an
// appliance whose central distributes them, central's rules and lists (appliance/distrib).
// Every change loads the whole set and makes it the engine's only when it all checks.
type ruleSources struct {
	dir     string // "": the built-in pack
	central bool   // role central: the built-in pack is rules/central
	engine  *correlator.Engine

	mu   sync.Mutex // one load at a time; guards dist
	dist fs.FS      // central's rules at the root, its lists under lists/; nil: none
}

// distPrefix is where central's rule files go in the composed set (its lists replace the
// local lists of the same name).
const distPrefix = "central"

// load loads the set the sources make now.
func (r *ruleSources) load() (*rules.Set, error) {
	if r.dist == nil {
		if r.central && r.dir == "" {
			return loadCentralRules()
		}
		return loadRules(r.dir)
	}
	var local fs.FS
	switch {
	case r.dir != "":
		local = os.DirFS(r.dir)
	case r.central:
		local = rules.CentralPack()
	default:
		local = rules.Pack()
	}
	composed, err := compose(local, r.dist)
	if err != nil {
		return nil, err
	}
	set, errs := rules.LoadFS(composed, "rules")
	if len(errs) > 0 {
		lines := make([]string, len(errs))
		for i, e := range errs {
			lines[i] = e.Error()
		}
		return nil, fmt.Errorf("rules with central's: %d problem(s):\n  %s", len(errs), strings.Join(lines, "\n  "))
	}
	return set, nil
}

// compose lays central's files over the local ones: its rule files under central/, its
// lists over the local lists of the same name. Tests and docs of either are left out.
func compose(local, dist fs.FS) (fs.FS, error) {
	out := fstest.MapFS{}
	copyFS := func(src fs.FS, under string, keep func(p string) bool) error {
		return fs.WalkDir(src, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || !keep(p) {
				return nil
			}
			data, err := fs.ReadFile(src, p)
			if err != nil {
				return err
			}
			out[path.Join(under, p)] = &fstest.MapFile{Data: data, Mode: 0o444}
			return nil
		})
	}
	isList := func(p string) bool { return strings.HasPrefix(p, "lists/") || p == "lists.yaml" }
	notTest := func(p string) bool { return !strings.HasPrefix(p, "tests/") && !strings.HasSuffix(p, "_test.yaml") }
	if err := copyFS(local, ".", notTest); err != nil {
		return nil, fmt.Errorf("local rules: %w", err)
	}
	if err := copyFS(dist, distPrefix, func(p string) bool { return !isList(p) && notTest(p) }); err != nil {
		return nil, fmt.Errorf("central's rules: %w", err)
	}
	if err := copyFS(dist, ".", func(p string) bool { return strings.HasPrefix(p, "lists/") }); err != nil {
		return nil, fmt.Errorf("central's lists: %w", err)
	}
	return out, nil
}

// reload loads the set again (a local file changed) and swaps it in when it checks.
func (r *ruleSources) reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	set, err := r.load()
	if err != nil {
		return err
	}
	return r.engine.Swap(set)
}

// ApplyRules makes central's rules and lists part of the set, when the whole set checks
// (distrib.Applier); otherwise the running set and central's previous files stay.
func (r *ruleSources) ApplyRules(dist fs.FS) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	prev := r.dist
	r.dist = dist
	set, err := r.load()
	if err == nil {
		err = r.engine.Swap(set)
	}
	if err != nil {
		r.dist = prev
	}
	return err
}

// centralSilencePrefix marks the silences central sent (distrib), apart from local ones.
const centralSilencePrefix = "central-"

// distSilences applies central's silences to the alert manager (distrib.Applier's half).
type distSilences struct{ m *alerts.Manager }

// ApplySilences adds or updates every silence central sent and expires those of central's
// it no longer sends; local silences are not touched.
func (d distSilences) ApplySilences(ss []watchfloor.Silence) error {
	keep := make(map[string]bool, len(ss))
	for _, s := range ss {
		if !strings.HasPrefix(s.ID, centralSilencePrefix) {
			return fmt.Errorf("silence %q: central's silences are named %s…", s.ID, centralSilencePrefix)
		}
		keep[s.ID] = true
	}
	now := time.Now()
	for _, s := range ss {
		if !s.EndsAt.After(now) {
			continue // ended on the way here
		}
		if _, err := d.m.AddSilence(s); err != nil {
			return fmt.Errorf("silence %s: %w", s.ID, err)
		}
	}
	for _, s := range d.m.Silences() {
		if strings.HasPrefix(s.ID, centralSilencePrefix) && !keep[s.ID] && s.EndsAt.After(now) {
			if err := d.m.DeleteSilence(s.ID); err != nil {
				return fmt.Errorf("silence %s: %w", s.ID, err)
			}
		}
	}
	return nil
}

// distApplier applies what central distributes (distrib.Applier).
type distApplier struct {
	*ruleSources
	distSilences
}
