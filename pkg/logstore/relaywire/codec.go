package relaywire

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/whycache/whycache/pkg/logstore"
)

// Format bytes and the version of the binary encoding.
const (
	magicPage = 'P'
	magicOps  = 'O'
	version   = 1
)

// Smallest encodings, which bound the counts a decoder believes: an
// operation is at least a type, a key length and a value length; an update
// at least an id, a time and an operation count.
const (
	minOpBytes     = 3
	minUpdateBytes = 3
)

// AppendPage appends the encoding of a page of updates to b.
func AppendPage(b []byte, page []logstore.Update) []byte {
	b = append(b, magicPage, version)
	b = binary.AppendUvarint(b, uint64(len(page)))
	for _, u := range page {
		b = binary.AppendUvarint(b, u.ID)
		b = binary.AppendVarint(b, u.Time.UnixNano())
		b = appendOps(b, u.Ops)
	}
	return b
}

// AppendOps appends the encoding of an append body to b.
func AppendOps(b []byte, ops []logstore.Op) []byte {
	return appendOps(append(b, magicOps, version), ops)
}

// PageSize returns the length of a page's encoding, about: enough to size a
// buffer.
func PageSize(page []logstore.Update) int {
	n := 2 + binary.MaxVarintLen64
	for _, u := range page {
		n += 2*binary.MaxVarintLen64 + opsSize(u.Ops)
	}
	return n
}

// OpsSize returns about the length of an append body's encoding.
func OpsSize(ops []logstore.Op) int { return 2 + opsSize(ops) }

func opsSize(ops []logstore.Op) int {
	n := binary.MaxVarintLen64
	for _, op := range ops {
		n += 1 + 2*binary.MaxVarintLen64 + len(op.Key) + len(op.Value)
	}
	return n
}

func appendOps(b []byte, ops []logstore.Op) []byte {
	b = binary.AppendUvarint(b, uint64(len(ops)))
	for _, op := range ops {
		b = append(b, byte(op.Type))
		b = binary.AppendUvarint(b, uint64(len(op.Key)))
		b = append(b, op.Key...)
		if op.Value == nil {
			b = binary.AppendUvarint(b, 0)
			continue
		}
		b = binary.AppendUvarint(b, uint64(len(op.Value))+1)
		b = append(b, op.Value...)
	}
	return b
}

// DecodePage decodes a page. The updates' keys and values are copies: the
// caller may keep them and reuse b. Its errors match ErrMalformed.
func DecodePage(b []byte) ([]logstore.Update, error) {
	d := decoder{b: b}
	d.header(magicPage)
	n := d.count(minUpdateBytes)
	var page []logstore.Update
	if d.err == nil {
		page = make([]logstore.Update, 0, n)
	}
	for i := 0; i < n && d.err == nil; i++ {
		id := d.uvarint()
		t := d.varint()
		ops := d.ops()
		page = append(page, logstore.Update{ID: id, Time: time.Unix(0, t), Ops: ops})
	}
	if err := d.finish(); err != nil {
		return nil, fmt.Errorf("decode page: %w", err)
	}
	return page, nil
}

// DecodeOps decodes an append body. Its errors match ErrMalformed; the
// operations themselves are not checked (see logstore.Limits.Check).
func DecodeOps(b []byte) ([]logstore.Op, error) {
	d := decoder{b: b}
	d.header(magicOps)
	ops := d.ops()
	if err := d.finish(); err != nil {
		return nil, fmt.Errorf("decode operations: %w", err)
	}
	return ops, nil
}

// decoder reads the binary encoding; the first error sticks.
type decoder struct {
	b   []byte
	off int
	err error
	// slab holds the copies of keys and values: one allocation for all
	// of them instead of one each (the bytes left in b bound their total).
	slab []byte
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("at byte %d: %s: %w", d.off, fmt.Sprintf(format, args...), ErrMalformed)
	}
}

func (d *decoder) header(magic byte) {
	if len(d.b) < 2 || d.b[0] != magic || d.b[1] != version {
		d.fail("want the header %q %d", magic, version)
		return
	}
	d.off = 2
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b[d.off:])
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.off += n
	return v
}

// count reads a count of items of at least minBytes each, refusing one that
// the remaining bytes cannot hold (so that a hostile count allocates
// nothing).
func (d *decoder) count(minBytes int) int {
	v := d.uvarint()
	if d.err == nil && v > uint64((len(d.b)-d.off)/minBytes) {
		d.fail("count %d is more than the %d bytes left can hold", v, len(d.b)-d.off)
		return 0
	}
	return int(v)
}

// bytes reads n bytes as a copy.
func (d *decoder) bytes(n uint64) []byte {
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)-d.off) {
		d.fail("length %d is more than the %d bytes left", n, len(d.b)-d.off)
		return nil
	}
	if n == 0 {
		return []byte{}
	}
	if uint64(cap(d.slab)-len(d.slab)) < n {
		d.slab = make([]byte, 0, len(d.b)-d.off)
	}
	start := len(d.slab)
	d.slab = append(d.slab, d.b[d.off:d.off+int(n)]...)
	d.off += int(n)
	return d.slab[start:len(d.slab):len(d.slab)] // capped: an append to it copies
}

func (d *decoder) ops() []logstore.Op {
	n := d.count(minOpBytes)
	if d.err != nil {
		return nil
	}
	ops := make([]logstore.Op, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		if d.off >= len(d.b) {
			d.fail("operation %d is cut short", i)
			break
		}
		typ := logstore.OpType(d.b[d.off])
		d.off++
		key := d.bytes(d.uvarint())
		var value []byte
		if v := d.uvarint(); v > 0 {
			value = d.bytes(v - 1)
		}
		ops = append(ops, logstore.Op{Type: typ, Key: key, Value: value})
	}
	return ops
}

func (d *decoder) finish() error {
	if d.err == nil && d.off != len(d.b) {
		d.fail("%d bytes after the end", len(d.b)-d.off)
	}
	return d.err
}
