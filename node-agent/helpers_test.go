package nodeagent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"

	"github.com/whycache/whycache/internal/agenttest"
	nodeagent "github.com/whycache/whycache/node-agent"
	"github.com/whycache/whycache/pkg/agentapi"
	"github.com/whycache/whycache/pkg/cachefile"
	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/dirstore"
)

// testAgent is an agent running in this process for one test, with helpers
// to talk to it.
type testAgent struct{ *agenttest.Agent }

// dirConfig returns an agent configuration over a local-directory log.
func dirConfig(t *testing.T, logDir, node string) nodeagent.Config {
	return nodeagent.Config{
		Dir:       filepath.Join(t.TempDir(), node),
		NodeName:  node,
		CreateLog: true,
		OpenStore: func(ctx context.Context, opts logstore.Options) (logstore.Store, error) {
			return dirstore.Open(ctx, logDir, opts)
		},
		HealthAddr:        "127.0.0.1:0",
		HeartbeatInterval: 50 * time.Millisecond,
		RetryInterval:     10 * time.Millisecond,
		Cache:             cachefile.Options{NoSync: true},
		Logger:            testr.New(t),
	}
}

// start runs an agent until the test ends (or Stop is called).
func start(t *testing.T, cfg nodeagent.Config) *testAgent {
	t.Helper()
	return &testAgent{agenttest.Start(t, cfg)}
}

// post sends a raw write request to the agent's socket and returns the
// status and body.
func (ta *testAgent) post(t *testing.T, body []byte) (int, []byte) {
	t.Helper()
	hc := unixClient(ta.SocketPath())
	resp, err := hc.Post("http://agent"+agentapi.PathUpdates, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", agentapi.PathUpdates, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// update sends an UpdateRequest and decodes the answer.
func (ta *testAgent) update(t *testing.T, req agentapi.UpdateRequest) (agentapi.UpdateResponse, *agentapi.ErrorResponse) {
	t.Helper()
	body, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	code, b := ta.post(t, body)
	if code != http.StatusOK {
		var er agentapi.ErrorResponse
		if err := json.Unmarshal(b, &er); err != nil {
			t.Fatalf("status %d with a body that is not an ErrorResponse: %q", code, b)
		}
		if want := agentapi.HTTPStatus(er.Code); want != code {
			t.Errorf("status %d for error code %q, want %d", code, er.Code, want)
		}
		return agentapi.UpdateResponse{}, &er
	}
	var ur agentapi.UpdateResponse
	if err := json.Unmarshal(b, &ur); err != nil {
		t.Fatalf("decode %q: %v", b, err)
	}
	return ur, nil
}

func unixClient(socket string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}}
}

// status asks the agent's socket for its status.
func (ta *testAgent) status(t *testing.T) agentapi.Status {
	t.Helper()
	resp, err := unixClient(ta.SocketPath()).Get("http://agent" + agentapi.PathStatus)
	if err != nil {
		t.Fatalf("GET %s: %v", agentapi.PathStatus, err)
	}
	defer resp.Body.Close()
	var st agentapi.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("decode the status: %v", err)
	}
	return st
}

// get fetches a path from the agent's health server.
func (ta *testAgent) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + ta.HealthAddr() + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metric returns the value of a metric line that starts with prefix.
func (ta *testAgent) metric(t *testing.T, prefix string) string {
	t.Helper()
	_, body := ta.get(t, "/metrics")
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, prefix+" ") {
			return strings.TrimPrefix(line, prefix+" ")
		}
	}
	return ""
}

// readFile returns the contents of a cache file as a map.
func readFile(t *testing.T, path string) map[string]string {
	t.Helper()
	r, err := cachefile.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	m := map[string]string{}
	for k, v := range r.All() {
		m[string(k)] = string(v)
	}
	return m
}

// replay returns the state of the whole log.
func replay(t *testing.T, s logstore.Store) map[string]string {
	t.Helper()
	m := map[string]string{}
	var after uint64
	for {
		ups, err := s.Read(t.Context(), after, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(ups) == 0 {
			return m
		}
		for _, u := range ups {
			for _, op := range u.Ops {
				if op.Type == logstore.OpSet {
					m[string(op.Key)] = string(op.Value)
				} else {
					delete(m, string(op.Key))
				}
			}
			after = u.ID
		}
	}
}

func equalMaps(a, b map[string]string) error {
	if len(a) != len(b) {
		return fmt.Errorf("%d keys vs %d keys", len(a), len(b))
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return fmt.Errorf("key %q: %q vs %q (present: %v)", k, v, w, ok)
		}
	}
	return nil
}
