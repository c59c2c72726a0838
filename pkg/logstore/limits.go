package logstore

import (
	"fmt"
	"strconv"
)

// Default limits. They match the cache file's defaults, so that anything the
// log accepts, every node can apply.
const (
	// DefaultMaxKeySize is the default largest key, in bytes: 64 KiB.
	DefaultMaxKeySize = 64 << 10
	// DefaultMaxValueSize is the default largest value, in bytes: 16 MiB.
	DefaultMaxValueSize = 16 << 20
	// DefaultMaxUpdateSize is the default largest update, counted as the sum
	// of its keys' and values' lengths: 64 MiB.
	DefaultMaxUpdateSize = 64 << 20
	// DefaultMaxUpdateOps is the default largest number of operations in one
	// update.
	DefaultMaxUpdateOps = 100_000
	// MinPageBytes bounds how early [Store.Read] may end a page: a store
	// may stop adding updates to a page before it reaches maxOps operations
	// only once the page's keys and values hold at least this many bytes,
	// so that pages of large values stay bounded in memory.
	MinPageBytes = 8 << 20
)

// Limits bound what one update may hold. A zero field means its default.
type Limits struct {
	// MaxKeySize is the largest key, in bytes.
	MaxKeySize int
	// MaxValueSize is the largest value, in bytes.
	MaxValueSize int
	// MaxUpdateSize is the largest sum of key and value lengths in one update.
	MaxUpdateSize int
	// MaxUpdateOps is the largest number of operations in one update.
	MaxUpdateOps int
}

// DefaultLimits returns the default limits.
func DefaultLimits() Limits {
	return Limits{
		MaxKeySize:    DefaultMaxKeySize,
		MaxValueSize:  DefaultMaxValueSize,
		MaxUpdateSize: DefaultMaxUpdateSize,
		MaxUpdateOps:  DefaultMaxUpdateOps,
	}
}

// WithDefaults returns l with every zero field set to its default.
func (l Limits) WithDefaults() Limits {
	d := DefaultLimits()
	if l.MaxKeySize == 0 {
		l.MaxKeySize = d.MaxKeySize
	}
	if l.MaxValueSize == 0 {
		l.MaxValueSize = d.MaxValueSize
	}
	if l.MaxUpdateSize == 0 {
		l.MaxUpdateSize = d.MaxUpdateSize
	}
	if l.MaxUpdateOps == 0 {
		l.MaxUpdateOps = d.MaxUpdateOps
	}
	return l
}

// Check validates an update against the limits (zero fields meaning their
// defaults). It returns an error matching ErrInvalid for an update with no
// operations, an empty key or an unknown operation type, and one matching
// ErrTooLarge, naming the key and the limit, for anything over a limit.
func (l Limits) Check(ops []Op) error {
	l = l.WithDefaults()
	if len(ops) == 0 {
		return fmt.Errorf("update has no operations: %w", ErrInvalid)
	}
	if len(ops) > l.MaxUpdateOps {
		return fmt.Errorf("update has %d operations, over the limit of %d: %w", len(ops), l.MaxUpdateOps, ErrTooLarge)
	}
	total := 0
	for i, op := range ops {
		switch op.Type {
		case OpSet:
		case OpDelete:
			if op.Value != nil {
				return fmt.Errorf("operation %d: delete of key %s has a value: %w", i, QuoteKey(op.Key), ErrInvalid)
			}
		default:
			return fmt.Errorf("operation %d: unknown type %s: %w", i, op.Type, ErrInvalid)
		}
		if len(op.Key) == 0 {
			return fmt.Errorf("operation %d: empty key: %w", i, ErrInvalid)
		}
		if len(op.Key) > l.MaxKeySize {
			return fmt.Errorf("operation %d: key %s is %d bytes, over the key size limit of %d: %w",
				i, QuoteKey(op.Key), len(op.Key), l.MaxKeySize, ErrTooLarge)
		}
		if len(op.Value) > l.MaxValueSize {
			return fmt.Errorf("operation %d: value of key %s is %d bytes, over the value size limit of %d: %w",
				i, QuoteKey(op.Key), len(op.Value), l.MaxValueSize, ErrTooLarge)
		}
		total += len(op.Key) + len(op.Value)
		if total > l.MaxUpdateSize {
			return fmt.Errorf("update is over %d bytes of keys and values at operation %d (key %s), over the update size limit of %d: %w",
				total, i, QuoteKey(op.Key), l.MaxUpdateSize, ErrTooLarge)
		}
	}
	return nil
}

// QuoteKey formats a key for error messages and logs: Go-quoted, and cut to
// its first 64 bytes with its length when longer.
func QuoteKey(key []byte) string {
	const max = 64
	if len(key) <= max {
		return strconv.Quote(string(key))
	}
	return fmt.Sprintf("%s… (%d bytes)", strconv.Quote(string(key[:max])), len(key))
}
