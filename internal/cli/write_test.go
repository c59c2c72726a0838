package cli

import (
	"bytes"
	"strings"
	"testing"
)

// TestWriteWithStoreOnly writes from a machine with no cache file (no
// --dir): the writes reach the log and the node; --wait, which needs this
// node's file, is refused before anything is written.
func TestWriteWithStoreOnly(t *testing.T) {
	in := startInstance(t)
	run := func(args ...string) (string, error) {
		cmd := NewRootCommand()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(append([]string{"--store", in.logDir}, args...))
		err := cmd.ExecuteContext(t.Context())
		return out.String(), err
	}
	if out, err := run("set", "--wait", "never", "written"); err == nil || !strings.Contains(err.Error(), "--wait needs --dir") {
		t.Fatalf("set --wait with no --dir: %v\n%s", err, out)
	}
	for _, args := range [][]string{{"set", "job", "done"}, {"set", "tmp", "x"}, {"del", "tmp"}} {
		if out, err := run(args...); err != nil {
			t.Fatalf("%v with --store only: %v\n%s", args, err, out)
		}
	}
	out := in.must(t, "log", "tail")
	if strings.Contains(out, "never") || !strings.Contains(out, "\tset\tjob\tdone\n") || !strings.Contains(out, "\tdelete\ttmp\n") {
		t.Fatalf("log after writes with --store only:\n%s", out)
	}
	in.must(t, "set", "--wait", "sync", "1")
	if got := in.must(t, "keys"); got != "job\nsync\n" {
		t.Fatalf("keys on the node = %q, want job and sync", got)
	}
}
