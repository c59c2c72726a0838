// Package relaybench compares N tailers that follow a log through a relay
// with N tailers that follow it straight from the store, in the same run:
// write → seen by all N latency (p50, p99), store reads per write, and the
// time for all N to catch up with a burst of writes. `make bench` runs it
// (hack/bench.d/relay.sh) and it prints a summary with the ratios. The
// 1,000-node measurement of database load is `make bench-scale`'s.
//
//	RELAY_BENCH_TAILERS   tailers (default 50)
//	RELAY_BENCH_BACKENDS  backends (default dir,mysql,postgres)
//	RELAY_BENCH_BURST     updates of the burst (default 2000)
package relaybench

import (
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"text/tabwriter"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/whycache/whycache/internal/testserver"
	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/backends"
	"github.com/whycache/whycache/pkg/relay"
)

func TestMain(m *testing.M) { testserver.Main(m, printSummary) }

// result is one run's figures.
type result struct {
	p50, p99     time.Duration
	readsPerOp   float64
	burst        time.Duration
	burstUpdates int
}

var (
	mu      sync.Mutex
	results = map[string]map[string]result{} // backend → mode → figures
	tailers = envInt("RELAY_BENCH_TAILERS", 50)
	burstN  = envInt("RELAY_BENCH_BURST", 2000)
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// countingStore counts the reads a store serves.
type countingStore struct {
	logstore.Store
	reads *atomic.Int64
}

func (s countingStore) Read(ctx context.Context, after uint64, maxOps int) ([]logstore.Update, error) {
	s.reads.Add(1)
	return s.Store.Read(ctx, after, maxOps)
}

// storeURL returns the URL of a fresh namespace of backend.
func storeURL(b *testing.B, backend string) string {
	switch backend {
	case "dir":
		return b.TempDir()
	case "mysql":
		return "mysql:" + testserver.MySQLDatabase(b)
	case "postgres":
		return testserver.PostgresDatabase(b)
	}
	b.Fatalf("unknown backend %q", backend)
	return ""
}

// startRelay serves url's logs through a relay whose store reads are
// counted, and returns its relay:// URL.
func startRelay(b *testing.B, url string, reads *atomic.Int64) string {
	srv, err := relay.New(relay.Config{Open: func(ctx context.Context, name string, create bool) (logstore.Store, error) {
		s, err := backends.Open(ctx, url, logstore.Options{Name: name, Create: create})
		if err != nil {
			return nil, err
		}
		return countingStore{Store: s, reads: reads}, nil
	}})
	if err != nil {
		b.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	hs := relay.NewHTTPServer("", srv.Handler(), nil)
	go hs.Serve(l)
	b.Cleanup(func() { hs.Close(); srv.Close() })
	return "relay://" + l.Addr().String()
}

// follower follows a log as an agent does and publishes how far it got.
type follower struct {
	s    logstore.Store
	last atomic.Uint64
}

func (f *follower) run(ctx context.Context) {
	for ctx.Err() == nil {
		if _, err := f.s.Wait(ctx, f.last.Load()); err != nil {
			continue
		}
		for ctx.Err() == nil {
			page, err := f.s.Read(ctx, f.last.Load(), 1000)
			if err != nil || len(page) == 0 {
				break
			}
			f.last.Store(page[len(page)-1].ID)
		}
	}
}

// waitAll waits until every follower has read id.
func waitAll(ctx context.Context, fs []*follower, id uint64) error {
	for _, f := range fs {
		for f.last.Load() < id {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			time.Sleep(50 * time.Microsecond)
		}
	}
	return nil
}

func BenchmarkTailers(b *testing.B) {
	for backend := range strings.SplitSeq(envOr("RELAY_BENCH_BACKENDS", "dir,mysql,postgres"), ",") {
		for _, mode := range []string{"direct", "relay"} {
			b.Run(fmt.Sprintf("%s/%s/tailers=%d", backend, mode, tailers), func(b *testing.B) { benchTailers(b, backend, mode) })
		}
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func benchTailers(b *testing.B, backend, mode string) {
	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	url := storeURL(b, backend)
	var reads atomic.Int64
	open := func(create bool) logstore.Store {
		s, err := backends.Open(ctx, url, logstore.Options{Name: "log", Create: create})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		return s
	}
	writer := open(true)
	if mode == "relay" {
		url = startRelay(b, url, &reads)
	}
	fs := make([]*follower, tailers)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for i := range fs {
		s := open(false)
		if mode == "direct" {
			s = countingStore{Store: s, reads: &reads}
		}
		fs[i] = &follower{s: s}
		wg.Go(func() { fs[i].run(ctx) })
	}
	op := []logstore.Op{logstore.Set([]byte("k"), []byte("v"))}
	lat := make([]time.Duration, 0, b.N)
	reads.Store(0)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		id, err := writer.Append(ctx, op)
		if err != nil {
			b.Fatal(err)
		}
		if err := waitAll(ctx, fs, id); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	perOp := float64(reads.Load()) / float64(b.N)
	burst := measureBurst(b, ctx, writer, fs)
	slices.Sort(lat)
	r := result{p50: lat[len(lat)/2], p99: lat[len(lat)*99/100], readsPerOp: perOp, burst: burst, burstUpdates: burstN}
	b.ReportMetric(float64(r.p50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(r.p99.Microseconds())/1000, "p99-ms")
	b.ReportMetric(perOp, "store-reads/write")
	b.ReportMetric(burst.Seconds()*1000, "burst-ms")
	mu.Lock()
	if results[backend] == nil {
		results[backend] = map[string]result{}
	}
	results[backend][mode] = r
	mu.Unlock()
}

// measureBurst appends burstN updates from 8 writers at once and returns the
// time until every follower has read them all.
func measureBurst(b *testing.B, ctx context.Context, w logstore.Store, fs []*follower) time.Duration {
	start := time.Now()
	var g errgroup.Group
	var last atomic.Uint64
	for i := range 8 {
		g.Go(func() error {
			for j := i; j < burstN; j += 8 {
				id, err := w.Append(ctx, []logstore.Op{logstore.Set(fmt.Appendf(nil, "b%d", j), []byte("burst value"))})
				if err != nil {
					return err
				}
				for cur := last.Load(); id > cur && !last.CompareAndSwap(cur, id); cur = last.Load() {
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	if err := waitAll(ctx, fs, last.Load()); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

// printSummary prints each backend's figures, the relay's beside the
// direct tailers', and their ratio.
func printSummary() {
	mu.Lock()
	defer mu.Unlock()
	if len(results) == 0 {
		return
	}
	fmt.Printf("\n%d tailers following one log: directly from the store vs through one relay\n", tailers)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "backend\twrite→all p50 (direct / relay)\tp99 (direct / relay)\tstore reads per write (direct / relay, ratio)\tburst catch-up (direct / relay)")
	for _, backend := range slices.Sorted(func(yield func(string) bool) {
		for k := range results {
			if !yield(k) {
				return
			}
		}
	}) {
		d, r := results[backend]["direct"], results[backend]["relay"]
		fmt.Fprintf(tw, "%s\t%v / %v (%.2f×)\t%v / %v (%.2f×)\t%.1f / %.2f (%.0f× fewer)\t%v / %v for %d updates (%.2f×)\n", backend,
			d.p50.Round(10*time.Microsecond), r.p50.Round(10*time.Microsecond), ratio(r.p50, d.p50),
			d.p99.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond), ratio(r.p99, d.p99),
			d.readsPerOp, r.readsPerOp, d.readsPerOp/max(r.readsPerOp, 1e-9),
			d.burst.Round(time.Millisecond), r.burst.Round(time.Millisecond), r.burstUpdates, ratio(r.burst, d.burst))
	}
	tw.Flush()
}

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}
