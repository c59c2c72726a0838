package logbench

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/whycache/whycache/pkg/logstore"
)

// Config says what to measure.
type Config struct {
	// Backends to run, among "dir", "mysql" and "postgres".
	Backends []string
	// MySQLDSN is a go-sql-driver/mysql DSN whose user may create
	// databases; PostgresDSN a pgx URL likewise. The benchmark works in a
	// fresh database of its own and drops it at the end.
	MySQLDSN, PostgresDSN string
	// Dir is where the dir backend's logs go (a temporary directory when
	// empty).
	Dir string
	// Duration is the length of each append measurement.
	Duration time.Duration
	// Writers are the concurrency levels of the append measurements; none
	// skips them.
	Writers []int
	// UpdateSizes are the numbers of keys per update.
	UpdateSizes []int
	// RewriteRows is the size of the log for the tail read and rewrite
	// measurements.
	RewriteRows int
	// Out receives the table; Progress, when set, a line per measurement.
	Out, Progress io.Writer
}

// DefaultConfig returns the measurements on every backend.
func DefaultConfig() Config {
	return Config{
		Backends:    []string{"dir", "mysql", "postgres"},
		Duration:    3 * time.Second,
		Writers:     []int{1, 8, 64},
		UpdateSizes: []int{1, 100},
		RewriteRows: 1_000_000,
	}
}

// Result is one measurement.
type Result struct {
	Backend string
	// Measure names what was measured: "append", "tail read", "rewrite".
	Measure string
	Writers int
	Keys    int // keys per update, for appends
	// Ours is the store's throughput in operations per second (appends,
	// tail reads) or zero.
	Ours float64
	// Raw is the raw INSERT ceiling in operations per second, when
	// measured.
	Raw float64
	// Updates is the store's throughput in updates per second (appends).
	Updates float64
	// Elapsed and Note describe a rewrite.
	Elapsed time.Duration
	Note    string
}

// Run measures every configured backend and prints the table.
func Run(ctx context.Context, cfg Config) ([]Result, error) {
	var all []Result
	for _, name := range cfg.Backends {
		b, err := newBackend(ctx, name, cfg)
		if err != nil {
			return all, fmt.Errorf("backend %s: %w", name, err)
		}
		res, err := runBackend(ctx, b, cfg)
		b.close()
		all = append(all, res...)
		if err != nil {
			return all, fmt.Errorf("backend %s: %w", name, err)
		}
	}
	if cfg.Out != nil {
		PrintTable(cfg.Out, all)
	}
	return all, nil
}

func runBackend(ctx context.Context, b *backend, cfg Config) ([]Result, error) {
	var out []Result
	for _, keys := range cfg.UpdateSizes {
		for _, w := range cfg.Writers {
			r, err := measureAppend(ctx, b, cfg, w, keys)
			if err != nil {
				return out, err
			}
			cfg.progress("%s: append %d-key updates, %d writers: %.0f ops/s (raw %.0f)", b.name, keys, w, r.Ours, r.Raw)
			out = append(out, r)
		}
	}
	res, err := measureHistory(ctx, b, cfg)
	out = append(out, res...)
	return out, err
}

func (c Config) progress(format string, args ...any) {
	if c.Progress != nil {
		fmt.Fprintf(c.Progress, format+"\n", args...)
	}
}

// logName names the log of one measurement.
func logName(parts ...any) string {
	s := "bench"
	for _, p := range parts {
		s += fmt.Sprintf("_%v", p)
	}
	return s
}

// openLog creates a fresh log in the backend.
func openLog(ctx context.Context, b *backend, name string) (logstore.Store, error) {
	return b.open(ctx, logstore.Options{Name: name, Create: true})
}
