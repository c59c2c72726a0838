//go:build !linux

package dirstore

import (
	"fmt"
	"os"
	"path/filepath"
)

// fdatasync syncs a file (fully: fdatasync is Linux's).
func fdatasync(f *os.File) error {
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", filepath.Base(f.Name()), err)
	}
	return nil
}
