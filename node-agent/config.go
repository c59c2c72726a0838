package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/go-logr/logr"

	"github.com/whycache/whycache/pkg/cachefile"
	"github.com/whycache/whycache/pkg/logstore"
)

// Config configures an Agent. Zero durations and sizes mean their defaults.
type Config struct {
	// Dir is the instance directory: it holds the cache file, its lock and
	// the write socket. It is created when missing.
	Dir string
	// NodeName names this node in the log store's progress table.
	NodeName string
	// OpenStore opens the log store. The agent passes its own options (log
	// name, limits, logger, commit hook) and retries while the store cannot
	// be reached.
	OpenStore func(ctx context.Context, opts logstore.Options) (logstore.Store, error)
	// LogName is the log's name inside its store (logstore.Options.Name).
	LogName string
	// CreateLog creates the log when it does not exist yet. Off, the agent
	// waits for the log to be created (by the controller or the CLI).
	CreateLog bool
	// Limits bound key, value and update sizes, for the log and the file.
	Limits logstore.Limits
	// Cache configures the cache file (compaction thresholds and such). Its
	// size limits are taken from Limits.
	Cache cachefile.Options
	// Bootstrap rebuilds the cache file when it cannot catch up from the
	// log. Nil means ReplayBootstrapper (a full replay of the log).
	Bootstrap Bootstrapper

	// TCPWriteAddr, when set, serves the write API on TCP too (host:port).
	// It requires TCPWriteToken.
	TCPWriteAddr string
	// SocketMode is the write socket's permission bits; SocketGroup, when
	// set (a group name or id), its group. The default, 0666, lets pods
	// running as any user write; 0660 with a group limits writers to that
	// group's members.
	SocketMode  os.FileMode
	SocketGroup string
	// TCPWriteToken is the bearer token that every request over TCP must
	// carry (Authorization: Bearer <token>). The Unix socket needs none:
	// the directory's permissions decide who reaches it.
	TCPWriteToken string
	// HealthAddr is where /healthz, /readyz and /metrics are served
	// (host:port); empty disables it.
	HealthAddr string

	// PageOps is how many operations one read from the log asks for.
	PageOps int
	// BatchOps is how many operations the agent applies to the file at once
	// (several pages are merged into one batch while catching up).
	BatchOps int
	// BatchBytes bounds the key and value bytes of one batch (and, about,
	// of one page: a page holds at least one whole update).
	BatchBytes int64
	// HeartbeatInterval is how often the agent records its progress.
	HeartbeatInterval time.Duration
	// CheckInterval is how often, while the log is quiet, the agent checks
	// that the log still holds the updates its file holds (it was not
	// restored to an earlier point or failed over) and that the file is
	// still in place (not removed, replaced or truncated). With updates
	// flowing it checks before every batch.
	CheckInterval time.Duration
	// MaxLagIDs and MaxLag bound the lag at which the agent is ready: it is
	// not ready while more than MaxLagIDs updates, or updates older than
	// MaxLag, are waiting to be applied.
	MaxLagIDs uint64
	MaxLag    time.Duration
	// StallTimeout is how long the main loop may go without progress before
	// /healthz fails.
	StallTimeout time.Duration
	// BootstrapTimeout is how long a rebuild of the cache file may take
	// before /healthz fails.
	BootstrapTimeout time.Duration
	// RetryInterval is the first pause after a failing store call; it
	// doubles up to 32 times its value.
	RetryInterval time.Duration
	// WriteTimeout bounds one write request, including its wait for the
	// local apply.
	WriteTimeout time.Duration

	// MaxInFlightBytes bounds the request body bytes that the write API
	// holds at once, across all requests and listeners: a request waits
	// (up to WriteTimeout, then 503) until its body fits. The agent's
	// memory for writes stays under about three times this (the body, its
	// decoded keys and values, and the log store's copy); see docs/agent.md.
	MaxInFlightBytes int64
	// MaxWriteConns bounds the open connections to the write API (Unix
	// socket and TCP together); more wait in the kernel's backlog.
	MaxWriteConns int
	// ReadHeaderTimeout, ReadTimeout and IdleTimeout bound how long a write
	// client may take to send its request's headers, its whole request,
	// and how long an idle keep-alive connection stays open.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	IdleTimeout       time.Duration
	// ShutdownGrace bounds how long requests in progress may take once the
	// agent is told to stop; their connections are closed after it.
	ShutdownGrace time.Duration

	// Logger receives the agent's structured logs.
	Logger logr.Logger
}

// Default values of Config fields.
const (
	DefaultLogName           = logstore.DefaultName
	DefaultPageOps           = 10_000
	DefaultBatchOps          = 100_000
	DefaultBatchBytes        = 8 << 20
	DefaultHeartbeatInterval = 10 * time.Second
	DefaultCheckInterval     = time.Second
	DefaultMaxLagIDs         = 10_000
	DefaultMaxLag            = 30 * time.Second
	DefaultStallTimeout      = 2 * time.Minute
	DefaultBootstrapTimeout  = 30 * time.Minute
	DefaultRetryInterval     = 250 * time.Millisecond
	DefaultWriteTimeout      = 30 * time.Second
	DefaultMaxInFlightBytes  = 64 << 20
	DefaultMaxWriteConns     = 256
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultReadTimeout       = time.Minute
	DefaultIdleTimeout       = 2 * time.Minute
	DefaultShutdownGrace     = 5 * time.Second
	DefaultSocketMode        = os.FileMode(0o666)
)

// minTokenLen is the shortest TCP write token accepted: 16 bytes, guessable
// by no one.
const minTokenLen = 16

// withDefaults validates the configuration and fills in defaults.
func (c Config) withDefaults() (Config, error) {
	if c.Dir == "" {
		return c, errors.New("agent config: Dir is required")
	}
	if c.NodeName == "" {
		return c, errors.New("agent config: NodeName is required")
	}
	if c.OpenStore == nil {
		return c, errors.New("agent config: OpenStore is required")
	}
	if c.TCPWriteAddr != "" && len(c.TCPWriteToken) < minTokenLen {
		return c, fmt.Errorf("agent config: writes over TCP need a token of at least %d bytes (--tcp-write-token-file)", minTokenLen)
	}
	setDefault(&c.LogName, DefaultLogName)
	setDefault(&c.PageOps, DefaultPageOps)
	setDefault(&c.BatchOps, DefaultBatchOps)
	setDefault(&c.BatchBytes, DefaultBatchBytes)
	setDefault(&c.HeartbeatInterval, DefaultHeartbeatInterval)
	setDefault(&c.CheckInterval, DefaultCheckInterval)
	setDefault(&c.MaxLagIDs, DefaultMaxLagIDs)
	setDefault(&c.MaxLag, DefaultMaxLag)
	setDefault(&c.StallTimeout, DefaultStallTimeout)
	setDefault(&c.BootstrapTimeout, DefaultBootstrapTimeout)
	setDefault(&c.RetryInterval, DefaultRetryInterval)
	setDefault(&c.WriteTimeout, DefaultWriteTimeout)
	setDefault(&c.MaxInFlightBytes, DefaultMaxInFlightBytes)
	setDefault(&c.MaxWriteConns, DefaultMaxWriteConns)
	setDefault(&c.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	setDefault(&c.ReadTimeout, DefaultReadTimeout)
	setDefault(&c.IdleTimeout, DefaultIdleTimeout)
	setDefault(&c.ShutdownGrace, DefaultShutdownGrace)
	setDefault(&c.SocketMode, DefaultSocketMode)
	c.Cache.LockOwner = "node " + c.NodeName
	c.Limits = c.Limits.WithDefaults()
	c.Cache.MaxKeySize = c.Limits.MaxKeySize
	c.Cache.MaxValueSize = c.Limits.MaxValueSize
	if c.Bootstrap == nil {
		c.Bootstrap = ReplayBootstrapper{PageOps: c.PageOps, PageBytes: c.BatchBytes / 4}
	}
	if c.MaxInFlightBytes < 0 || c.MaxWriteConns < 0 {
		return c, fmt.Errorf("agent config: MaxInFlightBytes (%d) and MaxWriteConns (%d) must be positive", c.MaxInFlightBytes, c.MaxWriteConns)
	}
	if c.PageOps < 0 || c.BatchOps < 0 || c.BatchBytes < 0 {
		return c, fmt.Errorf("agent config: PageOps (%d), BatchOps (%d) and BatchBytes (%d) must be positive", c.PageOps, c.BatchOps, c.BatchBytes)
	}
	return c, nil
}

func setDefault[T comparable](field *T, def T) {
	var zero T
	if *field == zero {
		*field = def
	}
}
