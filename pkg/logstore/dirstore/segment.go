package dirstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
)

// scanChunk is how much scan reads at a time.
const scanChunk = 1 << 20

// entry indexes one record of a segment.
type entry struct {
	id   uint64
	off  int64  // offset of the record in the file
	size uint32 // length of the whole record
	ops  uint32 // number of operations
}

// end returns the offset just after the record.
func (e entry) end() int64 { return e.off + int64(e.size) }

// segment is an open, read-only segment file with its in-memory index, which
// grows as the segment does.
type segment struct {
	ref segRef
	f   *os.File

	mu      sync.Mutex
	index   []entry
	scanned int64 // offset up to which the index covers the file
	sealed  int64 // the file's length once it is sealed (it never changes then), or 0
}

// openSegment opens a segment file for reading and checks its header.
func openSegment(dir string, ref segRef) (*segment, error) {
	f, err := os.Open(filepath.Join(dir, ref.name()))
	if err != nil {
		return nil, fmt.Errorf("open segment: %w", err)
	}
	var b [segHeaderLen]byte
	if _, err := f.ReadAt(b[:], 0); err != nil {
		f.Close()
		return nil, fmt.Errorf("segment %s: read header: %w", ref.name(), err)
	}
	h, err := decodeSegHeader(b[:])
	if err == nil && (h.base != ref.base || h.gen != ref.gen) {
		err = fmt.Errorf("header says base %d generation %d: %w", h.base, h.gen, errCorrupt)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("segment %s: %w", ref.name(), err)
	}
	return &segment{ref: ref, f: f, scanned: segHeaderLen}, nil
}

// size returns the file's current length.
func (sg *segment) size() (int64, error) {
	fi, err := sg.f.Stat()
	if err != nil {
		return 0, fmt.Errorf("stat segment: %w", err)
	}
	return fi.Size(), nil
}

// sealedSize returns the length of a sealed segment, which never changes.
func (sg *segment) sealedSize() (int64, error) {
	sg.mu.Lock()
	defer sg.mu.Unlock()
	if sg.sealed == 0 {
		n, err := sg.size()
		if err != nil {
			return 0, err
		}
		sg.sealed = n
	}
	return sg.sealed, nil
}

// after returns the index entries of records with ids above id, up to the
// offset limit, extending the index to limit first. Records below limit are
// committed: a bad one is corruption.
func (sg *segment) after(id uint64, limit int64) ([]entry, error) {
	sg.mu.Lock()
	defer sg.mu.Unlock()
	if sg.scanned < limit {
		end, err := scan(sg.f, sg.scanned, limit, sg.addEntry)
		sg.scanned = end
		if err != nil {
			return nil, fmt.Errorf("segment %s at offset %d: %w", sg.ref.name(), end, err)
		}
	}
	n := sort.Search(len(sg.index), func(i int) bool { return sg.index[i].end() > limit })
	idx := sg.index[:n:n]
	i := sort.Search(len(idx), func(i int) bool { return idx[i].id > id })
	return idx[i:], nil
}

// addEntry adds a checked record to the index.
func (sg *segment) addEntry(off int64, rec []byte) error {
	id, nops, err := recordMeta(rec)
	if err != nil {
		return err
	}
	if n := len(sg.index); (n > 0 && id <= sg.index[n-1].id) || id < sg.ref.base {
		return fmt.Errorf("record id %d out of order in segment %d: %w", id, sg.ref.base, errCorrupt)
	}
	sg.index = append(sg.index, entry{id: id, off: off, size: uint32(len(rec)), ops: uint32(nops)})
	return nil
}

// scan calls fn with each record in [from, to) of r, with its offset; the
// record's bytes are valid only during the call. It returns the offset after
// the last record it passed to fn, and the error that stopped it: errShort
// (wrapped) when a record runs past to or the end of the file, errCorrupt
// when one does not check, or fn's error.
func scan(r io.ReaderAt, from, to int64, fn func(off int64, rec []byte) error) (int64, error) {
	var buf []byte // bytes of the file from offset start
	start, pos := from, from
	for pos < to {
		b := buf[pos-start:]
		n, err := recordLen(b)
		if errors.Is(err, errShort) {
			need := int64(recHeaderLen)
			if len(b) >= recHeaderLen {
				need += int64(binary.LittleEndian.Uint32(b))
			}
			if need <= int64(len(b)) || need > to-pos {
				return pos, fmt.Errorf("record of %d bytes at offset %d past the end %d: %w", need, pos, to, errShort)
			}
			if buf, err = readRange(r, pos, min(max(need, scanChunk), to-pos), buf); err != nil {
				return pos, err
			}
			start = pos
			continue
		}
		if err != nil {
			return pos, err
		}
		if err := fn(pos, b[:n]); err != nil {
			return pos, err
		}
		pos += int64(n)
	}
	return pos, nil
}

// readRange reads n bytes at off into buf (reused when large enough). A file
// that ends first gives errShort.
func readRange(r io.ReaderAt, off, n int64, buf []byte) ([]byte, error) {
	if int64(cap(buf)) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	got, err := r.ReadAt(buf, off)
	if errors.Is(err, io.EOF) {
		return buf[:got], fmt.Errorf("file ends at %d, before %d: %w", off+int64(got), off+n, errShort)
	}
	if err != nil {
		return buf[:got], fmt.Errorf("read at %d: %w", off, err)
	}
	return buf, nil
}
