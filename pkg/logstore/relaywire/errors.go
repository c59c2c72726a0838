package relaywire

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/whycache/whycache/pkg/logstore"
)

// Sentinel errors of the relay protocol, beside those of package logstore
// that travel through it. Test for them with errors.Is.
var (
	// ErrUnauthorized means that the relay refused the request's token.
	ErrUnauthorized = errors.New("relay: unauthorized: wrong or missing bearer token")
	// ErrUnavailable means that a relay could not take the request: it is
	// shutting down, holds as many waits as it may, or cannot be reached.
	// The request was not carried out; another relay may take it.
	ErrUnavailable = errors.New("relay: unavailable")
	// ErrMalformed means that a message could not be decoded.
	ErrMalformed = errors.New("relay: malformed message")
)

// Error is the body of every failed call.
type Error struct {
	// Code names the sentinel error: one of the Code constants.
	Code string `json:"code"`
	// Message is the error's text.
	Message string `json:"message"`
}

// The error codes.
const (
	CodeNotFound         = "not_found"
	CodeBehindHorizon    = "behind_horizon"
	CodeTooLarge         = "too_large"
	CodeInvalid          = "invalid"
	CodeIdentityMismatch = "identity_mismatch"
	CodeClosed           = "closed"
	CodeUnauthorized     = "unauthorized"
	CodeUnavailable      = "unavailable"
	CodeTimeout          = "timeout"
	CodeInternal         = "internal"
)

// codes maps each code to its sentinel and HTTP status.
var codes = []struct {
	code   string
	err    error
	status int
}{
	{CodeNotFound, logstore.ErrNotFound, http.StatusNotFound},
	{CodeBehindHorizon, logstore.ErrBehindHorizon, http.StatusConflict},
	{CodeTooLarge, logstore.ErrTooLarge, http.StatusRequestEntityTooLarge},
	{CodeInvalid, logstore.ErrInvalid, http.StatusBadRequest},
	{CodeIdentityMismatch, logstore.ErrIdentityMismatch, http.StatusConflict},
	{CodeUnavailable, ErrUnavailable, http.StatusServiceUnavailable},
	// A relay whose store is closed is shutting down: to its clients it
	// is unavailable, and another relay may take the request.
	{CodeClosed, ErrUnavailable, http.StatusServiceUnavailable},
	{CodeUnauthorized, ErrUnauthorized, http.StatusUnauthorized},
	{CodeTimeout, context.DeadlineExceeded, http.StatusGatewayTimeout},
}

// FromError returns the wire form of err and its HTTP status.
func FromError(err error) (Error, int) {
	if errors.Is(err, logstore.ErrClosed) {
		return Error{Code: CodeClosed, Message: err.Error()}, http.StatusServiceUnavailable
	}
	for _, c := range codes {
		if errors.Is(err, c.err) {
			return Error{Code: c.code, Message: err.Error()}, c.status
		}
	}
	return Error{Code: CodeInternal, Message: err.Error()}, http.StatusInternalServerError
}

// ToError returns the error that a wire error stands for: its message,
// matching the sentinel of its code with errors.Is.
func (e Error) ToError() error {
	for _, c := range codes {
		if c.code == e.Code {
			return &remoteError{msg: e.Message, sentinel: c.err}
		}
	}
	return &remoteError{msg: e.Message}
}

// remoteError is an error the relay reported.
type remoteError struct {
	msg      string
	sentinel error
}

func (e *remoteError) Error() string {
	if e.msg == "" && e.sentinel != nil {
		return e.sentinel.Error()
	}
	return e.msg
}

func (e *remoteError) Unwrap() error { return e.sentinel }

// Unexpected returns the error for an answer that is not a wire error: a
// proxy's page, say.
func Unexpected(status int, body []byte) error {
	const max = 200
	if len(body) > max {
		body = body[:max]
	}
	return fmt.Errorf("relay answered HTTP %d %q: %w", status, body, ErrMalformed)
}
