package agentbench

import (
	"os"
	"sync"
)

var (
	tmpOnce sync.Once
	tmpDir  string
	tmpErr  error
)

// testTempDir returns a directory that lives as long as the test process;
// printSummary's caller (TestMain) removes it.
func testTempDir() (string, error) {
	tmpOnce.Do(func() { tmpDir, tmpErr = os.MkdirTemp("", "whycache-agentbench-") })
	return tmpDir, tmpErr
}

// removeTempDir removes the directory testTempDir made, if any.
func removeTempDir() {
	if tmpDir != "" {
		os.RemoveAll(tmpDir)
	}
}
