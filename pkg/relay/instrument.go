package relay

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/relaywire"
)

// instrument counts the calls that next serves, by call and status class,
// and the bytes of their answers as they are written (a streamed answer
// counts while it streams).
func (m *metrics) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		call := callLabel(r.URL.Path)
		cw := &countingWriter{ResponseWriter: w, bytes: m.servedBytes.WithLabelValues(call)}
		next.ServeHTTP(cw, r)
		m.calls.WithLabelValues(call, statusClass(cw.status, r.Context().Err() != nil)).Inc()
	})
}

// callLabel is the call a path names, or callOther.
func callLabel(path string) string {
	_, call, ok := relaywire.SplitPath(path)
	if !ok {
		return callOther
	}
	if _, known := handlers[call]; known || call == relaywire.CallOpen {
		return call
	}
	return callOther
}

// statusClass is the class of an answer's status: "2xx" and so on, or
// classCanceled when nothing was sent and the client had left. A handler
// that wrote nothing otherwise answered 200.
func statusClass(status int, clientGone bool) string {
	switch {
	case status == 0 && clientGone:
		return classCanceled
	case status == 0:
		status = http.StatusOK
	}
	return strconv.Itoa(status/100) + "xx"
}

// countingWriter notes the status of an answer and counts its bytes. It
// keeps what http.ResponseController needs (Unwrap) and what a streaming
// handler asserts (http.Flusher).
type countingWriter struct {
	http.ResponseWriter
	bytes  prometheus.Counter
	status int
}

func (w *countingWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *countingWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes.Add(float64(n))
	return n, err
}

// Flush implements http.Flusher.
func (w *countingWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap returns the writer underneath, for http.ResponseController.
func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// The store operations (the label op of store_calls_total).
const (
	opOpen       = "open"
	opAppend     = "append"
	opRead       = "read"
	opReplay     = "replay"
	opLatest     = "latest"
	opHorizon    = "horizon"
	opWait       = "wait"
	opRewrite    = "rewrite"
	opHeartbeat  = "heartbeat"
	opHeartbeats = "heartbeats"
	opNodes      = "nodes"
)

var storeOps = []string{opOpen, opAppend, opRead, opReplay, opLatest, opHorizon, opWait, opRewrite, opHeartbeat, opHeartbeats, opNodes}

// storeFault tells whether a store call's error counts as a failure of the
// store: not the caller giving up, and not a refusal that the store
// answered (those reach the agents, and call_errors_total counts them).
func storeFault(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil || errors.Is(err, context.Canceled) {
		return false
	}
	for _, refusal := range []error{logstore.ErrNotFound, logstore.ErrInvalid, logstore.ErrTooLarge, logstore.ErrBehindHorizon} {
		if errors.Is(err, refusal) {
			return false
		}
	}
	return true
}

// observe counts one store call of op.
func (m *metrics) observe(ctx context.Context, op string, err error) {
	m.storeCalls.WithLabelValues(op).Inc()
	if storeFault(ctx, err) {
		m.storeErrors.WithLabelValues(op).Inc()
	}
}

// countOpens returns open with its calls, and those of the stores it
// opens, counted.
func (m *metrics) countOpens(open Opener) Opener {
	return func(ctx context.Context, name string, create bool) (logstore.Store, error) {
		st, err := open(ctx, name, create)
		m.observe(ctx, opOpen, err)
		if err != nil {
			return nil, err
		}
		cs := &countedStore{Store: st, m: m}
		// The relay writes heartbeats in batches only through a store
		// that can: keep that visible.
		if b, ok := st.(logstore.HeartbeatBatcher); ok {
			return &countedBatcher{countedStore: cs, b: b}, nil
		}
		return cs, nil
	}
}

// countedStore counts the calls of the store it wraps. Any optional
// interface of logstore that the relay looks for on its store must be
// passed through here too (as countedBatcher does).
type countedStore struct {
	logstore.Store
	m *metrics
}

func (s *countedStore) Append(ctx context.Context, ops []logstore.Op) (uint64, error) {
	id, err := s.Store.Append(ctx, ops)
	s.m.observe(ctx, opAppend, err)
	return id, err
}

func (s *countedStore) Read(ctx context.Context, after uint64, maxOps int) ([]logstore.Update, error) {
	s.m.storeReadsNow.Inc()
	defer s.m.storeReadsNow.Dec()
	page, err := s.Store.Read(ctx, after, maxOps)
	s.m.observe(ctx, opRead, err)
	return page, err
}

func (s *countedStore) ReadReplay(ctx context.Context, after uint64, maxOps int, horizon uint64) ([]logstore.Update, error) {
	s.m.storeReadsNow.Inc()
	defer s.m.storeReadsNow.Dec()
	page, err := s.Store.ReadReplay(ctx, after, maxOps, horizon)
	s.m.observe(ctx, opReplay, err)
	return page, err
}

func (s *countedStore) Latest(ctx context.Context) (uint64, error) {
	id, err := s.Store.Latest(ctx)
	s.m.observe(ctx, opLatest, err)
	return id, err
}

func (s *countedStore) Horizon(ctx context.Context) (uint64, error) {
	h, err := s.Store.Horizon(ctx)
	s.m.observe(ctx, opHorizon, err)
	return h, err
}

func (s *countedStore) Wait(ctx context.Context, after uint64) (uint64, error) {
	id, err := s.Store.Wait(ctx, after)
	s.m.observe(ctx, opWait, err)
	return id, err
}

func (s *countedStore) Rewrite(ctx context.Context, opts logstore.RewriteOptions) (logstore.RewriteStats, error) {
	st, err := s.Store.Rewrite(ctx, opts)
	s.m.observe(ctx, opRewrite, err)
	return st, err
}

func (s *countedStore) Heartbeat(ctx context.Context, p logstore.NodeProgress) error {
	err := s.Store.Heartbeat(ctx, p)
	s.m.observe(ctx, opHeartbeat, err)
	return err
}

func (s *countedStore) Nodes(ctx context.Context) ([]logstore.NodeProgress, error) {
	nodes, err := s.Store.Nodes(ctx)
	s.m.observe(ctx, opNodes, err)
	return nodes, err
}

// countedBatcher is a countedStore whose store writes heartbeats in
// batches.
type countedBatcher struct {
	*countedStore
	b logstore.HeartbeatBatcher
}

// Heartbeats implements logstore.HeartbeatBatcher.
func (s *countedBatcher) Heartbeats(ctx context.Context, ps []logstore.NodeProgress) error {
	err := s.b.Heartbeats(ctx, ps)
	s.m.observe(ctx, opHeartbeats, err)
	return err
}
