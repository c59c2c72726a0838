package cachefile

import (
	"fmt"
	"os"
	"unsafe"
)

// builder writes a new generation into a temporary file. It builds the
// index in memory and writes everything with pwrite: the file's pages are
// never faulted in through a mapping while it is built.
type builder struct {
	tmp     string
	f       *os.File
	h       header
	slots   []uint64 // the index, in memory
	mask    uint64
	st      state
	noSync  bool
	pending []byte   // records not yet written, from offset st.tail-len(pending)
	m       *mapping // set by open, once the file is complete
}

// builderFlushSize is how many bytes of records a builder buffers.
const builderFlushSize = 1 << 20

// maxKeptIndex bounds the index buffer a Writer keeps between generations,
// in slots (8 MiB): a larger one is built for each new generation and left
// to the garbage collector, so that a writer of a large file does not hold
// its index twice (once in the file, once on its heap) between compactions.
const maxKeptIndex = 1 << 20

// newBuilder creates a temporary file beside target, laid out as h (whose
// seed and creation time it fills in), with disk reserved for the header
// and the index (so that stores through a mapping of them cannot fault for
// lack of space).
func (w *Writer) newBuilder(target string, h header) (*builder, error) {
	h.seed = w.opts.seed
	for h.seed == 0 {
		var b [8]byte
		if _, err := randRead(b[:]); err != nil {
			return nil, fmt.Errorf("hash seed: %w", err)
		}
		h.seed = le.Uint64(b[:])
	}
	h.created = w.opts.now().UnixNano()
	tmp := tempName(target)
	if target == w.path {
		tmp = tempName(privateTemp(w.path)) // out of readers' reach until renamed
	}
	b := &builder{tmp: tmp, h: h, noSync: w.opts.NoSync, mask: h.capacity - 1}
	f, err := createTemp(b.tmp)
	if err != nil {
		return nil, fmt.Errorf("create new generation: %w", err)
	}
	b.f = f
	// Readers in other processes and users must be able to read the file,
	// whatever the umask.
	if err = fail(fpChmod); err == nil {
		err = f.Chmod(0o644)
	}
	if err == nil {
		err = fail(fpTruncate)
	}
	if err == nil {
		err = f.Truncate(int64(h.fileSize))
	}
	if err == nil {
		err = fail(fpReserveIndex)
	}
	if err == nil {
		err = reserve(f, 0, int64(h.dataOff))
	}
	if err != nil {
		b.abort()
		return nil, fmt.Errorf("create new generation %s: %w", b.tmp, err)
	}
	if uint64(cap(w.index)) < h.capacity {
		w.index = make([]uint64, h.capacity)
	}
	b.slots = w.index[:h.capacity]
	clear(b.slots)
	if cap(w.index) > maxKeptIndex {
		w.index = nil
	}
	b.st.tail = h.dataOff
	return b, nil
}

// addRecord copies an encoded record (from a verified file) and indexes it
// under key, which it holds and whose hash is h. Keys must be unique.
func (b *builder) addRecord(rec, key []byte, vlen int, h uint64) error {
	off := b.st.tail
	b.pending = append(b.pending, rec...)
	b.st.tail += uint64(len(rec))
	b.st.live++
	b.st.liveBytes += uint64(len(key) + vlen)
	for i := h & b.mask; ; i = (i + 1) & b.mask {
		if b.slots[i] == slotEmpty {
			b.slots[i] = makeSlot(h, off)
			break
		}
	}
	if len(b.pending) >= builderFlushSize {
		return b.flush()
	}
	return nil
}

// flush writes the pending records.
func (b *builder) flush() error {
	if len(b.pending) == 0 {
		return nil
	}
	if err := pwrite(fpWriteRecords, b.f, b.pending, int64(b.st.tail)-int64(len(b.pending))); err != nil {
		return fmt.Errorf("write records: %w", err)
	}
	b.pending = b.pending[:0]
	return nil
}

// finish writes the records, the index and the header page (with its
// counters, clean flag, boot id and a checkpoint equal to the content),
// makes the file durable, and maps it (read-write when writable).
func (b *builder) finish(applied uint64, clean bool, bootID [16]byte, now int64) error {
	b.st.applied = applied
	if err := b.flush(); err != nil {
		return err
	}
	index := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(b.slots))), len(b.slots)*8) // little-endian host
	if err := pwrite(fpWriteIndex, b.f, index, int64(b.h.indexOff)); err != nil {
		return fmt.Errorf("write index: %w", err)
	}
	page := make([]byte, headerSize)
	b.h.encode(page)
	le.PutUint64(page[offTail:], b.st.tail)
	le.PutUint64(page[offLiveBytes:], b.st.liveBytes)
	le.PutUint64(page[offLiveKeys:], b.st.live)
	le.PutUint64(page[offUpdateID:], applied)
	if clean {
		le.PutUint64(page[offClean:], 1)
	}
	copy(page[offBootID:], bootID[:])
	encodeCheckpoint(page, checkpoint{updateID: applied, tail: b.st.tail, time: now})
	if err := pwrite(fpWriteHeader, b.f, page, 0); err != nil {
		return fmt.Errorf("write header: %w", err)
	}
	return b.sync()
}

// sync makes the builder's file durable.
func (b *builder) sync() error {
	if b.noSync {
		return nil
	}
	if err := fsync(fpFsyncGen, b.f); err != nil {
		return fmt.Errorf("fsync new generation: %w", err)
	}
	return nil
}

// open maps the finished file. A writable mapping has its header and index
// pages faulted in for writing at once (MADV_POPULATE_WRITE), rather than
// one fault at a time as the writer stores into them.
func (b *builder) open(writable bool) error {
	if err := fail(fpMapGen); err != nil {
		return fmt.Errorf("map new generation: %w", err)
	}
	m, err := mapFile(b.f, writable)
	if err != nil {
		return err
	}
	if writable {
		populateWrite(m.mm[:m.hdr.dataOff])
	}
	b.m = m
	return nil
}

func (b *builder) abort() {
	if b.m != nil {
		_ = b.m.unmap()
	}
	_ = b.f.Close()
	_ = os.Remove(b.tmp)
}

// createTemp creates the temporary file of a new generation.
func createTemp(path string) (*os.File, error) {
	if err := fail(fpCreate); err != nil {
		return nil, err
	}
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
}
