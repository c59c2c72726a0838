package relay

import (
	"context"
	"errors"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/whycache/whycache/pkg/logstore"
)

// Defaults of the Config fields.
const (
	DefaultCacheBytes       = 64 << 20
	DefaultMaxWaiters       = 10_000
	DefaultMaxWait          = 30 * time.Second
	DefaultHeartbeatLinger  = 200 * time.Millisecond
	DefaultHorizonInterval  = time.Second
	DefaultStoreTimeout     = time.Minute
	DefaultRetryInterval    = 100 * time.Millisecond
	DefaultMaxLogs          = 64
	DefaultMaxInFlightBytes = 256 << 20
	DefaultMaxStoreReads    = 8
	DefaultMaxFrameRate     = 5_000
)

// StoreMinConns is how many database connections a relay's store should
// keep open while idle (logstore.Options.MinConns): about the store calls
// that the relay itself runs at once under steady writes (two commits, the
// read of the newest updates, the check of the latest id, a batch of
// heartbeats or the horizon). Opened only when the writes begin, they
// delayed the first writes after a quiet spell by a server process start
// each.
const StoreMinConns = 4

// Opener opens the log name in the relay's store, creating it when create
// is set. The relay opens each log once and closes it on Close.
type Opener func(ctx context.Context, name string, create bool) (logstore.Store, error)

// Config configures a Server. Zero fields take their defaults.
type Config struct {
	// Open opens a log of the store the relay serves. Required.
	Open Opener
	// Token, when not empty, is the bearer token every call must carry
	// ("Authorization: Bearer TOKEN"); /healthz and /readyz need none.
	Token []byte
	// Logs are opened at start (retried until they open), and the relay is
	// ready only while they are open and followed, or the store says that
	// they do not exist yet (an agent may create one through the relay).
	// Other logs are opened when a client asks.
	Logs []string
	// CacheBytes bounds the memory of recently read pages.
	CacheBytes int64
	// RecentBytes bounds the keys and values of the newest updates that
	// the relay keeps in memory, in order: streams and reads at any
	// position among them cost no store read. 0 means a quarter of
	// CacheBytes; a negative value keeps none (every read goes through the
	// page cache).
	RecentBytes int64
	// MaxWaiters bounds the waits (long polls) held at once; more are
	// refused as unavailable, and their clients try another relay.
	MaxWaiters int
	// MaxWait is the longest a wait is held before it answers "nothing
	// new" (the client then asks again).
	MaxWait time.Duration
	// HeartbeatLinger is how long heartbeats are gathered before they are
	// written to the store together.
	HeartbeatLinger time.Duration
	// HorizonInterval is how often the horizon is read from the store, to
	// notice rewrites made past the relay.
	HorizonInterval time.Duration
	// StoreTimeout bounds a store call that several clients share.
	StoreTimeout time.Duration
	// RetryInterval is the first pause after a failed wait on the store.
	RetryInterval time.Duration
	// MaxLogs bounds the logs the relay opens.
	MaxLogs int
	// MaxInFlightBytes bounds the append bodies held in memory at once;
	// more wait.
	MaxInFlightBytes int64
	// MaxStoreReads bounds the page reads of one log in flight on the
	// store at once, and so the database connections they take: readers
	// of different pages beyond it wait their turn.
	MaxStoreReads int
	// MaxFrameRate bounds the frames per second that the relay's streams
	// send in all, by spacing each stream's frames: with S streams, a
	// stream sends its next frame no sooner than S/MaxFrameRate seconds
	// after its last (updates that come meanwhile go in one frame). A
	// frame costs a system call on each side whatever it holds, so under
	// many writes to many agents this trades a few milliseconds of latency
	// for CPU; with few agents, or few writes, frames go at once.
	MaxFrameRate int
	// Logger receives the relay's logs.
	Logger logr.Logger
	// Registry receives the relay's Prometheus metrics, which its handler
	// serves at /metrics. Nil: a registry of the relay's own, with the
	// Go runtime's and the process's metrics too.
	Registry *prometheus.Registry
}

// withDefaults checks the configuration and fills in the defaults.
func (c Config) withDefaults() (Config, error) {
	if c.Open == nil {
		return c, errors.New("relay: Config.Open is required")
	}
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{{&c.MaxWait, DefaultMaxWait}, {&c.HeartbeatLinger, DefaultHeartbeatLinger}, {&c.HorizonInterval, DefaultHorizonInterval},
		{&c.StoreTimeout, DefaultStoreTimeout}, {&c.RetryInterval, DefaultRetryInterval}} {
		if *d.v <= 0 {
			*d.v = d.def
		}
	}
	if c.CacheBytes <= 0 {
		c.CacheBytes = DefaultCacheBytes
	}
	if c.RecentBytes == 0 {
		c.RecentBytes = c.CacheBytes / 4
	}
	if c.MaxWaiters <= 0 {
		c.MaxWaiters = DefaultMaxWaiters
	}
	if c.MaxLogs <= 0 {
		c.MaxLogs = DefaultMaxLogs
	}
	if c.MaxStoreReads <= 0 {
		c.MaxStoreReads = DefaultMaxStoreReads
	}
	if c.MaxInFlightBytes <= 0 {
		c.MaxInFlightBytes = DefaultMaxInFlightBytes
	}
	if c.MaxFrameRate <= 0 {
		c.MaxFrameRate = DefaultMaxFrameRate
	}
	return c, nil
}
