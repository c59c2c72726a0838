package cachefile

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"
)

// Sentinel errors. Every error the package returns wraps one of them (with
// the path, the key or the offset involved as context); test for them with
// errors.Is.
var (
	// ErrNotFound means that the key is not in the file.
	ErrNotFound = errors.New("cachefile: key not found")
	// ErrNoFile means that there is no cache file at the path yet (the
	// writer has not created it, or a bootstrap has not installed it). It
	// also matches fs.ErrNotExist.
	ErrNoFile = fmt.Errorf("cachefile: no cache file yet: %w", fs.ErrNotExist)
	// ErrLocked means that another writer, in this process or another, holds
	// the file's lock (in the private directory beside it, PrivateDirName);
	// the error says who holds it.
	ErrLocked = errors.New("cachefile: locked by another writer")
	// ErrCorrupt means that a file fails a structural or checksum check, or
	// that a read faulted because the file was truncated or overwritten in
	// place after it was mapped. The wrapping error says what failed and
	// where.
	ErrCorrupt = errors.New("cachefile: corrupt file")
	// ErrTooLarge means that a key or value is over the configured (or the
	// format's) size limit. Nothing of the batch that held it was applied.
	ErrTooLarge = errors.New("cachefile: over a size limit")
	// ErrInvalid means that an argument is malformed: an empty key, a delete
	// that carries a value, an out-of-range option, an unsealed file given to
	// Replace.
	ErrInvalid = errors.New("cachefile: invalid argument")
	// ErrIdentityMismatch means that the file belongs to another log than the
	// one the writer was opened for.
	ErrIdentityMismatch = errors.New("cachefile: log identity mismatch")
	// ErrClosed means that the reader or writer has been closed.
	ErrClosed = errors.New("cachefile: closed")
	// ErrVersion means that the file's format version, or one of its
	// incompatible feature flags, is unknown to this implementation.
	ErrVersion = errors.New("cachefile: unsupported format version")
)

// corruptf returns an error wrapping ErrCorrupt.
func corruptf(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrCorrupt)
}

// quoteKey formats a key for error messages and logs: Go-quoted, and cut to
// its first 64 bytes (with its length) when longer.
func quoteKey(key []byte) string {
	const max = 64
	if len(key) <= max {
		return strconv.Quote(string(key))
	}
	return fmt.Sprintf("%s… (%d bytes)", strconv.Quote(string(key[:max])), len(key))
}
