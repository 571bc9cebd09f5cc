package appliance

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/watchfloor/watchfloor/appliance/central"
	"github.com/watchfloor/watchfloor/appliance/distrib"
	"github.com/watchfloor/watchfloor/appliance/report"
	"github.com/watchfloor/watchfloor/appliance/store"
	"github.com/watchfloor/watchfloor/appliance/uplink"
	"github.com/watchfloor/watchfloor/collectors/flow"
	"github.com/watchfloor/watchfloor/collectors/flow/rollup"
	"github.com/watchfloor/watchfloor/collectors/packet"
	"github.com/watchfloor/watchfloor/collectors/snmp"
	"github.com/watchfloor/watchfloor/collectors/snmp/trap"
	"github.com/watchfloor/watchfloor/console"
	"github.com/watchfloor/watchfloor/correlator"
	"github.com/watchfloor/watchfloor/correlator/alerts"
	"github.com/watchfloor/watchfloor/correlator/topology"
)

// Config is the appliance's configuration file. Every key is documented in docs/config.md.
type Config struct {
	// Role is what this process is: an appliance at a backbone site (the default), or the
	// central command center that the appliances' uplinks feed (docs/uplink.md).
	Role         string           `yaml:"role"`
	Site         string           `yaml:"site"`
	PollInterval time.Duration    `yaml:"poll_interval"`
	SNMP         SNMPConfig       `yaml:"snmp"`
	Devices      []snmp.Target    `yaml:"devices"`
	Traps        trap.Config      `yaml:"traps"`
	Flow         FlowConfig       `yaml:"flow"`
	Packets      packet.Config    `yaml:"packets"`
	Correlator   CorrelatorConfig `yaml:"correlator"`
	Topology     topology.Config  `yaml:"topology"`
	Store        store.Config     `yaml:"store"`
	Console      console.Config   `yaml:"console"`
	Alerting     AlertingConfig   `yaml:"alerting,omitempty"` // docs/alerting.md
	Report       *report.Config   `yaml:"report,omitempty"`   // the monthly report's schedule: docs/report.md
	// Uplink sends an appliance's records to central; off without urls.
	Uplink uplink.Config `yaml:"uplink"`
	// Central is the command center's receiver; used with role central.
	Central CentralConfig `yaml:"central"`
	// IngestQueue is how many collector batches may wait for the store before new ones are
	// dropped (and counted).
	IngestQueue int `yaml:"ingest_queue"`
}

// The roles.
const (
	RoleAppliance = "appliance"
	RoleCentral   = "central"
)

// CentralConfig is central's block: the NATS server or cluster the appliances publish to,
// its streams and consumers.
type CentralConfig struct {
	central.Config `yaml:",inline"`
	// Distribute is what central sends its appliances: rules, lists and silences
	// (docs/distrib.md).
	Distribute distrib.SourceConfig `yaml:"distribute"`
}

// IsCentral says whether this configuration runs the central command center.
func (c Config) IsCentral() bool { return c.Role == RoleCentral }

// UplinkEnabled says whether an appliance sends its records to central.
func (c Config) UplinkEnabled() bool { return !c.IsCentral() && len(c.Uplink.URLs) > 0 }

// SNMPConfig tunes the poller for every device.
type SNMPConfig struct {
	Timeout        time.Duration `yaml:"timeout"`
	Retries        int           `yaml:"retries"`
	Workers        int           `yaml:"workers"`
	MaxRepetitions uint32        `yaml:"max_repetitions"`
	DownAfter      int           `yaml:"down_after"`
}

// FlowConfig is the flow collector's block: its listeners, exporters and networks, and the
// rollups made of what it receives.
type FlowConfig struct {
	flow.Config `yaml:",inline"`
	Rollups     rollup.Config `yaml:"rollups"`
}

// CorrelatorConfig is the correlator's block: the rules, the engine, the alert lifecycle.
type CorrelatorConfig struct {
	// Rules is a directory of rule files (and lists/): reloaded when it changes, keeping the
	// last good set. Empty: the built-in detection pack.
	Rules             string `yaml:"rules"`
	correlator.Config `yaml:",inline"`
	Alerts            alerts.Config `yaml:"alerts"`
}

// Enabled says whether any flow listener is configured.
func (f FlowConfig) Enabled() bool { return len(f.NetFlow)+len(f.SFlow) > 0 }

// DefaultConfig is the configuration before the file is read: every default in one place.
func DefaultConfig() Config {
	p := snmp.DefaultConfig()
	return Config{
		Role:         RoleAppliance,
		PollInterval: p.Interval,
		SNMP: SNMPConfig{
			Timeout:        p.Timeout,
			Retries:        p.Retries,
			Workers:        p.Workers,
			MaxRepetitions: p.MaxRepetitions,
			DownAfter:      p.DownAfter,
		},
		Flow:        FlowConfig{Config: flow.DefaultConfig(), Rollups: rollup.DefaultConfig()},
		Packets:     packet.DefaultConfig(),
		Correlator:  CorrelatorConfig{Config: correlator.DefaultConfig(), Alerts: alerts.DefaultConfig()},
		Topology:    topology.DefaultConfig(),
		Store:       store.DefaultConfig(),
		Console:     console.DefaultConfig(),
		Uplink:      uplink.DefaultConfig(),
		Central:     CentralConfig{Config: central.DefaultConfig(), Distribute: distrib.DefaultSourceConfig()},
		IngestQueue: 4096,
	}
}

// Poller is the collectors/snmp configuration this config describes.
func (c Config) Poller() snmp.Config {
	return snmp.Config{
		Site:           c.Site,
		Interval:       c.PollInterval,
		Timeout:        c.SNMP.Timeout,
		Retries:        c.SNMP.Retries,
		Workers:        c.SNMP.Workers,
		MaxRepetitions: c.SNMP.MaxRepetitions,
		DownAfter:      c.SNMP.DownAfter,
		Targets:        c.Devices,
	}
}

// fieldError is a problem with one field, by its YAML path ("devices[1].snmp.version").
type fieldError struct{ field, msg string }

// validate lists every problem in the configuration, by field path.
func (c Config) validate() []fieldError {
	var errs []fieldError
	add := func(prefix string, list []string) {
		for _, e := range list {
			field, msg, _ := strings.Cut(e, ": ")
			errs = append(errs, fieldError{prefix + field, msg})
		}
	}
	if c.Site == "" {
		errs = append(errs, fieldError{"site", "required: the name of this backbone site"})
	}
	if c.IngestQueue < 1 {
		errs = append(errs, fieldError{"ingest_queue", "must be at least 1"})
	}
	add("", texts(c.Poller().Validate()))
	add("traps.", texts(c.Traps.Validate()))
	add("flow.", texts(c.Flow.Validate()))
	add("flow.rollups.", texts(c.Flow.Rollups.Validate()))
	add("packets.", texts(c.Packets.Validate()))
	add("correlator.", texts(c.Correlator.Config.Validate()))
	add("correlator.alerts.", texts(c.Correlator.Alerts.Validate()))
	add("topology.", texts(c.Topology.Validate()))
	add("store.", texts(c.Store.Validate()))
	add("console.", texts(c.Console.Validate()))
	errs = append(errs, c.Alerting.validate()...)
	if c.Report != nil {
		add("report.", texts(c.Report.Validate()))
	}
	switch c.Role {
	case RoleAppliance:
		if len(c.Uplink.URLs) > 0 {
			add("uplink.", texts(c.uplinkConfig().Validate()))
		}
	case RoleCentral:
		add("central.", texts(c.Central.Validate()))
		add("central.distribute.", texts(c.Central.Distribute.Validate()))
	default:
		errs = append(errs, fieldError{"role", fmt.Sprintf("%q: must be appliance or central", c.Role)})
	}
	return errs
}

// uplinkConfig is the uplink block with its site defaulting to the appliance's.
func (c Config) uplinkConfig() uplink.Config {
	u := c.Uplink
	if u.Site == "" {
		u.Site = c.Site
	}
	return u
}

// ReportOptions are the monthly report's options from the configuration: the report block's
// policy and time zone, the console's external URL, and (when fromFile, the configuration
// being the site's) the devices polled with SNMPv1/v2c.
func (c Config) ReportOptions(fromFile bool) (report.Options, error) {
	o := report.Options{Location: time.UTC, ConsoleURL: c.Console.ExternalURL}
	if c.Report != nil {
		o.Policy, o.Location = c.Report.Policy, c.Report.Location()
	}
	if fromFile {
		o.PolledV1V2c = []string{}
		for _, d := range c.Devices {
			if v := d.Credentials.Version; v == "1" || v == "2c" {
				o.PolledV1V2c = append(o.PolledV1V2c, d.Name)
			}
		}
	}
	return o, nil
}

func texts[E error](errs []E) []string {
	out := make([]string, len(errs))
	for i, e := range errs {
		out[i] = e.Error()
	}
	return out
}

// ConfigError lists every problem found in a configuration file; each line names the file,
// the line and the field.
type ConfigError struct {
	File     string
	Problems []string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("config %s: %d problem(s):\n  %s", e.File, len(e.Problems), strings.Join(e.Problems, "\n  "))
}

// LoadConfig reads and validates a configuration file. Unknown keys are errors. On any
// problem it returns a *ConfigError listing all of them.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: read: %w", err)
	}
	return ParseConfig(path, data)
}

// yamlLine finds "line N:" in yaml.v3's messages.
var yamlLine = regexp.MustCompile(`^line (\d+): (.*)$`)

// ParseConfig decodes and validates a configuration; name is used in error messages.
func ParseConfig(name string, data []byte) (Config, error) {
	cfg := DefaultConfig()
	cerr := &ConfigError{File: name}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		cerr.Problems = append(cerr.Problems, yamlProblem(name, err)...)
		return Config{}, cerr
	}
	if len(root.Content) == 0 {
		cerr.Problems = append(cerr.Problems, name+":1: the file is empty")
		return Config{}, cerr
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		cerr.Problems = append(cerr.Problems, yamlProblem(name, err)...)
		return Config{}, cerr
	}
	for _, fe := range cfg.validate() {
		cerr.Problems = append(cerr.Problems, fmt.Sprintf("%s:%d: %s: %s", name, lineOf(&root, fe.field), fe.field, fe.msg))
	}
	if len(cerr.Problems) > 0 {
		return Config{}, cerr
	}
	return cfg, nil
}

// yamlProblem turns a yaml.v3 error into "file:line: message" lines.
func yamlProblem(name string, err error) []string {
	var te *yaml.TypeError
	msgs := []string{err.Error()}
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs[0] = strings.TrimPrefix(msgs[0], "yaml: ")
	}
	out := make([]string, 0, len(msgs))
	for _, m := range msgs {
		if g := yamlLine.FindStringSubmatch(m); g != nil {
			out = append(out, fmt.Sprintf("%s:%s: %s", name, g[1], friendlier(g[2])))
		} else {
			out = append(out, fmt.Sprintf("%s: %s", name, m))
		}
	}
	return out
}

// friendlier rewrites yaml.v3's Go-flavoured messages in the config's own terms.
func friendlier(msg string) string {
	if f, _, ok := strings.Cut(strings.TrimPrefix(msg, "field "), " not found in type "); ok && strings.HasPrefix(msg, "field ") {
		return fmt.Sprintf("unknown key %q", f)
	}
	return msg
}

// lineOf finds the line of a field path such as "devices[1].snmp.auth_protocol" in a YAML
// document; when the field is absent it returns the line of the closest parent.
func lineOf(root *yaml.Node, path string) int {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, part := range strings.Split(path, ".") {
		key, idx := part, -1
		if i := strings.IndexByte(part, '['); i >= 0 && strings.HasSuffix(part, "]") {
			key = part[:i]
			idx, _ = strconv.Atoi(part[i+1 : len(part)-1])
		}
		next := mapValue(n, key)
		if next == nil {
			return line
		}
		n, line = next, next.Line
		if idx >= 0 {
			if n.Kind != yaml.SequenceNode || idx >= len(n.Content) {
				return line
			}
			n = n.Content[idx]
			line = n.Line
		}
	}
	return line
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			v := n.Content[i+1]
			if v.Kind == yaml.ScalarNode || v.Kind == yaml.AliasNode {
				// Point at the key's line: a scalar's value is on it anyway.
				return &yaml.Node{Kind: v.Kind, Line: n.Content[i].Line, Content: v.Content, Value: v.Value}
			}
			return v
		}
	}
	return nil
}
