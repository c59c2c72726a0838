package cachefile

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkSealCheck measures SealCheck.Write on a sealed file of 1 KiB
// values in 256 KiB pieces, as a download feeds it, next to its floor in
// the same run: a plain SHA-256 of the same bytes.
func BenchmarkSealCheck(b *testing.B) {
	h := newHarness(b, Options{NoSync: true})
	val := strings.Repeat("x", 1000)
	for u := range 16 {
		ops := make([]Op, 1000)
		for i := range ops {
			ops[i] = set(fmt.Sprintf("key-%07d-%03d", u, i), val)
		}
		h.mustApply(ops...)
	}
	sealed := filepath.Join(b.TempDir(), "snap")
	if _, err := h.w.Seal(context.Background(), sealed); err != nil {
		b.Fatal(err)
	}
	data, err := os.ReadFile(sealed)
	if err != nil {
		b.Fatal(err)
	}
	const piece = 256 << 10
	feed := func(w interface{ Write([]byte) (int, error) }) {
		for rest := data; len(rest) > 0; {
			n := min(piece, len(rest))
			w.Write(rest[:n])
			rest = rest[n:]
		}
	}
	var cpu [3]float64
	for i, c := range []struct {
		name string
		sink func() interface{ Write([]byte) (int, error) }
	}{
		{"SealCheck", func() interface{ Write([]byte) (int, error) } { return NewSealCheck(int64(len(data))) }},
		{"SHA-256", func() interface{ Write([]byte) (int, error) } { return sha256.New() }},
		{"walk", func() interface{ Write([]byte) (int, error) } {
			_, walk := NewSealCheck(int64(len(data))).Parts()
			return walk
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			start := cpuTime()
			for b.Loop() {
				feed(c.sink())
			}
			// CPU time, not only wall time: on a loaded machine the wall
			// time says more about the neighbours than about the check.
			cpu[i] = float64(cpuTime()-start) / float64(b.N) / float64(len(data)) * (100 << 20) / 1e6
			b.ReportMetric(cpu[i], "cpu-ms/100MiB")
		})
	}
	b.Logf("SealCheck uses %.1fx the CPU of a plain SHA-256 of the same bytes", cpu[0]/cpu[1])
}
