// Package distrib carries what central distributes to the appliances — rule packs, lists
// (threat intelligence) and silences — over the NATS link the appliances already have to
// central, with core NATS request/reply (an appliance has no JetStream API).
//
// Central's Publisher reads a rules directory and a lists directory every Scan, checks them
// with the rules package (each alone and both together), and offers what checks as a
// bundle with a version per kind that only grows, bumped when the content's SHA-256 digest
// changes. An appliance's Subscriber asks on wf.<site>.dist what differs from what it holds,
// fetches it in chunks, verifies the digest, has its Applier check and apply it, keeps it
// under dataDir/dist/ (so a restart without central keeps it), and reports the applied
// version back in its health record (Applied). Central tells a site of a new version on
// wfd.<site>; the Subscriber also asks when its connection is (re)established and every
// PollEvery. See docs/distrib.md.
package distrib

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/watchfloor/watchfloor/appliance/store"
)

// Kinds distributed.
const (
	KindRules    = "rules"
	KindLists    = "lists"
	KindSilences = "silences"
)

// kinds is every kind, in the order Applied and Offered list them.
var kinds = []string{KindRules, KindLists, KindSilences}

func validKind(k string) bool { return k == KindRules || k == KindLists || k == KindSilences }

// Bounds of what travels. Both sides refuse anything over them.
const (
	// MaxBundleBytes bounds one kind's content (all files of a rules or lists bundle, or
	// one site's silences as JSON).
	MaxBundleBytes = 64 << 20
	// MaxFiles bounds the files of a bundle.
	MaxFiles = 10000
	// MaxPathLen bounds a file's path in a bundle.
	MaxPathLen = 512
	// MaxSilences bounds the silences sent to one site.
	MaxSilences = 10000
	// ChunkBytes is the most content one reply carries (NATS's default max payload is
	// 1 MiB; a reply's JSON carries the bytes in base64).
	ChunkBytes = 512 << 10
	// maxRequestBytes bounds a request central decodes.
	maxRequestBytes = 64 << 10
	// maxReplyBytes bounds a reply an appliance decodes: a chunk in base64 and its frame.
	maxReplyBytes = ChunkBytes*4/3 + 64<<10
)

// Timing of the Subscriber.
const (
	// PollEvery is how often an appliance asks even without a notification.
	PollEvery = 60 * time.Second
	// connCheck is how often both sides look whether their connection changed.
	connCheck = time.Second
	// requestTimeout bounds one request's wait for its reply.
	requestTimeout = 5 * time.Second
)

// SourceConfig is central's `central.distribute` section.
type SourceConfig struct {
	// Rules is a rules directory (rule files, lists/, lists.yaml) sent to every appliance;
	// "" none.
	Rules string `yaml:"rules"`
	// Lists is a directory of list files (NAME.txt, lists.yaml): threat intelligence,
	// applied under lists/ of the rules; "" none.
	Lists string `yaml:"lists"`
	// Silences sends central's silences to the sites they match.
	Silences bool `yaml:"silences"`
	// Scan is how often the directories are read again (and expired silences dropped).
	Scan time.Duration `yaml:"scan"`
}

// DefaultSourceConfig returns the defaults: nothing distributed, directories read every 10 s.
func DefaultSourceConfig() SourceConfig { return SourceConfig{Scan: 10 * time.Second} }

// FieldError is one problem in the configuration, named by its YAML path relative to the
// distribute section.
type FieldError = store.FieldError

// Validate returns every problem of c. The directories must exist when configured.
func (c SourceConfig) Validate() []store.FieldError {
	var errs []FieldError
	bad := func(field, format string, args ...any) {
		errs = append(errs, FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	for _, d := range []struct{ field, dir string }{{"rules", c.Rules}, {"lists", c.Lists}} {
		if d.dir == "" {
			continue
		}
		st, err := os.Stat(d.dir)
		switch {
		case err != nil:
			bad(d.field, "%v", err)
		case !st.IsDir():
			bad(d.field, "%s is not a directory", d.dir)
		}
	}
	if c.Rules != "" && c.Rules == c.Lists {
		bad("lists", "must not be the rules directory")
	}
	if c.Scan < 100*time.Millisecond {
		bad("scan", "must be at least 100ms, got %s", c.Scan)
	}
	return errs
}

func joinFieldErrors(errs []FieldError) error {
	all := make([]error, len(errs))
	for i, e := range errs {
		all[i] = e
	}
	return errors.Join(all...)
}
