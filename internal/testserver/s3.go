package testserver

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// The S3 test server's fixed credentials and bucket. The secret is
// deliberately not empty, so that tests can check it is never logged.
const (
	S3AccessKey = "whycache-test"
	S3SecretKey = "whycache-test-secret-key"
	S3Bucket    = "whycache-test"
	S3Region    = "us-east-1"
)

// versitygwTool is the hack/tools.sh name of the S3 server the tests run:
// versitygw (Apache-2.0, an S3 gateway over a directory) supports everything
// the snapshot store needs — multipart uploads, full-object CRC64NVME
// checksums, conditional PutObject (If-None-Match: * and If-Match) and
// ranged GETs with If-Match — and builds in under two minutes.
const versitygwTool = "versitygw"

// EnvS3Bin overrides where the versitygw binary is; otherwise it is found on
// PATH or built by hack/tools.sh (which caches it outside the repository).
const EnvS3Bin = "WHYCACHE_VERSITYGW"

// StartS3 starts a versitygw S3 server over a temporary directory on a free
// port of 127.0.0.1, with the credentials S3AccessKey/S3SecretKey and an
// empty bucket S3Bucket. DSN is the server's endpoint URL (http://host:port).
func StartS3(ctx context.Context, base string) (*Server, error) {
	bin, err := versitygwBin(ctx)
	if err != nil {
		return nil, fmt.Errorf("start s3: %w", err)
	}
	dir, owns, err := makeDir(base, "s3")
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(filepath.Join(data, S3Bucket), 0o755); err != nil {
		return nil, fmt.Errorf("start s3: %w", err)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{Kind: "s3", Dir: dir, ownsDir: owns, stopSig: syscall.SIGTERM,
		Addr: fmt.Sprintf("127.0.0.1:%d", port)}
	s.DSN = "http://" + s.Addr
	logPath := filepath.Join(dir, "versitygw.log")
	// The credentials go through the environment, not the command line,
	// where any process could read them.
	env := append(os.Environ(), "ROOT_ACCESS_KEY="+S3AccessKey, "ROOT_SECRET_KEY="+S3SecretKey)
	s.start = func(ctx context.Context) error {
		if err := startDaemonEnv(s, env, logPath, bin, "--port", s.Addr, "--region", S3Region, "--quiet", "posix", data); err != nil {
			return err
		}
		return waitReady(ctx, s, logPath, bucketReady(s.DSN+"/"+S3Bucket))
	}
	if err := s.start(ctx); err != nil {
		if s.cmd == nil {
			_ = os.RemoveAll(dir)
		}
		return nil, err
	}
	return s, nil
}

// bucketReady answers nil once the server answers HTTP at all on the bucket
// (an anonymous request gets 403, which is an answer).
func bucketReady(u string) func(context.Context) error {
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodHead, u, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}
}

// versitygwBin finds the versitygw binary: $WHYCACHE_VERSITYGW, PATH, or
// the folder that `hack/tools.sh dir versitygw` prints (building it once,
// about two minutes cold).
func versitygwBin(ctx context.Context) (string, error) {
	if p := os.Getenv(EnvS3Bin); p != "" {
		return p, nil
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	script, err := findToolsScript()
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "bash", script, "dir", versitygwTool)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("hack/tools.sh dir versitygw: %w\n%s", err, tail(errOut.Bytes(), 2000))
	}
	bin := filepath.Join(strings.TrimSpace(out.String()), "versitygw")
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("versitygw: %w", ErrNotInstalled)
	}
	return bin, nil
}

// findToolsScript walks up from the working directory (a test runs in its
// package's folder) to the repository's hack/tools.sh.
func findToolsScript() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(d, "hack", "tools.sh")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("hack/tools.sh not found above the working directory: %w", ErrNotInstalled)
		}
		d = parent
	}
}

// S3Config is how a test reaches an S3 server and its bucket.
type S3Config struct {
	// Endpoint is the server's URL, http://host:port.
	Endpoint string
	// AccessKey and SecretKey are its credentials.
	AccessKey, SecretKey string
	// Bucket is a bucket the tests may write to.
	Bucket string
	// Region is the region to sign requests for.
	Region string
}

// URL returns an s3:// snapshot URL for prefix in the bucket, with the
// endpoint and path-style addressing (credentials are not part of it).
func (c S3Config) URL(prefix string) string {
	q := url.Values{"endpoint": {c.Endpoint}, "region": {c.Region}, "path-style": {"true"}}
	return "s3://" + c.Bucket + "/" + prefix + "?" + q.Encode()
}
