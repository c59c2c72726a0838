package snapshot

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"sync/atomic"

	"golang.org/x/sync/errgroup"
)

// DownloadOptions configure Download.
type DownloadOptions struct {
	// PartSize is the size of each ranged GET; 0 means DefaultPartSize.
	PartSize int64
	// Concurrency bounds the ranged GETs in flight; 0 means
	// DefaultConcurrency.
	Concurrency int
	// Progress, when not nil, is called as bytes arrive.
	Progress func(done, total int64)
	// Checksum says which of the manifest's checksums to check.
	Checksum Checksum
	// Also, when not nil, receives the object's bytes in order, as they
	// arrive, beside the checksum and in a goroutine of its own: a second
	// digest of the file (cachefile.NewSealHash) computed while the
	// download runs rather than in a pass after it. Download writes
	// nothing into it after it returns.
	Also io.Writer
}

// Checksum names a whole-object checksum of the manifest.
type Checksum int

const (
	// ChecksumSHA256 checks the manifest's SHA-256 (the default).
	ChecksumSHA256 Checksum = iota
	// ChecksumCRC64NVME checks the manifest's CRC64NVME instead: several
	// times cheaper, and enough against damage in transit when the caller
	// then checks the file's own SHA-256 (a sealed cache file carries one,
	// which cachefile.Verify and Writer.Replace check) — one pass of
	// SHA-256 instead of two. A manifest without a CRC64NVME is checked
	// with its SHA-256.
	ChecksumCRC64NVME
)

// Download writes the snapshot's object into the new file dst (which must
// not exist) with parallel ranged reads pinned to the manifest's ETag, and
// checks its SHA-256 (or CRC64NVME, see opts.Checksum) against the
// manifest, hashing the parts in order while later ones are still
// arriving. On any error dst is removed: a partial or
// mismatching file is never left behind. It does not check the file's
// structure; the caller does (cachefile.Verify).
func (l *Layout) Download(ctx context.Context, m Manifest, dst string, opts DownloadOptions) error {
	if opts.PartSize <= 0 {
		opts.PartSize = DefaultPartSize
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("download %s: %w", m.Object, err)
	}
	err = l.download(ctx, m, f, opts)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(dst)
		return fmt.Errorf("download %s: %w", m.Object, err)
	}
	return nil
}

func (l *Layout) download(ctx context.Context, m Manifest, f *os.File, opts DownloadOptions) error {
	if err := f.Truncate(m.Size); err != nil {
		return err
	}
	n := int((m.Size + opts.PartSize - 1) / opts.PartSize)
	done := make([]chan struct{}, n)
	for i := range done {
		done[i] = make(chan struct{})
	}
	g, gctx := errgroup.WithContext(ctx)
	var got atomic.Int64
	sumCh := make(chan string, 1)
	useCRC := opts.Checksum == ChecksumCRC64NVME && m.CRC64NVME != ""
	// Each digest reads part i once it is written, in order.
	inOrder := func(h io.Writer) error {
		for i := range n {
			select {
			case <-done[i]:
			case <-gctx.Done():
				return gctx.Err()
			}
			off := int64(i) * opts.PartSize
			if _, err := io.Copy(h, io.NewSectionReader(f, off, min(opts.PartSize, m.Size-off))); err != nil {
				return err
			}
		}
		return nil
	}
	if opts.Also != nil {
		g.Go(func() error { return inOrder(opts.Also) })
	}
	// The CRC of each part is computed as it arrives, by the part's own
	// goroutine, and the parts' CRCs combined in order at the end: no pass
	// of its own. SHA-256 cannot be combined: it reads the parts in order.
	partCRC := make([]uint64, n)
	if !useCRC {
		g.Go(func() error {
			h := sha256.New()
			if err := inOrder(h); err != nil {
				return err
			}
			sumCh <- hex.EncodeToString(h.Sum(nil))
			return nil
		})
	}
	sem := make(chan struct{}, opts.Concurrency)
	g.Go(func() error {
		parts, pctx := errgroup.WithContext(gctx)
		for i := range n {
			select {
			case sem <- struct{}{}:
			case <-pctx.Done():
				return parts.Wait()
			}
			parts.Go(func() error {
				defer func() { <-sem }()
				off := int64(i) * opts.PartSize
				ln := min(opts.PartSize, m.Size-off)
				var crc *uint64
				if useCRC {
					crc = &partCRC[i]
				}
				if err := l.fetchPart(pctx, m, f, off, ln, crc, &got, opts.Progress); err != nil {
					return err
				}
				close(done[i])
				return nil
			})
		}
		return parts.Wait()
	})
	if err := g.Wait(); err != nil {
		return err
	}
	var sum string
	if useCRC {
		var crc uint64
		for i, c := range partCRC {
			off := int64(i) * opts.PartSize
			crc = combineCRC64NVME(crc, c, min(opts.PartSize, m.Size-off))
		}
		sum = base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint64(nil, crc))
	} else {
		sum = <-sumCh
	}
	if useCRC && sum != m.CRC64NVME {
		return fmt.Errorf("CRC64NVME is %s, manifest %s says %s: %w", sum, m.Key, m.CRC64NVME, ErrCorrupt)
	}
	if !useCRC && sum != m.SHA256 {
		return fmt.Errorf("SHA-256 is %s, manifest %s says %s: %w", sum, m.Key, m.SHA256, ErrCorrupt)
	}
	return nil
}

// fetchPart writes the part at off, of ln bytes, into f, and its
// CRC64NVME into crc when crc is not nil.
func (l *Layout) fetchPart(ctx context.Context, m Manifest, f *os.File, off, ln int64, crc *uint64, got *atomic.Int64, progress func(int64, int64)) error {
	r, err := l.store.ReadRange(ctx, m.Object, m.ETag, off, ln)
	if err != nil {
		return err
	}
	defer r.Close()
	var w io.Writer = &offsetWriter{f: f, off: off}
	var h hash.Hash64
	if crc != nil {
		h = NewCRC64NVME()
		w = io.MultiWriter(w, h)
	}
	n, err := io.Copy(w, io.LimitReader(r, ln))
	if h != nil {
		*crc = h.Sum64()
	}
	if err != nil {
		return fmt.Errorf("part at %d: %w", off, err)
	}
	if n != ln {
		return fmt.Errorf("part at %d: got %d of %d bytes: %w", off, n, ln, ErrCorrupt)
	}
	if progress != nil {
		progress(got.Add(n), m.Size)
	}
	return nil
}

// offsetWriter writes sequentially into a file from an offset.
type offsetWriter struct {
	f   *os.File
	off int64
}

func (w *offsetWriter) Write(b []byte) (int, error) {
	n, err := w.f.WriteAt(b, w.off)
	w.off += int64(n)
	return n, err
}
