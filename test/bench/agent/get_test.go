package agentbench

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/whycache/whycache/internal/testserver"
	"github.com/whycache/whycache/pkg/cachefile"
)

const (
	getKeys      = 1 << 20 // 1,048,576 keys
	getValueSize = 100
)

func getKey(i int) []byte { return fmt.Appendf(nil, "key:%08d", i) }

// getFixture is the same 1M keys in a cache file and in Redis.
type getFixture struct {
	once   sync.Once
	err    error
	reader *cachefile.Reader
	redis  map[string]*redis.Client // "unix", "tcp"
}

var fixture getFixture

func (f *getFixture) setup(b *testing.B) {
	f.once.Do(func() { f.err = f.load(b) })
	if f.err != nil {
		b.Fatal(f.err)
	}
}

func (f *getFixture) load(b *testing.B) error {
	// The benchmark's first sub-benchmark owns the temporary directory; keep
	// the file somewhere that lives as long as the process.
	dir, err := testTempDir()
	if err != nil {
		return err
	}
	path := filepath.Join(dir, "get.whycache")
	w, err := cachefile.OpenWriter(context.Background(), path, [16]byte{1}, cachefile.Options{NoSync: true, InitialKeys: getKeys})
	if err != nil {
		return err
	}
	value := make([]byte, getValueSize)
	const batch = 10_000
	for start := 0; start < getKeys; start += batch {
		ops := make([]cachefile.Op, 0, batch)
		for i := start; i < start+batch && i < getKeys; i++ {
			ops = append(ops, cachefile.Op{Key: getKey(i), Value: value})
		}
		if err := w.Apply(uint64(start/batch+1), ops); err != nil {
			return err
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	if f.reader, err = cachefile.Open(path); err != nil {
		return err
	}
	addr, socket := testserver.Redis(b)
	f.redis = map[string]*redis.Client{
		"tcp": redis.NewClient(&redis.Options{Addr: addr}),
		"unix": redis.NewClient(&redis.Options{Network: "unix", Addr: socket,
			Dialer: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", socket)
			}}),
	}
	ctx := context.Background()
	rc := f.redis["tcp"]
	if err := rc.FlushAll(ctx).Err(); err != nil {
		return err
	}
	for start := 0; start < getKeys; start += batch {
		pipe := rc.Pipeline()
		for i := start; i < start+batch && i < getKeys; i++ {
			pipe.Set(ctx, string(getKey(i)), value, 0)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return err
		}
	}
	return nil
}

// rng is a tiny xorshift generator, so the benchmarks measure lookups, not
// random number generation.
type rng uint64

func (r *rng) next() int {
	*r ^= *r << 13
	*r ^= *r >> 7
	*r ^= *r << 17
	return int(uint64(*r) % getKeys)
}

// BenchmarkGetVsRedis compares a Get (with a copy) and a View (zero-copy)
// from the cache file with a GET from Redis over its Unix socket and over
// TCP, on the same 1M keys with random access, one caller at a time.
func BenchmarkGetVsRedis(b *testing.B) {
	fixture.setup(b)
	// A million random picks among the million keys, made up front: the
	// lookups then touch memory all over the file and the index, as real
	// random access does, instead of a few cached keys. The picks live in
	// one pointer-free buffer, so that the harness gives the garbage
	// collector nothing to scan: the copies that Get and the Redis client
	// allocate are then charged only their own cost.
	const picks = 1 << 20
	keyLen := len(getKey(0))
	keyBuf := make([]byte, 0, picks*keyLen)
	r := rng(88172645463325252)
	for range picks {
		keyBuf = append(keyBuf, getKey(r.next())...)
	}
	keyAt := func(i int) []byte {
		off := (i & (picks - 1)) * keyLen
		return keyBuf[off : off+keyLen : off+keyLen]
	}
	results := map[string]float64{}
	run := func(name string, f func(b *testing.B, key []byte)) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				f(b, keyAt(i))
			}
			b.StopTimer()
			results[name] = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		})
	}
	run("whycache-get", func(b *testing.B, key []byte) {
		if _, err := fixture.reader.Get(key); err != nil {
			b.Fatal(err)
		}
	})
	var sink int
	run("whycache-view", func(b *testing.B, key []byte) {
		if err := fixture.reader.View(key, func(v []byte) { sink += len(v) }); err != nil {
			b.Fatal(err)
		}
	})
	for _, network := range []string{"unix", "tcp"} {
		rc := fixture.redis[network]
		run("redis-"+network, func(b *testing.B, key []byte) {
			if _, err := rc.Get(context.Background(), string(key)).Bytes(); err != nil {
				b.Fatal(err)
			}
		})
	}
	get, view := results["whycache-get"], results["whycache-view"]
	for _, network := range []string{"unix", "tcp"} {
		rd := results["redis-"+network]
		record("Get on 1M keys, random access, one caller: whycache cache file vs Redis GET", network,
			"redis over %s\t%.0f ns/op\twhycache Get %.0f ns/op (%.0f× faster)\tView %.0f ns/op (%.0f× faster)",
			network, rd, get, rd/get, view, rd/view)
	}
}
