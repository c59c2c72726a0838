package sqlkit

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/whycache/whycache/pkg/logstore"
)

// DefaultPageOps is the page size, in operations, of a Read with maxOps <= 0.
const DefaultPageOps = 10000

// Row is one stored key operation, as a Read query returns it.
type Row struct {
	ID    uint64
	Index int
	Time  time.Time
	Op    logstore.Op
}

func (r Row) bytes() int { return len(r.Op.Key) + len(r.Op.Value) }

// QueryFunc returns, in log order, up to limit rows after position from
// (the rows of update from.ID with a higher index, then those of later
// updates), calling each for every row until it returns false. It returns
// the number of rows it passed to each and the last row's position.
type QueryFunc func(ctx context.Context, from Pos, limit int, each func(Row) bool) (n int, last Pos, err error)

// Pager reads pages of whole updates through a QueryFunc. It learns the
// log's row size, so that a page of large values asks for few rows and a
// page of small ones for all it needs in one query.
type Pager struct {
	// Query fetches rows.
	Query QueryFunc
	// avgRow is the average row size seen, in bytes (0: unknown yet).
	avgRow atomic.Int64
}

// initialRowGuess is the row size assumed before any row was read.
const initialRowGuess = 256

// Read returns the page after after: whole updates with about maxOps
// operations in all (at least one update when any exists), ending early
// once it holds logstore.MinPageBytes of keys and values.
func (p *Pager) Read(ctx context.Context, after uint64, maxOps int) ([]logstore.Update, error) {
	if maxOps <= 0 {
		maxOps = DefaultPageOps
	}
	b := &pageBuilder{maxOps: maxOps}
	from := Pos{ID: after, Index: math.MaxInt32}
	for !b.full {
		limit := b.rowsWanted(p.rowGuess(b))
		n, last, err := p.Query(ctx, from, limit, b.add)
		if err != nil {
			return nil, err
		}
		if !b.full && n < limit {
			b.finish() // the end of the log
			break
		}
		from = last
	}
	if b.rows > 0 {
		p.avgRow.Store(int64(b.totalBytes() / b.rows))
	}
	return b.ups, nil
}

func (p *Pager) rowGuess(b *pageBuilder) int {
	if b.rows > 0 {
		return max(1, b.totalBytes()/b.rows)
	}
	if g := p.avgRow.Load(); g > 0 {
		return int(g)
	}
	return initialRowGuess
}

// pageBuilder collects rows into whole updates and decides when the page
// is full.
type pageBuilder struct {
	maxOps   int
	ups      []logstore.Update
	ops      int // operations in ups
	bytes    int // key and value bytes in ups
	cur      *logstore.Update
	curBytes int
	rows     int
	full     bool
}

func (b *pageBuilder) totalBytes() int { return b.bytes + b.curBytes }

// add takes the next row and reports whether the page wants more.
func (b *pageBuilder) add(r Row) bool {
	if b.cur != nil && r.ID != b.cur.ID {
		b.closeCur()
	}
	if b.cur == nil {
		if len(b.ups) > 0 && (b.ops >= b.maxOps || b.bytes >= logstore.MinPageBytes) {
			b.full = true
			return false
		}
		b.cur = &logstore.Update{ID: r.ID, Time: r.Time}
	}
	b.rows++
	b.cur.Ops = append(b.cur.Ops, r.Op)
	b.curBytes += r.bytes()
	if len(b.ups) > 0 && b.ops+len(b.cur.Ops) > b.maxOps {
		b.cur, b.curBytes = nil, 0 // does not fit: the next page starts with it
		b.full = true
		return false
	}
	return true
}

func (b *pageBuilder) closeCur() {
	b.ups = append(b.ups, *b.cur)
	b.ops += len(b.cur.Ops)
	b.bytes += b.curBytes
	b.cur, b.curBytes = nil, 0
}

// finish closes the page at the end of the log.
func (b *pageBuilder) finish() {
	if b.cur != nil {
		b.closeCur()
	}
	b.full = true
}

// rowsWanted is the LIMIT of the next query: enough rows to fill the page
// by operations and by bytes, plus one to see where the last update ends.
// Once a budget is spent, only the update in progress remains to complete,
// and the query asks for a page's worth of bytes.
func (b *pageBuilder) rowsWanted(rowGuess int) int {
	curOps := 0
	if b.cur != nil {
		curOps = len(b.cur.Ops)
	}
	opsLeft := b.maxOps - b.ops - curOps
	bytesLeft := logstore.MinPageBytes - b.totalBytes()
	if opsLeft > 0 && bytesLeft > 0 {
		return max(2, min(opsLeft, bytesLeft/rowGuess)+1)
	}
	return max(16, logstore.MinPageBytes/rowGuess)
}

// CheckHorizon returns an error matching logstore.ErrBehindHorizon when a
// reader at after cannot catch up incrementally: 0 < after < horizon. Stores
// call it with the horizon read after the rows, since a concurrent rewrite
// may have raised it meanwhile.
func CheckHorizon(after, horizon uint64) error {
	if after > 0 && after < horizon {
		return fmt.Errorf("read after %d: the log's horizon is %d: %w", after, horizon, logstore.ErrBehindHorizon)
	}
	return nil
}

// CheckReplayHorizon is CheckHorizon for a full replay that began when the
// horizon was began (see logstore.Store.ReadReplay): a position below the
// horizon is served while the horizon has not moved since.
func CheckReplayHorizon(after, began, horizon uint64) error {
	if after > 0 && after < horizon && horizon != began {
		return fmt.Errorf("replay at %d: the log's horizon moved from %d to %d: %w", after, began, horizon, logstore.ErrBehindHorizon)
	}
	return nil
}
