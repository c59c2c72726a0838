package cachefile

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// Inspect reads the header of the file at path: its identity, layout,
// applied id and counters (as the writer last stored them). It checks only
// the header.
func Inspect(path string) (Info, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Info{}, fmt.Errorf("inspect %s: %w", path, ErrNoFile)
		}
		return Info{}, fmt.Errorf("inspect: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Info{}, fmt.Errorf("inspect: %w", err)
	}
	page := make([]byte, headerSize)
	if n, _ := f.ReadAt(page, 0); n < headerSize {
		return Info{}, fmt.Errorf("inspect %s: %w", path, corruptf("file is %d bytes, shorter than the %d-byte header", fi.Size(), headerSize))
	}
	h, err := decodeHeader(page, fi.Size())
	if err != nil {
		return Info{}, fmt.Errorf("inspect %s: %w", path, err)
	}
	return infoFrom(path, h, page), nil
}

// Verify checks the file at path completely: the header and its CRC, the
// checkpoint block, every index slot and the record it points at (bounds,
// CRC-32C, hash tag, reachability, no duplicate key), the counters of a
// cleanly closed or sealed file, and the SHA-256 of a sealed file. It works
// on a live file that a writer is changing. The returned Info carries the
// counts Verify made. Errors wrap ErrCorrupt (or ErrVersion, ErrNoFile) and
// say what failed and where.
func Verify(path string) (Info, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Info{}, fmt.Errorf("verify %s: %w", path, ErrNoFile)
		}
		return Info{}, fmt.Errorf("verify: %w", err)
	}
	defer f.Close()
	m, err := mapFile(f, false)
	if err != nil {
		return Info{}, fmt.Errorf("verify %s: %w", path, err)
	}
	defer m.unmap()
	inf, err := verifyMapping(path, m)
	if err != nil {
		return inf, fmt.Errorf("verify %s: %w", path, err)
	}
	return inf, nil
}

func verifyMapping(path string, m *mapping) (Info, error) {
	inf := infoFrom(path, m.hdr, m.mm[:headerSize])
	ck, err := decodeCheckpoint(m.mm)
	if err != nil {
		return inf, err
	}
	if m.hdr.sealed() {
		if sum := sealChecksum(m.mm); sum != inf.Checksum {
			return inf, corruptf("sealed file SHA-256 is %x, computed %x", inf.Checksum, sum)
		}
	}
	c, err := checkIndex(m, func(f slotFault) error { return f.err })
	if err != nil {
		return inf, err
	}
	tail := m.load(offTail) // after the walk: a live writer stores it before publishing
	inf.LiveKeys, inf.LiveBytes, inf.Tombstones = int(c.live), int64(c.liveBytes), int(c.tombstones)
	if c.live+c.tombstones > m.hdr.capacity-1 {
		return inf, corruptf("index has no empty slot")
	}
	if !inf.Clean && !inf.Sealed {
		// A writer may be mid-batch, or may have crashed: the counters and
		// the tail are recomputed when it reopens the file.
		return inf, nil
	}
	switch {
	case tail < m.hdr.dataOff || tail > m.hdr.fileSize:
		return inf, corruptf("data tail %d outside the data region [%d, %d]", tail, m.hdr.dataOff, m.hdr.fileSize)
	case c.maxEnd > tail:
		return inf, corruptf("a live record ends at %d, past the data tail %d", c.maxEnd, tail)
	case ck.updateID != inf.UpdateID || ck.tail != tail:
		return inf, corruptf("closed file's checkpoint (update %d, tail %d) differs from its header (update %d, tail %d)", ck.updateID, ck.tail, inf.UpdateID, tail)
	}
	garbage := tail - m.hdr.dataOff - c.recBytes
	inf.GarbageBytes = int64(garbage)
	hdrLive, hdrBytes := m.load(offLiveKeys), m.load(offLiveBytes)
	hdrGarbage, hdrTombs := m.load(offGarbage), m.load(offTombstones)
	if hdrLive != c.live || hdrBytes != c.liveBytes || hdrGarbage != garbage || hdrTombs != c.tombstones {
		return inf, corruptf("header counters (keys %d, bytes %d, garbage %d, tombstones %d) differ from the file's (%d, %d, %d, %d)",
			hdrLive, hdrBytes, hdrGarbage, hdrTombs, c.live, c.liveBytes, garbage, c.tombstones)
	}
	if inf.Sealed && (garbage != 0 || c.tombstones != 0 || tail != m.hdr.fileSize) {
		return inf, corruptf("sealed file is not compact (garbage %d, tombstones %d, tail %d, size %d)", garbage, c.tombstones, tail, m.hdr.fileSize)
	}
	return inf, nil
}

// sealChecksum computes a sealed file's SHA-256: over the whole file, with
// the superseded word and the checksum field read as zeros.
func sealChecksum(b []byte) [32]byte {
	h := sha256.New()
	var zero [checksumSize]byte
	h.Write(b[:offSuperseded])
	h.Write(zero[:8])
	h.Write(b[offSuperseded+8 : offChecksum])
	h.Write(zero[:])
	h.Write(b[offChecksum+checksumSize:])
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}
