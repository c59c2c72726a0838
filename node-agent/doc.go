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
//   - decides, at start and whenever the file turns out unusable, how to
//     bring it in line with the log: tail from it, install a snapshot, replay
//     the log, or wait (one pure function of the file, the log's head and
//     horizon and the newest snapshot; see [Bootstrapper] and
//     [SnapshotLister]). The file is rebuilt when it is missing, corrupt,
//     behind the log's horizon, ahead of the log's head, or built from a
//     history the log no longer has (the log was restored or failed over:
//     the agent keeps the id and commit time of the last update it applied
//     beside the file and checks them on every read);
//   - checks that the file is still in place (not removed, renamed over,
//     truncated or overwritten), and writes it again or rebuilds it;
//   - serves the write API (package agentapi) on a Unix socket in the
//     instance directory, and optionally on TCP;
//   - serves /healthz, /readyz and /metrics on a TCP port.
//
// Readiness means: the file is present and usable and the agent is within a
// bounded lag of the log's head; heartbeats, which run on their own, do not
// count. Liveness means: the main loop keeps making progress.
package nodeagent
