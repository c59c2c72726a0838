package nodeagent

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"time"

	"github.com/whycache/whycache/pkg/logstore"
)

// A cache file records its applied id, but not which history that id comes
// from: a log restored to an earlier point (or failed over to a replica
// that lost its tail) reuses ids for new updates, and a file that trusted
// its applied id would skip them for good. So the agent keeps, beside the
// file, the fingerprint of the last update it read for it: its id and its
// commit time in the log. Commit times are set by the store when the update
// commits and never change (a history rewrite keeps them), so an update
// written again at a reused id has another. The check is sound as long as
// the store's clock does not step back to the exact instant of the update
// it replaces.

// tip is the fingerprint of one update of the log.
type tip struct {
	ID uint64
	// Time is the update's commit time; zero when the log held no update at
	// ID when the tip was taken (a history rewrite had removed it).
	Time time.Time
}

func tipOf(u logstore.Update) tip { return tip{ID: u.ID, Time: u.Time} }

// checkTip compares a tip with the log: first is the first update the log
// holds at or after t.ID (nil when none), head the log's latest id. The log
// matches when it holds the same update at t.ID, or none there (a rewrite
// may remove an update whose keys later updates overwrite) while it still
// reaches t.ID. It does not match when it holds another update at t.ID,
// one where it had none, or ends before t.ID.
func checkTip(t tip, first *logstore.Update, head uint64) tipCheck {
	switch {
	case first == nil && head < t.ID:
		return tipMismatch
	case first == nil || first.ID > t.ID:
		return tipMatch
	case t.Time.IsZero() || !first.Time.Equal(t.Time):
		return tipMismatch
	}
	return tipMatch
}

// The tip file, <cache file>.tip, 44 bytes, little-endian:
//
//	0   8  magic "WCTIP001"
//	8  16  the log's identity
//	24  8  update id
//	32  8  commit time, Unix nanoseconds (0: the log held no update there)
//	40  4  CRC-32C of bytes 0..39
//
// It is written in place before each batch is applied, so that it is never
// behind the file's applied id after a crash of the agent, and made durable
// once the agent has caught up (fdatasync, skipped with Cache.NoSync).
const (
	tipSuffix = ".tip"
	tipMagic  = "WCTIP001"
	tipLen    = 44
)

var (
	errTipCorrupt = errors.New("tip file is corrupt")
	castagnoli    = crc32.MakeTable(crc32.Castagnoli)
)

func encodeTip(id logstore.LogID, t tip) []byte {
	b := make([]byte, tipLen)
	copy(b, tipMagic)
	copy(b[8:24], id[:])
	binary.LittleEndian.PutUint64(b[24:], t.ID)
	if !t.Time.IsZero() {
		binary.LittleEndian.PutUint64(b[32:], uint64(t.Time.UnixNano()))
	}
	binary.LittleEndian.PutUint32(b[40:], crc32.Checksum(b[:40], castagnoli))
	return b
}

// decodeTip parses a tip file's bytes, which must belong to log id.
func decodeTip(b []byte, id logstore.LogID) (tip, error) {
	if len(b) != tipLen || string(b[:8]) != tipMagic {
		return tip{}, fmt.Errorf("%w: bad magic or length %d", errTipCorrupt, len(b))
	}
	if crc32.Checksum(b[:40], castagnoli) != binary.LittleEndian.Uint32(b[40:]) {
		return tip{}, fmt.Errorf("%w: bad checksum", errTipCorrupt)
	}
	if logstore.LogID(b[8:24]) != id {
		return tip{}, fmt.Errorf("%w: it belongs to log %s, not %s", errTipCorrupt, logstore.LogID(b[8:24]), id)
	}
	t := tip{ID: binary.LittleEndian.Uint64(b[24:])}
	if ns := int64(binary.LittleEndian.Uint64(b[32:])); ns != 0 {
		t.Time = time.Unix(0, ns)
	}
	return t, nil
}

// tipFile is the open tip file.
type tipFile struct {
	f      *os.File
	logID  logstore.LogID
	noSync bool
	dirty  bool
}

// openTipFile opens (creating it when missing) the tip file of the cache
// file at path.
func openTipFile(path string, id logstore.LogID, noSync bool) (*tipFile, error) {
	f, err := os.OpenFile(path+tipSuffix, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open tip file: %w", err)
	}
	return &tipFile{f: f, logID: id, noSync: noSync}, nil
}

// read returns the recorded tip; an error matching errTipCorrupt when the
// file is empty or unreadable as one.
func (tf *tipFile) read() (tip, error) {
	b := make([]byte, tipLen+1)
	n, err := tf.f.ReadAt(b, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return tip{}, fmt.Errorf("read tip file: %w", err)
	}
	return decodeTip(b[:n], tf.logID)
}

// write records t (not yet durably: see sync).
func (tf *tipFile) write(t tip) error {
	if _, err := tf.f.WriteAt(encodeTip(tf.logID, t), 0); err != nil {
		return fmt.Errorf("write tip file: %w", err)
	}
	tf.dirty = true
	return nil
}

// sync makes the last write durable.
func (tf *tipFile) sync() error {
	if !tf.dirty || tf.noSync {
		return nil
	}
	if err := tf.f.Sync(); err != nil {
		return fmt.Errorf("sync tip file: %w", err)
	}
	tf.dirty = false
	return nil
}

func (tf *tipFile) close() error { return tf.f.Close() }

// probeTip reads the first update at or after id, or nil when the log has
// none. horizon is the log's horizon, read just before: a reader at the
// horizon may read on, and reading from id-1 is then a replay read (only
// compared, never applied).
func probeTip(ctx context.Context, store logstore.Store, id, horizon uint64) (*logstore.Update, error) {
	after := id - 1
	var page []logstore.Update
	var err error
	if after != 0 && after < horizon {
		page, err = store.ReadReplay(ctx, after, 1, horizon)
	} else {
		page, err = store.Read(ctx, after, 1)
	}
	if err != nil {
		return nil, fmt.Errorf("read update %d of the log: %w", id, err)
	}
	if len(page) == 0 {
		return nil, nil
	}
	return &page[0], nil
}
