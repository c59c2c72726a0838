package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/semaphore"

	"github.com/whycache/whycache/pkg/agentapi"
)

// errBusy means that the bytes in flight stayed at their bound for as long
// as a request could wait.
var errBusy = errors.New("agent busy: too many request bytes in flight; retry later")

// inflight bounds the request body bytes that the write API holds at once,
// across all requests, and measures them.
type inflight struct {
	sem      *semaphore.Weighted
	capacity int64
	bytes    atomic.Int64 // body bytes read by requests in progress
	peak     atomic.Int64 // the largest value bytes has had
	waiting  atomic.Int64 // requests waiting for room
	m        *metrics
}

func newInflight(capacity int64, m *metrics) *inflight {
	return &inflight{sem: semaphore.NewWeighted(capacity), capacity: capacity, m: m}
}

// acquire waits, while ctx allows, for room for a body of n bytes. A body
// larger than the whole capacity waits for all of it, so that one maximal
// update always gets through alone.
func (f *inflight) acquire(ctx context.Context, n int64) (release func(), err error) {
	n = min(max(n, 1), f.capacity)
	f.m.writeWaiting.Set(float64(f.waiting.Add(1)))
	err = f.sem.Acquire(ctx, n)
	f.m.writeWaiting.Set(float64(f.waiting.Add(-1)))
	if err != nil {
		return nil, &writeError{agentapi.CodeUnavailable, fmt.Errorf("%w (%w)", errBusy, err)}
	}
	return func() { f.sem.Release(n) }, nil
}

// count adds n body bytes read (negative: released) to the measure.
func (f *inflight) count(n int64) {
	v := f.bytes.Add(n)
	f.m.writeInflightBytes.Set(float64(v))
	for {
		p := f.peak.Load()
		if v <= p || f.peak.CompareAndSwap(p, v) {
			break
		}
	}
	f.m.writeInflightPeak.Set(float64(f.peak.Load()))
}

// countingReader counts the bytes read from a request body in the
// in-flight measure; close gives them back.
type countingReader struct {
	r io.Reader
	f *inflight
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	c.f.count(int64(n))
	return n, err
}

func (c *countingReader) close() { c.f.count(-c.n) }

// limitListener accepts at most n connections at once across the listeners
// that share it; Accept waits (the kernel's backlog holds the rest) until
// one closes.
type limitListener struct {
	net.Listener
	slots chan struct{}
}

func (l *limitListener) Accept() (net.Conn, error) {
	l.slots <- struct{}{}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.slots }}, nil
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// limitListeners wraps listeners so that together they hold at most n
// connections.
func limitListeners(n int, lns ...net.Listener) []net.Listener {
	slots := make(chan struct{}, n)
	out := make([]net.Listener, len(lns))
	for i, ln := range lns {
		out[i] = &limitListener{Listener: ln, slots: slots}
	}
	return out
}

// bodyWeight is what a request reserves before its body is read: its
// declared length, or the limit when it declares none (chunked).
func bodyWeight(r *http.Request, limit int64) int64 {
	if r.ContentLength >= 0 && r.ContentLength < limit {
		return r.ContentLength
	}
	return limit
}
