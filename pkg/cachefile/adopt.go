package cachefile

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
)

// Adopt installs the sealed file src as the file's new generation, as
// Replace does, but without copying it: src itself becomes the new
// generation. It verifies src fully first (SHA-256, structure, CRCs; the
// one pass over its bytes), checks that it belongs to the writer's log
// (ErrIdentityMismatch otherwise), then turns it into a writable
// generation in place (clears the sealed flag, extends its data region
// with headroom as a sparse tail, writes the session's header and a
// checkpoint equal to its content), makes it durable and renames it over
// the path, with the same .prev / superseded steps as every generation
// switch (see install).
//
// src must be in the directory of the path or its private directory
// (PrivateDirName: a rename within a filesystem) and owned by the caller:
// nothing else may write it. It becomes world-readable, as every
// generation is. Adopt consumes it:
// on success it is the file at the path; on a failure after its
// verification it is removed. A file that fails verification is left as
// it was. The adopted generation keeps the sealed index, sized for the
// keys it holds: the first batch that adds keys past the load factor moves
// to a larger generation, as any growth does.
//
// A src in another directory gets ErrInvalid: use Replace, which copies.
func (w *Writer) Adopt(ctx context.Context, src string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return err
	}
	if err := w.adopt(ctx, src, nil); err != nil {
		return fmt.Errorf("adopt %s as %s: %w", src, w.path, err)
	}
	return nil
}

// AdoptSummed is Adopt for a file whose SealHash sum the caller computed
// as it wrote the file (a download): its checksum is compared with sum
// instead of being computed once more. Everything else is as in Adopt.
func (w *Writer) AdoptSummed(ctx context.Context, src string, sum [32]byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return err
	}
	if err := w.adopt(ctx, src, &sum); err != nil {
		return fmt.Errorf("adopt %s as %s: %w", src, w.path, err)
	}
	return nil
}

// AdoptChecked is Adopt for a file that the caller verified completely
// with c while writing it (a download) and whose c.Finish passed: that
// verdict stands for the file, whose header is compared with the one c
// checked, instead of a second verification of every byte. Everything
// else is as in Adopt; src must not have changed since c saw it. A c whose
// Finish did not pass gets ErrInvalid.
func (w *Writer) AdoptChecked(ctx context.Context, src string, c *SealCheck) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return err
	}
	if err := w.adoptWith(ctx, src, func(sm *mapping) (Info, error) {
		switch {
		case !c.passed:
			return Info{}, fmt.Errorf("%s has not passed its check: %w", src, ErrInvalid)
		case !bytes.Equal(sm.mm[:headerSize], c.page[:]):
			return Info{}, corruptf("%s changed after it was checked", src)
		}
		return c.info, nil
	}); err != nil {
		return fmt.Errorf("adopt %s as %s: %w", src, w.path, err)
	}
	return nil
}

func (w *Writer) adopt(ctx context.Context, src string, sum *[32]byte) error {
	return w.adoptWith(ctx, src, func(sm *mapping) (Info, error) { return verifyMapping(ctx, src, sm, sum) })
}

// adoptWith adopts src once verify, given its mapping, vouches for it.
func (w *Writer) adoptWith(ctx context.Context, src string, verify func(*mapping) (Info, error)) error {
	if d, home := filepath.Dir(filepath.Clean(src)), filepath.Dir(filepath.Clean(w.path)); d != home && d != filepath.Join(home, PrivateDirName) {
		return fmt.Errorf("%s is not in the directory of %s or its private directory: %w", src, w.path, ErrInvalid)
	}
	if filepath.Clean(src) == filepath.Clean(w.path) {
		return fmt.Errorf("the file to adopt is the live file: %w", ErrInvalid)
	}
	f, err := os.OpenFile(src, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	b, err := w.verifyAdoptee(src, f, verify)
	if err != nil {
		f.Close()
		return err
	}
	if err := w.unseal(b); err != nil {
		b.abort()
		return err
	}
	at("adopt:unsealed")
	installed, err := w.install(b)
	if !installed {
		return err
	}
	w.compactions++
	w.opts.Logger.Info("adopted sealed file", "path", w.path, "from", src, "updateID", b.st.applied, "liveKeys", b.st.live)
	return err
}

// verifyAdoptee verifies the sealed file f completely and returns a builder
// holding it, with its new header (writable, the next generation, data
// headroom) and its counters.
func (w *Writer) verifyAdoptee(src string, f *os.File, verify func(*mapping) (Info, error)) (*builder, error) {
	sm, err := mapFile(f, false)
	if err != nil {
		return nil, err
	}
	defer sm.unmap()
	inf, err := verify(sm)
	switch {
	case err != nil:
		return nil, err
	case !inf.Sealed:
		return nil, fmt.Errorf("%s is not a sealed file: %w", src, ErrInvalid)
	case inf.LogID != w.logID:
		return nil, fmt.Errorf("%s belongs to log %x, not %x: %w", src, inf.LogID, w.logID, ErrIdentityMismatch)
	}
	h := sm.hdr
	h.flags &^= flagSealed
	h.generation++
	if w.m != nil {
		h.generation = max(h.generation, w.m.hdr.generation+1)
	}
	recBytes := h.fileSize - h.dataOff
	h.fileSize = alignUp(h.dataOff+max(uint64(w.opts.InitialDataSize), 2*recBytes), 4096)
	b := &builder{tmp: src, f: f, h: h, noSync: w.opts.NoSync, mask: h.capacity - 1}
	b.st = state{applied: inf.UpdateID, tail: sm.hdr.fileSize, live: uint64(inf.LiveKeys), liveBytes: uint64(inf.LiveBytes)}
	return b, nil
}

// unseal turns the verified sealed file of b into a writable generation:
// its data region extended (a sparse tail; the writer reserves disk ahead
// of its tail as it appends), its header page rewritten as builder.finish
// writes one (this boot's session, not clean, a checkpoint equal to the
// content), made durable and mapped for writing. The header is written
// after the extension, so that a crash in between leaves a file whose
// header does not match its size: refused by anyone who opens it, and
// removed as an interrupted download.
func (w *Writer) unseal(b *builder) error {
	// Readers of every user open the file: the download that became it may
	// have been private.
	err := fail(fpChmod)
	if err == nil {
		err = b.f.Chmod(0o644)
	}
	if err == nil {
		err = fail(fpTruncate)
	}
	if err == nil {
		err = b.f.Truncate(int64(b.h.fileSize))
	}
	if err == nil {
		err = fail(fpReserveIndex)
	}
	if err == nil {
		// The index pages are in place already; this reserves nothing new
		// unless the file was sparse there.
		err = reserve(b.f, 0, int64(b.h.dataOff))
	}
	if err != nil {
		return fmt.Errorf("extend %s: %w", b.tmp, err)
	}
	page := make([]byte, headerSize)
	b.h.encode(page)
	le.PutUint64(page[offTail:], b.st.tail)
	le.PutUint64(page[offLiveBytes:], b.st.liveBytes)
	le.PutUint64(page[offLiveKeys:], b.st.live)
	le.PutUint64(page[offUpdateID:], b.st.applied)
	copy(page[offBootID:], w.bootID[:])
	encodeCheckpoint(page, checkpoint{updateID: b.st.applied, tail: b.st.tail, time: w.opts.now().UnixNano()})
	if err := pwrite(fpWriteHeader, b.f, page, 0); err != nil {
		return fmt.Errorf("write header: %w", err)
	}
	if err := b.sync(); err != nil {
		return err
	}
	return b.open(true)
}
