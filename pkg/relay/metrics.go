package relay

import (
	"context"
	"errors"
	"fmt"
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/whycache/whycache/internal/version"
	"github.com/whycache/whycache/pkg/logstore/relaywire"
)

// Metric names are whycache_relay_<name>.
const (
	metricsNamespace = "whycache"
	metricsSubsystem = "relay"
)

// Outcomes of a wait (the label outcome of waits_total).
const (
	waitNew      = "new"      // a newer id was known: answered with it
	waitTimeout  = "timeout"  // nothing new within the wait's time
	waitRefused  = "refused"  // the relay held Config.MaxWaiters waits already
	waitDraining = "draining" // ended by Drain: the client moves on
	waitCanceled = "canceled" // the client gave up
	waitError    = "error"    // anything else
)

// Status classes of a call (the label class of calls_total); classCanceled
// is a call whose client left before it was answered.
const classCanceled = "canceled"

// callOther stands for a path under relaywire.PathPrefix that names no
// call, so that odd paths cannot grow the label's values.
const callOther = "other"

// metrics are the relay's Prometheus metrics. The counters that the relay
// keeps anyway (the page cache's, the heartbeat batcher's, the waits held)
// are read when scraped, by statsCollector; the rest are counted here.
type metrics struct {
	registry *prometheus.Registry

	waits         *prometheus.CounterVec
	calls         *prometheus.CounterVec
	callErrors    *prometheus.CounterVec
	servedBytes   *prometheus.CounterVec
	storeCalls    *prometheus.CounterVec
	storeErrors   *prometheus.CounterVec
	storeReadsNow prometheus.Gauge
	frames        *prometheus.CounterVec
}

// newMetrics makes the relay's metrics and registers them on reg; a nil reg
// gets a registry of the relay's own with the build, Go runtime and process
// metrics too.
func newMetrics(s *Server, reg *prometheus.Registry) (*metrics, error) {
	if reg == nil {
		reg = prometheus.NewRegistry()
		buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: metricsNamespace, Name: "build_info", Help: "Build information; always 1.",
		}, []string{"version", "goversion"})
		buildInfo.WithLabelValues(version.Get(), runtime.Version()).Set(1)
		reg.MustRegister(buildInfo, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: name, Help: help}, labels)
	}
	m := &metrics{
		registry: reg,
		waits: counter("waits_total", "Waits (long polls) answered, by outcome: new (a newer id), timeout (nothing new within the wait), "+
			"refused (the relay held --max-waiters waits and streams; streams refused count here too), draining (the relay is stopping), "+
			"canceled (the agent left), error.", "outcome"),
		calls: counter("calls_total", "Calls of agents, by call (read, replay, latest, horizon, wait, stream, append, rewrite, heartbeat, nodes, open, other) "+
			"and status class (2xx, 4xx, 5xx; canceled when the agent left before the answer).", "call", "class"),
		callErrors: counter("call_errors_total", "Calls answered with an error, by its wire code (unauthorized, invalid, not_found, "+
			"behind_horizon, too_large, identity_mismatch, unavailable, closed, timeout, internal).", "code"),
		servedBytes: counter("served_bytes_total", "Bytes of answers sent to agents, by call.", "call"),
		storeCalls:  counter("store_calls_total", "Calls made to the log store, by operation (append counts the appends forwarded).", "op"),
		storeErrors: counter("store_errors_total", "Calls to the log store that failed, by operation (a call whose caller gave up first is not counted).", "op"),
		frames: counter("stream_frames_total", "Frames sent on streams, by kind: page (updates after the agent's position), "+
			"tick (the latest id, nothing new to send), error (the stream ends).", "kind"),
		storeReadsNow: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: metricsNamespace, Subsystem: metricsSubsystem,
			Name: "store_reads_in_flight", Help: "Page reads running on the log store now."}),
	}
	// Series that exist from the start, so that a rate over them is 0
	// rather than absent.
	for _, o := range []string{waitNew, waitTimeout, waitRefused, waitDraining, waitCanceled, waitError} {
		m.waits.WithLabelValues(o)
	}
	for _, k := range frameKinds {
		m.frames.WithLabelValues(k)
	}
	for _, op := range storeOps {
		m.storeCalls.WithLabelValues(op)
		m.storeErrors.WithLabelValues(op)
	}
	for _, c := range []prometheus.Collector{m.waits, m.calls, m.callErrors, m.servedBytes, m.storeCalls, m.storeErrors,
		m.storeReadsNow, m.frames, &statsCollector{s: s}} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("relay: register metrics: %w", err)
		}
	}
	return m, nil
}

// frameKinds are the label values of stream_frames_total, by frame kind.
var frameKinds = map[byte]string{relaywire.FramePage: "page", relaywire.FrameTick: "tick", relaywire.FrameError: "error"}

// frameSent counts a frame sent on a stream.
func (m *metrics) frameSent(kind byte) {
	if k, ok := frameKinds[kind]; ok {
		m.frames.WithLabelValues(k).Inc()
	}
}

// waitRefused counts a wait or a stream refused over Config.MaxWaiters.
func (m *metrics) waitRefused() { m.waits.WithLabelValues(waitRefused).Inc() }

// waitAnswered counts a wait that was held and ended with latest or err.
func (m *metrics) waitAnswered(ctx context.Context, after, latest uint64, err error) {
	m.waits.WithLabelValues(waitOutcome(ctx, after, latest, err)).Inc()
}

// waitOutcome classifies the end of a wait.
func waitOutcome(ctx context.Context, after, latest uint64, err error) string {
	switch {
	case err == nil && latest > after:
		return waitNew
	case err == nil:
		return waitTimeout
	case ctx.Err() != nil:
		return waitCanceled
	case errors.Is(err, relaywire.ErrUnavailable):
		return waitDraining
	}
	return waitError
}

// callFailed counts a call answered with the wire error code.
func (m *metrics) callFailed(code string) { m.callErrors.WithLabelValues(code).Inc() }

// statsCollector reads, when scraped, the counters the relay keeps for
// Server.Stats and the position of each log it serves.
type statsCollector struct{ s *Server }

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(metricsNamespace, metricsSubsystem, name), help, labels, nil)
}

var (
	descWaitsHeld  = desc("waits_held", "Waits (long polls) and streams held now.")
	descPageReads  = desc("page_reads_total", "Page reads of agents (and pages of their streams), by result: recent (taken from the newest updates held in memory), hit (answered from the page cache), shared (joined another agent's store read in flight), miss (read from the store).", "result")
	descEvictions  = desc("page_evictions_total", "Pages dropped from the page cache for room.")
	descCacheBytes = desc("cache_bytes", "Memory the page cache's pages take, in bytes.")
	descHBWritten  = desc("heartbeats_written_total", "Heartbeats written to the log store (each node once per batch).")
	descHBBatches  = desc("heartbeat_batches_total", "Batches of heartbeats written to the log store.")
	descLogs       = desc("logs", "Logs the relay serves now.")
	descLatest     = desc("latest_id", "The latest update id of the log as the relay knows it.", "log")
	descHorizon    = desc("horizon", "The horizon of the log as the relay last read it.", "log")
)

// Describe implements prometheus.Collector.
func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descWaitsHeld, descPageReads, descEvictions, descCacheBytes, descHBWritten, descHBBatches,
		descLogs, descLatest, descHorizon} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.Stats()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(descWaitsHeld, float64(st.Waiters))
	counter(descPageReads, st.RecentHits, "recent")
	counter(descPageReads, st.PageHits, "hit")
	counter(descPageReads, st.PageShared, "shared")
	counter(descPageReads, st.PageLoads, "miss")
	counter(descEvictions, st.PageEvictions)
	gauge(descCacheBytes, float64(st.CacheBytes))
	counter(descHBWritten, st.HeartbeatsWritten)
	counter(descHBBatches, st.HeartbeatFlushes)
	feeds := c.s.openFeeds()
	gauge(descLogs, float64(len(feeds)))
	for _, f := range feeds {
		gauge(descLatest, float64(f.latest()), f.name)
		gauge(descHorizon, float64(f.horizon.Load()), f.name)
	}
}

// openFeeds returns the feeds of the logs open now.
func (s *Server) openFeeds() []*feed {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*feed
	for _, sl := range s.slots {
		if isClosed(sl.ready) && sl.f != nil {
			out = append(out, sl.f)
		}
	}
	return out
}
