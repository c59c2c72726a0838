package agentbench

import (
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/whycache/whycache"
)

// BenchmarkWriteToVisible measures how long a write through one node's agent
// takes to become visible in another node's cache file: the time from the
// client's Set call until the other node's file holds the update id.
func BenchmarkWriteToVisible(b *testing.B) {
	for _, be := range allBackends {
		b.Run(be.name, func(b *testing.B) {
			url := be.url(b)
			root := b.TempDir()
			dirA, dirB := filepath.Join(root, "a"), filepath.Join(root, "b")
			startAgent(b, dirA, url, "a")
			startAgent(b, dirB, url, "b")
			ca, err := whycache.Open(dirA)
			if err != nil {
				b.Fatal(err)
			}
			defer ca.Close()
			cb, err := whycache.Open(dirB)
			if err != nil {
				b.Fatal(err)
			}
			defer cb.Close()
			lat := make([]time.Duration, 0, b.N)
			value := make([]byte, 100)
			b.ResetTimer()
			for i := range b.N {
				start := time.Now()
				id, err := ca.Set(b.Context(), []byte("k"+strconv.Itoa(i%1000)), value)
				if err != nil {
					b.Fatal(err)
				}
				for cb.UpdateID() < id {
					time.Sleep(20 * time.Microsecond)
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(lat)
			p50, p99 := percentile(lat, 0.50), percentile(lat, 0.99)
			b.ReportMetric(float64(p50)/1e6, "p50-ms")
			b.ReportMetric(float64(p99)/1e6, "p99-ms")
			record("write → visible on another node (sequential writes through node a, read on node b)", be.name,
				"%s\tp50 %s\tp99 %s\t(%d writes)", be.name, ms(p50), ms(p99), len(lat))
		})
	}
}
