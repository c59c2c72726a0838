package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/whycache/whycache/internal/agenttest"
	"github.com/whycache/whycache/internal/testcerts"
	nodeagent "github.com/whycache/whycache/node-agent"
	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/backends"
	"github.com/whycache/whycache/pkg/logstore/relaywire"
	"github.com/whycache/whycache/pkg/relay"
)

// writeCert writes a certificate for 127.0.0.1 and localhost and its key;
// the certificate is its own CA's (tls.crt then the CA's, so that the file
// serves as the agents' ca-file too).
func writeCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	now := time.Now()
	ca, err := testcerts.NewCA("relay CA", now)
	if err != nil {
		t.Fatal(err)
	}
	crt, key, err := ca.Issue(testcerts.Leaf{DNS: []string{"localhost"}, IPs: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, append(crt, ca.PEM...), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestRelayCommand runs `whycache relay` with TLS and a token in front of a
// directory log, a node agent whose store is the relay, and the CLI writing
// through the agent and reading the log through the relay.
func TestRelayCommand(t *testing.T) {
	root := t.TempDir()
	logDir, nodeDir := filepath.Join(root, "log"), filepath.Join(root, "node")
	tokenFile := filepath.Join(root, "token")
	if err := os.WriteFile(tokenFile, []byte("0123456789abcdef-relay-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := writeCert(t, root)
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	var relayOut syncBuffer
	go func() {
		cmd := NewRootCommand()
		cmd.SetOut(&relayOut)
		cmd.SetErr(&relayOut)
		cmd.SetArgs([]string{"relay", "--store", logDir, "--listen", addr, "--token-file", tokenFile,
			"--tls-cert-file", certFile, "--tls-key-file", keyFile, "--heartbeat-linger", "10ms"})
		done <- cmd.ExecuteContext(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("relay: %v\n%s", err, relayOut.String())
		}
	})
	q := url.Values{"token-file": {tokenFile}, "tls": {"true"}, "ca-file": {certFile}}
	storeURL := "relay://" + addr + "?" + q.Encode()

	a := agenttest.Start(t, nodeagent.Config{
		Dir: nodeDir, NodeName: "node-1", CreateLog: true,
		OpenStore: func(ctx context.Context, opts logstore.Options) (logstore.Store, error) {
			return backends.Open(ctx, storeURL, opts)
		},
		HeartbeatInterval: 10 * time.Millisecond,
		Logger:            logr.Discard(),
	})
	in := &instance{dir: nodeDir, logDir: storeURL}
	in.must(t, "set", "--wait", "greeting", "hello")
	if got := in.must(t, "get", "greeting"); strings.TrimSpace(got) != "hello" {
		t.Errorf("get greeting = %q, want hello", got)
	}
	// The agent's heartbeats reach the store through the relay.
	direct, err := backends.Open(t.Context(), logDir, logstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	a.WaitApplied(t, 1)
	for {
		nodes, err := direct.Nodes(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(nodes) == 1 && nodes[0].AppliedID >= 1 {
			break
		}
		if sleepCtx(t.Context(), 10*time.Millisecond) != nil {
			t.Fatalf("no heartbeat of node-1 in the store: %v", nodes)
		}
	}
	checkRelayMetrics(t, addr, certFile)
	// Without the token, the relay refuses.
	cmd := NewRootCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs([]string{"--store", "relay://" + addr + "?tls=true&ca-file=" + url.QueryEscape(certFile), "log", "latest"})
	if err := cmd.ExecuteContext(t.Context()); !errors.Is(err, relaywire.ErrUnauthorized) {
		t.Errorf("log latest without the token: %v, want ErrUnauthorized", err)
	}
}

// checkRelayMetrics reads the relay's /metrics over TLS with no token: its
// own registry, with the build's and the relay's metrics.
func checkRelayMetrics(t *testing.T, addr, caFile string) {
	t.Helper()
	ca, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "https://"+addr+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v\n%s", resp.StatusCode, err, body)
	}
	for _, want := range []string{"whycache_build_info{", `whycache_relay_calls_total{call="heartbeat",class="2xx"}`, "process_cpu_seconds_total"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics has no %s", want)
		}
	}
}

// TestRelayFlags checks the relay's refusals of bad flags.
func TestRelayFlags(t *testing.T) {
	root := t.TempDir()
	short := filepath.Join(root, "short")
	if err := os.WriteFile(short, []byte("tooshort"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no store", []string{"relay"}, "--store"},
		{"bad store", []string{"relay", "--store", "relative/dir"}, "absolute path"},
		{"short token", []string{"relay", "--store", root, "--token-file", short}, "at least 16 bytes"},
		{"missing token file", []string{"relay", "--store", root, "--token-file", filepath.Join(root, "none")}, "--token-file"},
		{"cert without key", []string{"relay", "--store", root, "--tls-cert-file", short}, "go together"},
		{"bad cert", []string{"relay", "--store", root, "--tls-cert-file", short, "--tls-key-file", short}, "load --tls-cert-file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := NewRootCommand()
			var out bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetErr(&out)
			cmd.SetArgs(tc.args)
			if err := cmd.ExecuteContext(t.Context()); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("whycache %s: %v, want an error about %s", strings.Join(tc.args, " "), err, tc.want)
			}
		})
	}
}

// sleepCtx pauses for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestRelayStoreOptions: the relay's store keeps connections open, so that
// the first writes after a quiet spell do not wait for new ones.
func TestRelayStoreOptions(t *testing.T) {
	tests := []struct {
		name   string
		create bool
	}{{"log", false}, {"other", true}}
	for _, tt := range tests {
		got := relayStoreOptions(tt.name, tt.create, logr.Discard())
		if got.Name != tt.name || got.Create != tt.create || got.MinConns != relay.StoreMinConns || got.MinConns < 1 {
			t.Errorf("relayStoreOptions(%q, %v) = %+v, want the name, create and MinConns %d", tt.name, tt.create, got, relay.StoreMinConns)
		}
		if _, err := got.Validate(); err != nil {
			t.Errorf("relayStoreOptions(%q, %v): %v", tt.name, tt.create, err)
		}
	}
}
