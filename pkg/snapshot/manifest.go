package snapshot

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// ManifestVersion is the version of the manifest's JSON shape. Readers
// reject manifests of other versions.
const ManifestVersion = 1

// Manifest describes one snapshot object. It is stored as JSON beside the
// object and written only after the object is complete.
type Manifest struct {
	// Version is ManifestVersion.
	Version int `json:"manifest_version"`
	// LogID is the identity of the log the snapshot was made from (a UUID).
	LogID string `json:"log_id"`
	// FormatVersion is the cache file's format version.
	FormatVersion uint32 `json:"format_version"`
	// UpdateID is the last update the snapshot holds.
	UpdateID uint64 `json:"update_id"`
	// Object is the snapshot object's key in the store.
	Object string `json:"object"`
	// Size is the object's length in bytes.
	Size int64 `json:"size"`
	// SHA256 is the hex SHA-256 of the whole object.
	SHA256 string `json:"sha256"`
	// CRC64NVME is the object's full-object CRC64NVME (base64), as the
	// store checked it on upload.
	CRC64NVME string `json:"crc64nvme"`
	// XXH3 is the hex XXH3-128 of the whole object, computed from the
	// same bytes as SHA256: a checksum a download can check at memory
	// speed (see ChecksumXXH3). Empty in manifests of tools that predate
	// it; readers that do not know it ignore it.
	XXH3 string `json:"xxh3,omitempty"`
	// ETag is the object's ETag after the upload; downloads pin to it.
	ETag string `json:"etag"`
	// Created is when the snapshot was made.
	Created time.Time `json:"created"`
	// ToolVersion is the version of the tool that made it.
	ToolVersion string `json:"tool_version"`

	// Key is the manifest's own key (not stored).
	Key string `json:"-"`
}

// decodeManifest parses and checks a manifest read from key.
func decodeManifest(key string, b []byte) (Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return Manifest{}, fmt.Errorf("manifest %s: %w: %w", key, ErrCorrupt, err)
	}
	m.Key = key
	if err := m.check(); err != nil {
		return Manifest{}, fmt.Errorf("manifest %s: %w", key, err)
	}
	return m, nil
}

func (m Manifest) check() error {
	switch {
	case m.Version != ManifestVersion:
		return fmt.Errorf("manifest version %d, want %d: %w", m.Version, ManifestVersion, ErrCorrupt)
	case m.Object == "" || m.ETag == "":
		return fmt.Errorf("no object or ETag: %w", ErrCorrupt)
	case m.Size <= 0:
		return fmt.Errorf("size %d: %w", m.Size, ErrCorrupt)
	}
	if b, err := hex.DecodeString(m.SHA256); err != nil || len(b) != 32 {
		return fmt.Errorf("SHA-256 %q is not 64 hex digits: %w", m.SHA256, ErrCorrupt)
	}
	if b, err := hex.DecodeString(m.XXH3); m.XXH3 != "" && (err != nil || len(b) != 16) {
		return fmt.Errorf("XXH3-128 %q is not 32 hex digits: %w", m.XXH3, ErrCorrupt)
	}
	return nil
}
