package nodeagent

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/whycache/whycache/pkg/snapshot"
)

// snapshotMetrics are the SnapshotBootstrapper's metrics.
type snapshotMetrics struct {
	sources       *prometheus.CounterVec
	bytes         *prometheus.CounterVec
	seconds       *prometheus.HistogramVec
	age           prometheus.Gauge
	failures      *prometheus.CounterVec
	downloadDone  prometheus.Gauge
	downloadTotal prometheus.Gauge
	downloadRate  prometheus.Gauge
	fetchedBytes  prometheus.Counter
	resumedBytes  prometheus.Counter
}

func newSnapshotMetrics() *snapshotMetrics {
	o := func(name, help string) prometheus.Opts {
		return prometheus.Opts{Namespace: "whycache", Subsystem: "agent", Name: name, Help: help}
	}
	return &snapshotMetrics{
		sources: prometheus.NewCounterVec(prometheus.CounterOpts(o("bootstrap_source_total",
			"Bootstraps of the cache file, by source (snapshot, replay).")), []string{"source"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts(o("bootstrap_bytes_total",
			"Bytes of the files bootstraps produced, by source.")), []string{"source"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "whycache", Subsystem: "agent",
			Name: "bootstrap_source_duration_seconds", Help: "Time to produce a bootstrap file, by source.",
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 10)}, []string{"source"}),
		age: prometheus.NewGauge(prometheus.GaugeOpts(o("bootstrap_snapshot_age_seconds",
			"Age of the last snapshot installed, at install time."))),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts(o("bootstrap_snapshot_failures_total",
			"Snapshots not used, by reason (checksum, corrupt, identity, version, object_missing, object_mismatch, behind_horizon, ahead_of_log, changed, download, no_snapshot).")), []string{"reason"}),
		downloadDone: prometheus.NewGauge(prometheus.GaugeOpts(o("snapshot_download_bytes",
			"Bytes of the current (or last) snapshot download received."))),
		downloadTotal: prometheus.NewGauge(prometheus.GaugeOpts(o("snapshot_download_total_bytes",
			"Size of the current (or last) snapshot download."))),
		downloadRate: prometheus.NewGauge(prometheus.GaugeOpts(o("snapshot_download_bytes_per_second",
			"Rate of the current (or last) snapshot download."))),
		fetchedBytes: prometheus.NewCounter(prometheus.CounterOpts(o("snapshot_fetched_bytes_total",
			"Bytes of snapshots read from the store."))),
		resumedBytes: prometheus.NewCounter(prometheus.CounterOpts(o("snapshot_resumed_bytes_total",
			"Bytes of snapshot downloads kept from an interrupted download instead of being fetched again."))),
	}
}

func (m *snapshotMetrics) all() []prometheus.Collector {
	return []prometheus.Collector{m.sources, m.bytes, m.seconds, m.age, m.failures, m.downloadDone, m.downloadTotal, m.downloadRate, m.fetchedBytes, m.resumedBytes}
}

func (m *snapshotMetrics) describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.all() {
		c.Describe(ch)
	}
}

func (m *snapshotMetrics) collect(ch chan<- prometheus.Metric) {
	for _, c := range m.all() {
		c.Collect(ch)
	}
}

func (m *snapshotMetrics) done(source string, bytes int64, d, age time.Duration) {
	m.sources.WithLabelValues(source).Inc()
	m.bytes.WithLabelValues(source).Add(float64(bytes))
	m.seconds.WithLabelValues(source).Observe(d.Seconds())
	if source == "snapshot" {
		m.age.Set(age.Seconds())
	}
}

func (m *snapshotMetrics) failure(reason string) { m.failures.WithLabelValues(reason).Inc() }

func (m *snapshotMetrics) fetched(st snapshot.DownloadStats) {
	m.fetchedBytes.Add(float64(st.Fetched))
	m.resumedBytes.Add(float64(st.Resumed))
}

// progress reports a download in the metrics and, every few seconds, in
// the log.
func (b *SnapshotBootstrapper) progress(m snapshot.Manifest) func(done, total int64) {
	b.m.downloadTotal.Set(float64(m.Size))
	var last time.Time
	start := time.Now()
	var mu sync.Mutex
	return func(done, total int64) {
		b.m.downloadDone.Set(float64(done))
		if !mu.TryLock() {
			return // another part is reporting
		}
		defer mu.Unlock()
		if now := time.Now(); now.Sub(last) >= 2*time.Second || done == total {
			last = now
			rate := float64(done) / max(now.Sub(start).Seconds(), 1e-9)
			b.m.downloadRate.Set(rate)
			b.cfg.Logger.Info("downloading snapshot", "bytesDone", done, "bytesTotal", total, "bytesPerSecond", int64(rate))
		}
	}
}

// Describe implements prometheus.Collector.
func (b *SnapshotBootstrapper) Describe(ch chan<- *prometheus.Desc) { b.m.describe(ch) }

// Collect implements prometheus.Collector.
func (b *SnapshotBootstrapper) Collect(ch chan<- prometheus.Metric) { b.m.collect(ch) }
