package cachefile

import (
	"bytes"
	"fmt"
	"hash/crc32"
	"time"
)

// header holds the immutable section of a file's header page, decoded and
// validated once when the file is opened. Nothing in it changes while the
// file exists, so lookups use these copies rather than the mapping.
type header struct {
	version    uint32
	logID      [16]byte
	seed       uint64
	generation uint64
	indexOff   uint64
	capacity   uint64
	dataOff    uint64
	fileSize   uint64
	created    int64
	flags      uint32
}

func (h *header) sealed() bool { return h.flags&flagSealed != 0 }

// encode writes the immutable section, with its CRC, into page.
func (h *header) encode(page []byte) {
	copy(page[offMagic:], magic[:])
	le.PutUint32(page[offVersion:], h.version)
	le.PutUint32(page[offHeaderSize:], headerSize)
	copy(page[offLogID:], h.logID[:])
	le.PutUint64(page[offSeed:], h.seed)
	le.PutUint64(page[offGeneration:], h.generation)
	le.PutUint64(page[offIndexOff:], h.indexOff)
	le.PutUint64(page[offCapacity:], h.capacity)
	le.PutUint64(page[offDataOff:], h.dataOff)
	le.PutUint64(page[offFileSize:], h.fileSize)
	le.PutUint64(page[offCreated:], uint64(h.created))
	le.PutUint32(page[offFlags:], h.flags)
	le.PutUint32(page[offHeaderCRC:], crc32.Checksum(page[:offHeaderCRC], castagnoli))
}

// decodeHeader decodes and validates the immutable section of the header
// page of a file of size bytes. It checks everything a reader relies on to
// bounds-check lookups: the layout must fit in the file.
func decodeHeader(page []byte, size int64) (header, error) {
	var h header
	if size < headerSize || len(page) < headerSize {
		return h, corruptf("file is %d bytes, shorter than the %d-byte header", size, headerSize)
	}
	if !bytes.Equal(page[offMagic:offMagic+8], magic[:]) {
		return h, corruptf("bad magic %q at offset 0", page[offMagic:offMagic+8])
	}
	h.version = le.Uint32(page[offVersion:])
	if h.version != Version {
		return h, fmt.Errorf("format version %d, this implementation reads version %d: %w", h.version, Version, ErrVersion)
	}
	if got, want := le.Uint32(page[offHeaderCRC:]), crc32.Checksum(page[:offHeaderCRC], castagnoli); got != want {
		return h, corruptf("header CRC-32C is %#08x, computed %#08x", got, want)
	}
	if hs := le.Uint32(page[offHeaderSize:]); hs != headerSize {
		return h, corruptf("header size %d, want %d", hs, headerSize)
	}
	copy(h.logID[:], page[offLogID:])
	h.seed = le.Uint64(page[offSeed:])
	h.generation = le.Uint64(page[offGeneration:])
	h.indexOff = le.Uint64(page[offIndexOff:])
	h.capacity = le.Uint64(page[offCapacity:])
	h.dataOff = le.Uint64(page[offDataOff:])
	h.fileSize = le.Uint64(page[offFileSize:])
	h.created = int64(le.Uint64(page[offCreated:]))
	h.flags = le.Uint32(page[offFlags:])
	if unknown := h.flags & incompatFlagsMask &^ knownIncompatFlags; unknown != 0 {
		return h, fmt.Errorf("unknown incompatible feature flags %#x: %w", unknown, ErrVersion)
	}
	switch {
	case h.indexOff != headerSize:
		return h, corruptf("index offset %d, want %d", h.indexOff, headerSize)
	case h.capacity < minCapacity || h.capacity > maxCapacity || h.capacity&(h.capacity-1) != 0:
		return h, corruptf("index capacity %d is not a power of two in [%d, %d]", h.capacity, minCapacity, maxCapacity)
	case h.dataOff != h.indexOff+h.capacity*8:
		return h, corruptf("data offset %d, want index offset + 8*capacity = %d", h.dataOff, h.indexOff+h.capacity*8)
	case h.fileSize > maxDataEnd:
		return h, corruptf("file size %d in header is over the format maximum %d", h.fileSize, uint64(maxDataEnd))
	case h.fileSize < h.dataOff:
		return h, corruptf("file size %d in header is below the data offset %d", h.fileSize, h.dataOff)
	case h.fileSize != uint64(size):
		return h, corruptf("file is %d bytes, header says %d (truncated or extended)", size, h.fileSize)
	}
	return h, nil
}

// checkpoint is the checkpoint block of the header: the applied id and data
// tail that were durable (msync'd) when it was written.
type checkpoint struct {
	updateID uint64
	tail     uint64
	time     int64
}

func encodeCheckpoint(page []byte, c checkpoint) {
	b := page[offCkpt : offCkpt+32]
	le.PutUint64(b[0:], c.updateID)
	le.PutUint64(b[8:], c.tail)
	le.PutUint64(b[16:], uint64(c.time))
	le.PutUint32(b[24:], 0)
	le.PutUint32(b[28:], crc32.Checksum(b[:28], castagnoli))
}

func decodeCheckpoint(page []byte) (checkpoint, error) {
	b := page[offCkpt : offCkpt+32]
	if got, want := le.Uint32(b[28:]), crc32.Checksum(b[:28], castagnoli); got != want {
		return checkpoint{}, corruptf("checkpoint CRC-32C is %#08x, computed %#08x", got, want)
	}
	return checkpoint{updateID: le.Uint64(b[0:]), tail: le.Uint64(b[8:]), time: int64(le.Uint64(b[16:]))}, nil
}

// Info describes a cache file, as read by Inspect or Verify.
type Info struct {
	// Path is the file's path.
	Path string
	// Version is the format version.
	Version uint32
	// LogID is the identity of the log the file is fed from.
	LogID [16]byte
	// Generation counts the generations of the file; each compaction, growth
	// or replacement writes the next one.
	Generation uint64
	// UpdateID is the last fully applied update id.
	UpdateID uint64
	// Sealed is true for a sealed copy (a snapshot), which carries Checksum.
	Sealed bool
	// Clean is true when the last writer closed the file cleanly.
	Clean bool
	// Superseded is true when a newer generation has replaced the file.
	Superseded bool
	// BootID is the boot id of the machine where a writer last opened the file.
	BootID [16]byte
	// Created is when the generation was written.
	Created time.Time
	// Capacity is the number of index slots.
	Capacity int
	// FileSize is the file's length in bytes (holes included).
	FileSize int64
	// DataOffset is where the data region starts; Tail is where its used part ends.
	DataOffset, Tail int64
	// LiveKeys, LiveBytes (key and value bytes), GarbageBytes and Tombstones
	// are the header's counters, or, from Verify, the counts it made.
	LiveKeys     int
	LiveBytes    int64
	GarbageBytes int64
	Tombstones   int
	// CheckpointUpdateID and CheckpointTail form the last durable checkpoint.
	CheckpointUpdateID uint64
	CheckpointTail     int64
	// Checksum is the SHA-256 of a sealed file (zero otherwise).
	Checksum [32]byte
}

// infoFrom fills an Info from a decoded header and the header page's
// mutable words (read plainly: Inspect is a diagnostic).
func infoFrom(path string, h header, page []byte) Info {
	inf := Info{
		Path: path, Version: h.version, LogID: h.logID, Generation: h.generation,
		Sealed: h.sealed(), Created: time.Unix(0, h.created).UTC(),
		Capacity: int(h.capacity), FileSize: int64(h.fileSize), DataOffset: int64(h.dataOff),
		UpdateID:     le.Uint64(page[offUpdateID:]),
		Superseded:   le.Uint64(page[offSuperseded:]) != 0,
		Clean:        le.Uint64(page[offClean:]) == 1,
		Tail:         int64(le.Uint64(page[offTail:])),
		LiveKeys:     int(le.Uint64(page[offLiveKeys:])),
		LiveBytes:    int64(le.Uint64(page[offLiveBytes:])),
		GarbageBytes: int64(le.Uint64(page[offGarbage:])),
		Tombstones:   int(le.Uint64(page[offTombstones:])),
	}
	copy(inf.BootID[:], page[offBootID:])
	if c, err := decodeCheckpoint(page); err == nil {
		inf.CheckpointUpdateID, inf.CheckpointTail = c.updateID, int64(c.tail)
	}
	copy(inf.Checksum[:], page[offChecksum:])
	return inf
}
