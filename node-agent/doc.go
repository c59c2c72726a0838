// Package nodeagent is whycache's node agent: the one process per node (a
// DaemonSet pod) that keeps an instance's memory-mapped cache file up to date
// from the instance's log, and serves the node's writes.
//
// An [Agent] owns one instance directory (the hostPath that application pods
// mount read-only). It
//
//   - opens the cache file as its only writer, resuming from the file's
//     applied id after a restart, and refusing a file that belongs to another
//     log;
//   - tails the log: it waits for new updates, reads them in pages, applies
//     them to the file in batches, and records its applied id and a heartbeat
//     in the log store;
//   - rebuilds the file when it is missing, corrupt, or too far behind the
//     log's horizon to catch up (see [Bootstrapper]);
//   - serves the write API (package agentapi) on a Unix socket in the
//     instance directory, and optionally on TCP;
//   - serves /healthz, /readyz and /metrics on a TCP port.
//
// Readiness means: the file is present and the agent is within a bounded lag
// of the log's head. Liveness means: the main loop keeps making progress.
package nodeagent
