package store

import (
	"fmt"
	"io"
	"os"

	bolt "go.etcd.io/bbolt"
)

// Backup writes a consistent copy of the whole database to w, while writes go on: it is the
// database as of one committed transaction. The copy opens with Open.
func (s *Store) Backup(w io.Writer) (int64, error) {
	var n int64
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("store: backup %s: %w", s.path, err)
	}
	return n, nil
}

// BackupFile writes a copy of the store at path to w when no process has it open (the
// appliance not running); with the appliance running, use its Backup (the console serves
// it). It fails at once with ErrLocked when another process holds the file, ErrCorrupt or
// ErrSchema when the file is not a store this binary reads.
func BackupFile(path string, w io.Writer) (int64, error) {
	switch fi, err := os.Stat(path); {
	case err != nil:
		return 0, fmt.Errorf("store: backup: %w", err)
	case fi.Size() == 0: // bbolt would try to initialise it, read-only
		return 0, fmt.Errorf("store: backup %s: %w: empty file", path, ErrCorrupt)
	}
	db, err := openDB("backup", path, &bolt.Options{ReadOnly: true, Timeout: backupLockTimeout})
	if err != nil {
		return 0, err
	}
	defer db.Close()
	s := &Store{path: path, db: db}
	var n int64
	err = s.view(func(tx *bolt.Tx) error {
		fresh, err := checkSchema(tx)
		switch {
		case err != nil:
			return err
		case fresh:
			return fmt.Errorf("%w: empty database", ErrSchema)
		}
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("store: backup %s: %w", path, err)
	}
	return n, nil
}
