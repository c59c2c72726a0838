// Package agentapi is the wire protocol between the node agent's write API
// and its clients: the file names inside an instance directory, the HTTP
// paths, and the JSON request and response bodies.
//
// The agent serves HTTP on a Unix socket in the instance directory (and,
// when configured, on TCP). A write is one POST of an [UpdateRequest] to
// [PathUpdates]; the agent appends it to the log as one update and answers
// with an [UpdateResponse] holding the update id once the update is durable.
// Errors come back with an HTTP status and an [ErrorResponse].
//
// A client that has several independent updates at once (the client library
// gathers the concurrent writes of a process) sends them in one POST of a
// [BatchRequest] to [PathBatch]: each update keeps its own id and its own
// result, and the round trip and the system calls are shared.
package agentapi

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// Names of the files inside an instance directory (the hostPath that pods
// mount read-only).
const (
	// CacheFileName is the memory-mapped cache file.
	CacheFileName = "cache.whycache"
	// SocketName is the agent's Unix socket for writes.
	SocketName = "agent.sock"
)

// HTTP paths of the write API.
const (
	// PathUpdates takes a POST of an UpdateRequest.
	PathUpdates = "/v1/updates"
	// PathBatch takes a POST of a BatchRequest.
	PathBatch = "/v1/batch"
	// PathStatus answers a GET with a Status.
	PathStatus = "/v1/status"
)

// Op types in an UpdateRequest.
const (
	OpSet    = "set"
	OpDelete = "delete"
)

// Op is one key operation. Key and Value are bytes, base64 in JSON.
type Op struct {
	// Op is "set" or "delete".
	Op string `json:"op"`
	// Key is the key; it must not be empty.
	Key []byte `json:"key"`
	// Value is the value of a set; it must be absent for a delete.
	Value []byte `json:"value,omitempty"`
}

// UpdateRequest is one update: its operations are applied atomically under
// one update id.
type UpdateRequest struct {
	// Ops are the update's operations.
	Ops []Op `json:"ops"`
	// Wait asks the agent to answer only once it has applied the update to
	// its own cache file, so that a read on the same node sees it.
	Wait bool `json:"wait,omitempty"`
}

// UpdateResponse answers a successful UpdateRequest.
type UpdateResponse struct {
	// UpdateID is the update's id in the log; the update is durable.
	UpdateID uint64 `json:"update_id"`
	// Applied reports whether the agent has applied the update to its cache
	// file (always true when the request asked to wait).
	Applied bool `json:"applied"`
}

// BatchRequest carries several independent updates. Each is appended as
// an update of its own (atomic by itself, with its own id); they may be
// committed together, and their ids follow no particular order: send
// updates whose order matters one after the other.
type BatchRequest struct {
	// Updates are the updates, each as in an UpdateRequest.
	Updates []UpdateRequest `json:"updates"`
}

// BatchResponse answers a BatchRequest whose envelope was well formed: one
// result per update, in order. A malformed envelope gets an ErrorResponse
// instead.
type BatchResponse struct {
	Results []BatchResult `json:"results"`
}

// BatchResult is the outcome of one update of a batch: its UpdateResponse,
// or its error.
type BatchResult struct {
	UpdateResponse
	// Error is set when the update failed; the result then holds it alone
	// (no update_id).
	Error *ErrorResponse `json:"error,omitempty"`
}

// Bounds of one BatchRequest. An agent accepts a batch body of
// MaxBatchBodyBytes, or of the size of one maximal update if that is
// larger, so that a client may always send a lone update as a batch.
const (
	MaxBatchUpdates   = 1024
	MaxBatchBodyBytes = 16 << 20
)

// Status is what the agent reports about itself.
type Status struct {
	// Node is the node's name.
	Node string `json:"node"`
	// LogID is the identity of the log the agent follows.
	LogID string `json:"log_id"`
	// AppliedID is the last update id applied to the cache file.
	AppliedID uint64 `json:"applied_id"`
	// HeadID is the latest update id the agent has seen in the log.
	HeadID uint64 `json:"head_id"`
	// Ready reports whether the agent is within its allowed lag.
	Ready bool `json:"ready"`
	// Reason says why the agent is not ready, for people (empty when it
	// is ready): the same text as the health port's /readyz.
	Reason string `json:"reason,omitempty"`
}

// Error codes in an ErrorResponse.
const (
	// CodeInvalid: the request is malformed (HTTP 400).
	CodeInvalid = "invalid"
	// CodeTooLarge: a key, a value or the update is over a limit (HTTP 413).
	CodeTooLarge = "too_large"
	// CodeUnavailable: the log store cannot be reached, or the agent is
	// shutting down (HTTP 503). The update may or may not have been
	// appended; retrying a set or delete is safe.
	CodeUnavailable = "unavailable"
	// CodeTimeout: the request's deadline passed (HTTP 504). As with
	// CodeUnavailable, the update may have been appended.
	CodeTimeout = "timeout"
	// CodeInternal: anything else (HTTP 500).
	CodeInternal = "internal"
	// CodeUnsupportedMediaType: a request body that is not declared as
	// application/json (HTTP 415).
	CodeUnsupportedMediaType = "unsupported_media_type"
	// CodeUnauthorized: a request over TCP without the agent's bearer
	// token (HTTP 401).
	CodeUnauthorized = "unauthorized"
	// CodeForbidden: a request that a web browser sent (it carries an
	// Origin or Sec-Fetch-Site header); the write API serves programs
	// only (HTTP 403).
	CodeForbidden = "forbidden"
)

// ErrorResponse is the body of every error answer.
type ErrorResponse struct {
	// Code is one of the Code constants.
	Code string `json:"code"`
	// Error is a human-readable message.
	Error string `json:"error"`
}

// HTTPStatus returns the HTTP status that goes with an error code.
func HTTPStatus(code string) int {
	switch code {
	case CodeInvalid:
		return http.StatusBadRequest
	case CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	case CodeUnavailable:
		return http.StatusServiceUnavailable
	case CodeTimeout:
		return http.StatusGatewayTimeout
	case CodeUnsupportedMediaType:
		return http.StatusUnsupportedMediaType
	case CodeUnauthorized:
		return http.StatusUnauthorized
	case CodeForbidden:
		return http.StatusForbidden
	default:
		return http.StatusInternalServerError
	}
}

// WriteError writes an ErrorResponse with the status that goes with code.
func WriteError(w http.ResponseWriter, code string, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(HTTPStatus(code))
	_ = json.NewEncoder(w).Encode(ErrorResponse{Code: code, Error: err.Error()})
}

// MaxRequestBytes returns the largest request body that can carry an update
// of maxUpdateSize bytes of keys and values with up to maxOps operations:
// base64 grows bytes by 4/3, and each operation has a few dozen bytes of JSON
// around it.
func MaxRequestBytes(maxUpdateSize, maxOps int) int64 {
	return int64(maxUpdateSize)/3*4 + 8 + int64(maxOps)*64 + 1024
}

// EncodedSize estimates, from above, the JSON size of an update with ops
// operations and the given bytes of keys and values, as it travels in a
// request.
func EncodedSize(ops, bytes int) int64 {
	return int64(bytes)/3*4 + 8 + int64(ops)*64 + 64
}

// ParseOpType maps an Op's type name to true for set and false for delete.
func ParseOpType(op string) (set bool, err error) {
	switch op {
	case OpSet:
		return true, nil
	case OpDelete:
		return false, nil
	default:
		return false, fmt.Errorf("unknown op %q (want %q or %q)", op, OpSet, OpDelete)
	}
}
