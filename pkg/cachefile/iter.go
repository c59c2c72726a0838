package cachefile

import (
	"bytes"
	"iter"
	"slices"
	"sync/atomic"
)

// Iteration walks the index of the generation that is current when it
// starts, and keeps that generation mapped until it ends (it does not move
// to a newer generation mid-way). Like the original whycache, it may see
// batches that are applied while it runs: a key set or deleted concurrently
// may or may not be seen, and a key that is deleted and set again during the
// walk may be seen twice (the sorted forms yield it once). A value is never
// torn. A record that fails its bounds checks, or a memory fault (the file
// was shrunk in place: see the package doc), ends the iterators early; Range
// returns it as an error wrapping ErrCorrupt.

// scan calls fn for every live slot of m, in index order, with the record's
// offset, key and value (aliasing the mapping). It stops early when fn
// returns false, and at the first record that fails its bounds checks.
func (m *mapping) scan(fn func(off uint64, k, v []byte) bool) error {
	for i := range m.slots {
		s := atomic.LoadUint64(&m.slots[i])
		if s == slotEmpty || s == slotTombstone {
			continue
		}
		k, v, err := m.record(slotOffset(s))
		if err != nil {
			return err
		}
		if !fn(slotOffset(s), k, v) {
			return nil
		}
	}
	return nil
}

// Range calls fn for each item, unordered, without copying: key and value
// alias the mapping and are valid only until fn returns (as for View). It
// stops when fn returns false. It returns ErrClosed after Close, and an
// ErrCorrupt error (after the items before it) when a record is damaged.
func (r *Reader) Range(fn func(key, value []byte) bool) (err error) {
	var rd guardedRead
	defer rd.end(&err)
	rd.begin()
	if err = r.acquire(&rd); err != nil {
		return err
	}
	return rd.g.m.scan(func(_ uint64, k, v []byte) bool { return fn(k, v) })
}

// All returns an iterator over copies of the file's items, unordered.
func (r *Reader) All() iter.Seq2[[]byte, []byte] {
	return func(yield func(k, v []byte) bool) {
		_ = r.Range(func(k, v []byte) bool {
			kc, vc := copyItem(k, v)
			return yield(kc, vc)
		})
	}
}

// Keys returns an iterator over copies of the file's keys, unordered.
func (r *Reader) Keys() iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		_ = r.Range(func(k, _ []byte) bool { return yield(bytes.Clone(k)) })
	}
}

// Values returns an iterator over copies of the file's values, unordered.
func (r *Reader) Values() iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		_ = r.Range(func(_, v []byte) bool { return yield(append([]byte{}, v...)) })
	}
}

// Sorted returns an iterator over copies of the file's items in ascending
// key order (bytewise). It collects the matching keys first, so it uses
// memory proportional to their number.
func (r *Reader) Sorted() iter.Seq2[[]byte, []byte] { return r.Prefix(nil) }

// Prefix returns an iterator over copies of the items whose key starts with
// prefix, in ascending key order.
func (r *Reader) Prefix(prefix []byte) iter.Seq2[[]byte, []byte] {
	return func(yield func(k, v []byte) bool) {
		var rd guardedRead
		defer rd.end(nil)
		rd.begin()
		if r.acquire(&rd) != nil {
			return
		}
		g := rd.g
		type item struct {
			off  uint64
			k, v []byte
		}
		var items []item
		_ = g.m.scan(func(off uint64, k, v []byte) bool {
			if bytes.HasPrefix(k, prefix) {
				items = append(items, item{off, k, v})
			}
			return true
		})
		// Sort by key, newest record first, so that a key seen twice
		// yields its newer value (records are appended in order).
		slices.SortFunc(items, func(a, b item) int {
			if c := bytes.Compare(a.k, b.k); c != 0 {
				return c
			}
			return -cmpUint64(a.off, b.off)
		})
		for i, it := range items {
			if i > 0 && bytes.Equal(items[i-1].k, it.k) {
				continue
			}
			if !yield(copyItem(it.k, it.v)) {
				return
			}
		}
	}
}

func cmpUint64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// copyItem copies a key and a value into one allocation.
func copyItem(k, v []byte) ([]byte, []byte) {
	b := make([]byte, len(k)+len(v))
	copy(b, k)
	copy(b[len(k):], v)
	return b[:len(k):len(k)], b[len(k):]
}
