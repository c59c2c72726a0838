package nodeagent_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	nodeagent "github.com/whycache/whycache/node-agent"
	"github.com/whycache/whycache/pkg/agentapi"
)

const testToken = "0123456789abcdef-token"

// TestWriteGuard sends requests over the socket and TCP that the agent must
// refuse before it decodes them, and some it must take.
func TestWriteGuard(t *testing.T) {
	cfg := dirConfig(t, t.TempDir(), "node")
	cfg.TCPWriteAddr = "127.0.0.1:0"
	cfg.TCPWriteToken = testToken
	a := start(t, cfg)
	body := `{"ops":[{"op":"set","key":"YQ==","value":"MQ=="}]}`
	sock, tcp := unixClient(a.SocketPath()), http.DefaultClient
	sockURL, tcpURL := "http://agent", "http://"+a.TCPWriteAddr()
	tests := []struct {
		name    string
		client  *http.Client
		url     string
		method  string
		headers map[string]string
		code    int
		errCode string
	}{
		{"socket, JSON", sock, sockURL, "POST", map[string]string{"Content-Type": "application/json; charset=utf-8"}, 200, ""},
		{"socket, text/plain", sock, sockURL, "POST", map[string]string{"Content-Type": "text/plain"}, 415, agentapi.CodeUnsupportedMediaType},
		{"socket, no content type", sock, sockURL, "POST", nil, 415, agentapi.CodeUnsupportedMediaType},
		{"socket, form", sock, sockURL, "POST", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 415, agentapi.CodeUnsupportedMediaType},
		{"socket, from a browser", sock, sockURL, "POST", map[string]string{"Content-Type": "application/json", "Origin": "http://evil.example"}, 403, agentapi.CodeForbidden},
		{"TCP, no token", tcp, tcpURL, "POST", map[string]string{"Content-Type": "application/json"}, 401, agentapi.CodeUnauthorized},
		{"TCP, wrong token", tcp, tcpURL, "POST", map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + testToken + "x"}, 401, agentapi.CodeUnauthorized},
		{"TCP, token, text/plain", tcp, tcpURL, "POST", map[string]string{"Content-Type": "text/plain", "Authorization": "Bearer " + testToken}, 415, agentapi.CodeUnsupportedMediaType},
		{"TCP, token, cross-site", tcp, tcpURL, "POST", map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + testToken, "Sec-Fetch-Site": "cross-site"}, 403, agentapi.CodeForbidden},
		{"TCP, token, from a browser", tcp, tcpURL, "POST", map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + testToken, "Origin": "null"}, 403, agentapi.CodeForbidden},
		{"TCP, token", tcp, tcpURL, "POST", map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + testToken}, 200, ""},
		{"TCP status, no token", tcp, tcpURL, "GET", nil, 401, agentapi.CodeUnauthorized},
		{"TCP status, token", tcp, tcpURL, "GET", map[string]string{"Authorization": "Bearer " + testToken}, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, rb := agentapi.PathUpdates, io.Reader(strings.NewReader(body))
			if tt.method == "GET" {
				path, rb = agentapi.PathStatus, nil
			}
			req, err := http.NewRequestWithContext(t.Context(), tt.method, tt.url+path, rb)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			resp, err := tt.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.code {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, b, tt.code)
			}
			if tt.errCode != "" {
				var er agentapi.ErrorResponse
				if err := json.Unmarshal(b, &er); err != nil || er.Code != tt.errCode {
					t.Fatalf("body %s, want error code %s", b, tt.errCode)
				}
			}
		})
	}
}

// TestTCPWritesNeedAToken refuses to start an agent that would serve TCP
// writes without a token.
func TestTCPWritesNeedAToken(t *testing.T) {
	for _, token := range []string{"", "short"} {
		cfg := dirConfig(t, t.TempDir(), "node")
		cfg.TCPWriteAddr = "127.0.0.1:0"
		cfg.TCPWriteToken = token
		if _, err := nodeagent.New(cfg); err == nil || !strings.Contains(err.Error(), "token") {
			t.Errorf("token %q: New = %v, want an error about the token", token, err)
		}
	}
}

// TestStrictWriteAPI sends requests whose fields are misspelt, repeated or
// badly encoded: each is refused with a message that names the field.
func TestStrictWriteAPI(t *testing.T) {
	a := start(t, dirConfig(t, t.TempDir(), "node"))
	for body, want := range map[string]string{
		`{"ops":[{"op":"set","key":"YQ==","Value":"MQ=="}]}`: `unknown field "Value"`,
		`{"ops":[{"op":"set","key":"YQ==","key":"Yg=="}]}`:   `field "key" given twice`,
		`{"ops":[{"op":"set","key":"YQ==","value":"M"}]}`:    `ops[0]: field "value": not base64`,
		`{"Wait":true,"ops":[{"op":"set","key":"YQ=="}]}`:    `unknown field "Wait"`,
	} {
		code, b := a.post(t, []byte(body))
		var er agentapi.ErrorResponse
		if err := json.Unmarshal(b, &er); err != nil || code != http.StatusBadRequest || !strings.Contains(er.Error, want) {
			t.Errorf("%s: %d %s, want 400 naming %q", body, code, b, want)
		}
	}
	// A failed update of a batch carries its error and no update id.
	hc := unixClient(a.SocketPath())
	resp, err := hc.Post("http://agent"+agentapi.PathBatch, "application/json",
		strings.NewReader(`{"updates":[{"ops":[{"op":"set","key":""}]},{"ops":[{"op":"set","key":"YQ=="}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw struct{ Results []map[string]json.RawMessage }
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil || len(raw.Results) != 2 {
		t.Fatalf("batch answer: %+v, %v", raw, err)
	}
	if _, ok := raw.Results[0]["update_id"]; ok || raw.Results[0]["error"] == nil {
		t.Errorf("failed result %s: want an error and no update_id", raw.Results[0])
	}
	if _, ok := raw.Results[1]["update_id"]; !ok {
		t.Errorf("result %s: want an update_id", raw.Results[1])
	}
}
