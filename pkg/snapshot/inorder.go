package snapshot

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
)

// handoff carries a download's bytes from the goroutines that fetch the
// parts to the in-order reader (inOrder) in the buffers that received
// them, so that the checks read them once, while they are still in the
// CPU's cache, instead of reading them back from the file: a pread of the
// whole file is a copy and a system call per buffer that the raw GET does
// not make. The file stays the truth: a buffer is handed over only after
// its bytes are written, and bytes that were not handed over (no spare
// buffer, a part kept by a resume) are read back as before, so memory
// stays bounded whatever the reader's pace.
type handoff struct {
	on     bool // an in-order reader runs
	mu     sync.Mutex
	queued [][]chunk // per part, in offset order; guarded by mu
	// inQueue counts the buffers handed over and not yet consumed: at
	// most max.
	inQueue atomic.Int64
	max     int64
	pool    sync.Pool // of *[]byte, copyBuffer long
}

// chunk is n bytes at offset off, handed over in b.
type chunk struct {
	off int64
	b   *[]byte
	n   int
}

// maxHandoff bounds the bytes handed over and not consumed yet. The parts
// in flight (Concurrency of PartSize) arrive ahead of the reader; with
// room for all of them, almost every byte is handed over.
const maxHandoff = 32 << 20

// init prepares the hand-off for parts parts of partSize fetched conc at
// a time, with room for at most limit bytes (0: maxHandoff).
func (h *handoff) init(parts, conc int, partSize, limit int64) {
	if limit <= 0 {
		limit = maxHandoff
	}
	h.on = true
	h.queued = make([][]chunk, parts)
	h.max = min(int64(conc)*partSize, limit) / copyBuffer
}

// buffer returns a copyBuffer-sized buffer.
func (h *handoff) buffer() *[]byte {
	if b, ok := h.pool.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, copyBuffer)
	return &b
}

func (h *handoff) release(b *[]byte) {
	if b != nil {
		h.pool.Put(b)
	}
}

// wrote notes that the n bytes in b at offset off of part i are in the
// file, and that the part has now have bytes in the file (written). It
// hands b to the reader when it can and returns the buffer the fetcher
// goes on with: b, or a fresh one.
func (h *handoff) wrote(i int, off int64, b *[]byte, n int, have int64, written *atomic.Int64) *[]byte {
	if !h.on || h.inQueue.Add(1) > h.max {
		if h.on {
			h.inQueue.Add(-1)
		}
		written.Store(have)
		return b
	}
	h.mu.Lock()
	h.queued[i] = append(h.queued[i], chunk{off: off, b: b, n: n})
	written.Store(have)
	h.mu.Unlock()
	return h.buffer()
}

// next returns what part i holds beyond offset at (a file offset): the
// first chunk handed over, if any, and how many bytes are in the file.
func (h *handoff) next(i int, written *atomic.Int64) (chunk, bool, int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	have := written.Load()
	if q := h.queued[i]; len(q) > 0 {
		return q[0], true, have
	}
	return chunk{}, false, have
}

// pop removes part i's first chunk once the reader used it.
func (h *handoff) pop(i int) {
	h.mu.Lock()
	c := h.queued[i][0]
	h.queued[i] = h.queued[i][1:]
	h.mu.Unlock()
	h.inQueue.Add(-1)
	h.release(c.b)
}

// inOrder writes the object's bytes into w in order as the parts fill
// the file: from the buffers handed over when it can, read back from the
// file otherwise.
func (d *download) inOrder(ctx context.Context, w io.Writer) error {
	buf := make([]byte, copyBuffer)
	for i := range d.parts {
		off, ln := d.span(i)
		for seen := int64(0); seen < ln; {
			c, ok, have := d.q.next(i, &d.written[i])
			switch {
			case ok && c.off == off+seen:
				d.handed.Add(int64(c.n))
				if _, err := w.Write((*c.b)[:c.n]); err != nil {
					return err
				}
				seen += int64(c.n)
				d.q.pop(i)
			case ok: // bytes before the chunk are in the file only
				if err := d.readBack(w, buf, off+seen, c.off-off-seen); err != nil {
					return err
				}
				seen = c.off - off
			case have > seen:
				if err := d.readBack(w, buf, off+seen, have-seen); err != nil {
					return err
				}
				seen = have
			default:
				select {
				case <-d.wake:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}
	}
	return nil
}

// readBack reads n bytes of the file at off into w.
func (d *download) readBack(w io.Writer, buf []byte, off, n int64) error {
	for n > 0 {
		k, err := d.f.ReadAt(buf[:min(int64(len(buf)), n)], off)
		d.reread.Add(int64(k))
		if err != nil {
			return fmt.Errorf("read back at %d: %w", off, err)
		}
		if _, err := w.Write(buf[:k]); err != nil {
			return err
		}
		off, n = off+int64(k), n-int64(k)
	}
	return nil
}
