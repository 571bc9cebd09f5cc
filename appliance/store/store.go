// Package store is the appliance's embedded database, on bbolt: the last state of every
// device, the events, the metric series as raw samples plus 5-minute and 1-hour rollups, and
// the flow collector's 1-minute and 1-hour flow rollups (flows.go), the correlator's
// alerts, their histories and the silences (alerts.go), and the on-call dispatcher's state,
// outbox, incidents and notification log (notify.go).
//
// Writes are grouped: every Write is queued, one committer goroutine commits all the batches
// waiting (up to Config.MaxBatch records) in one transaction with one fsync, and then returns
// to every writer. Write returns only once its batch is durable. Reads run in bbolt read
// transactions, concurrently with the writer. Rollups are updated in the same transaction as
// the raw samples they summarise, so they always agree with what was committed. Run deletes
// what is older than the retention of its kind, a bounded chunk per transaction.
//
// Event IDs come from the events bucket's sequence: they increase with commit order and
// survive restarts. The store assumes that event times follow commit order to within ten
// minutes (the collectors stamp events when they see them, and the appliance commits them
// within seconds): EventQuery.Since is answered by a binary search over IDs, and retention
// deletes events from the lowest ID up to the first one that is recent enough.
//
// Each series has its own nested bucket in each of raw, 5m and 1h, keyed by big-endian
// unix second, so a range read is one seek and a sequential scan, and retention deletes a
// prefix. The price is bbolt's copy-on-write: a sample dirties a page in each of its three
// trees, so a commit writes a few pages per distinct series it touches (see codec.go for
// the layout, BenchmarkGroupCommit for the cost).
package store

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Errors callers can branch on. They are wrapped: test with errors.Is.
var (
	ErrClosed  = errors.New("store is closed")
	ErrCorrupt = errors.New("not a valid watchfloor store (corrupt, or not a bbolt file)")
	ErrSchema  = errors.New("unsupported store schema")
	ErrLocked  = errors.New("store is in use by another process")
	ErrInvalid = errors.New("invalid record")
)

// schemaVersion is the layout this binary reads and writes (see codec.go).
const schemaVersion = 1

// Bucket names.
var (
	bMeta    = []byte("meta")
	bDevices = []byte("devices")
	bEvents  = []byte("events")
	bRaw     = []byte("raw")
	b5m      = []byte("5m")
	b1h      = []byte("1h")
	bFlows1m = []byte("flows1m")
	bFlows1h = []byte("flows1h")

	bAlerts       = []byte("alerts")
	bAlertsOpen   = []byte("alerts_open")
	bAlertHistory = []byte("alert_history")
	bSilences     = []byte("silences")

	bNotifyState     = []byte("notify_state")
	bNotifyOutbox    = []byte("notify_outbox")
	bNotifyIncidents = []byte("notify_incidents")
	bNotifyLog       = []byte("notify_log")

	bAudit = []byte("audit")

	kSchema = []byte("schema")

	allBuckets = [][]byte{bMeta, bDevices, bEvents, bRaw, b5m, b1h, bFlows1m, bFlows1h,
		bAlerts, bAlertsOpen, bAlertHistory, bSilences,
		bNotifyState, bNotifyOutbox, bNotifyIncidents, bNotifyLog,
		bAudit,
		bSiteIndex, bSiteAlerts, bSiteAlertsOpen, bSiteAlertsUpdated, bSiteHealth, bUplinkMarks}
)

const (
	// lockTimeout is how long Open waits for another process to release the file.
	lockTimeout = time.Second
	// backupLockTimeout is how long BackupFile waits for it.
	backupLockTimeout = 200 * time.Millisecond
	// queueLen is how many Write calls can wait for the committer before Write blocks.
	queueLen = 256
	// initialMmap is the address space mapped at open. bbolt must wait for every reader to
	// finish before it remaps a growing file; mapping ahead makes that rare, so reads do
	// not stall ingest. It is address space, not memory, and the file does not grow to it.
	initialMmap = 1 << 30
)

// Store is the appliance's bbolt database. Its methods are safe for concurrent use.
type Store struct {
	path string
	cfg  Config
	db   *bolt.DB
	log  *slog.Logger
	reg  prometheus.Registerer
	m    *metrics

	now func() time.Time // injected in tests

	queue     chan *request
	committed chan struct{} // closed when the committer has returned

	mu      sync.RWMutex // guards closed against senders
	closed  bool
	senders sync.WaitGroup // Write calls between the closed check and their send

	closeOnce sync.Once
	closeErr  error

	size    atomic.Int64 // database size after the last transaction
	pending atomic.Int64 // batches handed to Write and not yet answered

	outboxLen atomic.Int64 // entries in notify_outbox (notify.go)

	// chunk bounds the work of one retention transaction (retentionChunk; tests lower it).
	chunk int

	// Owned by the committer goroutine.
	lastErrLog   time.Time
	errNotLogged int
}

// Open opens the store at path, creating it when the file does not exist. It fails with
// ErrLocked when another process has it open, ErrCorrupt when the file is not a bbolt
// database, and ErrSchema when it was written by a newer watchfloor. log and reg may be nil.
func Open(path string, cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Store, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		all := make([]error, len(errs))
		for i, e := range errs {
			all[i] = e
		}
		return nil, fmt.Errorf("store: open %s: invalid config: %w", path, errors.Join(all...))
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	db, err := openDB("open", path, &bolt.Options{
		Timeout:         lockTimeout,
		NoFreelistSync:  true, // rebuilt at open; fewer pages written per commit
		FreelistType:    bolt.FreelistMapType,
		InitialMmapSize: initialMmap,
	})
	if err != nil {
		return nil, err
	}
	s := &Store{
		path:      path,
		cfg:       cfg,
		db:        db,
		log:       log.With("component", "store"),
		reg:       reg,
		now:       time.Now,
		queue:     make(chan *request, queueLen),
		chunk:     retentionChunk,
		committed: make(chan struct{}),
	}
	if err := s.init(); err != nil {
		_ = db.Close()
		return nil, err
	}
	s.m = newMetrics(
		func() float64 { return float64(s.pending.Load()) },
		func() float64 { return float64(s.size.Load()) },
		func() float64 { return float64(s.outboxLen.Load()) },
	)
	if err := s.m.register(reg); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	go s.commitLoop()
	s.log.Info("store opened", "path", path, "size_bytes", s.size.Load())
	return s, nil
}

// openDB opens the bbolt file and turns its failures into the store's errors, naming path.
// action names what the caller is doing, for the message.
func openDB(action, path string, opts *bolt.Options) (db *bolt.DB, err error) {
	defer func() {
		// bbolt trusts the pages it maps; a damaged file can make it panic.
		if p := recover(); p != nil {
			db, err = nil, fmt.Errorf("store: %s %s: %w: %v", action, path, ErrCorrupt, p)
		}
	}()
	db, err = bolt.Open(path, 0o600, opts)
	switch {
	case err == nil:
		return db, nil
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("store: %s %s: %w (lock not acquired within %s)", action, path, ErrLocked, opts.Timeout)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum),
		errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrInvalidMapping):
		return nil, fmt.Errorf("store: %s %s: %w: %w", action, path, ErrCorrupt, err)
	default:
		return nil, fmt.Errorf("store: %s %s: %w", action, path, err)
	}
}

// init checks the schema of an existing store, or writes it into a new one, and creates the
// buckets. A store of a newer schema is not touched.
func (s *Store) init() error {
	fresh := false
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		fresh, err = checkSchema(tx)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: open %s: %w", s.path, err)
	}
	err = s.update(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		if fresh {
			if err := tx.Bucket(bMeta).Put(kSchema, u64(schemaVersion)); err != nil {
				return err
			}
		}
		s.size.Store(tx.Size())
		s.outboxLen.Store(countOutbox(tx))
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: open %s: %w", s.path, err)
	}
	return nil
}

// checkSchema reports whether tx is an empty database, and fails unless it is one or a store
// of this binary's schema.
func checkSchema(tx *bolt.Tx) (fresh bool, err error) {
	meta := tx.Bucket(bMeta)
	if meta == nil {
		empty := true
		_ = tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil })
		if !empty {
			return false, fmt.Errorf("%w: a bbolt file but not a watchfloor store (no schema version)", ErrSchema)
		}
		return true, nil
	}
	v := meta.Get(kSchema)
	if len(v) != 8 {
		return false, fmt.Errorf("%w: schema version missing or malformed", ErrCorrupt)
	}
	switch n := bigEndian(v); {
	case n > schemaVersion:
		return false, fmt.Errorf("%w: the store has schema version %d, newer than the %d this binary supports; run a newer watchfloor or restore a backup", ErrSchema, n, schemaVersion)
	case n < schemaVersion:
		return false, fmt.Errorf("%w: the store has schema version %d, older than any this binary supports (%d)", ErrSchema, n, schemaVersion)
	}
	return false, nil
}

// view runs fn in a read transaction. A closed store gives ErrClosed, a page that makes
// bbolt panic ErrCorrupt.
func (s *Store) view(fn func(*bolt.Tx) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", ErrCorrupt, p)
		}
	}()
	err = s.db.View(fn)
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// update runs fn in a write transaction, with view's error mapping.
func (s *Store) update(fn func(*bolt.Tx) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", ErrCorrupt, p)
		}
	}()
	err = s.db.Update(fn)
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// Path is the file of the store.
func (s *Store) Path() string { return s.path }

// Close commits every batch already handed to Write, waits for those writers, and closes the
// file. Writes after Close fail with ErrClosed. Close is idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.senders.Wait() // the committer keeps draining, so blocked senders get through
		close(s.queue)
		<-s.committed
		s.m.unregister(s.reg)
		if err := s.db.Close(); err != nil {
			s.closeErr = fmt.Errorf("store: close: %w", err)
			return
		}
		s.log.Info("store closed", "path", s.path)
	})
	return s.closeErr
}

// Check walks the whole database and reports the first inconsistency bbolt finds, wrapped
// in ErrCorrupt. It runs in a read transaction: slow on a large store, but it does not stop
// ingest.
func (s *Store) Check() error {
	err := s.view(func(tx *bolt.Tx) error {
		var first error
		for err := range tx.Check() { // drained: the checker goroutine uses tx until it closes
			if first == nil {
				first = fmt.Errorf("%w: %w", ErrCorrupt, err)
			}
		}
		return first
	})
	if err != nil {
		return fmt.Errorf("store: check %s: %w", s.path, err)
	}
	return nil
}
