// Package cachefile implements whycache's shared cache file: one writer (the
// node agent) applies batches of key operations to a file that any number
// of processes on the node read through a read-only memory mapping, with no
// lock and no system call per lookup.
//
// The file is a header page, an open-addressing hash index of 8-byte slots
// and an append-only data region of records. The writer appends a record
// and publishes it with one atomic store into its index slot; a published
// record is never modified, so a reader sees a key's old value or its new
// one, never a mix. Space is reclaimed, and capacity grown, by writing a
// new generation of the file and renaming it over the path; readers notice
// (one load of a header word per lookup) and move to it by themselves.
// docs/cachefile-format.md specifies the format byte by byte, the publish
// protocol and its memory ordering, and crash recovery.
//
// # Use
//
// The node agent opens the file with [OpenWriter] and calls [Writer.Apply]
// for each update of the log; [Writer.Seal] writes the snapshot that goes
// to S3, and [Writer.Replace] installs one for a bootstrap. Applications
// open it with [Open] and call [Reader.Get] or, without copying,
// [Reader.View]. [Verify] and [Inspect] check and describe a file.
//
// Pods must mount the directory that holds the file, never the file
// itself: a bind mount of a file pins the old inode, and the pod would never
// see a new generation.
//
// # Safety
//
// A Reader bounds-checks every offset and length it reads from the file,
// at each use, so that a truncated, corrupt or hostile file (even one that
// changes under it) yields ErrCorrupt, never a panic or a fault.
//
// One thing no check can prevent: shrinking the file while it is mapped
// (truncate(1), or cp(1) of another file over it) makes accesses past the
// new end fault (SIGBUS). Every Reader and Pin method therefore runs with
// runtime/debug.SetPanicOnFault set on its goroutine (restored on return)
// and turns a fault in the file's mapping into an error wrapping
// ErrCorrupt; the iterators stop early, UpdateID and Len return 0, and the
// Reader reopens the path on its next call. The process survives; the
// values read from a file changed in place are not guaranteed (a record cut
// by a truncation can read as zeros at its end). The guard costs a few
// nanoseconds per call (BenchmarkFaultGuard). The writer never changes a
// file that way (files are replaced by rename, never shrunk), and readers
// should mount the directory read-only. docs/cachefile-format.md (section
// 8.1) says exactly what is and is not safe.
//
// # Platforms
//
// Readers run on Linux and macOS; the writer is supported on Linux only (it
// builds on macOS, without disk space reservation).
//
// The implementation assumes a little-endian host (amd64, arm64): slots and
// header words are accessed with native atomic operations.
package cachefile
