package sqlkit

import (
	"slices"

	"github.com/whycache/whycache/pkg/logstore"
)

// ShortKey is the longest key that a rewrite scan fetches as it is; longer
// keys are fetched as their SHA-256, so that the scan's memory stays small.
const ShortKey = 64

// KeyIdentity returns the identity under which a rewrite scan groups a key:
// "s" and the key itself when the scan fetched it whole (short), "h" and its
// SHA-256 otherwise. Two keys have the same identity exactly when they are
// equal (barring a SHA-256 collision).
func KeyIdentity(short bool, keyOrHash []byte) string {
	if short {
		return "s" + string(keyOrHash)
	}
	return "h" + string(keyOrHash)
}

// Pos is the position of a key operation in the log.
type Pos struct {
	ID    uint64
	Index int
}

// Less reports whether p comes before q in the log.
func (p Pos) Less(q Pos) bool {
	return p.ID < q.ID || (p.ID == q.ID && p.Index < q.Index)
}

type lastOp struct {
	pos Pos
	typ logstore.OpType
}

// Planner decides what a history rewrite removes. Feed it every operation
// with id <= through in log order; it returns each operation that a later
// operation of the same key supersedes, and at the end the delete markers
// that are their key's last operation and lie at or below the delete limit.
type Planner struct {
	deleteLimit uint64
	last        map[string]lastOp
	examined    int64
}

// NewPlanner returns a planner that removes delete markers with ids up to
// deleteLimit (the caller passes min(DeleteLimit, through)).
func NewPlanner(deleteLimit uint64) *Planner {
	return &Planner{deleteLimit: deleteLimit, last: map[string]lastOp{}}
}

// Add records the operation at pos on the key with the given identity and
// returns the position of the key's previous operation, which it
// supersedes, with ok set; ok is false for a key's first operation.
func (p *Planner) Add(pos Pos, typ logstore.OpType, identity string) (removed Pos, ok bool) {
	p.examined++
	prev, seen := p.last[identity]
	p.last[identity] = lastOp{pos: pos, typ: typ}
	if seen && prev.pos.Less(pos) {
		return prev.pos, true
	}
	return Pos{}, false
}

// Finish returns the last operations that are delete markers at or below
// the delete limit, in log order.
func (p *Planner) Finish() []Pos {
	var out []Pos
	for _, l := range p.last {
		if l.typ == logstore.OpDelete && l.pos.ID <= p.deleteLimit {
			out = append(out, l.pos)
		}
	}
	sortPos(out)
	return out
}

// Examined returns the number of operations added.
func (p *Planner) Examined() int64 { return p.examined }

// Keys returns the number of distinct keys seen.
func (p *Planner) Keys() int { return len(p.last) }

func sortPos(ps []Pos) {
	slices.SortFunc(ps, func(a, b Pos) int {
		switch {
		case a.Less(b):
			return -1
		case b.Less(a):
			return 1
		}
		return 0
	})
}
