package cachefile

import (
	"bytes"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/edsrzf/mmap-go"
	"github.com/zeebo/xxh3"
)

// mapping is one file mapped whole into memory, read-only for readers and
// read-write (MAP_SHARED) for the writer. Its length never changes: a
// generation has a fixed capacity, and growing means a new file.
//
// Everything that lookups read from the mapping itself (slots, record
// lengths) may be changed under them by another process, so each such value
// is loaded once and bounds-checked against the mapping's length at use.
type mapping struct {
	mm    mmap.MMap
	hdr   header
	slots []uint64 // the index, aliasing mm
	mask  uint64
	size  uint64 // len(mm)
	dev   uint64 // device and inode, to tell files apart
	ino   uint64
}

// mapFile maps f, whose header must decode and fit the file's size.
func mapFile(f *os.File, writable bool) (*mapping, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat: %w", err)
	}
	size := fi.Size()
	if size < headerSize {
		return nil, corruptf("file is %d bytes, shorter than the %d-byte header", size, headerSize)
	}
	var page [headerSize]byte
	if _, err := f.ReadAt(page[:], 0); err != nil {
		return nil, fmt.Errorf("read header: %w", err)
	}
	h, err := decodeHeader(page[:], size)
	if err != nil {
		return nil, err
	}
	prot := mmap.RDONLY
	if writable {
		prot = mmap.RDWR
	}
	mm, err := mmap.Map(f, prot, 0)
	if err != nil {
		return nil, fmt.Errorf("mmap %d bytes: %w", size, err)
	}
	m := &mapping{mm: mm, hdr: h, mask: h.capacity - 1, size: uint64(len(mm))}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		m.dev, m.ino = uint64(st.Dev), st.Ino
	}
	if m.size != h.fileSize {
		_ = mm.Unmap()
		return nil, corruptf("file changed size while being opened")
	}
	m.slots = unsafe.Slice((*uint64)(unsafe.Pointer(&mm[h.indexOff])), h.capacity)
	return m, nil
}

func (m *mapping) unmap() error { return m.mm.Unmap() }

// word returns the header word at off (a constant, 8-aligned offset).
func (m *mapping) word(off int) *uint64 { return (*uint64)(unsafe.Pointer(&m.mm[off])) }

func (m *mapping) load(off int) uint64     { return atomic.LoadUint64(m.word(off)) }
func (m *mapping) store(off int, v uint64) { atomic.StoreUint64(m.word(off), v) }

func (m *mapping) superseded() bool { return atomic.LoadUint64(m.word(offSuperseded)) != 0 }

// record decodes the record at off, checking that it lies inside the data
// region. The returned slices alias the mapping and have their capacity
// clipped to their length.
func (m *mapping) record(off uint64) (key, value []byte, err error) {
	if off < m.hdr.dataOff || off > m.size-recHeaderSize {
		return nil, nil, corruptf("record offset %d outside the data region [%d, %d)", off, m.hdr.dataOff, m.size)
	}
	klen := uint64(le.Uint32(m.mm[off:]))
	vlen := uint64(le.Uint32(m.mm[off+4:]))
	kstart := off + recHeaderSize
	end := kstart + klen + vlen
	if end > m.size {
		return nil, nil, corruptf("record at offset %d (key %d bytes, value %d bytes) runs past the end of the file (%d bytes)", off, klen, vlen, m.size)
	}
	return m.mm[kstart : kstart+klen : kstart+klen], m.mm[kstart+klen : end : end], nil
}

// lookup finds key. It returns the value aliasing the mapping, ErrNotFound
// (unwrapped, so that a miss does not allocate), or an ErrCorrupt error.
func (m *mapping) lookup(key []byte) ([]byte, error) {
	h := xxh3.HashSeed(key, m.hdr.seed)
	tag := h >> tagShift
	mask := m.mask
	slots := m.slots
	i := h & mask
	for n := uint64(0); n <= mask; n++ {
		s := atomic.LoadUint64(&slots[i])
		if s == slotEmpty {
			return nil, ErrNotFound
		}
		if s>>tagShift == tag && s != slotTombstone {
			k, v, err := m.record(slotOffset(s))
			if err != nil {
				return nil, fmt.Errorf("index slot %d: %w", i, err)
			}
			if bytes.Equal(k, key) {
				return v, nil
			}
		}
		i = (i + 1) & mask
	}
	return nil, ErrNotFound
}
