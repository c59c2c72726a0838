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
