package cachefile

import (
	"bytes"
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"os"

	"github.com/zeebo/xxh3"
)

// SealCheck verifies a sealed file from its bytes, written to it in order
// from offset 0 as they arrive (a download), so that the verification
// overlaps the transfer and reads each byte once, from the buffer that
// carried it, instead of mapping the finished file and walking it again.
// Finish then makes the few checks that need the whole file and returns
// what Verify would: the same checks, in a different order.
//
// It checks what Verify checks of a sealed file: the header and its CRC,
// the checkpoint, the SHA-256 (as SealHash computes it) against the
// header's, the records tiling the data region (bounds, non-empty key,
// CRC-32C), and the index: each record is found from its key's home slot
// at a slot holding exactly its tag and offset with no empty slot on the
// way, there are as many live slots as records and no tombstone (so slots
// and records match one to one), no two records share a key (keys are
// compared when their slots share a tag on a probe path), the index is no
// larger than Seal makes it, and the header's counters match. One check
// more than Verify: the superseded word, which the SHA-256 does not
// cover, must be 0, as Seal writes it; so every byte of the file is
// covered by the SHA-256, a CRC, or that rule.
//
// Records with keys longer than 64 KiB, or more tag collisions than the
// check keeps for Finish, make Finish fall back to Verify's walk of the
// mapped file: never a weaker check.
type SealCheck struct {
	size int64 // the size the caller expects
	n    int64 // bytes written so far
	err  error // the first failure; later bytes are only hashed
	sum  *SealHash
	page [headerSize]byte
	h    header
	idx  []byte // the index, as it arrives

	rec      recWalk
	records  uint64
	live     uint64 // key and value bytes of the records
	pending  []dupPair
	fallback bool // Finish runs the full walk
	noSum    bool // SkipSum: the caller vouches for the SHA-256's bytes
	passed   bool // Finish passed, with info
	info     Info
}

// dupPair is two records whose slots share a tag on one probe path: their
// keys must differ. a is the earlier record.
type dupPair struct{ a, b uint64 }

// Bounds on what SealCheck keeps in memory beyond the index.
const (
	sealCheckMaxKey     = 64 << 10
	sealCheckMaxPending = 1 << 14
)

// recWalk is the state of the record being read.
type recWalk struct {
	off      uint64 // its offset
	hdr      [recHeaderSize]byte
	hdrN     int
	klen     uint64
	vlen     uint64
	key      []byte
	valLeft  uint64
	padLeft  uint64
	crc      uint32
	inRecord bool // its header is complete
}

// NewSealCheck returns a check for a sealed file of size bytes.
func NewSealCheck(size int64) *SealCheck {
	return &SealCheck{size: size, sum: NewSealHash()}
}

// Write checks b, the next bytes of the file. It never fails: a failure is
// kept for Finish, so that a download writing into several sinks is not
// cut short by one.
func (c *SealCheck) Write(b []byte) (int, error) {
	if c.noSum {
		c.feedOnce(b)
		return len(b), nil
	}
	if len(b) < parallelPiece {
		c.sum.Write(b)
		c.feedOnce(b)
		return len(b), nil
	}
	// The SHA-256 and the walk read the same bytes and share no state: on
	// a second core the walk costs no time.
	done := make(chan struct{})
	go func() {
		c.sum.Write(b)
		close(done)
	}()
	c.feedOnce(b)
	<-done
	return len(b), nil
}

// parallelPiece is the smallest write whose SHA-256 runs beside the walk:
// below it, starting a goroutine costs more than it saves.
const parallelPiece = 64 << 10

// Parts returns two writers that together do what Write does, each to be
// written every byte of the file in order, from a goroutine of its own:
// the SHA-256, and the walk of the records and the index. They share no
// state, so that a download can feed them side by side at their own
// paces instead of in step. A check is fed through Write or through its
// parts, never both. After SkipSum, sum is nil.
func (c *SealCheck) Parts() (sum, walk io.Writer) {
	if c.noSum {
		return nil, sealWalk{c}
	}
	return c.sum, sealWalk{c}
}

// SkipSum leaves the file's SHA-256 (its SealHash) out of the check, for
// bytes that the caller checks itself against a checksum of the whole file
// taken from the bytes Seal wrote (a snapshot manifest's XXH3-128, see
// package snapshot): that checksum then vouches for every byte, the
// SHA-256's among them, at a fraction of its CPU. Everything else is
// checked as before: the header's CRC, every record's CRC-32C, the index
// against the records, the counters and the checkpoint; so a byte damaged
// before the caller's checksum was taken is still found unless it is one
// that carries no data (a record's padding, the header page's unused
// bytes). A Finish that falls back to Verify's walk of the file (see
// SealCheck) computes the SHA-256 from the file. Call it before the first
// Write.
func (c *SealCheck) SkipSum() { c.noSum = true }

// sealWalk is the walk part of a SealCheck.
type sealWalk struct{ c *SealCheck }

// Write walks b, the next bytes of the file; like SealCheck.Write it never
// fails.
func (w sealWalk) Write(b []byte) (int, error) {
	w.c.feedOnce(b)
	return len(b), nil
}

func (c *SealCheck) feedOnce(b []byte) {
	if c.err == nil {
		c.err = c.feed(b)
	}
}

func (c *SealCheck) feed(b []byte) error {
	if c.n+int64(len(b)) > c.size {
		return corruptf("file is longer than its %d bytes", c.size)
	}
	if c.n < headerSize {
		k := copy(c.page[c.n:], b)
		c.n += int64(k)
		b = b[k:]
		if c.n < headerSize {
			return nil
		}
		if err := c.startHeader(); err != nil {
			return err
		}
	}
	if idxEnd := int64(c.h.dataOff); c.n < idxEnd && len(b) > 0 {
		k := int(min(int64(len(b)), idxEnd-c.n))
		c.idx = append(c.idx, b[:k]...)
		c.n += int64(k)
		b = b[k:]
		if c.n == idxEnd {
			c.rec.off = c.h.dataOff
		}
	}
	for len(b) > 0 && !c.fallback {
		k, err := c.walk(b)
		if err != nil {
			return err
		}
		c.n += int64(k)
		b = b[k:]
	}
	c.n += int64(len(b))
	return nil
}

// startHeader decodes the header page and checks what can be checked
// before the rest arrives.
func (c *SealCheck) startHeader() error {
	h, err := decodeHeader(c.page[:], c.size)
	if err != nil {
		return err
	}
	if !h.sealed() {
		return fmt.Errorf("not a sealed file: %w", ErrInvalid)
	}
	if keys := le.Uint64(c.page[offLiveKeys:]); h.capacity > maxSealedCapacity(keys) {
		return corruptf("sealed file's index has %d slots for %d keys; a sealed index has at most %d", h.capacity, keys, maxSealedCapacity(keys))
	}
	if s := le.Uint64(c.page[offSuperseded:]); s != 0 {
		return corruptf("sealed file's superseded word is %d, not 0", s)
	}
	c.h = h
	c.idx = make([]byte, 0, min(h.capacity*8, 64<<20))
	return nil
}

// walk reads the records in b, the bytes at offset c.n of the data region,
// and returns how many it used.
func (c *SealCheck) walk(b []byte) (int, error) {
	r := &c.rec
	used := 0
	if !r.inRecord {
		k := copy(r.hdr[r.hdrN:], b)
		r.hdrN += k
		used += k
		if r.hdrN < recHeaderSize {
			return used, nil
		}
		if err := c.startRecord(); err != nil {
			return used, err
		}
		if c.fallback {
			return used, nil
		}
	}
	if k := min(uint64(len(b)-used), r.klen-uint64(len(r.key))); k > 0 {
		part := b[used : used+int(k)]
		r.key = append(r.key, part...)
		r.crc = crc32.Update(r.crc, castagnoli, part)
		used += int(k)
	}
	if k := min(uint64(len(b)-used), r.valLeft); k > 0 {
		r.crc = crc32.Update(r.crc, castagnoli, b[used:used+int(k)])
		r.valLeft -= k
		used += int(k)
	}
	if uint64(len(r.key)) < r.klen || r.valLeft > 0 {
		return used, nil
	}
	k := min(uint64(len(b)-used), r.padLeft)
	r.padLeft -= k
	used += int(k)
	if r.padLeft == 0 {
		return used, c.endRecord()
	}
	return used, nil
}

// startRecord checks a record's header, once its 12 bytes are in.
func (c *SealCheck) startRecord() error {
	r := &c.rec
	r.klen, r.vlen = uint64(le.Uint32(r.hdr[0:])), uint64(le.Uint32(r.hdr[4:]))
	end := r.off + recordSize(int(r.klen), int(r.vlen))
	switch {
	case r.klen == 0:
		return corruptf("sealed file's records: record at offset %d has an empty key (a hole, or not a record)", r.off)
	case end > c.h.fileSize:
		return corruptf("sealed file's records: the record at offset %d runs past the end of the file (%d bytes)", r.off, c.h.fileSize)
	case r.klen > sealCheckMaxKey:
		c.fallback = true // checked by Finish's walk of the file
		return nil
	}
	r.inRecord = true
	r.key = r.key[:0]
	r.valLeft = r.vlen
	r.padLeft = end - r.off - recHeaderSize - r.klen - r.vlen
	r.crc = crc32.Update(0, castagnoli, r.hdr[:8])
	return nil
}

// endRecord checks a complete record and finds its slot.
func (c *SealCheck) endRecord() error {
	r := &c.rec
	if got := le.Uint32(r.hdr[8:]); got != r.crc {
		return corruptf("record at offset %d: CRC-32C is %#08x, computed %#08x", r.off, got, r.crc)
	}
	if err := c.probe(xxh3.HashSeed(r.key, c.h.seed), r.off); err != nil {
		return err
	}
	c.records++
	c.live += r.klen + r.vlen
	next := r.off + recordSize(int(r.klen), int(r.vlen))
	*r = recWalk{off: next, key: r.key[:0]}
	return nil
}

// probe finds the slot of the record at off, whose key hashes to h: on the
// probe path from the key's home slot, before any empty slot. Slots on the
// way with the same tag are kept as pairs whose keys Finish compares.
func (c *SealCheck) probe(h, off uint64) error {
	mask := c.h.capacity - 1
	want := makeSlot(h, off)
	for i, n := h&mask, uint64(0); n <= mask; i, n = (i+1)&mask, n+1 {
		s := le.Uint64(c.idx[8*i:])
		switch {
		case s == want:
			return nil
		case s == slotEmpty:
			return corruptf("record at offset %d: its key is not reachable from its home slot %d (slot %d is empty)", off, h&mask, i)
		case s != slotTombstone && s>>tagShift == h>>tagShift:
			if len(c.pending) == sealCheckMaxPending {
				c.fallback = true
				return nil
			}
			c.pending = append(c.pending, dupPair{a: min(off, slotOffset(s)), b: max(off, slotOffset(s))})
		}
	}
	return corruptf("record at offset %d: no index slot holds it", off)
}

// Sum returns the file's SealHash; after SkipSum, the zero array.
func (c *SealCheck) Sum() [32]byte {
	if c.noSum {
		return [32]byte{}
	}
	return c.sum.Sum()
}

// Finish completes the check of the file f (the file whose bytes were
// written to c, at path) and returns its Info, as Verify does, or an
// error wrapping ErrCorrupt (ErrVersion, ErrInvalid) saying what failed.
func (c *SealCheck) Finish(ctx context.Context, f *os.File) (Info, error) {
	path := f.Name()
	if c.err != nil {
		return Info{}, fmt.Errorf("verify %s: %w", path, c.err)
	}
	if c.n != c.size || c.n < headerSize {
		return Info{}, fmt.Errorf("verify %s: %w", path, corruptf("got %d of %d bytes", c.n, c.size))
	}
	var inf Info
	var err error
	if c.fallback {
		inf, err = c.finishByWalk(ctx, f)
	} else {
		inf, err = c.finish(f)
	}
	if err != nil {
		return inf, fmt.Errorf("verify %s: %w", path, err)
	}
	c.passed, c.info = true, inf
	return inf, nil
}

func (c *SealCheck) finish(f *os.File) (Info, error) {
	inf := infoFrom(f.Name(), c.h, c.page[:])
	if c.rec.off != c.h.fileSize || c.rec.hdrN != 0 {
		return inf, corruptf("sealed file's records: the last one runs past the end of the file (%d bytes)", c.h.fileSize)
	}
	var live, tombs uint64
	for i := 0; i < len(c.idx); i += 8 {
		switch le.Uint64(c.idx[i:]) {
		case slotEmpty:
		case slotTombstone:
			tombs++
		default:
			live++
		}
	}
	inf.LiveKeys, inf.LiveBytes, inf.Tombstones = int(live), int64(c.live), int(tombs)
	ck, err := decodeCheckpoint(c.page[:])
	if err != nil {
		return inf, err
	}
	tail := le.Uint64(c.page[offTail:])
	hdrKeys, hdrBytes := le.Uint64(c.page[offLiveKeys:]), le.Uint64(c.page[offLiveBytes:])
	hdrGarbage, hdrTombs := le.Uint64(c.page[offGarbage:]), le.Uint64(c.page[offTombstones:])
	switch {
	case tail != c.h.fileSize:
		return inf, corruptf("sealed file's data tail %d is not its size %d", tail, c.h.fileSize)
	case hdrKeys != c.records:
		return inf, corruptf("sealed file holds %d records, its header counts %d keys", c.records, hdrKeys)
	case live != c.records || tombs != 0 || live > c.h.capacity-1:
		return inf, corruptf("sealed file's index has %d live slots and %d tombstones for %d records", live, tombs, c.records)
	case ck.updateID != inf.UpdateID || ck.tail != tail:
		return inf, corruptf("closed file's checkpoint (update %d, tail %d) differs from its header (update %d, tail %d)", ck.updateID, ck.tail, inf.UpdateID, tail)
	case hdrBytes != c.live || hdrGarbage != 0 || hdrTombs != 0:
		return inf, corruptf("header counters (keys %d, bytes %d, garbage %d, tombstones %d) differ from the file's (%d, %d, 0, 0)",
			hdrKeys, hdrBytes, hdrGarbage, hdrTombs, c.records, c.live)
	}
	if err := c.comparePending(f); err != nil {
		return inf, err
	}
	if c.noSum {
		return inf, nil
	}
	if sum := c.sum.Sum(); sum != inf.Checksum {
		return inf, corruptf("sealed file SHA-256 is %x, computed %x", inf.Checksum, sum)
	}
	return inf, nil
}

// comparePending reads the keys of the records whose slots shared a tag on
// a probe path: a duplicate key is corrupt.
func (c *SealCheck) comparePending(f *os.File) error {
	for _, p := range c.pending {
		ka, err := readKey(f, p.a)
		if err != nil {
			return err
		}
		kb, err := readKey(f, p.b)
		if err != nil {
			return err
		}
		if bytes.Equal(ka, kb) {
			return corruptf("records at offsets %d and %d have the same key %s", p.a, p.b, quoteKey(ka))
		}
	}
	return nil
}

// readKey reads the key of the record at off, which the walk checked.
func readKey(f *os.File, off uint64) ([]byte, error) {
	var hdr [recHeaderSize]byte
	if _, err := f.ReadAt(hdr[:], int64(off)); err != nil {
		return nil, fmt.Errorf("read record at %d: %w", off, err)
	}
	k := make([]byte, le.Uint32(hdr[0:]))
	if _, err := f.ReadAt(k, int64(off)+recHeaderSize); err != nil {
		return nil, fmt.Errorf("read record at %d: %w", off, err)
	}
	return k, nil
}

// finishByWalk verifies the file as Verify does, with the SHA-256 computed
// as it arrived.
func (c *SealCheck) finishByWalk(ctx context.Context, f *os.File) (Info, error) {
	m, err := mapFile(f, false)
	if err != nil {
		return Info{}, err
	}
	defer m.unmap()
	if !bytes.Equal(m.mm[:headerSize], c.page[:]) {
		return Info{}, corruptf("header changed after it was checked")
	}
	if c.noSum {
		return verifyMapping(ctx, f.Name(), m, nil)
	}
	sum := c.sum.Sum()
	return verifyMapping(ctx, f.Name(), m, &sum)
}
