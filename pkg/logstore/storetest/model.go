package storetest

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/whycache/whycache/pkg/logstore"
)

// State is a key-value state, built by applying updates in id order: what a
// node's cache file holds.
type State map[string][]byte

// Apply applies one update's operations in order.
func (s State) Apply(u logstore.Update) { s.ApplyOps(u.Ops) }

// ApplyOps applies operations in order.
func (s State) ApplyOps(ops []logstore.Op) {
	for _, op := range ops {
		switch op.Type {
		case logstore.OpSet:
			s[string(op.Key)] = bytes.Clone(op.Value)
		case logstore.OpDelete:
			delete(s, string(op.Key))
		}
	}
}

// Clone returns a copy of s that shares no map with it.
func (s State) Clone() State { return maps.Clone(s) }

// Diff describes how s differs from want, naming at most a few keys, or
// returns "" when they are equal.
func (s State) Diff(want State) string {
	const most = 5
	var d []string
	for _, k := range slices.Sorted(maps.Keys(want)) {
		got, ok := s[k]
		switch {
		case !ok:
			d = append(d, fmt.Sprintf("key %q missing (want %d bytes)", k, len(want[k])))
		case !bytes.Equal(got, want[k]):
			d = append(d, fmt.Sprintf("key %q has %d bytes %.16q, want %d bytes %.16q", k, len(got), got, len(want[k]), want[k]))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(s)) {
		if _, ok := want[k]; !ok {
			d = append(d, fmt.Sprintf("key %q present, want absent", k))
		}
	}
	if len(d) == 0 {
		return ""
	}
	more := ""
	if len(d) > most {
		more = fmt.Sprintf(" (and %d more)", len(d)-most)
		d = d[:most]
	}
	return fmt.Sprintf("%d keys vs %d wanted: %s%s", len(s), len(want), strings.Join(d, "; "), more)
}

// StateAt returns the state after applying the updates of log with ids up to
// and including id.
func StateAt(log []logstore.Update, id uint64) State {
	s := State{}
	for _, u := range log {
		if u.ID > id {
			break
		}
		s.Apply(u)
	}
	return s
}

// RewriteModel is the reference history rewrite. It returns what a store
// must hold after Rewrite(through, deleteLimit) of log (sorted by id): for
// each key, only its last operation with id <= through is kept, at its
// original id and position; a kept delete is dropped too when its id is <=
// min(deleteLimit, through); updates left with no operations disappear;
// updates above through are untouched. It also returns how many operations
// it removed and how many it examined (those with id <= through). The input
// is not modified.
func RewriteModel(log []logstore.Update, through, deleteLimit uint64) (kept []logstore.Update, removed, examined int64) {
	delLimit := min(deleteLimit, through)
	seen := map[string]bool{}
	out := make([]logstore.Update, len(log))
	for i := len(log) - 1; i >= 0; i-- {
		u := log[i]
		if u.ID > through {
			out[i] = u
			continue
		}
		var ops []logstore.Op
		for j := len(u.Ops) - 1; j >= 0; j-- {
			op := u.Ops[j]
			examined++
			k := string(op.Key)
			if seen[k] || (op.Type == logstore.OpDelete && u.ID <= delLimit) {
				seen[k] = true
				removed++
				continue
			}
			seen[k] = true
			ops = append(ops, op)
		}
		slices.Reverse(ops)
		out[i] = logstore.Update{ID: u.ID, Time: u.Time, Ops: ops}
	}
	for _, u := range out {
		if len(u.Ops) > 0 {
			kept = append(kept, u)
		}
	}
	return kept, removed, examined
}

// DiffUpdates compares two logs by id and operations (not by time) and
// describes the first difference, or returns "" when they are equal.
func DiffUpdates(got, want []logstore.Update) string {
	for i := range min(len(got), len(want)) {
		g, w := got[i], want[i]
		if g.ID != w.ID {
			return fmt.Sprintf("update %d: id %d, want %d", i, g.ID, w.ID)
		}
		if d := diffOps(g.Ops, w.Ops); d != "" {
			return fmt.Sprintf("update id %d: %s", g.ID, d)
		}
	}
	switch {
	case len(got) > len(want):
		return fmt.Sprintf("%d updates, want %d: first extra has id %d", len(got), len(want), got[len(want)].ID)
	case len(got) < len(want):
		return fmt.Sprintf("%d updates, want %d: first missing has id %d", len(got), len(want), want[len(got)].ID)
	}
	return ""
}

// diffOps describes the first difference between two operation lists.
func diffOps(got, want []logstore.Op) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d ops, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Type != w.Type || !bytes.Equal(g.Key, w.Key) || !bytes.Equal(g.Value, w.Value) {
			return fmt.Sprintf("op %d is %s %s (%d bytes), want %s %s (%d bytes)",
				i, g.Type, logstore.QuoteKey(g.Key), len(g.Value), w.Type, logstore.QuoteKey(w.Key), len(w.Value))
		}
	}
	return ""
}

// CountOps returns the number of operations in updates.
func CountOps(updates []logstore.Update) int {
	n := 0
	for _, u := range updates {
		n += len(u.Ops)
	}
	return n
}
