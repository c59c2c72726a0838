package snapshot

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"os"
	"sync"
	"sync/atomic"

	"github.com/zeebo/xxh3"
	"golang.org/x/sync/errgroup"
)

// DefaultDownloadPartSize is the size of each ranged GET of a download:
// small enough that the parts in flight (Concurrency of them, fetched in
// order) arrive one after another, so that the in-order digests follow the
// download closely instead of starting when all of it is in.
const DefaultDownloadPartSize = 4 << 20

// copyBuffer is the size of the reads and writes of a download: large
// enough that system calls cost little per byte, small enough to stay in
// the CPU's cache while it is checksummed.
const copyBuffer = 256 << 10

// DownloadOptions configure Download.
type DownloadOptions struct {
	// PartSize is the size of each ranged GET; 0 means
	// DefaultDownloadPartSize.
	PartSize int64
	// Concurrency bounds the ranged GETs in flight; 0 means
	// DefaultConcurrency.
	Concurrency int
	// Progress, when not nil, is called as bytes arrive (parts kept from
	// an interrupted download count as arrived).
	Progress func(done, total int64)
	// Checksum says which of the manifest's checksums to check.
	Checksum Checksum
	// Also are in-order consumers: each receives the object's bytes in
	// order, as they arrive, in a goroutine of its own that reads them back
	// from the file at its own pace (nil entries are skipped): checks of the file computed while the download runs
	// (cachefile.SealCheck's parts) rather than in a pass after it, side
	// by side on separate cores rather than in step. Download writes
	// nothing into them after it returns.
	Also []io.Writer
	// NoWriteback skips starting the writeback of each part to disk as it
	// completes (see Download): for a file that is never made durable
	// (fsync), such as a temporary base or a cache file opened with
	// NoSync, it is CPU and disk traffic for nothing.
	NoWriteback bool
	// Resume keeps an interrupted download: the file and a progress record
	// beside it (ProgressSuffix) stay when Download fails for any reason
	// but a corrupt or changed object, and the next Download of the same
	// object version into the same file fetches only the parts missing.
	Resume bool
}

// Checksum names a whole-object checksum of the manifest.
type Checksum int

const (
	// ChecksumSHA256 checks the manifest's SHA-256 (the default).
	ChecksumSHA256 Checksum = iota
	// ChecksumCRC64NVME checks the manifest's CRC64NVME instead, computed
	// by each part as it arrives and combined. A manifest without a
	// CRC64NVME is checked with its SHA-256.
	ChecksumCRC64NVME
	// ChecksumNone checks none of them: for a caller that checks the file
	// completely through Also (see the package documentation for why a
	// sealed cache file's own SHA-256 is enough).
	ChecksumNone
	// ChecksumXXH3 checks the manifest's XXH3-128 instead of its SHA-256:
	// the same bytes vouched for at a twentieth of the CPU (see the package
	// documentation). A manifest without an XXH3-128 is checked with its
	// SHA-256.
	ChecksumXXH3
)

// DownloadStats say what a download did.
type DownloadStats struct {
	// Fetched is the number of bytes read from the store.
	Fetched int64
	// Resumed is the number of bytes of parts kept from an interrupted
	// download (Resume).
	Resumed int64
}

// Download writes the snapshot's object into the file dst with parallel
// ranged reads pinned to the manifest's ETag, fetching the parts in order,
// and checks the manifest's checksum (see opts.Checksum), hashing the
// bytes in order as they arrive. Unless opts.NoWriteback, each part's
// writeback to disk starts as it completes, so that the fsync that makes
// the file durable finds most of it on disk already. Without opts.Resume
// dst must not exist,
// and on any error it is removed; with it, see DownloadOptions.Resume. A
// mismatching file is never left behind. It does not check the file's
// structure; the caller does (cachefile.SealCheck or Verify).
func (l *Layout) Download(ctx context.Context, m Manifest, dst string, opts DownloadOptions) (DownloadStats, error) {
	if opts.PartSize <= 0 {
		opts.PartSize = DefaultDownloadPartSize
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	d, err := l.openDownload(m, dst, opts)
	if err != nil {
		return DownloadStats{}, fmt.Errorf("download %s: %w", m.Object, err)
	}
	err = d.run(ctx)
	if cerr := d.f.Close(); err == nil {
		err = cerr
	}
	st := DownloadStats{Fetched: d.fetched.Load(), Resumed: d.resumed}
	progress := dst + ProgressSuffix
	if err != nil {
		if !opts.Resume || errors.Is(err, ErrCorrupt) || errors.Is(err, ErrChanged) || errors.Is(err, ErrNotFound) {
			os.Remove(dst)
			os.Remove(progress)
		}
		return st, fmt.Errorf("download %s: %w", m.Object, err)
	}
	os.Remove(progress)
	return st, nil
}

// download is one run of Download.
type download struct {
	l     *Layout
	m     Manifest
	f     *os.File
	opts  DownloadOptions
	parts int
	// written[i] is how many bytes of part i are in the file; wakes poke
	// the in-order readers when one grows.
	written []atomic.Int64
	wakes   []chan struct{}
	fetched atomic.Int64
	resumed int64
	done    atomic.Int64 // bytes in the file, for Progress
	partCRC []uint64     // CRC64NVME of each part (ChecksumCRC64NVME)

	mu       sync.Mutex // guards progress and its file
	progress progressRecord
	resume   bool
}

// openDownload opens (or, resuming, reopens) the download's file.
func (l *Layout) openDownload(m Manifest, dst string, opts DownloadOptions) (*download, error) {
	n := partCount(m.Size, opts.PartSize)
	if n <= 0 || n > maxDownloadParts {
		return nil, fmt.Errorf("%d bytes in parts of %d: %w", m.Size, opts.PartSize, ErrInvalid)
	}
	d := &download{l: l, m: m, opts: opts, parts: n, written: make([]atomic.Int64, n),
		partCRC: make([]uint64, n)}
	flags := os.O_CREATE | os.O_EXCL | os.O_RDWR
	if opts.Resume {
		var ok bool
		if d.progress, ok = newProgress(m, opts.PartSize); ok {
			d.resume = true
			if f, kept := d.reopen(dst); f != nil {
				d.f = f
				d.keep(kept)
				return d, nil
			}
		}
		os.Remove(dst + ProgressSuffix)
		flags = os.O_CREATE | os.O_TRUNC | os.O_RDWR
	}
	f, err := os.OpenFile(dst, flags, 0o600)
	if err != nil {
		return nil, err
	}
	if err := f.Truncate(m.Size); err != nil {
		f.Close()
		return nil, err
	}
	d.f = f
	return d, nil
}

// reopen opens dst when its progress record is of this download, and
// returns which of the parts it lists still match their CRC-32C.
func (d *download) reopen(dst string) (*os.File, []bool) {
	rec, err := readProgress(dst + ProgressSuffix)
	if err != nil || !rec.matches(d.progress) {
		return nil, nil
	}
	f, err := os.OpenFile(dst, os.O_RDWR, 0)
	if err != nil {
		return nil, nil
	}
	if fi, err := f.Stat(); err != nil || fi.Size() != d.m.Size {
		f.Close()
		return nil, nil
	}
	kept := make([]bool, d.parts)
	buf := make([]byte, copyBuffer)
	for i, ok := range rec.done {
		if !ok {
			continue
		}
		off, ln := d.span(i)
		c, err := crcOf(f, off, ln, buf)
		if err == nil && c == rec.crcs[i] {
			kept[i] = true
			d.progress.done[i], d.progress.crcs[i] = true, c
		}
	}
	return f, kept
}

// keep marks the kept parts as in the file.
func (d *download) keep(kept []bool) {
	for i, ok := range kept {
		if ok {
			_, ln := d.span(i)
			d.written[i].Store(ln)
			d.resumed += ln
		}
	}
	d.done.Store(d.resumed)
}

func crcOf(f *os.File, off, ln int64, buf []byte) (uint32, error) {
	var c uint32
	for ln > 0 {
		k, err := f.ReadAt(buf[:min(int64(len(buf)), ln)], off)
		if err != nil {
			return 0, err
		}
		c = crc32.Update(c, castagnoli, buf[:k])
		off, ln = off+int64(k), ln-int64(k)
	}
	return c, nil
}

// span returns part i's offset and length.
func (d *download) span(i int) (off, ln int64) {
	off = int64(i) * d.opts.PartSize
	return off, min(d.opts.PartSize, d.m.Size-off)
}

func (d *download) run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	// Parts kept from an interrupted download have no CRC64NVME: a resumed
	// download checks the SHA-256 instead.
	useCRC := d.opts.Checksum == ChecksumCRC64NVME && d.m.CRC64NVME != "" && d.resumed == 0
	useXX := d.opts.Checksum == ChecksumXXH3 && d.m.XXH3 != ""
	useSHA := d.opts.Checksum == ChecksumSHA256 || d.opts.Checksum == ChecksumCRC64NVME && !useCRC ||
		d.opts.Checksum == ChecksumXXH3 && !useXX
	var sha hash.Hash
	var xx *xxh3.Hasher
	var sinks []io.Writer
	switch {
	case useSHA:
		sha = sha256.New()
		sinks = append(sinks, sha)
	case useXX:
		xx = xxh3.New()
		sinks = append(sinks, xx)
	}
	for _, w := range d.opts.Also {
		switch {
		case w == nil:
		case xx != nil && sinks[0] == io.Writer(xx):
			// The XXH3-128 costs less than reading the bytes back once
			// more: it rides with the first consumer.
			sinks[0] = io.MultiWriter(xx, w)
		default:
			sinks = append(sinks, w)
		}
	}
	for range sinks {
		d.wakes = append(d.wakes, make(chan struct{}, 1))
	}
	for i, w := range sinks {
		g.Go(func() error { return d.inOrder(gctx, w, d.wakes[i]) })
	}
	g.Go(func() error { return d.fetchAll(gctx, useCRC) })
	if err := g.Wait(); err != nil {
		return err
	}
	switch {
	case useCRC:
		var crc uint64
		for i, c := range d.partCRC {
			_, ln := d.span(i)
			crc = combineCRC64NVME(crc, c, ln)
		}
		if sum := base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint64(nil, crc)); sum != d.m.CRC64NVME {
			return fmt.Errorf("CRC64NVME is %s, manifest %s says %s: %w", sum, d.m.Key, d.m.CRC64NVME, ErrCorrupt)
		}
	case useXX:
		b := xx.Sum128().Bytes()
		if sum := hex.EncodeToString(b[:]); sum != d.m.XXH3 {
			return fmt.Errorf("XXH3-128 is %s, manifest %s says %s: %w", sum, d.m.Key, d.m.XXH3, ErrCorrupt)
		}
	case useSHA:
		if sum := hex.EncodeToString(sha.Sum(nil)); sum != d.m.SHA256 {
			return fmt.Errorf("SHA-256 is %s, manifest %s says %s: %w", sum, d.m.Key, d.m.SHA256, ErrCorrupt)
		}
	}
	return nil
}

// fetchAll fetches the parts not in the file yet, in order, at most
// Concurrency at once.
func (d *download) fetchAll(ctx context.Context, useCRC bool) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(d.opts.Concurrency)
	for i := range d.parts {
		if _, ln := d.span(i); d.written[i].Load() == ln {
			continue
		}
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error { return d.fetchPart(gctx, i, useCRC) })
	}
	return g.Wait()
}

// fetchPart writes part i into the file, telling the in-order reader as
// it grows, and records it in the progress record when it is complete.
func (d *download) fetchPart(ctx context.Context, i int, useCRC bool) error {
	off, ln := d.span(i)
	r, err := d.l.store.ReadRange(ctx, d.m.Object, d.m.ETag, off, ln)
	if err != nil {
		return err
	}
	defer r.Close()
	var c64 hash.Hash64
	if useCRC {
		c64 = NewCRC64NVME()
	}
	var c32 uint32
	buf := make([]byte, copyBuffer)
	for got := int64(0); got < ln; {
		k, err := io.ReadFull(r, buf[:min(int64(len(buf)), ln-got)])
		if k > 0 {
			d.fetched.Add(int64(k))
			if _, werr := d.f.WriteAt(buf[:k], off+got); werr != nil {
				return werr
			}
			if c64 != nil {
				c64.Write(buf[:k])
			}
			if d.resume {
				c32 = crc32.Update(c32, castagnoli, buf[:k])
			}
			got += int64(k)
			d.written[i].Store(got)
			d.poke()
			if d.opts.Progress != nil {
				d.opts.Progress(d.done.Add(int64(k)), d.m.Size)
			}
		}
		if err != nil && got < ln {
			if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
				return fmt.Errorf("part at %d: got %d of %d bytes: %w", off, got, ln, io.ErrUnexpectedEOF)
			}
			return fmt.Errorf("part at %d: %w", off, err)
		}
	}
	if c64 != nil {
		d.partCRC[i] = c64.Sum64()
	}
	if !d.opts.NoWriteback {
		startWriteback(d.f, off, ln)
	}
	return d.record(i, c32)
}

// record notes part i as done in the progress record.
func (d *download) record(i int, crc uint32) error {
	if !d.resume {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.progress.done[i], d.progress.crcs[i] = true, crc
	return writeProgress(d.f.Name()+ProgressSuffix, d.progress)
}

func (d *download) poke() {
	for _, w := range d.wakes {
		select {
		case w <- struct{}{}:
		default:
		}
	}
}

// inOrder reads the file from the start into w as the parts fill it,
// following each part as it grows; poke wakes it.
func (d *download) inOrder(ctx context.Context, w io.Writer, wake <-chan struct{}) error {
	buf := make([]byte, copyBuffer)
	for i := range d.parts {
		off, ln := d.span(i)
		for seen := int64(0); seen < ln; {
			have := d.written[i].Load()
			if have == seen {
				select {
				case <-wake:
				case <-ctx.Done():
					return ctx.Err()
				}
				continue
			}
			for seen < have {
				k, err := d.f.ReadAt(buf[:min(int64(len(buf)), have-seen)], off+seen)
				if err != nil {
					return fmt.Errorf("read back at %d: %w", off+seen, err)
				}
				if _, err := w.Write(buf[:k]); err != nil {
					return err
				}
				seen += int64(k)
			}
		}
	}
	return nil
}
