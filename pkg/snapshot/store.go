package snapshot

import (
	"context"
	"hash"
	"hash/crc64"
	"io"
	"time"
)

// Store is an object store: a flat namespace of keys ("a/b/c") holding
// immutable objects, each with an ETag that changes whenever the object is
// replaced. [S3Store] and [DirStore] implement it; package storetest holds
// the conformance suite that both pass. Implementations are safe for
// concurrent use.
type Store interface {
	// PutFile uploads the file at path as key (in parts when it is large),
	// with a full-object CRC64NVME checksum that the store checks, calling
	// progress (when not nil) as bytes are sent, possibly from several
	// goroutines at once. An existing object is replaced.
	PutFile(ctx context.Context, key, path string, progress func(done, total int64)) (ObjectInfo, error)
	// PutBytes writes a small object, replacing any, unless cond says
	// otherwise: a write whose condition fails returns ErrPrecondition and
	// changes nothing.
	PutBytes(ctx context.Context, key string, data []byte, cond Condition) (ObjectInfo, error)
	// GetBytes reads a small object whole. A missing key is ErrNotFound.
	GetBytes(ctx context.Context, key string) ([]byte, ObjectInfo, error)
	// Stat returns what the store knows of an object, or ErrNotFound.
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	// ReadRange reads n > 0 bytes at off of the version of key whose ETag is
	// etag. When the object has been replaced or removed since, it fails
	// with ErrChanged (or ErrNotFound), never returning other bytes.
	ReadRange(ctx context.Context, key, etag string, off, n int64) (io.ReadCloser, error)
	// List returns the objects whose keys start with prefix, in key order.
	List(ctx context.Context, prefix string) ([]ObjectInfo, error)
	// Delete removes an object; deleting a missing one is not an error.
	Delete(ctx context.Context, key string) error
}

// Condition makes PutBytes conditional. The zero value is unconditional.
type Condition struct {
	// IfAbsent writes only when no object has the key (If-None-Match: *).
	IfAbsent bool
	// IfMatch writes only when the object's ETag is this one (If-Match).
	IfMatch string
}

// ObjectInfo describes one stored object.
type ObjectInfo struct {
	// Key is the object's key.
	Key string
	// Size is its length in bytes.
	Size int64
	// ETag identifies this version of the object (quotes stripped).
	ETag string
	// CRC64NVME is the object's full-object CRC64NVME, base64 as S3 prints
	// it; empty when the store did not report one (List never does).
	CRC64NVME string
	// Modified is when it was written.
	Modified time.Time
}

// crc64NVMETable is CRC-64/NVME, the polynomial S3's CRC64NVME uses (in
// the reversed form hash/crc64 wants).
var crc64NVMETable = crc64.MakeTable(0x9a6c9329ac4bc9b5)

// NewCRC64NVME returns a hash computing S3's CRC64NVME checksum.
func NewCRC64NVME() hash.Hash64 { return crc64.New(crc64NVMETable) }
