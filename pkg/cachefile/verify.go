package cachefile

import (
	"context"
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
//
// The cheap checks come first: a sealed file's records must tile its data
// region and its index must be sized for them before anything is hashed,
// so that the work is bounded by what the file really holds, whatever its
// header claims. Verify stops with ctx's error when ctx ends.
func Verify(ctx context.Context, path string) (Info, error) {
	return verifyPath(ctx, path, nil)
}

// VerifySummed is Verify for a file whose SealHash sum the caller computed
// as it wrote the file (a download): a sealed file's checksum is compared
// with sum instead of being computed from the file once more. Everything
// else is checked as Verify does.
func VerifySummed(ctx context.Context, path string, sum [32]byte) (Info, error) {
	return verifyPath(ctx, path, &sum)
}

// verifyPath maps the file at path read-only and checks it with
// verifyMapping.
func verifyPath(ctx context.Context, path string, sum *[32]byte) (Info, error) {
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
	inf, err := verifyMapping(ctx, path, m, sum)
	if err != nil {
		return inf, fmt.Errorf("verify %s: %w", path, err)
	}
	return inf, nil
}

// verifyMapping checks m as Verify describes, cheap checks first. A sealed
// file's checksum is compared with sum when it is not nil (its SealHash,
// computed by the caller), and computed otherwise.
func verifyMapping(ctx context.Context, path string, m *mapping, sum *[32]byte) (Info, error) {
	inf := infoFrom(path, m.hdr, m.mm[:headerSize])
	ck, err := decodeCheckpoint(m.mm)
	if err != nil {
		return inf, err
	}
	if m.hdr.sealed() {
		if err := checkSealedLayout(ctx, m); err != nil {
			return inf, err
		}
	}
	c, err := checkIndex(ctx, m, func(f slotFault) error { return f.err })
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
	if inf.Sealed {
		if sum == nil {
			s, err := sealChecksum(ctx, m.mm)
			if err != nil {
				return inf, err
			}
			sum = &s
		}
		if *sum != inf.Checksum {
			return inf, corruptf("sealed file SHA-256 is %x, computed %x", inf.Checksum, *sum)
		}
	}
	return inf, nil
}

// checkSealedLayout makes the cheap checks of a sealed file's structure,
// which bound the work of the rest against what the file really holds: its
// data tail is its size, its records tile the data region from the data
// offset to the end (walked record by record, so that a hole or garbage
// fails at its first bytes: a record has a non-empty key), their number is
// the header's key count, and the index is no larger than Seal makes it
// for that many keys.
func checkSealedLayout(ctx context.Context, m *mapping) error {
	h := m.hdr
	if tail := m.load(offTail); tail != h.fileSize {
		return corruptf("sealed file's data tail %d is not its size %d", tail, h.fileSize)
	}
	n := uint64(0)
	for off := h.dataOff; off < h.fileSize; n++ {
		if n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		k, v, err := m.record(off)
		if err != nil {
			return fmt.Errorf("sealed file's records: %w", err)
		}
		if len(k) == 0 {
			return corruptf("sealed file's records: record at offset %d has an empty key (a hole, or not a record)", off)
		}
		off += recordSize(len(k), len(v))
		if off > h.fileSize {
			return corruptf("sealed file's records: the last one runs past the end of the file (%d bytes)", h.fileSize)
		}
	}
	if keys := m.load(offLiveKeys); keys != n {
		return corruptf("sealed file holds %d records, its header counts %d keys", n, keys)
	}
	if limit := maxSealedCapacity(n); h.capacity > limit {
		return corruptf("sealed file's index has %d slots for %d keys; a sealed index has at most %d", h.capacity, n, limit)
	}
	return nil
}

// maxSealedCapacity is the largest index Seal makes for keys keys: it sizes
// the index for a load factor of at least 0.5 (Options.MaxLoadFactor).
func maxSealedCapacity(keys uint64) uint64 { return max(nextPow2(2*keys+1), minCapacity) }

// hashChunk is how many bytes sealChecksum hashes between checks of its
// context.
const hashChunk = 1 << 20

// sealChecksum computes a sealed file's SHA-256: over the whole file, with
// the superseded word and the checksum field read as zeros. It stops with
// ctx's error when ctx ends.
func sealChecksum(ctx context.Context, b []byte) ([32]byte, error) {
	h := sha256.New()
	var zero [checksumSize]byte
	h.Write(b[:offSuperseded])
	h.Write(zero[:8])
	h.Write(b[offSuperseded+8 : offChecksum])
	h.Write(zero[:])
	for rest := b[offChecksum+checksumSize:]; len(rest) > 0; {
		if err := ctx.Err(); err != nil {
			return [32]byte{}, fmt.Errorf("SHA-256 of the sealed file: %w", err)
		}
		n := min(len(rest), hashChunk)
		h.Write(rest[:n])
		rest = rest[n:]
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum, nil
}
