package nodeagent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/whycache/whycache/pkg/agentapi"
	"github.com/whycache/whycache/pkg/logstore"
)

// FuzzDecodeUpdate feeds arbitrary request bodies to the write API's
// decoder: it must never panic, must answer a malformed or oversized body
// with the invalid or too_large code, and what it accepts must pass the
// log's own checks.
func FuzzDecodeUpdate(f *testing.F) {
	for _, s := range []string{
		`{"ops":[{"op":"set","key":"YQ==","value":"MQ=="}]}`,
		`{"ops":[{"op":"delete","key":"YQ=="}],"wait":true}`,
		`{"ops":[{"op":"set","key":"","value":"MQ=="}]}`,
		`{"ops":[{"op":"delete","key":"YQ==","value":"MQ=="}]}`,
		`{"ops":[]}`, `{`, `null`, `{"ops":[{"op":"x"}]}`, `{"ops":[{"op":"set","key":"!!"}]}`,
		`{"ops":[{"op":"set","key":"YQ==","Value":"MQ=="}]}`, `{"ops":[{"op":"set","key":"YQ==","key":"Yg=="}]}`,
		`{"OPS":[],"wait":true}`, `{"ops":[{"op":"set","k\u0065y":"YQ=="}]}`,
	} {
		f.Add([]byte(s))
	}
	a, err := New(Config{
		Dir: f.TempDir(), NodeName: "fuzz",
		OpenStore: func(context.Context, logstore.Options) (logstore.Store, error) { return nil, errors.New("unused") },
		Limits:    logstore.Limits{MaxKeySize: 32, MaxValueSize: 64, MaxUpdateSize: 256, MaxUpdateOps: 8},
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest("POST", agentapi.PathUpdates, bytes.NewReader(body))
		var req agentapi.UpdateRequest
		release, err := a.readRequest(r, &req, a.maxUpdateBody())
		if err == nil {
			release()
		}
		var ops []logstore.Op
		if err == nil {
			ops, err = a.parseOps(req.Ops)
		}
		if err != nil {
			var we *writeError
			if !errors.As(err, &we) || (we.code != agentapi.CodeInvalid && we.code != agentapi.CodeTooLarge) {
				t.Fatalf("body %q: error %v, want an invalid or too_large write error", body, err)
			}
			return
		}
		if err := a.cfg.Limits.Check(ops); err != nil {
			t.Fatalf("body %q was accepted, but the log refuses it: %v", body, err)
		}
		if err := exactFields(body); err != nil {
			t.Fatalf("body %q was accepted: %v", body, err)
		}
	})
}

// exactFields checks, with encoding/json's own (lenient) decoding, that an
// accepted body has no field whose name is not exactly one of the API's.
func exactFields(body []byte) error {
	var req struct {
		Fields map[string]json.RawMessage
		Ops    []map[string]json.RawMessage
	}
	if err := json.Unmarshal(body, &req.Fields); err != nil {
		return err
	}
	for k := range req.Fields {
		if k != "ops" && k != "wait" {
			return fmt.Errorf("field %q", k)
		}
	}
	if ops := req.Fields["ops"]; ops != nil {
		if err := json.Unmarshal(ops, &req.Ops); err != nil {
			return err
		}
	}
	for _, op := range req.Ops {
		for k := range op {
			if k != "op" && k != "key" && k != "value" {
				return fmt.Errorf("operation field %q", k)
			}
		}
	}
	return nil
}
