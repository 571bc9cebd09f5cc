package appliance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/correlator/alerts"
	"github.com/watchfloor/watchfloor/correlator/notify"
	"github.com/watchfloor/watchfloor/correlator/notify/dispatch"
	"github.com/watchfloor/watchfloor/correlator/notify/receiver"
)

// AckKeyFile holds the key that signs acknowledgement links, in the data directory (0600):
// kept across restarts so that links in pages sent before one still work.
const AckKeyFile = "ack.key"

// configReloadEvery is how often the configuration file is looked at for changes.
const configReloadEvery = 5 * time.Second

// loadAckKey returns the link signing key kept in dir, making one on first start.
func loadAckKey(dir string) (watchfloor.Secret, error) {
	path := filepath.Join(dir, AckKeyFile)
	if b, err := os.ReadFile(path); err == nil {
		if k := strings.TrimSpace(string(b)); len(k) >= 64 {
			return watchfloor.Secret(k), nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("appliance: read %s: %w", AckKeyFile, err)
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("appliance: generate the link key: %w", err)
	}
	k := hex.EncodeToString(buf)
	if err := writeFileAtomic(path, []byte(k+"\n")); err != nil {
		return "", fmt.Errorf("appliance: write %s: %w", AckKeyFile, err)
	}
	return watchfloor.Secret(k), nil
}

// writeFileAtomic writes data to path (mode 0600) through a temporary file and a rename.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// newDispatcher builds the on-call pipeline of cfg.Alerting. It runs on the store, links to
// the console, and is subscribed to the alert manager by the caller.
func (a *Appliance) newDispatcher(cfg Config) (*dispatch.Dispatcher, error) {
	tree, err := cfg.Alerting.Routing()
	if err != nil {
		return nil, err
	}
	var rs []notify.Receiver
	for _, rc := range cfg.Alerting.Receivers {
		r, err := rc.New(nil, nil)
		if err != nil {
			return nil, fmt.Errorf("alerting: receiver %s: %w", rc.Name, err)
		}
		rs = append(rs, r)
	}
	signer := a.console.AckSigner()
	return dispatch.New(dispatch.Config{
		Tree:   tree,
		OnCall: cfg.Alerting.Config,
		Grouper: notify.GrouperConfig{Link: func(n *notify.Notification) string {
			if len(n.Alerts) == 0 {
				return ""
			}
			return a.console.IncidentLink(n.Alerts[0].ID)
		}},
		Deliverer: cfg.Alerting.delivery(),
		AckLink:   signer.Link,
	}, dispatch.Deps{Store: a.store, Receivers: rs, Log: a.log, Registerer: a.reg})
}

// delivery is the deliverer's configuration: the defaults, with what the file sets.
func (a AlertingConfig) delivery() receiver.DelivererConfig {
	c := receiver.DefaultDelivererConfig()
	if d := a.Delivery; d != nil {
		c.QueueSize = cmpOr(d.QueueSize, c.QueueSize)
		c.MaxAttempts = cmpOr(d.MaxAttempts, c.MaxAttempts)
		c.InitialBackoff = cmpOr(d.InitialBackoff, c.InitialBackoff)
		c.MaxBackoff = cmpOr(d.MaxBackoff, c.MaxBackoff)
		c.AttemptTimeout = cmpOr(d.AttemptTimeout, c.AttemptTimeout)
	}
	return c
}

func cmpOr[T comparable](a, b T) T {
	var zero T
	if a != zero {
		return a
	}
	return b
}

// reconcileDispatch brings the pipeline's saved state up to date with the alerts.
func (a *Appliance) reconcileDispatch() {
	lookup := func(id uint64) (watchfloor.Alert, bool) {
		al, ok, err := a.alerts.Get(id)
		return al, ok && err == nil
	}
	a.dispatch.Reconcile(lookup, a.alerts.List(alerts.Query{Open: true, Limit: alerts.MaxLimit}))
}

// runDispatch runs the pipeline until ctx ends; the returned channel closes when it stopped
// (its state saved, deliveries in progress given their grace).
func (a *Appliance) runDispatch(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := a.dispatch.Run(ctx); err != nil {
			a.log.Error("notification pipeline stopped", "err", err)
		}
	}()
	return done
}

// watchConfig reloads the configuration file when it changes or on Reload (SIGHUP). Only the
// alerting routes and on-call setup apply live; a file with any problem is refused as a whole,
// logged with its file, line and field, and the running configuration stays.
func (a *Appliance) watchConfig(ctx context.Context, path string) {
	last := fileStamp(path)
	t := time.NewTicker(configReloadEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			stamp := fileStamp(path)
			if stamp == last {
				continue
			}
			last = stamp
		case <-a.reload:
			last = fileStamp(path)
			// SIGHUP also reloads the rules now, rather than at the next look at the directory.
			if dir := a.opts.Config.Correlator.Rules; dir != "" {
				if err := a.rules.reload(); err != nil {
					a.log.Error("rules not reloaded: the running set stays", "err", err)
				} else {
					a.log.Info("rules reloaded", "dir", dir, "rules", len(a.engine.Set().Rules))
				}
			}
		}
		if err := a.ReloadConfig(path); err != nil {
			a.log.Error("configuration not reloaded: the running one stays", "err", err)
		}
	}
}

// Reload asks the appliance to re-read its configuration file and its rules directory now
// (SIGHUP).
func (a *Appliance) Reload() {
	select {
	case a.reload <- struct{}{}:
	default:
	}
}

// ReloadConfig reads path and, when the whole file is valid, puts its alerting routes and
// on-call configuration in force. Changes elsewhere in the file (receivers, collectors, the
// console) need a restart, and say so in the log.
func (a *Appliance) ReloadConfig(path string) error {
	cfg, err := LoadConfig(path)
	if err != nil {
		return err
	}
	running := a.opts.Config
	if a.dispatch == nil {
		if cfg.Alerting.Enabled() {
			a.log.Warn("alerting was configured while running: restart to start paging", "file", path)
		}
		return nil
	}
	if !cfg.Alerting.Enabled() {
		a.log.Warn("alerting was removed from the file: restart to stop paging; the running routes stay", "file", path)
		return nil
	}
	tree, err := cfg.Alerting.Routing()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := a.dispatch.SetConfig(tree, cfg.Alerting.Config); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if !reflect.DeepEqual(cfg.Alerting.Receivers, running.Alerting.Receivers) || !reflect.DeepEqual(cfg.Alerting.Delivery, running.Alerting.Delivery) {
		a.log.Warn("receiver changes take effect at the next restart", "file", path)
	}
	a.log.Info("alerting configuration reloaded", "file", path, "people", len(cfg.Alerting.People),
		"schedules", len(cfg.Alerting.Schedules), "policies", len(cfg.Alerting.Policies))
	return nil
}

// fileStamp changes when the file does.
func fileStamp(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return "missing"
	}
	return fmt.Sprint(fi.ModTime().UnixNano(), fi.Size())
}
