// Package snapshotbench measures snapshots against the S3 server's own
// ceiling in the same run: publishing a sealed cache file (checksums, a
// multipart upload, manifest, pointer) against a plain parallel multipart
// PutObject of the same size, a bootstrap's download and verification
// against plain parallel ranged GetObjects into a file, a whole incremental
// snapshot run, and the time from an agent's start to Ready when it
// bootstraps from the snapshot. `make bench` runs it
// (hack/bench.d/snapshot.sh) with 100 MiB; WHYCACHE_SNAPSHOT_BENCH_MIB=1024
// runs the 1 GiB case. It prints a table with the ratios at the end, and
// the CPU per 100 MiB of the raw GET, of the download alone and of the
// bootstrap, this process's and the S3 server's (from /proc, when this
// process started it): on a machine whose cores the server shares, CPU
// bounds the ratios. The runs carry a profiler label per phase
// (-test.cpuprofile, then go tool pprof -tagfocus phase=bootstrap).
package snapshotbench

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/whycache/whycache/internal/testserver"
)

func TestMain(m *testing.M) { testserver.Main(m, printSummary) }

var rows [][2]string

func record(name, value string) { rows = append(rows, [2]string{name, value}) }

func printSummary() {
	if len(rows) == 0 {
		return
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "snapshot benchmark\t")
	for _, r := range rows {
		fmt.Fprintf(w, "  %s\t%s\n", r[0], r[1])
	}
	w.Flush()
}

// sizeMiB is the cache file's target size: 100 MiB, or
// $WHYCACHE_SNAPSHOT_BENCH_MIB.
func sizeMiB() int {
	if v, err := strconv.Atoi(os.Getenv("WHYCACHE_SNAPSHOT_BENCH_MIB")); err == nil && v > 0 {
		return v
	}
	return 100
}

// rawClient is a plain S3 client for the ceiling measurements.
func rawClient(cfg testserver.S3Config) *s3.Client {
	return s3.New(s3.Options{
		Region:                     cfg.Region,
		BaseEndpoint:               aws.String(cfg.Endpoint),
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

func mbps(bytes int64, d time.Duration) float64 { return float64(bytes) / d.Seconds() / 1e6 }
