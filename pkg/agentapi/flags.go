package agentapi

import "strings"

// The command line of the node agent (`whycache agent`) and of the Jobs
// that the operator runs (`whycache snapshot`, `whycache rewrite-history`):
// the CLI defines its flags with these names and the controller builds
// Pods from them, so that the two cannot drift apart.
const (
	// EnvPrefix prefixes the environment variable of every flag: --log-name
	// can also be given as WHYCACHE_LOG_NAME (see [EnvName]).
	EnvPrefix = "WHYCACHE_"
	// EnvNodeName is the environment variable (from the downward API)
	// that holds the node's name; it is --node-name's default.
	EnvNodeName = "NODE_NAME"
	// EnvGoMemLimit is the Go runtime's soft memory limit.
	EnvGoMemLimit = "GOMEMLIMIT"
)

// Flags of the node agent and of the commands that share its global flags.
const (
	FlagDir               = "dir"
	FlagStore             = "store"
	FlagLogName           = "log-name"
	FlagCreateLog         = "create-log"
	FlagNodeName          = "node-name"
	FlagHealthAddr        = "health-addr"
	FlagTCPWriteAddr      = "tcp-write-addr"
	FlagPageOps           = "page-ops"
	FlagBatchOps          = "batch-ops"
	FlagBatchBytes        = "batch-bytes"
	FlagHeartbeatInterval = "heartbeat-interval"
	FlagCheckInterval     = "check-interval"
	FlagMaxLagIDs         = "max-lag-ids"
	FlagMaxLag            = "max-lag"
	FlagStallTimeout      = "stall-timeout"
	FlagWriteTimeout      = "write-timeout"
	FlagMaxKeySize        = "max-key-size"
	FlagMaxValueSize      = "max-value-size"
	FlagMaxUpdateSize     = "max-update-size"
	FlagLogFormat         = "log-format"
	FlagVerbosity         = "v"

	// Access to the write API and its bounds.
	FlagSocketMode        = "socket-mode"
	FlagSocketGroup       = "socket-group"
	FlagTCPWriteTokenFile = "tcp-write-token-file"
	FlagMaxInFlightBytes  = "max-inflight-bytes"
	FlagMaxWriteConns     = "max-write-conns"
	FlagReadHeaderTimeout = "read-header-timeout"
	FlagReadTimeout       = "read-timeout"
	FlagIdleTimeout       = "idle-timeout"
	FlagShutdownGrace     = "shutdown-grace"
)

// Flags of the snapshot and history-rewrite commands that the operator's
// Jobs run.
const (
	// FlagSnapshotURL names the snapshot location:
	// s3://bucket/prefix?region=R&endpoint=URL&path-style=true.
	FlagSnapshotURL = "snapshot-url"
	// FlagSnapshotKeep is how many snapshots `whycache snapshot` keeps.
	FlagSnapshotKeep = "keep"
	// FlagSafe makes rewrite-history compute its own safe limits.
	FlagSafe = "safe"
	// FlagLiveAge is the heartbeat age up to which a node is live and
	// bounds a safe rewrite.
	FlagLiveAge = "live-age"
)

// The agent's health endpoints, served on [DefaultHealthPort] in the Pods
// that the operator runs.
const (
	// PathHealthz answers 200 while the agent's main loop makes progress.
	PathHealthz = "/healthz"
	// PathReadyz answers 200 once the agent has caught up within its lag bounds.
	PathReadyz = "/readyz"
	// PathMetrics serves Prometheus metrics.
	PathMetrics = "/metrics"
	// DefaultHealthPort is the port of the health endpoints.
	DefaultHealthPort = 8081
)

// EnvName returns the environment variable that sets flag: EnvPrefix and
// the flag's name in capitals with underscores (max-lag: WHYCACHE_MAX_LAG).
func EnvName(flag string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}
