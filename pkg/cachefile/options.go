package cachefile

import (
	"fmt"
	"time"

	"github.com/go-logr/logr"
)

// Defaults for Options.
const (
	// DefaultMaxKeySize is the default largest key: 64 KiB.
	DefaultMaxKeySize = 64 << 10
	// DefaultMaxValueSize is the default largest value: 16 MiB.
	DefaultMaxValueSize = 16 << 20
	// DefaultInitialKeys is how many keys a new file's index is sized for.
	DefaultInitialKeys = 1024
	// DefaultInitialDataSize is the data capacity of a new file.
	DefaultInitialDataSize = 1 << 20
	// DefaultMaxLoadFactor is the index fill (live keys and tombstones over
	// slots) past which the writer moves to a larger generation.
	DefaultMaxLoadFactor = 0.75
	// DefaultMaxGarbageRatio is the share of the used data region held by
	// dead records past which the writer compacts...
	DefaultMaxGarbageRatio = 0.5
	// DefaultMinGarbageBytes ...once there are at least this many of them.
	DefaultMinGarbageBytes = 8 << 20
	// DefaultCheckpointInterval is how often Apply makes the file durable
	// (msync) and records a checkpoint.
	DefaultCheckpointInterval = 30 * time.Second
)

// Options configure a Writer. The zero value of every field means its
// default.
type Options struct {
	// MaxKeySize is the largest key Apply accepts, in bytes (at most
	// HardMaxKeySize). Default DefaultMaxKeySize.
	MaxKeySize int
	// MaxValueSize is the largest value Apply accepts, in bytes (at most
	// HardMaxValueSize). Default DefaultMaxValueSize.
	MaxValueSize int
	// InitialKeys sizes the index of a new file. Default DefaultInitialKeys.
	InitialKeys int
	// InitialDataSize is the data capacity of a new file, in bytes; the
	// unused part is a hole that takes no disk. Default DefaultInitialDataSize.
	InitialDataSize int64
	// MaxLoadFactor, in [0.5, 0.9], triggers growth. Default DefaultMaxLoadFactor.
	MaxLoadFactor float64
	// MaxGarbageRatio, in (0, 1], and MinGarbageBytes trigger compaction.
	MaxGarbageRatio float64
	MinGarbageBytes int64
	// CheckpointInterval is the longest time between two durable
	// checkpoints while batches are applied; negative means only at Close
	// and at each new generation. Default DefaultCheckpointInterval. After a
	// node reboot, a file that was not closed cleanly is rolled back to its
	// last checkpoint.
	CheckpointInterval time.Duration
	// NoSync skips fsync and msync. A file written with it survives a crash
	// of the writer process but not of the machine. For tests and
	// benchmarks.
	NoSync bool
	// BootID returns the machine's boot id; nil means reading
	// /proc/sys/kernel/random/boot_id. Tests inject it to simulate reboots.
	BootID func() ([16]byte, error)
	// Logger receives the writer's structured logs (recoveries, new
	// generations). The zero value discards them.
	Logger logr.Logger
	// LockOwner names the writer (the node agent puts its node name) in
	// its lock file, beside its pid, so that a second writer's ErrLocked
	// says who holds the file.
	LockOwner string

	// seed, when non-zero, replaces the random hash seed of new generations
	// (golden files).
	seed uint64
	// now, when set, replaces time.Now (golden files).
	now func() time.Time
}

// withDefaults fills in defaults and validates the options.
func (o Options) withDefaults() (Options, error) {
	if o.MaxKeySize == 0 {
		o.MaxKeySize = DefaultMaxKeySize
	}
	if o.MaxValueSize == 0 {
		o.MaxValueSize = DefaultMaxValueSize
	}
	if o.InitialKeys == 0 {
		o.InitialKeys = DefaultInitialKeys
	}
	if o.InitialDataSize == 0 {
		o.InitialDataSize = DefaultInitialDataSize
	}
	if o.MaxLoadFactor == 0 {
		o.MaxLoadFactor = DefaultMaxLoadFactor
	}
	if o.MaxGarbageRatio == 0 {
		o.MaxGarbageRatio = DefaultMaxGarbageRatio
	}
	if o.MinGarbageBytes == 0 {
		o.MinGarbageBytes = DefaultMinGarbageBytes
	}
	if o.CheckpointInterval == 0 {
		o.CheckpointInterval = DefaultCheckpointInterval
	}
	if o.BootID == nil {
		o.BootID = readBootID
	}
	if o.now == nil {
		o.now = time.Now
	}
	switch {
	case o.MaxKeySize < 1 || o.MaxKeySize > HardMaxKeySize:
		return o, fmt.Errorf("MaxKeySize %d not in [1, %d]: %w", o.MaxKeySize, HardMaxKeySize, ErrInvalid)
	case o.MaxValueSize < 0 || o.MaxValueSize > HardMaxValueSize:
		return o, fmt.Errorf("MaxValueSize %d not in [0, %d]: %w", o.MaxValueSize, HardMaxValueSize, ErrInvalid)
	case o.InitialKeys < 0 || o.InitialKeys > maxCapacity/4:
		return o, fmt.Errorf("InitialKeys %d out of range: %w", o.InitialKeys, ErrInvalid)
	case o.InitialDataSize < 0 || o.InitialDataSize > maxDataEnd/4:
		return o, fmt.Errorf("InitialDataSize %d out of range: %w", o.InitialDataSize, ErrInvalid)
	case o.MaxLoadFactor < 0.5 || o.MaxLoadFactor > 0.9:
		return o, fmt.Errorf("MaxLoadFactor %v not in [0.5, 0.9]: %w", o.MaxLoadFactor, ErrInvalid)
	case o.MaxGarbageRatio <= 0 || o.MaxGarbageRatio > 1:
		return o, fmt.Errorf("MaxGarbageRatio %v not in (0, 1]: %w", o.MaxGarbageRatio, ErrInvalid)
	case o.MinGarbageBytes < 0:
		return o, fmt.Errorf("MinGarbageBytes %d is negative: %w", o.MinGarbageBytes, ErrInvalid)
	}
	return o, nil
}
