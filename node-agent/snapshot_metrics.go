package nodeagent

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
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
	}
}

func (m *snapshotMetrics) all() []prometheus.Collector {
	return []prometheus.Collector{m.sources, m.bytes, m.seconds, m.age, m.failures, m.downloadDone, m.downloadTotal, m.downloadRate}
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
