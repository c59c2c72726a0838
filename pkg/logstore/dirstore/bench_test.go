package dirstore

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/whycache/whycache/pkg/logstore"
)

// BenchmarkAppend measures append throughput with 1, 8 and 64 concurrent
// writers on one Store, with single-key and 100-key updates.
func BenchmarkAppend(b *testing.B) {
	for _, keys := range []int{1, 100} {
		for _, writers := range []int{1, 8, 64} {
			b.Run(fmt.Sprintf("keys=%d/writers=%d", keys, writers), func(b *testing.B) {
				s := benchStore(b)
				var next atomic.Int64
				var wg sync.WaitGroup
				b.ResetTimer()
				start := time.Now()
				for w := range writers {
					wg.Go(func() {
						for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
							if _, err := s.Append(context.Background(), benchOps(w, int(i), keys)); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "updates/s")
			})
		}
	}
}

// BenchmarkTail measures reading a log of 200,000 single-key updates from
// the start, in pages of 10,000 operations: through the handle that wrote
// it (its index built once), and through a new handle each time, which
// builds its index as it reads.
func BenchmarkTail(b *testing.B) {
	s := benchStore(b)
	const n = 200_000
	fill(b, s, n, 1, 50_000)
	for _, cold := range []bool{false, true} {
		b.Run(fmt.Sprintf("cold=%v", cold), func(b *testing.B) {
			start := time.Now()
			for range b.N {
				r := s
				if cold {
					var err error
					if r, err = Open(b.Context(), filepath.Dir(s.Dir()), logstore.Options{}); err != nil {
						b.Fatal(err)
					}
				}
				if read := readAll(b, r); read != n {
					b.Fatalf("read %d updates, want %d", read, n)
				}
				if cold {
					r.Close()
				}
			}
			b.ReportMetric(float64(n*b.N)/time.Since(start).Seconds(), "ops/s")
		})
	}
}

// readAll reads the whole log in pages of 10,000 operations and returns the
// number of updates.
func readAll(b *testing.B, s *Store) int {
	var after uint64
	read := 0
	for {
		page, err := s.Read(context.Background(), after, 10_000)
		if err != nil {
			b.Fatal(err)
		}
		if len(page) == 0 {
			return read
		}
		read += len(page)
		after = page[len(page)-1].ID
	}
}

// BenchmarkRewrite measures a history rewrite of a log of 1M operations
// (100,000 updates of 10 keys out of 100,000), through its last id, with
// delete markers removed up to half of it.
func BenchmarkRewrite(b *testing.B) {
	for range b.N {
		b.StopTimer()
		s := benchStore(b)
		fill(b, s, 100_000, 10, 100_000)
		latest, _ := s.Latest(context.Background())
		b.StartTimer()
		st, err := s.Rewrite(context.Background(), logstore.RewriteOptions{Through: latest, DeleteLimit: latest / 2})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(st.Duration.Seconds(), "s/rewrite")
		b.ReportMetric(float64(st.Examined), "examined")
		b.ReportMetric(float64(st.Removed), "removed")
	}
}

// benchStore opens a fresh log for a benchmark.
func benchStore(b *testing.B) *Store {
	s, err := Open(b.Context(), b.TempDir(), logstore.Options{Create: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// fill appends n updates of keys operations each over a key space of
// space keys, from 64 writers.
func fill(b *testing.B, s *Store, n, keys, space int) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				ops := make([]logstore.Op, keys)
				for k := range ops {
					key := fmt.Appendf(nil, "key-%08d", (int(i)*keys+k*7919)%space)
					if (int(i)+k)%5 == 0 {
						ops[k] = logstore.Delete(key)
					} else {
						ops[k] = logstore.Set(key, fmt.Appendf(nil, "value-%d-%d", i, k))
					}
				}
				if _, err := s.Append(context.Background(), ops); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// benchOps returns an update of keys set operations with 100-byte values.
func benchOps(w, i, keys int) []logstore.Op {
	ops := make([]logstore.Op, keys)
	for k := range ops {
		ops[k] = logstore.Set(fmt.Appendf(nil, "w%03d-i%09d-k%03d", w, i, k), make([]byte, 100))
	}
	return ops
}
