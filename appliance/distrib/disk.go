package distrib

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Both sides keep a directory: state.json (per kind: version, digest, when) and the content
// of each kind's version in force as <kind>-<digest>.wfd. A new content file is written
// first (under a temporary name, then renamed), then state.json the same way: state.json
// is the commit point, and names only complete files. Files it no longer names are removed.

const stateFile = "state.json"

// kept is what a side keeps of a kind.
type kept struct {
	Version uint64    `json:"version"`
	Digest  string    `json:"digest"`
	At      time.Time `json:"at"` // when the version was made (central) or applied (appliance)
}

// loadState reads dir/state.json; none yet is an empty state.
func loadState(dir string) (map[string]kept, error) {
	st := map[string]kept{}
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%s: corrupt: %w", filepath.Join(dir, stateFile), err)
	}
	for k, v := range st {
		if !validKind(k) || checkDigest(v.Digest) != nil {
			return nil, fmt.Errorf("%s: corrupt: kind %q", filepath.Join(dir, stateFile), k)
		}
	}
	return st, nil
}

// saveState writes dir/state.json atomically and removes content files it does not name.
func saveState(dir string, st map[string]kept) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := writeAtomic(dir, stateFile, b); err != nil {
		return err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	for _, e := range ents {
		n := e.Name()
		if strings.HasPrefix(n, ".") && strings.Contains(n, ".tmp-") {
			_ = os.Remove(filepath.Join(dir, n)) // left by a crash mid-write
			continue
		}
		if !strings.HasSuffix(n, ".wfd") {
			continue
		}
		k, d, _ := strings.Cut(strings.TrimSuffix(n, ".wfd"), "-")
		if v, ok := st[k]; !ok || v.Digest != d {
			_ = os.Remove(filepath.Join(dir, n))
		}
	}
	return nil
}

// contentName is the file of a kind's content.
func contentName(kind, digest string) string { return kind + "-" + digest + ".wfd" }

// readContent reads a kind's content and checks its digest.
func readContent(dir, kind, dg string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(dir, contentName(kind, dg)))
	if err != nil {
		return nil, err
	}
	if got := digest(b); got != dg {
		return nil, fmt.Errorf("%s: digest %s, want %s (corrupt)", contentName(kind, dg), got, dg)
	}
	return b, nil
}

// writeContent writes a kind's content (atomically; a file already there is complete).
func writeContent(dir, kind string, content []byte) error {
	name := contentName(kind, digest(content))
	if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
		return nil
	}
	return writeAtomic(dir, name, content)
}

// writeAtomic writes dir/name through a temporary file, synced, then renamed.
func writeAtomic(dir, name string, data []byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, name))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
