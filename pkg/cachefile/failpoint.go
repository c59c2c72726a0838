package cachefile

import "os"

// Failpoints. Every system call of the writer that changes a file or the
// directory (write, truncate, fallocate, fsync, msync, rename, link,
// remove) goes through one of the helpers below, under a name. A test sets
// failpoint to make the call fail with the error it returns instead of
// running, and so reaches every error path of the writer (bbolt's gofail
// failpoints serve the same purpose). In production failpoint is nil and a
// call costs one extra nil check.
var failpoint func(name string) error

// Failpoint names, one per call site that can fail.
const (
	fpCreate       = "create"         // create a new generation's temporary file
	fpChmod        = "chmod"          // make it world-readable
	fpTruncate     = "truncate"       // size it
	fpReserveIndex = "reserve-index"  // fallocate its header and index
	fpWriteRecords = "write-records"  // pwrite records into a new generation
	fpWriteIndex   = "write-index"    // pwrite its index
	fpWriteHeader  = "write-header"   // pwrite its header page
	fpFsyncGen     = "fsync-gen"      // fsync a new generation
	fpMapGen       = "mmap-gen"       // map a new generation
	fpWriteSum     = "write-checksum" // pwrite a sealed file's checksum
	fpLinkPrev     = "link-prev"      // link the current file to path.prev
	fpRename       = "rename"         // rename a new file over its target
	fpSyncDir      = "fsync-dir"      // fsync the directory after a rename
	fpMarkOld      = "mark-old"       // mark a replaced file superseded by a write
	fpRemovePrev   = "remove-prev"    // unlink path.prev
	fpReserveData  = "reserve-data"   // fallocate data space ahead of the tail
	fpWriteBatch   = "write-batch"    // pwrite a large batch's records
	fpMsyncFile    = "msync-file"     // msync the whole mapping (checkpoint)
	fpMsyncHeader  = "msync-header"   // msync the header page
	fpExtend       = "extend"         // extend a file truncated under the writer back (CheckPath)
)

// failpointNames lists every failpoint, for the test that visits them all.
var failpointNames = []string{
	fpCreate, fpChmod, fpTruncate, fpReserveIndex, fpWriteRecords, fpWriteIndex, fpWriteHeader,
	fpFsyncGen, fpMapGen, fpWriteSum, fpLinkPrev, fpRename, fpSyncDir, fpMarkOld, fpRemovePrev,
	fpReserveData, fpWriteBatch, fpMsyncFile, fpMsyncHeader, fpExtend,
}

// fail returns the error a test injects at the named point, or nil.
func fail(name string) error {
	if failpoint == nil {
		return nil
	}
	return failpoint(name)
}

// pwrite writes b at off of f, as the named failpoint.
func pwrite(name string, f *os.File, b []byte, off int64) error {
	if err := fail(name); err != nil {
		return err
	}
	_, err := f.WriteAt(b, off)
	return err
}

// fsync makes f durable, as the named failpoint.
func fsync(name string, f *os.File) error {
	if err := fail(name); err != nil {
		return err
	}
	return f.Sync()
}

// rename renames from to to, as the named failpoint.
func rename(name, from, to string) error {
	if err := fail(name); err != nil {
		return err
	}
	return os.Rename(from, to)
}

// link links from to to, as the named failpoint.
func link(name, from, to string) error {
	if err := fail(name); err != nil {
		return err
	}
	return os.Link(from, to)
}

// remove unlinks path, as the named failpoint.
func remove(name, path string) error {
	if err := fail(name); err != nil {
		return err
	}
	return os.Remove(path)
}

// msyncAt writes b, a part of a shared mapping, to its file, as the named
// failpoint.
func msyncAt(name string, b []byte) error {
	if err := fail(name); err != nil {
		return err
	}
	return msync(b)
}
