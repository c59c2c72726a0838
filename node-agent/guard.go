package nodeagent

import (
	"context"
	"crypto/subtle"
	"errors"
	"mime"
	"net"
	"net/http"
	"strings"

	"github.com/whycache/whycache/pkg/agentapi"
)

// overTCPKey marks, in a connection's context, a connection accepted on the
// TCP write listener.
type overTCPKey struct{}

// connContext tags the connections of the TCP listener.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if c.LocalAddr().Network() == "tcp" {
		return context.WithValue(ctx, overTCPKey{}, true)
	}
	return ctx
}

// guard refuses, before the write API sees them, requests that a web
// browser sent (a page on the node, or DNS rebinding, must not write keys),
// TCP requests without the bearer token, and bodies not declared as JSON
// (a cross-origin form or text/plain POST needs no preflight).
func (a *Agent) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, err := a.check(r)
		if err != nil {
			if code == agentapi.CodeUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="whycache"`)
			}
			a.metrics.writeRequests.WithLabelValues(code).Inc()
			agentapi.WriteError(w, code, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// check returns the error code and error that refuse r, or "", nil.
func (a *Agent) check(r *http.Request) (string, error) {
	if r.Header.Get("Origin") != "" || r.Header.Get("Sec-Fetch-Site") != "" {
		return agentapi.CodeForbidden, errors.New("requests from web browsers are refused")
	}
	if overTCP, _ := r.Context().Value(overTCPKey{}).(bool); overTCP && !a.tokenOK(r) {
		return agentapi.CodeUnauthorized, errors.New("writes over TCP need the agent's token: Authorization: Bearer <token>")
	}
	if r.Method == http.MethodPost {
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "application/json" {
			return agentapi.CodeUnsupportedMediaType, errors.New("the body must be JSON, sent with Content-Type: application/json")
		}
	}
	return "", nil
}

// tokenOK tells whether r carries the TCP write token.
func (a *Agent) tokenOK(r *http.Request) bool {
	want := a.cfg.TCPWriteToken
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && want != "" && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(want)) == 1
}
