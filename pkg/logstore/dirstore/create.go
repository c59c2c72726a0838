package dirstore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/whycache/whycache/pkg/logstore"
)

// ensureLog makes sure that the log dir/name exists, creating it when create
// is set. A log is created whole or not at all: its files are written in a
// temporary directory that is then renamed into place, so that no process
// ever sees a log without its identity.
func ensureLog(dir, name string, create bool) error {
	logDir := filepath.Join(dir, name)
	_, err := os.Stat(filepath.Join(logDir, identityFile))
	switch {
	case err == nil:
		return nil
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("stat log: %w", err)
	case !create:
		return fmt.Errorf("no log at %s: %w", logDir, logstore.ErrNotFound)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create directory: %w", err)
	}
	tmp, err := os.MkdirTemp(dir, tmpPrefix+name+"-")
	if err != nil {
		return fmt.Errorf("create log: %w", err)
	}
	defer os.RemoveAll(tmp) // empty, or gone, once renamed into place
	if err := writeNewLog(tmp); err != nil {
		return fmt.Errorf("create log: %w", err)
	}
	if err := os.Rename(tmp, logDir); err != nil {
		if _, serr := os.Stat(filepath.Join(logDir, identityFile)); serr == nil {
			return nil // another process created it first
		}
		return fmt.Errorf("create log: rename into place: %w", err)
	}
	return syncDir(dir)
}

// writeNewLog writes the files of an empty log in dir and syncs them.
func writeNewLog(dir string) error {
	first := segRef{base: 1}
	files := []struct {
		name string
		data []byte
	}{
		{identityFile, encodeIdentity(logstore.NewLogID())},
		{horizonFile, encodeHorizon(0)},
		{headFile, head{active: first.base, committed: segHeaderLen}.encode()},
		{first.name(), segHeader{base: first.base}.encode()},
		{lockFile, nil},
		{rewriteLockFile, nil},
	}
	for _, f := range files {
		if err := writeSynced(filepath.Join(dir, f.name), f.data); err != nil {
			return err
		}
	}
	if err := os.Mkdir(filepath.Join(dir, nodesDir), 0o755); err != nil {
		return fmt.Errorf("create nodes directory: %w", err)
	}
	return syncDir(dir)
}

// writeSynced creates the file path with data and syncs it.
func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("create %s: %w", filepath.Base(path), err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return nil
}
