package dirstore

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"

	"github.com/whycache/whycache/pkg/logstore"
)

// The identity and horizon files: small, checksummed, written once or
// replaced atomically (temporary file, sync, rename, sync of the directory).
const (
	identityMagic = "WCLOGID1"
	horizonMagic  = "WCLOGHZ1"
	smallFileLen  = 32
)

// encodeSmall returns a 32-byte small file: magic, 20 bytes of payload and
// the CRC-32C of the first 28 bytes.
func encodeSmall(magic string, payload []byte) []byte {
	b := make([]byte, smallFileLen)
	copy(b, magic)
	copy(b[8:28], payload)
	binary.LittleEndian.PutUint32(b[28:], crc32.Checksum(b[:28], castagnoli))
	return b
}

// decodeSmall checks a small file and returns its 20 bytes of payload.
func decodeSmall(magic string, b []byte) ([]byte, error) {
	if len(b) != smallFileLen || string(b[:8]) != magic {
		return nil, fmt.Errorf("bad magic or length %d: %w", len(b), errCorrupt)
	}
	if crc32.Checksum(b[:28], castagnoli) != binary.LittleEndian.Uint32(b[28:]) {
		return nil, fmt.Errorf("bad checksum: %w", errCorrupt)
	}
	return b[8:28], nil
}

// encodeIdentity returns the identity file for id.
func encodeIdentity(id logstore.LogID) []byte { return encodeSmall(identityMagic, id[:]) }

// readIdentity reads a log's identity file.
func readIdentity(dir string) (logstore.LogID, error) {
	var id logstore.LogID
	b, err := os.ReadFile(filepath.Join(dir, identityFile))
	if err != nil {
		return id, fmt.Errorf("read identity: %w", err)
	}
	p, err := decodeSmall(identityMagic, b)
	if err != nil {
		return id, fmt.Errorf("identity file: %w", err)
	}
	copy(id[:], p)
	return id, nil
}

// encodeHorizon returns the horizon file for h.
func encodeHorizon(h uint64) []byte {
	return encodeSmall(horizonMagic, binary.LittleEndian.AppendUint64(nil, h))
}

// readHorizon reads a log's durable horizon.
func readHorizon(dir string) (uint64, error) {
	b, err := os.ReadFile(filepath.Join(dir, horizonFile))
	if err != nil {
		return 0, fmt.Errorf("read horizon: %w", err)
	}
	p, err := decodeSmall(horizonMagic, b)
	if err != nil {
		return 0, fmt.Errorf("horizon file: %w", err)
	}
	return binary.LittleEndian.Uint64(p), nil
}

// writeFileAtomic replaces dir/name with data: it writes a temporary file,
// syncs it, renames it into place and syncs the directory.
func writeFileAtomic(dir, name string, data []byte) error {
	f, err := os.CreateTemp(dir, tmpPrefix+name+"-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	defer os.Remove(f.Name()) // fails harmlessly once renamed
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", name, err)
	}
	if err := os.Rename(f.Name(), filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("rename %s into place: %w", name, err)
	}
	return syncDir(dir)
}

// syncDir syncs a directory, so that the names created in it are durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
