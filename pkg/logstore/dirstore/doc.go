// Package dirstore is the local-directory [logstore.Store]: whycache's
// embedded default for development and single-machine use.
//
// A log lives in its own directory, <dir>/<name>, and several processes may
// append to it, read it and rewrite it at once. Appends are serialised by an
// flock(2) on a lock file, so ids are allocated in the order in which they
// become visible; inside a process, concurrent appends (through one Store or
// several) are committed together with one write and one fdatasync, each
// keeping its own id. An append is acknowledged only after its records are
// synced. Readers take no lock: they never read past the committed tail
// that the head file publishes, so they never see a record that is not
// synced or not whole. A full replay in pages (ReadReplay) can pass the
// horizon while no rewrite raises it.
//
// # Directory layout
//
//	IDENTITY            the log's identity (32 bytes)
//	HORIZON             the durable horizon (32 bytes)
//	HEAD                the committed tail, rewritten in place (64 bytes)
//	LOCK                flock'd by appenders, rolls and recovery
//	REWRITE.LOCK        flock'd by a history rewrite
//	seg-<base>-<gen>.log  segments: <base> is 20 decimal digits, <gen> 8
//	nodes/<node>.json   one heartbeat file per node
//	.tmp-*              files being written, renamed into place when whole
//
// A log is created in a temporary directory with all of these files synced,
// and renamed into place, so that no process sees a log without its
// identity. Every integer below is little-endian, and every checksum is
// CRC-32C (Castagnoli).
//
// # Identity and horizon files
//
//	offset size
//	0      8    magic "WCLOGID1" (identity) or "WCLOGHZ1" (horizon)
//	8      20   payload: the 16-byte LogID, or the uint64 horizon, zero-padded
//	28     4    CRC-32C of bytes 0..27
//
// The horizon file is replaced atomically (temporary file, fsync, rename,
// fsync of the directory) before a rewrite removes any delete marker.
//
// # Head file
//
//	offset size
//	0      8    magic "WCLOGHD1"
//	8      8    layout generation: bumped each time a rewrite replaces a segment
//	16     8    base id of the active (last) segment
//	24     8    committed length of the active segment, in bytes
//	32     8    latest id: the highest id ever committed
//	40     8    horizon (a copy of the horizon file, for readers)
//	48     12   zero
//	60     4    CRC-32C of bytes 0..59
//
// Writers rewrite the head with pwrite, under the lock, after syncing the
// records it points to; it is not synced itself. Readers retry a head whose
// checksum fails (a write in progress). Inotify's IN_MODIFY on the head wakes
// Wait in every process; without inotify, Wait polls.
//
// # Segments
//
// A segment file is a 32-byte header followed by records:
//
//	offset size
//	0      8    magic "WCLOGSEG"
//	8      4    format version (1)
//	12     4    generation
//	16     8    base: the lowest id the segment may hold
//	24     4    zero
//	28     4    CRC-32C of bytes 0..27
//
// Each record is one update:
//
//	0      4    n: length of the body
//	4      4    CRC-32C of the 4 length bytes followed by the body
//	8      n    body:
//	              8  id
//	              8  commit time, Unix nanoseconds
//	              uvarint  number of operations (at least 1)
//	              per operation: 1 byte type (1 set, 2 delete),
//	                uvarint key length, key,
//	                and for a set: uvarint value length, value
//
// A uvarint is encoding/binary's unsigned varint in its shortest form; a
// padded one (0x80 0x00 for 0) makes the record corrupt.
//
// Ids increase strictly through a segment and across segments. A single-key
// update costs 8 bytes of framing and 20 of body (id, time, counts, type;
// a few more once the key or the value reaches 128 bytes) besides its key
// and value. The golden files in testdata pin these encodings byte for byte.
//
// The active segment (the head's) is the only one appended to. When its
// committed length reaches the segment size (WithSegmentSize, 64 MiB by
// default), the next append seals it and starts a segment whose base is the
// next id: written as a temporary file, synced, renamed, directory synced,
// then published in the head. A sealed segment's records run to the end of
// its file.
//
// # Crashes
//
// A process that dies while appending leaves, past the committed length,
// either complete records it had not yet published (the next lock holder
// syncs and adopts them: they appear whole) or a torn record (cut off). The
// first Open of a log in a process checks the whole active segment under
// the lock, cuts off anything after its last whole, checksummed record,
// adopts a segment whose roll finished without its head update, removes
// orphans of a roll that never took effect, and restores the head's horizon
// from the horizon file. A lost or corrupt head is rebuilt from the segments.
//
// # Restoring a copy
//
// A log may be restored from a copy of its directory while processes have
// it open, provided the files are copied back in place (cp -a copy/. dir/,
// which rewrites each file under its inode; a tool that writes new files
// and renames them leaves open Stores reading the old ones, which must then
// be reopened). A Store that reads a head whose latest id is lower than
// before, or a record that does not match its index, drops what it had
// indexed and reads the segments afresh. Ids after the restored head are
// given again to new updates: a reader that had read the lost ones must
// notice (the node agent compares the commit time of the last update it
// applied).
//
// # History rewrite
//
// Rewrite raises the horizon durably first, seals the active segment when it
// holds ids up to the limit, and then rewrites sealed segments newest first,
// one at a time: each becomes generation gen+1 without the removed
// operations (ids and times unchanged, updates left empty dropped), written
// as a temporary file, synced and renamed; then the head's layout
// generation is bumped and the old generation removed. Readers pick the
// newest generation of each base; one still reading an old generation sees a
// superset of the new one, which replays to the same state, and the horizon
// check that Read makes after reading catches any removed delete.
//
// The package has a fuzz target for the decoders and a crash test that kills
// a writing process with SIGKILL at random points.
package dirstore
