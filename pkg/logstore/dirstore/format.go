package dirstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/bits"
	"time"

	"github.com/whycache/whycache/pkg/logstore"
)

// Sizes and magic numbers of the on-disk format (see the package
// documentation). Every integer is little-endian.
const (
	segMagic      = "WCLOGSEG"
	segVersion    = 1
	segHeaderLen  = 32
	recHeaderLen  = 8
	recFixedLen   = 16      // id and time at the start of a record body
	maxRecordBody = 1 << 30 // a sanity bound on a record's length field
)

// castagnoli is the CRC-32C table used by every checksum in the format.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errCorrupt marks bytes that do not decode: a torn tail when they are past
// the committed length, corruption otherwise.
var errCorrupt = errors.New("dirstore: corrupt record")

// errShort marks a record cut short: more bytes are needed to decode it.
var errShort = fmt.Errorf("%w: short", errCorrupt)

// segHeader is the fixed header at the start of each segment file.
type segHeader struct {
	gen  uint32 // generation: 0 when written by appends, +1 per rewrite
	base uint64 // the lowest id the segment may hold
}

// encode returns the header's 32 bytes.
func (h segHeader) encode() []byte {
	b := make([]byte, segHeaderLen)
	copy(b, segMagic)
	binary.LittleEndian.PutUint32(b[8:], segVersion)
	binary.LittleEndian.PutUint32(b[12:], h.gen)
	binary.LittleEndian.PutUint64(b[16:], h.base)
	binary.LittleEndian.PutUint32(b[28:], crc32.Checksum(b[:28], castagnoli))
	return b
}

// decodeSegHeader parses and checks a segment header.
func decodeSegHeader(b []byte) (segHeader, error) {
	if len(b) < segHeaderLen {
		return segHeader{}, fmt.Errorf("segment header: %d bytes: %w", len(b), errShort)
	}
	if string(b[:8]) != segMagic {
		return segHeader{}, fmt.Errorf("segment header: bad magic %q: %w", b[:8], errCorrupt)
	}
	if crc32.Checksum(b[:28], castagnoli) != binary.LittleEndian.Uint32(b[28:]) {
		return segHeader{}, fmt.Errorf("segment header: bad checksum: %w", errCorrupt)
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != segVersion {
		return segHeader{}, fmt.Errorf("segment header: version %d, this build reads %d: %w", v, segVersion, errCorrupt)
	}
	h := segHeader{gen: binary.LittleEndian.Uint32(b[12:]), base: binary.LittleEndian.Uint64(b[16:])}
	if h.base == 0 {
		return h, fmt.Errorf("segment header: base id 0: %w", errCorrupt)
	}
	return h, nil
}

// appendRecord appends the record of update u to b: the body length, the
// CRC-32C of the length and the body, and the body (id, time, operations).
func appendRecord(b []byte, u logstore.Update) []byte {
	start := len(b)
	b = append(b, make([]byte, recHeaderLen)...)
	b = binary.LittleEndian.AppendUint64(b, u.ID)
	b = binary.LittleEndian.AppendUint64(b, uint64(u.Time.UnixNano()))
	b = binary.AppendUvarint(b, uint64(len(u.Ops)))
	for _, op := range u.Ops {
		b = append(b, byte(op.Type))
		b = binary.AppendUvarint(b, uint64(len(op.Key)))
		b = append(b, op.Key...)
		if op.Type == logstore.OpSet {
			b = binary.AppendUvarint(b, uint64(len(op.Value)))
			b = append(b, op.Value...)
		}
	}
	binary.LittleEndian.PutUint32(b[start:], uint32(len(b)-start-recHeaderLen))
	sealRecord(b[start:])
	return b
}

// setRecordID sets the id and time of an encoded record and recomputes its
// checksum. Append encodes records before it knows their ids.
func setRecordID(rec []byte, id uint64, t time.Time) {
	binary.LittleEndian.PutUint64(rec[recHeaderLen:], id)
	binary.LittleEndian.PutUint64(rec[recHeaderLen+8:], uint64(t.UnixNano()))
	sealRecord(rec)
}

// sealRecord computes the checksum of a whole encoded record.
func sealRecord(rec []byte) {
	crc := crc32.Checksum(rec[:4], castagnoli)
	crc = crc32.Update(crc, castagnoli, rec[recHeaderLen:])
	binary.LittleEndian.PutUint32(rec[4:], crc)
}

// recordLen checks the header at the start of b and returns the whole
// record's length, or errShort when b does not hold the whole record.
func recordLen(b []byte) (int, error) {
	if len(b) < recHeaderLen {
		return 0, errShort
	}
	n := binary.LittleEndian.Uint32(b)
	if n < recFixedLen+1 || n > maxRecordBody {
		return 0, fmt.Errorf("record length %d: %w", n, errCorrupt)
	}
	if len(b) < recHeaderLen+int(n) {
		return 0, errShort
	}
	crc := crc32.Checksum(b[:4], castagnoli)
	crc = crc32.Update(crc, castagnoli, b[recHeaderLen:recHeaderLen+int(n)])
	if crc != binary.LittleEndian.Uint32(b[4:]) {
		return 0, fmt.Errorf("record checksum: %w", errCorrupt)
	}
	return recHeaderLen + int(n), nil
}

// recordMeta returns the id and the number of operations of a checked
// record, for the index.
func recordMeta(rec []byte) (id uint64, nops uint64, err error) {
	body := rec[recHeaderLen:]
	nops, n := binary.Uvarint(body[recFixedLen:])
	if n <= 0 {
		return 0, 0, fmt.Errorf("record operation count: %w", errCorrupt)
	}
	return binary.LittleEndian.Uint64(body), nops, nil
}

// decodeRecord decodes the record at the start of b and returns it with its
// length. The operations' keys and values point into b.
func decodeRecord(b []byte) (logstore.Update, int, error) {
	n, err := recordLen(b)
	if err != nil {
		return logstore.Update{}, 0, err
	}
	body := b[recHeaderLen:n]
	u := logstore.Update{
		ID:   binary.LittleEndian.Uint64(body),
		Time: time.Unix(0, int64(binary.LittleEndian.Uint64(body[8:]))),
	}
	d := decoder{b: body[recFixedLen:]}
	nops := d.uvarint()
	if nops == 0 || nops > uint64(len(d.b)) {
		return u, 0, fmt.Errorf("record %d: %d operations in %d bytes: %w", u.ID, nops, len(d.b), errCorrupt)
	}
	u.Ops = make([]logstore.Op, nops)
	for i := range u.Ops {
		u.Ops[i] = d.op()
	}
	if d.err != nil || len(d.b) != 0 {
		return u, 0, fmt.Errorf("record %d: bad operations (%d bytes left): %w", u.ID, len(d.b), errCorrupt)
	}
	return u, n, nil
}

// decoder reads the operations of a record body, remembering the first
// error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	// Only the shortest encoding is valid: binary.Uvarint also accepts
	// padded ones (0x80 0x00 for 0), which the encoder never writes.
	if n <= 0 || n != (bits.Len64(v|1)+6)/7 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) op() logstore.Op {
	if d.err != nil || len(d.b) == 0 {
		d.fail()
		return logstore.Op{}
	}
	op := logstore.Op{Type: logstore.OpType(d.b[0])}
	d.b = d.b[1:]
	op.Key = d.bytes()
	switch op.Type {
	case logstore.OpSet:
		op.Value = d.bytes()
	case logstore.OpDelete:
	default:
		d.fail()
	}
	if len(op.Key) == 0 {
		d.fail()
	}
	return op
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errCorrupt
	}
	d.b = nil
}
