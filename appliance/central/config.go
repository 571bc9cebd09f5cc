package central

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/appliance/store"
	"github.com/watchfloor/watchfloor/appliance/uplink"
)

// FieldError is one problem in the configuration, named by its YAML path relative to the
// central section.
type FieldError = store.FieldError

// Config is the central's uplink section.
type Config struct {
	// URLs of an external NATS cluster. Empty: central runs its own server (Server).
	URLs []string `yaml:"urls"`
	// User, Password and TLS authenticate central to an external cluster, which must give
	// it the JetStream API and subscriptions to its deliveries (docs/uplink.md).
	User     string            `yaml:"user"`
	Password watchfloor.Secret `yaml:"password"`
	TLS      TLSFiles          `yaml:"tls"`
	// Server is the embedded server, used without URLs.
	Server ServerConfig `yaml:"server"`
	// Streams is how the streams keep records.
	Streams StreamConfig `yaml:"streams"`
	// Durable is the name of central's durable consumer on every stream.
	Durable string `yaml:"durable"`
	// Batch is how many records a consumer asks for at once.
	Batch int `yaml:"batch"`
	// AckWait is how long a delivered record may wait for the sink before it is delivered
	// again.
	AckWait time.Duration `yaml:"ack_wait"`
	// ReorderWindow is how far, in sequence numbers of one site and kind, records may
	// arrive out of order (a retried window) before a missing one is counted as a gap. It
	// bounds the memory of the duplicate check, and the sequence state stored with every
	// batch: at most this many sequences per site and kind (store.MaxMarkSeen at most).
	ReorderWindow int `yaml:"reorder_window"`
}

// StreamConfig is the configuration of the six streams (one per kind).
type StreamConfig struct {
	Replicas   int           `yaml:"replicas"`   // 1 for one server, 3 for a cluster
	MaxAge     time.Duration `yaml:"max_age"`    // records are kept this long after they arrive
	MaxBytes   int64         `yaml:"max_bytes"`  // per stream; -1: no bound
	Duplicates time.Duration `yaml:"duplicates"` // JetStream's duplicate window
}

// ServerConfig is the embedded NATS server's.
type ServerConfig struct {
	Name     string `yaml:"name"`      // the server's name, unique in a cluster; default: the host name
	Listen   string `yaml:"listen"`    // client address appliances connect to, HOST:PORT (port -1: any)
	StoreDir string `yaml:"store_dir"` // JetStream's files, under the data directory
	// TLS is the server certificate and the CA of the appliances' client certificates.
	// With CAFile, an appliance must present a certificate that CA signed.
	TLS TLSFiles `yaml:"tls"`
	// Cluster joins other central servers (each its own watchfloor central) into one
	// JetStream cluster. Empty Listen: no cluster.
	Cluster ClusterConfig `yaml:"cluster"`
	// Sites are the appliances allowed to connect.
	Sites []Site `yaml:"sites"`
	// Internal is the user central's own client connects as; every server of a cluster
	// needs the same. Empty: drawn at random (a single server only).
	Internal Credentials `yaml:"internal"`
	// MaxMemory and MaxStore bound JetStream's memory and disk; 0: nats-server's defaults.
	MaxMemory int64 `yaml:"max_memory"`
	MaxStore  int64 `yaml:"max_store"`
}

// ClusterConfig is the embedded server's cluster.
type ClusterConfig struct {
	Name   string   `yaml:"name"`
	Listen string   `yaml:"listen"` // HOST:PORT for routes from the other servers
	Routes []string `yaml:"routes"` // nats-route://HOST:PORT of the others
}

// Site is an appliance allowed to connect: with a client certificate whose common name or
// a DNS name of which is Name, or with User and the password whose bcrypt hash is
// PasswordHash.
type Site struct {
	Name         string `yaml:"name"`
	User         string `yaml:"user"`
	PasswordHash string `yaml:"password_hash"` // bcrypt, as `htpasswd -nbB` or `watchfloor user` make
}

// Credentials are a user and its password.
type Credentials struct {
	User     string            `yaml:"user"`
	Password watchfloor.Secret `yaml:"password"`
}

// TLSFiles names PEM files: a CA, and a certificate with its key.
type TLSFiles struct {
	CAFile   string `yaml:"ca_file"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Server: ServerConfig{
			Listen:   "0.0.0.0:4222",
			StoreDir: "jetstream",
		},
		Streams: StreamConfig{
			Replicas:   1,
			MaxAge:     72 * time.Hour,
			MaxBytes:   -1,
			Duplicates: 10 * time.Minute,
		},
		Durable:       "central",
		Batch:         256,
		AckWait:       30 * time.Second,
		ReorderWindow: 65536,
	}
}

// Validate returns every problem of c.
func (c Config) Validate() []FieldError {
	var errs []FieldError
	bad := func(field, format string, args ...any) {
		errs = append(errs, FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if len(c.URLs) == 0 {
		for _, e := range c.Server.Validate() {
			e.Field = "server." + e.Field
			errs = append(errs, e)
		}
	}
	if c.Streams.Replicas < 1 || c.Streams.Replicas > 5 {
		bad("streams.replicas", "must be between 1 and 5, got %d", c.Streams.Replicas)
	}
	if c.Streams.MaxAge <= 0 {
		bad("streams.max_age", "must be positive, got %s", c.Streams.MaxAge)
	}
	if c.Streams.MaxBytes == 0 || c.Streams.MaxBytes < -1 {
		bad("streams.max_bytes", "must be positive, or -1 for no bound, got %d", c.Streams.MaxBytes)
	}
	if c.Streams.Duplicates < time.Second || c.Streams.Duplicates > c.Streams.MaxAge {
		bad("streams.duplicates", "must be between 1s and streams.max_age, got %s", c.Streams.Duplicates)
	}
	if uplink.CheckSite(c.Durable) != "" {
		bad("durable", "%q: must be [a-z0-9-]{1,63}", c.Durable)
	}
	if c.Batch < 1 || c.Batch > 10000 {
		bad("batch", "must be between 1 and 10000, got %d", c.Batch)
	}
	if c.AckWait < time.Second {
		bad("ack_wait", "must be at least 1s, got %s", c.AckWait)
	}
	if c.ReorderWindow < 1 || c.ReorderWindow > store.MaxMarkSeen {
		bad("reorder_window", "must be between 1 and %d, got %d", store.MaxMarkSeen, c.ReorderWindow)
	}
	return errs
}

// Validate returns every problem of the embedded server's configuration.
func (c ServerConfig) Validate() []FieldError {
	var errs []FieldError
	bad := func(field, format string, args ...any) {
		errs = append(errs, FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		bad("listen", "%q: must be HOST:PORT", c.Listen)
	}
	if c.StoreDir == "" {
		bad("store_dir", "required")
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		bad("tls", "cert_file and key_file go together")
	}
	if c.TLS.CAFile != "" && c.TLS.CertFile == "" {
		bad("tls.cert_file", "client certificates (tls.ca_file) need a server certificate")
	}
	if c.Cluster.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Cluster.Listen); err != nil {
			bad("cluster.listen", "%q: must be HOST:PORT", c.Cluster.Listen)
		}
		if c.Cluster.Name == "" {
			bad("cluster.name", "required with cluster.listen")
		}
		if c.Name == "" {
			bad("name", "required in a cluster (unique per server)")
		}
		if c.Internal.User == "" {
			bad("internal.user", "required in a cluster (the same on every server)")
		}
	}
	if (c.Internal.User == "") != (c.Internal.Password == "") {
		bad("internal", "user and password go together")
	}
	names, users := map[string]bool{}, map[string]bool{}
	for i, s := range c.Sites {
		f := fmt.Sprintf("sites[%d]", i)
		if msg := uplink.CheckSite(s.Name); msg != "" {
			bad(f+".name", "%s", msg)
		}
		if names[s.Name] {
			bad(f+".name", "%q twice", s.Name)
		}
		names[s.Name] = true
		if (s.User == "") != (s.PasswordHash == "") {
			bad(f, "user and password_hash go together")
		}
		if s.User != "" {
			if users[s.User] || s.User == c.Internal.User {
				bad(f+".user", "%q used twice", s.User)
			}
			users[s.User] = true
			if len(s.PasswordHash) < 4 || s.PasswordHash[0] != '$' || s.PasswordHash[1] != '2' {
				bad(f+".password_hash", "must be a bcrypt hash ($2a$/$2b$/$2y$)")
			}
		}
		if s.User == "" && c.TLS.CAFile == "" {
			bad(f, "no way in: give it a user and password_hash, or set tls.ca_file for client certificates")
		}
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

// loadPool reads a PEM CA file.
func loadPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate", file)
	}
	return pool, nil
}

// clientTLS is the TLS of central's client to an external cluster; nil without files.
func (t TLSFiles) clientTLS() (*tls.Config, error) {
	if t.CAFile == "" && t.CertFile == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		pool, err := loadPool(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file: %w", err)
		}
		cfg.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls.cert_file: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
