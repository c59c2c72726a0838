package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/whycache/whycache/pkg/agentapi"
)

func TestEmitResult(t *testing.T) {
	res := agentapi.SnapshotResult{Kind: agentapi.KindSnapshot, UpdateID: 7, Key: "k"}
	tests := []struct {
		name      string
		existing  bool // the termination file exists before
		wantWrite bool
	}{
		{"termination file present (a container)", true, true},
		{"termination file absent (a workstation)", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "termination-log")
			if tc.existing {
				if err := os.WriteFile(path, nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var out bytes.Buffer
			if err := emitResult(&out, res, path); err != nil {
				t.Fatal(err)
			}
			v, err := agentapi.ParseResult(out.String())
			if err != nil || v.(*agentapi.SnapshotResult).UpdateID != 7 {
				t.Fatalf("printed %q: %v", out.String(), err)
			}
			b, err := os.ReadFile(path)
			if tc.wantWrite != (err == nil && strings.HasPrefix(string(b), agentapi.ResultPrefix)) {
				t.Fatalf("termination file: %q, %v; want written = %v", b, err, tc.wantWrite)
			}
		})
	}
}
