package whycache

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/whycache/whycache/pkg/agentapi"
	"github.com/whycache/whycache/pkg/logstore"
)

// writer appends updates to the log.
type writer interface {
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

// agentWriter writes through the node agent's write API on its Unix socket.
type agentWriter struct {
	hc        *http.Client
	waitApply bool
	timeout   time.Duration
}

func newAgentWriter(socket string, waitApply bool, timeout time.Duration) *agentWriter {
	var d net.Dialer
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", socket)
		},
		MaxIdleConnsPerHost: 512,
		IdleConnTimeout:     90 * time.Second,
	}
	return &agentWriter{hc: &http.Client{Transport: tr}, waitApply: waitApply, timeout: timeout}
}

func (w *agentWriter) write(ctx context.Context, ops []logstore.Op) (uint64, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, w.timeout)
		defer cancel()
	}
	req := agentapi.UpdateRequest{Ops: make([]agentapi.Op, len(ops)), Wait: w.waitApply}
	for i, op := range ops {
		t := agentapi.OpSet
		if op.Type == logstore.OpDelete {
			t = agentapi.OpDelete
		}
		req.Ops[i] = agentapi.Op{Op: t, Key: op.Key, Value: op.Value}
	}
	body, err := json.Marshal(req)
	if err != nil {
		return 0, fmt.Errorf("encode update: %w", err)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://agent"+agentapi.PathUpdates, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := w.hc.Do(hreq)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, decodeAgentError(resp)
	}
	var ur agentapi.UpdateResponse
	if err := json.NewDecoder(resp.Body).Decode(&ur); err != nil {
		return 0, fmt.Errorf("%w: decode agent answer: %w", ErrUnavailable, err)
	}
	return ur.UpdateID, nil
}

// decodeAgentError turns an error answer into an error matching the
// package's sentinels.
func decodeAgentError(resp *http.Response) error {
	var er agentapi.ErrorResponse
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err := json.Unmarshal(raw, &er); err != nil || er.Error == "" {
		er = agentapi.ErrorResponse{Code: agentapi.CodeInternal, Error: fmt.Sprintf("agent answered %s: %s", resp.Status, bytes.TrimSpace(raw))}
	}
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
