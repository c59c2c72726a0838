package cachefile

import (
	"encoding/binary"
	"hash/crc32"
	"math/bits"
)

// The on-disk format, version 1. docs/cachefile-format.md is the
// specification; the constants below are its field table in code. All
// integers are little-endian.
const (
	// Version is the format version this package reads and writes.
	Version = 1

	headerSize = 4096 // bytes of the header page; the index starts here

	// Immutable section [0, 128), covered by the header CRC.
	offMagic      = 0   // [8]byte "WHYCACHE"
	offVersion    = 8   // u32
	offHeaderSize = 12  // u32 = headerSize
	offLogID      = 16  // [16]byte
	offSeed       = 32  // u64 XXH3 seed
	offGeneration = 40  // u64
	offIndexOff   = 48  // u64 = headerSize
	offCapacity   = 56  // u64 slot count, a power of two
	offDataOff    = 64  // u64 = indexOff + capacity*8
	offFileSize   = 72  // u64 file length = end of the data region
	offCreated    = 80  // i64 unix nanoseconds
	offFlags      = 88  // u32 feature flags
	offHeaderCRC  = 124 // u32 CRC-32C of [0, 124)

	// Mutable words, each group on a cache line of its own.
	offSuperseded = 128 // u64, 0 or 1; readers load it on every lookup
	offUpdateID   = 192 // u64 applied update id
	offLiveKeys   = 200 // u64
	offTail       = 256 // u64 end of the used data region
	offLiveBytes  = 264 // u64 sum of live keys' and values' lengths
	offGarbage    = 272 // u64 bytes of dead records in [dataOff, tail)
	offTombstones = 280 // u64 tombstone slots
	offClean      = 320 // u64 1 = closed cleanly
	offBootID     = 328 // [16]byte boot id of the last writer session
	offCkpt       = 384 // checkpoint block [384, 416)
	offCkptID     = 384 // u64 applied id at the last checkpoint
	offCkptTail   = 392 // u64 tail at the last checkpoint
	offCkptTime   = 400 // i64 unix nanoseconds
	offCkptCRC    = 412 // u32 CRC-32C of [384, 412)
	offChecksum   = 448 // [32]byte SHA-256 of a sealed file
	checksumSize  = 32

	// Feature flags. Bits 0-15 are compatible (a reader that does not know
	// one may ignore it); bits 16-31 are incompatible (a reader that does not
	// know one must refuse the file).
	flagSealed         = 1 << 0
	knownCompatFlags   = flagSealed
	incompatFlagsMask  = 0xFFFF0000
	knownIncompatFlags = 0

	// Index slots.
	slotEmpty     = 0
	slotTombstone = 1
	tagShift      = 40
	offFieldMask  = 1<<tagShift - 1
	// maxDataEnd is the largest file size: a record offset is stored in 40
	// bits as offset/8.
	maxDataEnd  = 1 << (tagShift + 3)
	minCapacity = 8
	maxCapacity = 1 << 36

	// Records.
	recHeaderSize = 12 // klen u32, vlen u32, crc u32
	recAlign      = 8

	// HardMaxKeySize and HardMaxValueSize bound Options.MaxKeySize and
	// Options.MaxValueSize. The format itself allows lengths up to 2^32-1.
	HardMaxKeySize   = 1 << 30
	HardMaxValueSize = 1 << 30
)

var magic = [8]byte{'W', 'H', 'Y', 'C', 'A', 'C', 'H', 'E'}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var le = binary.LittleEndian

// recordSize returns the bytes a record with these lengths takes, padding
// included.
func recordSize(klen, vlen int) uint64 {
	return alignUp(uint64(recHeaderSize)+uint64(klen)+uint64(vlen), recAlign)
}

func alignUp(n, a uint64) uint64 { return (n + a - 1) &^ (a - 1) }

// nextPow2 returns the smallest power of two >= n (1 for n <= 1).
func nextPow2(n uint64) uint64 {
	if n <= 1 {
		return 1
	}
	return 1 << bits.Len64(n-1)
}

// makeSlot encodes a published record at off for a key whose hash is h.
func makeSlot(h, off uint64) uint64 { return (h>>tagShift)<<tagShift | off>>3 }

// slotOffset returns the record offset a live slot points at.
func slotOffset(s uint64) uint64 { return (s & offFieldMask) << 3 }

// recordCRC computes a record's CRC-32C: over its two length words, then the
// key, then the value.
func recordCRC(lens []byte, key, value []byte) uint32 {
	c := crc32.Update(0, castagnoli, lens[:8])
	c = crc32.Update(c, castagnoli, key)
	return crc32.Update(c, castagnoli, value)
}

// putRecord encodes a record into b, which must be recordSize bytes long.
func putRecord(b []byte, key, value []byte) {
	le.PutUint32(b[0:], uint32(len(key)))
	le.PutUint32(b[4:], uint32(len(value)))
	le.PutUint32(b[8:], recordCRC(b, key, value))
	n := copy(b[recHeaderSize:], key)
	n += copy(b[recHeaderSize+n:], value)
	clear(b[recHeaderSize+n:])
}
