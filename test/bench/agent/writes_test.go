package agentbench

import (
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/whycache/whycache"
)

// BenchmarkAckedWrites measures acknowledged writes per second through one
// agent with 1, 16 and 256 concurrent clients, each writing single keys.
func BenchmarkAckedWrites(b *testing.B) {
	for _, be := range allBackends {
		for _, clients := range []int{1, 16, 256} {
			b.Run(fmt.Sprintf("%s/clients=%d", be.name, clients), func(b *testing.B) {
				url := be.url(b)
				dir := filepath.Join(b.TempDir(), "node")
				startAgent(b, dir, url, "node")
				c, err := whycache.Open(dir)
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				value := make([]byte, 100)
				var next atomic.Int64
				var wg sync.WaitGroup
				b.ResetTimer()
				start := time.Now()
				for w := range clients {
					wg.Go(func() {
						for {
							i := next.Add(1)
							if i > int64(b.N) {
								return
							}
							if _, err := c.Set(b.Context(), fmt.Appendf(nil, "w%d/%d", w, i), value); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				elapsed := time.Since(start)
				b.StopTimer()
				rate := float64(b.N) / elapsed.Seconds()
				b.ReportMetric(rate, "writes/s")
				record("acknowledged writes/s through one agent (100-byte values)", b.Name(),
					"%s\t%d clients\t%.0f writes/s\t(%d writes in %s)", be.name, clients, rate, b.N, elapsed.Round(time.Millisecond))
			})
		}
	}
}
