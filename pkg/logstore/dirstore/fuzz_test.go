package dirstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/whycache/whycache/pkg/logstore"
)

// FuzzDecodeSegment feeds arbitrary bytes to the segment, record and head
// decoders, which must never panic, must report errCorrupt for what they
// refuse, and must decode to records that encode back to the same bytes.
func FuzzDecodeSegment(f *testing.F) {
	seg := segHeader{base: 1}.encode()
	for i, ops := range [][]logstore.Op{
		{logstore.Set([]byte("k"), []byte("v"))},
		{logstore.Set([]byte("a"), nil), logstore.Delete([]byte("b"))},
		{logstore.Set(bytes.Repeat([]byte("x"), 300), bytes.Repeat([]byte("y"), 200))},
	} {
		seg = appendRecord(seg, logstore.Update{ID: uint64(i + 1), Time: time.Unix(0, int64(i)), Ops: ops})
	}
	f.Add(seg)
	f.Add(seg[:len(seg)-3])
	f.Add(seg[segHeaderLen:])
	f.Add(head{active: 1, committed: segHeaderLen, latest: 3}.encode())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecodeRecords(t, data)
		checkDecodeRecords(t, frame(data)) // a body with a valid frame reaches the operation decoder
		if len(data) >= segHeaderLen {
			checkDecodeRecords(t, data[segHeaderLen:])
		}
		if _, err := decodeSegment(data); err != nil && !errors.Is(err, errCorrupt) {
			t.Fatalf("decodeSegment: %v does not match errCorrupt", err)
		}
		if _, err := decodeHead(data); err != nil && !errors.Is(err, errCorrupt) {
			t.Fatalf("decodeHead: %v does not match errCorrupt", err)
		}
		if _, err := decodeSmall(identityMagic, data); err != nil && !errors.Is(err, errCorrupt) {
			t.Fatalf("decodeSmall: %v does not match errCorrupt", err)
		}
	})
}

// checkDecodeRecords decodes records from the start of data until one
// fails, checking that each decoded record encodes back to its bytes and
// that scan gets at least as far.
func checkDecodeRecords(t *testing.T, data []byte) {
	off := 0
	for off < len(data) {
		u, n, err := decodeRecord(data[off:])
		if err != nil {
			if !errors.Is(err, errCorrupt) {
				t.Fatalf("decodeRecord at %d: %v does not match errCorrupt", off, err)
			}
			break
		}
		if again := appendRecord(nil, u); !bytes.Equal(again, data[off:off+n]) {
			t.Fatalf("record at %d does not encode back to its %d bytes", off, n)
		}
		if err := logstore.DefaultLimits().Check(u.Ops); err != nil && !errors.Is(err, logstore.ErrTooLarge) {
			t.Fatalf("decoded record %d holds operations that Append refuses: %v", u.ID, err)
		}
		off += n
	}
	// scan checks frames only, so it gets at least as far as decodeRecord.
	end, err := scan(bytes.NewReader(data), 0, int64(len(data)), func(int64, []byte) error { return nil })
	if int(end) < off || (err == nil && int(end) != len(data)) {
		t.Fatalf("scan stopped at %d (%v), decodeRecord at %d of %d", end, err, off, len(data))
	}
}

// frame wraps body in a record's length and checksum.
func frame(body []byte) []byte {
	rec := make([]byte, recHeaderLen, recHeaderLen+len(body))
	binary.LittleEndian.PutUint32(rec, uint32(len(body)))
	rec = append(rec, body...)
	sealRecord(rec)
	return rec
}
