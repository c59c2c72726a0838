package nodeagent

import (
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/whycache/whycache/internal/version"
)

// metrics are the agent's Prometheus metrics, in a registry of its own.
type metrics struct {
	registry *prometheus.Registry

	appliedID          prometheus.Gauge
	headID             prometheus.Gauge
	lagIDs             prometheus.Gauge
	lagSeconds         prometheus.Gauge
	appliedUpdates     prometheus.Counter
	appliedOps         prometheus.Counter
	applyBatchOps      prometheus.Histogram
	applySeconds       prometheus.Histogram
	fileBytes          prometheus.Gauge
	garbageRatio       prometheus.Gauge
	liveKeys           prometheus.Gauge
	generation         prometheus.Gauge
	compactions        prometheus.Gauge
	writeRequests      *prometheus.CounterVec
	writeSeconds       prometheus.Histogram
	batchUpdates       prometheus.Histogram
	writeWaiting       prometheus.Gauge
	writeInflightBytes prometheus.Gauge
	writeInflightPeak  prometheus.Gauge
	groupCommitSize    prometheus.Histogram
	bootstraps         *prometheus.CounterVec
	bootstrapSecs      prometheus.Histogram
	storeErrors        prometheus.Counter
	ready              prometheus.Gauge

	decisions         *prometheus.CounterVec
	faults            *prometheus.CounterVec
	fileFaults        *prometheus.CounterVec
	bootstrapFailures *prometheus.CounterVec
	syncRetries       prometheus.Counter
	heartbeatErrors   prometheus.Counter
	reusedIDs         prometheus.Counter
}

func newMetrics() *metrics {
	r := prometheus.NewRegistry()
	m := &metrics{registry: r}
	f := factory{r}
	m.appliedID = f.gauge("applied_id", "Last update id applied to the cache file.")
	m.headID = f.gauge("head_id", "Latest update id seen in the log.")
	m.lagIDs = f.gauge("lag_ids", "Updates in the log not yet applied to the cache file.")
	m.lagSeconds = f.gauge("lag_seconds", "How long the oldest unapplied update has been waiting, in seconds (0 when caught up).")
	m.appliedUpdates = f.counter("applied_updates_total", "Updates applied to the cache file.")
	m.appliedOps = f.counter("applied_ops_total", "Key operations applied to the cache file.")
	m.applyBatchOps = f.histogram("apply_batch_ops", "Key operations per batch applied to the cache file.", prometheus.ExponentialBuckets(1, 4, 10))
	m.applySeconds = f.histogram("apply_duration_seconds", "Time to apply one batch to the cache file.", prometheus.ExponentialBuckets(1e-5, 4, 12))
	m.fileBytes = f.gauge("cache_file_bytes", "Size of the cache file's current generation, in bytes.")
	m.garbageRatio = f.gauge("cache_file_garbage_ratio", "Share of the cache file's data region that holds overwritten or deleted records.")
	m.liveKeys = f.gauge("cache_file_keys", "Keys in the cache file.")
	m.generation = f.gauge("cache_file_generation", "Generation number of the cache file.")
	m.compactions = f.gauge("cache_file_compactions", "Compactions (new generations) written by this agent since it started.")
	m.writeRequests = f.counterVec("write_requests_total", "Write API requests, by result (ok, invalid, too_large, unavailable, timeout, internal).", "result")
	m.writeSeconds = f.histogram("write_duration_seconds", "Time to acknowledge an update.", prometheus.ExponentialBuckets(1e-4, 2, 16))
	m.batchUpdates = f.histogram("write_batch_updates", "Updates per batch request (clients send the concurrent writes of a process together).", prometheus.ExponentialBuckets(1, 2, 11))
	m.writeWaiting = f.gauge("write_waiting_requests", "Write requests waiting for room under the bound of request bytes in flight.")
	m.writeInflightBytes = f.gauge("write_inflight_bytes", "Request body bytes held by write requests in progress.")
	m.writeInflightPeak = f.gauge("write_inflight_bytes_max", "The most request body bytes that write requests have held at once since the agent started.")
	m.groupCommitSize = f.histogram("group_commit_updates", "Updates committed together in one log store transaction.", prometheus.ExponentialBuckets(1, 2, 12))
	m.bootstraps = f.counterVec("bootstraps_total", "Cache file rebuilds, by reason.", "reason")
	m.bootstrapSecs = f.histogram("bootstrap_duration_seconds", "Time to rebuild the cache file.", prometheus.ExponentialBuckets(0.01, 4, 10))
	m.storeErrors = f.counter("store_errors_total", "Failed calls to the log store.")
	m.ready = f.gauge("ready", "1 when the agent is ready (caught up within its allowed lag), else 0.")
	m.decisions = f.counterVec("file_decisions_total", "Decisions on how to bring the cache file in line with the log (at start and after a fault), by action (tail, snapshot, replay, wait, refuse) and reason.", "action", "reason")
	m.faults = f.counterVec("file_unusable_total", "Times the running agent found its cache file unusable and rebuilt it, by reason (behind-horizon, ahead-of-log, log-diverged, file-truncated, file-overwritten).", "reason")
	m.fileFaults = f.counterVec("file_changed_total", "Times the cache file was found changed under the agent, by how (missing, replaced, extended, truncated, overwritten).", "state")
	m.bootstrapFailures = f.counterVec("bootstrap_failures_total", "Failed attempts to use the snapshot source, by step (list, snapshot).", "step")
	m.syncRetries = f.counter("sync_retries_total", "Pauses of the sync loop after a failed step.")
	m.heartbeatErrors = f.counter("heartbeat_errors_total", "Failed heartbeats (they do not pause applying).")
	m.reusedIDs = f.counter("reused_ids_total", "Writes that the log gave an id this node had already applied: the log was restored or failed over.")
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "whycache", Name: "build_info", Help: "Build information; always 1.",
	}, []string{"version", "goversion"})
	buildInfo.WithLabelValues(version.Get(), runtime.Version()).Set(1)
	r.MustRegister(buildInfo, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// factory registers metrics under the whycache_agent_ prefix.
type factory struct{ r *prometheus.Registry }

func (f factory) gauge(name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "whycache", Subsystem: "agent", Name: name, Help: help})
	f.r.MustRegister(g)
	return g
}

func (f factory) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: "whycache", Subsystem: "agent", Name: name, Help: help})
	f.r.MustRegister(c)
	return c
}

func (f factory) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "whycache", Subsystem: "agent", Name: name, Help: help}, labels)
	f.r.MustRegister(c)
	return c
}

func (f factory) histogram(name, help string, buckets []float64) prometheus.Histogram {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "whycache", Subsystem: "agent", Name: name, Help: help, Buckets: buckets})
	f.r.MustRegister(h)
	return h
}
