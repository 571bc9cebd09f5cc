package appliance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/appliance/store"
)

// Backup copies the store of dataDir to file, consistently. When no watchfloor runs on the
// directory it reads the file itself; when one does (the store is locked), it asks the
// running console for a snapshot over its API, with the given token or the one in dataDir.
// The copy is written to a temporary file and renamed, so file is whole or absent. via says
// which way was taken.
func Backup(dataDir, file string, token watchfloor.Secret) (n int64, via string, err error) {
	tmp, err := os.CreateTemp(filepath.Dir(file), ".watchfloor-backup-*")
	if err != nil {
		return 0, "", fmt.Errorf("backup: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	via = "store file"
	n, err = store.BackupFile(filepath.Join(dataDir, DBFile), tmp)
	if errors.Is(err, store.ErrLocked) {
		via = "running server"
		if _, serr := tmp.Seek(0, io.SeekStart); serr != nil {
			return 0, via, serr
		}
		if serr := tmp.Truncate(0); serr != nil {
			return 0, via, serr
		}
		n, err = backupFromServer(dataDir, tmp, token)
	}
	if err != nil {
		return 0, via, err
	}
	if err = tmp.Sync(); err != nil {
		return 0, via, err
	}
	if err = tmp.Close(); err != nil {
		return 0, via, err
	}
	if err = os.Chmod(tmp.Name(), 0o600); err != nil {
		return 0, via, err
	}
	return n, via, os.Rename(tmp.Name(), file)
}

func backupFromServer(dataDir string, w io.Writer, token watchfloor.Secret) (int64, error) {
	addr, err := os.ReadFile(filepath.Join(dataDir, listenFile))
	if err != nil {
		return 0, fmt.Errorf("backup: the store is in use but the running server's address is unknown: %w", err)
	}
	if token == "" {
		b, err := os.ReadFile(filepath.Join(dataDir, TokenFile))
		if err != nil {
			return 0, fmt.Errorf("backup: no token (set WATCHFLOOR_TOKEN): %w", err)
		}
		token = watchfloor.Secret(strings.TrimSpace(string(b)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+strings.TrimSpace(string(addr))+"/api/v1/backup", nil)
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+token.Reveal())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("backup: ask the running server: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("backup: the running server answered %s", resp.Status)
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("backup: download: %w", err)
	}
	if cl := resp.ContentLength; cl >= 0 && n != cl {
		return n, fmt.Errorf("backup: short download: %d of %d bytes", n, cl)
	}
	return n, nil
}
