package cachefile

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
)

// SealInfo describes a sealed file written by Seal.
type SealInfo struct {
	// Path is where the sealed file is.
	Path string
	// Size is its length in bytes.
	Size int64
	// UpdateID is the applied id it holds.
	UpdateID uint64
	// LogID is the identity of its log.
	LogID [16]byte
	// Generation is the generation it was sealed from.
	Generation uint64
	// Keys is its number of keys.
	Keys int
	// Checksum is its SHA-256, as stored in its header (see the format
	// document for what it covers).
	Checksum [32]byte
}

// Seal writes a sealed copy of the current state to dst: compact (no dead
// records, no tombstones, no headroom), marked sealed and carrying a
// SHA-256 checksum. The copy is written to a temporary file beside dst,
// made durable and renamed to dst, so dst is never half-written. Apply
// waits while Seal runs. The sealed file is what a snapshot uploads; Verify
// checks it and Replace installs it.
func (w *Writer) Seal(ctx context.Context, dst string) (SealInfo, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return SealInfo{}, err
	}
	inf, err := w.seal(ctx, dst)
	if err != nil {
		return inf, fmt.Errorf("seal %s to %s: %w", w.path, dst, err)
	}
	return inf, nil
}

func (w *Writer) seal(ctx context.Context, dst string) (SealInfo, error) {
	if filepath.Clean(dst) == filepath.Clean(w.path) {
		return SealInfo{}, fmt.Errorf("the sealed copy must not replace the live file: %w", ErrInvalid)
	}
	if err := removeTemps(dst); err != nil {
		return SealInfo{}, err
	}
	recBytes := w.st.tail - w.m.hdr.dataOff - w.st.garbage
	capacity := max(nextPow2(uint64(float64(w.st.live)/w.opts.MaxLoadFactor)+1), minCapacity)
	dataOff := uint64(headerSize) + capacity*8
	h := header{
		version: Version, logID: w.logID, generation: w.m.hdr.generation, indexOff: headerSize,
		capacity: capacity, dataOff: dataOff, fileSize: dataOff + recBytes, flags: flagSealed,
	}
	b, err := w.newBuilder(dst, h)
	if err != nil {
		return SealInfo{}, err
	}
	err = b.copyFrom(ctx, w.m, w.st.tail)
	if err == nil && b.st.tail != h.fileSize {
		err = fmt.Errorf("copied %d bytes of records, counted %d", b.st.tail-dataOff, recBytes)
	}
	if err == nil {
		noSync := b.noSync
		b.noSync = true // sync once, after the checksum
		err = b.finish(w.st.applied, true, [16]byte{}, w.opts.now().UnixNano())
		b.noSync = noSync
	}
	if err == nil {
		err = b.open(false)
	}
	var sum [32]byte
	if err == nil {
		sum, err = sealChecksum(ctx, b.m.mm)
	}
	if err == nil {
		if err = pwrite(fpWriteSum, b.f, sum[:], offChecksum); err == nil {
			err = b.sync()
		}
	}
	at("seal:written")
	if err == nil {
		err = rename(fpRename, b.tmp, dst)
	}
	if err != nil {
		b.abort()
		return SealInfo{}, err
	}
	at("seal:renamed")
	if !w.opts.NoSync {
		err = syncDir(dir(dst))
	}
	inf := SealInfo{Path: dst, Size: int64(h.fileSize), UpdateID: w.st.applied, LogID: w.logID,
		Generation: h.generation, Keys: int(b.st.live), Checksum: sum}
	_ = b.m.unmap()
	_ = b.f.Close()
	return inf, err
}

// Replace installs the sealed file src (a snapshot downloaded for a
// bootstrap, say) as the file's new generation. It verifies src fully
// first (SHA-256, structure, CRCs) and checks that it belongs to the
// writer's log (ErrIdentityMismatch otherwise). The writer's applied id
// becomes src's, which may be lower than the current one.
//
// Replace copies src's records into a new generation with headroom (so src
// may be on any filesystem and stays untouched), verifies that copy, and
// renames it over the path; readers follow as after a compaction.
func (w *Writer) Replace(ctx context.Context, src string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return err
	}
	if err := w.replaceFrom(ctx, src); err != nil {
		return fmt.Errorf("replace %s with %s: %w", w.path, src, err)
	}
	return nil
}

// adoptSealed replaces a sealed file found at the path by a writable
// generation of the same content.
func (w *Writer) adoptSealed(ctx context.Context) error {
	return w.replaceFrom(ctx, w.path)
}

func (w *Writer) replaceFrom(ctx context.Context, src string) error {
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer f.Close()
	sm, err := mapFile(f, false)
	if err != nil {
		return err
	}
	defer sm.unmap()
	inf, err := verifyMapping(ctx, src, sm, nil)
	switch {
	case err != nil:
		return err
	case !inf.Sealed:
		return fmt.Errorf("%s is not a sealed file: %w", src, ErrInvalid)
	case inf.LogID != w.logID:
		return fmt.Errorf("%s belongs to log %s, not %s: %w", src, formatID(inf.LogID), formatID(w.logID), ErrIdentityMismatch)
	}
	recBytes := sm.hdr.fileSize - sm.hdr.dataOff
	h := w.sizeFor(uint64(inf.LiveKeys), recBytes, 0, 0)
	h.generation = sm.hdr.generation + 1
	if w.m != nil {
		h.generation = max(h.generation, w.m.hdr.generation+1)
	}
	b, err := w.newBuilder(w.path, h)
	if err != nil {
		return err
	}
	if err := w.fillVerified(ctx, b, sm, inf); err != nil {
		b.abort()
		return err
	}
	at("replace:built")
	installed, err := w.install(b)
	if !installed {
		return err
	}
	w.compactions++
	w.opts.Logger.Info("installed sealed file", "path", w.path, "from", src, "updateID", inf.UpdateID, "liveKeys", inf.LiveKeys)
	return err
}

// fillVerified copies a verified sealed mapping into b, makes it durable,
// and checks the copy, in case src changed after it was verified.
func (w *Writer) fillVerified(ctx context.Context, b *builder, sm *mapping, inf Info) error {
	if err := b.copyFrom(ctx, sm, sm.load(offTail)); err != nil {
		return err
	}
	if err := b.finish(inf.UpdateID, false, w.bootID, w.opts.now().UnixNano()); err != nil {
		return err
	}
	if err := b.open(true); err != nil {
		return err
	}
	c, err := checkIndex(ctx, b.m, func(f slotFault) error { return f.err })
	if err != nil {
		return fmt.Errorf("copy of the sealed file: %w", err)
	}
	if c.live != uint64(inf.LiveKeys) || c.liveBytes != uint64(inf.LiveBytes) {
		return corruptf("sealed file changed while it was installed")
	}
	return nil
}
