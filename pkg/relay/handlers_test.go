package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/dirstore"
	"github.com/whycache/whycache/pkg/logstore/relaywire"
)

const testToken = "0123456789abcdef-token"

// newTestServer serves a relay over a fresh directory store holding the
// log "log", with testToken.
func newTestServer(t *testing.T, cfg Config) (*Server, *httptest.Server) {
	dir := t.TempDir()
	s, err := dirstore.Open(t.Context(), dir, logstore.Options{Name: "log", Create: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	cfg.Open = func(ctx context.Context, name string, create bool) (logstore.Store, error) {
		s, err := dirstore.Open(ctx, dir, logstore.Options{Name: name, Create: create})
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	cfg.Token = []byte(testToken)
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); srv.Close() })
	return srv, hs
}

// doCall makes a request and returns the status, the error code (if any) and
// the body.
func doCall(t *testing.T, hs *httptest.Server, method, path, token string, body []byte) (int, string, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, hs.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e relaywire.Error
	if resp.StatusCode/100 != 2 {
		if err := json.Unmarshal(b, &e); err != nil && strings.HasPrefix(path, relaywire.PathPrefix) {
			t.Errorf("%s %s: status %d with a body that is not a wire error: %q", method, path, resp.StatusCode, b)
		}
	}
	return resp.StatusCode, e.Code, b
}

// TestBadRequests sends malformed and refused calls: each gets its status
// and error code, with a message, and the log is unchanged.
func TestBadRequests(t *testing.T) {
	_, hs := newTestServer(t, Config{})
	p := func(call string) string { return relaywire.Path("log", call) }
	bigValue := relaywire.AppendOps(nil, []logstore.Op{logstore.Set([]byte("k"), make([]byte, logstore.DefaultMaxValueSize+1))})
	tests := []struct {
		name         string
		method, path string
		token        string
		body         []byte
		status       int
		code         string
	}{
		{"no token", "GET", p("latest"), "", nil, 401, relaywire.CodeUnauthorized},
		{"wrong token", "GET", p("latest"), "x" + testToken, nil, 401, relaywire.CodeUnauthorized},
		{"token prefix", "GET", p("latest"), testToken[:10], nil, 401, relaywire.CodeUnauthorized},
		{"no call", "GET", "/v1/logs/log", testToken, nil, 400, relaywire.CodeInvalid},
		{"unknown call", "GET", p("truncate"), testToken, nil, 400, relaywire.CodeInvalid},
		{"wrong method", "POST", p("latest"), testToken, nil, 400, relaywire.CodeInvalid},
		{"open by GET", "GET", p("open"), testToken, nil, 400, relaywire.CodeInvalid},
		{"bad log name", "GET", relaywire.Path("Bad-Name", "latest"), testToken, nil, 400, relaywire.CodeInvalid},
		{"missing log", "GET", relaywire.Path("missing", "latest"), testToken, nil, 404, relaywire.CodeNotFound},
		{"open missing log", "POST", relaywire.Path("missing", "open"), testToken, nil, 404, relaywire.CodeNotFound},
		{"open create not a bool", "POST", relaywire.Path("missing", "open") + "?create=perhaps", testToken, nil, 400, relaywire.CodeInvalid},
		{"read without after", "GET", p("read"), testToken, nil, 400, relaywire.CodeInvalid},
		{"read after not a number", "GET", p("read") + "?after=x", testToken, nil, 400, relaywire.CodeInvalid},
		{"read after twice", "GET", p("read") + "?after=1&after=2", testToken, nil, 400, relaywire.CodeInvalid},
		{"read negative max", "GET", p("read") + "?after=0&max=-1", testToken, nil, 400, relaywire.CodeInvalid},
		{"read huge max", "GET", p("read") + "?after=0&max=100000000", testToken, nil, 400, relaywire.CodeInvalid},
		{"bad query", "GET", p("read") + "?after=%zz", testToken, nil, 400, relaywire.CodeInvalid},
		{"replay without horizon", "GET", p("replay") + "?after=0", testToken, nil, 400, relaywire.CodeInvalid},
		{"wait without after", "GET", p("wait"), testToken, nil, 400, relaywire.CodeInvalid},
		{"append garbage", "POST", p("append"), testToken, []byte("hello"), 400, relaywire.CodeInvalid},
		{"append no ops", "POST", p("append"), testToken, relaywire.AppendOps(nil, nil), 400, relaywire.CodeInvalid},
		{"append empty key", "POST", p("append"), testToken, relaywire.AppendOps(nil, []logstore.Op{logstore.Set(nil, nil)}), 400, relaywire.CodeInvalid},
		{"append value over the limit", "POST", p("append"), testToken, bigValue, 413, relaywire.CodeTooLarge},
		{"append body over any update", "POST", p("append"), testToken, make([]byte, logstore.DefaultMaxUpdateSize+logstore.DefaultMaxUpdateOps*21+17), 413, relaywire.CodeTooLarge},
		{"heartbeat not JSON", "POST", p("heartbeat"), testToken, []byte("{"), 400, relaywire.CodeInvalid},
		{"heartbeat unknown field", "POST", p("heartbeat"), testToken, []byte(`{"node":"a","applied":1}`), 400, relaywire.CodeInvalid},
		{"heartbeat two values", "POST", p("heartbeat"), testToken, []byte(`{"node":"a"} {}`), 400, relaywire.CodeInvalid},
		{"heartbeat no node", "POST", p("heartbeat"), testToken, []byte(`{"appliedID":1}`), 400, relaywire.CodeInvalid},
		{"rewrite not JSON", "POST", p("rewrite"), testToken, []byte("through=5"), 400, relaywire.CodeInvalid},
		{"read below the horizon is fine on a new log", "GET", p("read") + "?after=5", testToken, nil, 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, code, body := doCall(t, hs, tc.method, tc.path, tc.token, tc.body)
			if status != tc.status || code != tc.code {
				t.Fatalf("%s %s: %d %s (%q), want %d %s", tc.method, tc.path, status, code, body, tc.status, tc.code)
			}
			if tc.code != "" && !bytes.Contains(body, []byte(`"message":"`)) {
				t.Errorf("error without a message: %s", body)
			}
		})
	}
	if status, _, body := doCall(t, hs, "GET", p("latest"), testToken, nil); status != 200 || !bytes.Contains(body, []byte(`"n":0`)) {
		t.Errorf("after the bad requests, latest = %d %s; want 0", status, body)
	}
}

// TestHealth checks /healthz and /readyz (no token needed), the limit on
// waits held at once, and Drain: held waits end as unavailable, and the
// relay is no longer ready.
func TestHealth(t *testing.T) {
	srv, hs := newTestServer(t, Config{MaxWaiters: 1, Logs: []string{"log"}})
	for _, path := range []string{"/healthz", "/readyz"} {
		deadline := time.Now().Add(time.Minute)
		for {
			status, _, body := doCall(t, hs, "GET", path, "", nil)
			if status == 200 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("GET %s: %d %s", path, status, body)
			}
			sleep(t.Context(), 10*time.Millisecond)
		}
	}
	held := make(chan int, 1)
	go func() {
		status, _, _ := doCall(t, hs, "GET", relaywire.Path("log", "wait")+"?after=0", testToken, nil)
		held <- status
	}()
	for srv.Stats().Waiters < 1 {
		if sleep(t.Context(), time.Millisecond) != nil {
			t.Fatal("the wait was never held")
		}
	}
	if status, code, _ := doCall(t, hs, "GET", relaywire.Path("log", "wait")+"?after=0", testToken, nil); status != 503 || code != relaywire.CodeUnavailable {
		t.Errorf("a wait over the limit: %d %s, want 503 %s", status, code, relaywire.CodeUnavailable)
	}
	srv.Drain()
	if status := <-held; status != 503 {
		t.Errorf("a wait held during Drain ended with %d, want 503", status)
	}
	if status, _, _ := doCall(t, hs, "GET", "/readyz", "", nil); status != 503 {
		t.Errorf("/readyz while draining: %d, want 503", status)
	}
	if status, code, _ := doCall(t, hs, "GET", relaywire.Path("log", "latest"), testToken, nil); status != 503 || code != relaywire.CodeUnavailable {
		t.Errorf("a call while draining: %d %s, want 503 unavailable", status, code)
	}
}

// TestReadyWhileLogMissing starts a relay for a log that does not exist
// yet: it is ready (agents must reach it to create the log), and serves the
// log once a client creates it.
func TestReadyWhileLogMissing(t *testing.T) {
	srv, hs := newTestServer(t, Config{Logs: []string{"fresh"}})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for {
		status, _, body := doCall(t, hs, "GET", "/readyz", "", nil)
		if status == 200 {
			break
		}
		if sleep(ctx, 10*time.Millisecond) != nil {
			t.Fatalf("never ready while the log is missing: %s", body)
		}
	}
	if status, code, _ := doCall(t, hs, "GET", relaywire.Path("fresh", "latest"), testToken, nil); status != 404 || code != relaywire.CodeNotFound {
		t.Fatalf("latest of the missing log: %d %s, want 404 not_found", status, code)
	}
	if status, _, body := doCall(t, hs, "POST", relaywire.Path("fresh", "open")+"?create=true", testToken, nil); status != 200 {
		t.Fatalf("open with create: %d %s", status, body)
	}
	if err := srv.Ready(); err != nil {
		t.Errorf("not ready once the log exists: %v", err)
	}
}
