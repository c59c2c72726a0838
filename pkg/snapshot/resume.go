package snapshot

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"os"
)

// A resumable download keeps, beside its file, a small progress record
// (the file's name + ProgressSuffix) saying which parts are in the file
// and each one's CRC-32C, tied to the object version (ETag) and the
// manifest's SHA-256 it was downloading. It is written after each part
// (to a temporary name, then renamed), without fsync: after a crash the
// parts it lists are read back and checked against their CRC-32C before
// they are kept, and any that fails is fetched again.
//
// Its binary form, little-endian:
//
//	magic     [8]byte  "WCDLPART"
//	version   u32      1
//	size      u64      the object's size
//	partSize  u64
//	sha256    [32]byte the manifest's SHA-256
//	etagLen   u16      1..maxETagLen, then the ETag's bytes
//	parts     u32      ceil(size/partSize)
//	done      ceil(parts/8) bytes, bit i%8 of byte i/8 for part i; unused bits 0
//	crcs      parts × u32, each done part's CRC-32C (Castagnoli), else 0
//	crc       u32      CRC-32C of everything before it

// ProgressSuffix names a resumable download's progress record: the
// download's file name plus this.
const ProgressSuffix = ".progress"

var progressMagic = [8]byte{'W', 'C', 'D', 'L', 'P', 'A', 'R', 'T'}

const (
	progressVersion  = 1
	maxETagLen       = 1024
	maxDownloadParts = 1 << 24
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// progressRecord is a decoded progress record.
type progressRecord struct {
	size, partSize int64
	sha256         [32]byte
	etag           string
	done           []bool
	crcs           []uint32
}

// newProgress returns an empty record for a download of m in parts of
// partSize; ok is false when m's SHA-256 does not decode (a manifest
// check refuses such manifests first).
func newProgress(m Manifest, partSize int64) (progressRecord, bool) {
	sum, err := hex.DecodeString(m.SHA256)
	if err != nil || len(sum) != 32 || m.ETag == "" || len(m.ETag) > maxETagLen || partSize <= 0 {
		return progressRecord{}, false
	}
	n := partCount(m.Size, partSize)
	if n <= 0 || n > maxDownloadParts {
		return progressRecord{}, false
	}
	p := progressRecord{size: m.Size, partSize: partSize, etag: m.ETag, done: make([]bool, n), crcs: make([]uint32, n)}
	copy(p.sha256[:], sum)
	return p, true
}

func partCount(size, partSize int64) int {
	if size <= 0 || partSize <= 0 {
		return 0
	}
	return int(min((size+partSize-1)/partSize, maxDownloadParts+1))
}

// matches reports whether p records a download of the same object version
// in the same parts as q.
func (p progressRecord) matches(q progressRecord) bool {
	return p.size == q.size && p.partSize == q.partSize && p.sha256 == q.sha256 && p.etag == q.etag
}

func (p progressRecord) encode() []byte {
	n := len(p.done)
	b := make([]byte, 0, 8+4+16+32+2+len(p.etag)+4+(n+7)/8+4*n+4)
	b = append(b, progressMagic[:]...)
	b = binary.LittleEndian.AppendUint32(b, progressVersion)
	b = binary.LittleEndian.AppendUint64(b, uint64(p.size))
	b = binary.LittleEndian.AppendUint64(b, uint64(p.partSize))
	b = append(b, p.sha256[:]...)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(p.etag)))
	b = append(b, p.etag...)
	b = binary.LittleEndian.AppendUint32(b, uint32(n))
	bits := make([]byte, (n+7)/8)
	for i, d := range p.done {
		if d {
			bits[i/8] |= 1 << (i % 8)
		}
	}
	b = append(b, bits...)
	for _, c := range p.crcs {
		b = binary.LittleEndian.AppendUint32(b, c)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// decodeProgress parses a progress record; anything malformed is
// ErrCorrupt.
func decodeProgress(b []byte) (progressRecord, error) {
	var p progressRecord
	bad := func(what string) (progressRecord, error) {
		return progressRecord{}, fmt.Errorf("download progress record: %s: %w", what, ErrCorrupt)
	}
	const fixed = 8 + 4 + 8 + 8 + 32 + 2
	if len(b) < fixed+4+4 {
		return bad(fmt.Sprintf("%d bytes, too short", len(b)))
	}
	body, tail := b[:len(b)-4], b[len(b)-4:]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(tail) {
		return bad("CRC-32C mismatch")
	}
	if !bytes.Equal(body[:8], progressMagic[:]) {
		return bad("bad magic")
	}
	if v := binary.LittleEndian.Uint32(body[8:]); v != progressVersion {
		return bad(fmt.Sprintf("version %d", v))
	}
	size, partSize := binary.LittleEndian.Uint64(body[12:]), binary.LittleEndian.Uint64(body[20:])
	if size == 0 || size > 1<<62 || partSize == 0 || partSize > 1<<62 {
		return bad(fmt.Sprintf("size %d in parts of %d", size, partSize))
	}
	p.size, p.partSize = int64(size), int64(partSize)
	copy(p.sha256[:], body[28:60])
	etagLen := int(binary.LittleEndian.Uint16(body[60:]))
	rest := body[fixed:]
	if etagLen == 0 || etagLen > maxETagLen || len(rest) < etagLen+4 {
		return bad(fmt.Sprintf("ETag of %d bytes", etagLen))
	}
	p.etag, rest = string(rest[:etagLen]), rest[etagLen:]
	n := int(binary.LittleEndian.Uint32(rest))
	rest = rest[4:]
	if want := partCount(p.size, p.partSize); n != want || n > maxDownloadParts {
		return bad(fmt.Sprintf("%d parts, the size makes %d", n, want))
	}
	if len(rest) != (n+7)/8+4*n {
		return bad(fmt.Sprintf("%d bytes of parts for %d parts", len(rest), n))
	}
	bits, crcs := rest[:(n+7)/8], rest[(n+7)/8:]
	if n%8 != 0 && bits[len(bits)-1]>>(n%8) != 0 {
		return bad("bits set past the last part")
	}
	p.done, p.crcs = make([]bool, n), make([]uint32, n)
	for i := range n {
		p.done[i] = bits[i/8]&(1<<(i%8)) != 0
		p.crcs[i] = binary.LittleEndian.Uint32(crcs[4*i:])
		if !p.done[i] && p.crcs[i] != 0 {
			return bad(fmt.Sprintf("part %d is not done but has a CRC", i))
		}
	}
	return p, nil
}

// readProgress reads the record at path.
func readProgress(path string) (progressRecord, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return progressRecord{}, err
	}
	return decodeProgress(b)
}

// writeProgress replaces the record at path (through a temporary name, so
// that a reader sees the old record or the new one).
func writeProgress(path string, p progressRecord) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, p.encode(), 0o600); err != nil {
		return fmt.Errorf("save download progress: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("save download progress: %w", err)
	}
	return nil
}
