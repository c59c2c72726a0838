package snapshot_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/whycache/whycache/internal/cli"
	"github.com/whycache/whycache/internal/testserver"
	"github.com/whycache/whycache/pkg/agentapi"
)

// runCLI runs the whycache command with the S3 test credentials in the
// environment and returns its output.
func runCLI(t *testing.T, args ...string) string {
	t.Helper()
	cfg := testserver.S3(t)
	t.Setenv(cli.EnvS3AccessKeyID, cfg.AccessKey)
	t.Setenv(cli.EnvS3SecretAccessKey, cfg.SecretKey)
	root := cli.NewRootCommand()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	if err := root.ExecuteContext(t.Context()); err != nil {
		t.Fatalf("whycache %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	if strings.Contains(out.String()+errOut.String(), cfg.SecretKey) {
		t.Fatalf("whycache %s printed the S3 secret", strings.Join(args, " "))
	}
	return out.String()
}

// TestCLISnapshotAndBootstrap: `whycache snapshot` prints its result line
// (twice: the second run has nothing new and says so), and `whycache
// bootstrap` installs the snapshot into an instance directory.
func TestCLISnapshotAndBootstrap(t *testing.T) {
	logDir := filepath.Join(t.TempDir(), "log")
	store := openStore(t, logDir)
	head := write(t, store, 0, 120)
	_, snapURL := s3Layout(t)

	v, err := agentapi.ParseResult(runCLI(t, "--store", logDir, "snapshot", "--snapshot-url", snapURL, "--keep", "3"))
	if err != nil {
		t.Fatal(err)
	}
	res := v.(*agentapi.SnapshotResult)
	if res.UpdateID != head || res.Skipped || res.Bytes == 0 || res.Key == "" || res.BytesPerSecond <= 0 {
		t.Fatalf("snapshot result: %+v", res)
	}
	v, err = agentapi.ParseResult(runCLI(t, "--store", logDir, "snapshot", "--snapshot-url", snapURL))
	if err != nil {
		t.Fatal(err)
	}
	if again := v.(*agentapi.SnapshotResult); !again.Skipped || again.Key != res.Key {
		t.Fatalf("second snapshot with nothing new: %+v", again)
	}

	dir := filepath.Join(t.TempDir(), "instance")
	out := runCLI(t, "--store", logDir, "--dir", dir, "bootstrap", "--snapshot-url", snapURL)
	if want := "applied\t" + itoa(head); !strings.Contains(out, want) {
		t.Fatalf("bootstrap printed %q, want %q", out, want)
	}
	if err := equalMaps(readFile(t, filepath.Join(dir, agentapi.CacheFileName)), replay(t, store)); err != nil {
		t.Fatal(err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".snapshot-*")); len(left) != 0 {
		t.Fatalf("files left behind: %v", left)
	}
	if _, err := os.Stat(filepath.Join(dir, agentapi.CacheFileName)); err != nil {
		t.Fatal(err)
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }
