package logstore

import "errors"

// Sentinel errors. The stores wrap them with context; test for them with
// errors.Is.
var (
	// ErrNotFound means that the log (or a node) does not exist.
	ErrNotFound = errors.New("logstore: not found")
	// ErrBehindHorizon means that a reader's position is below the log's
	// horizon: it cannot catch up incrementally and must bootstrap from a
	// snapshot.
	ErrBehindHorizon = errors.New("logstore: position is behind the log's horizon; bootstrap from a snapshot")
	// ErrTooLarge means that a key, a value or an update is over a limit.
	ErrTooLarge = errors.New("logstore: over a size limit")
	// ErrInvalid means that an update or an argument is malformed: an empty
	// key, an unknown operation type, an update with no operations.
	ErrInvalid = errors.New("logstore: invalid argument")
	// ErrIdentityMismatch means that a log's identity is not the one expected.
	ErrIdentityMismatch = errors.New("logstore: log identity mismatch")
	// ErrClosed means that the store has been closed.
	ErrClosed = errors.New("logstore: store closed")
)
