package cli

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/zapr"
	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/whycache/whycache/internal/version"
	nodeagent "github.com/whycache/whycache/node-agent"
	"github.com/whycache/whycache/pkg/agentapi"
	"github.com/whycache/whycache/pkg/cachefile"
	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/backends"
)

// agentFlags are the node agent's flags; each has a WHYCACHE_* environment
// variable too (the controller sets those).
type agentFlags struct {
	cfg        nodeagent.Config
	store      string
	logFormat  string
	logLevel   int
	tokenFile  string
	socketMode string
	snap       snapshotFlags
	jitter     time.Duration
}

// NewAgentCommand returns the node agent's command: `whycache agent` and the
// `whycache-agent` binary.
func NewAgentCommand() *cobra.Command {
	f := &agentFlags{}
	cmd := &cobra.Command{
		Use:     "agent",
		Aliases: []string{"serve"},
		Short:   "Run the node agent: keep an instance's cache file up to date and serve its writes",
		Long: `The node agent keeps the cache file in --dir up to date from the log in
--store, records its progress in the store, serves writes on the Unix socket
in --dir (and on --tcp-write-addr when set), and serves /healthz, /readyz
and /metrics on --health-addr. It stops gracefully on SIGTERM.

Every flag can also be set with an environment variable: WHYCACHE_ and the
flag's name in capitals with underscores (--max-lag is WHYCACHE_MAX_LAG).
Keep a store password in $WHYCACHE_STORE rather than on the command line.`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		PreRunE: func(cmd *cobra.Command, _ []string) error {
			return bindEnv(cmd.Flags())
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.run(cmd.Context())
		},
	}
	hostname, _ := os.Hostname()
	if n := os.Getenv(agentapi.EnvNodeName); n != "" {
		hostname = n
	}
	fs := cmd.Flags()
	c := &f.cfg
	fs.StringVar(&c.Dir, agentapi.FlagDir, "", "instance directory: the cache file, its lock and the write socket live here")
	fs.StringVar(&f.store, agentapi.FlagStore, "", "log store URL (an absolute directory path, file:///path, mysql://..., mariadb://..., postgres://... or PostgreSQL keyword/value pairs)")
	fs.StringVar(&c.LogName, agentapi.FlagLogName, logstore.DefaultName, "name of the log inside its store")
	fs.BoolVar(&c.CreateLog, agentapi.FlagCreateLog, false, "create the log when it does not exist (otherwise wait for it)")
	fs.StringVar(&c.NodeName, agentapi.FlagNodeName, hostname, "this node's name in the store's progress table (default: $NODE_NAME or the hostname)")
	fs.StringVar(&c.HealthAddr, agentapi.FlagHealthAddr, ":8081", "address for /healthz, /readyz and /metrics (empty disables)")
	fs.StringVar(&c.TCPWriteAddr, agentapi.FlagTCPWriteAddr, "", "also serve the write API on this TCP address (off by default; needs --tcp-write-token-file)")
	fs.StringVar(&f.socketMode, agentapi.FlagSocketMode, "0666", "permission bits of the write socket, in octal (0660 with --socket-group limits writers to a group)")
	fs.StringVar(&c.SocketGroup, agentapi.FlagSocketGroup, "", "group (name or id) of the write socket")
	fs.StringVar(&f.tokenFile, agentapi.FlagTCPWriteTokenFile, "", "file holding the bearer token that writes over TCP must carry (at least 16 bytes; a mounted Secret)")
	fs.IntVar(&c.PageOps, agentapi.FlagPageOps, nodeagent.DefaultPageOps, "operations per read from the log")
	fs.IntVar(&c.BatchOps, agentapi.FlagBatchOps, nodeagent.DefaultBatchOps, "operations applied to the cache file at once while catching up")
	fs.Int64Var(&c.BatchBytes, agentapi.FlagBatchBytes, nodeagent.DefaultBatchBytes, "bytes of keys and values applied to the cache file at once (bounds the agent's memory)")
	fs.DurationVar(&c.HeartbeatInterval, agentapi.FlagHeartbeatInterval, nodeagent.DefaultHeartbeatInterval, "how often to record progress in the store")
	fs.DurationVar(&c.CheckInterval, agentapi.FlagCheckInterval, nodeagent.DefaultCheckInterval, "how often, while the log is quiet, to check that the log still holds what the file holds and that the file is still in place")
	fs.Uint64Var(&c.MaxLagIDs, agentapi.FlagMaxLagIDs, nodeagent.DefaultMaxLagIDs, "not ready while more updates than this wait to be applied")
	fs.DurationVar(&c.MaxLag, agentapi.FlagMaxLag, nodeagent.DefaultMaxLag, "not ready while updates older than this wait to be applied, or the store is unreachable for this long")
	fs.DurationVar(&c.StallTimeout, agentapi.FlagStallTimeout, nodeagent.DefaultStallTimeout, "/healthz fails when the main loop makes no progress for this long")
	fs.DurationVar(&c.WriteTimeout, agentapi.FlagWriteTimeout, nodeagent.DefaultWriteTimeout, "bound on one write request")
	fs.Int64Var(&c.MaxInFlightBytes, agentapi.FlagMaxInFlightBytes, nodeagent.DefaultMaxInFlightBytes, "request body bytes the write API holds at once, across all clients (more wait, then 503); memory for writes stays under about 3 times this")
	fs.IntVar(&c.MaxWriteConns, agentapi.FlagMaxWriteConns, nodeagent.DefaultMaxWriteConns, "open connections to the write API at once (socket and TCP together)")
	fs.DurationVar(&c.ReadHeaderTimeout, agentapi.FlagReadHeaderTimeout, nodeagent.DefaultReadHeaderTimeout, "time a client may take to send a request's headers")
	fs.DurationVar(&c.ReadTimeout, agentapi.FlagReadTimeout, nodeagent.DefaultReadTimeout, "time a write client may take to send its whole request")
	fs.DurationVar(&c.IdleTimeout, agentapi.FlagIdleTimeout, nodeagent.DefaultIdleTimeout, "how long an idle keep-alive connection stays open")
	fs.DurationVar(&c.ShutdownGrace, agentapi.FlagShutdownGrace, nodeagent.DefaultShutdownGrace, "on SIGTERM, time requests in progress get to finish before their connections are closed")
	fs.IntVar(&c.Limits.MaxKeySize, agentapi.FlagMaxKeySize, logstore.DefaultMaxKeySize, "largest key, in bytes")
	fs.IntVar(&c.Limits.MaxValueSize, agentapi.FlagMaxValueSize, logstore.DefaultMaxValueSize, "largest value, in bytes")
	fs.IntVar(&c.Limits.MaxUpdateSize, agentapi.FlagMaxUpdateSize, logstore.DefaultMaxUpdateSize, "largest update (keys and values), in bytes")
	fs.IntVar(&c.Cache.InitialKeys, "cache-initial-keys", cachefile.DefaultInitialKeys, "keys a new cache file's index is sized for")
	fs.Int64Var(&c.Cache.InitialDataSize, "cache-initial-data-size", cachefile.DefaultInitialDataSize, "data capacity of a new cache file, in bytes (a hole until used)")
	fs.Float64Var(&c.Cache.MaxGarbageRatio, "cache-max-garbage-ratio", cachefile.DefaultMaxGarbageRatio, "compact the cache file when this share of its data is garbage...")
	fs.Int64Var(&c.Cache.MinGarbageBytes, "cache-min-garbage-bytes", cachefile.DefaultMinGarbageBytes, "...and there are at least this many garbage bytes")
	fs.DurationVar(&c.Cache.CheckpointInterval, "cache-checkpoint-interval", cachefile.DefaultCheckpointInterval, "longest time between durable checkpoints of the cache file")
	f.snap.register(fs)
	fs.DurationVar(&f.jitter, "snapshot-jitter", 5*time.Second, "longest random pause before a snapshot download (spreads nodes that start together)")
	fs.StringVar(&f.logFormat, agentapi.FlagLogFormat, "json", "log format: json or console")
	fs.IntVarP(&f.logLevel, agentapi.FlagVerbosity, "v", 0, "log verbosity (0: info; higher: more detail)")
	return cmd
}

func (f *agentFlags) run(ctx context.Context) error {
	log, err := newLogger(f.logFormat, f.logLevel)
	if err != nil {
		return err
	}
	if f.store == "" {
		return fmt.Errorf("--store (or $WHYCACHE_STORE) is required")
	}
	// A bad URL is a clear error now, not one retry after another.
	if _, err := backends.Parse(f.store); err != nil {
		return err
	}
	cfg := f.cfg
	cfg.Logger = log
	mode, err := strconv.ParseUint(f.socketMode, 8, 32)
	if err != nil || mode > 0o777 {
		return fmt.Errorf("--socket-mode %q: want octal permission bits such as 0660", f.socketMode)
	}
	cfg.SocketMode = os.FileMode(mode)
	if f.tokenFile != "" {
		token, err := os.ReadFile(f.tokenFile)
		if err != nil {
			return fmt.Errorf("read --tcp-write-token-file: %w", err)
		}
		cfg.TCPWriteToken = strings.TrimSpace(string(token))
	}
	url := f.store
	cfg.OpenStore = func(ctx context.Context, opts logstore.Options) (logstore.Store, error) {
		return backends.Open(ctx, url, opts)
	}
	if f.snap.url != "" {
		if cfg.Bootstrap, err = f.snapshotBootstrapper(ctx, log, cfg); err != nil {
			return err
		}
	}
	log.Info("starting node agent", "version", version.Get(), "dir", cfg.Dir, "store", backends.Redact(url),
		"logName", cfg.LogName, "node", cfg.NodeName, "snapshots", f.snap.url)
	a, err := nodeagent.New(cfg)
	if err != nil {
		return err
	}
	return a.Run(ctx)
}

// snapshotBootstrapper returns the bootstrapper that --snapshot-url asks for.
func (f *agentFlags) snapshotBootstrapper(ctx context.Context, log logr.Logger, cfg nodeagent.Config) (*nodeagent.SnapshotBootstrapper, error) {
	layout, err := f.snap.open(ctx)
	if err != nil {
		return nil, err
	}
	return nodeagent.NewSnapshotBootstrapper(nodeagent.SnapshotConfig{
		Layout: layout, Download: f.snap.download(), MaxJitter: f.jitter, Logger: log.WithName("snapshot"),
		Fallback: nodeagent.ReplayBootstrapper{PageOps: cfg.PageOps, PageBytes: cfg.BatchBytes / 4},
	})
}

// newLogger returns a zap-backed logr.Logger that writes to stderr.
func newLogger(format string, verbosity int) (logr.Logger, error) {
	return newLoggerTo(format, verbosity, nil)
}

// newLoggerTo returns a zap-backed logr.Logger that writes to out (nil:
// stderr). It prints no stack traces: an error the agent logs is an
// expected condition (a store down, a log not created yet) that it retries,
// and a stack trace on each retry buries the message.
func newLoggerTo(format string, verbosity int, out zapcore.WriteSyncer) (logr.Logger, error) {
	var zc zap.Config
	switch format {
	case "json":
		zc = zap.NewProductionConfig()
	case "console":
		zc = zap.NewDevelopmentConfig()
	default:
		return logr.Discard(), fmt.Errorf("--log-format must be json or console, not %q", format)
	}
	zc.Level = zap.NewAtomicLevelAt(zapcore.Level(-verbosity))
	zc.Sampling = nil
	zc.DisableStacktrace = true
	var opts []zap.Option
	if out != nil {
		enc := zapcore.NewJSONEncoder(zc.EncoderConfig)
		if format == "console" {
			enc = zapcore.NewConsoleEncoder(zc.EncoderConfig)
		}
		opts = append(opts, zap.WrapCore(func(zapcore.Core) zapcore.Core { return zapcore.NewCore(enc, out, zc.Level) }))
	}
	z, err := zc.Build(opts...)
	if err != nil {
		return logr.Discard(), fmt.Errorf("build logger: %w", err)
	}
	return zapr.NewLogger(z), nil
}
