package nodeagent

import (
	"context"
	"errors"
	"fmt"
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
	TCPWriteAddr string
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
)

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
	c.Limits = c.Limits.WithDefaults()
	c.Cache.MaxKeySize = c.Limits.MaxKeySize
	c.Cache.MaxValueSize = c.Limits.MaxValueSize
	if c.Bootstrap == nil {
		c.Bootstrap = ReplayBootstrapper{PageOps: c.PageOps, PageBytes: c.BatchBytes / 4}
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
