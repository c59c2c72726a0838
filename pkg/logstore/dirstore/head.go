package dirstore

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"time"
)

// The head file: where the log's committed tail is. Writers rewrite it in
// place, under the lock, after the data it points to is synced; readers read
// it without a lock and never read past it.
const (
	headMagic = "WCLOGHD1"
	headLen   = 64
)

// head is the decoded head file.
type head struct {
	layout    uint64 // bumped whenever a rewrite replaces a segment file
	active    uint64 // base id of the active (last) segment
	committed int64  // length of the active segment that holds synced, complete records
	latest    uint64 // the highest id ever committed
	horizon   uint64 // the log's horizon (a copy of the horizon file)
}

// encode returns the head's 64 bytes.
func (h head) encode() []byte {
	b := make([]byte, headLen)
	copy(b, headMagic)
	binary.LittleEndian.PutUint64(b[8:], h.layout)
	binary.LittleEndian.PutUint64(b[16:], h.active)
	binary.LittleEndian.PutUint64(b[24:], uint64(h.committed))
	binary.LittleEndian.PutUint64(b[32:], h.latest)
	binary.LittleEndian.PutUint64(b[40:], h.horizon)
	binary.LittleEndian.PutUint32(b[60:], crc32.Checksum(b[:60], castagnoli))
	return b
}

// decodeHead parses and checks a head file's bytes.
func decodeHead(b []byte) (head, error) {
	if len(b) < headLen || string(b[:8]) != headMagic {
		return head{}, fmt.Errorf("head: bad magic or length %d: %w", len(b), errCorrupt)
	}
	if crc32.Checksum(b[:60], castagnoli) != binary.LittleEndian.Uint32(b[60:]) {
		return head{}, fmt.Errorf("head: bad checksum: %w", errCorrupt)
	}
	h := head{
		layout:    binary.LittleEndian.Uint64(b[8:]),
		active:    binary.LittleEndian.Uint64(b[16:]),
		committed: int64(binary.LittleEndian.Uint64(b[24:])),
		latest:    binary.LittleEndian.Uint64(b[32:]),
		horizon:   binary.LittleEndian.Uint64(b[40:]),
	}
	if h.active == 0 || h.committed < segHeaderLen {
		return h, fmt.Errorf("head: active segment %d, committed length %d: %w", h.active, h.committed, errCorrupt)
	}
	return h, nil
}

// readHead reads the head file. A writer may be rewriting it at that moment,
// so a bad checksum is retried a few times before it counts as corruption.
func readHead(f *os.File) (head, error) {
	var b [headLen]byte
	var err error
	for try := range 50 {
		if _, err = f.ReadAt(b[:], 0); err != nil {
			return head{}, fmt.Errorf("read head: %w", err)
		}
		var h head
		if h, err = decodeHead(b[:]); err == nil {
			return h, nil
		}
		if try > 5 {
			time.Sleep(time.Millisecond)
		}
	}
	return head{}, err
}

// writeHead rewrites the head file in place. It does not sync: the head is
// rebuilt from the segments when it is lost.
func writeHead(f *os.File, h head) error {
	if _, err := f.WriteAt(h.encode(), 0); err != nil {
		return fmt.Errorf("write head: %w", err)
	}
	return nil
}
