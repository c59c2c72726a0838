package logstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// OpType says what an [Op] does.
type OpType uint8

const (
	// OpSet sets a key to a value.
	OpSet OpType = 1
	// OpDelete deletes a key. Deleting a missing key is not an error.
	OpDelete OpType = 2
)

// String returns "set", "delete" or "op(N)".
func (t OpType) String() string {
	switch t {
	case OpSet:
		return "set"
	case OpDelete:
		return "delete"
	default:
		return fmt.Sprintf("op(%d)", uint8(t))
	}
}

// Op is one key operation of an update.
type Op struct {
	// Type is OpSet or OpDelete.
	Type OpType
	// Key is the key; it must not be empty.
	Key []byte
	// Value is the value of an OpSet; it is nil for an OpDelete. An empty
	// value is allowed.
	Value []byte
}

// Set returns an operation that sets key to value.
func Set(key, value []byte) Op { return Op{Type: OpSet, Key: key, Value: value} }

// Delete returns an operation that deletes key.
func Delete(key []byte) Op { return Op{Type: OpDelete, Key: key} }

// Update is a group of operations that the log applies atomically, under one
// update id.
type Update struct {
	// ID is the update's id: strictly increasing along the log, starting at 1.
	ID uint64
	// Time is when the store committed the update.
	Time time.Time
	// Ops are the update's operations, in the order they were appended.
	// After a history rewrite an update may hold only some of them.
	Ops []Op
}

// Bytes returns the bytes of keys and values the update holds.
func (u Update) Bytes() int64 {
	var n int64
	for _, op := range u.Ops {
		n += int64(len(op.Key) + len(op.Value))
	}
	return n
}

// LogID is the identity of a log: random, created with the log, and recorded
// in every cache file fed from it, so that a file is never fed from another
// log.
type LogID [16]byte

// NewLogID returns a random log identity.
func NewLogID() LogID {
	var id LogID
	if _, err := rand.Read(id[:]); err != nil {
		panic(fmt.Sprintf("logstore: read random bytes: %v", err))
	}
	id[6] = id[6]&0x0f | 0x40 // a version 4 UUID, so that it prints as one.
	id[8] = id[8]&0x3f | 0x80
	return id
}

// String formats the identity as a UUID: 8-4-4-4-12 lowercase hex digits.
func (id LogID) String() string { return uuid.UUID(id).String() }

// IsZero reports whether id is the zero identity (no log).
func (id LogID) IsZero() bool { return id == LogID{} }

// ParseLogID parses an identity in the form that [LogID.String] prints.
func ParseLogID(s string) (LogID, error) {
	var id LogID
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return id, fmt.Errorf("parse log id %q: want 8-4-4-4-12 hex digits: %w", s, ErrInvalid)
	}
	h := s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:]
	if _, err := hex.Decode(id[:], []byte(h)); err != nil {
		return LogID{}, fmt.Errorf("parse log id %q: %w: %w", s, ErrInvalid, err)
	}
	return id, nil
}

// NodeProgress is what a node agent records about itself in the store.
type NodeProgress struct {
	// Node is the node's name (the Kubernetes node name).
	Node string
	// AppliedID is the last update id fully applied to the node's cache file.
	AppliedID uint64
	// Heartbeat is when the node last reported. Heartbeat sets it to the
	// store's clock; the caller's value is ignored.
	Heartbeat time.Time
}

// RewriteOptions say how far [Store.Rewrite] may go.
type RewriteOptions struct {
	// Through is the limit id: for each key, only its last operation with
	// id <= Through is kept; earlier ones are removed. Operations above
	// Through are never touched.
	Through uint64
	// DeleteLimit is the safe limit for delete markers: a delete that is the
	// last operation of its key at or below Through is removed only when its
	// id is <= DeleteLimit. The horizon rises to min(DeleteLimit, Through)
	// when that is higher than the current horizon. Zero removes no delete
	// markers. The caller chooses it so that every live node has applied
	// past it and a snapshot covers it.
	DeleteLimit uint64
	// BatchSize is the number of rows removed per transaction, so that
	// writers are never blocked for long. Zero means the store's default.
	BatchSize int
}

// RewriteStats reports what a history rewrite did.
type RewriteStats struct {
	// Examined is the number of key operations the rewrite looked at.
	Examined int64
	// Removed is the number of key operations it removed.
	Removed int64
	// Duration is how long it took.
	Duration time.Duration
	// Horizon is the store's horizon after the rewrite.
	Horizon uint64
}

// Store is a log of updates in an external store. Implementations are safe
// for concurrent use by many goroutines, and several processes may use the
// same log at once.
type Store interface {
	// ID returns the log's identity.
	ID() LogID

	// Limits returns the limits that Append enforces.
	Limits() Limits

	// Append appends one update made of ops and returns its id once the
	// update is durable. The update is all or nothing. Ops that break the
	// limits fail with an error matching ErrTooLarge, and invalid ops (an
	// empty key, an unknown type, no ops) with ErrInvalid; nothing is
	// written then. When the connection to the store is lost, the error
	// says so and the update is either fully present or absent.
	Append(ctx context.Context, ops []Op) (uint64, error)

	// Read returns the updates with ids above after, in id order. It returns
	// whole updates holding about maxOps operations in all (at least one
	// update when any is there; maxOps <= 0 means the store's default page;
	// a page may end early once it holds MinPageBytes of keys and values),
	// and an empty slice when there is nothing after after. When after is
	// neither 0 nor at least the horizon, Read fails with ErrBehindHorizon.
	Read(ctx context.Context, after uint64, maxOps int) ([]Update, error)

	// ReadReplay reads like Read, for a replay of the whole log in pages that
	// began (with after == 0) when the horizon was horizon: the replay
	// calls Horizon before its first read. A plain Read refuses every
	// position between 0 and the horizon, because a reader standing there
	// may hold state from before a rewrite removed a delete marker above
	// it; a replay from 0 stands there too, page after page, but with state
	// built from the log as it is now, which is safe as long as no rewrite
	// has raised the horizon since the replay began (a rewrite that leaves
	// the horizon alone removes only operations that a later, kept
	// operation overrides). ReadReplay therefore serves positions below the
	// horizon while the horizon is still horizon, checking it after reading
	// too, and fails with ErrBehindHorizon once it has moved: the replay
	// must then start over.
	ReadReplay(ctx context.Context, after uint64, maxOps int, horizon uint64) ([]Update, error)

	// Latest returns the highest update id in the log, or 0 for an empty log.
	Latest(ctx context.Context) (uint64, error)

	// Horizon returns the log's horizon (see the package documentation).
	Horizon(ctx context.Context) (uint64, error)

	// Wait blocks until the log holds an update with an id above after, and
	// returns the latest id. It returns ctx's error when ctx ends first.
	Wait(ctx context.Context, after uint64) (uint64, error)

	// Rewrite rewrites the log's history as opts say. It runs in bounded
	// transactions and is safe while writers and readers are active.
	Rewrite(ctx context.Context, opts RewriteOptions) (RewriteStats, error)

	// Heartbeat records a node's applied id and the current time.
	Heartbeat(ctx context.Context, p NodeProgress) error

	// Nodes lists the nodes that have sent a heartbeat, by name.
	Nodes(ctx context.Context) ([]NodeProgress, error)

	// Close releases the store's resources. Calls after Close fail with
	// ErrClosed.
	Close() error
}

// HeartbeatBatcher is implemented by stores that record the heartbeats of
// many nodes in one statement. A relay, which gathers the heartbeats of a
// fleet, writes them through it when its store has it.
type HeartbeatBatcher interface {
	// Heartbeats records each node's applied id and the current time, as
	// Heartbeat does for one node. The nodes are distinct. On error, any
	// of them may or may not be recorded.
	Heartbeats(ctx context.Context, ps []NodeProgress) error
}
