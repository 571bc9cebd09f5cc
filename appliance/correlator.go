package appliance

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/watchfloor/watchfloor"

	"github.com/watchfloor/watchfloor/console"
	"github.com/watchfloor/watchfloor/correlator"
	"github.com/watchfloor/watchfloor/rules"
)

// rulesReloadEvery is how often a rules directory is looked at for changes.
const rulesReloadEvery = 5 * time.Second

// loadRules loads the rule set the config names: a directory of rule files and lists, or
// the built-in pack. Every problem comes back in one error, FILE:LINE:COL: FIELD: MSG each.
func loadRules(dir string) (*rules.Set, error) {
	var (
		set  *rules.Set
		errs []rules.Error
	)
	if dir == "" {
		set, errs = rules.LoadPack()
	} else {
		set, errs = rules.LoadDir(dir)
	}
	if len(errs) > 0 {
		lines := make([]string, len(errs))
		for i, e := range errs {
			lines[i] = e.Error()
		}
		where := dir
		if where == "" {
			where = "the built-in pack"
		}
		return nil, fmt.Errorf("rules in %s: %d problem(s):\n  %s", where, len(errs), strings.Join(lines, "\n  "))
	}
	return set, nil
}

// loadCentralRules loads central's built-in cross-site pack.
func loadCentralRules() (*rules.Set, error) {
	set, errs := rules.LoadCentralPack()
	if len(errs) > 0 {
		return nil, fmt.Errorf("rules in central's built-in pack: %v", errs)
	}
	return set, nil
}

// watchRules reloads the rules directory when a file in it changes, keeping the last good set
// when the new one has a problem (logged with its file and line), until ctx is done.
func (a *Appliance) watchRules(ctx context.Context, dir string) {
	last := rulesStamp(dir)
	t := time.NewTicker(rulesReloadEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		stamp := rulesStamp(dir)
		if stamp == last {
			continue
		}
		last = stamp
		if err := a.rules.reload(); err != nil {
			a.log.Error("rules not reloaded: the running set stays", "err", err)
			continue
		}
		a.log.Info("rules reloaded", "dir", dir, "rules", len(a.engine.Set().Rules))
	}
}

// reloadRules loads dir and, only when the whole set checks, makes it the engine's.
func reloadRules(e *correlator.Engine, dir string) error {
	set, err := loadRules(dir)
	if err != nil {
		return err
	}
	return e.Swap(set)
}

// rulesStamp sums what changes when a file under dir is edited, added or removed.
func rulesStamp(dir string) string {
	var n, size, newest int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if fi, err := d.Info(); err == nil {
			n++
			size += fi.Size()
			newest = max(newest, fi.ModTime().UnixNano())
		}
		return nil
	})
	return fmt.Sprint(n, size, newest)
}

// rulesAPI lists the engine's rules for the console, with their hits.
type rulesAPI struct{ e *correlator.Engine }

var _ console.Rules = rulesAPI{}

func (r rulesAPI) List() []console.RuleInfo {
	hits := r.e.Hits()
	out := make([]console.RuleInfo, 0, len(hits))
	for _, h := range hits {
		ri := console.RuleInfo{Name: h.Rule.Name, Title: h.Rule.Title, Level: h.Rule.Level.String(),
			Category: h.Rule.Category, Tags: h.Rule.Tags, Hits: h.Hits, LastHit: h.LastHit, File: filepath.Base(h.Rule.File)}
		for _, k := range h.Rule.Kinds {
			ri.Kinds = append(ri.Kinds, string(k))
		}
		out = append(out, ri)
	}
	return out
}

// checkRulesDir says clearly when a configured rules directory is missing.
func checkRulesDir(dir string) error {
	if dir == "" {
		return nil
	}
	fi, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("correlator.rules: %s does not exist", dir)
	}
	if err == nil && !fi.IsDir() {
		return fmt.Errorf("correlator.rules: %s is not a directory", dir)
	}
	return err
}

// topologyEvery is how often the suppressor's dependency graph is rebuilt from the latest
// polled devices.
const topologyEvery = 10 * time.Second

// inventory keeps the latest state of every polled device, for the topology.
type inventory struct {
	mu      sync.Mutex
	devices map[string]watchfloor.Device
}

func (inv *inventory) put(d watchfloor.Device) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if inv.devices == nil {
		inv.devices = map[string]watchfloor.Device{}
	}
	inv.devices[d.Name] = d
}

func (inv *inventory) list() []watchfloor.Device {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	out := make([]watchfloor.Device, 0, len(inv.devices))
	for _, d := range inv.devices {
		out = append(out, d)
	}
	return out
}

// runSuppressor keeps the suppressor's graph current (the Tracker remembers links that an
// outage hides) and runs it until ctx is done.
func (a *Appliance) runSuppressor(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = a.suppressor.Run(ctx)
	}()
	go func() {
		t := time.NewTicker(topologyEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				if devs := a.inventory.list(); len(devs) > 0 {
					a.suppressor.SetGraph(a.tracker.Update(devs, now))
				}
			}
		}
	}()
	return done
}
