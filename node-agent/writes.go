package nodeagent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/whycache/whycache/pkg/agentapi"
	"github.com/whycache/whycache/pkg/logstore"
)

// writeHandler serves the write API (package agentapi).
func (a *Agent) writeHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+agentapi.PathUpdates, a.handleUpdate)
	mux.HandleFunc("GET "+agentapi.PathStatus, a.handleStatus)
	return mux
}

// writeError is a failed write with the API error code that describes it.
type writeError struct {
	code string
	err  error
}

func (e *writeError) Error() string { return e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

func (a *Agent) handleUpdate(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	resp, err := a.update(r)
	a.metrics.writeSeconds.Observe(time.Since(start).Seconds())
	if err != nil {
		var we *writeError
		if !errors.As(err, &we) {
			we = &writeError{code: agentapi.CodeInternal, err: err}
		}
		a.metrics.writeRequests.WithLabelValues(we.code).Inc()
		if we.code == agentapi.CodeInternal || we.code == agentapi.CodeUnavailable {
			a.log.Error(err, "write failed", "code", we.code)
		}
		agentapi.WriteError(w, we.code, we.err)
		return
	}
	a.metrics.writeRequests.WithLabelValues("ok").Inc()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}

// update decodes, checks and appends one update, and waits for the local
// apply when asked.
func (a *Agent) update(r *http.Request) (*agentapi.UpdateResponse, error) {
	ops, wait, err := a.decodeUpdate(r)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.cfg.WriteTimeout)
	defer cancel()
	id, err := a.store.Append(ctx, ops)
	if err != nil {
		return nil, classify(ctx, fmt.Errorf("append to the log: %w", err))
	}
	if wait {
		if err := a.waitApplied(ctx, id); err != nil {
			return nil, classify(ctx, fmt.Errorf("update %d is durable, but not yet applied on this node: %w", id, err))
		}
	}
	return &agentapi.UpdateResponse{UpdateID: id, Applied: a.applied.Load() >= id}, nil
}

// decodeUpdate reads an UpdateRequest and turns it into checked log
// operations.
func (a *Agent) decodeUpdate(r *http.Request) ([]logstore.Op, bool, error) {
	limits := a.cfg.Limits
	body := http.MaxBytesReader(nil, r.Body, agentapi.MaxRequestBytes(limits.MaxUpdateSize, limits.MaxUpdateOps))
	var req agentapi.UpdateRequest
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, false, &writeError{agentapi.CodeTooLarge, fmt.Errorf("request body is over %d bytes (update size limit %d): %w",
				tooBig.Limit, limits.MaxUpdateSize, logstore.ErrTooLarge)}
		}
		return nil, false, &writeError{agentapi.CodeInvalid, fmt.Errorf("decode request: %w", err)}
	}
	ops := make([]logstore.Op, len(req.Ops))
	for i, op := range req.Ops {
		set, err := agentapi.ParseOpType(op.Op)
		if err != nil {
			return nil, false, &writeError{agentapi.CodeInvalid, fmt.Errorf("operation %d: %w", i, err)}
		}
		if set {
			if op.Value == nil {
				op.Value = []byte{}
			}
			ops[i] = logstore.Set(op.Key, op.Value)
		} else {
			if op.Value != nil {
				return nil, false, &writeError{agentapi.CodeInvalid, fmt.Errorf("operation %d: delete of key %s has a value", i, logstore.QuoteKey(op.Key))}
			}
			ops[i] = logstore.Delete(op.Key)
		}
	}
	if err := limits.Check(ops); err != nil {
		return nil, false, classify(r.Context(), err)
	}
	return ops, req.Wait, nil
}

// classify maps an error to the write API's error code.
func classify(ctx context.Context, err error) error {
	code := agentapi.CodeUnavailable
	switch {
	case errors.Is(err, logstore.ErrTooLarge):
		code = agentapi.CodeTooLarge
	case errors.Is(err, logstore.ErrInvalid):
		code = agentapi.CodeInvalid
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil:
		code = agentapi.CodeTimeout
	}
	return &writeError{code: code, err: err}
}

func (a *Agent) handleStatus(w http.ResponseWriter, _ *http.Request) {
	st := agentapi.Status{
		Node:      a.cfg.NodeName,
		LogID:     a.store.ID().String(),
		AppliedID: a.applied.Load(),
		HeadID:    a.head.Load(),
		Ready:     a.readiness(time.Now()) == nil,
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(st)
}
