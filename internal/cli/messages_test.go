package cli

import (
	"bytes"
	"strings"
	"testing"
)

// TestFirstErrors runs what a new user types first without the right flags:
// each error says what is missing, once, and never shows a password.
func TestFirstErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"get", "k"}, "--dir (or $WHYCACHE_DIR) is required"},
		{[]string{"keys"}, "--dir (or $WHYCACHE_DIR) is required"},
		{[]string{"--store", "relative/log", "set", "k", "v"}, "log store URL relative/log: not an absolute path"},
		{[]string{"--store", "postgress://app:hunter22@db/x", "log", "latest"}, `unknown scheme "postgress"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Setenv("WHYCACHE_DIR", "")
			t.Setenv("WHYCACHE_STORE", "")
			cmd := NewRootCommand()
			cmd.SetOut(&bytes.Buffer{})
			cmd.SetErr(&bytes.Buffer{})
			cmd.SetArgs(tt.args)
			err := cmd.ExecuteContext(t.Context())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one with %q", err, tt.want)
			}
			msg := err.Error()
			if strings.Contains(msg, "hunter22") {
				t.Errorf("error %q shows the password", msg)
			}
			for _, s := range tt.args {
				if strings.Contains(s, "/") && strings.Count(msg, s) > 1 {
					t.Errorf("error %q names %q more than once", msg, s)
				}
			}
			if strings.Contains(msg, "open : ") {
				t.Errorf("error %q opens an empty path", msg)
			}
		})
	}
}
