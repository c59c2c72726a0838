package sqlkit

import (
	"fmt"
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

// PageLimit returns the number of rows a Read query for maxOps should ask
// for: one more than the page, so that Assemble can tell whether the page's
// last update is whole.
func PageLimit(maxOps int) int {
	if maxOps <= 0 {
		maxOps = DefaultPageOps
	}
	return maxOps + 1
}

// Assemble groups rows, ordered by (ID, Index) and fetched with a limit of
// limit rows, into whole updates. It drops an update that the limit may have
// cut, unless it is the only one; incomplete then reports that the single
// update returned lacks its operations after its last one, which the caller
// fetches without a limit.
func Assemble(rows []Row, limit int) (ups []logstore.Update, incomplete bool) {
	if len(rows) >= limit && limit > 1 {
		extra := rows[limit-1]
		rows = rows[:limit-1]
		if extra.ID == rows[len(rows)-1].ID {
			cut := len(rows)
			for cut > 0 && rows[cut-1].ID == extra.ID {
				cut--
			}
			if cut == 0 {
				incomplete = true
			} else {
				rows = rows[:cut]
			}
		}
	}
	return Group(rows), incomplete
}

// Group groups rows, ordered by (ID, Index), into updates.
func Group(rows []Row) []logstore.Update {
	ups := []logstore.Update{}
	for i := 0; i < len(rows); {
		j := i + 1
		for j < len(rows) && rows[j].ID == rows[i].ID {
			j++
		}
		ops := make([]logstore.Op, j-i)
		for k := range ops {
			ops[k] = rows[i+k].Op
		}
		ups = append(ups, logstore.Update{ID: rows[i].ID, Time: rows[i].Time, Ops: ops})
		i = j
	}
	return ups
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
