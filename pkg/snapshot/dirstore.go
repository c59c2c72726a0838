package snapshot

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// DirStore is a [Store] in a local directory: for tests, single machines,
// and a shared file system. Each key is a file under the root (its
// slashes are directories); objects are written to a temporary file, made
// durable and renamed into place, so a reader sees a whole object or none.
// The ETag is derived from the file's inode, size and modification time,
// and for small objects a checksum of the content (see info). Conditional writes hold an
// exclusive lock (flock on root/.lock), so they are atomic between
// processes on one machine. The CRC64NVME is computed on PutFile and kept
// in a sidecar file (key + ".crc64nvme"): Stat reports it only for objects
// PutFile wrote.
type DirStore struct {
	root string
	mu   sync.Mutex // serialises conditional writes within the process
}

// NewDirStore returns a store rooted at dir, creating dir when missing.
func NewDirStore(dir string) (*DirStore, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("snapshot dir store: %w", err)
	}
	return &DirStore{root: dir}, nil
}

const (
	dirTempPrefix = ".tmp-"
	crcSuffix     = ".crc64nvme" // sidecar holding PutFile's checksum
	smallObject   = 1 << 20      // objects whose ETag includes a checksum
)

func (d *DirStore) path(key string) (string, error) {
	if key == "" || strings.HasPrefix(key, "/") || strings.HasSuffix(key, "/") {
		return "", fmt.Errorf("key %q: %w", key, ErrInvalid)
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." || strings.HasPrefix(seg, dirTempPrefix) || strings.HasSuffix(seg, crcSuffix) || seg == ".lock" {
			return "", fmt.Errorf("key %q: reserved or empty segment: %w", key, ErrInvalid)
		}
	}
	return filepath.Join(d.root, filepath.FromSlash(key)), nil
}

// PutFile copies the file into the store.
func (d *DirStore) PutFile(ctx context.Context, key, src string, progress func(done, total int64)) (ObjectInfo, error) {
	p, err := d.path(key)
	if err != nil {
		return ObjectInfo{}, err
	}
	in, err := os.Open(src)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("put %s: %w", key, err)
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("put %s: %w", key, err)
	}
	crc := NewCRC64NVME()
	r := &progressReader{r: io.TeeReader(in, crc), total: fi.Size(), fn: progress, ctx: ctx}
	if err := d.writeAtomic(p, r); err != nil {
		return ObjectInfo{}, fmt.Errorf("put %s: %w", key, err)
	}
	sum := base64.StdEncoding.EncodeToString(crc.Sum(nil))
	if err := d.writeAtomic(p+crcSuffix, strings.NewReader(sum)); err != nil {
		return ObjectInfo{}, fmt.Errorf("put %s: checksum: %w", key, err)
	}
	return d.Stat(ctx, key)
}

// PutBytes writes a small object, conditionally when cond says so.
func (d *DirStore) PutBytes(ctx context.Context, key string, data []byte, cond Condition) (ObjectInfo, error) {
	p, err := d.path(key)
	if err != nil {
		return ObjectInfo{}, err
	}
	if cond != (Condition{}) {
		unlock, err := d.lock()
		if err != nil {
			return ObjectInfo{}, fmt.Errorf("put %s: %w", key, err)
		}
		defer unlock()
		cur, err := d.Stat(ctx, key)
		switch {
		case errors.Is(err, ErrNotFound):
			if cond.IfMatch != "" {
				return ObjectInfo{}, fmt.Errorf("put %s: if-match %s: object missing: %w", key, cond.IfMatch, ErrPrecondition)
			}
		case err != nil:
			return ObjectInfo{}, err
		case cond.IfAbsent:
			return ObjectInfo{}, fmt.Errorf("put %s: object exists: %w", key, ErrPrecondition)
		case cond.IfMatch != cur.ETag:
			return ObjectInfo{}, fmt.Errorf("put %s: ETag is %s, not %s: %w", key, cur.ETag, cond.IfMatch, ErrPrecondition)
		}
	}
	if err := d.writeAtomic(p, strings.NewReader(string(data))); err != nil {
		return ObjectInfo{}, fmt.Errorf("put %s: %w", key, err)
	}
	_ = os.Remove(p + crcSuffix)
	return d.Stat(ctx, key)
}

// lock takes the store's exclusive lock, in this process and between
// processes.
func (d *DirStore) lock() (func(), error) {
	d.mu.Lock()
	f, err := os.OpenFile(filepath.Join(d.root, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		d.mu.Unlock()
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		d.mu.Unlock()
		return nil, err
	}
	return func() { f.Close(); d.mu.Unlock() }, nil
}

func (d *DirStore) writeAtomic(p string, r io.Reader) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(p), dirTempPrefix+"*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), p)
	}
	return err
}

// GetBytes reads an object whole.
func (d *DirStore) GetBytes(_ context.Context, key string) ([]byte, ObjectInfo, error) {
	p, err := d.path(key)
	if err != nil {
		return nil, ObjectInfo{}, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, ObjectInfo{}, d.notFound(key, err)
	}
	defer f.Close()
	inf, err := d.info(key, f)
	if err != nil {
		return nil, ObjectInfo{}, err
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, ObjectInfo{}, fmt.Errorf("get %s: %w", key, err)
	}
	return b, inf, nil
}

// Stat describes an object.
func (d *DirStore) Stat(_ context.Context, key string) (ObjectInfo, error) {
	p, err := d.path(key)
	if err != nil {
		return ObjectInfo{}, err
	}
	f, err := os.Open(p)
	if err != nil {
		return ObjectInfo{}, d.notFound(key, err)
	}
	defer f.Close()
	inf, err := d.info(key, f)
	if err != nil {
		return inf, err
	}
	if b, err := os.ReadFile(p + crcSuffix); err == nil {
		inf.CRC64NVME = string(b)
	}
	return inf, nil
}

func (d *DirStore) notFound(key string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	return fmt.Errorf("%s: %w", key, err)
}

// info describes the open file f; the ETag comes from the opened file, so
// a read pinned to it reads that very file even if a new one replaces it.
func (d *DirStore) info(key string, f *os.File) (ObjectInfo, error) {
	fi, err := f.Stat()
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("stat %s: %w", key, err)
	}
	if fi.IsDir() {
		return ObjectInfo{}, fmt.Errorf("%s is a directory: %w", key, ErrNotFound)
	}
	var ino uint64
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		ino = st.Ino
	}
	etag := strconv.FormatUint(ino, 36) + "-" + strconv.FormatInt(fi.Size(), 36) + "-" + strconv.FormatInt(fi.ModTime().UnixNano(), 36)
	if fi.Size() <= smallObject {
		// A freed inode is soon reused and mtimes are coarse, so a small
		// object replaced quickly (the pointer) could come back with the
		// same triple: its content's checksum tells the versions apart.
		h := NewCRC64NVME()
		if _, err := io.Copy(h, io.NewSectionReader(f, 0, fi.Size())); err != nil {
			return ObjectInfo{}, fmt.Errorf("stat %s: %w", key, err)
		}
		etag += "-" + strconv.FormatUint(h.Sum64(), 36)
	}
	return ObjectInfo{Key: key, Size: fi.Size(), ETag: etag, Modified: fi.ModTime()}, nil
}

// ReadRange reads part of the version etag of an object.
func (d *DirStore) ReadRange(_ context.Context, key, etag string, off, n int64) (io.ReadCloser, error) {
	p, err := d.path(key)
	if err != nil {
		return nil, err
	}
	if off < 0 || n <= 0 {
		return nil, fmt.Errorf("read %s: range %d+%d: %w", key, off, n, ErrInvalid)
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, d.notFound(key, err)
	}
	inf, err := d.info(key, f)
	if err == nil && inf.ETag != etag {
		err = fmt.Errorf("read %s: ETag is %s, not %s: %w", key, inf.ETag, etag, ErrChanged)
	}
	if err == nil && off+n > inf.Size {
		err = fmt.Errorf("read %s: range %d+%d beyond its %d bytes: %w", key, off, n, inf.Size, ErrInvalid)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.NewSectionReader(f, off, n), f}, nil
}

// List lists the objects under prefix, in key order.
func (d *DirStore) List(_ context.Context, prefix string) ([]ObjectInfo, error) {
	var out []ObjectInfo
	err := filepath.WalkDir(d.root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, dirTempPrefix) || strings.HasSuffix(name, crcSuffix) || p == filepath.Join(d.root, ".lock") {
			return nil
		}
		rel, err := filepath.Rel(d.root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if !strings.HasPrefix(key, prefix) {
			return nil
		}
		fi, err := e.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // deleted while listing
			}
			return err
		}
		out = append(out, ObjectInfo{Key: key, Size: fi.Size(), Modified: fi.ModTime()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", prefix, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Delete removes an object.
func (d *DirStore) Delete(_ context.Context, key string) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	_ = os.Remove(p + crcSuffix)
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

// progressReader reports bytes read and stops when ctx ends.
type progressReader struct {
	ctx   context.Context
	r     io.Reader
	done  int64
	total int64
	fn    func(done, total int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	if err := p.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := p.r.Read(b)
	p.done += int64(n)
	if p.fn != nil && n > 0 {
		p.fn(p.done, p.total)
	}
	return n, err
}
