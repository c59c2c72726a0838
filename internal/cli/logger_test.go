package cli

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"go.uber.org/zap/zapcore"
)

// TestLoggerPrintsNoStackTraces logs an error in each format: the line has
// the message and the error, and no stack trace.
func TestLoggerPrintsNoStackTraces(t *testing.T) {
	for _, format := range []string{"json", "console"} {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			log, err := newLoggerTo(format, 0, zapcore.AddSync(&buf))
			if err != nil {
				t.Fatal(err)
			}
			log.Error(errors.New("store down"), "cannot open log store; retrying")
			out := buf.String()
			if !strings.Contains(out, "cannot open log store") || !strings.Contains(out, "store down") {
				t.Fatalf("log %q lacks the message or the error", out)
			}
			if strings.Contains(out, "stacktrace") || strings.Contains(out, ".go:") && strings.Count(out, "\n") > 1 {
				t.Errorf("log has a stack trace: %q", out)
			}
		})
	}
}

func TestErrorLine(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"whycache", errors.New("whycache: write: whycache: writes unavailable: dial unix"), "whycache: write: writes unavailable: dial unix"},
		{"whycache", errors.New("open log store: logstore: not found"), "whycache: open log store: logstore: not found"},
		{"whycache-agent", errors.New("whycache: client closed"), "whycache-agent: client closed"},
		{"whycache-agent", errors.New("whycache-agent: x: whycache-agent: y"), "whycache-agent: x: y"},
		{"whycache", errors.New(`get "my whycache: key": not found`), `whycache: get "my whycache: key": not found`},
	}
	for _, tt := range tests {
		if got := errorLine(tt.name, tt.err); got != tt.want {
			t.Errorf("errorLine(%q, %q) = %q, want %q", tt.name, tt.err, got, tt.want)
		}
	}
}
