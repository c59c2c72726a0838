package snapshot

import "errors"

// Sentinel errors. Every error the package returns wraps one of them or an
// error of the underlying store or file system; test with errors.Is.
var (
	// ErrNotFound means that the object (or snapshot) does not exist.
	ErrNotFound = errors.New("snapshot: not found")
	// ErrPrecondition means that a conditional write lost: the object
	// exists (If-None-Match) or changed (If-Match) since it was read.
	ErrPrecondition = errors.New("snapshot: precondition failed")
	// ErrChanged means that an object changed while it was being read in
	// parts (its ETag no longer matches the one the read was pinned to).
	ErrChanged = errors.New("snapshot: object changed during the read")
	// ErrInvalid means that an argument is malformed: a snapshot URL, a
	// key, an option.
	ErrInvalid = errors.New("snapshot: invalid argument")
	// ErrCorrupt means that a manifest, or an object against its manifest,
	// fails a check (size, checksum, identity, format version).
	ErrCorrupt = errors.New("snapshot: corrupt snapshot")
	// ErrNoSnapshot means that the log has no usable snapshot.
	ErrNoSnapshot = errors.New("snapshot: no usable snapshot")
)
