package snapshot

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/zeebo/xxh3"

	"github.com/whycache/whycache/pkg/logstore"
)

// Names in a log's folder.
const (
	pointerName  = "latest"
	objectSuffix = ".whycache"
	manifestExt  = ".json"
	// maxPointerTries bounds the retries of the pointer's compare-and-swap
	// when other runs keep moving it.
	maxPointerTries = 20
)

// Layout reads and writes snapshots in a Store under a prefix (see the
// package documentation for the layout).
type Layout struct {
	store  Store
	prefix string
}

// NewLayout returns the layout under prefix ("" for the store's root).
func NewLayout(store Store, prefix string) *Layout {
	return &Layout{store: store, prefix: strings.Trim(prefix, "/")}
}

// Store returns the layout's store.
func (l *Layout) Store() Store { return l.store }

// Dir returns the key prefix of a log's snapshots, ending in a slash.
func (l *Layout) Dir(log logstore.LogID) string {
	return path.Join(l.prefix, log.String()) + "/"
}

// pointer is the JSON of the "latest" object.
type pointer struct {
	Manifest string `json:"manifest"`
	UpdateID uint64 `json:"update_id"`
}

// PublishInfo is what the caller knows of a sealed cache file to publish.
type PublishInfo struct {
	// Log is the file's log identity.
	Log logstore.LogID
	// FormatVersion is the file's format version.
	FormatVersion uint32
	// UpdateID is the file's applied id.
	UpdateID uint64
	// ToolVersion is the version of the tool publishing it.
	ToolVersion string
	// Created is when the snapshot was made (now when zero).
	Created time.Time
}

// Published says what Publish did.
type Published struct {
	// Manifest is the new snapshot's manifest.
	Manifest Manifest
	// PointerMoved is false when the pointer already named a snapshot at
	// the same or a higher update id (another run won), in which case the
	// new snapshot stands beside it.
	PointerMoved bool
}

// Publish uploads the sealed file at path as a new snapshot: the object,
// then its manifest, then the pointer, which only ever moves to a higher
// update id. progress, when not nil, is called as bytes go up.
func (l *Layout) Publish(ctx context.Context, file string, info PublishInfo, progress func(done, total int64)) (Published, error) {
	// The checksums go into the manifest only, so they are computed while
	// the upload runs rather than before it.
	type sumsResult struct {
		sums fileSums
		err  error
	}
	sumsCh := make(chan sumsResult, 1)
	go func() {
		sums, err := sumFile(ctx, file)
		sumsCh <- sumsResult{sums, err}
	}()
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	base := l.Dir(info.Log) + fmt.Sprintf("%020d-%s", info.UpdateID, hex.EncodeToString(rnd[:]))
	obj, err := l.store.PutFile(ctx, base+objectSuffix, file, progress)
	summed := <-sumsCh
	if err != nil {
		return Published{}, fmt.Errorf("publish: upload: %w", err)
	}
	if summed.err != nil {
		return Published{}, fmt.Errorf("publish: %w", summed.err)
	}
	sums := summed.sums
	// Read back what the store holds: the manifest records the server's
	// checksum, which must be the one computed from the file.
	st, err := l.store.Stat(ctx, obj.Key)
	if err != nil {
		return Published{}, fmt.Errorf("publish: %w", err)
	}
	if st.Size != obj.Size || st.CRC64NVME != "" && obj.CRC64NVME != "" && st.CRC64NVME != obj.CRC64NVME {
		return Published{}, fmt.Errorf("publish: %s stored as %d bytes CRC64NVME %s, sent %d bytes CRC64NVME %s: %w",
			obj.Key, st.Size, st.CRC64NVME, obj.Size, obj.CRC64NVME, ErrCorrupt)
	}
	created := info.Created
	if created.IsZero() {
		created = time.Now()
	}
	m := Manifest{Version: ManifestVersion, LogID: info.Log.String(), FormatVersion: info.FormatVersion,
		UpdateID: info.UpdateID, Object: obj.Key, Size: st.Size, SHA256: hex.EncodeToString(sums.sha256[:]),
		XXH3:      hex.EncodeToString(sums.xxh3[:]),
		CRC64NVME: obj.CRC64NVME, ETag: st.ETag, Created: created.UTC(), ToolVersion: info.ToolVersion,
		Key: base + manifestExt}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return Published{}, fmt.Errorf("publish: %w", err)
	}
	if _, err := l.store.PutBytes(ctx, m.Key, b, Condition{IfAbsent: true}); err != nil {
		return Published{}, fmt.Errorf("publish: manifest: %w", err)
	}
	moved, err := l.movePointer(ctx, info.Log, pointer{Manifest: m.Key, UpdateID: m.UpdateID})
	if err != nil {
		return Published{Manifest: m}, fmt.Errorf("publish: %w", err)
	}
	return Published{Manifest: m, PointerMoved: moved}, nil
}

// movePointer sets the pointer to p unless it already names an update id
// at or above p's, with a compare-and-swap on the pointer's ETag.
func (l *Layout) movePointer(ctx context.Context, log logstore.LogID, p pointer) (bool, error) {
	key := l.Dir(log) + pointerName
	b, err := json.Marshal(p)
	if err != nil {
		return false, err
	}
	for range maxPointerTries {
		cur, inf, err := l.readPointer(ctx, log)
		cond := Condition{IfMatch: inf.ETag}
		switch {
		case errors.Is(err, ErrNotFound):
			cond = Condition{IfAbsent: true}
		case errors.Is(err, ErrCorrupt):
			// An unreadable pointer is replaced: it helps no reader.
		case err != nil:
			return false, err
		case cur.UpdateID >= p.UpdateID:
			return false, nil
		}
		_, err = l.store.PutBytes(ctx, key, b, cond)
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, ErrPrecondition) {
			return false, fmt.Errorf("move pointer: %w", err)
		}
	}
	return false, fmt.Errorf("move pointer: other writers kept moving it (%d tries): %w", maxPointerTries, ErrPrecondition)
}

func (l *Layout) readPointer(ctx context.Context, log logstore.LogID) (pointer, ObjectInfo, error) {
	b, inf, err := l.store.GetBytes(ctx, l.Dir(log)+pointerName)
	if err != nil {
		return pointer{}, inf, err
	}
	var p pointer
	if err := json.Unmarshal(b, &p); err != nil || p.Manifest == "" {
		return pointer{}, inf, fmt.Errorf("pointer %s: %w", inf.Key, ErrCorrupt)
	}
	return p, inf, nil
}

// Latest returns the newest usable snapshot of the log: the pointer's when
// it checks out (saving a LIST), else the newest listed one that does.
// ErrNoSnapshot when there is none.
func (l *Layout) Latest(ctx context.Context, log logstore.LogID) (Manifest, error) {
	if p, _, err := l.readPointer(ctx, log); err == nil {
		if m, err := l.manifest(ctx, log, p.Manifest); err == nil && l.Check(ctx, m) == nil {
			return m, nil
		}
	} else if !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrCorrupt) {
		return Manifest{}, err
	}
	all, err := l.List(ctx, log)
	if err != nil {
		return Manifest{}, err
	}
	for _, m := range all {
		if l.Check(ctx, m) == nil {
			return m, nil
		}
	}
	return Manifest{}, fmt.Errorf("log %s under %q: %w", log, l.prefix, ErrNoSnapshot)
}

// Pointed returns the manifest the pointer names, without checking its
// object (see Check): ErrNotFound without a pointer, ErrCorrupt when the
// pointer or the manifest does not parse.
func (l *Layout) Pointed(ctx context.Context, log logstore.LogID) (Manifest, error) {
	p, _, err := l.readPointer(ctx, log)
	if err != nil {
		return Manifest{}, err
	}
	return l.manifest(ctx, log, p.Manifest)
}

// manifest reads and checks the manifest at key, which must belong to log.
func (l *Layout) manifest(ctx context.Context, log logstore.LogID, key string) (Manifest, error) {
	if !strings.HasPrefix(key, l.Dir(log)) {
		return Manifest{}, fmt.Errorf("manifest %s is outside %s: %w", key, l.Dir(log), ErrCorrupt)
	}
	b, _, err := l.store.GetBytes(ctx, key)
	if err != nil {
		return Manifest{}, err
	}
	m, err := decodeManifest(key, b)
	if err != nil {
		return Manifest{}, err
	}
	if m.LogID != log.String() || !strings.HasPrefix(m.Object, l.Dir(log)) {
		return Manifest{}, fmt.Errorf("manifest %s is of log %s, object %s: %w", key, m.LogID, m.Object, ErrCorrupt)
	}
	return m, nil
}

// List returns the log's snapshots whose manifests parse, newest (highest
// update id) first. It does not check their objects (see Check); a
// manifest that does not parse is skipped.
func (l *Layout) List(ctx context.Context, log logstore.LogID) ([]Manifest, error) {
	objs, err := l.store.List(ctx, l.Dir(log))
	if err != nil {
		return nil, fmt.Errorf("list snapshots: %w", err)
	}
	var out []Manifest
	for _, o := range objs {
		if !strings.HasSuffix(o.Key, manifestExt) {
			continue
		}
		m, err := l.manifest(ctx, log, o.Key)
		if err != nil {
			if errors.Is(err, ErrNotFound) || errors.Is(err, ErrCorrupt) {
				continue // deleted meanwhile, or unusable
			}
			return nil, err
		}
		out = append(out, m)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].UpdateID != out[j].UpdateID {
			return out[i].UpdateID > out[j].UpdateID
		}
		return out[i].Created.After(out[j].Created)
	})
	return out, nil
}

// Check reports whether the manifest's object exists as the manifest
// describes it: same ETag, size and (when the store reports one) CRC64NVME.
func (l *Layout) Check(ctx context.Context, m Manifest) error {
	st, err := l.store.Stat(ctx, m.Object)
	if err != nil {
		return fmt.Errorf("snapshot %s: %w", m.Key, err)
	}
	if st.ETag != m.ETag || st.Size != m.Size || st.CRC64NVME != "" && st.CRC64NVME != m.CRC64NVME {
		return fmt.Errorf("snapshot %s: object %s is %d bytes ETag %s CRC64NVME %s, manifest says %d bytes ETag %s CRC64NVME %s: %w",
			m.Key, m.Object, st.Size, st.ETag, st.CRC64NVME, m.Size, m.ETag, m.CRC64NVME, ErrCorrupt)
	}
	return nil
}

// objectUpdateID reads the update id from a snapshot object's or
// manifest's name.
func objectUpdateID(key string) (uint64, bool) {
	name := path.Base(key)
	digits, _, ok := strings.Cut(name, "-")
	if !ok || len(digits) != 20 {
		return 0, false
	}
	id, err := strconv.ParseUint(digits, 10, 64)
	return id, err == nil
}

// fileSums are the whole-file checksums a manifest records.
type fileSums struct {
	sha256 [32]byte
	xxh3   [16]byte
}

// sumFile computes the file's checksums in one read of it.
func sumFile(ctx context.Context, file string) (fileSums, error) {
	f, err := os.Open(file)
	if err != nil {
		return fileSums{}, err
	}
	defer f.Close()
	sha, xx := sha256.New(), xxh3.New()
	if _, err := io.Copy(io.MultiWriter(sha, xx), &progressReader{ctx: ctx, r: f}); err != nil {
		return fileSums{}, fmt.Errorf("checksums of %s: %w", file, err)
	}
	var s fileSums
	sha.Sum(s.sha256[:0])
	s.xxh3 = xx.Sum128().Bytes()
	return s, nil
}
