package whycache

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/whycache/whycache/pkg/agentapi"
	"github.com/whycache/whycache/pkg/logstore"
)

// Writer writes updates to an instance's log, with no cache file: for jobs
// and tools that run where no node agent is (outside the cluster, or on a
// node of another pool). It has no reads, since it has no file to read; a
// process that also reads opens a [Client]. It is safe for concurrent use.
type Writer struct {
	a      appender
	closed atomic.Bool
}

// NewWriter returns a Writer that appends straight to the log store s, the
// same store the node agents follow. The caller keeps ownership of s and
// closes it after the Writer.
func NewWriter(s logstore.Store) (*Writer, error) {
	if s == nil {
		return nil, fmt.Errorf("whycache: new writer: no store: %w", ErrInvalid)
	}
	return &Writer{a: storeWriter{s}}, nil
}

// Set sets key to value and returns the update id once the update is
// durable.
func (w *Writer) Set(ctx context.Context, key, value []byte) (uint64, error) {
	return w.write(ctx, []logstore.Op{logstore.Set(key, value)})
}

// SetMulti sets several keys in one atomic update and returns its id.
func (w *Writer) SetMulti(ctx context.Context, items map[string][]byte) (uint64, error) {
	ops := make([]logstore.Op, 0, len(items))
	for k, v := range items {
		ops = append(ops, logstore.Set([]byte(k), v))
	}
	return w.write(ctx, ops)
}

// Delete deletes key and returns the update id. Deleting a missing key is
// not an error.
func (w *Writer) Delete(ctx context.Context, key []byte) (uint64, error) {
	return w.write(ctx, []logstore.Op{logstore.Delete(key)})
}

// DeleteMulti deletes several keys in one atomic update and returns its id.
// Missing keys are not an error: the others are deleted.
func (w *Writer) DeleteMulti(ctx context.Context, keys [][]byte) (uint64, error) {
	ops := make([]logstore.Op, len(keys))
	for i, k := range keys {
		ops[i] = logstore.Delete(k)
	}
	return w.write(ctx, ops)
}

func (w *Writer) write(ctx context.Context, ops []logstore.Op) (uint64, error) {
	if w.closed.Load() {
		return 0, ErrClosed
	}
	id, err := w.a.write(ctx, ops)
	if err != nil {
		return 0, fmt.Errorf("whycache: write: %w", err)
	}
	return id, nil
}

// Close releases the Writer; later writes fail with ErrClosed. It does not
// close the store.
func (w *Writer) Close() error {
	if !w.closed.CompareAndSwap(false, true) {
		return ErrClosed
	}
	w.a.close()
	return nil
}

// appender appends updates to the log: straight to the store, or through
// the node agent.
type appender interface {
	write(ctx context.Context, ops []logstore.Op) (uint64, error)
	close()
}

// storeWriter writes straight to a log store.
type storeWriter struct{ s logstore.Store }

func (w storeWriter) write(ctx context.Context, ops []logstore.Op) (uint64, error) {
	if err := w.s.Limits().Check(ops); err != nil {
		return 0, err
	}
	return w.s.Append(ctx, ops)
}

func (storeWriter) close() {}

// Batching of the writes through the agent.
const (
	// maxInFlight is how many batch requests one client has in flight at
	// once: enough to keep the agent's store busy while the next batch
	// gathers.
	maxInFlight = 4
	// maxBatchBytes bounds the encoded size of the updates gathered in one
	// batch request (the agent takes agentapi.MaxBatchBodyBytes); an update
	// larger than this travels alone.
	maxBatchBytes = agentapi.MaxBatchBodyBytes / 2
)

// agentWriter writes through the node agent's write API on its Unix socket.
//
// Writes that goroutines of the process make at the same time travel
// together: a write that finds maxInFlight requests under way waits in a
// queue, and whichever request finishes next takes the whole queue with it
// as one batch request. Each update keeps its own id and result; a lone
// write goes out at once. This shares the round trip and the system calls,
// which dominate the cost of a small write.
type agentWriter struct {
	hc        *http.Client
	waitApply bool
	timeout   time.Duration

	mu       sync.Mutex
	queue    []*call
	inFlight int
}

// call is one write waiting for its result.
type call struct {
	req  agentapi.UpdateRequest
	size int64 // encoded size, estimated
	id   uint64
	err  error
	done chan struct{}
}

func newAgentWriter(socket string, waitApply bool, timeout time.Duration) *agentWriter {
	var d net.Dialer
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", socket)
		},
		MaxIdleConnsPerHost: maxInFlight,
		IdleConnTimeout:     90 * time.Second,
	}
	return &agentWriter{hc: &http.Client{Transport: tr}, waitApply: waitApply, timeout: timeout}
}

func (w *agentWriter) write(ctx context.Context, ops []logstore.Op) (uint64, error) {
	c := &call{req: agentapi.UpdateRequest{Ops: make([]agentapi.Op, len(ops)), Wait: w.waitApply}, done: make(chan struct{})}
	kv := 0
	for i, op := range ops {
		t := agentapi.OpSet
		if op.Type == logstore.OpDelete {
			t = agentapi.OpDelete
		}
		c.req.Ops[i] = agentapi.Op{Op: t, Key: op.Key, Value: op.Value}
		kv += len(op.Key) + len(op.Value)
	}
	c.size = agentapi.EncodedSize(len(ops), kv)
	w.mu.Lock()
	w.queue = append(w.queue, c)
	if w.inFlight < maxInFlight {
		w.inFlight++
		batch := w.take()
		w.mu.Unlock()
		go w.send(batch)
	} else {
		w.mu.Unlock()
	}
	select {
	case <-c.done:
		return c.id, c.err
	case <-ctx.Done():
		// The update may still be appended: as for a request cut short.
		return 0, fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
	}
}

// take removes from the queue the calls of the next batch. The caller holds
// w.mu.
func (w *agentWriter) take() []*call {
	n, size := 0, int64(0)
	for n < len(w.queue) && n < agentapi.MaxBatchUpdates {
		if n > 0 && size+w.queue[n].size > maxBatchBytes {
			break
		}
		size += w.queue[n].size
		n++
	}
	batch := append([]*call(nil), w.queue[:n]...)
	w.queue = append(w.queue[:0], w.queue[n:]...)
	return batch
}

// send sends batches until the queue is empty, then leaves its in-flight
// slot.
func (w *agentWriter) send(batch []*call) {
	for {
		w.roundTrip(batch)
		w.mu.Lock()
		if len(w.queue) == 0 {
			w.inFlight--
			w.mu.Unlock()
			return
		}
		batch = w.take()
		w.mu.Unlock()
	}
}

// roundTrip sends one batch request and hands each call its result.
func (w *agentWriter) roundTrip(batch []*call) {
	results, err := w.post(batch)
	for i, c := range batch {
		switch {
		case err != nil:
			c.err = err
		case results[i].Error != nil:
			c.err = agentError(*results[i].Error)
		default:
			c.id = results[i].UpdateID
		}
		close(c.done)
	}
}

// post sends the batch and returns one result per call.
func (w *agentWriter) post(batch []*call) ([]agentapi.BatchResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), w.timeout)
	defer cancel()
	req := agentapi.BatchRequest{Updates: make([]agentapi.UpdateRequest, len(batch))}
	for i, c := range batch {
		req.Updates[i] = c.req
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encode update: %w", err)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://agent"+agentapi.PathBatch, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := w.hc.Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, decodeAgentError(resp)
	}
	var br agentapi.BatchResponse
	if err := json.NewDecoder(resp.Body).Decode(&br); err != nil {
		return nil, fmt.Errorf("%w: decode agent answer: %w", ErrUnavailable, err)
	}
	if len(br.Results) != len(batch) {
		return nil, fmt.Errorf("%w: agent answered %d results for %d updates", ErrUnavailable, len(br.Results), len(batch))
	}
	return br.Results, nil
}

// decodeAgentError turns an error answer into an error matching the
// package's sentinels.
func decodeAgentError(resp *http.Response) error {
	var er agentapi.ErrorResponse
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err := json.Unmarshal(raw, &er); err != nil || er.Error == "" {
		er = agentapi.ErrorResponse{Code: agentapi.CodeInternal, Error: fmt.Sprintf("agent answered %s: %s", resp.Status, bytes.TrimSpace(raw))}
	}
	return agentError(er)
}

// agentError returns an error for an agent's ErrorResponse that matches the
// package's sentinels.
func agentError(er agentapi.ErrorResponse) error {
	var sentinel error
	switch er.Code {
	case agentapi.CodeTooLarge:
		sentinel = ErrTooLarge
	case agentapi.CodeInvalid:
		sentinel = ErrInvalid
	case agentapi.CodeTimeout:
		sentinel = context.DeadlineExceeded
	default:
		sentinel = ErrUnavailable
	}
	return fmt.Errorf("%w: agent: %s", sentinel, er.Error)
}

func (w *agentWriter) close() { w.hc.CloseIdleConnections() }
