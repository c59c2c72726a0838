package nodeagent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/whycache/whycache/pkg/agentapi"
	"github.com/whycache/whycache/pkg/logstore"
)

// writeHandler serves the write API (package agentapi).
func (a *Agent) writeHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+agentapi.PathUpdates, a.handleUpdate)
	mux.HandleFunc("POST "+agentapi.PathBatch, a.handleBatch)
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

// asWriteError returns err as a *writeError, internal when it is not one.
func asWriteError(err error) *writeError {
	var we *writeError
	if !errors.As(err, &we) {
		we = &writeError{code: agentapi.CodeInternal, err: err}
	}
	return we
}

// handleUpdate serves one update.
func (a *Agent) handleUpdate(w http.ResponseWriter, r *http.Request) {
	var req agentapi.UpdateRequest
	release, err := a.readRequest(r, &req, a.maxUpdateBody())
	if err != nil {
		a.countWrite(err, 0)
		agentapi.WriteError(w, asWriteError(err).code, err)
		return
	}
	defer release()
	ctx, cancel := context.WithTimeout(r.Context(), a.cfg.WriteTimeout)
	defer cancel()
	start := time.Now()
	resp, err := a.update(ctx, req)
	a.countWrite(err, time.Since(start))
	if err != nil {
		agentapi.WriteError(w, asWriteError(err).code, err)
		return
	}
	writeJSON(w, resp)
}

// handleBatch serves several independent updates: they are appended
// concurrently, so that the store commits them together, and each gets its
// own result.
func (a *Agent) handleBatch(w http.ResponseWriter, r *http.Request) {
	var req agentapi.BatchRequest
	release, err := a.readRequest(r, &req, max(a.maxUpdateBody(), agentapi.MaxBatchBodyBytes))
	if err == nil {
		defer release()
		if len(req.Updates) > agentapi.MaxBatchUpdates {
			err = &writeError{agentapi.CodeTooLarge, fmt.Errorf("batch of %d updates, over the limit of %d: %w",
				len(req.Updates), agentapi.MaxBatchUpdates, logstore.ErrTooLarge)}
		}
	}
	if err != nil {
		a.countWrite(err, 0)
		agentapi.WriteError(w, asWriteError(err).code, err)
		return
	}
	a.metrics.batchUpdates.Observe(float64(len(req.Updates)))
	ctx, cancel := context.WithTimeout(r.Context(), a.cfg.WriteTimeout)
	defer cancel()
	resp := agentapi.BatchResponse{Results: make([]agentapi.BatchResult, len(req.Updates))}
	var wg sync.WaitGroup
	for i, u := range req.Updates {
		wg.Go(func() {
			start := time.Now()
			ur, err := a.update(ctx, u)
			a.countWrite(err, time.Since(start))
			if err != nil {
				we := asWriteError(err)
				resp.Results[i].Error = &agentapi.ErrorResponse{Code: we.code, Error: we.Error()}
				return
			}
			resp.Results[i].UpdateResponse = *ur
		})
	}
	wg.Wait()
	writeJSON(w, resp)
}

// countWrite records a write's result (and, for one that was attempted, its
// duration) in the metrics, and logs the failures that are not the
// caller's fault.
func (a *Agent) countWrite(err error, d time.Duration) {
	if d > 0 {
		a.metrics.writeSeconds.Observe(d.Seconds())
	}
	if err == nil {
		a.metrics.writeRequests.WithLabelValues("ok").Inc()
		return
	}
	we := asWriteError(err)
	a.metrics.writeRequests.WithLabelValues(we.code).Inc()
	if we.code == agentapi.CodeInternal || we.code == agentapi.CodeUnavailable {
		a.log.Error(err, "write failed", "code", we.code)
	}
}

// update checks and appends one update, and waits for the local apply when
// asked.
func (a *Agent) update(ctx context.Context, req agentapi.UpdateRequest) (*agentapi.UpdateResponse, error) {
	ops, err := a.parseOps(req.Ops)
	if err != nil {
		return nil, err
	}
	// In a log that keeps its history, a new update's id is above every id
	// committed before the append began, so above what the file held then.
	// One at or below it means the log reuses ids it had given (it was
	// restored or failed over): the file holds another update under this
	// id, and only a file rebuilt since holds this one.
	epoch := a.epoch.Load()
	before := a.applied.Load()
	id, err := a.store.Append(ctx, ops)
	if err != nil {
		return nil, classify(ctx, fmt.Errorf("append to the log: %w", err))
	}
	reused := id <= before
	if reused {
		a.metrics.reusedIDs.Inc()
		a.log.Error(nil, "the log gave a new update an id this node had already applied; checking the log", "updateID", id, "appliedID", before)
		a.kickSync()
	}
	if req.Wait {
		if err := a.waitApplied(ctx, id, reused, epoch); err != nil {
			return nil, classify(ctx, fmt.Errorf("update %d is durable, but not yet applied on this node: %w", id, err))
		}
	}
	return &agentapi.UpdateResponse{UpdateID: id, Applied: a.holds(id, reused, epoch)}, nil
}

// maxUpdateBody is the size of the request body that one maximal update
// takes.
func (a *Agent) maxUpdateBody() int64 {
	return agentapi.MaxRequestBytes(a.cfg.Limits.MaxUpdateSize, a.cfg.Limits.MaxUpdateOps)
}

// readRequest decodes a request body of at most limit bytes, after waiting
// for room for it under the bound of bytes in flight; release gives the room
// back once the request no longer holds what it decoded.
func (a *Agent) readRequest(r *http.Request, v any, limit int64) (release func(), err error) {
	if r.ContentLength > limit {
		// Refused before a byte of it is read.
		return nil, tooLarge(limit, a.cfg.Limits.MaxUpdateSize)
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.cfg.WriteTimeout)
	defer cancel()
	giveBack, err := a.inflight.acquire(ctx, bodyWeight(r, limit))
	if err != nil {
		return nil, err
	}
	body := &countingReader{r: http.MaxBytesReader(nil, r.Body, limit), f: a.inflight}
	release = func() {
		body.close()
		giveBack()
	}
	if err := a.decodeBody(body, v, limit); err != nil {
		release()
		return nil, err
	}
	return release, nil
}

func tooLarge(limit int64, maxUpdateSize int) error {
	return &writeError{agentapi.CodeTooLarge, fmt.Errorf("request body is over %d bytes (update size limit %d): %w",
		limit, maxUpdateSize, logstore.ErrTooLarge)}
}

// decodeBody decodes a request body of at most limit bytes (body stops
// there).
func (a *Agent) decodeBody(body io.Reader, v any, limit int64) error {
	limits := a.cfg.Limits
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("data after the JSON value")
	}
	if err == nil {
		return nil
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return tooLarge(tooBig.Limit, limits.MaxUpdateSize)
	}
	if errors.Is(err, io.EOF) {
		err = errors.New("empty body")
	}
	return &writeError{agentapi.CodeInvalid, fmt.Errorf("decode request: %w", err)}
}

// parseOps turns the API's operations into checked log operations.
func (a *Agent) parseOps(in []agentapi.Op) ([]logstore.Op, error) {
	ops := make([]logstore.Op, len(in))
	for i, op := range in {
		set, err := agentapi.ParseOpType(op.Op)
		if err != nil {
			return nil, &writeError{agentapi.CodeInvalid, fmt.Errorf("operation %d: %w", i, err)}
		}
		if set {
			if op.Value == nil {
				op.Value = []byte{}
			}
			ops[i] = logstore.Set(op.Key, op.Value)
		} else {
			if op.Value != nil {
				return nil, &writeError{agentapi.CodeInvalid, fmt.Errorf("operation %d: delete of key %s has a value", i, logstore.QuoteKey(op.Key))}
			}
			ops[i] = logstore.Delete(op.Key)
		}
	}
	if err := a.cfg.Limits.Check(ops); err != nil {
		return nil, classify(context.Background(), err)
	}
	return ops, nil
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
		Ready:     true,
	}
	// The socket is all a pod with a read-only mount of the directory can
	// reach (whycache wait-ready): it says why, as /readyz does.
	if err := a.readiness(time.Now()); err != nil {
		st.Ready, st.Reason = false, err.Error()
	}
	writeJSON(w, st)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
