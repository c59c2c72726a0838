package whycache

import (
	"errors"

	"github.com/whycache/whycache/pkg/cachefile"
	"github.com/whycache/whycache/pkg/logstore"
)

// Errors that callers test for with errors.Is. They are the same values as
// the underlying packages' sentinels, so either works.
var (
	// ErrNotFound: the key is not in the dataset.
	ErrNotFound = cachefile.ErrNotFound
	// ErrNoFile: the instance directory has no cache file yet (the node
	// agent has not created it); OpenWait waits for it.
	ErrNoFile = cachefile.ErrNoFile
	// ErrTooLarge: a key, a value or an update is over a size limit.
	ErrTooLarge = logstore.ErrTooLarge
	// ErrInvalid: a write is malformed, e.g. an empty key; or an argument
	// is missing, e.g. NewWriter's store.
	ErrInvalid = logstore.ErrInvalid
	// ErrUnavailable: the write could not be confirmed because the node
	// agent or the log store cannot be reached; the update may or may not
	// have been appended.
	ErrUnavailable = errors.New("whycache: writes unavailable")
	// ErrClosed: the client has been closed.
	ErrClosed = errors.New("whycache: client closed")
)
